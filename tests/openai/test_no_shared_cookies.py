"""The shared HTTP clients serve every caller: a cookie set by one answer never rides on the next request."""

from __future__ import annotations

import pytest

import imagegen
from imagegen.testing import FakeRequest, FakeResponse
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import API_KEY


class CookieSettingOpenAI(FakeOpenAI):
    def handle(self, request: FakeRequest) -> FakeResponse:
        response = super().handle(request)
        response.headers["set-cookie"] = "session=caller-a-secret; Path=/"
        return response


def test_cookies_from_an_answer_are_not_sent_on_later_requests() -> None:
    with CookieSettingOpenAI(api_keys=(API_KEY,)) as fake:
        for _ in range(2):
            imagegen.image_generation("otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY)
    assert all("cookie" not in request.headers for request in fake.requests)


@pytest.mark.anyio
async def test_cookies_are_not_kept_on_the_async_path_either() -> None:
    with CookieSettingOpenAI(api_keys=(API_KEY,)) as fake:
        for _ in range(2):
            await imagegen.aimage_generation("otter", model="dall-e-2", api_base=fake.api_base, api_key=API_KEY)
    assert all("cookie" not in request.headers for request in fake.requests)
