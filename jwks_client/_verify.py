"""Pure verification of one parsed token against its candidate keys.

Theory of operation
-------------------
A token reaches this module parsed (:mod:`._token`) and with its candidate keys resolved
(the key engine). Three checks remain, in this order, and each raises the library's own
exception: the signature, tried against each candidate (a bounded few); the per-key issuer
binding of key sets that publish one; the claims (:mod:`._claims`). Nothing here blocks,
awaits, locks or reads a clock: ``now`` is an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._claims import ClaimsPolicy, validate_claims
from ._errors import InvalidIssuerError, InvalidSignatureError
from ._keys import PreparedKey
from ._messages import SHOWN_LONG_CHARS, shown
from ._token import ParsedToken

__all__ = ["check_issuer_binding", "check_key_issuer", "check_signature", "verify_parsed"]


def check_signature(parsed: ParsedToken, candidates: tuple[PreparedKey, ...]) -> PreparedKey:
    """Return the first candidate whose signature check passes.

    Raises:
        InvalidSignatureError: no candidate verifies the signature.
    """
    signing_input = parsed.signing_input
    signature = parsed.signature
    alg = parsed.alg
    for key in candidates:
        if key.verify(alg, signing_input, signature):
            return key
    raise _unverified(alg, len(candidates))


def _unverified(alg: str, tried: int) -> InvalidSignatureError:
    return InvalidSignatureError(
        f"signature does not verify with {'the' if tried == 1 else f'any of {tried}'} "
        f"matching key{'s' if tried != 1 else ''} (alg {alg})"
    )


def check_key_issuer(parsed: ParsedToken, key: PreparedKey) -> None:
    """Refuse a token whose ``iss`` is not the issuer its signing key is published for.

    Some key sets bind each key to an issuer (Microsoft Entra's non-standard per-key
    ``issuer`` member, with a ``{tenantid}`` placeholder filled from the token's ``tid``).
    A key bound so signs only for that issuer, as Microsoft's own validation requires;
    keys without the member are not constrained.

    Raises:
        InvalidIssuerError: the token's ``iss`` is not the key's issuer.
    """
    check_issuer_binding(parsed.claims, key)


def check_issuer_binding(claims: Mapping[str, Any], key: PreparedKey) -> None:
    """:func:`check_key_issuer` on a token's claims alone (a token verified before).

    Raises:
        InvalidIssuerError: the token's ``iss`` is not the key's issuer.
    """
    bound = key.issuer
    if bound is None:
        return
    tid = claims.get("tid")
    expected = bound.replace("{tenantid}", tid if isinstance(tid, str) else "\x00")
    if claims.get("iss") != expected:
        shown_iss = shown(claims.get("iss"), SHOWN_LONG_CHARS)
        raise InvalidIssuerError(
            f"token issuer {shown_iss} is not the issuer its signing key "
            f"{shown(key.kid)} is published for ({shown(bound, SHOWN_LONG_CHARS)})",
            claim="iss",
        )


def verify_parsed(
    parsed: ParsedToken,
    candidates: tuple[PreparedKey, ...],
    policy: ClaimsPolicy,
    now: float,
) -> PreparedKey:
    """Check the signature, the key's issuer binding and the claims; return the key used.

    Raises:
        InvalidTokenError: the token is rejected (a subclass says why).
    """
    # check_signature, written out: one frame less on every token's path.
    signing_input, signature, alg = parsed.signing_input, parsed.signature, parsed.alg
    for key in candidates:
        if key.verify(alg, signing_input, signature):
            break
    else:
        raise _unverified(alg, len(candidates))
    if key.issuer is not None:
        check_key_issuer(parsed, key)
    validate_claims(parsed.claims, typ=parsed.typ, policy=policy, now=now)
    return key
