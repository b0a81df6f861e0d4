"""Real-world JWKS documents and tokens (tests/data/corpus) through jwks_client._keys."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import thumbprint as joserfc_thumbprint

from jwks_client._errors import InvalidKeySetError
from jwks_client._keys import KeyRing, parse_jwks

CORPUS = Path(__file__).parent / "data" / "corpus"


def load(relative: str) -> Any:
    with (CORPUS / relative).open(encoding="utf-8") as handle:
        return json.load(handle)


MANIFEST: dict[str, Any] = load("manifest.json")

# (loaded, skipped) for every JWKS document of the corpus.
EXPECTED: dict[str, tuple[int, int]] = {
    "apple-1": (3, 0),
    "apple-2": (4, 0),
    "apple-3": (1, 0),
    "auth0-1": (2, 0),
    "aws-cognito-1": (2, 0),
    "aws-cognito-2": (2, 0),
    "aws-cognito-3": (2, 0),
    "battlenet-1": (2, 0),
    "battlenet-2": (3, 0),
    "discord-1": (1, 0),
    "docker-1": (2, 0),
    "dropbox-1": (1, 0),
    "facebook-1": (2, 0),
    "facebook-2": (2, 0),
    "firebase-1": (2, 0),
    "github-actions-1": (2, 0),
    "gitlab-1": (2, 0),
    "google-1": (2, 0),
    "google-10": (3, 0),
    "google-11": (2, 0),
    "google-2": (3, 0),
    "google-3": (2, 0),
    "google-4": (2, 0),
    "google-5": (2, 0),
    "google-6": (2, 0),
    "google-7": (2, 0),
    "google-8": (2, 0),
    "google-9": (3, 0),
    "google-iap-1": (5, 0),
    "hashicorp-vault-1": (2, 0),
    "keycloak-1": (1, 1),  # the RSA-OAEP "enc" key
    "klarna-1": (4, 0),
    "lego-1": (5, 0),
    "linkedin-1": (1, 0),
    "microsoft-entra-1": (7, 0),
    "microsoft-entra-2": (6, 0),
    "microsoft-entra-3": (10, 0),
    "microsoft-entra-4": (6, 0),
    "microsoft-entra-5": (11, 0),
    "microsoft-entra-6": (9, 0),
    "mojeid-1": (1, 0),
    "okta-1": (2, 0),
    "onelogin-1": (1, 0),
    "paypal-1": (14, 1),  # the X25519 key-agreement key
    "slack-1": (1, 0),
    "spotify-1": (3, 0),
    "spotify-2": (3, 0),
    "superoffice-1": (1, 0),
    "twitch-1": (1, 0),
    "verimi-1": (2, 0),
    "xero-1": (1, 0),
    "yahoo-1": (1, 3),  # three RSA-1024 keys
}

JWKS_NAMES = sorted(MANIFEST["jwks"])
TOKEN_NAMES = sorted(MANIFEST["tokens"])
NONJWKS_FILES = sorted(path.name for path in (CORPUS / "nonjwks").glob("*.json"))
DISCOVERY_FILES = sorted(path.name for path in (CORPUS / "discovery").glob("*.json"))


def ring_for(name: str) -> KeyRing:
    return parse_jwks(load(MANIFEST["jwks"][name]["file"]))


def manifest_says_unusable(analysis: dict[str, Any]) -> bool:
    """The key policy applied to the manifest's independent per-key analysis."""
    if analysis["use"] not in (None, "sig"):
        return True
    if analysis["crv"] in ("X25519", "X448"):
        return True
    match = re.fullmatch(r"RSA-(\d+)", analysis["crypto"])
    return bool(match and not 2048 <= int(match.group(1)) <= 8192)


def b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# --- the corpus itself --------------------------------------------------------------


def test_corpus_is_complete() -> None:
    """The copied corpus holds the 52 JWKS, 21 tokens and 2 non-JWKS documents it lists."""
    assert len(JWKS_NAMES) == 52
    assert len(TOKEN_NAMES) == 21
    assert len(NONJWKS_FILES) == 2
    assert set(EXPECTED) == set(JWKS_NAMES)
    assert sorted(path.stem for path in (CORPUS / "jwks").glob("*.json")) == JWKS_NAMES
    assert sorted(path.stem for path in (CORPUS / "tokens").glob("*.json")) == TOKEN_NAMES
    assert (CORPUS / "SOURCE.md").is_file()


