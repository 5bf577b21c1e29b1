from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imagegen import transport
from tests.fakes.azure_fake import FakeAzureOpenAI

API_KEY = "azure-test-key-1234"
ENTRA_TOKEN = "entra-token-abcd"
API_VERSION = "2025-04-01-preview"


@pytest.fixture
def fake_azure() -> Iterator[FakeAzureOpenAI]:
    with FakeAzureOpenAI(api_keys=(API_KEY,), tokens=(ENTRA_TOKEN,)) as fake:
        yield fake


@pytest.fixture
def azure_kwargs(fake_azure: FakeAzureOpenAI) -> dict[str, Any]:
    """Points a call at the fake with an API key."""
    return {"api_base": fake_azure.url, "api_key": API_KEY, "api_version": API_VERSION}


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)
