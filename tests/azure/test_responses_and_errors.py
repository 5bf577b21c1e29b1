"""Azure's filter results stay on each image; its content-filter and deployment errors map to ours."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from tests.fakes.azure_fake import (
    OUTPUT_FILTER_TRIGGER,
    PROMPT_FILTER_REJECTION,
    PROMPT_FILTER_TRIGGER,
    FakeAzureOpenAI,
)


def generate(
    azure_kwargs: dict[str, Any], prompt: str = "otter", model: str = "azure/dall-e-3", **kwargs: Any
) -> imagegen.ImageResponse:
    return imagegen.image_generation(prompt, model=model, num_retries=0, **azure_kwargs, **kwargs)


def test_filter_results_are_kept_on_each_image(azure_kwargs: dict[str, Any]) -> None:
    response = generate(azure_kwargs, model="azure/gpt-image-1", n=2)
    for image in response.data:
        assert image.content_filter_results["violence"] == {"filtered": False, "severity": "safe"}
        assert image.prompt_filter_results["jailbreak"] == {"detected": False, "filtered": False}


def test_filter_results_survive_serialisation(azure_kwargs: dict[str, Any]) -> None:
    dumped = generate(azure_kwargs).model_dump()
    assert "content_filter_results" in dumped["data"][0]
    assert "prompt_filter_results" in dumped["data"][0]


def test_a_filtered_prompt_raises_content_policy_violation_with_the_filter_results(
    azure_kwargs: dict[str, Any],
) -> None:
    with pytest.raises(imagegen.ContentPolicyViolationError) as caught:
        generate(azure_kwargs, prompt=f"a {PROMPT_FILTER_TRIGGER} scene")
    error = caught.value
    assert error.filter_results == PROMPT_FILTER_REJECTION
    assert error.status_code == 400
    assert "safety system" in str(error)


def test_a_filtered_image_raises_content_policy_violation(azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.ContentPolicyViolationError, match="Generated image was filtered") as caught:
        generate(azure_kwargs, prompt=OUTPUT_FILTER_TRIGGER)
    assert caught.value.code == "contentFilter"


@pytest.mark.anyio
async def test_content_filter_errors_are_mapped_on_the_async_path(azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.ContentPolicyViolationError) as caught:
        await imagegen.aimage_generation(PROMPT_FILTER_TRIGGER, model="azure/gpt-image-1", **azure_kwargs)
    assert caught.value.filter_results == PROMPT_FILTER_REJECTION


def test_an_unknown_deployment_raises_not_found_naming_it(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(imagegen.NotFoundError) as caught:
        generate(azure_kwargs, model="azure/no-such-deployment")
    assert caught.value.code == "DeploymentNotFound"
    assert "'no-such-deployment'" in str(caught.value)
    assert "azure/<deployment name>" in str(caught.value)


def test_an_unknown_deployment_on_the_v1_surface_raises_not_found(azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.NotFoundError):
        generate({**azure_kwargs, "api_version": "v1"}, model="azure/no-such-deployment")


def test_a_missing_role_assignment_raises_permission_denied(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    fake_azure.fail_next("permission")
    with pytest.raises(imagegen.PermissionDeniedError, match="lacks the required data action"):
        generate(azure_kwargs)


def test_service_unavailable_is_retried_then_raised(fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]) -> None:
    fake_azure.fail_next("unavailable", times=2)
    with pytest.raises(imagegen.ServiceUnavailableError):
        imagegen.image_generation("otter", model="azure/dall-e-3", num_retries=1, **azure_kwargs)
    assert len(fake_azure.requests) == 2


def test_a_wrong_api_base_path_is_not_found(fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.NotFoundError, match="Resource not found"):
        generate({**azure_kwargs, "api_base": f"{fake_azure.url}/some/proxy/path"})
