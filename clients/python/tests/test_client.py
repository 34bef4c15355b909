"""The client's behaviour: trust anchors, verification of every answer, chunking, retries,
timeouts, async. Answers come from tests/fakes.py's in-process lane (signed per docs/envelope.md)."""
import asyncio
import time

import pytest

from express_lane import AsyncClient, Client, ExpressLaneError, attested, lane_key, pinned_keys, retry_after_seconds
from fakes import MEASUREMENTS, FakeLane, FakeSigner


def client(lane, **kw):
    kw.setdefault("trust", pinned_keys(lane.signer.jwk.to_dict()))
    return Client("http://lane.test:8080", transport=lane, backoff_base=0.001, backoff_max=0.005, **kw)


def reason(excinfo):
    return excinfo.value.code, excinfo.value.reason


def test_refuses_to_run_without_a_trust_anchor():
    with pytest.raises(ExpressLaneError) as e:
        Client("http://x")
    assert e.value.code == "no_trust_anchor"
    with pytest.raises(ExpressLaneError):
        Client("http://x", trust_on_first_use=False)
    with pytest.raises(ValueError):
        pinned_keys()
    with pytest.raises(ValueError):
        pinned_keys("not-a-keyid")
    with pytest.raises(ValueError, match="PCR0, PCR1"):
        attested(root="aws", measurements={"Measurements": {"PCR4": "ab" * 48}})


def test_get_verifies_and_returns_typed_rows():
    lane = FakeLane()
    row = client(lane).get("user_profile", "user_000001", features=["country", "referrer", "device"])
    assert row["found"] is True and row["written_by"] == "loader"
    assert row["features"] == {"country": "IN", "referrer": None, "device": None}
    assert row["status"] == {"country": "PRESENT", "referrer": "NULL_VALUE", "device": "NOT_FOUND"}
    assert row["event_time"].year == 2026 and row["event_time"].tzinfo is not None
    assert row["verification"]["keyid"] == lane.signer.jwk.keyid


def test_an_answer_by_a_key_not_pinned_is_refused():
    lane = FakeLane()
    with pytest.raises(ExpressLaneError) as e:
        client(lane, trust=lane_key(FakeSigner().jwk)).get("user_profile", "user_000001")
    assert reason(e) == ("verification_failed", "wrong_keyid")


def test_a_pinned_keyid_takes_the_key_only_if_the_thumbprint_matches():
    lane = FakeLane()
    assert client(lane, trust=pinned_keys(lane.signer.jwk.keyid)).get("user_profile", "user_000002")["found"]
    with pytest.raises(ExpressLaneError) as e:
        client(lane, trust=pinned_keys(FakeSigner().jwk.keyid)).get("user_profile", "user_000002")
    assert e.value.reason == "wrong_keyid"


def test_attest_verifies_the_document_with_a_fresh_nonce_and_a_restart_is_reattested():
    lane = FakeLane()
    c = client(lane, trust=attested(root=lane.nsm.root_pem, measurements=MEASUREMENTS))
    key = c.attest()
    assert key["keyid"] == lane.signer.jwk.keyid and key["debug"] is False
    assert c.get("user_profile", "user_000003")["found"]
    lane.restart()
    assert c.get("user_profile", "user_000003")["verification"]["keyid"] == lane.signer.jwk.keyid
    nonces = [t for _m, t, _h, _b in lane.calls if t.startswith("/v1/attestation")]
    assert len(nonces) == 2 and nonces[0] != nonces[1]


def test_attestation_of_another_image_or_under_another_root_is_refused():
    lane = FakeLane()
    other = {"Measurements": {"PCR0": "ab" * 48, "PCR1": "cd" * 48, "PCR2": "ef" * 48}}
    with pytest.raises(ExpressLaneError) as e:
        client(lane, trust=attested(root=lane.nsm.root_pem, measurements=other)).get("user_profile", "user_000001")
    assert reason(e) == ("attestation_failed", "PCR_MISMATCH")
    with pytest.raises(ExpressLaneError) as e:
        client(lane, trust=attested(root="aws", measurements=MEASUREMENTS)).get("user_profile", "user_000001")
    assert reason(e) == ("attestation_failed", "UNTRUSTED_ROOT")


