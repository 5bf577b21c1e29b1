"""Edits on Vertex end to end: imagen-3.0-capability-001's reference images and edit modes, Imagen 2's
edit config, and Gemini's inline images; the converted mask's pixels as the fake received them."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from PIL import Image

from imagegen import aimage_edit, image_edit, image_generation
from imagegen.exceptions import BadRequestError, ContentPolicyViolationError, UnsupportedParamsError
from imagegen.testing import png_image
from tests.fakes.vertex_fake import FakeGoogleOAuth, FakeVertex

from .conftest import LOCATION, PROJECT

CAPABILITY = "vertex_ai/imagen-3.0-capability-001"
IMAGEN_2 = "vertex_ai/imagegeneration@006"
GEMINI = "vertex_ai/gemini-2.5-flash-image"
GEMINI_3_PRO = "vertex_ai/gemini-3-pro-image-preview"

IMAGE = png_image(64, 64)
MASK = png_image(64, 64, transparent_box=(0, 0, 32, 32))  # edit the top-left quarter
INSIDE, OUTSIDE = (8, 8), (48, 48)


def sent(vertex: FakeVertex) -> dict[str, Any]:
    body: dict[str, Any] = vertex.requests[-1].json()
    return body


def mask_pixels(b64: str) -> tuple[Any, Any]:
    """A sent mask's values inside and outside the area to edit (grayscale)."""
    mask = Image.open(io.BytesIO(base64.b64decode(b64))).convert("L")
    return mask.getpixel(INSIDE), mask.getpixel(OUTSIDE)


# imagen-3.0-capability-001


