"""Tests of the strict compact JWS parser and header rules."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey

from jwks_client._errors import AlgorithmNotAllowedError, MalformedTokenError
from jwks_client._token import (
    HEADER_MEMO_SIZE,
    MAX_JSON_DEPTH,
    MAX_KID_LENGTH,
    MAX_MEMO_HEADER_CHARS,
    MAX_TOKEN_LENGTH,
    HeaderMemo,
    ParsedToken,
    b64url_decode,
    loads_strict,
    parse_token,
)
from jwks_client._types import DEFAULT_ALGORITHMS

ALGS = DEFAULT_ALGORITHMS
HEADER = {"alg": "RS256", "kid": "key-1", "typ": "at+jwt"}
CLAIMS = {"iss": "https://issuer.example", "aud": ["api"], "exp": 1_704_067_200, "sub": "u1"}
SIGNATURE = b"\x01\x02signature\xff"


def b64(data: bytes) -> str:
    """Encode bytes as unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode(value: Any) -> bytes:
    """Encode a JSON value, or pass raw bytes through."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value).encode("utf-8")


def make_token(
    header: Any = None,
    payload: Any = None,
    signature: bytes = SIGNATURE,
) -> str:
    """Build a compact JWS from a header, a payload and signature bytes."""
    header = HEADER if header is None else header
    payload = CLAIMS if payload is None else payload
    return f"{b64(encode(header))}.{b64(encode(payload))}.{b64(signature)}"


def with_header(**members: Any) -> str:
    """Build a token whose header is HEADER updated with ``members``."""
    return make_token({**HEADER, **members})


def nested(depth: int) -> bytes:
    """Return a JSON array nested ``depth`` levels deep."""
    return b"[" * depth + b"]" * depth


VALID = make_token()
HEADER_B64, PAYLOAD_B64, SIGNATURE_B64 = VALID.split(".")


# --- valid tokens --------------------------------------------------------------------


def test_valid_token_is_parsed_into_its_parts() -> None:
    """A valid token yields its header, claims, signing input, signature, alg, kid and typ."""
    parsed = parse_token(VALID, algorithms=ALGS)
    assert parsed == ParsedToken(
        header=HEADER,
        claims=CLAIMS,
        signing_input=f"{HEADER_B64}.{PAYLOAD_B64}".encode("ascii"),
        signature=SIGNATURE,
        alg="RS256",
        kid="key-1",
        typ="at+jwt",
    )


def test_bytes_token_parses_like_the_text() -> None:
    """An ASCII bytes token parses to the same result as its text form."""
    assert parse_token(VALID.encode("ascii"), algorithms=ALGS) == parse_token(
        VALID, algorithms=ALGS
    )


def test_absent_kid_and_typ_are_none() -> None:
    """A header with only alg gives kid and typ of None."""
    parsed = parse_token(make_token({"alg": "ES256"}), algorithms=ALGS)
    assert (parsed.alg, parsed.kid, parsed.typ) == ("ES256", None, None)


def test_key_bearing_and_unknown_header_members_are_ignored() -> None:
    """jwk, jku, x5u, x5c, x5t and unknown members do not stop parsing and change nothing."""
    members = {
        "jwk": {"kty": "oct", "k": "c2VjcmV0"},
        "jku": "https://attacker.example/jwks",
        "x5u": "https://attacker.example/cert",
        "x5c": ["MIIB"],
        "x5t": "abc",
        "x5t#S256": "def",
        "zip": "DEF",
        "custom": {"nested": [1, 2, 3]},
    }
    parsed = parse_token(with_header(**members), algorithms=ALGS)
    assert parsed.kid == "key-1"
    assert parsed.alg == "RS256"
    assert parsed.header["jku"] == "https://attacker.example/jwks"


@pytest.mark.parametrize(
    "kid",
    ["k", "x" * MAX_KID_LENGTH, "clé-ünïcode", "with space", "a/b+c=d"],
    ids=["one-char", "max-length", "unicode", "space", "punctuation"],
)
def test_acceptable_kids_are_returned(kid: str) -> None:
    """A non-empty printable kid of at most MAX_KID_LENGTH characters is returned as is."""
    assert parse_token(with_header(kid=kid), algorithms=ALGS).kid == kid


@pytest.mark.parametrize("cty", ["json", "application/json", "JWS"])
def test_content_types_other_than_jwt_are_accepted(cty: str) -> None:
    """A string cty that does not announce a nested JWT is accepted."""
    assert parse_token(with_header(cty=cty), algorithms=ALGS).header["cty"] == cty


def test_only_the_given_algorithms_are_accepted() -> None:
    """The algorithms argument is the allowlist: an alg in it parses."""
    token = with_header(alg="ES256K")
    assert parse_token(token, algorithms=frozenset({"ES256K"})).alg == "ES256K"


def test_max_length_is_inclusive() -> None:
    """A token exactly max_length long parses; one character less of allowance rejects it."""
    assert parse_token(VALID, algorithms=ALGS, max_length=len(VALID)).alg == "RS256"
    with pytest.raises(MalformedTokenError, match=f"longer than {len(VALID) - 1} characters"):
        parse_token(VALID, algorithms=ALGS, max_length=len(VALID) - 1)


def test_nesting_at_the_depth_limit_is_accepted() -> None:
    """A payload nested exactly MAX_JSON_DEPTH levels deep (the object counts) parses."""
    payload = b'{"a":' + nested(MAX_JSON_DEPTH - 1) + b"}"
    claims = parse_token(make_token(payload=payload), algorithms=ALGS).claims
    assert claims == {"a": json.loads(nested(MAX_JSON_DEPTH - 1))}


def test_many_shallow_brackets_and_bracketed_strings_are_accepted() -> None:
    """Many sibling arrays and brackets inside strings do not count as depth."""
    payload = {"a": [[] for _ in range(200)], "b": "[[[[{{{{" * 50, "c": '\\"[[[' * 20}
    assert parse_token(make_token(payload=payload), algorithms=ALGS).claims == payload


def test_joserfc_signed_token_parses_and_its_signature_verifies() -> None:
    """A token signed by joserfc parses, and its signature verifies over the signing input."""
    key = ECKey.generate_key("P-256")
    token = jws.serialize_compact(
        {"alg": "ES256", "kid": "ec-1", "typ": "JWT"}, json.dumps(CLAIMS), key
    )
    parsed = parse_token(token, algorithms=ALGS)
    assert (parsed.alg, parsed.kid, parsed.typ, parsed.claims) == ("ES256", "ec-1", "JWT", CLAIMS)
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode("ascii")
    assert len(parsed.signature) == 64
    r = int.from_bytes(parsed.signature[:32], "big")
    s = int.from_bytes(parsed.signature[32:], "big")
    public_key = key.get_op_key("verify")
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(encode_dss_signature(r, s), parsed.signing_input, ec.ECDSA(hashes.SHA256()))


def test_payload_with_paired_surrogate_escape_is_accepted() -> None:
    """A correctly paired UTF-16 surrogate escape decodes to its character."""
    parsed = parse_token(make_token(payload=b'{"n":"\\ud83d\\ude00"}'), algorithms=ALGS)
    assert parsed.claims == {"n": "\U0001f600"}


# --- malformed tokens ----------------------------------------------------------------

MALFORMED_INPUT = [
    ("none", None, "expected str or bytes, not NoneType"),
    ("int", 123, "expected str or bytes, not int"),
    ("bytearray", bytearray(VALID, "ascii"), "expected str or bytes, not bytearray"),
    ("list", [VALID], "expected str or bytes, not list"),
    ("non-ascii-bytes", VALID.encode("ascii") + b"\xff", "not ASCII"),
    ("too-long-str", "a" * (MAX_TOKEN_LENGTH + 1), f"longer than {MAX_TOKEN_LENGTH} characters"),
    ("too-long-bytes", b"a" * (MAX_TOKEN_LENGTH + 1), f"longer than {MAX_TOKEN_LENGTH} bytes"),
    ("too-long-garbage", "\x00" * (MAX_TOKEN_LENGTH + 1), "longer than"),
    ("empty", "", "empty"),
    ("one-segment", HEADER_B64, "expected 3 dot-separated segments, found 1"),
    ("two-segments", f"{HEADER_B64}.{PAYLOAD_B64}", "found 2"),
    ("four-segments", f"{VALID}.{SIGNATURE_B64}", "found 4"),
    ("trailing-dot", VALID + ".", "found 4"),
    ("jwe", "a.b.c.d.e", r"encrypted \(JWE\) tokens are not accepted"),
    ("jwe-empty-key", f"{HEADER_B64}..iv.ct.tag", r"encrypted \(JWE\)"),
    ("json-serialization", json.dumps({"payload": PAYLOAD_B64}), "JWS JSON serialization"),
    ("json-serialization-ws", ' \n{"payload":"x"}', "JWS JSON serialization"),
    ("missing-signature", f"{HEADER_B64}.{PAYLOAD_B64}.", "signature segment is empty"),
    ("missing-header", f".{PAYLOAD_B64}.{SIGNATURE_B64}", "header segment is empty"),
    ("missing-payload", f"{HEADER_B64}..{SIGNATURE_B64}", "payload segment is empty"),
    ("only-dots", "..", "header segment is empty"),
    ("space-inside", f"{HEADER_B64[:4]} {HEADER_B64[4:]}.{PAYLOAD_B64}.{SIGNATURE_B64}", "white"),
    ("leading-space", " " + VALID, "whitespace"),
    ("trailing-newline", VALID + "\n", "whitespace"),
    ("tab-in-signature", f"{HEADER_B64}.{PAYLOAD_B64}.\t{SIGNATURE_B64}", "whitespace"),
    ("padding", f"{HEADER_B64}.{PAYLOAD_B64}.{SIGNATURE_B64}==", "padding '=' is not allowed"),
    ("plus", f"{HEADER_B64}.{PAYLOAD_B64}.ab+c", "invalid character"),
    ("slash", f"{HEADER_B64}.{PAYLOAD_B64}.ab/c", "invalid character"),
    ("star-in-header", f"*{HEADER_B64}.{PAYLOAD_B64}.{SIGNATURE_B64}", "invalid character"),
    ("unicode", f"{HEADER_B64}.{PAYLOAD_B64}.abcé", "invalid character"),
    ("length-mod-4-is-1", f"{HEADER_B64}.{PAYLOAD_B64}.abcde", "invalid base64url length"),
    ("non-canonical", f"{HEADER_B64}.{PAYLOAD_B64}.QR", "non-canonical base64url"),
    ("bad-signature-names-part", f"{HEADER_B64}.{PAYLOAD_B64}.a+", r"\(in the signature\)"),
    ("bad-payload-names-part", f"{HEADER_B64}.a+b.{SIGNATURE_B64}", r"\(in the payload\)"),
]


@pytest.mark.parametrize(
    ("token", "match"),
    [(token, match) for _, token, match in MALFORMED_INPUT],
    ids=[name for name, _, _ in MALFORMED_INPUT],
)
def test_malformed_input_is_rejected(token: Any, match: str) -> None:
    """Wrong types, sizes, segment counts and base64url are MalformedTokenError."""
    with pytest.raises(MalformedTokenError, match=match) as excinfo:
        parse_token(token, algorithms=ALGS)
    assert type(excinfo.value) is MalformedTokenError


MALFORMED_JSON = [
    ("header-not-json", b"{alg:RS256}", None, "header is not valid JSON"),
    ("header-array", b'["RS256"]', None, "header is not a JSON object but an array"),
    ("header-string", b'"RS256"', None, "header is not a JSON object but a string"),
    ("header-bom", b'\xef\xbb\xbf{"alg":"RS256"}', None, "header starts with a byte order mark"),
    ("header-not-utf8", b'{"alg":"RS256","x":"\xc3\x28"}', None, "header is not valid UTF-8"),
    ("header-utf16", '{"alg":"RS256"}'.encode("utf-16"), None, "header"),
    (
        "header-duplicate-alg",
        b'{"alg":"RS256","alg":"none"}',
        None,
        "header has a duplicate member name 'alg'",
    ),
    ("header-duplicate-kid", b'{"alg":"RS256","kid":"a","kid":"b"}', None, "duplicate .*'kid'"),
    ("header-deep", b'{"alg":"RS256","x":' + nested(40) + b"}", None, "header nests deeper"),
    ("header-trailing-data", b'{"alg":"RS256"} x', None, "header is not valid JSON"),
    ("payload-duplicate", None, b'{"exp":1,"exp":2}', "payload has a duplicate member name 'exp'"),
    (
        "payload-nested-duplicate",
        None,
        b'{"a":{"b":1,"b":1}}',
        "payload has a duplicate member name 'b'",
    ),
    ("payload-not-utf8", None, b'{"sub":"\xff\xfe"}', "payload is not valid UTF-8"),
    ("payload-surrogate-utf8", None, b'{"sub":"\xed\xa0\x80"}', "payload is not valid UTF-8"),
    ("payload-nan", None, b'{"exp":NaN}', "payload holds NaN, which is not a JSON number"),
    ("payload-infinity", None, b'{"exp":Infinity}', "payload holds Infinity"),
    ("payload-minus-infinity", None, b'{"exp":-Infinity}', "payload holds -Infinity"),
    ("payload-float-overflow", None, b'{"exp":1e999}', "overflows to infinity"),
    ("payload-negative-overflow", None, b'{"exp":-1.5e400}', "overflows to infinity"),
    ("payload-huge-int", None, b'{"exp":' + b"9" * 4301 + b"}", "integer of more than 4300"),
    ("payload-array", None, b"[1,2]", "payload is not a JSON object but an array"),
    ("payload-null", None, b"null", "payload is not a JSON object but null"),
    ("payload-number", None, b"1704067200", "payload is not a JSON object but a number"),
    ("payload-empty-json", None, b" ", "payload is not valid JSON"),
    ("payload-deep-10000", None, nested(10_000), "payload nests deeper than 32 levels"),
    ("payload-deep-objects", None, b'{"a":' * 4_000 + b"1" + b"}" * 4_000, "nests deeper"),
    ("payload-unclosed-10000", None, b"[" * 10_000, "payload nests deeper"),
    ("payload-depth-33", None, b'{"a":' + nested(MAX_JSON_DEPTH) + b"}", "nests deeper than 32"),
    ("payload-lone-surrogate", None, b'{"sub":"\\ud800"}', "unpaired UTF-16 surrogate"),
    ("payload-lone-low-surrogate", None, b'{"sub":"x\\uDC00y"}', "unpaired UTF-16 surrogate"),
    ("payload-bom", None, b"\xef\xbb\xbf{}", "payload starts with a byte order mark"),
]


@pytest.mark.parametrize(
    ("header", "payload", "match"),
    [(header, payload, match) for _, header, payload, match in MALFORMED_JSON],
    ids=[name for name, _, _, _ in MALFORMED_JSON],
)
def test_non_strict_json_is_rejected(header: Any, payload: Any, match: str) -> None:
    """Header and payload must be strict JSON objects; violations are MalformedTokenError."""
    token = make_token(header, payload)
    assert len(token) <= MAX_TOKEN_LENGTH
    with pytest.raises(MalformedTokenError, match=match) as excinfo:
        parse_token(token, algorithms=ALGS)
    assert type(excinfo.value) is MalformedTokenError


MALFORMED_HEADER = [
    ("alg-int", {"alg": 256}, "header 'alg' must be a string, not a number"),
    ("alg-null", {"alg": None}, "header 'alg' must be a string, not null"),
    ("alg-list", {"alg": ["RS256"]}, "header 'alg' must be a string, not an array"),
    ("alg-object", {"alg": {"name": "RS256"}}, "header 'alg' must be a string, not an object"),
    ("alg-bool", {"alg": True}, "header 'alg' must be a string, not a boolean"),
    ("kid-empty", {**HEADER, "kid": ""}, "header 'kid' is empty"),
    ("kid-too-long", {**HEADER, "kid": "k" * (MAX_KID_LENGTH + 1)}, "longer than 256"),
    ("kid-newline", {**HEADER, "kid": "a\nb"}, r"'a\\nb' holds non-printable"),
    ("kid-nul", {**HEADER, "kid": "a\x00"}, "non-printable"),
    ("kid-del", {**HEADER, "kid": "a\x7f"}, "non-printable"),
    ("kid-line-separator", {**HEADER, "kid": "a\u2028"}, "non-printable"),
    ("kid-lone-surrogate-escape", b'{"alg":"RS256","kid":"\\udfff"}', "surrogate"),
    ("kid-int", {**HEADER, "kid": 1}, "header 'kid' must be a string, not a number"),
    ("kid-null", {**HEADER, "kid": None}, "header 'kid' must be a string, not null"),
    ("typ-int", {**HEADER, "typ": 1}, "header 'typ' must be a string, not a number"),
    ("cty-list", {**HEADER, "cty": ["JWT"]}, "header 'cty' must be a string, not an array"),
    ("cty-jwt", {**HEADER, "cty": "JWT"}, r"nested JWTs \(cty 'JWT'\) are not accepted"),
    ("cty-jwt-lower", {**HEADER, "cty": "jwt"}, "nested JWTs"),
    ("cty-application-jwt", {**HEADER, "cty": "application/JWT"}, "nested JWTs"),
    ("crit-unknown", {**HEADER, "crit": ["exp"], "exp": 1}, r"critical header .*: 'exp'"),
    ("crit-two", {**HEADER, "crit": ["a", "b"]}, "parameters: 'a', 'b'$"),
    ("crit-many", {**HEADER, "crit": [str(i) for i in range(9)]}, r"'4', \.\.\.$"),
    ("crit-b64", {**HEADER, "crit": ["b64"], "b64": False}, "critical header .*'b64'"),
    ("crit-empty", {**HEADER, "crit": []}, "'crit' must be a non-empty array of unique"),
    ("crit-string", {**HEADER, "crit": "exp"}, "'crit' must be a non-empty array"),
    ("crit-non-string", {**HEADER, "crit": [1]}, "'crit' must be a non-empty array"),
    ("crit-duplicate", {**HEADER, "crit": ["a", "a"]}, "array of unique strings"),
    ("crit-null", {**HEADER, "crit": None}, "'crit' must be"),
    ("b64-false", {**HEADER, "b64": False}, r"unencoded payloads \(header 'b64', RFC 7797\)"),
    ("b64-true", {**HEADER, "b64": True}, "RFC 7797"),
]


@pytest.mark.parametrize(
    ("header", "match"),
    [(header, match) for _, header, match in MALFORMED_HEADER],
    ids=[name for name, _, _ in MALFORMED_HEADER],
)
def test_header_rule_violations_are_malformed(header: Any, match: str) -> None:
    """Header members of the wrong type or value, crit and b64 are MalformedTokenError."""
    with pytest.raises(MalformedTokenError, match=match) as excinfo:
        parse_token(make_token(header), algorithms=ALGS)
    assert type(excinfo.value) is MalformedTokenError


# --- algorithms ----------------------------------------------------------------------

NOT_ALLOWED = [
    ("missing", {"typ": "JWT"}, ALGS, None, "token header has no 'alg'"),
    ("none", {"alg": "none"}, ALGS, "none", r"alg 'none'"),
    ("None", {"alg": "None"}, ALGS | {"None"}, "None", r"alg 'none'"),
    ("NONE-allowlisted", {"alg": "NONE"}, frozenset({"NONE"}), "NONE", "unsecured"),
    ("nOnE", {"alg": "nOnE"}, ALGS, "nOnE", "unsecured"),
    ("HS256", {"alg": "HS256"}, ALGS, "HS256", "symmetric algorithm 'HS256'"),
    ("HS256-allowlisted", {"alg": "HS256"}, frozenset({"HS256"}), "HS256", "symmetric"),
    ("hs512-allowlisted", {"alg": "hs512"}, frozenset({"hs512"}), "hs512", "symmetric"),
    ("not-in-allowlist", {"alg": "RS256"}, frozenset({"ES256"}), "RS256", "'RS256' is not all"),
    ("ES256K-by-default", {"alg": "ES256K"}, ALGS, "ES256K", "'ES256K' is not allowed"),
    ("empty", {"alg": ""}, ALGS, "", "algorithm '' is not allowed"),
    ("wrong-case", {"alg": "rs256"}, ALGS, "rs256", "'rs256' is not allowed"),
    ("unknown", {"alg": "XYZ"}, ALGS, "XYZ", "'XYZ' is not allowed"),
]


@pytest.mark.parametrize(
    ("header", "algorithms", "alg", "match"),
    [(header, algorithms, alg, match) for _, header, algorithms, alg, match in NOT_ALLOWED],
    ids=[name for name, *_ in NOT_ALLOWED],
)
def test_disallowed_algorithms_are_rejected(
    header: dict[str, Any], algorithms: frozenset[str], alg: str | None, match: str
) -> None:
    """A missing alg, none in any case, HS* and algorithms off the list are not allowed."""
    with pytest.raises(AlgorithmNotAllowedError, match=match) as excinfo:
        parse_token(make_token(header), algorithms=algorithms)
    assert excinfo.value.alg == alg


def test_long_alg_is_truncated_in_the_message() -> None:
    """A long alg value appears only as a short excerpt in the message."""
    alg = "A" * 5_000
    with pytest.raises(AlgorithmNotAllowedError) as excinfo:
        parse_token(make_token({"alg": alg}), algorithms=ALGS)
    assert excinfo.value.alg == alg
    assert len(str(excinfo.value)) < 100


def test_messages_never_contain_the_token() -> None:
    """Error messages quote neither the token nor any whole segment of it."""
    token = make_token({**HEADER, "kid": "k" * 300}, {"secret": "s" * 200})
    with pytest.raises(MalformedTokenError) as excinfo:
        parse_token(token, algorithms=ALGS)
    message = str(excinfo.value)
    assert token not in message
    assert "k" * 50 not in message
    assert len(message) < 100


# --- order of checks -----------------------------------------------------------------


def test_header_is_judged_before_payload_and_signature() -> None:
    """A refused alg is reported even when the payload and signature are garbage."""
    token = f"{b64(encode({'alg': 'HS256'}))}.!!!.=="
    with pytest.raises(AlgorithmNotAllowedError):
        parse_token(token, algorithms=ALGS)


def test_signature_is_judged_before_payload() -> None:
    """An empty signature is reported before an invalid payload is decoded."""
    token = f"{HEADER_B64}.{b64(b'not json')}."
    with pytest.raises(MalformedTokenError, match="signature segment is empty"):
        parse_token(token, algorithms=ALGS)


def test_length_is_checked_before_anything_else() -> None:
    """An overlong token of garbage is refused for its length, not its content."""
    with pytest.raises(MalformedTokenError, match="longer than 10 characters"):
        parse_token("{" * 11, algorithms=ALGS, max_length=10)


def test_alg_is_judged_before_crit_and_kid() -> None:
    """A refused alg wins over crit, b64 and kid violations in the same header."""
    header = {"alg": "none", "crit": ["x"], "b64": False, "kid": ""}
    with pytest.raises(AlgorithmNotAllowedError):
        parse_token(make_token(header), algorithms=ALGS)


# --- b64url_decode and loads_strict --------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "expected"),
    [("", b""), ("QQ", b"A"), ("QUI", b"AB"), ("QUJD", b"ABC"), ("-_8", b"\xfb\xff")],
)
def test_b64url_decode_decodes_canonical_segments(segment: str, expected: bytes) -> None:
    """Canonical unpadded base64url of every length class decodes exactly."""
    assert b64url_decode(segment) == expected


@pytest.mark.parametrize(
    ("segment", "match"),
    [
        ("QR", "non-canonical"),
        ("QUJ", "non-canonical"),
        ("QQ==", "padding"),
        ("Q", "length"),
        ("QUJDR", "length"),
        ("QU JD", "whitespace"),
        ("QUJD\n", "whitespace"),
        ("QU+D", "invalid character"),
        ("QU/D", "invalid character"),
        ("QU.D", "invalid character"),
        ("\uff31\uff31", "invalid character"),
    ],
)
def test_b64url_decode_rejects_non_strict_segments(segment: str, match: str) -> None:
    """Padding, whitespace, foreign characters, bad lengths and spare bits are refused."""
    with pytest.raises(MalformedTokenError, match=match):
        b64url_decode(segment)


def test_b64url_decode_rejects_non_text() -> None:
    """A bytes segment is refused rather than decoded."""
    with pytest.raises(MalformedTokenError, match="must be text"):
        b64url_decode(b"QQ")  # type: ignore[arg-type]


def test_loads_strict_names_the_part_in_messages() -> None:
    """The ``what`` argument names the decoded part in the message."""
    with pytest.raises(MalformedTokenError, match=r"^malformed token: claims-part is not valid"):
        loads_strict(b"{", "claims-part")


def test_loads_strict_returns_the_object() -> None:
    """A strict JSON object decodes to the equal dict, big integers and floats included."""
    data = b'{"a": [1, 2.5, {"b": null}], "n": ' + b"1" * 400 + b', "t": true}'
    assert loads_strict(data, "payload") == {
        "a": [1, 2.5, {"b": None}],
        "n": int("1" * 400),
        "t": True,
    }


def test_loads_strict_survives_hostile_string_escapes() -> None:
    """Escaped quotes that never close a string, with many brackets, are refused, not hung on."""
    data = b"[" * 40 + b'"' + b'\\"' * 12_000
    with pytest.raises(MalformedTokenError, match="payload"):
        loads_strict(data, "payload")


# --- properties ----------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
HEADER_MEMBERS = st.sampled_from(["alg", "kid", "typ", "cty", "crit", "b64", "jwk", "x5c"])
ALG_VALUES = st.sampled_from(["RS256", "ES256", "none", "NoNe", "HS256", "", "EdDSA"])
TOKEN_ALPHABET = st.sampled_from(
    list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.={} \n+/")
)


def parse_or_reject(token: Any) -> ParsedToken | None:
    """Parse a token, returning None when it is refused with a library error."""
    try:
        parsed = parse_token(token, algorithms=ALGS)
    except (MalformedTokenError, AlgorithmNotAllowedError) as exc:
        assert len(str(exc)) < 200
        return None
    assert isinstance(parsed, ParsedToken)
    assert parsed.alg in ALGS
    assert parsed.signature
    return parsed


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_parses_or_raises_library_errors(token: str) -> None:
    """Any text yields a ParsedToken or one of the two library errors, nothing else."""
    parse_or_reject(token)


@settings(max_examples=200, deadline=None)
@given(st.binary())
def test_any_bytes_parse_or_raise_library_errors(token: bytes) -> None:
    """Any bytes yield a ParsedToken or one of the two library errors, nothing else."""
    parse_or_reject(token)


@settings(max_examples=200, deadline=None)
@given(st.lists(TOKEN_ALPHABET, max_size=80).map("".join))
def test_token_like_text_parses_or_raises_library_errors(token: str) -> None:
    """Text from the token alphabet with dots and braces yields only library errors."""
    parse_or_reject(token)


@settings(max_examples=200, deadline=None)
@given(
    header=st.dictionaries(HEADER_MEMBERS | st.text(max_size=6), JSON_VALUES, max_size=6),
    alg=st.one_of(ALG_VALUES, JSON_VALUES, st.none()),
    payload=JSON_VALUES,
)
def test_fuzzed_header_and_payload_parse_or_raise_library_errors(
    header: dict[str, Any], alg: Any, payload: Any
) -> None:
    """A fuzzed header and any JSON payload in a well-formed token yield only library errors."""
    if alg is not None:
        header = {**header, "alg": alg}
    parsed = parse_or_reject(make_token(header, json.dumps(payload).encode()))
    if parsed is not None:
        assert parsed.header == header
        assert parsed.claims == payload


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_loads_strict_any_bytes_decode_or_raise(data: bytes) -> None:
    """Any bytes decode to a dict or raise MalformedTokenError, nothing else."""
    try:
        result = loads_strict(data, "payload")
    except MalformedTokenError:
        return
    assert isinstance(result, dict)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_b64url_round_trip(data: bytes) -> None:
    """Unpadded base64url of any bytes decodes back to them."""
    assert b64url_decode(b64(data)) == data


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ "))
def test_b64url_decoding_is_canonical(segment: str) -> None:
    """Whatever decodes re-encodes to exactly the same segment (one spelling per value)."""
    try:
        decoded = b64url_decode(segment)
    except MalformedTokenError:
        return
    assert b64(decoded) == segment


# --- the header memo -------------------------------------------------------------------


def _outcome(parse: Any, token: Any) -> Any:
    """What parsing gives: the parsed token, or the error's class and message."""
    try:
        return parse(token)
    except (MalformedTokenError, AlgorithmNotAllowedError) as exc:
        return type(exc), str(exc)


