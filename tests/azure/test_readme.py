"""The README's usage example runs as written, against the fake (only the resource URL is swapped)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.azure_fake import FakeAzureOpenAI
from tests.readme import ROOT, python_example

from .conftest import API_KEY

READMES = [ROOT / "plugins" / "azure" / "README.md", ROOT / "README.md"]
RESOURCE_URL = "https://my-resource.openai.azure.com"


def usage_example(readme: Path) -> str:
    return python_example("## Usage" if readme.parent.name == "azure" else "### Azure OpenAI", readme)


@pytest.mark.parametrize("readme", READMES, ids=["plugin", "root"])
def test_the_usage_example_calls_image_generation_with_an_azure_deployment(readme: Path) -> None:
    code = usage_example(readme)
    assert 'image_generation(\n    model="azure/' in code
    assert "embedding(" not in code  # the seed documentation's bug


@pytest.mark.parametrize("readme", READMES, ids=["plugin", "root"])
def test_the_usage_example_runs(
    readme: Path, fake_azure: FakeAzureOpenAI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AZURE_API_KEY", API_KEY)
    code = usage_example(readme)
    assert RESOURCE_URL in code
    exec(compile(code.replace(RESOURCE_URL, fake_azure.url), str(readme), "exec"), {})  # noqa: S102
    assert capsys.readouterr().out.startswith(f"{fake_azure.url}/files/")
    assert fake_azure.requests[0].path == "/openai/deployments/dall-e-3/images/generations"
