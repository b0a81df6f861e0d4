"""Tests of jwks_client.testing: LocalIssuer driven by plain httpx clients, and FakeClock."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import JWKRegistry

from jwks_client import ConfigurationError, ExpiredTokenError, InvalidAudienceError, Verifier
from jwks_client.testing import (
    FAULT_KINDS,
    OMIT,
    SUPPORTED_ALGORITHMS,
    FakeClock,
    LocalIssuer,
    RecordedRequest,
)

START = 1_700_000_000.0
AUD = "https://api.example.com"
TIMEOUT = 5.0
# One TLS context for every client: building one per client costs more than the requests.
TLS = ssl.create_default_context()


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _signature = token.split(".")
    return json.loads(b64decode(header)), json.loads(b64decode(payload))


def verify_with_jwks(token: str, jwks: dict[str, Any], alg: str) -> dict[str, Any]:
    """Verify ``token`` with joserfc against the JWK of the served set named by its kid."""
    header, _ = parts(token)
    jwk = next(k for k in jwks["keys"] if k.get("kid") == header.get("kid"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # joserfc flags "EdDSA" as deprecated
        key = JWKRegistry.import_key(jwk)
        result = jws.deserialize_compact(token, key, algorithms=[alg])
    claims: dict[str, Any] = json.loads(result.payload)
    return claims


def http_date(t: float) -> str:
    return formatdate(t, usegmt=True)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def issuer(clock: FakeClock) -> Iterator[LocalIssuer]:
    with LocalIssuer(clock=clock) as running:
        yield running


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT, verify=TLS) as http:
        yield http


def run_in_threads(n: int, target: Any) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            outcome: Any = target()
        except Exception as exc:
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    return threads, results


def join_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)


# --- FakeClock -------------------------------------------------------------------------


def test_fake_clock_moves_only_when_told() -> None:
    """FakeClock returns its start time until advanced or set."""
    clock = FakeClock(START)
    assert clock() == START
    assert clock.now() == START
    assert clock.advance(2.5) == START + 2.5
    assert clock() == START + 2.5
    clock.set(10.0)
    assert clock() == 10.0
    assert "10.000" in repr(clock)


def test_fake_clock_starts_at_the_real_time_by_default() -> None:
    """FakeClock() starts at time.time() of its construction, then stays put."""
    before = time.time()
    clock = FakeClock()
    after = time.time()
    assert before <= clock() <= after
    assert clock.advance(10) <= after + 10


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True])
def test_fake_clock_rejects_bad_steps(bad: float) -> None:
    """FakeClock refuses negative, non-finite and boolean steps."""
    clock = FakeClock(START)
    with pytest.raises(ConfigurationError):
        clock.advance(bad)
    assert clock() == START


def test_fake_clock_rejects_bad_times() -> None:
    """FakeClock refuses a non-finite start or set() value."""
    with pytest.raises(ConfigurationError):
        FakeClock(float("nan"))
    clock = FakeClock(START)
    with pytest.raises(ConfigurationError):
        clock.set(float("inf"))


def test_fake_clock_is_thread_safe() -> None:
    """Concurrent advances from several threads are never lost."""
    clock = FakeClock(0.0)

    def advance_many() -> None:
        for _ in range(500):
            clock.advance(1)

    threads, results = run_in_threads(4, advance_many)
    join_all(threads)
    assert results == [None] * 4
    assert clock() == 2000.0


# --- lifecycle ---------------------------------------------------------------------------


def test_urls_use_loopback_and_an_ephemeral_port(issuer: LocalIssuer) -> None:
    """A started issuer serves on 127.0.0.1 with a nonzero port and derived URLs."""
    assert issuer.base_url.startswith("http://127.0.0.1:")
    assert int(issuer.base_url.rsplit(":", 1)[1]) > 0
    assert issuer.issuer == issuer.base_url
    assert issuer.jwks_uri == issuer.base_url + "/jwks"
    assert issuer.discovery_url == issuer.base_url + "/.well-known/openid-configuration"
    assert issuer.running


def test_urls_before_start_raise() -> None:
    """URLs and tokens are unavailable before the first start."""
    idle = LocalIssuer()
    with pytest.raises(ConfigurationError):
        _ = idle.issuer
    with pytest.raises(ConfigurationError):
        idle.token()
    assert not idle.running
    idle.stop()  # stopping a never-started issuer is harmless


def test_stop_is_idempotent_and_closes_the_port(client: httpx.Client) -> None:
    """After stop() the port refuses connections and the thread has ended; stop() is idempotent."""
    issuer = LocalIssuer().start()
    thread = issuer.thread
    assert thread is not None and thread.is_alive()
    assert client.get(issuer.jwks_uri).status_code == 200
    issuer.stop()
    issuer.stop()
    assert not thread.is_alive()
    assert issuer.thread is None and not issuer.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(issuer.jwks_uri, timeout=TIMEOUT, verify=TLS)


def test_pooled_connection_is_closed_by_stop(client: httpx.Client) -> None:
    """A keep-alive connection opened before stop() is not served afterwards."""
    issuer = LocalIssuer().start()
    assert client.get(issuer.jwks_uri).status_code == 200
    issuer.stop()
    with pytest.raises(httpx.TransportError):
        client.get(issuer.jwks_uri)
    assert issuer.request_count() == 1


def test_restart_reuses_the_port(client: httpx.Client) -> None:
    """start() after stop() serves again on the same URLs."""
    issuer = LocalIssuer().start()
    try:
        url = issuer.jwks_uri
        issuer.stop()
        issuer.start()
        issuer.start()  # starting a running issuer does nothing
        assert issuer.jwks_uri == url
        assert client.get(url).json() == issuer.jwks()
    finally:
        issuer.stop()


async def test_async_context_manager() -> None:
    """`async with LocalIssuer()` serves inside the block and stops after it."""
    async with LocalIssuer() as issuer, httpx.AsyncClient(timeout=TIMEOUT, verify=TLS) as http:
        response = await http.get(issuer.jwks_uri)
        assert response.json() == issuer.jwks()
    assert not issuer.running


@pytest.mark.parametrize(
    "kwargs",
    [
        {"algorithms": ("HS256",)},
        {"algorithms": ()},
        {"algorithms": "RS256"},
        {"discovery": "saml"},
        {"path": "tenant"},
        {"path": "/tenant/"},
        {"jwks_path": ""},
        {"cache_control": "max-age=1\r\nX-Evil: 1"},
        {"extra_headers": {"X-A": "1\n2"}},
        {"discovery_extra": {"x": object()}},
        {"host": "0.0.0.0"},
        {"host": "192.168.1.10"},
        {"host": "localhost"},
        {"port": -1},
        {"port": 65536},
        {"port": True},
    ],
)
def test_constructor_rejects_bad_options(kwargs: dict[str, Any]) -> None:
    """Invalid constructor options raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        LocalIssuer(**kwargs)


