"""``jwks-client inspect``: what an issuer, or a bare JWKS URL, serves.

The URL is tried as an issuer first (OpenID Connect discovery, then RFC 8414); when
neither answers with a discovery document it is read as a JWKS URL. The report lists the
usable keys with their RFC 7638 thumbprints, the caching headers received and the cache
lifetime the library derives from them (with the rule that set it), and the keys the
library would skip, and why. Requests are the library's own: the same size cap, no
redirects, the same discovery checks, so what inspect accepts a verifier accepts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

from ._cache_control import compute_freshness
from ._http import (
    ACCEPT_DISCOVERY,
    ACCEPT_JWKS,
    DEFAULT_MAX_RESPONSE_BYTES,
    build_request,
    check_url,
    discovery_urls,
    read_discovery,
    read_jwks,
)
from ._keys import KeyRing, PreparedKey, SkippedKey
from ._sync import send_capped
from ._types import CachePolicy
from ._values import Discovered, RawResponse

__all__ = ["run_inspect"]

_CACHING_HEADERS = ("Cache-Control", "Age", "Expires", "Date", "ETag", "Last-Modified")
_DISCOVERY_KINDS = ("OpenID Connect", "RFC 8414")


def run_inspect(
    url: str, *, require_https: bool, timeout: float, json_output: bool, out: TextIO
) -> None:
    """Inspect ``url`` and print the report on ``out`` (one JSON document with ``json_output``).

    Raises:
        ConfigurationError: a URL the library would refuse.
        KeySetUnavailableError: the keys could not be fetched or no key is usable.
    """
    check_url(url, require_https=require_https, what="URL")
    policy = CachePolicy()
    with httpx.Client(timeout=timeout) as client:
        discovery = _discover(client, url, require_https=require_https, timeout=timeout)
        jwks_uri = url if discovery is None else discovery.jwks_uri
        request = build_request(jwks_uri, accept=ACCEPT_JWKS, timeout=timeout)
        raw = _fetch(client, request, timeout)
    ring, freshness = read_jwks(raw, conditional=False, policy=policy)
    assert ring is not None  # only a conditional request may answer 304
    report = _inspect_report(url, discovery, raw, ring, freshness.lifetime, freshness.source)
    if json_output:
        print(json.dumps(report), file=out)
    else:
        _print_inspect(report, out)


def _fetch(client: httpx.Client, request: httpx.Request, timeout: float) -> RawResponse:
    """Send ``request`` without following redirects, reading a 200 body under the size cap.

    Raises:
        KeySetUnavailableError: transport failure, timeout or a body over the cap.
    """
    return send_capped(
        client, request, timeout=timeout, max_bytes=DEFAULT_MAX_RESPONSE_BYTES, clock=time.time
    )


def _looks_like_discovery(raw: RawResponse) -> bool:
    """Whether a 200 answer is a JSON object with discovery members (not an HTML page)."""
    if raw.status_code != 200:
        return False
    try:
        document = json.loads(raw.body)
    except (ValueError, RecursionError):
        return False
    return isinstance(document, dict) and ("jwks_uri" in document or "issuer" in document)


@dataclass(frozen=True, slots=True)
class _Discovery:
    kind: str
    url: str
    issuer: str
    jwks_uri: str
    lifetime: float
    source: str


def _discover(
    client: httpx.Client, url: str, *, require_https: bool, timeout: float
) -> _Discovery | None:
    """Try ``url`` as an issuer (OpenID Connect, then RFC 8414); None when neither answers.

    Raises:
        KeySetUnavailableError: a transport failure, or a discovery document the
            library would refuse (wrong issuer, missing or refused jwks_uri).
    """
    policy = CachePolicy()
    for kind, candidate in zip(_DISCOVERY_KINDS, discovery_urls(url), strict=True):
        raw = _fetch(
            client, build_request(candidate, accept=ACCEPT_DISCOVERY, timeout=timeout), timeout
        )
        if not _looks_like_discovery(raw):
            continue
        found: Discovered = read_discovery(
            raw, issuer=url, require_https=require_https, policy=policy
        )
        freshness = compute_freshness(raw.headers, now=raw.received_at, policy=policy)
        return _Discovery(
            kind=kind,
            url=candidate,
            issuer=url,
            jwks_uri=found.jwks_uri,
            lifetime=found.fresh_until - raw.received_at,
            source=freshness.source,
        )
    return None


def _key_document(key: PreparedKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "kty": key.kty,
        "alg": key.alg,
        "use": key.use,
        "size": key.size,
        "crv": key.crv,
        "thumbprint": key.thumbprint,
        "algorithms": sorted(key.algorithms),
    }


def _skipped_document(skipped: SkippedKey) -> dict[str, Any]:
    return {"index": skipped.index, "kid": skipped.kid, "reason": skipped.reason}


def _inspect_report(
    url: str,
    discovery: _Discovery | None,
    raw: RawResponse,
    ring: KeyRing,
    lifetime: float,
    source: str,
) -> dict[str, Any]:
    policy = CachePolicy()
    return {
        "url": url,
        "discovery": None
        if discovery is None
        else {
            "kind": discovery.kind,
            "url": discovery.url,
            "issuer": discovery.issuer,
            "jwks_uri": discovery.jwks_uri,
            "lifetime": discovery.lifetime,
            "lifetime_source": discovery.source,
        },
        "jwks_uri": raw.url,
        "status": raw.status_code,
        "bytes": len(raw.body),
        "headers": {name: raw.headers.get(name) for name in _CACHING_HEADERS},
        "lifetime": lifetime,
        "lifetime_source": source,
        "policy": {
            "default_ttl": policy.default_ttl,
            "min_ttl": policy.min_ttl,
            "max_ttl": policy.max_ttl,
        },
        "keys": [_key_document(key) for key in ring.keys],
        "skipped": [_skipped_document(skipped) for skipped in ring.skipped],
    }


def _print_inspect(report: Mapping[str, Any], out: TextIO) -> None:
    def line(label: str, value: object) -> None:
        print(f"{label:<18}{value}", file=out)

    line("URL", report["url"])
    discovery = report["discovery"]
    if discovery is None:
        print(
            f"{'discovery':<18}none: no discovery document for this URL, read as a JWKS URL",
            file=out,
        )
    else:
        line("discovery", f"{discovery['url']} ({discovery['kind']})")
        line("  issuer", discovery["issuer"])
        line("  jwks_uri", discovery["jwks_uri"])
        line("  lifetime", f"{discovery['lifetime']:g} s (source: {discovery['lifetime_source']})")
    line("JWKS", f"{report['jwks_uri']} (HTTP {report['status']}, {report['bytes']} bytes)")
    print("caching headers", file=out)
    for name, value in report["headers"].items():
        line(f"  {name}", "(absent)" if value is None else value)
    policy = report["policy"]
    line(
        "lifetime",
        f"{report['lifetime']:g} s (source: {report['lifetime_source']}; default policy: "
        f"{policy['default_ttl']:g} s when unstated, clamped to "
        f"[{policy['min_ttl']:g}, {policy['max_ttl']:g}] s)",
    )
    print(f"keys ({len(report['keys'])} usable)", file=out)
    for key in report["keys"]:
        shape = f"size={key['size']}" if key["size"] is not None else f"crv={key['crv']}"
        print(
            f"  kid={key['kid'] or '-'} kty={key['kty']} alg={key['alg'] or '-'} "
            f"use={key['use'] or '-'} {shape} thumbprint={key['thumbprint']}",
            file=out,
        )
    print(f"skipped ({len(report['skipped'])})", file=out)
    for skipped in report["skipped"]:
        print(f"  #{skipped['index']} kid={skipped['kid'] or '-'}: {skipped['reason']}", file=out)
