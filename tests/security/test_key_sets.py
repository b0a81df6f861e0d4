"""Hostile key sets: unusable keys are skipped one by one, hostile documents are refused.

End-to-end tests serve the set from a real LocalIssuer (``serve_jwks``, or a raw body
through a fault) and verify with both shells; document-level limits are also checked on
``parse_jwks`` directly.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import (
    RSAPrivateNumbers,
    RSAPublicNumbers,
    rsa_crt_dmp1,
    rsa_crt_dmq1,
    rsa_crt_iqmp,
)

from jwks_client import (
    AlgorithmNotAllowedError,
    InvalidKeySetError,
    InvalidSignatureError,
    KeyNotFoundError,
    KeySetUnavailableError,
    ResponseTooLargeError,
)
from jwks_client._keys import MAX_CANDIDATES, MAX_KEYS, MAX_RSA_EXPONENT_BITS, parse_jwks
from jwks_client.testing import FakeClock, LocalIssuer

from ._support import (
    POLICY,
    MakeShell,
    b64url,
    claims_of,
    decode_segment,
    hs_token,
    public_jwk,
    sign_compact,
    uint,
)
from .conftest import SpareKeys

P256_PRIME = 2**256 - 2**224 + 2**192 + 2**96 - 1
ED25519_IDENTITY = bytes([1]) + bytes(31)
# A point of order 8 on Ed25519 (RFC 8032 curve), in its standard encoding.
ED25519_ORDER_8 = bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
HMAC_SECRET = b"a shared secret that must never serve as a key"


def rsa_with_exponent(base: rsa.RSAPrivateKey, minimum: int) -> rsa.RSAPrivateKey:
    """An RSA key with the primes of ``base`` and the first usable odd exponent >= minimum."""
    numbers = base.private_numbers()
    p, q = numbers.p, numbers.q
    phi = (p - 1) * (q - 1)
    e = minimum | 1
    while math.gcd(e, phi) != 1:
        e += 2
    d = pow(e, -1, phi)
    return RSAPrivateNumbers(
        p,
        q,
        d,
        rsa_crt_dmp1(d, p),
        rsa_crt_dmq1(d, q),
        rsa_crt_iqmp(p, q),
        RSAPublicNumbers(e, p * q),
    ).private_key()


def e1_forgery(signing_input: bytes, size: int) -> bytes:
    """The RS256 'signature' that verifies under e = 1: the padded digest itself."""
    digest_info = SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest()
    return b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info


# A hostile key: (its JWK, the skip reason, and how to mint a token that names it).
# ``Token`` builds a token for kid "bad" (signed by the hostile key when it has a private
# half); ``None`` means: a token signed by the issuer's own key under kid "bad".
Jwk = Callable[[SpareKeys], Any]
Token = Callable[[SpareKeys, dict[str, Any]], str]


def signed(key: Callable[[SpareKeys], Any], alg: str) -> Token:
    """A Token builder signing with the spare key that ``key`` picks."""
    return lambda keys, claims: sign_compact(key(keys), alg, {"kid": "bad"}, claims)


def rsa_members(keys: SpareKeys, **members: Any) -> dict[str, Any]:
    """The spare RSA key's public JWK (kid "bad") with members replaced."""
    return {**public_jwk(keys.rsa, "bad", "RS256"), **members}


def ec_members(keys: SpareKeys, **members: Any) -> dict[str, Any]:
    """The spare P-256 key's public JWK (kid "bad") with members replaced."""
    return {**public_jwk(keys.p256, "bad", "ES256"), **members}


def fake_modulus(bits: int) -> str:
    """An odd number of exactly ``bits`` bits, as Base64urlUInt (not a real modulus)."""
    return uint(secrets.randbits(bits) | 1 | (1 << (bits - 1)))


def forged_e1(keys: SpareKeys, claims: dict[str, Any]) -> str:
    """A token whose "signature" is the padded digest: valid for any key with e = 1."""
    header = b64url(json.dumps({"alg": "RS256", "kid": "bad"}).encode())
    signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(e1_forgery(signing_input.encode(), 256))}"


def forged_small_order(keys: SpareKeys, claims: dict[str, Any]) -> str:
    """A token forged for a small-order Ed25519 key (no private key needed)."""
    # With A of small order, R = identity and S = 0 satisfy [S]B = R + [k]A for any
    # message: a universal forgery that OpenSSL's Ed25519 verify accepts.
    header = b64url(json.dumps({"alg": "EdDSA", "kid": "bad"}).encode())
    signing_input = f"{header}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(ED25519_IDENTITY + bytes(32))}"


