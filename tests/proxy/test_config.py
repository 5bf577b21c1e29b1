"""Reading a config: what it becomes, and every problem reported at once (in-process, no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegen_proxy.config import ConfigError, load_config, parse_config
from imagegen_proxy.config_file import ConfigFile
from imagegen_proxy.model_names import Alias


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
            "router_settings": {"enable_pre_call_checks": True},
            "callbacks": ["langfuse"],
        }
    )

    assert config.warnings == [
        "litellm_settings.set_verbose: not used by imagegen; ignored (use --detailed_debug or --log-level debug)",
        "router_settings.enable_pre_call_checks: not used by imagegen; ignored "
        "(it checks prompts against chat models' context windows)",
        "callbacks: not used by imagegen; ignored",
    ]


def test_a_deployment_id_from_model_info_must_be_unique() -> None:
    entry = {**_entry("a", "dall-e-2"), "model_info": {"id": "eu"}}

    assert _problems({"model_list": [entry, entry]}) == ["model_list[1].model_info.id: 'eu' is used twice"]


def test_an_empty_file_says_what_is_required() -> None:
    assert _problems(None) == ["model_list: required, a list of {model_name, litellm_params: {model, …}}"]


def test_drop_params_from_the_environment_false_means_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEGEN_TEST_DROP", "false")

    config = parse_config({"model_list": [_entry("a", "dall-e-2", drop_params="os.environ/IMAGEGEN_TEST_DROP")]})

    assert config.deployments[0].drop_params is False


# -- the file's shape: typed, every problem at once, with its place ------------------------------------


def test_a_missing_model_names_its_place_and_gives_an_example() -> None:
    problems = _problems(
        {"model_list": [_entry("a", "dall-e-2"), _entry("b", "dall-e-3"), {"model_name": "c", "litellm_params": {}}]}
    )

    assert problems == ["model_list[2].litellm_params.model: required, e.g. openai/gpt-image-1"]


def test_wrong_types_in_every_section_are_reported_together() -> None:
    problems = _problems(
        {
            "model_list": [_entry("a", "dall-e-2", rpm="many", timeout=-1)],
            "router_settings": {"num_retries": True, "redis_port": 70000, "fallbacks": "a"},
            "litellm_settings": {"drop_params": "sometimes"},
            "general_settings": {"public_metrics": [1]},
        }
    )

    assert sorted(problems) == [
        "general_settings.public_metrics: must be true or false",
        "litellm_settings.drop_params: must be true or false, got 'sometimes'",
        "model_list[0].litellm_params.rpm: must be a whole number, got 'many'",
        "model_list[0].litellm_params.timeout: must not be negative, got -1",
        "router_settings.fallbacks: must be a list, got 'a', e.g. [{gpt-image-1: [dall-e-3]}]",
        "router_settings.num_retries: must be a number, got True",
        "router_settings.redis_port: must be at most 65535, got 70000",
    ]


def test_a_problem_never_quotes_a_secret_or_a_value_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEGEN_TEST_RPM", "sk-not-a-number")

    problems = _problems(
        {
            "model_list": [_entry("a", "dall-e-2", rpm="os.environ/IMAGEGEN_TEST_RPM")],
            "router_settings": {"redis_password": 1234.5},
        }
    )

    assert problems == [
        "router_settings.redis_password: must be a string",
        "model_list[0].litellm_params.rpm: must be a whole number",
    ]


def test_the_rest_of_a_section_with_a_wrong_value_is_still_checked() -> None:
    problems = _problems(
        {"model_list": [_entry("a", "dall-e-2")],
         "router_settings": {"routing_strategy": "fastest", "fallbacks": [{"a": ["nowhere"]}]}}
    )  # fmt: skip

    assert len(problems) == 2
    assert problems[1] == "router_settings.fallbacks[0].a: 'nowhere' is not a model_name in model_list"


def test_the_config_files_schema_describes_every_section() -> None:
    schema = ConfigFile.model_json_schema()

    assert set(schema["properties"]) == {
        "model_list", "router_settings", "litellm_settings", "general_settings", "environment_variables", "include"
    }  # fmt: skip
    assert schema["required"] == ["model_list"]


# -- the environment, includes ----------------------------------------------------------------------------


def test_environment_variables_are_set_before_os_environ_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGEGEN_TEST_SET_BY_FILE", raising=False)
    config = parse_config(
        {
            "environment_variables": {"IMAGEGEN_TEST_SET_BY_FILE": "sk-from-the-file"},
            "model_list": [_entry("a", "dall-e-2", api_key="os.environ/IMAGEGEN_TEST_SET_BY_FILE")],
        }
    )
    monkeypatch.delenv("IMAGEGEN_TEST_SET_BY_FILE")

    assert config.deployments[0].params["api_key"] == "sk-from-the-file"


def test_os_environ_values_are_read_in_every_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEGEN_TEST_RETRIES", "4")
    monkeypatch.setenv("IMAGEGEN_TEST_MASTER", "sk-master-from-env")
    monkeypatch.setenv("IMAGEGEN_TEST_DB", "postgresql://db.internal/imagegen")
    monkeypatch.setenv("IMAGEGEN_TEST_TARGET", "a")

    config = parse_config(
        {
            "model_list": [_entry("a", "dall-e-2")],
            "router_settings": {"num_retries": "os.environ/IMAGEGEN_TEST_RETRIES",
                                "model_group_alias": {"b": "os.environ/IMAGEGEN_TEST_TARGET"}},
            "general_settings": {"master_key": "os.environ/IMAGEGEN_TEST_MASTER",
                                 "database_url": "os.environ/IMAGEGEN_TEST_DB"},
        }
    )  # fmt: skip

    assert config.router.num_retries == 4
    assert config.router.aliases["b"].target == "a"
    assert config.master_key == "sk-master-from-env"
    assert config.database_url == "postgresql://db.internal/imagegen"


def test_a_setting_whose_variable_is_not_set_is_left_out_with_a_warning() -> None:
    config = parse_config(
        {"model_list": [_entry("a", "dall-e-2")], "router_settings": {"num_retries": "os.environ/IMAGEGEN_NOPE"}}
    )

    assert config.router.num_retries == 2
    assert config.warnings == [
        "router_settings.num_retries: the environment variable IMAGEGEN_NOPE is not set; left out"
    ]


def test_included_files_add_their_models_and_sections(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("model_list:\n  - {model_name: b, litellm_params: {model: dall-e-3}}\n")
    (tmp_path / "router.yaml").write_text("router_settings: {num_retries: 5}\n")
    main = tmp_path / "config.yaml"
    main.write_text(
        "include: [models.yaml, router.yaml]\nmodel_list:\n  - {model_name: a, litellm_params: {model: dall-e-2}}\n"
    )

    config = load_config(main)

    assert [d.model_group for d in config.deployments] == ["a", "b"]
    assert config.router.num_retries == 5


def test_a_problem_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("model_list:\n  - {model_name: b, litellm_params: {}}\n")
    main = tmp_path / "config.yaml"
    main.write_text("include: models.yaml\nmodel_list:\n  - {model_name: a, litellm_params: {model: dall-e-2}}\n")

    with pytest.raises(ConfigError) as caught:
        load_config(main)

    assert caught.value.problems == [
        "models.yaml: model_list[0].litellm_params.model: required, e.g. openai/gpt-image-1"
    ]


@pytest.mark.parametrize(
    ("included", "problem"),
    [
        ("router_settings: {num_retries: 1}", "include: other.yaml: router_settings (num_retries) is also set in the file that includes it"),
        ("include: [config.yaml]", "other.yaml: include: config.yaml: includes itself (through other.yaml)"),
        ("[1, 2]", "include: other.yaml: must be a mapping of config sections"),
    ],
)  # fmt: skip
def test_an_include_that_cannot_be_merged_is_a_problem(tmp_path: Path, included: str, problem: str) -> None:
    (tmp_path / "other.yaml").write_text(included)
    main = tmp_path / "config.yaml"
    main.write_text("include: [other.yaml]\nmodel_list: [{model_name: a, params: {model: dall-e-2}}]\n"
                    "router_settings: {num_retries: 3}\n")  # fmt: skip

    with pytest.raises(ConfigError) as caught:
        load_config(main)

    assert caught.value.problems == [problem]


# -- Redis and the database: LiteLLM's settings, the environment wins ------------------------------------


@pytest.mark.parametrize(
    ("settings", "url"),
    [
        ({"router_settings": {"redis_host": "cache.internal", "redis_port": 6380, "redis_password": "p@ss/word"}},
         "redis://:p%40ss%2Fword@cache.internal:6380/0"),
        ({"router_settings": {"redis_url": "redis://cache.internal:6379/2"}}, "redis://cache.internal:6379/2"),
        ({"litellm_settings": {"cache": True, "cache_params": {"type": "redis", "host": "cache.internal"}}},
         "redis://cache.internal:6379/0"),
        ({"litellm_settings": {"cache_params": {"type": "s3", "host": "bucket"}}}, None),
        ({}, None),
    ],
)  # fmt: skip
def test_redis_is_read_from_litellms_settings(settings: dict[str, Any], url: str | None) -> None:
    config = parse_config({"model_list": [_entry("a", "dall-e-2")], **settings})

    assert config.redis_url == url


def test_cache_params_of_type_redis_without_a_host_read_litellms_redis_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = parse_config(
        {
            "environment_variables": {"REDIS_HOST": "cache.internal", "REDIS_PORT": "6390"},
            "model_list": [_entry("a", "dall-e-2")],
            "litellm_settings": {"cache": True, "cache_params": {"type": "redis"}},
        }
    )
    monkeypatch.delenv("REDIS_HOST")
    monkeypatch.delenv("REDIS_PORT")

    assert config.configured_redis_url == "redis://cache.internal:6390/0"


def test_redis_url_and_database_url_from_the_environment_win(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(
        {
            "model_list": [_entry("a", "dall-e-2")],
            "router_settings": {"redis_host": "from-the-file"},
            "general_settings": {"database_url": "postgresql://from-the-file/db"},
        }
    )
    monkeypatch.setenv("REDIS_URL", "redis://from-the-environment:6379/0")
    monkeypatch.setenv("DATABASE_URL", "postgresql://from-the-environment/db")

    assert config.redis_url == "redis://from-the-environment:6379/0"
    assert config.database_url == "postgresql://from-the-environment/db"


# -- aliases and wildcards --------------------------------------------------------------------------------


def test_model_group_aliases_take_a_name_or_a_model_and_hidden() -> None:
    config = parse_config(
        {
            "model_list": [_entry("a", "dall-e-2"), _entry("b", "dall-e-3")],
            "router_settings": {"model_group_alias": {"x": "a", "y": {"model": "b", "hidden": True}}},
            "litellm_settings": {"model_alias_map": {"z": "a"}},
        }
    )

    assert config.router.aliases == {"x": Alias("a"), "y": Alias("b", hidden=True), "z": Alias("a")}


def test_an_alias_of_an_unknown_model_is_a_problem_and_one_named_like_a_group_a_warning() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"model_list": [_entry("a", "dall-e-2")], "router_settings": {"model_group_alias": {"a": "a", "x": "nope"}}}
        )

    assert caught.value.problems == ["router_settings.model_group_alias.x: 'nope' is not a model_name in model_list"]
    assert caught.value.warnings == [
        "router_settings.model_group_alias.a: a model_name of model_list too, which wins; never used"
    ]


def test_a_wildcard_model_needs_a_wildcard_model_name() -> None:
    problems = _problems({"model_list": [_entry("images", "openai/*")]})

    assert problems[0].startswith("model_list[0].litellm_params.model: 'openai/*' has a `*` but model_name 'images'")


def test_a_wildcard_on_a_provider_without_a_plugin_is_refused_with_a_warning() -> None:
    config = parse_config({"model_list": [_entry("a", "dall-e-2"), _entry("anthropic/*", "anthropic/*")]})

    assert config.deployments[1].kind == "not_image"
    assert "no installed plugin serves 'anthropic'" in config.warnings[0]


def test_what_became_of_each_litellm_setting_is_reported() -> None:
    config = parse_config(
        {
            "model_list": [_entry("a", "dall-e-2", rpm=10, stream_timeout=30)],
            "router_settings": {"routing_strategy": "usage-based-routing-v2", "redis_host": "localhost",
                                "model_group_alias": {"b": "a"}, "enable_pre_call_checks": True},
        }
    )  # fmt: skip

    statuses = {report.setting: report.status for report in config.settings}
    assert statuses == {
        "router_settings.routing_strategy": "translated",
        "router_settings.redis_host": "translated",
        "router_settings.model_group_alias": "honoured",
        "router_settings.enable_pre_call_checks": "ignored",
        "model_list[].model_name": "honoured",
        "model_list[].litellm_params.model": "honoured",
        "model_list[].litellm_params.api_key": "honoured",
        "model_list[].litellm_params.rpm": "honoured",
        "model_list[].litellm_params.stream_timeout": "ignored",
    }


def test_router_settings_timeout_is_every_deployments_default() -> None:
    config = parse_config(
        {
            "model_list": [_entry("a", "dall-e-2"), _entry("b", "dall-e-2", timeout=5)],
            "router_settings": {"timeout": 30},
        }
    )

    assert [d.timeout for d in config.deployments] == [30, 5]
