"""The conformance suite every provider plugin runs, ours and third parties' alike.

Subclass `ProviderConformanceTests` in your plugin's tests, set the class attributes and provide
the two fixtures; every test below then runs against your fake upstream over a real socket:

    class TestMyProvider(ProviderConformanceTests):
        model = "my/model-1"
        plugin_module = "imagegen_my"

        @pytest.fixture
        def upstream(self):
            with MyFake() as fake:
                yield fake

        @pytest.fixture
        def call_kwargs(self, upstream):
            return {"api_base": upstream.url, "api_key": "test-key"}

Capabilities the provider has turn more tests on: `edit_model` / `variation_model` (edits and
variations, from every kind of input, masks as the model takes them, retries re-sending the upload),
`streams_natively` (partial images and mid-stream errors; every plugin's streams are tested, emulated
or not), `answers_with_jobs` (polling, and a timeout that cancels the job and names it), `returns_urls`
(URL results downloaded for `response_format="b64_json"`).

Removing or weakening a test here lowers the bar for every plugin: extend, don't delete.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, ClassVar

import pytest

from imagegen import transport
from imagegen.api import (
    aimage_edit,
    aimage_generation,
    aimage_variation,
    image_edit,
    image_generation,
    image_variation,
)
from imagegen.exceptions import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ContentPolicyViolationError,
    ImageGenError,
    InternalServerError,
    RateLimitError,
    Timeout,
    UnsupportedParamsError,
)
from imagegen.plugins import registry
from imagegen.provider import EDIT, ModelSpec
from imagegen.types import CompletedImageEvent, ImageResponse, PartialImageEvent

from .fake_upstream import FakeUpstream
from .images import png_image


class ProviderConformanceTests:
    """The standard tests of a provider plugin. Class attributes are its capabilities."""

    model: ClassVar[str]
    """A model string the fake serves, with its prefix (`openai/dall-e-2`)."""
    plugin_module: ClassVar[str]
    """The plugin's module, checked to import without `heavy_modules`."""
    heavy_modules: ClassVar[tuple[str, ...]] = ()
    """Modules (provider SDKs) that importing the plugin must not import; they load on first use."""
    max_n: ClassVar[int] = 1
    """The largest `n` to ask for in one call (a fanned-out `n` counts too)."""
    valid_size: ClassVar[str | None] = "1024x1024"
    """A `size` the model accepts, or None if it takes no size."""
    unsupported_param: ClassVar[tuple[str, Any]] = ("not_a_real_parameter", 1)
    """A parameter the model rejects before any request."""
    auth_error: ClassVar[type[ImageGenError]] = AuthenticationError
    """What bad credentials raise (some providers answer 403 for a bad signature)."""
    secret_settings: ClassVar[tuple[str, ...]] = ("api_key",)
    """Keys of `call_kwargs` whose values must never appear in an error."""
    edit_model: ClassVar[str | None] = None
    """A model string that edits images (None: the provider does not edit; the edit tests skip)."""
    variation_model: ClassVar[str | None] = None
    """A model string that makes variations (None: the variation tests skip)."""
    edit_mask: ClassVar[bool | None] = None
    """Whether `edit_model` takes a mask (None: as its ModelSpec says; set it for a model the plugin
    resolves per call, like an Azure deployment)."""
    input_size: ClassVar[tuple[int, int]] = (64, 64)
    """The width and height of the test input images (a size every edit/variation model tested takes)."""
    streams_natively: ClassVar[bool] = False
    """The provider streams `model`'s partial images itself (the fake answers `partial_images` with events)."""
    answers_with_jobs: ClassVar[bool] = False
    """The provider answers with a job to poll (the fake keeps jobs pending while `hold_jobs` is set)."""
    job_timeout: ClassVar[float] = 1.5
    """The call timeout the job-timeout test uses: long enough for a submit and a poll against the fake."""
    returns_urls: ClassVar[bool] = False
    """`model`'s images come back as URLs (the fake serves them), downloaded for `response_format="b64_json"`."""

    @pytest.fixture
    def upstream(self) -> FakeUpstream:
        raise NotImplementedError("provide a started fake upstream")

    @pytest.fixture
    def call_kwargs(self, upstream: FakeUpstream) -> dict[str, Any]:
        raise NotImplementedError("return the keyword arguments that point a call at the fake")

    @pytest.fixture(autouse=True)
    def _fast_retries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(transport, "INITIAL_BACKOFF", 0.001)

    @property
    def prefix(self) -> str:
        return self.model.partition("/")[0]

    def generate(self, call_kwargs: dict[str, Any], **kwargs: Any) -> ImageResponse:
        return image_generation("A cute baby sea otter", model=self.model, stream=False, **{**call_kwargs, **kwargs})

    def spec_of(self, model: str) -> ModelSpec | None:
        """The model's spec; None for one its plugin resolves per call (pass-through)."""
        prefix, _, name = model.partition("/")
        return registry.provider(prefix).model(name)

    def edit_takes_mask(self) -> bool:
        """Skips the test when the provider does not edit; whether the edit model takes a mask."""
        if self.edit_model is None:
            pytest.skip("the provider does not edit images")
        if self.edit_mask is not None:
            return self.edit_mask
        spec = self.spec_of(self.edit_model)
        edit = spec.operation(EDIT) if spec is not None else None
        assert edit is not None, f"{self.edit_model} must declare ModelSpec.edit (or set edit_mask)"
        return edit.mask

    def input_image(self) -> bytes:
        return png_image(*self.input_size)

    def mask(self, size: tuple[int, int] | None = None) -> bytes:
        width, height = size or self.input_size
        return png_image(width, height, transparent_box=(0, 0, width // 2, height // 2))

    def edit(self, call_kwargs: dict[str, Any], image: Any = None, **kwargs: Any) -> ImageResponse:
        self.edit_takes_mask()
        assert self.edit_model is not None
        image = self.input_image() if image is None else image
        return image_edit(
            image, "Add a small red hat", model=self.edit_model, stream=False, **{**call_kwargs, **kwargs}
        )

    def assert_images(self, response: ImageResponse, count: int) -> None:
        assert len(response.data) == count
        for image in response.data:
            if image.b64_json is not None:
                assert base64.b64decode(image.b64_json, validate=True)
            else:
                assert image.url, "every image has base64 data or a URL"

    # Loading

    def test_plugin_loads_without_error(self) -> None:
        provider = registry.provider(self.prefix)
        assert provider.info.models or provider.info.pass_through_unknown_models

    def test_plugin_import_does_not_import_provider_sdks(self) -> None:
        code = (
            "import sys, importlib; importlib.import_module(sys.argv[1]); "
            "print(','.join(m for m in sys.argv[2:] if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, self.plugin_module, *self.heavy_modules],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert out.stdout.strip() == "", f"importing {self.plugin_module} imported {out.stdout.strip()}"

    # Generating

    def test_generates_an_image(self, call_kwargs: dict[str, Any]) -> None:
        response = self.generate(call_kwargs)
        self.assert_images(response, 1)
        assert response.provider == self.prefix
        assert response.model == self.model.partition("/")[2]

    @pytest.mark.anyio
    async def test_generates_an_image_async(self, call_kwargs: dict[str, Any]) -> None:
        response = await aimage_generation("A cute baby sea otter", model=self.model, **call_kwargs)
        self.assert_images(response, 1)

    def test_generates_n_images(self, call_kwargs: dict[str, Any]) -> None:
        if self.max_n < 2:
            pytest.skip("the model makes one image per call")
        self.assert_images(self.generate(call_kwargs, n=self.max_n), self.max_n)

    def test_accepts_a_valid_size(self, call_kwargs: dict[str, Any]) -> None:
        if self.valid_size is None:
            pytest.skip("the model takes no size")
        self.assert_images(self.generate(call_kwargs, size=self.valid_size), 1)

    def test_response_is_a_valid_openai_images_response(self, call_kwargs: dict[str, Any]) -> None:
        openai_types = pytest.importorskip("openai.types")
        dumped = self.generate(call_kwargs).model_dump()
        openai_types.ImagesResponse.model_validate(dumped)

    # Parameters

    def test_unsupported_param_raises_before_any_request(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        name, value = self.unsupported_param
        with pytest.raises(UnsupportedParamsError) as caught:
            self.generate(call_kwargs, **{name: value})
        assert name in str(caught.value)
        assert upstream.requests == []

    def test_drop_params_drops_the_unsupported_param_with_a_warning(self, call_kwargs: dict[str, Any]) -> None:
        name, value = self.unsupported_param
        response = self.generate(call_kwargs, drop_params=True, **{name: value})
        self.assert_images(response, 1)
        assert any(name in warning for warning in response.warnings)

    # Errors

    def test_bad_credentials_raise_an_auth_error(self, upstream: FakeUpstream, call_kwargs: dict[str, Any]) -> None:
        upstream.fail_next("auth")
        with pytest.raises(self.auth_error) as caught:
            self.generate(call_kwargs, num_retries=0)
        assert caught.value.provider == self.prefix

    def test_rate_limit_is_retried(self, upstream: FakeUpstream, call_kwargs: dict[str, Any]) -> None:
        upstream.fail_next("rate_limit")
        self.assert_images(self.generate(call_kwargs, num_retries=1), 1)
        first, second, *after = upstream.requests
        assert (first.method, first.path, first.body) == (second.method, second.path, second.body)
        if not self.answers_with_jobs:
            assert after == []
        else:  # the retried submit, then the job's polls
            assert after
            assert all((r.method, r.path) != (first.method, first.path) for r in after)

    def test_rate_limit_raises_when_retries_run_out(self, upstream: FakeUpstream, call_kwargs: dict[str, Any]) -> None:
        upstream.fail_next("rate_limit", times=2)
        with pytest.raises(RateLimitError):
            self.generate(call_kwargs, num_retries=1)
        assert len(upstream.requests) == 2

    def test_server_error_raises_internal_server_error(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        upstream.fail_next("server_error")
        with pytest.raises(InternalServerError):
            self.generate(call_kwargs, num_retries=0)

    def test_content_policy_rejection_raises_content_policy_error(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        upstream.fail_next("content_policy")
        with pytest.raises(ContentPolicyViolationError):
            self.generate(call_kwargs, num_retries=0)

    @pytest.mark.anyio
    async def test_errors_are_mapped_on_the_async_path(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        upstream.fail_next("server_error")
        with pytest.raises(InternalServerError):
            await aimage_generation("otter", model=self.model, num_retries=0, **call_kwargs)

    def test_unreachable_upstream_raises_connection_error(self, call_kwargs: dict[str, Any]) -> None:
        with pytest.raises(APIConnectionError):
            self.generate({**call_kwargs, "api_base": "http://127.0.0.1:9"}, num_retries=0)

    def test_errors_never_show_a_secret(self, upstream: FakeUpstream, call_kwargs: dict[str, Any]) -> None:
        secrets = [str(call_kwargs[k]) for k in self.secret_settings if call_kwargs.get(k)]
        upstream.fail_next("auth")
        with pytest.raises(ImageGenError) as caught:
            self.generate(call_kwargs, num_retries=0)
        shown = "".join(traceback.format_exception(caught.value)) + repr(caught.value)
        for secret in secrets:
            assert secret not in shown

    # Edits

    def test_edits_an_image(self, upstream: FakeUpstream, call_kwargs: dict[str, Any]) -> None:
        response = self.edit(call_kwargs)
        self.assert_images(response, 1)
        assert response.provider == self.prefix
        assert upstream.requests

    @pytest.mark.anyio
    async def test_edits_an_image_async(self, call_kwargs: dict[str, Any]) -> None:
        self.edit_takes_mask()
        assert self.edit_model is not None
        response = await aimage_edit(self.input_image(), "Add a small red hat", model=self.edit_model, **call_kwargs)
        self.assert_images(response, 1)

    def test_edit_takes_a_path_a_file_object_and_a_data_url(self, call_kwargs: dict[str, Any], tmp_path: Path) -> None:
        self.edit_takes_mask()
        path = tmp_path / "input.png"
        path.write_bytes(self.input_image())
        data_url = "data:image/png;base64," + base64.b64encode(self.input_image()).decode()
        for image in (path, str(path), io.BytesIO(self.input_image()), data_url):
            self.assert_images(self.edit(call_kwargs, image), 1)

    def test_edit_with_a_mask(self, upstream: FakeUpstream, call_kwargs: dict[str, Any]) -> None:
        if not self.edit_takes_mask():
            with pytest.raises(UnsupportedParamsError, match="mask"):
                self.edit(call_kwargs, mask=self.mask())
            assert upstream.requests == []
            response = self.edit(call_kwargs, mask=self.mask(), drop_params=True)
            assert any("mask" in warning for warning in response.warnings)
            return
        self.assert_images(self.edit(call_kwargs, mask=self.mask()), 1)

    def test_edit_refuses_a_mask_of_other_dimensions_before_any_request(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        if not self.edit_takes_mask():
            pytest.skip("the model takes no mask")
        width, height = self.input_size
        with pytest.raises(BadRequestError, match="same dimensions"):
            self.edit(call_kwargs, mask=self.mask((width * 2, height * 2)))
        assert upstream.requests == []

    def test_edit_refuses_an_input_that_is_not_an_image_before_any_request(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        with pytest.raises(BadRequestError, match="PNG, JPEG or WEBP"):
            self.edit(call_kwargs, b"GIF89a not really an image")
        assert upstream.requests == []

    def test_edit_retried_after_a_rate_limit_sends_the_same_upload(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        self.edit_takes_mask()
        upstream.fail_next("rate_limit")
        self.assert_images(self.edit(call_kwargs, num_retries=1), 1)
        first, second = upstream.requests[:2]
        assert (first.method, first.path) == (second.method, second.path)
        assert first.body == second.body
        assert len(first.body) > len(self.input_image())

    def test_an_operation_the_model_lacks_is_refused_naming_models_that_can(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        if self.model == self.edit_model:
            pytest.skip(f"{self.model} edits")
        with pytest.raises(UnsupportedParamsError, match="cannot edit") as caught:
            image_edit(self.input_image(), "Add a hat", model=self.model, **call_kwargs)
        if self.edit_model is not None and self.spec_of(self.edit_model) is not None:
            assert self.edit_model.partition("/")[2] in str(caught.value)
        assert upstream.requests == []

    # Variations

    def test_makes_a_variation(self, call_kwargs: dict[str, Any]) -> None:
        if self.variation_model is None:
            pytest.skip("the provider makes no variations")
        self.assert_images(image_variation(self.input_image(), model=self.variation_model, **call_kwargs), 1)

    @pytest.mark.anyio
    async def test_makes_a_variation_async(self, call_kwargs: dict[str, Any]) -> None:
        if self.variation_model is None:
            pytest.skip("the provider makes no variations")
        response = await aimage_variation(self.input_image(), model=self.variation_model, **call_kwargs)
        self.assert_images(response, 1)

    # Streaming (native or emulated: every model streams)

    def test_a_stream_ends_with_a_completed_event_and_the_final_response(self, call_kwargs: dict[str, Any]) -> None:
        with image_generation("A cute baby sea otter", model=self.model, stream=True, **call_kwargs) as stream:
            events = list(stream)
        completed = [event for event in events if isinstance(event, CompletedImageEvent)]
        assert len(completed) == 1
        assert events[-1] is completed[0]
        assert completed[0].type == "image_generation.completed"
        assert base64.b64decode(completed[0].b64_json, validate=True)
        self.assert_images(stream.response, 1)
        assert stream.response.provider == self.prefix

    @pytest.mark.anyio
    async def test_a_stream_works_async(self, call_kwargs: dict[str, Any]) -> None:
        stream = await aimage_generation("A cute baby sea otter", model=self.model, stream=True, **call_kwargs)
        async with stream:
            events = [event async for event in stream]
        assert isinstance(events[-1], CompletedImageEvent)
        self.assert_images(stream.response, 1)

    def test_a_stream_left_early_closes_quietly(self, call_kwargs: dict[str, Any]) -> None:
        with image_generation("A cute baby sea otter", model=self.model, stream=True, **call_kwargs) as stream:
            next(iter(stream))

    def test_an_error_before_the_first_event_is_raised_by_the_call(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        upstream.fail_next("server_error")
        with pytest.raises(InternalServerError):
            image_generation("otter", model=self.model, stream=True, num_retries=0, **call_kwargs)

    def test_an_edit_streams(self, call_kwargs: dict[str, Any]) -> None:
        self.edit_takes_mask()
        assert self.edit_model is not None
        stream = image_edit(self.input_image(), "Add a hat", model=self.edit_model, stream=True, **call_kwargs)
        events = list(stream)
        assert events[-1].type == "image_edit.completed"
        self.assert_images(stream.response, 1)

    def test_partial_images_arrive_before_the_completed_image(self, call_kwargs: dict[str, Any]) -> None:
        if not self.streams_natively:
            pytest.skip("the provider does not stream partial images (its streams are emulated)")
        stream = image_generation("otter", model=self.model, stream=True, partial_images=2, **call_kwargs)
        events = list(stream)
        assert [type(event) for event in events] == [PartialImageEvent, PartialImageEvent, CompletedImageEvent]
        assert [event.partial_image_index for event in events[:2]] == [0, 1]  # type: ignore[union-attr]

    def test_an_error_mid_stream_is_raised_by_the_stream(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        if not self.streams_natively:
            pytest.skip("the provider does not stream (its streams are emulated)")
        upstream.fail_next("mid_stream_error")
        stream = image_generation("otter", model=self.model, stream=True, partial_images=1, **call_kwargs)
        received = [next(stream)]  # the stream began
        with pytest.raises(ImageGenError):
            received.extend(stream)

    # Jobs and URL results

    def test_a_job_is_polled_until_done(self, upstream: FakeUpstream, call_kwargs: dict[str, Any]) -> None:
        if not self.answers_with_jobs:
            pytest.skip("the provider answers at once")
        self.assert_images(self.generate(call_kwargs), 1)
        assert len(upstream.requests) >= 2, "a submit, then at least one poll"

    def test_a_job_past_the_deadline_times_out_naming_the_job(
        self, upstream: FakeUpstream, call_kwargs: dict[str, Any]
    ) -> None:
        if not self.answers_with_jobs:
            pytest.skip("the provider answers at once")
        upstream.hold_jobs = True
        with pytest.raises(Timeout) as caught:
            self.generate(call_kwargs, timeout=self.job_timeout, num_retries=0)
        assert caught.value.job_id

    def test_url_results_are_downloaded_for_b64_json(self, call_kwargs: dict[str, Any]) -> None:
        if not self.returns_urls:
            pytest.skip("the provider answers in base64")
        response = self.generate(call_kwargs, response_format="b64_json")
        assert all(image.b64_json and image.url is None for image in response.data)
        self.assert_images(response, 1)