def hmac_with_k(keys: SpareKeys, claims: dict[str, Any]) -> str:
    """An HS256 token keyed with the published oct key's k."""
    return hs_token(HMAC_SECRET, "HS256", {"kid": "bad"}, claims)


def huge_e_key(keys: SpareKeys) -> rsa.RSAPrivateKey:
    """A genuine 2048-bit RSA key whose public exponent has 2001 bits."""
    return rsa_with_exponent(keys.rsa, 2**2000)


HOSTILE_KEYS: list[Any] = [
    # RSA (RFC 7518 §6.3, RFC 8725 §3.5: key sizes)
    pytest.param(
        lambda k: public_jwk(k.rsa_1024, "bad", "RS256"),
        r"RSA modulus is 1024 bits, fewer than 2048",
        signed(lambda k: k.rsa_1024, "RS256"),
        id="rsa-1024",
    ),
    pytest.param(
        lambda k: rsa_members(k, n=fake_modulus(2047)),
        r"2047 bits, fewer than 2048",
        None,
        id="rsa-2047",
    ),
    pytest.param(
        lambda k: rsa_members(k, n=fake_modulus(8200)),
        r"8200 bits, more than 8192",
        None,
        id="rsa-8200",
    ),
    pytest.param(
        lambda k: rsa_members(k, n="A" * 100_000), r"n is longer than", None, id="rsa-n-100KB"
    ),
    pytest.param(lambda k: rsa_members(k, e=uint(1)), r"exponent is 1$", forged_e1, id="rsa-e-1"),
    pytest.param(lambda k: rsa_members(k, e=uint(0)), r"exponent 0 is even", None, id="rsa-e-0"),
    pytest.param(
        lambda k: rsa_members(k, e=uint(65536)), r"exponent 65536 is even", None, id="rsa-e-even"
    ),
    pytest.param(
        lambda k: public_jwk(huge_e_key(k), "bad", "RS256"),
        rf"exponent is 2001 bits, more than {MAX_RSA_EXPONENT_BITS}",
        signed(huge_e_key, "RS256"),
        id="rsa-e-2001-bits",
    ),
    pytest.param(
        lambda k: rsa_members(k, e=uint(k.rsa.public_key().public_numbers().n + 2)),
        r"not smaller than the modulus",
        None,
        id="rsa-e-above-n",
    ),
    pytest.param(
        lambda k: rsa_members(k, n=uint(k.rsa.public_key().public_numbers().n + 1)),
        r"RSA modulus is even",
        None,
        id="rsa-n-even",
    ),
    pytest.param(
        lambda k: rsa_members(k, n="!!not base64!!"),
        r"n is not base64url",
        None,
        id="rsa-n-bad-b64",
    ),
    pytest.param(lambda k: rsa_members(k, n=None), r"n is not a string", None, id="rsa-n-null"),
    pytest.param(
        lambda k: rsa_members(k, n=10**300), r"n is not a string", None, id="rsa-n-number"
    ),
    pytest.param(
        lambda k: rsa_members(k, n={"a": [[[]]]}), r"n is not a string", None, id="rsa-n-nested"
    ),
    pytest.param(
        lambda k: {**rsa_members(k), "e": None}, r"e is not a string", None, id="rsa-e-null"
    ),
    pytest.param(
        lambda k: {key: v for key, v in rsa_members(k).items() if key != "e"},
        r"e is missing",
        None,
        id="rsa-no-e",
    ),
    pytest.param(
        lambda k: rsa_members(k, alg="ES256"),
        r"alg 'ES256' does not fit an RSA key",
        signed(lambda k: k.rsa, "RS256"),
        id="rsa-alg-ES256",
    ),
    pytest.param(
        lambda k: rsa_members(k, alg="HS256"),
        r"alg 'HS256' is not a supported asymmetric JWS algorithm",
        signed(lambda k: k.rsa, "RS256"),
        id="rsa-alg-HS256",
    ),
    pytest.param(
        lambda k: rsa_members(k, alg="none"),
        r"alg 'none' is not a supported",
        None,
        id="rsa-alg-none",
    ),
    # EC (RFC 7518 §6.2; invalid-curve attacks, RFC 8725 §3.4)
    pytest.param(
        lambda k: ec_members(
            k, y=uint((k.p256.public_key().public_numbers().y + 1) % P256_PRIME, 32)
        ),
        r"point \(x, y\) is not on the curve P-256",
        None,
        id="ec-off-curve",
    ),
    pytest.param(
        lambda k: ec_members(k, x=uint(P256_PRIME, 32)),
        r"x is not below the P-256 field prime",
        None,
        id="ec-x-is-p",
    ),
    pytest.param(
        lambda k: ec_members(k, y=uint(P256_PRIME + 5, 32)),
        r"y is not below the P-256 field prime",
        None,
        id="ec-y-above-p",
    ),
    pytest.param(
        lambda k: ec_members(k, x=b64url(bytes(31) + b"\x01")[:42]),
        r"x is 31 bytes",
        None,
        id="ec-x-31-bytes",
    ),
    pytest.param(
        lambda k: ec_members(k, x=b64url(b"\x01" * 33)), r"x is 33 bytes", None, id="ec-x-33-bytes"
    ),
    pytest.param(
        lambda k: ec_members(k, crv="P-384", alg="ES384"),
        r"x is 32 bytes, a P-384 coordinate is 48",
        None,
        id="ec-P256-point-as-P384",
    ),
    pytest.param(
        lambda k: ec_members(k, alg="ES384"),
        r"alg 'ES384' does not fit an EC P-256 key",
        signed(lambda k: k.p256, "ES256"),
        id="ec-P256-alg-ES384",
    ),
    pytest.param(
        lambda k: public_jwk(k.secp256k1, "bad", "ES256"),
        r"alg 'ES256' does not fit an EC secp256k1 key",
        signed(lambda k: k.secp256k1, "ES256"),
        id="ec-secp256k1-alg-ES256",
    ),
    pytest.param(
        lambda k: ec_members(k, crv="P-192"),
        r"crv 'P-192' is not a supported EC curve",
        None,
        id="ec-P192",
    ),
    pytest.param(
        lambda k: {key: v for key, v in ec_members(k).items() if key != "crv"},
        r"crv is missing",
        None,
        id="ec-no-crv",
    ),
    # OKP (RFC 8037; small-order points and curve confusion)
    pytest.param(
        lambda k: {"kty": "OKP", "crv": "Ed25519", "kid": "bad", "x": b64url(ED25519_IDENTITY)},
        r"x is a point of small order",
        forged_small_order,
        id="ed25519-identity",
    ),
    pytest.param(
        lambda k: {"kty": "OKP", "crv": "Ed25519", "kid": "bad", "x": b64url(ED25519_ORDER_8)},
        r"x is a point of small order",
        forged_small_order,
        id="ed25519-order-8",
    ),
    pytest.param(
        lambda k: {**public_jwk(k.ed448, "bad"), "crv": "Ed25519"},
        r"x is longer than 40 bytes",
        signed(lambda k: k.ed448, "EdDSA"),
        id="ed448-key-as-Ed25519",
    ),
    pytest.param(
        lambda k: {**public_jwk(k.ed25519, "bad"), "crv": "Ed448"},
        r"x is 32 bytes, an Ed448 public key is 57",
        signed(lambda k: k.ed25519, "EdDSA"),
        id="ed25519-key-as-Ed448",
    ),
    pytest.param(
        lambda k: public_jwk(k.ed448, "bad", "Ed25519"),
        r"alg 'Ed25519' does not fit an OKP Ed448 key",
        signed(lambda k: k.ed448, "EdDSA"),
        id="ed448-alg-Ed25519",
    ),
    pytest.param(
        lambda k: {**public_jwk(k.ed25519, "bad"), "crv": "X25519"},
        r"crv 'X25519' is a key-agreement \(ECDH\) curve",
        signed(lambda k: k.ed25519, "EdDSA"),
        id="x25519",
    ),
    # Symmetric, private and encryption keys (RFC 8725 §3.5, RFC 7517 §4.2-§4.3)
    pytest.param(
        lambda k: {"kty": "oct", "kid": "bad", "k": b64url(HMAC_SECRET)},
        r"kty 'oct': symmetric keys are never accepted",
        hmac_with_k,
        id="oct",
    ),
    pytest.param(
        lambda k: {
            "kty": "oct",
            "kid": "bad",
            "alg": "HS256",
            "use": "sig",
            "k": b64url(HMAC_SECRET),
        },
        r"symmetric keys are never accepted",
        hmac_with_k,
        id="oct-HS256-sig",
    ),
    pytest.param(
        lambda k: ec_members(k, d=uint(k.p256.private_numbers().private_value, 32)),
        r"private key member\(s\) d present",
        signed(lambda k: k.p256, "ES256"),
        id="ec-private",
    ),
    pytest.param(
        lambda k: rsa_members(
            k,
            d=uint(k.rsa.private_numbers().d),
            p=uint(k.rsa.private_numbers().p),
            q=uint(k.rsa.private_numbers().q),
            dp=uint(k.rsa.private_numbers().dmp1),
            dq=uint(k.rsa.private_numbers().dmq1),
            qi=uint(k.rsa.private_numbers().iqmp),
        ),
        r"private key member\(s\) d, p, q, dp, dq, qi present",
        signed(lambda k: k.rsa, "RS256"),
        id="rsa-private",
    ),
    pytest.param(
        lambda k: ec_members(k, use="enc"),
        r"use is 'enc', not 'sig'",
        signed(lambda k: k.p256, "ES256"),
        id="use-enc",
    ),
    pytest.param(
        lambda k: ec_members(k, key_ops=["encrypt", "wrapKey"]),
        r"does not include 'verify'",
        signed(lambda k: k.p256, "ES256"),
        id="key-ops-encrypt",
    ),
    pytest.param(
        lambda k: ec_members(k, key_ops="verify"),
        r"is not an array of strings",
        None,
        id="key-ops-string",
    ),
    # Structurally broken entries
    pytest.param(
        lambda k: ec_members(k, kid=5), r"kid 5 is not a non-empty string", None, id="kid-number"
    ),
    pytest.param(
        lambda k: ec_members(k, kid=""), r"kid '' is not a non-empty string", None, id="kid-empty"
    ),
    pytest.param(
        lambda k: {key: v for key, v in ec_members(k).items() if key != "kty"},
        r"kty is missing",
        None,
        id="no-kty",
    ),
    pytest.param(
        lambda k: ec_members(k, kty="ec"), r"kty 'ec' is not supported", None, id="kty-lowercase"
    ),
    pytest.param(
        lambda k: ec_members(k, kty="DSA"), r"kty 'DSA' is not supported", None, id="kty-DSA"
    ),
    pytest.param(
        lambda k: ec_members(k, kty=None), r"kty None is not supported", None, id="kty-null"
    ),
    pytest.param(lambda k: None, r"entry is null, not a JSON object", None, id="null-entry"),
    pytest.param(lambda k: "bad", r"entry is a string, not a JSON object", None, id="string-entry"),
    pytest.param(lambda k: 1e308, r"entry is a number, not a JSON object", None, id="number-entry"),
    pytest.param(
        lambda k: [[[[]]]], r"entry is an array, not a JSON object", None, id="nested-entry"
    ),
]


