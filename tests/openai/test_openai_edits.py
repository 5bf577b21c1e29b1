"""OpenAI edits and variations: OpenAI's multipart wire format, and every limit checked before any request."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen.testing import png_image
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import API_KEY, jpeg

IMAGE = png_image(32, 32)
MASK = png_image(32, 32, transparent_box=(0, 0, 16, 16))


def kwargs(fake: FakeOpenAI) -> dict[str, Any]:
    return {"api_key": API_KEY, "api_base": fake.api_base}


def test_one_image_goes_as_image_and_several_as_image_brackets_with_the_mask(fake_openai: FakeOpenAI) -> None:
    imagegen.image_edit(IMAGE, "Add a hat", model="gpt-image-1", mask=MASK, **kwargs(fake_openai))
    imagegen.image_edit([IMAGE, IMAGE], "Combine", model="gpt-image-1", **kwargs(fake_openai))
    (one_fields, one_files), (_, two_files) = fake_openai.uploads
    assert sorted(one_files) == ["image", "mask"]
    assert one_fields == {"model": ["gpt-image-1"], "prompt": ["Add a hat"]}
    assert [len(two_files["image[]"]), "image" in two_files] == [2, False]
    assert one_files["mask"][0].data == MASK


def test_edit_parameters_are_sent_as_form_fields(fake_openai: FakeOpenAI) -> None:
    imagegen.image_edit(
        IMAGE, "Add a hat", model="gpt-image-1", n=2, quality="high", size="1024x1536", input_fidelity="high",
        background="transparent", output_format="webp", output_compression=80, **kwargs(fake_openai),
    )  # fmt: skip
    fields, _ = fake_openai.uploads[-1]
    assert fields["n"] == ["2"]
    assert fields["input_fidelity"] == ["high"]
    assert fields["output_compression"] == ["80"]


def test_dall_e_2_edits_and_variations_keep_response_format(fake_openai: FakeOpenAI) -> None:
    edited = imagegen.image_edit(IMAGE, "Hat", model="dall-e-2", response_format="b64_json", **kwargs(fake_openai))
    varied = imagegen.image_variation(IMAGE, n=3, size="256x256", **kwargs(fake_openai))
    assert edited.data[0].b64_json is not None
    assert [image.url is not None for image in varied.data] == [True] * 3
    fields, _ = fake_openai.uploads[-1]
    assert "prompt" not in fields
    assert fields["model"] == ["dall-e-2"]
    assert varied.cost == pytest.approx(3 * 0.016)


def test_a_generation_only_parameter_is_refused_for_edits(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="gpt-image-1 edits"):
        imagegen.image_edit(IMAGE, "Hat", model="gpt-image-1", moderation="low", **kwargs(fake_openai))
    with pytest.raises(imagegen.UnsupportedParamsError, match="input_fidelity"):
        imagegen.image_edit(IMAGE, "Hat", model="gpt-image-1-mini", input_fidelity="high", **kwargs(fake_openai))
    assert fake_openai.requests == []


@pytest.mark.parametrize(
    ("model", "image", "message"),
    [
        ("dall-e-2", png_image(32, 16), "square images only"),
        ("dall-e-2", png_image(8, 8) + b"\x00" * (4 * 1024 * 1024), "under 4 MB"),
        ("gpt-image-1", [IMAGE] * 17, "at most 16 input image"),
    ],
)
def test_inputs_beyond_the_models_limits_are_refused_before_any_request(
    fake_openai: FakeOpenAI, model: str, image: Any, message: str
) -> None:
    with pytest.raises(imagegen.BadRequestError, match=message):
        imagegen.image_edit(image, "Hat", model=model, **kwargs(fake_openai))
    assert fake_openai.requests == []


def test_a_jpeg_is_refused_by_dall_e_2_naming_what_it_takes(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.BadRequestError, match="is a JPEG image; dall-e-2 takes PNG"):
        imagegen.image_variation(jpeg(16, 16), **kwargs(fake_openai))


def test_a_mask_without_alpha_is_refused(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.BadRequestError, match="alpha channel"):
        imagegen.image_edit(IMAGE, "Hat", mask=jpeg(32, 32), **kwargs(fake_openai))


def test_an_edit_needs_a_prompt_and_an_image(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.BadRequestError, match="`prompt` is required"):
        imagegen.image_edit(IMAGE, "  ", **kwargs(fake_openai))
    with pytest.raises(imagegen.BadRequestError, match="`image` is required"):
        imagegen.image_edit([], "Hat", **kwargs(fake_openai))


def test_no_model_edits_with_gpt_image_1_and_varies_with_dall_e_2(fake_openai: FakeOpenAI) -> None:
    assert imagegen.image_edit(IMAGE, "Hat", **kwargs(fake_openai)).model == "gpt-image-1"
    assert imagegen.image_variation(IMAGE, **kwargs(fake_openai)).model == "dall-e-2"


def test_an_edit_is_priced_from_its_usage(fake_openai: FakeOpenAI) -> None:
    response = imagegen.image_edit(IMAGE, "Hat", model="gpt-image-1", **kwargs(fake_openai))
    assert response.usage is not None
    assert response.cost is not None
    assert response.cost > 0