def _plain(token: Any) -> Any:
    return _outcome(lambda t: parse_token(t, algorithms=ALGS, max_length=600), token)


def test_memo_parses_a_known_header_like_parse_token() -> None:
    """Two tokens with one header: the same results as parse_token, one header kept."""
    memo = HeaderMemo(ALGS)
    first = make_token(payload={"sub": "a"}, signature=b"one")
    second = make_token(payload={"sub": "b"}, signature=b"two")
    assert memo.parse(first) == parse_token(first, algorithms=ALGS)
    assert len(memo) == 1
    parsed = memo.parse(second)
    assert parsed == parse_token(second, algorithms=ALGS)
    assert (parsed.claims, parsed.signature) == ({"sub": "b"}, b"two")
    assert len(memo) == 1


def test_memo_keeps_no_refused_or_long_header_and_is_bounded() -> None:
    """A refused header is judged again every time; the memo never outgrows its size."""
    memo = HeaderMemo(ALGS)
    for _ in range(2):
        with pytest.raises(AlgorithmNotAllowedError):
            memo.parse(with_header(alg="HS256"))
    assert len(memo) == 0
    long_header = with_header(note="x" * MAX_MEMO_HEADER_CHARS)
    assert memo.parse(long_header).header["note"] == "x" * MAX_MEMO_HEADER_CHARS
    assert memo.parse(make_token().encode("ascii")).kid == "key-1"  # bytes: not kept
    assert len(memo) == 0
    for index in range(HEADER_MEMO_SIZE + 5):
        assert memo.parse(with_header(kid=f"k{index}")).kid == f"k{index}"
        assert 0 < len(memo) <= HEADER_MEMO_SIZE


