"""Value types of a refresh: what a shell read, what a refresh learned, what it is to do.

They sit below both :mod:`._http` (which makes them) and :mod:`._policy` (which folds them
into the cache state), so neither of those two stands on the other. All are immutable:
named tuples, like the engine's steps and the policy's decisions, because a fresh process
defines every one of them at import, and a named tuple costs a fraction of a frozen
dataclass to define.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from ._cache_control import Freshness
from ._keys import KeyRing
from ._types import CachePolicy

__all__ = ["Discovered", "FetchPlan", "Fetched", "NotModified", "RawResponse"]


class RawResponse(NamedTuple):
    """A response as read by a shell: status, headers, the capped body, when it landed."""

    url: str
    status_code: int
    headers: Mapping[str, str]
    body: bytes
    received_at: float


class Discovered(NamedTuple):
    """The outcome of discovery: the JWKS URL and how long the document stays fresh."""

    jwks_uri: str
    fresh_until: float
    source_url: str


class Fetched(NamedTuple):
    """A new key set was fetched and parsed."""

    ring: KeyRing
    freshness: Freshness
    received_at: float
    jwks_uri: str
    discovered: Discovered | None
    body: bytes = b""


class NotModified(NamedTuple):
    """The server confirmed (304) that the cached key set is current."""

    freshness: Freshness
    received_at: float
    jwks_uri: str
    discovered: Discovered | None


class FetchPlan(NamedTuple):
    """What one refresh needs to know, taken from the configuration and the cache state.

    Attributes:
        issuer: the configured issuer, used for discovery (None with a fixed jwks_uri).
        jwks_uri: the JWKS URL when known and current (fixed, or discovered and fresh).
        stale_jwks_uri: a previously discovered JWKS URL, used if discovery now fails.
        etag, last_modified: validators of the cached key set, for a conditional request.
        force: the refresh is forced by an unknown kid: ask caches not to answer it.
        require_https: the https rule.
        timeout: per-request timeout in seconds.
        policy: the cache policy (lifetimes).
    """

    issuer: str | None
    jwks_uri: str | None
    stale_jwks_uri: str | None
    etag: str | None
    last_modified: str | None
    force: bool
    require_https: bool
    timeout: float
    policy: CachePolicy
