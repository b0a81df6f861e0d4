"""Guards on the package's shape: the public surface, sync/async parity, layering."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import jwks_client
from jwks_client import (
    AsyncJWKSClient,
    AsyncMultiIssuerVerifier,
    AsyncVerifier,
    JWKSClient,
    MultiIssuerVerifier,
    Verifier,
)

PACKAGE = Path(jwks_client.__file__).parent

PUBLIC = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "AlgorithmNotAllowedError",
    "AsyncJWKSClient",
    "AsyncMultiIssuerVerifier",
    "AsyncVerifier",
    "CachePolicy",
    "Challenge",
    "ConfigurationError",
    "DPoP",
    "DiscoveryError",
    "Event",
    "ExpiredTokenError",
    "FetchError",
    "FetchFailed",
    "Freshness",
    "HTTPStatusError",
    "InvalidAudienceError",
    "InvalidClaimError",
    "InvalidDPoPProofError",
    "InvalidIssuerError",
    "InvalidKeySetError",
    "InvalidRequestError",
    "InvalidSignatureError",
    "InvalidTokenBindingError",
    "InvalidTokenError",
    "InvalidTokenTypeError",
    "JWKSClient",
    "JWKSClientError",
    "KeyNotFoundError",
    "KeyRing",
    "KeySetFetched",
    "KeySetRotated",
    "KeySetUnavailableError",
    "KeyStoreRegistry",
    "MalformedTokenError",
    "MemoryReplayStore",
    "MissingClaimError",
    "MissingTokenError",
    "MultiIssuerVerifier",
    "NotYetValidError",
    "PreparedKey",
    "ReplayStore",
    "ResponseTooLargeError",
    "SharedCacheUnavailable",
    "SkippedKey",
    "SnapshotError",
    "StaleKeysServed",
    "Stats",
    "UseDPoPNonceError",
    "Verifier",
    "__version__",
    "challenge_for",
]

#: Pure modules: they decide, they never wait, lock, read a clock or do I/O.
PURE = [
    "_errors",
    "_version",
    "_types",
    "_messages",
    "_events",
    "_cache_control",
    "_keys",
    "_token",
    "_claims",
    "_values",
    "_verify",
    "_http",
    "_policy",
    "_config",
    "_snapshot",
    "_challenge",
    "_request",
    "_dpop",
    "_dpop_options",
    "_shared",
]
FORBIDDEN = {"time", "threading", "asyncio", "socket", "logging", "random"}

#: Each module may import only modules of an earlier layer (or its own).
LAYERS = [
    {"_errors", "_version", "_fork"},
    {"_types", "_messages", "_events", "_challenge", "_replay"},
    {"_cache_control", "_keys", "_token", "_claims", "_request", "_dpop_options"},
    {"_values", "_verify", "_dpop"},
    {"_http", "_policy"},
    {"_config"},
    {"_snapshot"},
    {"_shared"},
    {"_store"},
    {"_engine", "_checker", "_sender"},
    {"_shell", "_deadline"},
    {"_transport"},
    {"_sync", "_async"},
    {"_multi"},
]


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add("." + node.module.split(".")[0])
            elif node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_public_surface_is_pinned() -> None:
    """__all__ is exactly the documented public names (ruff RUF022 keeps it sorted)."""
    assert jwks_client.__all__ == PUBLIC
    for name in PUBLIC:
        assert hasattr(jwks_client, name), name


def test_errors_share_one_root() -> None:
    """Every exported exception derives from JWKSClientError."""
    errors = [getattr(jwks_client, n) for n in PUBLIC if n.endswith("Error")]
    assert errors
    for error in errors:
        assert issubclass(error, jwks_client.JWKSClientError), error


def _public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls)
        if not name.startswith("_") and callable(member)
    }


def test_sync_async_parity() -> None:
    """The async classes mirror the sync ones: same methods and parameters, close→aclose."""
    pairs = (
        (JWKSClient, AsyncJWKSClient),
        (Verifier, AsyncVerifier),
        (MultiIssuerVerifier, AsyncMultiIssuerVerifier),
    )
    for sync_cls, async_cls in pairs:
        sync_methods = _public_methods(sync_cls)
        async_methods = _public_methods(async_cls)
        sync_methods["aclose"] = sync_methods.pop("close")
        assert sync_methods.keys() == async_methods.keys(), (sync_cls, async_cls)
        for name, signature in sync_methods.items():
            assert list(signature.parameters) == list(async_methods[name].parameters), name
        assert list(inspect.signature(sync_cls).parameters) == list(
            inspect.signature(async_cls).parameters
        )
        for name in async_methods:
            member = getattr(async_cls, name)
            if name in {"aclose", "get_key", "candidates", "key_set", "refresh", "verify"}:
                assert inspect.iscoroutinefunction(member), name


def test_pure_modules_do_no_io() -> None:
    """Pure modules import neither clocks, locks, event loops, sockets nor httpx clients."""
    for module in PURE:
        imported = _imports(module)
        assert not imported & FORBIDDEN, (module, imported & FORBIDDEN)
        source = (PACKAGE / f"{module}.py").read_text()
        for client in ("httpx.Client(", "httpx.AsyncClient(", ".send(", "time.time("):
            assert client not in source, (module, client)


def test_imports_flow_one_way() -> None:
    """A module imports only modules of earlier layers."""
    layer_of = {module: i for i, layer in enumerate(LAYERS) for module in layer}
    for module, layer in layer_of.items():
        for imported in _imports(module):
            if imported.startswith("."):
                target = imported[1:]
                assert target in layer_of, (module, target)
                assert layer_of[target] < layer or target == module, (module, target)


def test_errors_pickle_and_clone() -> None:
    """Library errors survive pickling with their facts; clones are independent."""
    import pickle

    from jwks_client import ExpiredTokenError, HTTPStatusError

    error = HTTPStatusError("https://x answered HTTP 503", url="https://x", status_code=503)
    again = pickle.loads(pickle.dumps(error))
    assert (type(again), str(again), again.url, again.status_code) == (
        HTTPStatusError,
        str(error),
        "https://x",
        503,
    )
    claim = pickle.loads(pickle.dumps(ExpiredTokenError("expired", claim="exp")))
    assert claim.claim == "exp"
    clone = error.clone()
    assert clone is not error and clone.status_code == 503 and clone.__traceback__ is None


def test_every_public_name_is_documented() -> None:
    """Every exported name, and every public method or property of a class, has a docstring."""
    import jwks_client.testing

    missing = []
    for module in (jwks_client, jwks_client.testing):
        for name in module.__all__:
            obj = getattr(module, name)
            if name.isupper() or name.startswith("__"):
                continue
            if not inspect.getdoc(obj):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    target = value.fget if isinstance(value, property) else value
                    if attr.startswith("_") or not callable(target):
                        continue
                    if not inspect.getdoc(target):
                        missing.append(f"{module.__name__}.{name}.{attr}")
    assert missing == []


#: Private attributes one module may read on an object it does not define, with why.
#: Keep it short: an entry here is a seam that wants a public-internal method instead.
PRIVATE_REACH_ALLOWED: set[tuple[str, str]] = set()


def _private_reaches(path: Path, root: Path = PACKAGE) -> set[tuple[str, str]]:
    """(module, attribute) for each ``x._name`` whose ``x`` is not ``self`` or ``cls``."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        found.add((path.relative_to(root).as_posix(), name))
    return found


def test_no_private_reach_through() -> None:
    """No module reads a private attribute of another object (``a._b._c`` or ``obj._x``)."""
    found: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        found |= _private_reaches(path)
    assert found - PRIVATE_REACH_ALLOWED == set()


def test_private_reach_check_can_fail(tmp_path: Path) -> None:
    """The reach-through check flags both shapes it is meant to catch."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f(self, other):\n    return self._keys._store, other._state, self._ok\n")
    assert _private_reaches(sample, tmp_path) == {("sample.py", "_store"), ("sample.py", "_state")}
