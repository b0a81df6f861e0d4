"""OpenTelemetry spans and metrics (extra ``jwks-client[opentelemetry]``).

::

    from jwks_client.integrations.opentelemetry import instrument

    instrument(verifier)   # global tracer and meter providers, or pass your own

Spans: one per key-store event, named ``jwks_client.key_set_fetched``,
``jwks_client.key_set_rotated``, ``jwks_client.fetch_failed`` (status ERROR, with the
exception recorded) and ``jwks_client.stale_keys_served``, with the JWKS URL and kids as
attributes. Metrics: observable counters read from ``stats()`` at each collection
(``jwks_client.verifications`` by outcome, cache hits and misses, refreshes, fetch
errors...) and a gauge of the cached keys. Nothing is added to the verification path.
"""

from __future__ import annotations

from collections.abc import Iterable

from jwks_client import (
    AsyncJWKSClient,
    AsyncVerifier,
    Event,
    FetchFailed,
    JWKSClient,
    KeySetFetched,
    KeySetRotated,
    StaleKeysServed,
    Stats,
    Verifier,
)

from ._common import missing_extra

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Status, StatusCode, TracerProvider
    from opentelemetry.util.types import AttributeValue
except ImportError as exc:  # its extra is not installed
    raise missing_extra(__name__, "the OpenTelemetry API", "opentelemetry") from exc

__all__ = ["Instrumentation", "instrument"]

_COUNTERS = (
    "token_cache_hits",
    "key_cache_hits",
    "key_cache_misses",
    "rate_limited",
    "stale_served",
    "refreshes",
    "key_sets",
    "not_modified",
    "fetch_errors",
)


_Instrumentable = Verifier | AsyncVerifier | JWKSClient | AsyncJWKSClient


class Instrumentation:
    """The hook and metric callbacks attached to one verifier or key client."""

    def __init__(
        self,
        source: _Instrumentable,
        *,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._source = source
        self._tracer = trace.get_tracer("jwks_client", tracer_provider=tracer_provider)
        meter = metrics.get_meter("jwks_client", meter_provider=meter_provider)
        meter.create_observable_counter(
            "jwks_client.verifications",
            callbacks=[self._observe_verifications],
            description="Token verifications by outcome.",
        )
        for name in _COUNTERS:
            meter.create_observable_counter(f"jwks_client.{name}", callbacks=[self._observer(name)])
        meter.create_observable_gauge(
            "jwks_client.keys", callbacks=[self._observe_keys], description="Cached usable keys."
        )

    def _attributes(self, stats: Stats) -> dict[str, str]:
        return {"jwks_client.source": stats.jwks_uri or "unknown"}

    def _observe_verifications(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._source.stats()
        base = self._attributes(stats)
        yield Observation(stats.verified, {**base, "jwks_client.outcome": "verified"})
        for outcome, count in sorted(stats.rejected.items()):
            yield Observation(count, {**base, "jwks_client.outcome": outcome})

    def _observer(self, name: str):  # type: ignore[no-untyped-def]
        def observe(_options: CallbackOptions) -> Iterable[Observation]:
            stats = self._source.stats()
            yield Observation(getattr(stats, name), self._attributes(stats))

        return observe

    def _observe_keys(self, _options: CallbackOptions) -> Iterable[Observation]:
        stats = self._source.stats()
        yield Observation(len(stats.kids), self._attributes(stats))

    def __call__(self, event: Event) -> None:
        """The event hook: one span per key-store event."""
        if isinstance(event, KeySetFetched):
            attributes: dict[str, AttributeValue] = {
                "url.full": event.jwks_uri,
                "jwks_client.kids": sorted(event.kids),
                "jwks_client.not_modified": event.not_modified,
                "jwks_client.lifetime": event.lifetime,
                "jwks_client.skipped": event.skipped,
            }
            with self._tracer.start_as_current_span(
                "jwks_client.key_set_fetched", attributes=attributes
            ):
                pass
        elif isinstance(event, KeySetRotated):
            rotated: dict[str, AttributeValue] = {
                "url.full": event.jwks_uri,
                "jwks_client.added": sorted(event.added),
                "jwks_client.removed": sorted(event.removed),
            }
            with self._tracer.start_as_current_span(
                "jwks_client.key_set_rotated", attributes=rotated
            ):
                pass
        elif isinstance(event, FetchFailed):
            span = self._tracer.start_span(
                "jwks_client.fetch_failed",
                attributes={
                    "url.full": event.url or "",
                    "error.type": type(event.error).__name__,
                    "jwks_client.failures": event.failures,
                },
            )
            span.record_exception(event.error)
            span.set_status(Status(StatusCode.ERROR, str(event.error)))
            span.end()
        elif isinstance(event, StaleKeysServed):
            with self._tracer.start_as_current_span(
                "jwks_client.stale_keys_served",
                attributes={
                    "url.full": event.jwks_uri or "",
                    "jwks_client.expired_at": event.expired_at,
                    "jwks_client.stale_until": event.stale_until,
                },
            ):
                pass


def instrument(
    source: _Instrumentable,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> Instrumentation:
    """Attach spans and metrics to a verifier or key client; returns the instrumentation.

    The instrumentation is added as an event hook of the source's key store; remove it
    with ``remove_event_hook`` on the key client.
    """
    instrumentation = Instrumentation(
        source, tracer_provider=tracer_provider, meter_provider=meter_provider
    )
    keys = source.jwks_client if isinstance(source, (Verifier, AsyncVerifier)) else source
    keys.add_event_hook(instrumentation)
    return instrumentation
