"""The proxies under load: imagegen-proxy vs the LiteLLM proxy vs the upstream alone, driven by wrk.

Both proxies get the same LiteLLM-style config (one model in front of the fake upstream, a master
key) and the same number of worker processes. For each image size: latency at concurrency 1 (the
p50 added over the upstream alone), throughput at concurrency 16 and 64, and the server's peak RSS
(its whole process tree) under that load. A byte relay (`tcp_relay.py`: one process, no HTTP work)
in front of the same upstream shows the ceiling this machine allows any single-process proxy.

The fake upstream answers at once by default, which makes it far faster than any real one: a 2 MB
answer then costs only memory copies, and the proxy's two extra copies are what limit it. A scenario
can add latency to each upstream answer; see `ISSUE_UPSTREAM_LATENCY_MS`.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import environment
from environment import BENCHMARKS, Interpreter
from processes import UPSTREAM_KEY, PeakRss, fake_upstream, free_port, server
from report import Section, Table, ratio

MASTER_KEY = "sk-bench-master"
MODEL_NAME = "gpt-image-1"
REQUEST_BODY = json.dumps({"model": MODEL_NAME, "prompt": "A cute baby sea otter", "n": 1})
CONCURRENCY = [1, 16, 64]
THROUGHPUT_TARGET_VS_LITELLM = 10
ADDED_P50_TARGET_MS = 1
LARGE_THROUGHPUT_TARGET_VS_UPSTREAM = 0.8
RSS_TARGET_MB = 150
RELAY = "byte relay (ceiling)"
OURS = "imagegen-proxy"
OURS_WITHOUT_SPEND_LOG = "imagegen-proxy, disable_spend_logs"
ISSUE_UPSTREAM_LATENCY_MS = 170.0
"""Per answer: the fake then serves ≈ 92 req/s at c=16 with 2 MB images, as the upstream issue 8 measured
LiteLLM against did (real image models take seconds per image, not 170 ms)."""


@dataclass(frozen=True)
class Scenario:
    """What the upstream answers: one image of `image_bytes`, after `latency_ms`."""

    image_bytes: int
    latency_ms: float = 0.0

    @property
    def large(self) -> bool:
        return self.image_bytes >= 1024 * 1024

    def describe(self) -> str:
        size = self.image_bytes / 1024
        size_text = f"{size:.0f} KB" if not self.large else f"{size / 1024:.0f} MB"
        latency = f", upstream latency {self.latency_ms:g} ms" if self.latency_ms else ""
        return f"{size_text} image{latency}"


@dataclass
class Load:
    """One wrk run's summary."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class Target:
    name: str
    loads: dict[int, Load] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    skipped: str | None = None


def config(upstream_api_base: str, spend_logs: bool = True) -> str:
    """The config both proxies get. LiteLLM, without a database, writes no spend log; imagegen-proxy by
    default writes a row per request to SQLite, unless `disable_spend_logs` (LiteLLM's setting) is set."""
    return f"""\
model_list:
  - model_name: {MODEL_NAME}
    litellm_params:
      model: openai/{MODEL_NAME}
      api_base: {upstream_api_base}
      api_key: {UPSTREAM_KEY}
general_settings:
  master_key: {MASTER_KEY}
  disable_spend_logs: {str(not spend_logs).lower()}
litellm_settings:
  set_verbose: false
"""


@dataclass(frozen=True)
class Body:
    """What wrk posts: JSON given inline, or a file (a multipart upload of megabytes), and its content type."""

    text: str = REQUEST_BODY
    file: Path | None = None
    content_type: str = "application/json"


JSON_BODY = Body()


def wrk(url: str, key: str, connections: int, seconds: float, body: Body = JSON_BODY) -> Load:
    wrk_binary = environment.wrk()
    assert wrk_binary is not None
    command = [wrk_binary, "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s"]
    command += ["-s", str(BENCHMARKS / "wrk_report.lua"), url]
    env = {**os.environ, "WRK_KEY": key, "WRK_CONTENT_TYPE": body.content_type}
    env.update({"WRK_BODY_FILE": str(body.file)} if body.file else {"WRK_BODY": body.text})
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds + 60, check=True)
    line = next(line for line in result.stdout.splitlines() if line.startswith("WRK_JSON "))
    summary = json.loads(line.removeprefix("WRK_JSON "))
    return Load(
        requests=summary["requests"],
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        failed=summary["errors"] + summary["non_2xx"],
    )


