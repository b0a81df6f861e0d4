"""Pure glue shared by the sync and async shells.

Theory of operation
-------------------
The shells differ only in how they wait (threads or tasks). Everything else they need
lives here: validating constructor options into frozen configs, building a refresh
plan from the cache state, turning a policy rejection into the right exception, the
candidate-key signature loop and the claims settings. Nothing here blocks, awaits,
locks or reads a clock.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from ._claims import ClaimsPolicy, validate_claims
from ._errors import (
    ConfigurationError,
    InvalidIssuerError,
    InvalidKeySetError,
    InvalidSignatureError,
    JWKSClientError,
    KeyNotFoundError,
    KeySetUnavailableError,
)
from ._http import FetchPlan, check_url
from ._keys import KeyRing, PreparedKey, parse_jwks
from ._messages import SHOWN_LONG_CHARS, shown
from ._policy import CacheState, Reject, RejectReason
from ._token import ParsedToken
from ._types import ASYMMETRIC_ALGORITHMS, DEFAULT_ALGORITHMS, CachePolicy

__all__ = [
    "DEFAULT_LEEWAY",
    "SourceConfig",
    "TokenRules",
    "check_key_issuer",
    "check_signature",
    "load_jwks_document",
    "make_plan",
    "make_source_config",
    "make_token_rules",
    "precheck",
    "rejection",
    "unavailable",
]

#: Seconds of clock skew tolerated on exp/nbf/iat.
DEFAULT_LEEWAY = 60.0


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """Where keys come from and how they are fetched."""

    issuer: str | None
    jwks_uri: str | None
    require_https: bool
    timeout: float
    max_response_bytes: int
    policy: CachePolicy
    static: bool = False

    @property
    def label(self) -> str:
        """A short description for messages: the JWKS URL or the issuer."""
        if self.static:
            return "the static key set"
        return self.jwks_uri or f"issuer {self.issuer}"


@dataclass(frozen=True, slots=True)
class TokenRules:
    """What a verifier accepts."""

    algorithms: frozenset[str]
    claims: ClaimsPolicy
    max_token_length: int


def _positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def make_source_config(
    *,
    issuer: str | None,
    jwks_uri: str | None,
    require_https: bool,
    timeout: float,
    max_response_bytes: int,
    cache_policy: CachePolicy | None,
    static: bool = False,
) -> SourceConfig:
    """Validate the key-source options.

    Raises:
        ConfigurationError: a URL is missing, malformed or not https when required;
            timeout or size cap is not a positive number; cache_policy has the wrong type;
            a static key set is combined with a URL.
    """
    if static:
        if jwks_uri is not None:
            raise ConfigurationError("give either jwks (a static key set) or jwks_uri, not both")
        issuer = None
    elif issuer is None and jwks_uri is None:
        raise ConfigurationError("either issuer (for discovery) or jwks_uri is required")
    if issuer is not None:
        check_url(issuer, require_https=require_https, what="issuer")
    if jwks_uri is not None:
        check_url(jwks_uri, require_https=require_https, what="jwks_uri")
    if cache_policy is None:
        cache_policy = CachePolicy()
    elif not isinstance(cache_policy, CachePolicy):
        raise ConfigurationError(f"cache_policy must be a CachePolicy, got {cache_policy!r}")
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
        raise ConfigurationError(f"max_response_bytes must be an int, got {max_response_bytes!r}")
    if max_response_bytes <= 0:
        raise ConfigurationError(f"max_response_bytes must be > 0, got {max_response_bytes!r}")
    return SourceConfig(
        issuer=issuer,
        jwks_uri=jwks_uri,
        require_https=bool(require_https),
        timeout=_positive_number("timeout", timeout),
        max_response_bytes=max_response_bytes,
        policy=cache_policy,
        static=static,
    )


def load_jwks_document(source: object) -> KeyRing:
    """Parse a static JWKS given as a mapping, or as JSON text or bytes.

    Raises:
        InvalidKeySetError: not JSON, not a JWKS, or no usable key in it.
    """
    if isinstance(source, Mapping):
        document: object = dict(source)
    elif isinstance(source, (str, bytes, bytearray)):
        try:
            document = json.loads(source)
        except (ValueError, RecursionError) as exc:
            raise InvalidKeySetError("the static key set is not valid JSON") from exc
    else:
        raise ConfigurationError(
            f"jwks must be a mapping, JSON text or a path, got {type(source).__name__}"
        )
    ring = parse_jwks(document)
    if len(ring) == 0:
        reasons = "; ".join(f"key {s.index}: {s.reason}" for s in ring.skipped[:5])
        raise InvalidKeySetError(
            "the static key set has no usable verification key"
            + (f" ({reasons})" if reasons else "")
        )
    return ring


def _audiences(audience: str | Collection[str] | None) -> frozenset[str] | None:
    if audience is None:
        return None
    if isinstance(audience, str):
        values: Iterable[object] = (audience,)
    elif isinstance(audience, Collection) and not isinstance(audience, (bytes, bytearray)):
        values = audience
    else:
        raise ConfigurationError(
            f"audience must be a str, a collection of str, or None, got {audience!r}"
        )
    result = frozenset(values)
    if not result or not all(isinstance(a, str) and a for a in result):
        raise ConfigurationError(
            f"audience must name at least one non-empty string, got {audience!r}"
        )
    return result  # type: ignore[return-value]


def make_token_rules(
    *,
    issuer: str | None,
    audience: str | Collection[str] | None,
    algorithms: Iterable[str] | None,
    leeway: float,
    token_type: str | None,
    required_claims: Iterable[str],
    max_token_length: int,
) -> TokenRules:
    """Validate the token options.

    Raises:
        ConfigurationError: an algorithm is unknown, symmetric or ``none``; the
            allowlist is empty; audience or leeway is malformed.
    """
    if issuer is not None and (not isinstance(issuer, str) or not issuer):
        raise ConfigurationError(f"issuer must be a non-empty str, got {issuer!r}")
    if algorithms is None:
        allowed = DEFAULT_ALGORITHMS
    else:
        if isinstance(algorithms, str):
            raise ConfigurationError("algorithms must be a collection of names, not a str")
        allowed = frozenset(algorithms)
        refused = sorted(a for a in allowed if a not in ASYMMETRIC_ALGORITHMS)
        if refused:
            raise ConfigurationError(
                f"algorithms not supported: {refused}; only asymmetric JWS algorithms "
                f"are accepted ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))})"
            )
        if not allowed:
            raise ConfigurationError("algorithms must not be empty")
    if isinstance(leeway, bool) or not isinstance(leeway, (int, float)):
        raise ConfigurationError(f"leeway must be a number of seconds, got {leeway!r}")
    if not math.isfinite(leeway) or leeway < 0:
        raise ConfigurationError(f"leeway must be finite and >= 0, got {leeway!r}")
    if token_type is not None and (not isinstance(token_type, str) or not token_type):
        raise ConfigurationError(f"token_type must be a non-empty str or None, got {token_type!r}")
    required = frozenset(required_claims)
    if not all(isinstance(c, str) for c in required):
        raise ConfigurationError(
            f"required_claims must be strings, got {sorted(map(repr, required))}"
        )
    if isinstance(max_token_length, bool) or not isinstance(max_token_length, int):
        raise ConfigurationError(f"max_token_length must be an int, got {max_token_length!r}")
    if max_token_length <= 0:
        raise ConfigurationError(f"max_token_length must be > 0, got {max_token_length!r}")
    return TokenRules(
        algorithms=allowed,
        claims=ClaimsPolicy(
            issuer=issuer,
            audiences=_audiences(audience),
            leeway=float(leeway),
            token_type=token_type,
            required=required,
        ),
        max_token_length=max_token_length,
    )


def make_plan(config: SourceConfig, state: CacheState, now: float, *, forced: bool) -> FetchPlan:
    """Build the plan of one refresh from the configuration and the cache state."""
    jwks_uri = config.jwks_uri
    stale_jwks_uri = state.jwks_uri
    if jwks_uri is None:
        discovered = state.discovered
        if discovered is not None and now < discovered.fresh_until:
            jwks_uri = discovered.jwks_uri
    have_ring = state.ring is not None
    return FetchPlan(
        issuer=config.issuer,
        jwks_uri=jwks_uri,
        stale_jwks_uri=stale_jwks_uri,
        etag=state.etag if have_ring else None,
        last_modified=state.last_modified if have_ring else None,
        force=forced,
        require_https=config.require_https,
        timeout=config.timeout,
        policy=config.policy,
    )


def unavailable(error: KeySetUnavailableError | None, *, label: str) -> KeySetUnavailableError:
    """The keys-unavailable exception: a clone of the last refresh failure, if any."""
    if error is None:
        return KeySetUnavailableError(f"keys for {label} are unavailable")
    return error.clone()


def rejection(decision: Reject, *, kid: str | None, alg: str, label: str) -> JWKSClientError:
    """The exception for a policy rejection (a fresh instance, safe to raise anywhere)."""
    error = decision.error
    if decision.reason is RejectReason.UNAVAILABLE:
        return unavailable(error, label=label)
    what = f"kid {kid!r}" if kid is not None else "a kid-less token"
    message = f"no key for {what} with alg {alg} in the key set of {label}"
    if error is not None:
        message += f" (the last refresh failed: {error})"
    return KeyNotFoundError(message, kid=kid, alg=alg)


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
    tried = len(candidates)
    raise InvalidSignatureError(
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
    bound = key.issuer
    if bound is None:
        return
    claims = parsed.claims
    tid = claims.get("tid")
    expected = bound.replace("{tenantid}", tid if isinstance(tid, str) else "\x00")
    if claims.get("iss") != expected:
        shown_iss = shown(claims.get("iss"), SHOWN_LONG_CHARS)
        raise InvalidIssuerError(
            f"token issuer {shown_iss} is not the issuer its signing key "
            f"{shown(key.kid)} is published for ({shown(bound, SHOWN_LONG_CHARS)})",
            claim="iss",
        )


def precheck(parsed: ParsedToken, rules: TokenRules, now: float) -> None:
    """Cheap claims checks on the unverified token before spending a network refresh.

    Raises:
        InvalidTokenError: the token would be rejected whatever the keys.
    """
    validate_claims(parsed.claims, typ=parsed.typ, policy=rules.claims, now=now)
