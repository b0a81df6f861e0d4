"""oauth4webapi as the client of an API guarded by ``verify_request``, over real HTTP.

The node client sends ``protectedResourceRequest`` to a loopback API (``ResourceServer``):
its proofs meet the library's checks, and the library's answers (``WWW-Authenticate``
challenges, ``DPoP-Nonce``) meet oauth4webapi's parser and its nonce retry.
"""

from __future__ import annotations

from typing import Any

from jwks_client.testing import LocalIssuer

from .flows import NONCE_SECRET, bound_token, issued, verifier_for
from .node_support import NodeClient
from .resource_server import ResourceServer


def send(node: NodeClient, key: dict[str, Any], token: str, url: str) -> dict[str, Any]:
    """oauth4webapi's request (retried once for a nonce): ``{status, body, attempts}``."""
    return node.call("/request", key=key["key"], method="GET", url=url, access_token=token)


def test_oauth4webapi_request_is_served(node_client: NodeClient, local_issuer: LocalIssuer) -> None:
    """A request oauth4webapi sends with a bound token and its proof is answered 200."""
    key = node_client.key("oauth4webapi")
    token = bound_token(local_issuer, key["jkt"])
    with verifier_for(local_issuer.issuer) as verifier, ResourceServer(verifier) as api:
        result = send(node_client, key, token, api.url("/items?page=2"))
    assert result["status"] == 200
    assert result["body"]["sub"] == "user-1"
    assert api.statuses == [200]


def test_oauth4webapi_retries_with_the_server_nonce(
    node_client: NodeClient, local_issuer: LocalIssuer
) -> None:
    """With nonces on, oauth4webapi reads the use_dpop_nonce challenge and the DPoP-Nonce
    header of the first answer, and its retry with that nonce is served."""
    key = node_client.key("oauth4webapi")
    token = bound_token(local_issuer, key["jkt"])
    with (
        verifier_for(local_issuer.issuer, nonce_secret=NONCE_SECRET) as verifier,
        ResourceServer(verifier, nonces=True) as api,
    ):
        result = send(node_client, key, token, api.url("/items"))
    first, second = result["attempts"]
    assert first["status"] == 401
    assert first["nonce_error"] is True
    assert first["nonce_offered"] is True
    assert second["status"] == 200
    assert second["nonce_offered"] is True  # the next nonce, offered with every answer
    assert api.statuses == [401, 200]


def test_oauth4webapi_parses_a_refusal(node_client: NodeClient, local_issuer: LocalIssuer) -> None:
    """A refused proof's answer parses, for oauth4webapi, into a Bearer and a DPoP
    challenge, the DPoP one carrying the error and the accepted algorithms."""
    key = node_client.key("oauth4webapi", "Ed25519")
    token = bound_token(local_issuer, key["jkt"])
    with (
        verifier_for(local_issuer.issuer, algorithms=["ES256", "PS256"]) as verifier,
        ResourceServer(verifier) as api,
    ):
        result = send(node_client, key, token, api.url("/items"))
    (attempt,) = result["attempts"]
    assert attempt["status"] == 401
    assert attempt["nonce_error"] is False
    challenges = {each["scheme"]: each["parameters"] for each in attempt["challenges"]}
    assert challenges["bearer"] == {"realm": "api"}
    assert challenges["dpop"]["realm"] == "api"
    assert challenges["dpop"]["error"] == "invalid_dpop_proof"
    assert "Ed25519" in challenges["dpop"]["error_description"]
    assert challenges["dpop"]["algs"].split() == ["ES256", "PS256"]


def test_oauth4webapi_request_with_provider_token_is_served(
    node_client: NodeClient, provider: dict[str, str]
) -> None:
    """End to end in node but for the API: oidc-provider issues the bound token, oauth4webapi
    sends it with a proof, and an API whose verifier discovered the provider serves it."""
    key, token = issued(node_client, provider)
    with verifier_for(provider["issuer"]) as verifier, ResourceServer(verifier) as api:
        result = send(node_client, key, token, api.url("/items"))
    assert result["status"] == 200
    assert result["body"]["client_id"] == provider["client_id"]
