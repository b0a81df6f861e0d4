"""The message vocabulary: how values, lists and JSON kinds appear in messages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwks_client._errors import InvalidKeySetError, MalformedTokenError
from jwks_client._http import RawResponse, read_jwks
from jwks_client._messages import (
    MAX_INT_DIGITS,
    MAX_LISTED,
    SHOWN_CHARS,
    SHOWN_LONG_CHARS,
    clipped,
    json_kind,
    listed,
    shown,
)
from jwks_client._token import loads_strict
from jwks_client._types import CachePolicy

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


def test_short_values_are_shown_as_their_repr() -> None:
    """A value whose repr fits is shown whole, quotes and escapes included."""
    assert shown("at+jwt") == "'at+jwt'"
    assert shown("a\nb") == "'a\\nb'"
    assert shown(None) == "None"
    assert shown(["sig"]) == "['sig']"


def test_long_values_are_cut_with_an_ellipsis() -> None:
    """A repr longer than the limit is cut to exactly the limit, ending in '...'."""
    text = shown("x" * 10_000)
    assert text == "'" + "x" * (SHOWN_CHARS - 4) + "..."
    assert len(text) == SHOWN_CHARS
    assert len(shown(list(range(1_000)))) == SHOWN_CHARS
    assert shown(b"y" * 500).startswith("b'yyy") and shown(b"y" * 500).endswith("...")


def test_the_limit_is_a_parameter() -> None:
    """URLs and issuers get the longer limit; any limit is honoured."""
    url = "https://issuer.example/" + "p" * 1_000
    assert len(shown(url, SHOWN_LONG_CHARS)) == SHOWN_LONG_CHARS
    assert shown("https://issuer.example/", SHOWN_LONG_CHARS) == "'https://issuer.example/'"
    assert shown("abcdef", 5) == "'a..."


def test_a_value_at_the_limit_is_not_cut() -> None:
    """A repr of exactly the limit is shown whole."""
    value = "z" * (SHOWN_CHARS - 2)
    assert shown(value) == repr(value)


def test_unprintable_values_are_described() -> None:
    """A value nested past the recursion limit, or an int past the digit limit, never raises."""
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    assert shown(nested) == "<deeply nested list>"
    assert shown(10 ** (MAX_INT_DIGITS + 10)) == "<int too long to show>"


def test_clipped_cuts_free_text_without_quoting() -> None:
    """Free text is cut like a repr, without quotes; the ellipsis survives a tiny limit."""
    assert clipped("boom") == "boom"
    assert clipped("e" * 300, 200) == "e" * 197 + "..."
    assert clipped("abcdef", 2) == "..."


@given(value=JSON_VALUES, limit=st.integers(min_value=3, max_value=300))
def test_shown_never_exceeds_its_limit(value: object, limit: int) -> None:
    """Whatever the value, the text shown is at most limit characters."""
    assert len(shown(value, limit)) <= limit


def test_listed_shows_at_most_max_listed_values() -> None:
    """A list shows its first values, each shown, then '...' when there are more."""
    assert listed(["a", "b"]) == "'a', 'b'"
    assert listed([]) == ""
    many = [str(n) for n in range(MAX_LISTED + 3)]
    assert listed(many) == ", ".join(repr(v) for v in many[:MAX_LISTED]) + ", ..."
    assert listed(["x" * 500], most=1) == shown("x" * 500)
    assert listed(iter(range(100)), most=2) == "0, 1, ..."


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (True, "a boolean"),
        (0, "a number"),
        (1.5, "a number"),
        ("", "a string"),
        ([], "an array"),
        ({}, "an object"),
        (b"", "a bytes"),
        (set(), "a set"),
        (frozenset(), "a frozenset"),
        (Exception(), "an Exception"),
    ],
)
def test_json_kind_names_the_kind_with_its_article(value: object, kind: str) -> None:
    """JSON kinds, then other Python types, are named with the right article."""
    assert json_kind(value) == kind


def _jwks_response(body: bytes) -> RawResponse:
    return RawResponse(
        url="https://issuer.example/jwks", status_code=200, headers={}, body=body, received_at=0.0
    )


def test_tokens_and_documents_share_one_integer_digit_cap() -> None:
    """Token JSON and fetched documents both accept MAX_INT_DIGITS digits and refuse one more."""
    longest = b"9" * MAX_INT_DIGITS
    assert loads_strict(b'{"n":' + longest + b"}", "payload")["n"] == int(longest)
    with pytest.raises(MalformedTokenError, match=f"integer of more than {MAX_INT_DIGITS} digits"):
        loads_strict(b'{"n":' + longest + b"9}", "payload")
    with pytest.raises(InvalidKeySetError, match=r"no usable verification key"):
        read_jwks(
            _jwks_response(b'{"keys":[],"n":' + longest + b"}"),
            conditional=False,
            policy=CachePolicy(),
        )
    with pytest.raises(InvalidKeySetError, match=r"is not valid JSON"):
        read_jwks(
            _jwks_response(b'{"keys":[],"n":' + longest + b"9}"),
            conditional=False,
            policy=CachePolicy(),
        )
