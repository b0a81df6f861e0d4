"""A Prometheus collector for verifiers and key clients (extra ``jwks-client[prometheus]``).

Register it once; it reads ``stats()`` at each scrape, so it costs nothing between
scrapes and never holds up a verification::

    from prometheus_client import REGISTRY
    from jwks_client.integrations.prometheus import JWKSCollector

    REGISTRY.register(JWKSCollector(verifier))

Every metric carries a ``source`` label (the JWKS URL, or the issuer before discovery).
Counters of the key store are shared by every client of the same source.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from jwks_client import Stats

from ._common import missing_extra

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # its extra is not installed
    raise missing_extra(__name__, "prometheus-client", "prometheus") from exc

__all__ = ["JWKSCollector"]


class _HasStats(Protocol):
    def stats(self) -> Stats: ...


_COUNTERS = (
    ("token_cache_hits", "Verifications served by the verified-token cache."),
    ("key_cache_hits", "Key lookups served from the cache without waiting."),
    ("key_cache_misses", "Key lookups that waited for or led a refresh."),
    ("rate_limited", "Unknown kids rejected without a refresh (cooldown or backoff)."),
    ("stale_served", "Key lookups served from a key set past its freshness."),
    ("refreshes", "Refresh attempts of the key store."),
    ("key_sets", "Refreshes that brought a new key set (HTTP 200)."),
    ("not_modified", "Refreshes answered 304 Not Modified."),
    ("fetch_errors", "Refreshes that failed."),
)


class JWKSCollector(Collector):
    """Expose the stats of verifiers (or key clients) as Prometheus metrics.

    Args:
        *sources: objects with a ``stats()`` method: ``Verifier``, ``AsyncVerifier``,
            ``JWKSClient``, ``AsyncJWKSClient``.
        namespace: the metric name prefix.
    """

    def __init__(self, *sources: _HasStats, namespace: str = "jwks_client") -> None:
        self._sources = sources
        self._namespace = namespace

    def describe(self) -> list[Metric]:
        """No up-front description: metrics are built at collection time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Build the metric families from a fresh ``stats()`` of every source."""
        ns = self._namespace
        snapshots = [(s.stats()) for s in self._sources]
        verifications = CounterMetricFamily(
            f"{ns}_verifications",
            "Token verifications by outcome (verified, or the exception class).",
            labels=["source", "outcome"],
        )
        counters = {
            name: CounterMetricFamily(f"{ns}_{name}", text, labels=["source"])
            for name, text in _COUNTERS
        }
        keys = GaugeMetricFamily(
            f"{ns}_keys", "Usable keys in the cached key set.", labels=["source"]
        )
        fresh = GaugeMetricFamily(
            f"{ns}_key_set_fresh_until_seconds",
            "Until when the cached key set is fresh (clock seconds).",
            labels=["source"],
        )
        stale = GaugeMetricFamily(
            f"{ns}_key_set_stale_until_seconds",
            "After this time the cached key set is not served at all (clock seconds).",
            labels=["source"],
        )
        for stats in snapshots:
            source = stats.jwks_uri or "unknown"
            verifications.add_metric([source, "verified"], stats.verified)
            for outcome, count in sorted(stats.rejected.items()):
                verifications.add_metric([source, outcome], count)
            for name, family in counters.items():
                family.add_metric([source], getattr(stats, name))
            keys.add_metric([source], len(stats.kids))
            if stats.fresh_until is not None and stats.stale_until is not None:
                fresh.add_metric([source], stats.fresh_until)
                stale.add_metric([source], stats.stale_until)
        yield verifications
        yield from counters.values()
        yield keys
        yield fresh
        yield stale
