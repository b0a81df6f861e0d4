"""Verifiers that accept tokens from several issuers (tenants).

The issuer of a token is read from its unverified ``iss`` claim, and only ever used if
it is allowed: listed in ``issuers``, or matching ``issuer_template`` (one ``{name}``
placeholder, e.g. ``https://login.microsoftonline.com/{tenant}/v2.0``) with a tenant
that passes ``tenants`` (a collection or a predicate). Each allowed issuer gets its own
verifier (and so its own discovery and key cache), kept in a bounded LRU map; the token
is then verified by that verifier exactly as a single-issuer verifier would, so ``iss``
is checked again against the signed token.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Iterable
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx
from cachetools import LRUCache

from ._async import AsyncVerifier
from ._errors import ConfigurationError, InvalidIssuerError, MissingClaimError
from ._messages import SHOWN_LONG_CHARS, shown
from ._sync import Verifier
from ._token import MAX_TOKEN_LENGTH, parse_token
from ._types import ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS

__all__ = ["AsyncMultiIssuerVerifier", "MultiIssuerVerifier"]

#: What a tenant placeholder may stand for: an identifier, never a path or a host.
_TENANT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

TenantRule = Collection[str] | Callable[[str], bool]
_V = TypeVar("_V", bound=Verifier | AsyncVerifier)


class _IssuerMap(LRUCache[str, _V]):
    """An LRU map whose evicted verifiers stop listening to their stores."""

    def popitem(self) -> tuple[str, _V]:
        issuer, verifier = super().popitem()
        verifier.jwks_client._detach()
        return issuer, verifier


def _template_pattern(template: str) -> re.Pattern[str]:
    placeholders = _PLACEHOLDER.findall(template)
    if len(placeholders) != 1:
        raise ConfigurationError(
            f"issuer_template must hold exactly one {{placeholder}}, got {template!r}"
        )
    before, _, after = _PLACEHOLDER.split(template, maxsplit=1)
    return re.compile(re.escape(before) + f"({_TENANT})" + re.escape(after))


class _MultiBase(Generic[_V]):
    """Issuer selection and the bounded map of per-issuer verifiers; no I/O."""

    def __init__(
        self,
        issuers: Iterable[str],
        *,
        issuer_template: str | None,
        tenants: TenantRule | None,
        max_issuers: int,
        options: dict[str, Any],
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
        algorithms = options.get("algorithms")
        self._algorithms = (
            DEFAULT_ALGORITHMS
            if algorithms is None
            else frozenset(algorithms) & ASYMMETRIC_ALGORITHMS
        )
        self._max_length = options.get("max_token_length", MAX_TOKEN_LENGTH)
        self._options = options
        self._verifiers: _IssuerMap[_V] = _IssuerMap(maxsize=max_issuers)
        self._guard = threading.Lock()

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

    def _issuer_of(self, token: str | bytes) -> str:
        parsed = parse_token(token, algorithms=self._algorithms, max_length=self._max_length)
        issuer = parsed.claims.get("iss")
        if issuer is None:
            raise MissingClaimError("token has no iss claim", claim="iss")
        if not isinstance(issuer, str) or not self.allows(issuer):
            raise InvalidIssuerError(
                f"issuer {shown(issuer, SHOWN_LONG_CHARS)} is not accepted", claim="iss"
            )
        return issuer

    def _verifier_for(self, issuer: str, make: Callable[[str], _V]) -> _V:
        with self._guard:
            verifier = self._verifiers.get(issuer)
            if verifier is None:
                verifier = make(issuer)
                self._verifiers[issuer] = verifier
            return verifier

    @property
    def live_issuers(self) -> tuple[str, ...]:
        """The issuers with a verifier in the map, least recently used first."""
        with self._guard:
            return tuple(self._verifiers.keys())


class MultiIssuerVerifier(_MultiBase[Verifier]):
    """Verify tokens from an allowlist of issuers, or from a tenant template.

    Args:
        issuers: issuer URLs accepted as they are.
        issuer_template: an issuer URL with one ``{placeholder}`` for a tenant.
        tenants: with a template: the accepted tenants, or a predicate on a tenant.
        audience: as for :class:`Verifier` (required keyword).
        max_issuers: how many issuers keep a live verifier (least recently used go).
        http_client: an ``httpx.Client`` shared by all issuers (else one is owned here).
        **options: any other :class:`Verifier` option (algorithms, leeway, clock, ...).

    Raises:
        ConfigurationError: an option is invalid.
    """

    def __init__(
        self,
        issuers: Iterable[str] = (),
        *,
        audience: str | Collection[str] | None,
        issuer_template: str | None = None,
        tenants: TenantRule | None = None,
        max_issuers: int = 100,
        http_client: httpx.Client | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            issuers,
            issuer_template=issuer_template,
            tenants=tenants,
            max_issuers=max_issuers,
            options={"audience": audience, **options},
        )
        self._owns_client = http_client is None
        self._http = http_client if http_client is not None else httpx.Client()
        # Fail at construction, not on the first token, when options are wrong.
        Verifier("https://issuer.invalid", http_client=self._http, **self._options).close()

    def verify(self, token: str | bytes) -> dict[str, Any]:
        """Verify a token from any accepted issuer and return its claims.

        Raises:
            InvalidTokenError: the token is rejected, including an issuer not accepted.
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        issuer = self._issuer_of(token)
        verifier = self._verifier_for(
            issuer, lambda iss: Verifier(iss, http_client=self._http, **self._options)
        )
        return verifier.verify(token)

    def close(self) -> None:
        """Close the per-issuer verifiers and the owned HTTP client; idempotent."""
        with self._guard:
            verifiers = list(self._verifiers.values())
            self._verifiers.clear()
        for verifier in verifiers:
            verifier.close()
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


class AsyncMultiIssuerVerifier(_MultiBase[AsyncVerifier]):
    """The asyncio twin of :class:`MultiIssuerVerifier`."""

    def __init__(
        self,
        issuers: Iterable[str] = (),
        *,
        audience: str | Collection[str] | None,
        issuer_template: str | None = None,
        tenants: TenantRule | None = None,
        max_issuers: int = 100,
        http_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            issuers,
            issuer_template=issuer_template,
            tenants=tenants,
            max_issuers=max_issuers,
            options={"audience": audience, **options},
        )
        self._owns_client = http_client is None
        self._http = http_client if http_client is not None else httpx.AsyncClient()
        AsyncVerifier("https://issuer.invalid", http_client=self._http, **self._options)

    async def verify(self, token: str | bytes) -> dict[str, Any]:
        """Verify a token from any accepted issuer and return its claims.

        Raises:
            InvalidTokenError: the token is rejected, including an issuer not accepted.
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        issuer = self._issuer_of(token)
        verifier = self._verifier_for(
            issuer, lambda iss: AsyncVerifier(iss, http_client=self._http, **self._options)
        )
        return await verifier.verify(token)

    async def aclose(self) -> None:
        """Close the per-issuer verifiers and the owned HTTP client; idempotent."""
        with self._guard:
            verifiers = list(self._verifiers.values())
            self._verifiers.clear()
        for verifier in verifiers:
            await verifier.aclose()
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
