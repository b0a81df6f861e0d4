"""verify_request of the multi-issuer verifiers: DPoP proofs and bound tokens per issuer.

Both shells run every test (the async one on its own loop); tokens come from two
LocalIssuers, proofs from ``jwks_client.testing.DPoPKey``.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwks_client import (
    AsyncMultiIssuerVerifier,
    AsyncVerifier,
    ConfigurationError,
    DPoP,
    InvalidDPoPProofError,
    InvalidIssuerError,
    InvalidTokenBindingError,
    KeyStoreRegistry,
    MemoryReplayStore,
    MissingTokenError,
    MultiIssuerVerifier,
    UseDPoPNonceError,
    Verifier,
    challenge_for,
)
from jwks_client.testing import ClientCertificate, DPoPKey, FakeClock, LocalIssuer

AUD = "https://api.example.com"
URL = "https://api.example.com/orders"
SECRET = b"a nonce secret of 32 bytes......"


class Side:
    """One synchronous interface over a multi-issuer verifier of either shell."""

    def __init__(self, kind: str, issuers: list[str], clock: FakeClock, **options: Any) -> None:
        options.setdefault("audience", AUD)
        options.setdefault("require_https", False)
        options.setdefault("clock", clock)
        options.setdefault("dpop", DPoP(replay_store=MemoryReplayStore()))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.verifier: MultiIssuerVerifier | AsyncMultiIssuerVerifier
        if kind == "sync":
            self.verifier = MultiIssuerVerifier(issuers, **options)
        else:
            self.loop = asyncio.new_event_loop()
            self.verifier = AsyncMultiIssuerVerifier(issuers, **options)

    def _run(self, result: Any) -> Any:
        return result if self.loop is None else self.loop.run_until_complete(result)

    def verify_request(self, method: str, url: str, headers: Any, **options: Any) -> Any:
        """verify_request of the wrapped verifier."""
        return self._run(self.verifier.verify_request(method, url, headers, **options))

    def verify(self, token: str) -> Any:
        """verify of the wrapped verifier."""
        return self._run(self.verifier.verify(token))

    def close(self) -> None:
        """Close the verifier (and its loop)."""
        if isinstance(self.verifier, MultiIssuerVerifier):
            self.verifier.close()
        else:
            assert self.loop is not None
            self.loop.run_until_complete(self.verifier.aclose())
            self.loop.close()


@pytest.fixture
def pair(clock: FakeClock) -> Iterator[tuple[LocalIssuer, LocalIssuer]]:
    """Two issuers on 127.0.0.1."""
    with (
        LocalIssuer(algorithms=("ES256",), clock=clock) as a,
        LocalIssuer(algorithms=("EdDSA",), clock=clock) as b,
    ):
        yield a, b


MakeSide = Callable[..., Side]


@pytest.fixture(params=("sync", "async"))
def make(
    request: pytest.FixtureRequest, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock
) -> Iterator[MakeSide]:
    """A factory of multi-issuer verifiers of one shell for both issuers, closed after."""
    made: list[Side] = []

    def factory(**options: Any) -> Side:
        side = Side(request.param, [pair[0].issuer, pair[1].issuer], clock, **options)
        made.append(side)
        return side

    yield factory
    for side in made:
        side.close()


@pytest.fixture
def key(clock: FakeClock) -> DPoPKey:
    """The client's DPoP key, on the test's clock."""
    return DPoPKey(clock=clock)


def test_dpop_requests_of_each_issuer_are_accepted(
    make: MakeSide, pair: tuple[LocalIssuer, LocalIssuer], key: DPoPKey
) -> None:
    """A DPoP-bound token of either issuer is accepted with its proof, verified by the
    keys of its own issuer."""
    side = make()
    for issuer in pair:
        token = issuer.token({"sub": "alice"}, dpop_key=key)
        claims = side.verify_request("GET", URL, key.headers("GET", URL, token))
        assert (claims["iss"], claims["cnf"]) == (issuer.issuer, key.cnf)
        assert issuer.request_count("jwks") == 1


def test_bearer_tokens_pass_and_verify_still_refuses_bound_tokens(
    make: MakeSide, pair: tuple[LocalIssuer, LocalIssuer], key: DPoPKey
) -> None:
    """A plain token passes verify_request with Bearer; verify refuses a bound one."""
    side = make()
    a, _ = pair
    assert side.verify_request("GET", URL, {"Authorization": f"Bearer {a.token()}"})["sub"]
    with pytest.raises(InvalidTokenBindingError, match="verify_request"):
        side.verify(a.token(dpop_key=key))


def test_a_replay_is_refused(
    make: MakeSide, pair: tuple[LocalIssuer, LocalIssuer], key: DPoPKey
) -> None:
    """The same proof twice: the second is a replay."""
    side = make()
    token = pair[1].token(dpop_key=key)
    headers = key.headers("POST", URL, token)
    side.verify_request("POST", URL, headers)
    with pytest.raises(InvalidDPoPProofError, match="replay"):
        side.verify_request("POST", URL, headers)


def test_a_downgrade_is_refused_and_answered_with_both_challenges(
    make: MakeSide, pair: tuple[LocalIssuer, LocalIssuer], key: DPoPKey
) -> None:
    """A DPoP-bound token sent as Bearer is refused; the answer offers Bearer and DPoP."""
    side = make()
    token = pair[0].token(dpop_key=key)
    with pytest.raises(InvalidTokenBindingError, match="Bearer scheme") as caught:
        side.verify_request("GET", URL, {"Authorization": f"Bearer {token}"})
    header = challenge_for(caught.value).header_dict()["WWW-Authenticate"]
    assert header.startswith('Bearer error="invalid_token"')
    assert ', DPoP algs="' in header


def test_a_bad_proof_fetches_nothing(
    make: MakeSide, pair: tuple[LocalIssuer, LocalIssuer], key: DPoPKey
) -> None:
    """A request refused before any signature (a wrong htm) starts no issuer's key client."""
    side = make()
    a, _ = pair
    token = a.token(dpop_key=key)
    with pytest.raises(InvalidDPoPProofError, match="htm"):
        side.verify_request("GET", URL, key.headers("PUT", URL, token))
    assert side.verifier.live_issuers == ()
    assert a.request_count() == 0


