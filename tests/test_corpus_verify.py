"""Every real token of the corpus verifies end to end, served by a local issuer.

The corpus (tests/data/corpus, see its SOURCE.md) holds real, expired tokens with the
key sets that signed them. Each token is verified by a Verifier (and an AsyncVerifier)
whose clock is set to the token's suggested clock (iat + 1), with the token's own iss
and aud, fetching the real JWKS over HTTP from a LocalIssuer on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from jwks_client import AsyncVerifier, InvalidSignatureError, Verifier
from jwks_client.testing import FakeClock, LocalIssuer

CORPUS = Path(__file__).parent / "data" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
TOKENS = sorted(MANIFEST["tokens"].items())


def _load(name: str, meta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    token = json.loads((CORPUS / meta["file"]).read_text())["token"]
    jwks = json.loads((CORPUS / meta["jwks_file"]).read_text())
    return token, jwks


def test_corpus_has_all_tokens() -> None:
    """The corpus copy holds the 21 real tokens."""
    assert len(TOKENS) == 21


@pytest.mark.parametrize(("name", "meta"), TOKENS, ids=[name for name, _ in TOKENS])
def test_real_token_verifies(name: str, meta: dict[str, Any]) -> None:
    """A real provider token verifies with its real key set at its issue time."""
    token, jwks = _load(name, meta)
    clock = FakeClock(meta["suggested_clock"])
    with LocalIssuer(clock=clock) as local:
        local.serve_jwks(jwks)
        with Verifier(
            meta["iss"],
            audience=meta["aud"],
            jwks_uri=local.jwks_uri,
            require_https=False,
            clock=clock,
            leeway=0,
        ) as verifier:
            claims = verifier.verify(token)
            assert claims["iss"] == meta["iss"]
            assert claims["exp"] == meta["exp"]
            # The same token with one signature character changed is refused.
            head, _, sig = token.rpartition(".")
            tampered = head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
            with pytest.raises(InvalidSignatureError):
                verifier.verify(tampered)
        assert local.request_count("jwks") == 1


def test_real_tokens_verify_async() -> None:
    """Every real token also verifies through the AsyncVerifier."""

    async def main() -> int:
        verified = 0
        for name, meta in TOKENS:
            token, jwks = _load(name, meta)
            clock = FakeClock(meta["suggested_clock"])
            async with LocalIssuer(clock=clock) as local:
                local.serve_jwks(jwks)
                async with AsyncVerifier(
                    meta["iss"],
                    audience=meta["aud"],
                    jwks_uri=local.jwks_uri,
                    require_https=False,
                    clock=clock,
                ) as verifier:
                    claims = await verifier.verify(token)
                    verified += claims["iss"] == meta["iss"]
        return verified

    assert asyncio.run(main()) == len(TOKENS)
