"""Verifying a Nitro attestation document with cbor2 + cryptography: is this key an enclave's key,
and which enclave's? The same decision, in the same order and with the same error codes, as the
repository's verifier/attestation.ts:

  1. parse the COSE_Sign1 envelope (ES384 only);
  2. the certificate chain: cabundle[0] must be byte-equal to the pinned root, every certificate
     signed by the one before it, issuers CAs allowed to sign certificates, path lengths honoured,
     all valid now;
  3. the COSE signature by the leaf's P-384 key over the payload;
  -- only now is anything in the payload believed --
  4. debug-mode (all-zero) PCRs, the PCR allowlist (each entry pins PCR0, PCR1 and PCR2), the
     nonce, the document's age, the bound key (public_key -> keyid, the RFC 7638 thumbprint).
"""
from __future__ import annotations

import datetime as _dt
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

from .envelope import Jwk

REQUIRED_PCRS = (0, 1, 2)
DEFAULT_MAX_AGE_MS = 5 * 60_000
CLOCK_SKEW_MS = 60_000
_COSE_ALG_ES384 = -35
AWS_ROOT_PATH = Path(__file__).with_name("roots") / "aws-nitro-enclaves-root-g1.pem"

MeasurementSet = Dict[int, bytes]


class AttestationError(Exception):
    """`code`: MALFORMED, UNSUPPORTED_ALGORITHM, UNTRUSTED_ROOT, BAD_CHAIN, CERT_NOT_YET_VALID,
    CERT_EXPIRED, BAD_SIGNATURE, DEBUG_MODE, PCR_MISMATCH, INCOMPLETE_ALLOWLIST, NONCE_MISMATCH,
    STALE_DOCUMENT, FUTURE_DOCUMENT, PUBLIC_KEY_MISMATCH (verifier/attestation.ts's codes)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class VerifiedAttestation:
    module_id: str
    timestamp_ms: int
    pcrs: Mapping[int, bytes]
    public_key: Optional[bytes]
    user_data: Optional[bytes]
    nonce: Optional[bytes]
    #: JWK thumbprint of public_key when it is a 32-byte Ed25519 key (the signer's)
    keyid: Optional[str]
    debug: bool


def load_root(spec: Union[str, bytes, Path, x509.Certificate]) -> x509.Certificate:
    """"aws" (AWS Nitro Enclaves Root-G1, shipped with this package), PEM text/bytes, DER bytes, or a file path."""
    if isinstance(spec, x509.Certificate):
        return spec
    if spec == "aws":
        return x509.load_pem_x509_certificate(AWS_ROOT_PATH.read_bytes())
    if isinstance(spec, str) and "-----BEGIN CERTIFICATE-----" in spec:
        return x509.load_pem_x509_certificate(spec.encode("ascii"))
    data = spec if isinstance(spec, bytes) else Path(spec).read_bytes()
    return x509.load_pem_x509_certificate(data) if data.lstrip().startswith(b"-----BEGIN") else x509.load_der_x509_certificate(data)


def parse_measurements(value: object) -> List[MeasurementSet]:
    """nitro-cli's `{"Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": hex, ...}}`, the bare
    inner object, or a list of either. Every entry must pin PCR0, PCR1 and PCR2."""
    entries = value if isinstance(value, list) else [value]
    if not entries:
        raise ValueError("measurements: empty list")
    sets: List[MeasurementSet] = []
    for n, entry in enumerate(entries):
        inner = entry.get("Measurements", entry) if isinstance(entry, dict) else entry
        if not isinstance(inner, dict):
            raise ValueError(f"measurements[{n}]: expected an object")
        algorithm = inner.get("HashAlgorithm")
        if algorithm is not None and not (isinstance(algorithm, str) and algorithm.startswith("Sha384")):
            raise ValueError(f"measurements[{n}]: HashAlgorithm {algorithm} is not Sha384")
        s: MeasurementSet = {}
        for key, hexvalue in inner.items():
            m = re.fullmatch(r"PCR(\d+)", key)
            if not m:
                continue
            if not isinstance(hexvalue, str) or not re.fullmatch(r"[0-9a-fA-F]{96}", hexvalue):
                raise ValueError(f"measurements[{n}].{key}: expected 96 hex digits")
            s[int(m.group(1))] = bytes.fromhex(hexvalue)
        missing = [i for i in REQUIRED_PCRS if i not in s]
        if missing:
            raise ValueError(
                f"measurements[{n}]: does not pin {', '.join(f'PCR{i}' for i in missing)}; every entry must pin PCR0, PCR1 and PCR2, "
                "which identify the enclave's code — without them it would accept any image"
            )
        sets.append(s)
    return sets


def load_measurements(path: Union[str, Path]) -> List[MeasurementSet]:
    return parse_measurements(json.loads(Path(path).read_text()))


def verify_attestation(
    document: bytes,
    *,
    root: x509.Certificate,
    measurements: Union[Sequence[MeasurementSet], str],
    nonce: Optional[bytes] = None,
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
    allow_debug: bool = False,
    expected_public_key: Optional[bytes] = None,
    expected_keyid: Optional[str] = None,
    now_ms: Optional[int] = None,
) -> VerifiedAttestation:
    """`measurements` is the allowlist, or the string "unchecked" to accept any image under `root`
    (said out loud, never a default)."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    protected, payload_bytes, signature = _parse_cose_sign1(document)
    payload = _parse_payload(payload_bytes)

    leaf = _verify_chain(payload["certificate"], payload["cabundle"], root, now)
    sig_structure = cbor2.dumps(["Signature1", protected, b"", payload_bytes])
    if len(signature) != 96:
        raise AttestationError("BAD_SIGNATURE", "COSE_Sign1 signature must be 96 bytes (ES384 r||s)")
    der = encode_dss_signature(int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big"))
    try:
        leaf.public_key().verify(der, sig_structure, ec.ECDSA(hashes.SHA384()))  # type: ignore[union-attr,call-arg]
    except InvalidSignature as err:
        raise AttestationError("BAD_SIGNATURE", "COSE_Sign1 signature does not verify under the leaf key") from err

    pcrs: Dict[int, bytes] = payload["pcrs"]
    debug = any(pcrs.get(i) is None or not any(pcrs[i]) for i in REQUIRED_PCRS)
    if debug and not allow_debug:
        raise AttestationError("DEBUG_MODE", "PCR0..2 are all zero: a debug-mode enclave (host can read its memory)")
    _check_measurements(pcrs, measurements)
    if nonce is not None and payload["nonce"] != nonce:
        raise AttestationError("NONCE_MISMATCH", "document nonce differs from the one we sent")
    age = now - payload["timestamp"]
    if age > max_age_ms:
        raise AttestationError("STALE_DOCUMENT", f"document is {age} ms old (max {max_age_ms})")
    if age < -CLOCK_SKEW_MS:
        raise AttestationError("FUTURE_DOCUMENT", f"document is {-age} ms in the future")
    public_key = payload["public_key"]
    keyid = Jwk.from_raw(public_key).keyid if public_key is not None and len(public_key) == 32 else None
    if expected_public_key is not None and public_key != expected_public_key:
        raise AttestationError("PUBLIC_KEY_MISMATCH", "public_key differs from the expected key")
    if expected_keyid is not None and keyid != expected_keyid:
        raise AttestationError("PUBLIC_KEY_MISMATCH", f"public_key has keyid {keyid or '(not an Ed25519 key)'}, expected {expected_keyid}")
    return VerifiedAttestation(payload["module_id"], payload["timestamp"], pcrs, public_key, payload["user_data"], payload["nonce"], keyid, debug)


def _loads(data: bytes, what: str) -> object:
    try:
        return cbor2.loads(data)
    except Exception as err:  # cbor2.CBORDecodeError and friends
        raise AttestationError("MALFORMED", f"{what} is not CBOR: {err}") from err


def _parse_cose_sign1(document: bytes):
    value = _loads(document, "document")
    if isinstance(value, cbor2.CBORTag):
        if value.tag != 18:
            raise AttestationError("MALFORMED", f"CBOR tag {value.tag}, expected 18 (COSE_Sign1)")
        value = value.value
    if not isinstance(value, list) or len(value) != 4:
        raise AttestationError("MALFORMED", "COSE_Sign1 must be a 4-element array")
    protected, _unprotected, payload, signature = value
    if not all(isinstance(x, bytes) for x in (protected, payload, signature)):
        raise AttestationError("MALFORMED", "COSE_Sign1 protected header, payload and signature must be byte strings")
    header = _loads(protected, "protected header")
    if not isinstance(header, dict) or header.get(1) != _COSE_ALG_ES384:
        raise AttestationError("UNSUPPORTED_ALGORITHM", "protected header alg must be ES384 (-35)")
    return protected, payload, signature


def _parse_payload(data: bytes) -> dict:
    m = _loads(data, "payload")
    if not isinstance(m, dict):
        raise AttestationError("MALFORMED", "payload must be a CBOR map")

    def bad(name: str, want: str) -> AttestationError:
        return AttestationError("MALFORMED", f"payload field {name} must be {want}")

    module_id = m.get("module_id")
    if not isinstance(module_id, str) or not module_id:
        raise bad("module_id", "a non-empty text string")
    if m.get("digest") != "SHA384":
        raise AttestationError("UNSUPPORTED_ALGORITHM", "payload digest must be SHA384")
    timestamp = m.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise bad("timestamp", "an unsigned integer")
    raw_pcrs = m.get("pcrs")
    if not isinstance(raw_pcrs, dict) or not 0 < len(raw_pcrs) <= 32:
        raise bad("pcrs", "a map of 1..32 entries")
    pcrs: Dict[int, bytes] = {}
    for index, value in raw_pcrs.items():
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 32:
            raise bad("pcrs", "keyed by indices 0..31")
        if not isinstance(value, bytes) or len(value) not in (32, 48, 64):
            raise bad("pcrs", "values of 32, 48 or 64 bytes")
        pcrs[index] = value
    certificate = m.get("certificate")
    if not isinstance(certificate, bytes):
        raise bad("certificate", "a byte string")
    cabundle = m.get("cabundle")
    if not isinstance(cabundle, list) or not cabundle or not all(isinstance(c, bytes) for c in cabundle):
        raise bad("cabundle", "a non-empty array of byte strings")

    def optional_bytes(name: str, limit: int) -> Optional[bytes]:
        value = m.get(name)
        if value is None:
            return None
        if not isinstance(value, bytes) or len(value) > limit:
            raise bad(name, f"null or a byte string of at most {limit} bytes")
        return value

    return {
        "module_id": module_id,
        "timestamp": timestamp,
        "pcrs": pcrs,
        "certificate": certificate,
        "cabundle": cabundle,
        "public_key": optional_bytes("public_key", 1024),
        "user_data": optional_bytes("user_data", 512),
        "nonce": optional_bytes("nonce", 512),
    }


def _certificate(der: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except Exception as err:
        raise AttestationError("MALFORMED", f"{what} is not an X.509 certificate: {err}") from err


def _signed_by(subject: x509.Certificate, issuer: x509.Certificate) -> bool:
    if subject.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(subject.signature, subject.tbs_certificate_bytes, ec.ECDSA(subject.signature_hash_algorithm))  # type: ignore[arg-type]
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(subject.signature, subject.tbs_certificate_bytes, padding.PKCS1v15(), subject.signature_hash_algorithm)  # type: ignore[arg-type]
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(subject.signature, subject.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _constraints(cert: x509.Certificate):
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        basic = None
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        may_sign = usage.key_cert_sign
    except x509.ExtensionNotFound:
        may_sign = True
    return (basic is not None and basic.ca), may_sign, (basic.path_length if basic is not None else None)


def _utc(value: _dt.datetime) -> _dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)


def _verify_chain(leaf_der: bytes, cabundle: List[bytes], root: x509.Certificate, now_ms: int) -> x509.Certificate:
    if cabundle[0] != root.public_bytes(Encoding.DER):
        raise AttestationError("UNTRUSTED_ROOT", "cabundle[0] is not the pinned root")
    chain = [_certificate(der, f"cabundle[{i}]") for i, der in enumerate(cabundle)] + [_certificate(leaf_der, "certificate")]
    remaining = float("inf")
    for i in range(1, len(chain)):
        issuer, subject = chain[i - 1], chain[i]
        name = "leaf" if i == len(chain) - 1 else f"cabundle[{i}]"
        is_ca, may_sign, path_length = _constraints(issuer)
        if not is_ca:
            raise AttestationError("BAD_CHAIN", f"issuer of {name} is not a CA")
        if not may_sign:
            raise AttestationError("BAD_CHAIN", f"issuer of {name} may not sign certificates")
        if path_length is not None:
            remaining = min(remaining, path_length)
        if not _signed_by(subject, issuer):
            raise AttestationError("BAD_CHAIN", f"{name} is not signed by its issuer {issuer.subject.rfc4514_string()}")
        if i < len(chain) - 1:
            if remaining <= 0:
                raise AttestationError("BAD_CHAIN", "path length constraint exceeded")
            remaining -= 1
    now = _dt.datetime.fromtimestamp(now_ms / 1000, tz=_dt.timezone.utc)
    for i, cert in enumerate(chain):
        name = "leaf" if i == len(chain) - 1 else f"cabundle[{i}]"
        if now < _utc(cert.not_valid_before):
            raise AttestationError("CERT_NOT_YET_VALID", f"{name} is valid from {cert.not_valid_before}")
        if now > _utc(cert.not_valid_after):
            raise AttestationError("CERT_EXPIRED", f"{name} expired {cert.not_valid_after}")
    leaf = chain[-1]
    if _constraints(leaf)[0]:
        raise AttestationError("BAD_CHAIN", "the signing certificate is a CA certificate")
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise AttestationError("BAD_CHAIN", "the signing certificate's key is not P-384")
    return leaf


def _check_measurements(pcrs: Mapping[int, bytes], allowed: Union[Sequence[MeasurementSet], str]) -> None:
    if allowed == "unchecked":
        return
    if isinstance(allowed, str):
        raise TypeError('measurements must be a list of PCR sets or the string "unchecked"')
    if not allowed:
        raise AttestationError("PCR_MISMATCH", "the measurement allowlist is empty")
    for n, s in enumerate(allowed):
        missing = [i for i in REQUIRED_PCRS if i not in s]
        if missing:
            raise AttestationError("INCOMPLETE_ALLOWLIST", f"allowlist entry {n} does not pin {', '.join(f'PCR{i}' for i in missing)}: it would accept other enclave images")
    if not any(all(pcrs.get(i) == v for i, v in s.items()) for s in allowed):
        shown = " ".join(f"PCR{i}={(pcrs.get(i) or b'').hex()[:16]}…" for i in REQUIRED_PCRS)
        raise AttestationError("PCR_MISMATCH", f"measurements not in the allowlist ({shown})")
