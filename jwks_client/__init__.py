"""jwks-client: verify JWT access tokens against an issuer's JWKS.

>>> from jwks_client import Verifier
>>> verifier = Verifier("https://idp.example.com/", audience="https://api.example.com")
>>> claims = verifier.verify(token)  # doctest: +SKIP

Everything public is re-exported here; modules with a leading underscore are private.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from ._cache_control import Freshness
from ._dpop_options import DPoP
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
from ._keys import KeyRing, PreparedKey, SkippedKey
from ._store import KeyStoreRegistry
from ._sync import JWKSClient, Verifier
from ._types import ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, CachePolicy
from ._version import __version__

if _typing.TYPE_CHECKING:
    from ._async import AsyncJWKSClient, AsyncVerifier
    from ._challenge import Challenge, challenge_for
    from ._events import (
        Event,
        FetchFailed,
        KeySetFetched,
        KeySetRotated,
        SharedCacheUnavailable,
        StaleKeysServed,
        Stats,
    )
    from ._multi import AsyncMultiIssuerVerifier, MultiIssuerVerifier
    from ._replay import MemoryReplayStore, ReplayStore
    from ._snapshot import SnapshotError

#: Public names loaded on first access, with their modules: the async shells (and the
#: multi-issuer verifiers, which hold both kinds) import asyncio, which costs a sync-only
#: process tens of milliseconds at start-up for nothing. The others are loaded by the
#: library only when it uses them (the answers to rejected requests and the DPoP replay
#: stores by ``verify_request``, the events when a hook is called, ``Stats`` by
#: ``stats()``, the snapshots' error with the first snapshot), so a process that only
#: verifies tokens does not pay for them at start-up.
_LAZY = {
    "AsyncJWKSClient": "._async",
    "AsyncVerifier": "._async",
    "AsyncMultiIssuerVerifier": "._multi",
    "MultiIssuerVerifier": "._multi",
    "Challenge": "._challenge",
    "challenge_for": "._challenge",
    "MemoryReplayStore": "._replay",
    "ReplayStore": "._replay",
    "Event": "._events",
    "FetchFailed": "._events",
    "KeySetFetched": "._events",
    "KeySetRotated": "._events",
    "SharedCacheUnavailable": "._events",
    "StaleKeysServed": "._events",
    "Stats": "._events",
    "SnapshotError": "._snapshot",
}

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
    "SharedCacheUnavailable",
    "SkippedKey",
    "SnapshotError",
    "StaleKeysServed",
    "Stats",
    "UseDPoPNonceError",
    "Verifier",
    "__version__",
    "challenge_for",
]


def __getattr__(name: str) -> _typing.Any:
    """Load a lazily exported name on first access and keep it in the module."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
