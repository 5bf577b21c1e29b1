from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_fake import FakeOpenAI

API_KEY = "sk-test-key-1234"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        yield fake
