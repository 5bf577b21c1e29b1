"""Configs written the way LiteLLM's docs write them (`configs/`), served as LiteLLM documents them.

Wildcard routing, aliases, `include` and `environment_variables`, each routing strategy, and Redis named
the LiteLLM way (router_settings.redis_host/redis_port) shared by two replicas on PostgreSQL.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from imagegen.testing import FakeResponse
from imagegen_proxy.config import load_config
from tests.fakes.bedrock_fake import REGION, FakeBedrock
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import UPSTREAM_KEY, ProxyLauncher, RunningProxy, in_one_minute, run_serve

CONFIGS = Path(__file__).parent / "configs"
LITELLM_MASTER_KEY = "sk-1234"  # the configs' own, as in LiteLLM's docs
ACCESS_KEY = "AKIA" + secrets.token_hex(8).upper()
SECRET_KEY = secrets.token_urlsafe(30)
# Every setting issue 18 asks for: none of them may be reported as ignored.
SERVED_SETTINGS = (
    "redis_host", "redis_port", "redis_password", "redis_url", "cache_params", "database_url", "model_group_alias",
    "model_alias_map", "routing_strategy", "routing_strategy_args", "environment_variables", "include", "rpm", "tpm",
    "model_name",
)  # fmt: skip


class SlowOpenAI(FakeOpenAI):
    """A fake OpenAI that answers after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(api_keys=(UPSTREAM_KEY,))
        self.delay = delay

    def generate(self, body: dict[str, Any]) -> FakeResponse:
        time.sleep(self.delay)
        return super().generate(body)


@pytest.fixture
def eu() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


@pytest.fixture
def us() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


def two_regions(eu: FakeOpenAI, us: FakeOpenAI, **more: str) -> dict[str, str]:
    return {"OPENAI_API_KEY": UPSTREAM_KEY, "OPENAI_API_BASE_EU": eu.api_base, "OPENAI_API_BASE_US": us.api_base,
            **more}  # fmt: skip


def generate(proxy: RunningProxy, model: str, api_key: str = LITELLM_MASTER_KEY) -> Any:
    return proxy.post_generation({"model": model, "prompt": "A cute baby sea otter"}, api_key=api_key)


def listed(proxy: RunningProxy) -> set[str]:
    return {model.id for model in proxy.openai(api_key=LITELLM_MASTER_KEY).models.list()}


@pytest.mark.parametrize("config", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_litellm_configs_start_without_ignoring_a_setting_imagegen_serves(config: str) -> None:
    result = run_serve(["--config", str(CONFIGS / config), "--host", "127.0.0.1", "--check"])

    ignored = re.findall(r"warning: (\S+): not used by imagegen; ignored", result.stderr)
    assert result.returncode == 0, result.stderr
    assert [s for s in ignored if s.rpartition(".")[2] in SERVED_SETTINGS] == []


def test_check_says_what_became_of_each_litellm_setting() -> None:
    result = run_serve(["--config", str(CONFIGS / "litellm_proxy_example.yaml"), "--host", "127.0.0.1", "--check"])

    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[2:]}
    assert rows["router_settings.redis_host"] == "translated"
    assert rows["router_settings.model_group_alias"] == "honoured"
    assert rows["router_settings.enable_pre_call_checks"] == "ignored"
    assert rows["model_list[].litellm_params.stream_timeout"] == "ignored"


def test_prices_in_litellm_params_are_the_deployments_own(
    start_proxy: ProxyLauncher, eu: FakeOpenAI, us: FakeOpenAI
) -> None:
    proxy = start_proxy(CONFIGS / "litellm_params_pricing.yaml", env=two_regions(eu, us))
    check = run_serve(["--config", str(CONFIGS / "litellm_params_pricing.yaml"), "--host", "127.0.0.1", "--check"],
                      env=two_regions(eu, us))  # fmt: skip

    response = generate(proxy, "images")

    assert response.status_code == 200
    assert float(response.headers["x-imagegen-response-cost"]) == pytest.approx(0.005)  # not the list price, 0.02
    rows = {line.split()[0]: line.split()[1] for line in check.stdout.splitlines()[2:]}
    assert rows["model_list[].litellm_params.output_cost_per_image"] == "translated"
    assert rows["model_list[].litellm_params.input_cost_per_token"] == "translated"


