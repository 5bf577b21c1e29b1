"""A third-party plugin (tests/plugins/imagegen-acme, installed like any distribution) is first-class."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import importlib_metadata
import pytest

import imagegen
from imagegen.plugins import registry
from imagegen.scaffold import render_plugin, write_plugin

EXAMPLE = Path(__file__).parents[1] / "plugins" / "imagegen-acme"


def test_the_committed_example_is_exactly_what_the_template_generates() -> None:
    generated = render_plugin("acme")
    committed = {
        p.relative_to(EXAMPLE): p.read_text()
        for p in EXAMPLE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p)
    }
    assert committed == generated


def test_the_example_is_installed_as_a_distribution_not_imported_by_path() -> None:
    dist = importlib_metadata.distribution("imagegen-acme")
    assert [ep.name for ep in dist.entry_points.select(group="imagegen.providers")] == ["acme"]


def test_its_prefix_and_its_bare_model_name_route_to_it() -> None:
    assert registry.resolve("acme/acme-image-1")[0].distribution == "imagegen-acme"
    assert registry.resolve("acme-image-1")[0].prefix == "acme"


def test_imagegen_plugins_lists_it() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "imagegen.cli", "plugins", "--json"], capture_output=True, text=True, check=True
    )
    rows = {row["prefix"]: row for row in json.loads(out.stdout)}
    assert rows["acme"]["distribution"] == "imagegen-acme"
    assert rows["acme"]["models"] == ["acme-image-1"]


def test_its_errors_are_imagegens_errors() -> None:
    with pytest.raises(imagegen.AuthenticationError, match="ACME_API_KEY"):
        imagegen.image_generation("otter", model="acme/acme-image-1")


def test_new_plugin_refuses_a_bad_name_and_an_existing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lower-case"):
        write_plugin("Acme Corp", tmp_path)
    write_plugin("acme-ai", tmp_path)
    assert (tmp_path / "imagegen-acme-ai" / "src" / "imagegen_acme_ai" / "__init__.py").exists()
    with pytest.raises(FileExistsError):
        write_plugin("acme-ai", tmp_path)


def test_a_generated_plugin_passes_its_own_tests_as_generated(tmp_path: Path) -> None:
    # Generated fresh (name `zeta`), installed into nothing: its module is put on the path of a pytest subprocess,
    # and its entry point is provided by a dist-info, exactly as an installed copy would be.
    folder = write_plugin("zeta", tmp_path)
    info = tmp_path / "site" / "imagegen_zeta-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: imagegen-zeta\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[imagegen.providers]\nzeta = imagegen_zeta\n")
    env_path = f"{tmp_path / 'site'}:{folder / 'src'}"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(folder), str(folder / "tests")],
        capture_output=True, text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, check=False, cwd=folder,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:]
    assert "passed" in result.stdout
