"""What the proxy says about each request: its `x-request-id` (answers, error bodies, spend rows, logs),
JSON log lines, the config's callbacks with the key in the record, and a trace continuing `traceparent`."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from imagegen.testing import png_image
from tests.keys.test_proxy_keys import generate_key

from .conftest import MASTER_KEY, ProxyLauncher, RunningProxy

MOCK = {"model_name": "mock", "litellm_params": {"model": "mock/mock-image-1", "size": "64x64"}}
FLAKY = {"model_name": "flaky", "litellm_params": {"model": "mock/flaky", "mock_fail_rate": 1, "mock_fail_status": 503}}
CALLBACKS = """
import json

class Recorder:
    def on_request(self, record):
        self._write("on_request", record)

    def on_success(self, record):
        self._write("on_success", record)

    async def on_failure(self, record):
        self._write("on_failure", record)

    def _write(self, hook, record):
        with open({path!r}, "a") as out:
            out.write(json.dumps({{"hook": hook, **record.to_dict()}}) + "\\n")

proxy_handler_instance = Recorder()


class Broken:
    def on_success(self, record):
        raise RuntimeError("the log backend is down")

broken = Broken()
"""


def config(**litellm_settings: Any) -> dict[str, Any]:
    return {
        "model_list": [MOCK, FLAKY],
        "router_settings": {"num_retries": 0, "allowed_fails": 1000},
        "litellm_settings": litellm_settings,
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    launcher = ProxyLauncher(tmp_path_factory.mktemp("observed"))
    yield launcher(config(), args=["--log-format", "json"])
    launcher.close()


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(check: Any, what: str) -> Any:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.02)
    raise AssertionError(f"no {what} within 10 s")


# -- request ids -------------------------------------------------------------------------------------


def test_every_answer_carries_a_request_id(proxy: RunningProxy) -> None:
    with proxy.http() as client:
        answers = [
            client.post("/v1/images/generations", json={"model": "mock", "prompt": "otter"}),
            client.get("/v1/models"),
            client.get("/no/such/route"),
            client.get("/health/liveliness"),
        ]
    ids = [answer.headers.get("x-request-id") for answer in answers]
    assert all(ids)
    assert len(set(ids)) == len(ids)


def test_a_valid_client_request_id_is_kept(proxy: RunningProxy) -> None:
    with proxy.http() as client:
        answer = client.get("/v1/models", headers={"x-request-id": "client-req.42:a"})
    assert answer.headers["x-request-id"] == "client-req.42:a"


@pytest.mark.parametrize("sent", ["has spaces", "x" * 65, 'quote"d'])
def test_an_invalid_client_request_id_is_replaced(proxy: RunningProxy, sent: str) -> None:
    with proxy.http() as client:
        answer = client.get("/v1/models", headers={"x-request-id": sent})
    assert answer.headers["x-request-id"] != sent
    assert len(answer.headers["x-request-id"]) == 32


def test_an_error_body_names_the_request_id(proxy: RunningProxy) -> None:
    answer = proxy.post_generation({"model": "no-such-model", "prompt": "otter"})
    assert answer.status_code == 400
    assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]


def test_an_upstream_failure_names_the_request_id(proxy: RunningProxy) -> None:
    answer = proxy.post_generation({"model": "flaky", "prompt": "otter"})
    assert answer.status_code == 503
    assert answer.json()["error"]["request_id"] == answer.headers["x-request-id"]


# -- JSON logs ---------------------------------------------------------------------------------------


def test_json_logs_are_one_object_per_line_with_the_request_fields(proxy: RunningProxy) -> None:
    answer = proxy.post_generation({"model": "mock", "prompt": "a private otter"})
    request_id = answer.headers["x-request-id"]

    def logged() -> dict[str, Any] | None:
        lines = [json.loads(line) for line in proxy.logs().splitlines() if line.startswith("{")]
        return next((line for line in lines if line.get("request_id") == request_id and "status" in line), None)

    line = wait_for(logged, "log line for the request")
    assert (line["model_group"], line["deployment"], line["status"], line["images"]) == ("mock", "mock#1", 200, 1)
    assert line["operation"] == "generation"
    assert line["cost"] == 0.0
    assert line["latency_ms"] > 0
    assert {"time", "level", "logger", "message"} <= line.keys()
    assert "a private otter" not in proxy.logs()


def test_json_log_lines_and_spend_rows_name_the_operation(proxy: RunningProxy) -> None:
    with proxy.http() as client:
        answer = client.post(
            "/v1/images/edits", data={"model": "mock", "prompt": "a hat"}, files={"image": ("o.png", png_image(64, 64))}
        )
    request_id = answer.headers["x-request-id"]

    def logged() -> dict[str, Any] | None:
        lines = [json.loads(line) for line in proxy.logs().splitlines() if line.startswith("{")]
        return next((line for line in lines if line.get("request_id") == request_id and "status" in line), None)

    line = wait_for(logged, "log line for the edit")
    row = wait_for(lambda: next((r for r in spend_rows(proxy) if r["request_id"] == request_id), None), "spend row")
    assert answer.status_code == 200
    assert (line["operation"], line["status"]) == ("edit", 200)
    assert row["operation"] == "edit"


def spend_rows(proxy: RunningProxy) -> list[dict[str, Any]]:
    with proxy.http() as client:
        rows: list[dict[str, Any]] = client.get("/spend/logs").json()
    return rows


# -- callbacks from the config -----------------------------------------------------------------------


def test_config_callbacks_see_each_call_with_the_request_id_and_key(start_proxy: ProxyLauncher, tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    (tmp_path / "custom_callbacks.py").write_text(CALLBACKS.format(path=str(out)))
    proxy = start_proxy(config(callbacks="custom_callbacks.proxy_handler_instance"))
    key = generate_key(proxy, key_alias="team-otter")

    answer = proxy.post_generation({"model": "mock", "prompt": "otter", "metadata": {"job": "j-1"}}, api_key=key)
    assert answer.status_code == 200
    done = wait_for(lambda: [r for r in records(out) if r["hook"] == "on_success"], "on_success record")[0]

    assert [r["hook"] for r in records(out)] == ["on_request", "on_success"]
    assert done["request_id"] == answer.headers["x-request-id"]
    assert (done["key_alias"], done["model_group"], done["deployment"]) == ("team-otter", "mock", "mock#1")
    assert done["key_hash"]
    assert key not in json.dumps(done)
    assert (done["metadata"], done["provider"], done["images"], done["cost"]) == ({"job": "j-1"}, "mock", 1, 0.0)
    assert done["prompt"] is None


def test_failure_callbacks_see_failed_calls(start_proxy: ProxyLauncher, tmp_path: Path) -> None:
    out = tmp_path / "records.jsonl"
    (tmp_path / "custom_callbacks.py").write_text(CALLBACKS.format(path=str(out)))
    proxy = start_proxy(config(failure_callback=["custom_callbacks.proxy_handler_instance"]))

    assert proxy.post_generation({"model": "flaky", "prompt": "otter"}).status_code == 503
    (failed,) = wait_for(lambda: records(out), "on_failure record")
    assert (failed["hook"], failed["status_code"], failed["error_class"]) == (
        "on_failure",
        503,
        "ServiceUnavailableError",
    )
    assert proxy.post_generation({"model": "mock", "prompt": "otter"}).status_code == 200
    assert [r["hook"] for r in records(out)] == ["on_failure"]  # a failure_callback only hears of failures


def test_a_stream_its_client_left_is_reported_cancelled_with_what_was_charged(
    start_proxy: ProxyLauncher, tmp_path: Path
) -> None:
    out = tmp_path / "records.jsonl"
    (tmp_path / "custom_callbacks.py").write_text(CALLBACKS.format(path=str(out)))
    slow = {"model_name": "slow", "litellm_params": {"model": "mock/mock-image-1", "mock_latency_ms": 900}}
    proxy = start_proxy({**config(failure_callback=["custom_callbacks.proxy_handler_instance"]),
                         "model_list": [slow]})  # fmt: skip

    body = {"model": "slow", "prompt": "otter", "stream": True, "partial_images": 2}
    with proxy.http() as client, client.stream("POST", "/v1/images/generations", json=body) as answer:
        assert next(answer.iter_lines()).startswith("event: image_generation.partial_image")
    (left,) = wait_for(lambda: records(out), "on_failure record")

    assert (left["hook"], left["status"]) == ("on_failure", "cancelled")
    assert (left["images"], left["cost"]) == (1, 0.0)  # read on after the client left: the image it paid for


def test_a_failing_callback_is_counted_and_never_fails_the_request(start_proxy: ProxyLauncher, tmp_path: Path) -> None:
    (tmp_path / "custom_callbacks.py").write_text(CALLBACKS.format(path=str(tmp_path / "records.jsonl")))
    proxy = start_proxy(config(success_callback="custom_callbacks.broken"))
    for _ in range(2):
        assert proxy.post_generation({"model": "mock", "prompt": "otter"}).status_code == 200
    with proxy.http() as client:
        metrics = client.get("/metrics").text
    assert 'imagegen_proxy_callback_failures_total{callback="custom_callbacks.Broken",hook="on_success"} 2.0' in metrics
    assert proxy.logs().count("custom_callbacks.Broken.on_success failed") == 1


def test_a_callback_that_cannot_be_loaded_stops_the_proxy_at_start(tmp_path: Path) -> None:
    from .conftest import run_serve, write_config

    path = write_config(tmp_path, config(callbacks=["custom_callbacks.nothing_here"]))
    result = run_serve(["--config", str(path), "--check"])
    assert result.returncode == 1
    assert "litellm_settings.callbacks[0]: cannot load 'custom_callbacks.nothing_here'" in result.stderr


def test_litellm_integration_names_are_ignored_with_a_warning(tmp_path: Path) -> None:
    from .conftest import run_serve, write_config

    path = write_config(tmp_path, config(success_callback=["langfuse"], callbacks=["otel"]))
    result = run_serve(["--config", str(path), "--check"])
    assert result.returncode == 0, result.stderr
    assert "'langfuse' integration is not available in imagegen" in result.stderr
    assert "otel" not in result.stderr


def test_spend_rows_carry_the_request_id_and_metadata(proxy: RunningProxy) -> None:
    metadata = {"tags": ["checkout"], "order": 42}
    answer = proxy.post_generation(
        {"model": "mock", "prompt": "otter", "metadata": metadata}, api_key=generate_key(proxy)
    )
    request_id = answer.headers["x-request-id"]

    def row() -> list[Any]:
        with proxy.http() as client:
            return [r for r in client.get("/spend/logs").json() if r["request_id"] == request_id]

    found = wait_for(row, "spend row")[0]
    assert (found["model_group"], found["metadata"]) == ("mock", metadata)


# -- tracing -----------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_request_span_continues_the_clients_traceparent(tmp_path: Path) -> None:
    from imagegen_proxy.app import create_app
    from imagegen_proxy.config import parse_config
    from tests.otel import finished_spans, install

    install()
    app = create_app(parse_config({"model_list": [MOCK]}, path=tmp_path / "config.yaml"))
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    async with app.router.lifespan_context(app):
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy")
        async with client:
            answer = await client.post(
                "/v1/images/generations", json={"model": "mock", "prompt": "otter"},
                headers={"traceparent": f"00-{trace_id}-{parent_id}-01"},
            )  # fmt: skip
    assert answer.status_code == 200
    spans = {span.name: span for span in finished_spans()}
    server, call = spans["POST /v1/images/generations"], spans["image_generation mock-image-1"]
    assert format(server.context.trace_id, "032x") == trace_id
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == parent_id
    assert call.parent is not None
    assert call.parent.span_id == server.context.span_id
    assert dict(server.attributes or {})["imagegen.request_id"] == answer.headers["x-request-id"]


def test_callback_module_source_is_valid_python() -> None:
    compile(textwrap.dedent(CALLBACKS.format(path="x")), "custom_callbacks.py", "exec")
