"""Adversarial tokens, end to end through Verifier and AsyncVerifier.

Every test runs once per shell (the ``make`` fixture) against a real LocalIssuer on
127.0.0.1 with a FakeClock. Each case names the attack it stands for (an RFC 8725
section or a CVE) and asserts the exact ``InvalidTokenError`` subclass and its message.
Tokens that the parser refuses are sent to a cold verifier and must cause no request at
all; tokens that need the key set are sent to a warm one, and the requests they cause
(none, or the one refresh an unknown kid may force) are counted.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from jwks_client import (
    AlgorithmNotAllowedError,
    ConfigurationError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    InvalidTokenTypeError,
    KeyNotFoundError,
    MalformedTokenError,
    MissingClaimError,
    NotYetValidError,
)
from jwks_client.testing import OMIT, FakeClock, LocalIssuer

from ._support import (
    AUD,
    POLICY,
    MakeShell,
    Shell,
    b64url,
    b64url_json,
    claims_of,
    decode_segment,
    hs_token,
    segments,
    with_signature,
)
from .conftest import SpareKeys

Build = Callable[[LocalIssuer], Any]

POLICY_COOLDOWN = POLICY.refresh_cooldown

# Group orders (RFC 5639 / SEC 2) and the Ed25519 group order L (RFC 8032 §5.1).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
ED25519_IDENTITY = bytes([1]) + bytes(31)


def reject(shell: Shell, token: Any, error: type[InvalidTokenError], match: str) -> Exception:
    """Verify ``token`` and require exactly ``error`` (not a subclass) with ``match``."""
    with pytest.raises(error, match=match) as info:
        shell.verify(token)
    assert type(info.value) is error
    return info.value


def warm(shell: Shell, issuer: LocalIssuer) -> None:
    """Verify a good token so the key set is cached; one discovery, one JWKS fetch."""
    assert shell.verify(issuer.token())["iss"] == issuer.issuer
    assert issuer.request_count("discovery") == 1
    assert issuer.request_count("jwks") == 1


def header_of(issuer: LocalIssuer, **members: Any) -> dict[str, Any]:
    """The header LocalIssuer writes for its default key, with members replaced."""
    header = {"alg": "ES256", "typ": "at+jwt", "kid": issuer.signing_kid()}
    header.update(members)
    return header


def signed_raw(issuer: LocalIssuer, payload: bytes, **header: Any) -> str:
    """A token whose payload bytes are given verbatim, genuinely signed by the issuer."""
    return str(issuer.sign(header_of(issuer, **header), payload))


def raw_payload(issuer: LocalIssuer, claim: str, literal: str) -> bytes:
    """Valid claims for ``issuer`` with ``claim`` set to the JSON text ``literal``."""
    claims = claims_of(issuer)
    claims[claim] = "@PLACEHOLDER@"
    return json.dumps(claims).replace('"@PLACEHOLDER@"', literal).encode("utf-8")


def raw_header_token(issuer: LocalIssuer, header: bytes) -> str:
    """A token with the given header bytes and a real payload and signature."""
    _, payload, signature = segments(issuer.token())
    return f"{b64url(header)}.{payload}.{signature}"


# --- rejected by the parser: no request is ever made ---------------------------------


def assert_no_io(shell: Shell, issuer: LocalIssuer, token: Any, error: Any, match: str) -> None:
    """Require the rejection and that the issuer saw no request at all."""
    reject(shell, token, error, match)
    assert issuer.request_count() == 0


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["empty", "non-empty"])
def test_alg_none_is_refused_in_any_casing(
    make: MakeShell, issuer: LocalIssuer, alg: str, signature: str
) -> None:
    """An unsecured token (alg none, any casing, with or without a signature) is refused."""
    # RFC 8725 §2.1 and §3.1; CVE-2015-9235 (jsonwebtoken accepted alg "none").
    token = issuer.token(header={"alg": alg})
    if signature == "empty":
        token = with_signature(token, "")
    error = reject(make(), token, AlgorithmNotAllowedError, r"unsecured tokens \(alg 'none'\)")
    assert isinstance(error, AlgorithmNotAllowedError)
    assert error.alg == alg
    assert issuer.request_count() == 0


def public_key_secrets(keys: SpareKeys, jwk: dict[str, Any]) -> dict[str, bytes]:
    """Every form of the RSA public key an attacker might use as an HMAC secret."""
    public = keys.rsa.public_key()
    n = public.public_numbers().n
    return {
        "pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pkcs1-pem": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.PKCS1
        ),
        "der": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "n-bytes": n.to_bytes((n.bit_length() + 7) // 8, "big"),
        "jwk-json": json.dumps(jwk).encode("utf-8"),
        "jwk-json-compact": json.dumps(jwk, separators=(",", ":")).encode("utf-8"),
    }


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
@pytest.mark.parametrize(
    "form", ["pem", "pkcs1-pem", "der", "n-bytes", "jwk-json", "jwk-json-compact"]
)
def test_hmac_keyed_with_the_public_key_is_refused(
    make: MakeShell, issuer: LocalIssuer, spare_keys: SpareKeys, alg: str, form: str
) -> None:
    """An HS* token whose HMAC key is the issuer's RSA public key is refused, even warm."""
    # RFC 8725 §2.1 and §3.1; CVE-2015-9235, CVE-2016-10555, CVE-2022-29217 (key confusion).
    kid = issuer.add_key("RS256", kid="rsa", private_key=spare_keys.rsa)
    secret = public_key_secrets(spare_keys, issuer.public_jwk(kid))[form]
    shell = make()
    warm(shell, issuer)
    token = hs_token(secret, alg, {"typ": "at+jwt", "kid": kid}, claims_of(issuer))
    error = reject(shell, token, AlgorithmNotAllowedError, rf"symmetric algorithm '{alg}'")
    assert isinstance(error, AlgorithmNotAllowedError)
    assert error.alg == alg
    assert issuer.request_count() == 2


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512", "none"])
def test_hmac_and_none_cannot_be_allowed(make: MakeShell, alg: str) -> None:
    """Listing an HS* algorithm or none in ``algorithms`` is a configuration error."""
    # RFC 8725 §3.1: the allowlist itself cannot reopen the hole.
    with pytest.raises(ConfigurationError, match=r"only asymmetric JWS algorithms"):
        make(algorithms=["ES256", alg])


