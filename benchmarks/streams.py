"""Streamed answers through the proxy (issue 14): how soon each event passes, and the memory it takes.

The fake upstream streams `--partial-images` partial images and the completed one as Server-Sent Events,
each stamped with the time it was written (`sent_ns`, the machine's monotonic clock);
`stream_client.py` keeps 16 streams going and notes when each stream's first event arrived. Through
imagegen-proxy that delay minus the same delay from the upstream alone is what the proxy adds. A second
run streams 2 MB images (three partials, then the final one) for the proxy's peak RSS. LiteLLM is not
measured: it does not stream images (its issues #16059 and #19569).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import environment
import proxy
from environment import BENCHMARKS
from processes import UPSTREAM_KEY, PeakRss, fake_upstream
from report import Section, Table

CONNECTIONS = 16
PARTIAL_IMAGES = 3
ADDED_P50_TARGET_MS = 1.0
ADDED_P99_TARGET_MS = 5.0
LARGE_RSS_TARGET_MB = 200
STREAM_BODY = json.dumps(
    {"model": proxy.MODEL_NAME, "prompt": "A cute baby sea otter", "stream": True, "partial_images": PARTIAL_IMAGES}
)


@dataclass(frozen=True)
class Scenario:
    image_bytes: int
    event_interval_ms: float

    def describe(self) -> str:
        size = f"{self.image_bytes // 1024} KB" if self.image_bytes < 1024 * 1024 else "2 MB"
        return (
            f"{PARTIAL_IMAGES} partial images and the final one of {size}, {self.event_interval_ms:g} ms apart, "
            f"c={CONNECTIONS}"
        )


NO_LITELLM = environment.Interpreter("litellm", None, missing="LiteLLM does not stream images")
LATENCY = Scenario(1024, 20)
MEMORY = Scenario(2 * 1024 * 1024, 0)


@dataclass
class Run:
    name: str
    streams: int = 0
    events: int = 0
    errors: int = 0
    seconds: float = 0.0
    first_event_us: tuple[float, float, float] = (0.0, 0.0, 0.0)  # p50, p90, p99
    peak_rss_mb: float = 0.0
    skipped: str | None = None


def client(url: str, key: str, seconds: float) -> Run:
    command = [sys.executable, str(BENCHMARKS / "stream_client.py"), url, key, STREAM_BODY,
               "--connections", str(CONNECTIONS), "--seconds", str(seconds)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=True)
    line = next(line for line in result.stdout.splitlines() if line.startswith("STREAM_JSON "))
    summary = json.loads(line.removeprefix("STREAM_JSON "))
    return Run("", summary["streams"], summary["events"], summary["errors"], summary["seconds"],
               tuple(summary["first_event_us"]))  # fmt: skip


def measure(seconds: float, workers: int) -> Section:
    section = Section(f"Streams: image events through the proxy ({seconds:g} s per run, {workers} worker(s))")
    if not environment.has_module("imagegen_proxy"):
        section.skipped = "imagegen-proxy is not installed (`pip install -e proxy`)"
        return section
    logs = Path(tempfile.mkdtemp(prefix="imagegen-bench-streams-"))
    runs: dict[Scenario, list[Run]] = {}
    for scenario in (LATENCY, MEMORY):
        options = ["--partial-images", str(PARTIAL_IMAGES), "--event-interval-ms", str(scenario.event_interval_ms)]
        with fake_upstream(scenario.image_bytes, extra=options) as upstream:
            config_path = logs / "config.yaml"
            config_path.write_text(proxy.config(upstream.api_base))
            alone = _run("upstream alone", f"{upstream.api_base}/images/generations", UPSTREAM_KEY, upstream.pid,
                         seconds)  # fmt: skip
            start = proxy.proxies(NO_LITELLM, config_path, workers, logs, upstream.url)[proxy.OURS]
            assert not isinstance(start, str)  # imagegen-proxy is installed: checked above
            with start() as (url, key, pid):
                runs[scenario] = [alone, _run(proxy.OURS, url, key, pid, seconds)]
        section.tables.append(_table(scenario, runs[scenario]))
    section.notes += _verdicts(runs)
    section.notes.append(
        "first event delay = when the client had the first event's last byte minus when the upstream wrote it "
        "(one monotonic clock for every process); added = through the proxy minus from the upstream alone. "
        "LiteLLM is not in this table: it does not stream images (its issues #16059 and #19569). "
        f"Server logs: {logs}"
    )
    return section


def _run(name: str, url: str, key: str, pid: int, seconds: float) -> Run:
    with PeakRss(pid) as rss:
        run = client(url, key, seconds)
    run.name, run.peak_rss_mb = name, rss.peak_mb
    return run


def _table(scenario: Scenario, runs: list[Run]) -> Table:
    table = Table(
        ["target", "streams/s", "events/s", "first event p50 µs", "p90 µs", "p99 µs", "added p50 µs",
         "added p99 µs", "peak RSS MB", "failed streams"],
        caption=scenario.describe(),
    )  # fmt: skip
    alone = runs[0]
    for run in runs:
        if run.skipped:
            table.rows.append([run.name, f"skipped: {run.skipped}"] + [""] * 8)
            continue
        p50, p90, p99 = run.first_event_us
        table.rows.append([
            run.name, f"{run.streams / run.seconds:,.0f}", f"{run.events / run.seconds:,.0f}", f"{p50:,.0f}",
            f"{p90:,.0f}", f"{p99:,.0f}", f"{p50 - alone.first_event_us[0]:+,.0f}",
            f"{p99 - alone.first_event_us[2]:+,.0f}", f"{run.peak_rss_mb:.0f}", str(run.errors),
        ])  # fmt: skip
    return table


def _verdicts(runs: dict[Scenario, list[Run]]) -> list[str]:
    lines = []
    alone, ours = runs[LATENCY]
    if not ours.skipped:
        added_p50 = (ours.first_event_us[0] - alone.first_event_us[0]) / 1000
        added_p99 = (ours.first_event_us[2] - alone.first_event_us[2]) / 1000
        lines.append(
            f"target added p50 ≤ {ADDED_P50_TARGET_MS:g} ms, p99 ≤ {ADDED_P99_TARGET_MS:g} ms from the upstream's "
            f"first event to the client ({LATENCY.describe()}): {added_p50:.2f} ms, {added_p99:.2f} ms, "
            f"{proxy.verdict(added_p50 <= ADDED_P50_TARGET_MS and added_p99 <= ADDED_P99_TARGET_MS)}"
        )
    _, large = runs[MEMORY]
    if not large.skipped:
        lines.append(
            f"target peak RSS ≤ {LARGE_RSS_TARGET_MB} MB ({MEMORY.describe()}): {large.peak_rss_mb:.0f} MB, "
            f"{proxy.verdict(large.peak_rss_mb <= LARGE_RSS_TARGET_MB)}"
        )
    return lines
