"""Verifying a signed Express Lane answer (docs/envelope.md, envelope v2) with the standard library
and `cryptography` only.

The same checks, in the same order and with the same error codes, as the repository's TypeScript
verifier (verifier/response.ts); test/conformance/vectors.json holds the cases every verifier must
agree on (tests/test_conformance.py runs them here).

Covered components, in order: "@status" "content-type" "content-digest" "@method";req "@path";req
"@query";req, and for a request with a body (POST: batch reads, pushes) also "content-digest";req,
the digest of the body *we* sent, computed here, never taken from a header the answer brings.
"""
from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from . import _sf

SIGNATURE_ALG = "ed25519"
SIGNATURE_TAG = "express-lane"
_GET_COMPONENTS = ("@status", "content-type", "content-digest", "@method;req", "@path;req", "@query;req")
_POST_COMPONENTS = _GET_COMPONENTS + ("content-digest;req",)
_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})

VERIFICATION_CODES = (
    "missing_header",
    "missing_request_body",
    "malformed_signature_input",
    "unknown_label",
    "wrong_components",
    "wrong_alg",
    "wrong_keyid",
    "key_not_valid",
    "digest_mismatch",
    "bad_signature",
    "not_yet_valid",
    "expired",
    "nonce_mismatch",
)


class VerificationError(Exception):
    """An answer failed a check; `code` is one of VERIFICATION_CODES (the TypeScript verifier's)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Jwk:
    """An Ed25519 public key as an RFC 8037 OKP JWK. `nbf`/`exp` (seconds since epoch): the
    validity window a published lane key carries; a key with one vouches only for answers created
    inside it (`key_not_valid` otherwise)."""

    x: str
    nbf: Optional[float] = None
    exp: Optional[float] = None

    @staticmethod
    def from_dict(value: Mapping[str, object]) -> "Jwk":
        if value.get("kty") != "OKP" or value.get("crv") != "Ed25519" or not isinstance(value.get("x"), str):
            raise ValueError("not an Ed25519 public JWK")
        window = {}
        for name in ("nbf", "exp"):
            v = value.get(name)
            if v is not None:
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise ValueError(f"JWK {name} must be a number of seconds")
                window[name] = v
        jwk = Jwk(str(value["x"]), **window)
        if len(jwk.raw) != 32:
            raise ValueError("Ed25519 public key must be 32 bytes")
        return jwk

    @staticmethod
    def from_raw(raw: bytes) -> "Jwk":
        if len(raw) != 32:
            raise ValueError("Ed25519 public key must be 32 bytes")
        return Jwk(base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii"))

    @property
    def raw(self) -> bytes:
        return base64.urlsafe_b64decode(self.x + "=" * (-len(self.x) % 4))

    @property
    def keyid(self) -> str:
        """RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, base64url."""
        canonical = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % self.x
        return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode("ascii")).digest()).rstrip(b"=").decode("ascii")

    def to_dict(self) -> dict:
        out: dict = {"kty": "OKP", "crv": "Ed25519", "x": self.x}
        if self.nbf is not None:
            out["nbf"] = self.nbf
        if self.exp is not None:
            out["exp"] = self.exp
        return out


@dataclass(frozen=True)
class SentRequest:
    """The request as we sent it: what the answer must be bound to."""

    method: str
    #: path exactly as sent (percent-encoded)
    path: str
    #: query with its "?", or "" for none
    query: str = ""
    #: the body bytes exactly as sent; required for POST/PUT/PATCH
    body: Optional[bytes] = None


@dataclass(frozen=True)
class Verified:
    label: str
    keyid: str
    created: int
    expires: int
    nonce: Optional[str]


def content_digest(body: bytes) -> str:
    """RFC 9530 `sha-256=:<base64>:`."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def request_has_body(request: SentRequest) -> bool:
    return request.method.upper() in _METHODS_WITH_BODY or (request.body is not None and len(request.body) > 0)


def signature_base(
    *,
    status: int,
    content_type: str,
    content_digest_header: str,
    method: str,
    path: str,
    query: str,
    request_content_digest: Optional[str],
    signature_params: str,
) -> str:
    """The RFC 9421 §2.5 signature base: lines joined by \\n, no trailing newline."""
    lines = [
        f'"@status": {status}',
        f'"content-type": {content_type}',
        f'"content-digest": {content_digest_header}',
        f'"@method";req: {method}',
        f'"@path";req: {path}',
        f'"@query";req: {query if query else "?"}',
    ]
    if request_content_digest is not None:
        lines.append(f'"content-digest";req: {request_content_digest}')
    lines.append(f'"@signature-params": {signature_params}')
    return "\n".join(lines)


def _component_name(item: _sf.Item) -> str:
    name, params = item
    return f"{name}{';req' if params.get('req') is True else ''}"