@pytest.mark.parametrize(
    ("header", "error", "match"),
    [
        pytest.param({"alg": OMIT}, AlgorithmNotAllowedError, r"has no 'alg'", id="missing"),
        pytest.param({"alg": None}, MalformedTokenError, r"'alg' must be a string", id="null"),
        pytest.param({"alg": ["ES256"]}, MalformedTokenError, r"'alg' must be a string", id="list"),
        pytest.param({"alg": "es256"}, AlgorithmNotAllowedError, r"not allowed", id="lowercase"),
        pytest.param({"alg": "ES256 "}, AlgorithmNotAllowedError, r"not allowed", id="space"),
        pytest.param({"alg": "ES256K"}, AlgorithmNotAllowedError, r"not allowed", id="opt-in"),
        pytest.param({"alg": "RSA-OAEP"}, AlgorithmNotAllowedError, r"not allowed", id="jwe-alg"),
        pytest.param({"alg": "hs256"}, AlgorithmNotAllowedError, r"symmetric", id="hs-lower"),
    ],
)
def test_alg_outside_the_allowlist_is_refused(
    make: MakeShell, issuer: LocalIssuer, header: dict[str, Any], error: Any, match: str
) -> None:
    """A header alg that is missing, not a string or not allowlisted is refused unparsed."""
    # RFC 8725 §3.1: the algorithm comes from the allowlist, never from the token.
    assert_no_io(make(), issuer, issuer.token(header=header), error, match)


def test_alg_allowed_by_the_key_but_not_configured_is_refused(
    make: MakeShell, issuer: LocalIssuer, spare_keys: SpareKeys
) -> None:
    """A genuine RS256 token is refused by a verifier configured for ES256 only."""
    # RFC 8725 §3.1: the verifier's allowlist wins over whatever keys the issuer has.
    issuer.add_key("RS256", kid="rsa", private_key=spare_keys.rsa)
    shell = make(algorithms=["ES256"])
    reject(shell, issuer.token(kid="rsa"), AlgorithmNotAllowedError, r"'RS256' is not allowed")
    assert issuer.request_count() == 0


@pytest.mark.parametrize(
    ("kid", "match"),
    [
        pytest.param(1, r"'kid' must be a string, not a number", id="int"),
        pytest.param(None, r"'kid' must be a string, not null", id="null"),
        pytest.param(["a"], r"'kid' must be a string, not an array", id="list"),
        pytest.param({"kid": "a"}, r"'kid' must be a string, not an object", id="object"),
        pytest.param(True, r"'kid' must be a string, not a boolean", id="bool"),
        pytest.param("", r"'kid' is empty", id="empty"),
        pytest.param("k" * 10_240, r"'kid' is longer than 256 characters", id="10KB"),
        pytest.param("a\x00b", r"non-printable", id="nul"),
        pytest.param("a\nb", r"non-printable", id="newline"),
        pytest.param("a\rb", r"non-printable", id="carriage-return"),
        pytest.param("\x1b[31mred", r"non-printable", id="escape"),
        pytest.param("a\x7f", r"non-printable", id="delete"),
        pytest.param("a\u202eb", r"non-printable", id="bidi-override"),
        pytest.param("a\u200bb", r"non-printable", id="zero-width-space"),
    ],
)
def test_kid_of_the_wrong_type_or_shape_is_refused(
    make: MakeShell, issuer: LocalIssuer, kid: Any, match: str
) -> None:
    """A kid that is not a short printable string is malformed, before any key lookup."""
    # RFC 8725 §3.10: header values are attacker-controlled input.
    assert_no_io(make(), issuer, issuer.token(header={"kid": kid}), MalformedTokenError, match)


@pytest.mark.parametrize(
    ("crit", "match"),
    [
        pytest.param(
            ["x-unknown"], r"unsupported critical header parameters: 'x-unknown'", id="unknown"
        ),
        pytest.param(["exp", "x-a"], r"unsupported critical header parameters", id="two"),
        pytest.param(["absent"], r"unsupported critical header parameters: 'absent'", id="absent"),
        pytest.param(["b64"], r"unsupported critical header parameters: 'b64'", id="b64"),
        pytest.param([], r"'crit' must be a non-empty array", id="empty-list"),
        pytest.param("x-unknown", r"'crit' must be a non-empty array", id="string"),
        pytest.param({"x": 1}, r"'crit' must be a non-empty array", id="object"),
        pytest.param(None, r"'crit' must be a non-empty array", id="null"),
        pytest.param([1], r"'crit' must be a non-empty array of unique strings", id="number"),
        pytest.param(["a", "a"], r"non-empty array of unique strings", id="duplicate"),
    ],
)
def test_crit_is_refused(make: MakeShell, issuer: LocalIssuer, crit: Any, match: str) -> None:
    """Any crit header is refused: the library implements no extension (RFC 7515 §4.1.11)."""
    # RFC 7515 §4.1.11: a recipient that does not understand a critical extension must
    # reject the token; an empty or malformed crit is invalid in itself.
    header = {"crit": crit}
    if isinstance(crit, list) and crit and all(isinstance(name, str) for name in crit):
        header.update({name: True for name in crit if name != "absent"})
    token = issuer.token(header=header)
    assert_no_io(make(), issuer, token, MalformedTokenError, match)


@pytest.mark.parametrize("b64", [False, True, "false", None])
def test_unencoded_payload_option_is_refused(
    make: MakeShell, issuer: LocalIssuer, b64: Any
) -> None:
    """A b64 header member (RFC 7797 unencoded payloads) is refused whatever its value."""
    # RFC 7797 §6 / RFC 8725 §3.1: an option that changes what is signed must be refused
    # by a recipient that does not implement it.
    token = issuer.token(header={"b64": b64})
    assert_no_io(make(), issuer, token, MalformedTokenError, r"unencoded payloads \(header 'b64'")


def json_serializations(issuer: LocalIssuer) -> dict[str, str]:
    """The same genuine token in the JWS JSON serializations (RFC 7515 §7.2)."""
    header, payload, signature = segments(issuer.token())
    general = {"payload": payload, "signatures": [{"protected": header, "signature": signature}]}
    flattened = {"payload": payload, "protected": header, "signature": signature}
    return {
        "general": json.dumps(general),
        "flattened": json.dumps(flattened),
        "flattened-leading-space": "\n  " + json.dumps(flattened),
    }


@pytest.mark.parametrize("form", ["general", "flattened", "flattened-leading-space"])
def test_jws_json_serialization_is_refused(make: MakeShell, issuer: LocalIssuer, form: str) -> None:
    """A genuine token in the JWS JSON serialization is refused; only compact is accepted."""
    # RFC 8725 §3.1 and §3.11: accept exactly one form, so no two parsers disagree.
    token = json_serializations(issuer)[form]
    assert_no_io(make(), issuer, token, MalformedTokenError, r"JWS JSON serialization")


