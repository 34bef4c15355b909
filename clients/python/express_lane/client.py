"""The Express Lane client (synchronous, and asyncio via the standard library): verified reads.

Every answer is verified before anything in it is returned (docs/envelope.md, envelope v2):
signature over status, content type and digest, our method, path, query and, for batch reads,
the digest of the exact body bytes we sent; keyid against the trust anchor; a fresh nonce per
attempt; created/expires. Unsigned runtime errors (4xx, 401/403, 429, 503/504) carry no data and
become ExpressLaneError with the server's {error:{code,message}}; 503 and 429 are retried with
backoff, honouring Retry-After.
"""
from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import email.utils
import http.client
import json
import os
import random
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from .attestation import AttestationError, verify_attestation
from .envelope import Jwk, SentRequest, VerificationError, verify_response
from .trust import KEYID_PATTERN, Attested, PinnedKeys, TrustAnchor

#: The server's batch limit (wire/names.ts MAX_BATCH_ENTITIES).
MAX_BATCH_ENTITIES = 100
_ACCEPT = {"json": "application/json", "msgpack": "application/msgpack"}
_ACCEPT_SIGNATURE_COMPONENTS = '("@status" "content-type" "content-digest" "@method";req "@path";req "@query";req)'
#: Statuses the signer signs for reads: the answer, a signed not_found, a signed refusal.
_SIGNED_READ_STATUSES = frozenset({200, 404, 502})


class ExpressLaneError(Exception):
    """`code`: no_trust_anchor, verification_failed, attestation_failed, unexpected_answer, timeout,
    network, server_error, bad_argument. `reason`: the server's, verifier's or attestation's code."""

    def __init__(self, code: str, message: str, *, status: Optional[int] = None, reason: Optional[str] = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class HttpResponse:
    status: int
    #: lower-case names
    headers: Dict[str, str]
    body: bytes


#: transport(method, url, headers, body, timeout_seconds) -> HttpResponse; raises TimeoutError or OSError.
Transport = Callable[[str, str, Dict[str, str], Optional[bytes], float], HttpResponse]


def http_transport(method: str, url: str, headers: Dict[str, str], body: Optional[bytes], timeout: float) -> HttpResponse:
    """One request over http.client (standard library). The target is sent exactly as given: the
    signature covers the path and query as sent."""
    parts = urllib.parse.urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.hostname, parts.port, timeout=timeout)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=headers)
        res = conn.getresponse()
        data = res.read()
        return HttpResponse(res.status, {k.lower(): v for k, v in res.getheaders()}, data)
    finally:
        conn.close()


def retry_after_seconds(value: Optional[str], now: float) -> Optional[float]:
    """Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        at = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, at.timestamp() - now)


def _parse_time(value: Any) -> Optional[_dt.datetime]:
    if isinstance(value, _dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc)
    if isinstance(value, str):
        return _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


class FeatureResults(list):
    """Rows (dicts) in request order, plus a pandas-free columnar view like Feast's to_dict()."""

    def to_dict(self, include_event_timestamps: bool = False, include_status: bool = False) -> Dict[str, List[Any]]:
        names: List[str] = []
        seen = set()
        for row in self:
            for name in row["features"]:
                if name not in seen:
                    seen.add(name)
                    names.append(name)
        out: Dict[str, List[Any]] = {"entity": [row["entity"] for row in self]}
        for name in names:
            out[name] = [row["features"].get(name) for row in self]
            if include_status:
                out[f"{name}__status"] = [row["status"].get(name, "NOT_FOUND") for row in self]
        if include_event_timestamps:
            out["event_timestamp"] = [row["event_time"] for row in self]
        return out


