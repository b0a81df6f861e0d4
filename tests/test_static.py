"""Static key sets: the same verify API over a JWKS given as a dict, JSON text or file."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jwks_client import (
    AsyncVerifier,
    ConfigurationError,
    InvalidKeySetError,
    JWKSClient,
    KeyNotFoundError,
    Verifier,
)
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
CORPUS = Path(__file__).parent / "data" / "corpus"


@pytest.fixture
def keys_issuer(issuer: LocalIssuer) -> Iterator[LocalIssuer]:
    """An issuer used only to mint tokens and give its JWKS as a value: never fetched."""
    yield issuer
    assert issuer.request_count() == 0


@pytest.mark.parametrize("form", ["dict", "text", "bytes", "path", "path-str"])
def test_static_forms(
    keys_issuer: LocalIssuer, clock: FakeClock, tmp_path: Path, form: str
) -> None:
    """A JWKS given as a dict, JSON text, bytes or a file verifies tokens without HTTP."""
    document = {"keys": [keys_issuer.public_jwk(keys_issuer.signing_kid())]}
    file = tmp_path / "jwks.json"
    file.write_text(json.dumps(document))
    source = {
        "dict": document,
        "text": json.dumps(document),
        "bytes": json.dumps(document).encode(),
        "path": file,
        "path-str": str(file),
    }[form]
    issuer_url = "https://issuer.example"
    token = keys_issuer.token({"iss": issuer_url})
    with Verifier(issuer_url, audience=AUD, jwks=source, clock=clock) as verifier:
        assert verifier.verify(token)["iss"] == issuer_url
        with pytest.raises(KeyNotFoundError, match="static key set"):
            verifier.verify(keys_issuer.token({"iss": issuer_url}, kid="other"))
        assert verifier.jwks_client.refresh() is verifier.jwks_client.key_set()


def test_static_async(keys_issuer: LocalIssuer, clock: FakeClock) -> None:
    """AsyncVerifier accepts a static key set too."""
    document = keys_issuer.jwks()

    async def main() -> str:
        async with AsyncVerifier("https://i", audience=AUD, jwks=document, clock=clock) as v:
            return str((await v.verify(keys_issuer.token({"iss": "https://i"})))["sub"])

    assert asyncio.run(main()) == "user-1"


def test_static_never_expires(keys_issuer: LocalIssuer, clock: FakeClock) -> None:
    """A static set is fresh forever: no refresh, whatever the clock says."""
    with JWKSClient(jwks=keys_issuer.jwks(), clock=clock) as keys:
        ring = keys.key_set()
        clock.advance(10 * 365 * 86400)
        assert keys.key_set() is ring
        assert keys.get_key(keys_issuer.signing_kid(), "ES256").kid == keys_issuer.signing_kid()


def test_static_real_corpus_set() -> None:
    """A real provider JWKS file loads as a static set (Entra, with per-key issuers)."""
    with JWKSClient(jwks=CORPUS / "jwks" / "microsoft-entra-4.json") as keys:
        assert len(keys.key_set()) == 6


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        ("{not json", InvalidKeySetError, "not valid JSON"),
        ({"keys": []}, InvalidKeySetError, "no usable verification key"),
        ({"nokeys": 1}, InvalidKeySetError, "keys"),
        ("/nonexistent/jwks.json", ConfigurationError, "cannot read"),
        (42, ConfigurationError, "mapping, JSON text or a path"),
    ],
)
def test_static_errors(source: object, error: type[Exception], message: str) -> None:
    """A bad static key set is refused at construction with a clear error."""
    with pytest.raises(error, match=message):
        JWKSClient(jwks=source)  # type: ignore[arg-type]


def test_static_file_too_large(tmp_path: Path) -> None:
    """A static key set file over 1 MiB is refused."""
    file = tmp_path / "big.json"
    file.write_bytes(b" " * (1_048_577))
    with pytest.raises(InvalidKeySetError, match="exceeds"):
        JWKSClient(jwks=file)


def test_static_with_url_is_refused(keys_issuer: LocalIssuer) -> None:
    """jwks and jwks_uri together are a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="not both"):
        JWKSClient("https://x/jwks", jwks=keys_issuer.jwks())