def test_memo_still_judges_everything_after_a_known_header() -> None:
    """A known header does not excuse a bad payload, signature, shape or length."""
    memo = HeaderMemo(ALGS, max_length=600)
    memo.parse(make_token())
    head = make_token().split(".")[0]
    for token in (
        f"{head}.{b64(b'not json')}.{b64(SIGNATURE)}",
        f"{head}.e30.",
        f"{head}.e30",
        f"{head}.e30.{b64(SIGNATURE)}.x.y",
        f"{head}.{b64(encode({'a': 1, 'b': 'x' * 600}))}.{b64(SIGNATURE)}",
        f"{head}.{b64(b'[1]')}.{b64(SIGNATURE)}",
    ):
        outcome = _outcome(memo.parse, token)
        assert isinstance(outcome, tuple)
        assert outcome == _plain(token)


_MEMO_HEADERS = [
    HEADER,
    {**HEADER, "kid": "key-2"},
    {"alg": "HS256"},
    {**HEADER, "crit": ["exp"]},
    b'{"alg":"RS256","alg":"RS256"}',
    b"not json",
]
_MEMO_PAYLOADS = [CLAIMS, {"sub": "x"}, b"[]", b'{"a":1,"a":2}', b"{"]
_MEMO_SIGNATURES = [SIGNATURE, b"", b"s" * 64]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_MEMO_HEADERS),
            st.sampled_from(_MEMO_PAYLOADS),
            st.sampled_from(_MEMO_SIGNATURES),
        ),
        max_size=12,
    )
)
def test_memo_agrees_with_parse_token_on_any_sequence(
    parts: list[tuple[Any, Any, bytes]],
) -> None:
    """Whatever came before, the memo gives what parse_token gives, error or token."""
    memo = HeaderMemo(ALGS, max_length=600)
    for header, payload, signature in parts:
        token = make_token(header, payload, signature)
        assert _outcome(memo.parse, token) == _plain(token)


