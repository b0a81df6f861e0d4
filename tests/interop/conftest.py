"""Fixtures of the interop tests: the node DPoP client, oidc-provider, a LocalIssuer.

Without ``node`` or its packages the tests skip, and the run ends with a banner naming the
command that installs them; under CI (``CI=true``) with ``node`` present, missing packages
fail the tests instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jwks_client.testing import LocalIssuer

from .flows import AUD
from .node_support import NodeClient, NodeScript, in_ci, node_binary, unavailable_reason

_skipped: set[str] = set()


def _require_node() -> None:
    """Skip (loudly) or fail when the node side cannot run."""
    problem = unavailable_reason()
    if problem is None:
        return
    if in_ci() and node_binary() is not None:
        pytest.fail(
            f"interop tests cannot run, and under CI with node present they must: {problem}"
        )
    reason = f"interop tests (panva's dpop, oauth4webapi, oidc-provider) skipped: {problem}"
    _skipped.add(reason)
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """End the run with a banner when the interop tests were skipped."""
    for reason in sorted(_skipped):
        terminalreporter.write_sep("!", reason, yellow=True, bold=True)


@pytest.fixture(scope="session")
def node_client() -> Iterator[NodeClient]:
    """``client.mjs``: key pairs, proofs, token and API requests by dpop and oauth4webapi."""
    _require_node()
    script = NodeScript("client.mjs")
    try:
        client = NodeClient(script.start()["port"])
        try:
            yield client
        finally:
            client.close()
    finally:
        script.stop()


@pytest.fixture(scope="session")
def provider() -> Iterator[dict[str, str]]:
    """``provider.mjs``: oidc-provider with DPoP; ``{"issuer", "client_id", "client_secret"}``."""
    _require_node()
    script = NodeScript("provider.mjs", AUD)
    try:
        yield script.start()
    finally:
        script.stop()


@pytest.fixture(scope="module")
def local_issuer() -> Iterator[LocalIssuer]:
    """A LocalIssuer on the real clock, as the node proofs carry the real time in ``iat``."""
    with LocalIssuer(algorithms=("ES256",)) as issuer:
        yield issuer
