"""Attestation verification (cbor2 + cryptography) on Nitro-format documents under a throwaway CA
chain: every refusal has its code; the legitimate document verifies and yields the keyid."""
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

import cbor2
from express_lane import AttestationError, Jwk, load_root, parse_measurements, verify_attestation
from fakes import MEASUREMENTS, FakeNsm, FakeSigner

KEY = FakeSigner().jwk


def verify(nsm, doc, **kw):
    kw.setdefault("measurements", parse_measurements(MEASUREMENTS))
    return verify_attestation(doc, root=load_root(nsm.root_pem), **kw)


def code(fn):
    with pytest.raises(AttestationError) as e:
        fn()
    return e.value.code


def test_a_genuine_document_verifies_and_binds_the_key():
    nsm = FakeNsm()
    for tag in (False, True):
        v = verify(nsm, nsm.document(KEY.raw, b"n-1", tag=tag), nonce=b"n-1", expected_keyid=KEY.keyid)
        assert v.keyid == KEY.keyid and v.public_key == KEY.raw and v.debug is False and v.pcrs[0] == nsm.pcrs[0]


def test_refusals():
    nsm = FakeNsm()
    doc = nsm.document(KEY.raw, b"n-1")
    assert code(lambda: verify(nsm, doc, nonce=b"other")) == "NONCE_MISMATCH"
    assert code(lambda: verify(nsm, doc, expected_keyid=FakeSigner().jwk.keyid)) == "PUBLIC_KEY_MISMATCH"
    assert code(lambda: verify(nsm, doc, measurements=parse_measurements({"PCR0": "00" * 48, "PCR1": "11" * 48, "PCR2": "22" * 48}))) == "PCR_MISMATCH"
    assert code(lambda: verify(nsm, doc, measurements=[{4: bytes(48)}])) == "INCOMPLETE_ALLOWLIST"
    assert code(lambda: verify(nsm, doc, measurements=[])) == "PCR_MISMATCH"
    assert code(lambda: verify_attestation(doc, root=load_root("aws"), measurements="unchecked")) == "UNTRUSTED_ROOT"
    assert code(lambda: verify(nsm, nsm.document(KEY.raw, None, sign_with=ec.generate_private_key(ec.SECP384R1())))) == "BAD_SIGNATURE"
    assert code(lambda: verify(nsm, nsm.document(KEY.raw, None, protected=cbor2.dumps({1: -7})))) == "UNSUPPORTED_ALGORITHM"
    assert code(lambda: verify(nsm, b"\x01\x02")) == "MALFORMED"
    assert code(lambda: verify(nsm, doc, now_ms=10**13 * 4)) in ("CERT_EXPIRED", "STALE_DOCUMENT")
    nsm.timestamp_offset_ms = -10 * 60_000
    assert code(lambda: verify(nsm, nsm.document(KEY.raw, None))) == "STALE_DOCUMENT"
    nsm.timestamp_offset_ms = 10 * 60_000
    assert code(lambda: verify(nsm, nsm.document(KEY.raw, None))) == "FUTURE_DOCUMENT"


def test_debug_mode_is_refused_unless_allowed():
    nsm = FakeNsm()
    nsm.pcrs = {i: bytes(48) for i in range(5)}
    doc = nsm.document(KEY.raw, None)
    assert code(lambda: verify(nsm, doc)) == "DEBUG_MODE"
    zero = parse_measurements({"PCR0": "00" * 48, "PCR1": "00" * 48, "PCR2": "00" * 48})
    assert verify(nsm, doc, measurements=zero, allow_debug=True).debug is True


def test_a_chain_whose_intermediate_is_not_signed_by_the_root_is_refused():
    nsm = FakeNsm()
    other = FakeNsm()
    nsm.inter = other.inter  # signed by another root
    assert code(lambda: verify(nsm, nsm.document(KEY.raw, None))) == "BAD_CHAIN"


def test_measurements_parsing_requires_pcr0_1_2():
    with pytest.raises(ValueError, match="PCR0, PCR1"):
        parse_measurements({"Measurements": {"PCR2": "aa" * 48, "PCR4": "bb" * 48}})
    with pytest.raises(ValueError):
        parse_measurements([])
    assert len(parse_measurements([MEASUREMENTS, MEASUREMENTS])) == 2


def test_keyid_is_the_rfc7638_thumbprint():
    # RFC 9421 Appendix B.1.4 test-key-ed25519: the keyid docs/envelope.md shows for it.
    jwk = Jwk.from_dict({"kty": "OKP", "crv": "Ed25519", "x": "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"})
    assert jwk.keyid == "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
