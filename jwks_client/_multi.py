"""Verifiers that accept tokens from several issuers (tenants).

The issuer of a token is read from its unverified ``iss`` claim, and only ever used if
it is allowed: listed in ``issuers``, or matching ``issuer_template`` (one ``{name}``
placeholder, e.g. ``https://login.microsoftonline.com/{tenant}/v2.0``) with a tenant
that passes ``tenants`` (a collection or a predicate). Each allowed issuer gets its own
verifier (and so its own discovery and key cache), kept in a bounded LRU map; the token
is then verified exactly as a single-issuer verifier would, so ``iss`` is checked again
against the signed token.

The options are validated once, at construction; each new issuer then only binds them
(its claims policy, its key client). A token is parsed once: the job that yields its
issuer is the job that is verified.

``verify_request`` is the single-issuer verifiers' (DPoP proofs, certificate-bound
tokens), made of the same parts: one :class:`~._sender.RequestChecker` (the ``dpop=``
option, one replay store and one nonce secret for every issuer) judges the request, and
the token is verified by its issuer's source with ``verify_job``, as ``verify`` does.

Tenants cannot drive outbound traffic: before an issuer gets a key client (and so before
its first discovery and JWKS fetch) the token's unverified claims must pass that
issuer's claims checks, so expired or wrong-audience tokens for many allowed tenants
fetch nothing; at most ``max_new_issuers_per_second`` issuers whose keys are not cached
start per second (a token bucket on the verifier's clock, a second's worth of burst),
and a token of an issuer refused so is a :class:`KeySetUnavailableError` (retry later),
counted in ``stats().new_issuers_refused``; and the key-store registry is kept at least
``max_issuers`` large, so the stores of live issuers are not evicted and refetched.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import httpx
from cachetools import LRUCache

from ._async import AsyncJWKSClient
from ._async import verify_job as verify_job_async
from ._async import verify_request_job as verify_request_job_async
from ._checker import Job, TokenChecker
from ._claims import ClaimsPolicy
from ._config import (
    DEFAULT_LEEWAY,
    bind_source,
    make_token_rules,
    rules_for_issuer,
    source_options,
)
from ._dpop import DPoP
from ._errors import (
    ConfigurationError,
    InvalidIssuerError,
    JWKSClientError,
    KeySetUnavailableError,
    MissingClaimError,
)
from ._events import Stats
from ._http import DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT
from ._messages import SHOWN_LONG_CHARS, shown
from ._request import Headers
from ._sender import RequestChecker
from ._shared import shared_protocol
from ._shell import DEFAULT_DPOP
from ._store import DEFAULT_REGISTRY, KeyStoreRegistry
from ._sync import JWKSClient, verify_job, verify_request_job
from ._token import MAX_TOKEN_LENGTH
from ._types import Clock

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = ["AsyncMultiIssuerVerifier", "MultiIssuerVerifier"]

#: How many issuers whose keys are not cached may start per second, by default.
DEFAULT_NEW_ISSUERS_PER_SECOND = 10.0

#: What a tenant placeholder may stand for: an identifier, never a path or a host.
_TENANT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

TenantRule = Collection[str] | Callable[[str], bool]
_K = TypeVar("_K", JWKSClient, AsyncJWKSClient)

#: The options of a per-issuer key client, passed through as given.
_SOURCE_OPTIONS = frozenset(
    {
        "jwks_uri",
        "jwks",
        "require_https",
        "timeout",
        "cache_policy",
        "max_response_bytes",
        "on_event",
        "store_registry",
        "shared_cache",
    }
)
_TOKEN_OPTIONS = frozenset(
    {
        "algorithms",
        "leeway",
        "token_type",
        "required_claims",
        "max_token_length",
        "verified_token_cache_size",
        "clock",
    }
)


@dataclass(frozen=True, slots=True)
class _Source(Generic[_K]):
    """What one accepted issuer needs: its claims policy and its key client."""

    policy: ClaimsPolicy
    keys: _K

    def pair(self) -> tuple[ClaimsPolicy, _K]:
        """The claims policy and the key client, as ``verify_request_job`` takes them."""
        return self.policy, self.keys


class _IssuerMap(LRUCache[str, "_Source[Any]"]):
    """An LRU map whose evicted key clients stop leading refreshes and emitting events."""

    def popitem(self) -> tuple[str, _Source[Any]]:
        issuer, source = super().popitem()
        source.keys.engine.close()
        return issuer, source


class _Budget:
    """A token bucket: ``rate`` tokens a second, holding at most a second's worth."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self._rate = rate
        self._capacity = max(rate, 1.0)
        self._clock = clock
        self._tokens = self._capacity
        self._at = clock()

    def available(self) -> bool:
        """Whether a token can be taken now (refilling first)."""
        now = self._clock()
        elapsed = now - self._at
        if elapsed > 0:
            self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
        self._at = now
        return self._tokens >= 1.0

    def take(self) -> None:
        """Spend a token (after :meth:`available` said yes)."""
        self._tokens -= 1.0


