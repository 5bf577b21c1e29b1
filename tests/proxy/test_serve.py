"""`imagegen serve`: the command, its checks, a LiteLLM config file, shutdown and workers."""

from __future__ import annotations

import gc
import re
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from imagegen_proxy.app import FULL_COLLECTION_AFTER, create_app
from imagegen_proxy.config import load_config
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import (
    MASTER_KEY,
    UPSTREAM_KEY,
    GatedOpenAI,
    ProxyLauncher,
    free_port,
    openai_deployment,
    run_serve,
    write_config,
)

REPO = Path(__file__).resolve().parents[2]


def test_serve_is_added_to_the_imagegen_command_by_the_proxy_plugin() -> None:
    result = run_serve(["--help"])

    assert result.returncode == 0
    assert "--allow-unauthenticated" in result.stdout


def test_check_accepts_a_valid_config(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    path = write_config(tmp_path, {"model_list": [openai_deployment("gpt-image-1", fake_openai)]})

    result = run_serve(["--config", str(path), "--host", "127.0.0.1", "--check"])

    assert result.returncode == 0, result.stderr
    assert "OK (1 model groups, 1 deployments)" in result.stdout


def test_check_reports_every_problem_at_once_with_its_place_in_the_file(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "model_list": [
                {"model_name": "a", "litellm_params": {"model": "dall-e-3", "size": "13x13"}},
                {"model_name": "b", "litellm_params": {}},
                {"litellm_params": {"model": "dall-e-2"}},
            ],
            "router_settings": {"routing_strategy": "fastest", "fallbacks": [{"a": ["nowhere"]}]},
        },
    )

    result = run_serve(["--config", str(path), "--check"])

    assert result.returncode == 1
    for problem in (
        "has 5 problem(s)",
        "model_list[0].litellm_params.size: `size`='13x13' is not supported; allowed: 1024x1024, 1024x1792, 1792x1024",
        "model_list[1].litellm_params.model: required",
        "model_list[2].model_name: required",
        "router_settings.routing_strategy: unknown 'fastest'; one of simple-shuffle, least-busy, latency-based-routing",
        "router_settings.fallbacks[0].a: 'nowhere' is not a model_name in model_list",
    ):
        assert problem in result.stderr


