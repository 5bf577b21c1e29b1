"""Streams: OpenAI's partial images passed on as they arrive; every other model's answer as completed events."""

from __future__ import annotations

import base64
from typing import Any

import pytest

import imagegen
from imagegen.testing import png_image
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import API_KEY


def kwargs(fake: FakeOpenAI) -> dict[str, Any]:
    return {"api_key": API_KEY, "api_base": fake.api_base}


def test_partial_images_arrive_while_the_upstream_is_still_working(fake_openai: FakeOpenAI) -> None:
    fake_openai.event_delay = 0.2
    stream = imagegen.image_generation(
        "otter", model="gpt-image-1", stream=True, partial_images=2, **kwargs(fake_openai)
    )
    first = next(stream)
    received_before_end = len(fake_openai.requests)
    rest = list(stream)
    assert first.type == "image_generation.partial_image"
    assert received_before_end == 1
    assert [event.type for event in rest] == ["image_generation.partial_image", "image_generation.completed"]
    assert stream.time_to_first_event is not None


def test_the_stream_request_asks_openai_for_partial_images(fake_openai: FakeOpenAI) -> None:
    list(imagegen.image_generation("otter", model="gpt-image-1", stream=True, partial_images=3, **kwargs(fake_openai)))
    assert fake_openai.requests[0].json() == {
        "model": "gpt-image-1", "prompt": "otter", "stream": True, "partial_images": 3,
    }  # fmt: skip


def test_the_final_response_is_priced_from_the_completed_events_usage(fake_openai: FakeOpenAI) -> None:
    stream = imagegen.image_generation("otter", model="gpt-image-1", stream=True, **kwargs(fake_openai))
    with pytest.raises(RuntimeError, match="not ended"):
        _ = stream.response
    events = list(stream)
    assert stream.response.usage == events[-1].usage  # type: ignore[union-attr]
    whole = imagegen.image_generation("otter", model="gpt-image-1", **kwargs(fake_openai))
    assert stream.response.cost == whole.cost


def test_an_emulated_stream_gives_a_completed_event_per_image_with_usage_on_the_last(fake_openai: FakeOpenAI) -> None:
    stream = imagegen.image_generation("otter", model="dall-e-2", n=3, stream=True, **kwargs(fake_openai))
    events = list(stream)
    assert [event.type for event in events] == ["image_generation.completed"] * 3
    assert all(event.b64_json for event in events)  # URL results downloaded for the events
    assert stream.response.cost == pytest.approx(3 * 0.02)
    # A 1x1 image: a size OpenAI's event schema has no value for, so "auto"; the format is read from the bytes.
    assert (events[0].size, events[0].output_format) == ("auto", "png")


def test_an_emulated_streams_fields_are_openai_event_values_or_auto(fake_openai: FakeOpenAI) -> None:
    fake_openai.image_b64 = base64.b64encode(png_image(1024, 1024)).decode()
    stream = imagegen.image_generation(
        "otter", model="dall-e-3", quality="hd", stream=True, response_format="b64_json", **kwargs(fake_openai)
    )
    (event,) = list(stream)
    payload = event.model_dump()
    assert (payload["size"], payload["output_format"]) == ("1024x1024", "png")  # read from the image itself
    assert (payload["quality"], payload["background"]) == ("auto", "auto")  # "hd" is no event quality; unknown
    assert None not in payload.values()


def test_partial_images_on_a_model_that_does_not_stream_is_a_warning(fake_openai: FakeOpenAI) -> None:
    stream = imagegen.image_generation("otter", model="dall-e-3", stream=True, partial_images=2, **kwargs(fake_openai))
    list(stream)
    assert any("does not stream partial images" in warning for warning in stream.response.warnings)


