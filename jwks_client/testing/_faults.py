"""The fault table of the test issuer: which requests misbehave, and how each kind looks.

Faults queue up in the order given. A request takes the first fault aimed at its endpoint
("jwks", "discovery", or "all"), which applies to ``times`` requests (None: until
cleared) before giving way to the next. :func:`send_fault` puts a fault on the wire; a
"delay" is not sent here: the issuer waits, then answers normally.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Final

from .._errors import ConfigurationError
from ._common import check_finite, check_header_text
from ._server import Exchange

__all__ = ["FAULT_KINDS", "JSON_TYPE", "Fault", "FaultTable", "send_fault"]

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

JSON_TYPE: Final = "application/json"
_TARGETS: Final = ("jwks", "discovery", "all")
_CHUNK: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Fault:
    """One queued fault (see ``LocalIssuer.fail`` for the meaning of each field)."""

    kind: str
    target: str  # "jwks" | "discovery" | "all"
    remaining: int | None
    status: int | None
    delay: float
    location: str | None
    body: bytes | None
    size: int
    headers: tuple[tuple[str, str], ...]


class FaultTable:
    """The queue of pending faults (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        kind: str,
        *,
        path: str,
        times: int | None,
        status: int | None,
        delay: float,
        location: str | None,
        body: bytes | None,
        size: int,
        headers: Mapping[str, str] | None,
    ) -> None:
        """Queue a fault after validating it.

        Raises:
            ConfigurationError: for an unknown kind or path, or a bad number or header.
        """
        if kind not in FAULT_KINDS:
            raise ConfigurationError(f"unknown fault kind {kind!r}; one of {sorted(FAULT_KINDS)}")
        if path not in _TARGETS:
            raise ConfigurationError(f"fault path must be 'jwks', 'discovery' or 'all': {path!r}")
        if times is not None and (isinstance(times, bool) or times < 1):
            raise ConfigurationError(f"times must be None or >= 1, got {times!r}")
        if status is not None and not 200 <= status <= 599:
            raise ConfigurationError(f"status must be a final HTTP status (200-599): {status!r}")
        if check_finite("delay", delay) < 0 or size < 0:
            raise ConfigurationError("delay and size must be >= 0")
        fault_headers = tuple((headers or {}).items())
        for name, value in fault_headers:
            check_header_text(name, value)
        if location is not None:
            check_header_text("location", location)
        fault = Fault(kind, path, times, status, delay, location, body, size, fault_headers)
        with self._lock:
            self._faults.append(fault)

    def take(self, endpoint: str) -> Fault | None:
        """The fault the next request to ``endpoint`` suffers (None: answer normally)."""
        with self._lock:
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

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._faults.clear()


def send_fault(
    exchange: Exchange,
    fault: Fault,
    *,
    body: bytes,
    content_type: str,
    cache_control: str | None,
    jwks_body: bytes,
    url: str,
) -> None:
    """Answer ``exchange`` with ``fault`` (any kind but "delay").

    Args:
        exchange: the request to answer.
        fault: the fault to apply.
        body: the endpoint's normal body (halved by "truncated").
        content_type: the endpoint's normal content type.
        cache_control: the issuer's ``Cache-Control`` (sent with 200 faults).
        jwks_body: the served JWKS (padded by "oversize").
        url: the requested URL (the default ``Location`` of "redirect").
    """
    extra = list(fault.headers)
    ok_headers = [("Content-Type", content_type)]
    if cache_control is not None:
        ok_headers.append(("Cache-Control", cache_control))
    if fault.kind == "status":
        status = fault.status if fault.status is not None else 503
        text = fault.body if fault.body is not None else b'{"error":"temporarily_unavailable"}'
        no_body = status in (204, 304) or status < 200
        headers = [] if no_body else [("Content-Type", JSON_TYPE)]
        exchange.send(status, headers + extra, None if no_body else text)
    elif fault.kind == "garbage":
        text = fault.body if fault.body is not None else b"<!doctype html><p>Bad Gateway"
        exchange.send(200, ok_headers + extra, text)
    elif fault.kind == "not_jwks":
        text = fault.body if fault.body is not None else b'{"hello":1}'
        exchange.send(200, ok_headers + extra, text)
    elif fault.kind == "empty_keys":
        exchange.send(200, ok_headers + extra, b'{"keys":[]}')
    elif fault.kind == "redirect":
        status = fault.status if fault.status is not None else 302
        location = fault.location if fault.location is not None else url
        exchange.send(status, [("Location", location), *extra], b"")
    elif fault.kind == "truncated":
        exchange.close_after()
        length = ("Content-Length", str(len(body)))
        exchange.begin(200, [*ok_headers, *extra, length, ("Connection", "close")])
        exchange.write(body[: len(body) // 2])
    elif fault.kind == "reset":
        exchange.reset()
    else:  # oversize, oversize_chunked
        _send_oversize(exchange, fault, jwks_body, ok_headers + extra)


def _send_oversize(
    exchange: Exchange, fault: Fault, jwks_body: bytes, headers: list[tuple[str, str]]
) -> None:
    # A valid JWKS with one more member, padded to the size asked for.
    prefix = jwks_body[:-1] + b',"padding":"'
    suffix = b'"}'
    padding_size = max(0, fault.size - len(prefix) - len(suffix))
    chunked = fault.kind == "oversize_chunked"
    exchange.close_after()
    if chunked:
        framing = ("Transfer-Encoding", "chunked")
    else:
        framing = ("Content-Length", str(len(prefix) + padding_size + len(suffix)))
    exchange.begin(200, [*headers, framing, ("Connection", "close")])
    for chunk in _padded(prefix, padding_size, suffix):
        exchange.write(b"%X\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
    if chunked:
        exchange.write(b"0\r\n\r\n")


def _padded(prefix: bytes, padding_size: int, suffix: bytes) -> Iterator[bytes]:
    yield prefix
    remaining = padding_size
    while remaining > 0:
        step = min(_CHUNK, remaining)
        yield b"A" * step
        remaining -= step
    yield suffix
