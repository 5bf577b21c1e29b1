"""The root README's Gemini API example runs as written, against the fake (pointed at by the environment)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagegen.testing import png_image
from tests.fakes.gemini_fake import API_KEY, FakeGemini

ROOT = Path(__file__).parents[2]


def example() -> str:
    section = (ROOT / "README.md").read_text().split("### The Gemini API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the section has a python example"
    return match.group(1)


def test_the_readme_example_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeGemini() as fake:
        monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
        monkeypatch.setenv("GEMINI_API_BASE", fake.url)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "otter.png").write_bytes(png_image(64, 64))
        exec(compile(example(), "README.md", "exec"), {})  # noqa: S102
    first, second = capsys.readouterr().out.splitlines()
    # Two images of 1290 tokens at $30 per million, 7 prompt and 10 text tokens each: about $0.039 an image.
    assert first == "Here is the image: A nano banana dish 0.0774542"
    assert second == "1 2010"  # a 4K image's 2000 tokens and 10 of text
