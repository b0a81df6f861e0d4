"""jwks-client: verify JWT access tokens against an issuer's JWKS.

>>> from jwks_client import Verifier
>>> verifier = Verifier("https://idp.example.com/", audience="https://api.example.com")
>>> claims = verifier.verify(token)  # doctest: +SKIP

Everything public is re-exported here; modules with a leading underscore are private.
"""

from __future__ import annotations

from ._async import AsyncJWKSClient, AsyncVerifier
from ._cache_control import Freshness
from ._challenge import Challenge, challenge_for
from ._dpop import DPoP
from ._errors import (
    AlgorithmNotAllowedError,
    ConfigurationError,
    DiscoveryError,
    ExpiredTokenError,
    FetchError,
    HTTPStatusError,
    InvalidAudienceError,
    InvalidClaimError,
    InvalidDPoPProofError,
    InvalidIssuerError,
    InvalidKeySetError,
    InvalidRequestError,
    InvalidSignatureError,
    InvalidTokenBindingError,
    InvalidTokenError,
    InvalidTokenTypeError,
    JWKSClientError,
    KeyNotFoundError,
    KeySetUnavailableError,
    MalformedTokenError,
    MissingClaimError,
    MissingTokenError,
    NotYetValidError,
    ResponseTooLargeError,
    UseDPoPNonceError,
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
from ._replay import MemoryReplayStore, ReplayStore
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
    "Challenge",
    "ConfigurationError",
    "DPoP",
    "DiscoveryError",
    "Event",
    "ExpiredTokenError",
    "FetchError",
    "FetchFailed",
    "Freshness",
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
    "JWKSClient",
    "JWKSClientError",
    "KeyNotFoundError",
    "KeyRing",
    "KeySetFetched",
    "KeySetRotated",
    "KeySetUnavailableError",
    "KeyStoreRegistry",
    "MalformedTokenError",
    "MemoryReplayStore",
    "MissingClaimError",
    "MissingTokenError",
    "MultiIssuerVerifier",
    "NotYetValidError",
    "PreparedKey",
    "ReplayStore",
    "ResponseTooLargeError",
    "SkippedKey",
    "SnapshotError",
    "StaleKeysServed",
    "Stats",
    "UseDPoPNonceError",
    "Verifier",
    "__version__",
    "challenge_for",
]
