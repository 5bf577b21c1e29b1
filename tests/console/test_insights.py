"""The read-only endpoints behind the console, and how /ui is served: in process, over a fake OpenAI upstream."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagegen_proxy.app import create_app
from imagegen_proxy.config import parse_config
from imagegen_proxy.keys.tokens import hash_key
from tests.fakes.openai_fake import FakeOpenAI
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, openai_deployment

pytestmark = pytest.mark.anyio
STATIC = Path(__file__).resolve().parents[2] / "proxy" / "src" / "imagegen_proxy" / "console" / "static"


@pytest.fixture(autouse=True)
def _own_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


class Client:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, path: str, as_key: str | None = MASTER_KEY, **params: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {as_key}"} if as_key else {}
        return await self.client.get(path, params=params, headers=headers)

    async def post(self, path: str, body: Any, key: str | None = MASTER_KEY) -> httpx.Response:
        return await self.client.post(path, json=body, headers={"authorization": f"Bearer {key}"} if key else {})

    async def new_key(self, **fields: Any) -> str:
        response = await self.post("/key/generate", fields)
        assert response.status_code == 200, response.text
        key: str = response.json()["key"]
        return key

    async def generate(self, key: str = MASTER_KEY, model: str = "dall-e-3", **params: Any) -> httpx.Response:
        return await self.post("/v1/images/generations", {"model": model, "prompt": "an otter", **params}, key)


@asynccontextmanager
async def serving(
    tmp_path: Path, model_list: list[dict[str, Any]], router: dict[str, Any] | None = None, **general: Any
) -> AsyncIterator[Client]:
    data = {"model_list": model_list, "general_settings": general, "router_settings": router or {}}
    config = parse_config(data, path=tmp_path / "config.yaml")
    app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as client:
            yield Client(client)


def models(upstream: FakeOpenAI) -> list[dict[str, Any]]:
    return [openai_deployment("dall-e-3", upstream, quality="hd"), openai_deployment("gpt-image-1", upstream)]


# --- who is calling -----------------------------------------------------------------------------------


async def test_auth_info_says_what_the_key_is(tmp_path: Path, upstream: FakeOpenAI) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        key = await proxy.new_key()
        roles = [(await proxy.get("/auth/info", who)).json()["role"] for who in (None, MASTER_KEY, key)]
        refused = await proxy.get("/auth/info", "sk-wrong")
    assert roles == ["anonymous", "admin", "key"]
    assert refused.status_code == 401


async def test_auth_info_without_a_master_key_is_open_and_records_no_spend(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    async with serving(tmp_path, models(upstream)) as proxy:
        info = (await proxy.get("/auth/info", None)).json()
        spend = await proxy.get("/spend/summary", None)
    assert info == {"role": "open", "key_required": False, "features": {"keys": False, "spend_logs": False}}
    assert spend.status_code == 404


# --- models -------------------------------------------------------------------------------------------


async def test_a_model_group_offers_what_every_one_of_its_deployments_accepts(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    group = [
        openai_deployment("mixed", upstream, model="dall-e-3"),
        openai_deployment("mixed", upstream, model="dall-e-2"),
    ]
    async with serving(tmp_path, group, master_key=MASTER_KEY) as proxy:
        (info,) = (await proxy.get("/model_group/info")).json()["data"]
    assert info["params"]["size"] == {"values": ["1024x1024"]}
    assert info["params"]["n"] == {"min": 1, "max": 1}
    assert info["params"]["quality"] == {"values": ["auto", "standard"]}
    assert "style" not in info["params"]  # dall-e-2 takes no style
    assert info["supported_operations"] == ["generation", "edit", "variation"]  # edits go to dall-e-2 only
    assert info["operations"]["edit"]["params"]["size"] == {"values": ["1024x1024", "256x256", "512x512"]}
    assert info["price"] is None  # the two deployments are priced differently


async def test_each_operation_of_a_model_group_says_what_its_input_images_may_be(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    deployments = [openai_deployment(name, upstream) for name in ("dall-e-2", "dall-e-3", "gpt-image-1")]
    async with serving(tmp_path, deployments, master_key=MASTER_KEY) as proxy:
        groups = {group["model_group"]: group for group in (await proxy.get("/model_group/info")).json()["data"]}
    gpt_image, dall_e_2 = groups["gpt-image-1"]["operations"], groups["dall-e-2"]["operations"]
    assert groups["dall-e-3"]["supported_operations"] == ["generation"]
    assert list(groups["dall-e-3"]["operations"]) == ["generation"]
    assert list(gpt_image) == ["generation", "edit"]
    edit = gpt_image["edit"]
    assert (edit["max_images"], edit["mask"], edit["prompt"], edit["square"]) == (16, True, "required", False)
    assert edit["params"]["size"] == {"values": ["auto", "1024x1024", "1024x1536", "1536x1024"]}
    assert "moderation" not in edit["params"]  # the edit form has none, generations do
    variation = dall_e_2["variation"]
    assert (variation["max_images"], variation["mask"], variation["prompt"]) == (1, False, "none")
    assert (variation["formats"], variation["max_bytes"], variation["square"]) == (["png"], 4 * 1024 * 1024, True)
    assert "streaming" not in variation  # variations are not streamed


async def test_streaming_is_native_only_where_every_deployment_that_may_serve_it_streams(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    deployments = [
        openai_deployment("gpt-image-1", upstream),
        openai_deployment("dall-e-3", upstream),
        openai_deployment("mixed", upstream, model="gpt-image-1"),
        openai_deployment("mixed", upstream, model="dall-e-3"),
    ]
    async with serving(tmp_path, deployments, master_key=MASTER_KEY) as proxy:
        groups = {group["model_group"]: group for group in (await proxy.get("/model_group/info")).json()["data"]}
        deployment_ops = [
            entry["model_info"]["operations"] for entry in (await proxy.get("/model/info")).json()["data"]
        ]
    assert groups["gpt-image-1"]["operations"]["generation"]["streaming"] == "native"
    assert groups["dall-e-3"]["operations"]["generation"]["streaming"] == "emulated"
    mixed = groups["mixed"]["operations"]
    assert mixed["generation"]["streaming"] == "emulated"  # a stream may be routed to dall-e-3
    assert mixed["edit"]["streaming"] == "native"  # only gpt-image-1 is sent edits
    assert [ops["generation"]["streaming"] for ops in deployment_ops] == ["emulated", "native", "native", "emulated"]


async def test_a_model_on_an_openai_compatible_server_is_described_by_the_model_its_id_names(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    deployment = openai_deployment("compatible", upstream, model="my-server/gpt-image-1")
    async with serving(tmp_path, [deployment], master_key=MASTER_KEY) as proxy:
        (group,) = (await proxy.get("/model_group/info")).json()["data"]
        (entry,) = (await proxy.get("/model/info")).json()["data"]
    assert group["supported_operations"] == ["generation", "edit"]
    assert group["operations"]["edit"]["max_images"] == 16
    assert entry["model_info"]["base_model"] == "gpt-image-1"
    assert entry["model_info"]["supported_operations"] == ["generation", "edit"]


async def test_a_virtual_key_sees_only_the_model_groups_it_may_use(tmp_path: Path, upstream: FakeOpenAI) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        key = await proxy.new_key(models=["dall-e-3"])
        groups = (await proxy.get("/model_group/info", key)).json()["data"]
        model_info = (await proxy.get("/model/info", key)).json()["data"]
    assert [group["model_group"] for group in groups] == ["dall-e-3"]
    assert [entry["model_name"] for entry in model_info] == ["dall-e-3"]
    assert "litellm_params" not in model_info[0]
    assert "health" not in model_info[0]


async def test_model_info_shows_deployments_and_defaults_but_never_their_settings(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        response = await proxy.get("/model/info")
    dall_e = response.json()["data"][0]
    assert dall_e["litellm_params"] == {"model": "openai/dall-e-3", "quality": "hd"}
    assert dall_e["model_info"]["id"] == "dall-e-3#1"
    assert dall_e["model_info"]["price"]["per_image"][0]["usd"] == 0.04
    assert UPSTREAM_KEY not in response.text
    assert upstream.url not in response.text


async def test_model_info_shows_failures_and_cooldowns_from_the_proxys_own_state(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    router = {"allowed_fails": 0, "num_retries": 0, "cooldown_time": 60}
    upstream.fail_next("server_error")
    async with serving(tmp_path, [openai_deployment("dall-e-3", upstream)], router, master_key=MASTER_KEY) as proxy:
        failed = await proxy.generate()
        calls = len(upstream.requests)
        (entry,) = (await proxy.get("/model/info")).json()["data"]
    assert failed.status_code == 500
    assert len(upstream.requests) == calls  # /model/info called no upstream
    health = entry["health"]
    assert health["status"] == "cooling_down"
    assert 0 < health["cooldown_remaining_s"] <= 60
    assert (health["attempts"], health["errors"], health["error_rate"]) == (1, 1, 1.0)
    assert set(health["latency_ms"]) == {"p50", "p90", "p99"}


async def test_an_unconfigured_deployment_says_which_variable_is_missing(tmp_path: Path) -> None:
    broken = {
        "model_name": "dall-e-2",
        "litellm_params": {"model": "openai/dall-e-2", "api_key": "os.environ/NO_SUCH_KEY"},
    }
    async with serving(tmp_path, [broken], master_key=MASTER_KEY) as proxy:
        (entry,) = (await proxy.get("/model/info")).json()["data"]
    assert entry["health"]["status"] == "unconfigured"
    assert "NO_SUCH_KEY" in entry["health"]["detail"]


# --- keys and spend -----------------------------------------------------------------------------------


async def test_key_info_without_a_key_is_the_callers_own(tmp_path: Path, upstream: FakeOpenAI) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        mine = await proxy.new_key(key_alias="mine")
        theirs = await proxy.new_key(key_alias="theirs")
        own = await proxy.get("/key/info", mine)
        other = await proxy.get("/key/info", mine, key=theirs)
        master_without_key = await proxy.get("/key/info")
    assert own.json()["info"]["key_alias"] == "mine"
    assert other.status_code == 403
    assert master_without_key.status_code == 400


async def test_a_virtual_key_reads_only_its_own_spend(tmp_path: Path, upstream: FakeOpenAI) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        mine, theirs = await proxy.new_key(), await proxy.new_key()
        for key in (mine, theirs, theirs):
            assert (await proxy.generate(key)).status_code == 200
        await proxy.generate(MASTER_KEY)
        await _written(proxy, 4)
        summary = (await proxy.get("/spend/summary", mine)).json()
        page = (await proxy.get("/spend/logs/ui", mine)).json()
        export = (await proxy.get("/spend/logs/export", mine)).text
        refused = await proxy.get("/spend/summary", mine, api_key=theirs)
        everyone = (await proxy.get("/spend/summary")).json()
    assert summary["total"]["requests"] == 1
    assert [row["api_key"] for row in summary["by_key"]] == [hash_key(mine)]
    assert [row["api_key"] for row in page["data"]] == [hash_key(mine)]
    assert export.count(hash_key(mine)) == 1
    assert hash_key(theirs) not in export
    assert refused.status_code == 403
    assert everyone["total"]["requests"] == 4
    assert {row["api_key"] for row in everyone["by_key"]} == {hash_key(mine), hash_key(theirs), None}


async def _written(proxy: Client, rows: int) -> None:
    import anyio

    with anyio.fail_after(10):
        while (await proxy.get("/spend/logs/ui")).json()["total"] < rows:
            await anyio.sleep(0.05)


async def test_spend_log_pages_and_filters(tmp_path: Path, upstream: FakeOpenAI) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        for _ in range(3):
            await proxy.generate()
        await proxy.generate(model="gpt-image-1")
        await proxy.generate(model="nope")  # refused before routing: 400, not in the spend log
        await _written(proxy, 4)
        second = (await proxy.get("/spend/logs/ui", model="dall-e-3", page_size=2, page=2)).json()
        failed = (await proxy.get("/spend/logs/ui", status="error")).json()
        csv_text = (await proxy.get("/spend/logs/export", model="gpt-image-1")).text
    assert (second["total"], second["total_pages"], len(second["data"])) == (3, 2, 1)
    assert failed["total"] == 0
    header, row, end = csv_text.split("\r\n")
    assert header.startswith("request_id,startTime,api_key,model_group")
    assert ",gpt-image-1," in row
    assert end == ""


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "start_date"),
        ({"start_date": "yesterday"}, "start_date"),
        ({"status": "fine"}, "status"),
        ({"page": "0"}, "page"),
    ],
)
async def test_spend_queries_name_the_bad_parameter(
    tmp_path: Path, upstream: FakeOpenAI, params: dict[str, str], problem: str
) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        response = await proxy.get("/spend/logs/ui", **params)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == problem


# --- generations --------------------------------------------------------------------------------------


async def test_what_the_proxy_changed_on_the_callers_behalf_is_in_a_header(
    tmp_path: Path, upstream: FakeOpenAI
) -> None:
    deployment = openai_deployment("dall-e-2", upstream, drop_params=True)
    async with serving(tmp_path, [deployment], master_key=MASTER_KEY) as proxy:
        response = await proxy.generate(model="dall-e-2", style="vivid")
    assert response.status_code == 200
    (warning,) = json.loads(response.headers["x-imagegen-warnings"])
    assert "style" in warning


# --- serving /ui --------------------------------------------------------------------------------------


async def test_every_console_file_carries_the_security_headers(tmp_path: Path, upstream: FakeOpenAI) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        responses = [await proxy.get(path, None) for path in ("/ui/", "/ui/js/main.js", "/ui/console.css", "/ui/nope")]
        redirect = await proxy.get("/ui", None)
    assert [response.status_code for response in responses] == [200, 200, 200, 404]
    for response in (*responses, redirect):
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert responses[1].headers["content-type"].startswith("text/javascript")
    assert (redirect.status_code, redirect.headers["location"]) == (308, "/ui/")


async def test_an_unchanged_console_file_is_not_sent_again(tmp_path: Path, upstream: FakeOpenAI) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY) as proxy:
        first = await proxy.get("/ui/js/main.js", None)
        again = await proxy.client.get("/ui/js/main.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


async def test_the_console_can_be_turned_off(tmp_path: Path, upstream: FakeOpenAI) -> None:
    async with serving(tmp_path, models(upstream), master_key=MASTER_KEY, ui=False) as proxy:
        console = await proxy.get("/ui/", None)
        api = await proxy.get("/model_group/info")
    assert console.status_code == 404
    assert api.status_code == 200


def test_the_console_loads_nothing_from_elsewhere_and_runs_no_inline_script() -> None:
    files = {path: path.read_text(encoding="utf-8") for path in STATIC.rglob("*") if path.is_file()}
    address = re.compile(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/")
    for path, text in files.items():
        assert not address.search(text.replace("http://www.w3.org/2000/svg", "")), path  # the SVG namespace
        for unsafe in ("eval(", "new Function", "innerHTML", "insertAdjacentHTML", "document.write"):
            assert unsafe not in text, (path, unsafe)
    index = files[STATIC / "index.html"]
    assert re.findall(r"<script[^>]*>", index) == ['<script type="module" src="js/main.js">']
    assert "style=" not in index
