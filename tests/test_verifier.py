"""Verifier and AsyncVerifier end to end against a real LocalIssuer on 127.0.0.1.

Every behaviour here is checked for both shells: the `make` fixture builds either a
`Verifier` or an `AsyncVerifier` driven on a private event loop, behind one sync facade.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from jwks_client import (
    AlgorithmNotAllowedError,
    AsyncVerifier,
    CachePolicy,
    ConfigurationError,
    DiscoveryError,
    ExpiredTokenError,
    FetchError,
    HTTPStatusError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidKeySetError,
    InvalidSignatureError,
    InvalidTokenTypeError,
    KeyNotFoundError,
    KeySetUnavailableError,
    MalformedTokenError,
    MissingClaimError,
    NotYetValidError,
    ResponseTooLargeError,
    Verifier,
)
from jwks_client.testing import OMIT, FakeClock, LocalIssuer

AUD = "https://api.example.com"
POLICY = CachePolicy(
    default_ttl=600, min_ttl=60, max_ttl=3600, refresh_cooldown=30, stale_if_error=300
)


class Facade:
    """One sync interface over both shells."""

    def __init__(self, verifier: Verifier | AsyncVerifier) -> None:
        self.verifier = verifier
        self.loop = asyncio.new_event_loop() if isinstance(verifier, AsyncVerifier) else None

    def verify(self, token: str) -> dict[str, Any]:
        if self.loop is not None:
            assert isinstance(self.verifier, AsyncVerifier)
            return self.loop.run_until_complete(self.verifier.verify(token))
        assert isinstance(self.verifier, Verifier)
        return self.verifier.verify(token)

    def settle(self) -> None:
        """Wait for a background refresh to finish (bounded)."""
        keys = self.verifier.jwks_client
        if self.loop is not None:
            self.loop.run_until_complete(keys.join_background(10.0))  # type: ignore[arg-type]
        else:
            keys.join_background(10.0)  # type: ignore[unused-coroutine]

    def close(self) -> None:
        if self.loop is not None:
            assert isinstance(self.verifier, AsyncVerifier)
            self.loop.run_until_complete(self.verifier.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()
        else:
            assert isinstance(self.verifier, Verifier)
            self.verifier.close()


Make = Callable[..., Facade]


@pytest.fixture(params=["sync", "async"])
def make(request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock) -> Iterator[Make]:
    made: list[Facade] = []

    def factory(**options: Any) -> Facade:
        options.setdefault("audience", AUD)
        options.setdefault("require_https", False)
        options.setdefault("clock", clock)
        options.setdefault("cache_policy", POLICY)
        issuer_url = options.pop("issuer", issuer.issuer)
        cls = Verifier if request.param == "sync" else AsyncVerifier
        facade = Facade(cls(issuer_url, **options))
        made.append(facade)
        return facade

    yield factory
    for facade in made:
        facade.close()


def test_verifies_and_returns_claims(make: Make, issuer: LocalIssuer) -> None:
    """A valid token returns its claims after one discovery and one JWKS fetch."""
    verifier = make()
    claims = verifier.verify(issuer.token({"sub": "alice"}))
    assert claims["sub"] == "alice"
    assert claims["iss"] == issuer.issuer
    for _ in range(50):
        assert verifier.verify(issuer.token())["aud"] == AUD
    assert issuer.request_count("discovery") == 1
    assert issuer.request_count("jwks") == 1


def test_rfc8414_fallback_and_issuer_path(clock: FakeClock) -> None:
    """An issuer with a path and only RFC 8414 metadata is discovered path-aware."""
    with LocalIssuer(
        algorithms=("ES256",), clock=clock, path="/tenant/v2", discovery="oauth"
    ) as local:
        with Verifier(local.issuer, audience=AUD, require_https=False, clock=clock) as v:
            assert v.verify(local.token())["iss"] == local.issuer
        paths = [r.path for r in local.requests()]
        assert paths == [
            "/tenant/v2/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server/tenant/v2",
            "/tenant/v2/jwks",
        ]


def test_discovery_issuer_mismatch(clock: FakeClock) -> None:
    """A discovery document naming another issuer is a DiscoveryError; no JWKS fetched."""
    with LocalIssuer(
        algorithms=("ES256",), clock=clock, advertised_issuer="https://evil.example"
    ) as local:
        v = Verifier(local.issuer, audience=AUD, require_https=False, clock=clock)
        with v, pytest.raises(DiscoveryError, match=r"names issuer 'https://evil\.example'"):
            v.verify(local.token())
        assert local.request_count("jwks") == 0


def test_fixed_jwks_uri_skips_discovery(make: Make, issuer: LocalIssuer) -> None:
    """With jwks_uri given, no discovery request is made."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    verifier.verify(issuer.token())
    assert issuer.request_count("discovery") == 0
    assert issuer.request_count("jwks") == 1


