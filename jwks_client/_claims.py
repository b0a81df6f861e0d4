"""Validation of JWT claims against a policy and a given time (pure).

Rules (RFC 7519 §4.1, RFC 9068, RFC 8725 §3.11):

* ``typ`` (a header member, passed in): when the policy names a token type, the header's
  ``typ`` must be present and equal to it, compared case-insensitively after removing an
  optional ``application/`` prefix on both sides (RFC 7515 §4.1.9), so ``at+jwt``
  matches ``application/at+JWT``.
* ``iss``: when the policy names an issuer, a string exactly equal to it (no case or
  trailing-slash normalisation).
* ``aud``: when the policy names audiences, a string or a non-empty array of strings, one
  of which is among them.
* ``exp`` is always required; ``nbf`` and ``iat`` are optional. Each is a JSON number
  (a boolean is not one) and finite. The token is expired when ``now >= exp + leeway``,
  not yet valid when ``nbf > now + leeway``, and issued in the future when
  ``iat > now + leeway``.
* ``iss``, ``sub`` and ``jti`` are strings when present (RFC 7519 §4.1.1-2, §4.1.7: a
  StringOrURI, a case-sensitive string): an application reading ``claims["sub"]`` as a
  user id must never meet a number, a list or null there. (``iss`` is already exact when
  the policy names an issuer.)
* Every name in ``policy.required`` must be present.

Theory of operation: the checks run in this fixed order: typ, iss, aud, exp, nbf, iat,
sub/jti (and iss without an expected issuer), required; the first failure raises the
most specific :class:`InvalidTokenError` subclass. Time comparisons are written so that
they hold only when the token is proven valid: a NaN ``now`` rejects, and integers of
any size compare exactly with floats without conversion (no ``OverflowError``). Dates in
messages are formatted without ever raising, whatever the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ._errors import (
    ConfigurationError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidTokenTypeError,
    MissingClaimError,
    NotYetValidError,
)
from ._messages import json_kind, listed, shown

__all__ = ["ClaimsPolicy", "validate_claims"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Unix times of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, datetime's range.
_MIN_DATE = -62_135_596_800
_MAX_DATE = 253_402_300_799


@dataclass(frozen=True, slots=True)
class ClaimsPolicy:
    """What a token's claims must satisfy.

    Attributes:
        issuer: the exact expected ``iss``; None skips the issuer check.
        audiences: the accepted ``aud`` values, one of which the token must name; None
            skips the audience check.
        leeway: seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
        token_type: the expected header ``typ`` (e.g. ``"at+jwt"``); None skips it.
        required: further claims that must be present.

    Raises:
        ConfigurationError: an attribute has the wrong type or an invalid value.
    """

    issuer: str | None
    audiences: frozenset[str] | None
    leeway: float = 0.0
    token_type: str | None = None
    required: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.issuer is not None and (not isinstance(self.issuer, str) or not self.issuer):
            raise ConfigurationError(
                f"issuer must be a non-empty string or None, got {self.issuer!r}"
            )
        if self.audiences is not None and (
            not isinstance(self.audiences, frozenset)
            or not self.audiences
            or not all(isinstance(aud, str) and aud for aud in self.audiences)
        ):
            raise ConfigurationError(
                "audience must name at least one non-empty string (or be None), "
                f"got {self.audiences!r}"
            )
        leeway = self.leeway
        if (
            isinstance(leeway, bool)
            or not isinstance(leeway, (int, float))
            or not math.isfinite(leeway)
            or leeway < 0
        ):
            raise ConfigurationError(
                f"leeway must be a finite number of seconds >= 0, got {leeway!r}"
            )
        if self.token_type is not None and (
            not isinstance(self.token_type, str) or not self.token_type
        ):
            raise ConfigurationError(
                f"token_type must be a non-empty string or None, got {self.token_type!r}"
            )
        if not isinstance(self.required, frozenset) or not all(
            isinstance(name, str) for name in self.required
        ):
            raise ConfigurationError(f"required claims must be strings, got {self.required!r}")


def _excerpt(value: object) -> str:
    """Show a string value; name the JSON kind of anything else."""
    return shown(value) if isinstance(value, str) else json_kind(value)


def _format_time(value: float) -> str:
    """Format Unix seconds as an RFC 3339 UTC date; never raises."""
    if value != value:  # NaN
        return "NaN"
    if not _MIN_DATE <= value <= _MAX_DATE:
        return "a date before year 1" if value < 0 else "a date after year 9999"
    moment = _EPOCH + timedelta(seconds=math.floor(value))
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def _context(now: float, leeway: float) -> str:
    return f"(now {_format_time(now)}, leeway {leeway:g}s)"


def _media_type(value: str) -> str:
    return value.lower().removeprefix("application/")


def _check_type(typ: str | None, expected: str) -> None:
    if typ is None:
        raise InvalidTokenTypeError(
            f"token has no 'typ' header; expected {expected!r}", expected=expected, actual=None
        )
    if not isinstance(typ, str) or _media_type(typ) != _media_type(expected):
        raise InvalidTokenTypeError(
            f"token type {_excerpt(typ)} is not the expected {expected!r}",
            expected=expected,
            actual=typ,
        )


def _check_issuer(claims: Mapping[str, Any], issuer: str) -> None:
    if "iss" not in claims:
        raise MissingClaimError("token has no 'iss' claim", claim="iss")
    iss = claims["iss"]
    if not isinstance(iss, str):
        raise InvalidIssuerError(f"'iss' must be a string, not {json_kind(iss)}", claim="iss")
    if iss != issuer:
        raise InvalidIssuerError(
            f"token issuer {_excerpt(iss)} is not the expected issuer {issuer!r}", claim="iss"
        )


def _check_strings(claims: Mapping[str, Any]) -> None:
    for name in ("iss", "sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            error = InvalidIssuerError if name == "iss" else InvalidClaimError
            raise error(f"{name!r} must be a string, not {json_kind(claims[name])}", claim=name)


def _listing(values: list[str] | frozenset[str]) -> str:
    return "[" + listed(sorted(values)) + "]"


def _check_audience(claims: Mapping[str, Any], audiences: frozenset[str]) -> None:
    if "aud" not in claims:
        raise MissingClaimError("token has no 'aud' claim", claim="aud")
    aud = claims["aud"]
    if isinstance(aud, str):
        values = [aud]
    elif isinstance(aud, list) and aud and all(isinstance(value, str) for value in aud):
        values = aud
    elif isinstance(aud, list) and aud:
        raise InvalidAudienceError("'aud' array holds a value that is not a string", claim="aud")
    else:
        found = "an empty array" if isinstance(aud, list) else json_kind(aud)
        raise InvalidAudienceError(
            f"'aud' must be a string or a non-empty array of strings, not {found}", claim="aud"
        )
    if audiences.isdisjoint(values):
        raise InvalidAudienceError(
            f"token audience {_listing(values)} names none of the expected {_listing(audiences)}",
            claim="aud",
        )


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """Return the claim as a finite JSON number, None when absent."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidClaimError(
            f"{name!r} must be a number of seconds, not {json_kind(value)}", claim=name
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidClaimError(f"{name!r} must be a finite number, not {value!r}", claim=name)
    return value


