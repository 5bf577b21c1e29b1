from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.fakes.openai_fake import FakeOpenAI

API_KEY = "sk-test-key-1234"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(API_KEY,)) as fake:
        yield fake


def jpeg(width: int, height: int) -> bytes:
    """A real JPEG image (no alpha channel)."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="JPEG")
    return buffer.getvalue()
