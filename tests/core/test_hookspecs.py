"""Every hook is documented and tested: adding a hookspec without both fails here (as datasette does)."""

from __future__ import annotations

import contextlib
import inspect
import re
from pathlib import Path

import httpx
import pytest

import imagegen
from imagegen.exceptions import ImageGenError
from imagegen.hookspecs import CallbackSpec, CommandSpec, ProviderSpec, hookimpl
from imagegen.plugins import registry
from imagegen.provider import HOOKS_VERSION, GenerationRequest, ProviderInfo, ProviderRequest, Settings
from imagegen.records import CallRecord
from imagegen.testing import TINY_PNG_B64

GUIDE = Path(__file__).parents[2] / "docs" / "writing-a-plugin.md"
SPECS = (ProviderSpec, CommandSpec, CallbackSpec)
HOOKS = [name for spec in SPECS for name, _ in inspect.getmembers(spec, inspect.isfunction)]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_contract_docstring(hook: str) -> None:
    spec = next(getattr(kind, hook) for kind in SPECS if hasattr(kind, hook))
    assert len((spec.__doc__ or "").strip()) > 40


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_in_the_plugin_guide(hook: str) -> None:
    assert re.search(rf"^### `{hook}`$", GUIDE.read_text(), re.MULTILINE), f"document {hook} in {GUIDE.name}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test_here(hook: str) -> None:
    assert f"test_hook_{hook}" in globals(), f"add test_hook_{hook} to {__file__}"


def acme_request(**params: object) -> GenerationRequest:
    provider = registry.provider("acme")
    return GenerationRequest(
        "otter", "acme", "acme-image-1", provider.model("acme-image-1"), dict(params), Settings({"api_key": "k"}), 5.0
    )


def test_hook_provider_info() -> None:
    info = registry.provider("acme").info
    assert isinstance(info, ProviderInfo)
    assert info.hooks_version == HOOKS_VERSION
    assert [spec.name for spec in info.models] == ["acme-image-1"]


def test_hook_map_params() -> None:
    body = registry.provider("acme").hook.map_params(request=acme_request(n=2, size="512x512"))
    assert body == {"prompt": "otter", "count": 2, "width": 512, "height": 512}


def test_hook_build_request() -> None:
    request = acme_request()
    upstream = registry.provider("acme").hook.build_request(request=request, body={"prompt": "otter"})
    assert isinstance(upstream, ProviderRequest)
    assert upstream.url == "https://api.example.com/v1/models/acme-image-1/generate"
    assert upstream.secrets == ["k"]


def test_hook_parse_response() -> None:
    body = {"created": 1, "images": [{"base64": TINY_PNG_B64}]}
    response = registry.provider("acme").hook.parse_response(
        request=acme_request(), response=httpx.Response(200, json=body)
    )
    assert response.data[0].b64_json == TINY_PNG_B64


def test_hook_parse_event() -> None:
    # Acme does not stream; OpenAI does: each event's JSON (with its `type`) becomes a typed event.
    from imagegen.sse import ServerSentEvent
    from imagegen.types import PartialImageEvent

    provider = registry.provider("openai")
    request = GenerationRequest(
        "otter", "openai", "gpt-image-1", provider.model("gpt-image-1"), {}, Settings({"api_key": "k"}), 5.0
    )
    data = '{"type": "image_generation.partial_image", "b64_json": "aGk=", "partial_image_index": 0, "created_at": 1}'
    event = provider.hook.parse_event(request=request, event=ServerSentEvent("image_generation.partial_image", data))
    assert isinstance(event, PartialImageEvent)
    assert event.partial_image_index == 0


def test_hook_parse_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    from imagegen.provider import Job

    from .job_plugin import PREFIX, install

    monkeypatch.setitem(registry.entries(), PREFIX, install())
    provider = registry.provider(PREFIX)
    request = GenerationRequest("otter", PREFIX, "slow-1", provider.model("slow-1"), {}, Settings({}), 5.0)
    job = Job("job-1", ProviderRequest(url="http://127.0.0.1:9/v1/jobs/job-1", method="GET"))
    pending = provider.hook.parse_poll(
        request=request, job=job, response=httpx.Response(200, json={"status": "Pending"})
    )
    assert pending is job
    done = provider.hook.parse_poll(
        request=request,
        job=job,
        response=httpx.Response(200, json={"status": "Ready", "result": {"sample": "http://x/a.png", "expires_at": 9}}),
    )
    assert done.data[0].url == "http://x/a.png"


def test_hook_parse_error() -> None:
    # Acme keeps the default mapping (returns None); the OpenAI plugin does too; Azure/Bedrock/Vertex don't.
    result = registry.provider("acme").hook.parse_error(request=acme_request(), response=httpx.Response(500))
    assert result is None


def test_hook_register_commands() -> None:
    import argparse

    from imagegen.hookspecs import hookimpl
    from imagegen.plugins import load_command_plugins

    class Hello:
        @hookimpl
        def register_commands(self, subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
            subparsers.add_parser("hello").set_defaults(func=lambda args: 0)

    manager = load_command_plugins()
    manager.register(Hello())
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers()
    manager.hook.register_commands(subparsers=commands)
    assert "hello" in commands.choices


class AuditPlugin:
    """A callback plugin: hook functions taking the record, or nothing."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def on_request(self, record: CallRecord) -> None:
        self.seen.append(("on_request", record.status))

    @hookimpl
    def on_success(self, record: CallRecord) -> None:
        self.seen.append(("on_success", record.status))

    @hookimpl
    def on_failure(self) -> None:
        self.seen.append(("on_failure", "-"))


def audited(**kwargs: object) -> list[tuple[str, str]]:
    """The hooks an `AuditPlugin`, loaded as the core loads callback plugins, is called with for one mocked call."""
    from imagegen.observe import plugin_callback

    plugin = AuditPlugin()
    callback = plugin_callback("audit", plugin)
    with contextlib.suppress(ImageGenError):
        imagegen.image_generation("otter", model="dall-e-3", callbacks=[callback], **kwargs)  # type: ignore[arg-type]
    return plugin.seen


def test_hook_on_request() -> None:
    assert audited(mock_response=True)[0] == ("on_request", "started")


def test_hook_on_success() -> None:
    assert audited(mock_response=True)[-1] == ("on_success", "success")


def test_hook_on_failure() -> None:
    assert audited(mock_response="imagegen.RateLimitError") == [("on_request", "started"), ("on_failure", "-")]
