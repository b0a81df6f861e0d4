"""How a resource server answers a rejection: status, challenge and headers (pure).

Rules (RFC 6750 §3, RFC 9449 §7.1, §7.2 and §9, RFC 9110 §11.6.1):

* A rejection of the token or of the request is a 400 or a 401 with one
  ``WWW-Authenticate`` field listing the challenges the verifier offers: ``Bearer``
  unless DPoP is required, then ``DPoP`` with ``algs`` (the proof algorithms) when DPoP
  is accepted. Each carries ``realm`` when one is configured.
* No credentials (:class:`MissingTokenError`) means no ``error`` anywhere. Otherwise the
  error goes in the challenge of the scheme the request used, or in every challenge
  when that scheme is unknown or not offered (two ``Authorization`` fields): a
  malformed field is ``invalid_request`` (400), a refused proof ``invalid_dpop_proof``,
  a missing or stale nonce ``use_dpop_nonce`` with a ``DPoP-Nonce`` field, anything
  else ``invalid_token`` (401).
* Keys that cannot be obtained are the server's trouble: 503 with ``Retry-After`` and no
  challenge.

An answer tells the client what was wrong with what it sent and nothing of the server's
side. The library's messages are written for logs and may name the JWKS URL, the issuer
or the last fetch failure, so ``error_description`` is the message only for rejections
whose messages speak of the request alone, with any URL in it replaced; an unknown key,
a wrong issuer or audience and any other rejection get a fixed text for their class. The
description is cut to the characters RFC 6750 §3 allows (no ``"``, no ``\\``, no control
or non-ASCII characters) and to :data:`MAX_DESCRIPTION_LENGTH`, so it can never break the
header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ._errors import (
    AlgorithmNotAllowedError,
    ExpiredTokenError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidDPoPProofError,
    InvalidIssuerError,
    InvalidRequestError,
    InvalidSignatureError,
    InvalidTokenBindingError,
    InvalidTokenError,
    InvalidTokenTypeError,
    KeyNotFoundError,
    KeySetUnavailableError,
    MalformedTokenError,
    MissingClaimError,
    MissingTokenError,
    NotYetValidError,
    UseDPoPNonceError,
)

__all__ = [
    "BEARER",
    "DPOP",
    "MAX_DESCRIPTION_LENGTH",
    "RETRY_AFTER_SECONDS",
    "Challenge",
    "challenge_for",
    "public_description",
    "sanitize_description",
]

#: The two authentication schemes, spelled as in challenges.
BEARER: Final = "Bearer"
DPOP: Final = "DPoP"

#: ``Retry-After`` of a 503. The verifier retries a failing issuer after 1 s, doubling up
#: to 5 min, and serves the last good keys meanwhile; five seconds lets a client come back
#: after the first retries without hammering the API.
RETRY_AFTER_SECONDS: Final = 5

#: ``error_description`` is cut to this many characters.
MAX_DESCRIPTION_LENGTH: Final = 200

# RFC 6750 §3: error_description and (by extension here) realm characters.
_NOT_QUOTABLE: Final = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# A URL in a message shown to a client (scheme://...), replaced as a precaution.
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"]*")

_MISSING_DESCRIPTION: Final = "an access token is required"
_UNAVAILABLE_DESCRIPTION: Final = "the token signing keys are temporarily unavailable"

# What an answer says of a rejection, by class (the nearest class in the exception's MRO
# wins). Messages of an unknown key, issuer or audience name the server's side (the JWKS
# URL or issuer, the last fetch failure, the accepted values): never sent.
_DESCRIPTIONS: Final[dict[type[InvalidTokenError], str]] = {
    KeyNotFoundError: "no signing key of the issuer matches the token's kid and alg",
    InvalidIssuerError: "the token's issuer is not accepted",
    InvalidAudienceError: "the token's audience is not accepted",
    MalformedTokenError: "the token is malformed",
    AlgorithmNotAllowedError: "the token's algorithm is not accepted",
    InvalidSignatureError: "the token's signature does not verify",
    InvalidTokenTypeError: "the token's type is not accepted",
    ExpiredTokenError: "the token has expired",
    NotYetValidError: "the token is not valid yet",
    MissingClaimError: "the token lacks a required claim",
    InvalidClaimError: "a claim of the token is invalid",
    MissingTokenError: _MISSING_DESCRIPTION,
    InvalidRequestError: "the Authorization or DPoP header is malformed",
    UseDPoPNonceError: "the DPoP proof must carry the nonce of the DPoP-Nonce header",
    InvalidDPoPProofError: "the DPoP proof is invalid",
    InvalidTokenBindingError: "the token's key binding does not hold",
    InvalidTokenError: "the token is invalid",
}
# The rejections whose messages speak only of what the client sent; exact classes, so a
# subclass (whose message nobody here has read) falls back to the fixed text.
_PUBLIC_MESSAGES: Final[frozenset[type[InvalidTokenError]]] = frozenset(
    {
        MalformedTokenError,
        AlgorithmNotAllowedError,
        InvalidSignatureError,
        InvalidTokenTypeError,
        ExpiredTokenError,
        NotYetValidError,
        MissingClaimError,
        InvalidClaimError,
        InvalidRequestError,
        InvalidDPoPProofError,
        InvalidTokenBindingError,
    }
)


@dataclass(frozen=True, slots=True)
class Challenge:
    """How to answer a rejected request: status, error, description and headers.

    Attributes:
        status: 400, 401 or 503 (the integrations add 403 for a missing scope).
        error: the error code (``invalid_request``, ``invalid_token``,
            ``invalid_dpop_proof``, ``use_dpop_nonce``), or None (no credentials, 503).
        description: a short sanitised text, fit for a header and a response body.
        headers: ``WWW-Authenticate`` (and ``DPoP-Nonce`` for ``use_dpop_nonce``), or
            ``Retry-After`` for a 503, as (name, value) pairs.
    """

    status: int
    error: str | None
    description: str
    headers: tuple[tuple[str, str], ...]

    def header_dict(self) -> dict[str, str]:
        """Return the headers as a dict."""
        return dict(self.headers)

    def body(self) -> dict[str, str]:
        """Return the JSON body the integrations send: ``{"detail": description}``."""
        return {"detail": self.description}


def sanitize_description(text: str, limit: int = MAX_DESCRIPTION_LENGTH) -> str:
    """Make ``text`` safe for a quoted ``error_description``.

    Characters RFC 6750 §3 does not allow (``"``, ``\\``, control and non-ASCII
    characters) are removed, runs of spaces collapse to one, and the result is cut to
    ``limit`` characters (ending in ``...`` when cut).
    """
    unquoted = text.replace('"', "").replace("\\", "")
    cleaned = " ".join(_NOT_QUOTABLE.sub(" ", unquoted).split())
    if len(cleaned) > limit:
        cleaned = cleaned[: max(0, limit - 3)].rstrip() + "..."
    return cleaned


def public_description(error: InvalidTokenError) -> str:
    """Return what an answer may say about a rejection, sanitised (never empty).

    The rejections whose messages speak only of the request (malformed token or header,
    algorithm, signature, type, time and claim-shape checks, proof and binding checks)
    keep their message, with any URL replaced; every other rejection (an unknown key, a
    wrong issuer or audience, a subclass) gets a fixed text for its class.
    """
    # InvalidTokenError is in the table, so the nearest entry always exists.
    fixed = next(_DESCRIPTIONS[c] for c in type(error).__mro__ if c in _DESCRIPTIONS)
    if type(error) not in _PUBLIC_MESSAGES:
        return fixed
    return sanitize_description(_URL.sub("a URL", str(error))) or fixed


def _challenge(scheme: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return scheme
    return scheme + " " + ", ".join(f'{name}="{value}"' for name, value in params)


def _error_code(error: InvalidTokenError) -> tuple[int, str | None]:
    if isinstance(error, MissingTokenError):
        return 401, None
    if isinstance(error, InvalidRequestError):
        return 400, "invalid_request"
    if isinstance(error, UseDPoPNonceError):
        return 401, "use_dpop_nonce"
    if isinstance(error, InvalidDPoPProofError):
        return 401, "invalid_dpop_proof"
    return 401, "invalid_token"


def challenge_for(
    error: InvalidTokenError | KeySetUnavailableError, *, realm: str | None = None
) -> Challenge:
    """Return the HTTP answer to a rejection: status, error code, description, headers.

    ``MissingTokenError`` → 401 with challenges and no ``error``; ``InvalidRequestError``
    → 400 ``invalid_request``; ``InvalidDPoPProofError`` → 401 ``invalid_dpop_proof``;
    ``UseDPoPNonceError`` → 401 ``use_dpop_nonce`` plus ``DPoP-Nonce``; any other
    ``InvalidTokenError`` → 401 ``invalid_token``; ``KeySetUnavailableError`` → 503 with
    ``Retry-After`` and a fixed description (its message, which names URLs, is not sent).

    The challenges follow what the rejection records (``scheme``, ``bearer_accepted``,
    ``dpop_algorithms``, set by ``verify_request``): a rejection from ``verify`` is
    answered as by a Bearer-only resource.

    Args:
        error: the rejection.
        realm: the protection space named in each challenge, or None to leave it out.
            It must be printable ASCII without quotes or backslashes; other characters
            are dropped.

    Raises:
        TypeError: ``error`` is neither an ``InvalidTokenError`` nor a
            ``KeySetUnavailableError``.
    """
    if isinstance(error, KeySetUnavailableError):
        return Challenge(
            503, None, _UNAVAILABLE_DESCRIPTION, (("Retry-After", str(RETRY_AFTER_SECONDS)),)
        )
    if not isinstance(error, InvalidTokenError):
        raise TypeError(
            "challenge_for takes an InvalidTokenError or a KeySetUnavailableError, "
            f"not {type(error).__name__}"
        )
    status, code = _error_code(error)
    description = public_description(error)
    offered = [
        scheme
        for scheme, on in ((BEARER, error.bearer_accepted), (DPOP, bool(error.dpop_algorithms)))
        if on
    ] or [BEARER]
    # The error goes to the scheme the request used; to every challenge when unknown.
    carriers = offered if error.scheme not in offered else [error.scheme]
    challenges = []
    for scheme in offered:
        params: list[tuple[str, str]] = []
        if realm is not None:
            params.append(("realm", _NOT_QUOTABLE.sub("", realm)))
        if code is not None and scheme in carriers:
            params += [("error", code), ("error_description", description)]
        if scheme == DPOP:
            params.append(("algs", " ".join(error.dpop_algorithms)))
        challenges.append(_challenge(scheme, params))
    headers = [("WWW-Authenticate", ", ".join(challenges))]
    if isinstance(error, UseDPoPNonceError):
        headers.append(("DPoP-Nonce", error.nonce))
    return Challenge(status, code, description, tuple(headers))
