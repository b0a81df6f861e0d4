"""Small shared value types: the cache policy, the clock, the algorithm tables."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import ConfigurationError

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "CachePolicy",
    "Clock",
    "new_tuple",
]

#: A callable returning the current time as Unix seconds (``time.time`` by default).
Clock = Callable[[], float]

#: Every JWS algorithm the library can verify: asymmetric only. ``none`` and HS* are
#: absent by construction, so no option can enable them.
ASYMMETRIC_ALGORITHMS: frozenset[str] = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "ES256K",
        "EdDSA",
        "Ed25519",
        "Ed448",
    }
)

#: The default allowlist: RS*/PS*/ES256/384/512, EdDSA and RFC 9864's Ed25519.
#: ES256K (secp256k1) and RFC 9864's Ed448 are verifiable but opt-in.
DEFAULT_ALGORITHMS: frozenset[str] = ASYMMETRIC_ALGORITHMS - {"ES256K", "Ed448"}


def algorithm_allowlist(algorithms: Iterable[str] | None, name: str) -> frozenset[str]:
    """An option's JWS algorithm allowlist: :data:`DEFAULT_ALGORITHMS` for None, else the
    names given, every one asymmetric, at least one.

    Args:
        algorithms: the option's value.
        name: the option as messages name it (``"algorithms"``, ``"DPoP algorithms"``).

    Raises:
        ConfigurationError: a str, an algorithm this library does not verify, or none.
    """
    if algorithms is None:
        return DEFAULT_ALGORITHMS
    if isinstance(algorithms, str):
        raise ConfigurationError(f"{name} must be a collection of names, not a str")
    allowed = frozenset(algorithms)
    refused = sorted(map(str, allowed - ASYMMETRIC_ALGORITHMS))
    if refused:
        raise ConfigurationError(
            f"{name} not supported: {refused}; only asymmetric JWS algorithms "
            f"are accepted ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
        )
    if not allowed:
        raise ConfigurationError(f"{name} must not be empty")
    return allowed


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"CachePolicy.{name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"CachePolicy.{name} must be finite and >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How long fetched key sets (and discovery documents) are trusted.

    All values are seconds.

    Attributes:
        default_ttl: lifetime of a response that carries no usable freshness
            information (no ``Cache-Control: max-age``, no ``Expires``).
        min_ttl: lower clamp of any lifetime. ``no-cache``, ``no-store`` and
            ``max-age=0`` mean "revalidate soon", so they yield this value instead of
            a fetch on every request.
        max_ttl: upper clamp of any lifetime, so a rotation is noticed even when the
            issuer advertises a very long max-age.
        refresh_cooldown: minimum time between two refreshes forced by unknown
            ``kid`` values (or retried after a failure). An unknown kid within the
            cooldown is rejected without I/O.
        stale_if_error: how long past its expiry the last good key set keeps serving
            while refreshes fail.
        refresh_ahead: fraction of a key set's lifetime after which a background
            refresh may start while the cached set keeps serving (0 disables it).
    """

    default_ttl: float = 600.0
    min_ttl: float = 60.0
    max_ttl: float = 86_400.0
    refresh_cooldown: float = 30.0
    stale_if_error: float = 3_600.0
    refresh_ahead: float = 0.8

    def __post_init__(self) -> None:
        for name in (
            "default_ttl",
            "min_ttl",
            "max_ttl",
            "refresh_cooldown",
            "stale_if_error",
            "refresh_ahead",
        ):
            _check_seconds(name, getattr(self, name))
        if self.min_ttl > self.max_ttl:
            raise ConfigurationError(
                f"CachePolicy.min_ttl ({self.min_ttl}) exceeds max_ttl ({self.max_ttl})"
            )
        if self.refresh_ahead >= 1:
            raise ConfigurationError(
                f"CachePolicy.refresh_ahead must be in [0, 1), got {self.refresh_ahead!r}"
            )

    def clamp(self, lifetime: float) -> float:
        """Return ``lifetime`` clamped to ``[min_ttl, max_ttl]``."""
        if lifetime != lifetime:  # NaN
            return self.min_ttl
        return min(max(lifetime, self.min_ttl), self.max_ttl)


_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def keep(memo: dict[_Key, _Value], key: _Key, value: _Value, size: int) -> None:
    """Put ``key`` in a memo of at most ``size`` entries that starts over when full.

    Crude but bounded, and a plain dict read with ``get`` and written here is never torn
    by threads: the memos of the hot path (parsed headers, proof keys, token hashes).
    """
    if len(memo) >= size:
        memo.clear()
    memo[key] = value


_Tuple = TypeVar("_Tuple", bound=tuple[Any, ...])

if TYPE_CHECKING:

    def new_tuple(cls: type[_Tuple], fields: tuple[Any, ...], /) -> _Tuple:
        """Build the named tuple ``cls`` from a tuple of its fields."""

else:
    # ``tuple.__new__`` itself: a named tuple's own constructor is a Python function, one
    # frame more on the hot path for every token, proof and request parsed.
    new_tuple = tuple.__new__


class Tally:
    """A count bumped on the hot path without a lock.

    ``bump`` is an ``itertools.count``'s ``__next__``: one C call that holds the GIL
    throughout, so bumps from any number of threads are never lost, at a tenth of the
    cost of taking a lock to add to an int. :attr:`value` reads the count back from the
    counter's text, ``count(N)``, the one way ``itertools.count`` shows its state.
    """

    __slots__ = ("_counter", "bump")

    def __init__(self) -> None:
        self._counter = itertools.count()
        self.bump: Callable[[], int] = self._counter.__next__

    @property
    def value(self) -> int:
        """How many times :attr:`bump` was called."""
        return int(repr(self._counter)[6:-1])  # "count(N)"