def validate_claims(
    claims: Mapping[str, Any],
    *,
    typ: str | None,
    policy: ClaimsPolicy,
    now: float,
) -> None:
    """Check a token's claims and header type against a policy at a given time.

    The checks run in this order, and the first failure is raised: typ, iss, aud, exp,
    nbf, iat, the string claims (sub, jti; iss without an expected issuer), required
    claims. See the module docstring for each rule.

    Args:
        claims: the token's decoded claims set.
        typ: the token header's ``typ`` (None when absent).
        policy: what the claims must satisfy.
        now: the current time in Unix seconds.

    Raises:
        InvalidTokenTypeError: ``typ`` is absent or not the expected type.
        MissingClaimError: ``iss``, ``aud``, ``exp`` or a required claim is absent.
        InvalidIssuerError: ``iss`` is not the expected issuer, or not a string.
        InvalidAudienceError: ``aud`` is malformed or names none of the audiences.
        InvalidClaimError: ``exp``, ``nbf`` or ``iat`` is not a finite number; ``sub`` or
            ``jti`` is present but not a string.
        ExpiredTokenError: the token is expired, beyond the leeway.
        NotYetValidError: ``nbf`` or ``iat`` is in the future, beyond the leeway.
    """
    if policy.token_type is not None:
        _check_type(typ, policy.token_type)
    issuer = policy.issuer
    if issuer is not None and claims.get("iss") != issuer:
        _check_issuer(claims, issuer)  # raises with the precise reason
    audiences = policy.audiences
    if audiences is not None:
        aud = claims.get("aud")
        # The common shape (one string) is checked inline; everything else in full.
        if type(aud) is not str or aud not in audiences:
            _check_audience(claims, audiences)

    leeway = policy.leeway
    exp = claims.get("exp")
    if type(exp) is not int:  # an int is a valid date: skip the full check
        exp = _numeric_date(claims, "exp")
        if exp is None:
            raise MissingClaimError("token has no 'exp' claim", claim="exp")
    # `now - leeway < exp` rather than `now < exp + leeway`: a huge int exp is compared
    # exactly instead of overflowing a float, and a NaN now fails the check.
    if not now - leeway < exp:
        raise ExpiredTokenError(
            f"token expired at {_format_time(exp)} {_context(now, leeway)}", claim="exp"
        )

    nbf = claims.get("nbf")
    if type(nbf) is not int:
        nbf = _numeric_date(claims, "nbf")
    if nbf is not None and not nbf <= now + leeway:
        raise NotYetValidError(
            f"token is not valid before {_format_time(nbf)} {_context(now, leeway)}", claim="nbf"
        )

    iat = claims.get("iat")
    if type(iat) is not int:
        iat = _numeric_date(claims, "iat")
    if iat is not None and not iat <= now + leeway:
        raise NotYetValidError(
            f"token is issued in the future at {_format_time(iat)} {_context(now, leeway)}",
            claim="iat",
        )

    # Registered string claims: absent ("" stands in) or a str, decided in one test.
    if (
        type(claims.get("sub", "")) is not str
        or type(claims.get("jti", "")) is not str
        or (issuer is None and type(claims.get("iss", "")) is not str)
    ):
        _check_strings(claims)

    if policy.required:
        for name in sorted(policy.required):
            if name not in claims:
                raise MissingClaimError(f"token has no {_excerpt(name)} claim", claim=name)