class Client:
    def __init__(
        self,
        url: str,
        *,
        trust: Optional[TrustAnchor] = None,
        trust_on_first_use: bool = False,
        api_key: Optional[str] = None,
        format: str = "json",
        timeout: float = 5.0,
        attempts: int = 4,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        max_retry_after: float = 30.0,
        concurrency: int = 8,
        batch_size: int = MAX_BATCH_ENTITIES,
        skew_seconds: int = 5,
        max_staleness: Optional[float] = None,
        transport: Optional[Transport] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if trust is None and trust_on_first_use is not True:
            raise ExpressLaneError(
                "no_trust_anchor",
                "no trust anchor: pass trust=pinned_keys(...) or trust=attested(root=..., measurements=...); a key the lane hands out "
                "proves nothing (development only: trust_on_first_use=True)",
            )
        if trust is not None and trust_on_first_use:
            raise ExpressLaneError("bad_argument", "choose one trust anchor: trust or trust_on_first_use, not both")
        if trust is not None and not isinstance(trust, (PinnedKeys, Attested)):
            raise ExpressLaneError("bad_argument", f"unknown trust anchor {type(trust).__name__}")
        if format not in _ACCEPT:
            raise ExpressLaneError("bad_argument", "format is 'json' or 'msgpack'")
        if format == "msgpack":
            import msgpack  # noqa: F401  (python3-msgpack; only needed for MessagePack answers)
        self.url = url.rstrip("/")
        self.trust = trust
        self.trust_on_first_use = trust_on_first_use
        self.api_key = api_key
        self.format = format
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.concurrency = max(1, concurrency)
        self.batch_size = min(MAX_BATCH_ENTITIES, max(1, batch_size))
        self.skew_seconds = skew_seconds
        #: P8 (docs/trust.md): None = each answer's own max_staleness; math.inf = off (warns)
        self.max_staleness = max_staleness
        self.transport: Transport = transport or http_transport
        self.clock = clock
        self._trusted: Dict[str, Jwk] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        #: bumped by every key refresh: a thread that waited for another's refresh does not repeat it
        self._generation = 0
        if isinstance(trust, PinnedKeys):
            for jwk in trust.jwks:
                self._trusted[jwk.keyid] = jwk

    # -- public API ------------------------------------------------------------------------------

    @property
    def trusted_keyids(self) -> List[str]:
        with self._lock:
            return list(self._trusted)

    def attest(self) -> Optional[Dict[str, Any]]:
        """Establish the trust anchor now (otherwise the first read does). With an attestation
        anchor: fetch /v1/attestation with a fresh nonce, verify it and trust its key; returns
        {keyid, jwk, module_id, pcrs, debug}. With pinned keyids: resolve them via /v1/signer."""
        if isinstance(self.trust, Attested):
            return self._attest_now(self.trust)
        self._refresh_keys(None)
        return None

    def get(self, view: str, entity: str, features: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """One entity. A missing entity is found=False (a signed 404), not an exception."""
        _check_name(view, "view")
        _check_name(entity, "entity")
        path = f"/v1/features/{_quote(view)}/{_quote(entity)}"
        query = "?features=" + ",".join(_quote(f) for f in features) if features else ""
        body, verification = self._verified_request("GET", path, query, None)
        row = _row(view, body, verification)
        if row["view"] != view or row["entity"] != entity:
            raise ExpressLaneError("unexpected_answer", "signed answer names another view or entity")
        return row

    def get_many(self, view: str, entities: Sequence[str], features: Optional[Sequence[str]] = None) -> FeatureResults:
        """Many entities of one view in request order: chunks of at most 100 (the server's batch
        limit) as parallel batch requests (`concurrency` threads), each verified against its body."""
        _check_name(view, "view")
        for e in entities:
            _check_name(e, "entity")
        chunks = [list(entities[i : i + self.batch_size]) for i in range(0, len(entities), self.batch_size)]
        if len(chunks) <= 1:
            return FeatureResults(row for c in chunks for row in self._batch(view, c, features))
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(chunks))) as pool:
            parts = list(pool.map(lambda c: self._batch(view, c, features), chunks))
        return FeatureResults(row for part in parts for row in part)

    # -- internals -------------------------------------------------------------------------------

    def _batch(self, view: str, entities: List[str], features: Optional[Sequence[str]]) -> List[Dict[str, Any]]:
        request = {"entities": entities, **({"features": list(features)} if features else {})}
        sent = json.dumps(request, separators=(",", ":")).encode("utf-8")
        body, verification = self._verified_request("POST", f"/v1/features/{_quote(view)}/batch", "", sent)
        if not isinstance(body, dict) or body.get("view") != view or not isinstance(body.get("results"), list) or len(body["results"]) != len(entities):
            raise ExpressLaneError("unexpected_answer", "signed batch answer does not answer every entity of the request")
        rows = []
        for i, r in enumerate(body["results"]):
            row = _row(view, {"view": view, **r} if isinstance(r, dict) else r, verification)
            if row["entity"] != entities[i]:
                raise ExpressLaneError("unexpected_answer", f"signed batch answer row {i} is for another entity")
            rows.append(row)
        return rows

    def _verified_request(self, method: str, path: str, query: str, body: Optional[bytes]):
        self._ensure_keys()
        last: Optional[ExpressLaneError] = None
        for attempt in range(1, self.attempts + 1):
            nonce = base64.urlsafe_b64encode(os.urandom(18)).decode("ascii")
            try:
                answer = self._send(method, path + query, nonce, body)
            except ExpressLaneError as err:
                last = err
                self._backoff(attempt, None)
                continue
            # Unsigned answers are runtime errors without data; signed ones are verified first.
            if "signature" not in answer.headers or answer.status not in _SIGNED_READ_STATUSES:
                code, message = _error_of(answer)
                last = ExpressLaneError("server_error", f"{answer.status} {code}: {message}", status=answer.status, reason=code)
                if answer.status in (503, 429) and attempt < self.attempts:
                    after = retry_after_seconds(answer.headers.get("retry-after"), self.clock())
                    if after is not None and after > self.max_retry_after:
                        raise last
                    self._backoff(attempt, after)
                    continue
                raise last
            verified = self._verify(answer, SentRequest(method, path, query, body), nonce)
            body = _decode(answer)
            verification = {"keyid": verified.keyid, "created": verified.created, "expires": verified.expires, "nonce": nonce}
            # The registry the signer built the answer with (signed body fields; docs/views.md): exposed, not enforced.
            if isinstance(body, dict) and isinstance(body.get("registry_version"), int) and isinstance(body.get("registry_digest"), str):
                verification["registry"] = {"version": body["registry_version"], "digest": body["registry_digest"]}
            return body, verification
        raise last or ExpressLaneError("network", "no attempt was made")

    def _backoff(self, attempt: int, retry_after: Optional[float]) -> None:
        if attempt >= self.attempts:
            return
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        time.sleep(max(retry_after or 0.0, random.random() * cap))

    def _verify(self, answer: HttpResponse, request: SentRequest, nonce: str):
        with self._lock:
            seen = self._generation

        def attempt():
            with self._lock:
                keys = list(self._trusted.values())
            return verify_response(
                answer.status, answer.headers, answer.body, request, keys, nonce=nonce, now=int(self.clock()), skew_seconds=self.skew_seconds, max_staleness=self.max_staleness
            )

        try:
            return attempt()
        except VerificationError as err:
            # An unknown key: the signer restarted or another enclave of the lane answered. Only
            # anchors that can learn keys safely try again (attestation, keyids, TOFU).
            if err.code == "wrong_keyid" and self._can_learn_keys():
                self._refresh_keys(seen)
                try:
                    return attempt()
                except VerificationError as again:
                    raise _verification_failed(again, answer.status) from again
            raise _verification_failed(err, answer.status) from err

    def _can_learn_keys(self) -> bool:
        t = self.trust
        return self.trust_on_first_use or isinstance(t, Attested) or (isinstance(t, PinnedKeys) and bool(t.keyids))

    def _ensure_keys(self) -> None:
        with self._lock:
            empty = not self._trusted
        if empty:
            with self._lock:
                seen = self._generation
            self._refresh_keys(seen)

    def _refresh_keys(self, seen_generation: Optional[int]) -> None:
        """Learn keys (attest, resolve keyids, TOFU). `seen_generation`: the refresh count the caller
        saw before it failed; if another thread refreshed since, its result is used instead."""
        with self._refresh_lock:  # one refresh at a time; others wait for it
            with self._lock:
                if seen_generation is not None and self._generation != seen_generation:
                    return
            try:
                self._refresh_keys_now()
            finally:
                # Bumped when the refresh is over, so a caller that saw the old count and failed
                # while it ran skips its own.
                with self._lock:
                    self._generation += 1

    def _refresh_keys_now(self) -> None:
        t = self.trust
        if t is None:  # trust_on_first_use (development)
            jwk = self._signer_key()
            with self._lock:
                self._trusted[jwk.keyid] = jwk
        elif isinstance(t, Attested):
            self._attest_now(t)
        elif isinstance(t, PinnedKeys):
            if not t.keyids:
                return
            # A pinned keyid is the key's SHA-256: the lane may hand us the key, not choose it.
            jwk = self._signer_key()
            if jwk.keyid in t.keyids:
                with self._lock:
                    self._trusted[jwk.keyid] = jwk
            elif not self._trusted:
                raise ExpressLaneError("verification_failed", f"the lane's signer key is {jwk.keyid}, pinned: {', '.join(t.keyids)}", reason="wrong_keyid")
        else:
            raise ExpressLaneError("bad_argument", f"unknown trust anchor {type(t).__name__}")

    def _attest_now(self, trust: Attested) -> Dict[str, Any]:
        nonce = base64.urlsafe_b64encode(os.urandom(24)).decode("ascii").rstrip("=")
        answer = self._send("GET", f"/v1/attestation?nonce={nonce}", None, None, negotiate=False)
        if answer.status != 200:
            code, message = _error_of(answer)
            raise ExpressLaneError("attestation_failed", f"attestation: {answer.status} {code}: {message}", status=answer.status, reason=code)
        try:
            document = base64.b64decode(json.loads(answer.body)["document"])
            verified = verify_attestation(
                document,
                root=trust.root,
                measurements=list(trust.measurements),
                # The runtime hands the nonce text to the NSM as UTF-8 bytes.
                nonce=nonce.encode("utf-8"),
                max_age_ms=trust.max_age_ms,
                allow_debug=trust.allow_debug,
                now_ms=int(self.clock() * 1000),
            )
        except AttestationError as err:
            raise ExpressLaneError("attestation_failed", f"attestation document refused: {err}", reason=err.code) from err
        except (ValueError, KeyError, TypeError) as err:
            raise ExpressLaneError("attestation_failed", f"attestation answer is malformed: {err}", reason="MALFORMED") from err
        if verified.public_key is None or len(verified.public_key) != 32:
            raise ExpressLaneError("attestation_failed", "the attestation document carries no Ed25519 signing key", reason="PUBLIC_KEY_MISMATCH")
        jwk = Jwk.from_raw(verified.public_key)
        with self._lock:
            self._trusted[jwk.keyid] = jwk
        # The enclave names the lane keys it signs with in user_data (under the document's
        # signature); their public halves come from /v1/signer and count only if their thumbprints
        # are the keyids the document names.
        named = _lane_keyids_of(verified.user_data)
        lane_keyids: List[str] = []
        if named:
            for offered in self._signer_info().get("lane_keys") or []:
                try:
                    lane = Jwk.from_raw(Jwk.from_dict(offered["jwk"]).raw)
                except (ValueError, KeyError, TypeError):
                    continue
                if lane.keyid in named:
                    with self._lock:
                        self._trusted[lane.keyid] = lane
                    lane_keyids.append(lane.keyid)
        return {"keyid": jwk.keyid, "jwk": jwk.to_dict(), "lane_keyids": lane_keyids, "module_id": verified.module_id, "pcrs": dict(verified.pcrs), "debug": verified.debug}

    def _signer_info(self) -> Dict[str, Any]:
        answer = self._send("GET", "/v1/signer", None, None, negotiate=False)
        try:
            info = json.loads(answer.body) if answer.status == 200 else None
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise ExpressLaneError("server_error", f"GET /v1/signer answered {answer.status} without a key", status=answer.status)
        return info

    def _signer_key(self) -> Jwk:
        info = self._signer_info()
        try:
            return Jwk.from_raw(Jwk.from_dict(info["jwk"]).raw)
        except (ValueError, KeyError, TypeError) as err:
            raise ExpressLaneError("server_error", "GET /v1/signer answered without an Ed25519 key") from err

    def _send(self, method: str, target: str, nonce: Optional[str], body: Optional[bytes], negotiate: bool = True) -> HttpResponse:
        headers: Dict[str, str] = {}
        if negotiate:
            headers["accept"] = _ACCEPT[self.format]
        if nonce is not None:
            headers["accept-signature"] = f'sig1={_ACCEPT_SIGNATURE_COMPONENTS};nonce="{nonce}"'
        if body is not None:
            headers["content-type"] = "application/json"
        if self.api_key is not None:
            headers["x-api-key"] = self.api_key
        try:
            return self.transport(method, self.url + target, headers, body, self.timeout)
        except (socket.timeout, TimeoutError) as err:
            raise ExpressLaneError("timeout", f"{method} {target} timed out after {self.timeout} s") from err
        except (OSError, http.client.HTTPException) as err:
            raise ExpressLaneError("network", f"{method} {self.url}{target}: {err}") from err


