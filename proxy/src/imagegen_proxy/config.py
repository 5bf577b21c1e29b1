"""The proxy's configuration: a LiteLLM-compatible YAML file, checked at start with every problem reported at once.

    model_list:
      - model_name: gpt-image-1              # the name clients ask for (a model group)
        litellm_params:                      # or `params`: what `imagegen.image_generation()` takes
          model: azure/gpt-image-1
          api_base: https://example.openai.azure.com/
          api_key: os.environ/AZURE_API_KEY  # read from the environment
        model_info: {base_model: gpt-image-1}
    router_settings: {routing_strategy: simple-shuffle, num_retries: 2, fallbacks: [{gpt-image-1: [dall-e-3]}]}
    general_settings: {master_key: sk-1234}

Which `litellm_params` are provider settings (credentials, endpoint, region…) is what each plugin
declares in `ProviderInfo.settings`; the rest are image parameters, checked against the model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]

from imagegen.exceptions import ImageGenError, PluginError
from imagegen.params import check_params
from imagegen.plugins import Provider, registry
from imagegen.provider import COMMON_SECRETS, COMMON_SETTINGS, GenerationRequest, Settings

ENV_PREFIX = "os.environ/"
IMAGE_MODE = "image_generation"
ROUTING_STRATEGIES = ("simple-shuffle", "least-busy")
# LiteLLM's other strategies: a LiteLLM config naming one still starts, on simple-shuffle.
_LITELLM_ONLY_STRATEGIES = frozenset(
    {"usage-based-routing", "usage-based-routing-v2", "latency-based-routing", "cost-based-routing"}
)
# `litellm_params` keys that steer the call or the router rather than reach the provider.
_CALL_KEYS = frozenset({"model", "timeout", "num_retries", "max_retries", "drop_params", "weight", "rpm", "tpm"})
# LiteLLM keys with no meaning here: accepted so an existing LiteLLM config works unchanged.
_IGNORED_LITELLM_KEYS = frozenset(
    {"stream_timeout", "max_parallel_requests", "order", "tags", "litellm_credential_name", "use_in_pass_through",
     "merge_reasoning_content_in_choices", "configurable_clientside_auth_params", "input_cost_per_token",
     "output_cost_per_token", "input_cost_per_image", "output_cost_per_image", "input_cost_per_pixel",
     "output_cost_per_pixel"}
)  # fmt: skip
_TOP_LEVEL_KEYS = frozenset(
    {"model_list", "general_settings", "router_settings", "litellm_settings", "environment_variables"}
)
UPLOAD_SETTINGS = frozenset({"max_image_size_mb", "max_images_per_request", "max_request_size_mb"})
"""`general_settings` keys limiting what an edit or a variation uploads (see `uploads.UploadLimits`)."""
GENERAL_SETTINGS = frozenset(
    {"master_key", "store_prompts", "database_url", "public_metrics", "disable_spend_logs", *UPLOAD_SETTINGS}
)
"""`general_settings` keys the proxy reads; any other is reported as ignored."""
_ROUTER_KEYS = frozenset(
    {"routing_strategy", "num_retries", "retry_after", "allowed_fails", "cooldown_time", "fallbacks",
     "content_policy_fallbacks"}
)  # fmt: skip
_LITELLM_SETTINGS = frozenset(
    {"drop_params", "num_retries", "request_timeout", "fallbacks", "content_policy_fallbacks"}
)

Kind = Literal["image", "unverified", "not_image"]


class ConfigError(Exception):
    """The configuration cannot be served; `problems` lists every one, each as `path: what is wrong`."""

    def __init__(
        self, problems: list[str], source: str = "the configuration", warnings: list[str] | None = None
    ) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__(f"{source} has {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(eq=False)
class Deployment:
    """One upstream a model group can be served by.

    `kind`: `image` (the plugin lists the model, or `model_info.mode` is `image_generation`),
    `unverified` (a pass-through provider's unlisted model: served, never a fallback target) or
    `not_image` (refused). `unavailable` says why it cannot be called (a missing environment variable).
    `params` holds the settings and default image parameters given to the core: never log them.
    """

    id: str
    model_group: str
    model: str
    provider: str | None
    kind: Kind
    params: dict[str, Any] = field(repr=False)
    model_info: Mapping[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    num_retries: int = 0
    drop_params: bool | None = None
    weight: float = 1.0
    unavailable: str | None = None


@dataclass(frozen=True)
class RouterSettings:
    """`router_settings`, with LiteLLM's defaults."""

    routing_strategy: str = "simple-shuffle"
    num_retries: int = 2
    retry_after: float | None = None  # None: exponential backoff when retrying the same deployment
    allowed_fails: int = 3
    cooldown_time: float = 5.0
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    content_policy_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class ProxyConfig:
    """A checked configuration. `path` is None for one built in memory."""

    deployments: list[Deployment]
    router: RouterSettings = field(default_factory=RouterSettings)
    master_key: str | None = field(default=None, repr=False)
    general_settings: Mapping[str, Any] = field(default_factory=dict, repr=False)
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    def groups(self) -> dict[str, list[Deployment]]:
        """The deployments of each model group, in file order."""
        groups: dict[str, list[Deployment]] = {}
        for deployment in self.deployments:
            groups.setdefault(deployment.model_group, []).append(deployment)
        return groups

    @property
    def store_prompts(self) -> bool:
        return bool(self.general_settings.get("store_prompts", False))

    @property
    def spend_logs(self) -> bool:
        """A spend log row per request; `disable_spend_logs: true` (LiteLLM's) stops them, keys still count spend."""
        return _bool_or_none(self.general_settings.get("disable_spend_logs")) is not True

    @property
    def public_metrics(self) -> bool:
        """`/metrics` without a key, for scrapers that cannot send one (it names deployments and error rates)."""
        return _bool_or_none(self.general_settings.get("public_metrics")) is True


def load_config(path: str | Path) -> ProxyConfig:
    """Read and check a config file; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], str(path)) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {exc}"], str(path)) from None
    return parse_config(data, path=path)


def parse_config(data: Any, *, path: Path | None = None) -> ProxyConfig:
    """Check a config already read from YAML; raises ConfigError listing every problem."""
    checker = _Checker()
    config = checker.config(data, path)
    if checker.problems:
        raise ConfigError(checker.problems, str(path) if path else "the configuration", checker.warnings)
    config.warnings = checker.warnings
    return config


class _Checker:
    """Walks a config, collecting every problem and warning instead of stopping at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self._group_sizes: dict[str, int] = {}

    def config(self, data: Any, path: Path | None) -> ProxyConfig:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.problems.append("the file must be a mapping with a `model_list`")
            return ProxyConfig(deployments=[])
        for key in data:
            if key not in _TOP_LEVEL_KEYS:
                self.warnings.append(f"{key}: not used by imagegen; ignored")
        self._environment_variables(data.get("environment_variables"))
        litellm_settings = self._section(data, "litellm_settings", _LITELLM_SETTINGS)
        general = self._section(data, "general_settings", GENERAL_SETTINGS)
        self._upload_settings(general)
        router_data = {**_pick(litellm_settings, ("num_retries", "fallbacks", "content_policy_fallbacks"))}
        router_data.update(self._section(data, "router_settings", _ROUTER_KEYS))
        defaults = {
            "drop_params": litellm_settings.get("drop_params"),
            "timeout": litellm_settings.get("request_timeout"),
        }
        deployments = self._model_list(data.get("model_list"), defaults)
        router = self._router(router_data, deployments)
        master_key = self._master_key(general.get("master_key"))
        return ProxyConfig(
            deployments=deployments, router=router, master_key=master_key, general_settings=general, path=path
        )

    def _section(self, data: Mapping[str, Any], name: str, known: frozenset[str]) -> dict[str, Any]:
        section = data.get(name)
        if section is None:
            return {}
        if not isinstance(section, Mapping):
            self.problems.append(f"{name}: must be a mapping")
            return {}
        for key in section:
            if key not in known:
                self.warnings.append(f"{name}.{key}: not used by imagegen; ignored")
        return dict(section)

    def _upload_settings(self, general: dict[str, Any]) -> None:
        for name in sorted(UPLOAD_SETTINGS & general.keys()):
            value = general[name]
            whole = name == "max_images_per_request"
            if isinstance(value, bool) or not isinstance(value, int if whole else int | float) or value <= 0:
                kind = "a positive integer" if whole else "a positive number of megabytes"
                self.problems.append(f"general_settings.{name}: must be {kind}, got {value!r}")
                general.pop(name)

    def _environment_variables(self, variables: Any) -> None:
        if variables is None:
            return
        if not isinstance(variables, Mapping):
            self.problems.append("environment_variables: must be a mapping of NAME: value")
            return
        for name, value in variables.items():
            os.environ[str(name)] = str(value)

    def _master_key(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            name = value.removeprefix(ENV_PREFIX)
            resolved = os.environ.get(name)
            if not resolved:
                self.problems.append(
                    f"general_settings.master_key: the environment variable {name} is not set "
                    "(set it, or remove master_key to run without authentication on a loopback address)"
                )
            return resolved or None
        if not isinstance(value, str) or not value:
            self.problems.append("general_settings.master_key: must be a non-empty string")
            return None
        return value

    # -- model_list --------------------------------------------------------------------------------

    def _model_list(self, entries: Any, defaults: Mapping[str, Any]) -> list[Deployment]:
        if not isinstance(entries, list) or not entries:
            self.problems.append("model_list: required, a list of {model_name, litellm_params: {model, …}}")
            return []
        deployments: list[Deployment] = []
        ids: set[str] = set()
        for index, entry in enumerate(entries):
            deployment = self._deployment(f"model_list[{index}]", entry, defaults)
            if deployment is None:
                continue
            if deployment.id in ids:
                self.problems.append(f"model_list[{index}].model_info.id: {deployment.id!r} is used twice")
            ids.add(deployment.id)
            deployments.append(deployment)
        return deployments

    def _deployment(self, where: str, entry: Any, defaults: Mapping[str, Any]) -> Deployment | None:
        if not isinstance(entry, Mapping):
            self.problems.append(f"{where}: must be a mapping with model_name and litellm_params")
            return None
        group = entry.get("model_name")
        if not isinstance(group, str) or not group:
            self.problems.append(f"{where}.model_name: required, the name clients ask for")
            return None
        params_key = "litellm_params" if "litellm_params" in entry else "params"
        raw = entry.get(params_key)
        if not isinstance(raw, Mapping) or not isinstance(raw.get("model"), str) or not raw.get("model"):
            self.problems.append(f"{where}.litellm_params.model: required, e.g. `openai/gpt-image-1`")
            return None
        model_info = entry.get("model_info") or {}
        if not isinstance(model_info, Mapping):
            self.problems.append(f"{where}.model_info: must be a mapping")
            model_info = {}
        where_params = f"{where}.{params_key}"
        params, missing = _resolve_env(dict(raw))
        model = str(params.pop("model"))
        if provider_name := params.pop("custom_llm_provider", None):
            model = f"{provider_name}/{model}"
        provider, kind = self._classify(where_params, group, model, model_info)
        # LiteLLM's `model_info.base_model` names the model behind a deployment: a setting where the plugin reads one.
        base_model = params.pop("base_model", None) or model_info.get("base_model")
        if base_model and provider is not None and "base_model" in provider.info.settings:
            params["base_model"] = base_model
        deployment = Deployment(
            id=str(model_info.get("id") or f"{group}#{self._count(group)}"),
            model_group=group,
            model=model,
            provider=provider.prefix if provider else None,
            kind=kind,
            params={},
            model_info=dict(model_info),
            timeout=self._number(f"{where_params}.timeout", params.pop("timeout", defaults.get("timeout"))),
            num_retries=int(
                self._number(f"{where_params}.num_retries", params.pop("num_retries", params.pop("max_retries", 0)))
                or 0
            ),
            drop_params=_bool_or_none(params.pop("drop_params", defaults.get("drop_params"))),
            weight=self._weight(where_params, params),
        )
        for key in _IGNORED_LITELLM_KEYS & params.keys():
            params.pop(key)
        deployment.params = params
        if missing:
            names = ", ".join(missing)
            deployment.unavailable = (
                f"the model {group!r} is not configured on this proxy: the environment variable(s) {names} "
                f"are not set (deployment {deployment.id!r})"
            )
            self.warnings.append(f"{where_params}: environment variable(s) {names} not set; {group!r} answers 503")
        if provider is not None and kind != "not_image":
            self._check_params(where_params, deployment, provider)
        return deployment

    def _count(self, group: str) -> int:
        """The 1-based position of a new deployment in its group: its id when model_info.id is not given."""
        self._group_sizes[group] = self._group_sizes.get(group, 0) + 1
        return self._group_sizes[group]

    def _classify(
        self, where: str, group: str, model: str, model_info: Mapping[str, Any]
    ) -> tuple[Provider | None, Kind]:
        mode = model_info.get("mode")
        declared_image = mode == IMAGE_MODE
        try:
            provider, model_id = registry.resolve(model)
        except PluginError as exc:
            if declared_image:
                self.problems.append(f"{where}.model: {exc.message}")
            else:
                self.warnings.append(f"{where}.model: {model!r} is not an image model of any installed plugin; "
                                     f"requests for {group!r} are refused")  # fmt: skip
            return None, "not_image"
        if mode is not None and not declared_image:
            return provider, "not_image"
        if provider.model(model_id) is not None or _names_its_image_model(provider, model_info):
            return provider, "image"
        if not provider.info.pass_through_unknown_models:
            known = ", ".join(spec.name for spec in provider.info.models)
            message = f"{where}.model: {provider.prefix} has no image model {model_id!r}; known models: {known}"
            (self.problems if declared_image else self.warnings).append(message)
            return provider, "not_image"
        if declared_image:
            return provider, "image"
        self.warnings.append(
            f"{where}.model: {provider.prefix} does not list {model_id!r}; it is served unchecked and is never a "
            f"fallback target (set model_info.mode: {IMAGE_MODE} to confirm it generates images)"
        )
        return provider, "unverified"

    def _check_params(self, where: str, deployment: Deployment, provider: Provider) -> None:
        """Check the default image parameters against the model now, not on every request."""
        settings = COMMON_SETTINGS | provider.info.settings
        image_params = {k: v for k, v in deployment.params.items() if k not in settings and v is not None}
        _, model_id = registry.resolve(deployment.model)
        request = GenerationRequest(
            prompt="-",
            provider=provider.prefix,
            model=model_id,
            spec=provider.model(model_id),
            params=dict(image_params),
            settings=Settings({}, COMMON_SECRETS),
            timeout=0,
            drop_params=bool(deployment.drop_params),
        )
        try:
            check_params(request)
        except ImageGenError as exc:
            message = exc.message.replace("Pass drop_params=True", "Set drop_params: true")
            known = ", ".join(sorted(settings))
            self.problems.append(f"{where}.{exc.param or 'model'}: {message} ({provider.prefix} settings: {known})")
        for warning in request.warnings:
            self.warnings.append(f"{where}: {warning}")
        for name in image_params.keys() - request.params.keys():
            deployment.params.pop(name, None)  # dropped under drop_params, with the warning above

    def _number(self, where: str, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            self.problems.append(f"{where}: must be a non-negative number, got {value!r}")
            return None
        return float(value)

    def _weight(self, where: str, params: dict[str, Any]) -> float:
        # LiteLLM's simple-shuffle weighs deployments by `weight`, else `rpm`, else `tpm`.
        weights = [params.pop(key, None) for key in ("weight", "rpm", "tpm")]
        weight = next((w for w in weights if w is not None), 1)
        number = self._number(f"{where}.weight", weight)
        return number if number else 1.0

    # -- router ------------------------------------------------------------------------------------

    def _router(self, data: Mapping[str, Any], deployments: list[Deployment]) -> RouterSettings:
        strategy = data.get("routing_strategy", "simple-shuffle")
        if strategy in _LITELLM_ONLY_STRATEGIES:
            self.warnings.append(f"router_settings.routing_strategy: {strategy!r} is unsupported; using simple-shuffle")
            strategy = "simple-shuffle"
        elif strategy not in ROUTING_STRATEGIES:
            self.problems.append(
                f"router_settings.routing_strategy: unknown {strategy!r}; one of {', '.join(ROUTING_STRATEGIES)}"
            )
        kinds = _group_kinds(deployments)
        settings = RouterSettings(
            routing_strategy=str(strategy),
            num_retries=self._count_setting(data, "num_retries", RouterSettings.num_retries),
            retry_after=self._number("router_settings.retry_after", data.get("retry_after")),
            allowed_fails=self._count_setting(data, "allowed_fails", RouterSettings.allowed_fails),
            cooldown_time=_default(
                self._number("router_settings.cooldown_time", data.get("cooldown_time")), RouterSettings.cooldown_time
            ),
            fallbacks=self._fallbacks("fallbacks", data.get("fallbacks"), kinds),
            content_policy_fallbacks=self._fallbacks(
                "content_policy_fallbacks", data.get("content_policy_fallbacks"), kinds
            ),
        )
        return settings

    def _count_setting(self, data: Mapping[str, Any], name: str, default: int) -> int:
        value = data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problems.append(f"router_settings.{name}: must be a non-negative integer, got {value!r}")
            return default
        return value

    def _fallbacks(self, name: str, value: Any, kinds: Mapping[str, Kind]) -> dict[str, tuple[str, ...]]:
        where = f"router_settings.{name}"
        if value is None:
            return {}
        if not isinstance(value, list):
            self.problems.append(f"{where}: must be a list like [{{gpt-image-1: [dall-e-3]}}]")
            return {}
        fallbacks: dict[str, tuple[str, ...]] = {}
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                self.problems.append(f"{where}[{index}]: must be a mapping {{model group: [fallback groups]}}")
                continue
            for source, targets in item.items():
                if kinds.get(source) == "not_image":
                    continue  # a chat model's fallbacks in a LiteLLM config: not ours to serve
                if source not in kinds:
                    self.problems.append(f"{where}[{index}]: {source!r} is not a model_name in model_list")
                    continue
                targets = [targets] if isinstance(targets, str) else targets
                if not isinstance(targets, list):
                    self.problems.append(f"{where}[{index}].{source}: must be a list of model groups")
                    continue
                for target in targets:
                    if target not in kinds:
                        self.problems.append(f"{where}[{index}].{source}: {target!r} is not a model_name in model_list")
                    elif kinds[target] != "image":
                        self.problems.append(
                            f"{where}[{index}].{source}: {target!r} is not known to generate images; a fallback must "
                            f"(set its model_info.mode: {IMAGE_MODE} if it does)"
                        )
                fallbacks[source] = (*fallbacks.get(source, ()), *(str(t) for t in targets))
        return fallbacks


def _group_kinds(deployments: list[Deployment]) -> dict[str, Kind]:
    """Each model group's kind, from the deployments it is served by (its `not_image` ones never are)."""
    served: dict[str, set[Kind]] = {}
    for deployment in deployments:
        kinds = served.setdefault(deployment.model_group, set())
        if deployment.kind != "not_image":
            kinds.add(deployment.kind)
    return {group: "not_image" if not kinds else "image" if kinds == {"image"} else "unverified"
            for group, kinds in served.items()}  # fmt: skip


def _names_its_image_model(provider: Provider, model_info: Mapping[str, Any]) -> bool:
    """A `base_model` the plugin knows, or checks itself per call (it declares a `base_model` setting)."""
    base_model = model_info.get("base_model")
    if not isinstance(base_model, str):
        return False
    return provider.model(base_model) is not None or "base_model" in provider.info.settings


def _resolve_env(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`params` with every `os.environ/NAME` value read from the environment, and the names not set."""
    missing: list[str] = []

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            name = value.removeprefix(ENV_PREFIX)
            resolved = os.environ.get(name)
            if not resolved:
                missing.append(name)
            return resolved or None
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    return {key: resolve(value) for key, value in params.items()}, missing


def _pick(data: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: data[k] for k in keys if k in data}


def _default(value: float | None, default: float) -> float:
    return default if value is None else value


def _bool_or_none(value: Any) -> bool | None:
    # A value read from the environment (`os.environ/DROP_PARAMS`) is a string: "false" must mean False.
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return None if value is None else bool(value)
