"""The SDK against a fake OpenAI: credentials, responses, retries and errors, sync and async."""

from __future__ import annotations

import logging
import time

import pytest

import imagegen
from imagegen import transport
from imagegen.testing import FakeResponse
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import API_KEY


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)


def test_the_seed_quickstart_works_with_environment_variables(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.api_base)
    response = imagegen.image_generation(prompt="A cute baby sea otter", model="dall-e-3")
    assert response.data[0].url
    assert response.data[0].revised_prompt == "A detailed rendering of: A cute baby sea otter"


def test_openai_api_base_is_read_too(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_BASE", fake_openai.api_base)
    assert imagegen.image_generation("otter", model="dall-e-2", api_key=API_KEY).data


def test_no_model_means_gpt_image_1(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_generation("otter", api_base=fake_openai.api_base, api_key=API_KEY)
    assert fake_openai.requests[0].json()["model"] == "gpt-image-1"
    assert (response.provider, response.model) == ("openai", "gpt-image-1")


def test_a_missing_key_is_an_authentication_error_naming_the_variable() -> None:
    with pytest.raises(imagegen.AuthenticationError, match="OPENAI_API_KEY"):
        imagegen.image_generation("otter", model="dall-e-3")


def test_the_key_is_sent_as_a_bearer_token(fake_openai: FakeOpenAI) -> None:
    imagegen.image_generation("otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY)
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_a_wrong_key_is_masked_in_the_error(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.AuthenticationError) as caught:
        imagegen.image_generation("otter", model="dall-e-2", api_base=fake_openai.api_base, api_key="sk-wrong-key-999")
    assert "sk-wrong-key-999" not in str(caught.value)
    assert "Incorrect API key provided: ***" in str(caught.value)
    assert caught.value.status_code == 401


def test_gpt_image_fields_and_usage_are_kept(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_generation(
        "otter", model="gpt-image-1", n=2, api_base=fake_openai.api_base, api_key=API_KEY, output_format="webp"
    )
    dumped = response.model_dump()
    assert dumped["output_format"] == "webp"
    assert dumped["background"] == "opaque"
    assert response.usage is not None
    assert response.usage.output_tokens == 544


def test_a_dump_validates_as_openais_images_response(fake_openai: FakeOpenAI) -> None:
    from openai.types import ImagesResponse

    for model in ("gpt-image-1", "dall-e-3", "dall-e-2"):
        response = imagegen.image_generation("otter", model=model, api_base=fake_openai.api_base, api_key=API_KEY)
        assert ImagesResponse.model_validate(response.model_dump()).data


def test_provider_model_and_warnings_are_not_serialised(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_generation("otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY)
    assert set(response.model_dump()) == {"created", "data", "usage"}


def test_repr_never_prints_the_base64_image(fake_openai: FakeOpenAI) -> None:
    big = FakeOpenAI(api_keys=(API_KEY,), image=b"\x89PNG" + b"\0" * 300_000)
    with big:
        response = imagegen.image_generation("otter", model="gpt-image-1", api_base=big.api_base, api_key=API_KEY)
    assert len(repr(response)) < 1000
    assert "base64 chars" in repr(response)


def test_server_errors_are_retried_then_succeed(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next("server_error", times=2)
    imagegen.image_generation("otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY)
    assert len(fake_openai.requests) == 3


def test_the_default_is_two_retries(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next("unavailable", times=3)
    with pytest.raises(imagegen.ServiceUnavailableError):
        imagegen.image_generation("otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY)
    assert len(fake_openai.requests) == 3


def test_a_rate_limit_error_carries_the_wait_the_provider_asked_for(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next("rate_limit")  # OpenAI's `retry-after-ms: 5`
    with pytest.raises(imagegen.RateLimitError) as caught:
        imagegen.image_generation(
            "otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY, num_retries=0
        )
    assert caught.value.retry_after == 0.005


def test_an_error_without_a_retry_after_has_none(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next("unavailable", times=3)
    with pytest.raises(imagegen.ServiceUnavailableError) as caught:
        imagegen.image_generation("otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY)
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("bad_request", imagegen.BadRequestError),
        ("auth", imagegen.AuthenticationError),
        ("permission", imagegen.PermissionDeniedError),
        ("not_found", imagegen.NotFoundError),
        ("content_policy", imagegen.ContentPolicyViolationError),
    ],
)
def test_client_errors_are_mapped_and_never_retried(
    fake_openai: FakeOpenAI, kind: str, error: type[imagegen.ImageGenError]
) -> None:
    fake_openai.fail_next(kind)
    with pytest.raises(error) as caught:
        imagegen.image_generation("otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY)
    assert len(fake_openai.requests) == 1
    assert (caught.value.provider, caught.value.model) == ("openai", "dall-e-2")
    assert caught.value.message  # the provider's own words


def test_the_timeout_applies_per_call(fake_openai: FakeOpenAI) -> None:
    import threading

    release = threading.Event()
    original = fake_openai.handle

    def slow(request):  # type: ignore[no-untyped-def]
        release.wait(2)
        return original(request)

    fake_openai.handle = slow  # type: ignore[method-assign]
    try:
        with pytest.raises(imagegen.Timeout):
            imagegen.image_generation(
                "otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY, timeout=0.2, num_retries=0
            )
    finally:
        release.set()


@pytest.fixture
def slow_failures(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """Every answer a 500, after 0.3 s."""

    def slow_failure(request):  # type: ignore[no-untyped-def]
        time.sleep(0.3)
        return fake_openai.error("server_error")

    monkeypatch.setattr(fake_openai, "handle", slow_failure)
    return fake_openai


def test_the_timeout_is_one_deadline_for_every_attempt_not_one_each(slow_failures: FakeOpenAI) -> None:
    started = time.monotonic()
    with pytest.raises((imagegen.Timeout, imagegen.InternalServerError)):
        imagegen.image_generation(
            "otter", model="dall-e-2", api_base=slow_failures.api_base, api_key=API_KEY, timeout=0.5, num_retries=5
        )
    assert time.monotonic() - started < 1.0  # not 6 attempts of 0.5 s each
    assert len(slow_failures.requests) <= 2


@pytest.mark.anyio
async def test_an_async_timeout_is_one_deadline_for_every_attempt(slow_failures: FakeOpenAI) -> None:
    started = time.monotonic()
    with pytest.raises((imagegen.Timeout, imagegen.InternalServerError)):
        await imagegen.aimage_generation(
            "otter", model="dall-e-2", api_base=slow_failures.api_base, api_key=API_KEY, timeout=0.5, num_retries=5
        )
    assert time.monotonic() - started < 1.0


def test_a_retry_whose_wait_ends_past_the_deadline_is_not_made(fake_openai: FakeOpenAI) -> None:
    def rate_limited(request):  # type: ignore[no-untyped-def]
        return FakeResponse(429, {"error": {"message": "slow down", "type": "requests"}}, {"retry-after": "5"})

    fake_openai.handle = rate_limited  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(imagegen.RateLimitError) as caught:
        imagegen.image_generation(
            "otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY, timeout=1.0, num_retries=3
        )
    assert time.monotonic() - started < 1.0  # answered at once: waiting 5 s would pass the 1 s deadline
    assert len(fake_openai.requests) == 1
    assert caught.value.retry_after == 5.0


def test_nothing_secret_or_large_is_logged(fake_openai: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    imagegen.image_generation("a secret prompt", model="gpt-image-1", api_base=fake_openai.api_base, api_key=API_KEY)
    logged = caplog.text
    assert API_KEY not in logged
    assert "a secret prompt" not in logged
    assert fake_openai.image_b64 not in logged


@pytest.mark.anyio
async def test_async_calls_share_the_sync_behaviour(fake_openai: FakeOpenAI) -> None:
    fake_openai.fail_next("rate_limit")
    response = await imagegen.aimage_generation(
        "otter", model="gpt-image-1", n=2, api_base=fake_openai.api_base, api_key=API_KEY
    )
    assert len(response.data) == 2
    assert len(fake_openai.requests) == 2


@pytest.mark.anyio
async def test_async_calls_run_concurrently(fake_openai: FakeOpenAI) -> None:
    import anyio

    results = []

    async def one() -> None:
        results.append(
            await imagegen.aimage_generation("otter", model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY)
        )

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(one)
    assert len(results) == 5
