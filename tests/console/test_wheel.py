"""`pip install imagegen-proxy` is all the console needs: its files are in the proxy's wheel."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.packaging.test_distributions import ROOT, build_wheel

STATIC = ROOT / "proxy" / "src" / "imagegen_proxy" / "console" / "static"


def test_the_proxy_wheel_carries_every_console_file(tmp_path: Path) -> None:
    wheel = build_wheel(ROOT / "proxy", tmp_path)

    names = set(zipfile.ZipFile(wheel).namelist())
    console_files = {f"imagegen_proxy/console/static/{p.relative_to(STATIC)}" for p in STATIC.rglob("*") if p.is_file()}
    assert "imagegen_proxy/console/static/index.html" in console_files
    assert console_files <= names
