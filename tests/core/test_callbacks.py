"""Callbacks: told of every call (global, per call, or an installed plugin) with one documented
`CallRecord`; never a credential, image bytes or (unless opted in) a prompt; never able to fail a call."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import imagegen
from imagegen import observe, transport
from imagegen.plugins import registry
from imagegen.records import CallRecord
from imagegen.testing import png_image
from tests.fakes.openai_fake import FakeOpenAI

from .job_plugin import PREFIX as JOBS
from .job_plugin import FakeJobs
from .job_plugin import install as install_jobs
from .plugin_dists import last_json, run_python, write_distribution

API_KEY = "sk-test-key-1234"


class Recorder:
    """A callback that keeps what it is told, hook by hook."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, CallRecord]] = []

    def on_request(self, record: CallRecord) -> None:
        self.calls.append(("on_request", record))

    def on_success(self, record: CallRecord) -> None:
        self.calls.append(("on_success", record))

    def on_failure(self, record: CallRecord) -> None:
        self.calls.append(("on_failure", record))

    @property
    def hooks(self) -> list[str]:
        return [hook for hook, _ in self.calls]

    @property
    def last(self) -> CallRecord:
        return self.calls[-1][1]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(API_KEY,)) as upstream:
        yield upstream


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """A recorder registered globally (`imagegen.callbacks`) for one test."""
    recording = Recorder()
    monkeypatch.setattr(imagegen, "callbacks", [recording])
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)
    return recording


def generate(fake: FakeOpenAI, **kwargs: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation(
        "A cute otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY, **kwargs
    )


# -- when callbacks are called, and with what --------------------------------------------------------


def test_a_global_callback_is_told_of_the_request_then_of_its_success(fake: FakeOpenAI, recorder: Recorder) -> None:
    response = generate(fake, n=2, size="256x256", metadata={"tenant": "t-1"})

    assert recorder.hooks == ["on_request", "on_success"]
    started, done = recorder.calls[0][1], recorder.last
    assert started.status == "started"
    assert started.call_id == done.call_id
    assert (done.status, done.operation, done.provider, done.model) == ("success", "generation", "openai", "dall-e-2")
    assert done.params == {"n": 2, "size": "256x256"}
    assert done.metadata == {"tenant": "t-1"}
    assert (done.images, done.cost, done.retries, done.polls) == (2, response.cost, 0, 0)
    assert done.latency_ms is not None
    assert done.latency_ms > 0
    assert done.end_time is not None
    assert done.end_time >= done.start_time


def test_a_per_call_callback_is_called_beside_the_global_ones(fake: FakeOpenAI, recorder: Recorder) -> None:
    own = Recorder()
    generate(fake, callbacks=[own])
    assert own.hooks == recorder.hooks == ["on_request", "on_success"]


def test_a_failure_names_the_error_class_and_status(fake: FakeOpenAI, recorder: Recorder) -> None:
    fake.fail_next("server_error")
    with pytest.raises(imagegen.InternalServerError):
        generate(fake, num_retries=0)
    assert recorder.hooks == ["on_request", "on_failure"]
    failed = recorder.last
    assert (failed.status, failed.error_class, failed.status_code) == ("failure", "InternalServerError", 500)
    assert failed.images == 0


def test_a_call_refused_before_sending_gets_only_on_failure(recorder: Recorder) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError):
        imagegen.image_generation("otter", model="dall-e-2", style="vivid", api_key=API_KEY)
    assert recorder.hooks == ["on_failure"]
    assert (recorder.last.provider, recorder.last.model) == ("openai", "dall-e-2")
    assert recorder.last.error_class == "UnsupportedParamsError"


def test_retries_are_counted(fake: FakeOpenAI, recorder: Recorder) -> None:
    fake.fail_next("rate_limit")
    generate(fake, num_retries=1)
    assert recorder.last.retries == 1