def test_lane_key_named_by_the_attested_enclave_is_trusted_and_survives_a_restart():
    lane = FakeLane(lane_key=FakeSigner())
    c = client(lane, trust=attested(root=lane.nsm.root_pem, measurements=MEASUREMENTS))
    key = c.attest()
    assert key["lane_keyids"] == [lane.lane_key.jwk.keyid]
    assert c.get("user_profile", "user_000001")["verification"]["keyid"] == lane.lane_key.jwk.keyid
    lane.restart()
    c.get("user_profile", "user_000002")
    assert len([t for _m, t, _h, _b in lane.calls if t.startswith("/v1/attestation")]) == 1


def test_a_lane_key_only_the_host_advertises_is_not_trusted():
    lane = FakeLane()
    impostor = FakeSigner()
    inner = lane.__call__

    def advertise(method, url, headers, body, timeout):
        res = inner(method, url, headers, body, timeout)
        if url.endswith("/v1/signer"):
            import json

            info = json.loads(res.body)
            info["lane_keys"] = [{"keyid": impostor.jwk.keyid, "jwk": impostor.jwk.to_dict()}]
            return type(res)(200, res.headers, json.dumps(info).encode())
        return res

    c = Client("http://lane.test", transport=advertise, trust=attested(root=lane.nsm.root_pem, measurements=MEASUREMENTS))
    assert c.attest()["lane_keyids"] == []
    assert c.trusted_keyids == [lane.signer.jwk.keyid]


def test_a_pinned_lane_key_verifies_within_its_window_and_not_once_retired():
    key = FakeSigner()
    lane = FakeLane(lane_key=key)
    now = int(time.time())
    current = {**key.jwk.to_dict(), "kid": key.jwk.keyid, "nbf": now - 3600, "exp": now + 86400}
    assert client(lane, trust=lane_key({"keys": [current]})).get("user_profile", "user_000001")["found"]
    retired = {**current, "exp": now - 60}
    with pytest.raises(ExpressLaneError) as e:
        client(lane, trust=lane_key({"keys": [retired]})).get("user_profile", "user_000001")
    assert reason(e) == ("verification_failed", "key_not_valid")


def test_trust_on_first_use_is_explicit_and_works():
    lane = FakeLane()
    assert Client("http://lane.test", transport=lane, trust_on_first_use=True).get("user_profile", "user_000004")["found"]


def test_fresh_nonce_per_request_and_a_replayed_answer_is_refused():
    lane = FakeLane()
    c = client(lane)
    c.get("user_profile", "user_000005")
    c.get("user_profile", "user_000005")
    sigs = [h["accept-signature"] for _m, _t, h, _b in lane.calls]
    assert sigs[0] != sigs[1]
    first = {}

    def replay(response):
        if not first:
            first.update(response)
        else:
            response.update(first)

    lane.tamper = replay
    c.get("user_profile", "user_000006")
    with pytest.raises(ExpressLaneError) as e:
        c.get("user_profile", "user_000006")
    assert reason(e) == ("verification_failed", "nonce_mismatch")


@pytest.mark.parametrize(
    "change,expected",
    [
        (lambda r: r.update(body=r["body"].replace(b'"IN"', b'"JN"')), "digest_mismatch"),
        (lambda r: r.update(status=404), "bad_signature"),
        (lambda r: r["headers"].update(signature="sig1=:" + "A" * 86 + "==:"), "bad_signature"),
    ],
)
def test_a_tampered_answer_is_refused(change, expected):
    lane = FakeLane()
    lane.tamper = change
    with pytest.raises(ExpressLaneError) as e:
        client(lane).get("user_profile", "user_000007", features=["country"])
    assert reason(e) == ("verification_failed", expected)