# --- discovery --------------------------------------------------------------------------


def test_openid_discovery_document(client: httpx.Client, clock: FakeClock) -> None:
    """The "openid" mode serves OIDC metadata under the issuer with cache headers."""
    with LocalIssuer(clock=clock, path="/tenant", algorithms=("RS256", "ES256")) as issuer:
        assert issuer.discovery_url == issuer.issuer + "/.well-known/openid-configuration"
        response = client.get(issuer.discovery_url)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.headers["cache-control"] == "max-age=300"
        assert response.headers["etag"].startswith('"')
        assert response.headers["date"] == http_date(START)
        doc = response.json()
        assert doc["issuer"] == issuer.base_url + "/tenant"
        assert doc["jwks_uri"] == issuer.base_url + "/tenant/jwks" == issuer.jwks_uri
        assert doc["authorization_endpoint"].startswith(issuer.issuer + "/")
        assert doc["token_endpoint"].startswith(issuer.issuer + "/")
        assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
        assert doc["subject_types_supported"] == ["public"]
        assert client.get(issuer.oauth_metadata_url).status_code == 404


def test_oauth_discovery_is_path_aware(client: httpx.Client) -> None:
    """The "oauth" mode serves RFC 8414 metadata at the well-known prefix before the path."""
    with LocalIssuer(path="/tenant/a", discovery="oauth") as issuer:
        expected = issuer.base_url + "/.well-known/oauth-authorization-server/tenant/a"
        assert issuer.discovery_url == expected == issuer.oauth_metadata_url
        doc = client.get(expected).json()
        assert doc["issuer"] == issuer.issuer
        assert doc["jwks_uri"] == issuer.jwks_uri
        assert "userinfo_endpoint" not in doc
        assert client.get(issuer.openid_configuration_url).status_code == 404


def test_oauth_discovery_without_path(client: httpx.Client) -> None:
    """An "oauth" issuer without a path serves the bare well-known URL."""
    with LocalIssuer(discovery="oauth") as issuer:
        assert issuer.discovery_url == issuer.base_url + "/.well-known/oauth-authorization-server"
        assert client.get(issuer.discovery_url).json()["issuer"] == issuer.issuer


def test_both_discovery_locations(client: httpx.Client) -> None:
    """The "both" mode serves the OIDC and the RFC 8414 documents."""
    with LocalIssuer(discovery="both", path="/t") as issuer:
        assert client.get(issuer.openid_configuration_url).json()["issuer"] == issuer.issuer
        assert client.get(issuer.oauth_metadata_url).json()["issuer"] == issuer.issuer
        assert issuer.request_count("discovery") == 2


def test_no_discovery_answers_404(client: httpx.Client) -> None:
    """The "none" mode serves no discovery document at either location, but still counts tries."""
    with LocalIssuer(discovery="none") as issuer:
        assert client.get(issuer.discovery_url).status_code == 404
        assert client.get(issuer.oauth_metadata_url).status_code == 404
        assert client.get(issuer.jwks_uri).status_code == 200
        assert issuer.request_count("discovery") == 1


async def test_discovery_overrides_with_async_client() -> None:
    """advertised_issuer, advertised_jwks_uri and discovery_extra shape the document."""
    issuer = LocalIssuer(
        advertised_issuer="https://other.example",
        advertised_jwks_uri="https://other.example/keys",
        discovery_extra={"token_endpoint": OMIT, "x_custom": [1]},
    )
    async with issuer, httpx.AsyncClient(timeout=TIMEOUT, verify=TLS) as http:
        doc = (await http.get(issuer.discovery_url)).json()
    assert doc["issuer"] == "https://other.example"
    assert doc["jwks_uri"] == "https://other.example/keys"
    assert "token_endpoint" not in doc
    assert doc["x_custom"] == [1]


# --- JWKS and caching headers ------------------------------------------------------------


def test_jwks_is_served_with_caching_headers(
    issuer: LocalIssuer, client: httpx.Client, clock: FakeClock
) -> None:
    """The JWKS is served as application/jwk-set+json with caching headers and the clock's Date."""
    clock.advance(42)
    response = client.get(issuer.jwks_uri)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.headers["cache-control"] == "max-age=300"
    assert response.headers["last-modified"] == http_date(START)
    assert response.headers["date"] == http_date(START + 42)
    assert response.headers["etag"].startswith('"') and response.headers["etag"].endswith('"')
    body = response.json()
    assert body == issuer.jwks()
    (jwk,) = body["keys"]
    assert jwk["kid"] == issuer.signing_kid()
    assert (jwk["kty"], jwk["alg"], jwk["use"]) == ("RSA", "RS256", "sig")
    assert len(b64decode(jwk["n"])) == 256  # 2048-bit
    assert "d" not in jwk