def test_jwe_is_refused(make: MakeShell, issuer: LocalIssuer) -> None:
    """A five-segment JWE compact token is refused as encrypted, not decrypted or parsed."""
    # RFC 8725 §2.8 / §3.9: never treat an encrypted token as a signed one.
    header = b64url_json({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": issuer.signing_kid()})
    token = f"{header}.{b64url(bytes(256))}.{b64url(bytes(12))}.{b64url(b'x')}.{b64url(bytes(16))}"
    assert_no_io(make(), issuer, token, MalformedTokenError, r"encrypted \(JWE\) tokens")


DUPLICATES = [
    pytest.param(b'{"alg":"ES256","kid":"%(kid)s","alg":"none"}', None, "alg", id="header-alg"),
    pytest.param(b'{"alg":"ES256","kid":"%(kid)s","kid":"other"}', None, "kid", id="header-kid"),
    pytest.param(b'{"alg":"ES256","kid":"%(kid)s","typ":"a","typ":"b"}', None, "typ", id="typ"),
    pytest.param(None, "aud", "aud", id="payload-aud"),
    pytest.param(None, "iss", "iss", id="payload-iss"),
    pytest.param(None, "exp", "exp", id="payload-exp"),
    pytest.param(None, "sub", "sub", id="payload-sub"),
]


@pytest.mark.parametrize(("header", "claim", "name"), DUPLICATES)
def test_duplicate_member_names_are_refused(
    make: MakeShell, issuer: LocalIssuer, header: bytes | None, claim: str | None, name: str
) -> None:
    """A genuinely signed token with a member name twice in its header or payload is refused."""
    # RFC 8725 §3.11 / RFC 7515 §5.2: parsers that keep the first or the last duplicate
    # disagree about what was signed; the token is refused outright.
    if header is not None:
        kid = issuer.signing_kid().encode("ascii")
        token = str(issuer.sign(header % {b"kid": kid}, claims_of(issuer)))
        part = "header"
    else:
        assert claim is not None
        claims = claims_of(issuer)
        decoy = json.dumps("attacker-value")
        body = json.dumps(claims)[:-1] + f", {json.dumps(claim)}: {decoy}}}"
        token = str(issuer.sign(header_of(issuer), body.encode("utf-8")))
        part = "payload"
    match = rf"{part} has a duplicate member name '{name}'"
    assert_no_io(make(), issuer, token, MalformedTokenError, match)


@pytest.mark.parametrize("length", ["max+1", "huge"])
@pytest.mark.parametrize("kind", ["text", "bytes", "garbage-text", "bytes-non-ascii"])
def test_oversized_token_is_refused_before_decoding(
    make: MakeShell, issuer: LocalIssuer, length: str, kind: str
) -> None:
    """A token longer than max_token_length is refused on its length alone, whatever it holds."""
    # RFC 8725 §3.1 spirit: bound the work an unauthenticated input can cause.
    size = 32_769 if length == "max+1" else 10_000_000
    token: str | bytes
    if kind == "text":
        token = "A" * size
        match = r"longer than 32768 characters"
    elif kind == "garbage-text":
        token = "!\x00{" * (size // 3 + 1)  # would fail several other rules first
        match = r"longer than 32768 characters"
    elif kind == "bytes":
        token = b"A" * size
        match = r"longer than 32768 bytes"
    else:
        token = b"\xff" * size  # not ASCII either: the length is judged first
        match = r"longer than 32768 bytes"
    assert_no_io(make(), issuer, token, MalformedTokenError, match)


def test_valid_token_over_a_configured_length_is_refused(
    make: MakeShell, issuer: LocalIssuer
) -> None:
    """A genuine token one character over max_token_length is refused without a fetch."""
    token = issuer.token()
    shell = make(max_token_length=len(token) - 1)
    assert_no_io(shell, issuer, token, MalformedTokenError, rf"longer than {len(token) - 1}")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("[" * 33 + "1" + "]" * 33, id="arrays-33"),
        pytest.param("[" * 5_000 + "1" + "]" * 5_000, id="arrays-5000"),
        pytest.param('{"a":' * 2_000 + "1" + "}" * 2_000, id="objects-2000"),
        pytest.param("[" * 9_000, id="unclosed-9000"),
    ],
)
@pytest.mark.parametrize("part", ["header", "payload"])
def test_deeply_nested_json_is_refused(
    make: MakeShell, issuer: LocalIssuer, value: str, part: str
) -> None:
    """Nesting deeper than 32 levels in the header or the signed payload is refused."""
    # RFC 8725 §3.1 spirit: recursion in a JSON decoder must not be attacker-driven.
    if part == "header":
        header = f'{{"alg":"ES256","kid":"{issuer.signing_kid()}","x":{value}}}'
        token = raw_header_token(issuer, header.encode("ascii"))
    else:
        claims = json.dumps(claims_of(issuer))
        token = signed_raw(issuer, f'{claims[:-1]}, "x": {value}}}'.encode("ascii"))
    assert_no_io(make(), issuer, token, MalformedTokenError, rf"{part} nests deeper than 32 levels")


# (id, hostile member spliced into a valid object, or a whole-document transform)
ENCODINGS = [
    pytest.param(b'"x":"\xff"', "not valid UTF-8", id="invalid-byte"),
    pytest.param(b'"x":"\xc0\xaf"', "not valid UTF-8", id="overlong-2-byte"),
    pytest.param(b'"x":"\xe0\x80\xaf"', "not valid UTF-8", id="overlong-3-byte"),
    pytest.param(b'"x":"\xf0\x80\x80\xaf"', "not valid UTF-8", id="overlong-4-byte"),
    pytest.param(b'"x":"\xed\xa0\x80"', "not valid UTF-8", id="cesu-surrogate"),
    pytest.param(b'"x":"\xf4\x90\x80\x80"', "not valid UTF-8", id="above-u10ffff"),
    pytest.param(b'"x":"\\ud800"', "unpaired UTF-16 surrogate", id="lone-high-escape"),
    pytest.param(b'"x":"\\udc00x"', "unpaired UTF-16 surrogate", id="lone-low-escape"),
    pytest.param(b'"x\\ud800":1', "unpaired UTF-16 surrogate", id="lone-in-name"),
    pytest.param("bom", "starts with a byte order mark", id="bom"),
    pytest.param("utf-16", "not valid JSON", id="utf-16"),
]


def hostile_document(base: dict[str, Any], hostile: bytes | str) -> bytes:
    """``base`` as JSON with a hostile member spliced in, or BOM-prefixed, or UTF-16."""
    text = json.dumps(base)
    if hostile == "bom":
        return b"\xef\xbb\xbf" + text.encode("ascii")
    if hostile == "utf-16":
        return text.encode("utf-16-le")
    assert isinstance(hostile, bytes)
    return text[:-1].encode("ascii") + b", " + hostile + b"}"


@pytest.mark.parametrize(("hostile", "match"), ENCODINGS)
@pytest.mark.parametrize("part", ["header", "payload"])
def test_bad_text_encodings_are_refused(
    make: MakeShell, issuer: LocalIssuer, hostile: bytes | str, match: str, part: str
) -> None:
    """Invalid or overlong UTF-8, lone surrogates and a BOM in header or payload are refused."""
    # RFC 8725 §3.1 spirit and RFC 7493 §2.1 (I-JSON): one byte string, one meaning.
    if part == "header":
        token = raw_header_token(issuer, hostile_document(header_of(issuer), hostile))
    else:
        token = signed_raw(issuer, hostile_document(claims_of(issuer), hostile))
    assert_no_io(make(), issuer, token, MalformedTokenError, rf"{part} .*{match}")


def standard_alphabet_token(issuer: LocalIssuer) -> str:
    """A genuine token whose payload re-encoded in the standard alphabet differs."""
    token = issuer.token({"note": "?" * 9 + ">" * 9})  # encodes to '_' and '-' somewhere
    header, payload, signature = segments(token)
    standard = payload.replace("-", "+").replace("_", "/")
    assert standard != payload
    return f"{header}.{standard}.{signature}"


def non_canonical_token(issuer: LocalIssuer) -> str:
    """A genuine token whose last signature character carries non-zero unused bits."""
    token = issuer.token()
    header, payload, signature = segments(token)
    assert len(signature) == 86  # 64 bytes: the last character has 4 unused bits
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) | 1]
    return f"{header}.{payload}.{signature[:-1]}{last}"


