"""The token side of a verifier: parse, pre-check, complete, remember, count.

Theory of operation
-------------------
A verification is three calls a shell makes around the key lookup, the same for sync
and async verifiers and for single- and multi-issuer ones:

1. :meth:`TokenChecker.begin` turns the token into a *job*: a :class:`Recalled` token
   when the verified-token cache holds it, otherwise the :class:`~._token.ParsedToken`.
   Both carry ``alg``, ``kid``, ``typ`` and ``claims``.
2. The shell asks the key engine for candidates for the job's ``alg``/``kid``, passing
   :meth:`TokenChecker.precheck` so no refresh is spent on a token that would fail anyway.
3. :meth:`TokenChecker.complete` checks the job against the candidates and the claims
   policy (:func:`~._verify.verify_parsed`) and returns the claims. A recalled token is
   served only while the key that verified it is still a candidate; otherwise it is
   parsed and verified again with the same candidates (same token, same header, so the
   same lookup).

The verified-token cache (``cache_size > 0``) is keyed by a SHA-256 digest of the token,
bounded in size (LRU) and in time: an entry never outlives the token's ``exp`` plus the
leeway. Claims are validated on every call, and so is the issuer binding of the key that
verified the token (the set may have re-bound it since). Every call gets claims of its
own: an entry keeps a private copy, and each hit returns a fresh copy of it (nested
arrays and objects included; 0.6 us for flat claims), so no caller can change what
another caller (or the cache) sees.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from cachetools import TLRUCache

from . import _fork
from ._claims import ClaimsPolicy, validate_claims
from ._config import TokenRules
from ._errors import ConfigurationError, JWKSClientError
from ._keys import PreparedKey
from ._token import HeaderMemo, ParsedToken
from ._types import Clock, Tally
from ._verify import check_issuer_binding, verify_parsed

if TYPE_CHECKING:
    from ._events import Stats

__all__ = ["Job", "Recalled", "TokenChecker", "copy_claims"]


class _Verified(NamedTuple):
    """A token whose signature was verified, remembered by the digest of the token."""

    claims: dict[str, Any]
    typ: str | None
    alg: str
    kid: str | None
    key: PreparedKey
    expires_at: float


def _entry_expiry(_digest: bytes, entry: _Verified, _now: float) -> float:
    return entry.expires_at


def _copy_json(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {name: _copy_json(item) for name, item in value.items()}
    if kind is list:
        return [_copy_json(item) for item in value]
    return value  # str, int, float, bool, None: immutable


def copy_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of decoded JSON claims that shares nothing mutable with them.

    Arrays and objects are copied at every depth; strings, numbers, booleans and null are
    immutable and shared. The common flat claims cost one dict copy.
    """
    copied = dict(claims)
    for name, value in copied.items():
        kind = type(value)
        if kind is dict or kind is list:
            copied[name] = _copy_json(value)
    return copied


class Recalled(NamedTuple):
    """A token found in the verified-token cache."""

    token: str | bytes
    digest: bytes
    entry: _Verified

    @property
    def alg(self) -> str:
        """The token's ``alg``."""
        return self.entry.alg

    @property
    def kid(self) -> str | None:
        """The token's ``kid``."""
        return self.entry.kid

    @property
    def typ(self) -> str | None:
        """The token's ``typ``."""
        return self.entry.typ

    @property
    def claims(self) -> Mapping[str, Any]:
        """The token's claims (read-only use)."""
        return self.entry.claims


Job = ParsedToken | Recalled


