"""One worker under an open-loop load (issue 19): how many slow requests a proxy keeps in flight.

An image takes 10 to 60 s, so what limits a gateway is how many requests it holds at once, not how fast
it answers short ones. New requests arrive at a fixed rate (`open_loop.py`, wrk2-style: a slow server
is not sent less) and the fake upstream answers each after 5 s: at 500 a second that is ~2,500 in
flight. Latency is measured from when each request was due; "added" is that minus the upstream's 5 s.
The upstream alone, under the same generator, shows what the harness itself adds.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import environment
import proxy
from environment import BENCHMARKS, Interpreter
from processes import UPSTREAM_KEY, PeakRss, fake_upstream
from report import Section, Table

UPSTREAM_LATENCY_MS = 5000.0
ADDED_P50_TARGET_MS = 50
ADDED_P99_TARGET_MS = 500
RSS_TARGET_MB = 250
REQUEST_TIMEOUT_S = 60.0  # a request unanswered after this counts as an error


@dataclass
class Run:
    """One target under the load: what `open_loop.py` reported, and the server's peak RSS."""

    name: str
    summary: dict[str, object] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    skipped: str | None = None

    @property
    def errors(self) -> int:
        statuses = self.summary.get("statuses", {})
        assert isinstance(statuses, dict)
        return sum(count for status, count in statuses.items() if status != "200")

    def added(self, key: str) -> float:
        value = self.summary[key]
        assert isinstance(value, float | int)
        return float(value) - UPSTREAM_LATENCY_MS


def open_loop(url: str, key: str, rate: float, seconds: float) -> dict[str, object]:
    command = [
        str(environment.PROJECT_PYTHON), str(BENCHMARKS / "open_loop.py"), url, "--rate", str(rate),
        "--seconds", str(seconds), "--key", key, "--body", proxy.REQUEST_BODY, "--timeout", str(REQUEST_TIMEOUT_S),
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + REQUEST_TIMEOUT_S + 120, check=True
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("OPEN_LOOP "))
    summary: dict[str, object] = json.loads(line.removeprefix("OPEN_LOOP "))
    return summary


def measure(litellm: Interpreter, rate: float, seconds: float) -> Section:
    section = Section(
        f"One worker under open-loop load ({rate:g} new requests a second for {seconds:g} s, each upstream answer "
        f"after {UPSTREAM_LATENCY_MS / 1000:g} s)"
    )
    logs = Path(tempfile.mkdtemp(prefix="imagegen-bench-scale-"))
    runs = [Run("upstream alone")]
    with fake_upstream(1024, UPSTREAM_LATENCY_MS) as upstream:
        config_path = logs / "config.yaml"
        config_path.write_text(proxy.config(upstream.api_base))
        (logs / "config-no-spend-log.yaml").write_text(proxy.config(upstream.api_base, spend_logs=False))
        with PeakRss(upstream.pid) as rss:
            runs[0].summary = open_loop(f"{upstream.api_base}/images/generations", UPSTREAM_KEY, rate, seconds)
        runs[0].peak_rss_mb = rss.peak_mb
        for name, start in proxy.proxies(litellm, config_path, 1, logs, upstream.url).items():
            if name == proxy.RELAY:
                continue
            run = Run(name)
            runs.append(run)
            if isinstance(start, str):
                run.skipped = start
                continue
            try:
                with start() as (url, key, pid), PeakRss(pid) as rss:
                    run.summary = open_loop(url, key, rate, seconds)
                run.peak_rss_mb = rss.peak_mb
            except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                run.skipped = str(exc)
    section.tables.append(_table(runs))
    section.notes += _verdicts(runs)
    section.notes.append(
        "added = latency (from when the request was due) minus the upstream's 5 s; errors = anything but a 200 "
        f"within {REQUEST_TIMEOUT_S:g} s; late = how far behind its schedule the generator itself ran (a busy "
        f"machine); RSS is the server's whole process tree, sampled every 100 ms. Server logs: {logs}"
    )
    return section


def _table(runs: list[Run]) -> Table:
    table = Table(["target", "requests", "answered 200", "errors", "added p50 ms", "added p90 ms", "added p99 ms",
                   "added max ms", "peak RSS MB", "generator late ms"])  # fmt: skip
    for run in runs:
        if run.skipped:
            table.rows.append([run.name, f"skipped: {run.skipped}"] + [""] * 8)
            continue
        errors = run.errors
        statuses = run.summary["statuses"]
        error_text = f"{errors:,}" + (f" ({statuses})" if errors else "")
        table.rows.append([
            run.name, f"{run.summary['requests']:,}", f"{run.summary['ok']:,}", error_text,
            f"{run.added('p50_ms'):+,.0f}", f"{run.added('p90_ms'):+,.0f}", f"{run.added('p99_ms'):+,.0f}",
            f"{run.added('max_ms'):+,.0f}", f"{run.peak_rss_mb:.0f}", f"{run.summary['generator_late_ms']:,.0f}",
        ])  # fmt: skip
    return table


def _verdicts(runs: list[Run]) -> list[str]:
    ours = next((run for run in runs if run.name == proxy.OURS and not run.skipped), None)
    if ours is None:
        return []

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    p50, p99 = ours.added("p50_ms"), ours.added("p99_ms")
    return [
        f"target 0 errors: {ours.errors}, {verdict(ours.errors == 0)}",
        f"target added p50 ≤ {ADDED_P50_TARGET_MS} ms: {p50:.0f} ms, {verdict(p50 <= ADDED_P50_TARGET_MS)}",
        f"target added p99 ≤ {ADDED_P99_TARGET_MS} ms: {p99:.0f} ms, {verdict(p99 <= ADDED_P99_TARGET_MS)}",
        f"target peak RSS ≤ {RSS_TARGET_MB} MB: {ours.peak_rss_mb:.0f} MB, "
        f"{verdict(ours.peak_rss_mb <= RSS_TARGET_MB)}",
    ]
