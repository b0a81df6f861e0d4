"""The test issuer's facade: :class:`LocalIssuer`, composed of small parts.

Each part does one job and keeps its own lock: a :class:`~._keys.Keychain` (keys, the
served JWKS, token minting), a :class:`~._faults.FaultTable`, a :class:`~._traffic.Traffic`
record (requests and holds), an :class:`~._documents.HTTPCaching` configuration, fixed
:class:`~._documents.Routes`, and a :class:`~._server.LoopbackServer`. The facade routes
each request through them and forwards its public methods to the part that owns them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError
from ._certificates import ClientCertificate, thumbprint_of
from ._common import OMIT, UNSET, Unset, json_bytes
from ._documents import (
    DISCOVERY_MODES,
    ENDPOINTS,
    JWKS_TYPE,
    OAUTH_WELL_KNOWN,
    OPENID_WELL_KNOWN,
    HTTPCaching,
    Routes,
    check_path,
    discovery_document,
    send_document,
)
from ._dpop import DPoPKey
from ._faults import JSON_TYPE, FaultTable, send_fault
from ._keys import Keychain, PrivateKey, check_alg
from ._server import Exchange, LoopbackServer, RequestBodyError, check_loopback
from ._token_endpoint import (
    MAX_BODY,
    BadTokenRequest,
    parse_token_request,
    token_response,
)
from ._traffic import RecordedRequest, Traffic

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

__all__ = ["LocalIssuer"]


class LocalIssuer:
    """A real OpenID/OAuth issuer on ``127.0.0.1`` for tests, with faults on demand.

    It serves a discovery document and a JWKS with ``Cache-Control``, ``ETag`` and
    ``Last-Modified``, answers ``If-None-Match`` / ``If-Modified-Since`` with 304, records
    every request, and mints tokens signed by its keys. Use it as a context manager
    (``with LocalIssuer() as issuer:``), as an async one, or call :meth:`start` and
    :meth:`stop`. URLs (``issuer``, ``jwks_uri``...) exist once started and stay the same
    across a :meth:`stop` / :meth:`start` cycle, which re-binds the same port.

    Args:
        algorithms: one initial signing key is created per entry (RSA keys are 2048-bit;
            EdDSA/Ed25519 use an Ed25519 key); the first becomes the default signer.
        path: the issuer's path ("" or like "/tenant"), appended to the base URL.
        clock: the issuer's time source (``iat``/``exp`` of minted tokens, ``Date``,
            ``Last-Modified``, recorded request times). A :class:`FakeClock` fits.
        cache_control: the ``Cache-Control`` value of responses (None: no header).
        etag: whether to send ``ETag`` (and honour ``If-None-Match``).
        last_modified: whether to send ``Last-Modified`` (and honour ``If-Modified-Since``).
        discovery: "openid" serves ``issuer + /.well-known/openid-configuration``; "oauth"
            serves RFC 8414's path-aware ``base + /.well-known/oauth-authorization-server +
            path`` only; "both" serves both; "none" serves no discovery document.
        advertised_issuer: overrides the ``issuer`` member of the discovery document.
        extra_headers: headers added to every normal (and 304) response; they replace
            standard headers of the same name.
        jwks_path: where the JWKS lives below the issuer's path.
        advertised_jwks_uri: overrides the ``jwks_uri`` member of the discovery document.
        discovery_extra: members merged into the discovery document (:data:`OMIT` removes).
        host: the loopback address to bind: ``127.0.0.1`` (default), another
            ``127.0.0.0/8`` address, or ``::1``. Nothing else: the issuer signs tokens
            for whoever asks.
        port: the port to bind; 0 (default) picks a free one.
        token_endpoint: True serves :attr:`token_url` (``issuer + /token``), which mints a
            token on ``GET`` or ``POST`` for clients that cannot call :meth:`token`, e.g.
            an API under test written in another language: query parameters ``sub``,
            ``aud`` (repeatable), ``scope``, ``ttl`` (seconds, default 300) and ``alg``;
            a ``POST`` body may be a JSON object of claims. The answer is an OAuth token
            response, ``{"access_token", "token_type": "Bearer", "expires_in"}``.

    Raises:
        ConfigurationError: for an unsupported algorithm, discovery mode, malformed path,
            a non-loopback host or a port out of range.
    """

    def __init__(
        self,
        *,
        algorithms: Sequence[str] = ("RS256",),
        path: str = "",
        clock: Callable[[], float] = time.time,
        cache_control: str | None = "max-age=300",
        etag: bool = True,
        last_modified: bool = True,
        discovery: str = "openid",
        advertised_issuer: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        jwks_path: str = "/jwks",
        advertised_jwks_uri: str | None = None,
        discovery_extra: Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_endpoint: bool = False,
    ) -> None:
        if isinstance(algorithms, str) or not algorithms:
            raise ConfigurationError("algorithms must be a non-empty sequence of names")
        for alg in algorithms:
            check_alg(alg)
        if discovery not in DISCOVERY_MODES:
            raise ConfigurationError(
                f"discovery must be one of {sorted(DISCOVERY_MODES)}, got {discovery!r}"
            )
        self._routes = Routes(
            path=check_path("path", path, allow_empty=True),
            jwks_path=check_path("jwks_path", jwks_path, allow_empty=False),
            discovery=discovery,
            token_endpoint=token_endpoint,
        )
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigurationError(f"port must be an integer from 0 to 65535, got {port!r}")
        self._caching = HTTPCaching(
            cache_control=cache_control,
            etag=etag,
            last_modified=last_modified,
            extra_headers=extra_headers,
        )
        self._discovery_extra = dict(discovery_extra or {})
        json_bytes({k: v for k, v in self._discovery_extra.items() if v is not OMIT})
        self._clock = clock
        self._algorithms = tuple(dict.fromkeys(algorithms))
        self._advertised_issuer = advertised_issuer
        self._advertised_jwks_uri = advertised_jwks_uri
        self._created_at = clock()
        self._keys = Keychain(clock)
        self._faults = FaultTable()
        self._traffic = Traffic(ENDPOINTS)
        self._server = LoopbackServer(
            self._respond,
            host=check_loopback(host),
            port=port,
            clock=clock,
            on_stop=self._traffic.release_all,
            name="LocalIssuer",
        )
        for alg in self._algorithms:
            self.add_key(alg)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> LocalIssuer:
        """Bind the loopback address (the port asked for, or the previous one) and serve.

        Starting a running issuer does nothing.

        Returns:
            The issuer itself.

        Raises:
            ConfigurationError: if the port (of a previous run) can no longer be bound.
        """
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving: release held requests, interrupt delays, close connections.

        Idempotent, and bounded: each join waits at most a few seconds, so it never hangs.
        Requests that were held or delayed get no response (their connection closes).
        """
        self._server.stop()

    @property
    def running(self) -> bool:
        """Whether the server is currently serving."""
        return self._server.running

    @property
    def thread(self) -> threading.Thread | None:
        """The thread of the accept loop of the current run (None when stopped)."""
        return self._server.thread

    def __enter__(self) -> LocalIssuer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalIssuer:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    def __repr__(self) -> str:
        port = self._server.port
        state = f"port={port}" if port is not None else "not started"
        return f"<LocalIssuer {state} keys={len(self._keys)}>"

    # --- URLs --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the host given, in brackets for IPv6).

        Raises:
            ConfigurationError: before the first :meth:`start`.
        """
        port = self._server.port
        if port is None:
            raise ConfigurationError("the LocalIssuer has not been started")
        host = self._server.host
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def issuer(self) -> str:
        """The issuer identifier: ``base_url`` + ``path``."""
        return self.base_url + self._routes.path

    @property
    def jwks_uri(self) -> str:
        """Where the JWKS is served: ``issuer`` + ``jwks_path``."""
        return self.base_url + self._routes.jwks

    @property
    def discovery_url(self) -> str:
        """Where the discovery document is served (for "none": where it would be, a 404)."""
        return self.base_url + self._routes.discovery_path()

    @property
    def openid_configuration_url(self) -> str:
        """The OpenID Connect discovery location of this issuer (served in "openid"/"both")."""
        return self.base_url + self._routes.path + OPENID_WELL_KNOWN

    @property
    def oauth_metadata_url(self) -> str:
        """The RFC 8414 path-aware metadata location (served in "oauth"/"both")."""
        return self.base_url + OAUTH_WELL_KNOWN + self._routes.path

    @property
    def token_url(self) -> str:
        """The token endpoint: ``issuer`` + ``/token`` (served with ``token_endpoint=True``)."""
        return self.base_url + self._routes.token

    # --- keys --------------------------------------------------------------------------

    def add_key(
        self,
        alg: str = "RS256",
        *,
        kid: str | None = None,
        jwk_extra: Mapping[str, Any] | None = None,
        include_kid: bool = True,
        publish: bool = True,
        private_key: PrivateKey | None = None,
    ) -> str:
        """Create (or adopt) a signing key and publish its public JWK.

        The first key added becomes the default signer; later ones do not (see
        :meth:`rotate`). Publishing changes the JWKS body, its ``ETag`` and, by the issuer's
        clock, its ``Last-Modified``.

        Args:
            alg: the key's algorithm (also its JWK ``alg``).
            kid: the key id; a short random base64url string when None.
            jwk_extra: members merged into the published JWK, e.g. ``{"use": "enc"}`` or
                ``{"alg": "RS512"}``; :data:`OMIT` removes a member (``{"use": OMIT}``).
            include_kid: False publishes the JWK without ``kid``; tokens signed with it
                then carry no ``kid`` either. The returned handle still names the key here.
            publish: False keeps the key private (see :meth:`publish_key`), e.g. to sign a
                token whose key the JWKS does not have yet.
            private_key: a cryptography private key to use instead of generating one
                (e.g. a short RSA key, to test key policy).

        Returns:
            The kid (or, for a kid-less key, the handle) that names the key in this API.

        Raises:
            ConfigurationError: unsupported ``alg``, a key that cannot sign ``alg``, or a
                kid already in use.
        """
        return self._keys.add(
            alg,
            kid=kid,
            jwk_extra=jwk_extra,
            include_kid=include_kid,
            publish=publish,
            private_key=private_key,
        )

    def remove_key(self, kid: str) -> None:
        """Unpublish and forget a key.

        When it was the default signer, the most recently added remaining key takes over.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        self._keys.remove(kid)

    def publish_key(self, kid: str) -> None:
        """Publish a key added with ``publish=False`` (no change if already published).

        Raises:
            ConfigurationError: if no key has this kid.
        """
        self._keys.set_published(kid, True)

    def unpublish_key(self, kid: str) -> None:
        """Withdraw a key from the JWKS but keep it for signing.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        self._keys.set_published(kid, False)

    def rotate(self, alg: str = "RS256") -> str:
        """Add a new published key and make it the default signer; old keys stay published.

        Returns:
            The new kid.

        Raises:
            ConfigurationError: for an unsupported ``alg``.
        """
        kid = self.add_key(alg)
        self.set_signing_kid(kid)
        return kid

    def signing_kid(self) -> str:
        """Return the kid of the default signer.

        Raises:
            ConfigurationError: if the issuer holds no key.
        """
        return self._keys.signing_kid()

    def set_signing_kid(self, kid: str) -> None:
        """Make a held key the default signer.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        self._keys.set_signing_kid(kid)

    def kids(self) -> list[str]:
        """Return the kids (handles) of every held key, in the order they were added."""
        return self._keys.kids()

    def private_key(self, kid: str) -> PrivateKey:
        """Return the cryptography private key named ``kid``.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        return self._keys.private_key(kid)

    def public_jwk(self, kid: str) -> dict[str, Any]:
        """Return the public JWK of a key as it is (or would be) published.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        return self._keys.public_jwk(kid)

    def jwks(self) -> dict[str, Any]:
        """Return (a copy of) the JWKS currently served."""
        return self._keys.jwks()

    def serve_jwks(self, document: Mapping[str, Any] | None) -> None:
        """Serve ``document`` verbatim as the JWKS instead of the held keys' set.

        For sets no key API can build (duplicate kids, symmetric or private members...).
        ``None`` goes back to the held keys. Either way the body, ``ETag`` and
        ``Last-Modified`` change.
        """
        self._keys.serve(document)

    # --- tokens ------------------------------------------------------------------------

    def token(
        self,
        claims: Mapping[str, Any] | None = None,
        *,
        kid: str | None = None,
        alg: str | None = None,
        header: Mapping[str, Any] | None = None,
        expires_in: float = 300,
        audience: str | list[str] | None = "https://api.example.com",
        include_kid: bool = True,
        signature: bytes | None = None,
        dpop_key: DPoPKey | None = None,
        client_cert: ClientCertificate | Certificate | str | bytes | None = None,
    ) -> str:
        """Mint a compact JWS access token.

        Default claims: ``iss`` (this issuer), ``sub`` "user-1", ``aud`` (``audience``,
        omitted when None), ``iat`` and ``nbf`` (now, by the issuer's clock), ``exp`` (now +
        ``expires_in``), a random ``jti``, ``scope`` "read". ``claims`` override or extend
        them; :data:`OMIT` removes one. The header is ``{"alg", "typ": "at+jwt", "kid"}``
        updated with ``header`` verbatim (:data:`OMIT` removes a member): a hostile
        header (``{"alg": "none"}``, ``{"crit": [...]}``) is written as given while the
        signature is still made with the key's real algorithm.

        Args:
            claims: claims overriding or extending the defaults.
            kid: the key that signs; the header carries the kid that key is published
                with (none for a kid-less key). A kid the issuer does not hold signs with
                the default key but still appears in the header (an "unknown kid" token).
            alg: the signing algorithm (and header ``alg``). Without ``kid``, the newest
                key whose algorithm is ``alg`` signs (else the default key, if it fits);
                with ``kid``, that key signs with ``alg`` if its type allows it (e.g. an
                RSA key signing PS256 although its JWK says RS256).
            header: members overriding or extending the protected header.
            expires_in: seconds from now to ``exp`` (negative for an expired token).
            audience: the ``aud`` claim.
            include_kid: False leaves ``kid`` out of the header.
            signature: raw signature bytes to use instead of a real signature.
            dpop_key: bind the token to this client's DPoP key: ``cnf.jkt`` is its
                thumbprint (RFC 9449 §6), so it is accepted only with that key's proofs.
            client_cert: bind the token to this client certificate (a
                :class:`ClientCertificate`, a ``cryptography`` certificate, PEM or DER):
                ``cnf["x5t#S256"]`` is its thumbprint (RFC 8705 §3).

        Returns:
            The compact serialization.

        Raises:
            ConfigurationError: before :meth:`start` (the issuer URL is unknown), for an
                ``alg`` no suitable key can sign, for non-JSON values, or for a
                ``client_cert`` that is not a certificate.
        """
        if dpop_key is not None or client_cert is not None:
            claims = _bound(claims, dpop_key, client_cert)
        return self._keys.token(
            self.issuer,
            claims,
            kid=kid,
            alg=alg,
            header=header,
            expires_in=expires_in,
            audience=audience,
            include_kid=include_kid,
            signature=signature,
        )

    def sign(
        self,
        header: Mapping[str, Any] | bytes,
        payload: bytes | Mapping[str, Any],
        *,
        kid: str | None = None,
        alg: str | None = None,
        signature: bytes | None = None,
    ) -> str:
        """Sign exactly the given header and payload (low level, for hostile tokens).

        Args:
            header: the protected header: a mapping serialised as compact JSON, or bytes
                used verbatim (e.g. JSON with duplicate members).
            payload: bytes used verbatim, or a mapping serialised as compact JSON.
            kid: the key that signs (default: the default signer); not written anywhere.
            alg: the signing algorithm (default: the key's); independent of the header.
            signature: raw signature bytes to use instead of a real signature.

        Returns:
            ``b64url(header) "." b64url(payload) "." b64url(signature)``.

        Raises:
            ConfigurationError: for a kid not held, an ``alg`` the key cannot sign, or
                non-JSON values.
        """
        return self._keys.sign(header, payload, kid=kid, alg=alg, signature=signature)

    # --- requests ----------------------------------------------------------------------

    def requests(self) -> list[RecordedRequest]:
        """Return every recorded request (faulted, 304, 404 and 405 ones included), oldest first."""
        return self._traffic.requests()

    def request_count(self, path: str | None = None) -> int:
        """Count recorded requests.

        Args:
            path: None for all; "jwks" or "discovery" for that endpoint; a path such as
                "/jwks" (matched exactly, query ignored); or a full URL (its path is used).
        """
        return self._traffic.count(None if path is None else self._routes.paths_for(path))

    def reset_counts(self) -> None:
        """Forget every recorded request."""
        self._traffic.clear()

    def wait_for_requests(self, n: int, timeout: float = 5.0, *, path: str | None = None) -> bool:
        """Block until at least ``n`` requests (to ``path``, as in :meth:`request_count`) arrived.

        Returns:
            True when reached, False when ``timeout`` seconds passed first.
        """
        paths = None if path is None else self._routes.paths_for(path)
        return self._traffic.wait_for_count(n, paths, timeout)

    # --- faults --------------------------------------------------------------------------

    def fail(
        self,
        kind: str,
        *,
        path: str = "jwks",
        times: int | None = None,
        status: int | None = None,
        delay: float = 0.0,
        location: str | None = None,
        body: bytes | None = None,
        size: int = 2_000_000,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Make the next requests to an endpoint misbehave.

        Faults queue up in the order given: a request takes the first fault aimed at its
        endpoint, which then applies to ``times`` requests (None: until
        :meth:`clear_faults`) before giving way to the next. Faulted requests are
        recorded. Kinds:

        - "status": answer ``status`` (default 503) with a small body (or ``body``);
        - "delay": wait ``delay`` seconds (interrupted by :meth:`stop`), then answer normally;
        - "garbage": 200 with a non-JSON body (or ``body``);
        - "truncated": declare the full ``Content-Length``, send half the body, close;
        - "oversize": 200 with a valid JWKS padded to ``size`` bytes, with Content-Length,
          streamed in chunks; "oversize_chunked": the same with chunked transfer coding
          and no Content-Length;
        - "reset": close the connection abruptly (TCP RST) without a response;
        - "redirect": ``status`` (default 302) with ``Location: location`` (default: the
          endpoint's own URL);
        - "not_jwks": 200 JSON that is not a key set (``{"hello": 1}``, or ``body``);
        - "empty_keys": 200 ``{"keys": []}``.

        Args:
            kind: one of :data:`FAULT_KINDS`.
            path: "jwks", "discovery" or "all".
            times: how many requests the fault applies to (None: until cleared).
            status: the status of "status" and "redirect".
            delay: seconds to wait for "delay".
            location: the ``Location`` of "redirect".
            body: a body replacing the default of "status", "garbage", "not_jwks".
            size: the total body size of "oversize" and "oversize_chunked".
            headers: extra response headers of the faulty response (e.g. Retry-After).

        Raises:
            ConfigurationError: for an unknown kind or path, or a bad number.
        """
        self._faults.add(
            kind,
            path=path,
            times=times,
            status=status,
            delay=delay,
            location=location,
            body=body,
            size=size,
            headers=headers,
        )

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        self._faults.clear()

    # --- holding requests ----------------------------------------------------------------

    def hold(self, path: str = "jwks") -> None:
        """Park requests to an endpoint ("jwks", "discovery" or "all") until :meth:`release`.

        Parked requests are recorded on arrival and counted by :meth:`waiting`. They go on
        (faults then apply) when released, and are dropped unanswered by :meth:`stop`.
        """
        self._traffic.hold(self._routes.endpoints(path))

    def release(self, path: str = "jwks") -> None:
        """Let the requests parked on an endpoint (or "all") go on, and stop holding it."""
        self._traffic.release(self._routes.endpoints(path))

    def waiting(self, path: str = "jwks") -> int:
        """Return how many requests are parked on an endpoint ("all": on either)."""
        return self._traffic.waiting(self._routes.endpoints(path))

    def wait_for_waiting(self, n: int, timeout: float = 5.0, *, path: str = "jwks") -> bool:
        """Block until at least ``n`` requests are parked on ``path``.

        Returns:
            True when reached, False when ``timeout`` seconds passed first.
        """
        return self._traffic.wait_for_waiting(n, self._routes.endpoints(path), timeout)

    async def await_waiting(self, n: int, timeout: float = 5.0, *, path: str = "jwks") -> bool:
        """Async form of :meth:`wait_for_waiting` that leaves the event loop free."""
        return await asyncio.to_thread(self.wait_for_waiting, n, timeout, path=path)

    # --- response headers ------------------------------------------------------------------

    def set_cache_headers(
        self,
        *,
        cache_control: str | Unset | None = UNSET,
        etag: bool | Unset = UNSET,
        last_modified: bool | Unset = UNSET,
    ) -> None:
        """Change the caching headers of later responses; omitted arguments keep their value.

        Raises:
            ConfigurationError: if ``cache_control`` contains a line break.
        """
        self._caching.set(cache_control=cache_control, etag=etag, last_modified=last_modified)

    def set_extra_headers(self, headers: Mapping[str, str] | None) -> None:
        """Replace the extra headers of normal and 304 responses (None: no extra headers).

        Raises:
            ConfigurationError: if a name or value contains a line break.
        """
        self._caching.set_extra_headers(headers)

    # --- internals: answering requests (in the server's handler threads) -------------------

    def _respond(self, exchange: Exchange) -> None:
        record = RecordedRequest(
            exchange.method, exchange.path, exchange.headers, self._clock(), exchange.query
        )
        route = self._routes.route(exchange.path)
        endpoint = route[0] if route is not None else None
        is_get = exchange.method == "GET"
        holdable = endpoint if is_get and endpoint in ENDPOINTS else None
        go_on = self._traffic.arrive(record, holdable, exchange.stopping)
        if endpoint == "token":
            self._serve_token(exchange)
            return
        if not is_get:
            exchange.close_after()
            exchange.send(405, [("Allow", "GET"), ("Connection", "close")], b"")
            return
        if route is None:
            self._send_json(exchange, 404, {"error": "not_found"})
            return
        if not go_on:  # stopped while parked
            exchange.close_after()
            return
        endpoint, kind = route
        fault = self._faults.take(endpoint)
        if fault is not None and fault.kind == "delay":
            if exchange.stopping.wait(fault.delay):
                exchange.close_after()
                return
            fault = None
        body, content_type, changed_at = self._document(endpoint, kind)
        caching = self._caching.snapshot()
        if fault is None:
            send_document(exchange, caching, body, content_type, changed_at)
            return
        send_fault(
            exchange,
            fault,
            body=body,
            content_type=content_type,
            cache_control=caching.cache_control,
            jwks_body=self._keys.published()[0],
            url=self.base_url + exchange.target,
        )

    def _document(self, endpoint: str, kind: str) -> tuple[bytes, str, float]:
        """The body, content type and last change time of an endpoint."""
        if endpoint == "jwks":
            body, changed_at = self._keys.published()
            return body, JWKS_TYPE, changed_at
        issuer = self.issuer
        document = discovery_document(
            kind,
            issuer=self._advertised_issuer if self._advertised_issuer is not None else issuer,
            jwks_uri=self._advertised_jwks_uri or self.jwks_uri,
            algorithms=self._algorithms,
            extra=self._discovery_extra,
        )
        return json_bytes(document), JSON_TYPE, self._created_at

    def _serve_token(self, exchange: Exchange) -> None:
        """Answer the token endpoint: mint a token as the query and body ask."""
        if exchange.method not in ("GET", "POST"):
            exchange.close_after()
            exchange.send(405, [("Allow", "GET, POST"), ("Connection", "close")], b"")
            return
        try:
            body = exchange.read_body(MAX_BODY) if exchange.method == "POST" else b""
            request = parse_token_request(exchange.query, body)
            options: dict[str, Any] = {"alg": request.alg, "expires_in": request.ttl}
            if request.audience is not None:
                options["audience"] = request.audience
            token = self.token(request.claims, **options)
        except RequestBodyError as exc:
            exchange.close_after()
            self._send_json(exchange, exc.status, _token_error(str(exc)))
            return
        except (BadTokenRequest, ConfigurationError) as exc:
            self._send_json(exchange, 400, _token_error(str(exc)))
            return
        self._send_json(
            exchange, 200, token_response(token, request.ttl), [("Cache-Control", "no-store")]
        )

    @staticmethod
    def _send_json(
        exchange: Exchange,
        status: int,
        document: Mapping[str, Any],
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        exchange.send(status, [("Content-Type", JSON_TYPE), *headers], json_bytes(dict(document)))


def _bound(
    claims: Mapping[str, Any] | None,
    dpop_key: DPoPKey | None,
    client_cert: ClientCertificate | Certificate | str | bytes | None,
) -> dict[str, Any]:
    """``claims`` with the ``cnf`` of the key and the certificate added to any given."""
    given = dict(claims or {})
    cnf = given.get("cnf")
    confirmation = dict(cnf) if isinstance(cnf, Mapping) else {}
    if dpop_key is not None:
        confirmation["jkt"] = dpop_key.thumbprint
    if client_cert is not None:
        confirmation["x5t#S256"] = thumbprint_of(client_cert)
    given["cnf"] = confirmation
    return given


def _token_error(description: str) -> dict[str, str]:
    """An RFC 6749 §5.2 error document."""
    return {"error": "invalid_request", "error_description": description}
