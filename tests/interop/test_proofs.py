"""DPoP proofs made by independent implementations: panva's ``dpop`` and ``oauth4webapi``.

The node client (``client.mjs``) makes a key pair with each library and reports the key's
RFC 7638 thumbprint as that library computes it; a LocalIssuer mints an access token bound
to it (``cnf.jkt``); the library makes the proof (``dpop.generateProof``, or the headers
``oauth4webapi.protectedResourceRequest`` sends, captured unsent); ``verify_request``
must accept it, and refuse it when one thing is wrong.
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
    UseDPoPNonceError,
    Verifier,
)
from jwks_client.testing import LocalIssuer

from .flows import AUD, NONCE_SECRET, URL, bound_token, request_headers, verifier_for
from .node_support import NodeClient

LIBRARIES = ("dpop", "oauth4webapi")
ALGORITHMS = ("ES256", "RS256", "PS256", "Ed25519")


@pytest.fixture
def verifier(local_issuer: LocalIssuer) -> Iterator[Verifier]:
    with verifier_for(local_issuer.issuer) as made:
        yield made


@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize("library", LIBRARIES)
def test_proof_is_accepted(
    node_client: NodeClient, local_issuer: LocalIssuer, verifier: Verifier, library: str, alg: str
) -> None:
    """A proof by either library, with any of its algorithms, is accepted for a token bound
    to the thumbprint that library computed."""
    key = node_client.key(library, alg)
    token = bound_token(local_issuer, key["jkt"])
    claims = verifier.verify_request("GET", URL, request_headers(node_client, key, token))
    assert claims["cnf"] == {"jkt": key["jkt"]}
    assert claims["sub"] == "user-1"


@pytest.mark.parametrize("library", LIBRARIES)
def test_async_verifier_accepts_proof(
    node_client: NodeClient, local_issuer: LocalIssuer, library: str
) -> None:
    """The AsyncVerifier accepts the same proofs as the Verifier."""
    key = node_client.key(library)
    token = bound_token(local_issuer, key["jkt"])
    headers = request_headers(node_client, key, token, method="POST")

    async def verify() -> dict[str, Any]:
        async with AsyncVerifier(
            local_issuer.issuer,
            audience=AUD,
            require_https=False,
            dpop=DPoP(replay_store=MemoryReplayStore()),
        ) as verifier:
            return await verifier.verify_request("POST", URL, headers)

    assert asyncio.run(verify())["cnf"] == {"jkt": key["jkt"]}


@pytest.mark.parametrize("library", LIBRARIES)
def test_replayed_proof_is_refused(
    node_client: NodeClient, local_issuer: LocalIssuer, verifier: Verifier, library: str
) -> None:
    """The same proof presented twice is accepted once, then refused as a replay."""
    key = node_client.key(library)
    token = bound_token(local_issuer, key["jkt"])
    headers = request_headers(node_client, key, token)
    verifier.verify_request("GET", URL, headers)
    with pytest.raises(InvalidDPoPProofError, match="replay"):
        verifier.verify_request("GET", URL, headers)


@pytest.mark.parametrize("library", LIBRARIES)
def test_proof_for_another_method_is_refused(
    node_client: NodeClient, local_issuer: LocalIssuer, verifier: Verifier, library: str
) -> None:
    """A proof made for POST is refused on a GET (htm)."""
    key = node_client.key(library)
    token = bound_token(local_issuer, key["jkt"])
    headers = request_headers(node_client, key, token, method="POST")
    with pytest.raises(InvalidDPoPProofError, match="htm 'POST' is not the request method 'GET'"):
        verifier.verify_request("GET", URL, headers)


@pytest.mark.parametrize("library", LIBRARIES)
def test_proof_for_another_url_is_refused(
    node_client: NodeClient, local_issuer: LocalIssuer, verifier: Verifier, library: str
) -> None:
    """A proof made for another path of the same host is refused (htu)."""
    key = node_client.key(library)
    token = bound_token(local_issuer, key["jkt"])
    headers = request_headers(node_client, key, token, url="https://api.example.com/admin")
    with pytest.raises(InvalidDPoPProofError, match="htu"):
        verifier.verify_request("GET", URL, headers)


@pytest.mark.parametrize("library", LIBRARIES)
def test_proof_for_another_token_is_refused(
    node_client: NodeClient, local_issuer: LocalIssuer, verifier: Verifier, library: str
) -> None:
    """A proof whose ath hashes another token of the same key is refused (ath)."""
    key = node_client.key(library)
    token = bound_token(local_issuer, key["jkt"])
    other = bound_token(local_issuer, key["jkt"])
    headers = request_headers(node_client, key, token, proof_token=other)
    with pytest.raises(InvalidDPoPProofError, match="ath"):
        verifier.verify_request("GET", URL, headers)


@pytest.mark.parametrize("library", LIBRARIES)
def test_proof_by_another_key_is_refused(
    node_client: NodeClient, local_issuer: LocalIssuer, verifier: Verifier, library: str
) -> None:
    """A valid proof by a key other than the token's cnf.jkt is refused (binding)."""
    bound_to, signer = node_client.key(library), node_client.key(library)
    token = bound_token(local_issuer, bound_to["jkt"])
    headers = request_headers(node_client, signer, token)
    with pytest.raises(InvalidTokenBindingError, match=r"cnf\.jkt"):
        verifier.verify_request("GET", URL, headers)


def test_bound_token_is_refused_without_its_proof(
    node_client: NodeClient, local_issuer: LocalIssuer, verifier: Verifier
) -> None:
    """A token bound to a node key is refused by verify and as a Bearer token."""
    key = node_client.key("dpop")
    token = bound_token(local_issuer, key["jkt"])
    with pytest.raises(InvalidTokenBindingError, match="verify_request"):
        verifier.verify(token)
    proof = request_headers(node_client, key, token)[1]
    with pytest.raises(InvalidTokenBindingError, match="Bearer scheme"):
        verifier.verify_request("GET", URL, [("Authorization", f"Bearer {token}"), proof])


def test_dpop_proof_with_server_nonce_is_accepted(
    node_client: NodeClient, local_issuer: LocalIssuer
) -> None:
    """With nonces on, a dpop proof without one is answered with a nonce, the proof the
    library makes with that nonce is accepted, and one with another server's nonce is not."""
    key = node_client.key("dpop")
    token = bound_token(local_issuer, key["jkt"])
    with (
        verifier_for(local_issuer.issuer, nonce_secret=NONCE_SECRET) as verifier,
        verifier_for(local_issuer.issuer, nonce_secret=NONCE_SECRET[::-1]) as other,
    ):
        with pytest.raises(UseDPoPNonceError) as refused:
            verifier.verify_request("GET", URL, request_headers(node_client, key, token))
        nonce = refused.value.nonce
        headers = request_headers(node_client, key, token, nonce=nonce)
        assert verifier.verify_request("GET", URL, headers)["cnf"] == {"jkt": key["jkt"]}
        foreign = request_headers(node_client, key, token, nonce=other.dpop_nonce())
        with pytest.raises(UseDPoPNonceError, match="stale or unknown nonce"):
            verifier.verify_request("GET", URL, foreign)