def test_key_changes_change_body_etag_and_last_modified(
    issuer: LocalIssuer, client: httpx.Client, clock: FakeClock
) -> None:
    """add_key, rotate and remove_key change the served set, its ETag and its Last-Modified."""
    first = issuer.signing_kid()
    etags = {client.get(issuer.jwks_uri).headers["etag"]}

    clock.advance(10)
    added = issuer.add_key("ES256")
    response = client.get(issuer.jwks_uri)
    assert [k["kid"] for k in response.json()["keys"]] == [first, added]
    assert response.headers["last-modified"] == http_date(START + 10)
    assert issuer.signing_kid() == first  # adding does not switch the signer
    etags.add(response.headers["etag"])

    clock.advance(10)
    rotated = issuer.rotate()
    response = client.get(issuer.jwks_uri)
    assert [k["kid"] for k in response.json()["keys"]] == [first, added, rotated]
    assert issuer.signing_kid() == rotated
    assert response.headers["last-modified"] == http_date(START + 20)
    etags.add(response.headers["etag"])

    clock.advance(10)
    issuer.remove_key(first)
    response = client.get(issuer.jwks_uri)
    assert [k["kid"] for k in response.json()["keys"]] == [added, rotated]
    assert response.headers["last-modified"] == http_date(START + 30)
    etags.add(response.headers["etag"])
    assert len(etags) == 4


def test_removing_the_signer_falls_back_to_the_newest_key(issuer: LocalIssuer) -> None:
    """Removing the default signer makes the most recently added key the signer."""
    first = issuer.signing_kid()
    second = issuer.add_key()
    third = issuer.add_key("ES256")
    issuer.remove_key(first)
    assert issuer.signing_kid() == third
    issuer.remove_key(third)
    assert issuer.signing_kid() == second
    issuer.remove_key(second)
    with pytest.raises(ConfigurationError):
        issuer.signing_kid()
    assert issuer.jwks() == {"keys": []}


def test_key_api_errors(issuer: LocalIssuer) -> None:
    """Unknown kids, duplicate kids, unsupported algs and unfit keys raise ConfigurationError."""
    with pytest.raises(ConfigurationError):
        issuer.remove_key("nope")
    with pytest.raises(ConfigurationError):
        issuer.set_signing_kid("nope")
    with pytest.raises(ConfigurationError):
        issuer.add_key(kid=issuer.signing_kid())
    with pytest.raises(ConfigurationError):
        issuer.add_key("HS256")
    with pytest.raises(ConfigurationError):
        issuer.add_key("RS256", private_key=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ConfigurationError):
        issuer.add_key("ES384", private_key=ec.generate_private_key(ec.SECP256R1()))


def test_jwk_extra_and_kidless_keys(issuer: LocalIssuer, client: httpx.Client) -> None:
    """jwk_extra merges members (OMIT removes) and include_kid=False publishes a kid-less key."""
    enc = issuer.add_key(kid="enc-key", jwk_extra={"use": "enc", "alg": "RS512", "x-note": 1})
    bare = issuer.add_key("ES256", include_kid=False, jwk_extra={"use": OMIT, "alg": OMIT})
    keys = client.get(issuer.jwks_uri).json()["keys"]
    assert enc == "enc-key"
    assert {"kid": "enc-key", "use": "enc", "alg": "RS512", "x-note": 1}.items() <= keys[1].items()
    assert keys[2] == {"kty": "EC", "crv": "P-256", "x": keys[2]["x"], "y": keys[2]["y"]}
    assert issuer.public_jwk(bare) == keys[2]
    assert len(b64decode(keys[2]["x"])) == 32


def test_unpublished_key_signs_then_gets_published(
    issuer: LocalIssuer, client: httpx.Client
) -> None:
    """A key added with publish=False signs tokens but appears only after publish_key."""
    hidden = issuer.add_key(publish=False)
    token = issuer.token(kid=hidden)
    assert parts(token)[0]["kid"] == hidden
    before = client.get(issuer.jwks_uri)
    assert hidden not in [k["kid"] for k in before.json()["keys"]]
    issuer.publish_key(hidden)
    after = client.get(issuer.jwks_uri)
    assert hidden in [k["kid"] for k in after.json()["keys"]]
    assert after.headers["etag"] != before.headers["etag"]
    verify_with_jwks(token, after.json(), "RS256")
    issuer.unpublish_key(hidden)
    assert hidden not in [k["kid"] for k in issuer.jwks()["keys"]]
    assert hidden in issuer.kids()


def test_adopted_private_key_is_published(issuer: LocalIssuer) -> None:
    """add_key(private_key=...) publishes that key, e.g. a short RSA key for key-policy tests."""
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    kid = issuer.add_key("RS256", private_key=short)
    assert issuer.private_key(kid) is short
    assert len(b64decode(issuer.public_jwk(kid)["n"])) == 128


