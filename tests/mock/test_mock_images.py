"""imagegen-mock in-process (no api_base): real, deterministic images from the prompt and seed, every
operation, latency on the event loop, and failures on demand for testing retries."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from PIL import Image

import imagegen
from imagegen import transport
from imagegen.images import sniff
from imagegen.records import CallRecord
from imagegen.testing import png_image


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)


def picture(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGBA")


def generate(prompt: str = "A cute baby sea otter", **kwargs: object) -> imagegen.ImageResponse:
    return imagegen.image_generation(prompt, model="mock/anything", **{"size": "96x64", **kwargs})  # type: ignore[arg-type]


def test_any_model_name_generates_a_png_of_the_requested_size_for_free() -> None:
    response = generate()
    assert sniff(response.data[0].image_bytes())[:3] == ("png", 96, 64)  # type: ignore[index]
    assert (response.provider, response.model, response.cost) == ("mock", "anything", 0.0)


def test_the_same_prompt_and_seed_draw_the_same_image() -> None:
    assert generate(seed=3).data[0].b64_json == generate(seed=3).data[0].b64_json


def test_another_prompt_or_seed_draws_another_image() -> None:
    first = generate(seed=3).data[0].b64_json
    assert generate(seed=4).data[0].b64_json != first
    assert generate("A tired old walrus", seed=3).data[0].b64_json != first


def test_n_images_differ_and_come_with_revised_prompts_and_usage() -> None:
    response = generate(n=3)
    assert len({image.b64_json for image in response.data}) == 3
    assert response.data[0].revised_prompt == "A mock image of: A cute baby sea otter"
    assert response.usage is not None
    assert response.usage.output_tokens == 3 * 6  # 96x64 pixels: 6 per image, made up but consistent


@pytest.mark.parametrize(("output_format", "kind"), [("jpeg", "jpeg"), ("webp", "webp")])
def test_output_format_changes_the_encoding(output_format: str, kind: str) -> None:
    data = generate(output_format=output_format).data[0].image_bytes()
    assert sniff(data)[0] == kind  # type: ignore[index]


def test_a_url_answer_is_a_data_url() -> None:
    url = generate(response_format="url").data[0].url or ""
    assert url.startswith("data:image/png;base64,")


def test_a_size_beyond_the_limit_is_refused_before_drawing() -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="4096"):
        generate(size="8192x8192")


def test_an_edit_changes_only_the_area_the_mask_leaves_transparent() -> None:
    source = png_image(64, 64, (10, 20, 30, 255))
    mask = png_image(64, 64, transparent_box=(0, 0, 32, 64))  # the left half is to be edited
    response = imagegen.image_edit(source, "Add a red hat", model="mock/editor", mask=mask)
    edited = picture(response.data[0].image_bytes())
    assert edited.getpixel((48, 32)) == (10, 20, 30, 255)  # outside the mask: untouched
    assert edited.getpixel((16, 32)) != (10, 20, 30, 255)


def test_an_edit_without_a_mask_draws_over_the_whole_input() -> None:
    source = png_image(64, 64, (10, 20, 30, 255))
    edited = picture(imagegen.image_edit(source, "Add a red hat", model="mock/editor").data[0].image_bytes())
    assert edited.getpixel((60, 4)) != (10, 20, 30, 255)


def test_variations_differ_from_the_input_and_from_each_other() -> None:
    source = png_image(32, 32, (200, 40, 40, 255))
    response = imagegen.image_variation(source, model="mock/varier", n=2)
    first, second = (image.image_bytes() for image in response.data)
    assert first != second
    assert picture(first).getpixel((16, 8)) != (200, 40, 40, 255)


def test_a_stream_sends_partial_images_then_the_completed_one() -> None:
    stream = generate(stream=True, partial_images=2)
    kinds = [event.type for event in stream]
    assert kinds == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert stream.response.cost == 0.0


@pytest.mark.anyio
async def test_the_async_path_waits_on_the_event_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    running = asyncio.create_task(ticker())
    try:
        ticks_before = ticks
        await imagegen.aimage_generation("otter", model="mock/slow", size="32x32", mock_latency_ms=50)
        assert ticks > ticks_before  # the loop ran other work while the call waited
    finally:
        running.cancel()


def test_a_fail_rate_of_one_fails_every_attempt_with_the_status_asked_for() -> None:
    seen: list[CallRecord] = []

    class Count:
        def on_failure(self, record: CallRecord) -> None:
            seen.append(record)

    with pytest.raises(imagegen.RateLimitError, match="mock_fail_rate"):
        generate(mock_fail_rate=1, mock_fail_status=429, num_retries=2, callbacks=[Count()])
    assert seen[0].retries == 2


def test_a_bad_setting_names_what_it_takes() -> None:
    with pytest.raises(imagegen.BadRequestError, match=r"mock_fail_rate.*0 to 1"):
        generate(mock_fail_rate=3)


def test_transparent_background_keeps_an_alpha_channel() -> None:
    image = picture(generate(background="transparent").data[0].image_bytes())
    assert image.getchannel("A").getextrema()[0] == 0


def test_a_drawn_image_is_decodable_from_its_base64() -> None:
    data = base64.b64decode(generate().data[0].b64_json or "", validate=True)
    assert picture(data).size == (96, 64)


def test_the_mock_keeps_warnings_in_its_response_like_real_providers() -> None:
    response = generate(style="sketchy", drop_params=True, partial_images=1)
    assert any("dropped `style`" in warning for warning in response.warnings)
    assert any("partial_images" in warning for warning in response.warnings)


def test_a_mock_stream_keeps_warnings_in_its_final_response() -> None:
    stream = imagegen.image_generation(
        "otter", model="mock/anything", size="96x64", stream=True, style="sketchy", drop_params=True
    )
    list(stream)
    assert any("dropped `style`" in warning for warning in stream.response.warnings)


@pytest.mark.anyio
async def test_an_async_fanned_out_mock_call_keeps_its_warnings_once() -> None:
    response = await imagegen.aimage_generation(
        "otter", model="mock/anything", size="96x64", n=3, style="sketchy", drop_params=True
    )
    assert [w for w in response.warnings if "dropped `style`" in w] == [
        "dropped `style`: not supported by mock/anything"
    ]


def test_a_mock_response_keeps_the_calls_warnings() -> None:
    response = imagegen.image_generation(
        "otter", model="dall-e-3", mock_response=True, partial_images=2, api_type="azure_ad"
    )
    assert any("partial_images" in warning for warning in response.warnings)
    assert any("api_type" in warning for warning in response.warnings)
