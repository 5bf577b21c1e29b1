"""SIGTERM under load: every accepted request answered, every spend row written, the process gone by the
drain timeout; a second SIGTERM stops the requests still in flight at once (answered 503, still recorded).

Each test runs `imagegen serve` as a subprocess with a master key, so the spend log is a SQLite file
beside its config, read once the process has exited.
"""

from __future__ import annotations

import signal
import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.proxy.conftest import MASTER_KEY, UPSTREAM_KEY, ProxyLauncher, RunningProxy, run_serve, write_config

from .upstream import FaultyUpstream, wait_until

LARGE_IMAGE = 300_000  # streamed through the proxy
IN_FLIGHT = 40
EXIT_WAIT = 30.0  # a hang guard: far longer than any of these drains, far shorter than the default one


def config(small: FaultyUpstream, large: FaultyUpstream) -> dict[str, Any]:
    def deployment(name: str, upstream: FaultyUpstream) -> dict[str, Any]:
        return {"model_name": name, "litellm_params": {"model": "openai/dall-e-2", "api_base": upstream.api_base,
                                                       "api_key": UPSTREAM_KEY}}  # fmt: skip

    return {
        "model_list": [deployment("small", small), deployment("large", large)],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }


def post(proxy: RunningProxy, model: str) -> tuple[int, str | None]:
    """The status and error code the client got; 0 for a response that broke off."""
    with proxy.http() as client:
        try:
            response = client.post("/v1/images/generations", json={"model": model, "prompt": "otter"}, timeout=60)
        except httpx.RemoteProtocolError:
            return 0, None
    if response.status_code == 200:
        response.json()
        return 200, None
    assert response.headers.get("retry-after") == "1"
    return response.status_code, response.json()["error"]["code"]


def spend_statuses(proxy: RunningProxy) -> list[int]:
    """The spend log's statuses, read from the database file the stopped proxy left beside its config."""
    database = Path(proxy.log_path).parent / "imagegen.db"
    with sqlite3.connect(database) as connection:
        return sorted(status for (status,) in connection.execute("SELECT status FROM imagegen_spend_logs"))


def under_load(
    proxy: RunningProxy, upstreams: list[FaultyUpstream], pool: ThreadPoolExecutor
) -> list[Future[tuple[int, str | None]]]:
    """IN_FLIGHT requests, half small and half streamed, once every one has reached its upstream."""
    answers = [pool.submit(post, proxy, "small" if index % 2 else "large") for index in range(IN_FLIGHT)]
    wait_until(lambda: sum(upstream.requests for upstream in upstreams) >= IN_FLIGHT, 30, "every request upstream")
    return answers


def sigterm_under_load(proxy: RunningProxy, upstreams: tuple[FaultyUpstream, ...]) -> list[tuple[int, str | None]]:
    """SIGTERM with IN_FLIGHT requests in flight; the answers they got, once the proxy has exited."""
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        answers = under_load(proxy, list(upstreams), pool)
        proxy.process.send_signal(signal.SIGTERM)
        statuses = [answer.result() for answer in answers]
    assert exit_code(proxy) in (0, -signal.SIGTERM)
    return statuses


def exit_code(proxy: RunningProxy) -> int:
    return proxy.process.wait(EXIT_WAIT)


def wait_for_the_first_signal(proxy: RunningProxy) -> None:
    wait_until(lambda: "stopping: finishing the requests in flight" in proxy.logs(), 20, "the first signal to land")


@pytest.fixture
def upstreams() -> Any:
    with FaultyUpstream(latency=1.0) as small, FaultyUpstream(LARGE_IMAGE, latency=1.0) as large:
        yield small, large


def test_sigterm_lets_every_request_in_flight_finish_and_writes_every_spend_row(
    start_proxy: ProxyLauncher, upstreams: tuple[FaultyUpstream, FaultyUpstream]
) -> None:
    proxy = start_proxy(config(*upstreams), args=["--drain-timeout", "30"])

    statuses = sigterm_under_load(proxy, upstreams)

    assert statuses == [(200, None)] * IN_FLIGHT
    assert spend_statuses(proxy) == [200] * IN_FLIGHT
    assert "Application shutdown complete" in proxy.logs()


def test_requests_outlasting_the_drain_timeout_are_answered_503_and_recorded(
    start_proxy: ProxyLauncher, upstreams: tuple[FaultyUpstream, FaultyUpstream]
) -> None:
    for upstream in upstreams:
        upstream.default = "stall"
    proxy = start_proxy(config(*upstreams), args=["--drain-timeout", "1"])

    statuses = sigterm_under_load(proxy, upstreams)

    assert statuses == [(503, "shutting_down")] * IN_FLIGHT  # never a dropped connection
    assert spend_statuses(proxy) == [503] * IN_FLIGHT


