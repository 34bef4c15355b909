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
import datetime as _dt
import hashlib
import json
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, List, Mapping, Optional, Sequence

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
    "stale_answer",
)

#: The bound when an answer names none (docs/trust.md P8).
DEFAULT_MAX_STALENESS_SECONDS = 60


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
    #: P8: the oldest fresh_as_of among the answer's entities (ms since epoch); None for answers
    #: that are not reads, or when the freshness check was turned off.
    oldest_fresh_as_of: Optional[int] = None


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
    max_staleness: Optional[float] = None,
) -> Verified:
    """Verify one answer against the request we sent and the pinned keys; raise VerificationError.

    `headers` must have lower-case names. `keys` are the pinned keys (never one the lane handed out
    on the channel it answers on); an empty set verifies nothing.

    Freshness (docs/trust.md P8) is enforced by default: every entity a read answer makes a claim
    about (found, not_found, tombstone) must carry a signed fresh_as_of no older than
    `max_staleness` seconds (default: the answer's own max_staleness, 60 s when absent), else
    `stale_answer`. `max_staleness=math.inf` turns the check off (explicit; a warning is issued).
    """
    if max_staleness is not None and (not isinstance(max_staleness, (int, float)) or isinstance(max_staleness, bool) or math.isnan(max_staleness) or max_staleness < 0):
        raise TypeError("max_staleness must be a number of seconds >= 0 (math.inf: off)")
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
    oldest: Optional[int] = None
    if max_staleness == math.inf:
        warnings.warn("express-lane: freshness check is OFF (max_staleness=inf): answers may be rolled back to an old version without notice", stacklevel=2)
    else:
        claims = answer_freshness(body, content_type)
        if claims is not None:
            oldest = _check_freshness(claims, now_s, max_staleness)
    return Verified(chosen, keyid, int(created), int(expires), got_nonce if isinstance(got_nonce, str) else None, oldest)  # type: ignore[arg-type]


def _time_ms(value: Any) -> Optional[int]:
    if isinstance(value, _dt.datetime):
        return int(value.replace(tzinfo=value.tzinfo or _dt.timezone.utc).timestamp() * 1000)
    if isinstance(value, str):
        try:
            return int(_dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None
    # msgpack's Timestamp type (timestamp=0) or others: unproven
    to_unix = getattr(value, "to_unix", None)
    if callable(to_unix):
        return int(to_unix() * 1000)
    return None


def _bound(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else DEFAULT_MAX_STALENESS_SECONDS


def _claim(view: str, r: Any, bound: float) -> Optional[dict]:
    if not isinstance(r, dict):
        return None
    error = r.get("error")
    if r.get("found") is not True and not (isinstance(error, dict) and error.get("code") == "not_found"):
        return None  # a refusal: no value, no claim
    return {"view": view, "entity": str(r.get("entity")), "fresh_as_of": _time_ms(r.get("fresh_as_of")), "max_staleness": bound}


def answer_freshness(body: bytes, content_type: str) -> Optional[List[dict]]:
    """The entities a signed read answer makes claims about, with fresh_as_of (ms) and the view's
    bound; None for an answer that is not a read (push answers, errors). The same rules as
    verifier/response.ts answerFreshness."""
    try:
        if content_type.startswith("application/msgpack"):
            import msgpack

            value = msgpack.unpackb(body, raw=False, timestamp=3, strict_map_key=False)
        else:
            value = json.loads(body)
    except Exception:
        return None
    if not isinstance(value, dict):
        return None
    results = value.get("results")
    if isinstance(value.get("metadata"), dict) and isinstance(results, list):
        first = results[0] if results and isinstance(results[0], dict) else {}
        keys = [str(k) for k in first.get("values", [])] if isinstance(first.get("values"), list) else []
        refused = {(str(e.get("view")), str(e.get("entity"))) for e in value.get("errors", []) if isinstance(e, dict)} if isinstance(value.get("errors"), list) else set()
        sections = [f for f in value.get("freshness", []) if isinstance(f, dict)] if isinstance(value.get("freshness"), list) else []
        if not sections:
            return [{"view": "", "entity": k, "fresh_as_of": None, "max_staleness": DEFAULT_MAX_STALENESS_SECONDS} for k in keys]
        out = []
        for f in sections:
            view = str(f.get("view"))
            times = f.get("fresh_as_of") if isinstance(f.get("fresh_as_of"), list) else []
            for i, entity in enumerate(keys):
                if (view, entity) in refused:
                    continue
                out.append({"view": view, "entity": entity, "fresh_as_of": _time_ms(times[i]) if i < len(times) else None, "max_staleness": _bound(f.get("max_staleness"))})
        return out
    if not isinstance(value.get("view"), str):
        return None
    bound = _bound(value.get("max_staleness"))
    if isinstance(results, list):
        if not all(isinstance(r, dict) and isinstance(r.get("found"), bool) for r in results):
            return None  # a push answer's rows have `result`
        return [c for c in (_claim(value["view"], r, bound) for r in results) if c is not None]
    if not isinstance(value.get("found"), bool):
        return None
    one = _claim(value["view"], value, bound)
    return [one] if one else []


def _check_freshness(claims: List[dict], now_s: float, override: Optional[float]) -> Optional[int]:
    oldest: Optional[int] = None
    for c in claims:
        fresh = c["fresh_as_of"]
        if fresh is None:
            raise VerificationError(
                "stale_answer",
                f"entity {json.dumps(c['entity'])} of view {c['view']} has fresh_as_of null: the signer holds no checkpoint proof that it is the newest version",
            )
        bound = override if override is not None else c["max_staleness"]
        age = now_s - fresh / 1000
        if age > bound:
            raise VerificationError(
                "stale_answer",
                f"entity {json.dumps(c['entity'])} of view {c['view']} is proven fresh only as of {_dt.datetime.fromtimestamp(fresh / 1000, _dt.timezone.utc).isoformat()} ({round(age)} s ago, bound {bound:g} s)",
            )
        oldest = fresh if oldest is None or fresh < oldest else oldest
    return oldest


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
