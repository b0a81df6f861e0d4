"""The README's Python examples run as written.

The examples name real-looking hosts (``idp.example.com``, ``login.microsoftonline.com``);
here those hosts are local issuers on 127.0.0.1: httpx clients without a transport of their
own, and those the library owns (their transport wrapped), get a transport that sends
each example host to its LocalIssuer, which advertises the example URLs in its discovery
document. Nothing else is changed in the examples.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import functools
import hashlib
import importlib
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jwks_client._transport import AsyncOwnedTransport, OwnedTransport
from jwks_client.testing import DPoPKey, LocalIssuer, reset_key_stores

from .keyfactory import b64url

README = Path(__file__).parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
IDP = "https://idp.example.com/"
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
ENTRA = f"https://login.microsoftonline.com/{TENANT}/v2.0"


def block(first_line: str) -> str:
    """The README example whose first line starts with ``first_line``."""
    found = [b for b in BLOCKS if b.lstrip().startswith(first_line)]
    assert len(found) == 1, first_line
    return found[0]


class _Route:
    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports

    def rewrite(self, request: httpx.Request) -> None:
        port = self.ports[request.url.host]
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=port)


class _SyncRoute(_Route, httpx.BaseTransport):
    def __init__(self, ports: dict[str, int], inner: httpx.BaseTransport | None) -> None:
        super().__init__(ports)
        # The client's own transport (the one the library gives the clients it owns).
        self.inner = inner if inner is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.rewrite(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class _AsyncRoute(_Route, httpx.AsyncBaseTransport):
    def __init__(self, ports: dict[str, int], inner: httpx.AsyncBaseTransport | None) -> None:
        super().__init__(ports)
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.rewrite(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, LocalIssuer]]:
    """Local issuers standing in for the README's hosts, reached through httpx."""
    reset_key_stores()  # the examples use the real clock and the same issuer URLs
    idp = LocalIssuer(
        algorithms=("RS256",),
        advertised_issuer=IDP,
        jwks_path="/.well-known/jwks.json",
        advertised_jwks_uri=IDP + ".well-known/jwks.json",
    )
    entra = LocalIssuer(
        algorithms=("RS256",),
        path=f"/{TENANT}/v2.0",
        advertised_issuer=ENTRA,
        advertised_jwks_uri=f"{ENTRA}/jwks",
    )
    with idp, entra:
        ports = {
            "idp.example.com": httpx.URL(idp.base_url).port,
            "login.microsoftonline.com": httpx.URL(entra.base_url).port,
        }
        real_client, real_async = httpx.Client, httpx.AsyncClient

        class RoutedClient(real_client):  # type: ignore[misc,valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                given = kwargs.get("transport")
                if given is None or isinstance(given, OwnedTransport):
                    kwargs["transport"] = _SyncRoute(ports, given)
                super().__init__(*args, **kwargs)

        class RoutedAsyncClient(real_async):  # type: ignore[misc,valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                given = kwargs.get("transport")
                if given is None or isinstance(given, AsyncOwnedTransport):
                    kwargs["transport"] = _AsyncRoute(ports, given)
                super().__init__(*args, **kwargs)

        client, async_client = RoutedClient, RoutedAsyncClient
        monkeypatch.setattr(httpx, "Client", client)
        monkeypatch.setattr(httpx, "AsyncClient", async_client)
        yield {"idp": idp, "entra": entra}


def _idp_token(hosts: dict[str, LocalIssuer], **claims: Any) -> str:
    return hosts["idp"].token({"iss": IDP, **claims})


def _test_client() -> Any:
    with warnings.catch_warnings():
        # Starlette's TestClient prefers the httpx2 package and warns when it falls back
        # to httpx, which is what this environment has.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient


def test_every_example_compiles() -> None:
    """Every Python block of the README is valid Python (top-level await allowed)."""
    assert len(BLOCKS) >= 12
    for source in BLOCKS:
        compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)


def test_quick_start(hosts: dict[str, LocalIssuer]) -> None:
    """The quick start's handler answers 200 for a good token and 401 for a bad one."""
    namespace: dict[str, Any] = {}
    exec(block("from jwks_client import Verifier, InvalidTokenError"), namespace)

    class Request:
        def __init__(self, token: str) -> None:
            self.headers = {"Authorization": f"Bearer {token}"}

    handle = namespace["handle"]
    assert handle(Request(_idp_token(hosts, sub="alice"))) == (200, "hello alice")
    status, message = handle(Request(_idp_token(hosts, aud="other")))
    assert status == 401 and "aud" in message
    # The snapshot example, run against the quick start's verifier.
    namespace["SNAPSHOT_KEY"] = b"a secret of the deployment"
    exec(block("snapshot = verifier.jwks_client.export_snapshot"), namespace)
    assert namespace["snapshot"]["mac"]
    namespace["verifier"].close()