def test_prices_in_litellm_params_give_way_to_those_in_model_info() -> None:
    config = load_config(CONFIGS / "litellm_params_pricing.yaml")

    (tokens,) = config.groups()["tokens"]

    assert tokens.model_info["input_cost_per_token"] == 0.000002
    assert tokens.model_info["output_cost_per_image_token"] == 0.00003
    assert "input_cost_per_token" not in tokens.params  # a price, not an image parameter for the provider


# -- wildcard routing --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wildcard_upstreams() -> Iterator[tuple[FakeOpenAI, FakeOpenAI, FakeBedrock]]:
    with (
        FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as openai_fake,
        FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as catch_all,
        FakeBedrock(credentials={ACCESS_KEY: (SECRET_KEY, None)}) as bedrock,
    ):
        yield openai_fake, catch_all, bedrock


@pytest.fixture(scope="module")
def wildcards(
    tmp_path_factory: pytest.TempPathFactory, wildcard_upstreams: tuple[FakeOpenAI, FakeOpenAI, FakeBedrock]
) -> Iterator[RunningProxy]:
    openai_fake, catch_all, bedrock = wildcard_upstreams
    launcher = ProxyLauncher(tmp_path_factory.mktemp("wildcards"))
    env = {"OPENAI_API_KEY": UPSTREAM_KEY, "OPENAI_API_BASE": openai_fake.api_base,
           "FALLBACK_OPENAI_API_BASE": catch_all.api_base, "BEDROCK_API_BASE": bedrock.url,
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION_NAME": REGION}  # fmt: skip
    yield launcher(CONFIGS / "wildcard_routing.yaml", env=env)
    launcher.close()


def test_an_exact_model_name_beats_the_wildcards(
    wildcards: RunningProxy, wildcard_upstreams: tuple[FakeOpenAI, FakeOpenAI, FakeBedrock]
) -> None:
    openai_fake = wildcard_upstreams[0]

    assert generate(wildcards, "dall-e-3").status_code == 200
    assert openai_fake.requests[-1].json()["quality"] == "hd"  # the exact deployment's default


def test_a_provider_wildcard_calls_the_requested_model(
    wildcards: RunningProxy, wildcard_upstreams: tuple[FakeOpenAI, FakeOpenAI, FakeBedrock]
) -> None:
    response = generate(wildcards, "openai/dall-e-2")

    assert response.status_code == 200
    assert wildcard_upstreams[0].requests[-1].json()["model"] == "dall-e-2"


def test_the_catch_all_wildcard_serves_any_other_image_model(
    wildcards: RunningProxy, wildcard_upstreams: tuple[FakeOpenAI, FakeOpenAI, FakeBedrock]
) -> None:
    response = generate(wildcards, "gpt-image-1")

    assert response.status_code == 200
    assert wildcard_upstreams[1].requests[-1].json()["model"] == "gpt-image-1"


def test_a_bedrock_wildcard_calls_the_requested_bedrock_model(
    wildcards: RunningProxy, wildcard_upstreams: tuple[FakeOpenAI, FakeOpenAI, FakeBedrock]
) -> None:
    response = generate(wildcards, "bedrock/amazon.nova-canvas-v1:0")

    assert response.status_code == 200
    assert wildcard_upstreams[2].requests[-1].path == "/model/amazon.nova-canvas-v1%3A0/invoke"


def test_a_name_no_plugin_lists_is_a_clear_400_without_an_upstream_call(
    wildcards: RunningProxy, wildcard_upstreams: tuple[FakeOpenAI, FakeOpenAI, FakeBedrock]
) -> None:
    before = len(wildcard_upstreams[1].requests)

    response = generate(wildcards, "gpt-4o")

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Invalid model name 'gpt-4o'; available models: ")
    assert len(wildcard_upstreams[1].requests) == before


def test_models_lists_what_each_wildcard_serves(wildcards: RunningProxy) -> None:
    names = listed(wildcards)

    assert {"dall-e-3", "openai/gpt-image-1", "bedrock/amazon.nova-canvas-v1:0", "gpt-image-1"} <= names
    assert not any("*" in name for name in names)


def test_model_info_shows_the_master_key_each_wildcard_deployment_once(wildcards: RunningProxy) -> None:
    with wildcards.http(LITELLM_MASTER_KEY) as client:
        deployments = client.get("/model/info").json()["data"]

    names = [deployment["model_name"] for deployment in deployments]
    assert sorted(names) == ["*", "bedrock/*", "dall-e-3", "openai/*"]
    assert {deployment["health"]["status"] for deployment in deployments} == {"ready"}


def test_model_group_info_describes_every_name_models_lists(wildcards: RunningProxy) -> None:
    with wildcards.http(LITELLM_MASTER_KEY) as client:
        groups = {group["model_group"]: group for group in client.get("/model_group/info").json()["data"]}

    assert set(groups) == listed(wildcards)  # a name a wildcard serves is described like a configured group
    assert (groups["dall-e-3"]["providers"], groups["dall-e-3"]["supported_operations"]) == (["openai"], ["generation"])


# -- aliases, include, environment_variables -------------------------------------------------------------


def test_aliases_are_served_and_hidden_ones_not_listed(start_proxy: ProxyLauncher, eu: FakeOpenAI) -> None:
    proxy = start_proxy(CONFIGS / "model_aliases.yaml", env={"OPENAI_API_KEY": UPSTREAM_KEY,
                                                             "OPENAI_API_BASE": eu.api_base})  # fmt: skip

    statuses = [generate(proxy, name).status_code for name in ("gpt-image", "dall-e", "image-default")]

    assert statuses == [200, 200, 200]
    assert [request.json()["model"] for request in eu.requests] == ["gpt-image-1", "dall-e-2", "gpt-image-1"]
    assert listed(proxy) == {"gpt-image-1", "dall-e-2", "gpt-image", "image-default"}


def test_an_included_file_is_served_with_the_including_files_environment_variables(
    start_proxy: ProxyLauncher, eu: FakeOpenAI
) -> None:
    proxy = start_proxy(CONFIGS / "include_parent.yaml", env={"OPENAI_API_BASE": eu.api_base})

    assert generate(proxy, "dall-e-2").status_code == 200
    assert eu.requests[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


# -- routing strategies ---------------------------------------------------------------------------------


def test_cost_based_routing_sends_to_the_cheapest_deployment_until_its_rpm(
    start_proxy: ProxyLauncher, eu: FakeOpenAI, us: FakeOpenAI
) -> None:
    proxy = start_proxy(CONFIGS / "cost_based_routing.yaml", env=two_regions(eu, us))
    in_one_minute()

    statuses = [generate(proxy, "images").status_code for _ in range(4)]

    assert statuses == [200] * 4
    assert (len(us.requests), len(eu.requests)) == (2, 2)  # the cheaper one took its 2 rpm


def test_latency_based_routing_prefers_the_faster_deployment(start_proxy: ProxyLauncher, us: FakeOpenAI) -> None:
    with SlowOpenAI(delay=0.15) as slow:
        proxy = start_proxy(
            CONFIGS / "latency_based_routing.yaml", env=two_regions(slow, us, LOWEST_LATENCY_BUFFER="0")
        )

        statuses = [generate(proxy, "dall-e-2").status_code for _ in range(8)]

    assert statuses == [200] * 8
    assert len(slow.requests) == 1  # tried once (a deployment not tried yet comes first), then left alone


def test_a_latency_buffer_shares_traffic_with_slower_deployments(start_proxy: ProxyLauncher, us: FakeOpenAI) -> None:
    with SlowOpenAI(delay=0.05) as slow:
        proxy = start_proxy(
            CONFIGS / "latency_based_routing.yaml", env=two_regions(slow, us, LOWEST_LATENCY_BUFFER="1000")
        )

        statuses = [generate(proxy, "dall-e-2").status_code for _ in range(20)]

    assert statuses == [200] * 20
    assert len(slow.requests) >= 2  # both within the buffer: picked at random (P(fewer) ≈ 2e-5)


# -- two replicas on PostgreSQL, Redis named the LiteLLM way ----------------------------------------------


def replicas(
    launch: ProxyLauncher,
    eu: FakeOpenAI,
    us: FakeOpenAI,
    postgres_url: str,
    redis_url: str,
    config_name: str = "usage_based_routing.yaml",
) -> tuple[RunningProxy, RunningProxy]:
    host, port = re.fullmatch(r"redis://([^:]+):(\d+)/0", redis_url).groups()  # type: ignore[union-attr]
    env = two_regions(eu, us, REDIS_HOST=host, REDIS_PORT=port, DATABASE_URL=postgres_url)
    config = CONFIGS / config_name
    return launch(config, env=env, name="one"), launch(config, env=env, name="two")


def test_replicas_share_deployment_rpm_limits_under_load(
    start_proxy: ProxyLauncher, eu: FakeOpenAI, us: FakeOpenAI, postgres_url: str, redis_url: str
) -> None:
    one, two = replicas(start_proxy, eu, us, postgres_url, redis_url)
    in_one_minute(20)

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i: generate((one, two)[i % 2], "dall-e-2").status_code, range(20)))
    over = generate(one, "dall-e-2")

    assert Counter(statuses) == {200: 20}  # 10 rpm for each of the two deployments
    assert (len(eu.requests), len(us.requests)) == (10, 10)
    assert over.status_code == 429
    assert over.json()["error"]["code"] == "deployment_rpm_limit"
    assert 1 <= int(over.headers["retry-after"]) <= 60


