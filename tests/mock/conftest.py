from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.mock_fake import FakeMock


@pytest.fixture
def fake_mock() -> Iterator[FakeMock]:
    with FakeMock() as fake:
        yield fake
