"""A raw HTTP/1.1 server on 127.0.0.1 that can trickle a response head a byte at a time.

:class:`LocalIssuer` answers whole responses; a slow-header attack needs control of every
byte, so this server speaks HTTP/1.1 over plain sockets. It serves a discovery document
at once (keep-alive, so a client reuses the connection for the JWKS) and the JWKS either
normally or, while ``trickle`` is set, as a status line and a 16 KiB header block sent
one byte per ``interval`` seconds: per read, always inside any read timeout; in total,
about 15 minutes at the default interval. A trickle ends when the client goes away (the
server sees the end of its stream) or after ``give_up`` seconds, when the server closes
the connection.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["SlowServer"]

_HEAD_LIMIT = 65_536


class SlowServer:
    """A loopback issuer whose JWKS response head can trickle in.

    Args:
        jwks: the key set served when not trickling.
        interval: seconds between two trickled bytes.
        give_up: seconds after which a trickle stops and the connection is closed.
    """

    def __init__(
        self, jwks: Mapping[str, Any], *, interval: float = 0.05, give_up: float = 20.0
    ) -> None:
        self._jwks = json.dumps(dict(jwks)).encode()
        self.interval = interval
        self.give_up = give_up
        self.trickle = True
        self.trickles = 0  # JWKS responses that began to trickle
        self.bytes_trickled = 0
        self.jwks_requests = 0
        self.client_left = threading.Event()  # a client went away mid-trickle
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, name="slow-server", daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        """The base URL, which is also the issuer."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_uri(self) -> str:
        """Where the JWKS is served."""
        return self.url + "/jwks"

    def stop(self) -> None:
        """Stop accepting, close every connection and join every thread (bounded)."""
        self._stopping.set()
        self._acceptor.join(5)
        with self._lock:
            connections = list(self._connections)
            threads = list(self._threads)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for thread in threads:
            thread.join(5)
        self._listener.close()

    def __enter__(self) -> SlowServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- serving -----------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self._lock:
                self._connections.append(conn)
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while not self._stopping.is_set():
                while b"\r\n\r\n" not in buffer:
                    readable, _, _ = select.select([conn], [], [], 0.1)
                    if self._stopping.is_set():
                        return
                    if not readable:
                        continue
                    data = conn.recv(4096)
                    if not data or len(buffer) > _HEAD_LIMIT:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode("ascii", "replace")
                if path == "/.well-known/openid-configuration":
                    document = {"issuer": self.url, "jwks_uri": self.jwks_uri}
                    self._answer(conn, json.dumps(document).encode())
                elif path == "/jwks":
                    with self._lock:
                        self.jwks_requests += 1
                        trickle = self.trickle
                    if trickle:
                        self._trickle(conn)
                        return
                    self._answer(conn, self._jwks)
                else:
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            return
        finally:
            conn.close()

    def _answer(self, conn: socket.socket, body: bytes) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Cache-Control: max-age=300\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def _trickle(self, conn: socket.socket) -> None:
        head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 16_000 + b"\r\n\r\n"
        with self._lock:
            self.trickles += 1
        budget = int(self.give_up / self.interval)
        for index in range(min(len(head), budget)):
            # The pause between bytes doubles as the watch for the client going away.
            readable, _, _ = select.select([conn], [], [], self.interval)
            if self._stopping.is_set():
                return
            if readable and not conn.recv(1024):
                self.client_left.set()
                return
            try:
                conn.sendall(head[index : index + 1])
            except OSError:
                self.client_left.set()
                return
            with self._lock:
                self.bytes_trickled += 1
