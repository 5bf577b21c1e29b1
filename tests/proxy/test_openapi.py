"""The proxy describes itself: `GET /openapi.json` documents every route, and every answer matches it.

Schemathesis generates requests from the document (the generation, admin and other routes) against a
proxy served on 127.0.0.1 with a fake OpenAI upstream: no answer is a 5xx, and each one's status,
content type and body are the ones the document gives for that route.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from imagegen_proxy.app import create_app
from imagegen_proxy.config import parse_config
from imagegen_proxy.openapi import ApiRoute
from tests.fakes.openai_fake import FakeOpenAI
from tests.keys.conftest import POSTGRES_PORT, REDIS_URL, postgres_sql, require_service

from .conftest import MASTER_KEY, UPSTREAM_KEY, ProxyLauncher, RunningProxy, openai_deployment

EXAMPLES_PER_ROUTE = 20


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


def proxy_config(upstream: FakeOpenAI, **general: Any) -> dict[str, Any]:
    return {
        "model_list": [openai_deployment("dall-e-3", upstream), openai_deployment("gpt-image-1", upstream)],
        "general_settings": {"master_key": MASTER_KEY, **general},
    }


@pytest.fixture(scope="module")
def proxy(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    launcher = ProxyLauncher(tmp_path_factory.mktemp("openapi"))
    yield launcher(proxy_config(upstream))
    launcher.close()


def document(proxy: RunningProxy) -> dict[str, Any]:
    with proxy.http() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_document_lists_every_route_the_proxy_serves(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    paths = document(proxy)["paths"]
    app = create_app(parse_config(proxy_config(upstream)))
    served = {(route.path, route.method.lower()) for route in app.routes if isinstance(route, ApiRoute)}
    # No route left out of the document, but the web console's files (pages, not an API).
    assert all(isinstance(route, ApiRoute) for route in app.routes if not getattr(route, "path", "").startswith("/ui"))
    assert {(path, method) for path, ops in paths.items() for method in ops} == served
    for path in ("/v1/images/generations", "/images/generations", "/openai/deployments/{deployment}/images/generations",
                 "/v1/models", "/health/readiness", "/metrics", "/key/generate", "/team/new", "/customer/new",
                 "/end_user/new", "/spend/logs"):  # fmt: skip
        assert path in paths


def test_document_is_openapi_3_1_with_openais_images_response_and_error_shapes(proxy: RunningProxy) -> None:
    spec = document(proxy)
    generation = spec["paths"]["/v1/images/generations"]["post"]
    body = generation["requestBody"]["content"]["application/json"]["schema"]
    request = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    ok = generation["responses"]["200"]["content"]["application/json"]["schema"]
    answer = spec["components"]["schemas"][ok["$ref"].rsplit("/", 1)[-1]]
    assert spec["openapi"] == "3.1.0"
    assert request["required"] == ["prompt"]
    named = [option.get("enum") for option in request["properties"]["model"]["anyOf"]]
    assert ["dall-e-3", "gpt-image-1"] in named  # this proxy's model groups
    assert {"created", "data", "usage"} <= answer["properties"].keys()
    assert generation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorResponse")


async def served_document(config: dict[str, Any]) -> dict[str, Any]:
    """The document of an app serving `config` (no master key: open to all), without starting a server."""
    app = create_app(parse_config(config))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proxy") as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def model_schema(spec: dict[str, Any]) -> dict[str, Any]:
    body = spec["paths"]["/v1/images/generations"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    model: dict[str, Any] = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]["properties"]["model"]
    return next(option for option in model["anyOf"] if option.get("type") == "string")


@pytest.mark.anyio
async def test_the_model_enum_lists_the_public_names_aliases_included_hidden_ones_not(upstream: FakeOpenAI) -> None:
    spec = await served_document({
        "model_list": [openai_deployment("dall-e-3", upstream), openai_deployment("gpt-image-1", upstream)],
        "router_settings": {"model_group_alias": {"latest": "gpt-image-1",
                                                  "old": {"model": "dall-e-3", "hidden": True}}},
    })  # fmt: skip

    assert model_schema(spec)["enum"] == ["dall-e-3", "gpt-image-1", "latest"]


@pytest.mark.anyio
async def test_with_a_wildcard_deployment_the_model_is_any_string(upstream: FakeOpenAI) -> None:
    spec = await served_document({
        "model_list": [openai_deployment("dall-e-3", upstream),
                       {"model_name": "openai/*", "litellm_params": {"model": "openai/*", "api_key": UPSTREAM_KEY,
                                                                     "api_base": upstream.api_base}}],
    })  # fmt: skip

    model = model_schema(spec)
    assert model["type"] == "string"
    assert "enum" not in model


def test_document_is_for_the_master_key_only(proxy: RunningProxy) -> None:
    assert httpx.get(f"{proxy.url}/openapi.json").status_code == 401
    with proxy.http() as client:
        key = client.post("/key/generate", json={}).json()["key"]
    forbidden = httpx.get(f"{proxy.url}/openapi.json", headers={"authorization": f"Bearer {key}"})
    assert forbidden.status_code == 403
    assert "public_openapi" in forbidden.json()["error"]["message"]


def test_public_openapi_serves_the_document_to_anyone(upstream: FakeOpenAI, tmp_path: Path) -> None:
    launcher = ProxyLauncher(tmp_path)
    try:
        proxy = launcher(proxy_config(upstream, public_openapi=True))
        assert httpx.get(f"{proxy.url}/openapi.json").status_code == 200
    finally:
        launcher.close()


@pytest.fixture(scope="module")
def postgres_and_redis_proxy(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    """A proxy whose keys live in PostgreSQL (a schema of its own) and whose limits are in Redis."""
    require_service("PostgreSQL", POSTGRES_PORT)
    require_service("Redis", 6379)
    schema = f"imagegen_openapi_{uuid.uuid4().hex[:12]}"
    user = postgres_sql(f"CREATE SCHEMA {schema}")
    database_url = f"postgresql://{user}@127.0.0.1:{POSTGRES_PORT}/test?schema={schema}"
    launcher = ProxyLauncher(tmp_path_factory.mktemp("openapi-postgres"))
    try:
        yield launcher(proxy_config(upstream, database_url=database_url), env={"REDIS_URL": REDIS_URL})
    finally:
        launcher.close()
        postgres_sql(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.parametrize("served_by", ["proxy", "postgres_and_redis_proxy"])
def test_every_answer_matches_the_document_and_none_is_a_server_error(
    served_by: str, request: pytest.FixtureRequest
) -> None:
    proxy: RunningProxy = request.getfixturevalue(served_by)
    schema = schemathesis.openapi.from_dict(document(proxy))
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_ROUTE, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def answers_as_documented(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=proxy.url, headers=headers, checks=checks)

        answers_as_documented()
