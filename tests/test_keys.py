"""Tests of jwks_client._keys: JWKS document -> KeyRing, key policy, selection, verify."""

from __future__ import annotations

import base64
import copy
from dataclasses import FrozenInstanceError
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc.jwk import RSAKey
from joserfc.jwk import thumbprint as joserfc_thumbprint

from jwks_client import _keys
from jwks_client._errors import InvalidKeySetError, KeySetUnavailableError
from jwks_client._keys import (
    EMPTY_KEY_RING,
    MAX_CANDIDATES,
    MAX_KEYS,
    MAX_RSA_BITS,
    MIN_RSA_BITS,
    KeyRing,
    PreparedKey,
    SkippedKey,
    parse_jwks,
)

JWK = dict[str, Any]
PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
)

SIGNING_INPUT = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9"

# --- key material, generated once ---------------------------------------------------

_EC_SIZES = {"P-256": 32, "P-384": 48, "P-521": 66, "secp256k1": 32}
_EC_CLASSES: dict[str, type[ec.EllipticCurve]] = {
    "P-256": ec.SECP256R1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
}
_ED25519_P = 2**255 - 19
_ED448_P = 2**448 - 2**224 - 1

# The eight small-order Ed25519 point encodings (canonical), as listed by libsodium.
SMALL_ORDER_ED25519 = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def uint_b64u(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64u(value.to_bytes(size, "big"))


def jwk_of(private_key: PrivateKey, **members: Any) -> JWK:
    """The public JWK of a private key, built from the public numbers, plus members."""
    public = private_key.public_key()
    jwk: JWK
    if isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        jwk = {"kty": "RSA", "n": uint_b64u(numbers.n), "e": uint_b64u(numbers.e)}
    elif isinstance(public, ec.EllipticCurvePublicKey):
        crv = next(name for name, cls in _EC_CLASSES.items() if isinstance(public.curve, cls))
        ec_numbers = public.public_numbers()
        size = _EC_SIZES[crv]
        jwk = {
            "kty": "EC",
            "crv": crv,
            "x": uint_b64u(ec_numbers.x, size),
            "y": uint_b64u(ec_numbers.y, size),
        }
    else:
        crv = "Ed25519" if isinstance(public, ed25519.Ed25519PublicKey) else "Ed448"
        raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
        jwk = {"kty": "OKP", "crv": crv, "x": b64u(raw)}
    jwk.update(members)
    return jwk


_HASH = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}


