"""Test doubles: a lane in-process (signs answers per docs/envelope.md with an Ed25519 key) and a
Nitro-format attestation document under a throwaway P-384 CA chain. The real signer is exercised
by the conformance vectors (signed by enclave/signer.ts) and the e2e test against a started lane."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import urllib.parse
from typing import Callable, Dict, List, Optional, Tuple

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from express_lane import HttpResponse, Jwk, content_digest, signature_base

PCRS = {0: bytes([1]) * 48, 1: bytes([2]) * 48, 2: bytes([3]) * 48, 3: bytes(48), 4: bytes([5]) * 48}
MEASUREMENTS = {"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": PCRS[0].hex(), "PCR1": PCRS[1].hex(), "PCR2": PCRS[2].hex()}}


def _cert(subject: str, key, issuer_name: str, issuer_key, *, ca: bool, path_length: Optional[int] = None, days: int = 1):
    now = dt.datetime.now(dt.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
    )
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    return b.sign(issuer_key, hashes.SHA384())


class FakeNsm:
    def __init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.root = _cert("fake nitro root", self.root_key, "fake nitro root", self.root_key, ca=True)
        self.inter_key = ec.generate_private_key(ec.SECP384R1())
        self.inter = _cert("fake intermediate", self.inter_key, "fake nitro root", self.root_key, ca=True, path_length=0)
        self.leaf_key = ec.generate_private_key(ec.SECP384R1())
        self.leaf = _cert("fake enclave", self.leaf_key, "fake intermediate", self.inter_key, ca=False)
        self.pcrs = dict(PCRS)
        self.timestamp_offset_ms = 0

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(Encoding.PEM).decode("ascii")

    def document(self, public_key: Optional[bytes], nonce: Optional[bytes], *, sign_with=None, protected: Optional[bytes] = None, tag: bool = False, user_data: Optional[bytes] = None) -> bytes:
        import time

        payload = cbor2.dumps(
            {
                "module_id": "i-fake-enc0123",
                "digest": "SHA384",
                "timestamp": int(time.time() * 1000) + self.timestamp_offset_ms,
                "pcrs": self.pcrs,
                "certificate": self.leaf.public_bytes(Encoding.DER),
                "cabundle": [self.root.public_bytes(Encoding.DER), self.inter.public_bytes(Encoding.DER)],
                "public_key": public_key,
                "user_data": user_data,
                "nonce": nonce,
            }
        )
        protected = protected if protected is not None else cbor2.dumps({1: -35})
        der = (sign_with or self.leaf_key).sign(cbor2.dumps(["Signature1", protected, b"", payload]), ec.ECDSA(hashes.SHA384()))
        r, s = decode_dss_signature(der)
        cose = [protected, {}, payload, r.to_bytes(48, "big") + s.to_bytes(48, "big")]
        return cbor2.dumps(cbor2.CBORTag(18, cose) if tag else cose)


def _sf_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class FakeSigner:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.jwk = Jwk.from_raw(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    def sign(self, status: int, content_type: str, body: bytes, method: str, path: str, query: str, request_body: Optional[bytes], nonce: Optional[str], created: int) -> Dict[str, str]:
        has_body = method == "POST"
        components = '("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req' + (' "content-digest";req' if has_body else "") + ")"
        params = f'{components};created={created};expires={created + 60};keyid={_sf_string(self.jwk.keyid)};alg="ed25519";tag="express-lane"'
        if nonce is not None:
            params += f";nonce={_sf_string(nonce)}"
        digest = content_digest(body)
        base = signature_base(
            status=status, content_type=content_type, content_digest_header=digest, method=method, path=path, query=query,
            request_content_digest=content_digest(request_body or b"") if has_body else None, signature_params=params,
        )
        sig = base64.b64encode(self.key.sign(base.encode("utf-8"))).decode("ascii")
        return {"content-type": content_type, "content-digest": digest, "signature-input": f"sig1={params}", "signature": f"sig1=:{sig}:"}


class FakeLane:
    """A transport: Client(..., transport=lane)."""

    def __init__(self, entities: int = 250, lane_key: Optional[FakeSigner] = None) -> None:
        import time

        self.lane_key = lane_key
        self.signer = FakeSigner()
        self.nsm = FakeNsm()
        self.now = time.time
        self.calls: List[Tuple[str, str, Dict[str, str], Optional[bytes]]] = []
        self.failures: List[Tuple[int, Optional[str]]] = []
        self.tamper: Optional[Callable[[Dict], None]] = None
        #: P8: how old the signed fresh_as_of is (seconds before now); None = unproven (null)
        self.fresh_age: Optional[float] = 1.0
        self.store = {
            f"user_{i:06d}": {"country": "IN" if i % 2 else "FR", "risk_score": i / 1000, "referrer": None} for i in range(entities)
        }

    def restart(self) -> None:
        self.signer = FakeSigner()

    def fail_next(self, n: int, status: int, retry_after: Optional[str] = None) -> None:
        self.failures.extend([(status, retry_after)] * n)

    def _fresh(self) -> Dict:
        if self.fresh_age is None:
            return {"fresh_as_of": None}
        at = dt.datetime.fromtimestamp(self.now() - self.fresh_age, dt.timezone.utc)
        return {"fresh_as_of": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z", "checkpoint_seq": 1}

    def _read(self, entity: str, features: Optional[List[str]]) -> Dict:
        stored = self.store.get(entity)
        if stored is None:
            return {"entity": entity, "found": False, "error": {"code": "not_found", "message": "no features stored for this entity"}, **self._fresh()}
        names = features or list(stored)
        return {
            "entity": entity, "found": True, "event_time": "2026-12-01T09:00:00.000Z", "written_time": "2026-12-01T09:00:01.000Z", "written_by": "loader",
            **self._fresh(),
            "features": {n: stored.get(n) for n in names},
            "status": {n: ("NOT_FOUND" if n not in stored else "NULL_VALUE" if stored[n] is None else "PRESENT") for n in names},
        }

    def __call__(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes], timeout: float) -> HttpResponse:
        parts = urllib.parse.urlsplit(url)
        path, query = parts.path, (f"?{parts.query}" if parts.query else "")
        self.calls.append((method, path + query, dict(headers), body))
        if self.failures:
            status, after = self.failures.pop(0)
            h = {"content-type": "application/json", **({"retry-after": after} if after is not None else {})}
            return HttpResponse(status, h, json.dumps({"error": {"code": "rate_limited" if status == 429 else "signer_unavailable", "message": "later"}}).encode())
        if path == "/v1/signer":
            lane_keys = [{"keyid": self.lane_key.jwk.keyid, "alg": "ed25519", "jwk": self.lane_key.jwk.to_dict()}] if self.lane_key else []
            return HttpResponse(200, {"content-type": "application/json"}, json.dumps({"keyid": self.signer.jwk.keyid, "alg": "ed25519", "jwk": self.signer.jwk.to_dict(), "lane_keys": lane_keys}).encode())
        if path == "/v1/attestation":
            nonce = urllib.parse.parse_qs(parts.query)["nonce"][0].encode("utf-8")
            user_data = json.dumps({"lane_keys": [self.lane_key.jwk.keyid]}).encode() if self.lane_key else None
            doc = self.nsm.document(self.signer.jwk.raw, nonce, user_data=user_data)
            return HttpResponse(200, {"content-type": "application/json"}, json.dumps({"document": base64.b64encode(doc).decode(), "keyid": self.signer.jwk.keyid}).encode())
        nonce = None
        if "accept-signature" in headers and 'nonce="' in headers["accept-signature"]:
            nonce = headers["accept-signature"].split('nonce="')[1].split('"')[0]
        segments = path.split("/")
        view = urllib.parse.unquote(segments[3])
        if segments[-1] == "batch":
            req = json.loads(body)
            answer = {"view": view, "max_staleness": 60, "results": [self._read(e, req.get("features")) for e in req["entities"]]}
            status = 200
        else:
            features = urllib.parse.unquote(query[len("?features="):]).split(",") if query.startswith("?features=") else None
            answer = {"view": view, "max_staleness": 60, **self._read(urllib.parse.unquote(segments[-1]), features)}
            status = 200 if answer["found"] else 404
        if headers.get("accept") == "application/msgpack":
            import msgpack

            data, ctype = msgpack.packb(answer), "application/msgpack"
        else:
            data, ctype = json.dumps(answer, separators=(",", ":")).encode(), "application/json"
        signed = (self.lane_key or self.signer).sign(status, ctype, data, method, path, query, body, nonce, int(self.now()))
        response = {"status": status, "headers": signed, "body": data}
        if self.tamper:
            self.tamper(response)
        return HttpResponse(response["status"], response["headers"], response["body"])


def random_nonce() -> bytes:
    return os.urandom(16)
