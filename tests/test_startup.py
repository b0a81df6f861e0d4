"""What a fresh process loads: importing the package and verifying the first token over
plain HTTP leave out what that path does not need (checked in a child interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

from jwks_client.testing import LocalIssuer

#: Modules that a sync verifier's start-up must not load: the async shells and asyncio,
#: the multi-issuer verifiers, and a JOSE layer with its X.509 machinery.
NOT_AT_START = ("asyncio", "jwks_client._async", "jwks_client._multi", "joserfc")
NOT_AT_START_PREFIXES = ("cryptography.x509",)
#: Loaded with the first request, not by the import.
HTTP_STACK = ("httpx", "httpcore", "jwks_client._transport")
#: Loaded only when used: the request side and the DPoP proof checks (by the first
#: verify_request), the shared-cache tier (with a shared_cache=), snapshots, events (for a
#: hook, or stats()).
ON_USE = (
    "jwks_client._challenge",
    "jwks_client._dpop",
    "jwks_client._events",
    "jwks_client._replay",
    "jwks_client._request",
    "jwks_client._sender",
    "jwks_client._shared",
    "jwks_client._snapshot",
)


def _child(code: str, *argv: str) -> dict[str, object]:
    """Run ``code`` in a new interpreter; it prints one JSON object, returned here."""
    result = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    value: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return value


_LOADED = (
    "def loaded(extra=()):\n"
    f"    names = {NOT_AT_START!r} + tuple(extra)\n"
    f"    prefixes = {NOT_AT_START_PREFIXES!r}\n"
    "    return sorted(m for m in sys.modules if m in names or m.startswith(prefixes))\n"
)


def _beyond_key_import(loaded: object) -> list[str]:
    """What was loaded besides joserfc (and the x509 parts it imports), which key import
    brings with the first key."""
    assert isinstance(loaded, list)
    return [m for m in loaded if m != "joserfc" and not m.startswith("cryptography.x509")]


def test_import_leaves_out_async_multi_jose_and_http() -> None:
    """``import jwks_client`` loads no asyncio, async or multi-issuer module, joserfc or httpx."""
    out = _child(
        "import json, sys\n"
        + _LOADED
        + "import jwks_client\n"
        + f"before = loaded({HTTP_STACK!r})\n"
        + "names = sorted(jwks_client.__all__)\n"
        + "listed = [n for n in names if n not in dir(jwks_client)]\n"
        + "print(json.dumps({'before': before, 'unlisted': listed}))\n"
    )
    assert out == {"before": [], "unlisted": []}


def test_lazy_names_load_on_access() -> None:
    """The async and multi-issuer names load on first access and are the modules' own classes."""
    out = _child(
        "import json, sys\n"
        "import jwks_client\n"
        "from jwks_client import AsyncVerifier, MultiIssuerVerifier\n"
        "from jwks_client._async import AsyncVerifier as A\n"
        "from jwks_client._multi import MultiIssuerVerifier as M\n"
        "try:\n"
        "    jwks_client.NoSuchName\n"
        "    missing = 'no error'\n"
        "except AttributeError as exc:\n"
        "    missing = str(exc)\n"
        "print(json.dumps({'same': AsyncVerifier is A and MultiIssuerVerifier is M,"
        " 'asyncio': 'asyncio' in sys.modules, 'missing': missing}))\n"
    )
    assert out == {
        "same": True,
        "asyncio": True,
        "missing": "module 'jwks_client' has no attribute 'NoSuchName'",
    }


