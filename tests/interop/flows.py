"""What the interop tests ask of the node side, and the verifiers they check it with."""

from __future__ import annotations

from typing import Any

from jwks_client import DPoP, MemoryReplayStore, Verifier
from jwks_client.testing import LocalIssuer

from .node_support import NodeClient

#: The audience of every token in these tests (oidc-provider's resource indicator too).
AUD = "https://api.example.com/"
#: The URL of the requests the proofs are made for.
URL = "https://api.example.com/items?page=2"
NONCE_SECRET = b"interop-nonce-secret-0123456789"


def verifier_for(issuer: str, **dpop: Any) -> Verifier:
    """A Verifier of ``issuer`` for :data:`AUD`, with ``DPoP(**dpop)`` and a replay store of
    its own (tests do not meet each other's proofs)."""
    return Verifier(
        issuer,
        audience=AUD,
        require_https=False,
        dpop=DPoP(replay_store=MemoryReplayStore(), **dpop),
    )


def bound_token(issuer: LocalIssuer, jkt: str) -> str:
    """An access token of ``issuer`` bound to the key whose thumbprint is ``jkt``."""
    return issuer.token({"cnf": {"jkt": jkt}}, audience=AUD)


def issued(
    node: NodeClient, provider: dict[str, str], library: str = "oauth4webapi", alg: str = "ES256"
) -> tuple[dict[str, Any], str]:
    """A key pair made by ``library`` and a DPoP-bound access token that oidc-provider issued
    for it, obtained by oauth4webapi."""
    key = node.key(library, alg)
    response = node.call(
        "/token",
        key=key["key"],
        issuer=provider["issuer"],
        client_id=provider["client_id"],
        client_secret=provider["client_secret"],
        resource=AUD,
    )
    assert response["token_type"].lower() == "dpop"
    return key, response["access_token"]


def request_headers(
    node: NodeClient,
    key: dict[str, Any],
    token: str,
    *,
    method: str = "GET",
    url: str = URL,
    proof_token: str | None = None,
    library: str | None = None,
    nonce: str | None = None,
) -> list[tuple[str, str]]:
    """``Authorization`` and ``DPoP`` for a request, the proof made by a node library.

    ``method``, ``url`` and ``proof_token`` (default: ``token``) are what the proof is made
    for; ``library`` (default: the one that made the key) makes it. ``dpop`` takes the
    ``htu`` verbatim, so it gets the URL without its query, as RFC 9449 §4.2 says;
    oauth4webapi derives it from the URL.
    """
    which = library or key["library"]
    arguments: dict[str, Any] = {
        "key": key["key"],
        "library": which,
        "method": method,
        "url": url.split("?", 1)[0] if which == "dpop" else url,
        "access_token": proof_token or token,
    }
    if nonce is not None:
        arguments["nonce"] = nonce
    made = node.call("/proof", **arguments)
    if which == "oauth4webapi":
        # oauth4webapi writes the Authorization field itself: it must be the DPoP scheme.
        assert made["authorization"] == f"DPoP {proof_token or token}"
    return [("Authorization", f"DPoP {token}"), ("DPoP", made["dpop"])]