def sign(alg: str, private_key: PrivateKey, data: bytes = SIGNING_INPUT) -> bytes:
    """A JWS signature (RFC 7518 / RFC 8037 form) of data."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        digest = _HASH[alg[2:]]
        if alg.startswith("PS"):
            pad: padding.AsymmetricPadding = padding.PSS(
                mgf=padding.MGF1(digest), salt_length=digest.digest_size
            )
        else:
            pad = padding.PKCS1v15()
        return private_key.sign(data, pad, digest)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        digest = _HASH["512" if alg == "ES512" else "384" if alg == "ES384" else "256"]
        der = private_key.sign(data, ec.ECDSA(digest))
        r, s = decode_dss_signature(der)
        size = (private_key.curve.key_size + 7) // 8
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return private_key.sign(data)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_key_2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {crv: ec.generate_private_key(cls()) for crv, cls in _EC_CLASSES.items()}


@pytest.fixture(scope="module")
def ed25519_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def ed448_key() -> ed448.Ed448PrivateKey:
    return ed448.Ed448PrivateKey.generate()


@pytest.fixture(scope="module")
def keys_by_alg(
    rsa_key: rsa.RSAPrivateKey,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    ed25519_key: ed25519.Ed25519PrivateKey,
    ed448_key: ed448.Ed448PrivateKey,
) -> dict[str, PrivateKey]:
    """A private key for each (alg, key) case verified below."""
    by_alg: dict[str, PrivateKey] = {
        alg: rsa_key for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
    }
    by_alg.update(
        {
            "ES256": ec_keys["P-256"],
            "ES384": ec_keys["P-384"],
            "ES512": ec_keys["P-521"],
            "ES256K": ec_keys["secp256k1"],
            "EdDSA/Ed25519": ed25519_key,
            "EdDSA/Ed448": ed448_key,
            "Ed25519": ed25519_key,
            "Ed448": ed448_key,
        }
    )
    return by_alg


def ring_of(*entries: object) -> KeyRing:
    return parse_jwks({"keys": list(entries)})


def one_key(jwk: JWK) -> PreparedKey:
    ring = ring_of(jwk)
    assert ring.skipped == (), ring.skipped
    assert len(ring) == 1
    return ring.keys[0]


def one_skip(entry: object) -> SkippedKey:
    ring = ring_of(entry)
    assert len(ring) == 0
    assert len(ring.skipped) == 1
    assert ring.skipped[0].index == 0
    return ring.skipped[0]


# --- the document -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "kind"),
    [([], "an array"), ("keys", "a string"), (3, "a number"), (None, "null"), (True, "a boolean")],
)
def test_document_that_is_not_an_object_is_refused(document: object, kind: str) -> None:
    """A JWKS document that is not a JSON object raises InvalidKeySetError naming its type."""
    with pytest.raises(InvalidKeySetError, match=f"must be a JSON object, got {kind}"):
        parse_jwks(document)


def test_document_of_a_non_json_type_is_refused() -> None:
    """A Python value outside JSON is refused with its type name."""
    with pytest.raises(InvalidKeySetError, match="got an object"):
        parse_jwks(object())


def test_document_without_keys_is_refused() -> None:
    """A JSON object without a "keys" member raises InvalidKeySetError."""
    with pytest.raises(InvalidKeySetError, match='must have a "keys" member'):
        parse_jwks({"kty": "RSA", "n": "AQAB", "e": "AQAB"})


@pytest.mark.parametrize("keys", [{}, "[]", None, 1])
def test_keys_that_is_not_an_array_is_refused(keys: object) -> None:
    """A "keys" member that is not an array raises InvalidKeySetError."""
    with pytest.raises(InvalidKeySetError, match='"keys" member must be an array'):
        parse_jwks({"keys": keys})


def test_too_many_keys_are_refused() -> None:
    """More entries than max_keys raises InvalidKeySetError stating the count and limit."""
    with pytest.raises(InvalidKeySetError, match="holds 3 keys, more than the limit of 2"):
        parse_jwks({"keys": [{}, {}, {}]}, max_keys=2)


def test_default_key_limit_is_max_keys() -> None:
    """MAX_KEYS entries are judged one by one; MAX_KEYS + 1 entries are refused outright."""
    ring = parse_jwks({"keys": [{}] * MAX_KEYS})
    assert len(ring.skipped) == MAX_KEYS
    with pytest.raises(InvalidKeySetError, match=f"limit of {MAX_KEYS}"):
        parse_jwks({"keys": [{}] * (MAX_KEYS + 1)})


def test_invalid_key_set_error_is_a_key_set_unavailable_error() -> None:
    """The refusal belongs to the 503 family of errors."""
    with pytest.raises(KeySetUnavailableError):
        parse_jwks("not a jwks")


def test_set_with_every_key_skipped_gives_an_empty_ring() -> None:
    """A set whose keys are all unusable returns an empty ring that lists every skip."""
    ring = parse_jwks({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, 7]})
    assert len(ring) == 0
    assert ring.keys == ()
    assert [skip.index for skip in ring.skipped] == [0, 1]


def test_empty_keys_array_gives_an_empty_ring() -> None:
    """An empty "keys" array gives a ring with neither keys nor skips."""
    ring = parse_jwks({"keys": []})
    assert len(ring) == 0
    assert ring.skipped == ()
    assert ring.kids == frozenset()


def test_empty_key_ring_constant() -> None:
    """EMPTY_KEY_RING has no keys, no skips and selects nothing."""
    assert len(EMPTY_KEY_RING) == 0
    assert EMPTY_KEY_RING.skipped == ()
    assert EMPTY_KEY_RING.select("RS256", None) == ()
    assert EMPTY_KEY_RING.kids == frozenset()


def test_extra_document_members_are_ignored(rsa_key: rsa.RSAPrivateKey) -> None:
    """Members of the document other than "keys" do not matter."""
    ring = parse_jwks({"keys": [jwk_of(rsa_key)], "issuer": "x", "extra": [1, 2]})
    assert len(ring) == 1


# --- skip reasons -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "kind"),
    [(1, "a number"), ("k", "a string"), (None, "null"), ([], "an array"), (False, "a boolean")],
)
def test_entry_that_is_not_an_object_is_skipped(entry: object, kind: str) -> None:
    """A "keys" entry that is not a JSON object is skipped, naming its JSON type."""
    assert one_skip(entry).reason == f"entry is {kind}, not a JSON object"


def test_missing_kty_is_skipped(rsa_key: rsa.RSAPrivateKey) -> None:
    """A JWK without kty is skipped."""
    jwk = jwk_of(rsa_key, kid="k1")
    del jwk["kty"]
    skip = one_skip(jwk)
    assert skip.reason == "kty is missing"
    assert skip.kid == "k1"


@pytest.mark.parametrize("kty", ["XYZ", "rsa", "AKP", 5, None, ["RSA"]])
def test_unknown_kty_is_skipped(rsa_key: rsa.RSAPrivateKey, kty: object) -> None:
    """A JWK whose kty is not RSA, EC or OKP is skipped."""
    assert "is not supported" in one_skip(jwk_of(rsa_key, kty=kty)).reason


def test_symmetric_key_is_never_accepted() -> None:
    """A kty "oct" JWK is skipped: symmetric keys are never accepted."""
    skip = one_skip({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "alg": "HS256", "kid": "h"})
    assert skip.reason == "kty 'oct': symmetric keys are never accepted"
    assert skip.kid == "h"


@pytest.mark.parametrize("use", ["enc", "SIG", "", 1, None])
def test_use_other_than_sig_is_skipped(rsa_key: rsa.RSAPrivateKey, use: object) -> None:
    """A JWK whose use is present and not "sig" is skipped."""
    assert one_skip(jwk_of(rsa_key, use=use)).reason == f"use is {use!r}, not 'sig'"


def test_use_sig_is_loaded(rsa_key: rsa.RSAPrivateKey) -> None:
    """A JWK with use "sig" loads and reports it."""
    assert one_key(jwk_of(rsa_key, use="sig")).use == "sig"


@pytest.mark.parametrize("key_ops", [["sign"], ["encrypt", "decrypt"], []])
def test_key_ops_without_verify_is_skipped(rsa_key: rsa.RSAPrivateKey, key_ops: Any) -> None:
    """A JWK whose key_ops does not contain "verify" is skipped."""
    assert "does not include 'verify'" in one_skip(jwk_of(rsa_key, key_ops=key_ops)).reason


@pytest.mark.parametrize("key_ops", ["verify", [1], {"verify": True}, None])
def test_key_ops_that_is_not_a_string_array_is_skipped(
    rsa_key: rsa.RSAPrivateKey, key_ops: object
) -> None:
    """A JWK whose key_ops is not an array of strings is skipped."""
    assert "is not an array of strings" in one_skip(jwk_of(rsa_key, key_ops=key_ops)).reason


@pytest.mark.parametrize("key_ops", [["verify"], ["sign", "verify"]])
def test_key_ops_with_verify_is_loaded(rsa_key: rsa.RSAPrivateKey, key_ops: list[str]) -> None:
    """A JWK whose key_ops contains "verify" loads."""
    one_key(jwk_of(rsa_key, key_ops=key_ops, use="sig"))


@pytest.mark.parametrize(
    "alg", ["RSA-OAEP", "RSA-OAEP-256", "HS256", "none", "ECDH-ES", "rs256", "", 256, None]
)
def test_key_alg_that_is_not_a_supported_jws_alg_is_skipped(
    rsa_key: rsa.RSAPrivateKey, alg: object
) -> None:
    """A JWK whose own alg is not a supported asymmetric JWS algorithm is skipped."""
    reason = one_skip(jwk_of(rsa_key, alg=alg)).reason
    assert reason == f"alg {alg!r} is not a supported asymmetric JWS algorithm"


@pytest.mark.parametrize("kid", [5, "", None, ["a"], {"a": 1}])
def test_kid_that_is_not_a_non_empty_string_is_skipped(
    rsa_key: rsa.RSAPrivateKey, kid: object
) -> None:
    """A JWK whose kid is present but not a non-empty string is skipped, with kid None."""
    skip = one_skip(jwk_of(rsa_key, kid=kid))
    assert "is not a non-empty string" in skip.reason
    assert skip.kid is None


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_private_member_is_skipped(rsa_key: rsa.RSAPrivateKey, member: str) -> None:
    """A JWK carrying a private key member is skipped: a published private key is never used."""
    skip = one_skip(jwk_of(rsa_key, **{member: "AQAB"}))
    assert skip.reason == (
        f"private key member(s) {member} present: a published private key is never used"
    )


def test_real_private_jwk_is_skipped(ec_keys: dict[str, ec.EllipticCurvePrivateKey]) -> None:
    """A complete private EC JWK is skipped, listing its private member."""
    private = ec_keys["P-256"]
    d = private.private_numbers().private_value
    jwk = jwk_of(private, d=uint_b64u(d, 32))
    assert one_skip(jwk).reason.startswith("private key member(s) d present")


# RSA


def test_rsa_1024_is_skipped() -> None:
    """An RSA key of 1024 bits is skipped as too short."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    assert one_skip(jwk_of(small)).reason == "RSA modulus is 1024 bits, fewer than 2048"