class TokenChecker:
    """Parse rules, the verified-token cache and the verification counters of a verifier.

    Args:
        rules: the validated token rules (only their parse rules and leeway are used here;
            the claims policy is passed to each call, so a multi-issuer verifier shares
            one checker).
        clock: returns Unix seconds.
        cache_size: how many verified tokens to remember (0 disables the cache).

    Raises:
        ConfigurationError: ``cache_size`` is not an int >= 0.
    """

    def __init__(self, rules: TokenRules, clock: Clock, cache_size: int = 0) -> None:
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise ConfigurationError(
                f"verified_token_cache_size must be an int >= 0, got {cache_size!r}"
            )
        self.rules = rules
        self._max_length = rules.max_token_length
        self._headers = HeaderMemo(rules.algorithms, rules.max_token_length)
        self._leeway = rules.claims.leeway
        self._clock = clock
        self._cache: TLRUCache[bytes, _Verified] | None = (
            TLRUCache(maxsize=cache_size, ttu=_entry_expiry, timer=clock) if cache_size else None
        )
        self._cache_lock = threading.Lock()
        self._outcomes: Counter[str] = Counter()  # rejections by class, and cache hits
        self._verified = Tally()  # the hot path's count: no lock
        self._outcome_lock = threading.Lock()
        _fork.track(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: fresh locks."""
        self._cache_lock = threading.Lock()
        self._outcome_lock = threading.Lock()

    def parse(self, token: str | bytes) -> ParsedToken:
        """Parse ``token`` strictly with the allowed algorithms and the length cap.

        Raises:
            MalformedTokenError, AlgorithmNotAllowedError: see :func:`~._token.parse_token`.
        """
        return self._headers.parse(token)

    def begin(self, token: str | bytes) -> Job:
        """The job for ``token``: recalled from the cache, or parsed.

        Raises:
            MalformedTokenError, AlgorithmNotAllowedError: the token cannot be parsed.
        """
        cache = self._cache
        if cache is not None:
            digest = self._digest(token)
            if digest is not None:
                with self._cache_lock:
                    entry = cache.get(digest)
                if entry is not None:
                    return Recalled(token, digest, entry)
        return self._headers.parse(token)

    def precheck(self, job: Job, policy: ClaimsPolicy, now: float) -> None:
        """The claims checks alone, on the unverified job, before a refresh is spent.

        Raises:
            InvalidTokenError: the token would be rejected whatever the keys.
        """
        validate_claims(job.claims, typ=job.typ, policy=policy, now=now)

    def complete(
        self,
        job: Job,
        candidates: tuple[PreparedKey, ...],
        policy: ClaimsPolicy,
        token: str | bytes,
        *,
        bound: bool = False,
    ) -> dict[str, Any]:
        """Verify ``job`` (made from ``token``) with ``candidates`` under ``policy``; return
        the claims.

        A sender-constrained token (``cnf.jkt`` or ``cnf["x5t#S256"]``) is refused unless
        ``bound`` says its binding is checked by the caller (``verify_request``).

        Raises:
            InvalidTokenError: the token is rejected (a subclass says why).
        """
        if not bound and "cnf" in job.claims:
            from ._dpop import refuse_bound  # only for a token with a confirmation

            refuse_bound(job.claims)
        if type(job) is Recalled:
            claims = self._serve_recalled(job, candidates, policy)
            if claims is not None:
                return claims
            job = self.parse(job.token)
        assert type(job) is ParsedToken
        key = verify_parsed(job, candidates, policy, self._clock())
        if self._cache is not None:
            self._remember(token, job, key)
        self._verified.bump()
        return job.claims

    def rejected(self, error: JWKSClientError) -> None:
        """Count a rejection by its exception class."""
        with self._outcome_lock:
            self._outcomes[type(error).__name__] += 1

    def stats(self) -> Stats:
        """The verification counters (the key counters are the engine's)."""
        from ._events import Stats

        with self._outcome_lock:
            outcomes = dict(self._outcomes)
        verified = self._verified.value
        hits = outcomes.pop("token_cache_hit", 0)
        return Stats(verified=verified, rejected=outcomes, token_cache_hits=hits)

    def cached_tokens(self) -> int:
        """How many verified tokens the cache holds now."""
        if self._cache is None:
            return 0
        with self._cache_lock:
            return len(self._cache)

    # --- the verified-token cache ---------------------------------------------------------

    def _digest(self, token: object) -> bytes | None:
        """The cache key of a token, or None when the token cannot be cached."""
        if isinstance(token, str):
            if len(token) > self._max_length:
                return None
            return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        if isinstance(token, bytes):
            if len(token) > self._max_length:
                return None
            return hashlib.sha256(token).digest()
        return None

    def _serve_recalled(
        self, job: Recalled, candidates: tuple[PreparedKey, ...], policy: ClaimsPolicy
    ) -> dict[str, Any] | None:
        """Claims of a remembered token if its key still serves, else forget it (None)."""
        entry = job.entry
        thumbprint = entry.key.thumbprint
        key = next((key for key in candidates if key.thumbprint == thumbprint), None)
        if key is None:
            assert self._cache is not None
            with self._cache_lock:
                self._cache.pop(job.digest, None)
            return None
        if key.issuer is not None:
            # The key as the set publishes it now: its issuer binding may have changed.
            check_issuer_binding(entry.claims, key)
        validate_claims(entry.claims, typ=entry.typ, policy=policy, now=self._clock())
        with self._outcome_lock:
            self._outcomes["token_cache_hit"] += 1
        self._verified.bump()
        return copy_claims(entry.claims)

    def _remember(self, token: object, parsed: ParsedToken, key: PreparedKey) -> None:
        assert self._cache is not None
        digest = self._digest(token)
        exp = parsed.claims.get("exp")
        try:
            expires_at = float(exp) + self._leeway  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return
        if digest is None:
            return
        entry = _Verified(
            # The caller keeps parsed.claims: the entry keeps a copy nobody else holds.
            claims=copy_claims(parsed.claims),
            typ=parsed.typ,
            alg=parsed.alg,
            kid=parsed.kid,
            key=key,
            expires_at=expires_at,
        )
        with self._cache_lock:
            self._cache[digest] = entry