def test_a_batch_answer_is_bound_to_the_body_sent():
    lane = FakeLane()
    inner = lane.__call__

    def swap(method, url, headers, body, timeout):
        # The host has the signer answer the entities in another order.
        if url.endswith("/batch"):
            import json

            req = json.loads(body)
            req["entities"].reverse()
            return inner(method, url, headers, json.dumps(req, separators=(",", ":")).encode(), timeout)
        return inner(method, url, headers, body, timeout)

    c = Client("http://lane.test", transport=swap, trust=pinned_keys(lane.signer.jwk.to_dict()))
    with pytest.raises(ExpressLaneError) as e:
        c.get_many("user_profile", ["user_000001", "user_000002"])
    assert reason(e) == ("verification_failed", "bad_signature")


def test_unsigned_404_is_an_error_and_signed_404_is_found_false():
    lane = FakeLane()
    row = client(lane).get("user_profile", "nobody")
    assert row["found"] is False and row["error"]["code"] == "not_found"
    lane.tamper = lambda r: r["headers"].pop("signature")
    with pytest.raises(ExpressLaneError) as e:
        client(lane).get("user_profile", "nobody")
    assert e.value.code == "server_error" and e.value.status == 404


def test_get_many_chunks_at_100_in_parallel_in_order_with_columnar_to_dict():
    lane = FakeLane()
    entities = [f"user_{248 - i:06d}" for i in range(249)] + ["nobody"]
    rows = client(lane).get_many("user_profile", entities, features=["country", "risk_score"])
    assert [r["entity"] for r in rows] == entities
    assert rows[-1]["found"] is False
    sizes = [len(__import__("json").loads(b)["entities"]) for m, t, _h, b in lane.calls if t.endswith("/batch")]
    assert sorted(sizes) == [50, 100, 100]
    cols = rows.to_dict(include_event_timestamps=True, include_status=True)
    assert cols["entity"] == entities
    assert cols["country"][0] == "FR" and cols["country"][-1] is None
    assert cols["country__status"][-1] == "NOT_FOUND"
    assert len(cols["event_timestamp"]) == 250


def test_msgpack_answers():
    lane = FakeLane()
    row = client(lane, format="msgpack").get("user_profile", "user_000010", features=["country", "risk_score"])
    assert lane.calls[0][2]["accept"] == "application/msgpack"
    assert row["features"] == {"country": "FR", "risk_score": 0.01}


def test_api_key_is_sent():
    lane = FakeLane()
    client(lane, api_key="k-123").get("user_profile", "user_000001")
    assert lane.calls[0][2]["x-api-key"] == "k-123"


def test_retries_503_and_429_with_a_fresh_nonce_and_honours_retry_after():
    lane = FakeLane()
    lane.fail_next(1, 503, "0")
    lane.fail_next(1, 429)
    assert client(lane).get("user_profile", "user_000001")["found"]
    assert len(lane.calls) == 3 and len({h["accept-signature"] for _m, _t, h, _b in lane.calls}) == 3
    lane2 = FakeLane()
    lane2.fail_next(1, 503, "1")
    t0 = time.monotonic()
    client(lane2).get("user_profile", "user_000001")
    assert time.monotonic() - t0 >= 0.95


def test_gives_up_after_the_attempts_and_on_a_long_retry_after_and_never_retries_400():
    lane = FakeLane()
    lane.fail_next(10, 503)
    with pytest.raises(ExpressLaneError) as e:
        client(lane, attempts=3).get("user_profile", "user_000001")
    assert (e.value.code, e.value.status, e.value.reason) == ("server_error", 503, "signer_unavailable")
    assert len(lane.calls) == 3
    lane2 = FakeLane()
    lane2.fail_next(1, 429, "3600")
    with pytest.raises(ExpressLaneError):
        client(lane2).get("user_profile", "user_000001")
    assert len(lane2.calls) == 1
    lane3 = FakeLane()
    lane3.fail_next(1, 400)
    with pytest.raises(ExpressLaneError):
        client(lane3).get("user_profile", "user_000001")
    assert len(lane3.calls) == 1


