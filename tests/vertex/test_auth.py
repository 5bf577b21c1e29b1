"""Google credentials: service-account keys and ADC through google-auth, tokens cached, settings resolved."""

from __future__ import annotations

import base64
import json
import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

import imagegen
from imagegen.calls import prepare
from imagegen.exceptions import APIConnectionError, AuthenticationError, BadRequestError, ImageGenError
from imagegen_vertex.auth import MAX_CACHED_CREDENTIALS, credentials_for
from tests.fakes.vertex_fake import FakeGoogleOAuth, FakeVertex, ServiceAccountKey

from .conftest import LOCATION, PROJECT

MODEL = "vertex_ai/imagen-3.0-generate-002"


def generate(**kwargs: Any) -> imagegen.ImageResponse:
    return imagegen.image_generation("otter", model=MODEL, **kwargs)


def token_requests(oauth: FakeGoogleOAuth, key: ServiceAccountKey) -> int:
    """How many token exchanges `key` made (the OAuth fake is shared by the whole session)."""
    return sum(1 for request in oauth.requests if key_id_of(request.body) == key.key_id)


def key_id_of(form: bytes) -> str:
    assertion = parse_qs(form.decode())["assertion"][0]
    header = json.loads(base64.urlsafe_b64decode(assertion.split(".")[0] + "=="))
    return str(header["kid"])


def upstream_url(model: str = MODEL, **settings: Any) -> str:
    call = prepare("otter", model, {}, settings, timeout=None, drop_params=None, num_retries=None)
    return call.parts[0][1].url


def test_the_token_is_exchanged_once_and_reused_across_calls(
    oauth: FakeGoogleOAuth, key: ServiceAccountKey, vertex_kwargs: dict[str, Any]
) -> None:
    for _ in range(3):
        generate(**vertex_kwargs)

    assert token_requests(oauth, key) == 1


@pytest.mark.anyio
async def test_concurrent_async_calls_share_one_token_exchange(
    oauth: FakeGoogleOAuth, key: ServiceAccountKey, vertex_kwargs: dict[str, Any]
) -> None:
    response = await imagegen.aimage_generation("otter", model="vertex_ai/gemini-2.5-flash-image", n=4, **vertex_kwargs)
    await imagegen.aimage_generation("otter", model=MODEL, **vertex_kwargs)

    assert len(response.data) == 4
    assert token_requests(oauth, key) == 1


@pytest.fixture
def short_lived_oauth() -> Iterator[FakeGoogleOAuth]:
    with FakeGoogleOAuth(expires_in=60) as fake:  # inside google-auth's refresh margin
        yield fake


def test_a_token_near_expiry_is_refreshed(short_lived_oauth: FakeGoogleOAuth) -> None:
    key = short_lived_oauth.new_key()
    with FakeVertex(short_lived_oauth.is_valid, PROJECT) as vertex:
        for _ in range(2):
            generate(api_base=vertex.url, vertex_credentials=key.json, vertex_ai_project=PROJECT)

    assert len(short_lived_oauth.requests) == 2


def test_credentials_can_be_a_key_file_path(
    tmp_path: Path, oauth: FakeGoogleOAuth, key: ServiceAccountKey, vertex: FakeVertex
) -> None:
    path = tmp_path / "key.json"
    path.write_text(key.json)

    response = generate(api_base=vertex.url, vertex_credentials=str(path), vertex_ai_project=PROJECT)

    assert len(response.data) == 1


def test_application_default_credentials_come_from_google_application_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: ServiceAccountKey, vertex: FakeVertex
) -> None:
    path = tmp_path / "adc.json"
    path.write_text(key.json)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    monkeypatch.setenv("VERTEXAI_PROJECT", PROJECT)
    monkeypatch.setenv("VERTEXAI_LOCATION", LOCATION)

    response = generate(api_base=vertex.url)

    assert len(response.data) == 1


def test_the_project_defaults_to_the_credentials_project(oauth: FakeGoogleOAuth) -> None:
    key = oauth.new_key(project_id=PROJECT)
    with FakeVertex(oauth.is_valid, PROJECT) as vertex:
        generate(api_base=vertex.url, vertex_credentials=key.json)

        assert f"/projects/{PROJECT}/" in vertex.requests[-1].path


def test_a_missing_project_names_every_way_to_set_it(key: ServiceAccountKey) -> None:
    credentials = json.dumps({**key.info, "project_id": None})

    with pytest.raises(AuthenticationError, match=r"vertex_ai_project.*VERTEXAI_PROJECT"):
        upstream_url(vertex_credentials=credentials)


def test_the_default_location_is_us_central1(key: ServiceAccountKey) -> None:
    assert upstream_url(vertex_credentials=key.json) == (
        "https://us-central1-aiplatform.googleapis.com/v1/projects/key-project-123/locations/us-central1"
        "/publishers/google/models/imagen-3.0-generate-002:predict"
    )


def test_the_global_location_uses_the_global_host(key: ServiceAccountKey) -> None:
    # Imagen is not served in global (see test_gemini's location tests): a Gemini model is.
    url = upstream_url("vertex_ai/gemini-2.5-flash-image", vertex_credentials=key.json, vertex_ai_location="global")

    assert url.startswith("https://aiplatform.googleapis.com/v1/projects/key-project-123/locations/global/")