@pytest.mark.parametrize(("jwk", "reason", "token"), HOSTILE_KEYS)
def test_hostile_key_is_skipped_and_the_good_key_serves(
    make: MakeShell,
    issuer: LocalIssuer,
    spare_keys: SpareKeys,
    jwk: Jwk,
    reason: str,
    token: Token | None,
) -> None:
    """A hostile key beside a good one is skipped with its reason; only the good key serves."""
    good = issuer.public_jwk(issuer.signing_kid())
    issuer.serve_jwks({"keys": [jwk(spare_keys), good]})
    shell = make()
    assert shell.verify(issuer.token())["iss"] == issuer.issuer
    ring = shell.key_set()
    assert [key.kid for key in ring.keys] == [good["kid"]]
    assert [skipped.index for skipped in ring.skipped] == [0]
    assert re.search(reason, ring.skipped[0].reason), ring.skipped[0].reason

    claims = claims_of(issuer)
    hostile = (
        token(spare_keys, claims) if token is not None else issuer.token(header={"kid": "bad"})
    )
    if token is hmac_with_k:
        # RFC 8725 §3.1: the HMAC is refused by its alg before any key is looked up.
        with pytest.raises(AlgorithmNotAllowedError, match=r"symmetric algorithm 'HS256'"):
            shell.verify(hostile)
    else:
        with pytest.raises(KeyNotFoundError, match=r"no key for kid 'bad'"):
            shell.verify(hostile)
    assert issuer.request_count("jwks") == 1  # within the cooldown: no refresh for "bad"