class AsyncClient:
    """The same client for asyncio, standard library only: each request runs in a worker thread
    (asyncio.to_thread); get_many runs its chunks concurrently (`concurrency` at a time)."""

    def __init__(self, url: str, **options: Any) -> None:
        self._client = Client(url, **options)

    @property
    def trusted_keyids(self) -> List[str]:
        return self._client.trusted_keyids

    async def attest(self) -> Optional[Dict[str, Any]]:
        return await asyncio.to_thread(self._client.attest)

    async def get(self, view: str, entity: str, features: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        return await asyncio.to_thread(self._client.get, view, entity, features)

    async def get_many(self, view: str, entities: Sequence[str], features: Optional[Sequence[str]] = None) -> FeatureResults:
        c = self._client
        _check_name(view, "view")
        for e in entities:
            _check_name(e, "entity")
        chunks = [list(entities[i : i + c.batch_size]) for i in range(0, len(entities), c.batch_size)]
        limit = asyncio.Semaphore(c.concurrency)

        async def one(chunk: List[str]):
            async with limit:
                return await asyncio.to_thread(c._batch, view, chunk, features)

        parts = await asyncio.gather(*(one(ch) for ch in chunks))
        return FeatureResults(row for part in parts for row in part)


def _lane_keyids_of(user_data: Optional[bytes]) -> List[str]:
    """`{"lane_keys": [keyid, ...]}` in an attestation document's user_data (enclave/signer.ts)."""
    if not user_data:
        return []
    try:
        parsed = json.loads(user_data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return []
    keys = parsed.get("lane_keys") if isinstance(parsed, dict) else None
    return [k for k in keys if isinstance(k, str) and KEYID_PATTERN.fullmatch(k)] if isinstance(keys, list) else []


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _check_name(value: Any, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ExpressLaneError("bad_argument", f"{what} must be a non-empty string")


def _verification_failed(err: VerificationError, status: int) -> ExpressLaneError:
    return ExpressLaneError("verification_failed", f"answer ({status}) failed verification: {err}", status=status, reason=err.code)


def _error_of(answer: HttpResponse):
    try:
        e = json.loads(answer.body).get("error")
        if isinstance(e, dict) and isinstance(e.get("code"), str):
            return e["code"], str(e.get("message", ""))
    except (ValueError, AttributeError):
        pass
    text = answer.body[:200].decode("utf-8", "replace")
    return f"http_{answer.status}", "".join(c if 0x20 <= ord(c) <= 0x7E else "?" for c in text)


def _decode(answer: HttpResponse) -> Any:
    try:
        if answer.headers.get("content-type") == "application/msgpack":
            import msgpack

            return msgpack.unpackb(answer.body, raw=False, timestamp=3, strict_map_key=False)
        return json.loads(answer.body)
    except Exception as err:
        raise ExpressLaneError("unexpected_answer", "signed answer body does not decode", status=answer.status) from err


def _row(view: str, raw: Any, verification: Dict[str, Any]) -> Dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("entity"), str) or not isinstance(raw.get("found"), bool):
        raise ExpressLaneError("unexpected_answer", "signed answer is not a feature read")
    return {
        "view": raw.get("view", view),
        "entity": raw["entity"],
        "found": raw["found"],
        "event_time": _parse_time(raw.get("event_time")),
        "written_time": _parse_time(raw.get("written_time")),
        "written_by": raw.get("written_by"),
        # P8: no newer version existed at this time (signed); None = unproven
        "fresh_as_of": _parse_time(raw.get("fresh_as_of")),
        "checkpoint_seq": raw.get("checkpoint_seq"),
        "features": raw.get("features") or {},
        "status": raw.get("status") or {},
        "error": raw.get("error"),
        "verification": verification,
    }


__all__: Iterable[str] = ["Client", "AsyncClient", "ExpressLaneError", "FeatureResults", "HttpResponse", "http_transport", "retry_after_seconds", "MAX_BATCH_ENTITIES"]
