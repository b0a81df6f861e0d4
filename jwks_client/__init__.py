"""jwks-client: verify JWT access tokens against an issuer's JWKS.

>>> from jwks_client import Verifier
>>> verifier = Verifier("https://idp.example.com/", audience="https://api.example.com")
>>> claims = verifier.verify(token)  # doctest: +SKIP

Everything public is re-exported here; modules with a leading underscore are private.
"""

from __future__ import annotations

from ._async import AsyncJWKSClient, AsyncVerifier
from ._cache_control import Freshness
from ._errors import (
    AlgorithmNotAllowedError,
    ConfigurationError,
    DiscoveryError,
    ExpiredTokenError,
    FetchError,
    HTTPStatusError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidIssuerError,
    InvalidKeySetError,
    InvalidSignatureError,
    InvalidTokenError,
    InvalidTokenTypeError,
    JWKSClientError,
    KeyNotFoundError,
    KeySetUnavailableError,
    MalformedTokenError,
    MissingClaimError,
    NotYetValidError,
    ResponseTooLargeError,
)
from ._events import (
    Event,
    FetchFailed,
    KeySetFetched,
    KeySetRotated,
    StaleKeysServed,
    Stats,
)
from ._keys import KeyRing, PreparedKey, SkippedKey
from ._multi import AsyncMultiIssuerVerifier, MultiIssuerVerifier
from ._snapshot import SnapshotError
from ._store import KeyStoreRegistry
from ._sync import JWKSClient, Verifier
from ._types import ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, CachePolicy
from ._version import __version__

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "AlgorithmNotAllowedError",
    "AsyncJWKSClient",
    "AsyncMultiIssuerVerifier",
    "AsyncVerifier",
    "CachePolicy",
    "ConfigurationError",
    "DiscoveryError",
    "Event",
    "ExpiredTokenError",
    "FetchError",
    "FetchFailed",
    "Freshness",
    "HTTPStatusError",
    "InvalidAudienceError",
    "InvalidClaimError",
    "InvalidIssuerError",
    "InvalidKeySetError",
    "InvalidSignatureError",
    "InvalidTokenError",
    "InvalidTokenTypeError",
    "JWKSClient",
    "JWKSClientError",
    "KeyNotFoundError",
    "KeyRing",
    "KeySetFetched",
    "KeySetRotated",
    "KeySetUnavailableError",
    "KeyStoreRegistry",
    "MalformedTokenError",
    "MissingClaimError",
    "MultiIssuerVerifier",
    "NotYetValidError",
    "PreparedKey",
    "ResponseTooLargeError",
    "SkippedKey",
    "SnapshotError",
    "StaleKeysServed",
    "Stats",
    "Verifier",
    "__version__",
]