def test_api_base_replaces_only_the_host(key: ServiceAccountKey) -> None:
    url = upstream_url(
        vertex_credentials=key.json, api_base="http://127.0.0.1:8080/", vertex_ai_location="europe-west4"
    )

    assert url == (
        "http://127.0.0.1:8080/v1/projects/key-project-123/locations/europe-west4"
        "/publishers/google/models/imagen-3.0-generate-002:predict"
    )


def test_a_location_that_could_redirect_the_token_is_refused(key: ServiceAccountKey) -> None:
    with pytest.raises(BadRequestError, match="vertex_ai_location"):
        upstream_url(vertex_credentials=key.json, vertex_ai_location="evil.example.com/x#")


def test_a_key_google_refuses_raises_an_auth_error(oauth: FakeGoogleOAuth, vertex: FakeVertex) -> None:
    unknown = ServiceAccountKey(oauth.token_uri)  # never registered: its signature cannot verify

    with pytest.raises(AuthenticationError, match="Invalid JWT Signature"):
        generate(api_base=vertex.url, vertex_credentials=unknown.json, vertex_ai_project=PROJECT)
    assert vertex.requests == []


def test_credentials_that_are_not_json_raise_an_auth_error_without_showing_them(
    vertex: FakeVertex, oauth: FakeGoogleOAuth
) -> None:
    key = ServiceAccountKey(oauth.token_uri)  # generated now; cut short, it is no longer JSON
    broken = key.json[: key.json.index("PRIVATE KEY") + 200]

    with pytest.raises(AuthenticationError, match="vertex_credentials") as caught:
        generate(api_base=vertex.url, vertex_credentials=broken, vertex_ai_project=PROJECT)
    shown = "".join(traceback.format_exception(caught.value))
    assert "PRIVATE KEY" not in shown
    assert broken[-100:] not in shown


def test_unsupported_credential_types_are_refused(vertex: FakeVertex) -> None:
    external = json.dumps({"type": "external_account", "credential_source": {"executable": {"command": "id"}}})

    with pytest.raises(AuthenticationError, match="external_account"):
        generate(api_base=vertex.url, vertex_credentials=external, vertex_ai_project=PROJECT)


def test_an_unreachable_token_endpoint_raises_a_connection_error(key: ServiceAccountKey, vertex: FakeVertex) -> None:
    credentials = json.dumps({**key.info, "token_uri": "http://127.0.0.1:9/token"})

    with pytest.raises(APIConnectionError, match="token endpoint"):
        generate(api_base=vertex.url, vertex_credentials=credentials, vertex_ai_project=PROJECT, num_retries=0)


def test_the_private_key_never_shows_in_an_error(key: ServiceAccountKey, vertex: FakeVertex) -> None:
    vertex.fail_next("auth")

    with pytest.raises(ImageGenError) as caught:
        generate(api_base=vertex.url, vertex_credentials=key.info, vertex_ai_project=PROJECT, num_retries=0)
    shown = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
    assert str(key.info["private_key"]) not in shown
    assert "MII" not in shown


def test_the_project_defaults_to_the_project_of_a_key_file(tmp_path: Path, oauth: FakeGoogleOAuth) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(oauth.new_key(project_id=PROJECT).json)
    with FakeVertex(oauth.is_valid, PROJECT) as vertex:
        generate(api_base=vertex.url, vertex_credentials=str(key_file))

        assert f"/projects/{PROJECT}/" in vertex.requests[-1].path


def test_a_key_file_without_a_project_fails_before_any_token_exchange(
    tmp_path: Path, oauth: FakeGoogleOAuth, key: ServiceAccountKey, vertex: FakeVertex
) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps({**key.info, "project_id": None}))

    with pytest.raises(AuthenticationError, match=r"vertex_ai_project.*VERTEXAI_PROJECT"):
        generate(api_base=vertex.url, vertex_credentials=str(key_file))
    assert token_requests(oauth, key) == 0
    assert vertex.requests == []


def test_a_key_file_rewritten_with_a_rotated_key_is_loaded_again(
    tmp_path: Path, oauth: FakeGoogleOAuth, vertex: FakeVertex
) -> None:
    old_key, new_key = oauth.new_key(), oauth.new_key()
    key_file = tmp_path / "key.json"
    key_file.write_text(old_key.json)
    generate(api_base=vertex.url, vertex_credentials=str(key_file), vertex_ai_project=PROJECT)

    key_file.write_text(new_key.json)
    modified = key_file.stat().st_mtime_ns + 1_000_000_000  # a clock tick apart, however coarse the file system's
    os.utime(key_file, ns=(modified, modified))
    generate(api_base=vertex.url, vertex_credentials=str(key_file), vertex_ai_project=PROJECT)

    assert (token_requests(oauth, old_key), token_requests(oauth, new_key)) == (1, 1)


def test_the_credentials_cache_keeps_only_the_most_recently_used_sources(key: ServiceAccountKey) -> None:
    kept, evicted = credentials_for(key.info), credentials_for({**key.info, "client_id": "evicted"})
    for index in range(MAX_CACHED_CREDENTIALS - 1):
        credentials_for({**key.info, "client_id": str(index)})
        credentials_for(key.info)  # used again: stays

    assert credentials_for(key.info) is kept
    assert credentials_for({**key.info, "client_id": "evicted"}) is not evicted
