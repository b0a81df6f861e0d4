"""Tests of the pure HTTP freshness rules in ``jwks_client._cache_control``."""

from __future__ import annotations

import dataclasses
import json
import math
from email.utils import formatdate
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jwks_client._cache_control import (
    Freshness,
    compute_freshness,
    parse_cache_control,
    parse_http_date,
)
from jwks_client._types import CachePolicy

HEADERS_DIR = Path(__file__).parent / "data" / "headers"

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
POLICY = CachePolicy(default_ttl=600.0, min_ttl=60.0, max_ttl=86_400.0)
WIDE = CachePolicy(default_ttl=600.0, min_ttl=0.0, max_ttl=1e12)


def http_date(timestamp: float) -> str:
    """Format Unix seconds as an IMF-fixdate."""
    return formatdate(timestamp, usegmt=True)


def load_headers(name: str) -> dict[str, str]:
    """Load a recorded header file, dropping the corpus's ``_``-prefixed notes."""
    data = json.loads((HEADERS_DIR / name).read_text(encoding="utf-8"))
    return {key: value for key, value in data.items() if not key.startswith("_")}


# --- compute_freshness: the rule table ---------------------------------------------

CASES: list[tuple[str, dict[str, str], float, str]] = [
    ("max-age", {"Cache-Control": "max-age=3600"}, 3600.0, "max-age"),
    ("max-age minus Age", {"Cache-Control": "max-age=3600", "Age": "100"}, 3500.0, "max-age"),
    ("Age beyond max-age", {"Cache-Control": "max-age=300", "Age": "1000"}, 60.0, "max-age"),
    ("Age equal to max-age", {"Cache-Control": "max-age=3600", "Age": "3600"}, 60.0, "max-age"),
    ("quoted max-age", {"Cache-Control": 'max-age="3600"'}, 3600.0, "max-age"),
    ("leading zeros", {"Cache-Control": "max-age=0003600"}, 3600.0, "max-age"),
    ("no-cache", {"Cache-Control": "no-cache"}, 60.0, "no-cache"),
    (
        "valued no-cache beats max-age",
        {"Cache-Control": 'no-cache="Set-Cookie", max-age=3600'},
        60.0,
        "no-cache",
    ),
    ("no-store", {"Cache-Control": "no-store"}, 60.0, "no-store"),
    ("no-store beats max-age", {"Cache-Control": "max-age=3600, no-store"}, 60.0, "no-store"),
    ("no-store before no-cache", {"Cache-Control": "no-cache, no-store"}, 60.0, "no-store"),
    ("max-age=0", {"Cache-Control": "max-age=0"}, 60.0, "max-age"),
    ("private with max-age", {"Cache-Control": "private, max-age=1200"}, 1200.0, "max-age"),
    ("private alone", {"Cache-Control": "private"}, 600.0, "default"),
    ("public alone", {"Cache-Control": "public, must-revalidate"}, 600.0, "default"),
    ("s-maxage ignored", {"Cache-Control": "s-maxage=5000, max-age=100"}, 100.0, "max-age"),
    ("s-maxage alone ignored", {"Cache-Control": "s-maxage=5000"}, 600.0, "default"),
    (
        "Expires minus Date",
        {"Date": http_date(NOW), "Expires": http_date(NOW + 7200)},
        7200.0,
        "expires",
    ),
    (
        "Expires minus a skewed Date",
        {"Date": http_date(NOW - 10_000), "Expires": http_date(NOW - 10_000 + 7200)},
        7200.0,
        "expires",
    ),
    (
        "Expires minus Date minus Age",
        {"Date": http_date(NOW), "Expires": http_date(NOW + 7200), "Age": "200"},
        7000.0,
        "expires",
    ),
    ("Expires without Date", {"Expires": http_date(NOW + 7200)}, 7200.0, "expires"),
    (
        "Expires with an invalid Date",
        {"Date": "yesterday", "Expires": http_date(NOW + 7200)},
        7200.0,
        "expires",
    ),
    (
        "Expires in the past",
        {"Date": http_date(NOW), "Expires": http_date(NOW - 3600)},
        60.0,
        "expires",
    ),
    ("invalid Expires 0", {"Date": http_date(NOW), "Expires": "0"}, 60.0, "invalid"),
    ("invalid Expires -1", {"Expires": "-1"}, 60.0, "invalid"),
    ("empty Expires", {"Expires": ""}, 60.0, "invalid"),
    (
        "two joined Expires",
        {"Expires": f"{http_date(NOW + 7200)}, {http_date(NOW + 9000)}"},
        60.0,
        "invalid",
    ),
    (
        "max-age beats Expires",
        {"Cache-Control": "max-age=100", "Expires": http_date(NOW + 7200)},
        100.0,
        "max-age",
    ),
    (
        "max-age beats an invalid Expires",
        {"Cache-Control": "max-age=100", "Expires": "0"},
        100.0,
        "max-age",
    ),
    ("max-age=abc", {"Cache-Control": "max-age=abc"}, 60.0, "invalid"),
    ("negative max-age", {"Cache-Control": "max-age=-1"}, 60.0, "invalid"),
    ("fractional max-age", {"Cache-Control": "max-age=1.5"}, 60.0, "invalid"),
    ("empty max-age", {"Cache-Control": "max-age="}, 60.0, "invalid"),
    ("valueless max-age", {"Cache-Control": "max-age"}, 60.0, "invalid"),
    ("non-ASCII digits", {"Cache-Control": "max-age=\u0663\u0666\u0660\u0660"}, 60.0, "invalid"),
    (
        "invalid max-age is not rescued by Expires",
        {"Cache-Control": "max-age=abc", "Expires": http_date(NOW + 7200)},
        60.0,
        "invalid",
    ),
    (
        "conflicting max-age",
        {"Cache-Control": "max-age=100, max-age=200"},
        60.0,
        "invalid",
    ),
    (
        "max-age duplicated with one malformed",
        {"Cache-Control": "max-age=100, max-age=x"},
        60.0,
        "invalid",
    ),
    ("agreeing max-age", {"Cache-Control": "max-age=100, max-age=100"}, 100.0, "max-age"),
    (
        "agreeing max-age spelled differently",
        {"Cache-Control": 'max-age=100, max-age="0100"'},
        100.0,
        "max-age",
    ),
    ("duplicated no-cache", {"Cache-Control": "no-cache, no-cache"}, 60.0, "no-cache"),
    (
        "upper-case names",
        {"CACHE-CONTROL": "PUBLIC, MAX-AGE=3600", "AGE": "600"},
        3000.0,
        "max-age",
    ),
    ("mixed-case no-store", {"cache-control": "No-Store"}, 60.0, "no-store"),
    (
        "mixed-case Expires and Date",
        {"eXpIrEs": http_date(NOW + 7200), "DATE": http_date(NOW)},
        7200.0,
        "expires",
    ),
    ("lower-case dates", {"expires": http_date(NOW + 7200).lower()}, 7200.0, "expires"),
    ("whitespace around =", {"Cache-Control": "max-age = 3600"}, 3600.0, "max-age"),
    ("clamped to max_ttl", {"Cache-Control": "max-age=31536000"}, 86_400.0, "max-age"),
    ("huge max-age", {"Cache-Control": "max-age=" + "9" * 5000}, 86_400.0, "max-age"),
    (
        "huge max-age minus huge Age",
        {"Cache-Control": "max-age=" + "9" * 40, "Age": "9" * 40},
        60.0,
        "max-age",
    ),
    ("clamped to min_ttl", {"Cache-Control": "max-age=5"}, 60.0, "max-age"),
    (
        "Expires far in the future",
        {"Expires": "Fri, 31 Dec 9999 23:59:59 GMT"},
        86_400.0,
        "expires",
    ),
    ("invalid Age ignored", {"Cache-Control": "max-age=3600", "Age": "abc"}, 3600.0, "max-age"),
    ("negative Age ignored", {"Cache-Control": "max-age=3600", "Age": "-5"}, 3600.0, "max-age"),
    (
        "first member of an Age list",
        {"Cache-Control": "max-age=3600", "Age": "100, 200"},
        3500.0,
        "max-age",
    ),
    ("Age alone", {"Age": "100"}, 600.0, "default"),
    ("default when no headers", {}, 600.0, "default"),
    ("default with unrelated headers", {"Content-Type": "application/json"}, 600.0, "default"),
    ("garbage Cache-Control", {"Cache-Control": ',, =, ;;, "x'}, 600.0, "default"),
    ("empty Cache-Control", {"Cache-Control": ""}, 600.0, "default"),
]


