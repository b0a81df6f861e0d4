"""The contenders of the verification table: jwks_client and its peers, each as documented.

Every peer verifies the signature and checks ``iss``, ``aud`` and ``exp`` (and ``nbf``/
``iat`` where it does so by default) with 60 s of leeway, and returns the claims. A peer
that is not installed, or cannot verify a token of some algorithm, becomes an ``n/a``
row with the reason; the run goes on.

* PyJWT: ``PyJWKClient(jwks_uri)`` (its JWKS cache warmed by one call), then per token
  ``get_signing_key_from_jwt`` + ``jwt.decode(..., audience=, issuer=)``.
* joserfc: ``KeySet.import_key_set(jwks)`` once, then per token ``jwt.decode`` +
  ``JWTClaimsRegistry.validate``.
* authlib: ``JsonWebKey.import_key_set(jwks)`` once, then per token
  ``JsonWebToken([alg]).decode(..., claims_options=)`` + ``claims.validate()``.
* python-jose: ``jose.jwt.decode(token, jwks_dict, ...)`` (it builds key objects from the
  dict on every call and tries the set's keys in order; the signing key is listed first).
* jwcrypto: ``JWKSet`` once, then per token ``jwt.JWT(jwt=, key=, check_claims=)`` (its
  default leeway is 60 s).
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Callable
from typing import Any

from bench_common import Contender
from bench_tokens import AUDIENCE, Fixture

from jwks_client import AsyncVerifier, Verifier

#: Peers in table order.
PEERS: tuple[str, ...] = ("PyJWT", "joserfc", "authlib", "python-jose", "jwcrypto")
#: Leeway given to every library, seconds.
LEEWAY = 60

# The peers' deprecation notes (authlib.jose, joserfc's "EdDSA") are not under test.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", module="authlib")
warnings.filterwarnings("ignore", module="joserfc")
warnings.filterwarnings("ignore", message=".*deprecated.*")


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:90]}" if text else type(exc).__name__


def checked(name: str, call: Callable[[], Any], fixture: Fixture) -> Contender:
    """A contender for ``call`` if one call returns the token's claims, else an n/a one."""
    expected = json.loads(_payload(fixture.token))["sub"]
    try:
        result = call()
        claims = dict(result)
    except Exception as exc:
        return Contender(name, unavailable=_reason(exc))
    if claims.get("sub") != expected:
        return Contender(name, unavailable=f"returned unexpected claims {claims!r:.80}")
    return Contender(name, call=call)


def _payload(token: str) -> bytes:
    import base64

    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# --- jwks_client ---------------------------------------------------------------------------


def jwks_client_verifier(fixture: Fixture, **options: Any) -> tuple[Verifier, Contender]:
    """A warm ``Verifier`` (discovery from the issuer URL) and its contender."""
    verifier = Verifier(
        fixture.issuer.issuer, audience=AUDIENCE, require_https=False, leeway=LEEWAY, **options
    )
    token = fixture.token
    verify = verifier.verify
    name = "jwks_client Verifier"
    if options:
        name += " (" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")"
    return verifier, checked(name, lambda: verify(token), fixture)


def supports_option(name: str) -> bool:
    """Whether ``Verifier`` takes the keyword option ``name`` (the API grows over time)."""
    return name in inspect.signature(Verifier).parameters


async def jwks_client_async_verifier(fixture: Fixture) -> tuple[AsyncVerifier, Contender]:
    """A warm ``AsyncVerifier``, created in the running loop, and its async contender."""
    verifier = AsyncVerifier(
        fixture.issuer.issuer, audience=AUDIENCE, require_https=False, leeway=LEEWAY
    )
    token = fixture.token
    name = "jwks_client AsyncVerifier"
    try:
        claims = await verifier.verify(token)
    except Exception as exc:
        return verifier, Contender(name, unavailable=_reason(exc))
    if claims.get("sub") != json.loads(_payload(token))["sub"]:
        return verifier, Contender(name, unavailable="returned unexpected claims")
    verify = verifier.verify
    return verifier, Contender(name, acall=lambda: verify(token))


# --- peers -----------------------------------------------------------------------------------


def _pyjwt(fixture: Fixture) -> Contender:
    import jwt

    client = jwt.PyJWKClient(fixture.issuer.jwks_uri)
    token, alg, issuer = fixture.token, fixture.alg, fixture.issuer.issuer

    def call() -> dict[str, Any]:
        key = client.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token, key.key, algorithms=[alg], audience=AUDIENCE, issuer=issuer, leeway=LEEWAY
        )
        return claims

    return checked("PyJWT", call, fixture)


def _joserfc(fixture: Fixture) -> Contender:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    key_set = KeySet.import_key_set(fixture.jwks)  # type: ignore[arg-type]
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": fixture.issuer.issuer},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
    )
    token, algorithms = fixture.token, [fixture.alg]

    def call() -> dict[str, Any]:
        decoded = jwt.decode(token, key_set, algorithms=algorithms)
        registry.validate(decoded.claims)
        return decoded.claims

    return checked("joserfc", call, fixture)


def _authlib(fixture: Fixture) -> Contender:
    from authlib.jose import JsonWebKey, JsonWebToken

    key_set = JsonWebKey.import_key_set(fixture.jwks)
    decoder = JsonWebToken([fixture.alg])
    options = {
        "iss": {"essential": True, "value": fixture.issuer.issuer},
        "aud": {"essential": True, "value": AUDIENCE},
        "exp": {"essential": True},
    }
    token = fixture.token

    def call() -> Any:
        claims = decoder.decode(token, key_set, claims_options=options)
        claims.validate(leeway=LEEWAY)
        return claims

    return checked("authlib", call, fixture)


def _python_jose(fixture: Fixture) -> Contender:
    from jose import jwt

    jwks, token, algorithms = fixture.jwks, fixture.token, [fixture.alg]
    issuer = fixture.issuer.issuer

    def call() -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            jwks,
            algorithms=algorithms,
            audience=AUDIENCE,
            issuer=issuer,
            options={"leeway": LEEWAY},
        )
        return claims

    return checked("python-jose", call, fixture)


def _jwcrypto(fixture: Fixture) -> Contender:
    from jwcrypto import jwk, jwt

    key_set = jwk.JWKSet.from_json(json.dumps(fixture.jwks))
    token, algs = fixture.token, [fixture.alg]
    check = {"iss": fixture.issuer.issuer, "aud": AUDIENCE, "exp": None}

    def call() -> dict[str, Any]:
        decoded = jwt.JWT(jwt=token, key=key_set, algs=algs, check_claims=check)
        claims: dict[str, Any] = json.loads(decoded.claims)
        return claims

    return checked("jwcrypto", call, fixture)


_BUILDERS: dict[str, Callable[[Fixture], Contender]] = {
    "PyJWT": _pyjwt,
    "joserfc": _joserfc,
    "authlib": _authlib,
    "python-jose": _python_jose,
    "jwcrypto": _jwcrypto,
}


def peer(name: str, fixture: Fixture) -> Contender:
    """The contender of peer ``name`` for ``fixture``, or an n/a one with the reason."""
    try:
        return _BUILDERS[name](fixture)
    except ImportError as exc:
        return Contender(name, unavailable=f"not installed ({exc.name or exc})")
    except Exception as exc:
        return Contender(name, unavailable=_reason(exc))