def test_huge_exponent_key_is_a_genuine_key(spare_keys: SpareKeys) -> None:
    """The 2001-bit-exponent key skipped above is sound: cryptography verifies its signature."""
    key = huge_e_key(spare_keys)
    header, payload, signature = sign_compact(key, "RS256", {"kid": "x"}, {"sub": "a"}).split(".")
    key.public_key().verify(
        decode_segment(signature),
        f"{header}.{payload}".encode("ascii"),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert key.public_key().public_numbers().e.bit_length() == 2001


# --- whole documents -------------------------------------------------------------------


def big_jwks(count: int, realistic: bool) -> dict[str, Any]:
    """A JWKS of ``count`` entries: copies of a real P-256 JWK with distinct kids, or ``{}``."""
    if not realistic:
        return {"keys": [{}] * count}
    jwk = public_jwk(ec.generate_private_key(ec.SECP256R1()), None, "ES256")
    return {"keys": [{**jwk, "kid": f"k{index}"} for index in range(count)]}


@pytest.mark.parametrize("realistic", [False, True], ids=["empty-entries", "real-keys"])
def test_parse_jwks_caps_the_number_of_keys(realistic: bool) -> None:
    """A document of 10,000 keys is refused as a whole, naming the count and the cap."""
    # Bounded work per fetched document: nothing is imported past the cap.
    with pytest.raises(
        InvalidKeySetError, match=rf"holds 10000 keys, more than the limit of {MAX_KEYS}"
    ):
        parse_jwks(big_jwks(10_000, realistic))
    assert len(parse_jwks(big_jwks(MAX_KEYS, realistic)).skipped) == (0 if realistic else MAX_KEYS)


def test_ten_thousand_keys_are_refused_end_to_end(make: MakeShell, issuer: LocalIssuer) -> None:
    """A served set of 10,000 entries is an InvalidKeySetError (a 503), not a slow import."""
    issuer.serve_jwks(big_jwks(10_000, realistic=False))
    with pytest.raises(
        InvalidKeySetError, match=r"holds 10000 keys, more than the limit of 1000"
    ) as info:
        make().verify(issuer.token())
    assert isinstance(info.value, KeySetUnavailableError)
    assert info.value.url == issuer.jwks_uri


def test_ten_thousand_real_keys_hit_the_size_cap_first(
    make: MakeShell, issuer: LocalIssuer
) -> None:
    """10,000 real JWKs exceed the 1 MiB body cap; with a larger cap, the key cap refuses them."""
    issuer.serve_jwks(big_jwks(10_000, realistic=True))
    with pytest.raises(ResponseTooLargeError, match=r"exceeds the 1048576-byte cap"):
        make().verify(issuer.token())
    with pytest.raises(InvalidKeySetError, match=r"holds 10000 keys, more than the limit"):
        make(max_response_bytes=8 * 1_048_576).verify(issuer.token())


DOCUMENTS: list[Any] = [
    pytest.param(b"[]", r"is not a JSON object \(got an array\)", id="array"),
    pytest.param(b'"keys"', r"is not a JSON object \(got a string\)", id="string"),
    pytest.param(b"null", r"is not a JSON object \(got null\)", id="null"),
    pytest.param(b"1e400", r"is not a JSON object \(got a number\)", id="number"),
    pytest.param(b"{}", r'must have a "keys" member', id="no-keys"),
    pytest.param(b'{"Keys": []}', r'must have a "keys" member', id="keys-capitalised"),
    pytest.param(
        b'{"keys": {}}', r'"keys" member must be an array, got an object', id="keys-object"
    ),
    pytest.param(b'{"keys": null}', r'"keys" member must be an array, got null', id="keys-null"),
    pytest.param(
        b'{"keys": "[]"}', r'"keys" member must be an array, got a string', id="keys-string"
    ),
    pytest.param(
        b'{"keys": []}', r"has no usable verification key \(empty keys array\)", id="keys-empty"
    ),
    pytest.param(
        b'{"keys": [null, 1, "k", [], {"kty": "oct", "k": "AA"}]}',
        r"has no usable verification key \(key 0: entry is null",
        id="only-bad-keys",
    ),
    pytest.param(b"[" * 200_000, r"is not valid JSON", id="nested-200000"),
    pytest.param(b'{"keys": [' + b"{" * 5000, r"is not valid JSON", id="unclosed"),
    pytest.param(b"\xff\xfe\x00", r"is not valid JSON", id="not-utf-8"),
    pytest.param(b"", r"is not valid JSON", id="empty-body"),
    pytest.param(b"<!doctype html><p>login</p>", r"is not valid JSON", id="html"),
]


@pytest.mark.parametrize(("body", "match"), DOCUMENTS)
def test_unusable_document_is_refused_end_to_end(
    make: MakeShell, issuer: LocalIssuer, body: bytes, match: str
) -> None:
    """A JWKS body that is not an object with a usable keys array is an InvalidKeySetError."""
    issuer.fail("not_jwks", body=body)
    with pytest.raises(InvalidKeySetError, match=match) as info:
        make().verify(issuer.token())
    assert type(info.value) is InvalidKeySetError
    assert info.value.url == issuer.jwks_uri
    assert str(issuer.jwks_uri) in str(info.value)


def test_hostile_json_around_a_good_key_is_tolerated(make: MakeShell, issuer: LocalIssuer) -> None:
    """NaN, huge numbers, deep nesting and odd strings beside a good key do no harm."""
    good = json.dumps(issuer.public_jwk(issuer.signing_kid()))
    garbage = [
        "NaN",
        "-Infinity",
        "1e400",
        "-0",
        "1" + "0" * 4000,
        "[" * 400 + "]" * 400,
        '{"kty": "RSA", "n": 1e999, "e": NaN, "kid": "bad"}',
        '{"kty": "EC", "crv": "P-256", "x": {"a": [[[[null]]]]}, "y": [], "kid": "bad"}',
        '{"kty": "OKP", "crv": "Ed25519", "x": "\\ud800\\u0000", "kid": "\\ud800"}',
        '"' + "A" * 200_000 + '"',
    ]
    body = '{"keys": [' + ", ".join([*garbage, good]) + '], "extra": ' + garbage[5] + "}"
    issuer.fail("not_jwks", body=body.encode("utf-8"))
    shell = make()
    assert shell.verify(issuer.token())["iss"] == issuer.issuer
    ring = shell.key_set()
    assert len(ring) == 1
    assert len(ring.skipped) == len(garbage)


def test_hostile_set_never_replaces_a_good_one(
    make: MakeShell, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A refresh that brings no usable key fails (keys-unavailable for the token that
    asked for it); the cached good key keeps serving."""
    shell = make()
    token = issuer.token()
    shell.verify(token)
    issuer.serve_jwks({"keys": [{"kty": "oct", "k": b64url(HMAC_SECRET), "kid": "new"}]})
    clock.advance(POLICY.refresh_cooldown + 1)
    with pytest.raises(InvalidKeySetError, match=r"no usable verification key"):
        shell.verify(issuer.token(header={"kid": "new"}))
    assert issuer.request_count("jwks") == 2
    assert shell.verify(token)["iss"] == issuer.issuer
    assert issuer.request_count("jwks") == 2


# --- duplicate kids: every candidate is tried, a bounded number ------------------------


@pytest.mark.parametrize(
    ("decoys", "verifies"),
    [
        pytest.param(MAX_CANDIDATES - 1, True, id="right-key-last-within-bound"),
        pytest.param(MAX_CANDIDATES, False, id="right-key-beyond-bound"),
    ],
)
@pytest.mark.parametrize("kid", ["dup", None], ids=["shared-kid", "no-kid"])
def test_duplicate_kids_are_tried_up_to_the_bound(
    make: MakeShell, issuer: LocalIssuer, decoys: int, verifies: bool, kid: str | None
) -> None:
    """Keys sharing a kid are each tried, the right one last verifies, up to MAX_CANDIDATES."""
    # RFC 7517 §4.5 allows duplicate kids across key types; a bound keeps a token from
    # costing more than MAX_CANDIDATES signature checks.
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(decoys + 1)]
    issuer.serve_jwks({"keys": [public_jwk(key, kid, "ES256") for key in keys]})
    header = {"kid": kid} if kid is not None else {}
    token = sign_compact(keys[-1], "ES256", header, claims_of(issuer))
    shell = make()
    if verifies:
        assert shell.verify(token)["iss"] == issuer.issuer
    else:
        with pytest.raises(
            InvalidSignatureError,
            match=rf"does not verify with any of {MAX_CANDIDATES} matching keys",
        ):
            shell.verify(token)
    assert issuer.request_count("jwks") == 1


def test_compression_bomb_is_cut_at_the_size_cap(make: MakeShell, issuer: LocalIssuer) -> None:
    """A gzip-encoded JWKS that inflates past max_response_bytes is a ResponseTooLargeError."""
    # The cap applies to the decoded body: 4 MiB of JSON whitespace in ~4 KiB of gzip.
    bomb = gzip.compress(b'{"keys": [' + b" " * (4 * 1_048_576) + b"]}")
    assert len(bomb) < 8 * 1024
    issuer.fail("garbage", body=bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(ResponseTooLargeError, match=r"exceeds the 1048576-byte cap"):
        make().verify(issuer.token())
    assert issuer.request_count("jwks") == 1
