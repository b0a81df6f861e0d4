"""The public key layer (JWKSClient / AsyncJWKSClient) and the verified-token cache."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from jwks_client import (
    AsyncJWKSClient,
    AsyncVerifier,
    CachePolicy,
    ConfigurationError,
    ExpiredTokenError,
    HTTPStatusError,
    JWKSClient,
    KeyNotFoundError,
    Verifier,
)
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"


def test_get_key_without_alg(issuer: LocalIssuer, clock: FakeClock) -> None:
    """get_key(kid) finds the key of that kid whatever its algorithm; an unknown kid still
    fails, and a kid is required when no alg is given."""
    with JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys:
        kid = issuer.signing_kid()
        assert keys.get_key(kid).kid == kid
        assert keys.get_key(kid) is keys.get_key(kid, "ES256")
        with pytest.raises(KeyNotFoundError, match="no key for kid 'nope' in") as info:
            keys.get_key("nope")
        assert info.value.alg is None
        with pytest.raises(ConfigurationError, match="needs a kid"):
            keys.get_key(None)


def test_async_get_key_without_alg(issuer: LocalIssuer, clock: FakeClock) -> None:
    """The async twin's get_key(kid) works the same way."""

    async def run() -> str | None:
        async with AsyncJWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys:
            return (await keys.get_key(issuer.signing_kid())).kid

    assert asyncio.run(run()) == issuer.signing_kid()


def test_a_kid_refused_from_cache_says_so(issuer: LocalIssuer, clock: FakeClock) -> None:
    """An unknown kid refused without a request (within the cooldown) says it came from the
    cache; one refused after a refresh does not."""
    with JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys:
        keys.key_set()
        clock.advance(31)
        with pytest.raises(KeyNotFoundError) as after_refresh:
            keys.get_key("first", "ES256")
        assert "without a request" not in str(after_refresh.value)
        with pytest.raises(KeyNotFoundError, match="without a request"):
            keys.get_key("second", "ES256")
    assert issuer.request_count("jwks") == 2


def test_get_key_and_candidates(issuer: LocalIssuer, clock: FakeClock) -> None:
    """get_key returns the prepared key for a kid/alg; an unknown kid is KeyNotFoundError."""
    with JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys:
        kid = issuer.signing_kid()
        key = keys.get_key(kid, "ES256")
        assert (key.kid, key.kty, key.crv) == (kid, "EC", "P-256")
        assert keys.candidates("ES256", kid) == (key,)
        with pytest.raises(KeyNotFoundError, match="kid 'nope'") as info:
            keys.get_key("nope", "ES256")
        assert (info.value.kid, info.value.alg) == ("nope", "ES256")
        with pytest.raises(KeyNotFoundError):
            keys.get_key(kid, "RS256")  # right kid, wrong algorithm for the key
    assert issuer.request_count("jwks") == 1


def test_key_set_and_refresh(issuer: LocalIssuer, clock: FakeClock) -> None:
    """key_set fetches once; refresh revalidates (304 keeps the same ring) or fails loudly."""
    with JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys:
        ring = keys.key_set()
        assert ring.kids == {issuer.signing_kid()}
        assert keys.key_set() is ring
        assert keys.refresh() is ring  # 304 Not Modified
        assert issuer.request_count("jwks") == 2
        issuer.fail("status", status=500, times=1)
        with pytest.raises(HTTPStatusError):
            keys.refresh()
        assert keys.key_set() is ring  # nothing lost
        assert keys.state.failures == 1


def test_key_set_cold_failure(issuer: LocalIssuer, clock: FakeClock) -> None:
    """key_set on a cold cache raises the fetch error."""
    issuer.fail("status", status=404)
    with (
        JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys,
        pytest.raises(HTTPStatusError, match="HTTP 404"),
    ):
        keys.key_set()


def test_async_jwks_client(issuer: LocalIssuer, clock: FakeClock) -> None:
    """AsyncJWKSClient offers the same operations as coroutines."""

    async def main() -> None:
        async with AsyncJWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys:
            kid = issuer.signing_kid()
            assert (await keys.get_key(kid, "ES256")).kid == kid
            ring = await keys.key_set()
            assert await keys.refresh() is ring
            with pytest.raises(KeyNotFoundError):
                await keys.get_key("nope", "ES256")

    asyncio.run(main())
    assert issuer.request_count("jwks") == 2


def test_jwks_client_needs_a_source() -> None:
    """Neither jwks_uri nor issuer is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="jwks_uri is required"):
        JWKSClient()


def test_user_http_client_is_not_closed(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A caller's httpx.Client is used and left open."""
    with httpx.Client() as client:
        with JWKSClient(
            issuer.jwks_uri, http_client=client, require_https=False, clock=clock
        ) as keys:
            keys.key_set()
        assert not client.is_closed