def test_rsa_just_below_minimum_is_skipped() -> None:
    """A 2047-bit modulus is skipped (checked before any import)."""
    n = (1 << 2046) | 1
    reason = one_skip({"kty": "RSA", "n": uint_b64u(n), "e": "AQAB"}).reason
    assert reason == f"RSA modulus is 2047 bits, fewer than {MIN_RSA_BITS}"


def test_rsa_above_maximum_is_skipped() -> None:
    """A modulus of more than 8192 bits is skipped."""
    n = (1 << 8199) | 1
    reason = one_skip({"kty": "RSA", "n": uint_b64u(n), "e": "AQAB"}).reason
    assert reason == f"RSA modulus is 8200 bits, more than {MAX_RSA_BITS}"


def test_rsa_huge_modulus_is_skipped_before_decoding() -> None:
    """An n far longer than any acceptable modulus is skipped by its length alone."""
    reason = one_skip({"kty": "RSA", "n": "A" * 100_000, "e": "AQAB"}).reason
    assert reason.startswith("n is longer than")


@pytest.mark.parametrize(("e", "reason"), [(65536, "even"), (2, "even"), (0, "even"), (1, "is 1")])
def test_rsa_even_or_unit_exponent_is_skipped(
    rsa_key: rsa.RSAPrivateKey, e: int, reason: str
) -> None:
    """An RSA key whose public exponent is even or 1 is skipped."""
    jwk = jwk_of(rsa_key, e=uint_b64u(e))
    assert reason in one_skip(jwk).reason


def test_rsa_exponent_not_below_modulus_is_skipped(rsa_key: rsa.RSAPrivateKey) -> None:
    """An RSA exponent at least as large as the modulus is skipped."""
    n = rsa_key.public_key().public_numbers().n
    jwk = jwk_of(rsa_key, e=uint_b64u(n + 2))
    assert one_skip(jwk).reason == "RSA public exponent is not smaller than the modulus"


def test_rsa_even_modulus_is_skipped(rsa_key: rsa.RSAPrivateKey) -> None:
    """An even RSA modulus is skipped."""
    n = rsa_key.public_key().public_numbers().n + 1
    assert one_skip(jwk_of(rsa_key, n=uint_b64u(n))).reason == "RSA modulus is even"


@pytest.mark.parametrize(
    ("member", "value", "reason"),
    [
        ("n", None, "n is not a string"),
        ("n", 12345, "n is not a string"),
        ("n", "", "n is empty"),
        ("n", "===", "n is not base64url"),
        ("n", "AQA!", "n is not base64url"),
        ("n", "AQ A", "n is not base64url"),
        ("n", "AQABA", "n is not base64url (impossible length)"),
        ("n", "AQ=A", "n is not base64url"),
        ("n", "AQA\u00e9", "n is not base64url"),
        ("e", [], "e is not a string"),
    ],
)
def test_rsa_bad_number_encoding_is_skipped(
    rsa_key: rsa.RSAPrivateKey, member: str, value: object, reason: str
) -> None:
    """An RSA n or e that is not a base64 string is skipped with a reason naming it."""
    assert one_skip(jwk_of(rsa_key, **{member: value})).reason == reason


@pytest.mark.parametrize("member", ["n", "e"])
def test_rsa_missing_number_is_skipped(rsa_key: rsa.RSAPrivateKey, member: str) -> None:
    """An RSA JWK without n or e is skipped."""
    jwk = jwk_of(rsa_key)
    del jwk[member]
    assert one_skip(jwk).reason == f"{member} is missing"


# EC


@pytest.mark.parametrize("crv", ["P-192", "p-256", "Ed25519", "", 256, None])
def test_ec_unknown_curve_is_skipped(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], crv: object
) -> None:
    """An EC key on an unsupported curve is skipped."""
    reason = one_skip(jwk_of(ec_keys["P-256"], crv=crv)).reason
    assert reason == f"crv {crv!r} is not a supported EC curve"


def test_ec_missing_curve_is_skipped(ec_keys: dict[str, ec.EllipticCurvePrivateKey]) -> None:
    """An EC key without crv is skipped."""
    jwk = jwk_of(ec_keys["P-256"])
    del jwk["crv"]
    assert one_skip(jwk).reason == "crv is missing"


@pytest.mark.parametrize("member", ["x", "y"])
def test_ec_short_coordinate_is_skipped(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], member: str
) -> None:
    """An EC coordinate shorter than the curve's size (leading zero dropped) is skipped."""
    jwk = jwk_of(ec_keys["P-256"])
    raw = base64.urlsafe_b64decode(jwk[member] + "==")
    jwk[member] = b64u(raw[1:])
    assert one_skip(jwk).reason == f"{member} is 31 bytes, a P-256 coordinate is 32"


def test_ec_long_coordinate_is_skipped(ec_keys: dict[str, ec.EllipticCurvePrivateKey]) -> None:
    """An EC coordinate longer than the curve's size is skipped."""
    jwk = jwk_of(ec_keys["P-384"])
    raw = base64.urlsafe_b64decode(jwk["x"] + "==")
    jwk["x"] = b64u(b"\0" + raw)
    assert one_skip(jwk).reason == "x is 49 bytes, a P-384 coordinate is 48"


def test_ec_point_off_the_curve_is_skipped(ec_keys: dict[str, ec.EllipticCurvePrivateKey]) -> None:
    """An EC point that is not on its curve is skipped."""
    numbers = ec_keys["P-256"].public_key().public_numbers()
    jwk = jwk_of(ec_keys["P-256"], y=uint_b64u((numbers.y + 1) % 2**256, 32))
    assert one_skip(jwk).reason == "point (x, y) is not on the curve P-256"


