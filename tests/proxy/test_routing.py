"""Load balancing, retries across deployments, cooldowns and fallbacks, through the real server."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from imagegen.exceptions import RateLimitError
from imagegen_proxy.config import RouterSettings, parse_config
from imagegen_proxy.router import retry_delay
from imagegen_proxy.strategies import strategy_for
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import MASTER_KEY, UPSTREAM_KEY, GatedOpenAI, ProxyLauncher, in_one_minute, openai_deployment

OTTER = {"model": "images", "prompt": "otter"}


@pytest.fixture
def second_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


def _config(model_list: list[dict[str, Any]], **router: Any) -> dict[str, Any]:
    return {
        "model_list": model_list,
        "router_settings": {"retry_after": 0, **router},
        "general_settings": {"master_key": MASTER_KEY},
    }


def _weighted(name: str, upstream: FakeOpenAI, weight: int) -> dict[str, Any]:
    return openai_deployment(name, upstream, model="dall-e-2", weight=weight)


def test_a_retry_moves_to_another_deployment(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next("server_error", times=100)
    proxy = start_proxy(
        _config([_weighted("images", fake_openai, 1), _weighted("images", second_openai, 1)],
                num_retries=1, allowed_fails=1000)
    )  # fmt: skip

    statuses = [proxy.post_generation(OTTER).status_code for _ in range(6)]

    assert statuses == [200] * 6
    assert len(second_openai.requests) == 6


def test_a_failing_deployment_cools_down_and_gets_no_traffic(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next("server_error", times=100)
    proxy = start_proxy(
        _config([_weighted("images", fake_openai, 1000), _weighted("images", second_openai, 1)],
                num_retries=1, allowed_fails=0, cooldown_time=60)
    )  # fmt: skip

    statuses = [proxy.post_generation(OTTER).status_code for _ in range(8)]

    assert statuses == [200] * 8
    assert len(fake_openai.requests) == 1  # the first failure cooled it down
    with proxy.http() as client:
        assert 'imagegen_proxy_deployment_cooldowns_total{deployment="images#1"} 1.0' in client.get("/metrics").text


def test_a_group_whose_deployments_all_cool_down_answers_503_without_calling_upstream(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next("server_error", times=100)
    proxy = start_proxy(
        _config([_weighted("images", fake_openai, 1)], num_retries=0, allowed_fails=0, cooldown_time=60)
    )

    first, second = proxy.post_generation(OTTER), proxy.post_generation(OTTER)

    assert first.status_code == 500
    assert second.status_code == 503
    assert second.json()["error"]["code"] == "no_deployment_available"
    assert len(fake_openai.requests) == 1


def test_a_failing_group_falls_back_to_another_group(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next("unavailable", times=100)
    proxy = start_proxy(
        _config(
            [openai_deployment("primary", fake_openai, model="gpt-image-1"),
             openai_deployment("backup", second_openai, model="dall-e-3")],
            num_retries=1, allowed_fails=1000, fallbacks=[{"primary": ["backup"]}],
        )
    )  # fmt: skip

    result = proxy.openai().images.generate(model="primary", prompt="otter")

    assert result.data[0].url is not None  # dall-e-3 answered
    assert len(fake_openai.requests) == 2  # the first try and one retry
    assert second_openai.requests[0].json()["model"] == "dall-e-3"
    with proxy.http() as client:
        assert (
            'imagegen_proxy_fallbacks_total{fallback="backup",model_group="primary"} 1.0' in client.get("/metrics").text
        )


@pytest.mark.parametrize(("models", "status"), [(["primary"], 503), (["primary", "backup"], 200)])
def test_a_key_falls_back_only_to_model_groups_it_may_use(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI, models: list[str], status: int
) -> None:
    fake_openai.fail_next("unavailable", times=100)
    proxy = start_proxy(
        _config(
            [openai_deployment("primary", fake_openai, model="dall-e-2"),
             openai_deployment("backup", second_openai, model="dall-e-2")],
            num_retries=0, allowed_fails=1000, fallbacks=[{"primary": ["backup"]}],
        )
    )  # fmt: skip
    with proxy.http() as client:
        key = client.post("/key/generate", json={"models": models}).json()["key"]

    response = proxy.post_generation({"model": "primary", "prompt": "otter"}, api_key=key)

    assert response.status_code == status  # without `backup`: primary's own error
    assert len(second_openai.requests) == (status == 200)


def test_a_chat_deployment_sharing_an_image_model_name_is_never_routed_to(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    chat = {**openai_deployment("images", second_openai, model="gpt-4o", weight=1000), "model_info": {"mode": "chat"}}
    proxy = start_proxy(_config([_weighted("images", fake_openai, 1), chat]))

    statuses = [proxy.post_generation(OTTER).status_code for _ in range(5)]

    assert statuses == [200] * 5
    assert second_openai.requests == []


def test_a_cooled_down_group_goes_straight_to_its_fallback(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next("rate_limit", times=100)
    proxy = start_proxy(
        _config(
            [openai_deployment("primary", fake_openai, model="dall-e-2"),
             openai_deployment("backup", second_openai, model="dall-e-2")],
            num_retries=0, allowed_fails=0, cooldown_time=60, fallbacks=[{"primary": ["backup"]}],
        )
    )  # fmt: skip

    statuses = [proxy.post_generation({"model": "primary", "prompt": "otter"}).status_code for _ in range(4)]

    assert statuses == [200] * 4
    assert len(fake_openai.requests) == 1
    assert len(second_openai.requests) == 4


def test_a_request_error_is_neither_retried_nor_fallen_back(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    fake_openai.fail_next("bad_request")
    proxy = start_proxy(
        _config(
            [openai_deployment("primary", fake_openai, model="dall-e-2"),
             openai_deployment("backup", second_openai, model="dall-e-2")],
            num_retries=2, fallbacks=[{"primary": ["backup"]}],
        )
    )  # fmt: skip

    response = proxy.post_generation({"model": "primary", "prompt": "otter"})

    assert response.status_code == 400
    assert len(fake_openai.requests) == 1
    assert second_openai.requests == []


def test_a_content_policy_refusal_uses_only_content_policy_fallbacks(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    model_list = [
        openai_deployment("strict", fake_openai, model="dall-e-2"),
        openai_deployment("lenient", second_openai, model="dall-e-2"),
    ]
    plain = start_proxy(_config(model_list, fallbacks=[{"strict": ["lenient"]}]), name="plain")
    policy = start_proxy(_config(model_list, content_policy_fallbacks=[{"strict": ["lenient"]}]), name="policy")

    fake_openai.fail_next("content_policy")
    refused = plain.post_generation({"model": "strict", "prompt": "otter"})
    fake_openai.fail_next("content_policy")
    served = policy.post_generation({"model": "strict", "prompt": "otter"})

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "content_policy_violation"
    assert served.status_code == 200
    assert len(second_openai.requests) == 1


def test_least_busy_sends_the_next_request_to_the_idle_deployment(start_proxy: ProxyLauncher) -> None:
    with GatedOpenAI() as first, GatedOpenAI() as second:
        proxy = start_proxy(
            _config([_weighted("images", first, 1), _weighted("images", second, 1)], routing_strategy="least-busy")
        )
        with ThreadPoolExecutor(2) as pool:
            pending = [pool.submit(proxy.post_generation, OTTER)]
            busy = first if _first_to_answer(first, second) is first else second
            pending.append(pool.submit(proxy.post_generation, OTTER))
            idle = second if busy is first else first
            idle.wait_for_requests(1)
            first.release()
            second.release()
            statuses = [future.result().status_code for future in pending]

    assert statuses == [200, 200]
    assert len(first.requests) == len(second.requests) == 1


def _first_to_answer(first: GatedOpenAI, second: GatedOpenAI) -> GatedOpenAI:
    while True:
        for fake in (first, second):
            if fake.requests:
                return fake


def test_a_model_missing_its_environment_variable_answers_503_and_the_others_work(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI
) -> None:
    unconfigured = openai_deployment("unconfigured", fake_openai, model="dall-e-2")
    unconfigured["litellm_params"]["api_key"] = "os.environ/IMAGEGEN_TEST_MISSING_KEY"
    proxy = start_proxy(_config([unconfigured, openai_deployment("configured", fake_openai, model="dall-e-2")]))

    missing = proxy.post_generation({"model": "unconfigured", "prompt": "otter"})
    working = proxy.post_generation({"model": "configured", "prompt": "otter"})

    assert missing.status_code == 503
    assert "IMAGEGEN_TEST_MISSING_KEY" in missing.json()["error"]["message"]
    assert working.status_code == 200
    assert "IMAGEGEN_TEST_MISSING_KEY not set" in proxy.logs()


def test_environment_variables_fill_config_values(start_proxy: ProxyLauncher, fake_openai: FakeOpenAI) -> None:
    deployment = openai_deployment("images", fake_openai, model="dall-e-2")
    deployment["litellm_params"]["api_key"] = "os.environ/MY_UPSTREAM_KEY"
    proxy = start_proxy(_config([deployment]), env={"MY_UPSTREAM_KEY": UPSTREAM_KEY})

    assert proxy.post_generation(OTTER).status_code == 200
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


# -- how long a retry of the same deployment waits --------------------------------------------------


def rate_limited(retry_after: float | None) -> RateLimitError:
    error = RateLimitError("slow down", provider="openai", model="dall-e-2", status_code=429)
    error.retry_after = retry_after
    return error


def test_a_retry_waits_as_long_as_the_provider_asked() -> None:
    assert retry_delay(1, RouterSettings(), rate_limited(2.5)) == 2.5


def test_the_configured_retry_after_is_a_floor_under_the_providers_wait() -> None:
    assert retry_delay(1, RouterSettings(retry_after=4), rate_limited(2.5)) == 4
    assert retry_delay(1, RouterSettings(retry_after=1), rate_limited(2.5)) == 2.5


def test_without_the_providers_word_the_configured_wait_or_backoff_applies() -> None:
    assert retry_delay(1, RouterSettings(retry_after=0), rate_limited(None)) == 0
    assert 0.375 <= retry_delay(1, RouterSettings(), rate_limited(None)) <= 0.5  # the core's first backoff


# -- deployment rpm: a limit, whatever the strategy -------------------------------------------------------


def test_a_deployment_at_its_rpm_is_skipped_and_a_group_all_at_theirs_answers_429(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    proxy = start_proxy(_config([_weighted("images", fake_openai, 1) | {"model_info": {"rpm": 1}},
                                 openai_deployment("images", second_openai, model="dall-e-2", rpm=2)]))  # fmt: skip
    in_one_minute()

    statuses = [proxy.post_generation(OTTER).status_code for _ in range(3)]
    refused = proxy.post_generation(OTTER)

    assert statuses == [200, 200, 200]
    assert (len(fake_openai.requests), len(second_openai.requests)) == (1, 2)
    assert refused.status_code == 429
    assert "has reached its rpm limit for this minute" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_a_group_at_its_rpm_limits_falls_back(
    start_proxy: ProxyLauncher, fake_openai: FakeOpenAI, second_openai: FakeOpenAI
) -> None:
    proxy = start_proxy(
        _config([openai_deployment("primary", fake_openai, model="dall-e-2", rpm=1),
                 openai_deployment("backup", second_openai, model="dall-e-2")], fallbacks=[{"primary": ["backup"]}])
    )  # fmt: skip
    in_one_minute()

    statuses = [proxy.post_generation({"model": "primary", "prompt": "otter"}).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert (len(fake_openai.requests), len(second_openai.requests)) == (1, 2)


def test_cost_based_routing_compares_the_prices_the_deployments_are_charged(fake_openai: FakeOpenAI) -> None:
    config = parse_config({"model_list": [
        openai_deployment("images", fake_openai, model="dall-e-3"),  # list price: 0.08 an hd image
        {**openai_deployment("images", fake_openai, model="dall-e-3"), "model_info": {"output_cost_per_image": 0.05}},
        openai_deployment("images", fake_openai, model="dall-e-2"),  # 0.02, but no hd
    ], "router_settings": {"routing_strategy": "cost-based-routing"}})  # fmt: skip
    strategy = strategy_for(config.router, {})
    first, own_price, cheapest = config.groups()["images"]
    hd = {"quality": "hd", "size": "1024x1024"}

    assert strategy.choose([first, own_price], hd, None) is own_price
    assert strategy.choose([first, own_price, cheapest], {"size": "1024x1024"}, None) is cheapest
