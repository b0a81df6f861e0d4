"""Test doubles for code that verifies tokens: a real loopback issuer and a manual clock.

:class:`LocalIssuer` is a real HTTP OpenID issuer bound to ``127.0.0.1`` on an ephemeral
port. It serves a discovery document and a JWKS with HTTP caching headers, answers
conditional requests, records every request, injects faults (error statuses, delays,
garbage, truncated or oversized bodies, connection resets, redirects), can hold requests
until released (to test single flight), and mints tokens signed with its private keys,
including deliberately hostile ones. :class:`FakeClock` is a thread-safe manual clock that
both the issuer and the code under test can take as ``clock=``.

The issuer runs a ``ThreadingHTTPServer`` in a daemon thread; every piece of shared state
sits behind one lock, so sync tests, threads and asyncio tasks may drive it concurrently.
``stop()`` releases held requests, interrupts delays, shuts down open connections and joins
the threads, each wait bounded, so it never hangs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import enum
import hashlib
import json
import math
import secrets
import selectors
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, TypeAlias, cast
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ._errors import ConfigurationError
from ._store import forget_shared_stores

__all__ = [
    "FAULT_KINDS",
    "OMIT",
    "SUPPORTED_ALGORITHMS",
    "FakeClock",
    "LocalIssuer",
    "Omit",
    "PrivateKey",
    "RecordedRequest",
    "reset_key_stores",
]


class Omit(enum.Enum):
    """Type of the :data:`OMIT` sentinel."""

    OMIT = "OMIT"

    def __repr__(self) -> str:
        return "OMIT"


#: Give this as a value in ``claims``, ``header``, ``jwk_extra`` or ``discovery_extra`` to
#: remove that member instead of setting it.
OMIT: Final = Omit.OMIT


class _Unset(enum.Enum):
    UNSET = "UNSET"


_UNSET: Final = _Unset.UNSET

#: A private key the issuer can hold.
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}

# EC algorithm -> (JWK crv, curve class, coordinate/scalar size in bytes, hash)
_EC: Final[dict[str, tuple[str, type[ec.EllipticCurve], int, type[hashes.HashAlgorithm]]]] = {
    "ES256": ("P-256", ec.SECP256R1, 32, hashes.SHA256),
    "ES384": ("P-384", ec.SECP384R1, 48, hashes.SHA384),
    "ES512": ("P-521", ec.SECP521R1, 66, hashes.SHA512),
    "ES256K": ("secp256k1", ec.SECP256K1, 32, hashes.SHA256),
}
_RSA_ALGS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_ED_ALGS: Final = frozenset({"EdDSA", "Ed25519"})

#: Every algorithm the issuer can sign with.
SUPPORTED_ALGORITHMS: Final[frozenset[str]] = _RSA_ALGS | frozenset(_EC) | _ED_ALGS

#: Every fault kind :meth:`LocalIssuer.fail` accepts.
FAULT_KINDS: Final[frozenset[str]] = frozenset(
    {
        "status",
        "delay",
        "garbage",
        "truncated",
        "oversize",
        "oversize_chunked",
        "reset",
        "redirect",
        "not_jwks",
        "empty_keys",
    }
)

_ENDPOINTS: Final = ("jwks", "discovery")
_DISCOVERY_MODES: Final = frozenset({"openid", "oauth", "both", "none"})
_OPENID_WELL_KNOWN: Final = "/.well-known/openid-configuration"
_OAUTH_WELL_KNOWN: Final = "/.well-known/oauth-authorization-server"
_JWKS_TYPE: Final = "application/jwk-set+json"
_JSON_TYPE: Final = "application/json"
_CHUNK: Final = 64 * 1024
_POLL: Final = 1.0  # safety net: the accept loop rechecks the stop flag this often
_JOIN_TIMEOUT: Final = 5.0
_MAX_HOLD: Final = 120.0  # safety net: a forgotten hold() never parks a request forever
_HANDLER_SOCKET_TIMEOUT: Final = 30.0


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_bytes(value: int, size: int | None = None) -> bytes:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(length, "big")


def _json_bytes(value: Any) -> bytes:
    try:
        return json.dumps(value, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"value is not JSON-serialisable: {exc}") from exc


def _merge(base: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``base`` updated with ``extra``, where an :data:`OMIT` value deletes a member."""
    merged = dict(base)
    for name, value in (extra or {}).items():
        if value is OMIT:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _check_finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _check_header_text(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ConfigurationError(f"{name} must not contain line breaks: {value!r}")


class FakeClock:
    """A thread-safe manual clock for tests: time moves only when told to.

    Calling the clock returns the current time as Unix seconds, so it fits wherever a
    ``clock=`` (or a cachetools ``timer=``) is accepted.

    Args:
        start: the initial time in Unix seconds.

    Raises:
        ConfigurationError: if ``start`` is not a finite number.
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = _check_finite("start", start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """Return the current time."""
        with self._lock:
            return self._now

    def now(self) -> float:
        """Return the current time (same as calling the clock)."""
        return self()

    def advance(self, seconds: float) -> float:
        """Move the clock forward.

        Args:
            seconds: how far to move; zero or more.

        Returns:
            The new time.

        Raises:
            ConfigurationError: if ``seconds`` is negative or not finite (use :meth:`set`
                to move backwards).
        """
        step = _check_finite("seconds", seconds)
        if step < 0:
            raise ConfigurationError(f"cannot advance by a negative amount: {seconds!r}")
        with self._lock:
            self._now += step
            return self._now

    def set(self, t: float) -> None:
        """Set the current time, forwards or backwards.

        Raises:
            ConfigurationError: if ``t`` is not a finite number.
        """
        value = _check_finite("t", t)
        with self._lock:
            self._now = value

    def __repr__(self) -> str:
        return f"FakeClock({self():.3f})"


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request received by a :class:`LocalIssuer`.

    Attributes:
        method: the HTTP method.
        path: the request path, without the query.
        headers: the request headers, names lower-cased (repeated headers joined by ", ").
        time: when it arrived, by the issuer's clock.
        query: the query string, without the ``?`` ("" when absent).
    """

    method: str
    path: str
    headers: dict[str, str]
    time: float
    query: str = ""


@dataclass(frozen=True, slots=True)
class _Fault:
    kind: str
    target: str  # "jwks" | "discovery" | "all"
    remaining: int | None
    status: int | None
    delay: float
    location: str | None
    body: bytes | None
    size: int
    headers: tuple[tuple[str, str], ...]


class _Key:
    """A key the issuer holds; mutable, guarded by the issuer's lock."""

    __slots__ = ("alg", "handle", "jwk", "private", "published")

    def __init__(
        self, handle: str, alg: str, private: PrivateKey, jwk: dict[str, Any], published: bool
    ) -> None:
        self.handle = handle
        self.alg = alg
        self.private = private
        self.jwk = jwk
        self.published = published


def _generate_key(alg: str) -> PrivateKey:
    if alg in _RSA_ALGS:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg in _EC:
        return ec.generate_private_key(_EC[alg][1]())
    return Ed25519PrivateKey.generate()


def _fits(private: PrivateKey, alg: str) -> bool:
    """Whether ``private`` can produce a genuine ``alg`` signature."""
    if isinstance(private, rsa.RSAPrivateKey):
        return alg in _RSA_ALGS
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return alg in _EC and isinstance(private.curve, _EC[alg][1])
    return alg in _ED_ALGS


def _public_jwk(private: PrivateKey, alg: str) -> dict[str, Any]:
    jwk: dict[str, Any]
    if isinstance(private, rsa.RSAPrivateKey):
        numbers = private.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "n": _b64url(_int_bytes(numbers.n)),
            "e": _b64url(_int_bytes(numbers.e)),
        }
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        crv, _curve, size, _hash = _EC[alg]
        point = private.public_key().public_numbers()
        jwk = {
            "kty": "EC",
            "crv": crv,
            "x": _b64url(_int_bytes(point.x, size)),
            "y": _b64url(_int_bytes(point.y, size)),
        }
    else:
        raw = private.public_key().public_bytes_raw()
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}
    return {"use": "sig", "alg": alg, **jwk}