def verify_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    request: SentRequest,
    keys: Iterable[Jwk],
    *,
    nonce: Optional[str] = None,
    label: Optional[str] = None,
    now: Optional[int] = None,
    skew_seconds: int = 5,
) -> Verified:
    """Verify one answer against the request we sent and the pinned keys; raise VerificationError.

    `headers` must have lower-case names. `keys` are the pinned keys (never one the lane handed out
    on the channel it answers on); an empty set verifies nothing.
    """
    signature_input = headers.get("signature-input")
    signature_header = headers.get("signature")
    digest_header = headers.get("content-digest")
    content_type = headers.get("content-type")
    if not signature_input or not signature_header or not digest_header or not content_type:
        raise VerificationError("missing_header", "Signature-Input, Signature, Content-Digest and Content-Type are required")
    try:
        inputs = _sf.parse_dictionary(signature_input)
    except _sf.StructuredFieldError as err:
        raise VerificationError("malformed_signature_input", "Signature-Input is not a structured dictionary") from err
    chosen = label if label is not None else next(iter(inputs), None)
    member = inputs.get(chosen) if chosen is not None else None
    if chosen is None or member is None:
        raise VerificationError("unknown_label", f"no signature labelled {label or '(any)'}")
    if not _sf.is_inner_list(member):
        raise VerificationError("malformed_signature_input", "signature input must be an inner list")

    has_body = request_has_body(request)
    if has_body and request.body is None:
        raise VerificationError("missing_request_body", f"a {request.method.upper()} answer is bound to the request body: pass the body as sent")
    items, params = member  # type: ignore[misc]
    covered = tuple(_component_name(i) for i in items)
    expected = _POST_COMPONENTS if has_body else _GET_COMPONENTS
    if covered != expected:
        why = " (an envelope v1 answer: it does not cover the request body)" if has_body and covered == _GET_COMPONENTS else ""
        raise VerificationError("wrong_components", f"covered components {' '.join(covered)} != {' '.join(expected)}{why}")
    created, expires, keyid = params.get("created"), params.get("expires"), params.get("keyid")
    if not _is_int(created) or not _is_int(expires) or not isinstance(keyid, str):
        raise VerificationError("malformed_signature_input", "created, expires and keyid are required")
    if params.get("alg") != SIGNATURE_ALG or params.get("tag") != SIGNATURE_TAG:
        raise VerificationError("wrong_alg", f"alg must be {SIGNATURE_ALG}, tag {SIGNATURE_TAG}")

    pinned = {k.keyid: k for k in keys}
    if not pinned:
        raise VerificationError("wrong_keyid", "no pinned key to verify against")
    key = pinned.get(keyid)
    if key is None:
        raise VerificationError("wrong_keyid", f"signed by {keyid}, expected {' or '.join(pinned)}")
    if key.nbf is not None or key.exp is not None:
        nbf = key.nbf if key.nbf is not None else float("-inf")
        exp = key.exp if key.exp is not None else float("inf")
        if created < nbf or created > exp:  # type: ignore[operator]
            raise VerificationError("key_not_valid", f"key {keyid} is valid from {nbf} to {exp}; the answer was created at {created}")
    if content_digest(body) != digest_header:
        raise VerificationError("digest_mismatch", "Content-Digest does not match the body")

    base = signature_base(
        status=status,
        content_type=content_type,
        content_digest_header=digest_header,
        method=request.method,
        path=request.path,
        query=request.query,
        # Our own digest of what we sent.
        request_content_digest=content_digest(request.body) if has_body and request.body is not None else None,
        signature_params=_sf.serialize_inner_list(member),  # type: ignore[arg-type]
    )
    signature = _signature_bytes(signature_header, chosen)
    try:
        Ed25519PublicKey.from_public_bytes(key.raw).verify(signature, base.encode("utf-8"))
    except InvalidSignature as err:
        raise VerificationError("bad_signature", "signature does not verify over the response and request") from err

    now_s = int(time.time()) if now is None else now
    if created > now_s + skew_seconds:  # type: ignore[operator]
        raise VerificationError("not_yet_valid", f"created {created} is in the future")
    if expires < now_s - skew_seconds:  # type: ignore[operator]
        raise VerificationError("expired", f"signature expired at {expires}")
    got_nonce = params.get("nonce")
    if nonce is not None and got_nonce != nonce:
        raise VerificationError("nonce_mismatch", "signature does not carry the nonce we sent")
    return Verified(chosen, keyid, int(created), int(expires), got_nonce if isinstance(got_nonce, str) else None)  # type: ignore[arg-type]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _signature_bytes(header: str, label: str) -> bytes:
    try:
        parsed = _sf.parse_dictionary(header)
    except _sf.StructuredFieldError as err:
        raise VerificationError("malformed_signature_input", "Signature header is not a structured dictionary") from err
    member = parsed.get(label)
    if member is None or _sf.is_inner_list(member) or not isinstance(member[0], bytes):
        raise VerificationError("unknown_label", f"Signature has no byte sequence labelled {label}")
    return member[0]


def expected_components(method: str, has_body: bool) -> Sequence[str]:
    return _POST_COMPONENTS if has_body or method.upper() in _METHODS_WITH_BODY else _GET_COMPONENTS
