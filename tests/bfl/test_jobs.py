"""BFL jobs: polled where BFL says, the key only to BFL's hosts, moderation and failures, expiring URLs."""

from __future__ import annotations

import time
from typing import Any

import pytest

import imagegen
from imagegen.images import DownloadError, download
from tests.fakes.bfl_fake import API_KEY, RESULT_LIFETIME, FakeBFL

MODEL = "bfl/flux-2-pro"


def generate(kwargs: dict[str, Any], **extra: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("A cute baby sea otter", model=MODEL, **{**kwargs, **extra})


def requests_to(fake: FakeBFL, url: str) -> list[Any]:
    port = int(url.rpartition(":")[2])
    return [request for request in fake.requests if request.port == port]


def test_the_job_is_polled_at_the_polling_url_on_another_host_with_the_key(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    generate(bfl_kwargs)
    (poll,) = requests_to(fake_bfl, fake_bfl.gateway_url)
    assert (poll.method, poll.path, poll.query) == ("GET", "/v1/get_result", {"id": ["task-1"]})
    assert poll.headers["x-key"] == API_KEY


def test_a_polling_url_on_a_foreign_host_is_sent_no_key_and_the_error_says_why(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    fake_bfl.polling_host = "localhost"
    with pytest.raises(
        imagegen.AuthenticationError, match=r"localhost is not one of the provider's domains \(bfl.ai\)"
    ) as caught:
        generate(bfl_kwargs)
    assert caught.value.job_id == "task-1"
    assert all("x-key" not in r.headers for r in requests_to(fake_bfl, fake_bfl.gateway_url))


def test_the_result_is_a_url_that_expires_ten_minutes_after_the_job_is_ready(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    before = int(time.time())
    (image,) = generate(bfl_kwargs).data
    assert image.url is not None
    assert image.url.startswith(f"{fake_bfl.delivery_url}/results/task-1/sample.")
    assert image.expires_at is not None
    assert before + RESULT_LIFETIME <= image.expires_at <= int(time.time()) + RESULT_LIFETIME


def test_b64_json_downloads_the_signed_url_without_the_key(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    (image,) = generate(bfl_kwargs, response_format="b64_json", output_format="png").data
    assert image.image_bytes().startswith(b"\x89PNG")
    assert (image.url, image.expires_at) == (None, None)
    (download,) = requests_to(fake_bfl, fake_bfl.delivery_url)
    assert "x-key" not in download.headers


def test_the_signed_url_works_until_it_expires(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    (image,) = generate(bfl_kwargs).data
    assert image.url is not None
    assert download(image.url)
    fake_bfl.clock_offset = RESULT_LIFETIME + 1
    with pytest.raises(DownloadError, match="403"):
        download(image.url)


def test_a_result_whose_download_fails_keeps_its_url_its_cost_and_says_why(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    fake_bfl.result_lifetime = -1  # expired before its download
    response = generate(bfl_kwargs, response_format="b64_json")
    (image,) = response.data
    assert image.url is not None
    assert image.url.startswith(f"{fake_bfl.delivery_url}/results/task-1/sample.")
    assert image.b64_json is None
    assert response.cost is not None
    assert response.cost > 0
    (warning,) = [w for w in response.warnings if "could not be downloaded" in w]
    assert "403" in warning
    assert "?" not in warning


@pytest.mark.anyio
async def test_an_async_result_whose_download_fails_keeps_its_url_and_cost(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    fake_bfl.result_lifetime = -1
    response = await imagegen.aimage_generation(
        "A cute baby sea otter", model=MODEL, response_format="b64_json", **bfl_kwargs
    )
    assert response.data[0].url is not None
    assert response.cost is not None
    assert response.cost > 0
    assert any("could not be downloaded" in w for w in response.warnings)


@pytest.mark.parametrize("status", ["Request Moderated", "Content Moderated"])
def test_a_moderated_job_is_a_content_policy_error_naming_the_job(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any], status: str
) -> None:
    fake_bfl.next_outcome = status
    with pytest.raises(imagegen.ContentPolicyViolationError, match=status) as caught:
        generate(bfl_kwargs)
    assert caught.value.job_id == "task-1"
    assert "Derivative Works Filter" in str(caught.value)


@pytest.mark.parametrize("status", ["Error", "Failed"])
def test_a_failed_job_is_a_server_error_with_bfls_reason(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any], status: str
) -> None:
    fake_bfl.next_outcome = status
    with pytest.raises(imagegen.InternalServerError, match=rf"{status}.*Generation failed"):
        generate(bfl_kwargs)


def test_a_job_bfl_no_longer_knows_is_not_found(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    original = fake_bfl.submit

    def forgetful(model: str, request: Any) -> Any:
        answer = original(model, request)
        fake_bfl.tasks.clear()
        return answer

    fake_bfl.submit = forgetful  # type: ignore[method-assign]
    with pytest.raises(imagegen.NotFoundError, match="Task not found"):
        generate(bfl_kwargs)


def test_a_job_past_the_deadline_times_out_naming_it_and_nothing_is_cancelled(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    fake_bfl.hold_jobs = True
    with pytest.raises(imagegen.Timeout, match="task-1") as caught:
        generate(bfl_kwargs, timeout=0.3)
    assert caught.value.job_id == "task-1"
    assert {(r.method, r.path) for r in fake_bfl.requests} == {("POST", "/v1/flux-2-pro"), ("GET", "/v1/get_result")}


def test_server_errors_while_polling_are_polled_through(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    original = fake_bfl.poll
    failures = iter([True, True])

    def flaky(request: Any) -> Any:
        return fake_bfl.error("server_error") if next(failures, False) else original(request)

    fake_bfl.poll = flaky  # type: ignore[method-assign]
    assert generate(bfl_kwargs, num_retries=0).data


def test_n_runs_concurrent_jobs_within_bfls_cap_for_kontext_max(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    fake_bfl.polls_until_ready = 3
    response = imagegen.image_generation("otter", model="bfl/flux-kontext-max", n=9, num_retries=0, **bfl_kwargs)
    assert len(response.data) == 9
    assert 1 < fake_bfl.peak_active <= 6  # concurrent, yet never past the 6 tasks BFL allows


@pytest.mark.anyio
async def test_async_n_runs_concurrent_jobs_on_the_event_loop(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    fake_bfl.polls_until_ready = 3
    response = await imagegen.aimage_generation("otter", model=MODEL, n=4, seed=7, **bfl_kwargs)
    assert len(response.data) == 4
    assert fake_bfl.peak_active == 4
    assert sorted(image.model_extra["seed"] for image in response.data) == [7, 8, 9, 10]  # type: ignore[index]


def test_a_poll_interval_below_a_tenth_of_a_second_is_raised_to_it(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    fake_bfl.hold_jobs = True
    with pytest.raises(imagegen.Timeout):
        generate({**bfl_kwargs, "poll_interval": 0}, timeout=0.5)
    polls = requests_to(fake_bfl, fake_bfl.gateway_url)
    assert 1 <= len(polls) <= 6  # 0.1 s apart at least: never a busy loop


def test_polling_backoff_never_waits_past_the_calls_deadline(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    fake_bfl.hold_jobs = True
    started = time.monotonic()
    with pytest.raises(imagegen.Timeout, match="task-1"):
        generate({**bfl_kwargs, "poll_interval": 30}, timeout=0.4)
    assert time.monotonic() - started < 1.0  # not the 30 s the provider suggested between polls


@pytest.mark.anyio
async def test_async_polling_never_waits_past_the_calls_deadline(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    fake_bfl.hold_jobs = True
    started = time.monotonic()
    with pytest.raises(imagegen.Timeout):
        await imagegen.aimage_generation("otter", model=MODEL, timeout=0.4, **{**bfl_kwargs, "poll_interval": 30})
    assert time.monotonic() - started < 1.0
