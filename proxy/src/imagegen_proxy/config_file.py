"""The config file's shape, as typed models: what each setting is, its type and its default, in one place.

The same models validate a file (`config.load_config`), word its problems (`problems_of`: every one,
with its place in the file, e.g. `model_list[2].litellm_params.model: required, e.g. openai/gpt-image-1`),
say what each LiteLLM setting becomes here (`LITELLM` in a field's `json_schema_extra`: "honoured" or
"translated"; a key no model declares is ignored) and describe the file (`ConfigFile.model_json_schema()`).
Keys a model does not declare are kept (`extra="allow"`): a LiteLLM config with settings imagegen does not
use still loads, and those settings are reported as ignored.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.config import JsonDict
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

TRANSLATED: JsonDict = {"litellm": "translated"}
"""`json_schema_extra` of a LiteLLM setting that imagegen honours through an equivalent of its own."""

RoutingStrategy = Literal[
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
]
ROUTING_STRATEGIES: tuple[str, ...] = typing.get_args(RoutingStrategy)


def _not_a_flag(value: Any) -> Any:
    if isinstance(value, bool):  # YAML's `yes` is a bool: a number it is not
        raise PydanticCustomError("not_a_number", "must be a number")
    return value


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _mapping_or_empty(value: Any) -> Any:
    return {} if value is None else value  # `model_info:` left empty in YAML


def _text(value: Any) -> Any:
    # `id: 1`, `master_key: 1234`: YAML reads them as numbers
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Count = Annotated[int, BeforeValidator(_not_a_flag), Field(ge=0)]
Amount = Annotated[float, BeforeValidator(_not_a_flag), Field(ge=0)]
Positive = Annotated[float, BeforeValidator(_not_a_flag), Field(gt=0)]
Port = Annotated[int, BeforeValidator(_not_a_flag), Field(ge=1, le=65535)]
Text = Annotated[str, BeforeValidator(_text)]
Fallbacks = list[dict[str, Annotated[list[str], BeforeValidator(_listed)]]]
_FALLBACKS_EXAMPLE = ["[{gpt-image-1: [dall-e-3]}]"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class LiteLLMParams(_Section):
    """`litellm_params` (or `params`): what `imagegen.image_generation()` is called with. Keys not declared
    here are provider settings (each plugin declares its own: credentials, endpoint, region…) or default
    image parameters, checked against the model at start."""

    model: str = Field(min_length=1, description="the model called, with its provider prefix",
                       examples=["openai/gpt-image-1"])  # fmt: skip
    custom_llm_provider: str | None = Field(default=None, description="the provider prefix, when `model` has none")
    timeout: Amount | None = Field(default=None, description="seconds before a call to this deployment gives up")
    num_retries: Count | None = Field(default=None, description="retries of one call inside the deployment (default 0)")
    max_retries: Count | None = Field(default=None, description="the same as num_retries")
    drop_params: bool | None = Field(default=None, description="drop parameters the model does not take instead of 400")
    weight: Amount | None = Field(default=None, description="this deployment's share of simple-shuffle's picks")
    rpm: Count | None = Field(default=None, description="requests per minute this deployment may take (a limit, "
                              "shared through Redis); also simple-shuffle's weight without `weight`")  # fmt: skip
    tpm: Count | None = Field(default=None, description="tokens per minute this deployment may use under "
                              "usage-based routing (a limit, shared through Redis; counted from each answer's "
                              "`usage`); also simple-shuffle's weight without `weight` or `rpm`")  # fmt: skip
    base_model: str | None = Field(default=None, description="the model behind a deployment name (pricing, checks)")
    # A deployment's own prices, written here as LiteLLM's docs allow: moved to its model_info, as LiteLLM does.
    output_cost_per_image: Amount | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="moved to model_info: its own price per image"
    )
    input_cost_per_token: Amount | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="moved to model_info: its price per text input token"
    )
    input_cost_per_image_token: Amount | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="moved to model_info: its price per image input token"
    )
    output_cost_per_image_token: Amount | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="moved to model_info: its price per image output token"
    )
    output_cost_per_token: Amount | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="moved to model_info: its price per text output token"
    )


class ModelInfo(_Section):
    """`model_info`: facts about a deployment."""

    id: Text | None = Field(default=None, description="the deployment's id (default: `<model_name>#<n>`)")
    mode: str | None = Field(default=None, description="`image_generation`, or another mode (never routed to)")
    base_model: str | None = Field(default=None, description="the model behind a deployment name (pricing, checks)")
    rpm: Count | None = Field(default=None, description="the deployment's rpm limit, when not in litellm_params")
    tpm: Count | None = Field(default=None, description="the deployment's tpm, when not in litellm_params")
    output_cost_per_image: Amount | None = Field(default=None, description="this deployment's own price per image")
    input_cost_per_token: Amount | None = Field(default=None, description="its own price per text input token")
    input_cost_per_image_token: Amount | None = Field(default=None, description="its own price per image input token")
    output_cost_per_image_token: Amount | None = Field(default=None, description="its own price per image output token")
    output_cost_per_token: Amount | None = Field(default=None, description="its own price per text output token")


class ModelEntry(_Section):
    """One deployment of `model_list`."""

    model_name: str = Field(min_length=1, examples=["gpt-image-1"],
                            description="the name clients ask for; repeat it to load-balance, or use `*` in it "
                            "(`*`, `openai/*`) to serve every matching model")  # fmt: skip
    litellm_params: LiteLLMParams = Field(
        validation_alias=AliasChoices("litellm_params", "params"), description="how the deployment is called"
    )
    model_info: Annotated[ModelInfo, BeforeValidator(_mapping_or_empty)] = Field(default_factory=ModelInfo)


class AliasTarget(_Section):
    model: str = Field(min_length=1, description="the model name the alias stands for")
    hidden: bool = Field(default=False, description="served, but not listed by /v1/models")


def _alias_target(value: Any) -> Any:
    return {"model": value} if isinstance(value, str) else value


class RoutingStrategyArgs(_Section):
    """`router_settings.routing_strategy_args` (latency-based-routing's)."""

    ttl: Amount = Field(default=3600.0, description="latency-based-routing: seconds a latency sample counts for")
    lowest_latency_buffer: Amount = Field(
        default=0.0,
        description="latency-based-routing: deployments within this fraction of the fastest share its traffic "
        "(0.5: up to 50 % slower)",
    )
    max_latency_list_size: Annotated[int, Field(ge=1)] = Field(
        default=10, description="latency-based-routing: samples kept per deployment"
    )


class RouterSettingsSection(_Section):
    """`router_settings`: how a deployment is chosen, retried, cooled down and fallen back from."""

    routing_strategy: RoutingStrategy = Field(default="simple-shuffle", description="how a deployment is chosen")
    routing_strategy_args: RoutingStrategyArgs = Field(
        default_factory=RoutingStrategyArgs, description="latency-based-routing's ttl and buffer"
    )
    num_retries: Count | None = Field(default=None, description="attempts after the first (default 2)")
    retry_after: Amount | None = Field(default=None, description="least wait before retrying the same deployment")
    allowed_fails: Count | None = Field(default=None, description="failures per minute before a cooldown (default 3)")
    cooldown_time: Amount | None = Field(
        default=None, description="seconds a failing deployment is left out (default 5)"
    )
    timeout: Amount | None = Field(
        default=None, description="seconds before a call gives up, unless its deployment says"
    )
    fallbacks: Fallbacks | None = Field(
        default=None, examples=_FALLBACKS_EXAMPLE, description="groups tried, in order, when a group fails"
    )
    content_policy_fallbacks: Fallbacks | None = Field(
        default=None, examples=_FALLBACKS_EXAMPLE, description="groups tried after a content policy refusal"
    )
    model_group_alias: dict[str, Annotated[AliasTarget, BeforeValidator(_alias_target)]] = Field(
        default_factory=dict,
        examples=["{gpt-image: gpt-image-1, legacy: {model: dall-e-3, hidden: true}}"],
        description="other names for model groups; hidden ones are not listed by /v1/models",
    )
    redis_url: str | None = Field(
        default=None,
        json_schema_extra=TRANSLATED,
        description="Redis shared by every replica: rpm limits, budgets, key caches",
    )
    redis_host: str | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="Redis as host, port, password"
    )
    redis_port: Port | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="with redis_host (default 6379)"
    )
    redis_password: str | None = Field(default=None, json_schema_extra=TRANSLATED, description="with redis_host")


