"""Edits and variations on every Bedrock family, end to end: the exact body sent, the converted mask's
pixels as the fake received them, the refusals before any request, and the cost."""

from __future__ import annotations

import base64
import io
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from PIL import Image

from imagegen import aimage_edit, aimage_variation, image_edit, image_generation, image_variation
from imagegen.exceptions import BadRequestError, ContentPolicyViolationError, UnsupportedParamsError
from imagegen.testing import png_image
from tests.fakes.bedrock_fake import FakeBedrock

from .conftest import API_KEY

TITAN_V1 = "bedrock/amazon.titan-image-generator-v1"
TITAN_V2 = "bedrock/amazon.titan-image-generator-v2:0"
NOVA = "bedrock/amazon.nova-canvas-v1:0"
SD35 = "bedrock/stability.sd3-5-large-v1:0"
INPAINT = "bedrock/stability.stable-image-inpaint-v1:0"
ERASE = "bedrock/stability.stable-image-erase-object-v1:0"
SEARCH_REPLACE = "bedrock/stability.stable-image-search-replace-v1:0"
SEARCH_RECOLOR = "bedrock/stability.stable-image-search-recolor-v1:0"
REMOVE_BACKGROUND = "bedrock/stability.stable-image-remove-background-v1:0"
OUTPAINT = "bedrock/stability.stable-outpaint-v1:0"
STYLE_GUIDE = "bedrock/stability.stable-image-style-guide-v1:0"
STYLE_TRANSFER = "bedrock/stability.stable-style-transfer-v1:0"
CREATIVE_UPSCALE = "bedrock/stability.stable-creative-upscale-v1:0"
FAST_UPSCALE = "bedrock/stability.stable-fast-upscale-v1:0"

IMAGE = png_image(64, 64)
MASK = png_image(64, 64, transparent_box=(0, 0, 32, 32))  # edit the top-left quarter
INSIDE, OUTSIDE = (8, 8), (48, 48)
BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def sent(fake: FakeBedrock) -> dict[str, Any]:
    """The body of the one invocation the fake received."""
    [(_, body)] = fake.invocations
    return body


def decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def pixels(b64: str) -> tuple[Any, Any]:
    """The mask's pixels inside and outside the area to edit, as RGB."""
    mask = decoded(b64).convert("RGB")
    return mask.getpixel(INSIDE), mask.getpixel(OUTSIDE)


# Titan and Nova: INPAINTING


