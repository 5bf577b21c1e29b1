"""Starting the real proxy for tests: `imagegen serve` in a subprocess, on a free port of 127.0.0.1.

    def test_something(start_proxy, fake_openai):
        proxy = start_proxy({"model_list": [...], "general_settings": {"master_key": MASTER_KEY}})
        proxy.openai().images.generate(model="gpt-image-1", prompt="otter")

`start_proxy` writes the config (a dict or YAML text) to `tmp_path` (a Path is served where it is),
waits for /health/readiness and stops the server after the test. For a server shared by a module, use `ProxyLauncher` with
`tmp_path_factory`. The subprocess sees no provider variables of the developer's shell.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from imagegen.testing import FakeResponse
from tests.conftest import _PROVIDER_ENV
from tests.fakes.openai_fake import FakeOpenAI
from tests.services import postgres_url, redis_url  # noqa: F401 (fixtures for the replica tests)

MASTER_KEY = "sk-master-test-0123456789"
UPSTREAM_KEY = "sk-upstream-test-key-1234"
STARTUP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without provider settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PROVIDER_ENV)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def write_config(directory: Path, config: Mapping[str, Any] | str, name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(dict(config), sort_keys=False))
    return path


def run_serve(args: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`imagegen serve ARGS` run to completion (for --check and refusals)."""
    return subprocess.run(
        [sys.executable, "-m", "imagegen.cli", "serve", *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class RunningProxy:
    """A proxy server process and the ways to talk to it."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
        self.process = process
        self.url = url
        self.log_path = log_path

    def logs(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for_logs(self, condition: Callable[[str], bool], what: str, timeout: float = 60) -> None:
        """Polls the logs until `condition(logs)` holds; a hang guard, not a timing."""
        deadline = time.monotonic() + timeout
        while not condition(self.logs()):
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}; logs:\n{self.logs()}")
            time.sleep(0.02)

    def openai(self, api_key: str = MASTER_KEY, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(api_key=api_key, base_url=f"{self.url}/v1", max_retries=0, **kwargs)

    def http(self, api_key: str | None = MASTER_KEY) -> httpx.Client:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def post_generation(
        self, body: Any, api_key: str | None = MASTER_KEY, path: str = "/v1/images/generations"
    ) -> httpx.Response:
        with self.http(api_key) as client:
            return client.post(path, json=body)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM (a graceful shutdown), then the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


class ProxyLauncher:
    """Starts proxies from configs written to `directory`; `close()` stops them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.running: list[RunningProxy] = []

    def __call__(
        self,
        config: Mapping[str, Any] | str | Path,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        name: str | None = None,
        open_files: tuple[int, int] | None = None,
    ) -> RunningProxy:
        """`open_files`: the (soft, hard) RLIMIT_NOFILE the server starts with."""
        name = name or f"proxy-{len(self.running)}"
        config_path = config if isinstance(config, Path) else write_config(self.directory, config, f"{name}.yaml")
        log_path = self.directory / f"{name}.log"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "imagegen.cli", "serve", "--config", str(config_path),
                 "--host", "127.0.0.1", "--port", str(port), *args],
                env=clean_env(env), stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, open_files)) if open_files else None,
            )  # fmt: skip
        proxy = RunningProxy(process, url, log_path)
        self.running.append(proxy)
        _wait_ready(proxy)
        return proxy

    def close(self) -> None:
        for proxy in self.running:
            proxy.stop()


def recorded(proxy: RunningProxy, model_group: str) -> dict[str, Any]:
    """The spend log row of the one request to `model_group` (rows are written in batches, off the response path)."""
    deadline = time.monotonic() + 10
    with proxy.http(MASTER_KEY) as client:
        while True:
            rows = [row for row in client.get("/spend/logs").json() if row["model_group"] == model_group]
            if rows or time.monotonic() > deadline:
                [row] = rows
                return dict(row)
            time.sleep(0.05)


@contextlib.contextmanager
def serving(directory: Path, config: Mapping[str, Any] | str) -> Iterator[RunningProxy]:
    """One proxy for a module's tests: `with serving(tmp_path_factory.mktemp("proxy"), config) as proxy: …`."""
    launcher = ProxyLauncher(directory)
    try:
        yield launcher(config)
    finally:
        launcher.close()


def _wait_ready(proxy: RunningProxy) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"the proxy exited with {proxy.process.returncode}:\n{proxy.logs()}")
        try:
            if httpx.get(f"{proxy.url}/health/readiness", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    proxy.stop()
    raise RuntimeError(f"the proxy was not ready within {STARTUP_TIMEOUT} s:\n{proxy.logs()}")


def in_one_minute(seconds_needed: float = 8.0) -> None:
    """Wait for the next minute of the clock when fewer than `seconds_needed` remain of this one: rpm limits
    count in minutes of the clock, so what a test sends must fall in one."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.05)


def openai_deployment(name: str, upstream: FakeOpenAI, model: str | None = None, **params: Any) -> dict[str, Any]:
    """A model_list entry serving `name` from the fake OpenAI upstream."""
    return {
        "model_name": name,
        "litellm_params": {"model": f"openai/{model or name}", "api_base": upstream.api_base,
                           "api_key": UPSTREAM_KEY, **params},
    }  # fmt: skip


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[ProxyLauncher]:
    launcher = ProxyLauncher(tmp_path)
    yield launcher
    launcher.close()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


class GatedOpenAI(FakeOpenAI):
    """A fake OpenAI that holds each generation until `release()`: for in-flight behaviour."""

    def __init__(self) -> None:
        super().__init__(api_keys=(UPSTREAM_KEY,))
        self.gate = threading.Event()

    def generate(self, body: dict[str, Any]) -> FakeResponse:
        self.gate.wait(STARTUP_TIMEOUT)
        return super().generate(body)

    def release(self) -> None:
        self.gate.set()

    def wait_for_requests(self, count: int) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fake got {len(self.requests)} of {count} requests")
            time.sleep(0.005)