class CacheParams(_Section):
    """`litellm_settings.cache_params`: LiteLLM's response cache; its Redis is used for shared state."""

    type: str | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="`redis`: its Redis is shared state"
    )
    host: str | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="Redis, unless router_settings names one"
    )
    port: Port | None = Field(default=None, json_schema_extra=TRANSLATED, description="with host (default 6379)")
    password: str | None = Field(default=None, json_schema_extra=TRANSLATED, description="with host")


class LitellmSettingsSection(_Section):
    """`litellm_settings`: defaults for every deployment."""

    drop_params: bool | None = Field(default=None, description="drop parameters a model does not take instead of 400")
    num_retries: Count | None = Field(default=None, description="as router_settings.num_retries, when that is not set")
    request_timeout: Amount | None = Field(default=None, description="seconds before a call gives up (default 600)")
    fallbacks: Fallbacks | None = Field(
        default=None, examples=_FALLBACKS_EXAMPLE, description="as router_settings.fallbacks, when that is not set"
    )
    content_policy_fallbacks: Fallbacks | None = Field(
        default=None, examples=_FALLBACKS_EXAMPLE, description="as router_settings', when that is not set"
    )
    model_alias_map: dict[str, str] = Field(default_factory=dict, json_schema_extra=TRANSLATED,
                                            description="other names for model groups (listed aliases)")  # fmt: skip
    cache: bool | None = Field(
        default=None,
        json_schema_extra=TRANSLATED,
        description="generations are never cached; cache_params' Redis is shared",
    )
    cache_params: CacheParams | None = Field(
        default=None, json_schema_extra=TRANSLATED, description="its Redis host is shared state, as router_settings'"
    )
    callbacks: str | list[str] | None = Field(
        default=None, description="callbacks for every call: import paths like custom_callbacks.proxy_handler_instance"
    )
    success_callback: str | list[str] | None = Field(default=None, description="callbacks for successful calls")
    failure_callback: str | list[str] | None = Field(default=None, description="callbacks for failed calls")


