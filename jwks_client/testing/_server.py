"""The loopback HTTP server under the test issuer: threads, sockets and a bounded stop.

:class:`LoopbackServer` runs a ``ThreadingHTTPServer`` bound to a loopback address in a
daemon thread and hands every request, whatever its method, to one ``app`` callable as an
:class:`Exchange`: the parsed request plus the means to answer it (a whole response, a
streamed one, a half-sent one, a TCP reset). The app decides everything else.

The accept loop waits on the listening socket and on a wake-up socket pair, so
:meth:`LoopbackServer.stop` interrupts it at once instead of waiting for a poll. Stop is
bounded: it signals the run's ``stopping`` event (which an app's waits observe), shuts
down the open connections, and joins each thread with a deadline, so it never hangs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import selectors
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable, Iterable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, cast

from .._errors import ConfigurationError

__all__ = ["Exchange", "LoopbackServer", "RequestBodyError", "check_loopback", "http_date"]

_POLL: Final = 1.0  # safety net: the accept loop rechecks the stop flag this often
_JOIN_TIMEOUT: Final = 5.0
_HANDLER_SOCKET_TIMEOUT: Final = 30.0
_MAX_DRAIN: Final = 1024 * 1024  # a refused body up to this size is read and dropped


def http_date(t: float) -> str:
    """Format a Unix time as an HTTP date (RFC 9110 §5.6.7)."""
    return formatdate(t, usegmt=True)


def check_loopback(host: str) -> str:
    """Return ``host`` if it is a loopback IP address (127.0.0.0/8 or ::1).

    Raises:
        ConfigurationError: for a name or a non-loopback address: the test issuer signs
            tokens for anyone who asks and must never be reachable from another machine.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigurationError(
            f"host must be a loopback IP address such as 127.0.0.1 or ::1, got {host!r}"
        ) from None
    if not address.is_loopback:
        raise ConfigurationError(f"host must be a loopback address, got {host!r}")
    return str(address)