def test_first_token_over_plain_http_loads_no_ca_bundle() -> None:
    """A fresh process verifies its first token over plain HTTP without building a verifying
    TLS context and without loading asyncio (joserfc comes with the first key import)."""
    with LocalIssuer(algorithms=("RS256",)) as issuer:
        token = issuer.token({"sub": "first"}, audience="https://api.example.com")
        out = _child(
            "import json, ssl, sys\n"
            + _LOADED
            + "built = []\n"
            + "original = ssl.create_default_context\n"
            + "def counting(*args, **kwargs):\n"
            + "    built.append(1)\n"
            + "    return original(*args, **kwargs)\n"
            + "ssl.create_default_context = counting\n"
            + "import jwks_client\n"
            + "issuer, jwks_uri, token = sys.argv[1:4]\n"
            + "with jwks_client.Verifier(issuer, jwks_uri=jwks_uri,"
            + " audience='https://api.example.com', require_https=False) as verifier:\n"
            + "    sub = verifier.verify(token)['sub']\n"
            + "print(json.dumps({'sub': sub, 'tls_contexts': len(built),"
            + f" 'loaded': loaded({ON_USE!r})}}))\n",
            issuer.issuer,
            issuer.jwks_uri,
            token,
        )
        assert issuer.request_count() == 1
    assert out["sub"] == "first" and out["tls_contexts"] == 0
    assert _beyond_key_import(out["loaded"]) == []


def test_bearer_tokens_load_no_proof_checks_shared_tier_snapshots_or_events() -> None:
    """Building a verifier and verifying bearer tokens loads none of the modules loaded on
    use; verify_request loads the request side and the proof checks, stats() the events,
    and SnapshotError its module."""
    with LocalIssuer(algorithms=("ES256",)) as issuer:
        token = issuer.token({"sub": "bearer"}, audience="https://api.example.com")
        jwks = json.dumps(issuer.jwks())
    out = _child(
        "import json, sys\n"
        + f"def loaded():\n    return sorted(m for m in sys.modules if m in {ON_USE!r})\n"
        + "import jwks_client\n"
        + "issuer, jwks, token = sys.argv[1:4]\n"
        + "verifier = jwks_client.Verifier(issuer, jwks=jwks, audience='https://api.example.com')\n"
        + "steps = {'built': loaded()}\n"
        + "sub = verifier.verify(token)['sub']\n"
        + "steps['verified'] = loaded()\n"
        + "headers = {'Authorization': 'Bearer ' + token}\n"
        + "claims = verifier.verify_request('GET', 'https://api.example.com/r', headers)\n"
        + "steps['request'] = loaded()\n"
        + "stats = verifier.stats()\n"
        + "steps['stats'] = loaded()\n"
        + "jwks_client.SnapshotError\n"
        + "steps['snapshot'] = loaded()\n"
        + "print(json.dumps({'sub': [sub, claims['sub']], 'verified': stats.verified,"
        + " 'steps': steps}))\n",
        issuer.issuer,
        jwks,
        token,
    )
    assert out["sub"] == ["bearer", "bearer"] and out["verified"] == 2
    steps = out["steps"]
    assert isinstance(steps, dict)
    assert steps["built"] == steps["verified"] == []
    request_side = {
        "jwks_client._challenge",
        "jwks_client._dpop",
        "jwks_client._replay",
        "jwks_client._request",
        "jwks_client._sender",
    }
    assert request_side <= set(steps["request"]) and "jwks_client._events" not in steps["request"]
    assert set(steps["stats"]) - set(steps["request"]) == {"jwks_client._events"}
    assert "jwks_client._snapshot" in steps["snapshot"]


def test_static_key_set_never_loads_the_http_stack() -> None:
    """A verifier on a static key set verifies without ever importing httpx."""
    with LocalIssuer(algorithms=("ES256",)) as issuer:
        token = issuer.token({"sub": "static"}, audience="https://api.example.com")
        jwks = json.dumps(issuer.jwks())
    out = _child(
        "import json, sys\n"
        + _LOADED
        + "import jwks_client\n"
        + "issuer, jwks, token = sys.argv[1:4]\n"
        + "with jwks_client.Verifier(issuer, jwks=jwks,"
        + " audience='https://api.example.com') as verifier:\n"
        + "    sub = verifier.verify(token)['sub']\n"
        + f"print(json.dumps({{'sub': sub, 'loaded': loaded({HTTP_STACK!r})}}))\n",
        issuer.issuer,
        jwks,
        token,
    )
    assert out["sub"] == "static"
    assert _beyond_key_import(out["loaded"]) == []