@pytest.mark.parametrize("crv", sorted(_EC_SIZES))
@pytest.mark.parametrize("member", ["x", "y"])
def test_ec_coordinate_not_below_field_prime_is_skipped(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], crv: str, member: str
) -> None:
    """An EC coordinate equal to the field prime (a non-canonical encoding) is skipped."""
    prime = _keys._EC_CURVES[crv].prime
    jwk = jwk_of(ec_keys[crv], **{member: uint_b64u(prime, _EC_SIZES[crv])})
    assert one_skip(jwk).reason == f"{member} is not below the {crv} field prime (non-canonical)"


@pytest.mark.parametrize("crv", sorted(_EC_SIZES))
def test_ec_field_primes_are_right(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], crv: str
) -> None:
    """The negated point (x, prime - y) loads, which holds only with the curve's true prime."""
    numbers = ec_keys[crv].public_key().public_numbers()
    prime = _keys._EC_CURVES[crv].prime
    one_key(jwk_of(ec_keys[crv], y=uint_b64u(prime - numbers.y, _EC_SIZES[crv])))


# OKP


@pytest.mark.parametrize("crv", ["X25519", "X448"])
def test_okp_key_agreement_curve_is_skipped(crv: str) -> None:
    """An X25519/X448 key (key agreement, not signing) is skipped."""
    jwk = {"kty": "OKP", "crv": crv, "x": b64u(b"\x09" + b"\0" * 31)}
    reason = one_skip(jwk).reason
    assert reason == f"crv {crv!r} is a key-agreement (ECDH) curve, not a signing curve"


@pytest.mark.parametrize("crv", ["Ed1174", "P-256", "", None, ["Ed25519"]])
def test_okp_unknown_curve_is_skipped(ed25519_key: ed25519.Ed25519PrivateKey, crv: object) -> None:
    """An OKP key on an unsupported curve is skipped."""
    reason = one_skip(jwk_of(ed25519_key, crv=crv)).reason
    assert reason == f"crv {crv!r} is not a supported OKP curve"


