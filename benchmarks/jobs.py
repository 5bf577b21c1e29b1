"""1,000 concurrent jobs through one proxy worker: submit-then-poll providers held in flight on the event loop.

    .venv/bin/python benchmarks/jobs.py                 # measures, and writes its section into RESULTS.md
    .venv/bin/python benchmarks/run.py                 # the same, as a section of a full run

`imagegen serve` (one worker) fronts a `bfl/flux-2-pro` deployment whose upstream is
`fake_upstream.py --jobs 3` (BFL's job API, raw asyncio: each job Ready at its 3rd poll). The deployment's
`poll_interval` makes the three polls span about 2 s (waits of w, 1.5w and 2.25w: w = 2 s / 4.75). All
requests are sent at once by one asyncio client; the server's CPU time (user + system, from /proc) and peak
RSS are measured over the run. CPU per poll divides the server's whole CPU time (client requests, submits,
polls, answers) by the polls made, so it is an upper bound on the cost of one poll.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

import environment
import report
from environment import BENCHMARKS
from processes import UPSTREAM_KEY, PeakRss, fake_upstream, free_port, server

MASTER_KEY = "sk-bench-master"
MODEL = "flux"
JOBS = 1000
POLLS = 3
POLL_SECONDS = 2.0
SECTION_TITLE = f"{JOBS:,} concurrent jobs through one proxy worker (BFL's job API, {POLLS} polls each)"


def config(upstream_url: str, interval: float) -> str:
    return f"""\
model_list:
  - model_name: {MODEL}
    litellm_params:
      model: bfl/flux-2-pro
      api_base: {upstream_url}
      api_key: {UPSTREAM_KEY}
      poll_interval: {interval:.4f}
      timeout: 120
general_settings:
  master_key: {MASTER_KEY}
  disable_spend_logs: true
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (and its reaped children), from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


async def send_all(port: int, jobs: int) -> tuple[list[int], list[float]]:
    """Every request at once, each on its own connection: a raw asyncio client (pre-encoded request, the
    answer read to its content-length), so the client's own cost stays small next to the server's."""
    body = b'{"model": "%s", "prompt": "A cute baby sea otter"}' % MODEL.encode()
    request = (
        b"POST /v1/images/generations HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
        b"authorization: Bearer %s\r\ncontent-length: %d\r\n\r\n%s" % (MASTER_KEY.encode(), len(body), body)
    )

    async def one() -> tuple[int, float]:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")
        )
        await reader.readexactly(length)
        writer.close()
        return int(head.split(b" ", 2)[1]), time.monotonic() - started

    answers = await asyncio.gather(*(one() for _ in range(jobs)))
    return [status for status, _ in answers], [seconds for _, seconds in answers]


def measure(jobs: int = JOBS) -> report.Section:
    section = report.Section(SECTION_TITLE)
    if not environment.has_module("imagegen_proxy") or not environment.has_module("imagegen_bfl"):
        section.skipped = "imagegen-proxy and imagegen-bfl must be installed (scripts/bootstrap)"
        return section
    interval = POLL_SECONDS / sum(1.5**k for k in range(POLLS))  # the core backs off x1.5 between polls
    logs = Path(tempfile.mkdtemp(prefix="imagegen-bench-jobs-"))
    with fake_upstream(0, jobs=POLLS) as upstream:
        config_path = logs / "config.yaml"
        config_path.write_text(config(upstream.url, interval))
        port = free_port()
        command = [environment.PROJECT_PYTHON.parent / "imagegen", "serve", "--config", config_path,
                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        with server(command, environment.project().env(), f"{base}/health/liveliness", logs / "proxy.log") as pid:
            before = cpu_seconds(pid)
            with PeakRss(pid) as rss:
                started = time.monotonic()
                statuses, latencies = asyncio.run(send_all(port, jobs))
                took = time.monotonic() - started
            cpu = cpu_seconds(pid) - before
        stats = httpx.get(f"{upstream.url}/stats").json()
    ok = statuses.count(200)
    polls = stats["polls"]
    section.tables.append(
        report.Table(
            [
                "jobs",
                "answered 200",
                "errors",
                "upstream submits",
                "upstream polls",
                "wall time",
                "p50 / p99 per request",
                "server CPU",
                "CPU per poll",
                "CPU per job",
                "peak RSS",
            ],
            [
                [
                    f"{jobs}",
                    f"{ok}",
                    f"{jobs - ok}",
                    f"{stats['submits']}",
                    f"{polls}",
                    f"{took:.2f} s",
                    f"{report.percentile(latencies, 50):.2f} / {report.percentile(latencies, 99):.2f} s",
                    f"{cpu:.2f} s",
                    f"{cpu / max(polls, 1) * 1e3:.2f} ms",
                    f"{cpu / jobs * 1e3:.2f} ms",
                    f"{rss.peak_mb:.0f} MB",
                ]
            ],
        )
    )
    section.notes += [
        f"one `imagegen serve` worker; `poll_interval` {interval:.3f} s, so each job's {POLLS} polls span "
        f"{POLL_SECONDS:g} s; all {jobs} requests sent at once, each on its own connection, by one raw asyncio "
        "client on the same 2-core machine",
        "CPU per poll = the server's whole CPU time over the run / the upstream polls: every client request, "
        "submit, poll and answer is in it, so one poll costs less",
        "peak RSS: the server's process tree, sampled every 100 ms",
        f"wall time and latencies include the machine's other work (load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores at the end of the run): the ideal is {POLL_SECONDS:g} s of polling plus the submits",
        "written by `benchmarks/jobs.py` (in place of this section), or as a section of `benchmarks/run.py`",
    ]
    if ok != jobs or polls != jobs * POLLS:
        section.notes.append(f"NOT ALL JOBS COMPLETED AS EXPECTED: statuses {sorted(set(statuses))}")
    return section


def write_section(section: report.Section, path: Path) -> None:
    """Put `section` into RESULTS.md in place of its previous run (or at the end)."""
    text = path.read_text() if path.exists() else ""
    marker = f"## {section.title}"
    head, found, rest = text.partition(marker)
    tail = rest[rest.find("\n## ") :] if found and "\n## " in rest else ""
    path.write_text(head.rstrip() + "\n\n" + section.markdown() + "\n" + tail.rstrip("\n") + ("\n" if tail else ""))


if __name__ == "__main__":
    measured = measure(int(sys.argv[1]) if len(sys.argv) > 1 else JOBS)
    print(measured.markdown())
    write_section(measured, BENCHMARKS / "RESULTS.md")
