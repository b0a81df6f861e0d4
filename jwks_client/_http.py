"""Pure HTTP edges: which requests to make and what their responses mean.

Theory of operation
-------------------
A refresh is a small conversation: maybe a discovery document first (OpenID Connect,
then RFC 8414 as a fallback), then the JWKS. It is written once, as a generator that
yields ``httpx.Request`` objects and receives :class:`RawResponse` values (the pattern of
httpx's ``Auth.auth_flow``). The sync and async shells drive it with a loop of a few lines
each, and do the only I/O: sending, and reading the body under the size cap with
:class:`BodyLimit`. A transport failure is thrown into the generator as the library's
:class:`FetchError`, so the flow decides about fallbacks in one place.

Rules
-----
* Only ``https`` URLs are fetched unless ``require_https`` is False.
* Redirects are never followed: a 3xx is a :class:`FetchError` naming the Location.
* 200 is accepted, and 304 when the request was conditional; anything else is an
  :class:`HTTPStatusError`.
* The discovery document's ``issuer`` must equal the configured issuer exactly, and its
  ``jwks_uri`` must be an absolute URL allowed by the https rule.
* A JWKS must be a JSON object with a ``keys`` array; one whose keys are all unusable is
  an :class:`InvalidKeySetError`, so it can never replace a good set.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Generator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ._cache_control import Freshness, compute_freshness
from ._errors import (
    ConfigurationError,
    DiscoveryError,
    FetchError,
    HTTPStatusError,
    InvalidKeySetError,
    KeySetUnavailableError,
    ResponseTooLargeError,
)
from ._keys import KeyRing, parse_jwks
from ._messages import MAX_INT_DIGITS, SHOWN_LONG_CHARS, json_kind, shown
from ._types import CachePolicy
from ._values import Discovered, Fetched, FetchPlan, NotModified, RawResponse
from ._version import __version__

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ACCEPT_DISCOVERY",
    "ACCEPT_JWKS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "BodyLimit",
    "RefreshFlow",
    "build_request",
    "check_url",
    "discovery_urls",
    "preread_body",
    "read_discovery",
    "read_jwks",
    "refresh_flow",
    "transport_error",
]

USER_AGENT = f"jwks-client/{__version__} (+python-httpx)"
ACCEPT_JWKS = "application/jwk-set+json, application/json"
ACCEPT_DISCOVERY = "application/json"
DEFAULT_TIMEOUT = 5.0
#: 1 MiB: real key sets are a few KiB (the largest in the corpus, Entra's, ~20 KiB).
DEFAULT_MAX_RESPONSE_BYTES = 1_048_576


RefreshFlow = Generator["httpx.Request", RawResponse, "Fetched | NotModified"]


def check_url(url: str, *, require_https: bool, what: str) -> str:
    """Return ``url`` if it is an absolute http(s) URL allowed by the https rule.

    Raises:
        ConfigurationError: the URL is not absolute, has another scheme, carries
            credentials or a fragment, or is plain http while https is required.
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{what} must be a non-empty URL string, got {url!r}")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigurationError(f"{what} is not a valid URL: {url!r}") from exc
    if parts.scheme not in ("https", "http") or not parts.netloc or not parts.hostname:
        raise ConfigurationError(f"{what} must be an absolute http(s) URL, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{what} must not carry credentials: {parts.hostname!r}")
    if parts.fragment:
        raise ConfigurationError(f"{what} must not have a fragment: {url!r}")
    if parts.scheme == "http" and require_https:
        raise ConfigurationError(
            f"{what} {url!r} is not https; pass require_https=False to allow plain http"
        )
    return url


def discovery_urls(issuer: str) -> tuple[str, str]:
    """Return the OpenID Connect and RFC 8414 metadata URLs for ``issuer``.

    OpenID Connect Discovery appends ``/.well-known/openid-configuration`` to the issuer;
    RFC 8414 §3.1 inserts ``/.well-known/oauth-authorization-server`` between the host and
    the issuer's path.
    """
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    openid = urlunsplit(
        (parts.scheme, parts.netloc, path + "/.well-known/openid-configuration", parts.query, "")
    )
    oauth = urlunsplit(
        (
            parts.scheme,
            parts.netloc,
            "/.well-known/oauth-authorization-server" + path,
            parts.query,
            "",
        )
    )
    return openid, oauth


