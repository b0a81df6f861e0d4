"""Snapshots obey the verifier's transport rules and fail only with SnapshotError (item 6).

A snapshot taken where plain http was allowed carried a plain-http JWKS URL into a
verifier requiring https: when discovery then failed, the refresh fell back to that URL
and fetched it. The snapshot's source binding now includes the transport rule, every
restored URL is checked like a configured one, and the refresh's fallback URL is checked
again when used. ``load_snapshot`` raised ``TypeError`` for a non-ASCII MAC,
``RecursionError`` for deep nesting and ``InvalidKeySetError`` for a JWKS of the wrong
type; any input now gives a state or a ``SnapshotError``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwks_client import CachePolicy, FetchError, JWKSClient, SnapshotError, Verifier
from jwks_client._config import make_source_config
from jwks_client._http import refresh_flow
from jwks_client._keys import parse_jwks
from jwks_client._policy import CacheState
from jwks_client._snapshot import export_snapshot
from jwks_client._values import Discovered, FetchPlan
from jwks_client.testing import FakeClock, LocalIssuer

from ..faults import AUD

KEY = b"snapshot-key-0123456789abcdef"
#: An https issuer that refuses connections at once: its discovery always fails.
HTTPS_ISSUER = "https://127.0.0.1:1"


def lax_snapshot(
    issuer: LocalIssuer, clock: FakeClock, *, require_https: bool = False, jwks_uri: str = ""
) -> dict[str, Any]:
    """A signed snapshot as a ``require_https=False`` process with the https issuer would
    export it: keys fetched from the (plain http) LocalIssuer after discovery named it
    (or from ``jwks_uri``)."""
    jwks_uri = jwks_uri or issuer.jwks_uri
    config = make_source_config(
        issuer=HTTPS_ISSUER,
        jwks_uri=None,
        require_https=require_https,
        timeout=5,
        max_response_bytes=1 << 20,
        cache_policy=CachePolicy(),
    )
    document = json.dumps(issuer.jwks()).encode()
    state = CacheState(
        ring=parse_jwks(json.loads(document)),
        fetched_at=clock() - 1000,
        fresh_until=clock() - 700,  # expired: the next verification refreshes
        jwks_uri=jwks_uri,
        discovered=Discovered(
            jwks_uri=jwks_uri,
            fresh_until=clock() - 700,
            source_url=HTTPS_ISSUER + "/.well-known/openid-configuration",
        ),
        document=document,
    )
    return export_snapshot(state, config, key=KEY)


@pytest.fixture
def strict(clock: FakeClock) -> Iterator[Verifier]:
    with Verifier(HTTPS_ISSUER, audience=AUD, clock=clock, timeout=2) as verifier:
        yield verifier


def test_a_lax_processs_snapshot_is_refused_where_https_is_required(
    strict: Verifier, issuer: LocalIssuer, clock: FakeClock
) -> None:
    """A signed snapshot exported under require_https=False never seeds a verifier that
    requires https, so its plain-http JWKS URL is never fetched."""
    snapshot = lax_snapshot(issuer, clock)
    with pytest.raises(SnapshotError, match="transport rule"):
        strict.jwks_client.load_snapshot(snapshot, key=KEY)
    assert strict.jwks_client.state.ring is None
    with pytest.raises(FetchError):
        strict.verify(issuer.token({"iss": HTTPS_ISSUER}))
    assert issuer.request_count() == 0


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("jwks_uri", "http://127.0.0.1:9/jwks"),
        ("jwks_uri", "ftp://127.0.0.1/jwks"),
        ("jwks_uri", "/jwks"),
        ("discovered.jwks_uri", "http://127.0.0.1:9/jwks"),
        ("discovered.source_url", "http://127.0.0.1:9/.well-known/openid-configuration"),
    ],
)
def test_restored_urls_are_held_to_the_configured_rules(
    strict: Verifier, issuer: LocalIssuer, clock: FakeClock, member: str, value: str
) -> None:
    """Every URL a snapshot restores must be absolute http(s), and https when required."""
    snapshot = lax_snapshot(issuer, clock, require_https=True, jwks_uri=HTTPS_ISSUER + "/jwks")
    assert strict.jwks_client.load_snapshot(snapshot, key=KEY)  # the https version loads
    del snapshot["mac"]
    if member.startswith("discovered."):
        snapshot["discovered"] = dict(snapshot["discovered"], **{member.split(".")[1]: value})
    else:
        snapshot[member] = value
    with Verifier(HTTPS_ISSUER, audience=AUD, clock=FakeClock(clock())) as fresh:
        with pytest.raises(SnapshotError, match=r"must be an absolute|is not https"):
            fresh.jwks_client.load_snapshot(snapshot)
        assert fresh.jwks_client.state.ring is None


def test_the_fallback_jwks_url_is_checked_when_used() -> None:
    """When discovery fails, a previously known plain-http JWKS URL is refused, not
    fetched, by a refresh that requires https (whatever state it came from)."""
    plan = FetchPlan(
        issuer=HTTPS_ISSUER,
        jwks_uri=None,
        stale_jwks_uri="http://127.0.0.1:9/jwks",
        etag=None,
        last_modified=None,
        force=False,
        require_https=True,
        timeout=5,
        policy=CachePolicy(),
    )
    flow = refresh_flow(plan)
    first = next(flow)
    assert str(first.url).startswith(HTTPS_ISSUER)
    with pytest.raises(FetchError, match=r"refusing to fetch 'http://127\.0\.0\.1:9/jwks'"):
        flow.throw(FetchError("connection refused", url=str(first.url)))


# --- any input: a state or a SnapshotError --------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["https://x/jwks", "http://x/jwks", "\u00e9\u00e9", "\ud800"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
ODD_VALUES = JSON_VALUES | st.sampled_from(
    [object(), {1, 2}, b"bytes", float("nan"), 10**5000, {1: "a", "b": 2}, (1, 2)]
)
MEMBERS = st.sampled_from(
    ["format", "version", "source", "jwks_uri", "jwks", "fetched_at", "fresh_until", "etag",
     "last_modified", "discovered", "mac", "extra"]
)  # fmt: skip


def sign(payload: dict[str, Any]) -> str:
    """The MAC of ``payload`` with KEY, computed as the format describes it."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    digest = hmac.new(KEY, canonical.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def nested(depth: int) -> Any:
    """A list nested ``depth`` levels deep."""
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def snapshots(draw: st.DrawFn, valid: dict[str, Any]) -> tuple[Any, Any]:
    """A snapshot input and a key: text, bytes, a mapping, or a valid one edited."""
    kind = draw(st.sampled_from(["text", "bytes", "json", "edited", "odd"]))
    if kind == "text":
        data: Any = draw(st.text(max_size=200))
    elif kind == "bytes":
        data = draw(st.binary(max_size=200))
    elif kind == "json":
        data = draw(JSON_VALUES)
    elif kind == "odd":
        data = draw(ODD_VALUES)
    else:
        data = json.loads(json.dumps(valid))
        for _ in range(draw(st.integers(1, 3))):
            name = draw(MEMBERS)
            if draw(st.booleans()):
                data.pop(name, None)
            else:
                data[name] = draw(ODD_VALUES)
        signing = draw(st.sampled_from(["resign", "unsigned", "any-mac", "as-is"]))
        data.pop("mac", None)
        if signing == "resign":  # hostile content that passes the MAC check
            with contextlib.suppress(TypeError, ValueError):
                data["mac"] = sign(data)
        elif signing == "any-mac":
            data["mac"] = draw(st.text(max_size=50))
        elif signing == "as-is":
            data["mac"] = valid["mac"]
        if draw(st.booleans()):
            with contextlib.suppress(ValueError):  # an int past the digit limit: a mapping
                data = json.dumps(data, default=repr)
    key = draw(st.sampled_from([KEY, None, b"", "text-key", 42, b"another key"]))
    return data, key