SHAPES: list[Any] = [
    pytest.param(lambda t: " " + t, r"whitespace is not allowed", id="leading-space"),
    pytest.param(lambda t: t + " ", r"whitespace is not allowed", id="trailing-space"),
    pytest.param(lambda t: t + "\n", r"whitespace is not allowed", id="trailing-newline"),
    pytest.param(lambda t: t + "\r\n", r"whitespace is not allowed", id="trailing-crlf"),
    pytest.param(lambda t: "\t" + t, r"whitespace is not allowed", id="leading-tab"),
    pytest.param(lambda t: t[:10] + " " + t[10:], r"whitespace is not allowed", id="inner-space"),
    pytest.param(lambda t: t[:10] + "\u00a0" + t[10:], r"whitespace", id="inner-nbsp"),
    pytest.param(lambda t: "Bearer " + t, r"whitespace is not allowed", id="bearer-prefix"),
    pytest.param(
        lambda t: t.replace(".", "=.", 1), r"padding '=' is not allowed", id="padded-header"
    ),
    pytest.param(lambda t: t + "=", r"padding '=' is not allowed", id="padded-signature"),
    pytest.param(lambda t: t + "==", r"padding '=' is not allowed", id="double-padding"),
    pytest.param(
        lambda t: t + ".", r"expected 3 dot-separated segments, found 4", id="trailing-dot"
    ),
    pytest.param(
        lambda t: "." + t, r"expected 3 dot-separated segments, found 4", id="leading-dot"
    ),
    pytest.param(lambda t: t.replace(".", "..", 1), r"found 4", id="double-dot"),
    pytest.param(
        lambda t: t.rsplit(".", 1)[0],
        r"expected 3 dot-separated segments, found 2",
        id="two-segments",
    ),
    pytest.param(
        lambda t: "." + t.split(".", 1)[1], r"the header segment is empty", id="empty-header"
    ),
    pytest.param(
        lambda t: t.split(".")[0] + ".." + t.split(".")[2],
        r"the payload segment is empty",
        id="empty-payload",
    ),
    pytest.param(lambda t: t[:5] + "\u0435" + t[6:], r"invalid character", id="cyrillic-lookalike"),
    pytest.param(lambda t: t[:5] + "\uff21" + t[6:], r"invalid character", id="fullwidth"),
    pytest.param(lambda t: t[:5] + "%41" + t[6:], r"invalid character", id="percent-encoded"),
    pytest.param(lambda t: "", r"malformed token: empty", id="empty"),
]


@pytest.mark.parametrize(("mangle", "match"), SHAPES)
def test_non_canonical_text_is_refused(
    make: MakeShell, issuer: LocalIssuer, mangle: Callable[[str], str], match: str
) -> None:
    """Whitespace, padding, stray dots or foreign characters around a genuine token are refused."""
    # RFC 7515 §2 and §7.1: the compact form is base64url without padding or whitespace;
    # a lenient parser lets one token have many spellings (RFC 8725 §3.11 spirit).
    assert_no_io(make(), issuer, mangle(issuer.token()), MalformedTokenError, match)


def test_standard_base64_alphabet_is_refused(make: MakeShell, issuer: LocalIssuer) -> None:
    """The standard base64 alphabet ('+', '/') instead of base64url is refused."""
    # RFC 7515 §2: base64url only.
    token = standard_alphabet_token(issuer)
    assert_no_io(
        make(), issuer, token, MalformedTokenError, r"invalid character .*\(in the payload\)"
    )


def test_non_canonical_base64url_is_refused(make: MakeShell, issuer: LocalIssuer) -> None:
    """A signature whose last character has non-zero unused bits is refused (one spelling)."""
    # RFC 4648 §3.5: canonical encoding; otherwise a token has several valid spellings.
    token = non_canonical_token(issuer)
    assert_no_io(make(), issuer, token, MalformedTokenError, r"non-canonical base64url")


@pytest.mark.parametrize(
    ("token", "kind"),
    [
        pytest.param(None, "NoneType", id="None"),
        pytest.param(42, "int", id="int"),
        pytest.param(4.2, "float", id="float"),
        pytest.param(True, "bool", id="bool"),
        pytest.param({"alg": "none"}, "dict", id="dict"),
        pytest.param(["a", "b", "c"], "list", id="list"),
        pytest.param(bytearray(b"a.b.c"), "bytearray", id="bytearray"),
        pytest.param(memoryview(b"a.b.c"), "memoryview", id="memoryview"),
        pytest.param(object(), "object", id="object"),
    ],
)
def test_non_text_token_is_malformed_not_type_error(
    make: MakeShell, issuer: LocalIssuer, token: Any, kind: str
) -> None:
    """A token that is neither str nor bytes is a MalformedTokenError, never a TypeError."""
    assert_no_io(make(), issuer, token, MalformedTokenError, rf"expected str or bytes, not {kind}")