class GeneralSettingsSection(_Section):
    """`general_settings`: the server's."""

    master_key: Annotated[Text, Field(min_length=1)] | None = Field(
        default=None, description="the admin key; without it, the proxy serves loopback clients without authentication"
    )
    database_url: str | None = Field(default=None, description="the keys and spend database (DATABASE_URL wins)")
    store_prompts: bool = Field(default=False, description="keep prompts in the spend log")
    public_metrics: bool = Field(default=False, description="/metrics without a key")
    disable_spend_logs: bool = Field(default=False, description="no spend log row per request (keys still count spend)")
    ui: bool = Field(default=True, description="the web console at /ui")
    public_openapi: bool = Field(default=False, description="/openapi.json without a key")
    allow_requests_on_db_unavailable: bool = Field(
        default=False, description="keys verified before a database outage keep working during it"
    )
    redis_required: bool = Field(default=False, description="refuse requests (503) while Redis cannot be reached")
    max_image_size_mb: Positive | None = Field(default=None, description="each uploaded image, in MB (default 50)")
    max_images_per_request: Annotated[int, BeforeValidator(_not_a_flag), Field(gt=0)] | None = Field(
        default=None, description="input images per edit (default 16)"
    )
    max_request_size_mb: Positive | None = Field(
        default=None, description="a whole request body, in MB (default: as many images as allowed)"
    )


