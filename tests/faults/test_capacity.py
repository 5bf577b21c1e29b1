"""A worker's ceiling is its file-descriptor limit, not a fixed cap: raised at start, reported, and when it
is truly reached new requests get a fast 503 with `Retry-After`, never a silent queue."""

from __future__ import annotations

import resource
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from imagegen_proxy import capacity
from imagegen_proxy.capacity import FileDescriptors, raise_open_file_limit, reserve_for
from tests.proxy.conftest import UPSTREAM_KEY, ProxyLauncher, RunningProxy

from .upstream import FaultyUpstream, wait_until

LIMIT = 256  # descriptors: with 64 in reserve, ~90 requests (2 descriptors each) fit in flight
REQUESTS = 160


def config(upstream: FaultyUpstream) -> dict[str, Any]:
    return {"model_list": [{"model_name": "m", "litellm_params": {"model": "openai/dall-e-2",
                                                                    "api_base": upstream.api_base,
                                                                    "api_key": UPSTREAM_KEY}}]}  # fmt: skip


def soft_open_files(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as limits:
        line = next(line for line in limits if line.startswith("Max open files"))
    return int(line.split()[3])


def under_load(proxy: RunningProxy, count: int) -> list[httpx.Response]:
    """`count` requests at once, each on a connection of its own."""
    with (
        httpx.Client(timeout=60, limits=httpx.Limits(max_connections=None)) as client,
        ThreadPoolExecutor(count) as pool,
    ):
        return list(pool.map(lambda _: generate(client, proxy), range(count)))


def generate(client: httpx.Client, proxy: RunningProxy) -> httpx.Response:
    return client.post(f"{proxy.url}/v1/images/generations", json={"model": "m", "prompt": "otter"})


def test_serve_raises_its_soft_open_file_limit_to_the_hard_one(
    start_proxy: ProxyLauncher, upstream: FaultyUpstream
) -> None:
    proxy = start_proxy(config(upstream), open_files=(256, 4096))

    assert soft_open_files(proxy.process.pid) == 4096


def test_at_the_descriptor_limit_new_requests_get_a_fast_503_and_the_rest_are_served(
    start_proxy: ProxyLauncher,
) -> None:
    with FaultyUpstream(latency=3.0) as upstream:  # answers held long enough for the load to pile up
        proxy = start_proxy(config(upstream), open_files=(LIMIT, LIMIT))
        responses = under_load(proxy, REQUESTS)
        after = under_load(proxy, 1)[0]
        with proxy.http(None) as client:
            metrics = client.get("/metrics").text

    statuses = [response.status_code for response in responses]
    refused = [response for response in responses if response.status_code == 503]
    assert set(statuses) == {200, 503}  # every request answered: served, or refused
    assert all(response.headers["retry-after"] == "1" for response in refused)
    assert {response.json()["error"]["code"] for response in refused} == {"proxy_at_capacity"}
    assert upstream.requests == statuses.count(200) + 1  # a refused request never reached the upstream
    assert after.status_code == 200  # room again once the load is gone
    assert f'imagegen_proxy_requests_refused_total{{reason="at_capacity"}} {len(refused)}.0' in metrics


def test_readiness_reports_how_close_the_worker_is_to_its_limit(
    start_proxy: ProxyLauncher, upstream: FaultyUpstream
) -> None:
    proxy = start_proxy(config(upstream), open_files=(LIMIT, LIMIT))

    with proxy.http(None) as client:
        readiness = client.get("/health/readiness").json()
        metrics = client.get("/metrics").text

    descriptors = readiness["file_descriptors"]
    assert readiness["status"] == "healthy"
    assert descriptors["limit"] == LIMIT
    assert descriptors["refusing_above"] == LIMIT - reserve_for(LIMIT)
    assert 0 < descriptors["open"] < descriptors["refusing_above"]
    assert f"imagegen_proxy_file_descriptor_limit {LIMIT}.0" in metrics
    assert "imagegen_proxy_open_file_descriptors " in metrics


def test_a_worker_past_its_limit_is_not_ready(start_proxy: ProxyLauncher) -> None:
    with FaultyUpstream(latency=3.0) as slow:
        proxy = start_proxy(config(slow), open_files=(LIMIT, LIMIT))
        with ThreadPoolExecutor(1) as pool:
            load = pool.submit(under_load, proxy, REQUESTS)
            wait_until(lambda: slow.requests >= 80, 30, "the load to fill the worker")
            readiness = httpx.get(f"{proxy.url}/health/readiness", timeout=10)
            statuses = {response.status_code for response in load.result()}

    assert 503 in statuses
    assert (readiness.status_code, readiness.json()["status"]) == (503, "at_capacity")


def test_the_limit_is_the_soft_limit_and_the_reserve_a_twentieth_of_it_at_least_64() -> None:
    soft, hard = raise_open_file_limit()
    descriptors = FileDescriptors()

    assert (soft, hard) == resource.getrlimit(resource.RLIMIT_NOFILE)
    assert descriptors.limit == soft
    assert reserve_for(256) == 64
    assert reserve_for(20_000) == 1_000
    assert 0 < descriptors.count() < soft


def test_descriptors_are_counted_from_dev_fd_where_there_is_no_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    on_linux = FileDescriptors().count()
    monkeypatch.setattr(capacity, "FD_DIRECTORIES", ("/nonexistent/proc/self/fd", "/dev/fd"))

    descriptors = FileDescriptors()

    assert descriptors.directory == "/dev/fd"
    assert abs(descriptors.count() - on_linux) <= 2  # the listing's own descriptor
    assert descriptors.has_room()


def test_without_a_descriptor_listing_nothing_is_counted_nor_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity, "FD_DIRECTORIES", ("/nonexistent/proc/self/fd", "/nonexistent/dev/fd"))

    descriptors = FileDescriptors()

    assert descriptors.directory is None
    assert descriptors.count() == 0
    assert all(descriptors.has_room() for _ in range(descriptors.limit + 1))
