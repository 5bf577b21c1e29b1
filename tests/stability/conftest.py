from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.stability_fake import FakeStability

API_KEY = "sk-stability-test-1234"


@pytest.fixture
def fake_stability() -> Iterator[FakeStability]:
    with FakeStability(API_KEY) as fake:
        yield fake
