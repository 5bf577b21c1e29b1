"""Where Vertex AI serves each model: Gemini 3 Pro Image only in `global` (aiplatform.googleapis.com, no region
in the host), Imagen never in `global`; and one Gemini model table shared with the Gemini API's plugin."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from imagegen import image_edit, image_generation
from imagegen.calls import prepare
from imagegen.exceptions import BadRequestError
from imagegen.plugins import registry
from imagegen.testing import png_image
from tests.fakes.vertex_fake import FakeVertex, ServiceAccountKey


def test_gemini_3_pro_image_goes_to_the_global_location(vertex: FakeVertex, vertex_kwargs: dict[str, Any]) -> None:
    response = image_generation("otter", model="vertex_ai/gemini-3-pro-image-preview", **vertex_kwargs)
    assert "/locations/global/publishers/google/models/gemini-3-pro-image-preview:" in vertex.requests[0].path
    assert response.warnings == [
        "gemini-3-pro-image-preview is served only in Vertex AI's global location: sent there, not to us-central1"
    ]


def test_gemini_3_pro_image_edits_in_the_global_location_under_its_ga_name(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    settings = {k: v for k, v in vertex_kwargs.items() if k != "vertex_ai_location"}
    response = image_edit(png_image(32, 32), "a hat", model="vertex_ai/gemini-3-pro-image", **settings)
    assert "/locations/global/" in vertex.requests[0].path
    assert response.warnings == []


def test_gemini_3_pro_image_uses_the_global_host_without_a_region(key: ServiceAccountKey) -> None:
    settings = {"vertex_credentials": key.json, "vertex_ai_location": "europe-west4"}
    call = prepare("otter", "vertex_ai/gemini-3-pro-image-preview", {}, settings, timeout=None, drop_params=None,
                   num_retries=None)  # fmt: skip
    assert call.parts[0][1].url.startswith(
        "https://aiplatform.googleapis.com/v1/projects/key-project-123/locations/global/"
    )


def test_imagen_in_the_global_location_is_refused_before_any_request(
    vertex: FakeVertex, vertex_kwargs: dict[str, Any]
) -> None:
    settings = {**vertex_kwargs, "vertex_ai_location": "global"}
    message = "no Imagen model in the global location: set vertex_ai_location"
    with pytest.raises(BadRequestError, match=message) as generating:
        image_generation("otter", model="vertex_ai/imagen-3.0-generate-002", **settings)
    with pytest.raises(BadRequestError, match=message):
        image_edit(png_image(32, 32), "a hat", model="vertex_ai/imagen-3.0-capability-001", **settings)
    assert generating.value.param == "vertex_ai_location"
    assert vertex.requests == []


def test_the_fake_serves_imagen_nowhere_in_global_and_gemini_3_pro_only_there(vertex: FakeVertex) -> None:
    vertex.token_is_valid = lambda token: token == "token"  # type: ignore[method-assign]

    def status(location: str, model: str, method: str) -> int:
        url = (
            f"{vertex.url}/v1/projects/{vertex.project}/locations/{location}/publishers/google/models/{model}:{method}"
        )
        return httpx.post(url, json={}, headers={"authorization": "Bearer token"}).status_code

    assert status("global", "imagen-3.0-generate-002", "predict") == 404
    assert status(vertex.location, "gemini-3-pro-image-preview", "generateContent") == 404


@pytest.mark.parametrize("name", ["gemini-2.5-flash-image", "gemini-3-pro-image-preview"])
def test_gemini_image_models_are_one_table_for_both_google_plugins(name: str) -> None:
    vertex, gemini = registry.provider("vertex_ai").model(name), registry.provider("gemini").model(name)
    assert vertex is not None
    assert gemini is not None
    assert vertex.aliases == gemini.aliases
    assert vertex.edit is not None
    assert gemini.edit is not None
    assert vertex.edit.max_images == gemini.edit.max_images
    assert vertex.params.items() <= gemini.params.items()  # the Gemini API lists Vertex-only ones to refuse them