def test_an_issuer_not_accepted_is_refused_with_the_offer(
    make: MakeSide, key: DPoPKey, clock: FakeClock
) -> None:
    """A token of another issuer is refused by verify_request too, annotated with what the
    verifier accepts."""
    side = make(dpop=DPoP(required=True, replay_store=MemoryReplayStore()))
    with LocalIssuer(algorithms=("ES256",), clock=clock) as other:
        token = other.token(dpop_key=key)
        with pytest.raises(InvalidIssuerError) as caught:
            side.verify_request("GET", URL, key.headers("GET", URL, token))
        assert other.request_count() == 0
    assert caught.value.scheme == "DPoP" and not caught.value.bearer_accepted


def test_dpop_options_apply(make: MakeSide, pair: tuple[LocalIssuer, LocalIssuer]) -> None:
    """dpop=None refuses the DPoP scheme; DPoP(required=True) refuses bearer tokens."""
    a, _ = pair
    key = DPoPKey()
    off = make(dpop=None)
    assert off.verifier.dpop is None
    with pytest.raises(MissingTokenError, match="does not accept the DPoP scheme"):
        off.verify_request("GET", URL, key.headers("GET", URL, a.token(dpop_key=key)))
    required = make(dpop=DPoP(required=True, replay_store=MemoryReplayStore()))
    with pytest.raises(InvalidTokenBindingError, match="requires DPoP"):
        required.verify_request("GET", URL, {"Authorization": f"Bearer {a.token()}"})


