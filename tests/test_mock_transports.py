"""httpx's own test doubles: MockTransport and respx answers verify tokens, sync and async.

httpx reads a ``Response`` built with ``content=`` or ``json=`` when it is constructed, so
the fetcher takes such a body as read; the size cap applies to it all the same.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx

from jwks_client import (
    AsyncJWKSClient,
    AsyncVerifier,
    JWKSClient,
    ResponseTooLargeError,
    Verifier,
)
from jwks_client._http import preread_body
from jwks_client.testing import FakeClock

from .keyfactory import ECSigner

ISSUER = "https://idp.example.com"
JWKS_URI = "https://idp.example.com/jwks"
AUD = "https://api.example.com"
NOW = 1_700_000_000.0

Handler = Callable[[httpx.Request], httpx.Response]


def token_for(signer: ECSigner, **claims: Any) -> str:
    """A token of ISSUER for AUD, valid at NOW."""
    return signer.token(
        {"iss": ISSUER, "aud": AUD, "sub": "alice", "iat": NOW, "exp": NOW + 300, **claims}
    )


def issuer_handler(signer: ECSigner, seen: list[str], *, as_json: bool = True) -> Handler:
    """A MockTransport handler serving discovery and the JWKS, recording request paths."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": JWKS_URI})
        if request.url.path == "/jwks":
            document = {"keys": [signer.jwk()]}
            if as_json:
                return httpx.Response(200, json=document)
            return httpx.Response(
                200, content=json.dumps(document).encode(), headers={"Cache-Control": "max-age=60"}
            )
        return httpx.Response(404)

    return handle


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "content"])
def test_mock_transport_answers_verify_a_token(as_json: bool) -> None:
    """A Verifier on a MockTransport client discovers, fetches and verifies a token."""
    signer = ECSigner("k1")
    seen: list[str] = []
    transport = httpx.MockTransport(issuer_handler(signer, seen, as_json=as_json))
    with (
        httpx.Client(transport=transport) as client,
        Verifier(ISSUER, audience=AUD, http_client=client, clock=FakeClock(NOW)) as verifier,
    ):
        claims = verifier.verify(token_for(signer))
        again = verifier.verify(token_for(signer, sub="bob"))
    assert claims["sub"] == "alice"
    assert again["sub"] == "bob"
    assert seen == ["/.well-known/openid-configuration", "/jwks"]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "content"])
async def test_async_mock_transport_answers_verify_a_token(as_json: bool) -> None:
    """An AsyncVerifier on a MockTransport client discovers, fetches and verifies a token."""
    signer = ECSigner("k1")
    seen: list[str] = []
    transport = httpx.MockTransport(issuer_handler(signer, seen, as_json=as_json))
    async with (
        httpx.AsyncClient(transport=transport) as client,
        AsyncVerifier(ISSUER, audience=AUD, http_client=client, clock=FakeClock(NOW)) as verifier,
    ):
        claims = await verifier.verify(token_for(signer))
    assert claims["sub"] == "alice"
    assert seen == ["/.well-known/openid-configuration", "/jwks"]


def oversized(request: httpx.Request) -> httpx.Response:
    """A JWKS answer of about 2 KiB, already read by httpx, with no Content-Length.

    Without the header only the body itself can be measured against the cap.
    """
    response = httpx.Response(200, json={"keys": [], "padding": "x" * 2048})
    del response.headers["Content-Length"]
    return response


def test_mock_transport_body_over_the_cap_is_refused() -> None:
    """An already-read body longer than max_response_bytes is a ResponseTooLargeError."""
    transport = httpx.MockTransport(oversized)
    with (
        httpx.Client(transport=transport) as client,
        JWKSClient(
            jwks_uri=JWKS_URI, http_client=client, max_response_bytes=1024, clock=FakeClock(NOW)
        ) as keys,
        pytest.raises(ResponseTooLargeError) as caught,
    ):
        keys.key_set()
    assert caught.value.limit == 1024
    assert caught.value.url == JWKS_URI


async def test_async_mock_transport_body_over_the_cap_is_refused() -> None:
    """The async client refuses an already-read body over the cap the same way."""
    transport = httpx.MockTransport(oversized)
    async with (
        httpx.AsyncClient(transport=transport) as client,
        AsyncJWKSClient(
            jwks_uri=JWKS_URI, http_client=client, max_response_bytes=1024, clock=FakeClock(NOW)
        ) as keys,
    ):
        with pytest.raises(ResponseTooLargeError) as caught:
            await keys.key_set()
    assert caught.value.limit == 1024