class RequestBodyError(Exception):
    """A request body that cannot be read; ``status`` is the answer to give."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Exchange:
    """One request received, and the means to answer it.

    Attributes:
        method: the HTTP method.
        target: the request target as sent (path and query).
        path: the path, without the query.
        query: the query string without ``?`` ("" when absent).
        headers: the request headers, names lower-cased, repeated ones joined by ", ".
        stopping: set when the server stops; a waiting app should give up then.
    """

    __slots__ = (
        "_body_read",
        "_handler",
        "headers",
        "method",
        "path",
        "query",
        "stopping",
        "target",
    )

    def __init__(self, handler: _Handler, stopping: threading.Event) -> None:
        self._handler = handler
        self._body_read = False
        self.method: str = handler.command
        self.target: str = handler.path
        self.path, _, self.query = handler.path.partition("?")
        headers: dict[str, str] = {}
        for name, value in handler.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.headers = headers
        self.stopping = stopping

    @property
    def has_body(self) -> bool:
        """Whether the request announces a body (Content-Length or Transfer-Encoding)."""
        return "content-length" in self.headers or "transfer-encoding" in self.headers

    @property
    def body_unread(self) -> bool:
        """Whether a body was announced but not read (the connection cannot be reused)."""
        return self.has_body and not self._body_read

    def read_body(self, limit: int) -> bytes:
        """Read the request body, of at most ``limit`` bytes (b"" when there is none).

        Both framings are read: ``Content-Length`` and chunked transfer coding.

        Raises:
            RequestBodyError: a body over ``limit`` (413; a ``Content-Length`` body is
                still read and dropped when not huge, so the answer reaches the client),
                another transfer coding (501), or a malformed or short body (400).
        """
        coding = self.headers.get("transfer-encoding")
        if coding is not None:
            if coding.strip().lower() != "chunked":
                raise RequestBodyError(501, f"unsupported Transfer-Encoding {coding!r}")
            return self._read_chunked(limit)
        declared = self.headers.get("content-length")
        if declared is None:
            return b""
        if not declared.isdigit():
            raise RequestBodyError(400, f"malformed Content-Length {declared!r}")
        length = int(declared)
        if length > limit:
            if length <= _MAX_DRAIN:
                # Read it anyway: closing a socket with unread input resets the
                # connection, and the client would lose the 413 answer.
                self._read_exactly(length, keep=False)
                self._body_read = True
            raise RequestBodyError(413, f"body over {limit} bytes")
        body = self._read_exactly(length, keep=True)
        self._body_read = True
        return body

    def _read_exactly(self, length: int, *, keep: bool) -> bytes:
        parts: list[bytes] = []
        remaining = length
        while remaining > 0:
            chunk = self._handler.rfile.read(min(remaining, 64 * 1024))
            if not chunk:
                raise RequestBodyError(400, "body shorter than announced")
            remaining -= len(chunk)
            if keep:
                parts.append(chunk)
        return b"".join(parts)

    def _read_chunked(self, limit: int) -> bytes:
        """Decode a chunked body (RFC 9112 §7.1); extensions and trailers are ignored."""
        rfile = self._handler.rfile
        parts: list[bytes] = []
        size = 0
        while True:
            line = rfile.readline(1024)
            text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not text or text.strip(b"0123456789abcdefABCDEF"):
                raise RequestBodyError(400, "malformed chunked body")
            chunk_size = int(text, 16)
            if chunk_size == 0:
                break
            size += chunk_size
            if size > limit:
                raise RequestBodyError(413, f"body over {limit} bytes")
            parts.append(self._read_exactly(chunk_size, keep=True))
            if rfile.readline(3) not in (b"\r\n", b"\n"):
                raise RequestBodyError(400, "malformed chunked body")
        for _ in range(100):  # trailer fields, up to the empty line
            trailer = rfile.readline(8192)
            if trailer in (b"\r\n", b"\n", b""):
                break
        self._body_read = True
        return b"".join(parts)

    def send(self, status: int, headers: Iterable[tuple[str, str]], body: bytes | None) -> None:
        """Send a whole response; ``Content-Length`` is added unless ``body`` is None."""
        handler = self._handler
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        if body is not None:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body:
            handler.wfile.write(body)

    def begin(self, status: int, headers: Iterable[tuple[str, str]]) -> None:
        """Send the status line and exactly these headers; the body follows by :meth:`write`."""
        handler = self._handler
        handler.send_response(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()

    def write(self, data: bytes) -> None:
        """Write raw bytes of a body begun with :meth:`begin`."""
        self._handler.wfile.write(data)

    def close_after(self) -> None:
        """Close the connection once this exchange ends (no keep-alive)."""
        self._handler.close_connection = True

    def reset(self) -> None:
        """Close the connection with a TCP RST and no response."""
        handler = self._handler
        handler.close_connection = True
        conn = handler.connection
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The read buffer holds a reference to the socket: close it too, so the descriptor
        # is released now (sending the RST) rather than after the handler finishes.
        handler.rfile.close()
        conn.close()


App = Callable[[Exchange], None]


class _Run:
    """The state of one start/stop cycle of the server."""

    def __init__(self, server: _HTTPServer) -> None:
        self.server = server
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        # stop() writes to this pair to wake the accept loop at once
        self.wake: tuple[socket.socket, socket.socket] | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._handlers: set[threading.Thread] = set()

    def register(self, conn: socket.socket) -> None:
        """Track a connection and its handler thread; refuse it if stop has begun."""
        with self._lock:
            self._connections.add(conn)
            self._handlers.add(threading.current_thread())
        if self.stopping.is_set():  # accepted as stop() began: do not serve it
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def unregister(self, conn: socket.socket) -> None:
        """Forget a finished connection and its handler thread."""
        with self._lock:
            self._connections.discard(conn)
            self._handlers.discard(threading.current_thread())

    def open(self) -> tuple[list[socket.socket], list[threading.Thread]]:
        """The connections and handler threads still open."""
        with self._lock:
            return list(self._connections), list(self._handlers)

    def serve(self) -> None:
        """The accept loop: wait for a connection or for stop(), without polling."""
        assert self.wake is not None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.server.socket, selectors.EVENT_READ)
                selector.register(self.wake[0], selectors.EVENT_READ)
                while not self.stopping.is_set():
                    ready = selector.select(_POLL)
                    if self.stopping.is_set():
                        break
                    if any(key.fileobj is self.server.socket for key, _ in ready):
                        self.server.handle_request()
        except (OSError, ValueError):
            return  # the listening socket was closed under us: nothing left to serve


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host: str, port: int, app: App, clock: Callable[[], float]) -> None:
        self.app = app
        self.clock = clock
        self.run = _Run(self)
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        self.timeout = 0.0  # handle_request() is only called once the socket is readable

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves a host name (getfqdn), which may be slow.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
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
    def _server(self) -> _HTTPServer:
        return cast(_HTTPServer, self.server)

    def setup(self) -> None:
        super().setup()
        self._server.run.register(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._server.run.unregister(self.connection)

    def handle_one_request(self) -> None:
        # Like BaseHTTPRequestHandler's, but every method reaches the app (405, not 501).
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
            exchange = Exchange(self, self._server.run.stopping)
            self._server.app(exchange)
            if exchange.body_unread:  # the body is still in the stream: do not reuse it
                self.close_connection = True
            if not self.wfile.closed:
                self.wfile.flush()
        except (TimeoutError, OSError):
            self.close_connection = True

    def date_time_string(self, timestamp: float | None = None) -> str:
        return http_date(self._server.clock() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent: tests read recorded requests instead of logs."""


