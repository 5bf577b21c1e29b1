"""One in-memory OpenTelemetry exporter for the whole test process (a tracer provider can be set once)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

EXPORTER = InMemorySpanExporter()


def install() -> InMemorySpanExporter:
    """The application's tracer provider, exporting to `EXPORTER`; cleared for the caller."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    EXPORTER.clear()
    return EXPORTER


def finished_spans() -> tuple[ReadableSpan, ...]:
    return tuple(EXPORTER.get_finished_spans())
