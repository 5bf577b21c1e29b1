"""The two interpreters the benchmarks compare (the project's venv and LiteLLM's own), and the machine.

LiteLLM is never a project dependency: it lives in `benchmarks/.venv-litellm` (gitignored), created
and pinned here on first use.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
LITELLM_VERSION = "1.100.5"  # the version issue 8 measured; 1.x, pinned so runs compare
LITELLM_VENV = BENCHMARKS / ".venv-litellm"
PROJECT_PYTHON = Path(sys.executable)

# LiteLLM fetches its model price map from the internet at import unless told not to.
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False"}


@dataclass
class Interpreter:
    """A Python that can run a benchmark child script, or why it cannot."""

    name: str
    python: Path | None
    version: str = ""
    missing: str | None = None

    def env(self) -> dict[str, str]:
        extra = LITELLM_ENV if self.name == "litellm" else {}
        return {**os.environ, **extra}


def project() -> Interpreter:
    return Interpreter("project", PROJECT_PYTHON, version=_version("imagegen-core"))


def has_module(name: str) -> bool:
    """Whether the project's interpreter can import `name` (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def litellm(setup: bool = True) -> Interpreter:
    """LiteLLM's interpreter, creating its venv (once) when `setup` is true."""
    python = LITELLM_VENV / "bin" / "python"
    installed = _venv_litellm_version(python)
    if installed != LITELLM_VERSION and setup:
        reason = _install_litellm(python)
        if reason:
            return Interpreter("litellm", None, missing=reason)
        installed = _venv_litellm_version(python)
    if installed != LITELLM_VERSION:
        return Interpreter("litellm", None, missing=f"litellm {LITELLM_VERSION} is not installed in {LITELLM_VENV}")
    return Interpreter("litellm", python, version=installed)


def _venv_litellm_version(python: Path) -> str | None:
    if not python.exists():
        return None
    probe = "import importlib.metadata as m; print(m.version('litellm'))"
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def _install_litellm(python: Path) -> str | None:
    """Creates the venv and installs LiteLLM with its proxy extras; returns why it failed, if it did."""
    print(f"setting up {LITELLM_VENV.relative_to(REPO)} with litellm[proxy]=={LITELLM_VERSION} …", flush=True)
    if not python.exists():
        created = subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], capture_output=True, text=True)
        if created.returncode != 0:
            return f"could not create {LITELLM_VENV}: {created.stderr.strip()[-300:]}"
    pip = [
        str(python),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        f"litellm[proxy]=={LITELLM_VERSION}",
    ]
    installed = subprocess.run(pip, capture_output=True, text=True)
    if installed.returncode != 0:
        return f"pip could not install litellm {LITELLM_VERSION}: {installed.stderr.strip()[-300:]}"
    return None


def _version(distribution: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> dict[str, str]:
    names = ["imagegen-core", "imagegen-openai", "imagegen-bedrock", "imagegen-vertex", "imagegen-azure"]
    names += ["imagegen-proxy", "httpx", "openai", "pydantic"]
    return {name: _version(name) for name in names}


def machine() -> str:
    """One line a reader can compare with their own machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            kb = int(next(line.split()[1] for line in meminfo if line.startswith("MemTotal")))
            memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    load = ", load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} CPUs{memory}{load}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def wrk() -> str | None:
    """The wrk binary, or None."""
    return shutil.which("wrk")
