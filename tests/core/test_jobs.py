"""The core polls a provider's jobs: one deadline, backoff with Retry-After, 5xx polled through, cancel on timeout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import imagegen
from imagegen import transport
from imagegen.plugins import registry

from .job_plugin import PREFIX, FakeJobs, install

MODEL = f"{PREFIX}/slow-1"


@pytest.fixture(autouse=True)
def jobby(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.entries(), PREFIX, install())
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)


@pytest.fixture
def fake() -> Iterator[FakeJobs]:
    with FakeJobs() as upstream:
        yield upstream


def test_a_job_is_polled_until_ready_and_keeps_its_url_and_expiry(fake: FakeJobs) -> None:
    response = imagegen.image_generation("otter", model=MODEL, api_base=fake.url)
    assert response.data[0].url == f"{fake.url}/files/job-1.png"
    assert response.data[0].expires_at == 1700000000
    assert fake.polls == {"job-1": 2}


@pytest.mark.anyio
async def test_the_async_path_polls_on_the_event_loop(fake: FakeJobs) -> None:
    response = await imagegen.aimage_generation("otter", model=MODEL, api_base=fake.url)
    assert len(response.data) == 1


def test_b64_json_downloads_the_result_without_credentials(fake: FakeJobs) -> None:
    response = imagegen.image_generation(
        "otter", model=MODEL, api_base=fake.url, api_key="secret-key-1", response_format="b64_json"
    )
    assert response.data[0].b64_json is not None
    assert response.data[0].url is None
    download = fake.requests[-1]
    assert download.path == "/files/job-1.png"
    assert "authorization" not in download.headers


def test_n_runs_several_jobs_concurrently(fake: FakeJobs) -> None:
    response = imagegen.image_generation("otter", model=MODEL, api_base=fake.url, n=3)
    assert len(response.data) == 3
    assert sorted(fake.polls) == ["job-1", "job-2", "job-3"]


def test_5xx_while_polling_is_polled_through(fake: FakeJobs) -> None:
    fake.polls_until_ready = 1

    original = fake.handle
    failures = iter([True, True])

    def flaky(request):  # type: ignore[no-untyped-def]
        if request.method == "GET" and next(failures, False):
            return fake.error("server_error")
        return original(request)

    fake.handle = flaky  # type: ignore[method-assign]
    response = imagegen.image_generation("otter", model=MODEL, api_base=fake.url, num_retries=0)
    assert response.data


def test_a_moderated_job_is_a_content_policy_error_naming_the_job(fake: FakeJobs) -> None:
    fake.moderate = True
    with pytest.raises(imagegen.ContentPolicyViolationError) as caught:
        imagegen.image_generation("otter", model=MODEL, api_base=fake.url)
    assert caught.value.job_id == "job-1"


def test_a_finished_jobs_result_is_fetched_from_the_url_its_last_poll_gave(fake: FakeJobs) -> None:
    fake.fetch_results = True
    response = imagegen.image_generation("otter", model=MODEL, api_base=fake.url)
    assert response.data[0].url == f"{fake.url}/files/job-1.png"
    assert [r.path for r in fake.requests][-1] == "/v1/results/job-1"


def test_a_finished_jobs_error_is_raised_at_once_not_polled_through(fake: FakeJobs) -> None:
    fake.fetch_results = True
    fake.result_status = 500
    with pytest.raises(imagegen.InternalServerError, match="the model failed") as caught:
        imagegen.image_generation("otter", model=MODEL, api_base=fake.url, timeout=30)
    assert caught.value.job_id == "job-1"
    assert [r.path for r in fake.requests].count("/v1/results/job-1") == 1


def test_a_job_past_the_deadline_is_cancelled_and_names_the_job(fake: FakeJobs) -> None:
    fake.hold_jobs = True
    with pytest.raises(imagegen.Timeout) as caught:
        imagegen.image_generation("otter", model=MODEL, api_base=fake.url, timeout=0.3)
    assert caught.value.job_id == "job-1"
    assert "job-1" in str(caught.value)
    assert fake.cancelled == ["job-1"]


@pytest.mark.anyio
async def test_an_async_job_past_the_deadline_is_cancelled(fake: FakeJobs) -> None:
    fake.hold_jobs = True
    with pytest.raises(imagegen.Timeout):
        await imagegen.aimage_generation("otter", model=MODEL, api_base=fake.url, timeout=0.3)
    assert fake.cancelled == ["job-1"]


def test_a_stream_of_a_job_yields_its_completed_image_in_base64(fake: FakeJobs) -> None:
    stream = imagegen.image_generation("otter", model=MODEL, api_base=fake.url, stream=True)
    events = list(stream)
    assert [event.type for event in events] == ["image_generation.completed"]
    assert events[0].size == "auto"  # 1x1 is no size OpenAI's events have
