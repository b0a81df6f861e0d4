"""The pure HTTP edges: URLs, requests, response reading and the refresh flow, no I/O."""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any

import httpx
import pytest

from jwks_client._errors import (
    ConfigurationError,
    DiscoveryError,
    FetchError,
    HTTPStatusError,
    InvalidKeySetError,
    ResponseTooLargeError,
)
from jwks_client._http import (
    ACCEPT_JWKS,
    USER_AGENT,
    BodyLimit,
    Fetched,
    FetchPlan,
    NotModified,
    RawResponse,
    build_request,
    check_url,
    discovery_urls,
    read_discovery,
    read_jwks,
    refresh_flow,
)
from jwks_client._types import CachePolicy

from .keyfactory import ECSigner

POLICY = CachePolicy()
ISSUER = "https://idp.example.com"
JWKS = {"keys": [ECSigner("k1").jwk()]}


def raw(
    url: str,
    status: int = 200,
    body: Any = None,
    headers: dict[str, str] | None = None,
    at: float = 1000.0,
) -> RawResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawResponse(
        url=url, status_code=status, headers=httpx.Headers(headers or {}), body=data, received_at=at
    )


def plan(**changes: Any) -> FetchPlan:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "jwks_uri": None,
        "stale_jwks_uri": None,
        "etag": None,
        "last_modified": None,
        "force": False,
        "require_https": True,
        "timeout": 5.0,
        "policy": POLICY,
    }
    values.update(changes)
    return FetchPlan(**values)


def drive(
    flow: Generator[httpx.Request, RawResponse, Any], answers: dict[str, Any]
) -> tuple[Any, list[httpx.Request]]:
    """Run a flow against canned answers: RawResponse, or an exception to throw in."""
    sent: list[httpx.Request] = []
    try:
        request = next(flow)
        for _ in range(10):
            sent.append(request)
            answer = answers[str(request.url)]
            is_error = isinstance(answer, Exception)
            request = flow.throw(answer) if is_error else flow.send(answer)
        raise AssertionError("flow did not finish")
    except StopIteration as stop:
        return stop.value, sent


@pytest.mark.parametrize(
    ("issuer", "openid", "oauth"),
    [
        (
            "https://idp.example.com",
            "https://idp.example.com/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server",
        ),
        (
            "https://idp.example.com/",
            "https://idp.example.com/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server",
        ),
        (
            "https://idp.example.com/tenant/v2.0",
            "https://idp.example.com/tenant/v2.0/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server/tenant/v2.0",
        ),
    ],
)
def test_discovery_urls_are_path_aware(issuer: str, openid: str, oauth: str) -> None:
    """OIDC appends the well-known path; RFC 8414 inserts it before the issuer's path."""
    assert discovery_urls(issuer) == (openid, oauth)


@pytest.mark.parametrize(
    ("url", "require_https", "message"),
    [
        ("http://idp.example.com", True, "not https"),
        ("ftp://idp.example.com", False, "absolute http"),
        ("/relative", False, "absolute http"),
        ("https://user:pw@idp.example.com", True, "credentials"),
        ("https://idp.example.com/#frag", True, "fragment"),
        ("", True, "non-empty"),
    ],
)
def test_check_url_refuses(url: str, require_https: bool, message: str) -> None:
    """Non-absolute, non-http(s), credentialed, fragment and (by default) http URLs are refused."""
    with pytest.raises(ConfigurationError, match=message):
        check_url(url, require_https=require_https, what="issuer")


def test_check_url_allows_http_when_told() -> None:
    """require_https=False allows plain http (e.g. an issuer on loopback)."""
    assert check_url("http://127.0.0.1:8080/x", require_https=False, what="issuer")


def test_build_request_headers() -> None:
    """Requests carry Accept, User-Agent, validators, no-cache when forced, and the timeout."""
    request = build_request(
        "https://x/jwks", accept=ACCEPT_JWKS, timeout=2.5, etag='"e"', last_modified="L", force=True
    )
    assert request.headers["accept"] == "application/jwk-set+json, application/json"
    assert request.headers["user-agent"] == USER_AGENT
    assert request.headers["if-none-match"] == '"e"'
    assert request.headers["if-modified-since"] == "L"
    assert request.headers["cache-control"] == "no-cache"
    assert request.extensions["timeout"]["read"] == 2.5
    plain = build_request("https://x/jwks", accept=ACCEPT_JWKS, timeout=1)
    assert "if-none-match" not in plain.headers and "cache-control" not in plain.headers