@pytest.mark.parametrize(
    ("token", "match"),
    [
        pytest.param(b"", r"malformed token: empty", id="empty"),
        pytest.param(b"\xff\xfe.a.b", r"not ASCII", id="non-ascii"),
        pytest.param("é.a.b".encode(), r"not ASCII", id="utf-8"),
    ],
)
def test_bad_bytes_token_is_malformed(
    make: MakeShell, issuer: LocalIssuer, token: bytes, match: str
) -> None:
    """A bytes token that is empty or not ASCII is malformed."""
    assert_no_io(make(), issuer, token, MalformedTokenError, match)


def test_bytearray_token_is_refused_even_when_cached(make: MakeShell, issuer: LocalIssuer) -> None:
    """A bytearray token is refused the same way whether or not the token is cached."""
    shell = make(verified_token_cache_size=16)
    token = issuer.token()
    reject(shell, bytearray(token.encode("ascii")), MalformedTokenError, r"not bytearray")
    assert shell.verify(token)["iss"] == issuer.issuer  # now in the verified-token cache
    reject(shell, bytearray(token.encode("ascii")), MalformedTokenError, r"not bytearray")


def test_token_given_as_ascii_bytes_verifies(make: MakeShell, issuer: LocalIssuer) -> None:
    """A genuine token given as ASCII bytes verifies like its text."""
    token = issuer.token({"sub": "bytes-user"})
    assert make().verify(token.encode("ascii"))["sub"] == "bytes-user"


def test_nested_jwt_is_refused(make: MakeShell, issuer: LocalIssuer) -> None:
    """A token announcing a nested JWT (cty JWT) is refused rather than unwrapped."""
    # RFC 8725 §2.8: nested tokens invite confusion between layers.
    token = issuer.token(header={"cty": "JWT"})
    assert_no_io(make(), issuer, token, MalformedTokenError, r"nested JWTs \(cty 'JWT'\)")


# --- the key set decides: warm verifier, requests counted ------------------------------


@pytest.fixture
def mixed_issuer(issuer: LocalIssuer, spare_keys: SpareKeys) -> LocalIssuer:
    """The ES256 issuer with an RS256 key ("rsa") and an EdDSA key ("ed") published too."""
    issuer.add_key("RS256", kid="rsa", private_key=spare_keys.rsa)
    issuer.add_key("EdDSA", kid="ed", private_key=spare_keys.ed25519)
    return issuer


MISMATCHES: list[Any] = [
    # ES384 header on a P-256 key: the curve fixes the algorithm (RFC 7518 §3.4).
    pytest.param(
        lambda i: i.token(header={"alg": "ES384"}), "default", "ES384", id="ES384-on-P256"
    ),
    pytest.param(
        lambda i: i.token(header={"alg": "ES512"}), "default", "ES512", id="ES512-on-P256"
    ),
    pytest.param(lambda i: i.token(header={"alg": "RS256"}), "default", "RS256", id="RS256-on-EC"),
    pytest.param(lambda i: i.token(header={"alg": "PS256"}), "default", "PS256", id="PS256-on-EC"),
    pytest.param(lambda i: i.token(header={"alg": "EdDSA"}), "default", "EdDSA", id="EdDSA-on-EC"),
    pytest.param(
        lambda i: i.token(kid="rsa", header={"alg": "EdDSA"}), "rsa", "EdDSA", id="EdDSA-on-RSA"
    ),
    pytest.param(
        lambda i: i.token(kid="rsa", header={"alg": "ES256"}), "rsa", "ES256", id="ES256-on-RSA"
    ),
    pytest.param(
        lambda i: i.token(kid="ed", header={"alg": "ES256"}), "ed", "ES256", id="ES256-on-Ed25519"
    ),
    pytest.param(
        lambda i: i.token(kid="ed", header={"alg": "RS256"}), "ed", "RS256", id="RS256-on-Ed25519"
    ),
    # A genuine PS256 signature by the RSA key whose JWK says "alg": "RS256": the key's
    # own alg pins it (RFC 7517 §4.4, RFC 8725 §3.1).
    pytest.param(
        lambda i: i.token(kid="rsa", alg="PS256"), "rsa", "PS256", id="PS256-on-RS256-key"
    ),
    pytest.param(
        lambda i: i.token(kid="rsa", alg="RS512"), "rsa", "RS512", id="RS512-on-RS256-key"
    ),
    # RFC 9864's fully specified Ed25519 on a key published with "alg": "EdDSA".
    pytest.param(
        lambda i: i.token(kid="ed", header={"alg": "Ed25519"}),
        "ed",
        "Ed25519",
        id="Ed25519-on-EdDSA-key",
    ),
]


@pytest.mark.parametrize(("build", "kid", "alg"), MISMATCHES)
def test_alg_that_does_not_fit_the_key_is_refused(
    make: MakeShell, mixed_issuer: LocalIssuer, build: Build, kid: str, alg: str
) -> None:
    """A token whose alg does not fit its key's type, curve or own alg finds no key."""
    # RFC 8725 §3.1 (use the algorithm the key was made for) and §2.1 (confusion).
    issuer = mixed_issuer
    if kid == "default":
        kid = issuer.signing_kid()
    shell = make()
    warm(shell, issuer)
    error = reject(
        shell, build(issuer), KeyNotFoundError, rf"no key for kid '{kid}' with alg {alg}"
    )
    assert isinstance(error, KeyNotFoundError)
    assert (error.kid, error.alg) == (kid, alg)
    assert issuer.request_count() == 2  # within the cooldown: no refresh was spent