@pytest.mark.parametrize(
    ("headers", "lifetime", "source"),
    [pytest.param(headers, lifetime, source, id=name) for name, headers, lifetime, source in CASES],
)
def test_rule_table(headers: dict[str, str], lifetime: float, source: str) -> None:
    """Each row's headers yield the expected clamped lifetime and deciding rule."""
    freshness = compute_freshness(headers, now=NOW, policy=POLICY)
    assert freshness.lifetime == lifetime
    assert freshness.source == source


@pytest.mark.parametrize(
    ("headers", "lifetime", "source"),
    [pytest.param(headers, lifetime, source, id=name) for name, headers, lifetime, source in CASES],
)
def test_rule_table_through_httpx_headers(
    headers: dict[str, str], lifetime: float, source: str
) -> None:
    """An ``httpx.Headers`` gives the same result as the plain dict it was built from."""
    freshness = compute_freshness(httpx.Headers(headers, encoding="utf-8"), now=NOW, policy=POLICY)
    assert (freshness.lifetime, freshness.source) == (lifetime, source)


def test_repeated_cache_control_lines_are_joined_by_httpx() -> None:
    """A ``no-cache`` on a second Cache-Control line wins over ``max-age`` on the first."""
    headers = httpx.Headers([("Cache-Control", "max-age=3600"), ("cache-control", "no-cache")])
    freshness = compute_freshness(headers, now=NOW, policy=POLICY)
    assert (freshness.lifetime, freshness.source) == (60.0, "no-cache")