def test_okp_missing_curve_is_skipped(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    """An OKP key without crv is skipped."""
    jwk = jwk_of(ed25519_key)
    del jwk["crv"]
    assert one_skip(jwk).reason == "crv is missing"


@pytest.mark.parametrize(("crv", "length"), [("Ed25519", 31), ("Ed25519", 33), ("Ed448", 56)])
def test_okp_wrong_length_is_skipped(crv: str, length: int) -> None:
    """An OKP x of the wrong length for its curve is skipped."""
    jwk = {"kty": "OKP", "crv": crv, "x": b64u(b"\x05" * length)}
    reason = one_skip(jwk).reason
    assert reason.startswith(f"x is {length} bytes, an {crv} public key is")


@pytest.mark.parametrize("encoded", SMALL_ORDER_ED25519)
def test_ed25519_small_order_point_is_skipped(encoded: str) -> None:
    """Each of the eight small-order Ed25519 points is skipped."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(bytes.fromhex(encoded))}
    assert one_skip(jwk).reason == "x is a point of small order"


def test_ed25519_small_order_points_are_computed_not_listed() -> None:
    """Small order is found by arithmetic: a point of order 8 times a generator stays valid."""
    # Any point P with 8*P = O is refused; a freshly generated key never is.
    for _ in range(20):
        raw = (
            ed25519.Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        one_key({"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)})


@pytest.mark.parametrize(
    "encoded",
    [
        # y = p + 1 (the neutral element's y, encoded non-canonically)
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        # y = 2^255 - 1
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ],
)
def test_ed25519_non_canonical_y_is_skipped(encoded: str) -> None:
    """An Ed25519 encoding with y at or above the field prime is skipped."""
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(bytes.fromhex(encoded))}
    reason = one_skip(jwk).reason
    assert reason == "x is a non-canonical point encoding (y is not below the field prime)"


def test_ed25519_zero_x_with_sign_bit_is_skipped() -> None:
    """An Ed25519 encoding of x = 0 with the sign bit set is skipped as non-canonical."""
    encoded = (1 | 1 << 255).to_bytes(32, "little")
    reason = one_skip({"kty": "OKP", "crv": "Ed25519", "x": b64u(encoded)}).reason
    assert reason == "x is a non-canonical point encoding (x is 0 with the sign bit set)"


def _first_y_off_curve(prime: int, a: int, d: int) -> int:
    """The smallest y for which a*x^2 + y^2 = 1 + d*x^2*y^2 has no solution x."""
    y = 2
    while True:
        u = (1 - y * y) * pow((a - d * y * y) % prime, -1, prime) % prime
        if u != 0 and pow(u, (prime - 1) // 2, prime) != 1:
            return y
        y += 1


def test_ed25519_point_off_the_curve_is_skipped() -> None:
    """An Ed25519 y with no matching x is skipped as not on the curve."""
    d = -121665 * pow(121666, -1, _ED25519_P) % _ED25519_P
    y = _first_y_off_curve(_ED25519_P, -1, d)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(y.to_bytes(32, "little"))}
    assert one_skip(jwk).reason == "x is not a point on the curve"


def test_ed448_point_off_the_curve_is_skipped() -> None:
    """An Ed448 y with no matching x is skipped as not on the curve."""
    y = _first_y_off_curve(_ED448_P, 1, -39081)
    jwk = {"kty": "OKP", "crv": "Ed448", "x": b64u(y.to_bytes(57, "little"))}
    assert one_skip(jwk).reason == "x is not a point on the curve"


@pytest.mark.parametrize("y", [1, _ED448_P - 1, 0])
def test_ed448_small_order_point_is_skipped(y: int) -> None:
    """The Ed448 points of order 1, 2 and 4 are skipped."""
    jwk = {"kty": "OKP", "crv": "Ed448", "x": b64u(y.to_bytes(57, "little"))}
    assert one_skip(jwk).reason == "x is a point of small order"


# alg compatibility


@pytest.mark.parametrize(
    ("key_name", "alg", "fits"),
    [
        ("rsa", "ES256", "RSA"),
        ("rsa", "EdDSA", "RSA"),
        ("P-256", "RS256", "EC P-256"),
        ("P-256", "ES384", "EC P-256"),
        ("P-384", "ES256", "EC P-384"),
        ("P-521", "ES384", "EC P-521"),
        ("secp256k1", "ES256", "EC secp256k1"),
        ("P-256", "ES256K", "EC P-256"),
        ("Ed25519", "Ed448", "OKP Ed25519"),
        ("Ed448", "Ed25519", "OKP Ed448"),
        ("Ed25519", "ES256", "OKP Ed25519"),
    ],
)
def test_key_alg_that_does_not_fit_the_key_is_skipped(
    rsa_key: rsa.RSAPrivateKey,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    ed25519_key: ed25519.Ed25519PrivateKey,
    ed448_key: ed448.Ed448PrivateKey,
    key_name: str,
    alg: str,
    fits: str,
) -> None:
    """A JWK whose own alg is a JWS algorithm of another key type or curve is skipped."""
    private: PrivateKey
    if key_name == "rsa":
        private = rsa_key
    elif key_name == "Ed25519":
        private = ed25519_key
    elif key_name == "Ed448":
        private = ed448_key
    else:
        private = ec_keys[key_name]
    assert one_skip(jwk_of(private, alg=alg)).reason == f"alg {alg!r} does not fit an {fits} key"


def test_unexpected_import_failure_is_a_skip(
    rsa_key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any other failure of the key import is reported as a skip, never raised."""

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("import exploded")

    monkeypatch.setattr(RSAKey, "import_key", broken)
    skip = one_skip(jwk_of(rsa_key, kid="r"))
    assert skip.reason == "could not be imported: RuntimeError: import exploded"
    assert skip.kid == "r"


def test_skip_reason_survives_a_deeply_nested_value(rsa_key: rsa.RSAPrivateKey) -> None:
    """A value too deeply nested to repr is described, not raised."""
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    skip = one_skip(jwk_of(rsa_key, kid=nested))
    assert skip.reason == "kid <deeply nested list> is not a non-empty string"


def test_skip_reason_shows_a_bounded_value(rsa_key: rsa.RSAPrivateKey) -> None:
    """A huge offending value is abbreviated in the reason."""
    reason = one_skip(jwk_of(rsa_key, use="x" * 10_000)).reason
    assert len(reason) < 100
    assert reason.endswith("..., not 'sig'")


# --- liberal reading of the issuer's public numbers ----------------------------------


def _std_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_rsa_numbers_in_padded_standard_base64_with_leading_zero_load(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    """n and e with "=" padding, the +/ alphabet and a leading zero byte load as canonical."""
    numbers = rsa_key.public_key().public_numbers()
    canonical = one_key(jwk_of(rsa_key))
    raw_n = b"\0" + numbers.n.to_bytes(256, "big")
    jwk = jwk_of(rsa_key, n=_std_b64(raw_n), e=_std_b64(b"\0\x01\x00\x01"))
    assert jwk["n"].endswith("=")  # 257 bytes: padded
    assert jwk["e"] == "AAEAAQ=="
    key = one_key(jwk)
    assert key.size == 2048
    assert key.thumbprint == canonical.thumbprint
    assert key.verify("RS256", SIGNING_INPUT, sign("RS256", rsa_key))


def test_standard_alphabet_characters_are_read_as_base64url() -> None:
    """'+' and '/' in a public number decode to the same bytes as '-' and '_'."""
    rng_bytes = bytes(range(256)) * 2  # contains every 6-bit group, so both 62 and 63
    std = _std_b64(rng_bytes)
    assert "+" in std and "/" in std
    assert _keys._decode_number({"n": std}, "n", 1024) == rng_bytes
    assert _keys._decode_number({"n": b64u(rng_bytes)}, "n", 1024) == rng_bytes


def test_ec_coordinates_with_padding_load(ec_keys: dict[str, ec.EllipticCurvePrivateKey]) -> None:
    """EC coordinates carrying "=" padding load and give the canonical thumbprint."""
    canonical = one_key(jwk_of(ec_keys["P-256"]))
    numbers = ec_keys["P-256"].public_key().public_numbers()
    jwk = jwk_of(
        ec_keys["P-256"],
        x=_std_b64(numbers.x.to_bytes(32, "big")),
        y=_std_b64(numbers.y.to_bytes(32, "big")),
    )
    assert jwk["x"].endswith("=")
    assert one_key(jwk).thumbprint == canonical.thumbprint


def test_non_standard_members_are_tolerated(rsa_key: rsa.RSAPrivateKey) -> None:
    """Unknown or malformed non-key members (x5c, x5t, x5u, status, acr...) do not matter."""
    jwk = jwk_of(
        rsa_key,
        x5c=5,
        x5t="not-a-thumbprint",
        x5u="not a url",
        status="ACTIVE",
        acr="urn:x",
        cloud_instance_name="microsoftonline.com",
    )
    one_key(jwk)


def test_issuer_member_is_kept_when_a_string(rsa_key: rsa.RSAPrivateKey) -> None:
    """A string per-key issuer member is exposed; without one the key is unbound."""
    issuer = "https://login.microsoftonline.com/{tenantid}/v2.0"
    assert one_key(jwk_of(rsa_key, issuer=issuer)).issuer == issuer
    assert one_key(jwk_of(rsa_key)).issuer is None


def test_document_is_not_mutated(rsa_key: rsa.RSAPrivateKey) -> None:
    """Parsing leaves the given document unchanged."""
    document = {"keys": [jwk_of(rsa_key, n="=" + "x"), jwk_of(rsa_key, kid="a")]}
    before = copy.deepcopy(document)
    parse_jwks(document)
    assert document == before


# --- prepared keys ------------------------------------------------------------------


def test_rsa_key_attributes(rsa_key: rsa.RSAPrivateKey) -> None:
    """An RSA key without alg may verify every RS and PS algorithm and reports its size."""
    key = one_key(jwk_of(rsa_key, kid="r1", use="sig"))
    assert (key.kid, key.kty, key.crv, key.alg, key.use, key.size) == (
        "r1",
        "RSA",
        None,
        None,
        "sig",
        2048,
    )
    assert key.algorithms == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}


@pytest.mark.parametrize(
    ("crv", "algorithms"),
    [("P-256", {"ES256"}), ("P-384", {"ES384"}), ("P-521", {"ES512"}), ("secp256k1", {"ES256K"})],
)
def test_ec_key_algorithms(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], crv: str, algorithms: set[str]
) -> None:
    """An EC key may verify exactly the ECDSA algorithm of its curve."""
    key = one_key(jwk_of(ec_keys[crv]))
    assert (key.kty, key.crv, key.size) == ("EC", crv, None)
    assert key.algorithms == algorithms


def test_okp_key_algorithms(
    ed25519_key: ed25519.Ed25519PrivateKey, ed448_key: ed448.Ed448PrivateKey
) -> None:
    """Ed25519 keys verify EdDSA and Ed25519; Ed448 keys verify EdDSA and Ed448."""
    key = one_key(jwk_of(ed25519_key))
    assert (key.kty, key.crv, key.algorithms) == ("OKP", "Ed25519", frozenset({"EdDSA", "Ed25519"}))
    key = one_key(jwk_of(ed448_key))
    assert (key.kty, key.crv, key.algorithms) == ("OKP", "Ed448", frozenset({"EdDSA", "Ed448"}))