def self_signed_certificate(key: ec.EllipticCurvePrivateKey) -> str:
    """A self-signed X.509 certificate of ``key``, standard base64 DER as x5c holds it."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.example")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36_500))
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    return base64.b64encode(der).decode("ascii")


@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c", "all"])
@pytest.mark.parametrize("kid", ["victim", "attacker", "absent"])
def test_keys_and_urls_in_the_header_are_never_used(
    make: MakeShell,
    issuer: LocalIssuer,
    attacker: LocalIssuer,
    clock: FakeClock,
    member: str,
    kid: str,
) -> None:
    """A token signed by an attacker's key, carrying that key or its URL, never verifies."""
    # RFC 8725 §3.10 and RFC 7515 §4.1.2-§4.1.6: jwk/jku/x5u/x5c name keys the token
    # chooses for itself; CVE-2018-0114 (node-jose trusted an embedded jwk).
    attacker_kid = attacker.signing_kid()
    attacker_key = attacker.private_key(attacker_kid)
    assert isinstance(attacker_key, ec.EllipticCurvePrivateKey)
    carried = {
        "jwk": attacker.public_jwk(attacker_kid),
        "jku": attacker.jwks_uri,
        "x5u": attacker.base_url + "/cert.pem",
        "x5c": [self_signed_certificate(attacker_key)],
    }
    header: dict[str, Any] = {"alg": "ES256", "typ": "at+jwt"}
    header.update(carried if member == "all" else {member: carried[member]})
    if kid == "victim":
        header["kid"] = issuer.signing_kid()
    elif kid == "attacker":
        header["kid"] = attacker_kid
    token = attacker.sign(header, claims_of(issuer))
    shell = make()
    warm(shell, issuer)
    clock.advance(POLICY_COOLDOWN + 1)  # an unknown kid may now force one refresh
    if kid == "attacker":
        reject(shell, token, KeyNotFoundError, rf"no key for kid '{attacker_kid}' with alg ES256")
        assert issuer.request_count("jwks") == 2
    else:
        reject(shell, token, InvalidSignatureError, r"signature does not verify")
        assert issuer.request_count("jwks") == 1
    assert attacker.request_count() == 0


@pytest.mark.parametrize(
    "kid",
    [
        "../../etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "/dev/zero",
        "' OR '1'='1' --",
        '"; DROP TABLE keys; --',
        "https://attacker.example/jwks.json",
        "${jndi:ldap://attacker.example/a}",
        "{{7*7}}",
        "k" * 256,
    ],
)
def test_kid_is_compared_never_interpreted(
    make: MakeShell, issuer: LocalIssuer, clock: FakeClock, kid: str
) -> None:
    """A path-, SQL- or URL-like kid is an unknown kid: one refresh of the JWKS URL, no other."""
    # RFC 8725 §3.10: "kid" is untrusted input; CVE-2018-1000531-style kid injection.
    shell = make()
    warm(shell, issuer)
    token = issuer.token(header={"kid": kid})
    error = reject(shell, token, KeyNotFoundError, r"no key for kid .* with alg ES256")
    assert isinstance(error, KeyNotFoundError)
    assert error.kid == kid
    assert issuer.request_count() == 2  # within the cooldown: no request
    clock.advance(POLICY_COOLDOWN + 1)
    reject(shell, token, KeyNotFoundError, r"no key for kid")
    reject(shell, token, KeyNotFoundError, r"no key for kid")
    paths = [record.path for record in issuer.requests()]
    assert paths == ["/.well-known/openid-configuration", "/jwks", "/jwks"]


def es256_signature_cases() -> list[Any]:
    """Hostile ES256 signatures, each made from a genuine (r, s)."""
    n = P256_ORDER
    cases: list[tuple[str, Callable[[int, int, bytes], bytes]]] = [
        # CVE-2022-21449 ("psychic signatures"): r = s = 0 verified anything in Java 15-18.
        ("r=s=0", lambda r, s, sig: bytes(64)),
        ("r=0", lambda r, s, sig: bytes(32) + sig[32:]),
        ("s=0", lambda r, s, sig: sig[:32] + bytes(32)),
        # r or s not below the group order n (SEC 1 §4.1.4 step 1).
        ("r=n", lambda r, s, sig: n.to_bytes(32, "big") + sig[32:]),
        ("s=n", lambda r, s, sig: sig[:32] + n.to_bytes(32, "big")),
        ("r=s=n", lambda r, s, sig: n.to_bytes(32, "big") * 2),
        ("r=2^256-1", lambda r, s, sig: b"\xff" * 32 + sig[32:]),
        ("s=2^256-1", lambda r, s, sig: sig[:32] + b"\xff" * 32),
        ("r=s=1", lambda r, s, sig: (1).to_bytes(32, "big") * 2),
        # RFC 7518 §3.4: JWS uses R || S, not the DER SEQUENCE some libraries emit.
        ("der", lambda r, s, sig: encode_dss_signature(r, s)),
        ("63-bytes", lambda r, s, sig: sig[:63]),
        ("65-bytes", lambda r, s, sig: sig + b"\x00"),
        ("65-bytes-leading-zero", lambda r, s, sig: b"\x00" + sig),
        ("96-bytes", lambda r, s, sig: sig + bytes(32)),
        ("swapped-r-s", lambda r, s, sig: sig[32:] + sig[:32]),
        ("one-bit-flipped", lambda r, s, sig: sig[:-1] + bytes([sig[-1] ^ 1])),
    ]
    return [pytest.param(mangle, id=name) for name, mangle in cases]


@pytest.mark.parametrize("mangle", es256_signature_cases())
def test_bad_ecdsa_signature_is_refused(
    make: MakeShell, issuer: LocalIssuer, mangle: Callable[[int, int, bytes], bytes]
) -> None:
    """An ES256 signature that is zero, out of range, DER or of the wrong length never verifies."""
    token = issuer.token()
    signature = decode_segment(segments(token)[2])
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    shell = make()
    warm(shell, issuer)
    forged = with_signature(token, mangle(r, s, signature))
    reject(shell, forged, InvalidSignatureError, r"signature does not verify with the matching key")
    assert shell.verify(token)["iss"] == issuer.issuer  # the genuine one still verifies
    assert issuer.request_count() == 2


def test_signature_of_another_token_is_refused(make: MakeShell, issuer: LocalIssuer) -> None:
    """A genuine signature moved onto another payload never verifies."""
    shell = make()
    warm(shell, issuer)
    donor = segments(issuer.token({"sub": "alice"}))[2]
    token = with_signature(issuer.token({"sub": "mallory"}), donor)
    reject(shell, token, InvalidSignatureError, r"signature does not verify")


@pytest.mark.parametrize("kid", ["default", "ed", "rsa"])
def test_empty_signature_is_malformed(make: MakeShell, mixed_issuer: LocalIssuer, kid: str) -> None:
    """A token with an empty signature segment is malformed for every key type, unfetched."""
    # RFC 8725 §2.1: an empty signature is "alg none" in disguise.
    issuer = mixed_issuer
    token = issuer.token(kid=None if kid == "default" else kid)
    assert_no_io(
        make(),
        issuer,
        with_signature(token, ""),
        MalformedTokenError,
        r"signature segment is empty",
    )


