"""An API on 127.0.0.1 that answers every request through ``verify_request``.

Node clients send real requests to it, so their libraries meet the library's answers too:
``challenge_for``'s ``WWW-Authenticate`` and ``DPoP-Nonce`` headers.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from jwks_client import InvalidTokenError, KeySetUnavailableError, Verifier, challenge_for

JOIN_TIMEOUT = 5.0


class ResourceServer:
    """A loopback API guarded by ``verifier``; a context manager that starts and stops it.

    A verified request is answered 200 with ``{"sub", "client_id"}`` of its token (and the
    next ``DPoP-Nonce`` when the verifier uses nonces); a refused one with
    ``challenge_for(exc, realm="api")``.
    """

    def __init__(self, verifier: Verifier, *, nonces: bool = False) -> None:
        self.verifier = verifier
        self.nonces = nonces
        self.statuses: list[int] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The URL of ``path`` (with its query, if any) on this server."""
        return f"http://127.0.0.1:{self._server.server_port}{path}"

    def answer(
        self, method: str, path: str, headers: list[tuple[str, str]]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Verify one request; return the status, headers and JSON body to answer with."""
        try:
            claims = self.verifier.verify_request(method, self.url(path), headers)
        except (InvalidTokenError, KeySetUnavailableError) as exc:
            answer = challenge_for(exc, realm="api")
            return answer.status, answer.header_dict(), dict(answer.body())
        extra = {"DPoP-Nonce": self.verifier.dpop_nonce()} if self.nonces else {}
        return 200, extra, {"sub": claims["sub"], "client_id": claims.get("client_id")}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                status, headers, body = server.answer(
                    self.command, self.path, list(self.headers.items())
                )
                server.statuses.append(status)
                payload = json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests assert on the answers instead."""

        return Handler

    def __enter__(self) -> ResourceServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(JOIN_TIMEOUT)