def _template_pattern(template: str) -> re.Pattern[str]:
    placeholders = _PLACEHOLDER.findall(template)
    if len(placeholders) != 1:
        raise ConfigurationError(
            f"issuer_template must hold exactly one {{placeholder}}, got {template!r}"
        )
    before, _, after = _PLACEHOLDER.split(template, maxsplit=1)
    return re.compile(re.escape(before) + f"({_TENANT})" + re.escape(after))


class _MultiBase(Generic[_K]):
    """Issuer selection, the validated options and the bounded map of per-issuer
    sources; no I/O."""

    def __init__(
        self,
        issuers: Iterable[str],
        *,
        audience: str | Collection[str] | None,
        issuer_template: str | None,
        tenants: TenantRule | None,
        max_issuers: int,
        max_new_issuers_per_second: float,
        http_client: object,
        options: dict[str, Any],
        asynchronous: bool,
    ) -> None:
        if isinstance(issuers, str):
            raise ConfigurationError("issuers must be a collection of issuer URLs, not a str")
        self._issuers = frozenset(issuers)
        if not all(isinstance(i, str) and i for i in self._issuers):
            raise ConfigurationError("issuers must be non-empty strings")
        self._pattern = _template_pattern(issuer_template) if issuer_template else None
        if self._pattern is None and tenants is not None:
            raise ConfigurationError("tenants only applies with issuer_template")
        if self._pattern is not None and tenants is None:
            raise ConfigurationError(
                "issuer_template needs tenants (a collection or a predicate): "
                "accepting any tenant would accept any issuer of the provider"
            )
        if not self._issuers and self._pattern is None:
            raise ConfigurationError("give issuers, issuer_template, or both")
        self._tenants = tenants
        if isinstance(max_issuers, bool) or not isinstance(max_issuers, int) or max_issuers < 1:
            raise ConfigurationError(f"max_issuers must be an int >= 1, got {max_issuers!r}")
        rate = max_new_issuers_per_second
        if (
            isinstance(rate, bool)
            or not isinstance(rate, (int, float))
            or not rate > 0
            or rate == float("inf")
        ):
            raise ConfigurationError(
                f"max_new_issuers_per_second must be a finite number > 0, got {rate!r}"
            )
        unknown = sorted(set(options) - _SOURCE_OPTIONS - _TOKEN_OPTIONS - {"dpop"})
        if unknown:
            raise TypeError(f"unexpected option(s): {', '.join(unknown)}")
        clock = options.get("clock", time.time)
        self._rules = make_token_rules(
            issuer=None,
            audience=audience,
            algorithms=options.get("algorithms"),
            leeway=options.get("leeway", DEFAULT_LEEWAY),
            token_type=options.get("token_type"),
            required_claims=options.get("required_claims", ()),
            max_token_length=options.get("max_token_length", MAX_TOKEN_LENGTH),
        )
        self._checker = TokenChecker(
            self._rules, clock, options.get("verified_token_cache_size", 0)
        )
        # The shared cache (if any) records accepted proofs fleet-wide, as for Verifier.
        shared = shared_protocol(options.get("shared_cache"), asynchronous=asynchronous)
        self._requests = RequestChecker(options.get("dpop", DEFAULT_DPOP), clock, shared)
        source = {name: value for name, value in options.items() if name in _SOURCE_OPTIONS}
        # Validated once here, so a bad option fails at construction, not on a token.
        template = source_options(
            require_https=source.get("require_https", True),
            timeout=source.get("timeout", DEFAULT_TIMEOUT),
            max_response_bytes=source.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES),
            cache_policy=source.get("cache_policy"),
        )
        jwks_uri = source.get("jwks_uri")
        if jwks_uri is not None:
            bind_source(template, issuer=None, jwks_uri=jwks_uri)
        self._key_options: dict[str, Any] = {**source, "clock": clock, "http_client": http_client}
        self._sources = _IssuerMap(maxsize=max_issuers)
        self._guard = threading.Lock()
        self._clock: Clock = clock
        self._budget = _Budget(float(rate), clock)
        self._refused = 0
        registry = source.get("store_registry")
        if registry is None:
            registry = DEFAULT_REGISTRY
        if isinstance(registry, KeyStoreRegistry):
            # Every live issuer's store stays registered: none is evicted and refetched.
            registry.ensure_capacity(max_issuers)

    def allows(self, issuer: str) -> bool:
        """Whether tokens from ``issuer`` are accepted."""
        if issuer in self._issuers:
            return True
        if self._pattern is None:
            return False
        match = self._pattern.fullmatch(issuer)
        if match is None:
            return False
        tenant = match.group(1)
        rule = self._tenants
        if callable(rule):
            return bool(rule(tenant))
        assert rule is not None
        return tenant in rule

    @property
    def dpop(self) -> DPoP | None:
        """The DPoP configuration of ``verify_request`` (None: DPoP is off)."""
        return self._requests.dpop

    def dpop_nonce(self) -> str | None:
        """The DPoP nonce to send now in a response's ``DPoP-Nonce`` header.

        As for ``Verifier.dpop_nonce``: None unless ``DPoP(nonce_secret=...)``; the
        nonce is valid across issuers (one secret serves the verifier).
        """
        return self._requests.nonce()

    def _source_for(self, job: Job, make: Callable[..., _K]) -> _Source[_K]:
        """The source of the job's issuer, created on first use.

        Raises:
            MissingClaimError, InvalidIssuerError: no ``iss``, or one not accepted.
        """
        issuer = job.claims.get("iss")
        if issuer is None:
            raise MissingClaimError("token has no iss claim", claim="iss")
        if not isinstance(issuer, str) or not self.allows(issuer):
            raise InvalidIssuerError(
                f"issuer {shown(issuer, SHOWN_LONG_CHARS)} is not accepted", claim="iss"
            )
        with self._guard:
            source: _Source[_K] | None = self._sources.get(issuer)
            if source is None:
                policy = rules_for_issuer(self._rules, issuer).claims
                # No key client (so no fetch) for a token that would fail anyway.
                self._checker.precheck(job, policy, self._clock())
                options = self._key_options
                fixed = options.get("jwks_uri") is not None or options.get("jwks") is not None
                keys = make(issuer=None if fixed else issuer, **options)
                if keys.state.ring is None:  # its first use will fetch: that is budgeted
                    if not self._budget.available():
                        keys.engine.close()
                        self._refused += 1
                        raise KeySetUnavailableError(
                            f"the keys of issuer {shown(issuer, SHOWN_LONG_CHARS)} are not "
                            "fetched now: too many new issuers this second, retry later"
                        )
                    self._budget.take()
                source = _Source(policy=policy, keys=keys)
                self._sources[issuer] = source
            return source

    def _take_sources(self) -> list[_Source[_K]]:
        with self._guard:
            sources = list(self._sources.values())
            self._sources.clear()
        return sources

    def stats(self) -> Stats:
        """The verification counters (verified, rejected by class, token cache hits), the
        new issuers refused and the DPoP proofs recorded only in this process (the shared
        cache failing); each issuer's key counters are its key client's."""
        with self._guard:
            refused = self._refused
        return replace(
            self._checker.stats(),
            new_issuers_refused=refused,
            dpop_replay_fallbacks=self._requests.replay_fallbacks,
        )

    @property
    def live_issuers(self) -> tuple[str, ...]:
        """The issuers with a live key client in the map, least recently used first."""
        with self._guard:
            return tuple(self._sources.keys())