def eddsa_signature_cases() -> list[Any]:
    """Hostile Ed25519 signatures, each made from a genuine one."""
    cases: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("63-bytes", lambda sig: sig[:63]),
        ("65-bytes", lambda sig: sig + b"\x00"),
        ("zero", lambda sig: bytes(64)),
        ("ones", lambda sig: b"\xff" * 64),
        # RFC 8032 §5.1.7: S must be below L; S + L is the classic malleability.
        (
            "S+L",
            lambda sig: (
                sig[:32]
                + (int.from_bytes(sig[32:], "little") + ED25519_ORDER).to_bytes(32, "little")
            ),
        ),
        # R the neutral element and S = 0 would verify under a small-order key.
        ("identity-R-zero-S", lambda sig: ED25519_IDENTITY + bytes(32)),
        ("114-bytes-ed448-size", lambda sig: sig + bytes(50)),
        ("one-bit-flipped", lambda sig: sig[:-1] + bytes([sig[-1] ^ 1])),
    ]
    return [pytest.param(mangle, id=name) for name, mangle in cases]


@pytest.mark.parametrize("mangle", eddsa_signature_cases())
def test_bad_eddsa_signature_is_refused(
    make: MakeShell, mixed_issuer: LocalIssuer, mangle: Callable[[bytes], bytes]
) -> None:
    """An Ed25519 signature of the wrong length, non-canonical or zero never verifies."""
    issuer = mixed_issuer
    token = issuer.token(kid="ed")
    signature = decode_segment(segments(token)[2])
    shell = make()
    warm(shell, issuer)
    forged = with_signature(token, mangle(signature))
    reject(shell, forged, InvalidSignatureError, r"signature does not verify .*\(alg EdDSA\)")
    assert shell.verify(token)["iss"] == issuer.issuer
    assert issuer.request_count() == 2


def rsa_signature_cases() -> list[Any]:
    """Hostile RS256 signatures, each made from a genuine one."""
    cases: list[tuple[str, Callable[[bytes], bytes]]] = [
        ("255-bytes", lambda sig: sig[1:]),
        # RFC 8017 §8.2.2 step 1: the signature is exactly k octets, even if the integer
        # value is unchanged by a leading zero.
        ("257-bytes-leading-zero", lambda sig: b"\x00" + sig),
        ("257-bytes-trailing-zero", lambda sig: sig + b"\x00"),
        ("all-zero", lambda sig: bytes(256)),
        ("one", lambda sig: (1).to_bytes(256, "big")),
        ("all-ones", lambda sig: b"\xff" * 256),
        ("one-bit-flipped", lambda sig: sig[:-1] + bytes([sig[-1] ^ 1])),
        ("128-bytes", lambda sig: sig[:128]),
    ]
    return [pytest.param(mangle, id=name) for name, mangle in cases]


@pytest.mark.parametrize("mangle", rsa_signature_cases())
def test_bad_rsa_signature_is_refused(
    make: MakeShell, mixed_issuer: LocalIssuer, mangle: Callable[[bytes], bytes]
) -> None:
    """An RS256 signature of the wrong length, all zero or tampered never verifies."""
    issuer = mixed_issuer
    token = issuer.token(kid="rsa")
    signature = decode_segment(segments(token)[2])
    shell = make()
    warm(shell, issuer)
    forged = with_signature(token, mangle(signature))
    reject(shell, forged, InvalidSignatureError, r"signature does not verify .*\(alg RS256\)")
    assert shell.verify(token)["iss"] == issuer.issuer
    assert issuer.request_count() == 2


def test_pss_signature_under_an_rs256_header_is_refused(
    make: MakeShell, mixed_issuer: LocalIssuer
) -> None:
    """A genuine PS256 signature relabelled RS256 never verifies (padding is not guessed)."""
    issuer = mixed_issuer
    pss = issuer.sign(
        header_of(issuer, alg="RS256", kid="rsa"), claims_of(issuer), kid="rsa", alg="PS256"
    )
    shell = make()
    warm(shell, issuer)
    reject(shell, pss, InvalidSignatureError, r"signature does not verify .*\(alg RS256\)")


def date_cases() -> list[Any]:
    """(claim, JSON literal, expected error or None, message) for exp, nbf and iat."""
    huge = "1" + "0" * 400
    cases: list[Any] = []
    for claim in ("exp", "nbf", "iat"):
        future = NotYetValidError if claim != "exp" else None
        past = ExpiredTokenError if claim == "exp" else None
        table: list[tuple[str, str, Any, str]] = [
            (
                "true",
                "bool",
                InvalidClaimError,
                rf"'{claim}' must be a number of seconds, not a boolean",
            ),
            ("false", "false", InvalidClaimError, r"not a boolean"),
            ('"1700000000"', "string", InvalidClaimError, r"not a string"),
            ("null", "null", InvalidClaimError, r"not null"),
            ("[1700000000]", "array", InvalidClaimError, r"not an array"),
            ('{"$date":1}', "object", InvalidClaimError, r"not an object"),
            ("NaN", "NaN", MalformedTokenError, r"payload holds NaN, which is not a JSON number"),
            ("Infinity", "Infinity", MalformedTokenError, r"holds Infinity, which is not"),
            ("-Infinity", "-Infinity", MalformedTokenError, r"holds -Infinity, which is not"),
            ("1e400", "1e400", MalformedTokenError, r"a number that overflows to infinity"),
            ("-1e400", "-1e400", MalformedTokenError, r"a number that overflows to infinity"),
            ("9" * 4301, "4301-digits", MalformedTokenError, r"integer of more than 4300 digits"),
            # 10**400 and -10**400 are exact integers: compared without overflow.
            (huge, "10**400", future, r"after year 9999"),
            ("-" + huge, "-10**400", past, r"before year 1"),
            ("1e308", "1e308", future, r"after year 9999"),
        ]
        for literal, name, error, match in table:
            cases.append(pytest.param(claim, literal, error, match, id=f"{claim}-{name}"))
    return cases


