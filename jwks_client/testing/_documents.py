"""What the test issuer serves: its routes, its discovery document, and HTTP caching.

Routes are fixed at construction: the JWKS at ``path + jwks_path``; discovery at the
OpenID Connect location (``path + /.well-known/openid-configuration``), at RFC 8414's
path-aware one (``/.well-known/oauth-authorization-server + path``), at both or at
neither; and, when enabled, a token endpoint at ``path + /token``. Every response carries
the caching headers currently configured, and a conditional request is answered with
304 following RFC 9110 §13.2.2: ``If-None-Match`` (weak comparison) decides when
present, ``If-Modified-Since`` only when it is absent.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

from .._errors import ConfigurationError
from ._common import UNSET, Unset, b64url, check_header_text, merge
from ._server import Exchange, http_date

__all__ = [
    "DISCOVERY_MODES",
    "ENDPOINTS",
    "JWKS_TYPE",
    "OAUTH_WELL_KNOWN",
    "OPENID_WELL_KNOWN",
    "Caching",
    "HTTPCaching",
    "Routes",
    "check_path",
    "discovery_document",
    "send_document",
]

#: The endpoints that can be held or faulted.
ENDPOINTS: Final = ("jwks", "discovery")
DISCOVERY_MODES: Final = frozenset({"openid", "oauth", "both", "none"})
OPENID_WELL_KNOWN: Final = "/.well-known/openid-configuration"
OAUTH_WELL_KNOWN: Final = "/.well-known/oauth-authorization-server"
JWKS_TYPE: Final = "application/jwk-set+json"
_TOKEN_PATH: Final = "/token"


def check_path(name: str, value: str, *, allow_empty: bool) -> str:
    """Return ``value`` if it looks like ``/segment`` (or is "" where allowed).

    Raises:
        ConfigurationError: a path without a leading /, with a trailing /, or with
            ``?``, ``#``, spaces or line breaks.
    """
    if value == "" and allow_empty:
        return value
    if not value.startswith("/") or value.endswith("/") or any(c in value for c in "?#\r\n "):
        raise ConfigurationError(f"{name} must look like '/segment' without a trailing /")
    return value


@dataclass(frozen=True, slots=True)
class Routes:
    """Where each document lives below the base URL.

    Attributes:
        path: the issuer's path ("" or like "/tenant").
        jwks_path: the JWKS's path below ``path``.
        discovery: "openid", "oauth", "both" or "none".
        token_endpoint: whether ``path + /token`` mints tokens.
    """

    path: str
    jwks_path: str
    discovery: str
    token_endpoint: bool = False

    @property
    def jwks(self) -> str:
        """The path of the JWKS."""
        return self.path + self.jwks_path

    @property
    def token(self) -> str:
        """The path of the token endpoint (served only when enabled)."""
        return self.path + _TOKEN_PATH

    def discovery_paths(self) -> dict[str, str]:
        """The paths where a discovery document is served, with its kind."""
        paths: dict[str, str] = {}
        if self.discovery in ("openid", "both"):
            paths[self.path + OPENID_WELL_KNOWN] = "openid"
        if self.discovery in ("oauth", "both"):
            paths[OAUTH_WELL_KNOWN + self.path] = "oauth"
        return paths

    def discovery_path(self) -> str:
        """The discovery location (for "none": where it would be)."""
        if self.discovery == "oauth":
            return OAUTH_WELL_KNOWN + self.path
        return self.path + OPENID_WELL_KNOWN

    def route(self, path: str) -> tuple[str, str] | None:
        """Map a request path to ("jwks", ""), ("discovery", kind) or ("token", "")."""
        if path == self.jwks:
            return ("jwks", "")
        kind = self.discovery_paths().get(path)
        if kind is not None:
            return ("discovery", kind)
        if self.token_endpoint and path == self.token:
            return ("token", "")
        return None

    def paths_for(self, path: str) -> set[str]:
        """The request paths that ``request_count(path)`` counts."""
        if path == "jwks":
            return {self.jwks}
        if path == "discovery":
            return set(self.discovery_paths()) or {self.path + OPENID_WELL_KNOWN}
        if "://" in path:
            return {urlsplit(path).path or "/"}
        return {path.partition("?")[0]}

    @staticmethod
    def endpoints(path: str) -> tuple[str, ...]:
        """The endpoints named by "jwks", "discovery" or "all".

        Raises:
            ConfigurationError: for any other name.
        """
        if path == "all":
            return ENDPOINTS
        if path in ENDPOINTS:
            return (path,)
        raise ConfigurationError(f"path must be 'jwks', 'discovery' or 'all', got {path!r}")


def discovery_document(
    kind: str,
    *,
    issuer: str,
    jwks_uri: str,
    algorithms: Sequence[str],
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    """The discovery document of ``kind`` ("openid" or "oauth"), ``extra`` merged in."""
    doc: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + _TOKEN_PATH,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "scopes_supported": ["openid", "profile", "email", "read", "write"],
        "code_challenge_methods_supported": ["S256"],
    }
    if kind == "openid":
        doc.update(
            userinfo_endpoint=issuer + "/userinfo",
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=list(algorithms),
            claims_supported=["sub", "iss", "aud", "exp", "iat", "name", "email"],
        )
    else:
        doc["revocation_endpoint"] = issuer + "/revoke"
    return merge(doc, extra)


@dataclass(frozen=True, slots=True)
class Caching:
    """The caching configuration at one moment (see :class:`HTTPCaching`)."""

    cache_control: str | None
    etag: bool
    last_modified: bool
    extra_headers: tuple[tuple[str, str], ...]


class HTTPCaching:
    """The issuer's caching headers and extra headers, changeable while it runs."""

    def __init__(
        self,
        *,
        cache_control: str | None,
        etag: bool,
        last_modified: bool,
        extra_headers: Mapping[str, str] | None,
    ) -> None:
        if cache_control is not None:
            check_header_text("cache_control", cache_control)
        self._lock = threading.Lock()
        self._cache_control = cache_control
        self._etag = etag
        self._last_modified = last_modified
        self._extra: dict[str, str] = {}
        self.set_extra_headers(extra_headers)

    def snapshot(self) -> Caching:
        """The configuration now."""
        with self._lock:
            extra = tuple(self._extra.items())
            return Caching(self._cache_control, self._etag, self._last_modified, extra)

    def set(
        self,
        *,
        cache_control: str | Unset | None = UNSET,
        etag: bool | Unset = UNSET,
        last_modified: bool | Unset = UNSET,
    ) -> None:
        """Change the given settings; :data:`UNSET` ones keep their value.

        Raises:
            ConfigurationError: if ``cache_control`` contains a line break.
        """
        if isinstance(cache_control, str):
            check_header_text("cache_control", cache_control)
        with self._lock:
            if not isinstance(cache_control, Unset):
                self._cache_control = cache_control
            if not isinstance(etag, Unset):
                self._etag = etag
            if not isinstance(last_modified, Unset):
                self._last_modified = last_modified

    def set_extra_headers(self, headers: Mapping[str, str] | None) -> None:
        """Replace the extra headers (None: none).

        Raises:
            ConfigurationError: if a name or value contains a line break.
        """
        extra = dict(headers or {})
        for name, value in extra.items():
            check_header_text(name, name)
            check_header_text(name, value)
        with self._lock:
            self._extra = extra


