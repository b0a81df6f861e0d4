"""The Prometheus collector and the OpenTelemetry instrumentation."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry, generate_latest

from jwks_client import ExpiredTokenError, Verifier
from jwks_client.integrations.opentelemetry import instrument
from jwks_client.integrations.prometheus import JWKSCollector
from jwks_client.testing import FakeClock, LocalIssuer

AUD = "https://api.example.com"


def test_prometheus_collector(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Scrapes show verifications by outcome, refreshes and the cached keys."""
    with Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock) as verifier:
        registry = CollectorRegistry()
        registry.register(JWKSCollector(verifier))
        verifier.verify(issuer.token())
        verifier.verify(issuer.token())
        with pytest.raises(ExpiredTokenError):
            verifier.verify(issuer.token(expires_in=-1000))
        text = generate_latest(registry).decode()
    source = f'source="{issuer.jwks_uri}"'
    assert f'jwks_client_verifications_total{{outcome="verified",{source}}} 2.0' in text
    assert f'jwks_client_verifications_total{{outcome="ExpiredTokenError",{source}}} 1.0' in text
    assert f"jwks_client_refreshes_total{{{source}}} 1.0" in text
    assert f"jwks_client_key_sets_total{{{source}}} 1.0" in text
    assert f"jwks_client_keys{{{source}}} 1.0" in text
    fresh = next(
        line for line in text.splitlines() if line.startswith("jwks_client_key_set_fresh_until")
    )
    assert float(fresh.rsplit(" ", 1)[1]) == clock() + 300


def test_opentelemetry_spans_and_metrics(issuer: LocalIssuer, clock: FakeClock) -> None:
    """Key-store events become spans; stats become observable counters and a gauge."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    with Verifier(issuer.issuer, audience=AUD, require_https=False, clock=clock) as verifier:
        hook = instrument(verifier, tracer_provider=tracer_provider, meter_provider=meter_provider)
        verifier.verify(issuer.token())
        issuer.rotate("ES256")
        clock.advance(30)
        verifier.verify(issuer.token())
        issuer.fail("status", status=500)
        clock.advance(30)
        with pytest.raises(Exception, match="HTTP 500"):
            verifier.verify(issuer.token(kid="unknown-kid"))
        verifier.jwks_client.remove_event_hook(hook)
        data = reader.get_metrics_data()
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert names.count("jwks_client.key_set_fetched") == 2
    assert names.count("jwks_client.key_set_rotated") == 1
    failed = [span for span in spans if span.name == "jwks_client.fetch_failed"]
    assert len(failed) == 1 and failed[0].status.status_code is StatusCode.ERROR
    assert failed[0].attributes is not None
    assert failed[0].attributes["error.type"] == "HTTPStatusError"
    values: dict[str, float] = {}
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    outcome = (
                        point.attributes.get("jwks_client.outcome") if point.attributes else None
                    )
                    key = metric.name + (f":{outcome}" if outcome else "")
                    values[key] = point.value
    assert values["jwks_client.verifications:verified"] == 2
    assert values["jwks_client.refreshes"] == 3
    assert values["jwks_client.fetch_errors"] == 1
    assert values["jwks_client.keys"] == 2