def test_read_discovery_ok_and_mismatch() -> None:
    """The document's issuer must equal the configured issuer exactly."""
    doc = {"issuer": ISSUER, "jwks_uri": "https://idp.example.com/jwks"}
    found = read_discovery(
        raw("https://d", body=doc, headers={"cache-control": "max-age=120"}),
        issuer=ISSUER,
        require_https=True,
        policy=POLICY,
    )
    assert found.jwks_uri == "https://idp.example.com/jwks"
    assert found.fresh_until == 1120.0
    with pytest.raises(DiscoveryError, match=r"expected exactly 'https://idp\.example\.com/'"):
        read_discovery(
            raw("https://d", body=doc), issuer=ISSUER + "/", require_https=True, policy=POLICY
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        ([1, 2], "not a JSON object"),
        ({"issuer": ISSUER}, "no jwks_uri"),
        ({"issuer": ISSUER, "jwks_uri": 5}, "no jwks_uri"),
        ({"issuer": ISSUER, "jwks_uri": "http://idp.example.com/jwks"}, "not https"),
    ],
)
def test_read_discovery_rejects_bad_documents(body: Any, message: str) -> None:
    """Bad discovery documents raise DiscoveryError naming the problem."""
    with pytest.raises(DiscoveryError, match=message):
        read_discovery(
            raw("https://d", body=body), issuer=ISSUER, require_https=True, policy=POLICY
        )


def test_read_jwks_statuses() -> None:
    """200 parses, 304 only when conditional, redirects name the Location, others are errors."""
    ring, freshness = read_jwks(raw("https://j", body=JWKS), conditional=False, policy=POLICY)
    assert ring is not None and ring.kids == frozenset({"k1"})
    assert freshness.source == "default"
    ring, _ = read_jwks(raw("https://j", status=304, body=b""), conditional=True, policy=POLICY)
    assert ring is None
    with pytest.raises(HTTPStatusError, match="HTTP 304") as info:
        read_jwks(raw("https://j", status=304, body=b""), conditional=False, policy=POLICY)
    assert info.value.status_code == 304
    with pytest.raises(FetchError, match="redirect to 'http://evil/jwks'"):
        read_jwks(
            raw("https://j", status=302, body=b"", headers={"location": "http://evil/jwks"}),
            conditional=False,
            policy=POLICY,
        )
    with pytest.raises(HTTPStatusError, match="HTTP 503") as info:
        read_jwks(raw("https://j", status=503, body=b""), conditional=False, policy=POLICY)
    assert info.value.url == "https://j"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "not valid JSON"),
        (b"[]", "not a JSON object"),
        ({"hello": 1}, "keys"),
        ({"keys": []}, "no usable verification key"),
        ({"keys": [{"kty": "oct", "k": "AAAA"}]}, "no usable verification key"),
    ],
)
def test_read_jwks_rejects_unusable_sets(body: Any, message: str) -> None:
    """Garbage, non-JWKS and sets without a usable key are InvalidKeySetError."""
    with pytest.raises(InvalidKeySetError, match=message):
        read_jwks(raw("https://j", body=body), conditional=False, policy=POLICY)


def test_body_limit() -> None:
    """The body cap trips on a declared Content-Length and on streamed bytes."""
    with pytest.raises(ResponseTooLargeError) as info:
        BodyLimit("https://j", 10, "11")
    assert info.value.limit == 10
    limit = BodyLimit("https://j", 10, "garbage")
    limit.feed(b"12345")
    limit.feed(b"67890")
    assert limit.body() == b"1234567890"
    with pytest.raises(ResponseTooLargeError, match="10-byte cap"):
        limit.feed(b"x")


