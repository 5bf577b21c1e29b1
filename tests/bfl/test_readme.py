"""The root README's BFL and fal example runs as written, against the fakes (pointed at by the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegen.testing import png_image
from tests.fakes import bfl_fake, fal_fake
from tests.readme import python_example


def test_the_readme_example_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with bfl_fake.FakeBFL() as bfl, fal_fake.FakeFal() as fal:
        monkeypatch.setenv("BFL_API_KEY", bfl_fake.API_KEY)
        monkeypatch.setenv("BFL_API_BASE", bfl.url)
        monkeypatch.setenv("FAL_KEY", fal_fake.API_KEY)
        monkeypatch.setenv("FAL_API_BASE", fal.url)
        monkeypatch.chdir(tmp_path)
        (tmp_path / "otter.png").write_bytes(png_image(64, 64))
        exec(compile(python_example("### Black Forest Labs and fal"), "README.md", "exec"), {})  # noqa: S102
    printed = capsys.readouterr().out
    assert printed.startswith(f"{bfl.delivery_url}/results/task-1/sample.jpeg")
    assert printed.rstrip().endswith(" 0.03859")  # BFL's cost for 1.57 megapixels: 3 + 0.57 x 1.5 credits
