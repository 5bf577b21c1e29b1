from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.fal_fake import API_KEY, FakeFal


@pytest.fixture
def fake_fal() -> Iterator[FakeFal]:
    with FakeFal() as fake:
        yield fake


@pytest.fixture
def fal_kwargs(fake_fal: FakeFal) -> dict[str, Any]:
    """A call pointed at the fake queue, polling it every 10 ms."""
    return {"api_base": fake_fal.url, "api_key": API_KEY, "poll_interval": 0.01}
