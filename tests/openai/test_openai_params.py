"""OpenAI parameter rules, checked before any request, exactly as OpenAI's API reference states them."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen import UnsupportedParamsError
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import API_KEY


def generate(fake: FakeOpenAI, model: str, **kwargs: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("otter", model=model, api_base=fake.api_base, api_key=API_KEY, **kwargs)


@pytest.mark.parametrize(
    ("model", "param", "value"),
    [
        ("dall-e-3", "n", 2),
        ("dall-e-3", "size", "512x512"),
        ("dall-e-3", "quality", "high"),
        ("dall-e-3", "background", "transparent"),
        ("dall-e-2", "size", "1792x1024"),
        ("dall-e-2", "quality", "hd"),
        ("dall-e-2", "style", "vivid"),
        ("dall-e-2", "n", 11),
        ("gpt-image-1", "size", "1792x1024"),
        ("gpt-image-1", "quality", "hd"),
        ("gpt-image-1", "response_format", "url"),
        ("gpt-image-1", "style", "natural"),
        ("gpt-image-1", "output_compression", 101),
        ("gpt-image-1-mini", "moderation", "high"),
        ("gpt-image-1.5", "output_format", "gif"),
        ("gpt-image-2", "size", "1000x1000"),
        ("gpt-image-2", "size", "4096x1024"),
    ],
)
def test_values_outside_the_model_rules_are_rejected_before_any_request(
    fake_openai: FakeOpenAI, model: str, param: str, value: Any
) -> None:
    with pytest.raises(UnsupportedParamsError) as caught:
        generate(fake_openai, model, **{param: value})
    assert param in str(caught.value)
    assert model in str(caught.value)
    assert fake_openai.requests == []


def test_the_error_lists_the_allowed_values(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(UnsupportedParamsError, match="1024x1024, 1024x1792, 1792x1024"):
        generate(fake_openai, "dall-e-3", size="256x256")


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("dall-e-3", {"size": "1792x1024", "quality": "hd", "style": "natural", "response_format": "b64_json"}),
        ("dall-e-2", {"n": 3, "size": "256x256", "response_format": "b64_json"}),
        ("gpt-image-1", {"size": "1536x1024", "quality": "high", "background": "transparent", "output_format": "webp"}),
        ("gpt-image-1-mini", {"moderation": "low", "output_compression": 50, "output_format": "jpeg"}),
        ("gpt-image-1.5", {"quality": "low", "user": "user-1234"}),
    ],
)
def test_valid_parameters_reach_openai_unchanged(fake_openai: FakeOpenAI, model: str, params: dict[str, Any]) -> None:
    generate(fake_openai, model, **params)
    assert fake_openai.requests[0].json() == {"model": model, "prompt": "otter", **params}


def test_b64_json_for_a_gpt_image_model_is_accepted_and_not_sent(fake_openai: FakeOpenAI) -> None:
    response = generate(fake_openai, "gpt-image-1", response_format="b64_json")
    assert "response_format" not in fake_openai.requests[0].json()
    assert response.data[0].b64_json


def test_gpt_image_2_accepts_sizes_within_its_limits(fake_openai: FakeOpenAI) -> None:
    from imagegen.calls import prepare

    call = prepare(
        "otter",
        "gpt-image-2",
        {"size": "1536x864", "api_key": API_KEY},
        {},
        timeout=None,
        drop_params=None,
        num_retries=None,
    )
    assert call.parts[0][1].json["size"] == "1536x864"


def test_drop_params_drops_and_warns(fake_openai: FakeOpenAI) -> None:
    response = generate(fake_openai, "dall-e-3", style="vivid", background="transparent", drop_params=True)
    assert "background" not in fake_openai.requests[0].json()
    assert response.warnings == ["dropped `background`: not supported by openai/dall-e-3"]


def test_global_drop_params_applies_to_every_call(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imagegen, "drop_params", True)
    response = generate(fake_openai, "dall-e-2", quality="hd")
    assert "quality" not in fake_openai.requests[0].json()
    assert response.warnings


def test_per_call_drop_params_false_wins_over_the_global_setting(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imagegen, "drop_params", True)
    with pytest.raises(UnsupportedParamsError):
        generate(fake_openai, "dall-e-2", quality="hd", drop_params=False)


def test_a_too_long_prompt_is_rejected_before_any_request(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.BadRequestError, match="at most 1000"):
        imagegen.image_generation("x" * 1001, model="dall-e-2", api_base=fake_openai.api_base, api_key=API_KEY)
    assert fake_openai.requests == []


def test_an_unknown_model_on_a_compatible_server_passes_parameters_through(fake_openai: FakeOpenAI) -> None:
    with pytest.raises(imagegen.BadRequestError, match="Unknown parameter"):  # the fake is OpenAI, not that server
        generate(fake_openai, "openai/my-local-model", size="640x480", guidance=7)
    assert fake_openai.requests[0].json() == {
        "model": "my-local-model",
        "prompt": "otter",
        "size": "640x480",
        "guidance": 7,
    }


def test_an_unknown_model_without_an_api_base_is_refused_before_any_request() -> None:
    with pytest.raises(imagegen.BadRequestError, match="api_base"):
        imagegen.image_generation("otter", model="openai/dall-e3", api_key=API_KEY)
