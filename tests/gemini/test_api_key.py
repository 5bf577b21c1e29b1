"""The Gemini API's key: in the `x-goog-api-key` header only (never in a URL), from the call or GEMINI_API_KEY."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen import transport
from imagegen.testing import png_image
from tests.fakes.gemini_fake import API_KEY, FakeGemini

MODEL = "gemini/gemini-2.5-flash-image"


def test_the_key_goes_in_the_x_goog_api_key_header(fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any]) -> None:
    imagegen.image_generation("otter", model=MODEL, **gemini_kwargs)

    (sent,) = fake_gemini.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert "authorization" not in sent.headers


def test_no_url_ever_carries_the_key(
    fake_gemini: FakeGemini, gemini_kwargs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)
    imagegen.image_generation("otter", model=MODEL, n=2, **gemini_kwargs)
    imagegen.image_edit(png_image(64, 64), "a hat", model=MODEL, **gemini_kwargs)
    imagegen.image_generation("otter", model="gemini/imagen-4.0-fast-generate-001", **gemini_kwargs)
    fake_gemini.fail_next("rate_limit")
    imagegen.image_generation("otter", model=MODEL, num_retries=1, **gemini_kwargs)

    assert len(fake_gemini.requests) == 6
    for sent in fake_gemini.requests:
        assert sent.query == {}
        assert API_KEY not in sent.path


def test_the_key_and_the_base_come_from_the_environment(
    fake_gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
    monkeypatch.setenv("GEMINI_API_BASE", fake_gemini.url)

    response = imagegen.image_generation("otter", model=MODEL)

    assert len(response.data) == 1


def test_a_base_given_with_its_version_is_taken_as_it_is(fake_gemini: FakeGemini) -> None:
    imagegen.image_generation("otter", model=MODEL, api_key=API_KEY, api_base=f"{fake_gemini.url}/v1beta/")

    assert fake_gemini.requests[0].path == "/v1beta/models/gemini-2.5-flash-image:generateContent"


def test_a_missing_key_names_the_variable_before_any_request(fake_gemini: FakeGemini) -> None:
    with pytest.raises(imagegen.AuthenticationError, match="GEMINI_API_KEY"):
        imagegen.image_generation("otter", model=MODEL, api_base=fake_gemini.url)
    assert fake_gemini.requests == []


def test_a_key_google_rejects_is_an_authentication_error_naming_the_fix(fake_gemini: FakeGemini) -> None:
    wrong_key = "AIzaSy-wrong-key-1234"
    with pytest.raises(imagegen.AuthenticationError) as caught:
        imagegen.image_generation("otter", model=MODEL, api_key=wrong_key, api_base=fake_gemini.url)

    assert caught.value.code == "API_KEY_INVALID"  # Google answers a bad key with 400 INVALID_ARGUMENT
    assert "GEMINI_API_KEY" in caught.value.message
    assert wrong_key not in str(caught.value)
