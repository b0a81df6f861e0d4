"""Pure: cache snapshots, so a new process (a serverless cold start) skips the fetch.

A snapshot is a JSON object::

    {"format": "jwks-client-snapshot", "version": 2,
     "source": {"issuer": ..., "jwks_uri": ...,         # the configured source and
                "require_https": ...},                  # its transport rule
     "jwks_uri": ..., "jwks": {...},                     # where the set came from, the set
     "fetched_at": ..., "fresh_until": ...,              # clock seconds
     "etag": ..., "last_modified": ...,                  # validators, for a 304 later
     "discovered": {"jwks_uri": ..., "fresh_until": ..., "source_url": ...} | null,
     "mac": "..."}                                       # optional

``mac`` is base64url(HMAC-SHA256(key, canonical JSON of every other member)), where the
canonical JSON has sorted keys and no spaces. Restoring checks, in order: the format and
version; the MAC (required when a key is given, refused when present without a key);
that the snapshot's source is this client's source, transport rule included (a snapshot
taken where plain http was allowed never seeds a client that requires https); the
numbers; every URL, like a configured one (absolute http(s), https when required); and
that the JWKS holds a usable key (parsed here like any fetched set). Freshness is capped
at ``max_ttl`` from the restore time, so an edited ``fresh_until`` cannot pin keys.

Whatever it is given (any JSON text or bytes, any mapping, deep nesting, values of any
type, a MAC of any characters), restoring returns a state or raises
:class:`SnapshotError`, nothing else: a mapping is first normalised through JSON, every
value is checked for its type before use, and nesting deeper than ``MAX_DEPTH`` is
refused before anything walks it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from typing import Any

from ._config import SourceConfig
from ._errors import ConfigurationError, InvalidKeySetError, JWKSClientError
from ._http import check_url
from ._keys import parse_jwks
from ._messages import SHOWN_LONG_CHARS, shown
from ._policy import CacheState
from ._values import Discovered

__all__ = ["FORMAT", "VERSION", "SnapshotError", "export_snapshot", "restore_snapshot"]

FORMAT = "jwks-client-snapshot"
#: 2: the source binding holds the transport rule (``require_https``).
VERSION = 2
#: A snapshot larger than this is refused (1 MiB of JWKS plus a little).
MAX_SNAPSHOT_BYTES = 1_200_000
#: The deepest nesting of arrays and objects a snapshot may hold (a JWKS needs 4).
MAX_DEPTH = 32


class SnapshotError(JWKSClientError, ValueError):
    """A cache snapshot is malformed, tampered with, or for another source."""


def _canonical(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def _mac(key: bytes, payload: Mapping[str, Any]) -> str:
    digest = hmac.new(key, _canonical(payload), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _source(config: SourceConfig) -> dict[str, Any]:
    """What binds a snapshot to a client: the configured source and its transport rule."""
    return {
        "issuer": config.issuer,
        "jwks_uri": config.jwks_uri,
        "require_https": config.require_https,
    }


def _check_key(key: bytes | None) -> None:
    if key is not None and (not isinstance(key, (bytes, bytearray)) or not key):
        raise SnapshotError("the snapshot key must be non-empty bytes")


def export_snapshot(
    state: CacheState, config: SourceConfig, *, key: bytes | None = None
) -> dict[str, Any]:
    """Describe the cached key set as a snapshot.

    Raises:
        SnapshotError: there is no cached key set yet, or the key is not bytes.
    """
    _check_key(key)
    if state.ring is None or not state.document or state.fetched_at is None:
        raise SnapshotError("there is no fetched key set to snapshot yet")
    discovered = state.discovered
    payload: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "source": _source(config),
        "jwks_uri": state.jwks_uri,
        "jwks": json.loads(state.document),
        "fetched_at": state.fetched_at,
        "fresh_until": state.fresh_until,
        "etag": state.etag,
        "last_modified": state.last_modified,
        "discovered": None
        if discovered is None
        else {
            "jwks_uri": discovered.jwks_uri,
            "fresh_until": discovered.fresh_until,
            "source_url": discovered.source_url,
        },
    }
    if key is not None:
        payload["mac"] = _mac(bytes(key), payload)
    return payload


def _number(payload: Mapping[str, Any], name: str) -> float:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SnapshotError(f"snapshot member {name!r} must be a finite number")
    return float(value)


def _optional_str(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise SnapshotError(f"snapshot member {name!r} must be a string or null")
    return value


def _url(value: object, what: str, config: SourceConfig) -> str:
    """A URL from the snapshot, held to the rules of a configured one."""
    if not isinstance(value, str):
        raise SnapshotError(f"snapshot member {what!r} must be a string")
    try:
        return check_url(value, require_https=config.require_https, what=f"the snapshot's {what}")
    except ConfigurationError as exc:
        raise SnapshotError(str(exc)) from exc


def _check_depth(value: object) -> None:
    """Refuse nesting deeper than MAX_DEPTH, walking without recursion."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= MAX_DEPTH:
            raise SnapshotError(f"the snapshot nests deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


def _load(data: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """The snapshot as plain JSON values (a mapping is normalised through JSON text)."""
    if isinstance(data, Mapping):
        try:
            data = json.dumps(dict(data))
        except (TypeError, ValueError, RecursionError) as exc:
            raise SnapshotError("the snapshot holds values that are not JSON") from exc
    if not isinstance(data, (str, bytes, bytearray)):
        raise SnapshotError(f"a snapshot is a mapping or JSON text, got {type(data).__name__}")
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise SnapshotError(f"the snapshot exceeds {MAX_SNAPSHOT_BYTES} bytes")
    try:
        loaded = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise SnapshotError("the snapshot is not valid JSON") from exc
    if not isinstance(loaded, dict):
        raise SnapshotError("the snapshot is not a JSON object")
    _check_depth(loaded)
    return loaded


def restore_snapshot(
    data: Mapping[str, Any] | str | bytes,
    config: SourceConfig,
    *,
    key: bytes | None = None,
    now: float,
) -> CacheState:
    """Rebuild a cache state from a snapshot.

    Raises:
        SnapshotError: malformed, tampered with, unsigned when a key is given, signed when
            no key is given, for another source, or without a usable key.
    """
    _check_key(key)
    payload = _load(data)
    if payload.get("format") != FORMAT or payload.get("version") != VERSION:
        raise SnapshotError(f"not a {FORMAT} version {VERSION} document")
    mac = payload.pop("mac", None)
    if key is None:
        if mac is not None:
            raise SnapshotError("the snapshot is signed: give the key to check it")
    else:
        if not isinstance(mac, str):
            raise SnapshotError("the snapshot is not signed, and a key was given")
        try:
            expected = _mac(bytes(key), payload)
        except ValueError as exc:
            raise SnapshotError("the snapshot holds values that cannot be signed") from exc
        # Compared as bytes: a MAC of any characters is simply a mismatch.
        if not hmac.compare_digest(mac.encode("utf-8", "surrogatepass"), expected.encode()):
            raise SnapshotError("the snapshot's MAC does not match: it was altered")
    source = payload.get("source")
    if source != _source(config):
        raise SnapshotError(
            f"the snapshot is for another source or transport rule "
            f"({shown(source, SHOWN_LONG_CHARS)})"
        )
    fetched_at = _number(payload, "fetched_at")
    fresh_until = min(_number(payload, "fresh_until"), now + config.policy.max_ttl)
    if payload.get("jwks_uri") is None:
        raise SnapshotError("snapshot member 'jwks_uri' is missing")
    jwks_uri = _url(payload["jwks_uri"], "jwks_uri", config)
    if config.jwks_uri is not None and jwks_uri != config.jwks_uri:
        raise SnapshotError("the snapshot's jwks_uri is not the configured one")
    try:
        ring = parse_jwks(payload.get("jwks"))
    except InvalidKeySetError as exc:
        raise SnapshotError(f"the snapshot's key set is invalid: {exc}") from exc
    if len(ring) == 0:
        raise SnapshotError("the snapshot's key set has no usable key")
    discovered = None
    found = payload.get("discovered")
    if found is not None:
        if not isinstance(found, dict):
            raise SnapshotError("snapshot member 'discovered' must be an object or null")
        if found.get("jwks_uri") is None or found.get("source_url") is None:
            raise SnapshotError("snapshot member 'discovered' is incomplete")
        found_uri = _url(found["jwks_uri"], "discovered jwks_uri", config)
        source_url = _url(found["source_url"], "discovered source_url", config)
        discovered = Discovered(
            jwks_uri=found_uri,
            fresh_until=min(_number(found, "fresh_until"), now + config.policy.max_ttl),
            source_url=source_url,
        )
    return CacheState(
        ring=ring,
        fetched_at=fetched_at,
        fresh_until=fresh_until,
        etag=_optional_str(payload, "etag"),
        last_modified=_optional_str(payload, "last_modified"),
        jwks_uri=jwks_uri,
        discovered=discovered,
        document=json.dumps(payload["jwks"]).encode(),
    )
