"""The framework-free request pieces: URLs, client certificates, offers, nonces, settings."""

from __future__ import annotations

import base64

import pytest

from jwks_client import (
    DEFAULT_ALGORITHMS,
    ConfigurationError,
    DPoP,
    MemoryReplayStore,
    Verifier,
)
from jwks_client.integrations import InsufficientScopeError, challenge_for, www_authenticate
from jwks_client.integrations._common import (
    IntegrationSettings,
    addressed_url,
    asgi_client_cert,
    check_base_url,
    header_client_cert,
    integration_settings,
    is_dpop_bound,
    missing_challenge,
    require_scopes,
    settings_options,
    success_headers,
)
from jwks_client.testing import ClientCertificate

ALGS = " ".join(sorted(DEFAULT_ALGORITHMS))
SECRET = "a nonce secret of at least 16 bytes"


def verifier(dpop: DPoP | None) -> Verifier:
    """A verifier that fetches nothing here (no token is verified)."""
    return Verifier(
        "https://idp.example", audience="a", jwks_uri="https://idp.example/jwks", dpop=dpop
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://api.example.com", "https://api.example.com"),
        ("https://api.example.com/", "https://api.example.com"),
        ("http://API.example.com:8080/v1/", "http://API.example.com:8080/v1"),
        (None, None),
    ],
)
def test_check_base_url_accepts_absolute_http_urls(given: str | None, expected: str | None) -> None:
    """An absolute http(s) URL is kept, without its trailing slashes."""
    assert check_base_url(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "/v1",
        "api.example.com",
        "ftp://x.example",
        "https://x.example/v1?x=1",
        "https://x.example/#top",
        "https://user@x.example",
        "https:///v1",
        "https://x.example/a b",
        b"https://x.example",
    ],
)
def test_check_base_url_refuses_the_rest(given: object) -> None:
    """Relative URLs, other schemes, queries, fragments, userinfo, spaces and bytes are
    refused."""
    with pytest.raises(ConfigurationError, match="base_url"):
        check_base_url(given)  # type: ignore[arg-type]


def test_addressed_url() -> None:
    """Without a base URL the framework's URL; with one, the base and the path below the
    root (or the given path), without query or fragment."""
    url = "http://internal:8000/svc/items/7?x=1"
    root = "http://internal:8000/svc/"
    assert addressed_url(url, base_url=None, path="/items/7", root=root) == url
    base = "https://api.example.com/v1"
    assert addressed_url(url, base_url=base, path="/ignored", root=root) == base + "/items/7"
    other_root = "http://elsewhere/"
    assert addressed_url(url, base_url=base, path="/items/7", root=other_root) == (
        base + "/items/7"
    )
    assert addressed_url("", base_url=base, path="/a%20b#f") == base + "/a%20b"


def test_asgi_client_cert_reads_the_first_of_the_chain() -> None:
    """The tls extension's first certificate; None for every other shape."""
    pem = ClientCertificate().pem
    chain = {"extensions": {"tls": {"client_cert_chain": [pem, "issuer"]}}}
    assert asgi_client_cert(chain) == pem
    for scope in (
        {},
        {"extensions": None},
        {"extensions": {"tls": None}},
        {"extensions": {"tls": {"client_cert_chain": []}}},
        {"extensions": {"tls": {"client_cert_chain": [b"pem"]}}},
        {"extensions": {"tls": {"client_cert_chain": [""]}}},
    ):
        assert asgi_client_cert(scope) is None, scope


def test_header_client_cert_reads_one_byte_sequence() -> None:
    """One ``:base64:`` field gives the DER; none, two, or a malformed one gives None."""
    cert = ClientCertificate()
    assert header_client_cert([cert.header_value]) == cert.der
    assert header_client_cert([f" {cert.header_value}\t"]) == cert.der
    encoded = base64.b64encode(cert.der).decode()
    for values in (
        [],
        [cert.header_value, cert.header_value],
        [encoded],
        [f":{encoded}"],
        ["::"],
        [f":{encoded.replace('A', '*', 1)}:"],
        [f":{encoded[:-2]}=:"] if encoded.endswith("==") else [f":{encoded}x:"],
        [f":{base64.urlsafe_b64encode(b'??>>').decode()}:"],
    ):
        assert header_client_cert(values) is None, values


def test_is_dpop_bound() -> None:
    """Only a cnf object with jkt is DPoP-bound."""
    assert is_dpop_bound({"cnf": {"jkt": "x"}})
    assert not is_dpop_bound({"cnf": {"x5t#S256": "x"}})
    assert not is_dpop_bound({"cnf": "jkt"})
    assert not is_dpop_bound({})


