"""The README's main job on a machine with no provider keys: `scripts/run` serves examples/config.yaml,
and the README's first curl gets back a real PNG from its `mock` model."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

from imagegen.images import sniff

from .conftest import ProxyLauncher

REPO = Path(__file__).parents[2]


def first_curl_body() -> dict[str, object]:
    readme = (REPO / "README.md").read_text()
    body = re.search(r"curl -X POST .*?-d '(\{.*?\})'", readme, re.DOTALL)
    assert body, "the README's first curl"
    parsed: dict[str, object] = json.loads(body.group(1))
    return parsed


def test_scripts_run_serves_the_example_config() -> None:
    assert "--config examples/config.yaml" in (REPO / "scripts" / "run").read_text()


def test_the_readmes_first_curl_returns_a_png_with_no_provider_keys(start_proxy: ProxyLauncher) -> None:
    proxy = start_proxy((REPO / "examples" / "config.yaml").read_text())

    response = proxy.post_generation(first_curl_body(), api_key="sk-1234")

    assert response.status_code == 200, response.text
    image = base64.b64decode(response.json()["data"][0]["b64_json"])
    assert sniff(image)[:3] == ("png", 1024, 1024)  # type: ignore[index]
    assert response.headers["x-imagegen-response-cost"] == "0.0"