def test_nonces(make: MakeSide, pair: tuple[LocalIssuer, LocalIssuer], key: DPoPKey) -> None:
    """With a nonce secret, a proof without the nonce is answered with one, and the retry
    carrying it passes; dpop_nonce() gives the same nonce."""
    side = make(dpop=DPoP(nonce_secret=SECRET, replay_store=MemoryReplayStore()))
    token = pair[1].token(dpop_key=key)
    with pytest.raises(UseDPoPNonceError) as caught:
        side.verify_request("GET", URL, key.headers("GET", URL, token))
    nonce = caught.value.nonce
    assert side.verifier.dpop_nonce() == nonce
    claims = side.verify_request("GET", URL, key.headers("GET", URL, token, nonce=nonce))
    assert claims["iss"] == pair[1].issuer
    assert make(dpop=DPoP()).verifier.dpop_nonce() is None


def test_certificate_bound_token(make: MakeSide, pair: tuple[LocalIssuer, LocalIssuer]) -> None:
    """A certificate-bound token passes with its certificate and is refused without it."""
    side = make()
    cert = ClientCertificate()
    headers = {"Authorization": f"Bearer {pair[0].token(client_cert=cert)}"}
    assert side.verify_request("GET", URL, headers, client_cert=cert.der)["cnf"] == cert.cnf
    with pytest.raises(InvalidTokenBindingError, match="no client certificate"):
        side.verify_request("GET", URL, headers)


def test_a_bad_dpop_option_is_a_configuration_error(clock: FakeClock) -> None:
    """dpop must be a DPoP or None."""
    with pytest.raises(ConfigurationError, match="dpop must be a DPoP"):
        MultiIssuerVerifier(["https://a.example"], audience=AUD, dpop={"required": True})


def _checker_calls(function: Callable[..., Any]) -> list[str]:
    """The RequestChecker methods a verify_request calls, in order (read from its source)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return [
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "requests"
    ]


def _called_names(function: Callable[..., Any]) -> set[str]:
    """The plain names a function calls (read from its source)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


@pytest.mark.parametrize(
    ("single", "multi", "body"),
    [
        (Verifier, MultiIssuerVerifier, "verify_request_job"),
        (AsyncVerifier, AsyncMultiIssuerVerifier, "verify_request_job"),
    ],
)
def test_multi_follows_the_single_issuer_request_path(single: type, multi: type, body: str) -> None:
    """Single- and multi-issuer verify_request share one body, which calls the request
    checker in order: credentials, check, complete (so neither can drift alone)."""
    from jwks_client import _async, _sync

    assert body in _called_names(single.verify_request)
    assert {body, body + "_async"} & _called_names(multi.verify_request)
    for module in (_sync, _async):
        calls = _checker_calls(module.verify_request_job)
        assert calls[:3] == ["credentials", "check", "complete"]


def _dead_cache(kind: str) -> Any:
    """A shared cache whose Redis does not answer (nothing listens on port 1)."""
    import redis
    import redis.asyncio

    from jwks_client.redis import AsyncRedisKeyCache, RedisKeyCache
    from tests.redis_support import no_async_retries, no_retries

    if kind == "sync":
        client = redis.Redis(host="127.0.0.1", port=1, retry=no_retries())
        return RedisKeyCache(client, retry_after=60)
    async_client = redis.asyncio.Redis(host="127.0.0.1", port=1, retry=no_async_retries())
    return AsyncRedisKeyCache(async_client, retry_after=60)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_proofs_go_to_the_shared_cache_and_a_failure_is_counted(
    kind: str, pair: tuple[LocalIssuer, LocalIssuer], clock: FakeClock, key: DPoPKey
) -> None:
    """With a shared cache and the default replay store, an accepted proof is recorded
    fleet-wide; Redis down, the process's record stands alone and stats count it."""
    side = Side(
        kind,
        [pair[0].issuer],
        clock,
        dpop=DPoP(),
        shared_cache=_dead_cache(kind),
        store_registry=KeyStoreRegistry(),
    )
    try:
        headers = key.headers("GET", URL, pair[0].token(dpop_key=key))
        assert side.verify_request("GET", URL, headers)["cnf"] == key.cnf
        assert side.verifier.stats().dpop_replay_fallbacks == 1
        with pytest.raises(InvalidDPoPProofError, match="replay"):
            side.verify_request("GET", URL, headers)
    finally:
        side.close()
