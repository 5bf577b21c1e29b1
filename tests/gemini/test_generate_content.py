"""Gemini image models on the Gemini API: the `:generateContent` body, one image per call, cost from
`usageMetadata`, blocked prompts and images, and what the Gemini API refuses that Vertex AI takes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import imagegen
from imagegen.exceptions import (
    ContentPolicyViolationError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    UnsupportedParamsError,
)
from tests.fakes.gemini_fake import FakeGemini


def generate(kwargs: dict[str, Any], model: str = "gemini-2.5-flash-image", **params: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("A nano banana dish", model=f"gemini/{model}", **kwargs, **params)


def sent(fake: FakeGemini) -> dict[str, Any]:
    body: dict[str, Any] = fake.requests[-1].json()
    return body


def test_asks_for_text_and_image_from_a_user_turn(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    generate(gemini_kwargs)

    assert sent(fake_gemini) == {
        "contents": [{"role": "user", "parts": [{"text": "A nano banana dish"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
    }


def test_the_models_text_becomes_the_revised_prompt(gemini_kwargs: dict[str, Any]) -> None:
    image = generate(gemini_kwargs).data[0]

    assert image.revised_prompt == "Here is the image: A nano banana dish"
    assert image.model_extra == {"mimeType": "image/png"}


def test_size_is_sent_as_the_nearest_aspect_ratio(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    response = generate(gemini_kwargs, size="1800x1000")

    assert sent(fake_gemini)["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}
    assert any("16:9" in warning for warning in response.warnings)


def test_gemini_3_1_flash_has_its_extreme_ratios_and_512(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    generate(gemini_kwargs, model="gemini-3.1-flash-image-preview", size="512x2048", image_size="512")

    assert sent(fake_gemini)["generationConfig"]["imageConfig"] == {"aspectRatio": "1:4", "imageSize": "512"}


def test_quality_hd_asks_gemini_3_pro_for_2k(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    generate(gemini_kwargs, model="gemini-3-pro-image-preview", size="1024x1536", quality="hd")

    assert sent(fake_gemini)["generationConfig"]["imageConfig"] == {"aspectRatio": "2:3", "imageSize": "2K"}


def test_native_parameters_go_where_google_reads_them(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    generate(gemini_kwargs, model="gemini-3-pro-image", imageSize="4K", temperature=0.5, top_p=0.9)

    assert fake_gemini.requests[-1].path == "/v1beta/models/gemini-3-pro-image:generateContent"  # an alias as given
    assert sent(fake_gemini)["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"],
        "temperature": 0.5,
        "topP": 0.9,
        "imageConfig": {"imageSize": "4K"},
    }


def test_image_size_must_be_uppercase_as_google_requires(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="image_size"):
        generate(gemini_kwargs, model="gemini-3-pro-image-preview", image_size="4k")
    assert fake_gemini.requests == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("output_format", "jpeg"), ("output_compression", 80), ("person_generation", "ALLOW_ADULT"),
     ("outputMimeType", "image/jpeg"), ("prominent_people", "BLOCK_PROMINENT_PEOPLE")],
)  # fmt: skip
def test_what_google_takes_on_vertex_only_is_refused_saying_so(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any], name: str, value: Any
) -> None:
    with pytest.raises(UnsupportedParamsError, match="Vertex AI only") as caught:
        generate(gemini_kwargs, **{name: value})
    assert caught.value.param == name
    assert fake_gemini.requests == []


def test_vertex_only_options_are_dropped_under_drop_params(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    response = generate(gemini_kwargs, output_format="jpeg", person_generation="ALLOW_ADULT", drop_params=True)

    assert "imageConfig" not in sent(fake_gemini)["generationConfig"]
    assert len(response.warnings) == 2


def test_n_fans_out_into_one_call_per_image_and_sums_usage(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    response = generate(gemini_kwargs, n=3)

    assert len(response.data) == 3
    assert len(fake_gemini.requests) == 3
    assert all("candidateCount" not in request.json()["generationConfig"] for request in fake_gemini.requests)
    assert response.usage is not None
    assert response.usage.total_tokens == 3 * 1307


def test_usage_is_split_into_text_and_image_tokens(gemini_kwargs: dict[str, Any]) -> None:
    usage = generate(gemini_kwargs).usage

    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (7, 1300, 1307)
    assert usage.input_tokens_details == {"text_tokens": 7, "image_tokens": 0}
    assert usage.model_extra == {"output_tokens_details": {"text_tokens": 10, "image_tokens": 1290}}


# Gemini API list prices per token (ai.google.dev/gemini-api/docs/pricing): input, text output, image output.
PRICES = {
    "gemini-2.5-flash-image": (0.30e-6, 2.50e-6, 30e-6),
    "gemini-3-pro-image-preview": (2e-6, 12e-6, 120e-6),
    "gemini-3.1-flash-image-preview": (0.50e-6, 3e-6, 60e-6),
}


@pytest.mark.parametrize(
    ("model", "params", "image_tokens"),
    [
        ("gemini-2.5-flash-image", {}, 1290),  # $0.039 an image
        ("gemini-3-pro-image-preview", {}, 1120),  # $0.134
        ("gemini-3-pro-image-preview", {"image_size": "4K"}, 2000),  # $0.24
        ("gemini-3.1-flash-image-preview", {}, 1120),  # $0.067
    ],
)
def test_the_cost_is_priced_from_usage_metadata(
    gemini_kwargs: dict[str, Any], model: str, params: dict[str, Any], image_tokens: int
) -> None:
    response = generate(gemini_kwargs, model=model, n=2, **params)

    text_input, text_output, image_output = PRICES[model]
    assert response.cost == pytest.approx(2 * (7 * text_input + 10 * text_output + image_tokens * image_output))


def test_thinking_tokens_are_priced_as_text_and_thought_images_left_out(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    fake_gemini.thoughts_tokens = 200
    fake_gemini.thought_images = 2

    response = generate(gemini_kwargs, model="gemini-3-pro-image-preview")

    assert len(response.data) == 1
    text_input, text_output, image_output = PRICES["gemini-3-pro-image-preview"]
    assert response.cost == pytest.approx(7 * text_input + (10 + 200) * text_output + 1120 * image_output)


def test_a_blocked_prompt_is_a_content_policy_error_with_the_reason(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    fake_gemini.block_prompt = "SAFETY"

    with pytest.raises(ContentPolicyViolationError, match=r"The Gemini API blocked the prompt \(SAFETY\)"):
        generate(gemini_kwargs)


def test_an_image_stopped_by_a_filter_is_a_content_policy_error(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    fake_gemini.filter_images = 1

    with pytest.raises(ContentPolicyViolationError, match="IMAGE_SAFETY"):
        generate(gemini_kwargs)


@pytest.mark.parametrize(
    ("kind", "error", "hint"),
    [
        ("rate_limit", RateLimitError, "rate limit or quota"),
        ("permission", PermissionDeniedError, "Generative Language API enabled"),
        ("unavailable", ServiceUnavailableError, "overloaded"),
    ],
)
def test_googles_error_statuses_are_mapped_with_the_fix(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any], kind: str, error: type[Exception], hint: str
) -> None:
    fake_gemini.fail_next(kind)

    with pytest.raises(error, match=hint):
        generate(gemini_kwargs, num_retries=0)


def test_a_429_says_how_long_google_asked_to_wait(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    fake_gemini.retry_delay = "23s"
    fake_gemini.fail_next("rate_limit")

    with pytest.raises(RateLimitError) as raised:
        generate(gemini_kwargs, num_retries=0)

    assert raised.value.retry_after == 23.0  # its google.rpc.RetryInfo: the proxy waits, and tells its clients


def test_the_sdk_retries_a_429_after_the_wait_google_asked_for(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]
) -> None:
    fake_gemini.retry_delay = "0.3s"
    fake_gemini.fail_next("rate_limit")
    started = time.monotonic()

    generate(gemini_kwargs, num_retries=1)

    assert len(fake_gemini.requests) == 2
    assert time.monotonic() - started >= 0.3  # the wait asked for, not a shorter backoff


@pytest.mark.parametrize("call", ["sync", "async"])
def test_a_429_asking_for_longer_than_the_call_has_left_is_not_retried(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any], call: str
) -> None:
    fake_gemini.retry_delay = "30s"  # Google's quota wait; a backoff would have retried within a second
    fake_gemini.fail_next("rate_limit")
    prompt, model = "A nano banana dish", "gemini/gemini-2.5-flash-image"

    def sync() -> object:
        return imagegen.image_generation(prompt, model=model, num_retries=2, timeout=10, **gemini_kwargs)

    def in_a_loop() -> object:
        return asyncio.run(imagegen.aimage_generation(prompt, model=model, num_retries=2, timeout=10, **gemini_kwargs))

    with pytest.raises(RateLimitError) as raised:
        (sync if call == "sync" else in_a_loop)()

    assert raised.value.retry_after == 30.0
    assert len(fake_gemini.requests) == 1


@pytest.mark.parametrize("delay", ["1.5s", "0s", "3600s", "23", "soon", 23])
def test_a_retry_delay_is_read_only_as_a_duration_up_to_a_minute(delay: object) -> None:
    from imagegen_gemini.errors import _retry_delay

    expected = {"1.5s": 1.5, "0s": 0.0}.get(str(delay))
    error = {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}

    assert _retry_delay(error) == expected


def test_a_bare_name_vertex_also_lists_goes_to_vertex_and_one_only_gemini_lists_comes_here() -> None:
    from imagegen.plugins import registry

    assert registry.resolve("gemini-2.5-flash-image")[0].prefix == "vertex_ai"
    assert registry.resolve("gemini-3.1-flash-image-preview")[0].prefix == "gemini"
