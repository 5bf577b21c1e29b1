from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.xai_fake import FakeXAI

API_KEY = "xai-test-key-1234"


@pytest.fixture
def fake_xai() -> Iterator[FakeXAI]:
    with FakeXAI(API_KEY) as fake:
        yield fake
