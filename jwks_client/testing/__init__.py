"""Test doubles for code that verifies tokens: a real loopback issuer and a manual clock.

:class:`LocalIssuer` is a real HTTP OpenID issuer bound to ``127.0.0.1`` on an ephemeral
port. It serves a discovery document and a JWKS with HTTP caching headers, answers
conditional requests, records every request, injects faults (error statuses, delays,
garbage, truncated or oversized bodies, connection resets, redirects), can hold requests
until released (to test single flight), and mints tokens signed with its private keys,
including deliberately hostile ones. :class:`FakeClock` is a thread-safe manual clock that
both the issuer and the code under test can take as ``clock=``.

For sender-constrained tokens: :class:`DPoPKey` is a client's DPoP key, making proofs
(right ones, and wrong ones with one fault of :data:`PROOF_FAULTS`), and
:class:`ClientCertificate` a self-signed client certificate; ``LocalIssuer.token``
binds a token to either (``dpop_key=``, ``client_cert=``).

``LocalIssuer`` is a facade over small parts, each with its own lock, so sync tests,
threads and asyncio tasks may drive it concurrently: a keychain (keys, the served JWKS,
token minting), a fault table, a traffic record (requests and held endpoints), the HTTP
caching configuration, and a loopback server whose ``stop()`` releases held requests,
interrupts delays, shuts down open connections and joins its threads, each wait bounded,
so it never hangs.
"""

from __future__ import annotations

from .._store import forget_shared_stores
from ._certificates import ClientCertificate
from ._clock import FakeClock
from ._common import OMIT, Omit
from ._dpop import PROOF_FAULTS, DPoPKey
from ._faults import FAULT_KINDS
from ._issuer import LocalIssuer
from ._keys import SUPPORTED_ALGORITHMS, PrivateKey
from ._traffic import RecordedRequest

__all__ = [
    "FAULT_KINDS",
    "OMIT",
    "PROOF_FAULTS",
    "SUPPORTED_ALGORITHMS",
    "ClientCertificate",
    "DPoPKey",
    "FakeClock",
    "LocalIssuer",
    "Omit",
    "PrivateKey",
    "RecordedRequest",
    "reset_key_stores",
]


def reset_key_stores() -> None:
    """Forget the process's shared key stores, so the next verifiers start cold.

    Key stores are shared by every verifier of the same source and clock in a process
    (see the README). Test suites whose verifiers use the real clock against the same
    issuer URL in several tests (a :class:`LocalIssuer` may reuse an earlier one's port)
    call this between tests, e.g. in an autouse fixture. The pytest plugin's
    ``jwks_issuer`` fixture calls it before each test.
    """
    forget_shared_stores()