def test_a_masked_edit_is_an_insertion_with_the_users_mask_white_where_to_edit(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    response = image_edit(IMAGE, "a red hat", model=CAPABILITY, mask=MASK, mask_dilation=0.05, n=2, **vertex_kwargs)
    body = sent(vertex)
    assert vertex.requests[-1].path.endswith("/models/imagen-3.0-capability-001:predict")
    [instance] = body["instances"]
    raw, mask = instance["referenceImages"]
    assert instance["prompt"] == "a red hat"
    assert raw == {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1,
                   "referenceImage": {"bytesBase64Encoded": base64.b64encode(IMAGE).decode()}}  # fmt: skip
    assert mask["referenceType"] == "REFERENCE_TYPE_MASK"
    assert mask["maskImageConfig"] == {"maskMode": "MASK_MODE_USER_PROVIDED", "dilation": 0.05}
    assert mask_pixels(mask["referenceImage"]["bytesBase64Encoded"]) == (255, 0)
    assert body["parameters"] == {"editMode": "EDIT_MODE_INPAINT_INSERTION", "sampleCount": 2, "includeRaiReason": True}
    assert len(response.data) == 2
    assert response.cost == pytest.approx(0.10)


def test_a_masked_edit_without_a_prompt_removes_what_the_mask_covers(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    image_edit(IMAGE, None, model=CAPABILITY, mask=MASK, **vertex_kwargs)
    body = sent(vertex)
    assert "prompt" not in body["instances"][0]
    assert body["parameters"]["editMode"] == "EDIT_MODE_INPAINT_REMOVAL"


def test_an_edit_without_a_mask_is_a_mask_free_edit_of_the_whole_image(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    image_edit(IMAGE, "a dog at the beach", model=CAPABILITY, **vertex_kwargs)
    body = sent(vertex)
    assert [ref["referenceType"] for ref in body["instances"][0]["referenceImages"]] == ["REFERENCE_TYPE_RAW"]
    assert body["parameters"]["editMode"] == "EDIT_MODE_DEFAULT"


def test_a_mask_free_edit_needs_a_prompt(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="needs a prompt"):
        image_edit(IMAGE, None, model=CAPABILITY, **vertex_kwargs)
    assert vertex.requests == []


def test_an_automatic_background_mask_swaps_the_background(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    image_edit(
        IMAGE, "a beach at dusk", model=CAPABILITY, edit_mode="EDIT_MODE_BGSWAP", mask_mode="MASK_MODE_BACKGROUND",
        **vertex_kwargs,
    )  # fmt: skip
    body = sent(vertex)
    mask = body["instances"][0]["referenceImages"][1]
    assert mask == {"referenceType": "REFERENCE_TYPE_MASK", "referenceId": 2,
                    "maskImageConfig": {"maskMode": "MASK_MODE_BACKGROUND"}}  # fmt: skip
    assert body["parameters"]["editMode"] == "EDIT_MODE_BGSWAP"


def test_a_semantic_mask_names_its_classes(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="mask_classes"):
        image_edit(IMAGE, "", model=CAPABILITY, maskMode="MASK_MODE_SEMANTIC", **vertex_kwargs)
    image_edit(IMAGE, None, model=CAPABILITY, maskMode="MASK_MODE_SEMANTIC", maskClasses=[175, 176], **vertex_kwargs)
    config = sent(vertex)["instances"][0]["referenceImages"][1]["maskImageConfig"]
    assert config == {"maskMode": "MASK_MODE_SEMANTIC", "maskClasses": [175, 176]}
    assert sent(vertex)["parameters"]["editMode"] == "EDIT_MODE_INPAINT_REMOVAL"


def test_mask_classes_without_a_semantic_mask_are_refused(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="semantic"):
        image_edit(IMAGE, "a hat", model=CAPABILITY, mask=MASK, mask_classes=[1], **vertex_kwargs)
    assert vertex.requests == []


def test_a_mask_and_an_automatic_mask_together_are_refused(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="either a mask or mask_mode"):
        image_edit(IMAGE, "a hat", model=CAPABILITY, mask=MASK, mask_mode="MASK_MODE_FOREGROUND", **vertex_kwargs)
    assert vertex.requests == []


def test_a_masked_edit_mode_without_a_mask_is_refused(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="EDIT_MODE_OUTPAINT needs a mask"):
        image_edit(IMAGE, "a meadow", model=CAPABILITY, edit_mode="EDIT_MODE_OUTPAINT", **vertex_kwargs)
    assert vertex.requests == []


def test_a_mask_with_the_mask_free_mode_is_refused_or_dropped(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="takes no mask"):
        image_edit(IMAGE, "a dog", model=CAPABILITY, mask=MASK, edit_mode="EDIT_MODE_DEFAULT", **vertex_kwargs)
    response = image_edit(
        IMAGE, "a dog", model=CAPABILITY, mask=MASK, edit_mode="EDIT_MODE_DEFAULT", drop_params=True, **vertex_kwargs
    )
    assert any("mask" in warning for warning in response.warnings)
    assert len(sent(vertex)["instances"][0]["referenceImages"]) == 1


def test_native_edit_parameters_are_sent_where_imagen_reads_them(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    image_edit(
        IMAGE, "a hat", model=CAPABILITY, mask=MASK, base_steps=32, negative_prompt="blur", guidance_scale=15,
        seed=7, add_watermark=False, output_format="jpeg", output_compression=80, **vertex_kwargs,
    )  # fmt: skip
    assert sent(vertex)["parameters"] == {
        "sampleCount": 1, "outputOptions": {"mimeType": "image/jpeg", "compressionQuality": 80},
        "editMode": "EDIT_MODE_INPAINT_INSERTION", "negativePrompt": "blur", "guidanceScale": 15, "seed": 7,
        "addWatermark": False, "includeRaiReason": True, "editConfig": {"baseSteps": 32},
    }  # fmt: skip


def test_an_edit_takes_no_size_as_the_output_keeps_the_inputs(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="size"):
        image_edit(IMAGE, "a hat", model=CAPABILITY, mask=MASK, size="1024x1024", **vertex_kwargs)
    assert vertex.requests == []


def test_a_seed_with_the_watermark_on_is_refused_with_the_fix(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedParamsError, match="add_watermark=False"):
        image_edit(IMAGE, "a hat", model=CAPABILITY, mask=MASK, seed=7, **vertex_kwargs)


def test_an_input_over_10_mb_is_refused_before_any_request(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    big = IMAGE + b"\0" * (10 * 1024 * 1024)  # bytes after its end: still a PNG, of over 10 MB
    with pytest.raises(BadRequestError, match="under 10 MB"):
        image_edit(big, "a hat", model=CAPABILITY, **vertex_kwargs)
    assert vertex.requests == []


def test_the_capability_model_only_edits(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="cannot generate"):
        image_generation("a hat", model=CAPABILITY, **vertex_kwargs)


def test_a_refused_edit_prompt_raises_content_policy(vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(ContentPolicyViolationError):
        image_edit(IMAGE, "FILTERED", model=CAPABILITY, mask=MASK, **vertex_kwargs)


@pytest.mark.anyio
async def test_an_imagen_edit_works_on_the_async_path(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    response = await aimage_edit(IMAGE, "a hat", model=CAPABILITY, mask=MASK, **vertex_kwargs)
    assert len(response.data) == 1


# imagegeneration@006 (Imagen 2)


def test_imagen_2_edits_with_its_image_mask_and_edit_config(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    response = image_edit(IMAGE, "a hat", model=IMAGEN_2, mask=MASK, mask_dilation=0.1, **vertex_kwargs)
    [instance] = sent(vertex)["instances"]
    assert set(instance) == {"prompt", "image", "mask"}
    assert mask_pixels(instance["mask"]["image"]["bytesBase64Encoded"]) == (255, 0)
    assert sent(vertex)["parameters"] == {
        "sampleCount": 1, "includeRaiReason": True, "editConfig": {"editMode": "inpainting-insert", "maskDilation": 0.1},
    }  # fmt: skip
    assert response.cost == pytest.approx(0.02)


def test_imagen_2_computes_a_mask_from_a_mask_mode(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    image_edit(IMAGE, None, model=IMAGEN_2, mask_mode="semantic", mask_classes=[3], **vertex_kwargs)
    assert sent(vertex)["parameters"]["editConfig"] == {
        "editMode": "inpainting-remove", "maskMode": {"maskType": "semantic", "classes": [3]},
    }  # fmt: skip


def test_imagen_2_has_no_mask_free_edit(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="needs a mask"):
        image_edit(IMAGE, "a hat", model=IMAGEN_2, **vertex_kwargs)
    assert vertex.requests == []


def test_imagen_2_product_image_needs_no_mask(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    image_edit(IMAGE, "on a marble counter", model=IMAGEN_2, edit_mode="product-image", **vertex_kwargs)
    assert sent(vertex)["parameters"]["editConfig"] == {"editMode": "product-image"}


# Gemini


def test_a_gemini_edit_sends_the_prompt_then_the_images_inline(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    jpeg = io.BytesIO()
    Image.new("RGB", (32, 32), (9, 9, 9)).save(jpeg, format="JPEG")
    image_edit([IMAGE, jpeg.getvalue()], "put the cat on the sofa", model=GEMINI, size="1792x1024", **vertex_kwargs)
    body = sent(vertex)
    assert body["contents"] == [{"role": "user", "parts": [
        {"text": "put the cat on the sofa"},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(IMAGE).decode()}},
        {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(jpeg.getvalue()).decode()}},
    ]}]  # fmt: skip
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}


def test_a_gemini_edit_is_priced_with_its_input_image_tokens(vertex_kwargs: dict[str, Any]) -> None:
    response = image_edit(IMAGE, "a hat", model=GEMINI, **vertex_kwargs)
    assert response.usage is not None
    assert response.usage.input_tokens_details == {"text_tokens": 7, "image_tokens": 258}
    # 265 input tokens at $0.30/1M, 10 text and 1290 image tokens out at $2.50/1M and $30/1M
    assert response.cost == pytest.approx(265 * 0.30e-6 + 10 * 2.50e-6 + 1290 * 30e-6)


def test_gemini_takes_no_mask(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="takes no mask"):
        image_edit(IMAGE, "a hat", model=GEMINI, mask=MASK, **vertex_kwargs)
    assert vertex.requests == []


def test_gemini_takes_up_to_its_number_of_input_images(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="at most 3 input image"):
        image_edit([IMAGE] * 4, "a collage", model=GEMINI, **vertex_kwargs)
    assert vertex.requests == []
    image_edit([IMAGE] * 4, "a collage", model=GEMINI_3_PRO, **vertex_kwargs)
    assert len(sent(vertex)["contents"][0]["parts"]) == 5


def test_gemini_edits_fan_n_out_into_one_call_per_image(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    response = image_edit(IMAGE, "a hat", model=GEMINI, n=2, **vertex_kwargs)
    assert len(response.data) == 2
    assert len(vertex.requests) == 2


# The fake refuses what Vertex refuses


def predict(vertex: FakeVertex, oauth: FakeGoogleOAuth, model: str, body: dict[str, Any]) -> httpx.Response:
    oauth.issued.add("ya29.test-token")
    url = f"{vertex.url}/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{model}:predict"
    return httpx.post(url, json=body, headers={"authorization": "Bearer ya29.test-token"})


def raw_reference(image: bytes = IMAGE) -> dict[str, Any]:
    return {"referenceType": "REFERENCE_TYPE_RAW", "referenceId": 1,
            "referenceImage": {"bytesBase64Encoded": base64.b64encode(image).decode()}}  # fmt: skip


def test_the_fake_refuses_a_masked_edit_mode_without_a_mask_reference(
    vertex: FakeVertex, oauth: FakeGoogleOAuth
) -> None:
    body = {"instances": [{"prompt": "hat", "referenceImages": [raw_reference()]}],
            "parameters": {"editMode": "EDIT_MODE_INPAINT_INSERTION"}}  # fmt: skip
    answer = predict(vertex, oauth, "imagen-3.0-capability-001", body)
    assert answer.status_code == 400
    assert "exactly two reference images" in answer.json()["error"]["message"]


def test_the_fake_refuses_a_user_mask_of_other_dimensions(vertex: FakeVertex, oauth: FakeGoogleOAuth) -> None:
    mask = {"referenceType": "REFERENCE_TYPE_MASK", "referenceId": 2,
            "referenceImage": {"bytesBase64Encoded": base64.b64encode(png_image(32, 32)).decode()},
            "maskImageConfig": {"maskMode": "MASK_MODE_USER_PROVIDED"}}  # fmt: skip
    body = {"instances": [{"referenceImages": [raw_reference(), mask]}],
            "parameters": {"editMode": "EDIT_MODE_INPAINT_REMOVAL", "aspectRatio": "1:1"}}  # fmt: skip
    assert "aspectRatio" in predict(vertex, oauth, "imagen-3.0-capability-001", body).json()["error"]["message"]
    del body["parameters"]["aspectRatio"]
    assert "same dimensions" in predict(vertex, oauth, "imagen-3.0-capability-001", body).json()["error"]["message"]
