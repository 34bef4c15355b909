"""The Python SDK against a real local lane. Started by test/e2e/sdk-python.test.ts (jest starts the
lane and passes its URL and trust material in the environment); skipped when run on its own.

    EXPRESS_LANE_E2E_URL           http://127.0.0.1:<port>
    EXPRESS_LANE_E2E_ROOT          the lane's dev CA root (PEM): <data dir>/dev-ca/root.pem
    EXPRESS_LANE_E2E_MEASUREMENTS  nitro-cli-shaped PCRs of the running dev signer bundle
    EXPRESS_LANE_E2E_KEYID         the signer's keyid (for the pinned-keyid anchor)
    EXPRESS_LANE_E2E_ENTITIES      comma-separated demo entity ids to read
"""
import asyncio
import os

import pytest

from express_lane import AsyncClient, Client, ExpressLaneError, HttpResponse, attested, http_transport, pinned_keys

URL = os.environ.get("EXPRESS_LANE_E2E_URL")
pytestmark = pytest.mark.skipif(URL is None, reason="run by test/e2e/sdk-python.test.ts against a started lane")


@pytest.fixture(scope="module")
def trust():
    return attested(root=os.environ["EXPRESS_LANE_E2E_ROOT"], measurements=os.environ["EXPRESS_LANE_E2E_MEASUREMENTS"])


@pytest.fixture(scope="module")
def entities():
    return os.environ["EXPRESS_LANE_E2E_ENTITIES"].split(",")


def test_attest_then_read_a_batch_and_verify_every_answer(trust, entities):
    client = Client(URL, trust=trust)
    key = client.attest()
    assert key["keyid"] == os.environ["EXPRESS_LANE_E2E_KEYID"]
    rows = client.get_many("user_profile", entities + ["nobody"], features=["country", "risk_score", "referrer"])
    assert [r["entity"] for r in rows] == entities + ["nobody"]
    for row in rows[:-1]:
        assert row["found"] is True and row["written_by"] == "loader"
        assert row["status"]["country"] == "PRESENT"
        assert row["verification"]["keyid"] == key["keyid"]
        assert row["event_time"] is not None
    assert rows[-1]["found"] is False and rows[-1]["error"]["code"] == "not_found"
    assert len({r["verification"]["nonce"] for r in rows}) == (len(entities) + 1 + 99) // 100
    cols = rows.to_dict(include_event_timestamps=True)
    assert cols["entity"][0] == entities[0] and len(cols["country"]) == len(entities) + 1
    single = client.get("user_profile", entities[0], features=["embedding_0"])
    assert len(single["features"]["embedding_0"]) == 38


def test_msgpack_and_a_pinned_keyid(entities):
    client = Client(URL, trust=pinned_keys(os.environ["EXPRESS_LANE_E2E_KEYID"]), format="msgpack")
    row = client.get("user_profile", entities[3], features=["flag_0", "txn_count_1d"])
    assert isinstance(row["features"]["flag_0"], bool)
    assert row["event_time"].tzinfo is not None


def test_a_tampered_answer_is_rejected(trust, entities):
    def tampering(method, url, headers, body, timeout):
        res = http_transport(method, url, headers, body, timeout)
        if "/v1/features/" not in url:
            return res
        flipped = bytearray(res.body)
        flipped[-3] ^= 0x01
        return HttpResponse(res.status, res.headers, bytes(flipped))

    client = Client(URL, trust=trust, transport=tampering)
    with pytest.raises(ExpressLaneError) as e:
        client.get_many("user_profile", entities[:5])
    assert (e.value.code, e.value.reason) == ("verification_failed", "digest_mismatch")


def test_another_image_is_refused(entities):
    wrong = attested(root=os.environ["EXPRESS_LANE_E2E_ROOT"], measurements={"Measurements": {"PCR0": "ab" * 48, "PCR1": "cd" * 48, "PCR2": "ef" * 48}})
    with pytest.raises(ExpressLaneError) as e:
        Client(URL, trust=wrong).get("user_profile", entities[0])
    assert (e.value.code, e.value.reason) == ("attestation_failed", "PCR_MISMATCH")


def test_asyncio_client(trust, entities):
    async def main():
        client = AsyncClient(URL, trust=trust)
        return await asyncio.gather(client.get("user_profile", entities[1]), client.get_many("user_profile", entities, features=["segment"]))

    one, many = asyncio.run(main())
    assert one["found"] and [r["entity"] for r in many] == entities