def test_serve_jwks_override(issuer: LocalIssuer, client: httpx.Client) -> None:
    """serve_jwks serves a document verbatim, and None returns to the held keys."""
    weird = {"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}, {"kty": "RSA", "kid": "a"}]}
    normal = issuer.jwks()
    etag = client.get(issuer.jwks_uri).headers["etag"]
    issuer.serve_jwks(weird)
    response = client.get(issuer.jwks_uri)
    assert response.json() == weird == issuer.jwks()
    assert response.headers["etag"] != etag
    issuer.serve_jwks(None)
    assert client.get(issuer.jwks_uri).json() == normal
    with pytest.raises(ConfigurationError):
        issuer.serve_jwks({"keys": [object()]})


def test_cache_headers_can_be_switched_off(issuer: LocalIssuer, client: httpx.Client) -> None:
    """set_cache_headers removes headers, and If-None-Match is then ignored."""
    etag = client.get(issuer.jwks_uri).headers["etag"]
    issuer.set_cache_headers(cache_control=None, etag=False, last_modified=False)
    response = client.get(issuer.jwks_uri, headers={"If-None-Match": etag})
    assert response.status_code == 200
    for name in ("cache-control", "etag", "last-modified"):
        assert name not in response.headers
    assert "date" in response.headers
    issuer.set_cache_headers(cache_control="no-store")
    response = client.get(issuer.jwks_uri)
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers


def test_extra_headers_add_and_replace(client: httpx.Client, clock: FakeClock) -> None:
    """extra_headers are added to responses and replace standard headers of the same name."""
    extra = {"cache-control": "public, max-age=60", "Expires": http_date(START + 60), "Age": "5"}
    with LocalIssuer(clock=clock, extra_headers=extra) as issuer:
        response = client.get(issuer.jwks_uri)
        assert response.headers.get_list("cache-control") == ["public, max-age=60"]
        assert response.headers["expires"] == http_date(START + 60)
        assert response.headers["age"] == "5"
        issuer.set_extra_headers(None)
        response = client.get(issuer.discovery_url)
        assert response.headers["cache-control"] == "max-age=300"
        assert "age" not in response.headers


# --- conditional requests ------------------------------------------------------------------


def test_if_none_match_gives_304(issuer: LocalIssuer, client: httpx.Client) -> None:
    """A matching If-None-Match (exact, weak, in a list, or *) is answered 304 without a body."""
    first = client.get(issuer.jwks_uri)
    etag = first.headers["etag"]
    for value in (etag, "W/" + etag, f'"other", {etag}', "*"):
        response = client.get(issuer.jwks_uri, headers={"If-None-Match": value})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "max-age=300"
        assert response.headers["last-modified"] == first.headers["last-modified"]
    stale = client.get(issuer.jwks_uri, headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.json() == issuer.jwks()


def test_old_etag_after_rotation_gives_200(issuer: LocalIssuer, client: httpx.Client) -> None:
    """After the key set changes, the previous ETag no longer matches."""
    etag = client.get(issuer.jwks_uri).headers["etag"]
    issuer.rotate()
    response = client.get(issuer.jwks_uri, headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert len(response.json()["keys"]) == 2


def test_if_modified_since(issuer: LocalIssuer, client: httpx.Client, clock: FakeClock) -> None:
    """If-Modified-Since at or after Last-Modified gives 304; earlier or invalid dates give 200."""
    assert client.get(issuer.jwks_uri).headers["last-modified"] == http_date(START)
    for since, status in [
        (http_date(START), 304),
        (http_date(START + 3600), 304),
        (http_date(START - 1), 200),
        ("not a date", 200),
    ]:
        response = client.get(issuer.jwks_uri, headers={"If-Modified-Since": since})
        assert response.status_code == status, since
    clock.advance(5)
    issuer.rotate()
    response = client.get(issuer.jwks_uri, headers={"If-Modified-Since": http_date(START)})
    assert response.status_code == 200


def test_if_none_match_takes_precedence(issuer: LocalIssuer, client: httpx.Client) -> None:
    """A non-matching If-None-Match yields 200 even when If-Modified-Since alone would give 304."""
    headers = {"If-None-Match": '"stale"', "If-Modified-Since": http_date(START + 10)}
    assert client.get(issuer.jwks_uri, headers=headers).status_code == 200


def test_discovery_answers_conditional_requests(issuer: LocalIssuer, client: httpx.Client) -> None:
    """The discovery document has its own ETag and answers If-None-Match with 304."""
    etag = client.get(issuer.discovery_url).headers["etag"]
    response = client.get(issuer.discovery_url, headers={"If-None-Match": etag})
    assert response.status_code == 304


# --- recording ----------------------------------------------------------------------------


def test_requests_are_recorded_with_headers(
    issuer: LocalIssuer, client: httpx.Client, clock: FakeClock
) -> None:
    """Every request is recorded with method, path, query, lower-cased headers and clock time."""
    clock.advance(7)
    etag = client.get(issuer.jwks_uri).headers["etag"]
    client.get(
        issuer.jwks_uri + "?x=1",
        headers={"If-None-Match": etag, "Cache-Control": "no-cache", "X-Trace": "abc"},
    )
    client.get(issuer.discovery_url)
    first, second, third = issuer.requests()
    assert isinstance(first, RecordedRequest)
    assert (first.method, first.path, first.query, first.time) == ("GET", "/jwks", "", START + 7)
    assert (second.path, second.query) == ("/jwks", "x=1")
    assert second.headers["if-none-match"] == etag
    assert second.headers["cache-control"] == "no-cache"
    assert second.headers["x-trace"] == "abc"
    assert all(name == name.lower() for name in second.headers)
    assert third.path == "/.well-known/openid-configuration"


def test_request_counts_by_path(client: httpx.Client) -> None:
    """request_count accepts None, endpoint names, literal paths and full URLs."""
    with LocalIssuer(path="/t") as issuer:
        for _ in range(3):
            client.get(issuer.jwks_uri)
        client.get(issuer.discovery_url)
        client.get(issuer.base_url + "/missing")
        assert issuer.request_count() == 5
        assert issuer.request_count("jwks") == 3
        assert issuer.request_count("/t/jwks") == 3
        assert issuer.request_count(issuer.jwks_uri) == 3
        assert issuer.request_count("/jwks") == 0
        assert issuer.request_count("discovery") == 1
        assert issuer.request_count(issuer.discovery_url) == 1
        assert issuer.request_count("/missing") == 1
        issuer.reset_counts()
        assert issuer.request_count() == 0
        assert issuer.requests() == []


def test_only_get_is_allowed(issuer: LocalIssuer, client: httpx.Client) -> None:
    """Other methods get 405 with Allow: GET, and are recorded."""
    for method in ("POST", "HEAD", "DELETE", "BREW"):
        response = client.request(method, issuer.jwks_uri, content=b"x")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
    assert [r.method for r in issuer.requests()] == ["POST", "HEAD", "DELETE", "BREW"]
    assert client.get(issuer.jwks_uri).status_code == 200


def test_unknown_path_is_404(issuer: LocalIssuer, client: httpx.Client) -> None:
    """Paths other than the JWKS and discovery endpoints answer 404."""
    assert client.get(issuer.base_url + "/").status_code == 404
    assert client.get(issuer.jwks_uri + "/more").status_code == 404
    assert issuer.request_count() == 2


def test_wait_for_requests(issuer: LocalIssuer, client: httpx.Client) -> None:
    """wait_for_requests reports whether the count was reached within the timeout."""
    assert not issuer.wait_for_requests(1, timeout=0.01)
    client.get(issuer.jwks_uri)
    assert issuer.wait_for_requests(1, timeout=TIMEOUT, path="jwks")
    assert not issuer.wait_for_requests(1, timeout=0.01, path="discovery")


# --- faults ---------------------------------------------------------------------------------


def test_status_fault_applies_times_then_clears(issuer: LocalIssuer, client: httpx.Client) -> None:
    """A "status" fault answers its status for `times` requests, which are recorded, then stops."""
    issuer.fail("status", times=2, headers={"Retry-After": "7"})
    for _ in range(2):
        response = client.get(issuer.jwks_uri)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
    assert client.get(issuer.jwks_uri).status_code == 200
    assert issuer.request_count("jwks") == 3


def test_status_fault_custom_code_and_body(issuer: LocalIssuer, client: httpx.Client) -> None:
    """A "status" fault uses the given status and body until cleared."""
    issuer.fail("status", status=429, body=b"slow down")
    for _ in range(3):
        response = client.get(issuer.jwks_uri)
        assert (response.status_code, response.content) == (429, b"slow down")
    issuer.clear_faults()
    assert client.get(issuer.jwks_uri).status_code == 200


def test_faults_queue_in_order(issuer: LocalIssuer, client: httpx.Client) -> None:
    """Faults apply one after another in the order they were given."""
    issuer.fail("status", status=500, times=1)
    issuer.fail("empty_keys", times=1)
    assert client.get(issuer.jwks_uri).status_code == 500
    assert client.get(issuer.jwks_uri).json() == {"keys": []}
    assert client.get(issuer.jwks_uri).json() == issuer.jwks()


def test_fault_targets(issuer: LocalIssuer, client: httpx.Client) -> None:
    """Faults aim at the JWKS, the discovery document, or both."""
    issuer.fail("status", path="discovery", status=500)
    assert client.get(issuer.discovery_url).status_code == 500
    assert client.get(issuer.jwks_uri).status_code == 200
    issuer.clear_faults()
    issuer.fail("status", path="all", status=502)
    assert client.get(issuer.discovery_url).status_code == 502
    assert client.get(issuer.jwks_uri).status_code == 502
    issuer.clear_faults()
    assert client.get(issuer.discovery_url).status_code == 200


def test_body_faults(issuer: LocalIssuer, client: httpx.Client) -> None:
    """ "garbage" is not JSON, "not_jwks" is JSON without keys, "empty_keys" has no keys."""
    issuer.fail("garbage", times=1)
    garbage = client.get(issuer.jwks_uri)
    assert garbage.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        garbage.json()
    issuer.fail("not_jwks", times=1)
    assert client.get(issuer.jwks_uri).json() == {"hello": 1}
    issuer.fail("empty_keys", times=1)
    assert client.get(issuer.jwks_uri).json() == {"keys": []}
    issuer.fail("not_jwks", times=1, body=b"[1, 2]")
    assert client.get(issuer.jwks_uri).json() == [1, 2]


def test_truncated_fault_sync(issuer: LocalIssuer, client: httpx.Client) -> None:
    """A "truncated" body shorter than its Content-Length is an httpx protocol error."""
    issuer.fail("truncated", times=1)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(issuer.jwks_uri)
    assert client.get(issuer.jwks_uri).status_code == 200


async def test_truncated_fault_async(issuer: LocalIssuer) -> None:
    """The async client sees a "truncated" body as a protocol error too."""
    issuer.fail("truncated", path="discovery", times=1)
    async with httpx.AsyncClient(timeout=TIMEOUT, verify=TLS) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(issuer.discovery_url)
        assert (await http.get(issuer.discovery_url)).status_code == 200


def test_oversize_fault_with_content_length(issuer: LocalIssuer, client: httpx.Client) -> None:
    """ "oversize" sends a valid JSON JWKS of exactly `size` bytes with Content-Length."""
    issuer.fail("oversize", times=1, size=300_000)
    response = client.get(issuer.jwks_uri)
    assert response.status_code == 200
    assert response.headers["content-length"] == "300000"
    assert len(response.content) == 300_000
    assert response.json()["keys"] == issuer.jwks()["keys"]


def test_oversize_chunked_fault_streams(issuer: LocalIssuer, client: httpx.Client) -> None:
    """ "oversize_chunked" streams the body with chunked coding and no Content-Length."""
    issuer.fail("oversize_chunked", times=1)
    with client.stream("GET", issuer.jwks_uri) as response:
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        total = sum(len(chunk) for chunk in response.iter_bytes())
    assert total == 2_000_000


async def test_oversize_fault_async_client_can_stop_early(issuer: LocalIssuer) -> None:
    """A client that stops reading an oversize body early leaves the issuer serving."""
    issuer.fail("oversize", times=1, size=5_000_000)
    async with httpx.AsyncClient(timeout=TIMEOUT, verify=TLS) as http:
        async with http.stream("GET", issuer.jwks_uri) as response:
            async for chunk in response.aiter_bytes():
                assert chunk
                break
        assert (await http.get(issuer.jwks_uri)).json() == issuer.jwks()


def test_reset_fault_sync(issuer: LocalIssuer, client: httpx.Client) -> None:
    """ "reset" drops the connection without a response: an httpx transport error."""
    issuer.fail("reset", times=1)
    with pytest.raises(httpx.TransportError):
        client.get(issuer.jwks_uri)
    assert client.get(issuer.jwks_uri).status_code == 200
    assert issuer.request_count("jwks") == 2


async def test_reset_fault_async(issuer: LocalIssuer) -> None:
    """The async client sees "reset" as a transport error."""
    issuer.fail("reset", times=1)
    async with httpx.AsyncClient(timeout=TIMEOUT, verify=TLS) as http:
        with pytest.raises(httpx.TransportError):
            await http.get(issuer.jwks_uri)


def test_redirect_fault(issuer: LocalIssuer, client: httpx.Client) -> None:
    """ "redirect" answers 302 to the endpoint itself, or the given status and Location."""
    issuer.fail("redirect", times=1)
    response = client.get(issuer.jwks_uri)
    assert (response.status_code, response.headers["location"]) == (302, issuer.jwks_uri)
    issuer.fail("redirect", times=1, status=307, location="https://evil.example/jwks")
    response = client.get(issuer.jwks_uri)
    assert (response.status_code, response.headers["location"]) == (
        307,
        "https://evil.example/jwks",
    )


def test_delay_fault_then_normal_response(issuer: LocalIssuer, client: httpx.Client) -> None:
    """ "delay" still answers with the normal document once the delay has passed."""
    issuer.fail("delay", delay=0.2, times=1)
    response = client.get(issuer.jwks_uri)
    assert response.status_code == 200
    assert response.json() == issuer.jwks()


def test_stop_interrupts_a_delay(client: httpx.Client) -> None:
    """A long "delay" is cut short by stop(): the client gets an error, not a late answer."""
    issuer = LocalIssuer().start()
    issuer.fail("delay", delay=60)
    threads, results = run_in_threads(1, lambda: client.get(issuer.jwks_uri))
    assert issuer.wait_for_requests(1, timeout=TIMEOUT)
    issuer.stop()
    join_all(threads)
    assert isinstance(results[0], httpx.TransportError)


def test_fault_argument_errors(issuer: LocalIssuer) -> None:
    """Unknown kinds or paths and bad numbers raise ConfigurationError."""
    assert "reset" in FAULT_KINDS
    bad: list[dict[str, Any]] = [
        {"kind": "explode"},
        {"kind": "status", "path": "/jwks"},
        {"kind": "status", "times": 0},
        {"kind": "status", "status": 42},
        {"kind": "delay", "delay": -1},
        {"kind": "redirect", "location": "x\r\ny"},
    ]
    for kwargs in bad:
        kind = kwargs.pop("kind")
        with pytest.raises(ConfigurationError):
            issuer.fail(kind, **kwargs)


# --- holding requests --------------------------------------------------------------------------


def test_hold_parks_concurrent_requests_until_release(issuer: LocalIssuer) -> None:
    """Held requests are parked and counted, then all answered on release."""
    n = 8
    issuer.hold()

    def fetch() -> int:
        return httpx.get(issuer.jwks_uri, timeout=TIMEOUT, verify=TLS).status_code

    threads, results = run_in_threads(n, fetch)
    assert issuer.wait_for_waiting(n, timeout=TIMEOUT)
    assert issuer.waiting() == n
    assert issuer.waiting("discovery") == 0
    assert results == []
    issuer.release()
    join_all(threads)
    assert results == [200] * n
    assert issuer.waiting() == 0
    assert issuer.request_count("jwks") == n


def test_hold_is_per_endpoint(issuer: LocalIssuer, client: httpx.Client) -> None:
    """Holding the JWKS leaves discovery answering, and faults set while parked apply on release."""
    issuer.hold("jwks")
    assert client.get(issuer.discovery_url).status_code == 200
    threads, results = run_in_threads(1, lambda: client.get(issuer.jwks_uri).status_code)
    assert issuer.wait_for_waiting(1, timeout=TIMEOUT)
    issuer.fail("status", status=500, times=1)
    issuer.release("all")
    join_all(threads)
    assert results == [500]


def test_wait_for_waiting_times_out(issuer: LocalIssuer) -> None:
    """wait_for_waiting returns False when fewer requests park within the timeout."""
    issuer.hold()
    assert not issuer.wait_for_waiting(1, timeout=0.01)
    with pytest.raises(ConfigurationError):
        issuer.hold("elsewhere")


async def test_hold_with_async_tasks(issuer: LocalIssuer) -> None:
    """N asyncio tasks park on a held endpoint and all complete after release."""
    n = 6
    issuer.hold("discovery")
    async with httpx.AsyncClient(timeout=TIMEOUT, verify=TLS) as http:
        tasks = [asyncio.create_task(http.get(issuer.discovery_url)) for _ in range(n)]
        assert await issuer.await_waiting(n, timeout=TIMEOUT, path="discovery")
        assert not any(task.done() for task in tasks)
        issuer.release("discovery")
        responses = await asyncio.wait_for(asyncio.gather(*tasks), TIMEOUT)
    assert [r.status_code for r in responses] == [200] * n
    assert issuer.request_count("discovery") == n


def test_stop_while_held_returns_and_ends_threads() -> None:
    """stop() with parked requests drops them, ends the server thread and frees the clients."""
    issuer = LocalIssuer().start()
    issuer.hold("all")

    def fetch() -> int:
        return httpx.get(issuer.jwks_uri, timeout=TIMEOUT, verify=TLS).status_code

    threads, results = run_in_threads(4, fetch)
    assert issuer.wait_for_waiting(4, timeout=TIMEOUT)
    server_thread = issuer.thread
    assert server_thread is not None
    issuer.stop()
    assert not server_thread.is_alive()
    assert issuer.waiting("all") == 0
    join_all(threads)
    assert len(results) == 4
    assert all(isinstance(result, httpx.TransportError) for result in results)


# --- tokens ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", sorted(SUPPORTED_ALGORITHMS))
def test_tokens_verify_against_the_served_jwks(alg: str, client: httpx.Client) -> None:
    """A token minted for each supported algorithm verifies with joserfc against the served JWKS."""
    with LocalIssuer(algorithms=(alg,)) as issuer:
        token = issuer.token()
        header, _ = parts(token)
        assert header == {"alg": alg, "typ": "at+jwt", "kid": issuer.signing_kid()}
        claims = verify_with_jwks(token, client.get(issuer.jwks_uri).json(), alg)
        assert claims["iss"] == issuer.issuer


def test_default_claims_follow_the_clock(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Default claims are iss, sub, aud, iat, nbf, exp (now + expires_in), jti and scope."""
    clock.advance(0.75)
    _, claims = parts(issuer.token(expires_in=60))
    assert list(claims) == ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", "scope"]
    assert claims["iss"] == issuer.issuer
    assert claims["sub"] == "user-1"
    assert claims["aud"] == "https://api.example.com"
    assert claims["iat"] == claims["nbf"] == int(START)
    assert claims["exp"] == int(START) + 60
    assert claims["scope"] == "read"
    assert isinstance(claims["jti"], str) and claims["jti"]
    assert parts(issuer.token())[1]["jti"] != claims["jti"]


def test_claims_override_and_omit(issuer: LocalIssuer) -> None:
    """`claims` override and extend defaults; OMIT and audience=None remove claims."""
    _, claims = parts(issuer.token({"sub": "svc", "exp": OMIT, "roles": ["a"]}, audience=None))
    assert claims["sub"] == "svc"
    assert claims["roles"] == ["a"]
    assert "exp" not in claims and "aud" not in claims
    _, claims = parts(issuer.token(audience=["a", "b"], expires_in=-10))
    assert claims["aud"] == ["a", "b"]
    assert claims["exp"] == int(START) - 10


def test_header_overrides_appear_verbatim(issuer: LocalIssuer) -> None:
    """Header overrides are written as given while the key's real algorithm signs."""
    kid = issuer.signing_kid()
    token = issuer.token(header={"alg": "none", "crit": ["x"], "x": 1, "typ": OMIT})
    header, _ = parts(token)
    assert header == {"alg": "none", "kid": kid, "crit": ["x"], "x": 1}
    signing_input, _, signature = token.rpartition(".")
    public = issuer.private_key(kid).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(b64decode(signature), signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_unknown_kid_signs_with_the_default_key(issuer: LocalIssuer) -> None:
    """A kid the issuer does not hold goes into the header while the default key signs."""
    token = issuer.token(kid="unknown")
    assert parts(token)[0]["kid"] == "unknown"
    jwks = {"keys": [{**issuer.public_jwk(issuer.signing_kid()), "kid": "unknown"}]}
    verify_with_jwks(token, jwks, "RS256")


def test_kid_selection_and_omission(issuer: LocalIssuer) -> None:
    """kid selects the signer, include_kid=False drops it, kid-less keys sign kid-less tokens."""
    other = issuer.add_key("ES256")
    token = issuer.token(kid=other)
    assert parts(token)[0] == {"alg": "ES256", "typ": "at+jwt", "kid": other}
    verify_with_jwks(token, issuer.jwks(), "ES256")
    assert "kid" not in parts(issuer.token(include_kid=False))[0]
    bare = issuer.add_key("EdDSA", include_kid=False)
    assert "kid" not in parts(issuer.token(kid=bare))[0]


def test_alg_parameter(issuer: LocalIssuer) -> None:
    """alg picks a key of that algorithm, or signs with another algorithm the key type allows."""
    ps = issuer.token(alg="PS256")
    header, _ = parts(ps)
    assert header["alg"] == "PS256" and header["kid"] == issuer.signing_kid()
    signing_input, _, signature = ps.rpartition(".")
    public = issuer.private_key(issuer.signing_kid()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    public.verify(b64decode(signature), signing_input.encode(), pss, hashes.SHA256())
    with pytest.raises(ConfigurationError):
        issuer.token(alg="ES256")
    es = issuer.add_key("ES256")
    assert parts(issuer.token(alg="ES256"))[0]["kid"] == es
    with pytest.raises(ConfigurationError):
        issuer.token(kid=es, alg="ES384")
    with pytest.raises(ConfigurationError):
        issuer.token(alg="HS256")


def test_signature_override(issuer: LocalIssuer) -> None:
    """`signature` replaces the computed signature bytes."""
    assert issuer.token(header={"alg": "none"}, signature=b"").endswith(".")
    assert issuer.token(signature=b"\x00\x01").rsplit(".", 1)[1] == "AAE"


def test_sign_uses_exact_bytes(issuer: LocalIssuer) -> None:
    """sign() writes header and payload bytes verbatim and signs them with the chosen key."""
    header = b'{"alg":"RS256","alg":"none"}'
    token = issuer.sign(header, b"not json")
    head, payload, signature = token.split(".")
    assert (b64decode(head), b64decode(payload)) == (header, b"not json")
    public = issuer.private_key(issuer.signing_kid()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        b64decode(signature), f"{head}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    es = issuer.add_key("ES384")
    token = issuer.sign({"alg": "ES384", "kid": es}, {"sub": "x"}, kid=es)
    verify_with_jwks(token, issuer.jwks(), "ES384")
    with pytest.raises(ConfigurationError):
        issuer.sign({}, b"", kid="missing")
    with pytest.raises(ConfigurationError):
        issuer.sign({}, b"", kid=es, alg="RS256")
    with pytest.raises(ConfigurationError):
        issuer.sign({"x": object()}, b"")


def test_tokens_from_threads_are_all_valid(issuer: LocalIssuer) -> None:
    """Minting from several threads while keys rotate yields tokens that verify."""

    def mint() -> list[str]:
        return [issuer.token() for _ in range(5)]

    threads, results = run_in_threads(4, mint)
    for _ in range(2):
        issuer.rotate()
    join_all(threads)
    jwks = issuer.jwks()
    tokens = [token for batch in results for token in batch]
    assert len(tokens) == 20
    for token in tokens:
        verify_with_jwks(token, jwks, "RS256")


# --- binding ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_binds_the_port_asked_for(client: httpx.Client) -> None:
    """port= binds that port, and a restart binds it again."""
    port = free_port()
    issuer = LocalIssuer(port=port)
    with issuer:
        assert issuer.base_url == f"http://127.0.0.1:{port}"
        assert client.get(issuer.jwks_uri).status_code == 200
    with issuer:
        assert client.get(issuer.jwks_uri).status_code == 200
    assert issuer.request_count("jwks") == 2


def test_a_port_in_use_is_a_configuration_error() -> None:
    """Asking for a port another issuer holds raises ConfigurationError naming it."""
    with LocalIssuer() as first:
        port = int(first.base_url.rsplit(":", 1)[1])
        second = LocalIssuer(port=port)
        with pytest.raises(ConfigurationError, match=f"cannot bind 127.0.0.1:{port}"):
            second.start()
        assert not second.running


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_loopback(client: httpx.Client) -> None:
    """host="::1" serves on the IPv6 loopback, with the address bracketed in URLs."""
    with LocalIssuer(host="::1") as issuer:
        assert issuer.base_url.startswith("http://[::1]:")
        document = client.get(issuer.discovery_url).json()
        assert document["jwks_uri"] == issuer.jwks_uri
        assert client.get(issuer.jwks_uri).json() == issuer.jwks()


# --- the token endpoint --------------------------------------------------------------------


@pytest.fixture
def minting() -> Iterator[LocalIssuer]:
    """An ES256 issuer on the real clock with its token endpoint on."""
    with LocalIssuer(algorithms=("ES256",), token_endpoint=True) as running:
        yield running


def verified(issuer: LocalIssuer, token: str, audience: str = AUD) -> dict[str, Any]:
    """Verify ``token`` with the library, for ``issuer`` on the real clock."""
    with Verifier(issuer.issuer, audience=audience, require_https=False) as verifier:
        return verifier.verify(token)


def test_token_endpoint_is_off_by_default(client: httpx.Client) -> None:
    """Without token_endpoint=True, /token is a 404 like any unknown path."""
    with LocalIssuer(algorithms=("ES256",)) as issuer:
        assert issuer.token_url == issuer.issuer + "/token"
        assert client.get(issuer.token_url).status_code == 404
        assert client.post(issuer.token_url).status_code == 405


def test_token_endpoint_get_mints_a_verifiable_token(
    client: httpx.Client, minting: LocalIssuer
) -> None:
    """GET /token answers an OAuth token response whose token the library verifies."""
    response = client.get(minting.token_url)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 300)
    claims = verified(minting, body["access_token"])
    assert (claims["sub"], claims["aud"], claims["scope"]) == ("user-1", AUD, "read")
    assert claims["exp"] - claims["iat"] == 300
    assert minting.request_count("/token") == 1


def test_token_endpoint_query_parameters(client: httpx.Client, minting: LocalIssuer) -> None:
    """sub, scope, ttl and a repeated aud shape the token; alg picks the signing key."""
    kid = minting.add_key("RS256")
    params = [
        ("sub", "alice"),
        ("scope", "orders:read orders:write"),
        ("aud", "api://a"),
        ("aud", "api://b"),
        ("ttl", "60"),
        ("alg", "RS256"),
    ]
    body = client.get(minting.token_url, params=params).json()
    assert body["expires_in"] == 60
    header, _ = parts(body["access_token"])
    assert (header["alg"], header["kid"]) == ("RS256", kid)
    claims = verified(minting, body["access_token"], audience="api://b")
    assert claims["sub"] == "alice"
    assert claims["scope"] == "orders:read orders:write"
    assert claims["aud"] == ["api://a", "api://b"]
    assert claims["exp"] - claims["iat"] == 60


def test_token_endpoint_post_json_claims(client: httpx.Client, minting: LocalIssuer) -> None:
    """A POST body of JSON claims is merged over the defaults and wins over the query."""
    response = client.post(
        minting.token_url + "?sub=query&aud=api://orders",
        json={"sub": "body", "tenant": "t-1", "roles": ["admin"]},
    )
    assert response.status_code == 200
    claims = verified(minting, response.json()["access_token"], audience="api://orders")
    assert (claims["sub"], claims["tenant"], claims["roles"]) == ("body", "t-1", ["admin"])
    assert claims["aud"] == "api://orders"


def test_token_endpoint_negative_ttl_mints_an_expired_token(
    client: httpx.Client, minting: LocalIssuer
) -> None:
    """ttl=-3600 mints a token the verifier rejects as expired (past the leeway)."""
    token = client.get(minting.token_url, params={"ttl": "-3600"}).json()["access_token"]
    with pytest.raises(ExpiredTokenError):
        verified(minting, token)


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ("user=alice", None, "unknown parameter 'user'"),
        ("sub=a&sub=b", None, "given 2 times"),
        ("ttl=soon", None, "ttl must be an integer"),
        ("ttl=1e3", None, "ttl must be an integer"),
        ("ttl=9999999999", None, "ttl must be within"),
        ("alg=HS256", None, "unsupported algorithm 'HS256'"),
        ("alg=ES384", None, "no held key can sign ES384"),
        ("", b"[1, 2]", "JSON object of claims"),
        ("", b"{not json", "JSON object of claims"),
    ],
)
def test_token_endpoint_refuses_bad_requests(
    client: httpx.Client,
    minting: LocalIssuer,
    query: str,
    body: bytes | None,
    message: str,
) -> None:
    """A request the endpoint cannot honour exactly is a 400 invalid_request saying why."""
    url = f"{minting.token_url}?{query}"
    response = client.get(url) if body is None else client.post(url, content=body)
    assert response.status_code == 400
    error = response.json()
    assert error["error"] == "invalid_request"
    assert message in error["error_description"]


def test_token_endpoint_bodies_and_methods(client: httpx.Client, minting: LocalIssuer) -> None:
    """A chunked body is read, an oversized one is 413, and methods besides GET/POST 405."""

    def chunks() -> Iterator[bytes]:
        yield b'{"sub": '
        yield b'"chunked"}'

    streamed = client.post(minting.token_url, content=chunks())
    assert streamed.status_code == 200
    assert parts(streamed.json()["access_token"])[1]["sub"] == "chunked"
    too_big = client.post(minting.token_url, content=b" " * (64 * 1024 + 1))
    assert too_big.status_code == 413
    assert "body over 65536 bytes" in too_big.json()["error_description"]
    put = client.put(minting.token_url)
    assert put.status_code == 405 and put.headers["allow"] == "GET, POST"
    assert client.get(minting.token_url).status_code == 200  # still serving


def test_token_endpoint_tokens_fail_for_another_audience(
    client: httpx.Client, minting: LocalIssuer
) -> None:
    """A token minted for one audience is refused by a verifier expecting another."""
    token = client.get(minting.token_url, params={"aud": "api://a"}).json()["access_token"]
    with pytest.raises(InvalidAudienceError):
        verified(minting, token, audience="api://b")
