"""OpenTelemetry: a span per call following the GenAI semantic conventions, a child span per upstream
attempt and per poll, to the tracer provider the application set; nothing without one."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import imagegen
from imagegen import transport
from imagegen.plugins import registry
from tests import otel
from tests.fakes.openai_fake import FakeOpenAI

from .job_plugin import PREFIX as JOBS
from .job_plugin import FakeJobs
from .job_plugin import install as install_jobs

API_KEY = "sk-test-key-1234"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)
    exporter = otel.install()
    yield exporter
    exporter.clear()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(API_KEY,)) as upstream:
        yield upstream


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        found.setdefault(span.name, []).append(span)
    return found


def test_a_call_is_a_client_span_with_the_genai_attributes(fake: FakeOpenAI, spans: InMemorySpanExporter) -> None:
    imagegen.image_generation("otter", model="gpt-image-1", api_base=fake.api_base, api_key=API_KEY, n=2)
    (call,) = by_name(spans)["image_generation gpt-image-1"]
    assert call.kind == SpanKind.CLIENT
    attributes = dict(call.attributes or {})
    assert attributes["gen_ai.operation.name"] == "image_generation"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-image-1"
    assert attributes["gen_ai.request.choice.count"] == 2
    assert attributes["gen_ai.output.type"] == "image"
    assert attributes["gen_ai.response.model"] == "gpt-image-1"
    assert attributes["gen_ai.usage.output_tokens"] > 0  # type: ignore[operator]
    assert attributes["imagegen.images"] == 2
    assert attributes["server.address"] == "127.0.0.1"


def test_each_attempt_is_a_child_span_and_a_retry_says_so(fake: FakeOpenAI, spans: InMemorySpanExporter) -> None:
    fake.fail_next("rate_limit")
    imagegen.image_generation("otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY, num_retries=1)
    found = by_name(spans)
    (call,) = found["image_generation dall-e-2"]
    attempts = found["POST"]
    assert [span.parent.span_id for span in attempts if span.parent] == [call.context.span_id] * 2
    assert [span.attributes.get("http.response.status_code") for span in attempts] == [429, 200]  # type: ignore[union-attr]
    assert [span.attributes.get("http.request.resend_count") for span in attempts] == [None, 1]  # type: ignore[union-attr]
    assert attempts[0].status.status_code == StatusCode.ERROR
    assert dict(call.attributes or {})["imagegen.retries"] == 1


def test_each_poll_of_a_job_is_a_child_span(monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter) -> None:
    monkeypatch.setitem(registry.entries(), JOBS, install_jobs())
    with FakeJobs(polls_until_ready=2) as jobs:
        imagegen.image_generation("otter", model=f"{JOBS}/slow-1", api_base=jobs.url)
    polls = [span for span in by_name(spans)["GET"] if span.attributes.get("imagegen.exchange") == "poll"]  # type: ignore[union-attr]
    assert len(polls) == 2


def test_a_failed_call_has_an_error_status_and_type(fake: FakeOpenAI, spans: InMemorySpanExporter) -> None:
    fake.fail_next("content_policy")
    with pytest.raises(imagegen.ContentPolicyViolationError):
        imagegen.image_generation("otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY)
    (call,) = by_name(spans)["image_generation dall-e-2"]
    assert call.status.status_code == StatusCode.ERROR
    assert dict(call.attributes or {})["error.type"] == "ContentPolicyViolationError"


def test_a_call_span_is_a_child_of_the_applications_current_span(fake: FakeOpenAI, spans: InMemorySpanExporter) -> None:
    with trace.get_tracer("app").start_as_current_span("handle-upload") as outer:
        imagegen.image_generation("otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY)
    (call,) = by_name(spans)["image_generation dall-e-2"]
    assert call.parent is not None
    assert call.parent.span_id == outer.get_span_context().span_id


def test_spans_never_hold_the_prompt_or_a_credential(fake: FakeOpenAI, spans: InMemorySpanExporter) -> None:
    imagegen.image_generation("a secret plan", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY)
    shown = " ".join(str(span.to_json()) for span in spans.get_finished_spans())
    assert "a secret plan" not in shown
    assert API_KEY not in shown


def test_without_a_tracer_provider_opentelemetry_is_not_even_imported() -> None:
    code = (
        "import sys, imagegen; imagegen.image_generation('otter', model='dall-e-3', mock_response=True); "
        "print('opentelemetry' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