class MultiIssuerVerifier(_MultiBase[JWKSClient]):
    """Verify tokens from an allowlist of issuers, or from a tenant template.

    Args:
        issuers: issuer URLs accepted as they are.
        issuer_template: an issuer URL with one ``{placeholder}`` for a tenant.
        tenants: with a template: the accepted tenants, or a predicate on a tenant.
        audience: as for :class:`Verifier` (required keyword).
        max_issuers: how many issuers keep a live key client (least recently used go);
            the key-store registry is grown to hold at least as many.
        max_new_issuers_per_second: how many issuers whose keys are not cached may start
            (fetch discovery and keys) per second, a second's worth at once (default 10);
            a token of an issuer over the budget is a ``KeySetUnavailableError`` (503).
        http_client: an ``httpx.Client`` shared by all issuers (else one is owned here).
        **options: any other :class:`Verifier` option (algorithms, leeway, clock,
            ``dpop`` for ``verify_request``, ...).

    Raises:
        ConfigurationError: an option is invalid.
        TypeError: an option is unknown.
    """

    def __init__(
        self,
        issuers: Iterable[str] = (),
        *,
        audience: str | Collection[str] | None,
        issuer_template: str | None = None,
        tenants: TenantRule | None = None,
        max_issuers: int = 100,
        max_new_issuers_per_second: float = DEFAULT_NEW_ISSUERS_PER_SECOND,
        http_client: httpx.Client | None = None,
        **options: Any,
    ) -> None:
        self._owns_client = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        super().__init__(
            issuers,
            audience=audience,
            issuer_template=issuer_template,
            tenants=tenants,
            max_issuers=max_issuers,
            max_new_issuers_per_second=max_new_issuers_per_second,
            http_client=self._http,
            options=options,
            asynchronous=False,
        )

    def verify(self, token: str | bytes) -> dict[str, Any]:
        """Verify a token from any accepted issuer and return its claims.

        Raises:
            InvalidTokenError: the token is rejected, including an issuer not accepted.
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        checker = self._checker
        try:
            job = checker.begin(token)
            source = self._source_for(job, JWKSClient)
            return verify_job(checker, job, source.policy, source.keys, token)
        except JWKSClientError as exc:
            checker.rejected(exc)
            raise

    def verify_request(
        self,
        method: str,
        url: str,
        headers: Headers,
        *,
        client_cert: str | bytes | Certificate | None = None,
    ) -> dict[str, Any]:
        """Verify a request's access token from any accepted issuer, and its DPoP proof
        or client certificate; return the claims.

        As ``Verifier.verify_request`` (the same checks, in the same order), with the
        token's issuer chosen as :meth:`verify` chooses it.

        Raises:
            MissingTokenError: no credentials, or a scheme this verifier does not accept.
            InvalidRequestError: a malformed or repeated ``Authorization`` or ``DPoP``.
            InvalidDPoPProofError: the proof is missing, invalid or replayed
                (``UseDPoPNonceError``: it needs the nonce the error carries).
            InvalidTokenBindingError: the token's binding does not hold.
            InvalidTokenError: the token is rejected, including an issuer not accepted.
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        return verify_request_job(
            self._checker,
            self._requests,
            lambda job: self._source_for(job, JWKSClient).pair(),
            method,
            url,
            headers,
            client_cert,
        )

    def close(self) -> None:
        """Close the per-issuer key clients and the owned HTTP client; idempotent."""
        for source in self._take_sources():
            source.keys.close()
        if self._owns_client:
            self._http.close()

    def __enter__(self) -> MultiIssuerVerifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncMultiIssuerVerifier(_MultiBase[AsyncJWKSClient]):
    """The asyncio twin of :class:`MultiIssuerVerifier`."""

    def __init__(
        self,
        issuers: Iterable[str] = (),
        *,
        audience: str | Collection[str] | None,
        issuer_template: str | None = None,
        tenants: TenantRule | None = None,
        max_issuers: int = 100,
        max_new_issuers_per_second: float = DEFAULT_NEW_ISSUERS_PER_SECOND,
        http_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        self._owns_client = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        super().__init__(
            issuers,
            audience=audience,
            issuer_template=issuer_template,
            tenants=tenants,
            max_issuers=max_issuers,
            max_new_issuers_per_second=max_new_issuers_per_second,
            http_client=self._http,
            options=options,
            asynchronous=True,
        )

    async def verify(self, token: str | bytes) -> dict[str, Any]:
        """Verify a token from any accepted issuer and return its claims.

        Raises:
            InvalidTokenError: the token is rejected, including an issuer not accepted.
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        checker = self._checker
        try:
            job = checker.begin(token)
            source = self._source_for(job, AsyncJWKSClient)
            return await verify_job_async(checker, job, source.policy, source.keys, token)
        except JWKSClientError as exc:
            checker.rejected(exc)
            raise

    async def verify_request(
        self,
        method: str,
        url: str,
        headers: Headers,
        *,
        client_cert: str | bytes | Certificate | None = None,
    ) -> dict[str, Any]:
        """Verify a request's access token from any accepted issuer, and its DPoP proof
        or client certificate; return the claims.

        As ``AsyncVerifier.verify_request`` (the same checks, in the same order), with the
        token's issuer chosen as :meth:`verify` chooses it.

        Raises:
            MissingTokenError: no credentials, or a scheme this verifier does not accept.
            InvalidRequestError: a malformed or repeated ``Authorization`` or ``DPoP``.
            InvalidDPoPProofError: the proof is missing, invalid or replayed
                (``UseDPoPNonceError``: it needs the nonce the error carries).
            InvalidTokenBindingError: the token's binding does not hold.
            InvalidTokenError: the token is rejected, including an issuer not accepted.
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        return await verify_request_job_async(
            self._checker,
            self._requests,
            lambda job: self._source_for(job, AsyncJWKSClient).pair(),
            method,
            url,
            headers,
            client_cert,
        )

    async def aclose(self) -> None:
        """Close the per-issuer key clients and the owned HTTP client; idempotent."""
        for source in self._take_sources():
            await source.keys.aclose()
        if self._owns_client:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncMultiIssuerVerifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
