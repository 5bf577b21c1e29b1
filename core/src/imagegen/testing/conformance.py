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

Removing or weakening a test here lowers the bar for every plugin: extend, don't delete.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import traceback
from typing import Any, ClassVar

import pytest

from imagegen import transport
from imagegen.api import aimage_generation, image_generation
from imagegen.exceptions import (
    APIConnectionError,
    AuthenticationError,
    ContentPolicyViolationError,
    ImageGenError,
    InternalServerError,
    RateLimitError,
    UnsupportedParamsError,
)
from imagegen.plugins import registry
from imagegen.types import ImageResponse

from .fake_upstream import FakeUpstream


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
        return image_generation("A cute baby sea otter", model=self.model, **{**call_kwargs, **kwargs})

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
        assert len(upstream.requests) == 2

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
