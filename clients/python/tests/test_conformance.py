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