class LoopbackServer:
    """A threaded HTTP/1.1 server on a loopback address that hands requests to ``app``.

    Args:
        app: called with an :class:`Exchange` for every request, in a handler thread.
        host: a loopback IP address to bind.
        port: the port to bind (0: an ephemeral one); a restart re-binds the port bound
            first.
        clock: the time of the ``Date`` header.
        on_stop: called as a stop begins, after ``stopping`` is set and before threads are
            joined, to wake whatever the app waits on.
        name: the prefix of the accept thread's name.
    """

    def __init__(
        self,
        app: App,
        *,
        host: str,
        port: int,
        clock: Callable[[], float],
        on_stop: Callable[[], None],
        name: str,
    ) -> None:
        self._app = app
        self._host = host
        self._port = port or None
        self._clock = clock
        self._on_stop = on_stop
        self._name = name
        self._lock = threading.Lock()
        self._run: _Run | None = None

    @property
    def host(self) -> str:
        """The address bound."""
        return self._host

    @property
    def port(self) -> int | None:
        """The port bound (None until the first start unless one was asked for)."""
        with self._lock:
            return self._port

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        with self._lock:
            return self._run is not None

    @property
    def thread(self) -> threading.Thread | None:
        """The accept thread of the current run (None when stopped)."""
        with self._lock:
            return None if self._run is None else self._run.thread

    def start(self) -> None:
        """Bind and serve in a daemon thread; starting a running server does nothing.

        Raises:
            ConfigurationError: if the address cannot be bound.
        """
        with self._lock:
            if self._run is not None:
                return
            port = self._port or 0
            try:
                server = _HTTPServer(self._host, port, self._app, self._clock)
            except OSError as exc:
                raise ConfigurationError(f"cannot bind {self._host}:{port}: {exc}") from exc
            run = server.run
            try:
                run.wake = socket.socketpair()
            except OSError as exc:
                server.server_close()
                raise ConfigurationError(f"cannot create a wake-up socket pair: {exc}") from exc
            self._port = server.server_port
            run.thread = threading.Thread(
                target=run.serve, name=f"{self._name}:{self._port}", daemon=True
            )
            self._run = run
            run.thread.start()

    def stop(self) -> None:
        """Stop serving: signal ``stopping``, close connections, join threads (bounded).

        Idempotent; each join waits at most a few seconds, so it never hangs.
        """
        with self._lock:
            run = self._run
            if run is None:
                return
            self._run = None
            run.stopping.set()
        self._on_stop()
        if run.wake is not None:
            with contextlib.suppress(OSError):
                run.wake[1].send(b"x")
        if run.thread is not None:
            run.thread.join(_JOIN_TIMEOUT)
        if run.wake is not None:
            for end in run.wake:
                end.close()
        connections, handlers = run.open()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _JOIN_TIMEOUT
        for handler in handlers:
            handler.join(max(0.0, deadline - time.monotonic()))
        run.server.server_close()
