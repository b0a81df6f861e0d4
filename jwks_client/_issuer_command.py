"""``jwks-client issuer``: a :class:`~jwks_client.testing.LocalIssuer` as a process.

For testing an API written in any language against a real issuer: the process serves
discovery, a JWKS and a token endpoint on a loopback address, prints where, prints a
sample token, and runs until SIGINT or SIGTERM, then stops the server and exits 0.

The token endpoint signs a token for anyone who asks, which is why the address must be a
loopback one. Imported only when the ``issuer`` command runs.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TextIO

from ._errors import ConfigurationError
from .testing import LocalIssuer

__all__ = ["DEFAULT_AUDIENCE", "serve_issuer"]

#: The audience of the sample token (and of minted tokens without ``aud``).
DEFAULT_AUDIENCE = "https://api.example.com"
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Stop(Exception):
    """Raised in the main thread by a stop signal, to leave the wait."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`_Stop` while inside; restore handlers after.

    Raising from the handler, rather than setting an event, takes no lock in a signal
    handler, so the signal cannot deadlock against the wait it interrupts.
    """
    if threading.current_thread() is not threading.main_thread():
        raise ConfigurationError("the issuer command must run in the main thread")
    previous = {signum: signal.signal(signum, _raise_stop) for signum in _STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait_forever() -> None:
    """Block until a signal handler raises."""
    while True:
        threading.Event().wait(3600)  # a signal interrupts the wait; the loop only re-arms it


def serve_issuer(*, host: str, port: int, alg: str, json_output: bool, out: TextIO) -> None:
    """Run a test issuer with its token endpoint until SIGINT or SIGTERM.

    Prints the issuer URL, the discovery, JWKS and token endpoint URLs and a sample token
    on ``out`` (one JSON object with ``json_output``), flushed at once so that a parent
    process can read them while the issuer runs.

    Args:
        host: a loopback address.
        port: the port (0: a free one).
        alg: the algorithm of the signing key.
        json_output: print one JSON object instead of aligned lines.
        out: where to print.

    Raises:
        ConfigurationError: a non-loopback host, an unsupported algorithm, a port that
            cannot be bound, or a call outside the main thread.
    """
    issuer = LocalIssuer(algorithms=(alg,), host=host, port=port, token_endpoint=True)
    with _stop_on_signals():
        try:
            with issuer:
                _announce(issuer, issuer.token(audience=DEFAULT_AUDIENCE), json_output, out)
                _wait_forever()
        except _Stop:
            pass


def _announce(issuer: LocalIssuer, sample: str, json_output: bool, out: TextIO) -> None:
    facts = {
        "issuer": issuer.issuer,
        "discovery_url": issuer.discovery_url,
        "jwks_uri": issuer.jwks_uri,
        "token_endpoint": issuer.token_url,
        "audience": DEFAULT_AUDIENCE,
        "token": sample,
    }
    if json_output:
        print(json.dumps(facts), file=out, flush=True)
        return
    print(
        "jwks-client issuer: a test issuer that signs tokens for anyone who asks; "
        "stop it with Ctrl-C (SIGINT) or SIGTERM",
        file=out,
    )
    for name, value in facts.items():
        print(f"{name:<16}{value}", file=out)
    print(
        f"\nmore tokens: GET or POST {issuer.token_url}?sub=alice&aud=...&scope=...&ttl=300 "
        "(a POST body may be a JSON object of claims)",
        file=out,
        flush=True,
    )
