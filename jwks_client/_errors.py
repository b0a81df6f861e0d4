"""The library's exception tree.

Every error the library raises derives from :class:`JWKSClientError`. Two families
map to two HTTP answers of a resource server::

    JWKSClientError
    ├── ConfigurationError (also ValueError)   bad arguments at construction
    ├── InvalidTokenError                       answer 401: the token is bad
    │   ├── MissingTokenError                   no credentials the verifier accepts (bare 401)
    │   ├── InvalidRequestError                 Authorization/DPoP malformed or repeated (400)
    │   ├── InvalidDPoPProofError               the DPoP proof is missing or fails a check
    │   │   └── UseDPoPNonceError               the proof needs a fresh server nonce (.nonce)
    │   ├── InvalidTokenBindingError            the token's cnf binding does not hold
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

Facts are attributes (``kid``, ``alg``, ``claim``, ``url``, ``status_code``, ``nonce``)
so that callers never parse messages. Messages never contain a whole token.
:func:`jwks_client.challenge_for` turns any rejection into its HTTP answer.
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
    "InvalidDPoPProofError",
    "InvalidIssuerError",
    "InvalidKeySetError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "InvalidTokenBindingError",
    "InvalidTokenError",
    "InvalidTokenTypeError",
    "JWKSClientError",
    "KeyNotFoundError",
    "KeySetUnavailableError",
    "MalformedTokenError",
    "MissingClaimError",
    "MissingTokenError",
    "NotYetValidError",
    "ResponseTooLargeError",
    "UseDPoPNonceError",
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
    """The token was rejected. A resource server answers 401 ``invalid_token``.

    A rejection raised by ``verify_request`` also says how the request authenticated and
    what the verifier accepts, so :func:`jwks_client.challenge_for` can answer with the
    right challenges (RFC 9449 §7.2); a rejection raised by ``verify`` keeps the defaults,
    which describe a Bearer-only resource.

    Attributes:
        scheme: the scheme the request used, ``"Bearer"`` or ``"DPoP"``; None when the
            request had no usable ``Authorization`` or the error came from ``verify``.
        bearer_accepted: whether the verifier accepts the Bearer scheme (False with
            ``DPoP(required=True)``).
        dpop_algorithms: the proof algorithms the verifier accepts, in the order they are
            advertised; empty when it does not accept the DPoP scheme.
    """

    scheme: str | None = None
    bearer_accepted: bool = True
    dpop_algorithms: tuple[str, ...] = ()


class MissingTokenError(InvalidTokenError):
    """The request carries no credentials the verifier accepts.

    No ``Authorization`` field, an empty one, or a scheme the verifier does not accept
    (``Basic``, or ``DPoP`` with ``dpop=None``). The answer is 401 with a challenge that
    carries no ``error`` (RFC 6750 §3.1).
    """


class InvalidRequestError(InvalidTokenError):
    """The ``Authorization`` or ``DPoP`` field is malformed or repeated (answer 400).

    A scheme without a token, two tokens, characters outside ``token68``, a field sent
    twice (or two values folded into one), an empty ``DPoP`` field.
    """


class InvalidDPoPProofError(InvalidTokenError):
    """The DPoP proof is missing or fails a check of RFC 9449 §4.3.

    Answered with 401 and ``WWW-Authenticate: DPoP error="invalid_dpop_proof"``:
    a malformed proof, a wrong ``typ``, a refused ``alg``, a ``jwk`` that is missing,
    private or unusable, a bad signature, a wrong ``htm``/``htu``/``ath``, an ``iat``
    outside the window, a missing or over-long ``jti``, or a replayed proof.
    """


class UseDPoPNonceError(InvalidDPoPProofError):
    """The proof lacks a current server nonce; retry with :attr:`nonce` (RFC 9449 §9).

    Answered with 401, ``WWW-Authenticate: DPoP error="use_dpop_nonce"`` and the
    ``DPoP-Nonce`` header.

    Attributes:
        nonce: the nonce to put in the ``nonce`` claim of the next proof.
    """

    def __init__(self, message: str, *, nonce: str) -> None:
        super().__init__(message)
        self.nonce = nonce


class InvalidTokenBindingError(InvalidTokenError):
    """The token is sender-constrained and the request does not prove its binding.

    A token with ``cnf.jkt`` (DPoP, RFC 9449) or ``cnf["x5t#S256"]`` (mutual TLS,
    RFC 8705) given to ``verify``, which cannot see a proof or a certificate (use
    ``verify_request``); such a token sent with the Bearer scheme (a downgrade); a token
    without ``cnf.jkt`` sent with the DPoP scheme, or with the Bearer scheme where DPoP
    is required; a proof key or a client certificate whose thumbprint is not the one
    in ``cnf``; a malformed ``cnf``.
    """


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