@pytest.mark.parametrize("alg", ["RS256", "PS384", "PS512"])
def test_key_alg_narrows_algorithms(rsa_key: rsa.RSAPrivateKey, alg: str) -> None:
    """A key's own alg is the only algorithm it may verify."""
    key = one_key(jwk_of(rsa_key, alg=alg))
    assert key.alg == alg
    assert key.algorithms == {alg}


def test_thumbprints_match_rfc_7638(
    rsa_key: rsa.RSAPrivateKey,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    """The thumbprint is the RFC 7638 SHA-256 thumbprint of the required public members."""
    for private in (rsa_key, ec_keys["P-256"], ec_keys["P-521"], ed25519_key):
        jwk = jwk_of(private)
        assert one_key(jwk_of(private, kid="x", use="sig")).thumbprint == joserfc_thumbprint(jwk)


def test_prepared_key_is_frozen_and_hides_verifiers(rsa_key: rsa.RSAPrivateKey) -> None:
    """A PreparedKey cannot be changed and its repr does not show the verifiers."""
    key = one_key(jwk_of(rsa_key, kid="r1"))
    with pytest.raises(FrozenInstanceError):
        key.kid = "other"  # type: ignore[misc]
    assert "_verifiers" not in repr(key)
    assert "kid='r1'" in repr(key)


# --- verify -------------------------------------------------------------------------

ALG_CASES = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "ES256K",
    "EdDSA/Ed25519",
    "EdDSA/Ed448",
    "Ed25519",
    "Ed448",
]


def _case(keys_by_alg: dict[str, PrivateKey], case: str) -> tuple[str, PrivateKey, PreparedKey]:
    private = keys_by_alg[case]
    alg = case.split("/")[0]
    return alg, private, one_key(jwk_of(private))


@pytest.mark.parametrize("case", ALG_CASES)
def test_verify_accepts_a_valid_signature(keys_by_alg: dict[str, PrivateKey], case: str) -> None:
    """verify is True for a valid signature of every supported algorithm."""
    alg, private, key = _case(keys_by_alg, case)
    assert key.verify(alg, SIGNING_INPUT, sign(alg, private))


@pytest.mark.parametrize("case", ALG_CASES)
def test_verify_rejects_a_tampered_signature(keys_by_alg: dict[str, PrivateKey], case: str) -> None:
    """verify is False when one bit of the signature is flipped."""
    alg, private, key = _case(keys_by_alg, case)
    signature = bytearray(sign(alg, private))
    signature[len(signature) // 3] ^= 0x01
    assert not key.verify(alg, SIGNING_INPUT, bytes(signature))


@pytest.mark.parametrize("case", ALG_CASES)
def test_verify_rejects_a_tampered_input(keys_by_alg: dict[str, PrivateKey], case: str) -> None:
    """verify is False when the signing input differs from what was signed."""
    alg, private, key = _case(keys_by_alg, case)
    assert not key.verify(alg, SIGNING_INPUT + b"x", sign(alg, private))


@pytest.mark.parametrize("case", ALG_CASES)
def test_verify_rejects_a_wrong_length(keys_by_alg: dict[str, PrivateKey], case: str) -> None:
    """verify is False for a signature one byte too long or too short, or empty."""
    alg, private, key = _case(keys_by_alg, case)
    signature = sign(alg, private)
    assert not key.verify(alg, SIGNING_INPUT, signature + b"\0")
    assert not key.verify(alg, SIGNING_INPUT, b"\0" + signature)
    assert not key.verify(alg, SIGNING_INPUT, signature[:-1])
    assert not key.verify(alg, SIGNING_INPUT, b"")


@pytest.mark.parametrize("case", ALG_CASES)
def test_verify_rejects_algorithms_the_key_may_not_verify(
    keys_by_alg: dict[str, PrivateKey], case: str
) -> None:
    """verify is False for an algorithm outside the key's algorithms, never raising."""
    alg, private, key = _case(keys_by_alg, case)
    signature = sign(alg, private)
    for other in ("none", "HS256", "RSA-OAEP", "", "rs256", *ALG_CASES):
        if other not in key.algorithms:
            assert not key.verify(other, SIGNING_INPUT, signature)


def test_rsa_signature_of_one_algorithm_fails_under_another(rsa_key: rsa.RSAPrivateKey) -> None:
    """An RS256 signature does not verify as RS384, PS256 or PS384, and PS256 not as RS256."""
    key = one_key(jwk_of(rsa_key))
    rs256 = sign("RS256", rsa_key)
    assert key.verify("RS256", SIGNING_INPUT, rs256)
    for other in ("RS384", "RS512", "PS256", "PS384", "PS512"):
        assert not key.verify(other, SIGNING_INPUT, rs256)
    assert not key.verify("RS256", SIGNING_INPUT, sign("PS256", rsa_key))


def test_pss_with_other_salt_length_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    """A PS256 signature whose salt is not the hash length (RFC 7518 3.5) is rejected."""
    key = one_key(jwk_of(rsa_key))
    signature = rsa_key.sign(
        SIGNING_INPUT,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20),
        hashes.SHA256(),
    )
    assert not key.verify("PS256", SIGNING_INPUT, signature)


def test_signature_from_another_key_is_rejected(
    rsa_key: rsa.RSAPrivateKey, rsa_key_2: rsa.RSAPrivateKey
) -> None:
    """A signature made by another key of the same type is rejected."""
    assert not one_key(jwk_of(rsa_key)).verify("RS256", SIGNING_INPUT, sign("RS256", rsa_key_2))


_EC_ORDERS = {
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
}


@pytest.mark.parametrize(("crv", "alg"), [("P-256", "ES256"), ("secp256k1", "ES256K")])
def test_ecdsa_out_of_range_r_or_s_is_rejected(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], crv: str, alg: str
) -> None:
    """ECDSA signatures with r or s equal to 0 or not below the group order are rejected."""
    key = one_key(jwk_of(ec_keys[crv]))
    good = sign(alg, ec_keys[crv])
    r = int.from_bytes(good[:32], "big")
    s = int.from_bytes(good[32:], "big")
    n = _EC_ORDERS[crv]
    assert key.verify(alg, SIGNING_INPUT, good)
    for bad_r, bad_s in ((0, 0), (0, s), (r, 0), (r + n, s), (r, s + n), (n, s), (r, n)):
        if bad_r >= 2**256 or bad_s >= 2**256:
            continue
        signature = bad_r.to_bytes(32, "big") + bad_s.to_bytes(32, "big")
        assert not key.verify(alg, SIGNING_INPUT, signature)