@pytest.mark.parametrize(("claim", "literal", "error", "match"), date_cases())
def test_hostile_numeric_dates(
    make: MakeShell,
    issuer: LocalIssuer,
    claim: str,
    literal: str,
    error: type[InvalidTokenError] | None,
    match: str,
) -> None:
    """exp, nbf and iat that are not finite JSON numbers are refused; huge ones compare exactly."""
    # RFC 7519 §2 (NumericDate is a JSON number) and RFC 8725 §3.11 spirit: one meaning.
    token = signed_raw(issuer, raw_payload(issuer, claim, literal))
    shell = make()
    if error is None:
        # A signed far-future exp or far-past nbf/iat is the issuer's choice, not an error.
        assert shell.verify(token)[claim] == json.loads(literal)
        return
    exc = reject(shell, token, error, match)
    if isinstance(exc, InvalidClaimError):
        assert exc.claim == claim
    if error is MalformedTokenError:
        assert issuer.request_count() == 0


AUDIENCES: list[Any] = [
    pytest.param(None, InvalidAudienceError, r"not null", id="null"),
    pytest.param(42, InvalidAudienceError, r"not a number", id="number"),
    pytest.param(True, InvalidAudienceError, r"not a boolean", id="bool"),
    pytest.param({"aud": AUD}, InvalidAudienceError, r"not an object", id="object"),
    pytest.param(
        [[AUD]], InvalidAudienceError, r"array holds a value that is not a string", id="nested"
    ),
    pytest.param(
        [AUD, None], InvalidAudienceError, r"holds a value that is not a string", id="with-null"
    ),
    pytest.param(
        [AUD, 1], InvalidAudienceError, r"holds a value that is not a string", id="with-number"
    ),
    pytest.param([], InvalidAudienceError, r"not an empty array", id="empty-list"),
    pytest.param("", InvalidAudienceError, r"names none of the expected", id="empty-string"),
    pytest.param(
        AUD + "/", InvalidAudienceError, r"names none of the expected", id="trailing-slash"
    ),
    pytest.param(AUD.upper(), InvalidAudienceError, r"names none of the expected", id="upper-case"),
    pytest.param(
        f"{AUD} ", InvalidAudienceError, r"names none of the expected", id="trailing-space"
    ),
    pytest.param(OMIT, MissingClaimError, r"token has no 'aud' claim", id="missing"),
]


@pytest.mark.parametrize(("aud", "error", "match"), AUDIENCES)
def test_hostile_audience_is_refused(
    make: MakeShell, issuer: LocalIssuer, aud: Any, error: Any, match: str
) -> None:
    """An aud that is null, a number, nested, holds a non-string or names no audience is refused."""
    # RFC 7519 §4.1.3 and RFC 8725 §3.9 (cross-JWT confusion: check the audience).
    exc = reject(make(), issuer.token({"aud": aud}), error, match)
    assert isinstance(exc, InvalidClaimError)
    assert exc.claim == "aud"


def issuer_cases() -> list[Any]:
    """Issuers that differ from the configured one, as functions of it."""
    return [
        pytest.param(
            lambda url: url + "/",
            InvalidIssuerError,
            r"is not the expected issuer",
            id="trailing-slash",
        ),
        pytest.param(
            lambda url: url.upper(),
            InvalidIssuerError,
            r"is not the expected issuer",
            id="upper-case",
        ),
        pytest.param(
            lambda url: "HTTP" + url[4:], InvalidIssuerError, r"not the expected", id="scheme-case"
        ),
        pytest.param(
            lambda url: " " + url, InvalidIssuerError, r"not the expected", id="leading-space"
        ),
        pytest.param(
            lambda url: url + "\x00", InvalidIssuerError, r"not the expected", id="nul-suffix"
        ),
        pytest.param(
            lambda url: url.replace("127.0.0.1", "localhost"),
            InvalidIssuerError,
            r"not the expected",
            id="other-host",
        ),
        pytest.param(
            lambda url: [url],
            InvalidIssuerError,
            r"'iss' must be a string, not an array",
            id="list",
        ),
        pytest.param(
            lambda url: None, InvalidIssuerError, r"'iss' must be a string, not null", id="null"
        ),
        pytest.param(
            lambda url: OMIT, MissingClaimError, r"token has no 'iss' claim", id="missing"
        ),
    ]


@pytest.mark.parametrize(("iss", "error", "match"), issuer_cases())
def test_issuer_that_is_not_exactly_equal_is_refused(
    make: MakeShell, issuer: LocalIssuer, iss: Callable[[str], Any], error: Any, match: str
) -> None:
    """An iss differing by a trailing slash, case, spacing or type is refused (exact match)."""
    # RFC 8725 §3.8: validate the issuer exactly; OpenID Connect Core §3.1.3.7 step 2.
    exc = reject(make(), issuer.token({"iss": iss(issuer.issuer)}), error, match)
    assert isinstance(exc, InvalidClaimError)
    assert exc.claim == "iss"


@pytest.mark.parametrize(
    ("typ", "match"),
    [
        pytest.param("JWT", r"token type 'JWT' is not the expected 'at\+jwt'", id="JWT"),
        pytest.param("application/jwt", r"not the expected 'at\+jwt'", id="application-jwt"),
        pytest.param("at+jwt+evil", r"not the expected", id="suffix"),
        pytest.param("dpop+jwt", r"not the expected", id="other-type"),
        pytest.param("", r"token type '' is not the expected", id="empty"),
        pytest.param(OMIT, r"token has no 'typ' header; expected 'at\+jwt'", id="missing"),
    ],
)
def test_wrong_or_missing_typ_is_refused(
    make: MakeShell, issuer: LocalIssuer, typ: Any, match: str
) -> None:
    """With token_type set, a missing or different header typ is refused."""
    # RFC 8725 §3.11 (explicit typing) and RFC 9068 §4 (at+jwt).
    shell = make(token_type="at+jwt")
    exc = reject(shell, issuer.token(header={"typ": typ}), InvalidTokenTypeError, match)
    assert isinstance(exc, InvalidTokenTypeError)
    assert exc.expected == "at+jwt"
    assert exc.actual == (None if typ is OMIT else typ)


def test_typ_is_compared_case_insensitively_with_optional_prefix(
    make: MakeShell, issuer: LocalIssuer
) -> None:
    """The expected typ matches regardless of case and of an application/ prefix."""
    # RFC 7515 §4.1.9: media type names are case-insensitive; the prefix may be omitted.
    shell = make(token_type="at+jwt")
    assert shell.verify(issuer.token(header={"typ": "application/AT+JWT"}))["iss"] == issuer.issuer


def test_non_string_typ_is_malformed(make: MakeShell, issuer: LocalIssuer) -> None:
    """A header typ that is not a string is malformed, whatever token_type says."""
    token = issuer.token(header={"typ": ["at+jwt"]})
    assert_no_io(
        make(token_type="at+jwt"), issuer, token, MalformedTokenError, r"'typ' must be a string"
    )
