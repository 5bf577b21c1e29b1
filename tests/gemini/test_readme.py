"""The Gemini API examples of the root README and of the plugin's run as written, against the fake (pointed
at by the environment)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from imagegen.testing import png_image
from tests.fakes.gemini_fake import API_KEY, FakeGemini
from tests.readme import ROOT, python_example


@pytest.fixture
def run_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        monkeypatch.setenv("GEMINI_API_KEY", API_KEY)
        monkeypatch.setenv("GEMINI_API_BASE", fake.url)
        monkeypatch.chdir(tmp_path)
        for name in ("otter.png", "cat.png", "sofa.png"):
            (tmp_path / name).write_bytes(png_image(64, 64))
        yield fake


def test_the_root_readme_example_runs(run_example: FakeGemini, capsys: pytest.CaptureFixture[str]) -> None:
    exec(compile(python_example("### The Gemini API"), "README.md", "exec"), {})  # noqa: S102

    first, second = capsys.readouterr().out.splitlines()
    # Two images of 1290 tokens at $30 per million, 7 prompt and 10 text tokens each: about $0.039 an image.
    assert first == "Here is the image: A nano banana dish 0.0774542"
    assert second == "1 2010"  # a 4K image's 2000 tokens and 10 of text


def test_the_plugin_readme_example_runs(run_example: FakeGemini, capsys: pytest.CaptureFixture[str]) -> None:
    readme = ROOT / "plugins" / "gemini" / "README.md"
    exec(compile(python_example("# imagegen-gemini", readme), "README.md", "exec"), {})  # noqa: S102

    assert capsys.readouterr().out.splitlines() == [
        "Here is the image: A nano banana dish in a fancy restaurant",
        "1300 0.0387271",
    ]
    assert [request.path.rpartition("/")[2] for request in run_example.requests] == [
        "gemini-2.5-flash-image:generateContent",
        *["gemini-3-pro-image-preview:generateContent"] * 3,
        "gemini-2.5-flash-image:generateContent",
    ]
