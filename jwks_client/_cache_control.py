"""HTTP response headers → freshness of a cached JWKS or discovery document (pure).

The library is a *private* cache in the sense of RFC 9111. A response's freshness
lifetime, counted from the moment it was received (``now``), is decided by the first
rule that applies:

1. ``Cache-Control: no-store`` or ``no-cache`` (with or without a value): the issuer
   wants the document revalidated soon, so the lifetime is ``policy.min_ttl``. These
   never mean "fetch on every request": a key set is needed on every token, and
   issuers send them routinely (Okta near a rotation, Vault always).
2. ``Cache-Control: max-age=N``: ``N - Age``. ``N`` is delta-seconds (digits only, a
   quoted ``"N"`` accepted, RFC 9111 §5.2); an overflowing value counts as 2**31
   (§1.2.2). A malformed value, or several ``max-age`` directives that disagree,
   make the response stale (§4.2.1): ``min_ttl`` with source ``"invalid"``.
   ``s-maxage`` is for shared caches and is ignored, as are ``private``, ``public``
   and ``must-revalidate`` (serving stale keys during an outage is the policy's
   decision, not the issuer's).
3. ``Expires``: ``Expires - Date - Age``, where ``Date`` falls back to ``now`` when it
   is missing or invalid (RFC 9110 §6.6.1). An ``Expires`` that is not a valid
   HTTP-date (``0``, ``-1``, two joined dates...) means "already expired" (RFC 9111
   §5.3): ``min_ttl`` with source ``"invalid"``.
4. Otherwise ``policy.default_ttl``.

The result is always clamped to ``[policy.min_ttl, policy.max_ttl]``; a non-finite
result (only a NaN or infinite ``now`` can cause one) counts as ``min_ttl``.
``Age`` is delta-seconds; of a list only the first member counts, and an invalid value
is ignored (RFC 9111 §5.1). The apparent age (``now - Date``) is deliberately not used:
clock skew between issuer and verifier would distort it more than it corrects.

``ETag`` and ``Last-Modified`` are kept as sent for conditional revalidation. RFC 5861's
``stale-while-revalidate`` and ``stale-if-error`` are ignored like the other directives
that do not set the lifetime: how long stale keys serve, and when a refresh starts
ahead of expiry, are the policy's ``stale_if_error`` and ``refresh_ahead``.

Header names are looked up ASCII-case-insensitively in any mapping (``httpx.Headers``
or a plain dict); names that differ only by case are joined with ``", "`` as HTTP
joins repeated fields. Nothing in this module raises on any header text.
"""

from __future__ import annotations

import calendar
import datetime
import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ._types import CachePolicy

__all__ = [
    "Freshness",
    "compute_freshness",
    "parse_cache_control",
    "parse_http_date",
]

#: RFC 9111 §1.2.2: a delta-seconds value too large to represent counts as 2**31.
_DELTA_SECONDS_CAP = 2**31

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_DIGITS = re.compile(r"[0-9]+")


class _Invalid(enum.Enum):
    """Marks a directive that is present but unusable (malformed or conflicting)."""

    INVALID = enum.auto()


@dataclass(frozen=True, slots=True)
class Freshness:
    """How long a fetched response may be used, and how to revalidate it.

    Attributes:
        lifetime: seconds the response is fresh from ``now``, already clamped to
            ``[policy.min_ttl, policy.max_ttl]``.
        source: the rule that decided ``lifetime``: ``"max-age"``, ``"expires"``,
            ``"no-store"``, ``"no-cache"``, ``"invalid"`` or ``"default"``.
        etag: the ``ETag`` value as sent (strong or ``W/`` weak), None when absent.
        last_modified: the ``Last-Modified`` value as sent, None when absent.
    """

    lifetime: float
    source: str
    etag: str | None
    last_modified: str | None


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _unquote(value: str) -> str:
    """Return the content of a quoted-string (``\\x`` → ``x``); tolerate a missing end quote."""
    out: list[str] = []
    i = 1
    while i < len(value):
        char = value[i]
        if char == "\\" and i + 1 < len(value):
            out.append(value[i + 1])
            i += 2
            continue
        if char == '"':
            break
        out.append(char)
        i += 1
    return "".join(out)


