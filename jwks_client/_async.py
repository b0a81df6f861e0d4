"""The asyncio shell: ``AsyncJWKSClient`` and ``AsyncVerifier``.

It owns the ``httpx.AsyncClient`` and the background task, and drives the key engine's
flows: it performs each step (lead a refresh over HTTP, await another caller's with
``asyncio.wrap_future``, start a background refresh in a task) and nothing else. It is
the mirror image of ``_sync.py``. An instance belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from . import _fork
from ._checker import Job, TokenChecker
from ._claims import ClaimsPolicy
from ._config import DEFAULT_LEEWAY
from ._dpop_options import DPoP
from ._engine import Background, Flow, Pause, Request, SharedStep, StaticJWKS, Wait
from ._errors import ConfigurationError, JWKSClientError, KeySetUnavailableError
from ._http import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    BodyLimit,
    RefreshFlow,
    preread_body,
    refresh_flow,
    transport_error,
)
from ._keys import KeyRing, PreparedKey
from ._shell import DEFAULT_DPOP, KeyClientBase, VerifierBase, fleet_protocol
from ._store import KeyStoreRegistry
from ._token import MAX_TOKEN_LENGTH
from ._transport import owned_async_client, shared_ssl_context
from ._types import CachePolicy, Clock
from ._values import Fetched, FetchPlan, NotModified, RawResponse

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from ._events import EventHook
    from ._request import Headers
    from ._sender import RequestChecker
    from ._shared import AsyncSharedCache, Write

__all__ = ["AsyncJWKSClient", "AsyncVerifier", "verify_job", "verify_request_job"]

_T = TypeVar("_T")

#: A response body larger than this is read (JSON, key import) in a worker thread. Key
#: import costs 0.2-0.6 ms a key: a set of a few keys (a discovery document, most JWKS)
#: costs the loop a few ms at most and skips the thread hop.
OFF_LOOP_BYTES = 2048


class AsyncJWKSClient(KeyClientBase):
    """Keys of one issuer, fetched, cached and refreshed with care.

    Give it a ``jwks_uri``, or an ``issuer`` to discover the JWKS URL from. It returns
    ready-to-verify keys for a ``kid``/``alg``: it fetches on a cold cache, refreshes on
    an unknown kid (once per cooldown), serves the last good keys while the issuer fails,
    and lets concurrent tasks share one in-flight fetch.

    Args:
        jwks_uri: the JWKS URL (skips discovery).
        issuer: the issuer whose discovery document names the JWKS URL.
        jwks: a static key set instead of a URL: a mapping, JSON text or bytes, or a
            path to a JSON file (tests, air-gapped deployments). It is never refreshed.
        http_client: an ``httpx.AsyncClient`` the caller owns (never closed here).
        require_https: refuse plain-http URLs (default True).
        clock: returns Unix seconds; drives cache timing (default ``time.time``).
        timeout: seconds for each request (default 5).
        cache_policy: lifetimes, cooldown and stale window (default ``CachePolicy()``).
        max_response_bytes: size cap of a response body (default 1 MiB).
        on_event: called with each event of the key store (fetched, rotated, fetch
            failed, stale served); see ``jwks_client.KeySetFetched`` and friends.
        store_registry: where the key store shared with other clients of the same source
            lives (default: the process's registry); see ``KeyStoreRegistry``.
        shared_cache: a fleet-wide second cache tier
            (``jwks_client.redis.AsyncRedisKeyCache``), consulted
            only where this process would otherwise go to the issuer.

    Raises:
        ConfigurationError: an option is invalid.
    """

    def __init__(
        self,
        jwks_uri: str | None = None,
        *,
        issuer: str | None = None,
        jwks: StaticJWKS | None = None,
        http_client: httpx.AsyncClient | None = None,
        require_https: bool = True,
        clock: Clock = time.time,
        timeout: float = DEFAULT_TIMEOUT,
        cache_policy: CachePolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        on_event: EventHook | None = None,
        store_registry: KeyStoreRegistry | None = None,
        shared_cache: AsyncSharedCache | None = None,
    ) -> None:
        super().__init__(
            jwks_uri=jwks_uri,
            issuer=issuer,
            jwks=jwks,
            http_client=http_client,
            require_https=require_https,
            clock=clock,
            timeout=timeout,
            cache_policy=cache_policy,
            max_response_bytes=max_response_bytes,
            on_event=on_event,
            store_registry=store_registry,
            shared=fleet_protocol(shared_cache, asynchronous=True),
        )
        self._shared_cache = shared_cache
        self._owns_client = http_client is None
        # Created on the first fetch: a client whose keys are already cached (shared
        # store, snapshot, static set) never pays for building one.
        self._http: httpx.AsyncClient | None = http_client
        self._http_guard = threading.Lock()
        self._background: asyncio.Task[None] | None = None
        _fork.track(self)

    def after_fork_in_child(self) -> None:
        """In a forked child: no background task, a fresh lock, and an owned HTTP client
        rebuilt on first use (the parent's pooled connections are not the child's)."""
        self._http_guard = threading.Lock()
        self._background = None
        if self._owns_client:
            self._http = None

    async def get_key(self, kid: str | None, alg: str | None = None) -> PreparedKey:
        """Return the first key that matches ``kid`` and ``alg``.

        Without ``alg``, the first key published with ``kid``, whatever algorithms it
        verifies (a kid is then required).

        Raises:
            KeyNotFoundError: no such key, even after the allowed refresh.
            KeySetUnavailableError: the key set could not be obtained.
        """
        if alg is None and kid is None:
            raise ConfigurationError("get_key needs a kid when no alg is given")
        return (await self.candidates(alg, kid))[0]

    async def candidates(
        self,
        alg: str | None,
        kid: str | None,
        *,
        precheck: Callable[[float], None] | None = None,
    ) -> tuple[PreparedKey, ...]:
        """Return every key that may verify a token with ``alg``/``kid`` (never empty).

        Args:
            alg, kid: from the token's header (``alg`` None: the keys of ``kid`` for any
                algorithm).
            precheck: called with the current time before a refresh is spent on an
                unknown kid; raise from it to refuse the token without the refresh.

        Raises:
            KeyNotFoundError: no such key, even after the allowed refresh.
            KeySetUnavailableError: the key set could not be obtained.
        """
        found = self._engine.fresh_candidates(alg, kid)
        if found is not None:
            return found
        return await self._drive(self._engine.resolve(alg, kid, precheck))

    async def key_set(self) -> KeyRing:
        """Return the current key set, fetching it when there is none usable.

        Raises:
            KeySetUnavailableError: the key set could not be obtained.
        """
        return await self._drive(self._engine.key_set())

    async def refresh(self) -> KeyRing:
        """Fetch the key set now (revalidating), whatever the cache says.

        Raises:
            KeySetUnavailableError: the refresh failed (the cached keys are kept).
        """
        return await self._drive(self._engine.refresh())

    async def record_fleet_wide(self, op: Write) -> Any:
        """Perform a write on the shared cache (``DOWN`` when there is none, or it fails).

        Used by the verifiers to record DPoP proofs fleet-wide.
        """
        cache = self._shared_cache
        if cache is None:
            from ._shared import DOWN

            return DOWN
        return await cache.perform(op)

    async def join_background(self, timeout: float = 10.0) -> bool:
        """Wait for a background refresh in flight, if any, to land (tests, demos).

        Returns:
            True if no background refresh is running any more.
        """
        background = self._background
        if background is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(background), timeout)
            return background.done()
        return True

    async def aclose(self) -> None:
        """Cancel a background refresh, close the HTTP client if owned; idempotent."""
        self._engine.close()
        background = self._background
        if background is not None and not background.done():
            background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await background
        client = self._http
        if self._owns_client and client is not None:
            await client.aclose()

    async def __aenter__(self) -> AsyncJWKSClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- performing the engine's steps --------------------------------------------------

    async def _drive(self, flow: Flow[_T]) -> _T:
        # Waiting for other callers' refreshes, across every round, ends at this deadline.
        deadline = time.monotonic() + self._engine.wait_timeout()
        try:
            answer: Any = None
            while True:
                step = flow.send(answer)
                answer = None
                if isinstance(step, Request):
                    answer = await self._request(step.plan)
                elif isinstance(step, Wait):
                    await self._wait(step.future, deadline)
                elif isinstance(step, SharedStep):
                    assert self._shared_cache is not None
                    answer = await self._shared_cache.perform(step.op)
                elif isinstance(step, Pause):
                    await asyncio.sleep(step.seconds)
                else:
                    self._start_background(step)
        except StopIteration as stop:
            result: _T = stop.value
            return result
        finally:
            flow.close()

    async def _request(
        self, plan: FetchPlan
    ) -> Fetched | NotModified | KeySetUnavailableError | None:
        if self._http is not None and self._http.is_closed:
            # Closed by its owner: nothing is learned, nobody is put in backoff.
            return None
        try:
            return await self._fetch(plan)
        except KeySetUnavailableError as exc:
            return exc

    async def _wait(self, future: Future[None], deadline: float) -> None:
        waiter = asyncio.shield(asyncio.wrap_future(future))
        try:
            await asyncio.wait_for(waiter, max(deadline - time.monotonic(), 0.0))
        except asyncio.TimeoutError as exc:
            raise self._engine.wait_timed_out() from exc

    async def _fetch(self, plan: FetchPlan) -> Fetched | NotModified:
        client = await self._client()
        flow: RefreshFlow = refresh_flow(plan)
        try:
            request = next(flow)
            while True:
                try:
                    raw = await self._send(client, request)
                except KeySetUnavailableError as exc:
                    request = flow.throw(exc)
                    continue
                # Reading the response parses JSON and imports keys: a large set is read
                # in a worker thread, so the event loop never stalls on it.
                if len(raw.body) > OFF_LOOP_BYTES:
                    step = await asyncio.to_thread(_resume, flow, raw)
                else:
                    step = _resume(flow, raw)
                if not isinstance(step, httpx.Request):
                    return step
                request = step
        except StopIteration as stop:
            result: Fetched | NotModified = stop.value
            return result

    async def _client(self) -> httpx.AsyncClient:
        client = self._http
        if client is None:
            # Building the client, and the TLS context of an https source (tens of ms
            # loading the CA bundle), happen off the event loop.
            client = await asyncio.to_thread(self._own_client)
        return client

    def _own_client(self) -> httpx.AsyncClient:
        client = self._http
        if client is None:
            with self._http_guard:
                client = self._http
                if client is None:
                    client = self._http = owned_async_client(self._config.timeout)
        source = self._config.jwks_uri or self._config.issuer or ""
        if source.startswith("https:"):
            shared_ssl_context()  # built once per process; its first request uses it
        return client

    async def _send(self, client: httpx.AsyncClient, request: httpx.Request) -> RawResponse:
        # httpx bounds each read, not the exchange: the exchange as a whole (connect,
        # request, status line, headers, body) is cancelled at the deadline.
        timeout = self._config.timeout
        try:
            return await asyncio.wait_for(self._exchange(client, request), timeout)
        except asyncio.TimeoutError as exc:
            cause = httpx.ReadTimeout("deadline", request=request)
            raise transport_error(cause, str(request.url), timeout) from exc

    async def _exchange(self, client: httpx.AsyncClient, request: httpx.Request) -> RawResponse:
        url = str(request.url)
        timeout = self._config.timeout
        deadline = time.monotonic() + timeout
        try:
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                preread = preread_body(response, url=url, max_bytes=self._config.max_response_bytes)
                body = b"" if preread is None else preread
                if response.status_code == 200 and preread is None:
                    limit = BodyLimit(
                        url,
                        self._config.max_response_bytes,
                        response.headers.get("content-length"),
                        response.headers.get("content-encoding"),
                    )
                    chunks = response.aiter_raw()
                    try:
                        async for chunk in chunks:
                            limit.feed(chunk)
                            if time.monotonic() > deadline:
                                raise httpx.ReadTimeout("body too slow", request=request)
                    finally:
                        # Closed here, in this task, not left to the garbage collector.
                        await chunks.aclose()  # type: ignore[attr-defined]
                    body = limit.body()
            finally:
                await response.aclose()
        except KeySetUnavailableError:
            raise
        except Exception as exc:  # the I/O boundary: nothing foreign escapes
            raise transport_error(exc, url, timeout) from exc
        return RawResponse(url, response.status_code, response.headers, body, self._clock())

    def _start_background(self, step: Background) -> None:
        engine = self._engine
        running = self._background is not None and not self._background.done()
        if running or not engine.wants_background(step.state):
            return
        self._background = asyncio.get_running_loop().create_task(
            self._drive(engine.background(step.state)), name="jwks-client-refresh"
        )


def _resume(flow: RefreshFlow, raw: RawResponse) -> httpx.Request | Fetched | NotModified:
    """Send ``raw`` into ``flow``: its next request, or its result (no StopIteration, which
    cannot cross a thread's future)."""
    try:
        return flow.send(raw)
    except StopIteration as stop:
        result: Fetched | NotModified = stop.value
        return result


async def verify_job(
    checker: TokenChecker,
    job: Job,
    policy: ClaimsPolicy,
    keys: AsyncJWKSClient,
    token: str | bytes,
    *,
    bound: bool = False,
) -> dict[str, Any]:
    """Verify a parsed (or recalled) token with the keys of ``keys``; return its claims.

    The body of every verifier's ``verify`` (single- and multi-issuer) once the job is made.
    ``bound``: the caller checks a sender-constrained token's binding (``verify_request``);
    otherwise such a token is refused.

    Raises:
        InvalidTokenError: the token is rejected (a subclass says why).
        KeySetUnavailableError: the issuer's keys could not be obtained.
    """
    # The common case (a fresh, quiet key set) without a decision or a coroutine.
    candidates = keys.engine.fresh_candidates(job.alg, job.kid)
    if candidates is None:
        precheck = partial(checker.precheck, job, policy)
        candidates = await keys.candidates(job.alg, job.kid, precheck=precheck)
    return checker.complete(job, candidates, policy, token, bound=bound)


async def verify_request_job(
    checker: TokenChecker,
    requests: RequestChecker,
    source: Callable[[Job], tuple[ClaimsPolicy, AsyncJWKSClient]],
    method: str,
    url: str,
    headers: Headers,
    client_cert: str | bytes | Certificate | None,
) -> dict[str, Any]:
    """The body of every verifier's ``verify_request`` (single- and multi-issuer).

    ``source`` gives the claims policy and the key client for the job's issuer.
    Credentials, then the token's parse, then the binding and proof checks that need no
    signature, then the token's keys and signature, then the proof's signature and its
    record (fleet-wide with a shared cache).

    Raises:
        JWKSClientError: as ``Verifier.verify_request`` says.
    """
    credentials = None
    try:
        credentials = requests.credentials(headers)
        token = credentials.token
        job = checker.begin(token)
        proof = requests.check(credentials, job.claims, method, url, client_cert)
        policy, keys = source(job)
        claims = await verify_job(checker, job, policy, keys, token, bound=True)
        record = requests.complete(proof)
        if record is not None:
            requests.settle(await keys.record_fleet_wide(record))
        return claims
    except JWKSClientError as exc:
        requests.annotate(exc, credentials)
        checker.rejected(exc)
        raise


class AsyncVerifier(VerifierBase[AsyncJWKSClient]):
    """Verify JWT access tokens issued by one issuer.

    ``await verify(token)`` returns the token's claims, or raises an ``InvalidTokenError``
    subclass (answer 401) or a ``KeySetUnavailableError`` (answer 503).
    ``await verify_request(method, url, headers)`` does the same for a whole request, with
    the DPoP scheme and proof (RFC 9449) or a client certificate (RFC 8705).

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
        http_client: as for :class:`AsyncJWKSClient`.
        require_https: as for :class:`AsyncJWKSClient`.
        clock: as for :class:`AsyncJWKSClient`.
        timeout: as for :class:`AsyncJWKSClient`.
        cache_policy: as for :class:`AsyncJWKSClient`.
        max_response_bytes: as for :class:`AsyncJWKSClient`.
        on_event: as for :class:`AsyncJWKSClient`.
        store_registry: as for :class:`AsyncJWKSClient`.
        shared_cache: as for :class:`AsyncJWKSClient`.
        max_token_length: tokens longer than this are rejected unparsed (default 32768).
        verified_token_cache_size: how many verified tokens to remember (0, the default,
            disables it). A remembered token skips parsing and the signature check; its
            claims are still validated on every call, and it is forgotten when its key
            leaves the key set or its ``exp`` passes.
        dpop: how ``verify_request`` accepts DPoP-bound tokens (a :class:`DPoP`); the
            default, ``DPoP()``, accepts the Bearer and the DPoP scheme, and None turns
            DPoP off.

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
        http_client: httpx.AsyncClient | None = None,
        require_https: bool = True,
        clock: Clock = time.time,
        timeout: float = DEFAULT_TIMEOUT,
        cache_policy: CachePolicy | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_token_length: int = MAX_TOKEN_LENGTH,
        verified_token_cache_size: int = 0,
        on_event: EventHook | None = None,
        store_registry: KeyStoreRegistry | None = None,
        shared_cache: AsyncSharedCache | None = None,
        dpop: DPoP | None = DEFAULT_DPOP,
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
            dpop=dpop,
            shared=fleet_protocol(shared_cache, asynchronous=True),
        )
        # With a fixed jwks_uri the issuer is only compared with ``iss``; it need not
        # be a URL (some issuers, e.g. "accounts.google.com", are not).
        self._keys = AsyncJWKSClient(
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
            store_registry=store_registry,
            shared_cache=shared_cache,
        )

    @property
    def jwks_client(self) -> AsyncJWKSClient:
        """The key source behind this verifier."""
        return self._keys

    async def verify(self, token: str | bytes) -> dict[str, Any]:
        """Verify ``token`` and return its claims.

        Raises:
            InvalidTokenError: the token is rejected (a subclass says why).
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        checker = self._checker
        try:
            job = checker.begin(token)
            return await verify_job(checker, job, self._claims_policy, self._keys, token)
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
        """Verify a request's access token, and its DPoP proof or client certificate.

        Reads ``Authorization`` (the ``Bearer`` or ``DPoP`` scheme) and ``DPoP`` from
        ``headers``, verifies the token as :meth:`verify` does, then its binding: a
        DPoP-bound token (``cnf.jkt``) needs the DPoP scheme and a valid proof for this
        method and URL (RFC 9449); a certificate-bound token (``cnf["x5t#S256"]``) needs
        ``client_cert`` (RFC 8705). ``jwks_client.challenge_for(exc)`` gives the answer
        to a rejection.

        Args:
            method: the request method, as sent (``"GET"``).
            url: the request URL as the client addressed it (scheme, host, path; the
                query and fragment are ignored).
            headers: the request's header fields: a mapping or an iterable of
                ``(name, value)`` pairs, str or bytes.
            client_cert: the TLS client certificate, PEM (str or bytes), DER bytes or a
                ``cryptography.x509.Certificate``, when the connection has one.

        Returns:
            The token's claims.

        Raises:
            MissingTokenError: no credentials, or a scheme this verifier does not accept.
            InvalidRequestError: a malformed or repeated ``Authorization`` or ``DPoP``.
            InvalidDPoPProofError: the proof is missing, invalid or replayed
                (``UseDPoPNonceError``: it needs the nonce the error carries).
            InvalidTokenBindingError: the token's binding does not hold.
            InvalidTokenError: the token is rejected (a subclass says why).
            KeySetUnavailableError: the issuer's keys could not be obtained.
        """
        return await verify_request_job(
            self._checker,
            self._requests or self._request_checker(),
            lambda _job: (self._claims_policy, self._keys),
            method,
            url,
            headers,
            client_cert,
        )

    async def aclose(self) -> None:
        """Close what this verifier owns; idempotent."""
        await self._keys.aclose()

    async def __aenter__(self) -> AsyncVerifier:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