def test_ec_group_orders_match_cryptography() -> None:
    """The group orders used for the r/s range check are those of the curves."""
    for crv, curve in _keys._EC_CURVES.items():
        order = getattr(curve.curve, "group_order", None)
        if order is not None:
            assert curve.order == order, crv


@pytest.mark.parametrize(("crv", "alg"), [("P-256", "ES256"), ("P-384", "ES384")])
def test_ecdsa_der_signature_is_rejected(
    ec_keys: dict[str, ec.EllipticCurvePrivateKey], crv: str, alg: str
) -> None:
    """A DER-encoded ECDSA signature (not the JWS r||s form) is rejected."""
    key = one_key(jwk_of(ec_keys[crv]))
    raw = sign(alg, ec_keys[crv])
    half = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
    assert not key.verify(alg, SIGNING_INPUT, der)
    assert key.verify(alg, SIGNING_INPUT, raw)


def test_verify_never_raises_on_wrong_argument_types(
    rsa_key: rsa.RSAPrivateKey,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    """verify returns False for non-bytes arguments or an unhashable alg."""
    cases: list[tuple[PreparedKey, str]] = [
        (one_key(jwk_of(rsa_key)), "RS256"),
        (one_key(jwk_of(ec_keys["P-256"])), "ES256"),
        (one_key(jwk_of(ed25519_key)), "EdDSA"),
    ]
    for key, alg in cases:
        bad_args: list[tuple[Any, Any, Any]] = [
            (alg, "text", b"\0" * 64),
            (alg, SIGNING_INPUT, "x" * 64),
            (alg, SIGNING_INPUT, None),
            (alg, None, 12),
            (["RS256"], SIGNING_INPUT, b""),
            (None, SIGNING_INPUT, b""),
        ]
        for bad_alg, data, signature in bad_args:
            assert key.verify(bad_alg, data, signature) is False


def test_verify_accepts_bytearray_and_memoryview(ed25519_key: ed25519.Ed25519PrivateKey) -> None:
    """verify works on any bytes-like signature and signing input."""
    key = one_key(jwk_of(ed25519_key))
    signature = sign("EdDSA", ed25519_key)
    data: Any = bytearray(SIGNING_INPUT)
    view: Any = memoryview(signature)
    assert key.verify("EdDSA", data, view)


# --- selection ----------------------------------------------------------------------


def test_select_by_kid_and_alg(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    """select returns the key with the token's kid that may verify the token's alg."""
    ring = ring_of(jwk_of(rsa_key, kid="r"), jwk_of(ec_keys["P-256"], kid="e"))
    (key,) = ring.select("RS256", "r")
    assert key.kid == "r"
    (key,) = ring.select("ES256", "e")
    assert key.kid == "e"


def test_select_unknown_kid_is_empty(rsa_key: rsa.RSAPrivateKey) -> None:
    """A kid that no key has selects nothing."""
    ring = ring_of(jwk_of(rsa_key, kid="r"))
    assert ring.select("RS256", "other") == ()
    assert ring.select("RS256", "") == ()


def test_select_alg_of_another_key_type_is_empty(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    """A key is not selected for an algorithm of another key type or curve."""
    ring = ring_of(jwk_of(rsa_key, kid="r"), jwk_of(ec_keys["P-384"], kid="e"))
    assert ring.select("ES256", "r") == ()
    assert ring.select("EdDSA", "r") == ()
    assert ring.select("RS256", "e") == ()
    assert ring.select("ES256", "e") == ()  # crv P-384 does not serve ES256
    assert len(ring.select("ES384", "e")) == 1


def test_select_respects_the_key_alg(rsa_key: rsa.RSAPrivateKey) -> None:
    """A key whose own alg differs from the token's alg is not selected."""
    ring = ring_of(jwk_of(rsa_key, kid="r", alg="RS256"))
    assert ring.select("PS256", "r") == ()
    assert ring.select("RS384", "r") == ()
    assert len(ring.select("RS256", "r")) == 1


def test_select_unknown_or_forbidden_alg_is_empty(rsa_key: rsa.RSAPrivateKey) -> None:
    """Algorithms no key may verify ("none", HS256, garbage) select nothing."""
    ring = ring_of(jwk_of(rsa_key, kid="r"), jwk_of(rsa_key))
    for alg in ("none", "HS256", "", "RS256 "):
        assert ring.select(alg, "r") == ()
        assert ring.select(alg, None) == ()


def test_select_eddsa_and_fully_specified_algorithms(
    ed25519_key: ed25519.Ed25519PrivateKey, ed448_key: ed448.Ed448PrivateKey
) -> None:
    """EdDSA selects both Edwards curves; Ed25519 and Ed448 select only their own curve."""
    ring = ring_of(jwk_of(ed25519_key, kid="a"), jwk_of(ed448_key, kid="b"))
    assert [key.crv for key in ring.select("EdDSA", None)] == ["Ed25519", "Ed448"]
    assert [key.crv for key in ring.select("Ed25519", None)] == ["Ed25519"]
    assert [key.crv for key in ring.select("Ed448", None)] == ["Ed448"]
    assert ring.select("Ed25519", "b") == ()


def test_duplicate_kids_are_all_candidates(
    rsa_key: rsa.RSAPrivateKey, rsa_key_2: rsa.RSAPrivateKey
) -> None:
    """Two keys sharing a kid are both returned, in document order."""
    first, second = jwk_of(rsa_key, kid="dup"), jwk_of(rsa_key_2, kid="dup")
    ring = ring_of(first, second)
    candidates = ring.select("RS256", "dup")
    assert len(candidates) == 2
    assert candidates[0].thumbprint == one_key(first).thumbprint
    assert candidates[1].thumbprint == one_key(second).thumbprint
    signature = sign("RS256", rsa_key_2)
    assert [key.verify("RS256", SIGNING_INPUT, signature) for key in candidates] == [False, True]


def test_kidless_token_gets_at_most_max_candidates(rsa_key: rsa.RSAPrivateKey) -> None:
    """A token without kid is offered the first MAX_CANDIDATES keys fit for its alg."""
    jwks = [jwk_of(rsa_key, kid=f"k{i}") for i in range(MAX_CANDIDATES + 4)]
    ring = ring_of(*jwks)
    candidates = ring.select("RS256", None)
    assert len(candidates) == MAX_CANDIDATES
    assert [key.kid for key in candidates] == [f"k{i}" for i in range(MAX_CANDIDATES)]


def test_shared_kid_is_bounded_too(rsa_key: rsa.RSAPrivateKey) -> None:
    """Even many keys sharing one kid yield at most MAX_CANDIDATES candidates."""
    ring = ring_of(*[jwk_of(rsa_key, kid="same") for _ in range(MAX_CANDIDATES * 2)])
    assert len(ring.select("RS256", "same")) == MAX_CANDIDATES


def test_kidless_key_serves_only_kidless_tokens(
    rsa_key: rsa.RSAPrivateKey, rsa_key_2: rsa.RSAPrivateKey
) -> None:
    """A key without kid is a candidate for a kid-less token but never for a token with kid."""
    ring = ring_of(jwk_of(rsa_key), jwk_of(rsa_key_2, kid="b"))
    assert [key.kid for key in ring.select("RS256", None)] == [None, "b"]
    assert [key.kid for key in ring.select("RS256", "b")] == ["b"]
    assert ring.kids == {"b"}


def test_ring_kids_and_len(
    rsa_key: rsa.RSAPrivateKey, ec_keys: dict[str, ec.EllipticCurvePrivateKey]
) -> None:
    """kids and len describe the loaded keys only."""
    ring = ring_of(jwk_of(rsa_key, kid="r"), jwk_of(ec_keys["P-256"]), {"kty": "oct", "kid": "s"})
    assert len(ring) == 2
    assert ring.kids == frozenset({"r"})


def test_key_ring_built_directly_indexes_its_keys(rsa_key: rsa.RSAPrivateKey) -> None:
    """A KeyRing constructed from prepared keys selects like a parsed one."""
    key = one_key(jwk_of(rsa_key, kid="r"))
    ring = KeyRing(keys=(key,), skipped=())
    assert ring.select("PS512", "r") == (key,)
    assert ring.select("PS512", None) == (key,)
    assert ring.kids == {"r"}


def test_mixed_set_skips_bad_keys_and_serves_good_ones(
    rsa_key: rsa.RSAPrivateKey,
    ec_keys: dict[str, ec.EllipticCurvePrivateKey],
    ed25519_key: ed25519.Ed25519PrivateKey,
) -> None:
    """Unusable entries are skipped with their index and kid while the usable keys verify."""
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    document = {
        "keys": [
            jwk_of(rsa_key, kid="good-rsa", use="sig", alg="RS256"),
            jwk_of(rsa_key, kid="enc", use="enc", alg="RSA-OAEP"),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            "garbage",
            jwk_of(ec_keys["P-256"], kid="good-ec"),
            jwk_of(small, kid="small"),
            {"kty": "OKP", "crv": "X25519", "x": b64u(b"\x09" * 32), "kid": "ecdh"},
            jwk_of(ed25519_key, kid="good-ed"),
        ]
    }
    ring = parse_jwks(document)
    assert [key.kid for key in ring.keys] == ["good-rsa", "good-ec", "good-ed"]
    assert [(skip.index, skip.kid) for skip in ring.skipped] == [
        (1, "enc"),
        (2, "hmac"),
        (3, None),
        (5, "small"),
        (6, "ecdh"),
    ]
    for alg, kid, private in (
        ("RS256", "good-rsa", rsa_key),
        ("ES256", "good-ec", ec_keys["P-256"]),
        ("EdDSA", "good-ed", ed25519_key),
    ):
        (key,) = ring.select(alg, kid)
        assert key.verify(alg, SIGNING_INPUT, sign(alg, private))
    assert ring.select("RS256", "small") == ()
    assert ring.select("RS256", "enc") == ()


# --- properties ---------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)

_MEMBER_NAMES = [
    "kty",
    "kid",
    "use",
    "key_ops",
    "alg",
    "crv",
    "n",
    "e",
    "x",
    "y",
    "d",
    "k",
    "issuer",
    "x5c",
]
_INTERESTING = st.sampled_from(
    [
        "RSA",
        "EC",
        "OKP",
        "oct",
        "sig",
        "enc",
        "RS256",
        "ES256",
        "EdDSA",
        "P-256",
        "Ed25519",
        "Ed448",
        "X25519",
        "secp256k1",
        "AQAB",
        "AQAB==",
        "",
        "verify",
    ]
)
jwk_like = st.dictionaries(
    st.sampled_from(_MEMBER_NAMES), _INTERESTING | json_values | st.lists(_INTERESTING), max_size=8
)


def _outcome(document: object) -> KeyRing | None:
    try:
        return parse_jwks(document)
    except InvalidKeySetError:
        return None


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value_gives_a_ring_or_invalid_key_set_error(document: object) -> None:
    """Any JSON value yields a KeyRing or InvalidKeySetError, nothing else."""
    result = _outcome(document)
    assert result is None or isinstance(result, KeyRing)


@settings(max_examples=200, deadline=None)
@given(st.lists(jwk_like | json_values, max_size=6))
def test_any_entries_are_loaded_or_skipped_one_by_one(entries: list[object]) -> None:
    """Every entry of a "keys" array ends up either loaded or skipped, never raising."""
    ring = parse_jwks({"keys": entries})
    assert len(ring.keys) + len(ring.skipped) == len(entries)
    assert all(skip.reason for skip in ring.skipped)
    assert [skip.index for skip in ring.skipped] == sorted({skip.index for skip in ring.skipped})


_BASE_JWKS: list[JWK] = []


def _base_jwks() -> list[JWK]:
    if not _BASE_JWKS:
        _BASE_JWKS.extend(
            [
                jwk_of(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
                jwk_of(ec.generate_private_key(ec.SECP256R1())),
                jwk_of(ed25519.Ed25519PrivateKey.generate()),
            ]
        )
    return _BASE_JWKS


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=2),
    st.sampled_from(_MEMBER_NAMES),
    _INTERESTING | json_values,
)
def test_mutating_one_member_of_a_good_key_never_raises(
    which: int, member: str, value: object
) -> None:
    """Replacing any member of a valid JWK by any JSON value gives a key or a skip."""
    jwk = dict(_base_jwks()[which])
    jwk[member] = value
    ring = parse_jwks({"keys": [jwk]})
    assert len(ring.keys) + len(ring.skipped) == 1
    for key in ring.keys:
        assert key.algorithms
        assert key.verify(next(iter(key.algorithms)), SIGNING_INPUT, b"\0" * 64) is False
