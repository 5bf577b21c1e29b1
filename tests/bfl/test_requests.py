"""What the BFL plugin sends: sizes, aspect ratios, input images, credentials; and what a response costs."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen.testing import png_image
from tests.fakes.bfl_fake import API_KEY, FakeBFL


def submitted(fake: FakeBFL) -> dict[str, Any]:
    body: dict[str, Any] = next(r for r in fake.requests if r.method == "POST").json()
    return body


def generate(model: str, kwargs: dict[str, Any], **extra: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("A cute baby sea otter", model=f"bfl/{model}", **{**kwargs, **extra})


def test_size_becomes_width_and_height(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    generate("flux-2-pro", bfl_kwargs, size="1536x1024", seed=3, output_format="png")
    assert submitted(fake_bfl) == {"prompt": "A cute baby sea otter", "width": 1536, "height": 1024, "seed": 3,
                                   "output_format": "png"}  # fmt: skip


def test_native_width_and_height_are_sent(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    generate("flux-pro-1.1", bfl_kwargs, width=768, height=1344)
    assert (submitted(fake_bfl)["width"], submitted(fake_bfl)["height"]) == (768, 1344)


@pytest.mark.parametrize(
    ("size", "problem"),
    [("1000x1000", "multiples of 16"), ("32x1024", "at least 64"), ("4096x4096", "4 megapixels"), ("big", "WIDTH")],
)
def test_a_size_bfl_refuses_is_refused_before_any_request(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any], size: str, problem: str
) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match=problem):
        generate("flux-2-pro", bfl_kwargs, size=size)
    assert fake_bfl.requests == []


def test_drop_params_drops_a_size_bfl_refuses(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    response = generate("flux-2-pro", bfl_kwargs, size="1000x1000", drop_params=True)
    assert "width" not in submitted(fake_bfl)
    assert any("size" in warning for warning in response.warnings)


def test_ultra_and_kontext_take_the_nearest_aspect_ratio(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    generate("flux-pro-1.1-ultra", bfl_kwargs, size="1792x1024", raw=True)
    assert submitted(fake_bfl) == {"prompt": "A cute baby sea otter", "aspect_ratio": "16:9", "raw": True}


def test_flex_takes_steps_and_guidance(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    generate("flux-2-flex", bfl_kwargs, steps=20, guidance=3.5)
    assert (submitted(fake_bfl)["steps"], submitted(fake_bfl)["guidance"]) == (20, 3.5)


def test_raw_is_an_ultra_parameter_only(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="raw"):
        generate("flux-2-pro", bfl_kwargs, raw=True)


def test_edit_images_go_as_input_image_then_numbered(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    images = [png_image(64, 64), png_image(32, 32), png_image(16, 16)]
    imagegen.image_edit(images, "Put them together", model="bfl/flux-2-pro", **bfl_kwargs)
    body = submitted(fake_bfl)
    assert [name for name in body if name.startswith("input_image")] == [
        "input_image",
        "input_image_2",
        "input_image_3",
    ]


def test_klein_takes_at_most_four_input_images(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match="4"):
        imagegen.image_edit([png_image(16, 16)] * 5, "Merge", model="bfl/flux-2-klein-4b", **bfl_kwargs)
    assert fake_bfl.requests == []


def test_the_key_comes_from_bfl_api_key(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BFL_API_KEY", API_KEY)
    generate("flux-2-pro", {k: v for k, v in bfl_kwargs.items() if k != "api_key"})
    assert fake_bfl.requests[0].headers["x-key"] == API_KEY


def test_a_missing_key_names_the_setting_and_the_variable(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.AuthenticationError, match="BFL_API_KEY"):
        generate("flux-2-pro", {k: v for k, v in bfl_kwargs.items() if k != "api_key"})
    assert fake_bfl.requests == []


def test_an_unknown_model_is_refused_naming_the_known_ones(bfl_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match="flux-2-pro"):
        generate("flux-9-mega", bfl_kwargs)


def test_bfls_validation_errors_name_the_field(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    from tests.fakes.bfl_fake import problem

    fake_bfl.handle = lambda request: problem("aspect_ratio", "must be W:H between 21:9 and 9:21")  # type: ignore[method-assign]
    with pytest.raises(imagegen.BadRequestError, match="aspect_ratio: must be W:H") as caught:
        generate("flux-pro-1.1-ultra", bfl_kwargs, aspect_ratio="21:9")
    assert (caught.value.status_code, caught.value.param) == (422, "aspect_ratio")


@pytest.mark.parametrize(
    ("model", "param", "value", "problem"),
    [
        ("flux-pro-1.1-ultra", "aspect_ratio", "30:9", "between 21:9 and 9:21"),
        ("flux-kontext-pro", "aspect_ratio", "wide", "WIDTH:HEIGHT"),
        ("flux-pro-1.1", "safety_tolerance", 6, "from 0 to 5"),
        ("flux-2-flex", "guidance", 12, "from 1.5 to 10"),
        ("flux-2-flex", "steps", 51, "from 1 to 50"),
        ("flux-pro-1.1", "width", 1000, "multiples of 16"),
    ],
)
def test_parameters_outside_bfls_ranges_are_refused_before_any_request(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any], model: str, param: str, value: Any, problem: str
) -> None:
    extra = {"height": 1024} if param == "width" else {}
    with pytest.raises(imagegen.UnsupportedParamsError, match=problem) as caught:
        generate(model, bfl_kwargs, **{param: value}, **extra)
    assert param in str(caught.value)
    assert fake_bfl.requests == []


def test_the_fake_refuses_a_safety_tolerance_above_5(fake_bfl: FakeBFL) -> None:
    refused = fake_bfl.invalid("flux-pro-1.1", {"prompt": "otter", "safety_tolerance": 6})
    assert refused is not None
    assert refused.status == 422


# --- costs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kwargs", "usd"),
    [
        ("flux-pro-1.1", {}, 0.04),
        ("flux-pro-1.1-ultra", {}, 0.06),
        ("flux-kontext-pro", {}, 0.04),
        ("flux-kontext-max", {}, 0.08),
        ("flux-2-pro", {"size": "1024x1024"}, 0.0307),  # BFL's own figure: 3.07 credits for 1.05 megapixels
        ("flux-2-klein-4b", {"size": "2048x1024"}, 0.0151),
    ],
)
def test_the_cost_is_the_one_bfl_reports(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any], model: str, kwargs: dict[str, Any], usd: float
) -> None:
    assert generate(model, bfl_kwargs, **kwargs).cost == pytest.approx(usd, abs=1e-4)


@pytest.mark.parametrize(
    ("model", "kwargs", "usd"),
    [
        ("flux-pro-1.1", {}, 0.04),
        ("flux-pro-1.1-ultra", {}, 0.06),
        ("flux-kontext-max", {}, 0.08),
        ("flux-2-pro", {"size": "2048x1024"}, 0.03 + 1.097152 * 0.015),  # 3¢ the first megapixel, 1.5¢ each further
        ("flux-2-max", {}, 0.07 + 0.048576 * 0.03),  # 1024x1024 by default
    ],
)
def test_without_a_reported_cost_the_list_price_applies(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any], model: str, kwargs: dict[str, Any], usd: float
) -> None:
    fake_bfl.report_cost = False
    assert generate(model, bfl_kwargs, **kwargs).cost == pytest.approx(usd)


def test_a_fanned_out_call_costs_the_sum_of_its_jobs(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    assert generate("flux-kontext-pro", bfl_kwargs, n=3).cost == pytest.approx(0.12)


def test_an_unreported_flux_2_edit_costs_its_input_megapixels_too(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    fake_bfl.report_cost = False
    image = png_image(1000, 500)  # half a megapixel in
    response = imagegen.image_edit(image, "a hat", model="bfl/flux-2-pro", **bfl_kwargs)
    # 3¢ for the first output megapixel (1024x1024 by default: 0.048576 more), 1.5¢ per further and input megapixel
    assert response.cost == pytest.approx(0.03 + 0.015 * (0.048576 + 0.5))


def test_an_unreported_flux_2_edit_at_a_size_costs_that_size_and_its_inputs(
    fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]
) -> None:
    fake_bfl.report_cost = False
    two_images = [png_image(1000, 1000), png_image(500, 1000)]
    response = imagegen.image_edit(two_images, "a hat", model="bfl/flux-2-max", size="2048x1024", **bfl_kwargs)
    assert response.cost == pytest.approx(0.07 + 0.03 * (1.097152 + 1.5))


def test_a_reported_flux_2_edit_cost_is_bfls(fake_bfl: FakeBFL, bfl_kwargs: dict[str, Any]) -> None:
    response = imagegen.image_edit(png_image(1000, 1000), "a hat", model="bfl/flux-2-pro", **bfl_kwargs)
    assert response.cost == pytest.approx((3.0 + 0.048576 * 1.5 + 1.0 * 1.5) * 0.01, abs=1e-4)