def test_timeouts_are_reported_as_timeouts():
    lane = FakeLane()

    def hang(method, url, headers, body, timeout):
        raise TimeoutError("timed out")

    with pytest.raises(ExpressLaneError) as e:
        Client("http://lane.test", transport=hang, trust=pinned_keys(lane.signer.jwk.to_dict()), attempts=2, backoff_base=0.001).get("user_profile", "u")
    assert e.value.code == "timeout"


def test_real_http_timeout_against_a_silent_server():
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    conns = []
    threading.Thread(target=lambda: conns.append(server.accept()), daemon=True).start()
    lane = FakeLane()
    with pytest.raises(ExpressLaneError) as e:
        Client(f"http://127.0.0.1:{port}", trust=pinned_keys(lane.signer.jwk.to_dict()), timeout=0.2, attempts=1).get("user_profile", "u")
    assert e.value.code == "timeout"
    server.close()


def test_retry_after_parsing():
    assert retry_after_seconds("2", 0) == 2
    assert retry_after_seconds("Thu, 01 Jan 1970 00:00:10 GMT", 4) == 6
    assert retry_after_seconds("soon", 0) is None


def test_async_client_reads_and_chunks_concurrently():
    lane = FakeLane()

    async def main():
        c = AsyncClient("http://lane.test", transport=lane, trust=pinned_keys(lane.signer.jwk.to_dict()))
        one = await c.get("user_profile", "user_000001")
        many = await c.get_many("user_profile", [f"user_{i:06d}" for i in range(230)], features=["country"])
        return one, many

    one, many = asyncio.run(main())
    assert one["found"] and len(many) == 230 and many[229]["entity"] == "user_000229"
    assert many.to_dict()["country"][:2] == ["FR", "IN"]


def test_parallel_chunks_that_meet_a_new_signer_key_attest_once():
    lane = FakeLane()
    c = client(lane, trust=attested(root=lane.nsm.root_pem, measurements=MEASUREMENTS))
    c.attest()
    lane.restart()
    rows = c.get_many("user_profile", [f"user_{i:06d}" for i in range(240)])
    assert all(r["verification"]["keyid"] == lane.signer.jwk.keyid for r in rows)
    assert len([t for _m, t, _h, _b in lane.calls if t.startswith("/v1/attestation")]) == 2


# -- freshness (docs/trust.md P8) ------------------------------------------------------------------


def test_rows_carry_the_signed_fresh_as_of_and_checkpoint_seq():
    row = client(FakeLane()).get("user_profile", "user_000001")
    assert row["fresh_as_of"] is not None and row["checkpoint_seq"] == 1
    assert abs(row["fresh_as_of"].timestamp() - (time.time() - 1)) < 5


def test_an_unproven_answer_is_rejected_by_default():
    lane = FakeLane()
    lane.fresh_age = None
    with pytest.raises(ExpressLaneError) as e:
        client(lane).get("user_profile", "user_000001")
    assert reason(e) == ("verification_failed", "stale_answer")
    with pytest.raises(ExpressLaneError) as e:
        client(lane).get_many("user_profile", ["user_000001", "nobody"])
    assert reason(e) == ("verification_failed", "stale_answer")


def test_an_answer_older_than_the_bound_is_rejected_unless_the_caller_allows_it():
    import math
    import warnings

    lane = FakeLane()
    lane.fresh_age = 120
    with pytest.raises(ExpressLaneError) as e:
        client(lane).get("user_profile", "user_000001")
    assert reason(e) == ("verification_failed", "stale_answer")
    assert client(lane, max_staleness=3600).get("user_profile", "user_000001")["found"] is True
    with pytest.raises(ExpressLaneError):
        client(lane, max_staleness=10).get("user_profile", "user_000001")
    lane.fresh_age = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert client(lane, max_staleness=math.inf).get("user_profile", "user_000001")["found"] is True
    assert any("freshness check is OFF" in str(w.message) for w in caught)