# respx mocks either httpcore (its default: httpx then streams the answer) or httpx's
# transports (the answer arrives already read); both must work.
RESPX_MOCKERS = pytest.mark.parametrize("using", ["httpcore", "httpx"])


@RESPX_MOCKERS
def test_respx_route_verifies_a_token(using: str) -> None:
    """A respx route answering the JWKS URL with json= serves the keys to a Verifier."""
    signer = ECSigner("k1")
    with respx.mock(assert_all_called=True, using=using) as router:
        route = router.get(JWKS_URI).mock(
            return_value=httpx.Response(200, json={"keys": [signer.jwk()]})
        )
        with Verifier(ISSUER, audience=AUD, jwks_uri=JWKS_URI, clock=FakeClock(NOW)) as verifier:
            claims = verifier.verify(token_for(signer))
    assert claims["sub"] == "alice"
    assert route.call_count == 1


@RESPX_MOCKERS
async def test_async_respx_route_verifies_a_token(using: str) -> None:
    """A respx route answering the JWKS URL with json= serves the keys to an AsyncVerifier."""
    signer = ECSigner("k1")
    with respx.mock(assert_all_called=True, using=using) as router:
        route = router.get(JWKS_URI).mock(
            return_value=httpx.Response(200, json={"keys": [signer.jwk()]})
        )
        async with AsyncVerifier(
            ISSUER, audience=AUD, jwks_uri=JWKS_URI, clock=FakeClock(NOW)
        ) as verifier:
            claims = await verifier.verify(token_for(signer))
    assert claims["sub"] == "alice"
    assert route.call_count == 1


@RESPX_MOCKERS
def test_respx_over_the_cap_is_refused(using: str) -> None:
    """A respx answer over the cap is a ResponseTooLargeError, whichever layer respx mocks."""
    with respx.mock(using=using) as router:
        router.get(JWKS_URI).mock(side_effect=oversized)
        with (
            JWKSClient(jwks_uri=JWKS_URI, max_response_bytes=1024, clock=FakeClock(NOW)) as keys,
            pytest.raises(ResponseTooLargeError),
        ):
            keys.key_set()


@RESPX_MOCKERS
async def test_async_respx_over_the_cap_is_refused(using: str) -> None:
    """The async client refuses a respx answer over the cap, whichever layer respx mocks."""
    with respx.mock(using=using) as router:
        router.get(JWKS_URI).mock(side_effect=oversized)
        async with AsyncJWKSClient(
            jwks_uri=JWKS_URI, max_response_bytes=1024, clock=FakeClock(NOW)
        ) as keys:
            with pytest.raises(ResponseTooLargeError):
                await keys.key_set()


# --- the pure helper -------------------------------------------------------------------------


def test_preread_body_returns_an_already_read_body() -> None:
    """A 200 built with content= is returned as read."""
    response = httpx.Response(200, content=b'{"keys": []}')
    assert preread_body(response, url=JWKS_URI, max_bytes=100) == b'{"keys": []}'


def test_preread_body_is_the_decoded_body() -> None:
    """A gzip-coded body built with content= is returned decoded, and capped decoded."""
    document = b'{"keys": []}' + b" " * 500
    response = httpx.Response(
        200, content=gzip.compress(document), headers={"Content-Encoding": "gzip"}
    )
    assert preread_body(response, url=JWKS_URI, max_bytes=1000) == document
    again = httpx.Response(
        200, content=gzip.compress(document), headers={"Content-Encoding": "gzip"}
    )
    with pytest.raises(ResponseTooLargeError):
        preread_body(again, url=JWKS_URI, max_bytes=100)


def test_preread_body_leaves_streams_and_other_statuses_to_the_shell() -> None:
    """A response still to be streamed, or a non-200, gives None."""
    streamed = httpx.Response(200, stream=httpx.ByteStream(b"{}"))
    assert preread_body(streamed, url=JWKS_URI, max_bytes=100) is None
    not_found = httpx.Response(404, content=b"nope")
    assert preread_body(not_found, url=JWKS_URI, max_bytes=100) is None


def test_preread_body_over_the_cap_names_url_and_limit() -> None:
    """An already-read body one byte over the cap is refused with the URL and the cap."""
    response = httpx.Response(200, content=b"x" * 101)
    with pytest.raises(ResponseTooLargeError) as caught:
        preread_body(response, url=JWKS_URI, max_bytes=100)
    assert (caught.value.url, caught.value.limit) == (JWKS_URI, 100)
    exact = httpx.Response(200, content=b"x" * 100)
    assert preread_body(exact, url=JWKS_URI, max_bytes=100) == b"x" * 100