def test_repeated_max_age_lines_that_disagree_are_invalid() -> None:
    """Two Cache-Control lines with different ``max-age`` values make the response stale."""
    headers = httpx.Headers([("Cache-Control", "max-age=3600"), ("Cache-Control", "max-age=60")])
    freshness = compute_freshness(headers, now=NOW, policy=POLICY)
    assert (freshness.lifetime, freshness.source) == (60.0, "invalid")


def test_dict_names_differing_only_by_case_are_joined() -> None:
    """Dict keys that differ only by case are joined like repeated fields, in order."""
    headers = {"Cache-Control": "max-age=3600", "Age": "100", "age": "200"}
    freshness = compute_freshness(headers, now=NOW, policy=POLICY)
    assert freshness.lifetime == 3500.0


def test_default_ttl_is_clamped_too() -> None:
    """A default_ttl outside [min_ttl, max_ttl] is clamped like any lifetime."""
    low = CachePolicy(default_ttl=10.0, min_ttl=60.0, max_ttl=120.0)
    high = CachePolicy(default_ttl=1_000.0, min_ttl=60.0, max_ttl=120.0)
    assert compute_freshness({}, now=NOW, policy=low).lifetime == 60.0
    assert compute_freshness({}, now=NOW, policy=high).lifetime == 120.0


def test_unclamped_values_show_with_a_wide_policy() -> None:
    """With wide bounds the raw arithmetic shows: max-age minus Age, Expires minus Date."""
    assert compute_freshness({"Cache-Control": "max-age=5"}, now=NOW, policy=WIDE).lifetime == 5.0
    past = {"Date": http_date(NOW), "Expires": http_date(NOW - 3600)}
    assert compute_freshness(past, now=NOW, policy=WIDE).lifetime == 0.0
    huge = {"Cache-Control": "max-age=" + "1" + "0" * 30}
    assert compute_freshness(huge, now=NOW, policy=WIDE).lifetime == float(2**31)


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_non_finite_now_with_expires_gives_min_ttl(now: float) -> None:
    """Expires without Date measured from a non-finite ``now`` gives min_ttl, never max_ttl."""
    headers = {"Expires": http_date(NOW + 7200)}
    assert compute_freshness(headers, now=now, policy=POLICY).lifetime == 60.0


# --- validators; RFC 5861 directives are ignored ---------------------------------------


@pytest.mark.parametrize("etag", ['"abc123"', 'W/"abc123"', '"with, comma"'])
def test_etag_is_captured_as_sent(etag: str) -> None:
    """Strong and weak ETags are returned exactly as sent."""
    headers = {"ETag": etag, "Cache-Control": "max-age=3600"}
    assert compute_freshness(headers, now=NOW, policy=POLICY).etag == etag


def test_validators_are_captured_whatever_rule_applies() -> None:
    """ETag and Last-Modified are kept even when no-store decided the lifetime."""
    headers = {
        "cache-control": "no-store",
        "etag": '"v1"',
        "LAST-MODIFIED": "Sat, 12 Nov 2022 19:58:26 GMT",
    }
    freshness = compute_freshness(headers, now=NOW, policy=POLICY)
    assert freshness.etag == '"v1"'
    assert freshness.last_modified == "Sat, 12 Nov 2022 19:58:26 GMT"
    assert freshness.source == "no-store"