def _raw_sign(private: PrivateKey, alg: str, data: bytes) -> bytes:
    if isinstance(private, rsa.RSAPrivateKey):
        digest = _HASHES[alg[2:]]()
        if alg.startswith("PS"):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            return private.sign(data, pss, digest)
        return private.sign(data, padding.PKCS1v15(), digest)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        _crv, _curve, size, hash_cls = _EC[alg]
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hash_cls())))
        return _int_bytes(r, size) + _int_bytes(s, size)
    return private.sign(data)


def _http_date(t: float) -> str:
    return formatdate(t, usegmt=True)


def _parse_http_date(value: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of ``etag`` against an ``If-None-Match`` list (RFC 9110 §13.1.2)."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(part.strip().removeprefix("W/") == opaque for part in header.split(","))


class _Run:
    """The state of one start/stop cycle of the server."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        # stop() writes to this pair to wake the accept loop at once
        self.wake: tuple[socket.socket, socket.socket] | None = None
        self.connections: set[socket.socket] = set()
        self.handlers: set[threading.Thread] = set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, port: int, issuer: LocalIssuer) -> None:
        self.issuer = issuer
        self.run = _Run(self)
        super().__init__(("127.0.0.1", port), _Handler)
        self.timeout = 0.0  # handle_request() is only called once the socket is readable

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves a host name (getfqdn), which may be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Swallow handler errors (a client that went away mid-response is normal here)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "jwks-client-LocalIssuer"
    sys_version = ""
    timeout = _HANDLER_SOCKET_TIMEOUT
    disable_nagle_algorithm = True

    @property
    def _server(self) -> _Server:
        return cast(_Server, self.server)

    def setup(self) -> None:
        super().setup()
        self._server.issuer._register(self._server.run, self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server.issuer._unregister(self._server.run, self.connection)

    def handle_one_request(self) -> None:
        # Like BaseHTTPRequestHandler's, but every method reaches the issuer (405, not 501).
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = ""
                self.request_version = ""
                self.command = ""
                self.send_error(414)
                self.close_connection = True
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._server.issuer._respond(self, self._server.run)
            if not self.wfile.closed:
                self.wfile.flush()
        except (TimeoutError, OSError):
            self.close_connection = True

    def date_time_string(self, timestamp: float | None = None) -> str:
        return _http_date(self._server.issuer._clock() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: tests read recorded requests instead of logs."""


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

    Raises:
        ConfigurationError: for an unsupported algorithm, discovery mode or malformed path.
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
    ) -> None:
        if isinstance(algorithms, str) or not algorithms:
            raise ConfigurationError("algorithms must be a non-empty sequence of names")
        for alg in algorithms:
            self._check_alg(alg)
        if discovery not in _DISCOVERY_MODES:
            raise ConfigurationError(
                f"discovery must be one of {sorted(_DISCOVERY_MODES)}, got {discovery!r}"
            )
        self._path = self._check_path("path", path, allow_empty=True)
        self._jwks_path = self._check_path("jwks_path", jwks_path, allow_empty=False)
        if cache_control is not None:
            _check_header_text("cache_control", cache_control)
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._clock = clock
        self._algorithms = tuple(dict.fromkeys(algorithms))
        self._cache_control = cache_control
        self._etag = etag
        self._last_modified = last_modified
        self._discovery = discovery
        self._advertised_issuer = advertised_issuer
        self._advertised_jwks_uri = advertised_jwks_uri
        self._discovery_extra = dict(discovery_extra or {})
        _json_bytes({k: v for k, v in self._discovery_extra.items() if v is not OMIT})
        self._extra_headers: dict[str, str] = {}
        self.set_extra_headers(extra_headers)
        self._keys: dict[str, _Key] = {}
        self._signing: str | None = None
        self._jwks_override: dict[str, Any] | None = None
        self._created_at = clock()
        self._jwks_changed_at = self._created_at
        self._records: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._held: set[str] = set()
        self._waiting: dict[str, int] = dict.fromkeys(_ENDPOINTS, 0)
        self._run: _Run | None = None
        self._port: int | None = None
        for alg in self._algorithms:
            self.add_key(alg)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> LocalIssuer:
        """Bind ``127.0.0.1`` (an ephemeral port, or the previous one on restart) and serve.

        Starting a running issuer does nothing.

        Returns:
            The issuer itself.

        Raises:
            ConfigurationError: if the port of a previous run can no longer be bound.
        """
        with self._lock:
            if self._run is not None:
                return self
            try:
                server = _Server(self._port or 0, self)
            except OSError as exc:
                raise ConfigurationError(f"cannot bind 127.0.0.1:{self._port or 0}: {exc}") from exc
            run = server.run
            try:
                run.wake = socket.socketpair()
            except OSError as exc:
                server.server_close()
                raise ConfigurationError(f"cannot create a wake-up socket pair: {exc}") from exc
            self._port = server.server_port
            run.thread = threading.Thread(
                target=self._serve, args=(run,), name=f"LocalIssuer:{self._port}", daemon=True
            )
            self._run = run
            run.thread.start()
            return self

    def stop(self) -> None:
        """Stop serving: release held requests, interrupt delays, close connections.

        Idempotent, and bounded: each join waits at most a few seconds, so it never hangs.
        Requests that were held or delayed get no response (their connection closes).
        """
        with self._lock:
            run = self._run
            if run is None:
                return
            self._run = None
            self._held.clear()
            run.stop_event.set()
            self._cond.notify_all()
        if run.wake is not None:
            with contextlib.suppress(OSError):
                run.wake[1].send(b"x")
        if run.thread is not None:
            run.thread.join(_JOIN_TIMEOUT)
        if run.wake is not None:
            for end in run.wake:
                end.close()
        with self._lock:
            connections = list(run.connections)
            handlers = list(run.handlers)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _JOIN_TIMEOUT
        for handler in handlers:
            handler.join(max(0.0, deadline - time.monotonic()))
        run.server.server_close()

    @property
    def running(self) -> bool:
        """Whether the server is currently serving."""
        with self._lock:
            return self._run is not None

    @property
    def thread(self) -> threading.Thread | None:
        """The thread of the accept loop of the current run (None when stopped)."""
        with self._lock:
            return None if self._run is None else self._run.thread

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
        state = f"port={self._port}" if self._port is not None else "not started"
        return f"<LocalIssuer {state} keys={len(self._keys)}>"

    # --- URLs --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``.

        Raises:
            ConfigurationError: before the first :meth:`start`.
        """
        with self._lock:
            if self._port is None:
                raise ConfigurationError("the LocalIssuer has not been started")
            return f"http://127.0.0.1:{self._port}"

    @property
    def issuer(self) -> str:
        """The issuer identifier: ``base_url`` + ``path``."""
        return self.base_url + self._path

    @property
    def jwks_uri(self) -> str:
        """Where the JWKS is served: ``issuer`` + ``jwks_path``."""
        return self.base_url + self._path + self._jwks_path

    @property
    def discovery_url(self) -> str:
        """Where the discovery document is served (for "none": where it would be, a 404)."""
        if self._discovery == "oauth":
            return self.base_url + _OAUTH_WELL_KNOWN + self._path
        return self.base_url + self._path + _OPENID_WELL_KNOWN

    @property
    def openid_configuration_url(self) -> str:
        """The OpenID Connect discovery location of this issuer (served in "openid"/"both")."""
        return self.base_url + self._path + _OPENID_WELL_KNOWN

    @property
    def oauth_metadata_url(self) -> str:
        """The RFC 8414 path-aware metadata location (served in "oauth"/"both")."""
        return self.base_url + _OAUTH_WELL_KNOWN + self._path

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
        self._check_alg(alg)
        if private_key is not None and not _fits(private_key, alg):
            raise ConfigurationError(f"the given private key cannot sign {alg}")
        private = private_key if private_key is not None else _generate_key(alg)
        handle = kid if kid is not None else _b64url(secrets.token_bytes(6))
        jwk = _public_jwk(private, alg)
        if include_kid:
            jwk = {"kid": handle, **jwk}
        jwk = _merge(jwk, jwk_extra)
        with self._lock:
            if handle in self._keys:
                raise ConfigurationError(f"kid {handle!r} is already in use")
            self._keys[handle] = _Key(handle, alg, private, jwk, publish)
            if self._signing is None:
                self._signing = handle
            if publish:
                self._changed()
        return handle

    def remove_key(self, kid: str) -> None:
        """Unpublish and forget a key.

        When it was the default signer, the most recently added remaining key takes over.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        with self._lock:
            key = self._key(kid)
            del self._keys[kid]
            if self._signing == kid:
                self._signing = next(reversed(self._keys), None)
            if key.published:
                self._changed()

    def publish_key(self, kid: str) -> None:
        """Publish a key added with ``publish=False`` (no change if already published).

        Raises:
            ConfigurationError: if no key has this kid.
        """
        with self._lock:
            key = self._key(kid)
            if not key.published:
                key.published = True
                self._changed()

    def unpublish_key(self, kid: str) -> None:
        """Withdraw a key from the JWKS but keep it for signing.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        with self._lock:
            key = self._key(kid)
            if key.published:
                key.published = False
                self._changed()

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
        with self._lock:
            if self._signing is None:
                raise ConfigurationError("the issuer holds no key")
            return self._signing

    def set_signing_kid(self, kid: str) -> None:
        """Make a held key the default signer.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        with self._lock:
            self._key(kid)
            self._signing = kid

    def kids(self) -> list[str]:
        """Return the kids (handles) of every held key, in the order they were added."""
        with self._lock:
            return list(self._keys)

    def private_key(self, kid: str) -> PrivateKey:
        """Return the cryptography private key named ``kid``.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        with self._lock:
            return self._key(kid).private

    def public_jwk(self, kid: str) -> dict[str, Any]:
        """Return the public JWK of a key as it is (or would be) published.

        Raises:
            ConfigurationError: if no key has this kid.
        """
        with self._lock:
            return copy.deepcopy(self._key(kid).jwk)

    def jwks(self) -> dict[str, Any]:
        """Return (a copy of) the JWKS currently served."""
        with self._lock:
            return copy.deepcopy(self._current_jwks())

    def serve_jwks(self, document: Mapping[str, Any] | None) -> None:
        """Serve ``document`` verbatim as the JWKS instead of the held keys' set.

        For sets no key API can build (duplicate kids, symmetric or private members...).
        ``None`` goes back to the held keys. Either way the body, ``ETag`` and
        ``Last-Modified`` change.
        """
        if document is not None:
            _json_bytes(dict(document))
        with self._lock:
            self._jwks_override = None if document is None else copy.deepcopy(dict(document))
            self._changed()

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

        Returns:
            The compact serialization.

        Raises:
            ConfigurationError: before :meth:`start` (the issuer URL is unknown), for an
                ``alg`` no suitable key can sign, or for non-JSON values.
        """
        now = self._clock()
        defaults: dict[str, Any] = {"iss": self.issuer, "sub": "user-1"}
        if audience is not None:
            defaults["aud"] = audience
        defaults.update(
            iat=math.floor(now),
            nbf=math.floor(now),
            exp=math.floor(now + _check_finite("expires_in", expires_in)),
            jti=_b64url(secrets.token_bytes(12)),
            scope="read",
        )
        payload = _merge(defaults, claims)
        with self._lock:
            key, sign_alg = self._signer(kid, alg)
            header_kid: str | None
            if kid is not None and kid not in self._keys:
                header_kid = kid
            else:
                published_kid = key.jwk.get("kid")
                header_kid = published_kid if isinstance(published_kid, str) else None
        protected: dict[str, Any] = {"alg": sign_alg, "typ": "at+jwt"}
        if include_kid and header_kid is not None:
            protected["kid"] = header_kid
        protected = _merge(protected, header)
        return self._compact(_json_bytes(protected), _json_bytes(payload), key, sign_alg, signature)

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
        header_bytes = header if isinstance(header, bytes) else _json_bytes(dict(header))
        payload_bytes = payload if isinstance(payload, bytes) else _json_bytes(dict(payload))
        with self._lock:
            key = self._key(kid if kid is not None else self.signing_kid())
        sign_alg = alg if alg is not None else key.alg
        self._check_alg(sign_alg)
        if not _fits(key.private, sign_alg):
            raise ConfigurationError(f"key {key.handle!r} cannot sign {sign_alg}")
        return self._compact(header_bytes, payload_bytes, key, sign_alg, signature)

    # --- requests ----------------------------------------------------------------------

    def requests(self) -> list[RecordedRequest]:
        """Return every recorded request (faulted, 304, 404 and 405 ones included), oldest first."""
        with self._lock:
            return list(self._records)

    def request_count(self, path: str | None = None) -> int:
        """Count recorded requests.

        Args:
            path: None for all; "jwks" or "discovery" for that endpoint; a path such as
                "/jwks" (matched exactly, query ignored); or a full URL (its path is used).
        """
        with self._lock:
            if path is None:
                return len(self._records)
            paths = self._paths_for(path)
            return sum(1 for record in self._records if record.path in paths)

    def reset_counts(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            self._records.clear()

    def wait_for_requests(self, n: int, timeout: float = 5.0, *, path: str | None = None) -> bool:
        """Block until at least ``n`` requests (to ``path``, as in :meth:`request_count`) arrived.

        Returns:
            True when reached, False when ``timeout`` seconds passed first.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self.request_count(path) >= n, timeout)

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
        if kind not in FAULT_KINDS:
            raise ConfigurationError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if path not in ("jwks", "discovery", "all"):
            raise ConfigurationError(f"fault path must be 'jwks', 'discovery' or 'all': {path!r}")
        if times is not None and (isinstance(times, bool) or times < 1):
            raise ConfigurationError(f"times must be None or >= 1, got {times!r}")
        if status is not None and not 200 <= status <= 599:
            raise ConfigurationError(f"status must be a final HTTP status (200-599): {status!r}")
        if _check_finite("delay", delay) < 0 or size < 0:
            raise ConfigurationError("delay and size must be >= 0")
        fault_headers = tuple((headers or {}).items())
        for name, value in fault_headers:
            _check_header_text(name, value)
        if location is not None:
            _check_header_text("location", location)
        fault = _Fault(kind, path, times, status, delay, location, body, size, fault_headers)
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._faults.clear()

    # --- holding requests ----------------------------------------------------------------

    def hold(self, path: str = "jwks") -> None:
        """Park requests to an endpoint ("jwks", "discovery" or "all") until :meth:`release`.

        Parked requests are recorded on arrival and counted by :meth:`waiting`. They go on
        (faults then apply) when released, and are dropped unanswered by :meth:`stop`.
        """
        with self._lock:
            self._held.update(self._endpoints(path))

    def release(self, path: str = "jwks") -> None:
        """Let the requests parked on an endpoint (or "all") go on, and stop holding it."""
        with self._cond:
            self._held.difference_update(self._endpoints(path))
            self._cond.notify_all()

    def waiting(self, path: str = "jwks") -> int:
        """Return how many requests are parked on an endpoint ("all": on either)."""
        with self._lock:
            return sum(self._waiting[endpoint] for endpoint in self._endpoints(path))

    def wait_for_waiting(self, n: int, timeout: float = 5.0, *, path: str = "jwks") -> bool:
        """Block until at least ``n`` requests are parked on ``path``.

        Returns:
            True when reached, False when ``timeout`` seconds passed first.
        """
        with self._cond:
            return self._cond.wait_for(lambda: self.waiting(path) >= n, timeout)

    async def await_waiting(self, n: int, timeout: float = 5.0, *, path: str = "jwks") -> bool:
        """Async form of :meth:`wait_for_waiting` that leaves the event loop free."""
        return await asyncio.to_thread(self.wait_for_waiting, n, timeout, path=path)

    # --- response headers ------------------------------------------------------------------

    def set_cache_headers(
        self,
        *,
        cache_control: str | _Unset | None = _UNSET,
        etag: bool | _Unset = _UNSET,
        last_modified: bool | _Unset = _UNSET,
    ) -> None:
        """Change the caching headers of later responses; omitted arguments keep their value.

        Raises:
            ConfigurationError: if ``cache_control`` contains a line break.
        """
        with self._lock:
            if not isinstance(cache_control, _Unset):
                if cache_control is not None:
                    _check_header_text("cache_control", cache_control)
                self._cache_control = cache_control
            if not isinstance(etag, _Unset):
                self._etag = etag
            if not isinstance(last_modified, _Unset):
                self._last_modified = last_modified

    def set_extra_headers(self, headers: Mapping[str, str] | None) -> None:
        """Replace the extra headers of normal and 304 responses (None: no extra headers).

        Raises:
            ConfigurationError: if a name or value contains a line break.
        """
        extra = dict(headers or {})
        for name, value in extra.items():
            _check_header_text(name, name)
            _check_header_text(name, value)
        with self._lock:
            self._extra_headers = extra

    # --- internals: keys and tokens --------------------------------------------------------

    @staticmethod
    def _check_alg(alg: str) -> None:
        if alg not in SUPPORTED_ALGORITHMS:
            raise ConfigurationError(
                f"unsupported algorithm {alg!r}; one of {sorted(SUPPORTED_ALGORITHMS)}"
            )

    @staticmethod
    def _check_path(name: str, value: str, *, allow_empty: bool) -> str:
        if value == "" and allow_empty:
            return value
        if not value.startswith("/") or value.endswith("/") or any(c in value for c in "?#\r\n "):
            raise ConfigurationError(f"{name} must look like '/segment' without a trailing /")
        return value

    def _key(self, kid: str) -> _Key:
        key = self._keys.get(kid)
        if key is None:
            raise ConfigurationError(f"no key with kid {kid!r}")
        return key

    def _signer(self, kid: str | None, alg: str | None) -> tuple[_Key, str]:
        """Pick the signing key and algorithm of :meth:`token` (lock held)."""
        default = self._key(self.signing_kid())
        if alg is not None:
            self._check_alg(alg)
        if kid is not None and kid in self._keys:
            key = self._keys[kid]
        elif alg is not None and default.alg != alg:
            matching = [k for k in self._keys.values() if k.alg == alg]
            key = matching[-1] if matching else default
        else:
            key = default
        sign_alg = alg if alg is not None else key.alg
        if not _fits(key.private, sign_alg):
            raise ConfigurationError(f"no held key can sign {sign_alg} (add_key({sign_alg!r}))")
        return key, sign_alg

    @staticmethod
    def _compact(
        header: bytes, payload: bytes, key: _Key, alg: str, signature: bytes | None
    ) -> str:
        signing_input = f"{_b64url(header)}.{_b64url(payload)}"
        if signature is None:
            signature = _raw_sign(key.private, alg, signing_input.encode("ascii"))
        return f"{signing_input}.{_b64url(signature)}"

    def _changed(self) -> None:
        self._jwks_changed_at = self._clock()

    def _current_jwks(self) -> dict[str, Any]:
        if self._jwks_override is not None:
            return self._jwks_override
        return {"keys": [key.jwk for key in self._keys.values() if key.published]}

    def _discovery_document(self, kind: str) -> dict[str, Any]:
        issuer = self.issuer
        doc: dict[str, Any] = {
            "issuer": self._advertised_issuer if self._advertised_issuer is not None else issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token",
            "jwks_uri": self._advertised_jwks_uri or self.jwks_uri,
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
            "scopes_supported": ["openid", "profile", "email", "read", "write"],
            "code_challenge_methods_supported": ["S256"],
        }
        if kind == "openid":
            doc.update(
                userinfo_endpoint=issuer + "/userinfo",
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=list(self._algorithms),
                claims_supported=["sub", "iss", "aud", "exp", "iat", "name", "email"],
            )
        else:
            doc["revocation_endpoint"] = issuer + "/revoke"
        return _merge(doc, self._discovery_extra)

    # --- internals: routing and requests ---------------------------------------------------

    def _endpoints(self, path: str) -> tuple[str, ...]:
        if path == "all":
            return _ENDPOINTS
        if path in _ENDPOINTS:
            return (path,)
        raise ConfigurationError(f"path must be 'jwks', 'discovery' or 'all', got {path!r}")

    def _discovery_paths(self) -> dict[str, str]:
        """The paths where a discovery document is served, with its kind."""
        paths: dict[str, str] = {}
        if self._discovery in ("openid", "both"):
            paths[self._path + _OPENID_WELL_KNOWN] = "openid"
        if self._discovery in ("oauth", "both"):
            paths[_OAUTH_WELL_KNOWN + self._path] = "oauth"
        return paths

    def _paths_for(self, path: str) -> set[str]:
        if path == "jwks":
            return {self._path + self._jwks_path}
        if path == "discovery":
            served = set(self._discovery_paths())
            return served or {self._path + _OPENID_WELL_KNOWN}
        if "://" in path:
            return {urlsplit(path).path or "/"}
        return {path.partition("?")[0]}

    def _route(self, path: str) -> tuple[str, str] | None:
        """Map a request path to ("jwks", "") or ("discovery", kind); None for unknown."""
        if path == self._path + self._jwks_path:
            return ("jwks", "")
        kind = self._discovery_paths().get(path)
        return None if kind is None else ("discovery", kind)

    def _register(self, run: _Run, conn: socket.socket) -> None:
        with self._lock:
            run.connections.add(conn)
            run.handlers.add(threading.current_thread())
            stopping = run.stop_event.is_set()
        if stopping:  # accepted as stop() began: do not serve it
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _unregister(self, run: _Run, conn: socket.socket) -> None:
        with self._lock:
            run.connections.discard(conn)
            run.handlers.discard(threading.current_thread())

    def _serve(self, run: _Run) -> None:
        """The accept loop: wait for a connection or for stop(), without polling."""
        server = run.server
        assert run.wake is not None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(server.socket, selectors.EVENT_READ)
                selector.register(run.wake[0], selectors.EVENT_READ)
                while not run.stop_event.is_set():
                    ready = selector.select(_POLL)
                    if run.stop_event.is_set():
                        break
                    if any(key.fileobj is server.socket for key, _ in ready):
                        server.handle_request()
        except (OSError, ValueError):
            return  # the listening socket was closed under us: nothing left to serve

    def _take_fault(self, endpoint: str) -> _Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.target not in (endpoint, "all"):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 1:
                    del self._faults[index]
                else:
                    self._faults[index] = replace(fault, remaining=fault.remaining - 1)
            return fault
        return None

    def _park(self, endpoint: str, run: _Run) -> bool:
        """Wait while ``endpoint`` is held; False when the server stops meanwhile (lock held)."""
        if endpoint not in self._held:
            return True
        self._waiting[endpoint] += 1
        self._cond.notify_all()
        deadline = time.monotonic() + _MAX_HOLD
        try:
            while endpoint in self._held and not run.stop_event.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        finally:
            self._waiting[endpoint] -= 1
            self._cond.notify_all()
        return not run.stop_event.is_set()

    def _respond(self, handler: _Handler, run: _Run) -> None:
        path, _, query = handler.path.partition("?")
        headers: dict[str, str] = {}
        for name, value in handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if "content-length" in headers or "transfer-encoding" in headers:
            handler.close_connection = True  # a request body is never read: do not reuse
        is_get = handler.command == "GET"
        with self._cond:
            self._records.append(
                RecordedRequest(handler.command, path, headers, self._clock(), query)
            )
            self._cond.notify_all()
            route = self._route(path) if is_get else None
            go_on = route is not None and self._park(route[0], run)
            fault = self._take_fault(route[0]) if route is not None and go_on else None
        if not is_get:
            handler.close_connection = True
            self._send(handler, 405, [("Allow", "GET"), ("Connection", "close")], b"")
            return
        if route is None:
            self._send_json(handler, 404, {"error": "not_found"})
            return
        if not go_on:  # stopped while parked
            handler.close_connection = True
            return
        endpoint, kind = route
        if fault is not None:
            if fault.kind != "delay":
                self._send_fault(handler, fault, endpoint, kind)
                return
            if run.stop_event.wait(fault.delay):
                handler.close_connection = True
                return
        self._send_document(handler, headers, endpoint, kind)

    def _document(self, endpoint: str, kind: str) -> tuple[bytes, str, float]:
        """The body, content type and last change time of an endpoint (lock held)."""
        if endpoint == "jwks":
            return _json_bytes(self._current_jwks()), _JWKS_TYPE, self._jwks_changed_at
        return _json_bytes(self._discovery_document(kind)), _JSON_TYPE, self._created_at

    def _send_document(
        self, handler: _Handler, request_headers: Mapping[str, str], endpoint: str, kind: str
    ) -> None:
        with self._lock:
            body, content_type, changed_at = self._document(endpoint, kind)
            etag = f'"{_b64url(hashlib.sha256(body).digest()[:18])}"' if self._etag else None
            last_modified = math.floor(changed_at) if self._last_modified else None
            cache_control = self._cache_control
            extra = dict(self._extra_headers)
        caching: list[tuple[str, str]] = []
        if cache_control is not None:
            caching.append(("Cache-Control", cache_control))
        if etag is not None:
            caching.append(("ETag", etag))
        if last_modified is not None:
            caching.append(("Last-Modified", _http_date(last_modified)))
        if _not_modified(request_headers, etag, last_modified):
            self._send(handler, 304, _with_extra(caching, extra), None)
            return
        headers = [("Content-Type", content_type), *caching]
        self._send(handler, 200, _with_extra(headers, extra), body)

    def _send_fault(self, handler: _Handler, fault: _Fault, endpoint: str, kind: str) -> None:
        with self._lock:
            body, content_type, _changed = self._document(endpoint, kind)
            jwks = self._current_jwks()
            cache_control = self._cache_control
            url = self.base_url + handler.path
        extra = list(fault.headers)
        ok_headers = [("Content-Type", content_type)]
        if cache_control is not None:
            ok_headers.append(("Cache-Control", cache_control))
        if fault.kind == "status":
            status = fault.status if fault.status is not None else 503
            text = fault.body if fault.body is not None else b'{"error":"temporarily_unavailable"}'
            no_body = status in (204, 304) or status < 200
            headers = [] if no_body else [("Content-Type", _JSON_TYPE)]
            self._send(handler, status, headers + extra, None if no_body else text)
        elif fault.kind == "garbage":
            text = fault.body if fault.body is not None else b"<!doctype html><p>Bad Gateway"
            self._send(handler, 200, ok_headers + extra, text)
        elif fault.kind == "not_jwks":
            text = fault.body if fault.body is not None else b'{"hello":1}'
            self._send(handler, 200, ok_headers + extra, text)
        elif fault.kind == "empty_keys":
            self._send(handler, 200, ok_headers + extra, b'{"keys":[]}')
        elif fault.kind == "redirect":
            status = fault.status if fault.status is not None else 302
            location = fault.location if fault.location is not None else url
            self._send(handler, status, [("Location", location), *extra], b"")
        elif fault.kind == "truncated":
            handler.close_connection = True
            handler.send_response(200)
            for name, value in [*ok_headers, *extra, ("Content-Length", str(len(body)))]:
                handler.send_header(name, value)
            handler.send_header("Connection", "close")
            handler.end_headers()
            handler.wfile.write(body[: len(body) // 2])
        elif fault.kind == "reset":
            _reset(handler)
        else:  # oversize, oversize_chunked
            self._send_oversize(handler, fault, jwks, ok_headers + extra)

    @staticmethod
    def _send_oversize(
        handler: _Handler, fault: _Fault, jwks: Mapping[str, Any], headers: list[tuple[str, str]]
    ) -> None:
        prefix = _json_bytes(dict(jwks))[:-1] + b',"padding":"'
        suffix = b'"}'
        padding_size = max(0, fault.size - len(prefix) - len(suffix))
        chunked = fault.kind == "oversize_chunked"
        handler.close_connection = True
        handler.send_response(200)
        for name, value in headers:
            handler.send_header(name, value)
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(len(prefix) + padding_size + len(suffix)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        for chunk in _padded(prefix, padding_size, suffix):
            if chunked:
                handler.wfile.write(b"%X\r\n%s\r\n" % (len(chunk), chunk))
            else:
                handler.wfile.write(chunk)
        if chunked:
            handler.wfile.write(b"0\r\n\r\n")

    @staticmethod
    def _send(
        handler: _Handler, status: int, headers: list[tuple[str, str]], body: bytes | None
    ) -> None:
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        if body is not None:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)

    def _send_json(self, handler: _Handler, status: int, document: Mapping[str, Any]) -> None:
        self._send(handler, status, [("Content-Type", _JSON_TYPE)], _json_bytes(dict(document)))


def _with_extra(headers: list[tuple[str, str]], extra: Mapping[str, str]) -> list[tuple[str, str]]:
    replaced = {name.lower() for name in extra}
    return [(n, v) for n, v in headers if n.lower() not in replaced] + list(extra.items())


def _not_modified(
    request_headers: Mapping[str, str], etag: str | None, last_modified: int | None
) -> bool:
    """Evaluate the conditional request headers (RFC 9110 §13.2.2 order)."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None and etag is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = request_headers.get("if-modified-since")
    if if_none_match is None and if_modified_since is not None and last_modified is not None:
        since = _parse_http_date(if_modified_since)
        return since is not None and since >= last_modified
    return False


def _padded(prefix: bytes, padding_size: int, suffix: bytes) -> Iterator[bytes]:
    yield prefix
    remaining = padding_size
    while remaining > 0:
        step = min(_CHUNK, remaining)
        yield b"A" * step
        remaining -= step
    yield suffix


def _reset(handler: _Handler) -> None:
    """Close the connection with a TCP RST and no response."""
    handler.close_connection = True
    conn = handler.connection
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The read buffer holds a reference to the socket: close it too, so the descriptor
    # is released now (sending the RST) rather than after the handler finishes.
    handler.rfile.close()
    conn.close()


def reset_key_stores() -> None:
    """Forget the process's shared key stores, so the next verifiers start cold.

    Key stores are shared by every verifier of the same source and clock in a process
    (see the README). Tests that run verifiers against the same issuer URL with the real
    clock, but expect a cold cache each time, call this first (the pytest plugin's
    fixtures use fake clocks of their own and need not).
    """
    forget_shared_stores()
