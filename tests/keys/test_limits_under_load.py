"""Budgets and limits hold under concurrency, on one proxy and on two replicas sharing PostgreSQL and Redis.

Each request reserves its worst-case price before it goes upstream, so a burst admits exactly what
the budget allows however slow the upstream is; `max_parallel_requests`, teams' and end users'
limits hold the same way. The real proxy processes, a fake OpenAI upstream that takes 1 s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from imagegen.testing import FakeResponse
from tests.fakes.openai_fake import FakeOpenAI
from tests.proxy.conftest import UPSTREAM_KEY, GatedOpenAI, ProxyLauncher, RunningProxy

from .test_proxy_keys import config

UPSTREAM_SECONDS = 1.0


class SlowOpenAI(FakeOpenAI):
    """A fake OpenAI whose every image takes a second, as a real one takes many."""

    def generate(self, body: dict[str, Any]) -> FakeResponse:
        time.sleep(UPSTREAM_SECONDS)
        return super().generate(body)


@pytest.fixture
def slow_upstream() -> Iterator[SlowOpenAI]:
    with SlowOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


def admin(proxy: RunningProxy, path: str, **body: Any) -> dict[str, Any]:
    with proxy.http() as client:
        response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def info(proxy: RunningProxy, path: str, **query: str) -> dict[str, Any]:
    with proxy.http() as client:
        response = client.get(path, params=query)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def burst(proxies: Sequence[RunningProxy], key: str, count: int, **body: Any) -> list[httpx.Response]:
    """`count` generations sent at once, spread over `proxies`."""

    async def send_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{proxies[i % len(proxies)].url}/v1/images/generations",
                        headers={"authorization": f"Bearer {key}"},
                        json={"model": "dall-e-3", "prompt": "an otter", **body},
                    )
                    for i in range(count)
                )
            )

    return asyncio.run(send_all())


def eventually(check: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            pytest.fail("the spend was not written in time")
        time.sleep(0.05)


def assert_exactly_ten_of_fifty(answers: list[httpx.Response], upstream: FakeOpenAI) -> None:
    statuses = [answer.status_code for answer in answers]
    refused = [answer.json()["error"] for answer in answers if answer.status_code == 400]
    others = [answer.text for answer in answers if answer.status_code not in (200, 400)]
    assert others == []
    assert statuses.count(200) == 10
    assert statuses.count(400) == 40
    assert {error["type"] for error in refused} == {"budget_exceeded"}
    assert len(upstream.requests) == 10  # the refused never went upstream


def test_fifty_requests_at_once_spend_exactly_a_budget_of_ten_images(
    launch: ProxyLauncher, slow_upstream: SlowOpenAI
) -> None:
    proxy = launch(config(slow_upstream))
    key = admin(proxy, "/key/generate", max_budget=0.40)["key"]  # dall-e-3: 0.04 an image
    answers = burst([proxy], key, 50)
    assert_exactly_ten_of_fifty(answers, slow_upstream)
    # Ten additions of 0.04 in floating point are 0.39999999999999997: spend is shown to 10 decimal places.
    eventually(lambda: info(proxy, "/key/info", key=key)["info"]["spend"] == 0.40)


def test_two_workers_on_sqlite_spend_exactly_a_budget_of_ten_images(
    launch: ProxyLauncher, slow_upstream: SlowOpenAI
) -> None:
    proxy = launch(config(slow_upstream), args=["--workers", "2"])  # reservations in the SQLite file
    key = admin(proxy, "/key/generate", max_budget=0.40)["key"]
    assert_exactly_ten_of_fifty(burst([proxy], key, 50), slow_upstream)


def test_two_replicas_on_postgres_and_redis_spend_exactly_a_budget_of_ten_images(
    launch: ProxyLauncher, slow_upstream: SlowOpenAI, postgres_url: str, redis_url: str
) -> None:
    shared = config(slow_upstream, database_url=postgres_url)
    one = launch(shared, env={"REDIS_URL": redis_url}, name="one")
    two = launch(shared, env={"REDIS_URL": redis_url}, name="two")
    key = admin(one, "/key/generate", max_budget=0.40)["key"]
    answers = burst([one, two], key, 50)
    assert_exactly_ten_of_fifty(answers, slow_upstream)
    eventually(lambda: info(two, "/key/info", key=key)["info"]["spend"] == pytest.approx(0.40))


def test_two_replicas_on_postgres_without_redis_also_spend_exactly_the_budget(
    launch: ProxyLauncher, slow_upstream: SlowOpenAI, postgres_url: str
) -> None:
    shared = config(slow_upstream, database_url=postgres_url)
    one, two = launch(shared, name="one"), launch(shared, name="two")
    key = admin(one, "/key/generate", max_budget=0.40)["key"]
    assert_exactly_ten_of_fifty(burst([one, two], key, 50), slow_upstream)


def test_a_request_that_may_cost_more_than_the_budget_left_is_refused_up_front(
    launch: ProxyLauncher, slow_upstream: SlowOpenAI
) -> None:
    proxy = launch(config(slow_upstream))
    key = admin(proxy, "/key/generate", max_budget=0.10)["key"]
    [answer] = burst([proxy], key, 1, quality="hd", size="1792x1024")  # 0.12
    assert answer.status_code == 400
    assert "may cost up to $0.12" in answer.json()["error"]["message"]
    assert slow_upstream.requests == []


def test_max_parallel_requests_refuses_the_request_over_it_with_429_across_replicas(
    launch: ProxyLauncher, postgres_url: str, redis_url: str
) -> None:
    with GatedOpenAI() as upstream:
        shared = config(upstream, database_url=postgres_url)
        one = launch(shared, env={"REDIS_URL": redis_url}, name="one")
        two = launch(shared, env={"REDIS_URL": redis_url}, name="two")
        key = admin(one, "/key/generate", max_parallel_requests=2)["key"]

        async def three_at_once() -> list[int]:
            async with httpx.AsyncClient(timeout=30) as client:

                def send(proxy: RunningProxy) -> Any:
                    return client.post(
                        f"{proxy.url}/v1/images/generations",
                        headers={"authorization": f"Bearer {key}"},
                        json={"model": "dall-e-3", "prompt": "an otter"},
                    )

                held = [asyncio.ensure_future(send(one)), asyncio.ensure_future(send(two))]
                await asyncio.to_thread(upstream.wait_for_requests, 2)
                third = await send(two)
                upstream.release()
                return [third.status_code, *[(await answer).status_code for answer in held]]

        third, *first_two = asyncio.run(three_at_once())
        after = burst([one], key, 1)[0]
    assert third == 429
    assert first_two == [200, 200]
    assert after.status_code == 200  # their places were let go


# -- teams and end users ---------------------------------------------------------------------------


@pytest.fixture
def replicas(launch: ProxyLauncher, postgres_url: str, redis_url: str) -> Iterator[tuple[RunningProxy, RunningProxy]]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as upstream:
        shared = config(upstream, database_url=postgres_url)
        yield (
            launch(shared, env={"REDIS_URL": redis_url}, name="one"),
            launch(shared, env={"REDIS_URL": redis_url}, name="two"),
        )


def in_one_minute(*requests: Any) -> list[int]:
    """The statuses of `requests` (callables) made in one fixed minute, as rpm limits count them: with less than
    ten seconds of this minute left, they wait for the next one."""
    left = 60 - time.time() % 60
    if left < 10:
        time.sleep(left)
    minute = int(time.time() // 60)
    statuses = [request().status_code for request in requests]
    assert int(time.time() // 60) == minute, "the requests took over ten seconds"
    return statuses


def unique(name: str) -> str:
    """A team or end user id no earlier run used: Redis outlives each test's PostgreSQL schema."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def draw(proxy: RunningProxy, key: str, model: str = "dall-e-3", **body: Any) -> httpx.Response:
    with proxy.http(key) as client:
        return client.post("/v1/images/generations", json={"model": model, "prompt": "an otter", **body})