def build_request(
    url: str,
    *,
    accept: str,
    timeout: float,
    etag: str | None = None,
    last_modified: str | None = None,
    force: bool = False,
) -> httpx.Request:
    """Build a GET for ``url`` with the library's headers.

    A conditional request carries ``If-None-Match`` / ``If-Modified-Since``; a forced
    one (unknown kid) carries ``Cache-Control: no-cache`` so no proxy answers it from
    its cache.
    """
    import httpx  # with the first request, not at start-up

    headers = {"Accept": accept, "Accept-Encoding": "identity", "User-Agent": USER_AGENT}
    if etag is not None:
        headers["If-None-Match"] = etag
    if last_modified is not None:
        headers["If-Modified-Since"] = last_modified
    if force:
        headers["Cache-Control"] = "no-cache"
    return httpx.Request(
        "GET",
        url,
        headers=headers,
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )


def transport_error(exc: Exception, url: str, timeout: float) -> FetchError:
    """Translate an httpx (or socket) failure into the library's :class:`FetchError`."""
    import httpx  # with the first request, not at start-up

    if isinstance(exc, httpx.TimeoutException):
        return FetchError(f"timed out after {timeout:g}s fetching {url}", url=url)
    detail = str(exc) or type(exc).__name__
    return FetchError(f"request to {url} failed: {detail}", url=url)


