"""The proxy in front of an upstream that breaks: the right status for each fault, every request recorded,
cooldowns and fallbacks as configured, no request left hanging and no descriptor left open.

An answer the proxy reads whole (≤ 64 KiB) that breaks is an error response. A large one it streams
through is already `200` to its client when it breaks, so the client's response is cut off: it must
look broken, never short and whole. Either way the spend log has one row per request, with its status.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, ProxyLauncher, RunningProxy

from .conftest import DRIP_INTERVAL, HANG_TIMEOUT, TIMEOUT, Descriptors
from .upstream import HANGS, Fault, FaultyUpstream, refused_api_base, wait_until

LARGE_IMAGE = 300_000  # its base64 is over the 64 KiB the proxy reads whole: the answer streams through
# What a client gets for each fault: an error status and OpenAI's error type, or a 200 that breaks off.
BROKEN = (200, "broken")
EXPECTED: dict[Fault, tuple[int, str]] = {
    "close": (502, "api_connection_error"),
    "reset_after_headers": (502, "api_connection_error"),
    "reset_mid_body": (502, "api_connection_error"),
    "truncated_json": (502, "api_error"),
    "garbage": (502, "api_error"),
    "server_error": (500, "api_error"),
    "unavailable": (503, "api_error"),
    "stall": (408, "timeout"),
    "endless": BROKEN,  # its chunks pass 64 KiB: streamed, then cut at the timeout
    "drip": (408, "timeout"),
    "drip_headers": (408, "timeout"),
}
EXPECTED_LARGE: dict[Fault, tuple[int, str]] = {
    **EXPECTED,
    "reset_mid_body": BROKEN,
    "truncated_json": BROKEN,
}
# What the spend log says of each broken-off stream: its status, as the proxy saw the upstream end.
BROKEN_RECORDED: dict[Fault, int] = {"reset_mid_body": 502, "truncated_json": 502, "endless": 408}


def deployment(name: str, upstream: FaultyUpstream | str, timeout: float) -> dict[str, Any]:
    api_base = upstream if isinstance(upstream, str) else upstream.api_base
    return {"model_name": name, "litellm_params": {"model": "openai/dall-e-2", "api_base": api_base,
                                                   "api_key": UPSTREAM_KEY, "timeout": timeout}}  # fmt: skip


@pytest.fixture(scope="module")
def small() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(drip_interval=DRIP_INTERVAL) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def large() -> Iterator[FaultyUpstream]:
    with FaultyUpstream(LARGE_IMAGE, drip_interval=DRIP_INTERVAL) as upstream:
        yield upstream


def faults_config(groups: dict[str, FaultyUpstream | str]) -> dict[str, Any]:
    """No retries, no cooldowns: each request meets exactly the fault scripted for it. Each group
    also has a `-hang` twin with a short timeout, for the faults only a timeout ends."""
    model_list = []
    for name, upstream in groups.items():
        model_list += [deployment(name, upstream, TIMEOUT), deployment(f"{name}-hang", upstream, HANG_TIMEOUT)]
    return {
        "model_list": model_list,
        "router_settings": {"num_retries": 0, "allowed_fails": 1_000_000},
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture(scope="module")
def proxy(
    small: FaultyUpstream, large: FaultyUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningProxy]:
    launcher = ProxyLauncher(tmp_path_factory.mktemp("faults"))
    yield launcher(faults_config({"small": small, "large": large, "refused": refused_api_base()}))
    launcher.close()


def group_for(fault: Fault, size: str) -> str:
    return f"{size}-hang" if fault in HANGS else size


def ask(proxy: RunningProxy, model: str) -> tuple[int, str]:
    """The status and error type the client gets, or `broken` for a 200 whose body breaks off."""
    with proxy.http() as client:
        try:
            response = client.post("/v1/images/generations", json={"model": model, "prompt": "otter"})
        except httpx.RemoteProtocolError:
            return BROKEN
    if response.status_code == 200:
        response.json()  # a 200 must be whole
        return 200, "ok"
    return response.status_code, response.json()["error"]["type"]


def spend_rows(proxy: RunningProxy, count: int) -> list[dict[str, Any]]:
    """The spend log, once it has `count` rows (they are written in batches, off the response path)."""
    rows: list[dict[str, Any]] = []

    def enough() -> bool:
        nonlocal rows
        with proxy.http() as client:
            rows = client.get("/spend/logs").json()
        return len(rows) >= count

    wait_until(enough, 20, f"{count} spend rows")
    return rows


def recorded(fault: Fault, expected: dict[Fault, tuple[int, str]]) -> tuple[int, bool]:
    """The status the spend log should have for `fault`, and whether it is charged (the answer began with 2xx)."""
    if fault == "ok":
        return 200, True
    if expected[fault] == BROKEN:
        return BROKEN_RECORDED[fault], True
    return expected[fault][0], False


def in_flight(proxy: RunningProxy) -> float:
    with proxy.http() as client:
        metrics = client.get("/metrics").text
    line = next(line for line in metrics.splitlines() if line.startswith("imagegen_proxy_requests_in_flight "))
    return float(line.split()[1])


CASES = [("small", fault, answer) for fault, answer in EXPECTED.items()] + [
    ("large", fault, answer) for fault, answer in EXPECTED_LARGE.items()
]


@pytest.mark.parametrize(("size", "fault", "expected"), CASES, ids=[f"{size}-{fault}" for size, fault, _ in CASES])
def test_a_fault_is_an_error_response_or_when_streaming_already_a_broken_one(
    proxy: RunningProxy,
    small: FaultyUpstream,
    large: FaultyUpstream,
    size: str,
    fault: Fault,
    expected: tuple[int, str],
) -> None:
    (small if size == "small" else large).script(fault)

    assert ask(proxy, group_for(fault, size)) == expected


def test_an_upstream_refusing_connections_is_502(proxy: RunningProxy) -> None:  # (no answer: no fault to script)
    assert ask(proxy, "refused") == (502, "api_connection_error")


def test_an_unavailable_upstreams_retry_after_is_passed_on(proxy: RunningProxy, small: FaultyUpstream) -> None:
    small.script("unavailable")

    with proxy.http() as client:
        response = client.post("/v1/images/generations", json={"model": "small", "prompt": "otter"})

    assert response.status_code == 503
    assert response.headers["retry-after"] == "0"


def test_every_request_is_recorded_with_its_status_and_every_started_answer_is_charged(
    start_proxy: ProxyLauncher, large: FaultyUpstream
) -> None:
    proxy = start_proxy(faults_config({"large": large}))
    faults: list[Fault] = ["ok", *EXPECTED_LARGE]

    for fault in faults:
        large.script(fault)
        ask(proxy, group_for(fault, "large"))

    rows = spend_rows(proxy, len(faults))
    assert len(rows) == len(faults)
    # A streamed answer that broke off began with 2xx: the upstream made (and billed) the image.
    assert sorted((row["status"], (row["spend"] or 0) > 0) for row in rows) == sorted(
        recorded(fault, EXPECTED_LARGE) for fault in faults
    )


def test_a_5xx_storm_cools_the_deployment_down_and_then_answers_fast_without_calling_it(
    start_proxy: ProxyLauncher, upstream: FaultyUpstream
) -> None:
    upstream.default = "unavailable"
    proxy = start_proxy({
        "model_list": [deployment("storm", upstream, TIMEOUT)],
        "router_settings": {"num_retries": 0, "allowed_fails": 2, "cooldown_time": 60},
    })  # fmt: skip

    statuses = [ask(proxy, "storm")[0] for _ in range(10)]
    with proxy.http() as client:
        refused = client.post("/v1/images/generations", json={"model": "storm", "prompt": "otter"})

    assert statuses == [503] * 10
    assert upstream.requests == 3  # two allowed failures, the third cools it down: the rest never reach it
    assert refused.json()["error"]["code"] == "no_deployment_available"
    assert 0 < int(refused.headers["retry-after"]) <= 60  # when to come back, as the cooldown says


def test_a_5xx_storm_falls_back_to_the_configured_group(start_proxy: ProxyLauncher, upstream: FaultyUpstream) -> None:
    upstream.default = "server_error"
    with FaultyUpstream() as healthy:
        proxy = start_proxy({
            "model_list": [deployment("storm", upstream, TIMEOUT), deployment("calm", healthy, TIMEOUT)],
            "router_settings": {"num_retries": 1, "retry_after": 0, "allowed_fails": 100, "fallbacks": [{"storm": ["calm"]}]},
        })  # fmt: skip

        statuses = [ask(proxy, "storm") for _ in range(5)]

    assert statuses == [(200, "ok")] * 5
    assert upstream.requests == 10  # the first try and one retry each, then the fallback
    assert healthy.requests == 5


def test_requests_hanging_on_the_upstream_do_not_stop_the_worker_or_leak(
    start_proxy: ProxyLauncher, upstream: FaultyUpstream
) -> None:
    proxy = start_proxy(faults_config({"small": upstream}))
    assert ask(proxy, "small") == (200, "ok")  # warm: the pool's connection and the spend log open
    descriptors = Descriptors(upstream, proxy.process.pid)
    hanging: list[Fault] = ["stall", "endless", "drip", "drip_headers"] * 5

    with ThreadPoolExecutor(len(hanging)) as pool:
        upstream.script(*hanging)
        answers = pool.map(lambda _: ask(proxy, "small-hang")[0], hanging)
        upstream.wait_for_requests(1 + len(hanging))
        during = ask(proxy, "small")  # the worker serves others while they hang
        statuses = sorted(answers)

    assert during == (200, "ok")
    assert statuses == sorted(EXPECTED[fault][0] for fault in hanging)
    assert in_flight(proxy) == 0
    descriptors.assert_nothing_left_open()


def test_after_every_fault_the_proxy_has_no_connection_or_descriptor_left_open(
    start_proxy: ProxyLauncher, upstream: FaultyUpstream
) -> None:
    proxy = start_proxy(faults_config({"small": upstream}))
    assert ask(proxy, "small") == (200, "ok")
    descriptors = Descriptors(upstream, proxy.process.pid)

    for fault in EXPECTED:
        upstream.script(fault)
        ask(proxy, group_for(fault, "small"))

    assert ask(proxy, "small") == (200, "ok")
    descriptors.assert_nothing_left_open()