def test_rotation_new_kid_one_refresh(make: Make, issuer: LocalIssuer, clock: FakeClock) -> None:
    """A token signed by a newly published key triggers one refresh and succeeds at once."""
    verifier = make()
    verifier.verify(issuer.token())
    issuer.rotate("ES256")
    clock.advance(POLICY.refresh_cooldown)  # the first fetch started a cooldown
    assert verifier.verify(issuer.token())["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2
    # The request carried no-cache, so no proxy could answer it from storage.
    last = [r for r in issuer.requests() if r.path == "/jwks"][-1]
    assert last.headers.get("cache-control") == "no-cache"


def test_removed_key_rejected_after_expiry(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A key removed from the JWKS stops verifying once the cached set is refreshed."""
    verifier = make()
    old_kid = issuer.signing_kid()
    old_token = issuer.token(expires_in=10_000)
    verifier.verify(old_token)
    issuer.rotate("ES256")
    issuer.remove_key(old_kid)
    clock.advance(301)  # max-age=300 has passed
    # Served stale once while a background refresh runs (stale-while-revalidate) ...
    verifier.verify(old_token)
    verifier.settle()
    assert issuer.request_count("jwks") == 2
    # ... then the new set, without the old key, rejects it.
    with pytest.raises(KeyNotFoundError, match=f"kid '{old_kid}'"):
        verifier.verify(old_token)


def test_revalidation_304_keeps_keys(make: Make, issuer: LocalIssuer, clock: FakeClock) -> None:
    """An expired set is revalidated with If-None-Match; a 304 renews it without new keys."""
    verifier = make()
    verifier.verify(issuer.token())
    ring = verifier.verifier.jwks_client.state.ring
    clock.advance(301)
    verifier.verify(issuer.token())
    verifier.settle()
    jwks_requests = [r for r in issuer.requests() if r.path == "/jwks"]
    assert len(jwks_requests) == 2
    state = verifier.verifier.jwks_client.state
    assert state.etag and jwks_requests[1].headers.get("if-none-match") == state.etag
    assert state.ring is ring
    assert state.fresh_until == pytest.approx(clock() + 300)


def test_unknown_kid_rate_limited(make: Make, issuer: LocalIssuer, clock: FakeClock) -> None:
    """Unknown kids cause at most one refresh per cooldown; inside it they fail without I/O."""
    verifier = make()
    verifier.verify(issuer.token())
    for i in range(20):
        with pytest.raises(KeyNotFoundError):
            verifier.verify(issuer.token(kid=f"bogus-{i}"))
    assert issuer.request_count("jwks") == 1  # still inside the cooldown of the first fetch
    clock.advance(30)
    for i in range(20):
        with pytest.raises(KeyNotFoundError):
            verifier.verify(issuer.token(kid=f"bogus2-{i}"))
    assert issuer.request_count("jwks") == 2


def test_precheck_spares_refresh_for_hopeless_tokens(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """An unknown-kid token with a wrong issuer or long expired costs no refresh."""
    verifier = make()
    verifier.verify(issuer.token())
    clock.advance(60)
    with pytest.raises(InvalidIssuerError):
        verifier.verify(issuer.token({"iss": "https://evil.example"}, kid="new"))
    with pytest.raises(ExpiredTokenError):
        verifier.verify(issuer.token(kid="new", expires_in=-3600))
    assert issuer.request_count("jwks") == 1


def test_stale_on_error_then_unavailable(make: Make, issuer: LocalIssuer, clock: FakeClock) -> None:
    """While the issuer is down, cached keys serve through stale_if_error, then 503."""
    verifier = make()
    token = issuer.token(expires_in=100_000)
    verifier.verify(token)
    issuer.fail("status", status=503)
    clock.advance(301)
    assert verifier.verify(token)["sub"] == "user-1"  # stale, background refresh fails
    verifier.settle()
    assert issuer.request_count("jwks") == 2
    clock.advance(POLICY.stale_if_error - 2)
    assert verifier.verify(token)["sub"] == "user-1"
    verifier.settle()
    clock.advance(3)  # past fresh_until + stale_if_error
    with pytest.raises(HTTPStatusError, match="HTTP 503") as info:
        verifier.verify(token)
    assert info.value.status_code == 503
    # The cache kept its keys: once the issuer is back, the same set serves again.
    issuer.clear_faults()
    clock.advance(400)
    assert verifier.verify(token)["sub"] == "user-1"


def test_cold_start_failure_is_shared_and_backs_off(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A cold fetch failure raises keys-unavailable; retries wait for the backoff."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    issuer.fail("garbage")
    with pytest.raises(InvalidKeySetError, match="not valid JSON"):
        verifier.verify(issuer.token())
    with pytest.raises(InvalidKeySetError, match="not valid JSON"):
        verifier.verify(issuer.token())
    assert issuer.request_count("jwks") == 1  # inside the backoff: no new request
    issuer.clear_faults()
    clock.advance(1.0)
    assert verifier.verify(issuer.token())["sub"] == "user-1"
    assert issuer.request_count("jwks") == 2


@pytest.mark.parametrize(
    ("kind", "options", "error", "message"),
    [
        ("status", {"status": 500}, HTTPStatusError, "HTTP 500"),
        ("garbage", {}, InvalidKeySetError, "not valid JSON"),
        ("not_jwks", {}, InvalidKeySetError, "keys"),
        ("empty_keys", {}, InvalidKeySetError, "no usable verification key"),
        ("oversize", {"size": 3_000_000}, ResponseTooLargeError, "cap"),
        ("oversize_chunked", {"size": 3_000_000}, ResponseTooLargeError, "cap"),
        ("redirect", {"location": "http://127.0.0.1:1/x"}, FetchError, "redirect"),
        ("reset", {}, FetchError, "failed"),
        ("truncated", {}, FetchError, "failed"),
    ],
)
def test_fetch_faults_raise_keys_unavailable(
    make: Make,
    issuer: LocalIssuer,
    kind: str,
    options: dict[str, Any],
    error: type[KeySetUnavailableError],
    message: str,
) -> None:
    """Each fetch fault at cold start is the right KeySetUnavailableError naming the URL."""
    verifier = make(jwks_uri=issuer.jwks_uri)
    issuer.fail(kind, **options)
    with pytest.raises(error, match=message) as info:
        verifier.verify(issuer.token())
    assert info.value.url == issuer.jwks_uri


def test_size_cap_option(make: Make, issuer: LocalIssuer) -> None:
    """max_response_bytes caps the JWKS body."""
    verifier = make(jwks_uri=issuer.jwks_uri, max_response_bytes=50)
    with pytest.raises(ResponseTooLargeError, match="50-byte cap"):
        verifier.verify(issuer.token())


def test_timeout(make: Make, issuer: LocalIssuer) -> None:
    """A slow issuer is a FetchError after the timeout, not a hang."""
    verifier = make(jwks_uri=issuer.jwks_uri, timeout=0.2)
    issuer.fail("delay", delay=5.0)
    with pytest.raises(FetchError, match=r"timed out after 0\.2s"):
        verifier.verify(issuer.token())


def test_http_refused_when_https_required(issuer: LocalIssuer) -> None:
    """A plain-http issuer is refused at construction when https is required."""
    with pytest.raises(ConfigurationError, match="not https"):
        Verifier(issuer.issuer, audience=AUD)
    with pytest.raises(ConfigurationError, match="not https"):
        AsyncVerifier(issuer.issuer, audience=AUD, jwks_uri=issuer.jwks_uri)


def test_http_jwks_uri_from_discovery_refused(clock: FakeClock) -> None:
    """An https issuer whose discovery names a plain-http jwks_uri is refused."""
    with LocalIssuer(
        algorithms=("ES256",), clock=clock, advertised_issuer="https://idp.test"
    ) as local:
        inner = httpx.HTTPTransport()
        port = httpx.URL(local.base_url).port

        class ToLoopback(httpx.BaseTransport):
            """Send https://idp.test/... to the local issuer over plain http."""

            def handle_request(self, request: httpx.Request) -> httpx.Response:
                request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)
                return inner.handle_request(request)

            def close(self) -> None:
                inner.close()

        with httpx.Client(transport=ToLoopback()) as client:
            verifier = Verifier("https://idp.test", audience=AUD, http_client=client, clock=clock)
            with pytest.raises(DiscoveryError, match="not https"):
                verifier.verify(local.token())
            verifier.close()
            assert not client.is_closed  # the caller's client stays open
        assert local.request_count("jwks") == 0


@pytest.mark.parametrize(
    ("mint", "error", "message"),
    [
        (lambda i: i.token(expires_in=-120), ExpiredTokenError, "expired"),
        (lambda i: i.token({"nbf": i._clock() + 3600}), NotYetValidError, "not valid before"),
        (lambda i: i.token({"iss": "https://other"}), InvalidIssuerError, "iss"),
        (lambda i: i.token(audience="https://other-api"), InvalidAudienceError, "aud"),
        (lambda i: i.token(audience=None), MissingClaimError, "aud"),
        (lambda i: i.token({"exp": OMIT}), MissingClaimError, "exp"),
        (lambda i: i.token(header={"alg": "none"}), AlgorithmNotAllowedError, "none"),
        (lambda i: i.token(header={"alg": "HS256"}), AlgorithmNotAllowedError, "HS256"),
        (lambda i: i.token(header={"crit": ["exp"]}), MalformedTokenError, "crit"),
        (lambda i: i.token(signature=b"\x00" * 64), InvalidSignatureError, "does not verify"),
        (lambda i: i.token() + "x", MalformedTokenError, "signature"),
        (lambda i: "a.b", MalformedTokenError, "3 dot-separated segments"),
    ],
)
def test_token_rejections(
    make: Make,
    issuer: LocalIssuer,
    mint: Callable[[LocalIssuer], str],
    error: type[Exception],
    message: str,
) -> None:
    """Each kind of bad token raises its own InvalidTokenError subclass."""
    verifier = make()
    verifier.verify(issuer.token())
    with pytest.raises(error, match=message):
        verifier.verify(mint(issuer))


def test_token_type_checked(make: Make, issuer: LocalIssuer) -> None:
    """token_type requires the header typ (RFC 9068 at+jwt), with or without application/."""
    verifier = make(token_type="at+jwt")
    assert verifier.verify(issuer.token(header={"typ": "application/at+JWT"}))
    with pytest.raises(InvalidTokenTypeError, match="typ"):
        verifier.verify(issuer.token(header={"typ": "JWT"}))


def test_audience_none_disables_check(make: Make, issuer: LocalIssuer) -> None:
    """audience=None explicitly disables the audience check."""
    verifier = make(audience=None)
    assert verifier.verify(issuer.token(audience="anything"))["aud"] == "anything"


def test_audience_collection(make: Make, issuer: LocalIssuer) -> None:
    """Any configured audience may match any of the token's audiences."""
    verifier = make(audience=["a", "b"])
    assert verifier.verify(issuer.token(audience=["x", "b"]))
    with pytest.raises(InvalidAudienceError):
        verifier.verify(issuer.token(audience=["x", "y"]))


def test_kidless_token_tries_compatible_keys(make: Make, issuer: LocalIssuer) -> None:
    """A token without kid is verified against the keys compatible with its alg."""
    issuer.add_key("ES256")
    verifier = make()
    assert verifier.verify(issuer.token(include_kid=False))["sub"] == "user-1"


def test_algorithm_allowlist(make: Make, issuer: LocalIssuer) -> None:
    """An algorithm outside the allowlist is refused before any key lookup."""
    verifier = make(algorithms=["RS256"])
    with pytest.raises(AlgorithmNotAllowedError, match="ES256"):
        verifier.verify(issuer.token())
    assert issuer.request_count() == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"algorithms": ["HS256"]}, "only asymmetric"),
        ({"algorithms": ["none"]}, "only asymmetric"),
        ({"algorithms": []}, "must not be empty"),
        ({"algorithms": "RS256"}, "not a str"),
        ({"leeway": -1}, "leeway"),
        ({"audience": ""}, "audience"),
        ({"audience": 5}, "audience"),
        ({"timeout": 0}, "timeout"),
        ({"cache_policy": {"default_ttl": 1}}, "CachePolicy"),
        ({"token_type": ""}, "token_type"),
    ],
)
def test_configuration_errors(issuer: LocalIssuer, options: dict[str, Any], message: str) -> None:
    """Invalid options raise ConfigurationError at construction."""
    options.setdefault("audience", AUD)
    with pytest.raises(ConfigurationError, match=message):
        Verifier(issuer.issuer, require_https=False, **options)


