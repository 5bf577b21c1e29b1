"""Each distribution builds a wheel on its own, and `pip install imagegen-core imagegen-<plugin>` is all a user needs.

These build real wheels and install them into fresh virtual environments (dependencies come from the package
index), then run the installed code: a missing dependency or package-data file fails here, not for a user.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
DISTRIBUTIONS = sorted(p.parent for p in [ROOT / "core" / "pyproject.toml", *ROOT.glob("plugins/*/pyproject.toml")])
PLUGINS = [p for p in DISTRIBUTIONS if p.parent.name == "plugins"]


def build_wheel(source: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    name = source.name if source.name != "core" else "core"
    (wheel,) = [w for w in out.glob("imagegen_*.whl") if w.name.startswith(f"imagegen_{name.replace('-', '_')}-")]
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    return {source.name: build_wheel(source, out) for source in DISTRIBUTIONS}


@pytest.mark.parametrize("source", DISTRIBUTIONS, ids=lambda p: p.name)
def test_each_distribution_builds_a_typed_wheel_on_its_own(wheels: dict[str, Path], source: Path) -> None:
    names = zipfile.ZipFile(wheels[source.name]).namelist()
    assert any(n.endswith("/py.typed") for n in names)
    if source.parent.name == "plugins":
        (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
        text = zipfile.ZipFile(wheels[source.name]).read(entry_points).decode()
        assert "[imagegen.providers]" in text


def test_the_core_wheel_carries_the_plugin_template(wheels: dict[str, Path]) -> None:
    names = zipfile.ZipFile(wheels["core"]).namelist()
    assert "imagegen/plugin_template/src/imagegen_PKG/__init__.py.tmpl" in names


@pytest.mark.parametrize("plugin", PLUGINS, ids=lambda p: p.name)
def test_core_plus_the_plugin_is_all_a_user_needs(wheels: dict[str, Path], plugin: Path, tmp_path: Path) -> None:
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    # A plugin may build on another of ours (Azure reuses OpenAI's rules): offer every local wheel, install two.
    install = [
        str(python),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--find-links",
        str(wheels["core"].parent),
    ]
    subprocess.run([*install, str(wheels["core"]), str(wheels[plugin.name])], check=True, capture_output=True)
    listed = subprocess.run(
        [str(tmp_path / "env" / "bin" / "imagegen"), "plugins", "--json"], capture_output=True, text=True, check=True
    )
    (entry,) = [e for e in json.loads(listed.stdout) if e["distribution"] == f"imagegen-{plugin.name}"]
    assert entry["error"] is None, entry
    if not entry["models"]:
        return  # Azure serves the deployments a call names
    # Its list prices ship in the core wheel's package data: the installed pair prices its first model.
    priced = subprocess.run(
        [str(python), "-c", "import sys; from imagegen import pricing; print(pricing.price_of(*sys.argv[1:]) is not None)",
         entry["prefix"], entry["models"][0]],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert priced.stdout.strip() == "True"
