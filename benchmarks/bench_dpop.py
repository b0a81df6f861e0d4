"""verify_request with a DPoP proof (RFC 9449) against its cost floor, beside bearer tokens.

A DPoP request carries two JWTs: the access token and the proof, each with a signature.
Its floor is therefore two of the table's floors: **floor x2** is ``cryptography``'s
verify of both signatures on pre-loaded keys, and **floor+parse x2** adds the minimal
hand-written JWS check of both (split, base64url, ``json.loads`` of header and payload):
the least any resource server must do for such a request. Beside them, for scale, the
same verifier's ``verify`` of a bearer token and ``verify_request`` with the Bearer scheme,
and a verifier with ``verified_token_cache_size``, which verifies the access token once and
then only the proofs (a client sends the same token with a new proof on every request).

Every ``verify_request`` with DPoP is given a fresh proof (a new ``jti``: a repeated one
would be refused as a replay), minted before timing; the proofs' ``iat`` is the start of
the run, inside the verifier's window. The verifiers' key caches are warm.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from bench_common import Contender, Stats, measure_async
from bench_tokens import AUDIENCE, TOKEN_LIFETIME, _b64url_decode, _raw_verifier, access_claims

from jwks_client import AsyncVerifier, DPoP, MemoryReplayStore, Verifier
from jwks_client.testing import DPoPKey, LocalIssuer

#: (access token algorithm, proof algorithm) pairs of the table.
COMBOS: tuple[tuple[str, str], ...] = (("ES256", "ES256"), ("RS256", "ES256"), ("EdDSA", "EdDSA"))
URL = "https://api.example.com/orders/42"

DPOP = "jwks_client Verifier.verify_request, DPoP"
ASYNC_DPOP = "jwks_client AsyncVerifier.verify_request, DPoP"
CACHED_DPOP = "... with verified_token_cache_size (the token remembered)"
BEARER_REQUEST = "jwks_client Verifier.verify_request, Bearer"
BEARER_VERIFY = "jwks_client Verifier.verify, Bearer"
FLOOR2 = "floor x2 (two cryptography verifies)"
FLOOR_PARSE2 = "floor+parse x2 (two minimal JWS checks)"


@dataclass
class DPoPFixture:
    """One (token alg, proof alg) pair: an issuer, a bound and a bearer token, proofs."""

    token_alg: str
    proof_alg: str
    issuer: LocalIssuer
    key: DPoPKey
    token: str
    bearer: str
    floor2: Callable[[], object]
    floor_parse2: Callable[[], object]
    proofs: dict[str, Iterator[str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How the table names this pair."""
        return f"{self.token_alg} token, {self.proof_alg} proof"


def _minimal_check(jwt: str, public_key: object, alg: str) -> Callable[[], object]:
    """floor+parse of bench_tokens for any compact JWS: split, decode, json.loads, verify."""
    raw_verify, convert = _raw_verifier(public_key, alg)

    def check() -> dict[str, Any]:
        h, p, s = jwt.split(".")
        json.loads(_b64url_decode(h))
        claims: dict[str, Any] = json.loads(_b64url_decode(p))
        raw_verify(convert(_b64url_decode(s)), f"{h}.{p}".encode("ascii"))
        return claims

    check()  # sound
    return check


def _floor(jwt: str, public_key: object, alg: str) -> Callable[[], object]:
    raw_verify, convert = _raw_verifier(public_key, alg)
    h, p, s = jwt.split(".")
    signature = convert(_b64url_decode(s))
    signing_input = f"{h}.{p}".encode("ascii")

    def verify() -> None:
        raw_verify(signature, signing_input)

    verify()
    return verify


def make_dpop_fixture(token_alg: str, proof_alg: str, proofs_each: int) -> DPoPFixture:
    """Start an issuer, mint a DPoP-bound and a bearer token, and proofs for two verifiers.

    The caller stops ``fixture.issuer`` when done.
    """
    issuer = LocalIssuer(algorithms=(token_alg,)).start()
    try:
        key = DPoPKey(proof_alg)
        claims = access_claims()
        token = issuer.token(
            {**claims, "cnf": {"jkt": key.thumbprint}}, alg=token_alg, expires_in=TOKEN_LIFETIME
        )
        bearer = issuer.token(claims, alg=token_alg, expires_in=TOKEN_LIFETIME)
        now = time.time()
        token_key = issuer.private_key(issuer.signing_kid()).public_key()
        proof_public = key.private_key.public_key()
        sample = key.proof("GET", URL, token, now=now)
        floor_token = _floor(token, token_key, token_alg)
        floor_proof = _floor(sample, proof_public, proof_alg)
        parse_token = _minimal_check(token, token_key, token_alg)
        parse_proof = _minimal_check(sample, proof_public, proof_alg)

        def floor2() -> None:
            floor_token()
            floor_proof()

        def floor_parse2() -> None:
            parse_token()
            parse_proof()

        fixture = DPoPFixture(
            token_alg, proof_alg, issuer, key, token, bearer, floor2, floor_parse2
        )
        for name in (DPOP, ASYNC_DPOP, CACHED_DPOP):
            minted = [key.proof("GET", URL, token, now=now) for _ in range(proofs_each)]
            fixture.proofs[name] = iter(minted)
    except BaseException:
        issuer.stop()
        raise
    return fixture