@pytest.mark.parametrize("value", ["", "   "])
def test_empty_validators_are_none(value: str) -> None:
    """Empty ETag and Last-Modified values count as absent."""
    headers = {"ETag": value, "Last-Modified": value}
    freshness = compute_freshness(headers, now=NOW, policy=POLICY)
    assert (freshness.etag, freshness.last_modified) == (None, None)


def test_absent_validators_are_none() -> None:
    """Without validators the optional fields are None."""
    freshness = compute_freshness({"Cache-Control": "max-age=60"}, now=NOW, policy=POLICY)
    assert freshness == Freshness(lifetime=60.0, source="max-age", etag=None, last_modified=None)


@pytest.mark.parametrize(
    ("extra", "lifetime", "source"),
    [
        ("max-age=120", 120.0, "max-age"),
        ("no-store", 60.0, "no-store"),
        ("", 600.0, "default"),
    ],
)
@pytest.mark.parametrize(
    "rfc5861",
    [
        "stale-while-revalidate=30, stale-if-error=86400",
        'Stale-While-Revalidate="30", STALE-IF-ERROR=0',
        "stale-while-revalidate=abc, stale-if-error=-1",
        "stale-while-revalidate, stale-if-error=",
        "stale-if-error=10, stale-if-error=20",
        "stale-if-error=" + "9" * 100,
    ],
)
def test_rfc5861_directives_are_ignored(
    extra: str, lifetime: float, source: str, rfc5861: str
) -> None:
    """stale-while-revalidate and stale-if-error, valid or not, change no lifetime or source."""
    cache_control = ", ".join(part for part in (extra, rfc5861) if part)
    freshness = compute_freshness({"Cache-Control": cache_control}, now=NOW, policy=POLICY)
    assert freshness == Freshness(lifetime=lifetime, source=source, etag=None, last_modified=None)


def test_freshness_is_frozen() -> None:
    """A Freshness value cannot be mutated."""
    freshness = compute_freshness({}, now=NOW, policy=POLICY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        freshness.lifetime = 1.0  # type: ignore[misc]


# --- parse_cache_control ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", {}),
        ("max-age=60", {"max-age": "60"}),
        ("Max-Age=60, NO-CACHE", {"max-age": "60", "no-cache": None}),
        ('max-age="60"', {"max-age": "60"}),
        (
            'no-cache="Set-Cookie, X-Foo", private',
            {"no-cache": "Set-Cookie, X-Foo", "private": None},
        ),
        (r'ext="a \"quoted\" \\ value"', {"ext": 'a "quoted" \\ value'}),
        ('ext="unterminated, max-age=5', {"ext": "unterminated, max-age=5"}),
        ('ext="dangling \\', {"ext": "dangling \\"}),
        ('ext="a"junk', {"ext": "a"}),
        ("max-age=1, max-age=2", {"max-age": "1"}),
        ("no-cache, no-cache=x", {"no-cache": None}),
        (" , ,, =5, =, public ,", {"public": None}),
        ("max-age=", {"max-age": ""}),
        ("a=b=c", {"a": "b=c"}),
        ("  spaced   =   value  ", {"spaced": "value"}),
    ],
)
def test_parse_cache_control(value: str, expected: dict[str, str | None]) -> None:
    """Directives are lower-cased, unquoted, first-wins, with garbage members skipped."""
    assert parse_cache_control(value) == expected


def test_parse_cache_control_lowers_ascii_only() -> None:
    """Only ASCII letters are lower-cased, so a Kelvin sign never becomes a 'k'."""
    assert parse_cache_control("\u212a-Max-Age=1") == {"\u212a-max-age": "1"}


# --- parse_http_date -------------------------------------------------------------------

RFC_EXAMPLE = 784_111_777.0  # Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110 §5.6.7)


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun Nov 06 08:49:37 1994",
        "sun, 06 nov 1994 08:49:37 gmt",
        "SUNDAY, 06-NOV-94 08:49:37 GMT",
        "  Sun, 06 Nov 1994 08:49:37 GMT  ",
        "Sun,  06  Nov  1994  08:49:37  GMT",
        "Mon, 06 Nov 1994 08:49:37 GMT",  # the day name is not checked against the date
    ],
)
def test_parse_http_date_formats(value: str) -> None:
    """The three RFC 9110 formats, in any case and spacing, parse to the same instant."""
    assert parse_http_date(value) == RFC_EXAMPLE