# --- JWKS documents -----------------------------------------------------------------


@pytest.mark.parametrize("name", JWKS_NAMES)
def test_jwks_loads_every_usable_key(name: str) -> None:
    """Each real JWKS loads exactly its usable keys and skips exactly the unusable ones."""
    ring = ring_for(name)
    assert (len(ring.keys), len(ring.skipped)) == EXPECTED[name]
    analyses = MANIFEST["jwks"][name]["keys"]
    expected_skips = [i for i, analysis in enumerate(analyses) if manifest_says_unusable(analysis)]
    assert [skip.index for skip in ring.skipped] == expected_skips
    loaded_kids = [analysis["kid"] for analysis in analyses if not manifest_says_unusable(analysis)]
    assert [key.kid for key in ring.keys] == loaded_kids


@pytest.mark.parametrize("name", JWKS_NAMES)
def test_jwks_keys_match_the_manifest_analysis(name: str) -> None:
    """Loaded keys report the kty, crv, size and alg the manifest recorded for them."""
    analyses = [a for a in MANIFEST["jwks"][name]["keys"] if not manifest_says_unusable(a)]
    for key, analysis in zip(ring_for(name).keys, analyses, strict=True):
        assert key.kty == analysis["kty"]
        assert key.crv == analysis["crv"]
        assert key.alg == analysis["alg"]
        if key.kty == "RSA":
            assert analysis["crypto"] == f"RSA-{key.size}"
        assert key.algorithms
        if key.alg is not None:
            assert key.algorithms == {key.alg}


def test_yahoo_rsa_1024_keys_are_skipped() -> None:
    """Yahoo's three RSA-1024 keys are skipped as too short; its P-256 key loads."""
    ring = ring_for("yahoo-1")
    assert [skip.reason for skip in ring.skipped] == [
        "RSA modulus is 1024 bits, fewer than 2048"
    ] * 3
    assert [(key.kty, key.crv) for key in ring.keys] == [("EC", "P-256")]


def test_keycloak_encryption_key_is_skipped() -> None:
    """Keycloak's RSA-OAEP encryption key is skipped for its use."""
    ring = ring_for("keycloak-1")
    assert [skip.reason for skip in ring.skipped] == ["use is 'enc', not 'sig'"]
    assert [key.alg for key in ring.keys] == ["RS256"]


def test_paypal_x25519_key_is_skipped() -> None:
    """PayPal's X25519 key is skipped as a key-agreement key; all 14 signing keys load."""
    ring = ring_for("paypal-1")
    (skip,) = ring.skipped
    assert skip.kid == "753778214125442a472d4b6150645367"
    assert skip.reason == "crv 'X25519' is a key-agreement (ECDH) curve, not a signing curve"
    assert sorted(key.alg or "-" for key in ring.keys) == ["-"] * 7 + ["PS256"] * 3 + ["RS256"] * 4


@pytest.mark.parametrize("name", ["battlenet-1", "battlenet-2", "google-2", "paypal-1"])
def test_non_canonical_rsa_numbers_load_with_canonical_thumbprints(name: str) -> None:
    """Padded, standard-alphabet or zero-led n values load as 2048-bit keys with RFC 7638
    thumbprints of their canonical form."""
    document = load(MANIFEST["jwks"][name]["file"])
    ring = parse_jwks(document)
    by_kid = {jwk["kid"]: jwk for jwk in document["keys"]}
    rsa_keys = [key for key in ring.keys if key.kty == "RSA"]
    assert rsa_keys
    for key in rsa_keys:
        assert key.size == 2048
        assert key.kid is not None
        raw = by_kid[key.kid]
        n = int.from_bytes(
            b64decode(raw["n"].rstrip("=").replace("+", "-").replace("/", "_")), "big"
        )
        e = int.from_bytes(b64decode(raw["e"].rstrip("=")), "big")
        canonical = {
            "kty": "RSA",
            "n": base64.urlsafe_b64encode(n.to_bytes(256, "big")).rstrip(b"=").decode(),
            "e": base64.urlsafe_b64encode(e.to_bytes(3, "big")).rstrip(b"=").decode(),
        }
        assert key.thumbprint == joserfc_thumbprint(canonical)