def test_skipped_keys_are_logged(
    issuer: LocalIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Unusable keys are skipped with a warning naming the key and the reason."""
    issuer.add_key("ES256", kid="enc-key", jwk_extra={"use": "enc"})
    with (
        caplog.at_level(logging.WARNING, logger="jwks_client"),
        JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys,
    ):
        ring = keys.key_set()
    assert "enc-key" not in ring.kids
    messages = [r.getMessage() for r in caplog.records if r.name == "jwks_client"]
    assert any("enc-key" in m and "enc" in m for m in messages), messages


def test_failed_refresh_is_logged(
    issuer: LocalIssuer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed refresh logs a warning with the URL and the reason."""
    issuer.fail("status", status=502)
    with (
        caplog.at_level(logging.WARNING, logger="jwks_client"),
        JWKSClient(issuer.jwks_uri, require_https=False, clock=clock) as keys,
        pytest.raises(HTTPStatusError),
    ):
        keys.key_set()
    assert any("HTTP 502" in r.getMessage() for r in caplog.records)


# --- verified-token cache ---------------------------------------------------------------


def _verifier(issuer: LocalIssuer, clock: FakeClock, size: int = 16) -> Verifier:
    return Verifier(
        issuer.issuer,
        audience=AUD,
        require_https=False,
        clock=clock,
        verified_token_cache_size=size,
        cache_policy=CachePolicy(refresh_cooldown=30),
    )


def test_token_cache_hit_skips_signature_check(
    issuer: LocalIssuer, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A remembered token is served without parsing or a signature check."""
    token = issuer.token()
    with _verifier(issuer, clock) as verifier:
        first = verifier.verify(token)
        from jwks_client import _checker

        def refuse(*_: object, **__: object) -> object:
            raise AssertionError("parsed or signature checked on a cache hit")

        monkeypatch.setattr(_checker, "verify_parsed", refuse)
        monkeypatch.setattr(_checker.HeaderMemo, "parse", refuse)
        second = verifier.verify(token)
        assert second == first
        second["sub"] = "mallory"  # a caller mutating its copy changes nothing cached
        assert verifier.verify(token)["sub"] == "user-1"


def test_token_cache_still_checks_time(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A remembered token is rejected once it expires (claims checked on every call)."""
    token = issuer.token(expires_in=100)
    with _verifier(issuer, clock) as verifier:
        verifier.verify(token)
        clock.advance(100 + 61)
        with pytest.raises(ExpiredTokenError):
            verifier.verify(token)


def test_token_cache_invalidated_when_key_leaves(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A key rotated out of the JWKS invalidates the tokens it verified."""
    old_kid = issuer.signing_kid()
    token = issuer.token(expires_in=10_000)
    with _verifier(issuer, clock) as verifier:
        verifier.verify(token)
        issuer.rotate("ES256")
        issuer.remove_key(old_kid)
        clock.advance(301)
        verifier.verify(token)  # stale set serves once while it refreshes in background
        verifier.jwks_client.join_background()
        with pytest.raises(KeyNotFoundError):
            verifier.verify(token)


def test_token_cache_bounded(issuer: LocalIssuer, clock: FakeClock) -> None:
    """The cache holds at most its size; a bad cache size is refused."""
    with _verifier(issuer, clock, size=2) as verifier:
        for _ in range(5):
            verifier.verify(issuer.token())
        assert verifier._checker.cached_tokens() == 2
    with pytest.raises(ConfigurationError, match="verified_token_cache_size"):
        _verifier(issuer, clock, size=-1)


def test_token_cache_async(issuer: LocalIssuer, clock: FakeClock) -> None:
    """The AsyncVerifier's cache serves hits and rechecks expiry."""

    async def main() -> None:
        async with AsyncVerifier(
            issuer.issuer,
            audience=AUD,
            require_https=False,
            clock=clock,
            verified_token_cache_size=8,
        ) as verifier:
            token = issuer.token(expires_in=100)
            assert (await verifier.verify(token)) == (await verifier.verify(token))
            assert verifier._checker.cached_tokens() == 1
            clock.advance(200)
            with pytest.raises(ExpiredTokenError):
                await verifier.verify(token)

    asyncio.run(main())


def test_http_client_created_lazily_and_closed(issuer: LocalIssuer, clock: FakeClock) -> None:
    """No HTTP client is built until a fetch; an owned one is closed by close()."""
    first = JWKSClient(issuer.jwks_uri, require_https=False, clock=clock)
    first.key_set()
    second = JWKSClient(issuer.jwks_uri, require_https=False, clock=clock)
    assert second.key_set() is first.key_set()  # the shared store: no fetch, no client
    assert second._http is None
    owned = first._http
    assert owned is not None and not owned.is_closed
    first.close()
    second.close()
    assert first.closed and second.closed and owned.is_closed
    assert issuer.request_count("jwks") == 1
