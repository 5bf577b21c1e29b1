from __future__ import annotations

import os

import pytest

# Provider settings from the developer's shell must not leak into tests (nor real keys into fakes).
_PROVIDER_ENV = (
    "OPENAI_",
    "AZURE_",
    "AWS_",
    "VERTEX",
    "GOOGLE_",
    "IMAGEGEN_",
    "BFL_",
    "BLACK_FOREST_LABS_",
    "FAL_",
    "GEMINI_",
    "XAI_",
    "STABILITY_",
    "SAI_",
)


@pytest.fixture(autouse=True)
def _clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(_PROVIDER_ENV):
            monkeypatch.delenv(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