def check_answers(url: str, key: str) -> None:
    """One request by hand: a proxy that answers errors fast must not look fast."""
    request = urllib.request.Request(  # noqa: S310 (a loopback URL we built)
        url, data=REQUEST_BODY.encode(), headers={"authorization": f"Bearer {key}", "content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"answered {exc.code}: {exc.read()[:300]!r}") from None
    if len(body.get("data", [])) != 1 or not body["data"][0].get("b64_json"):
        raise RuntimeError(f"answered without an image: {str(body)[:300]}")


def load(target: Target, url: str, key: str, pid: int, seconds: float) -> None:
    check_answers(url, key)
    wrk(url, key, 16, min(seconds, 2))  # warm-up: connections, caches, JIT-free but lazy imports
    with PeakRss(pid) as rss:
        for connections in CONCURRENCY:
            target.loads[connections] = wrk(url, key, connections, seconds)
    target.peak_rss_mb = rss.peak_mb


def measure(litellm: Interpreter, scenarios: list[Scenario], seconds: float, workers: int) -> Section:
    section = Section(f"Proxy under load (wrk, {seconds:g} s per point, {workers} server worker(s) per proxy)")
    if environment.wrk() is None:
        section.skipped = "wrk is not installed (`apt-get install -y wrk`)"
        return section
    logs = Path(tempfile.mkdtemp(prefix="imagegen-bench-proxy-"))  # kept: the servers' logs explain a skip
    for scenario in scenarios:
        with fake_upstream(scenario.image_bytes, scenario.latency_ms) as upstream:
            config_path = logs / "config.yaml"
            config_path.write_text(config(upstream.api_base))
            (logs / "config-no-spend-log.yaml").write_text(config(upstream.api_base, spend_logs=False))
            targets = [Target("upstream alone")]
            load(targets[0], f"{upstream.api_base}/images/generations", UPSTREAM_KEY, upstream.pid, seconds)
            for name, start in proxies(litellm, config_path, workers, logs, upstream.url).items():
                target = Target(name)
                targets.append(target)
                if isinstance(start, str):
                    target.skipped = start
                    continue
                try:
                    with start() as (url, key, pid):
                        load(target, url, key, pid, seconds)
                except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                    target.skipped = str(exc)
        section.tables.append(_table(targets, scenario))
        section.notes += _verdicts(targets, scenario)
    section.notes.append(
        "added p50 = the target's p50 at concurrency 1 minus the upstream's alone; RSS is the server's whole "
        f"process tree (workers included), sampled every 100 ms during the load. Server logs: {logs}"
    )
    return section


Start = Callable[[], AbstractContextManager[tuple[str, str, int]]]  # URL, key, pid


def proxies(
    litellm: Interpreter, config_path: Path, workers: int, logs: Path, upstream_url: str
) -> dict[str, Start | str]:
    """How to start each proxy, or why it cannot be."""
    project_bin = environment.PROJECT_PYTHON.parent
    proxies: dict[str, Start | str] = {}
    proxies[RELAY] = lambda: _serving(
        [environment.PROJECT_PYTHON, BENCHMARKS / "tcp_relay.py", "--upstream", upstream_url.removeprefix("http://")],
        environment.project(), logs / "tcp-relay.log", key=UPSTREAM_KEY,
    )  # fmt: skip
    variants = {OURS: "config.yaml", OURS_WITHOUT_SPEND_LOG: "config-no-spend-log.yaml"}
    for name, config_name in variants.items():
        if not environment.has_module("imagegen_proxy"):
            proxies[name] = "imagegen-proxy is not installed (`pip install -e proxy`)"
            continue
        proxies[name] = functools.partial(
            _serving,
            [project_bin / "imagegen", "serve", "--config", logs / config_name, "--host", "127.0.0.1",
             "--workers", str(workers)],
            environment.project(), logs / f"imagegen-proxy-{config_name.removesuffix('.yaml')}.log",
        )  # fmt: skip
    if litellm.python is not None:
        proxies["litellm proxy"] = lambda: _serving(
            [litellm.python.parent / "litellm", "--config", config_path, "--host", "127.0.0.1",  # type: ignore[union-attr]
             "--num_workers", str(workers)],
            litellm, logs / "litellm-proxy.log",
        )  # fmt: skip
    else:
        proxies["litellm proxy"] = str(litellm.missing)
    return proxies


@contextmanager
def _serving(
    command: list[str | Path], interpreter: Interpreter, log: Path, key: str = MASTER_KEY
) -> Iterator[tuple[str, str, int]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with server([*command, "--port", str(port)], interpreter.env(), f"{base}/health/liveliness", log) as pid:
            yield f"{base}/v1/images/generations", key, pid
    except RuntimeError as exc:
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        raise RuntimeError(f"{exc}; its last words: {lines[-1][:300] if lines else 'none'}") from None


def _table(targets: list[Target], scenario: Scenario) -> Table:
    table = Table(
        ["target", "c=1 p50 ms", "c=1 p99 ms", "added p50 ms", "req/s c=16", "req/s c=64",
         "c=16 vs litellm", "c=16 vs upstream", "peak RSS MB", "failed requests"],
        caption=f"{scenario.describe()} (response body {scenario.image_bytes * 4 / 3 / 1024:.0f} KB of base64)",
    )  # fmt: skip
    upstream, litellm = targets[0], find(targets, "litellm proxy")
    for target in targets:
        if target.skipped:
            table.rows.append([target.name, f"skipped: {target.skipped}"] + [""] * 8)
            continue
        one, sixteen, many = target.loads[1], target.loads[16], target.loads[64]
        table.rows.append([
            target.name, f"{one.p50_ms:.2f}", f"{one.p99_ms:.2f}", f"{one.p50_ms - upstream.loads[1].p50_ms:+.2f}",
            f"{sixteen.rps:,.0f}", f"{many.rps:,.0f}",
            ratio(sixteen.rps, litellm.loads[16].rps if litellm else None),
            ratio(sixteen.rps, upstream.loads[16].rps), f"{target.peak_rss_mb:.0f}",
            str(sum(load.failed for load in target.loads.values())),
        ])  # fmt: skip
    return table


def find(targets: list[Target], name: str) -> Target | None:
    return next((t for t in targets if t.name == name and not t.skipped), None)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _verdicts(targets: list[Target], scenario: Scenario) -> list[str]:
    ours, litellm, upstream = find(targets, OURS), find(targets, "litellm proxy"), targets[0]
    if ours is None:
        return []

    if not scenario.large:
        added = ours.loads[1].p50_ms - upstream.loads[1].p50_ms
        lines = [f"target ≤ {ADDED_P50_TARGET_MS} ms added p50 at c=1 (1 KB): {added:.2f} ms, {verdict(added <= 1)}"]
        if litellm:
            times = ours.loads[16].rps / litellm.loads[16].rps
            lines.append(
                f"target ≥ {THROUGHPUT_TARGET_VS_LITELLM}× LiteLLM's throughput at c=16 (1 KB): {times:.1f}×, "
                f"{verdict(times >= THROUGHPUT_TARGET_VS_LITELLM)} (with its default spend log row per request)"
            )
            if like_for_like := find(targets, OURS_WITHOUT_SPEND_LOG):
                lines.append(
                    f"like for like (no spend log, as LiteLLM without a database): "
                    f"{like_for_like.loads[16].rps / litellm.loads[16].rps:.1f}× LiteLLM's throughput at c=16"
                )
        return lines
    share = ours.loads[16].rps / upstream.loads[16].rps
    size = scenario.describe()
    relay = find(targets, RELAY)
    ceiling = []
    if relay:
        ceiling.append(
            f"ceiling at c=16 ({size}): a byte relay doing no HTTP work at all reaches "
            f"{relay.loads[16].rps / upstream.loads[16].rps:.2f}× the upstream's throughput on this machine; "
            f"imagegen-proxy reaches {ours.loads[16].rps / relay.loads[16].rps:.2f}× the relay's"
        )
    return [
        *ceiling,
        f"target ≥ {LARGE_THROUGHPUT_TARGET_VS_UPSTREAM}× the upstream's throughput at c=16 ({size}): {share:.2f}×, "
        f"{verdict(share >= LARGE_THROUGHPUT_TARGET_VS_UPSTREAM)}",
        f"target RSS ≤ {RSS_TARGET_MB} MB under load ({size}): {ours.peak_rss_mb:.0f} MB, "
        f"{verdict(ours.peak_rss_mb <= RSS_TARGET_MB)}",
    ]