def _split_members(value: str) -> list[str]:
    """Split a field value on commas that are not inside a quoted-string."""
    members: list[str] = []
    start = 0
    in_quotes = False
    i = 0
    while i < len(value):
        char = value[i]
        if in_quotes and char == "\\":
            i += 2
            continue
        if char == '"':
            in_quotes = not in_quotes
        elif char == "," and not in_quotes:
            members.append(value[start:i])
            start = i + 1
        i += 1
    members.append(value[start:])
    return members


def _directives(value: str) -> list[tuple[str, str | None]]:
    """Every Cache-Control directive in order, duplicates kept."""
    result: list[tuple[str, str | None]] = []
    for member in _split_members(value):
        name, sep, raw = member.partition("=")
        name = _ascii_lower(name.strip())
        if not name:
            continue
        if not sep:
            result.append((name, None))
            continue
        raw = raw.strip()
        result.append((name, _unquote(raw) if raw.startswith('"') else raw))
    return result


def parse_cache_control(value: str) -> dict[str, str | None]:
    """Parse a Cache-Control field value into a directive map.

    Directive names are ASCII-lower-cased; values may be tokens or quoted-strings (which
    are unquoted, ``\\x`` giving ``x``; an unterminated one runs to the end, text after
    the closing quote is dropped); a directive without ``=`` maps to None. Commas inside
    quoted-strings do not split. The first occurrence of a directive wins. Garbage is
    tolerated: empty members and empty names are skipped, and the function never raises.

    Args:
        value: the field value (repeated fields already joined with ``", "``).

    Returns:
        A dict from directive name to its value (or None).
    """
    result: dict[str, str | None] = {}
    for name, directive_value in _directives(value):
        result.setdefault(name, directive_value)
    return result


def _delta_seconds(text: str) -> int | None:
    """Parse RFC 9111 delta-seconds; overflow counts as 2**31; None if not digits."""
    if not _DIGITS.fullmatch(text):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(_DELTA_SECONDS_CAP)):
        return _DELTA_SECONDS_CAP
    return min(int(digits), _DELTA_SECONDS_CAP)


def _directive_seconds(
    directives: list[tuple[str, str | None]], name: str
) -> int | _Invalid | None:
    """Return the directive's seconds, None when absent, INVALID when unusable."""
    found: set[int] = set()
    for directive_name, raw in directives:
        if directive_name != name:
            continue
        seconds = None if raw is None else _delta_seconds(raw.strip())
        if seconds is None:
            return _Invalid.INVALID
        found.add(seconds)
    if not found:
        return None
    if len(found) > 1:
        return _Invalid.INVALID
    return found.pop()


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)"
_LONG_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTH = r"(?P<month>[a-z]{3})"
_TIME = r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
_IMF_FIXDATE = re.compile(
    rf"{_DAY}, +(?P<day>[0-9]{{2}}) +{_MONTH} +(?P<year>[0-9]{{4}}) +{_TIME} +gmt"
)
_RFC850_DATE = re.compile(
    rf"{_LONG_DAY}, +(?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) +{_TIME} +gmt"
)
_ASCTIME_DATE = re.compile(
    rf"{_DAY} +{_MONTH} +(?P<day>[0-9]{{1,2}}) +{_TIME} +(?P<year>[0-9]{{4}})"
)


def _full_year(two_digits: int, now: float | None) -> int:
    """Expand an RFC 850 two-digit year (RFC 9110 §5.6.7)."""
    if now is None:
        # Without a clock, the POSIX ``%y`` pivot: 69-99 → 19xx, 00-68 → 20xx.
        return 1900 + two_digits if two_digits >= 69 else 2000 + two_digits
    try:
        current = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc).year
    except (OverflowError, OSError, ValueError):
        return 2000 + two_digits
    year = current - current % 100 + two_digits
    # "more than 50 years in the future" → the most recent past year with those digits.
    return year - 100 if year > current + 50 else year