def test_team_budget_bounds_all_its_keys_across_replicas(replicas: tuple[RunningProxy, RunningProxy]) -> None:
    one, two = replicas
    team = unique("search")
    admin(one, "/team/new", team_id=team, max_budget=0.08)
    first = admin(one, "/key/generate", team_id=team)["key"]
    second = admin(two, "/key/generate", team_id=team, max_budget=10)["key"]
    assert draw(one, first).status_code == 200
    assert draw(two, second).status_code == 200
    refused = draw(two, first)
    assert refused.status_code == 400
    assert f"the team '{team}'" in refused.json()["error"]["message"]
    eventually(lambda: info(one, "/team/info", team_id=team)["team_info"]["spend"] == pytest.approx(0.08))
    shown = info(two, "/team/info", team_id=team)
    assert [key["spend"] for key in shown["keys"]] == [pytest.approx(0.04)] * 2  # the team's is both keys' spend


def test_team_models_and_rpm_limit_bound_its_keys(replicas: tuple[RunningProxy, RunningProxy]) -> None:
    one, two = replicas
    team = unique("art")
    admin(one, "/team/new", team_id=team, models=["dall-e-*"], rpm_limit=1)
    key = admin(one, "/key/generate", team_id=team, models=["*"])["key"]
    wrong_model = draw(one, key, model="gpt-image-1")
    assert wrong_model.status_code == 403
    assert "its team may not use the model 'gpt-image-1'" in wrong_model.json()["error"]["message"]
    assert in_one_minute(lambda: draw(one, key), lambda: draw(two, key)) == [200, 429]


def test_end_user_budget_holds_across_replicas_and_their_spend_is_shown(
    replicas: tuple[RunningProxy, RunningProxy],
) -> None:
    one, two = replicas
    user = unique("u")
    admin(one, "/customer/new", user_id=user, max_budget=0.04)
    key = admin(one, "/key/generate")["key"]
    assert draw(one, key, user=user).status_code == 200
    refused = draw(two, key, user=user)
    assert draw(two, key, user=unique("other")).status_code == 200  # an end user without limits
    assert refused.status_code == 400
    assert f"the end user '{user}'" in refused.json()["error"]["message"]
    eventually(lambda: info(two, "/customer/info", end_user_id=user)["spend"] == pytest.approx(0.04))
    rows = info(one, "/spend/logs", end_user=user)
    assert [(row["end_user"], row["spend"]) for row in rows if row["status"] == 200] == [(user, pytest.approx(0.04))]


def test_end_user_rpm_limit_and_blocking(replicas: tuple[RunningProxy, RunningProxy]) -> None:
    one, two = replicas
    user = unique("u")
    admin(one, "/end_user/new", user_id=user, rpm_limit=1)
    key = admin(one, "/key/generate")["key"]
    assert in_one_minute(lambda: draw(one, key, user=user), lambda: draw(two, key, user=user)) == [200, 429]
    admin(one, "/customer/update", user_id=user, blocked=True)
    assert draw(two, key, user=user).status_code == 403
