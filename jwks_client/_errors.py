"""The library's exception tree.

Every error the library raises derives from :class:`JWKSClientError`. Two families
map to two HTTP answers of a resource server::

    JWKSClientError
    ├── ConfigurationError (also ValueError)   bad arguments at construction
    ├── InvalidTokenError                       answer 401: the token is bad
    │   ├── MalformedTokenError                 not a strict compact JWS, bad header
    │   ├── AlgorithmNotAllowedError            alg missing, none, HS*, or not allowlisted
    │   ├── KeyNotFoundError                    no key for kid/alg, even after the allowed refresh
    │   ├── InvalidSignatureError               signature does not verify
    │   ├── InvalidTokenTypeError               header typ is not the expected one
    │   └── InvalidClaimError                   a claim is missing or wrong
    │       ├── MissingClaimError               a required claim is absent
    │       ├── ExpiredTokenError               exp is past (beyond leeway)
    │       ├── NotYetValidError                nbf or iat is in the future
    │       ├── InvalidIssuerError              iss is not the configured issuer
    │       └── InvalidAudienceError            aud does not name the configured audience
    └── KeySetUnavailableError                  answer 503: keys could not be obtained
        ├── DiscoveryError                      discovery document missing, wrong, or mismatched
        ├── FetchError                          network error, timeout, redirect, refused URL
        ├── HTTPStatusError                     the server answered a status other than 200/304
        ├── ResponseTooLargeError               the body exceeded the size cap
        └── InvalidKeySetError                  not JSON, not a JWKS, or no usable key

Facts are attributes (``kid``, ``alg``, ``claim``, ``url``, ``status_code``) so that
callers never parse messages. Messages never contain a whole token.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = [
    "AlgorithmNotAllowedError",
    "ConfigurationError",
    "DiscoveryError",
    "ExpiredTokenError",
    "FetchError",
    "HTTPStatusError",
    "InvalidAudienceError",
    "InvalidClaimError",
    "InvalidIssuerError",
    "InvalidKeySetError",
    "InvalidSignatureError",
    "InvalidTokenError",
    "InvalidTokenTypeError",
    "JWKSClientError",
    "KeyNotFoundError",
    "KeySetUnavailableError",
    "MalformedTokenError",
    "MissingClaimError",
    "NotYetValidError",
    "ResponseTooLargeError",
]


def _rebuild(cls: type[JWKSClientError], args: tuple[object, ...], state: dict[str, object]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


_E = TypeVar("_E", bound="JWKSClientError")


class JWKSClientError(Exception):
    """Base class of every error raised by jwks_client.

    Instances pickle and copy faithfully (their keyword-only facts included), so they
    cross process boundaries, task queues and logging handlers intact.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def clone(self: _E) -> _E:
        """A fresh copy (same class, message, facts and cause), with no traceback.

        A failure shared by many callers (a failed refresh) is raised as a clone for
        each, so no caller's traceback or context leaks into another's.
        """
        error: _E = _rebuild(type(self), self.args, dict(self.__dict__))
        error.__cause__ = self.__cause__
        error.__suppress_context__ = True
        return error


class ConfigurationError(JWKSClientError, ValueError):
    """An option given to a constructor is invalid (raised at construction time)."""


# --- the token is bad: 401 -------------------------------------------------------


class InvalidTokenError(JWKSClientError):
    """The token was rejected. A resource server answers 401 ``invalid_token``."""


class MalformedTokenError(InvalidTokenError):
    """The token is not a well-formed compact JWS, or its header breaks a rule."""


class AlgorithmNotAllowedError(InvalidTokenError):
    """The header's ``alg`` is missing, ``none``, symmetric, or not allowlisted.

    An allowlisted ``alg`` that fits no key of the set is a :class:`KeyNotFoundError`.

    Attributes:
        alg: the offending ``alg`` value as a string (``repr`` of a non-string).
    """

    def __init__(self, message: str, *, alg: str | None = None) -> None:
        super().__init__(message)
        self.alg = alg


class KeyNotFoundError(InvalidTokenError):
    """No key in the issuer's key set matches the token's ``kid`` and ``alg``.

    Attributes:
        kid: the token's ``kid`` (None when the token has none).
        alg: the token's ``alg``.
    """

    def __init__(self, message: str, *, kid: str | None = None, alg: str | None = None) -> None:
        super().__init__(message)
        self.kid = kid
        self.alg = alg


class InvalidSignatureError(InvalidTokenError):
    """The signature does not verify with any candidate key."""


class InvalidTokenTypeError(InvalidTokenError):
    """The header's ``typ`` is not the expected token type.

    Attributes:
        expected: the configured type.
        actual: the header's value (None when absent).
    """

    def __init__(self, message: str, *, expected: str, actual: object) -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


class InvalidClaimError(InvalidTokenError):
    """A claim is missing, of the wrong type, or has a rejected value.

    Attributes:
        claim: the claim's name (``"exp"``, ``"aud"``, ...).
    """

    def __init__(self, message: str, *, claim: str) -> None:
        super().__init__(message)
        self.claim = claim


class MissingClaimError(InvalidClaimError):
    """A required claim is absent."""


class ExpiredTokenError(InvalidClaimError):
    """``exp`` is in the past, beyond the leeway."""


class NotYetValidError(InvalidClaimError):
    """``nbf`` or ``iat`` is in the future, beyond the leeway."""


class InvalidIssuerError(InvalidClaimError):
    """``iss`` is not the configured issuer."""


class InvalidAudienceError(InvalidClaimError):
    """``aud`` does not contain any of the configured audiences."""


# --- keys could not be obtained: 503 ----------------------------------------------


class KeySetUnavailableError(JWKSClientError):
    """The issuer's keys could not be obtained. A resource server answers 503.

    Attributes:
        url: the URL that failed (None when not tied to one request).
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


class DiscoveryError(KeySetUnavailableError):
    """The discovery document could not be fetched, or is invalid or mismatched."""


class FetchError(KeySetUnavailableError):
    """A request failed: network error, timeout, redirect, or a refused URL."""


class HTTPStatusError(KeySetUnavailableError):
    """The server answered with a status other than 200 (or 304 on revalidation).

    Attributes:
        status_code: the HTTP status received.
    """

    def __init__(self, message: str, *, url: str | None = None, status_code: int) -> None:
        super().__init__(message, url=url)
        self.status_code = status_code


class ResponseTooLargeError(KeySetUnavailableError):
    """The response body exceeded the configured size cap.

    Attributes:
        limit: the cap in bytes.
    """

    def __init__(self, message: str, *, url: str | None = None, limit: int) -> None:
        super().__init__(message, url=url)
        self.limit = limit


class InvalidKeySetError(KeySetUnavailableError):
    """The response is not JSON, not a JWKS, or holds no usable key."""
