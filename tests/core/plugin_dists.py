"""Real installed-distribution layouts (dist-info + module) in a temporary folder, for plugin-loading tests.

Python finds them through the normal importlib.metadata machinery once the folder is on sys.path, so the
code under test runs unchanged; each test runs in a subprocess so nothing leaks into this interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

GOOD_PLUGIN = """
from imagegen import hookimpl
from imagegen.provider import ProviderInfo, ModelSpec, ProviderRequest, ANY

@hookimpl
def provider_info():
    return ProviderInfo(name="{name}", models=(ModelSpec("{model}", {{"n": ANY}}),))

@hookimpl
def map_params(request):
    return {{"prompt": request.prompt}}

@hookimpl
def build_request(request, body):
    return ProviderRequest(url="http://127.0.0.1:9/", json=body)

@hookimpl
def parse_response(request, response):
    raise NotImplementedError
"""


def write_distribution(
    root: Path, dist: str, prefix: str, module: str, source: str, group: str = "imagegen.providers"
) -> None:
    """A distribution `dist` whose entry point `prefix` in `group` names `module`."""
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{prefix} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))


def run_python(root: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter with `root` on sys.path; its last printed line is JSON."""
    environment = {**os.environ, "PYTHONPATH": str(root), **env}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=environment, check=False
    )


def last_json(result: subprocess.CompletedProcess[str]) -> object:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