def test_partial_images_without_stream_is_ignored_with_a_warning(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_generation("otter", model="gpt-image-1", partial_images=2, **kwargs(fake_openai))
    assert any("partial_images" in warning for warning in response.warnings)
    assert "partial_images" not in fake_openai.requests[0].json()


def test_partial_images_outside_0_to_3_is_refused() -> None:
    with pytest.raises(imagegen.BadRequestError, match="from 0 to 3"):
        imagegen.image_generation("otter", model="gpt-image-1", stream=True, partial_images=4, api_key="k")


@pytest.mark.anyio
async def test_an_async_edit_streams_partial_images(fake_openai: FakeOpenAI) -> None:
    stream = await imagegen.aimage_edit(
        png_image(8, 8), "hat", model="gpt-image-1", stream=True, partial_images=1, **kwargs(fake_openai)
    )
    async with stream:
        kinds = [event.type async for event in stream]
    assert kinds == ["image_edit.partial_image", "image_edit.completed"]
    fields, _ = fake_openai.uploads[-1]
    assert (fields["stream"], fields["partial_images"]) == (["true"], ["1"])


def test_events_serialise_exactly_as_openais(fake_openai: FakeOpenAI) -> None:
    events = imagegen.image_generation(
        "otter", model="gpt-image-1", stream=True, partial_images=1, **kwargs(fake_openai)
    )
    partial, completed = list(events)
    assert set(partial.model_dump()) == {
        "type", "b64_json", "created_at", "size", "quality", "background", "output_format", "partial_image_index",
    }  # fmt: skip
    assert set(completed.model_dump()) == {
        "type", "b64_json", "created_at", "size", "quality", "background", "output_format", "usage",
    }  # fmt: skip
    openai_types = pytest.importorskip("openai.types")
    openai_types.ImageGenCompletedEvent.model_validate(completed.model_dump())
    openai_types.ImageGenPartialImageEvent.model_validate(partial.model_dump())


def test_a_stream_left_before_its_first_event_closes_the_upstream(fake_openai: FakeOpenAI) -> None:
    with imagegen.image_generation("otter", model="gpt-image-1", stream=True, **kwargs(fake_openai)) as stream:
        upstream = stream._upstream
    assert upstream is not None
    assert upstream.is_closed


def test_a_stream_closed_early_keeps_the_images_it_delivered_with_their_cost(fake_openai: FakeOpenAI) -> None:
    with imagegen.image_generation(
        "otter", model="gpt-image-1", n=2, stream=True, partial_images=1, **kwargs(fake_openai)
    ) as stream:
        received = [next(stream), next(stream)]  # the first image's partial, then its completed event
    assert [event.type for event in received] == ["image_generation.partial_image", "image_generation.completed"]
    response = stream.response  # no RuntimeError: what was delivered, and spent
    assert [image.b64_json for image in response.data] == [received[1].b64_json]
    assert response.usage == received[1].usage
    assert response.cost is not None
    assert response.cost > 0
    assert any("stream ended early: 1 of 2" in warning for warning in response.warnings)


def test_an_emulated_stream_closed_early_costs_its_whole_answer(fake_openai: FakeOpenAI) -> None:
    stream = imagegen.image_generation("otter", model="dall-e-2", n=3, stream=True, **kwargs(fake_openai))
    with stream:
        next(stream)
    assert len(stream.response.data) == 1
    assert stream.response.cost == pytest.approx(3 * 0.02)  # the three images were made and paid for


@pytest.mark.anyio
async def test_an_async_stream_closed_early_keeps_what_it_delivered(fake_openai: FakeOpenAI) -> None:
    stream = await imagegen.aimage_generation("otter", model="gpt-image-1", n=2, stream=True, **kwargs(fake_openai))
    async with stream:
        first = await stream.__anext__()
    assert len(stream.response.data) == 1
    assert stream.response.usage == first.usage  # type: ignore[union-attr]
    assert stream.response.cost


@pytest.mark.anyio
async def test_an_async_emulated_stream_closed_before_its_first_event_keeps_its_cost(fake_openai: FakeOpenAI) -> None:
    stream = await imagegen.aimage_generation("otter", model="dall-e-2", n=2, stream=True, **kwargs(fake_openai))
    await stream.aclose()
    assert stream.response.data == []
    assert stream.response.cost == pytest.approx(2 * 0.02)


def test_an_emulated_stream_skips_an_image_whose_download_failed_and_keeps_its_url(fake_openai: FakeOpenAI) -> None:
    original = fake_openai.handle

    def without_files(request):  # type: ignore[no-untyped-def]
        if request.path.startswith("/files/"):
            return fake_openai.error("not_found")
        return original(request)

    fake_openai.handle = without_files  # type: ignore[method-assign]
    stream = imagegen.image_generation("otter", model="dall-e-2", n=2, stream=True, **kwargs(fake_openai))
    assert list(stream) == []  # no image to send as an event
    assert [image.url is not None for image in stream.response.data] == [True, True]
    assert stream.response.cost == pytest.approx(2 * 0.02)
    assert any("could not be downloaded" in warning for warning in stream.response.warnings)


def test_a_stream_closed_before_any_completed_image_has_no_images_and_an_unknown_cost(fake_openai: FakeOpenAI) -> None:
    with imagegen.image_generation(
        "otter", model="gpt-image-1", stream=True, partial_images=2, **kwargs(fake_openai)
    ) as stream:
        assert next(stream).type == "image_generation.partial_image"
    assert stream.response.data == []
    assert stream.response.cost is None  # the provider billed its partial work; no usage came to say how much
