"""fal's queue: what is sent, the status then the result, failures seen only at the result, cancel, costs."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen.testing import png_image
from tests.fakes.fal_fake import API_KEY, FakeFal


def generate(model: str, kwargs: dict[str, Any], **extra: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("A cute baby sea otter", model=f"fal/{model}", **{**kwargs, **extra})


def submitted(fake: FakeFal) -> dict[str, Any]:
    body: dict[str, Any] = next(r for r in fake.requests if r.method == "POST").json()
    return body


def test_the_body_is_the_models_input_itself(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    generate("fal-ai/flux/dev", fal_kwargs, n=2, size="1024x1024", seed=5, num_inference_steps=20)
    assert submitted(fake_fal) == {"prompt": "A cute baby sea otter", "num_images": 2,
                                   "image_size": {"width": 1024, "height": 1024}, "seed": 5,
                                   "num_inference_steps": 20}  # fmt: skip
    assert fake_fal.requests[0].path == "/fal-ai/flux/dev"
    assert fake_fal.requests[0].headers["authorization"] == f"Key {API_KEY}"


def test_the_status_is_polled_then_the_result_fetched_once_at_fals_urls(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any]
) -> None:
    generate("fal-ai/flux/dev", fal_kwargs)
    queue = [(r.method, r.path) for r in fake_fal.requests if r.port == fake_fal.port]
    assert queue == [
        ("POST", "/fal-ai/flux/dev"),
        ("GET", "/fal-ai/flux/requests/req-1/status"),  # fal drops the subpath: the URL as fal gave it
        ("GET", "/fal-ai/flux/requests/req-1/status"),
        ("GET", "/fal-ai/flux/requests/req-1"),
    ]
    assert fake_fal.jobs["req-1"].keys == [f"Key {API_KEY}"] * 3


def test_images_keep_their_url_and_size(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    (image,) = generate("fal-ai/flux-pro/v1.1", fal_kwargs, size="1536x1024").data
    assert image.url == f"{fake_fal.cdn_url}/files/fal-ai/flux-pro/0.png"
    assert image.model_extra == {"width": 1536, "height": 1024, "content_type": "image/png", "seed": 42}
    assert image.expires_at is None  # fal's CDN keeps files per the account's retention: no expiry is known


def test_b64_json_downloads_from_the_cdn_without_the_key(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    (image,) = generate("fal-ai/flux/dev", fal_kwargs, response_format="b64_json").data
    assert image.image_bytes().startswith(b"\x89PNG")
    (download,) = [r for r in fake_fal.requests if r.port != fake_fal.port]
    assert "authorization" not in download.headers


def test_a_status_url_on_a_foreign_host_gets_no_key_and_the_error_says_why(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any]
) -> None:
    fake_fal.status_host = "localhost"
    with pytest.raises(imagegen.AuthenticationError, match=r"localhost is not one of the provider's domains") as caught:
        generate("fal-ai/flux/dev", fal_kwargs)
    assert caught.value.job_id == "req-1"
    assert fake_fal.jobs["req-1"].keys == [None]


def test_a_validation_error_shows_at_the_result_naming_the_field(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match="safety_tolerance") as caught:
        generate("fal-ai/some-model-we-do-not-list", fal_kwargs, safety_tolerance=9)  # unvalidated: passed through
    assert (caught.value.job_id, caught.value.status_code, caught.value.param) == ("req-1", 422, "safety_tolerance")


def test_the_content_checker_refusing_is_a_content_policy_error(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    fake_fal.next_failure = "content_policy"
    with pytest.raises(imagegen.ContentPolicyViolationError, match="flagged") as caught:
        generate("fal-ai/flux/dev", fal_kwargs)
    assert caught.value.job_id == "req-1"


def test_a_runner_failure_at_the_result_is_raised_at_once_not_polled_again(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any]
) -> None:
    fake_fal.next_failure = "runner"
    with pytest.raises(imagegen.InternalServerError, match="Runner disconnected"):
        generate("fal-ai/flux/dev", fal_kwargs, timeout=30)
    assert fake_fal.jobs["req-1"].result_fetches == 1


def test_images_the_safety_checker_flagged_are_a_content_policy_error(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any]
) -> None:
    fake_fal.nsfw = True
    with pytest.raises(imagegen.ContentPolicyViolationError, match="has_nsfw_concepts"):
        generate("fal-ai/flux/dev", fal_kwargs)


def test_a_job_past_the_deadline_is_cancelled_and_names_the_request(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any]
) -> None:
    fake_fal.hold_jobs = True
    with pytest.raises(imagegen.Timeout, match="req-1") as caught:
        generate("fal-ai/flux/dev", fal_kwargs, timeout=0.3)
    assert caught.value.job_id == "req-1"
    assert fake_fal.jobs["req-1"].cancelled
    cancel = next(r for r in fake_fal.requests if r.method == "PUT")
    assert (cancel.path, cancel.headers["authorization"]) == ("/fal-ai/flux/requests/req-1/cancel", f"Key {API_KEY}")


@pytest.mark.anyio
async def test_an_async_job_past_the_deadline_is_cancelled(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    fake_fal.hold_jobs = True
    with pytest.raises(imagegen.Timeout):
        await imagegen.aimage_generation("otter", model="fal/fal-ai/flux/dev", timeout=0.3, **fal_kwargs)
    assert fake_fal.jobs["req-1"].cancelled


def test_n_past_four_runs_several_concurrent_jobs(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    response = generate("fal-ai/flux/dev", fal_kwargs, n=10)
    assert len(response.data) == 10
    assert sorted(job.body["num_images"] for job in fake_fal.jobs.values()) == [2, 4, 4]


def test_any_fal_model_is_passed_through(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    response = generate("fal-ai/nano-banana", fal_kwargs, n=2, size="512x512", aspect_ratio="1:1")
    assert len(response.data) == 2
    assert submitted(fake_fal) == {"prompt": "A cute baby sea otter", "num_images": 2,
                                   "image_size": {"width": 512, "height": 512}, "aspect_ratio": "1:1"}  # fmt: skip
    assert response.cost is None  # no list price for a model imagegen does not list


def test_a_model_that_is_not_a_fal_endpoint_id_is_refused(fal_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match="not a fal model id"):
        generate("flux", fal_kwargs)


def test_recraft_takes_its_own_styles(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    generate("fal-ai/recraft/v3", fal_kwargs, style="vector_illustration/line_art")
    assert fake_fal.requests[0].path == "/fal-ai/recraft/v3/text-to-image"
    assert submitted(fake_fal) == {"prompt": "A cute baby sea otter", "style": "vector_illustration/line_art"}


def test_a_kontext_edit_sends_the_image_inline_and_the_nearest_aspect_ratio(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any]
) -> None:
    imagegen.image_edit(png_image(64, 64), "Add a hat", model="fal/fal-ai/flux-pro/kontext", size="1792x1024",
                        safety_tolerance="5", **fal_kwargs)  # fmt: skip
    body = submitted(fake_fal)
    assert body["image_url"].startswith("data:image/png;base64,iVBOR")
    assert (body["aspect_ratio"], body["safety_tolerance"]) == ("16:9", "5")


def test_kontext_does_not_generate_from_text_alone(fal_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="cannot generate images"):
        generate("fal-ai/flux-pro/kontext", fal_kwargs)


def test_the_key_comes_from_fal_key(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAL_KEY", API_KEY)
    generate("fal-ai/flux/dev", {k: v for k, v in fal_kwargs.items() if k != "api_key"})
    assert fake_fal.requests[0].headers["authorization"] == f"Key {API_KEY}"


def test_a_missing_key_names_the_variable(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.AuthenticationError, match="FAL_KEY"):
        generate("fal-ai/flux/dev", {k: v for k, v in fal_kwargs.items() if k != "api_key"})
    assert fake_fal.requests == []


# --- costs: every family ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kwargs", "usd"),
    [
        ("fal-ai/flux/dev", {}, 0.025),  # landscape_4_3 (1024x768): one whole megapixel
        ("fal-ai/flux/dev", {"size": "1536x1024", "n": 2}, 2 * 2 * 0.025),  # 1.5 MP billed as 2, twice
        ("fal-ai/flux-pro/v1.1", {"size": "1024x1024"}, 0.04),
        ("fal-ai/recraft/v3", {}, 0.04),
        ("fal-ai/recraft/v3", {"style": "vector_illustration/line_art"}, 0.08),
    ],
)
def test_the_cost_is_fals_list_price(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any], model: str, kwargs: dict[str, Any], usd: float
) -> None:
    assert generate(model, fal_kwargs, **kwargs).cost == pytest.approx(usd)


def test_a_kontext_edit_costs_its_flat_price(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    response = imagegen.image_edit(png_image(64, 64), "Add a hat", model="fal/fal-ai/flux-pro/kontext/max", n=2,
                                   **fal_kwargs)  # fmt: skip
    assert response.cost == pytest.approx(0.16)


def test_a_mask_goes_as_a_white_on_black_data_url_converted_by_the_core(
    fake_fal: FakeFal, fal_kwargs: dict[str, Any]
) -> None:
    import base64
    import io

    from PIL import Image

    mask = png_image(64, 64, transparent_box=(0, 0, 32, 32))
    imagegen.image_edit(png_image(64, 64), "a hat", mask=mask, model="fal/fal-ai/flux-pro/v1/fill", **fal_kwargs)
    sent = submitted(fake_fal)["mask_url"]
    assert sent.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(sent.partition(",")[2]))) as picture:
        assert "A" not in picture.getbands()
        converted = picture.convert("L")
    assert converted.getpixel((5, 5)) == 255  # transparent in the mask: edit (white)
    assert converted.getpixel((50, 50)) == 0  # opaque: keep (black)


def test_the_fake_refuses_an_unconverted_mask() -> None:
    import base64

    raw = png_image(8, 8, transparent_box=(0, 0, 4, 4))
    refused = FakeFal.invalid_mask({"mask_url": "data:image/png;base64," + base64.b64encode(raw).decode()})
    assert refused is not None
    assert refused.status == 422


def test_a_model_that_succeeds_without_an_image_is_a_clear_error(fake_fal: FakeFal, fal_kwargs: dict[str, Any]) -> None:
    fake_fal.empty_output = True
    with pytest.raises(imagegen.InternalServerError, match="fal answered without an image"):
        generate("fal-ai/flux/dev", fal_kwargs)