def test_an_edit_with_a_mask_is_inpainting_with_the_area_to_edit_black_on_white(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    image_edit(IMAGE, "a red hat", model=TITAN_V2, mask=MASK, negative_prompt="blur", seed=3, **sigv4)
    body = sent(fake_bedrock)
    params = body["inPaintingParams"]
    assert body["taskType"] == "INPAINTING"
    assert set(params) == {"image", "text", "negativeText", "maskImage"}
    assert (params["text"], params["negativeText"]) == ("a red hat", "blur")
    assert base64.b64decode(params["image"]) == IMAGE
    assert decoded(params["maskImage"]).mode == "RGB"
    assert pixels(params["maskImage"]) == (BLACK, WHITE)
    assert body["imageGenerationConfig"] == {"numberOfImages": 1, "seed": 3}  # no width/height: the input's size


def test_an_inpainting_without_a_prompt_removes_what_the_mask_covers(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    image_edit(IMAGE, None, model=NOVA, mask=MASK, **sigv4)
    assert "text" not in sent(fake_bedrock)["inPaintingParams"]


def test_a_mask_prompt_selects_the_area_to_inpaint(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_edit(IMAGE, "a wooden table", model=NOVA, mask_prompt="the sofa", **sigv4)
    body = sent(fake_bedrock)
    assert body["taskType"] == "INPAINTING"
    assert body["inPaintingParams"]["maskPrompt"] == "the sofa"
    assert "maskImage" not in body["inPaintingParams"]


def test_a_mask_and_a_mask_prompt_together_are_refused_before_any_request(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    with pytest.raises(BadRequestError, match="either a mask or a mask_prompt"):
        image_edit(IMAGE, "a hat", model=NOVA, mask=MASK, maskPrompt="the head", **sigv4)
    assert fake_bedrock.requests == []


def test_inpainting_without_a_mask_or_mask_prompt_is_refused(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="needs a mask"):
        image_edit(IMAGE, "a hat", model=TITAN_V1, task_type="INPAINTING", **sigv4)
    assert fake_bedrock.requests == []


def test_inpainting_takes_one_image(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="one image; 2 were given"):
        image_edit([IMAGE, IMAGE], "a hat", model=TITAN_V2, mask=MASK, **sigv4)
    assert fake_bedrock.requests == []


# Titan and Nova: OUTPAINTING


def test_outpainting_sends_the_area_to_edit_white_and_the_kept_area_black(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    image_edit(IMAGE, "a beach", model=NOVA, mask=MASK, task_type="OUTPAINTING", outpainting_mode="PRECISE", **sigv4)
    body = sent(fake_bedrock)
    params = body["outPaintingParams"]
    assert body["taskType"] == "OUTPAINTING"
    assert params["outPaintingMode"] == "PRECISE"
    assert decoded(params["maskImage"]).mode == "RGB"
    assert pixels(params["maskImage"]) == (WHITE, BLACK)


def test_outpainting_with_a_mask_prompt_keeps_what_it_names(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_edit(IMAGE, "on a breakfast table", model=TITAN_V2, taskType="OUTPAINTING", maskPrompt="teapot", **sigv4)
    assert sent(fake_bedrock)["outPaintingParams"]["maskPrompt"] == "teapot"


def test_outpainting_without_a_prompt_is_refused_before_any_request(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    with pytest.raises(BadRequestError, match="OUTPAINTING needs a prompt"):
        image_edit(IMAGE, None, model=TITAN_V2, mask=MASK, task_type="OUTPAINTING", **sigv4)
    assert fake_bedrock.requests == []


# Titan and Nova: IMAGE_VARIATION


def test_an_edit_without_a_mask_is_an_image_variation_guided_by_the_prompt(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_edit(
        [IMAGE, IMAGE], "in watercolour", model=TITAN_V2, n=2, size="512x512", similarity_strength=0.4, **sigv4
    )
    body = sent(fake_bedrock)
    assert body["taskType"] == "IMAGE_VARIATION"
    params = body["imageVariationParams"]
    assert params["text"] == "in watercolour"
    assert params["similarityStrength"] == 0.4
    assert [base64.b64decode(image) for image in params["images"]] == [IMAGE, IMAGE]
    assert body["imageGenerationConfig"] == {"numberOfImages": 2, "width": 512, "height": 512}
    assert len(response.data) == 2


def test_a_variation_is_an_image_variation_without_text(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_variation(IMAGE, model=NOVA, n=3, size="1280x720", cfg_scale=6.5, **sigv4)
    body = sent(fake_bedrock)
    assert body["taskType"] == "IMAGE_VARIATION"
    assert set(body["imageVariationParams"]) == {"images"}
    assert body["imageGenerationConfig"] == {"numberOfImages": 3, "width": 1280, "height": 720, "cfgScale": 6.5}


@pytest.mark.anyio
async def test_titan_v1_variations_and_edits_work_on_the_async_path(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    varied = await aimage_variation(IMAGE, model=TITAN_V1, **sigv4)
    edited = await aimage_edit(IMAGE, "a hat", model=TITAN_V1, mask=MASK, **sigv4)
    assert len(varied.data) == len(edited.data) == 1
    assert [body["taskType"] for _, body in fake_bedrock.invocations] == ["IMAGE_VARIATION", "INPAINTING"]


def test_similarity_strength_outside_its_range_is_refused(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match=r"from 0\.2 to 1\.0"):
        image_variation(IMAGE, model=NOVA, similarity_strength=0.1, **sigv4)
    assert fake_bedrock.requests == []


def test_a_parameter_of_another_task_is_refused_or_dropped(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="does not apply to INPAINTING"):
        image_edit(IMAGE, "a hat", model=NOVA, mask=MASK, similarity_strength=0.5, **sigv4)
    assert fake_bedrock.requests == []
    response = image_edit(IMAGE, "a hat", model=NOVA, mask=MASK, size="1024x1024", drop_params=True, **sigv4)
    assert any("size" in warning for warning in response.warnings)
    assert "width" not in sent(fake_bedrock)["imageGenerationConfig"]


def test_a_mask_given_to_an_image_variation_task_is_refused(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="IMAGE_VARIATION takes no mask"):
        image_edit(IMAGE, "a hat", model=NOVA, mask=MASK, task_type="IMAGE_VARIATION", **sigv4)
    assert fake_bedrock.requests == []


# Titan v2 and Nova: BACKGROUND_REMOVAL


def test_background_removal_sends_the_image_alone_and_ignores_the_prompt(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_edit(IMAGE, "remove it", model=NOVA, task_type="BACKGROUND_REMOVAL", **sigv4)
    body = sent(fake_bedrock)
    assert body == {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": body[
        "backgroundRemovalParams"]["image"]}}  # fmt: skip
    assert "ignored the prompt" in response.warnings[0]


def test_background_removal_refuses_generation_settings(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="`seed` does not apply to BACKGROUND_REMOVAL"):
        image_edit(IMAGE, "x", model=TITAN_V2, task_type="BACKGROUND_REMOVAL", seed=1, **sigv4)
    with pytest.raises(UnsupportedParamsError, match="BACKGROUND_REMOVAL makes one image"):
        image_edit(IMAGE, "x", model=TITAN_V2, task_type="BACKGROUND_REMOVAL", n=2, **sigv4)
    assert fake_bedrock.requests == []


def test_titan_v1_has_no_background_removal(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="task_type"):
        image_edit(IMAGE, "x", model=TITAN_V1, task_type="BACKGROUND_REMOVAL", **sigv4)
    assert fake_bedrock.requests == []


# Titan and Nova: input limits


def test_nova_refuses_an_input_with_transparent_pixels_before_any_request(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    with pytest.raises(BadRequestError, match="transparent pixels"):
        image_edit(MASK, "a hat", model=NOVA, **sigv4)
    assert fake_bedrock.requests == []


def test_the_fake_refuses_transparent_nova_inputs_as_bedrock_does(fake_bedrock: FakeBedrock) -> None:
    body = {"taskType": "IMAGE_VARIATION", "imageVariationParams": {"images": [base64.b64encode(MASK).decode()]}}
    answer = httpx.post(
        f"{fake_bedrock.url}/model/amazon.nova-canvas-v1%3A0/invoke",
        json=body,
        headers={"authorization": f"Bearer {API_KEY}"},
    )
    assert answer.status_code == 400
    assert "transparent" in answer.json()["message"]


def test_titan_refuses_an_input_over_1408_pixels_and_a_webp(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="up to 1408 pixels"):
        image_variation(png_image(1440, 64), model=TITAN_V2, **sigv4)
    webp = io.BytesIO()
    Image.new("RGB", (64, 64)).save(webp, format="WEBP")
    with pytest.raises(BadRequestError, match="takes JPEG, PNG"):
        image_variation(webp.getvalue(), model=TITAN_V2, **sigv4)
    assert fake_bedrock.requests == []


def test_a_filtered_edit_prompt_is_a_content_policy_error(sigv4: dict[str, Any]) -> None:
    with pytest.raises(ContentPolicyViolationError):
        image_edit(IMAGE, "FILTERED hat", model=TITAN_V2, mask=MASK, **sigv4)


def test_an_inpainting_is_priced_for_the_size_of_its_input(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    large = png_image(1280, 1024)
    response = image_edit(large, "a hat", model=NOVA, mask_prompt="the head", **sigv4)
    assert response.cost == pytest.approx(0.06)  # Nova standard, over 1024x1024
    assert image_variation(IMAGE, model=NOVA, n=2, **sigv4).cost == pytest.approx(0.08)


# Stability image services


def test_stability_inpaint_goes_through_its_us_profile_with_the_area_to_edit_white(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_edit(IMAGE, "a red hat", model=INPAINT, mask=MASK, grow_mask=3, style_preset="anime", **sigv4)
    assert fake_bedrock.requests[0].path == "/model/us.stability.stable-image-inpaint-v1%3A0/invoke"
    body = sent(fake_bedrock)
    assert set(body) == {"image", "prompt", "mask", "grow_mask", "style_preset"}
    assert pixels(body["mask"]) == (WHITE, BLACK)
    assert response.cost == pytest.approx(0.07)


def test_a_stability_service_by_its_bare_id_is_refused_by_bedrock(sigv4: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="inference profile"):
        image_edit(IMAGE, "a hat", model=INPAINT, model_id="stability.stable-image-inpaint-v1:0", **sigv4)


def test_stability_services_make_one_image_per_call_with_consecutive_seeds(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    response = image_edit(IMAGE, "a hat", model=INPAINT, mask=MASK, n=2, seed=10, **sigv4)
    assert sorted(body["seed"] for _, body in fake_bedrock.invocations) == [10, 11]
    assert response.cost == pytest.approx(0.14)


def test_erase_object_sends_the_mask_and_ignores_the_prompt(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    response = image_edit(IMAGE, "remove the cup", model=ERASE, mask=MASK, **sigv4)
    assert set(sent(fake_bedrock)) == {"image", "mask"}
    assert "ignored the prompt" in response.warnings[0]


@pytest.mark.parametrize(("model", "needed"), [(SEARCH_REPLACE, "search_prompt"), (SEARCH_RECOLOR, "select_prompt")])
def test_search_services_need_their_search_prompt(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any], model: str, needed: str
) -> None:
    with pytest.raises(BadRequestError, match=needed):
        image_edit(IMAGE, "a jacket", model=model, **sigv4)
    assert fake_bedrock.requests == []
    image_edit(IMAGE, "a jacket", model=model, **{needed: "sweater"}, **sigv4)
    assert sent(fake_bedrock)[needed] == "sweater"


def test_remove_background_takes_no_mask(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="mask"):
        image_edit(IMAGE, "x", model=REMOVE_BACKGROUND, mask=MASK, **sigv4)
    assert fake_bedrock.requests == []
    image_edit(IMAGE, "x", model=REMOVE_BACKGROUND, output_format="webp", **sigv4)
    assert set(sent(fake_bedrock)) == {"image", "output_format"}


def test_outpaint_needs_a_side_to_extend(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError, match="left, right, up, down"):
        image_edit(IMAGE, "a beach", model=OUTPAINT, **sigv4)
    with pytest.raises(UnsupportedParamsError, match="creativity"):
        image_edit(IMAGE, "a beach", model=OUTPAINT, left=64, creativity=0.05, **sigv4)
    assert fake_bedrock.requests == []
    image_edit(IMAGE, "a beach", model=OUTPAINT, left=64, down=32, creativity=0.8, **sigv4)
    assert sent(fake_bedrock) | {"image": ""} == {"image": "", "prompt": "a beach", "left": 64, "down": 32,
                                                  "creativity": 0.8}  # fmt: skip


def test_style_transfer_takes_the_init_image_then_the_style_image(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any]
) -> None:
    style = png_image(64, 64, (200, 20, 20, 255))
    with pytest.raises(BadRequestError, match="init_image, style_image"):
        image_edit(IMAGE, "statue", model=STYLE_TRANSFER, **sigv4)
    image_edit([IMAGE, style], "statue", model=STYLE_TRANSFER, style_strength=0.5, **sigv4)
    body = sent(fake_bedrock)
    assert base64.b64decode(body["init_image"]) == IMAGE
    assert base64.b64decode(body["style_image"]) == style
    assert body["style_strength"] == 0.5


def test_style_guide_maps_size_to_an_aspect_ratio(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_edit(IMAGE, "a poster", model=STYLE_GUIDE, size="1792x1024", fidelity=0.7, **sigv4)
    assert sent(fake_bedrock)["aspect_ratio"] == "16:9"


@pytest.mark.parametrize(
    ("model", "size", "problem"),
    [(CREATIVE_UPSCALE, (1100, 1000), "from 4096 to 1048576 pixels"), (FAST_UPSCALE, (1600, 64), "1536 or less"),
     (INPAINT, (64, 200), "aspect ratio"), (INPAINT, (63, 63), "64 pixels or more")],
)  # fmt: skip
def test_inputs_outside_a_service_s_pixel_limits_are_refused_before_any_request(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any], model: str, size: tuple[int, int], problem: str
) -> None:
    with pytest.raises(BadRequestError, match=problem):
        image_edit(png_image(*size), "sharper", model=model, **sigv4)
    assert fake_bedrock.requests == []


@pytest.mark.parametrize(
    "model", [f"bedrock/stability.{name}-v1:0" for name in
              ("stable-image-control-sketch", "stable-image-control-structure", "stable-conservative-upscale",
               "stable-creative-upscale")]
)  # fmt: skip
def test_prompted_services_send_the_prompt_and_their_native_params(
    fake_bedrock: FakeBedrock, sigv4: dict[str, Any], model: str
) -> None:
    image_edit(IMAGE, "a castle", model=model, negative_prompt="fog", seed=5, output_format="jpeg", **sigv4)
    assert sent(fake_bedrock) | {"image": ""} == {"image": "", "prompt": "a castle", "negative_prompt": "fog",
                                                  "seed": 5, "output_format": "jpeg"}  # fmt: skip


def test_fast_upscale_sends_the_image_only(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    response = image_edit(IMAGE, "upscale", model=FAST_UPSCALE, **sigv4)
    assert set(sent(fake_bedrock)) == {"image"}
    assert response.cost == pytest.approx(0.03)


def test_an_edit_only_service_cannot_generate(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="cannot generate"):
        image_generation("a hat", model=INPAINT, **sigv4)
    assert fake_bedrock.requests == []


@pytest.mark.anyio
async def test_a_stability_service_edits_on_the_async_path(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    response = await aimage_edit(IMAGE, "a hat", model=INPAINT, mask=MASK, **sigv4)
    assert len(response.data) == 1


# SD3 / SD3.5 image-to-image


def test_sd35_edits_image_to_image_with_a_default_strength(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    image_edit(IMAGE, "in autumn", model=SD35, seed=4, **sigv4)
    body = sent(fake_bedrock)
    assert body | {"image": ""} == {"prompt": "in autumn", "mode": "image-to-image", "image": "", "strength": 0.7,
                                    "seed": 4}  # fmt: skip


def test_sd35_takes_a_strength_and_no_size(fake_bedrock: FakeBedrock, sigv4: dict[str, Any]) -> None:
    with pytest.raises(UnsupportedParamsError, match="size"):
        image_edit(IMAGE, "in autumn", model=SD35, size="1024x1024", **sigv4)
    image_edit(IMAGE, "in autumn", model=SD35, strength=0.2, **sigv4)
    assert sent(fake_bedrock)["strength"] == 0.2


# The fake refuses what Bedrock refuses


def invoke(fake: FakeBedrock, model_id: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{fake.url}/model/{quote(model_id, safe='')}/invoke", json=body, headers={"authorization": f"Bearer {API_KEY}"}
    )


def test_the_fake_refuses_background_removal_with_a_generation_config(fake_bedrock: FakeBedrock) -> None:
    body = {"taskType": "BACKGROUND_REMOVAL", "backgroundRemovalParams": {"image": base64.b64encode(IMAGE).decode()},
            "imageGenerationConfig": {"numberOfImages": 1}}  # fmt: skip
    answer = invoke(fake_bedrock, "amazon.nova-canvas-v1:0", body)
    assert answer.status_code == 400
    assert "extraneous key [imageGenerationConfig]" in answer.json()["message"]


def test_the_fake_refuses_both_a_mask_image_and_a_mask_prompt(fake_bedrock: FakeBedrock) -> None:
    image = base64.b64encode(IMAGE).decode()
    body = {"taskType": "INPAINTING", "inPaintingParams": {"image": image, "maskImage": image, "maskPrompt": "x"}}
    assert (
        "exactly one of maskImage or maskPrompt" in invoke(fake_bedrock, "amazon.titan-image-generator-v2:0", body).text
    )


def test_the_fake_refuses_a_mask_that_is_not_pure_black_and_white(fake_bedrock: FakeBedrock) -> None:
    image = base64.b64encode(IMAGE).decode()
    body = {"taskType": "INPAINTING", "inPaintingParams": {"image": image, "maskImage": image}}
    assert "pure black and pure white" in invoke(fake_bedrock, "amazon.nova-canvas-v1:0", body).text