def parse_http_date(value: str, *, now: float | None = None) -> float | None:
    """Parse an RFC 9110 HTTP-date into Unix seconds.

    Accepts the IMF-fixdate form (``Sun, 06 Nov 1994 08:49:37 GMT``) and the obsolete
    RFC 850 (``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime
    (``Sun Nov  6 08:49:37 1994``) forms. Names are matched case-insensitively, runs of
    spaces are tolerated, and the day name is not checked against the date. A second of
    60 (leap second) is accepted. An RFC 850 two-digit year more than 50 years after
    ``now`` is moved back a century; without ``now`` a fixed pivot (69 → 1969,
    68 → 2068) applies.

    Args:
        value: the field value.
        now: the current time in Unix seconds, used only for RFC 850 years.

    Returns:
        Unix seconds as a float, or None when the value is not a valid HTTP-date
        (unknown format, impossible date or time). Never raises.
    """
    text = _ascii_lower(value.strip())
    match = (
        _IMF_FIXDATE.fullmatch(text)
        or _RFC850_DATE.fullmatch(text)
        or _ASCTIME_DATE.fullmatch(text)
    )
    if match is None:
        return None
    month = _MONTHS.get(match["month"])
    if month is None:
        return None
    year = int(match["year"])
    if len(match["year"]) == 2:
        year = _full_year(year, now)
    day, hour, minute, second = (int(match[group]) for group in ("day", "hour", "minute", "second"))
    if hour > 23 or minute > 59 or second > 60:
        return None
    try:
        datetime.date(year, month, day)
    except ValueError:
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def _fields(headers: Mapping[str, str]) -> dict[str, str]:
    """Header fields by ASCII-lower-cased name; same-name fields joined with ``", "``."""
    joined: dict[str, str] = {}
    for name, value in headers.items():
        key = _ascii_lower(name)
        joined[key] = f"{joined[key]}, {value}" if key in joined else value
    return joined


def _age(fields: Mapping[str, str]) -> int:
    """The Age field's first member as delta-seconds; 0 when absent or invalid."""
    raw = fields.get("age")
    if raw is None:
        return 0
    seconds = _delta_seconds(raw.split(",", 1)[0].strip())
    return 0 if seconds is None else seconds


def _lifetime(
    fields: Mapping[str, str], directives: list[tuple[str, str | None]], now: float
) -> tuple[float | None, str]:
    """Unclamped lifetime and its source; None means ``min_ttl``, or the default."""
    names = {name for name, _ in directives}
    if "no-store" in names:
        return None, "no-store"
    if "no-cache" in names:
        return None, "no-cache"
    max_age = _directive_seconds(directives, "max-age")
    if max_age is _Invalid.INVALID:
        return None, "invalid"
    if isinstance(max_age, int):
        return float(max_age - _age(fields)), "max-age"
    expires_raw = fields.get("expires")
    if expires_raw is None:
        return None, "default"
    expires = parse_http_date(expires_raw, now=now)
    if expires is None:
        return None, "invalid"
    date_raw = fields.get("date")
    date = None if date_raw is None else parse_http_date(date_raw, now=now)
    return expires - (now if date is None else date) - _age(fields), "expires"


def _non_empty(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def compute_freshness(headers: Mapping[str, str], *, now: float, policy: CachePolicy) -> Freshness:
    """Compute the freshness of a response from its headers (RFC 9111, private cache).

    Applies, in order: ``no-store``/``no-cache`` → ``min_ttl``; ``max-age`` minus
    ``Age``; ``Expires`` minus ``Date`` (or ``now``) minus ``Age``; else
    ``policy.default_ttl``. A malformed or conflicting ``max-age``, or an invalid
    ``Expires``, yields ``min_ttl`` with source ``"invalid"``. The lifetime is then
    clamped to ``[policy.min_ttl, policy.max_ttl]``. ``ETag`` and ``Last-Modified`` are
    captured whatever rule applied.

    Args:
        headers: the response headers: an ``httpx.Headers`` or any mapping, names in
            any case.
        now: the time the response was received, in Unix seconds.
        policy: the cache policy giving the default and the clamp bounds.

    Returns:
        The response's :class:`Freshness`. Never raises on any header text.
    """
    fields = _fields(headers)
    directives = _directives(fields.get("cache-control", ""))
    lifetime, source = _lifetime(fields, directives, now)
    if lifetime is None:
        lifetime = policy.default_ttl if source == "default" else policy.min_ttl
    elif not math.isfinite(lifetime):  # only a non-finite ``now`` gets here
        lifetime = policy.min_ttl
    return Freshness(
        lifetime=policy.clamp(lifetime),
        source=source,
        etag=_non_empty(fields.get("etag")),
        last_modified=_non_empty(fields.get("last-modified")),
    )
