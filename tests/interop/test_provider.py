"""DPoP-bound access tokens issued by node ``oidc-provider``, verified end to end.

``provider.mjs`` runs oidc-provider on 127.0.0.1 with DPoP and JWT access tokens for one
resource; the node client gets a token with oauth4webapi (discovery, then a
client_credentials grant with a DPoP proof); a ``Verifier`` discovers the provider, fetches
its JWKS and checks the token with a node-made proof.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from jwks_client import (
    AsyncVerifier,
    DPoP,
    InvalidDPoPProofError,
    InvalidTokenBindingError,
    MemoryReplayStore,
    Verifier,
)

from .flows import AUD, URL, issued, request_headers, verifier_for
from .node_support import NodeClient


@pytest.fixture
def verifier(provider: dict[str, str]) -> Iterator[Verifier]:
    with verifier_for(provider["issuer"]) as made:
        yield made


@pytest.mark.parametrize("alg", ["ES256", "Ed25519"])
@pytest.mark.parametrize("library", ["oauth4webapi", "dpop"])
def test_provider_token_is_accepted_with_node_proof(
    node_client: NodeClient, provider: dict[str, str], verifier: Verifier, library: str, alg: str
) -> None:
    """A token oidc-provider bound to a node key is accepted with that key's proof, made by
    either library; its claims are the provider's."""
    key, token = issued(node_client, provider, alg=alg)
    headers = request_headers(node_client, key, token, library=library)
    claims = verifier.verify_request("GET", URL, headers)
    assert claims["iss"] == provider["issuer"]
    assert claims["aud"] == AUD
    assert claims["client_id"] == provider["client_id"]
    assert claims["cnf"] == {"jkt": key["jkt"]}


def test_async_verifier_accepts_provider_token(
    node_client: NodeClient, provider: dict[str, str]
) -> None:
    """The AsyncVerifier discovers the provider and accepts its bound token too."""
    key, token = issued(node_client, provider)
    headers = request_headers(node_client, key, token)

    async def verify() -> dict[str, Any]:
        async with AsyncVerifier(
            provider["issuer"],
            audience=AUD,
            require_https=False,
            dpop=DPoP(replay_store=MemoryReplayStore()),
        ) as verifier:
            return await verifier.verify_request("GET", URL, headers)

    assert asyncio.run(verify())["cnf"] == {"jkt": key["jkt"]}


def test_provider_token_is_refused_without_its_proof(
    node_client: NodeClient, provider: dict[str, str], verifier: Verifier
) -> None:
    """A plain verify refuses the provider's bound token, and so does verify_request when
    it comes as a Bearer token or without a proof."""
    _, token = issued(node_client, provider)
    with pytest.raises(InvalidTokenBindingError, match="verify_request"):
        verifier.verify(token)
    with pytest.raises(InvalidTokenBindingError, match="Bearer scheme"):
        verifier.verify_request("GET", URL, {"Authorization": f"Bearer {token}"})
    with pytest.raises(InvalidDPoPProofError, match="needs a proof"):
        verifier.verify_request("GET", URL, {"Authorization": f"DPoP {token}"})


def test_provider_token_is_refused_with_another_keys_proof(
    node_client: NodeClient, provider: dict[str, str], verifier: Verifier
) -> None:
    """A proof by a key other than the one oidc-provider bound the token to is refused."""
    _, token = issued(node_client, provider)
    other = node_client.key("oauth4webapi")
    with pytest.raises(InvalidTokenBindingError, match=r"cnf\.jkt"):
        verifier.verify_request("GET", URL, request_headers(node_client, other, token))


def test_provider_token_proof_replay_is_refused(
    node_client: NodeClient, provider: dict[str, str], verifier: Verifier
) -> None:
    """A node proof for the provider's token is accepted once, then refused as a replay."""
    key, token = issued(node_client, provider)
    headers = request_headers(node_client, key, token)
    verifier.verify_request("GET", URL, headers)
    with pytest.raises(InvalidDPoPProofError, match="replay"):
        verifier.verify_request("GET", URL, headers)
