from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.bfl_fake import API_KEY, FakeBFL


@pytest.fixture
def fake_bfl() -> Iterator[FakeBFL]:
    with FakeBFL() as fake:
        yield fake


@pytest.fixture
def bfl_kwargs(fake_bfl: FakeBFL) -> dict[str, Any]:
    """A call pointed at the fake, polling it every 10 ms."""
    return {"api_base": fake_bfl.url, "api_key": API_KEY, "poll_interval": 0.01}
