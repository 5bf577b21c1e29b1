"""What a requested model name means: a model group, an alias, a wildcard's match (in-process, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen_proxy.config import parse_config
from imagegen_proxy.model_names import ModelNames
from imagegen_proxy.operations import group_operations


def _entry(name: str, model: str, **info: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, "api_key": "sk-x"}, "model_info": info}


def names(*entries: dict[str, Any], **router: Any) -> ModelNames:
    config = parse_config({"model_list": list(entries), "router_settings": router})
    return ModelNames(config.deployments, config.router.aliases)


def served_model(model_names: ModelNames, requested: str) -> str | None:
    group = model_names.resolve(requested)
    deployments = model_names.deployments(group) if group is not None else None
    return deployments[0].model if deployments else None


def test_a_wildcard_serves_any_model_of_its_provider_under_the_requested_name() -> None:
    model_names = names(_entry("openai/*", "openai/*"))

    assert model_names.resolve("openai/dall-e-3") == "openai/dall-e-3"
    assert served_model(model_names, "openai/dall-e-3") == "openai/dall-e-3"


@pytest.mark.parametrize(
    ("wildcard", "model", "requested", "operations"),
    [
        ("openai/*", "openai/*", "openai/dall-e-2", ["generation", "edit", "variation"]),
        ("*", "openai/*", "gpt-image-1", ["generation", "edit"]),
        ("compatible/*", "openai/my-server/*", "compatible/gpt-image-1", ["generation", "edit"]),  # pass-through
    ],
)
def test_a_wildcards_match_does_what_the_model_it_names_does(
    wildcard: str, model: str, requested: str, operations: list[str]
) -> None:
    model_names = names(_entry(wildcard, model, mode="image_generation"))  # served unlisted on a compatible server

    assert group_operations(model_names.deployments(requested) or []) == operations


def test_a_catch_all_wildcard_puts_the_requested_name_in_its_model() -> None:
    assert served_model(names(_entry("*", "openai/*")), "gpt-image-1") == "openai/gpt-image-1"


def test_a_bare_name_is_also_tried_with_its_providers_prefix() -> None:
    model_names = names(_entry("openai/*", "openai/*"))

    assert model_names.resolve("dall-e-2") == "dall-e-2"
    assert served_model(model_names, "dall-e-2") == "openai/dall-e-2"


def test_a_bedrock_wildcard_serves_bedrock_models() -> None:
    model_names = names(_entry("bedrock/*", "bedrock/*"))

    assert served_model(model_names, "bedrock/amazon.nova-canvas-v1:0") == "bedrock/amazon.nova-canvas-v1:0"


def test_an_exact_model_group_beats_every_wildcard() -> None:
    model_names = names(_entry("*", "openai/*"), _entry("dall-e-3", "openai/dall-e-3"), _entry("openai/*", "openai/*"))

    assert model_names.resolve("dall-e-3") == "dall-e-3"
    assert model_names.deployments("dall-e-3") == model_names.groups["dall-e-3"]


@pytest.mark.parametrize(
    ("requested", "pattern"),
    [("openai/gpt-image-1-mini", "openai/gpt-image-*"), ("openai/dall-e-3", "openai/*"), ("dall-e-3", "*")],
)
def test_the_most_specific_wildcard_wins(requested: str, pattern: str) -> None:
    model_names = names(_entry("*", "openai/*"), _entry("openai/*", "openai/*"),
                        _entry("openai/gpt-image-*", "openai/gpt-image-*"))  # fmt: skip

    deployments = model_names.deployments(requested)

    assert deployments is not None
    assert deployments[0].id == f"{pattern}#1"


def test_a_model_the_plugin_does_not_list_is_not_served_by_a_wildcard() -> None:
    model_names = names(_entry("*", "openai/*"))

    assert model_names.resolve("gpt-4o") is None
    assert model_names.resolve("openai/my-chat-model") is None


def test_a_wildcard_declared_to_generate_images_serves_unlisted_models_of_a_pass_through_provider() -> None:
    model_names = names(_entry("local/*", "openai/*", mode="image_generation"))

    assert served_model(model_names, "local/flux-schnell") == "openai/flux-schnell"


def test_aliases_resolve_to_their_group_and_hidden_ones_are_not_listed() -> None:
    model_names = names(
        _entry("gpt-image-1", "openai/gpt-image-1"),
        model_group_alias={"latest": "gpt-image-1", "legacy": {"model": "gpt-image-1", "hidden": True}},
    )

    assert model_names.resolve("latest") == model_names.resolve("legacy") == "gpt-image-1"
    assert model_names.listed() == ["gpt-image-1", "latest"]


def test_an_alias_may_name_a_model_a_wildcard_serves() -> None:
    model_names = names(_entry("openai/*", "openai/*"), model_group_alias={"cheap": "openai/dall-e-2"})

    assert served_model(model_names, "cheap") == "openai/dall-e-2"


def test_a_wildcard_lists_each_image_model_of_its_plugin_under_its_pattern() -> None:
    listed = names(_entry("openai/*", "openai/*"), _entry("img-*", "openai/gpt-image-*")).listed()

    assert {"openai/dall-e-3", "openai/gpt-image-1", "img-1", "img-1-mini"} <= set(listed)
    assert "img-dall-e-3" not in listed


def test_a_name_matched_only_by_a_wildcard_without_a_plugin_is_refused() -> None:
    model_names = names(_entry("dall-e-2", "openai/dall-e-2"), _entry("anthropic/*", "anthropic/*"))

    assert model_names.resolve("anthropic/claude-opus") is None
    assert model_names.is_refused("anthropic/claude-opus")
    assert not model_names.is_refused("nothing-like-it")


def test_an_alias_of_a_chat_model_is_refused_like_the_chat_model() -> None:
    model_names = names(
        _entry("img", "openai/dall-e-2"),
        _entry("chat", "openai/gpt-4o", mode="chat"),
        model_group_alias={"talk": "chat"},
    )

    assert model_names.resolve("talk") is None
    assert model_names.is_refused("talk")


def test_a_catch_all_wildcard_also_serves_a_name_given_with_its_provider_prefix() -> None:
    assert served_model(names(_entry("*", "openai/*")), "openai/gpt-image-1") == "openai/gpt-image-1"