class ConfigFile(_Section):
    """A whole config file (LiteLLM's format)."""

    model_list: list[ModelEntry] = Field(min_length=1, description="the deployments",
                                         examples=["[{model_name, litellm_params: {model, …}}]"])  # fmt: skip
    router_settings: RouterSettingsSection = Field(default_factory=RouterSettingsSection)
    litellm_settings: LitellmSettingsSection = Field(default_factory=LitellmSettingsSection)
    general_settings: GeneralSettingsSection = Field(default_factory=GeneralSettingsSection)
    environment_variables: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="set in the environment before any `os.environ/` value is read"
    )
    include: Annotated[list[str], BeforeValidator(_listed)] = Field(
        default_factory=list, description="other YAML files, beside this one, whose sections are merged in"
    )


# -- problems ---------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "dict": "a mapping",
    "model": "a mapping",
    "list": "a list",
}
_SECRET_WORDS = re.compile(r"key|password|secret|token|credential", re.IGNORECASE)


def where(loc: Sequence[str | int]) -> str:
    """`model_list[2].litellm_params.model` for ("model_list", 2, "litellm_params", "model")."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def problems_of(
    error: ValidationError,
    model: type[BaseModel],
    at: str = "",
    hidden: Callable[[tuple[str | int, ...]], bool] = lambda loc: False,
) -> list[str]:
    """Each of a validation's problems, worded for a person: `place: what is wrong[, got value][, e.g. example]`,
    the place under `at` (where the validated part sits in the file).

    A value is quoted only when it is not secret (`api_key`, `master_key`, `*password*`, …) and `hidden(loc)`
    is false (it did not come from the environment).
    """
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        field = field_at(model, loc)
        message = _message(item)
        shown = item["type"] not in ("missing", "literal_error") and "input" in item
        if shown and not _is_secret(loc) and not hidden(loc) and not isinstance(item["input"], dict | list):
            message += f", got {item['input']!r}"
        if item["type"] == "missing" or item["type"].endswith("_type"):
            examples = field.examples if field is not None else None
            if examples:
                message += f", e.g. {examples[0]}"
        place = where(loc)
        problems.append(f"{at}.{place}: {message}" if at and place else f"{at or place}: {message}")
    return problems


def _message(item: Mapping[str, Any]) -> str:
    kind, context = item["type"], item.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "literal_error":
        choices = ", ".join(re.findall(r"'([^']*)'", str(context.get("expected", ""))))
        return f"unknown {item['input']!r}; one of {choices}"
    if kind in ("string_too_short", "too_short"):
        return "must not be empty"
    if kind == "greater_than_equal":
        return "must not be negative" if context.get("ge") == 0 else f"must be at least {context.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {context.get('le')}"
    base = kind.removesuffix("_type").removesuffix("_parsing").removesuffix("_from_float")
    if base in _TYPE_WORDS and kind != base:
        return f"must be {_TYPE_WORDS[base]}"
    message = str(item["msg"])
    return message[:1].lower() + message[1:]


def _is_secret(loc: Sequence[str | int]) -> bool:
    return any(isinstance(part, str) and _SECRET_WORDS.search(part) for part in loc)


def field_at(model: type[BaseModel], loc: Sequence[str | int]) -> FieldInfo | None:
    """The field a validation error's `loc` points at, through nested models, lists and mappings."""
    current: Any = model
    found: FieldInfo | None = None
    for part in loc:
        current = _unwrapped(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            found = current.model_fields.get(str(part)) or next(
                (f for f in current.model_fields.values() if _aliases(f) and part in _aliases(f)), None
            )
            current = found.annotation if found is not None else None
        elif typing.get_origin(current) in (list, dict):
            current = typing.get_args(current)[-1]
        else:
            return None
    return found


def settings_model(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds (`cache_params`, `routing_strategy_args`, …), if any."""
    inner = _unwrapped(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _unwrapped(annotation: Any) -> Any:
    """`X` from `X | None` and `Annotated[X, …]`."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _aliases(field: FieldInfo) -> tuple[str, ...]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return (alias,) if isinstance(alias, str) else ()
