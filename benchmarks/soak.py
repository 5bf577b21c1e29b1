"""A soak under faults: imagegen-proxy in front of an upstream that breaks in every way, under a steady load.

The upstream is the test suite's fault injector (`tests/faults/upstream.py`) answering a seeded mix:
mostly proper answers, and connections closed or reset, bodies cut short, garbage, 5xx, answers that
stall or drip. An open-loop load runs for a while; then the proxy is stopped with SIGTERM. What must
hold: every request answered (an HTTP status, no dropped connection), one spend row per request, no
file descriptor left behind once idle connections have expired, memory back down.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import proxy
import scale
from environment import REPO
from processes import PeakRss, free_port, server, started, tree_rss_mb
from report import Section, Table

MIX = ("ok=80,close=2,reset_after_headers=2,reset_mid_body=2,truncated_json=2,garbage=2,server_error=3,"
       "unavailable=3,stall=2,drip=1,drip_headers=1")  # fmt: skip
UPSTREAM_LATENCY_MS = 200
DEPLOYMENT_TIMEOUT_S = 2  # what ends a stalled or dripping answer
IDLE_WAIT_S = 75.0  # idle upstream connections expire after 30 s; the pool drops them on its next sweep


@contextlib.contextmanager
def faulty_upstream() -> Iterator[str]:
    """The fault injector in its own process; yields its api_base."""
    command = [sys.executable, "-m", "tests.faults.upstream", "--mix", MIX, "--latency-ms", str(UPSTREAM_LATENCY_MS),
               "--drip-interval", "0.5"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with started(command, env=env, cwd=REPO) as process:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the faulty upstream did not start: {line!r}")
        yield f"http://127.0.0.1:{line.split()[1]}/v1"


def config(api_base: str) -> str:
    deployment = f"""\
  - model_name: {proxy.MODEL_NAME}
    litellm_params:
      model: openai/{proxy.MODEL_NAME}
      api_base: {api_base}
      api_key: sk-soak-upstream
      timeout: {DEPLOYMENT_TIMEOUT_S}
"""
    return f"""\
model_list:
{deployment}{deployment}router_settings:
  num_retries: 1
  retry_after: 0
  allowed_fails: 1000000
general_settings:
  master_key: {proxy.MASTER_KEY}
"""


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def measure(rate: float, seconds: float) -> Section:
    section = Section(f"Soak under upstream faults ({rate:g} new requests a second for {seconds:g} s, imagegen-proxy)")
    logs = Path(tempfile.mkdtemp(prefix="imagegen-bench-soak-"))
    with faulty_upstream() as api_base:
        config_path = logs / "config.yaml"
        config_path.write_text(config(api_base))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [Path(sys.executable).parent / "imagegen", "serve", "--config", config_path, "--host", "127.0.0.1",
                   "--port", str(port), "--drain-timeout", "10"]  # fmt: skip
        with server(command, dict(os.environ), f"{url}/health/liveliness", logs / "imagegen-proxy.log") as pid:
            fds_before, rss_before = open_fds(pid), tree_rss_mb(pid)
            with PeakRss(pid) as rss:
                summary = scale.open_loop(f"{url}/v1/images/generations", proxy.MASTER_KEY, rate, seconds)
            settled_in = _wait_for_descriptors(pid, fds_before)
            fds_after, rss_after = open_fds(pid), tree_rss_mb(pid)
            stop_started = time.monotonic()
        stopped_in = time.monotonic() - stop_started
        rows = _spend_rows(logs / "imagegen.db")
    statuses = summary["statuses"]
    assert isinstance(statuses, dict)
    answered = sum(count for status, count in statuses.items() if status.isdigit())
    requests = summary["requests"]
    table = Table(["what", "measured"])
    table.rows += [
        ["requests sent", f"{requests:,}"],
        ["answers by status", ", ".join(f"{status}: {count:,}" for status, count in sorted(statuses.items()))],
        ["spend log rows", f"{rows:,}"],
        ["file descriptors before → after", f"{fds_before} → {fds_after} (settled in {settled_in:.0f} s)"],
        ["RSS MB before → peak → after", f"{rss_before:.0f} → {rss.peak_mb:.0f} → {rss_after:.0f}"],
        ["SIGTERM to exit", f"{stopped_in:.1f} s (drain timeout 10 s)"],
    ]
    section.tables.append(table)

    def held(ok: bool) -> str:
        return "held" if ok else "NOT held"

    section.notes += [
        f"every request answered with an HTTP status: {answered:,} of {requests:,}, {held(answered == requests)}",
        f"one spend row per request: {rows:,} rows, {held(rows == requests)}",
        f"no descriptor left behind: {fds_after} after vs {fds_before} before, {held(fds_after <= fds_before)}",
        f"the upstream's mix: {MIX}; {UPSTREAM_LATENCY_MS} ms per answer; two deployments of one group, one retry, "
        f"{DEPLOYMENT_TIMEOUT_S} s timeout. Server log: {logs / 'imagegen-proxy.log'}",
    ]
    return section


def _wait_for_descriptors(pid: int, baseline: int) -> float:
    """Seconds until the server is back to its descriptors from before the load (idle connections expire)."""
    started = time.monotonic()
    while open_fds(pid) > baseline and time.monotonic() - started < IDLE_WAIT_S:
        time.sleep(0.5)
    return time.monotonic() - started


def _spend_rows(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        (count,) = connection.execute("SELECT count(*) FROM imagegen_spend_logs").fetchone()
    return int(count)
