from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.gemini_fake import API_KEY, FakeGemini


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def gemini_kwargs(fake_gemini: FakeGemini) -> dict[str, Any]:
    return {"api_base": fake_gemini.url, "api_key": API_KEY}
