"""Child processes of a benchmark run: the fake upstream, servers under test, and their memory.

Every process started here is stopped by the context manager that started it, by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from environment import BENCHMARKS

UPSTREAM_KEY = "sk-bench-upstream"


@dataclass
class Upstream:
    url: str  # http://127.0.0.1:PORT
    pid: int

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"


@contextlib.contextmanager
def fake_upstream(
    image_bytes: int, latency_ms: float = 0.0, jobs: int = 0, extra: Sequence[str] = ()
) -> Iterator[Upstream]:
    """The fast fake OpenAI upstream (benchmarks/fake_upstream.py) in its own process; with `jobs`, BFL's
    job API whose jobs are ready at that poll; `extra`: more options."""
    command = [sys.executable, str(BENCHMARKS / "fake_upstream.py"), "--image-bytes", str(image_bytes)]
    command += ["--latency-ms", str(latency_ms), "--jobs", str(jobs), *extra]
    with started(command) as process:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fake upstream did not start: {line!r}")
        yield Upstream(f"http://127.0.0.1:{line.split()[1]}", process.pid)


@contextlib.contextmanager
def server(
    command: Sequence[str | Path], env: dict[str, str], ready_url: str, log: Path, timeout: float = 90
) -> Iterator[int]:
    """A server under test; yields its pid once `ready_url` answers. Its output goes to `log`."""
    with open(log, "wb") as output, started(command, env=env, stdout=output) as process:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"exited with {process.returncode} before it was ready")
            try:
                with urllib.request.urlopen(ready_url, timeout=2):  # noqa: S310 (a loopback URL we built)
                    break
            except urllib.error.HTTPError:
                break  # it answers: ready, whatever it thinks of this route
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {timeout:.0f} s") from None
                time.sleep(0.2)
        yield process.pid


@contextlib.contextmanager
def started(
    command: Sequence[str | Path],
    env: dict[str, str] | None = None,
    stdout: IO[Any] | int = subprocess.PIPE,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """A child process, stopped (SIGTERM to its process group, then SIGKILL) when the block ends."""
    stderr = None if stdout is subprocess.PIPE else subprocess.STDOUT  # a log file gets both streams
    process = subprocess.Popen(  # its own session, so its workers stop with it
        [str(part) for part in command], stdout=stdout, stderr=stderr, text=True, env=env, start_new_session=True,
        cwd=cwd,
    )  # fmt: skip
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # the group we created for it: the server and its workers
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.stdout is not None and not isinstance(process.stdout, int):
        process.stdout.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry.name}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    total_kb, pending = 0, [pid]
    while pending:
        current = pending.pop()
        total_kb += _rss_kb(current)
        pending.extend(children.get(current, []))
    return total_kb / 1024


def _rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError, StopIteration, ValueError), open(f"/proc/{pid}/status") as status:
        return int(next(line.split()[1] for line in status if line.startswith("VmRSS:")))
    return 0


class PeakRss:
    """Samples a process tree's RSS in the background (every 100 ms) and keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))
            self._stop.wait(0.1)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
