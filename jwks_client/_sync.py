"""The synchronous shell: ``JWKSClient`` and ``Verifier``.

It owns the ``httpx.Client`` and the background thread, waits on the key store's
in-flight refresh with ``Future.result``, and only drives the pure core. ``_async.py``
is its mirror image.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._claims import validate_claims
from ._errors import JWKSClientError, KeySetUnavailableError
from ._events import EventHook
from ._http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    BodyLimit,
    Fetched,
    NotModified,
    RawResponse,
    RefreshFlow,
    refresh_flow,
    transport_error,
)
from ._keys import KeyRing, PreparedKey
from ._policy import CacheState, Refresh, RefreshMode, Reject, Serve
from ._shell import MAX_ROUNDS, KeySourceBase, StaticJWKS, VerifierBase
from ._token import MAX_TOKEN_LENGTH, ParsedToken, parse_token
from ._types import CachePolicy, Clock
from ._verify import DEFAULT_LEEWAY, check_key_issuer, check_signature

if TYPE_CHECKING:
    import httpx

__all__ = ["JWKSClient", "Verifier", "send_capped"]


def send_capped(
    client: httpx.Client,
    request: httpx.Request,
    *,
    timeout: float,
    max_bytes: int,
    clock: Clock,
) -> RawResponse:
    """Send ``request`` (no redirects) and read a 200 body under the size cap and deadline.

    Raises:
        KeySetUnavailableError: transport failure, timeout, or a body over the cap.
    """
    import httpx  # with the first request, not at start-up

    url = str(request.url)
    deadline = time.monotonic() + timeout
    try:
        response = client.send(request, stream=True, follow_redirects=False)
        try:
            body = b""
            if response.status_code == 200:
                limit = BodyLimit(
                    url,
                    max_bytes,
                    response.headers.get("content-length"),
                    response.headers.get("content-encoding"),
                )
                chunks = response.iter_raw()
                try:
                    for chunk in chunks:
                        limit.feed(chunk)
                        if time.monotonic() > deadline:
                            raise httpx.ReadTimeout("body too slow", request=request)
                finally:
                    chunks.close()  # type: ignore[attr-defined]
                body = limit.body()
        finally:
            response.close()
    except KeySetUnavailableError:
        raise
    except Exception as exc:  # the I/O boundary: nothing foreign escapes
        raise transport_error(exc, url, timeout) from exc
    return RawResponse(url, response.status_code, response.headers, body, clock())


class JWKSClient(KeySourceBase):
    """Keys of one issuer, fetched, cached and refreshed with care.

    Give it a ``jwks_uri``, or an ``issuer`` to discover the JWKS URL from. It returns
    ready-to-verify keys for a ``kid``/``alg``: it fetches on a cold cache, refreshes on
    an unknown kid (once per cooldown), serves the last good keys while the issuer fails,
    and lets concurrent threads share one in-flight fetch.

    Args:
        jwks_uri: the JWKS URL (skips discovery).
        issuer: the issuer whose discovery document names the JWKS URL.
        jwks: a static key set instead of a URL: a mapping, JSON text or bytes, or a
            path to a JSON file (tests, air-gapped deployments). It is never refreshed.
        http_client: an ``httpx.Client`` the caller owns (never closed here).
        require_https: refuse plain-http URLs (default True).
        clock: returns Unix seconds; drives cache timing (default ``time.time``).
        timeout: seconds for each request (default 5).
        cache_policy: lifetimes, cooldown and stale window (default ``CachePolicy()``).
        max_response_bytes: size cap of a response body (default 1 MiB).
        on_event: called with each event of the key store (fetched, rotated, fetch
            failed, stale served); see ``jwks_client.KeySetFetched`` and friends.

    Raises:
        ConfigurationError: an option is invalid.
    """

    def __init__(
        self,
        jwks_uri: str | None = None,
        *,
        issuer: str | None = None,
        jwks: StaticJWKS | None = None,
        http_client: httpx.Client | None = None,
        require_https: bool = True,
        clock: Clock = time.time,
        timeout: float = DEFAULT_TIMEOUT,
        cache_policy: CachePolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        on_event: EventHook | None = None,
    ) -> None:
        super().__init__(
            jwks_uri=jwks_uri,
            issuer=issuer,
            require_https=require_https,
            clock=clock,
            timeout=timeout,
            cache_policy=cache_policy,
            max_response_bytes=max_response_bytes,
            jwks=jwks,
            on_event=on_event,
        )
        self._owns_client = http_client is None
        # Created on the first fetch: a client whose keys are already cached (shared
        # store, snapshot, static set) never pays for building one.
        self._http: httpx.Client | None = http_client
        self._http_guard = threading.Lock()
        self._background_guard = threading.Lock()
        self._background: threading.Thread | None = None

    def get_key(self, kid: str | None, alg: str) -> PreparedKey:
        """Return the first key that matches ``kid`` and ``alg``.

        Raises:
            KeyNotFoundError: no such key, even after the allowed refresh.
            KeySetUnavailableError: the key set could not be obtained.
        """
        return self.candidates(alg, kid)[0]

    def candidates(self, alg: str, kid: str | None) -> tuple[PreparedKey, ...]:
        """Return every key that may verify a token with ``alg``/``kid`` (never empty).

        Raises:
            KeyNotFoundError: no such key, even after the allowed refresh.
            KeySetUnavailableError: the key set could not be obtained.
        """
        return self._resolve(alg, kid)

    def key_set(self) -> KeyRing:
        """Return the current key set, fetching it when there is none usable.

        Raises:
            KeySetUnavailableError: the key set could not be obtained.
        """
        ring = self._usable_ring()
        if ring is None:
            self._refresh(self._state, RefreshMode.BLOCKING)
            ring = self._usable_ring()
            if ring is None:
                raise self._unavailable()
        return ring

    def refresh(self) -> KeyRing:
        """Fetch the key set now (revalidating), whatever the cache says.

        Raises:
            KeySetUnavailableError: the refresh failed (the cached keys are kept).
        """
        self._refresh(self._state, RefreshMode.FORCED)
        ring = self._state.ring
        if self._state.last_error is not None or ring is None:
            raise self._unavailable()
        return ring

    def close(self) -> None:
        """Wait for a background refresh, close the HTTP client if owned; idempotent."""
        self._closed = True
        self._detach()
        background = self._background
        if background is not None:
            background.join(timeout=self._config.timeout * 2 + 1)
        client = self._http
        if self._owns_client and client is not None:
            client.close()

    def __enter__(self) -> JWKSClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- driving the core ------------------------------------------------------------

    def _resolve(
        self, alg: str, kid: str | None, parsed: ParsedToken | None = None
    ) -> tuple[PreparedKey, ...]:
        waited = False
        for _ in range(MAX_ROUNDS):
            now = self._clock()
            state, found, decision = self._lookup(alg, kid, now)
            if decision is None:
                if waited:
                    self._served(state, False, waited)
                else:
                    self._hit()
                return found
            if isinstance(decision, Serve):
                self._served(state, decision.stale, waited)
                if decision.background:
                    self._start_background(state)
                return found
            if isinstance(decision, Reject):
                raise self._rejection(decision, alg, kid, waited)
            assert isinstance(decision, Refresh)
            precheck = self._precheck
            if decision.mode is RefreshMode.FORCED and parsed is not None and precheck is not None:
                precheck(parsed, now)
            waited = True
            self._refresh(state, decision.mode)
        raise self._exhausted(alg, kid)

    def _refresh(self, observed: CacheState, mode: RefreshMode, *, wait: bool = True) -> None:
        """Lead a refresh, or wait for the one in flight, unless the state moved on."""
        claim = self._store.claim(observed, mode)
        if claim.plan is not None:
            outcome: Fetched | NotModified | KeySetUnavailableError
            try:
                outcome = self._run(refresh_flow(claim.plan))
            except KeySetUnavailableError as exc:
                outcome = exc
            except BaseException as exc:
                self._store.finish(claim, exc)
                raise
            self._store.finish(claim, outcome)
        elif claim.future is not None and wait:
            try:
                claim.future.result(timeout=self._wait_timeout())
            except FutureTimeout as exc:
                raise self._wait_timed_out() from exc

    def _run(self, flow: RefreshFlow) -> Fetched | NotModified:
        try:
            request = next(flow)
            while True:
                try:
                    raw = self._send(request)
                except KeySetUnavailableError as exc:
                    request = flow.throw(exc)
                else:
                    request = flow.send(raw)
        except StopIteration as stop:
            result: Fetched | NotModified = stop.value
            return result

    def _client(self) -> httpx.Client:
        client = self._http
        if client is None:
            with self._http_guard:
                client = self._http
                if client is None:
                    from ._transport import owned_client  # httpx loads here, not at start-up

                    client = self._http = owned_client(self._config.timeout)
        return client

    def _send(self, request: httpx.Request) -> RawResponse:
        config = self._config
        return send_capped(
            self._client(),
            request,
            timeout=config.timeout,
            max_bytes=config.max_response_bytes,
            clock=self._clock,
        )

    def _start_background(self, observed: CacheState) -> None:
        with self._background_guard:
            running = self._background is not None and self._background.is_alive()
            if self._closed or running or self._store.busy() or self._state is not observed:
                return
            thread = threading.Thread(
                target=self._refresh,
                args=(observed, RefreshMode.BLOCKING),
                kwargs={"wait": False},
                name="jwks-client-refresh",
                daemon=True,
            )
            self._background = thread
            thread.start()

    def _join_background(self, timeout: float = 10.0) -> None:
        background = self._background
        if background is not None:
            background.join(timeout)


class Verifier(VerifierBase[JWKSClient]):
    """Verify JWT access tokens issued by one issuer.

    ``verify(token)`` returns the token's claims, or raises an ``InvalidTokenError``
    subclass (answer 401) or a ``KeySetUnavailableError`` (answer 503).

    Args:
        issuer: the issuer URL; tokens' ``iss`` must equal it, and its discovery
            document names the JWKS URL (unless ``jwks_uri`` is given).
        audience: required keyword: a str or collection of str, one of which must be in
            the token's ``aud``; ``None`` explicitly disables the audience check.
        algorithms: allowlist of JWS algorithms (default: RS*, PS*, ES256/384/512,
            EdDSA, Ed25519; ``none`` and HS* are never accepted).
        leeway: seconds of clock skew tolerated on exp/nbf/iat (default 60).
        token_type: expected header ``typ`` (e.g. ``"at+jwt"``); None for no check.
        required_claims: claims that must be present besides exp (and iss/aud when checked).
        jwks_uri: the JWKS URL, skipping discovery.
        jwks: a static key set (mapping, JSON text or bytes, or a file path) instead of
            discovery and fetching.
        http_client, require_https, clock, timeout, cache_policy, max_response_bytes,
        on_event:
            as for :class:`JWKSClient`.
        max_token_length: tokens longer than this are rejected unparsed (default 32768).
        verified_token_cache_size: how many verified tokens to remember (0, the default,
            disables it). A remembered token skips parsing and the signature check; its
            claims are still validated on every call, and it is forgotten when its key
            leaves the key set or its ``exp`` passes.

    Raises:
        ConfigurationError: an option is invalid.
    """

    def __init__(
        self,
        issuer: str,
        *,
        audience: str | Collection[str] | None,
        algorithms: Iterable[str] | None = None,
        leeway: float = DEFAULT_LEEWAY,
        token_type: str | None = None,
        required_claims: Iterable[str] = (),
        jwks_uri: str | None = None,
        jwks: StaticJWKS | None = None,
        http_client: httpx.Client | None = None,
        require_https: bool = True,
        clock: Clock = time.time,
        timeout: float = DEFAULT_TIMEOUT,
        cache_policy: CachePolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_token_length: int = MAX_TOKEN_LENGTH,
        verified_token_cache_size: int = 0,
        on_event: EventHook | None = None,
    ) -> None:
        super().__init__(
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            leeway=leeway,
            token_type=token_type,
            required_claims=required_claims,
            max_token_length=max_token_length,
            clock=clock,
            verified_token_cache_size=verified_token_cache_size,
        )
        # With a fixed jwks_uri the issuer is only compared with ``iss``; it need not
        # be a URL (some issuers, e.g. "accounts.google.com", are not).
        self._keys = JWKSClient(
            jwks_uri,
            issuer=issuer if jwks_uri is None and jwks is None else None,
            jwks=jwks,
            http_client=http_client,
            require_https=require_https,
            clock=clock,
            timeout=timeout,
            cache_policy=cache_policy,
            max_response_bytes=max_response_bytes,
            on_event=on_event,
        )
        self._keys._precheck = self._precheck

    @property
    def jwks_client(self) -> JWKSClient:
        """The key source behind this verifier."""
        return self._keys

    def verify(self, token: str | bytes) -> dict[str, Any]:
        """Verify ``token`` and return its claims.

        Raises:
            InvalidTokenError: the token is rejected (a subclass says why).
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        try:
            digest = None
            if self._verified is not None:
                digest = self._digest(token)
                entry = self._recall(digest) if digest is not None else None
                if entry is not None and digest is not None:
                    found = self._keys._resolve(entry.alg, entry.kid)
                    recalled = self._serve_recalled(digest, entry, found)
                    if recalled is not None:
                        self._outcome("token_cache_hit")
                        self._outcome("verified")
                        return recalled
            rules = self._rules
            parsed = parse_token(
                token, algorithms=rules.algorithms, max_length=rules.max_token_length
            )
            keys = self._keys
            # The common case (a fresh, quiet key set) without a decision.
            candidates = keys._quiet_candidates(parsed.alg, parsed.kid)
            if candidates is None:
                candidates = keys._resolve(parsed.alg, parsed.kid, parsed)
            key = check_signature(parsed, candidates)
            check_key_issuer(parsed, key)
            claims = parsed.claims
            validate_claims(claims, typ=parsed.typ, policy=rules.claims, now=self._clock())
            if digest is not None:
                self._remember(digest, parsed, key)
        except JWKSClientError as exc:
            self._outcome(type(exc).__name__)
            raise
        self._outcome("verified")
        return claims

    def close(self) -> None:
        """Close what this verifier owns; idempotent."""
        self._keys.close()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
