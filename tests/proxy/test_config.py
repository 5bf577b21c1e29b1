"""Reading a config: what it becomes, and every problem reported at once (in-process, no server)."""

from __future__ import annotations

from typing import Any

import pytest

from imagegen_proxy.config import ConfigError, parse_config


def _entry(name: str, model: str, **params: Any) -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model, "api_key": "sk-x", **params}}


def _problems(data: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_settings_and_default_parameters_become_the_deployment_params() -> None:
    config = parse_config({"model_list": [_entry("hd", "dall-e-3", quality="hd", organization="org-1")]})

    (deployment,) = config.deployments
    assert deployment.params == {"api_key": "sk-x", "quality": "hd", "organization": "org-1"}
    assert (deployment.provider, deployment.kind, deployment.id) == ("openai", "image", "hd#1")


def test_params_is_a_synonym_of_litellm_params() -> None:
    config = parse_config({"model_list": [{"model_name": "a", "params": {"model": "dall-e-2"}}]})

    assert config.deployments[0].model == "dall-e-2"


def test_environment_values_are_read_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEGEN_TEST_KEY", "sk-from-env")

    config = parse_config({"model_list": [_entry("a", "dall-e-2", api_key="os.environ/IMAGEGEN_TEST_KEY")]})

    assert config.deployments[0].params["api_key"] == "sk-from-env"
    assert config.deployments[0].unavailable is None


def test_a_missing_master_key_variable_is_an_error_not_an_open_proxy() -> None:
    problems = _problems(
        {"model_list": [_entry("a", "dall-e-2")], "general_settings": {"master_key": "os.environ/IMAGEGEN_NOPE"}}
    )

    assert problems[0].startswith("general_settings.master_key: the environment variable IMAGEGEN_NOPE is not set")


def test_router_call_keys_are_taken_out_of_the_provider_params() -> None:
    config = parse_config(
        {"model_list": [_entry("a", "dall-e-2", timeout=30, max_retries=1, rpm=600, drop_params=True)]}
    )

    deployment = config.deployments[0]
    assert (deployment.timeout, deployment.num_retries, deployment.weight, deployment.drop_params) == (30, 1, 600, True)
    assert deployment.params == {"api_key": "sk-x"}


def test_drop_params_drops_an_unsupported_default_with_a_warning() -> None:
    config = parse_config(
        {"model_list": [_entry("a", "dall-e-2", style="vivid")], "litellm_settings": {"drop_params": True}}
    )

    assert "style" not in config.deployments[0].params
    assert any("dropped `style`" in warning for warning in config.warnings)


def test_a_fallback_must_be_an_image_model_group() -> None:
    problems = _problems(
        {
            "model_list": [_entry("img", "dall-e-3"), _entry("compat", "openai/some-server-model"),
                           {"model_name": "chat", "litellm_params": {"model": "gpt-4o"}, "model_info": {"mode": "chat"}}],
            "router_settings": {"fallbacks": [{"img": ["compat", "chat"]}]},
        }
    )  # fmt: skip

    assert len(problems) == 2
    assert all("is not known to generate images" in problem for problem in problems)


def test_a_declared_image_mode_makes_an_unlisted_model_a_fallback_target() -> None:
    config = parse_config(
        {
            "model_list": [_entry("img", "dall-e-3"),
                           {**_entry("compat", "openai/some-server-model"), "model_info": {"mode": "image_generation"}}],
            "router_settings": {"fallbacks": [{"img": ["compat"]}]},
        }
    )  # fmt: skip

    assert config.router.fallbacks == {"img": ("compat",)}


def test_litellm_only_settings_are_warned_about_not_refused() -> None:
    config = parse_config(
        {
            "model_list": [_entry("a", "dall-e-2")],
            "litellm_settings": {"set_verbose": True},
            "router_settings": {"routing_strategy": "latency-based-routing"},
            "callbacks": ["langfuse"],
        }
    )

    assert config.router.routing_strategy == "simple-shuffle"
    assert len(config.warnings) == 3


def test_a_deployment_id_from_model_info_must_be_unique() -> None:
    entry = {**_entry("a", "dall-e-2"), "model_info": {"id": "eu"}}

    assert _problems({"model_list": [entry, entry]}) == ["model_list[1].model_info.id: 'eu' is used twice"]


def test_an_empty_file_says_what_is_required() -> None:
    assert _problems(None) == ["model_list: required, a list of {model_name, litellm_params: {model, …}}"]


def test_drop_params_from_the_environment_false_means_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEGEN_TEST_DROP", "false")

    config = parse_config({"model_list": [_entry("a", "dall-e-2", drop_params="os.environ/IMAGEGEN_TEST_DROP")]})

    assert config.deployments[0].drop_params is False
