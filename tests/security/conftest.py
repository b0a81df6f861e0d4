"""Fixtures of the security suite: both shells, a second (attacker's) issuer, spare keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from jwks_client.testing import FakeClock, LocalIssuer

from ._support import SHELLS, MakeShell, shell_factory


@dataclass(frozen=True)
class SpareKeys:
    """Private keys generated once per session (RSA generation is the slow part)."""

    rsa: RSAPrivateKey
    rsa_other: RSAPrivateKey
    rsa_1024: RSAPrivateKey
    p256: EllipticCurvePrivateKey
    p384: EllipticCurvePrivateKey
    secp256k1: EllipticCurvePrivateKey
    ed25519: Ed25519PrivateKey
    ed448: Ed448PrivateKey


@pytest.fixture(scope="session")
def spare_keys() -> SpareKeys:
    """Private keys of every type the suite needs, generated once."""
    return SpareKeys(
        rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa_other=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa_1024=rsa.generate_private_key(public_exponent=65537, key_size=1024),
        p256=ec.generate_private_key(ec.SECP256R1()),
        p384=ec.generate_private_key(ec.SECP384R1()),
        secp256k1=ec.generate_private_key(ec.SECP256K1()),
        ed25519=ed25519.Ed25519PrivateKey.generate(),
        ed448=ed448.Ed448PrivateKey.generate(),
    )


@pytest.fixture(params=SHELLS)
def make(
    request: pytest.FixtureRequest, issuer: LocalIssuer, clock: FakeClock
) -> Iterator[MakeShell]:
    """Build verifiers of one shell kind (each test runs once per kind) for ``issuer``."""
    factory, made = shell_factory(request.param, issuer, clock)
    yield factory
    for shell in made:
        shell.close()


@pytest.fixture
def attacker(clock: FakeClock) -> Iterator[LocalIssuer]:
    """A second issuer on 127.0.0.1 holding the attacker's ES256 key."""
    with LocalIssuer(algorithms=("ES256",), clock=clock) as local:
        yield local
