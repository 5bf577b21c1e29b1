"""Azure deployments edit as Azure documents it: GPT image deployments edit (masks, several images) and
stream; DALL·E deployments cannot edit, no deployment makes variations, and output_format has no webp."""

from __future__ import annotations

from typing import Any

import pytest

import imagegen
from imagegen.testing import png_image
from tests.fakes.azure_fake import FakeAzureOpenAI

IMAGE = png_image(32, 32)
MASK = png_image(32, 32, transparent_box=(0, 0, 16, 16))
MB = 1024 * 1024


def test_a_gpt_image_deployment_edits_with_a_mask_on_the_deployments_route(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    response = imagegen.image_edit(IMAGE, "Add a hat", model="azure/gpt-image-1", mask=MASK, **azure_kwargs)
    assert response.data[0].b64_json
    assert fake_azure.requests[0].path == "/openai/deployments/gpt-image-1/images/edits"
    fields, files = fake_azure.uploads[0]
    assert sorted(files) == ["image", "mask"]
    assert "model" not in fields  # the deployment in the path decides the model


@pytest.mark.parametrize("deployment", ["dall-e-3", "images-prod"])
def test_a_dall_e_deployment_cannot_edit_said_before_sending(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any], deployment: str
) -> None:
    base_model = {"base_model": "dall-e-3"} if deployment == "images-prod" else {}
    with pytest.raises(imagegen.UnsupportedParamsError, match=r"cannot edit images.*gpt-image-1") as caught:
        imagegen.image_edit(IMAGE, "Hat", model=f"azure/{deployment}", **base_model, **azure_kwargs)
    assert "dall-e-2" not in str(caught.value)  # DALL·E 2 does not edit on Azure either
    assert fake_azure.requests == []


def test_a_dall_e_2_deployment_neither_edits_nor_makes_variations(azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="cannot edit"):
        imagegen.image_edit(IMAGE, "Hat", model="azure/dall-e-2", **azure_kwargs)
    with pytest.raises(imagegen.UnsupportedParamsError, match="cannot make variations"):
        imagegen.image_variation(IMAGE, model="azure/dall-e-2", **azure_kwargs)


def test_a_deployment_of_an_unknown_model_makes_no_variations(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="no images/variations route"):
        imagegen.image_variation(IMAGE, model="azure/images-prod", **azure_kwargs)
    assert fake_azure.requests == []


def test_webp_output_is_refused_on_azure_before_any_request(
    fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]
) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match=r"output_format.*jpeg, png"):
        imagegen.image_generation("otter", model="azure/gpt-image-1", output_format="webp", **azure_kwargs)
    with pytest.raises(imagegen.UnsupportedParamsError, match="output_format"):
        imagegen.image_edit(IMAGE, "Hat", model="azure/gpt-image-1", output_format="webp", **azure_kwargs)
    assert fake_azure.requests == []


def test_the_fake_refuses_webp_as_azure_does(fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match="webp"):  # an unknown deployment model is sent unvalidated
        imagegen.image_generation("otter", model="azure/images-prod", output_format="webp", **azure_kwargs)


def test_gpt_image_1_mini_takes_no_input_fidelity(fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.UnsupportedParamsError, match="input_fidelity"):
        imagegen.image_edit(IMAGE, "Hat", model="azure/team-gpt-image-1-mini", input_fidelity="high", **azure_kwargs)
    assert fake_azure.requests == []


def test_a_mask_of_4_mb_is_refused_naming_the_limit(fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]) -> None:
    with pytest.raises(imagegen.BadRequestError, match="takes masks under 4 MB"):
        imagegen.image_edit(IMAGE, "Hat", model="azure/gpt-image-1", mask=MASK + b"\0" * (4 * MB), **azure_kwargs)
    assert fake_azure.requests == []


def test_a_gpt_image_deployment_streams_its_edit(fake_azure: FakeAzureOpenAI, azure_kwargs: dict[str, Any]) -> None:
    events = list(imagegen.image_edit(IMAGE, "Hat", model="azure/gpt-image-1", stream=True, partial_images=1,
                                      **azure_kwargs))  # fmt: skip
    assert [event.type for event in events] == ["image_edit.partial_image", "image_edit.completed"]
    assert fake_azure.uploads[0][0]["stream"] == ["true"]