class BodyLimit:
    """Accumulates a streamed raw body, decoding it in bounded steps, up to ``limit``.

    The cap applies to the decoded body, and decoding never inflates more than the cap
    allows at a time, so a compression bomb costs at most ``limit`` bytes of memory.
    ``gzip`` and ``deflate`` content codings are decoded (requests ask for ``identity``,
    but some servers compress anyway); any other coding is refused.
    """

    __slots__ = ("_chunks", "_decoder", "_size", "limit", "url")

    def __init__(
        self,
        url: str,
        limit: int,
        content_length: str | None,
        content_encoding: str | None = None,
    ) -> None:
        self.url = url
        self.limit = limit
        self._chunks: list[bytes] = []
        self._size = 0
        coding = (content_encoding or "identity").strip().lower()
        if coding in ("", "identity"):
            self._decoder = None
        elif coding in ("gzip", "x-gzip", "deflate"):
            # wbits 47: a gzip or a zlib header (RFC 9110's "deflate" is zlib-wrapped).
            self._decoder = zlib.decompressobj(47)
        else:
            raise FetchError(
                f"response from {url} uses the unsupported content coding {shown(coding)}",
                url=url,
            )
        if content_length is not None and self._decoder is None:
            try:
                declared = int(content_length)
            except ValueError:
                declared = 0
            if declared > limit:
                raise self._too_large()

    def _too_large(self) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"response from {self.url} exceeds the {self.limit}-byte cap",
            url=self.url,
            limit=self.limit,
        )

    def _corrupt(self) -> FetchError:
        return FetchError(f"response from {self.url} is not valid compressed data", url=self.url)

    def _add(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            raise self._too_large()
        self._chunks.append(data)

    def feed(self, chunk: bytes) -> None:
        """Add a raw chunk as received.

        Raises:
            ResponseTooLargeError: the decoded body grew past the cap.
            FetchError: the compressed body is corrupt.
        """
        decoder = self._decoder
        if decoder is None:
            self._add(chunk)
            return
        data = chunk
        try:
            while data:
                room = self.limit - self._size + 1
                self._add(decoder.decompress(data, room))
                data = decoder.unconsumed_tail
        except zlib.error as exc:
            raise self._corrupt() from exc

    def body(self) -> bytes:
        """Return the decoded body read so far."""
        decoder = self._decoder
        if decoder is not None:
            try:
                self._add(decoder.flush())
            except zlib.error as exc:
                raise self._corrupt() from exc
            self._decoder = None
        return b"".join(self._chunks)


def preread_body(response: httpx.Response, *, url: str, max_bytes: int) -> bytes | None:
    """Return the body of a 200 response that arrived already read, or None.

    httpx reads a ``Response`` built with ``content=``, ``json=`` or ``text=`` when it is
    constructed, which is how ``httpx.MockTransport`` handlers and respx answer; its raw
    stream can then no longer be iterated. Such a body is taken as read (httpx has already
    decoded any content coding) and the size cap applies to it all the same. A response
    still to be streamed, or one that is not a 200, gives None: the shell reads it with
    :class:`BodyLimit`.

    Raises:
        ResponseTooLargeError: the body is longer than ``max_bytes``.
    """
    if response.status_code != 200 or not response.is_stream_consumed:
        return None
    try:
        content = response.content
    except httpx.ResponseNotRead:
        # Streamed by someone else and not kept: the shell's read reports it.
        return None
    limit = BodyLimit(url, max_bytes, None)
    limit.feed(content)
    return limit.body()


def _check_status(raw: RawResponse, *, conditional: bool) -> None:
    status = raw.status_code
    if status == 200 or (status == 304 and conditional):
        return
    if status in (301, 302, 303, 307, 308):
        location = raw.headers.get("location", "")
        where = f" to {shown(location, SHOWN_LONG_CHARS)}" if location else " without a Location"
        raise FetchError(
            f"{raw.url} answered a {status} redirect{where}; redirects are not followed",
            url=raw.url,
        )
    raise HTTPStatusError(
        f"{raw.url} answered HTTP {status}, expected 200", url=raw.url, status_code=status
    )


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_INT_DIGITS:
        raise ValueError("integer literal too long")
    return int(literal)


def _load_json_object(raw: RawResponse, what: str, error: type[KeySetUnavailableError]) -> Any:
    try:
        document = json.loads(raw.body, parse_int=_bounded_int)
    except (ValueError, RecursionError) as exc:
        raise error(f"{what} at {raw.url} is not valid JSON", url=raw.url) from exc
    if not isinstance(document, dict):
        raise error(
            f"{what} at {raw.url} is not a JSON object (got {json_kind(document)})",
            url=raw.url,
        )
    return document


def read_discovery(
    raw: RawResponse, *, issuer: str, require_https: bool, policy: CachePolicy
) -> Discovered:
    """Interpret a discovery response.

    Raises:
        FetchError, HTTPStatusError: redirect or unexpected status.
        DiscoveryError: not a JSON object, issuer mismatch, missing or refused jwks_uri.
    """
    _check_status(raw, conditional=False)
    document = _load_json_object(raw, "discovery document", DiscoveryError)
    advertised = document.get("issuer")
    if advertised != issuer:
        raise DiscoveryError(
            f"discovery document at {raw.url} names issuer {shown(advertised, SHOWN_LONG_CHARS)}, "
            f"expected exactly {issuer!r}",
            url=raw.url,
        )
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise DiscoveryError(f"discovery document at {raw.url} has no jwks_uri", url=raw.url)
    try:
        check_url(jwks_uri, require_https=require_https, what="jwks_uri")
    except ConfigurationError as exc:
        raise DiscoveryError(f"discovery document at {raw.url}: {exc}", url=raw.url) from exc
    freshness = compute_freshness(raw.headers, now=raw.received_at, policy=policy)
    return Discovered(
        jwks_uri=jwks_uri,
        fresh_until=raw.received_at + freshness.lifetime,
        source_url=raw.url,
    )


def read_jwks(
    raw: RawResponse, *, conditional: bool, policy: CachePolicy
) -> tuple[KeyRing | None, Freshness]:
    """Interpret a JWKS response: ``(ring, freshness)``, ring None for a 304.

    Raises:
        FetchError, HTTPStatusError: redirect or unexpected status.
        InvalidKeySetError: not JSON, not a JWKS, or no usable key in it.
    """
    _check_status(raw, conditional=conditional)
    freshness = compute_freshness(raw.headers, now=raw.received_at, policy=policy)
    if raw.status_code == 304:
        return None, freshness
    document = _load_json_object(raw, "JWKS", InvalidKeySetError)
    try:
        ring = parse_jwks(document)
    except InvalidKeySetError as exc:
        raise InvalidKeySetError(f"JWKS at {raw.url}: {exc}", url=raw.url) from exc
    if len(ring) == 0:
        reasons = "; ".join(f"key {s.index}: {s.reason}" for s in ring.skipped[:5])
        raise InvalidKeySetError(
            f"JWKS at {raw.url} has no usable verification key"
            + (f" ({reasons})" if reasons else " (empty keys array)"),
            url=raw.url,
        )
    return ring, freshness


def _discover(plan: FetchPlan) -> Generator[httpx.Request, RawResponse, Discovered]:
    assert plan.issuer is not None
    last_error: KeySetUnavailableError | None = None
    for url in discovery_urls(plan.issuer):
        request = build_request(url, accept=ACCEPT_DISCOVERY, timeout=plan.timeout)
        try:
            raw = yield request
            return read_discovery(
                raw, issuer=plan.issuer, require_https=plan.require_https, policy=plan.policy
            )
        except HTTPStatusError as exc:
            # Only a "not here" answer moves on to the RFC 8414 location; a network
            # failure or a wrong document is the answer.
            if exc.status_code not in (404, 405, 410):
                raise DiscoveryError(f"discovery failed: {exc}", url=exc.url) from exc
            last_error = exc
    assert last_error is not None
    raise DiscoveryError(
        f"no discovery document for issuer {plan.issuer!r} "
        f"(tried OpenID Connect and RFC 8414 locations): {last_error}",
        url=last_error.url,
    )


def refresh_flow(plan: FetchPlan) -> RefreshFlow:
    """The refresh conversation: discovery when needed, then the JWKS.

    Yields requests; receives :class:`RawResponse` values; a shell throws
    :class:`FetchError` into it when a request fails in transport. Returns
    :class:`Fetched` or :class:`NotModified`.

    Raises:
        KeySetUnavailableError: any failure, with the URL and the reason.
    """
    discovered: Discovered | None = None
    jwks_uri = plan.jwks_uri
    if jwks_uri is None:
        try:
            discovered = yield from _discover(plan)
            jwks_uri = discovered.jwks_uri
        except KeySetUnavailableError:
            if plan.stale_jwks_uri is None:
                raise
            jwks_uri = plan.stale_jwks_uri
            # Held to today's rules, whatever state (a snapshot, say) it came from.
            check_url_at_runtime(jwks_uri, require_https=plan.require_https)
    else:
        check_url_at_runtime(jwks_uri, require_https=plan.require_https)
    conditional = plan.etag is not None or plan.last_modified is not None
    # Validators only make sense for the URL they came from.
    same_url = discovered is None or discovered.jwks_uri == plan.stale_jwks_uri
    request = build_request(
        jwks_uri,
        accept=ACCEPT_JWKS,
        timeout=plan.timeout,
        etag=plan.etag if same_url else None,
        last_modified=plan.last_modified if same_url else None,
        force=plan.force,
    )
    raw = yield request
    ring, freshness = read_jwks(raw, conditional=conditional and same_url, policy=plan.policy)
    if ring is None:
        return NotModified(
            freshness=freshness,
            received_at=raw.received_at,
            jwks_uri=jwks_uri,
            discovered=discovered,
        )
    return Fetched(
        ring=ring,
        freshness=freshness,
        received_at=raw.received_at,
        jwks_uri=jwks_uri,
        discovered=discovered,
        body=raw.body,
    )


def check_url_at_runtime(url: str, *, require_https: bool) -> None:
    """Like :func:`check_url` for a URL about to be fetched: raises :class:`FetchError`."""
    try:
        check_url(url, require_https=require_https, what="URL")
    except ConfigurationError as exc:
        raise FetchError(f"refusing to fetch {url!r}: {exc}", url=url) from exc