@pytest.mark.parametrize(
    "value",
    [
        "",
        "0",
        "-1",
        "garbage",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 PST",
        "Sun, 06 Nov 1994 08:49:37 +0000",
        "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 94",
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
        "Sun, \u0660\u0666 Nov 1994 08:49:37 GMT",
    ],
)
def test_parse_http_date_garbage(value: str) -> None:
    """Text that is not an HTTP-date gives None."""
    assert parse_http_date(value) is None


@pytest.mark.parametrize(
    "value",
    [
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Sun, 31 Nov 1994 08:49:37 GMT",
        "Wed, 29 Feb 2023 00:00:00 GMT",
        "Sun, 06 Nov 0000 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:37 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 99 Nov 1994 99:99:99 GMT",
        "Sunday, 31-Apr-94 08:49:37 GMT",
        "Sun Nov 31 08:49:37 1994",
    ],
)
def test_parse_http_date_out_of_range(value: str) -> None:
    """Well-formed text naming an impossible date or time gives None."""
    assert parse_http_date(value) is None


def test_parse_http_date_range_edges() -> None:
    """Leap days, a leap second and the extreme years are accepted."""
    assert parse_http_date("Thu, 29 Feb 2024 00:00:00 GMT") == 1_709_164_800.0
    assert parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT") == 1_483_228_800.0
    assert parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT") == 253_402_300_799.0
    assert parse_http_date("Mon, 01 Jan 0001 00:00:00 GMT") == -62_135_596_800.0


@pytest.mark.parametrize(
    ("value", "now", "year"),
    [
        ("Sunday, 06-Nov-94 08:49:37 GMT", None, 1994),
        ("Thursday, 06-Nov-30 08:49:37 GMT", None, 2030),
        ("Thursday, 06-Nov-69 08:49:37 GMT", None, 1969),
        ("Sunday, 06-Nov-94 08:49:37 GMT", NOW, 1994),  # 2094 is > 50 years ahead of 2023
        ("Thursday, 06-Nov-70 08:49:37 GMT", NOW, 2070),  # 2070 is within 50 years
        ("Thursday, 06-Nov-74 08:49:37 GMT", NOW, 1974),  # 2074: 51 years ahead of 2023
        ("Thursday, 06-Nov-69 08:49:37 GMT", NOW, 2069),
        ("Thursday, 06-Nov-30 08:49:37 GMT", math.nan, 2030),
    ],
)
def test_rfc850_two_digit_year(value: str, now: float | None, year: int) -> None:
    """A two-digit year more than 50 years after ``now`` is read in the past century."""
    parsed = parse_http_date(value, now=now)
    assert parsed is not None
    assert parse_http_date(f"Thu, 06 Nov {year} 08:49:37 GMT") == parsed


@given(st.integers(min_value=-62_135_596_800, max_value=253_402_300_799))
@settings(max_examples=200, deadline=None)
def test_parse_http_date_round_trip(timestamp: int) -> None:
    """Any instant from year 1 to 9999 formatted as an IMF-fixdate parses back exactly."""
    assert parse_http_date(formatdate(timestamp, usegmt=True)) == float(timestamp)


# --- recorded headers ----------------------------------------------------------------------

#: Expected results under POLICY (min 60, default 600, max 86400), reasoned from each file:
RECORDED: dict[str, tuple[float, str]] = {
    # max-age=15 is below min_ttl.
    "auth0-1.json": (60.0, "max-age"),
    # max-age=21532 minus Age 5 (Expires - Date is also 21532 s: 19:33:44 → 01:32:36).
    "google-4.json": (21_527.0, "max-age"),
    # Vault always sends no-store: revalidate soon, not on every request.
    "hashicorp-vault-1.json": (60.0, "no-store"),
    "keycloak-1.json": (60.0, "no-cache"),
    "microsoft-entra-3.json": (86_400.0, "max-age"),
    # max-age=3828277 (~44 days) is clamped to max_ttl.
    "okta-1.json": (86_400.0, "max-age"),
    # private alone carries no lifetime; a private cache may store it.
    "onelogin-1.json": (600.0, "default"),
}