def test_success_headers_offer_the_next_nonce_to_dpop_clients() -> None:
    """A DPoP-bound token's answer gets DPoP-Nonce when nonces are on; nothing else does."""
    bound = {"cnf": {"jkt": "x"}}
    with verifier(DPoP(nonce_secret=SECRET, replay_store=MemoryReplayStore())) as nonces:
        assert success_headers(nonces, bound) == (("DPoP-Nonce", nonces.dpop_nonce()),)
        assert success_headers(nonces, {"sub": "bearer"}) == ()
    with verifier(DPoP()) as plain:
        assert success_headers(plain, bound) == ()


@pytest.mark.parametrize(
    ("dpop", "expected"),
    [
        (None, 'Bearer realm="api"'),
        (DPoP(), f'Bearer realm="api", DPoP realm="api", algs="{ALGS}"'),
        (
            DPoP(required=True, algorithms=["ES256", "EdDSA"]),
            'DPoP realm="api", algs="ES256 EdDSA"',
        ),
    ],
)
def test_missing_challenge_offers_what_the_verifier_accepts(
    dpop: DPoP | None, expected: str
) -> None:
    """No credentials: 401 with the challenge of every accepted scheme, no error."""
    with verifier(dpop) as made:
        challenge = missing_challenge(made, realm="api")
    assert (challenge.status, challenge.error) == (401, None)
    assert challenge.header_dict() == {"WWW-Authenticate": expected}


def test_scope_challenge_names_the_scheme_used() -> None:
    """The 403 error goes in the challenge of the token's scheme; without a verifier, or
    with DPoP off, there is only the Bearer challenge."""
    bound = {"cnf": {"jkt": "x"}, "scope": "read"}
    with verifier(DPoP(algorithms=["ES256"])) as made:
        with pytest.raises(InsufficientScopeError) as dpop_caught:
            require_scopes(bound, ("write",), verifier=made)
        with pytest.raises(InsufficientScopeError) as bearer_caught:
            require_scopes({"scope": "read"}, ("write",), verifier=made)
    error = 'error="insufficient_scope", error_description="the token lacks the scope write"'
    assert challenge_for(dpop_caught.value, realm=None).header_dict()["WWW-Authenticate"] == (
        f'Bearer, DPoP {error}, scope="write", algs="ES256"'
    )
    assert challenge_for(bearer_caught.value, realm=None).header_dict()["WWW-Authenticate"] == (
        f'Bearer {error}, scope="write", DPoP algs="ES256"'
    )
    with pytest.raises(InsufficientScopeError) as legacy:
        require_scopes(bound, ("write",))
    assert challenge_for(legacy.value, realm="r").header_dict()["WWW-Authenticate"] == (
        f'Bearer realm="r", {error}, scope="write"'
    )


def test_www_authenticate_builds_dpop_challenges() -> None:
    """scheme and algs make a DPoP challenge; a bare scheme stands alone."""
    assert www_authenticate(None, scheme="DPoP") == "DPoP"
    assert www_authenticate("api", scheme="DPoP", algs=["ES256"], error="invalid_token") == (
        'DPoP realm="api", error="invalid_token", algs="ES256"'
    )


def test_integration_settings_read_the_request_keys() -> None:
    """BASE_URL, TRUST_CLIENT_CERT_HEADER and REALM are read beside the verifier options;
    settings_options still gives the options and the realm."""
    settings = {
        "ISSUER": "i",
        "AUDIENCE": "a",
        "DPOP": None,
        "REALM": "shop",
        "BASE_URL": "https://x.example/v1/",
        "TRUST_CLIENT_CERT_HEADER": True,
    }
    assert integration_settings(settings, source="S") == IntegrationSettings(
        {"issuer": "i", "audience": "a", "dpop": None}, "shop", "https://x.example/v1", True
    )
    assert settings_options(settings, source="S") == (
        {"issuer": "i", "audience": "a", "dpop": None},
        "shop",
    )
    defaults = integration_settings({"ISSUER": "i", "AUDIENCE": "a"}, source="S")
    assert (defaults.realm, defaults.base_url, defaults.trust_client_cert_header) == (
        "api",
        None,
        False,
    )
    with pytest.raises(ConfigurationError, match=r"known: .*BASE_URL.*TRUST_CLIENT_CERT_HEADER"):
        integration_settings({"ISSUER": "i", "AUDIENCE": "a", "BASEURL": "x"}, source="S")
    with pytest.raises(ConfigurationError, match="trust_client_cert_header must be a bool"):
        integration_settings(
            {"ISSUER": "i", "AUDIENCE": "a", "TRUST_CLIENT_CERT_HEADER": "yes"}, source="S"
        )