# --- base64url against its definition ----------------------------------------------------

_B64URL_TEXT = re.compile(r"[A-Za-z0-9_-]*")


def _b64url_by_definition(segment: str) -> bytes | None:
    """RFC 7515 base64url, strictly: the alphabet, no padding, a length that is not 1
    modulo 4, zero unused bits; None when the segment is not that."""
    if not _B64URL_TEXT.fullmatch(segment) or len(segment) % 4 == 1:
        return None
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        return None  # unused bits set: not the canonical spelling
    return data


@settings(max_examples=400, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
            + list("0123456789-_+/= \n.\x80é")
        ),
        max_size=24,
    )
)
def test_b64url_decode_is_base64url_by_definition(segment: str) -> None:
    """Whatever the text, b64url_decode gives what the definition gives, or refuses it
    with MalformedTokenError exactly when the definition does."""
    expected = _b64url_by_definition(segment)
    if expected is None:
        with pytest.raises(MalformedTokenError):
            b64url_decode(segment)
    else:
        assert b64url_decode(segment) == expected


def test_padding_that_would_complete_a_segment_is_refused() -> None:
    """'YQ=' would decode once padded to 'YQ==': a segment's own '=' is refused."""
    with pytest.raises(MalformedTokenError, match="padding"):
        b64url_decode("YQ=")