def test_flow_discovers_then_fetches() -> None:
    """The flow fetches the OIDC document, then the JWKS it names."""
    answers = {
        f"{ISSUER}/.well-known/openid-configuration": raw(
            "d", body={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"}
        ),
        f"{ISSUER}/keys": raw(f"{ISSUER}/keys", body=JWKS, headers={"etag": '"a"'}),
    }
    result, sent = drive(refresh_flow(plan()), answers)
    assert isinstance(result, Fetched)
    assert result.jwks_uri == f"{ISSUER}/keys"
    assert result.freshness.etag == '"a"'
    assert result.discovered is not None and result.discovered.jwks_uri == f"{ISSUER}/keys"
    assert [str(r.url) for r in sent] == list(answers)


def test_flow_falls_back_to_rfc8414_on_404() -> None:
    """A 404 for the OIDC document falls back to the RFC 8414 location."""
    oidc, oauth = discovery_urls(ISSUER)
    answers = {
        oidc: raw(oidc, status=404, body=b""),
        oauth: raw(oauth, body={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"}),
        f"{ISSUER}/keys": raw(f"{ISSUER}/keys", body=JWKS),
    }
    result, sent = drive(refresh_flow(plan()), answers)
    assert isinstance(result, Fetched)
    assert len(sent) == 3


def test_flow_discovery_errors() -> None:
    """No document at either location, or a 500, is a DiscoveryError; no JWKS is fetched."""
    oidc, oauth = discovery_urls(ISSUER)
    answers = {oidc: raw(oidc, status=404, body=b""), oauth: raw(oauth, status=404, body=b"")}
    with pytest.raises(DiscoveryError, match="tried OpenID Connect and RFC 8414"):
        drive(refresh_flow(plan()), answers)
    with pytest.raises(DiscoveryError, match="HTTP 500"):
        drive(refresh_flow(plan()), {oidc: raw(oidc, status=500, body=b"")})
    with pytest.raises(FetchError, match="down"):
        drive(refresh_flow(plan()), {oidc: FetchError("down", url=oidc)})


def test_flow_uses_stale_jwks_uri_when_discovery_fails() -> None:
    """A failing discovery falls back to the JWKS URL discovered before, with validators."""
    oidc, _ = discovery_urls(ISSUER)
    answers = {
        oidc: raw(oidc, status=500, body=b""),
        f"{ISSUER}/keys": raw(f"{ISSUER}/keys", status=304, body=b""),
    }
    result, sent = drive(refresh_flow(plan(stale_jwks_uri=f"{ISSUER}/keys", etag='"a"')), answers)
    assert isinstance(result, NotModified)
    assert sent[1].headers["if-none-match"] == '"a"'


def test_flow_drops_validators_when_jwks_uri_changes() -> None:
    """Validators of the old JWKS URL are not sent to a newly discovered one."""
    oidc, _ = discovery_urls(ISSUER)
    answers = {
        oidc: raw(oidc, body={"issuer": ISSUER, "jwks_uri": f"{ISSUER}/new"}),
        f"{ISSUER}/new": raw(f"{ISSUER}/new", body=JWKS),
    }
    result, sent = drive(
        refresh_flow(plan(stale_jwks_uri=f"{ISSUER}/old", etag='"a"', last_modified="L")), answers
    )
    assert isinstance(result, Fetched)
    assert "if-none-match" not in sent[1].headers
    assert "if-modified-since" not in sent[1].headers


def test_flow_fixed_jwks_uri_refuses_http_at_runtime() -> None:
    """A fixed plain-http jwks_uri is refused without a request when https is required."""
    flow = refresh_flow(plan(issuer=None, jwks_uri="http://x/jwks"))
    with pytest.raises(FetchError, match="refusing to fetch"):
        next(flow)


def test_flow_forced_sends_no_cache() -> None:
    """A forced refresh (unknown kid) asks caches not to answer from storage."""
    flow = refresh_flow(plan(issuer=None, jwks_uri="https://x/jwks", force=True))
    request = next(flow)
    assert request.headers["cache-control"] == "no-cache"


def test_body_limit_decodes_gzip_in_bounded_steps() -> None:
    """A gzip body is decoded; a bomb stops at the cap without inflating past it."""
    import gzip

    limit = BodyLimit("https://j", 100, None, "gzip")
    payload = gzip.compress(b'{"keys": []}')
    limit.feed(payload[:5])
    limit.feed(payload[5:])
    assert limit.body() == b'{"keys": []}'
    bomb = gzip.compress(b"\0" * 5_000_000)
    capped = BodyLimit("https://j", 1000, str(len(bomb)), "gzip")
    with pytest.raises(ResponseTooLargeError, match="1000-byte cap"):
        capped.feed(bomb)
    assert sum(len(c) for c in capped._chunks) <= 1000


def test_body_limit_refuses_bad_or_unknown_codings() -> None:
    """Corrupt compressed data and codings other than gzip/deflate are FetchError."""
    import zlib

    with pytest.raises(FetchError, match="unsupported content coding 'br'"):
        BodyLimit("https://j", 100, None, "br")
    corrupt = BodyLimit("https://j", 100, None, "gzip")
    with pytest.raises(FetchError, match="not valid compressed data"):
        corrupt.feed(b"not gzip at all")
    deflate = BodyLimit("https://j", 100, None, "deflate")
    deflate.feed(zlib.compress(b"{}"))
    assert deflate.body() == b"{}"
    assert BodyLimit("https://j", 10, None, " Identity ").body() == b""


def test_requests_ask_for_identity_coding() -> None:
    """Requests ask for an uncompressed body."""
    request = build_request("https://x/jwks", accept=ACCEPT_JWKS, timeout=1)
    assert request.headers["accept-encoding"] == "identity"
