"""The Python verifier over the shared conformance vectors (test/conformance/vectors.json): every
vector's outcome must be exactly what it names, the same code the TypeScript verifier reports
(test/conformance/vectors.test.ts)."""
import base64
import json
from pathlib import Path

import pytest

from express_lane.envelope import Jwk, SentRequest, VerificationError, verify_response

VECTORS = json.loads((Path(__file__).resolve().parents[3] / "test" / "conformance" / "vectors.json").read_text())
KEYS = {k["keyid"]: Jwk.from_dict(k["jwk"]) for k in VECTORS["keys"]}


def pinned(keyid: str, validity):
    return Jwk.from_dict({**KEYS[keyid].to_dict(), **(validity or {})})


def outcome(v: dict) -> str:
    req = v["request"]
    res = v["response"]
    body = base64.b64decode(req["body_base64"]) if "body_base64" in req else None
    try:
        verify_response(
            res["status"],
            res["headers"],
            base64.b64decode(res["body_base64"]),
            SentRequest(req["method"], req["path"], req["query"], body),
            [pinned(k, v.get("pinned_key_validity")) for k in v["pinned_keyids"]],
            nonce=v.get("nonce"),
            now=v["now"],
            skew_seconds=VECTORS["skew_seconds"],
            max_staleness=v.get("max_staleness"),
        )
        return "valid"
    except VerificationError as err:
        return err.code


def test_the_keys_thumbprints_are_their_keyids():
    for keyid, jwk in KEYS.items():
        assert jwk.keyid == keyid


def test_there_are_valid_and_tampered_vectors():
    assert sum(v["expect"] == "valid" for v in VECTORS["vectors"]) >= 6
    assert sum("tampered" in v for v in VECTORS["vectors"]) >= 12


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["name"] for v in VECTORS["vectors"]])
def test_vector(vector):
    assert outcome(vector) == vector["expect"]


@pytest.mark.parametrize("name", ["read-json", "read-msgpack", "batch-json", "not-found"])
def test_the_client_parses_the_real_signers_answers(name):
    """The vectors' bodies are the real signer's (enclave/signer.ts, msgpackr for MessagePack):
    the client turns them into rows with typed values and aware datetimes."""
    import datetime as dt

    from express_lane.client import HttpResponse, _decode, _row

    v = next(x for x in VECTORS["vectors"] if x["name"] == name)
    body = _decode(HttpResponse(v["response"]["status"], v["response"]["headers"], base64.b64decode(v["response"]["body_base64"])))
    rows = [_row("user_profile", {"view": "user_profile", **r}, {}) for r in body["results"]] if name == "batch-json" else [_row("user_profile", body, {})]
    first = rows[0]
    if name == "not-found":
        assert first["found"] is False and first["error"]["code"] == "not_found"
        return
    assert first["found"] is True and first["written_by"] == "loader"
    assert first["event_time"] == dt.datetime(2027, 1, 15, 7, 58, 30, tzinfo=dt.timezone.utc)
    assert first["features"]["country"] == "IN"
    if name == "read-msgpack":
        assert first["features"]["flag_0"] is True and first["features"]["txn_count_1d"] == 3
        assert len(first["features"]["embedding_0"]) == 38
    if name == "read-json":
        assert first["status"] == {"country": "PRESENT", "risk_score": "PRESENT", "referrer": "NULL_VALUE", "device": "NOT_FOUND"}
    if name == "batch-json":
        assert rows[1]["found"] is False