def test_every_recorded_file_has_an_expectation() -> None:
    """The expectation table covers exactly the recorded header files."""
    assert sorted(p.name for p in HEADERS_DIR.glob("*.json")) == sorted(RECORDED)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_headers(name: str) -> None:
    """Each recorded header set gives its expected lifetime, within bounds, and source."""
    lifetime, source = RECORDED[name]
    freshness = compute_freshness(load_headers(name), now=NOW, policy=POLICY)
    assert POLICY.min_ttl <= freshness.lifetime <= POLICY.max_ttl
    assert (freshness.lifetime, freshness.source) == (lifetime, source)


def test_recorded_auth0_last_modified() -> None:
    """Auth0's Last-Modified is reported; its RFC 5861 directives leave max-age in charge."""
    freshness = compute_freshness(load_headers("auth0-1.json"), now=NOW, policy=POLICY)
    assert (freshness.lifetime, freshness.source) == (60.0, "max-age")
    assert freshness.last_modified == "Sat, 12 Nov 2022 19:58:26 GMT"
    assert freshness.etag is None


@pytest.mark.parametrize(
    ("name", "raw"),
    [("okta-1.json", 3_828_277.0), ("google-4.json", 21_527.0), ("auth0-1.json", 15.0)],
)
def test_recorded_max_age_unclamped(name: str, raw: float) -> None:
    """Under wide bounds the recorded max-age (minus Age) shows through unchanged."""
    assert compute_freshness(load_headers(name), now=NOW, policy=WIDE).lifetime == raw


@pytest.mark.parametrize(
    ("name", "raw"), [("okta-1.json", 3_828_277.0), ("google-4.json", 21_527.0)]
)
def test_recorded_expires_agrees_with_max_age(name: str, raw: float) -> None:
    """Without Cache-Control, the recorded Expires minus Date (minus Age) equals max-age."""
    headers = {k: v for k, v in load_headers(name).items() if k.lower() != "cache-control"}
    freshness = compute_freshness(headers, now=NOW, policy=WIDE)
    assert (freshness.lifetime, freshness.source) == (raw, "expires")


# --- properties ---------------------------------------------------------------------------


def cased(name: str) -> st.SearchStrategy[str]:
    """Strategy for ``name`` in random letter case."""
    return st.tuples(*(st.sampled_from((c.lower(), c.upper())) for c in name)).map("".join)


header_text = st.one_of(
    st.text(),
    st.text(alphabet='0123456789-" ,=', max_size=30),
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.integers(min_value=-62_135_596_800, max_value=253_402_300_799).map(
        lambda t: formatdate(t, usegmt=True)
    ),
    st.lists(
        st.sampled_from(
            [
                "no-store",
                "no-cache",
                "max-age=3600",
                "max-age=0",
                'max-age="120"',
                "max-age=abc",
                "max-age=" + "9" * 50,
                "s-maxage=10",
                "private",
                "stale-if-error=60",
                "stale-while-revalidate=x",
            ]
        ),
        max_size=4,
    ).map(", ".join),
)


@st.composite
def policies(draw: st.DrawFn) -> CachePolicy:
    """Strategy for valid cache policies with arbitrary bounds."""
    seconds = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
    low, high = sorted((draw(seconds), draw(seconds)))
    return CachePolicy(default_ttl=draw(seconds), min_ttl=low, max_ttl=high)


@given(
    headers=st.dictionaries(
        st.one_of(
            cased("cache-control"),
            cased("expires"),
            cased("age"),
            cased("date"),
            cased("etag"),
            cased("last-modified"),
        ),
        header_text,
        max_size=8,
    ),
    now=st.floats(),
    policy=policies(),
)
@settings(max_examples=300, deadline=None)
def test_any_headers_give_a_lifetime_within_bounds(
    headers: dict[str, str], now: float, policy: CachePolicy
) -> None:
    """Any header text, name casing, clock and policy give a bounded lifetime and no error."""
    freshness = compute_freshness(headers, now=now, policy=policy)
    assert policy.min_ttl <= freshness.lifetime <= policy.max_ttl
    assert freshness.source in {"max-age", "expires", "no-store", "no-cache", "invalid", "default"}


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_parse_cache_control_never_raises(value: str) -> None:
    """Any text parses to a map of non-empty, ASCII-lower-case directive names."""
    directives = parse_cache_control(value)
    for name in directives:
        assert name
        assert not any("A" <= char <= "Z" for char in name)


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_parse_http_date_never_raises(value: str) -> None:
    """Any text gives None or a finite number of seconds."""
    parsed = parse_http_date(value)
    assert parsed is None or math.isfinite(parsed)
