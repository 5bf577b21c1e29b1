"""SDK per-call overhead: raw httpx vs imagegen vs litellm vs the official openai SDK, sync and async.

One warm worker process per client (LiteLLM's in its own venv), all against the same fake upstream;
the parent asks each for a batch of calls in turn, rotating the order every round, so all clients
share the machine's noise. Reported: per-call latency median/p90 and the ratio to raw httpx.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import environment
from environment import BENCHMARKS, Interpreter
from processes import UPSTREAM_KEY, fake_upstream
from report import Section, Table, median, percentile, ratio

SDK_TARGET_RATIO = 1.15


@dataclass
class Client:
    """A worker to start: which client library, in which interpreter, with which target arguments."""

    label: str
    library: str
    interpreter: Interpreter
    arguments: list[str]


@dataclass
class Worker:
    label: str
    process: subprocess.Popen[str]
    log: Path
    durations_us: list[float] = field(default_factory=list)

    def ask(self, calls: int) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(f"{calls}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.label} worker died: {self.log.read_text()[-500:]}")
        self.durations_us += [ns / 1000 for ns in json.loads(line)]

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_worker(client: Client, mode: str, logs: Path, warmup: int) -> Worker:
    assert client.interpreter.python is not None
    log = logs / f"sdk-{client.label}-{mode}.log".replace("/", "-").replace(" ", "-")
    command = [str(client.interpreter.python), str(BENCHMARKS / "sdk_worker.py"), "--client", client.library]
    command += ["--mode", mode, "--warmup", str(warmup), *client.arguments]
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=client.interpreter.env(),
        )
    worker = Worker(client.label, process, log)
    assert process.stdout is not None
    if process.stdout.readline().strip() != "READY":
        worker.stop()
        lines = log.read_text(errors="replace").strip().splitlines()
        raise RuntimeError(f"did not start: {lines[-1] if lines else 'no output'}")
    return worker


def interleaved(
    clients: list[Client], mode: str, rounds: int, calls: int, logs: Path
) -> tuple[list[Worker], list[str]]:
    """Every client's per-call durations, measured in turns; and the clients that could not run."""
    workers: list[Worker] = []
    failures = []
    try:
        for client in clients:
            try:
                workers.append(start_worker(client, mode, logs, warmup=max(10, calls // 2)))
            except RuntimeError as exc:
                failures.append(f"{client.label}: {exc}"[:300])
        for round_ in range(rounds):
            shift = round_ % max(1, len(workers))
            for worker in workers[shift:] + workers[:shift]:
                worker.ask(calls)
    finally:
        for worker in workers:
            worker.stop()
    return workers, failures


def latency_table(workers: list[Worker], failures: list[str], caption: str, baseline: str | None) -> Table:
    """Per-call latency of each worker, against `baseline` (a label) and against litellm."""
    medians = {worker.label: median(worker.durations_us) for worker in workers}
    headers = ["client", "median µs", "p90 µs"]
    if baseline:
        headers += [f"over {baseline}, µs", f"vs {baseline}"]
    table = Table([*headers, "vs litellm"], caption=caption)
    litellm_median = next((value for label, value in medians.items() if label.startswith("litellm")), None)
    for worker in workers:
        value = medians[worker.label]
        row = [f"`{worker.label}`", f"{value:.0f}", f"{percentile(worker.durations_us, 90):.0f}"]
        if baseline:
            row += [f"{value - medians.get(baseline, value):+.0f}", ratio(value, medians.get(baseline))]
        table.rows.append([*row, ratio(value, litellm_median)])
    table.rows += [[f"skipped: {failure}"] + [""] * (len(table.headers) - 1) for failure in failures]
    return table


def measure(litellm: Interpreter, image_sizes: list[int], rounds: int, calls: int) -> Section:
    section = Section(
        f"SDK per-call latency against the same fake upstream ({rounds} interleaved rounds × {calls} calls per client)"
    )
    if litellm.python is None:
        section.notes.append(f"litellm: skipped: {litellm.missing}")
    verdicts = []
    logs = Path(tempfile.mkdtemp(prefix="imagegen-bench-sdk-"))
    for image_bytes in image_sizes:
        with fake_upstream(image_bytes) as upstream:
            target = ["--api-base", upstream.api_base, "--api-key", UPSTREAM_KEY]
            clients = [Client(name, name, environment.project(), target) for name in ("httpx", "imagegen", "openai")]
            if litellm.python is not None:
                clients.append(Client("litellm", "litellm", litellm, target))
            for mode in ("sync", "async"):
                workers, failures = interleaved(clients, mode, rounds, calls, logs)
                caption = f"{mode}, {size_label(image_bytes)} image"
                section.tables.append(latency_table(workers, failures, caption, baseline="httpx"))
                verdicts.append(_verdict(workers, caption))
    section.notes.append(
        "raw httpx is `client.post(url, json=body, headers=auth).json()` on a pooled client: what a caller "
        "would write by hand, parsing included. Each SDK returns its typed response object."
    )
    section.notes += [verdict for verdict in verdicts if verdict]
    return section


def _verdict(workers: list[Worker], caption: str) -> str:
    medians = {worker.label: median(worker.durations_us) for worker in workers}
    if "imagegen" not in medians or "httpx" not in medians:
        return ""
    value = medians["imagegen"] / medians["httpx"]
    met = "met" if value <= SDK_TARGET_RATIO else "NOT met"
    return f"target imagegen ≤ {SDK_TARGET_RATIO}× raw httpx ({caption}): {value:.2f}×, {met}"


def size_label(image_bytes: int) -> str:
    return f"{image_bytes / 1024:.0f} KB" if image_bytes < 1024 * 1024 else f"{image_bytes / 1024 / 1024:.0f} MB"
