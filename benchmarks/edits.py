"""Edits through the proxies (issue 13): multipart uploads of large PNGs, imagegen-proxy vs LiteLLM's proxy.

Each request is `POST /v1/images/edits` with one 4 MB PNG (random pixels: it does not compress), or 16 of
them, in OpenAI's multipart form, driven by wrk from a body file; the fake upstream reads the upload and
answers a small image at once. Throughput, latency and the server's peak RSS (its whole process tree)
under that load; the upstream alone shows what the machine does without a proxy in between.
"""

from __future__ import annotations

import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from imagegen.testing import noise_png

import environment
import proxy
from environment import Interpreter
from processes import UPSTREAM_KEY, PeakRss, fake_upstream
from report import Section, Table, ratio

MB = 1024 * 1024
IMAGE_SIDE = 1182  # an RGB PNG of random pixels this size is 4.0 MB
THROUGHPUT_TARGET_VS_LITELLM = 5
RSS_SHARE_OF_LITELLM_TARGET = 1 / 3
MANY_IMAGES_RSS_TARGET_MB = 250
ANSWER_IMAGE_BYTES = 1024
BOUNDARY = "imagegen-bench-boundary"


@dataclass(frozen=True)
class Scenario:
    images: int
    connections: int

    def seconds(self, seconds: float) -> float:
        """How long to load: a request of 16 images takes seconds, so at least 10 s for those."""
        return seconds if self.images == 1 else max(seconds, 10)

    def describe(self) -> str:
        what = "one 4 MB PNG" if self.images == 1 else f"{self.images} × 4 MB PNGs"
        return f"{what} per request, c={self.connections}"


SCENARIOS = [Scenario(1, 16), Scenario(16, 8)]


def multipart_body(images: int) -> bytes:
    """OpenAI's edit form as the openai SDK sends it: the fields, then `image` (or `image[]` for several)."""
    image = noise_png(IMAGE_SIDE, IMAGE_SIDE)
    field = "image" if images == 1 else "image[]"
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (("model", proxy.MODEL_NAME), ("prompt", "Add a hat to the otter"))
    ]
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="otter.png"\r\n'
    parts += [head.encode() + b"Content-Type: image/png\r\n\r\n" + image + b"\r\n"] * images
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def check_answers(url: str, key: str, body: bytes) -> None:
    """One request by hand: a proxy that refuses the upload fast must not look fast."""
    request = urllib.request.Request(  # noqa: S310 (a loopback URL we built)
        url, data=body, headers={"authorization": f"Bearer {key}", "content-type": _content_type()}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            answer = response.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"answered {exc.code}: {exc.read()[:300]!r}") from None
    if b'"b64_json"' not in answer:
        raise RuntimeError(f"answered without an image: {answer[:300]!r}")


def _content_type() -> str:
    return f"multipart/form-data; boundary={BOUNDARY}"


def measure(litellm: Interpreter, seconds: float, workers: int) -> Section:
    section = Section(f"Edits: large uploads through the proxies (wrk, {seconds:g} s per point, {workers} worker(s))")
    if environment.wrk() is None:
        section.skipped = "wrk is not installed (`apt-get install -y wrk`)"
        return section
    logs = Path(tempfile.mkdtemp(prefix="imagegen-bench-edits-"))
    results: dict[Scenario, list[proxy.Target]] = {}
    for scenario in SCENARIOS:
        body_file = logs / f"body-{scenario.images}.bin"
        body_file.write_bytes(multipart_body(scenario.images))
        with fake_upstream(ANSWER_IMAGE_BYTES) as upstream:
            config_path = logs / "config.yaml"
            config_path.write_text(proxy.config(upstream.api_base))
            targets = [proxy.Target("upstream alone")]
            _load(targets[0], f"{upstream.api_base}/images/edits", UPSTREAM_KEY, upstream.pid, scenario, body_file,
                  seconds)  # fmt: skip
            starts = proxy.proxies(litellm, config_path, workers, logs, upstream.url)
            for name in (proxy.OURS, "litellm proxy"):
                target = proxy.Target(name)
                targets.append(target)
                start = starts[name]
                if isinstance(start, str):
                    target.skipped = start
                    continue
                try:
                    with start() as (url, key, pid):
                        edits_url = url.replace("/images/generations", "/images/edits")
                        _load(target, edits_url, key, pid, scenario, body_file, seconds)
                except (RuntimeError, OSError) as exc:
                    target.skipped = str(exc)
        results[scenario] = targets
        section.tables.append(_table(scenario, targets))
        body_file.unlink()
    section.notes += _verdicts(results)
    section.notes.append(
        f"the fake upstream reads each upload whole and answers a {ANSWER_IMAGE_BYTES // 1024} KB image at once; "
        f"RSS is the server's process tree, sampled every 100 ms. Server logs: {logs}"
    )
    return section


