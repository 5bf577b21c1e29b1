"""Virtual keys end to end: the real proxy process, the official `openai` SDK, the fake OpenAI upstream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openai
import pytest

from imagegen.testing import png_image
from imagegen_proxy.keys.store import KeyStore
from imagegen_proxy.keys.tokens import hash_key
from tests.fakes.openai_fake import FakeOpenAI
from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, ProxyLauncher, RunningProxy, openai_deployment


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


def config(upstream: FakeOpenAI, **general: Any) -> dict[str, Any]:
    return {
        "model_list": [openai_deployment("dall-e-3", upstream), openai_deployment("gpt-image-1", upstream)],
        "general_settings": {"master_key": MASTER_KEY, **general},
    }


def generate_key(proxy: RunningProxy, **fields: Any) -> str:
    with proxy.http() as client:
        response = client.post("/key/generate", json=fields)
    assert response.status_code == 200, response.text
    key: str = response.json()["key"]
    return key


def draw(proxy: RunningProxy, key: str, model: str = "dall-e-3") -> Any:
    return proxy.openai(api_key=key).images.with_raw_response.generate(model=model, prompt="an otter")


def test_generated_key_generates_images_and_the_response_carries_its_cost(
    launch: ProxyLauncher, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    proxy = launch(config(upstream))
    key = generate_key(proxy, models=["dall-e-3"])
    raw = draw(proxy, key)
    assert len(raw.parse().data) == 1
    assert float(raw.headers["x-imagegen-response-cost"]) == pytest.approx(0.04)
    assert (tmp_path / "imagegen.db").exists()  # the default database, beside the config file


def test_generated_key_is_refused_another_model(launch: ProxyLauncher, upstream: FakeOpenAI) -> None:
    proxy = launch(config(upstream))
    key = generate_key(proxy, models=["dall-e-3"])
    with pytest.raises(openai.PermissionDeniedError, match="gpt-image-1"):
        draw(proxy, key, model="gpt-image-1")
    assert upstream.requests == []


def test_generated_key_is_refused_an_edit_with_another_model(launch: ProxyLauncher, upstream: FakeOpenAI) -> None:
    proxy = launch(config(upstream))
    key = generate_key(proxy, models=["dall-e-3"])
    with pytest.raises(openai.PermissionDeniedError, match="gpt-image-1"):
        proxy.openai(api_key=key).images.edit(model="gpt-image-1", image=("a.png", png_image(8, 8)), prompt="hat")
    assert upstream.requests == []


def test_an_edit_is_charged_to_its_key_and_logged_as_an_edit(launch: ProxyLauncher, upstream: FakeOpenAI) -> None:
    proxy = launch(config(upstream))
    key = generate_key(proxy, max_budget=10)

    raw = proxy.openai(api_key=key).images.with_raw_response.edit(
        model="gpt-image-1", image=("a.png", png_image(8, 8)), prompt="hat"
    )

    deadline = time.monotonic() + 10
    with proxy.http() as client:
        while not (rows := client.get("/spend/logs").json()) and time.monotonic() < deadline:
            time.sleep(0.05)
        spend = client.get("/key/info", params={"key": key}).json()["info"]["spend"]
    assert [(row["operation"], row["model_group"], row["status"]) for row in rows] == [("edit", "gpt-image-1", 200)]
    assert rows[0]["spend"] > 0
    assert spend == pytest.approx(rows[0]["spend"])
    assert "x-imagegen-response-cost" in raw.headers


def test_generated_key_is_refused_the_admin_routes(launch: ProxyLauncher, upstream: FakeOpenAI) -> None:
    proxy = launch(config(upstream))
    key = generate_key(proxy)
    with proxy.http(key) as client:
        assert client.post("/key/generate", json={}).status_code == 403
        assert client.get("/key/list").status_code == 403
        assert client.get("/spend/logs").status_code == 403


def test_key_past_its_rpm_limit_gets_429(launch: ProxyLauncher, upstream: FakeOpenAI) -> None:
    proxy = launch(config(upstream))
    key = generate_key(proxy, rpm_limit=1)
    draw(proxy, key)
    with pytest.raises(openai.RateLimitError):
        draw(proxy, key)


def test_key_over_its_budget_gets_budget_exceeded(launch: ProxyLauncher, upstream: FakeOpenAI) -> None:
    proxy = launch(config(upstream))
    key = generate_key(proxy, max_budget=0.04)
    draw(proxy, key)
    with pytest.raises(openai.BadRequestError, match="budget exceeded") as caught:
        draw(proxy, key)
    assert caught.value.type == "budget_exceeded"
    assert len(upstream.requests) == 1


def test_expired_key_gets_401(launch: ProxyLauncher, upstream: FakeOpenAI, tmp_path: Path) -> None:
    proxy = launch(config(upstream))
    key = generate_key(proxy, duration="30d")
    asyncio.run(expire(f"sqlite:///{tmp_path / 'imagegen.db'}", key))  # as if 30 days had passed
    with pytest.raises(openai.AuthenticationError, match="expired"):
        draw(proxy, key)


async def expire(database_url: str, key: str) -> None:
    store = KeyStore(database_url)
    await store.update(hash_key(key), {"expires": datetime.now(UTC) - timedelta(seconds=1)})
    await store.close()


def test_keys_and_spend_survive_a_restart(launch: ProxyLauncher, upstream: FakeOpenAI) -> None:
    proxy = launch(config(upstream), name="proxy")
    key = generate_key(proxy)
    draw(proxy, key)
    proxy.stop()  # SIGTERM: a clean stop writes the pending spend rows
    proxy = launch(config(upstream), name="proxy")
    draw(proxy, key)
    with proxy.http() as client:
        logs = client.get("/spend/logs", params={"api_key": key}).json()
        info = client.get("/key/info", params={"key": key}).json()["info"]
    assert [row["spend"] for row in logs][-1:] == [pytest.approx(0.04)]
    assert info["spend"] >= 0.04
    assert logs[-1]["prompt"] is None
    assert key not in proxy.logs()


def test_several_workers_without_redis_warn_that_limits_are_per_worker(
    launch: ProxyLauncher, upstream: FakeOpenAI
) -> None:
    proxy = launch(config(upstream), args=["--workers", "2"])
    assert "counted per worker" in proxy.logs()


def test_two_proxies_on_one_postgres_and_redis_share_limits_and_key_deletion(
    launch: ProxyLauncher, upstream: FakeOpenAI, postgres_url: str, redis_url: str
) -> None:
    shared = config(upstream, database_url=postgres_url)
    one = launch(shared, env={"REDIS_URL": redis_url}, name="one")
    two = launch(shared, env={"REDIS_URL": redis_url}, name="two")

    limited = generate_key(one, rpm_limit=2)
    draw(one, limited)
    draw(two, limited)
    with pytest.raises(openai.RateLimitError):
        draw(one, limited)
    with pytest.raises(openai.RateLimitError):
        draw(two, limited)

    budgeted = generate_key(two, max_budget=0.04)
    draw(one, budgeted)
    time.sleep(0.2)  # the spend is counted just after the response
    with pytest.raises(openai.BadRequestError, match="budget exceeded"):
        draw(two, budgeted)

    deleted = generate_key(one)
    draw(two, deleted)
    with one.http() as client:
        assert client.post("/key/delete", json={"keys": [deleted]}).status_code == 200
    deadline = time.monotonic() + 3
    while True:
        try:
            draw(two, deleted)
        except openai.AuthenticationError:
            break
        assert time.monotonic() < deadline, "the deleted key still worked on the other proxy after 3 s"
        time.sleep(0.05)


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_reservation_is_let_go_exactly_once_through_retries_and_fallbacks(
    launch: ProxyLauncher, upstream: FakeOpenAI, database: str, request: pytest.FixtureRequest
) -> None:
    general = {"database_url": request.getfixturevalue("postgres_url")} if database == "postgres" else {}
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as backup:
        proxy = launch({
            "model_list": [openai_deployment("primary", upstream, model="dall-e-2"),
                           openai_deployment("backup", backup, model="dall-e-2")],
            "router_settings": {"num_retries": 1, "retry_after": 0, "allowed_fails": 1000,
                                "fallbacks": [{"primary": ["backup"]}]},
            "general_settings": {"master_key": MASTER_KEY, **general},
        })  # fmt: skip
        # Two images of 0.02, one at a time: a reservation left held would refuse the next request (429), one
        # let go twice would leave room for a third image.
        key = generate_key(proxy, max_budget=0.04, max_parallel_requests=1)
        upstream.fail_next("unavailable", times=1000)  # primary always fails, and is retried
        statuses = []
        for backup_failures in (0, 2, 0, 0):  # served by the fallback; every try failing; served; over budget
            backup.fail_next("unavailable", times=backup_failures)
            statuses.append(proxy.post_generation({"model": "primary", "prompt": "otter"}, api_key=key).status_code)
            time.sleep(0.1)  # the reservation is settled just after the response
        deadline = time.monotonic() + 5
        with proxy.http() as client:  # the spend rows are written within half a second
            while (spend := client.get("/key/info", params={"key": key}).json()["info"]["spend"]) < 0.04:
                assert time.monotonic() < deadline, f"spend {spend} after 5 s"
                time.sleep(0.05)

    assert statuses == [200, 503, 200, 400]
    assert len(backup.requests) == 1 + 2 + 1
    assert spend == pytest.approx(0.04)
