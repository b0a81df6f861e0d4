"""The shared cache's pure protocol: names, sealed values, and what a leader does."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from jwks_client import CachePolicy
from jwks_client._config import make_source_config
from jwks_client._policy import CacheState
from jwks_client._shared import (
    DOWN,
    Adopt,
    Fetch,
    Limit,
    SharedProtocol,
    SharedView,
    has_news,
    plan_lead,
    ttl_ms,
)
from tests.keyfactory import ring_of

POLICY = CachePolicy(refresh_cooldown=30, stale_if_error=3600)
CONFIG = make_source_config(
    issuer="https://idp.example.com",
    jwks_uri=None,
    require_https=True,
    timeout=5,
    max_response_bytes=1_048_576,
    cache_policy=POLICY,
)
KEY = b"s" * 32
NOW = 10_000.0


def state(
    fetched_at: float | None, kids: tuple[str, ...] = ("a",), lifetime: float = 600
) -> CacheState:
    if fetched_at is None:
        return CacheState()
    ring = ring_of(kids)
    return CacheState(
        ring=ring,
        fetched_at=fetched_at,
        fresh_until=fetched_at + lifetime,
        jwks_uri="https://idp.example.com/jwks",
        last_attempt=fetched_at,
    )


def test_sealed_values_round_trip_and_refuse_tampering() -> None:
    """A value sealed with the key opens; altered, unsigned or foreign-signed ones do not."""
    sealer = SharedProtocol(namespace="ns", signing_key=KEY)
    sealed = sealer.seal({"at": 1.5})
    assert sealer.unseal(sealed, 4096) == {"at": 1.5}
    altered = json.loads(sealed)
    altered["at"] = 2.5
    assert sealer.unseal(json.dumps(altered).encode(), 4096) is None
    assert sealer.unseal(json.dumps({"at": 1.5}).encode(), 4096) is None  # unsigned
    other = SharedProtocol(namespace="ns", signing_key=b"o" * 32)
    assert other.unseal(sealed, 4096) is None
    bad_mac = json.dumps({"at": 1.5, "_mac": "\u00e9\u00e9"}).encode()
    assert sealer.unseal(bad_mac, 4096) is None


def test_without_a_key_values_are_trusted_as_they_are() -> None:
    """With no signing key, signed and unsigned values open alike."""
    trusting = SharedProtocol(namespace="ns", signing_key=None)
    signed = SharedProtocol(namespace="ns", signing_key=KEY).seal({"at": 3.0})
    assert trusting.unseal(signed, 4096) == {"at": 3.0}
    assert trusting.unseal(trusting.seal({"at": 4.0}), 4096) == {"at": 4.0}


@pytest.mark.parametrize(
    "data", [b"not json", b"[1]", b'"x"', b"{" * 5000, None, 42, DOWN, b"{}" + b" " * 5000]
)
def test_anything_else_reads_as_absent(data: object) -> None:
    """Non-JSON, non-objects, deep nesting, other types and oversized values read as None."""
    assert SharedProtocol(namespace="ns", signing_key=None).unseal(data, 4096) is None


def test_names_are_per_source_and_transport_rule() -> None:
    """Keys differ by issuer, JWKS URL and https rule, and share the namespace prefix."""
    proto = SharedProtocol(namespace="ns", signing_key=None)
    names = proto.names(CONFIG)
    assert names.keys.startswith("ns:") and names.keys.endswith(":keys")
    assert len({names.keys, names.lock, names.attempt, names.backoff}) == 4
    assert proto.names(CONFIG) == names
    lax = make_source_config(
        issuer="http://idp.example.com",
        jwks_uri=None,
        require_https=False,
        timeout=5,
        max_response_bytes=1_048_576,
        cache_policy=POLICY,
    )
    assert proto.names(lax).prefix != names.prefix
    assert proto.names(replace(CONFIG, require_https=False)).prefix != names.prefix
    assert names.absent("k1") != names.absent("k2")
    assert names.absent("k1").startswith(names.prefix + ":absent:")


def test_a_published_set_is_read_back_as_a_state() -> None:
    """The keys value round-trips through the snapshot format."""
    proto = SharedProtocol(namespace="ns", signing_key=KEY)
    published = state(NOW)
    document = json.dumps({"keys": [dict(k) for k in _jwks(("a",))]}).encode()
    published = replace(published, document=document)
    view = proto.read_view((proto.keys_value(published, CONFIG), None, None), CONFIG, NOW)
    assert view.keys is not None and view.keys.fetched_at == NOW
    assert view.keys.ring is not None and view.keys.ring.kids == frozenset({"a"})
    assert view.attempt is None and view.retry_at is None


def _jwks(kids: tuple[str, ...]) -> list[dict[str, object]]:
    from tests.keyfactory import ECSigner

    return [ECSigner(kid).jwk() for kid in kids]


def test_a_newer_fresh_set_is_adopted_for_an_ordinary_refresh() -> None:
    """Expired here, fresh in the fleet: adopt, fetch nothing."""
    local = state(NOW - 1000)
    shared = state(NOW - 10)
    decision = plan_lead(
        local, SharedView(keys=shared), now=NOW, forced=False, kid=None, config=CONFIG
    )
    assert decision == Adopt(shared)


def test_a_newer_set_is_adopted_for_an_unknown_kid_only_if_it_holds_it() -> None:
    """An unknown kid is satisfied by a newer set that holds it; otherwise the cooldown
    decides."""
    local = state(NOW - 100, ("a",))
    holding = state(NOW - 5, ("a", "b"))
    assert plan_lead(
        local, SharedView(keys=holding), now=NOW, forced=True, kid="b", config=CONFIG
    ) == Adopt(holding)
    lacking = state(NOW - 5, ("a",))
    within = plan_lead(
        local,
        SharedView(keys=lacking, attempt=NOW - 5),
        now=NOW,
        forced=True,
        kid="b",
        config=CONFIG,
    )
    assert within == Limit(lacking, last_attempt=NOW - 5)
    after = plan_lead(
        local,
        SharedView(keys=lacking, attempt=NOW - 31),
        now=NOW,
        forced=True,
        kid="b",
        config=CONFIG,
    )
    assert after == Fetch()


def test_the_fleets_backoff_and_absent_kids_limit_a_leader() -> None:
    """A running backoff or a kid the fleet knows absent means no fetch."""
    local = state(NOW - 100)
    backoff = plan_lead(
        local,
        SharedView(retry_at=NOW + 10, error="503", attempt=NOW - 1),
        now=NOW,
        forced=False,
        kid=None,
        config=CONFIG,
    )
    assert backoff == Limit(None, last_attempt=NOW - 1, retry_at=NOW + 10, error="503")
    assert (
        plan_lead(
            local, SharedView(retry_at=NOW - 1), now=NOW, forced=False, kid=None, config=CONFIG
        )
        == Fetch()
    )
    absent = plan_lead(
        local, SharedView(absent_since=NOW - 50), now=NOW, forced=True, kid="x", config=CONFIG
    )
    assert absent == Limit(None, last_attempt=None, absent="x")
    expired_memory = plan_lead(
        local, SharedView(absent_since=NOW - 61), now=NOW, forced=True, kid="x", config=CONFIG
    )
    assert expired_memory == Fetch()


def test_older_or_dead_sets_are_not_adopted() -> None:
    """A set no newer than ours, or past its stale horizon, is never taken."""
    local = state(NOW - 100)
    older = state(NOW - 200)
    assert (
        plan_lead(local, SharedView(keys=older), now=NOW, forced=False, kid=None, config=CONFIG)
        == Fetch()
    )
    dead = state(NOW - 10, lifetime=1)
    dead = replace(dead, fresh_until=NOW - POLICY.stale_if_error - 1)
    cold = state(None)
    assert (
        plan_lead(cold, SharedView(keys=dead), now=NOW, forced=False, kid=None, config=CONFIG)
        == Fetch()
    )


def test_news_means_a_set_newer_than_both_ours_and_the_one_first_seen() -> None:
    """A poll has news only when the fleet's set moved past what the waiter had seen."""
    local = state(NOW - 100)
    seen = state(NOW - 50)
    assert not has_news(SharedView(keys=seen), seen, local)
    assert has_news(SharedView(keys=state(NOW - 1)), seen, local)
    assert not has_news(SharedView(), seen, local)
    assert has_news(SharedView(keys=seen), None, local)


@pytest.mark.parametrize(
    ("seconds", "expected"), [(0, 1000), (-5, 1000), (2.5, 2500), (float("inf"), 86_400_000)]
)
def test_expiries_are_whole_milliseconds_of_at_least_a_second(
    seconds: float, expected: int
) -> None:
    """Redis expiries never go below a second, and infinity becomes a day."""
    assert ttl_ms(seconds) == expected


def test_a_fetch_in_flight_is_awaited_rather_than_its_cooldown_taken() -> None:
    """Within the fleet's cooldown, a running fetch (the lock held) means wait for it: the
    unknown kid may be in what it brings."""
    local = state(NOW - 100)
    running = SharedView(attempt=NOW - 1, locked=True)
    assert plan_lead(local, running, now=NOW, forced=True, kid="new", config=CONFIG) == Fetch()
    done = SharedView(attempt=NOW - 1, locked=False)
    assert plan_lead(local, done, now=NOW, forced=True, kid="new", config=CONFIG) == Limit(
        None, last_attempt=NOW - 1
    )