def test_audience_is_required_keyword(issuer: LocalIssuer) -> None:
    """Omitting audience is a TypeError: it must be given, even as None."""
    with pytest.raises(TypeError):
        Verifier(issuer.issuer)  # type: ignore[call-arg]


def test_cache_policy_validation() -> None:
    """CachePolicy refuses negative, non-finite and inconsistent values."""
    with pytest.raises(ConfigurationError, match="min_ttl"):
        CachePolicy(min_ttl=100, max_ttl=10)
    with pytest.raises(ConfigurationError, match="finite"):
        CachePolicy(stale_if_error=float("inf"))
    with pytest.raises(ConfigurationError, match="number"):
        CachePolicy(default_ttl="5")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="refresh_ahead"):
        CachePolicy(refresh_ahead=1.0)


def test_kid_confirmed_absent_is_remembered(
    make: Make, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A kid a refresh confirmed absent costs no refresh for two cooldowns; others still do."""
    verifier = make()
    verifier.verify(issuer.token())
    clock.advance(30)
    with pytest.raises(KeyNotFoundError):
        verifier.verify(issuer.token(kid="ghost"))  # forces a refresh: still absent
    assert issuer.request_count("jwks") == 2
    clock.advance(30)  # the cooldown has passed, but "ghost" is remembered
    with pytest.raises(KeyNotFoundError):
        verifier.verify(issuer.token(kid="ghost"))
    assert issuer.request_count("jwks") == 2
    with pytest.raises(KeyNotFoundError):
        verifier.verify(issuer.token(kid="other"))  # a new kid may spend the refresh
    assert issuer.request_count("jwks") == 3
    clock.advance(60)  # two cooldowns after "ghost" was confirmed absent
    new_kid = issuer.add_key("ES256", kid="ghost")
    assert verifier.verify(issuer.token(kid=new_kid))["sub"] == "user-1"
    assert issuer.request_count("jwks") == 4


def test_key_bound_to_an_issuer_signs_only_for_it(make: Make, issuer: LocalIssuer) -> None:
    """A key published with a per-key issuer (Entra's {tenantid} template) verifies only
    tokens whose iss is that issuer for the token's tid."""
    template = issuer.issuer + "/{tenantid}"
    kid = issuer.add_key("ES256", jwk_extra={"issuer": template})
    verifier = make(audience=AUD)
    good = issuer.token({"iss": issuer.issuer + "/t1", "tid": "t1"}, kid=kid)
    tenant_verifier = make(issuer=issuer.issuer + "/t1", jwks_uri=issuer.jwks_uri)
    assert tenant_verifier.verify(good)["tid"] == "t1"
    # Same key, but the token claims the configured issuer rather than the key's one.
    with pytest.raises(InvalidIssuerError, match="is published for"):
        verifier.verify(issuer.token({"tid": "t1"}, kid=kid))
    with pytest.raises(InvalidIssuerError, match="is published for"):
        tenant_verifier.verify(issuer.token({"iss": issuer.issuer + "/t1"}, kid=kid))
