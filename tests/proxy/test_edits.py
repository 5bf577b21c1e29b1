"""Edits and variations through the proxy: the official `openai` SDK's multipart and JSON forms, raw HTTP
for the forms it never sends, every rejection, upload limits and the spooling of large uploads."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from imagegen.testing import TINY_PNG, noise_png, png_image
from tests.fakes.openai_fake import FakeOpenAI

from .conftest import (
    MASTER_KEY,
    STARTUP_TIMEOUT,
    UPSTREAM_KEY,
    GatedOpenAI,
    ProxyLauncher,
    RunningProxy,
    openai_deployment,
    run_serve,
    serving,
    write_config,
)

IMAGE = png_image(64, 64)
MASK = png_image(64, 64, transparent_box=(0, 0, 32, 32))
SMALL_LIMITS = {"max_image_size_mb": 0.5, "max_images_per_request": 3}
LARGE_IMAGE = noise_png(800, 600)  # 1.4 MB: over the 1 MB that is kept in memory, under the 2 MB limit below


def data_url(image: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(image).decode()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        yield fake


@pytest.fixture(scope="module")
def proxy(upstream: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningProxy]:
    config = {
        "model_list": [
            openai_deployment("gpt-image-1", upstream),
            openai_deployment("dall-e-2", upstream),
            openai_deployment("dall-e-3", upstream),
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 1000},
        "general_settings": {"master_key": MASTER_KEY, **SMALL_LIMITS},
    }
    with serving(tmp_path_factory.mktemp("proxy"), config) as proxy:
        yield proxy


@pytest.fixture(autouse=True)
def _fresh_upstream(upstream: FakeOpenAI) -> None:
    upstream.requests.clear()
    upstream.uploads.clear()


def post_form(
    proxy: RunningProxy, files: list[tuple[str, Any]], data: dict[str, str], path: str = "/v1/images/edits"
) -> httpx.Response:
    with proxy.http() as client:
        return client.post(path, files=files, data=data)


# -- the multipart form ----------------------------------------------------------------------------------


def test_openai_sdk_edits_one_image_sent_upstream_as_the_same_bytes(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    result = proxy.openai().images.edit(model="gpt-image-1", image=("otter.png", IMAGE), prompt="Add a hat")

    assert base64.b64decode(result.data[0].b64_json or "") == TINY_PNG
    fields, files = upstream.uploads[0]
    assert fields["prompt"] == ["Add a hat"]
    assert [(f.filename, f.data) for f in files["image"]] == [("otter.png", IMAGE)]


def test_openai_sdk_edits_several_images_and_a_mask(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    other = png_image(64, 64, (200, 10, 10, 255))

    proxy.openai().images.edit(
        model="gpt-image-1", image=[("a.png", IMAGE), ("b.png", other)], mask=("m.png", MASK), prompt="Combine"
    )

    _, files = upstream.uploads[0]
    assert [f.data for f in files["image[]"]] == [IMAGE, other]
    assert files["mask"][0].data == MASK


def test_repeated_image_parts_are_several_images(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = post_form(
        proxy, [("image", ("a.png", IMAGE, "image/png")), ("image", ("b.png", IMAGE, "image/png"))],
        {"model": "gpt-image-1", "prompt": "Combine"},
    )  # fmt: skip

    assert response.status_code == 200, response.text
    assert len(upstream.uploads[0][1]["image[]"]) == 2


def test_form_fields_are_read_as_the_numbers_and_booleans_openai_takes(
    proxy: RunningProxy, upstream: FakeOpenAI
) -> None:
    result = proxy.openai().images.edit(
        model="gpt-image-1", image=("a.png", IMAGE), prompt="hat", n=2, output_compression=80, output_format="webp",
        input_fidelity="high",
    )  # fmt: skip

    assert len(result.data) == 2
    fields, _ = upstream.uploads[0]
    assert (fields["n"], fields["output_compression"], fields["input_fidelity"]) == (["2"], ["80"], ["high"])


def test_a_number_field_that_is_not_a_number_is_refused(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = post_form(proxy, [("image", ("a.png", IMAGE))], {"model": "gpt-image-1", "prompt": "hat", "n": "two"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "n"
    assert upstream.requests == []


def test_a_large_upload_is_spooled_to_disk_and_deleted_when_the_request_ends(
    start_proxy: ProxyLauncher, tmp_path: Path
) -> None:
    spool_root = tmp_path / "tmp"
    spool_root.mkdir()
    with GatedOpenAI() as held:
        proxy = start_proxy(
            {"model_list": [openai_deployment("gpt-image-1", held)], "general_settings": {"max_image_size_mb": 2}},
            env={"TMPDIR": str(spool_root)},
        )
        edit = threading.Thread(
            target=lambda: proxy.openai(api_key="unused").images.edit(
                model="gpt-image-1", image=("big.png", LARGE_IMAGE), prompt="hat"
            )
        )
        edit.start()
        held.wait_for_requests(1)
        spooled = [path.stat().st_size for path in spool_root.rglob("upload-*")]
        held.release()
        edit.join(STARTUP_TIMEOUT)

    assert spooled == [len(LARGE_IMAGE)]  # on disk while the request was in flight, not in the proxy's memory
    assert list(spool_root.rglob("upload-*")) == []
    assert held.uploads[0][1]["image"][0].data == LARGE_IMAGE


def test_a_retried_upload_is_sent_whole_again_from_its_spooled_file(
    start_proxy: ProxyLauncher, upstream: FakeOpenAI
) -> None:
    deployment = openai_deployment("gpt-image-1", upstream, num_retries=1)
    proxy = start_proxy({"model_list": [deployment], "general_settings": {"max_image_size_mb": 2}})
    upstream.fail_next("server_error")

    proxy.openai(api_key="unused").images.edit(model="gpt-image-1", image=("big.png", LARGE_IMAGE), prompt="hat")

    assert len(upstream.requests) == 2
    assert upstream.requests[0].body == upstream.requests[1].body
    assert upstream.uploads[0][1]["image"][0].data == LARGE_IMAGE


# -- OpenAI's JSON form --------------------------------------------------------------------------------


def test_a_json_edit_takes_data_urls_for_its_images_and_mask(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    body = {"model": "gpt-image-1", "prompt": "hat", "images": [{"image_url": data_url(IMAGE)}],
            "mask": {"image_url": data_url(MASK)}, "n": 1}  # fmt: skip

    with proxy.http() as client:
        response = client.post("/v1/images/edits", json=body)

    assert response.status_code == 200, response.text
    _, files = upstream.uploads[0]
    assert (files["image"][0].data, files["mask"][0].data) == (IMAGE, MASK)


def test_a_json_edit_naming_a_file_id_is_refused(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    body = {"model": "gpt-image-1", "prompt": "hat", "images": [{"file_id": "file-abc"}]}

    with proxy.http() as client:
        response = client.post("/v1/images/edits", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "images[0].file_id"
    assert "data: URL" in response.json()["error"]["message"]
    assert upstream.requests == []


def test_a_json_edit_with_a_remote_url_is_refused_and_never_fetched(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    body = {"model": "gpt-image-1", "prompt": "hat", "images": [{"image_url": f"{upstream.url}/files/img-0.png"}]}

    with proxy.http() as client:
        response = client.post("/v1/images/edits", json=body)

    assert response.status_code == 400
    assert "never fetches" in response.json()["error"]["message"]
    assert upstream.requests == []  # not even the image's URL


@pytest.mark.parametrize(
    "images",
    [[], "data:image/png;base64,AAAA", [{"image_url": "/etc/passwd"}], [{"image_url": 5}],
     [{"image_url": "data:image/png;base64,AAAA", "file_id": "file-abc"}]],
    ids=["empty", "not-a-list", "a-path", "not-a-string", "both-references"],
)  # fmt: skip
def test_a_json_edit_whose_images_are_not_data_urls_is_refused(proxy: RunningProxy, images: Any) -> None:
    with proxy.http() as client:
        response = client.post("/v1/images/edits", json={"model": "gpt-image-1", "prompt": "hat", "images": images})

    assert response.status_code == 400
    assert response.json()["error"]["param"].startswith("images")


# -- variations (deprecated by OpenAI, still served) ------------------------------------------------------

variation_sdk = pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")


@variation_sdk
def test_openai_sdk_makes_variations(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    result = proxy.openai().images.create_variation(model="dall-e-2", image=("a.png", IMAGE), n=2, size="256x256")

    assert len(result.data) == 2
    fields, files = upstream.uploads[0]
    assert (fields["n"], fields["size"], files["image"][0].data) == (["2"], ["256x256"], IMAGE)


@variation_sdk
def test_a_variation_of_a_model_without_variations_names_the_models_with_them(proxy: RunningProxy) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        proxy.openai().images.create_variation(model="gpt-image-1", image=("a.png", IMAGE))

    assert "models that can: dall-e-2" in raised.value.message


def test_an_edit_of_a_model_that_cannot_edit_names_the_models_that_can(
    proxy: RunningProxy, upstream: FakeOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        proxy.openai().images.edit(model="dall-e-3", image=("a.png", IMAGE), prompt="hat")

    assert "dall-e-3" in raised.value.message
    assert "models that can: dall-e-2, gpt-image-1" in raised.value.message
    assert upstream.requests == []


def test_models_list_each_groups_operations(proxy: RunningProxy) -> None:
    models = {model.id: model.model_dump() for model in proxy.openai().models.list()}

    assert models["gpt-image-1"]["operations"] == ["generation", "edit"]
    assert models["dall-e-2"]["operations"] == ["generation", "edit", "variation"]
    assert models["dall-e-3"]["operations"] == ["generation"]


# -- rejections ----------------------------------------------------------------------------------------


def test_a_file_that_is_not_an_image_is_refused_naming_it(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = post_form(
        proxy, [("image", ("a.png", IMAGE)), ("image", ("notes.png", b"GIF89a not a png"))],
        {"model": "gpt-image-1", "prompt": "hat"},
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "image[1]"
    assert "a GIF" in response.json()["error"]["message"]
    assert upstream.requests == []


def test_a_mask_of_another_size_than_the_image_is_refused_before_any_request(
    proxy: RunningProxy, upstream: FakeOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        proxy.openai().images.edit(
            model="gpt-image-1", image=("a.png", IMAGE), mask=("m.png", png_image(32, 32)), prompt="hat"
        )

    assert raised.value.body["param"] == "mask"  # type: ignore[index]
    assert upstream.requests == []


def test_an_image_sent_as_text_is_refused(proxy: RunningProxy) -> None:
    response = post_form(
        proxy, [("mask", ("m.png", MASK))], {"model": "gpt-image-1", "prompt": "hat", "image": "a.png"}
    )

    assert response.status_code == 400
    assert "must be uploaded as a file" in response.json()["error"]["message"]


def test_an_unexpected_file_is_refused(proxy: RunningProxy) -> None:
    response = post_form(proxy, [("image", ("a.png", IMAGE)), ("style", ("s.png", IMAGE))],
                         {"model": "gpt-image-1", "prompt": "hat"})  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "style"


def test_two_masks_are_refused(proxy: RunningProxy) -> None:
    response = post_form(proxy, [("image", ("a.png", IMAGE)), ("mask", ("m.png", MASK)), ("mask", ("n.png", MASK))],
                         {"model": "gpt-image-1", "prompt": "hat"})  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "mask"


def test_a_credential_in_a_form_field_is_refused(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = post_form(proxy, [("image", ("a.png", IMAGE))],
                         {"model": "gpt-image-1", "prompt": "hat", "extra[api_base]": "http://evil.invalid"})  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "forbidden_parameter"
    assert upstream.requests == []


def test_a_body_that_is_neither_a_form_nor_json_is_refused(proxy: RunningProxy) -> None:
    with proxy.http() as client:
        response = client.post("/v1/images/edits", content=IMAGE, headers={"content-type": "image/png"})

    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["error"]["message"]


def test_a_form_cut_off_before_its_end_is_refused(proxy: RunningProxy) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhat\r\n--b\r\nContent-Disposition: form-da'
    with proxy.http() as client:
        response = client.post("/v1/images/edits", content=body,
                               headers={"content-type": "multipart/form-data; boundary=b"})  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_multipart"


# -- upload limits ---------------------------------------------------------------------------------------


def test_an_image_over_the_limit_is_413_naming_the_setting(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    response = post_form(
        proxy, [("image", ("big.png", noise_png(500, 500)))], {"model": "gpt-image-1", "prompt": "hat"}
    )

    assert response.status_code == 413
    assert "max_image_size_mb" in response.json()["error"]["message"]
    assert upstream.requests == []


def test_more_images_than_the_limit_is_413(proxy: RunningProxy) -> None:
    response = post_form(proxy, [("image[]", (f"{i}.png", IMAGE)) for i in range(4)],
                         {"model": "gpt-image-1", "prompt": "hat"})  # fmt: skip

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_images"


def test_more_json_images_than_the_limit_is_413(proxy: RunningProxy) -> None:
    images = [{"image_url": data_url(IMAGE)}] * 4
    with proxy.http() as client:
        response = client.post("/v1/images/edits", json={"model": "gpt-image-1", "prompt": "hat", "images": images})

    assert response.status_code == 413


def test_a_body_declared_over_the_request_limit_is_413_before_it_is_read(proxy: RunningProxy) -> None:
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=STARTUP_TIMEOUT) as sock:
        sock.sendall(
            b"POST /v1/images/edits HTTP/1.1\r\nhost: proxy\r\nauthorization: Bearer " + MASTER_KEY.encode()
            + b"\r\ncontent-type: multipart/form-data; boundary=b\r\ncontent-length: 10485760\r\n\r\n--b\r\n"
        )  # fmt: skip
        answer = b""
        while b"request_too_large" not in answer and (chunk := sock.recv(65536)):  # without the other 10 MB
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"request_too_large" in answer


def test_an_over_the_limit_upload_leaves_no_spooled_file(start_proxy: ProxyLauncher, tmp_path: Path) -> None:
    spool_root = tmp_path / "tmp"
    spool_root.mkdir()
    with FakeOpenAI(api_keys=(UPSTREAM_KEY,)) as fake:
        proxy = start_proxy(
            {"model_list": [openai_deployment("gpt-image-1", fake)], "general_settings": {"max_image_size_mb": 1.2}},
            env={"TMPDIR": str(spool_root)},
        )

        response = post_form(proxy, [("image", ("big.png", LARGE_IMAGE))], {"model": "gpt-image-1", "prompt": "hat"})

    assert response.status_code == 413
    assert list(spool_root.rglob("upload-*")) == []


def test_upload_limits_must_be_positive_numbers(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"model_list": [{"model_name": "g", "litellm_params": {"model": "openai/gpt-image-1",
                                                   "api_key": "x"}}],
                                   "general_settings": {"max_image_size_mb": -1, "max_images_per_request": 2.5}})  # fmt: skip

    result = run_serve(["--config", str(path), "--check"])

    assert result.returncode == 1
    output = result.stderr + result.stdout
    assert "general_settings.max_image_size_mb: input should be greater than 0, got -1" in output
    assert "general_settings.max_images_per_request: must be a whole number, got 2.5" in output


# -- routing -----------------------------------------------------------------------------------------------


def test_an_edit_falls_back_only_to_a_group_that_can_edit(start_proxy: ProxyLauncher, upstream: FakeOpenAI) -> None:
    dead = {"model_name": "primary", "litellm_params": {"model": "openai/gpt-image-1", "api_base": "http://127.0.0.1:9/v1",
                                                          "api_key": UPSTREAM_KEY}}  # fmt: skip
    proxy = start_proxy({
        "model_list": [dead, openai_deployment("dall-e-3", upstream), openai_deployment("backup", upstream,
                                                                                         model="gpt-image-1")],
        "router_settings": {"num_retries": 0, "fallbacks": [{"primary": ["dall-e-3", "backup"]}]},
    })  # fmt: skip

    with proxy.http(api_key=None) as client:
        response = client.post("/v1/images/edits", files=[("image", ("a.png", IMAGE))],
                               data={"model": "primary", "prompt": "hat"})  # fmt: skip

    assert response.status_code == 200, response.text
    assert response.headers["x-imagegen-deployment"] == "backup#1"
    assert [request.path for request in upstream.requests] == ["/v1/images/edits"]


# -- the Azure routes ----------------------------------------------------------------------------------


def test_azure_openai_sdk_edits_through_the_deployment_route(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    client = openai.AzureOpenAI(azure_endpoint=proxy.url, api_key=MASTER_KEY, api_version="2025-04-01-preview",
                                max_retries=0)  # fmt: skip

    result = client.images.edit(model="gpt-image-1", image=("a.png", IMAGE), prompt="hat")

    assert result.data
    assert upstream.uploads[0][1]["image"][0].data == IMAGE


@variation_sdk
def test_azure_openai_sdk_makes_variations(proxy: RunningProxy, upstream: FakeOpenAI) -> None:
    client = openai.AzureOpenAI(azure_endpoint=proxy.url, api_key=MASTER_KEY, api_version="2025-04-01-preview",
                                max_retries=0)  # fmt: skip

    result = client.images.create_variation(model="dall-e-2", image=("a.png", IMAGE), response_format="b64_json")

    assert result.data
    assert upstream.requests[0].path == "/v1/images/variations"