def test_entra_per_key_issuer_is_exposed() -> None:
    """Microsoft Entra keys carry their per-key issuer template."""
    for name in JWKS_NAMES:
        if not name.startswith("microsoft-entra-"):
            continue
        document = load(MANIFEST["jwks"][name]["file"])
        issuers = [jwk.get("issuer") for jwk in document["keys"]]
        assert [key.issuer for key in ring_for(name).keys] == issuers
        assert all(isinstance(issuer, str) for issuer in issuers)


def test_kids_of_the_corpus_are_indexed_verbatim() -> None:
    """Kids with base64 punctuation or digits only are looked up exactly as published."""
    assert "aj5k1/ckHiUul+ytVeCpWX39O89yFeGUmstJEhA3y7s=" in ring_for("aws-cognito-1").kids
    assert "1" in ring_for("twitch-1").kids
    assert "01" not in ring_for("twitch-1").kids
    assert [key.kid for key in ring_for("twitch-1").select("RS256", "1")] == ["1"]
    assert ring_for("twitch-1").select("RS256", "01") == ()


# --- documents that are not JWKS ----------------------------------------------------


@pytest.mark.parametrize("filename", NONJWKS_FILES)
def test_non_jwks_documents_are_refused(filename: str) -> None:
    """Google's kid -> PEM certificate maps have no "keys" array: InvalidKeySetError."""
    document = load(f"nonjwks/{filename}")
    assert isinstance(document, dict)
    with pytest.raises(InvalidKeySetError, match='must have a "keys" member'):
        parse_jwks(document)


@pytest.mark.parametrize("filename", DISCOVERY_FILES)
def test_discovery_documents_are_not_key_sets(filename: str) -> None:
    """An OIDC discovery document given in place of a JWKS is refused."""
    with pytest.raises(InvalidKeySetError):
        parse_jwks(load(f"discovery/{filename}"))


# --- real tokens at signature level -------------------------------------------------


def split_token(token: str) -> tuple[dict[str, Any], bytes, bytes]:
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64decode(header_b64))
    return header, f"{header_b64}.{payload_b64}".encode("ascii"), b64decode(signature_b64)


@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_real_token_verifies_with_a_selected_key(name: str) -> None:
    """A real token's signature verifies with a key selected by its header kid and alg."""
    record = load(f"tokens/{name}.json")
    header, signing_input, signature = split_token(record["token"])
    assert (header["alg"], header.get("kid")) == (record["alg"], record["kid"])
    candidates = parse_jwks(load(record["jwks_file"])).select(header["alg"], header.get("kid"))
    assert candidates
    assert any(key.verify(header["alg"], signing_input, signature) for key in candidates)


@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_real_token_with_a_flipped_signature_byte_fails(name: str) -> None:
    """Flipping one byte of a real token's signature makes every candidate refuse it."""
    record = load(f"tokens/{name}.json")
    header, signing_input, signature = split_token(record["token"])
    ring = parse_jwks(load(record["jwks_file"]))
    for position in (0, len(signature) // 2, len(signature) - 1):
        tampered = bytearray(signature)
        tampered[position] ^= 0x80
        for key in ring.select(header["alg"], header.get("kid")):
            assert not key.verify(header["alg"], signing_input, bytes(tampered))


@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_real_token_is_refused_by_the_wrong_algorithm_or_kid(name: str) -> None:
    """A real token selects nothing under another kid, and no key verifies it as PS256."""
    record = load(f"tokens/{name}.json")
    header, signing_input, signature = split_token(record["token"])
    ring = parse_jwks(load(record["jwks_file"]))
    assert ring.select(header["alg"], header["kid"] + "-rotated") == ()
    for key in ring.keys:
        assert not key.verify("PS256", signing_input, signature)
