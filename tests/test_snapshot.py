"""Cache snapshots: export the key store, seed a new process, refuse tampering."""

from __future__ import annotations

import asyncio
import json

import pytest

from jwks_client import AsyncVerifier, CachePolicy, SnapshotError, Verifier
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"
KEY = b"snapshot-signing-key-0123456789"


def verifier(issuer: LocalIssuer, clock: FakeClock, **options: object) -> Verifier:
    return Verifier(
        issuer.issuer,
        audience=AUD,
        require_https=False,
        clock=clock,
        **options,  # type: ignore[arg-type]
    )


def test_round_trip_skips_the_fetch(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A snapshot taken by one process seeds another: its first verify fetches nothing."""
    with verifier(issuer, clock) as first:
        first.verify(issuer.token())
        snapshot = json.dumps(first.jwks_client.export_snapshot(key=KEY))
    issuer.reset_counts()
    cold = FakeClock(clock())  # a new clock: a store of its own, as in a new process
    with verifier(issuer, cold) as second:
        assert second.jwks_client.load_snapshot(snapshot, key=KEY)
        assert second.verify(issuer.token())["sub"] == "user-1"
        state = second.jwks_client.state
        assert state.etag is not None and state.fresh_until == clock() + 300
    assert issuer.request_count() == 0


def test_old_snapshot_revalidates(issuer: LocalIssuer, clock: FakeClock) -> None:
    """An expired snapshot serves within the stale window and revalidates with a 304."""
    with verifier(issuer, clock) as first:
        first.verify(issuer.token())
        snapshot = first.jwks_client.export_snapshot()
    issuer.reset_counts()
    later = FakeClock(clock() + 1000)
    with verifier(issuer, later) as second:
        second.jwks_client.load_snapshot(snapshot)
        assert second.verify(issuer.token(expires_in=10_000))["sub"] == "user-1"
        second.jwks_client.join_background()
    jwks = [r for r in issuer.requests() if r.path == "/jwks"]
    assert len(jwks) == 1 and jwks[0].headers.get("if-none-match")


def test_tampered_snapshot_refused(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Any change to a signed snapshot is refused, as is a wrong or missing key."""
    with verifier(issuer, clock) as v:
        v.verify(issuer.token())
        snapshot = v.jwks_client.export_snapshot(key=KEY)
        unsigned = v.jwks_client.export_snapshot()
    other = FakeClock(clock())
    with verifier(issuer, other) as v:
        keys = v.jwks_client
        tampered = dict(snapshot, fresh_until=snapshot["fresh_until"] + 1)
        with pytest.raises(SnapshotError, match="altered"):
            keys.load_snapshot(tampered, key=KEY)
        with pytest.raises(SnapshotError, match="altered"):
            keys.load_snapshot(snapshot, key=b"another key")
        with pytest.raises(SnapshotError, match="give the key"):
            keys.load_snapshot(snapshot)
        with pytest.raises(SnapshotError, match="not signed"):
            keys.load_snapshot(unsigned, key=KEY)
        assert keys.state.ring is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "other"}, "not a jwks-client-snapshot"),
        ({"version": 1}, "version 2"),
        ({"source": {"issuer": "https://evil", "jwks_uri": None}}, "another source"),
        ({"fetched_at": "yesterday"}, "fetched_at"),
        ({"fresh_until": float("nan")}, "fresh_until"),
        ({"jwks": {"keys": []}}, "no usable key"),
        ({"jwks_uri": None}, "jwks_uri"),
        ({"discovered": []}, "discovered"),
    ],
)
def test_malformed_snapshots_refused(
    issuer: LocalIssuer, clock: FakeClock, change: dict[str, object], message: str
) -> None:
    """Malformed snapshots, or snapshots of another source, are refused with a reason."""
    with verifier(issuer, clock) as v:
        v.verify(issuer.token())
        snapshot = dict(v.jwks_client.export_snapshot(), **change)
    with verifier(issuer, FakeClock(clock())) as v, pytest.raises(SnapshotError, match=message):
        v.jwks_client.load_snapshot(snapshot)


def test_garbage_snapshot_refused(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Non-JSON and non-object snapshots are SnapshotError (also a ValueError)."""
    with verifier(issuer, clock) as v:
        for bad in ("{", "[]", b"\xff", 42):
            with pytest.raises(ValueError):
                v.jwks_client.load_snapshot(bad)  # type: ignore[arg-type]
        with pytest.raises(SnapshotError, match="no fetched key set"):
            v.jwks_client.export_snapshot()


def test_fresh_until_capped(issuer: LocalIssuer, clock: FakeClock) -> None:
    """An edited far-future fresh_until (unsigned snapshot) is capped at max_ttl."""
    with verifier(issuer, clock) as v:
        v.verify(issuer.token())
        snapshot = dict(v.jwks_client.export_snapshot(), fresh_until=clock() + 10**9)
    policy = CachePolicy(max_ttl=3600)
    with verifier(issuer, FakeClock(clock()), cache_policy=policy) as v:
        v.jwks_client.load_snapshot(snapshot)
        assert v.jwks_client.state.fresh_until == clock() + 3600


def test_newer_cache_not_replaced(issuer: LocalIssuer, clock: FakeClock) -> None:
    """A snapshot older than the cached set is not adopted."""
    with verifier(issuer, clock) as v:
        v.verify(issuer.token())
        snapshot = v.jwks_client.export_snapshot()
        clock.advance(301)
        v.jwks_client.refresh()
        assert not v.jwks_client.load_snapshot(snapshot)


def test_async_snapshot(issuer: LocalIssuer, clock: FakeClock) -> None:
    """AsyncJWKSClient exports and loads snapshots too."""

    async def main() -> bool:
        async with AsyncVerifier(
            issuer.issuer, audience=AUD, require_https=False, clock=clock
        ) as v:
            await v.verify(issuer.token())
            snapshot = v.jwks_client.export_snapshot(key=KEY)
        async with AsyncVerifier(
            issuer.issuer, audience=AUD, require_https=False, clock=FakeClock(clock())
        ) as v:
            adopted = v.jwks_client.load_snapshot(snapshot, key=KEY)
            await v.verify(issuer.token())
            return adopted

    assert asyncio.run(main())
    assert issuer.request_count("jwks") == 1
