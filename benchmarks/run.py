"""Runs every benchmark side by side with LiteLLM and writes benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run.py            # the full run (about 15 minutes)
    .venv/bin/python benchmarks/run.py --quick    # a smoke run (about 3 minutes)
    .venv/bin/python benchmarks/run.py --only scale --only soak   # some sections; the others are kept from RESULTS.md

Sets up what it needs (LiteLLM in benchmarks/.venv-litellm). A section whose component is missing
(LiteLLM, wrk, the proxy, a plugin, a fake) is reported as "skipped: reason"; the command always completes.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import edits
import environment
import imports
import jobs
import profile_sdk
import providers
import proxy
import report
import scale
import sdk
import soak
import streams
from environment import BENCHMARKS, REPO

SECTIONS = ["imports", "sdk", "providers", "proxy", "edits", "streams", "jobs", "scale", "soak", "profile"]
# Each section's title starts so: a run of some sections keeps the others' text from the previous RESULTS.md.
TITLES = {
    "imports": "Import time", "sdk": "SDK per-call", "providers": "Bedrock and Vertex", "proxy": "Proxy under load",
    "edits": "Edits:", "streams": "Streams:", "jobs": "1,000 concurrent jobs",
    "scale": "One worker under open-loop load", "soak": "Soak under upstream faults", "profile": "Profile of",
}  # fmt: skip
KB, MB = 1024, 1024 * 1024


@dataclass
class Size:
    """How long each measurement runs: --quick for a smoke run, the default for numbers worth quoting."""

    import_repetitions: int
    sdk_rounds: int
    sdk_calls: int
    proxy_seconds: float
    profile_calls: int
    scale_rate: float  # new requests a second, each answered by the upstream after 5 s
    scale_seconds: float
    soak_rate: float
    soak_seconds: float


QUICK = Size(
    import_repetitions=3, sdk_rounds=4, sdk_calls=25, proxy_seconds=2, profile_calls=300,
    scale_rate=100, scale_seconds=5, soak_rate=20, soak_seconds=10,
)  # fmt: skip
FULL = Size(
    import_repetitions=7, sdk_rounds=15, sdk_calls=100, proxy_seconds=10, profile_calls=3000,
    scale_rate=500, scale_seconds=20, soak_rate=100, soak_seconds=60,
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few iterations: checks the harness, numbers are rough")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these sections (repeatable)")
    parser.add_argument("--no-setup", action="store_true", help="do not create the LiteLLM venv if it is missing")
    parser.add_argument("--large-image-mb", type=float, default=2, help="the large image size (2–4 MB)")
    parser.add_argument(
        "--upstream-latency-ms", type=float, default=proxy.ISSUE_UPSTREAM_LATENCY_MS,
        help="the large-image proxy scenario is run again with this latency per upstream answer (0: not again)",
    )  # fmt: skip
    parser.add_argument("--proxy-workers", type=int, default=1, help="server processes for each proxy")
    parser.add_argument("--output", type=Path, default=BENCHMARKS / "RESULTS.md")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    large = int(args.large_image_mb * MB)
    proxy_scenarios = [proxy.Scenario(KB), proxy.Scenario(large)]
    if args.upstream_latency_ms:
        proxy_scenarios.append(proxy.Scenario(large, args.upstream_latency_ms))
    started = time.monotonic()
    litellm = environment.litellm(setup=not args.no_setup)
    run: dict[str, Callable[[], report.Section]] = {
        "imports": lambda: imports.measure(litellm, size.import_repetitions),
        "sdk": lambda: sdk.measure(litellm, [KB, large], size.sdk_rounds, size.sdk_calls),
        "providers": lambda: providers.measure(litellm, size.sdk_rounds, size.sdk_calls),
        "proxy": lambda: proxy.measure(litellm, proxy_scenarios, size.proxy_seconds, args.proxy_workers),
        "edits": lambda: edits.measure(litellm, size.proxy_seconds, args.proxy_workers),
        "streams": lambda: streams.measure(size.proxy_seconds, args.proxy_workers),
        "jobs": lambda: jobs.measure(),
        "scale": lambda: scale.measure(litellm, size.scale_rate, size.scale_seconds),
        "soak": lambda: soak.measure(size.soak_rate, size.soak_seconds),
        "profile": lambda: profile_sdk.measure(size.profile_calls),
    }
    previous = report.sections_in(args.output, TITLES) if args.only else {}
    sections = []
    for name in SECTIONS:
        if name not in (args.only or SECTIONS):
            if name in previous:
                sections.append(previous[name])
            continue
        print(f"[{time.monotonic() - started:5.0f} s] {name} …", flush=True)
        try:
            section = run[name]()
        except Exception as exc:  # one broken section must not lose the others' numbers
            traceback.print_exc()
            section = report.Section(name, skipped=f"failed: {type(exc).__name__}: {exc}")
        sections.append(section)
        print(section.markdown(), "\n", flush=True)
    python = Path(sys.executable)
    command = shlex.join([str(python.relative_to(REPO)) if python.is_relative_to(REPO) else str(python), *sys.argv])
    report.write(
        args.output,
        sections,
        command=command,
        machine=environment.machine(),
        versions={**environment.versions(), "litellm": litellm.version or "absent"},
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        took=time.monotonic() - started,
    )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