def test_polls_of_a_job_are_counted(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> None:
    monkeypatch.setitem(registry.entries(), JOBS, install_jobs())
    with FakeJobs(polls_until_ready=3) as jobs:
        imagegen.image_generation("otter", model=f"{JOBS}/slow-1", api_base=jobs.url)
    assert recorder.last.polls == 3


def test_a_mocked_call_is_told_as_one_costing_nothing(recorder: Recorder) -> None:
    imagegen.image_generation("otter", model="dall-e-3", mock_response=True)
    assert recorder.hooks == ["on_request", "on_success"]
    assert (recorder.last.mock, recorder.last.cost) == (True, 0.0)


# -- what a record never holds ----------------------------------------------------------------------


def test_a_record_never_holds_a_credential_nor_image_bytes(fake: FakeOpenAI, recorder: Recorder) -> None:
    image = png_image(64, 64)
    imagegen.image_edit(
        image, "Add a hat", model="gpt-image-1", api_base=fake.api_base, api_key=API_KEY,
        extra_headers={"X-Gateway-Key": "gw-secret-9876"},
    )  # fmt: skip
    record = recorder.last
    shown = json.dumps(record.to_dict()) + repr(record)
    assert API_KEY not in shown
    assert "gw-secret-9876" not in shown
    assert imagegen.ImageInput(image).b64()[:40] not in shown
    assert (record.operation, record.input_images) == ("edit", 1)


def test_long_string_parameters_are_recorded_by_their_length(recorder: Recorder) -> None:
    imagegen.image_generation("otter", model="openai/some-server-model", mock_response=True, init_image="A" * 5000)
    assert recorder.last.params["init_image"] == "<5000 characters>"


def test_the_prompt_is_recorded_only_when_the_application_opts_in(
    fake: FakeOpenAI, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(fake)
    assert recorder.last.prompt is None
    assert "A cute otter" not in json.dumps(recorder.last.to_dict())
    monkeypatch.setattr(imagegen, "log_prompts", True)
    generate(fake)
    assert recorder.last.prompt == "A cute otter"


# -- callbacks that fail, callbacks that are async ---------------------------------------------------


class Broken:
    def on_success(self, record: CallRecord) -> None:
        raise RuntimeError("the logging backend is down")


def test_a_failing_callback_never_fails_the_call_and_is_logged_once(
    fake: FakeOpenAI, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Broken()
    reported: list[tuple[str, str]] = []
    with caplog.at_level(logging.WARNING, logger="imagegen"):
        observe.failure_listeners.append(lambda name, hook: reported.append((name, hook)))
        try:
            for _ in range(2):
                assert generate(fake, callbacks=[broken]).data
        finally:
            observe.failure_listeners.pop()
    logged = [r for r in caplog.records if "Broken.on_success failed" in r.getMessage()]
    assert len(logged) == 1
    assert [hook for _, hook in reported] == ["on_success", "on_success"]
    assert recorder.hooks == ["on_request", "on_success"] * 2  # the other callbacks still ran


class AsyncRecorder:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.seen: list[str] = []

    async def on_success(self, record: CallRecord) -> None:
        await self.release.wait()
        self.seen.append(record.status)


@pytest.mark.anyio
async def test_an_async_callback_runs_as_a_task_without_holding_up_the_result(fake: FakeOpenAI) -> None:
    slow = AsyncRecorder()
    response = await imagegen.aimage_generation(
        "otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY, callbacks=[slow]
    )
    assert response.data
    assert slow.seen == []  # the call returned while its callback still waits
    slow.release.set()
    await observe.drain()
    assert slow.seen == ["success"]


def test_an_async_callback_runs_to_completion_on_the_sync_path(fake: FakeOpenAI) -> None:
    class Quick:
        seen: list[str] = []

        async def on_success(self, record: CallRecord) -> None:
            await asyncio.sleep(0)
            self.seen.append(record.status)

    quick = Quick()
    generate(fake, callbacks=[quick])
    assert quick.seen == ["success"]


# -- streams -----------------------------------------------------------------------------------------


def test_a_stream_reports_its_time_to_first_event_when_it_ends(fake: FakeOpenAI, recorder: Recorder) -> None:
    stream = imagegen.image_generation(
        "otter", model="gpt-image-1", api_base=fake.api_base, api_key=API_KEY, stream=True, partial_images=1
    )
    assert recorder.hooks == ["on_request"]
    events = list(stream)
    assert recorder.hooks == ["on_request", "on_success"]
    record = recorder.last
    assert record.stream
    assert record.time_to_first_event_ms is not None
    assert record.time_to_first_event_ms <= record.latency_ms
    assert record.images == 1 == len(events) - 1


def test_a_stream_closed_before_its_end_is_reported_cancelled(fake: FakeOpenAI, recorder: Recorder) -> None:
    with imagegen.image_generation(
        "otter", model="gpt-image-1", api_base=fake.api_base, api_key=API_KEY, stream=True, partial_images=2
    ) as stream:
        next(stream)
    assert recorder.hooks == ["on_request", "on_failure"]
    assert recorder.last.status == "cancelled"


@pytest.mark.anyio
async def test_an_emulated_async_stream_left_early_is_reported_cancelled(recorder: Recorder) -> None:
    stream = await imagegen.aimage_generation("otter", model="dall-e-3", mock_response=True, n=1, stream=True)
    async with stream:
        pass
    assert recorder.last.status == "cancelled"


def test_a_stream_closed_after_an_image_reports_what_it_spent(fake: FakeOpenAI, recorder: Recorder) -> None:
    with imagegen.image_generation(
        "otter", model="gpt-image-1", n=2, api_base=fake.api_base, api_key=API_KEY, stream=True
    ) as stream:
        first = next(stream)  # the first image completed; the second never read
    assert first.type == "image_generation.completed"
    record = recorder.last
    assert (record.status, record.images) == ("cancelled", 1)
    assert record.cost is not None
    assert record.cost > 0
    assert record.cost == stream.response.cost
    assert record.usage == first.usage.model_dump()


def test_an_emulated_stream_closed_before_its_first_event_reports_its_whole_cost(
    fake: FakeOpenAI, recorder: Recorder
) -> None:
    stream = imagegen.image_generation(
        "otter", model="dall-e-2", n=2, api_base=fake.api_base, api_key=API_KEY, stream=True
    )
    stream.close()  # the answer was made (and paid for) before the first event
    record = recorder.last
    assert record.status == "cancelled"
    assert record.cost == pytest.approx(2 * 0.02)


def test_a_stream_broken_mid_way_reports_what_it_spent(fake: FakeOpenAI, recorder: Recorder) -> None:
    fake.fail_next("mid_stream_error")
    stream = imagegen.image_generation(
        "otter", model="gpt-image-1", api_base=fake.api_base, api_key=API_KEY, stream=True, partial_images=1
    )
    with pytest.raises(imagegen.InternalServerError):
        list(stream)
    record = recorder.last
    assert (record.status, record.images, record.error_class) == ("failure", 0, "InternalServerError")
    assert stream.response.data == []


# -- installed callback plugins ----------------------------------------------------------------------

CALLBACK_PLUGIN = """
from imagegen import hookimpl

RECORDS = []

@hookimpl
def on_request(record):
    RECORDS.append(("on_request", record.model))

@hookimpl
async def on_success(record):
    RECORDS.append(("on_success", record.images))
"""


def test_an_installed_callback_plugin_is_called(tmp_path: Path) -> None:
    write_distribution(tmp_path, "imagegen-audit", "audit", "imagegen_audit", CALLBACK_PLUGIN, "imagegen.callbacks")
    result = run_python(
        tmp_path,
        """
        import json, imagegen, imagegen_audit
        imagegen.image_generation("otter", model="dall-e-3", mock_response=True)
        print(json.dumps(imagegen_audit.RECORDS))
        """,
    )
    assert last_json(result) == [["on_request", "dall-e-3"], ["on_success", 1]]


def test_a_callback_plugin_with_a_misspelled_hook_is_left_out_with_an_error(tmp_path: Path) -> None:
    source = "from imagegen import hookimpl\n\n@hookimpl\ndef on_sucess(record):\n    pass\n"
    write_distribution(tmp_path, "imagegen-typo", "typo", "imagegen_typo", source, "imagegen.callbacks")
    result = run_python(
        tmp_path,
        """
        import imagegen
        print(len(imagegen.image_generation("otter", model="dall-e-3", mock_response=True).data))
        """,
    )
    assert last_json(result) == 1
    assert "the callback plugin 'typo' failed to load" in result.stderr