def test_usage_based_routing_picks_the_deployment_with_the_fewest_requests_across_replicas(
    start_proxy: ProxyLauncher, eu: FakeOpenAI, us: FakeOpenAI, postgres_url: str, redis_url: str
) -> None:
    one, two = replicas(start_proxy, eu, us, postgres_url, redis_url)
    in_one_minute()

    for index in range(6):
        assert generate((one, two)[index % 2], "dall-e-2").status_code == 200
        assert abs(len(eu.requests) - len(us.requests)) <= 1  # each pick evens the counts the replicas share


def test_usage_based_routing_skips_deployments_whose_tpm_is_used_across_replicas(
    start_proxy: ProxyLauncher, eu: FakeOpenAI, us: FakeOpenAI, postgres_url: str, redis_url: str
) -> None:
    one, two = replicas(start_proxy, eu, us, postgres_url, redis_url, "usage_based_routing_tpm.yaml")
    in_one_minute()

    first, second = generate(one, "gpt-image-1"), generate(two, "gpt-image-1")  # 282 tokens each, tpm 200
    over = generate(two, "gpt-image-1")

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["usage"]["total_tokens"] == 282
    assert (len(eu.requests), len(us.requests)) == (1, 1)
    assert over.status_code == 429
    assert "rpm or tpm limit" in over.json()["error"]["message"]


def test_virtual_key_limits_use_the_redis_router_settings_name(
    start_proxy: ProxyLauncher, eu: FakeOpenAI, us: FakeOpenAI, postgres_url: str, redis_url: str
) -> None:
    one, two = replicas(start_proxy, eu, us, postgres_url, redis_url)
    in_one_minute()
    with one.http(api_key=LITELLM_MASTER_KEY) as client:
        key = client.post("/key/generate", json={"rpm_limit": 2}).json()["key"]

    statuses = [generate(proxy, "dall-e-2", api_key=key).status_code for proxy in (one, two, one, two)]

    assert statuses == [200, 200, 429, 429]
