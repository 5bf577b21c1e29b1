"""Where one `imagegen.image_generation` call spends its time: cProfile over many calls to the fake upstream.

Reports own time grouped by package (imagegen, httpx/httpcore, pydantic, socket I/O, …) and the
top functions, per call. `python benchmarks/profile_sdk.py [calls]` prints the same to stdout.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import sys
from collections import defaultdict

from processes import UPSTREAM_KEY, fake_upstream
from report import Section, Table

TOP_FUNCTIONS = 15
_PACKAGE = re.compile(r"(?:site-packages|src)/([A-Za-z_][\w]*)")
_STDLIB = re.compile(r"/lib/python3\.\d+/([A-Za-z_][\w]*)")


def group_of(filename: str, function: str) -> str:
    """The package a profiled function belongs to, as a reader would name it."""
    if filename == "~":  # a builtin: name it by what it does
        if any(word in function for word in ("socket", "recv", "send", "select", "poll")):
            return "socket I/O (builtin)"
        if "pydantic_core" in function or "validate_json" in function:
            return "pydantic"
        return "other builtins"
    for pattern in (_PACKAGE, _STDLIB):
        if found := pattern.search(filename):
            name = found.group(1)
            return "imagegen" if name.startswith("imagegen") else f"{name} (stdlib)" if pattern is _STDLIB else name
    return filename


def profile(calls: int, image_bytes: int = 1024) -> pstats.Stats:
    import imagegen

    with fake_upstream(image_bytes) as upstream:

        def generate() -> None:
            imagegen.image_generation(
                "A cute baby sea otter", model="openai/gpt-image-1", api_base=upstream.api_base, api_key=UPSTREAM_KEY
            )

        for _ in range(50):  # warm: plugin loaded, connection pooled
            generate()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            generate()
        profiler.disable()
    return pstats.Stats(profiler)


def measure(calls: int) -> Section:
    stats = profile(calls)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tottime for (_, _, tottime, _, _) in entries.values())
    groups: dict[str, float] = defaultdict(float)
    for (filename, _, function), (_, _, tottime, _, _) in entries.items():
        groups[group_of(filename, function)] += tottime
    section = Section(f"Profile of the imagegen SDK hot path (cProfile, {calls} sync calls, 1 KB image)")
    by_group = Table(["package", "µs per call (own time)", "share"], caption="own time by package")
    for group, seconds in sorted(groups.items(), key=lambda item: -item[1])[:12]:
        by_group.rows.append([group, f"{seconds / calls * 1e6:.1f}", f"{seconds / total:.0%}"])
    top = Table(
        ["function", "calls per call", "own µs per call", "cumulative µs per call"], caption="top functions by own time"
    )
    ranked = sorted(entries.items(), key=lambda item: -item[1][2])[:TOP_FUNCTIONS]
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in ranked:
        where = f"{_short(filename)}:{line}" if filename != "~" else "builtin"
        top.rows.append([f"`{function}` ({where})", f"{ncalls / calls:.1f}", f"{tottime / calls * 1e6:.1f}",
                         f"{cumtime / calls * 1e6:.1f}"])  # fmt: skip
    section.tables += [by_group, top]
    section.notes.append(
        f"{total / calls * 1e6:.0f} µs of profiled time per call (cProfile inflates Python-heavy code; "
        "compare shares, not absolute numbers, with the SDK section)"
    )
    return section


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 2000).markdown())