def test_async_quick_start(hosts: dict[str, LocalIssuer]) -> None:
    """The async example verifies a token inside `async with`."""
    namespace: dict[str, Any] = {"token": _idp_token(hosts)}
    code = compile(
        block("from jwks_client import AsyncVerifier"),
        "README.md",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
    )
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    assert namespace["claims"]["iss"] == IDP


def test_key_layer_example(hosts: dict[str, LocalIssuer]) -> None:
    """The JWKSClient example finds kid 'abc' and verifies a signature with it."""
    idp = hosts["idp"]
    idp.add_key("RS256", kid="abc")
    token = idp.token(kid="abc")
    head, _, signature = token.rpartition(".")
    namespace: dict[str, Any] = {
        "signing_input": head.encode(),
        "signature": base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)),
    }
    exec(block("from jwks_client import JWKSClient"), namespace)
    assert namespace["ok"] is True


def test_fleet_example(
    hosts: dict[str, LocalIssuer],
    redis_server: Any,
    redis_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fleet example verifies through a real Redis; a second process adopts the set."""
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    for expected_fetches in (1, 1):  # the second "process" reads what the first published
        namespace: dict[str, Any] = {
            "token": _idp_token(hosts, sub="fleet"),
            "FLEET_KEY": b"0123456789abcdef0123456789abcdef",
        }
        exec(block("import os\n\nimport redis"), namespace)
        assert namespace["claims"]["sub"] == "fleet"
        namespace["verifier"].close()
        assert hosts["idp"].request_count("jwks") == expected_fetches
        reset_key_stores()  # a new process: nothing in memory


def test_multi_issuer_example(hosts: dict[str, LocalIssuer]) -> None:
    """The Entra tenant-template example accepts a token of an allowed tenant."""
    token = hosts["entra"].token({"iss": ENTRA}, audience="api://my-api")
    namespace: dict[str, Any] = {"token": token}
    exec(block("from jwks_client import MultiIssuerVerifier"), namespace)
    assert namespace["claims"]["iss"] == ENTRA
    namespace["verifier"].close()


def test_event_hook_example(
    hosts: dict[str, LocalIssuer], capsys: pytest.CaptureFixture[str]
) -> None:
    """The event-hook example builds a verifier whose hook hears fetches."""
    namespace: dict[str, Any] = {}
    exec(block("from jwks_client import Event, KeySetRotated, Verifier"), namespace)
    verifier = namespace["verifier"]
    assert verifier.verify(_idp_token(hosts, aud="api"))["aud"] == "api"
    verifier.close()


def test_sender_constrained_example(hosts: dict[str, LocalIssuer]) -> None:
    """The verify_request handler accepts a DPoP-bound token with its proof and a
    certificate-bound one with its certificate, and answers a replay, a downgrade and a
    missing token with the right challenge."""
    namespace: dict[str, Any] = {}
    exec(block("from jwks_client import DPoP, InvalidTokenError"), namespace)
    handle = namespace["handle"]
    key = DPoPKey()
    token = _idp_token(hosts, sub="dora", cnf={"jkt": key.thumbprint})
    url = "https://api.example.com/orders/7"
    proof = key.proof("POST", url, token, now=time.time())
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert handle("POST", url + "?confirm=1", headers) == (200, {}, {"sub": "dora"})
    status, answer, _ = handle("POST", url, headers)  # the same proof again
    assert status == 401
    assert 'error="invalid_dpop_proof"' in answer["WWW-Authenticate"]
    status, answer, _ = handle("POST", url, {"Authorization": f"Bearer {token}"})
    assert status == 401
    assert answer["WWW-Authenticate"].startswith('Bearer realm="api", error="invalid_token"')
    status, answer, _ = handle("GET", url, {})
    assert (status, answer["WWW-Authenticate"].split(", ")[0]) == (401, 'Bearer realm="api"')
    der = b"a client certificate's DER encoding stands in here"
    bound = _idp_token(hosts, sub="eve", cnf={"x5t#S256": b64url(hashlib.sha256(der).digest())})
    bearer = {"Authorization": f"Bearer {bound}"}
    assert handle("GET", url, bearer, client_cert=der)[0] == 200
    assert handle("GET", url, bearer)[0] == 401
    namespace["verifier"].close()


def test_nonce_example(hosts: dict[str, LocalIssuer]) -> None:
    """The nonce example asks for a nonce, then accepts the proof carrying it and offers
    the current nonce."""
    namespace: dict[str, Any] = {"NONCE_SECRET": b"a secret of the deployment, 32 B"}
    exec(block("from jwks_client import DPoP, UseDPoPNonceError, Verifier"), namespace)
    handle = namespace["handle_with_nonce"]
    key = DPoPKey()
    token = _idp_token(hosts, cnf={"jkt": key.thumbprint})
    url = "https://api.example.com/items"

    def request(nonce: str | None = None) -> dict[str, str]:
        proof = key.proof("GET", url, token, now=time.time(), nonce=nonce)
        return {"Authorization": f"DPoP {token}", "DPoP": proof}

    status, answer = handle("GET", url, request())
    assert status == 401
    status, answer = handle("GET", url, request(answer["DPoP-Nonce"]))
    assert status == 200 and answer["DPoP-Nonce"]
    namespace["verifier"].close()


def _module(name: str, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import an example as a real module (frameworks read annotations from modules)."""
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module(name)


def test_fastapi_example(
    hosts: dict[str, LocalIssuer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The FastAPI example answers /me with the subject (401 without), greets, documents."""
    TestClient = _test_client()
    module = _module(
        "readme_fastapi", block("from typing import Annotated, Any"), tmp_path, monkeypatch
    )
    with TestClient(module.app) as client:
        token = _idp_token(hosts, sub="alice")
        assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json() == {
            "sub": "alice"
        }
        assert client.get("/me").status_code == 401
        denied = client.delete("/items/1", headers={"Authorization": f"Bearer {token}"})
        assert denied.status_code == 403
        assert client.get("/greeting").json() == "hello stranger"
        greeted = client.get("/greeting", headers={"Authorization": f"Bearer {token}"})
        assert greeted.json() == "hello alice"
    schemes = module.app.openapi()["components"]["securitySchemes"]
    assert schemes["JWTBearer"]["bearerFormat"] == "JWT"


def test_starlette_example(
    hosts: dict[str, LocalIssuer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Starlette example protects /items with a scope."""
    TestClient = _test_client()
    source = block("from starlette.applications import Starlette")
    module = _module("readme_starlette", source, tmp_path, monkeypatch)
    with TestClient(module.app) as client:
        token = _idp_token(hosts, sub="bob", scope="items:read")
        answer = client.get("/items", headers={"Authorization": f"Bearer {token}"})
        assert answer.json() == {"sub": "bob"}


def test_flask_example(hosts: dict[str, LocalIssuer]) -> None:
    """The Flask example answers /me with the token's subject."""
    namespace: dict[str, Any] = {"__name__": "readme_flask"}
    exec(block("from flask import Flask, g"), namespace)
    client = namespace["app"].test_client()
    token = _idp_token(hosts, sub="carol")
    assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json == {"sub": "carol"}
    assert (
        client.delete("/items/3", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    )
    namespace["auth"].close(namespace["app"])


def test_local_issuer_example() -> None:
    """The LocalIssuer example runs as written."""
    exec(
        block("from jwks_client import Verifier\nfrom jwks_client.testing import LocalIssuer"),
        {},
    )


def test_testing_your_api_example(tmp_path: Path) -> None:
    """The 'Testing your API' app and test module pass under pytest with the plugin."""
    (tmp_path / "app.py").write_text(block("# app.py"))
    (tmp_path / "test_app.py").write_text(block("# test_app.py"))
    run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=180)
    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            "-W",
            "error",
            str(tmp_path),
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 passed" in result.stdout


def test_testing_dpop_example(tmp_path: Path) -> None:
    """The sender-constrained test module of 'Testing your API' passes under pytest with
    the plugin: every proof fault refused."""
    from jwks_client.testing import PROOF_FAULTS

    (tmp_path / "test_dpop.py").write_text(block("# test_dpop.py"))
    options = ["-p", "no:cacheprovider", "-W", "error"]
    loop_scope = ["-o", "asyncio_default_fixture_loop_scope=function"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *options, *loop_scope, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{2 + len(PROOF_FAULTS)} passed" in result.stdout