@pytest.fixture(scope="module")
def valid_snapshot() -> dict[str, Any]:
    clock = FakeClock(1_700_000_000.0)
    with LocalIssuer(algorithms=("ES256",), clock=clock) as issuer:
        return lax_snapshot(issuer, clock, require_https=True, jwks_uri=HTTPS_ISSUER + "/jwks")


def test_any_input_gives_a_state_or_a_snapshot_error(valid_snapshot: dict[str, Any]) -> None:
    """load_snapshot raises SnapshotError and nothing else, whatever it is given: text,
    bytes, any JSON, edited snapshots, values that are not JSON, deep nesting, a MAC of
    any characters, a key of any type."""
    keys = JWKSClient(issuer=HTTPS_ISSUER, clock=FakeClock(1_700_000_000.0))

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=snapshots(valid_snapshot))
    def check(case: tuple[Any, Any]) -> None:
        data, key = case
        with contextlib.suppress(SnapshotError):
            keys.load_snapshot(data, key=key)

    try:
        check()
    finally:
        keys.close()


def edited(snapshot: dict[str, Any], **members: Any) -> dict[str, Any]:
    """``snapshot`` unsigned, with members replaced."""
    return {**{name: value for name, value in snapshot.items() if name != "mac"}, **members}


EXPLICIT = [
    ("non-ascii-mac", lambda v: edited(v, mac="\u00e9" + v["mac"][1:]), KEY, "altered"),
    ("lone-surrogate-mac", lambda v: edited(v, mac=v["mac"] + "\ud800"), KEY, "altered"),
    ("number-mac", lambda v: edited(v, mac=7), KEY, "not signed"),
    # Python 3.11 cannot parse it at all; 3.13 parses it into a list, which is no snapshot.
    ("1000-deep-text", lambda v: "[" * 1000 + "]" * 1000, KEY, "not valid JSON|not a JSON object"),
    # 3.11 cannot encode or parse it; 3.13 can, and the depth rule refuses it.
    ("1000-deep-jwks", lambda v: edited(v, jwks=nested(1000)), None, "not JSON|deeper"),
    ("900-deep-text", lambda v: json.dumps(edited(v, extra=nested(900))), KEY, "deeper"),
    ("50-deep-source", lambda v: edited(v, source=nested(50)), None, "deeper"),
    ("jwks-array", lambda v: edited(v, jwks=[1, 2]), None, "key set is invalid"),
    ("jwks-string", lambda v: edited(v, jwks="keys"), None, "key set is invalid"),
    ("jwks-missing", lambda v: {k: x for k, x in v.items() if k not in ("jwks", "mac")}, None,
     "key set is invalid"),
    ("discovered-types", lambda v: edited(v, discovered={"jwks_uri": 1, "source_url": []}),
     None, "must be a string"),
    ("int-keys", lambda v: {1: "a", "b": 2}, None, "not JSON|version"),
    ("object-value", lambda v: edited(v, extra=object()), None, "not JSON"),
    ("huge-int", lambda v: json.dumps(v).replace('"version": 2', '"version": ' + "9" * 5000),
     KEY, "not valid JSON"),
    ("str-key", lambda v: v, "text-key", "non-empty bytes"),
    ("list-snapshot", lambda v: [v], None, "mapping or JSON text"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make_input", "key", "message"),
    [case[1:] for case in EXPLICIT],
    ids=[case[0] for case in EXPLICIT],
)
def test_named_hostile_inputs_are_snapshot_errors(
    valid_snapshot: dict[str, Any], make_input: Any, key: Any, message: str
) -> None:
    """The inputs that used to escape as other exceptions (non-ASCII MAC, deep nesting,
    a JWKS of the wrong type, values that are not JSON) are SnapshotError with a reason."""
    with JWKSClient(issuer=HTTPS_ISSUER, clock=FakeClock(1_700_000_000.0)) as keys:
        with pytest.raises(SnapshotError, match=message):
            keys.load_snapshot(make_input(valid_snapshot), key=key)
        assert keys.load_snapshot(valid_snapshot, key=KEY)
