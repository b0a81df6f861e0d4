"""The ``DPoP`` options of a verifier (RFC 9449), validated once.

Apart from the proof checks (:mod:`._dpop`): every verifier holds these options from its
construction (the default is ``DPoP()``), while the code that checks proofs loads with
the first ``verify_request``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from ._errors import ConfigurationError
from ._types import algorithm_allowlist

if TYPE_CHECKING:
    from ._replay import ReplayStore

__all__ = ["MIN_NONCE_SECRET_BYTES", "DPoP", "dpop_option"]

#: Shortest ``nonce_secret`` accepted, in bytes.
MIN_NONCE_SECRET_BYTES: Final = 16


def _seconds(name: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"DPoP {name} must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ConfigurationError(f"DPoP {name} must be finite and {bound}, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class DPoP:
    """How a verifier accepts DPoP-bound access tokens (RFC 9449), for ``verify_request``.

    Give it as ``dpop=`` to ``Verifier`` or ``AsyncVerifier``; the default, ``DPoP()``,
    accepts both the Bearer and the DPoP scheme, and ``dpop=None`` turns DPoP off (the
    DPoP scheme is then answered as "no credentials").

    Attributes:
        required: refuse plain bearer tokens: only DPoP-bound tokens, with their proofs,
            are accepted.
        max_age: how long after its ``iat`` a proof is accepted, seconds (default 300).
            Each accepted proof is remembered this long, to refuse its replay. With a
            ``nonce_secret``, also the length of a nonce's time window.
        leeway: how far in the future a proof's ``iat`` may be, seconds (default 5).
        nonce_secret: when set (at least 16 bytes, or text), proofs must carry a server
            nonce (RFC 9449 §9) made with this secret; every process given the same
            secret accepts the same nonces. ``verifier.dpop_nonce()`` gives the nonce
            for the ``DPoP-Nonce`` header of a response.
        algorithms: the JWS algorithms accepted for proofs (default: the verifier's
            default allowlist, RS*, PS*, ES256/384/512, EdDSA, Ed25519); asymmetric only.
            Stored as a frozenset.
        replay_store: where accepted proofs are remembered (a :class:`ReplayStore`);
            default: the process's :class:`MemoryReplayStore`, shared by every verifier.

    Raises:
        ConfigurationError: a field is invalid.
    """

    required: bool = False
    max_age: float = 300.0
    leeway: float = 5.0
    # Left out of repr: a configuration printed in a log must not leak the secret.
    nonce_secret: bytes | str | None = field(default=None, repr=False)
    algorithms: Collection[str] | None = None
    replay_store: ReplayStore | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.required, bool):
            raise ConfigurationError(f"DPoP required must be a bool, got {self.required!r}")
        object.__setattr__(self, "max_age", _seconds("max_age", self.max_age, positive=True))
        object.__setattr__(self, "leeway", _seconds("leeway", self.leeway, positive=False))
        secret = self.nonce_secret
        if secret is not None:
            if not isinstance(secret, (bytes, str)):
                raise ConfigurationError(
                    f"DPoP nonce_secret must be bytes, text or None, not {type(secret).__name__}"
                )
            if len(_secret_bytes(secret)) < MIN_NONCE_SECRET_BYTES:
                raise ConfigurationError(
                    f"DPoP nonce_secret must be at least {MIN_NONCE_SECRET_BYTES} bytes long"
                )
        object.__setattr__(self, "algorithms", _proof_algorithms(self.algorithms))
        store = self.replay_store
        if store is not None and not callable(getattr(store, "first_use", None)):
            raise ConfigurationError(
                f"DPoP replay_store must have a first_use method, got {type(store).__name__}"
            )

    @property
    def advertised_algorithms(self) -> tuple[str, ...]:
        """The proof algorithms, sorted, as the ``algs`` of a ``DPoP`` challenge."""
        assert self.algorithms is not None  # set in __post_init__
        return tuple(sorted(self.algorithms))

    @property
    def secret(self) -> bytes | None:
        """The nonce secret as bytes (None when nonces are off)."""
        return None if self.nonce_secret is None else _secret_bytes(self.nonce_secret)


def _secret_bytes(secret: bytes | str) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _proof_algorithms(algorithms: object) -> frozenset[str]:
    if algorithms is not None and not isinstance(algorithms, Collection):
        raise ConfigurationError("DPoP algorithms must be a collection of names, not a str")
    return algorithm_allowlist(algorithms, "DPoP algorithms")


def dpop_option(dpop: object) -> DPoP | None:
    """The ``dpop=`` option of a verifier, checked: a :class:`DPoP` or None.

    Raises:
        ConfigurationError: anything else.
    """
    if dpop is not None and not isinstance(dpop, DPoP):
        raise ConfigurationError(f"dpop must be a DPoP or None, got {dpop!r}")
    return dpop
