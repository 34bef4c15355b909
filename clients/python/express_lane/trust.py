"""Trust anchors: what the client believes signs genuine answers. No default: a key the lane hands
out on the channel it answers on proves nothing, so the client refuses to start without one of

  pinned_keys(...)   a key set: Ed25519 JWKs (dicts), a JWKS ({"keys": [...]}) or keyids (RFC 7638
                     thumbprints; the key may then come from /v1/signer because the thumbprint binds it)
  attested(...)      attestation root + PCR0/1/2 allowlist: /v1/attestation with a fresh nonce,
                     verified (express_lane.attestation), the key inside it trusted; a signer
                     restart (new key) is attested again
  lane_key(...)      one published key per lane: a pinned key set of one (two while rotating)

and, for development only, `trust_on_first_use=True` on the client.

New kinds are new classes here and a branch in Client._resolve_keys, which refuses anything else.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Sequence, Tuple, Union

from cryptography import x509

from .attestation import DEFAULT_MAX_AGE_MS, MeasurementSet, load_root, parse_measurements
from .envelope import Jwk

KEYID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class PinnedKeys:
    jwks: Tuple[Jwk, ...]
    keyids: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Attested:
    root: x509.Certificate
    measurements: Tuple[MeasurementSet, ...]
    max_age_ms: int = DEFAULT_MAX_AGE_MS
    allow_debug: bool = False


TrustAnchor = Union[PinnedKeys, Attested]


def pinned_keys(*entries: Union[Mapping, str, Jwk]) -> PinnedKeys:
    jwks: List[Jwk] = []
    keyids: List[str] = []
    for entry in entries:
        if isinstance(entry, Jwk):
            jwks.append(entry)
        elif isinstance(entry, str):
            if not KEYID_PATTERN.fullmatch(entry):
                raise ValueError(f"pinned key {entry[:60]!r} is not a keyid (43 base64url characters)")
            keyids.append(entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get("keys"), list):
            jwks.extend(Jwk.from_dict(k) for k in entry["keys"])
        elif isinstance(entry, Mapping):
            jwks.append(Jwk.from_dict(entry))
        else:
            raise ValueError("a pinned key is an Ed25519 JWK, a JWKS or a keyid")
    if not jwks and not keyids:
        raise ValueError("pinned_keys() needs at least one key")
    return PinnedKeys(tuple(jwks), tuple(keyids))


def lane_key(*keys: Union[Mapping, str, Jwk]) -> PinnedKeys:
    """The lane's published signing key(s): a pinned key set."""
    return pinned_keys(*keys)


def attested(
    *,
    root: Union[str, bytes, Path, x509.Certificate],
    measurements: Union[str, Path, Mapping, Sequence],
    max_age_ms: int = DEFAULT_MAX_AGE_MS,
    allow_debug: bool = False,
) -> Attested:
    """`root`: "aws", PEM text, PEM/DER bytes or a file path. `measurements`: nitro-cli's JSON (a
    dict, a list, or a file path), or parsed sets."""
    if isinstance(measurements, (str, Path)):
        sets = parse_measurements(json.loads(Path(measurements).read_text()))
    elif isinstance(measurements, Sequence) and measurements and all(isinstance(s, dict) and all(isinstance(k, int) for k in s) for s in measurements):
        sets = [dict(s) for s in measurements]  # already parsed
    else:
        sets = parse_measurements(measurements)
    return Attested(load_root(root), tuple(sets), max_age_ms, allow_debug)


__all__ = ["PinnedKeys", "Attested", "TrustAnchor", "pinned_keys", "lane_key", "attested", "KEYID_PATTERN"]