def _verifier_options(**extra: Any) -> dict[str, Any]:
    # A window longer than any run, and a replay store of the run's own.
    return {
        "audience": AUDIENCE,
        "require_https": False,
        "leeway": 60,
        "dpop": DPoP(max_age=3600, replay_store=MemoryReplayStore()),
        **extra,
    }


async def dpop_table(
    combos: tuple[tuple[str, str], ...], *, rounds: int, per_round: int, keep_gc: bool
) -> dict[str, dict[str, Any]]:
    """Time every contender for every pair; medians, p90s and ratios to floor+parse x2."""
    results: dict[str, dict[str, Any]] = {}
    warmup = 20
    needed = warmup + rounds * per_round + 2
    for token_alg, proof_alg in combos:
        fixture = make_dpop_fixture(token_alg, proof_alg, needed)
        verifier = Verifier(fixture.issuer.issuer, **_verifier_options())
        async_verifier = AsyncVerifier(fixture.issuer.issuer, **_verifier_options())
        cached = Verifier(
            fixture.issuer.issuer, **_verifier_options(verified_token_cache_size=1024)
        )
        try:
            results[fixture.label] = await _time_pair(
                fixture, verifier, async_verifier, cached, rounds, per_round, warmup, keep_gc
            )
        finally:
            verifier.close()
            cached.close()
            await async_verifier.aclose()
            fixture.issuer.stop()
    return results


async def _time_pair(
    fixture: DPoPFixture,
    verifier: Verifier,
    async_verifier: AsyncVerifier,
    cached: Verifier,
    rounds: int,
    per_round: int,
    warmup: int,
    keep_gc: bool,
) -> dict[str, Any]:
    authorization = f"DPoP {fixture.token}"
    bearer_headers = {"Authorization": f"Bearer {fixture.bearer}"}
    sync_proofs = fixture.proofs[DPOP]
    async_proofs = fixture.proofs[ASYNC_DPOP]
    request = verifier.verify_request
    arequest = async_verifier.verify_request
    verify = verifier.verify
    bearer = fixture.bearer

    def dpop_call() -> object:
        return request("GET", URL, {"Authorization": authorization, "DPoP": next(sync_proofs)})

    cached_proofs = fixture.proofs[CACHED_DPOP]
    cached_request = cached.verify_request

    def cached_call() -> object:
        headers = {"Authorization": authorization, "DPoP": next(cached_proofs)}
        return cached_request("GET", URL, headers)

    async def async_dpop_call() -> object:
        headers = {"Authorization": authorization, "DPoP": next(async_proofs)}
        return await arequest("GET", URL, headers)

    # One checked call each (warms the key caches too).
    expected = verifier.verify(fixture.bearer)["sub"]
    assert dpop_call()["sub"] == expected  # type: ignore[index]
    assert (await async_dpop_call())["sub"] == expected  # type: ignore[index]
    assert cached_call()["sub"] == expected  # type: ignore[index]
    contenders = [
        Contender(DPOP, call=dpop_call),
        Contender(ASYNC_DPOP, acall=async_dpop_call),
        Contender(CACHED_DPOP, call=cached_call),
        Contender(BEARER_REQUEST, call=lambda: request("GET", URL, bearer_headers)),
        Contender(BEARER_VERIFY, call=lambda: verify(bearer)),
        Contender(FLOOR2, call=fixture.floor2),
        Contender(FLOOR_PARSE2, call=fixture.floor_parse2),
    ]
    stats = await measure_async(
        contenders, rounds=rounds, per_round=per_round, warmup=warmup, keep_gc=keep_gc
    )
    return _rows(stats)


def _rows(stats: dict[str, Stats]) -> dict[str, Any]:
    floor = stats[FLOOR2].median
    floor_parse = stats[FLOOR_PARSE2].median
    return {
        name: {
            **s.as_dict(),
            "ratio_to_floor2": round(s.median / floor, 3),
            "ratio_to_floor_parse2": round(s.median / floor_parse, 3),
        }
        for name, s in stats.items()
    }