def _load(
    target: proxy.Target, url: str, key: str, pid: int, scenario: Scenario, body_file: Path, seconds: float
) -> None:
    check_answers(url, key, body_file.read_bytes())
    body = proxy.Body(file=body_file, content_type=_content_type())
    with PeakRss(pid) as rss:
        target.loads[scenario.connections] = proxy.wrk(url, key, scenario.connections, scenario.seconds(seconds), body)
    target.peak_rss_mb = rss.peak_mb


def _table(scenario: Scenario, targets: list[proxy.Target]) -> Table:
    table = Table(
        ["target", "req/s", "upload MB/s", "p50 ms", "p99 ms", "vs litellm", "peak RSS MB", "RSS vs litellm",
         "failed requests"],
        caption=scenario.describe(),
    )  # fmt: skip
    litellm = proxy.find(targets, "litellm proxy")
    for target in targets:
        if target.skipped:
            table.rows.append([target.name, f"skipped: {target.skipped}"] + [""] * 7)
            continue
        load = target.loads[scenario.connections]
        table.rows.append([
            target.name, f"{load.rps:,.1f}", f"{load.rps * scenario.images * 4:,.0f}", f"{load.p50_ms:.1f}",
            f"{load.p99_ms:.1f}", ratio(load.rps, litellm.loads[scenario.connections].rps if litellm else None),
            f"{target.peak_rss_mb:.0f}", ratio(target.peak_rss_mb, litellm.peak_rss_mb if litellm else None),
            str(load.failed),
        ])  # fmt: skip
    return table


def _verdicts(results: dict[Scenario, list[proxy.Target]]) -> list[str]:
    lines = []
    one, many = SCENARIOS
    ours, litellm = proxy.find(results[one], proxy.OURS), proxy.find(results[one], "litellm proxy")
    if ours and litellm:
        times = ours.loads[one.connections].rps / litellm.loads[one.connections].rps
        share = ours.peak_rss_mb / litellm.peak_rss_mb
        lines.append(
            f"target ≥ {THROUGHPUT_TARGET_VS_LITELLM}× LiteLLM's throughput ({one.describe()}): {times:.1f}×, "
            f"{proxy.verdict(times >= THROUGHPUT_TARGET_VS_LITELLM)}"
        )
        lines.append(
            f"target peak RSS ≤ 1/3 of LiteLLM's ({one.describe()}): {ours.peak_rss_mb:.0f} vs "
            f"{litellm.peak_rss_mb:.0f} MB ({share:.2f}), {proxy.verdict(share <= RSS_SHARE_OF_LITELLM_TARGET)}"
        )
    if ours_many := proxy.find(results[many], proxy.OURS):
        lines.append(
            f"target peak RSS ≤ {MANY_IMAGES_RSS_TARGET_MB} MB ({many.describe()}): {ours_many.peak_rss_mb:.0f} MB, "
            f"{proxy.verdict(ours_many.peak_rss_mb <= MANY_IMAGES_RSS_TARGET_MB)}"
        )
    return lines