def send_document(
    exchange: Exchange, caching: Caching, body: bytes, content_type: str, changed_at: float
) -> None:
    """Answer 200 with ``body``, or 304 when the request's validators match."""
    etag = f'"{b64url(hashlib.sha256(body).digest()[:18])}"' if caching.etag else None
    last_modified = math.floor(changed_at) if caching.last_modified else None
    headers: list[tuple[str, str]] = []
    if caching.cache_control is not None:
        headers.append(("Cache-Control", caching.cache_control))
    if etag is not None:
        headers.append(("ETag", etag))
    if last_modified is not None:
        headers.append(("Last-Modified", http_date(last_modified)))
    extra = dict(caching.extra_headers)
    if _not_modified(exchange.headers, etag, last_modified):
        exchange.send(304, _with_extra(headers, extra), None)
        return
    exchange.send(200, _with_extra([("Content-Type", content_type), *headers], extra), body)


def _with_extra(headers: list[tuple[str, str]], extra: Mapping[str, str]) -> list[tuple[str, str]]:
    replaced = {name.lower() for name in extra}
    return [(n, v) for n, v in headers if n.lower() not in replaced] + list(extra.items())


def _not_modified(
    request_headers: Mapping[str, str], etag: str | None, last_modified: int | None
) -> bool:
    """Evaluate the conditional request headers (RFC 9110 §13.2.2 order)."""
    if_none_match = request_headers.get("if-none-match")
    if if_none_match is not None and etag is not None:
        return _etag_matches(if_none_match, etag)
    if_modified_since = request_headers.get("if-modified-since")
    if if_none_match is None and if_modified_since is not None and last_modified is not None:
        since = _parse_http_date(if_modified_since)
        return since is not None and since >= last_modified
    return False


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of ``etag`` against an ``If-None-Match`` list (RFC 9110 §13.1.2)."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(part.strip().removeprefix("W/") == opaque for part in header.split(","))


def _parse_http_date(value: str) -> float | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()
