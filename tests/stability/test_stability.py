"""The Stability AI plugin: generate, edit, control and upscale services over Stability's multipart API."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

import imagegen
from imagegen.testing import ProviderConformanceTests, png_image
from tests.fakes.stability_fake import BLURRED_WORD, MODERATED_WORD, FakeStability

from .conftest import API_KEY

IMAGE = png_image(64, 64)
MASK = png_image(64, 64, transparent_box=(0, 0, 32, 32))


def kwargs(fake: FakeStability) -> dict[str, Any]:
    return {"api_key": API_KEY, "api_base": fake.url}


class TestStableImageCoreAndInpaint(ProviderConformanceTests):
    model = "stability/stable-image-core"
    plugin_module = "imagegen_stability"
    heavy_modules = ("PIL",)
    max_n = 2
    unsupported_param = ("style", "vivid")
    edit_model = "stability/inpaint"

    @pytest.fixture
    def upstream(self, fake_stability: FakeStability) -> FakeStability:
        return fake_stability

    @pytest.fixture
    def call_kwargs(self, upstream: FakeStability) -> dict[str, Any]:
        return kwargs(upstream)


class TestStableImageUltraImageToImage(TestStableImageCoreAndInpaint):
    model = "stability/stable-image-ultra"
    max_n = 1
    edit_model = "stability/stable-image-ultra"


def test_generation_is_multipart_with_the_size_as_an_aspect_ratio(fake_stability: FakeStability) -> None:
    imagegen.image_generation("otter", model="stability/stable-image-core", size="1792x1024", style_preset="anime",
                              **kwargs(fake_stability))  # fmt: skip
    fields, files = fake_stability.requests[0].form()
    assert fields == {"prompt": ["otter"], "style_preset": ["anime"], "aspect_ratio": ["16:9"]}
    assert files == {}
    assert fake_stability.requests[0].path == "/v2beta/stable-image/generate/core"
    assert fake_stability.requests[0].headers["accept"] == "application/json"


def test_sd3_models_name_themselves_and_edit_as_image_to_image(fake_stability: FakeStability) -> None:
    imagegen.image_generation("otter", model="stability/sd3.5-large", cfg_scale=4.5, **kwargs(fake_stability))
    imagegen.image_edit(IMAGE, "a watercolour otter", model="stability/sd3.5-large-turbo", **kwargs(fake_stability))
    generate, edit = (request.form()[0] for request in fake_stability.requests)
    assert generate == {"prompt": ["otter"], "cfg_scale": ["4.5"], "model": ["sd3.5-large"]}
    assert edit == {"prompt": ["a watercolour otter"], "model": ["sd3.5-large-turbo"], "mode": ["image-to-image"],
                    "strength": ["0.7"]}  # fmt: skip


def test_the_mask_goes_as_stabilitys_white_on_black(fake_stability: FakeStability) -> None:
    imagegen.image_edit(IMAGE, "a red hat", model="stability/inpaint", mask=MASK, **kwargs(fake_stability))
    mask = Image.open(io.BytesIO(fake_stability.files[0]["mask"][0].data))
    assert mask.getpixel((10, 10)) == 255  # transparent in the OpenAI mask: to edit
    assert mask.getpixel((50, 50)) == 0


@pytest.mark.parametrize(
    ("model", "params", "message"),
    [
        ("search-and-replace", {}, "search_prompt"),
        ("outpaint", {}, "at least one of left"),
        ("stable-image-ultra", {"strength": 1.5}, "a number from 0 to 1"),
        ("erase", {"mask": MASK, "prompt": "x"}, "takes no prompt"),
    ],
)
def test_what_a_service_needs_is_checked_before_any_request(
    fake_stability: FakeStability, model: str, params: dict[str, Any], message: str
) -> None:
    prompt = params.pop("prompt", None if model in ("erase", "outpaint") else "a hat")
    with pytest.raises(imagegen.BadRequestError, match=message):
        imagegen.image_edit(IMAGE, prompt, model=f"stability/{model}", **params, **kwargs(fake_stability))
    assert fake_stability.requests == []


def test_services_without_a_prompt(fake_stability: FakeStability) -> None:
    for model in ("remove-background", "upscale-fast", "erase"):
        response = imagegen.image_edit(IMAGE, model=f"stability/{model}", **kwargs(fake_stability))
        assert response.data[0].b64_json
    assert [request.form()[0] for request in fake_stability.requests] == [{}, {}, {}]


def test_search_and_outpaint_fields_reach_stability(fake_stability: FakeStability) -> None:
    imagegen.image_edit(IMAGE, "a cat", model="stability/search-and-replace", search_prompt="dog", grow_mask=3,
                        **kwargs(fake_stability))  # fmt: skip
    imagegen.image_edit(IMAGE, model="stability/outpaint", left=100, up=50, **kwargs(fake_stability))
    assert fake_stability.requests[0].form()[0]["search_prompt"] == ["dog"]
    assert fake_stability.requests[1].form()[0] == {"left": ["100"], "up": ["50"]}


def test_the_creative_upscale_is_a_job_polled_until_done(fake_stability: FakeStability) -> None:
    response = imagegen.image_edit(IMAGE, "crisp", model="stability/upscale-creative", poll_interval=0.01,
                                   **kwargs(fake_stability))  # fmt: skip
    assert response.data[0].b64_json
    polls = [request for request in fake_stability.requests if request.method == "GET"]
    assert len(polls) == 2
    assert polls[0].headers["authorization"] == f"Bearer {API_KEY}"
    assert response.cost == pytest.approx(0.60)


def test_a_creative_upscale_past_the_deadline_names_its_job(fake_stability: FakeStability) -> None:
    fake_stability.hold_jobs = True
    with pytest.raises(imagegen.Timeout) as caught:
        imagegen.image_edit(IMAGE, "crisp", model="stability/upscale-creative", poll_interval=0.01, timeout=0.5,
                            **kwargs(fake_stability))  # fmt: skip
    assert caught.value.job_id in fake_stability.jobs


def test_a_blurred_image_is_a_content_policy_violation(fake_stability: FakeStability) -> None:
    with pytest.raises(imagegen.ContentPolicyViolationError, match="CONTENT_FILTERED"):
        imagegen.image_generation(f"a {BLURRED_WORD}", model="stability/stable-image-core", **kwargs(fake_stability))


def test_moderation_is_a_content_policy_violation_with_stabilitys_message(fake_stability: FakeStability) -> None:
    with pytest.raises(imagegen.ContentPolicyViolationError, match="content moderation"):
        imagegen.image_generation(f"a {MODERATED_WORD}", model="stability/stable-image-ultra", **kwargs(fake_stability))


def test_out_of_credits_says_so(fake_stability: FakeStability) -> None:
    from tests.fakes.stability_fake import stability_error

    fake_stability.handle = lambda request: stability_error(402, "payment_required", "insufficient credits")  # type: ignore[method-assign]
    with pytest.raises(imagegen.ImageGenError, match="out of credits"):
        imagegen.image_generation("otter", model="stability/stable-image-core", **kwargs(fake_stability))


def test_the_seed_is_kept_on_each_image(fake_stability: FakeStability) -> None:
    response = imagegen.image_generation("otter", model="stability/stable-image-core", **kwargs(fake_stability))
    assert response.data[0].model_extra == {"seed": 1234}


@pytest.mark.parametrize(
    ("model", "n", "cost"),
    [
        ("stable-image-ultra", 1, 0.08),
        ("stable-image-core", 3, 0.09),
        ("sd3.5-large", 1, 0.065),
        ("sd3.5-medium", 1, 0.035),
    ],
)
def test_generation_list_prices(fake_stability: FakeStability, model: str, n: int, cost: float) -> None:
    response = imagegen.image_generation("otter", model=f"stability/{model}", n=n, **kwargs(fake_stability))
    assert response.cost == pytest.approx(cost)


def test_edit_service_list_prices(fake_stability: FakeStability) -> None:
    inpaint = imagegen.image_edit(IMAGE, "hat", model="stability/inpaint", n=2, **kwargs(fake_stability))
    fast = imagegen.image_edit(IMAGE, model="stability/upscale-fast", **kwargs(fake_stability))
    assert (inpaint.cost, fast.cost) == (pytest.approx(0.10), pytest.approx(0.02))


def test_the_creative_upscale_result_is_fetched_as_image_bytes(fake_stability: FakeStability) -> None:
    import base64

    from imagegen.testing import TINY_PNG

    response = imagegen.image_edit(IMAGE, "crisp", model="stability/upscale-creative", poll_interval=0.01,
                                   **kwargs(fake_stability))  # fmt: skip
    polls = [request for request in fake_stability.requests if request.method == "GET"]
    assert {poll.headers["accept"] for poll in polls} == {"image/*"}
    assert base64.b64decode(response.data[0].b64_json or "") == TINY_PNG
    assert response.data[0].model_extra == {"seed": 99}


def test_a_filtered_creative_upscale_is_a_content_policy_violation(fake_stability: FakeStability) -> None:
    with pytest.raises(imagegen.ContentPolicyViolationError, match="CONTENT_FILTERED"):
        imagegen.image_edit(IMAGE, f"a {BLURRED_WORD}", model="stability/upscale-creative", poll_interval=0.01,
                            **kwargs(fake_stability))  # fmt: skip


@pytest.mark.parametrize(
    ("model", "params", "refused"),
    [
        ("remove-background", {"seed": 5}, "seed"),
        ("remove-background", {"output_format": "jpeg"}, "output_format"),
        ("upscale-fast", {"seed": 5}, "seed"),
        ("upscale-conservative", {"creativity": 0.8}, "creativity"),
        ("outpaint", {"left": 10, "creativity": 0.05}, "creativity"),
    ],
)
def test_service_parameters_outside_the_reference_are_refused_before_any_request(
    fake_stability: FakeStability, model: str, params: dict[str, Any], refused: str
) -> None:
    prompt = "crisp" if model == "upscale-conservative" else None
    with pytest.raises(imagegen.UnsupportedParamsError, match=refused):
        imagegen.image_edit(IMAGE, prompt, model=f"stability/{model}", **params, **kwargs(fake_stability))
    assert fake_stability.requests == []


def test_remove_background_takes_a_webp_output_format(fake_stability: FakeStability) -> None:
    imagegen.image_edit(IMAGE, model="stability/remove-background", output_format="webp", **kwargs(fake_stability))
    assert fake_stability.requests[0].form()[0] == {"output_format": ["webp"]}


@pytest.mark.parametrize(("width", "height"), [(2048, 2048), (1536, 1024), (16, 64)])
def test_fast_upscale_refuses_an_image_outside_its_limits_before_any_request(
    fake_stability: FakeStability, width: int, height: int
) -> None:
    with pytest.raises(imagegen.BadRequestError, match=r"2048|1536x1024|16x64.*upscale-fast takes"):
        imagegen.image_edit(png_image(width, height), model="stability/upscale-fast", **kwargs(fake_stability))
    assert fake_stability.requests == []