def test_check_says_which_settings_were_honoured_translated_or_ignored(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    path = write_config(
        tmp_path,
        {"model_list": [openai_deployment("gpt-image-1", fake_openai)],
         "router_settings": {"routing_strategy": "least-busy", "cache_responses": True, "redis_url": "redis://h:1"}},
    )  # fmt: skip

    result = run_serve(["--config", str(path), "--host", "127.0.0.1", "--check"])

    table = result.stdout.splitlines()[1:]
    assert table[0].split() == ["setting", "status", "what", "imagegen", "does"]
    assert table[1].split()[:2] == ["router_settings.routing_strategy", "honoured"]
    assert table[2].split()[:2] == ["router_settings.cache_responses", "ignored"]
    assert [row.split()[1] for row in table if "router_settings.redis_url" in row] == ["translated"]


def test_litellm_command_flags_are_understood(start_proxy: ProxyLauncher, fake_openai: FakeOpenAI) -> None:
    config = {
        "model_list": [openai_deployment("dall-e-2", fake_openai)],
        "general_settings": {"master_key": MASTER_KEY},
    }
    proxy = start_proxy(config, args=["--num_workers", "2", "--detailed_debug"])

    statuses = [proxy.post_generation({"model": "dall-e-2", "prompt": "otter"}).status_code for _ in range(4)]

    assert statuses == [200] * 4
    assert "imagegen generation openai/dall-e-2: 1 image(s)" in proxy.logs()  # a debug line
    # The proxy answers once one worker is up; the second may still be importing.
    proxy.wait_for_logs(
        lambda logs: len(set(re.findall(r"Started server process \[(\d+)\]", logs))) == 2, "two workers"
    )


def test_a_missing_environment_variable_is_a_warning_not_an_error(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, {"model_list": [{"model_name": "x", "params": {"model": "dall-e-3", "api_key": "os.environ/NOPE"}}]}
    )

    result = run_serve(["--config", str(path), "--host", "127.0.0.1", "--check"])

    assert result.returncode == 0
    assert "warning: model_list[0].params: environment variable(s) NOPE not set; 'x' answers 503" in result.stderr


def test_it_refuses_a_public_address_without_a_master_key(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    path = write_config(tmp_path, {"model_list": [openai_deployment("gpt-image-1", fake_openai)]})

    result = run_serve(["--config", str(path), "--host", "0.0.0.0", "--port", str(free_port())])

    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without authentication" in result.stderr


def test_allow_unauthenticated_lifts_that_refusal(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    path = write_config(tmp_path, {"model_list": [openai_deployment("gpt-image-1", fake_openai)]})

    result = run_serve(["--config", str(path), "--host", "0.0.0.0", "--allow-unauthenticated", "--check"])

    assert result.returncode == 0


def test_without_a_master_key_on_loopback_no_key_is_needed(start_proxy: ProxyLauncher, fake_openai: FakeOpenAI) -> None:
    proxy = start_proxy({"model_list": [openai_deployment("dall-e-2", fake_openai)]})

    assert proxy.post_generation({"model": "dall-e-2", "prompt": "otter"}, api_key=None).status_code == 200


def test_a_litellm_config_file_works_unchanged(start_proxy: ProxyLauncher, fake_openai: FakeOpenAI) -> None:
    # The shape of LiteLLM's docs, with LiteLLM-only settings imagegen ignores (with a warning).
    config = f"""
model_list:
  - model_name: gpt-image-1 ### RECEIVED MODEL NAME ###
    litellm_params: # all params accepted by litellm.image_generation()
      model: openai/gpt-image-1 ### MODEL NAME sent to `litellm.image_generation()` ###
      api_base: {fake_openai.api_base}
      api_key: "os.environ/OPENAI_API_KEY_EU" # does os.getenv("OPENAI_API_KEY_EU")
      rpm: 60
    model_info:
      mode: image_generation
      base_model: gpt-image-1
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY_EU
    model_info:
      mode: chat
litellm_settings:
  drop_params: true
  set_verbose: false
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
  timeout: 30
general_settings:
  master_key: {MASTER_KEY}
  alerting: ["slack"]
"""
    proxy = start_proxy(config, env={"OPENAI_API_KEY_EU": UPSTREAM_KEY})

    result = proxy.openai().images.generate(model="gpt-image-1", prompt="A cute baby sea otter", n=1, size="1024x1024")

    assert result.data[0].b64_json
    assert "general_settings.alerting: not used by imagegen; ignored" in proxy.logs()


def test_the_example_config_starts_without_an_openai_key_and_answers_503(start_proxy: ProxyLauncher) -> None:
    proxy = start_proxy((REPO / "examples" / "config.yaml").read_text())

    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter"}, api_key="sk-1234")

    assert response.status_code == 503
    assert "OPENAI_API_KEY" in response.json()["error"]["message"]


def test_a_graceful_shutdown_finishes_the_requests_in_flight(start_proxy: ProxyLauncher) -> None:
    with GatedOpenAI() as upstream, ThreadPoolExecutor(2) as pool:
        proxy = start_proxy({"model_list": [openai_deployment("dall-e-2", upstream)]})
        pending = pool.submit(proxy.post_generation, {"model": "dall-e-2", "prompt": "otter"}, None)
        upstream.wait_for_requests(1)

        stopping = pool.submit(proxy.stop)
        _wait_until_refused(proxy.url)
        upstream.release()

        assert pending.result().status_code == 200
        # uvicorn re-raises the signal once shut down, so the exit status still says "stopped by SIGTERM".
        assert stopping.result() in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in proxy.logs()


def _wait_until_refused(url: str) -> None:
    for _ in range(1000):
        try:
            httpx.get(f"{url}/health/liveliness", timeout=1)
        except httpx.TransportError:
            return
    pytest.fail("the proxy kept accepting connections after SIGTERM")


def test_several_workers_serve_and_share_their_metrics(start_proxy: ProxyLauncher, fake_openai: FakeOpenAI) -> None:
    proxy = start_proxy(
        {"model_list": [openai_deployment("dall-e-2", fake_openai)], "general_settings": {"master_key": MASTER_KEY}},
        args=["--workers", "2"],
    )

    statuses = [proxy.post_generation({"model": "dall-e-2", "prompt": "otter"}).status_code for _ in range(6)]
    with proxy.http() as client:
        metrics = client.get("/metrics").text

    assert statuses == [200] * 6
    assert 'imagegen_proxy_requests_total{model_group="dall-e-2",status="200"} 6.0' in metrics


@pytest.mark.parametrize("args", [[], ["--config", "config.yaml", "--port", "4000"]])
def test_without_the_proxy_plugin_serve_says_how_to_install_it(args: list[str]) -> None:
    result = run_serve(args, env={"IMAGEGEN_DISABLE_PLUGINS": "serve"})

    assert result.returncode == 2
    assert "pip install imagegen-proxy" in result.stderr


async def startup_freeze_count(tmp_path: Path, upstream: FakeOpenAI, **options: bool) -> int:
    """How many objects the garbage collector no longer walks, once the app has started."""
    config = load_config(write_config(tmp_path, {"model_list": [openai_deployment("gpt-image-1", upstream)]}))
    app = create_app(config, **options)
    try:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()
    finally:
        gc.unfreeze()


@pytest.mark.anyio
async def test_a_serving_process_keeps_its_start_up_heap_out_of_later_garbage_collections(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    # Under load, full collections came twice a second and each walked every module, table and plugin.
    assert await startup_freeze_count(tmp_path, fake_openai, freeze_startup_heap=True) > 0


@pytest.mark.anyio
async def test_a_serving_process_makes_full_collections_rarer(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    before = gc.get_threshold()
    try:
        await startup_freeze_count(tmp_path, fake_openai, freeze_startup_heap=True)
        # Thousands of slow requests in flight are what a full collection walks: less often.
        assert gc.get_threshold() == (*before[:2], FULL_COLLECTION_AFTER)
    finally:
        gc.set_threshold(*before)


@pytest.mark.anyio
async def test_an_app_embedded_in_another_process_leaves_its_garbage_collector_alone(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    assert await startup_freeze_count(tmp_path, fake_openai) == 0
