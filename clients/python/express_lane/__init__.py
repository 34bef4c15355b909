"""Express Lane client: verified feature reads (RFC 9421 answers signed inside an attested Nitro
Enclave). Standard library + cryptography (+ cbor2 for attestation, msgpack for MessagePack).

    from express_lane import Client, attested
    lane = Client("https://lane.example:8080", trust=attested(root="aws", measurements="measurements.json"))
    row = lane.get("user_profile", "user_000042", features=["country"])
"""
from .attestation import AttestationError, VerifiedAttestation, load_measurements, load_root, parse_measurements, verify_attestation
from .client import MAX_BATCH_ENTITIES, AsyncClient, Client, ExpressLaneError, FeatureResults, HttpResponse, http_transport, retry_after_seconds
from .envelope import Jwk, SentRequest, Verified, VerificationError, content_digest, signature_base, verify_response
from .trust import Attested, PinnedKeys, TrustAnchor, attested, lane_key, pinned_keys

__version__ = "0.1.0"
__all__ = [
    "AsyncClient",
    "AttestationError",
    "Attested",
    "Client",
    "ExpressLaneError",
    "FeatureResults",
    "HttpResponse",
    "Jwk",
    "MAX_BATCH_ENTITIES",
    "PinnedKeys",
    "SentRequest",
    "TrustAnchor",
    "Verified",
    "VerificationError",
    "VerifiedAttestation",
    "attested",
    "content_digest",
    "http_transport",
    "lane_key",
    "load_measurements",
    "load_root",
    "parse_measurements",
    "pinned_keys",
    "retry_after_seconds",
    "signature_base",
    "verify_attestation",
    "verify_response",
]
