"""Import time and RSS after import, each in a fresh interpreter, repetitions interleaved, median reported."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

import environment
from environment import BENCHMARKS, Interpreter
from report import Section, Table, median, ratio

PLUGIN_MODULES = ["imagegen_openai", "imagegen_azure", "imagegen_bedrock", "imagegen_vertex", "imagegen_proxy"]
IMPORT_TIME_TARGET_MS = 150
IMPORT_RSS_TARGET_MB = 40


@dataclass
class Probe:
    label: str
    interpreter: Interpreter
    modules: list[str]
    samples: list[dict[str, object]] = field(default_factory=list)

    def run(self) -> dict[str, object]:
        assert self.interpreter.python is not None
        command = [str(self.interpreter.python), str(BENCHMARKS / "probe_import.py"), *self.modules]
        result = subprocess.run(command, capture_output=True, text=True, env=self.interpreter.env(), timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{self.label}: {result.stderr.strip().splitlines()[-1:]}")
        sample: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
        return sample

    def median(self, key: str) -> float:
        return median([float(sample[key]) for sample in self.samples])  # type: ignore[arg-type]


def probes(litellm: Interpreter) -> tuple[list[Probe], list[str]]:
    project = environment.project()
    found = [
        Probe("bare interpreter (baseline)", project, []),
        Probe("`import imagegen`", project, ["imagegen"]),
        Probe("`import imagegen.api` (ready to call)", project, ["imagegen.api"]),
    ]
    skipped = []
    for module in PLUGIN_MODULES:
        if environment.has_module(module):
            found.append(Probe(f"`import {module}`", project, [module]))
        else:
            skipped.append(f"`{module}`: skipped: not installed in the project venv")
    found.append(Probe("`import openai` (official SDK)", project, ["openai"]))
    if litellm.python is not None:
        found.append(Probe("`import litellm`", litellm, ["litellm"]))
    else:
        skipped.append(f"`litellm`: skipped: {litellm.missing}")
    return found, skipped


def measure(litellm: Interpreter, repetitions: int) -> Section:
    section = Section(f"Import time and memory (fresh interpreter each, median of {repetitions})")
    all_probes, skipped = probes(litellm)
    for probe in all_probes:
        probe.run()  # compiles bytecode and warms the page cache; not counted
    for _ in range(repetitions):
        for probe in all_probes:
            probe.samples.append(probe.run())
    by_label = {probe.label: probe for probe in all_probes}
    litellm_probe = by_label.get("`import litellm`")
    litellm_ms = litellm_probe.median("seconds") * 1000 if litellm_probe else None
    litellm_mb = litellm_probe.median("rss_mb") if litellm_probe else None
    table = Table(
        ["what", "import ms", "vs litellm", "RSS after, MB", "vs litellm", "added by import, MB", "SDKs loaded"]
    )
    for probe in all_probes:
        ms, mb = probe.median("seconds") * 1000, probe.median("rss_mb")
        heavy = sorted({name for sample in probe.samples for name in sample["heavy"]})  # type: ignore[attr-defined]
        table.rows.append([
            probe.label, f"{ms:.1f}", ratio(ms, litellm_ms), f"{mb:.1f}", ratio(mb, litellm_mb),
            f"{mb - probe.median('rss_before_mb'):.1f}", ", ".join(heavy) or "none",
        ])  # fmt: skip
    section.tables.append(table)
    section.notes += skipped
    for label in ("`import imagegen`", "`import imagegen.api` (ready to call)"):
        ms, mb = by_label[label].median("seconds") * 1000, by_label[label].median("rss_mb")
        verdict = "met" if ms <= IMPORT_TIME_TARGET_MS and mb <= IMPORT_RSS_TARGET_MB else "NOT met"
        section.notes.append(
            f"target ≤ {IMPORT_TIME_TARGET_MS} ms and ≤ {IMPORT_RSS_TARGET_MB} MB RSS for {label}: "
            f"{ms:.0f} ms, {mb:.1f} MB: {verdict}"
        )
    plugins_with_sdks = [
        p.label for p in all_probes if p.label.startswith("`import imagegen_") and p.samples[0]["heavy"]
    ]
    section.notes.append(
        "a provider SDK imported by a plugin module before use: "
        + (", ".join(plugins_with_sdks) or "none (target met)")
    )
    return section