def test_a_second_sigterm_stops_the_requests_in_flight_at_once(
    start_proxy: ProxyLauncher, upstreams: tuple[FaultyUpstream, FaultyUpstream]
) -> None:
    small, large = upstreams
    small.default = "stall"
    large.default = "endless"  # streaming to its client: its 200 went out, so it can only be cut off
    # Paced (320 KiB/s each rather than 16 MB/s): 20 streams at full speed relay ~320 MB/s through the proxy and
    # this process, taking a loaded machine's CPU from the signal handling and logging the test waits for.
    large.endless_interval = 0.05
    proxy = start_proxy(config(small, large), args=["--drain-timeout", "3600"])
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        answers = under_load(proxy, [small, large], pool)
        wait_until(lambda: large.streaming == IN_FLIGHT // 2, 20, "every large answer streaming")

        proxy.process.send_signal(signal.SIGTERM)
        wait_for_the_first_signal(proxy)
        proxy.process.send_signal(signal.SIGTERM)

        statuses = [answer.result() for answer in answers]
    assert exit_code(proxy) in (0, -signal.SIGTERM)  # long before the hour's drain
    assert sorted(statuses) == [(0, None)] * (IN_FLIGHT // 2) + [(503, "shutting_down")] * (IN_FLIGHT // 2)
    # Recorded all the same: the cut-off streams as their client's loss (and charged, their 2xx was made).
    assert spend_statuses(proxy) == [499] * (IN_FLIGHT // 2) + [503] * (IN_FLIGHT // 2)


def test_a_stopping_proxy_refuses_new_requests_on_open_connections_and_is_not_ready(
    start_proxy: ProxyLauncher, upstreams: tuple[FaultyUpstream, FaultyUpstream]
) -> None:
    small, large = upstreams
    small.default = "stall"
    proxy = start_proxy(config(small, large), args=["--drain-timeout", "3600"])
    with proxy.http() as client, ThreadPoolExecutor(1) as pool:
        held = pool.submit(post, proxy, "small")
        small.wait_for_requests(1)
        client.get("/health/liveliness")  # the client's own connection, kept alive through the signal
        proxy.process.send_signal(signal.SIGTERM)
        wait_for_the_first_signal(proxy)

        try:
            readiness = client.get("/health/readiness").status_code
        except httpx.TransportError:
            readiness = None  # uvicorn closed the idle connection first: nothing more to ask on it
        proxy.process.send_signal(signal.SIGTERM)

        assert held.result() == (503, "shutting_down")
    assert readiness in (503, None)
    assert exit_code(proxy) in (0, -signal.SIGTERM)


def test_a_negative_drain_timeout_is_refused(tmp_path: Path) -> None:
    with FaultyUpstream() as upstream:
        path = write_config(tmp_path, config(upstream, upstream))

        result = run_serve(["--config", str(path), "--host", "127.0.0.1", "--drain-timeout", "-1"])

    assert result.returncode == 2
    assert "--drain-timeout must be 0 or more seconds" in result.stderr


def test_with_several_workers_a_second_sigterm_reaches_every_worker(
    start_proxy: ProxyLauncher, upstreams: tuple[FaultyUpstream, FaultyUpstream]
) -> None:
    small, large = upstreams
    small.default = large.default = "stall"
    proxy = start_proxy(config(small, large), args=["--drain-timeout", "3600", "--workers", "2"])
    # The proxy answers once one worker is up; a worker still starting when the signal comes stops before it
    # serves (uvicorn's own handler), and never drains: what is tested here needs both up.
    wait_until(lambda: proxy.logs().count("Application startup complete") == 2, 60, "both workers to start")
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        answers = under_load(proxy, list(upstreams), pool)

        proxy.process.send_signal(signal.SIGTERM)  # to the supervisor, as a container runtime sends it
        # A hang guard: the supervisor passes the signal on between its own 0.5 s checks, to workers that may be
        # busy.
        wait_until(lambda: proxy.logs().count("stopping: finishing the requests in flight") == 2, 60, "both workers")
        proxy.process.send_signal(signal.SIGTERM)

        statuses = [answer.result() for answer in answers]
    assert exit_code(proxy) in (0, -signal.SIGTERM)
    assert statuses == [(503, "shutting_down")] * IN_FLIGHT
