"""The proxy's image routes, driven with the official `openai` SDK and raw HTTP against the fake OpenAI upstream."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from imagegen.testing import TINY_PNG, TINY_PNG_B64
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import MASTER_KEY, UPSTREAM_KEY, ProxyLauncher, RunningProxy, openai_deployment


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


@pytest.fixture(scope="module")
def proxy(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    launcher = ProxyLauncher(tmp_path_factory.mktemp("proxy"))
    config = {
        "model_list": [
            openai_deployment("gpt-image-1", upstream),
            openai_deployment("dall-e-3", upstream),
            openai_deployment("small-dall-e", upstream, model="dall-e-2", size="256x256"),
            {**openai_deployment("priced", upstream, model="dall-e-2"), "model_info": {"output_cost_per_image": 0.02}},
            {"model_name": "gpt-4o", "litellm_params": {"model": "gpt-4o", "api_key": "sk-chat"}},
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 1000},  # error tests must not cool it down
        "general_settings": {"master_key": MASTER_KEY},
    }
    yield launcher(config)
    launcher.close()


@pytest.fixture(autouse=True)
def _fresh_upstream(upstream: FakeOpenAI) -> None:
    upstream.requests.clear()


# -- serving ---------------------------------------------------------------------------------------


def test_openai_sdk_generates_an_image_through_the_proxy(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    result = proxy.openai().images.generate(model="gpt-image-1", prompt="A cute baby sea otter", size="1024x1024")

    assert base64.b64decode(result.data[0].b64_json or "") == TINY_PNG
    assert result.usage is not None
    assert result.usage.output_tokens > 0
    sent = upstream.requests[0]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert sent.json() == {"model": "gpt-image-1", "prompt": "A cute baby sea otter", "size": "1024x1024"}


def test_url_results_and_revised_prompts_pass_through(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    result = proxy.openai().images.generate(model="dall-e-3", prompt="otter", response_format="url")

    assert str(result.data[0].url).startswith(upstream.url)
    assert result.data[0].revised_prompt == "A detailed rendering of: otter"


def test_several_images_come_back_in_one_response(proxy: RunningProxy) -> None:
    result = proxy.openai().images.generate(model="small-dall-e", prompt="otter", n=3, response_format="b64_json")

    assert len(result.data) == 3


def test_the_unversioned_route_serves_generations(proxy: RunningProxy) -> None:
    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter"}, path="/images/generations")

    assert response.status_code == 200
    assert response.json()["data"][0]["b64_json"] == TINY_PNG_B64


def test_azure_sdk_is_served_by_the_deployment_route_with_an_api_key_header(
    proxy: RunningProxy, upstream: FakeOpenAI
) -> None:
    client = openai.AzureOpenAI(azure_endpoint=proxy.url, api_key=MASTER_KEY, api_version="2024-10-21", max_retries=0)

    result = client.images.generate(model="dall-e-3", prompt="otter", response_format="b64_json")

    assert result.data[0].b64_json == TINY_PNG_B64
    assert upstream.requests[0].json()["model"] == "dall-e-3"


def test_deployment_defaults_apply_and_the_client_overrides_them(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    proxy.openai().images.generate(model="small-dall-e", prompt="otter")
    proxy.openai().images.generate(model="small-dall-e", prompt="otter", size="512x512")

    assert [r.json()["size"] for r in upstream.requests] == ["256x256", "512x512"]


def test_models_lists_the_image_model_groups(proxy: RunningProxy) -> None:
    names = {model.id for model in proxy.openai().models.list()}

    assert names == {"gpt-image-1", "dall-e-3", "small-dall-e", "priced"}


def test_health_routes_answer_without_a_key_and_readiness_without_details(proxy: RunningProxy) -> None:
    with proxy.http(api_key=None) as client:
        assert client.get("/health/liveliness").status_code == 200
        readiness = client.get("/health/readiness")
    assert readiness.status_code == 200
    assert readiness.json() == {"status": "healthy"}


def test_readiness_details_are_for_the_master_key(proxy: RunningProxy) -> None:
    with proxy.http() as client:
        readiness = client.get("/health/readiness").json()

    assert readiness | {"file_descriptors": None} == {
        "status": "healthy", "model_groups": 4, "unconfigured_deployments": [], "requests_in_flight": 0,
        "file_descriptors": None,  # see tests/faults/test_capacity.py
    }  # fmt: skip


def test_a_deployment_price_from_model_info_is_the_response_cost_header(proxy: RunningProxy) -> None:
    response = proxy.post_generation({"model": "priced", "prompt": "otter", "n": 2})

    assert response.status_code == 200
    assert float(response.headers["x-imagegen-response-cost"]) == pytest.approx(0.04)


# -- authentication --------------------------------------------------------------------------------


def test_a_request_without_a_key_is_401(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter"}, api_key=None)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert upstream.requests == []


def test_a_wrong_key_is_401_for_the_sdk(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        proxy.openai(api_key="sk-wrong").images.generate(model="gpt-image-1", prompt="otter")

    assert caught.value.code == "invalid_api_key"
    assert upstream.requests == []


def test_models_need_the_key_too(proxy: RunningProxy) -> None:
    with proxy.http(api_key=None) as client:
        assert client.get("/v1/models").status_code == 401


# -- request errors --------------------------------------------------------------------------------


def _error(response: object) -> dict[str, object]:
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert set(error) == {"message", "type", "param", "code", "request_id"}
    return dict(error)


def test_a_body_that_is_not_json_is_400(proxy: RunningProxy) -> None:
    with proxy.http() as client:
        response = client.post(
            "/v1/images/generations", content=b"{not json", headers={"content-type": "application/json"}
        )

    assert response.status_code == 400
    assert _error(response)["type"] == "invalid_request_error"


def test_a_json_body_that_is_not_an_object_is_400(proxy: RunningProxy) -> None:
    assert proxy.post_generation(["otter"]).status_code == 400


def test_a_missing_prompt_is_400_naming_it(proxy: RunningProxy) -> None:
    response = proxy.post_generation({"model": "gpt-image-1"})

    assert response.status_code == 400
    assert _error(response)["param"] == "prompt"


def test_an_unknown_model_is_400_listing_the_available_ones(proxy: RunningProxy) -> None:
    response = proxy.post_generation({"model": "dall-e-9", "prompt": "otter"})

    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "model_not_found"
    assert "dall-e-3, gpt-image-1, priced, small-dall-e" in str(error["message"])


def test_a_model_that_cannot_generate_images_is_refused(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = proxy.post_generation({"model": "gpt-4o", "prompt": "otter"})

    assert response.status_code == 400
    assert _error(response)["code"] == "model_not_supported"
    assert upstream.requests == []


def test_a_body_over_one_mib_is_413(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "x" * (1 << 20)})

    assert response.status_code == 413
    assert _error(response)["code"] == "request_too_large"
    assert upstream.requests == []


def test_an_unsupported_parameter_is_400_naming_it_before_any_upstream_call(
    proxy: RunningProxy, upstream: FakeOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        proxy.openai().images.generate(model="gpt-image-1", prompt="otter", style="vivid")

    assert caught.value.param == "style"
    assert caught.value.code == "unsupported_parameter"
    assert upstream.requests == []


def test_retry_and_timeout_settings_belong_to_the_config(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter", "timeout": 1})

    assert response.status_code == 400
    assert _error(response)["param"] == "timeout"
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"api_base": "http://169.254.169.254/latest"}, "api_base"),
        ({"base_url": "http://attacker.example"}, "base_url"),
        ({"api_key": "sk-mine"}, "api_key"),
        ({"api_version": "2024-02-01"}, "api_version"),
        ({"azure_ad_token": "ey..."}, "azure_ad_token"),
        ({"aws_region_name": "us-east-1"}, "aws_region_name"),
        ({"aws_secret_access_key": "secret"}, "aws_secret_access_key"),
        ({"vertex_credentials": "{}"}, "vertex_credentials"),
        ({"vertex_ai_project": "p"}, "vertex_ai_project"),
        ({"vertex_ai_location": "us-central1"}, "vertex_ai_location"),
        ({"organization": "org-x"}, "organization"),  # a setting the OpenAI plugin declares
        ({"extra": {"api_base": "http://attacker.example"}}, "extra.api_base"),
        ({"metadata": [{"AWS_ACCESS_KEY_ID": "AKIA"}]}, "metadata[0].AWS_ACCESS_KEY_ID"),
    ],
)
def test_clients_cannot_choose_the_endpoint_or_credentials(
    proxy: RunningProxy, upstream: FakeOpenAI, extra: dict[str, object], where: str
) -> None:
    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter", **extra})

    assert response.status_code == 400
    error = _error(response)
    assert error["param"] == where
    assert error["code"] == "forbidden_parameter"
    assert upstream.requests == []


def test_the_sdk_extra_body_cannot_smuggle_an_endpoint(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        proxy.openai().images.generate(
            model="gpt-image-1", prompt="otter", extra_body={"api_base": "http://attacker.example"}
        )
    assert upstream.requests == []


# -- upstream errors -------------------------------------------------------------------------------


def test_an_upstream_content_policy_refusal_is_400_content_policy_violation(
    proxy: RunningProxy, upstream: FakeOpenAI
) -> None:
    upstream.fail_next("content_policy")

    with pytest.raises(openai.BadRequestError) as caught:
        proxy.openai().images.generate(model="gpt-image-1", prompt="otter")

    assert caught.value.code == "content_policy_violation"
    assert "safety system" in caught.value.message


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        ("rate_limit", 429, "Rate limit reached for images per minute"),
        ("server_error", 500, "The server had an error while processing your request."),
        ("unavailable", 503, "The engine is currently overloaded, please try again later."),
        ("bad_request", 400, "Invalid prompt"),
    ],
)
def test_upstream_errors_keep_their_status_and_message(
    proxy: RunningProxy, upstream: FakeOpenAI, kind: str, status: int, message: str
) -> None:
    upstream.fail_next(kind)

    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter"})

    assert response.status_code == status
    assert _error(response)["message"] == message


def test_an_upstream_rate_limit_passes_its_wait_on_to_the_client(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    upstream.fail_next("rate_limit")  # OpenAI's `retry-after-ms: 5`

    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter"})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"  # whole seconds, rounded up


def test_an_error_without_a_wait_has_no_retry_after(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    upstream.fail_next("server_error")

    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter"})

    assert response.status_code == 500
    assert "retry-after" not in response.headers


def test_an_upstream_key_never_reaches_the_client(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    upstream.fail_next("auth")  # OpenAI echoes the key it refused

    response = proxy.post_generation({"model": "gpt-image-1", "prompt": "otter"})

    assert response.status_code == 401
    assert UPSTREAM_KEY not in response.text


# -- observability ---------------------------------------------------------------------------------


def test_metrics_count_requests_images_and_upstream_errors(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    proxy.openai().images.generate(model="small-dall-e", prompt="otter", n=2)
    upstream.fail_next("server_error")
    proxy.post_generation({"model": "small-dall-e", "prompt": "otter"})

    with proxy.http() as client:
        metrics = client.get("/metrics")

    assert metrics.status_code == 200
    text = metrics.text
    assert 'imagegen_proxy_requests_total{model_group="small-dall-e",status="200"}' in text
    assert 'imagegen_proxy_requests_total{model_group="small-dall-e",status="500"}' in text
    assert 'imagegen_proxy_images_generated_total{model_group="small-dall-e",provider="openai"}' in text
    assert 'imagegen_proxy_upstream_errors_total{deployment="small-dall-e#1",provider="openai",status="500"}' in text
    assert 'imagegen_proxy_request_duration_seconds_bucket{le="0.1",model_group="small-dall-e"}' in text


def test_metrics_are_for_the_master_key(proxy: RunningProxy) -> None:
    with proxy.http() as client:
        key = client.post("/key/generate", json={}).json()["key"]
    with proxy.http(api_key=None) as anonymous, proxy.http(key) as generated:
        assert anonymous.get("/metrics").status_code == 401
        refused = generated.get("/metrics")

    assert refused.status_code == 403
    assert "public_metrics" in refused.json()["error"]["message"]


def test_public_metrics_need_no_key(start_proxy: ProxyLauncher, fake_openai: FakeOpenAI) -> None:
    proxy = start_proxy(
        {"model_list": [openai_deployment("dall-e-2", fake_openai)],
         "general_settings": {"master_key": MASTER_KEY, "public_metrics": True}}
    )  # fmt: skip

    with proxy.http(api_key=None) as client:
        metrics = client.get("/metrics")

    assert metrics.status_code == 200
    assert "imagegen_proxy_requests_in_flight" in metrics.text


def test_logs_carry_no_prompt_key_or_image_data(proxy: RunningProxy, upstream: FakeOpenAI, tmp_path: Path) -> None:
    secret_prompt = "a very private prompt about otters"
    proxy.openai().images.generate(model="gpt-image-1", prompt=secret_prompt)
    upstream.fail_next("auth")
    proxy.post_generation({"model": "gpt-image-1", "prompt": secret_prompt})
    proxy.post_generation({"model": "gpt-image-1", "prompt": secret_prompt}, api_key="sk-wrong-key-in-log?")

    logs = proxy.logs()

    assert "model=gpt-image-1 deployment=gpt-image-1#1 provider=openai status=200 images=1" in logs
    for leaked in (secret_prompt, MASTER_KEY, UPSTREAM_KEY, "sk-wrong-key-in-log?", TINY_PNG_B64[:24]):
        assert leaked not in logs
