"""Configuration: constructor options validated once into frozen values.

Theory of operation
-------------------
A verifier has two kinds of options. *Source* options say where keys come from and how
they are fetched (:class:`SourceConfig`); *token* options say what a token must satisfy
(:class:`TokenRules`, whose claims part is a :class:`~._claims.ClaimsPolicy`). Both are
validated here, at construction, and never again on the hot path.

Each is split in two steps so that a verifier for many issuers validates its options once
and binds them per issuer cheaply: :func:`source_options` then :func:`bind_source`, and
:func:`make_token_rules` then :func:`rules_for_issuer`. The claims fields themselves are
validated in one place, :class:`~._claims.ClaimsPolicy`; this module only gives the user's
shapes (a str or a collection of audiences, any iterable of required claims) their frozen
form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace

from ._claims import ClaimsPolicy
from ._errors import ConfigurationError, InvalidKeySetError
from ._http import check_url
from ._keys import KeyRing, parse_jwks
from ._types import CachePolicy, algorithm_allowlist

__all__ = [
    "DEFAULT_LEEWAY",
    "SourceConfig",
    "TokenRules",
    "bind_source",
    "load_jwks_document",
    "make_source_config",
    "make_token_rules",
    "rules_for_issuer",
    "source_options",
]

#: Seconds of clock skew tolerated on exp/nbf/iat.
DEFAULT_LEEWAY = 60.0


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """Where keys come from and how they are fetched.

    ``issuer`` and ``jwks_uri`` are both None in an unbound template (see
    :func:`source_options`); a bound config has one of them, or is ``static``.
    """

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
    """What a verifier accepts: the parse rules and the claims policy."""

    algorithms: frozenset[str]
    claims: ClaimsPolicy
    max_token_length: int


def _positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be finite and > 0, got {value!r}")
    return float(value)


def source_options(
    *,
    require_https: bool,
    timeout: float,
    max_response_bytes: int,
    cache_policy: CachePolicy | None,
) -> SourceConfig:
    """Validate the fetching options into an unbound template (no issuer, no URL).

    Raises:
        ConfigurationError: timeout or size cap is not a positive number; cache_policy
            has the wrong type.
    """
    if cache_policy is None:
        cache_policy = CachePolicy()
    elif not isinstance(cache_policy, CachePolicy):
        raise ConfigurationError(f"cache_policy must be a CachePolicy, got {cache_policy!r}")
    if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int):
        raise ConfigurationError(f"max_response_bytes must be an int, got {max_response_bytes!r}")
    if max_response_bytes <= 0:
        raise ConfigurationError(f"max_response_bytes must be > 0, got {max_response_bytes!r}")
    return SourceConfig(
        issuer=None,
        jwks_uri=None,
        require_https=bool(require_https),
        timeout=_positive_number("timeout", timeout),
        max_response_bytes=max_response_bytes,
        policy=cache_policy,
    )


def bind_source(
    template: SourceConfig,
    *,
    issuer: str | None,
    jwks_uri: str | None,
    static: bool = False,
) -> SourceConfig:
    """Bind a template to its source: an issuer to discover, a JWKS URL, or a static set.

    Raises:
        ConfigurationError: no source, or a URL that is malformed or not https when
            required, or a static set combined with a URL.
    """
    if static:
        if jwks_uri is not None:
            raise ConfigurationError("give either jwks (a static key set) or jwks_uri, not both")
        issuer = None
    elif issuer is None and jwks_uri is None:
        raise ConfigurationError("either issuer (for discovery) or jwks_uri is required")
    if issuer is not None:
        check_url(issuer, require_https=template.require_https, what="issuer")
    if jwks_uri is not None:
        check_url(jwks_uri, require_https=template.require_https, what="jwks_uri")
    return replace(template, issuer=issuer, jwks_uri=jwks_uri, static=static)


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
    """Validate the key-source options and bind them (:func:`source_options`,
    then :func:`bind_source`)."""
    template = source_options(
        require_https=require_https,
        timeout=timeout,
        max_response_bytes=max_response_bytes,
        cache_policy=cache_policy,
    )
    return bind_source(template, issuer=issuer, jwks_uri=jwks_uri, static=static)


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
    """The frozen form of the ``audience`` option (its members are checked by ClaimsPolicy)."""
    if audience is None:
        return None
    if isinstance(audience, str):
        return frozenset((audience,))
    if isinstance(audience, Collection) and not isinstance(audience, (bytes, bytearray)):
        return frozenset(audience)
    raise ConfigurationError(
        f"audience must be a str, a collection of str, or None, got {audience!r}"
    )


def _algorithms(algorithms: Iterable[str] | None) -> frozenset[str]:
    return algorithm_allowlist(algorithms, "algorithms")


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

    ``issuer=None`` makes rules without an issuer check (a template for
    :func:`rules_for_issuer`).

    Raises:
        ConfigurationError: an algorithm is unknown, symmetric or ``none``; the
            allowlist is empty; a claims option is malformed; max_token_length is not a
            positive int.
    """
    if isinstance(max_token_length, bool) or not isinstance(max_token_length, int):
        raise ConfigurationError(f"max_token_length must be an int, got {max_token_length!r}")
    if max_token_length <= 0:
        raise ConfigurationError(f"max_token_length must be > 0, got {max_token_length!r}")
    if isinstance(required_claims, str):
        raise ConfigurationError("required_claims must be a collection of names, not a str")
    return TokenRules(
        algorithms=_algorithms(algorithms),
        claims=ClaimsPolicy(
            issuer=issuer,
            audiences=_audiences(audience),
            leeway=leeway,
            token_type=token_type,
            required=frozenset(required_claims),
        ),
        max_token_length=max_token_length,
    )


def rules_for_issuer(rules: TokenRules, issuer: str) -> TokenRules:
    """The same rules, checking ``iss`` against ``issuer``."""
    return replace(rules, claims=replace(rules.claims, issuer=issuer))
