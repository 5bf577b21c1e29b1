"""The proxy's configuration: a LiteLLM-compatible YAML file, checked at start with every problem reported at once.

    include: [models.yaml]                   # other files whose sections are merged in
    environment_variables: {REDIS_HOST: 127.0.0.1}
    model_list:
      - model_name: gpt-image-1              # the name clients ask for (a model group); `*` in it: a wildcard
        litellm_params:                      # or `params`: what `imagegen.image_generation()` takes
          model: azure/gpt-image-1
          api_base: https://example.openai.azure.com/
          api_key: os.environ/AZURE_API_KEY  # read from the environment
          rpm: 60                            # a limit on this deployment
        model_info: {base_model: gpt-image-1}
    router_settings: {routing_strategy: usage-based-routing-v2, redis_host: os.environ/REDIS_HOST,
                      fallbacks: [{gpt-image-1: [dall-e-3]}], model_group_alias: {gpt-image: gpt-image-1}}
    general_settings: {master_key: sk-1234}

Reading a file: its `include`s are merged in, its `environment_variables` set, then every `os.environ/NAME`
value is read (anywhere but those two). Its shape is checked by the typed models of `config_file`; then
what needs the installed plugins: each model, its default parameters, fallbacks and aliases. Which
`litellm_params` are provider settings (credentials, endpoint, region…) is what each plugin declares in
`ProviderInfo.settings`; the rest are image parameters, checked against the model. What became of each
LiteLLM setting (honoured, translated, ignored) is in `ProxyConfig.settings`, for `imagegen serve --check`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, overload
from urllib.parse import quote

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel, ValidationError

from imagegen import pricing
from imagegen.exceptions import ImageGenError, PluginError
from imagegen.params import check_params
from imagegen.plugins import Provider, registry, with_provider
from imagegen.provider import COMMON_SECRETS, COMMON_SETTINGS, GenerationRequest, Settings

from .config_file import (
    TRANSLATED,
    ConfigFile,
    GeneralSettingsSection,
    LiteLLMParams,
    LitellmSettingsSection,
    ModelEntry,
    RouterSettingsSection,
    RoutingStrategyArgs,
    field_at,
    problems_of,
    settings_model,
    where,
)
from .model_names import IMAGE_MODE, Alias, ModelNames, is_wildcard

ENV_PREFIX = "os.environ/"
DEFAULT_REDIS_PORT = 6379
# `litellm_params` keys of LiteLLM's with no meaning for image generation: accepted, reported as ignored. (The
# prices imagegen reads, `pricing.OVERRIDE_KEYS`, are moved to the deployment's `model_info`, as LiteLLM does.)
_IGNORED_LITELLM_KEYS = frozenset(
    {"stream_timeout", "max_parallel_requests", "order", "tags", "litellm_credential_name", "use_in_pass_through",
     "merge_reasoning_content_in_choices", "configurable_clientside_auth_params", "input_cost_per_image",
     "input_cost_per_pixel", "output_cost_per_pixel", "input_cost_per_second", "output_cost_per_second",
     "region_name", "mock_timeout", "mock_response"}
)  # fmt: skip
IGNORED_BECAUSE = {
    "router_settings.enable_pre_call_checks": "it checks prompts against chat models' context windows",
    "router_settings.context_window_fallbacks": "image models have no context window",
    "litellm_settings.context_window_fallbacks": "image models have no context window",
    "router_settings.cache_responses": "generations are never cached",
    "litellm_settings.set_verbose": "use --detailed_debug or --log-level debug",
    "general_settings.store_model_in_db": "models come from the config file only",
}
"""Why some LiteLLM settings have no meaning here (any other unknown setting is simply not used)."""
STRATEGY_NOTES = {
    "simple-shuffle": "a random deployment, weighted by weight, else rpm, else tpm",
    "least-busy": "the deployment with the fewest requests in flight (counted per worker)",
    "latency-based-routing": "the fastest deployment lately (per worker), or any within lowest_latency_buffer of it",
    "usage-based-routing": "the deployment with the fewest requests this minute, shared through Redis; deployment "
    "tpm limits hold (tokens counted from each answer's usage)",
    "cost-based-routing": "the cheapest deployment for the request's size and quality",
}
STRATEGY_NOTES["usage-based-routing-v2"] = STRATEGY_NOTES["usage-based-routing"]

Kind = Literal["image", "unverified", "not_image"]
Status = Literal["honoured", "translated", "ignored"]
_MISSING = object()  # an `os.environ/NAME` whose variable is not set
T = TypeVar("T")
SectionT = TypeVar("SectionT", bound=BaseModel)


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
    A wildcard deployment (`*` in its model_name) serves, for each name it matches, a copy of itself
    with the name as its group and `*` in its model replaced (see `model_names`); copies share its `id`.
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
    rpm: int | None = None  # requests per minute it may take; None: no limit
    tpm: int | None = None
    unavailable: str | None = None


@dataclass(frozen=True)
class RouterSettings:
    """`router_settings` (with `litellm_settings`' where LiteLLM reads them too), with LiteLLM's defaults."""

    routing_strategy: str = "simple-shuffle"
    strategy_args: RoutingStrategyArgs = field(default_factory=RoutingStrategyArgs)
    num_retries: int = 2
    retry_after: float | None = None  # None: exponential backoff when retrying the same deployment
    allowed_fails: int = 3
    cooldown_time: float = 5.0
    fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    content_policy_fallbacks: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: Mapping[str, Alias] = field(default_factory=dict)


@dataclass(frozen=True)
class SettingReport:
    """What became of one setting of the file: `honoured`, `translated` (to an equivalent) or `ignored`."""

    setting: str
    status: Status
    note: str


@dataclass
class ProxyConfig:
    """A checked configuration. `path` is None for one built in memory."""

    deployments: list[Deployment]
    router: RouterSettings = field(default_factory=RouterSettings)
    master_key: str | None = field(default=None, repr=False)
    general_settings: Mapping[str, Any] = field(default_factory=dict, repr=False)
    litellm_settings: Mapping[str, Any] = field(default_factory=dict, repr=False)
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    settings: list[SettingReport] = field(default_factory=list)
    configured_redis_url: str | None = field(default=None, repr=False)  # may hold a password

    def groups(self) -> dict[str, list[Deployment]]:
        """The deployments of each `model_name` (wildcard patterns included, as written), in file order."""
        groups: dict[str, list[Deployment]] = {}
        for deployment in self.deployments:
            groups.setdefault(deployment.model_group, []).append(deployment)
        return groups

    @property
    def redis_url(self) -> str | None:
        """The Redis every replica shares: `REDIS_URL`, else router_settings' (`redis_url`, or `redis_host`,
        `redis_port`, `redis_password`), else `litellm_settings.cache_params`'; None: none (per process)."""
        return os.environ.get("REDIS_URL") or self.configured_redis_url

    @property
    def database_url(self) -> str | None:
        """The keys and spend database: `DATABASE_URL`, else `general_settings.database_url`; None: neither."""
        return os.environ.get("DATABASE_URL") or self.general_settings.get("database_url") or None

    @property
    def store_prompts(self) -> bool:
        return bool(self.general_settings.get("store_prompts", False))

    @property
    def spend_logs(self) -> bool:
        """A spend log row per request; `disable_spend_logs: true` (LiteLLM's) stops them, keys still count spend."""
        return not self.general_settings.get("disable_spend_logs", False)

    @property
    def ui(self) -> bool:
        """The web console at `/ui`: on unless `ui: false`."""
        return bool(self.general_settings.get("ui", True))

    @property
    def public_metrics(self) -> bool:
        """`/metrics` without a key, for scrapers that cannot send one (it names deployments and error rates)."""
        return bool(self.general_settings.get("public_metrics", False))


def load_config(path: str | Path) -> ProxyConfig:
    """Read and check a config file; raises ConfigError listing every problem."""
    path = Path(path)
    try:
        data = _read_yaml(path)
    except _Unreadable as exc:
        raise ConfigError([str(exc)], str(path)) from None
    return parse_config(data, path=path)


def parse_config(data: Any, *, path: Path | None = None) -> ProxyConfig:
    """Check a config already read from YAML (its `include`s are read beside `path`); raises ConfigError
    listing every problem."""
    checker = _Checker(path)
    config = checker.config(data)
    if checker.problems:
        raise ConfigError(checker.problems, str(path) if path else "the configuration", checker.warnings)
    config.warnings = checker.warnings
    config.settings = list(checker.settings.values())
    return config


class _Unreadable(Exception):
    pass


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _Unreadable(f"cannot read the file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise _Unreadable(f"not valid YAML: {exc}") from None


class _Checker:
    """Walks a config, collecting every problem and warning instead of stopping at the first."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.settings: dict[str, SettingReport] = {}
        self._group_sizes: dict[str, int] = {}
        self._entry_places: list[str] = []  # where each model_list entry sits: "model_list[0]", "a.yaml: …"
        self._from_environment: set[tuple[str | int, ...]] = set()  # places whose value was read from it
        self._missing: dict[tuple[str | int, ...], str] = {}  # places whose variable is not set: its name

    def config(self, data: Any) -> ProxyConfig:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            self.problems.append("the file must be a mapping with a `model_list`")
            return ProxyConfig(deployments=[])
        folder = self.path.parent if self.path is not None else Path.cwd()
        chain = (self.path.resolve(),) if self.path is not None else ()
        data, self._entry_places = self._with_includes(dict(data), folder, "", chain)
        self._report_section("", {k: v for k, v in data.items() if k != "model_list"}, ConfigFile, warn=True)
        self._environment_variables(data.get("environment_variables"))
        data = {key: value if key in ("environment_variables", "include") else self._read_environment(value, (key,))
                for key, value in data.items()}  # fmt: skip
        general = self._section(data, "general_settings", GeneralSettingsSection)
        litellm = self._section(data, "litellm_settings", LitellmSettingsSection)
        router = self._section(data, "router_settings", RouterSettingsSection)
        self._missing_outside_deployments()
        defaults = {"drop_params": litellm.drop_params, "timeout": _first(router.timeout, litellm.request_timeout)}
        deployments = self._model_list(data.get("model_list"), defaults)
        return ProxyConfig(
            deployments=deployments,
            router=self._router(router, litellm, deployments),
            master_key=general.master_key,
            general_settings=general.model_dump(),
            path=self.path,
            configured_redis_url=_redis_url(router, litellm),
            litellm_settings=litellm.model_dump(exclude_none=True),
        )

    # -- reading: includes, environment ------------------------------------------------------------

    def _with_includes(
        self, data: dict[str, Any], folder: Path, label: str, chain: tuple[Path, ...]
    ) -> tuple[dict[str, Any], list[str]]:
        """`data` (from the file `label` names, "" for the main one; `chain`: the files including it) with the
        files its `include` names merged in (lists extended, mappings merged), and where each of its
        model_list entries comes from."""
        entries = data.get("model_list")
        places = [f"{label}model_list[{i}]" for i in range(len(entries))] if isinstance(entries, list) else []
        included = data.get("include")
        files = [included] if isinstance(included, str) else included
        if included is None:
            return data, places
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            self.problems.append(f"{label}include: must be a file name or a list of file names")
            return data, places
        for file in files:
            path = (folder / file).resolve()
            if path in chain:
                self.problems.append(f"{label}include: {file}: includes itself (through {chain[-1].name})")
                continue
            try:
                loaded = _read_yaml(path)
            except _Unreadable as exc:
                self.problems.append(f"{label}include: {file}: {exc}")
                continue
            if not isinstance(loaded, Mapping):
                self.problems.append(f"{label}include: {file}: must be a mapping of config sections")
                continue
            other, other_places = self._with_includes(dict(loaded), path.parent, f"{file}: ", (*chain, path))
            self._merge(data, other, file)
            if isinstance(data.get("model_list"), list) and isinstance(other.get("model_list"), list):
                places += other_places
        return data, places

    def _merge(self, data: dict[str, Any], other: Mapping[str, Any], file: str) -> None:
        for key, value in other.items():
            if key == "include":
                continue
            mine = data.get(key)
            if mine is None:
                data[key] = value
            elif isinstance(mine, list) and isinstance(value, list):
                data[key] = mine + value
            elif isinstance(mine, Mapping) and isinstance(value, Mapping) and not mine.keys() & value.keys():
                data[key] = {**mine, **value}
            else:
                both = (
                    sorted(mine.keys() & value.keys())
                    if isinstance(mine, Mapping) and isinstance(value, Mapping)
                    else ()
                )
                detail = f" ({', '.join(map(str, both))})" if both else ""
                self.problems.append(f"include: {file}: {key}{detail} is also set in the file that includes it")

    def _environment_variables(self, variables: Any) -> None:
        if variables is None:
            return
        if not isinstance(variables, Mapping):
            self.problems.append("environment_variables: must be a mapping of NAME: value")
            return
        for name, value in variables.items():
            os.environ[str(name)] = str(value)

    def _read_environment(self, value: Any, place: tuple[str | int, ...]) -> Any:
        """`value` with every `os.environ/NAME` read; a variable not set is `_MISSING` (its key or item is
        then left out), except in `litellm_params`, where it is None and makes the deployment unavailable."""
        if isinstance(value, str) and value.startswith(ENV_PREFIX):
            name = value.removeprefix(ENV_PREFIX)
            self._from_environment.add(place)
            found = os.environ.get(name)
            if found:
                return found
            self._missing[place] = name
            return None if _in_litellm_params(place) else _MISSING
        if isinstance(value, Mapping):
            read = {key: self._read_environment(item, (*place, key)) for key, item in value.items()}
            return {key: item for key, item in read.items() if item is not _MISSING}
        if isinstance(value, list):
            read_items = [self._read_environment(item, (*place, index)) for index, item in enumerate(value)]
            return [item for item in read_items if item is not _MISSING]
        return value

    def _missing_outside_deployments(self) -> None:
        for place, name in self._missing.items():
            if place == ("general_settings", "master_key"):
                self.problems.append(
                    f"general_settings.master_key: the environment variable {name} is not set "
                    "(set it, or remove master_key to run without authentication on a loopback address)"
                )
            elif not _in_litellm_params(place):
                self.warnings.append(f"{where(place)}: the environment variable {name} is not set; left out")

    # -- sections ----------------------------------------------------------------------------------

    def _section(self, data: Mapping[str, Any], name: str, model: type[SectionT]) -> SectionT:
        section = data.get(name)
        if section is None:
            return model()
        if not isinstance(section, Mapping):
            self.problems.append(f"{name}: must be a mapping")
            return model()
        try:
            return model.model_validate(section)
        except ValidationError as error:
            self.problems += problems_of(error, model, name, lambda loc: (name, *loc) in self._from_environment)
            wrong = {item["loc"][0] for item in error.errors()}
        # The rest of the section is still checked further (fallbacks, aliases): every problem at once.
        try:
            return model.model_validate({key: value for key, value in section.items() if key not in wrong})
        except ValidationError:
            return model()

    def _report_section(self, at: str, section: Mapping[str, Any], model: type[BaseModel], *, warn: bool) -> None:
        """Note what becomes of each key of `section` (`model`'s fields are honoured or translated; another
        key is ignored, with a warning when `warn`, except a provider setting or image parameter)."""
        for key, value in section.items():
            setting = f"{at}.{key}" if at else str(key)
            field_info = field_at(model, (str(key),))
            if setting in self.settings:
                continue
            if field_info is None and model is LiteLLMParams and key not in _IGNORED_LITELLM_KEYS:
                self.settings[setting] = SettingReport(
                    setting, "honoured", "a provider setting or default image parameter, given to the plugin"
                )
                continue
            if field_info is None:
                reason = IGNORED_BECAUSE.get(setting)
                self.settings[setting] = SettingReport(setting, "ignored", reason or "not used by imagegen")
                if warn:
                    because = f" ({reason})" if reason else ""
                    self.warnings.append(f"{setting}: not used by imagegen; ignored{because}")
                continue
            nested = settings_model(field_info.annotation)
            if nested is not None and isinstance(value, Mapping):
                self._report_section(setting, value, nested, warn=warn)
                continue
            status: Status = "translated" if field_info.json_schema_extra == TRANSLATED else "honoured"
            note = field_info.description or ""
            if setting == "router_settings.routing_strategy" and value in STRATEGY_NOTES:
                status = "translated" if str(value).startswith("usage-based") else "honoured"
                note = f"{value}: {STRATEGY_NOTES[value]}"
            self.settings[setting] = SettingReport(setting, status, note)

    # -- model_list --------------------------------------------------------------------------------

    def _model_list(self, entries: Any, defaults: Mapping[str, Any]) -> list[Deployment]:
        if not isinstance(entries, list) or not entries:
            self.problems.append("model_list: required, a list of {model_name, litellm_params: {model, …}}")
            return []
        deployments: list[Deployment] = []
        ids: dict[str, str] = {}
        for index, entry in enumerate(entries):
            place = self._entry_places[index] if index < len(self._entry_places) else f"model_list[{index}]"
            deployment = self._deployment(place, index, entry, defaults)
            if deployment is None:
                continue
            if deployment.id in ids:
                self.problems.append(f"{place}.model_info.id: {deployment.id!r} is used twice")
            ids[deployment.id] = place
            deployments.append(deployment)
        return deployments

    def _deployment(self, place: str, index: int, entry: Any, defaults: Mapping[str, Any]) -> Deployment | None:
        if not isinstance(entry, Mapping):
            self.problems.append(f"{place}: must be a mapping with model_name and litellm_params")
            return None
        try:
            parsed = ModelEntry.model_validate(entry)
        except ValidationError as error:
            hidden = lambda loc: ("model_list", index, *loc) in self._from_environment  # noqa: E731
            self.problems += problems_of(error, ModelEntry, place, hidden)
            return None
        self._report_section("model_list[]", entry, ModelEntry, warn=False)
        group, call = parsed.model_name, parsed.litellm_params
        model_info = parsed.model_info.model_dump(exclude_none=True)
        # Prices written in litellm_params are the deployment's own, as in LiteLLM; model_info's win over them.
        model_info = {**call.model_dump(include=set(pricing.OVERRIDE_KEYS), exclude_none=True), **model_info}
        where_params = f"{place}.{'litellm_params' if 'litellm_params' in entry else 'params'}"
        params = dict(call.model_extra or {})
        model = with_provider(call.model, call.custom_llm_provider) if call.custom_llm_provider else call.model
        if is_wildcard(model) and not is_wildcard(group):
            self.problems.append(
                f"{where_params}.model: {model!r} has a `*` but model_name {group!r} has none; a wildcard "
                'deployment\'s model_name matches the names it serves, e.g. model_name: "openai/*"'
            )
            return None
        if is_wildcard(model):
            provider, kind = self._classify_wildcard(where_params, group, model, model_info)
        else:
            provider, kind = self._classify(where_params, group, model, model_info)
        # LiteLLM's `model_info.base_model` names the model behind a deployment: a setting where the plugin reads one.
        base_model = call.base_model or model_info.get("base_model")
        if base_model and provider is not None and "base_model" in provider.info.settings:
            params["base_model"] = base_model
        for key in _IGNORED_LITELLM_KEYS & params.keys():
            params.pop(key)
        rpm = _first(call.rpm, parsed.model_info.rpm)
        tpm = _first(call.tpm, parsed.model_info.tpm)
        deployment = Deployment(
            id=str(model_info.get("id") or f"{group}#{self._count(group)}"),
            model_group=group,
            model=model,
            provider=provider.prefix if provider else None,
            kind=kind,
            params=params,
            model_info=model_info,
            timeout=_first(call.timeout, defaults["timeout"]),
            num_retries=_first(call.num_retries, call.max_retries) or 0,
            drop_params=_first(call.drop_params, defaults["drop_params"]),
            weight=_first(call.weight, rpm, tpm) or 1.0,  # LiteLLM's simple-shuffle: weight, else rpm, else tpm
            rpm=rpm,
            tpm=tpm,
        )
        missing = [name for at, name in self._missing.items() if _in_litellm_params(at) and at[1] == index]
        if missing and kind != "not_image":  # a chat deployment's variables are not ours to need
            names = ", ".join(missing)
            deployment.unavailable = (
                f"the model {group!r} is not configured on this proxy: the environment variable(s) {names} "
                f"are not set (deployment {deployment.id!r})"
            )
            self.warnings.append(f"{where_params}: environment variable(s) {names} not set; {group!r} answers 503")
        if provider is not None and kind != "not_image" and not is_wildcard(model):
            self._check_params(where_params, deployment, provider)
        return deployment

    def _count(self, group: str) -> int:
        """The 1-based position of a new deployment in its group: its id when model_info.id is not given."""
        self._group_sizes[group] = self._group_sizes.get(group, 0) + 1
        return self._group_sizes[group]

    def _classify(
        self, where_: str, group: str, model: str, model_info: Mapping[str, Any]
    ) -> tuple[Provider | None, Kind]:
        mode = model_info.get("mode")
        declared_image = mode == IMAGE_MODE
        try:
            provider, model_id = registry.resolve(model)
        except PluginError as exc:
            if declared_image:
                self.problems.append(f"{where_}.model: {exc.message}")
            else:
                self.warnings.append(f"{where_}.model: {model!r} is not an image model of any installed plugin; "
                                     f"requests for {group!r} are refused")  # fmt: skip
            return None, "not_image"
        if mode is not None and not declared_image:
            return provider, "not_image"
        if provider.model(model_id) is not None or _names_its_image_model(provider, model_info):
            return provider, "image"
        if not provider.info.pass_through_unknown_models:
            known = ", ".join(spec.name for spec in provider.info.models)
            message = f"{where_}.model: {provider.prefix} has no image model {model_id!r}; known models: {known}"
            (self.problems if declared_image else self.warnings).append(message)
            return provider, "not_image"
        if declared_image:
            return provider, "image"
        self.warnings.append(
            f"{where_}.model: {provider.prefix} does not list {model_id!r}; it is served unchecked and is never a "
            f"fallback target (set model_info.mode: {IMAGE_MODE} to confirm it generates images)"
        )
        return provider, "unverified"

    def _classify_wildcard(
        self, where_: str, group: str, model: str, model_info: Mapping[str, Any]
    ) -> tuple[Provider | None, Kind]:
        """A wildcard deployment: its provider must be installed; each name it matches is checked per request."""
        prefix, slash, _ = model.partition("/")
        mode = model_info.get("mode")
        if not slash:
            return None, "image" if mode in (None, IMAGE_MODE) else "not_image"
        try:
            provider = registry.provider(prefix)
        except PluginError:
            self.warnings.append(f"{where_}.model: {model!r}: no installed plugin serves {prefix!r}; requests "
                                 f"matching {group!r} are refused")  # fmt: skip
            return None, "not_image"
        return provider, "image" if mode in (None, IMAGE_MODE) else "not_image"

    def _check_params(self, where_: str, deployment: Deployment, provider: Provider) -> None:
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
            self.problems.append(f"{where_}.{exc.param or 'model'}: {message} ({provider.prefix} settings: {known})")
        for warning in request.warnings:
            self.warnings.append(f"{where_}: {warning}")
        for name in image_params.keys() - request.params.keys():
            deployment.params.pop(name, None)  # dropped under drop_params, with the warning above

    # -- router ------------------------------------------------------------------------------------

    def _router(
        self, router: RouterSettingsSection, litellm: LitellmSettingsSection, deployments: list[Deployment]
    ) -> RouterSettings:
        names = ModelNames(deployments)
        kinds = _group_kinds(deployments)
        defaults = RouterSettings()
        return RouterSettings(
            routing_strategy=router.routing_strategy,
            strategy_args=router.routing_strategy_args,
            num_retries=_first(router.num_retries, litellm.num_retries, default=defaults.num_retries),
            retry_after=router.retry_after,
            allowed_fails=_first(router.allowed_fails, default=defaults.allowed_fails),
            cooldown_time=_first(router.cooldown_time, default=defaults.cooldown_time),
            fallbacks=self._fallbacks("fallbacks", router, litellm, kinds, names),
            content_policy_fallbacks=self._fallbacks("content_policy_fallbacks", router, litellm, kinds, names),
            aliases=self._aliases(router, litellm, kinds, names),
        )

    def _fallbacks(
        self,
        name: str,
        router: RouterSettingsSection,
        litellm: LitellmSettingsSection,
        kinds: Mapping[str, Kind],
        names: ModelNames,
    ) -> dict[str, tuple[str, ...]]:
        section = "router_settings" if getattr(router, name) is not None else "litellm_settings"
        value: list[dict[str, list[str]]] = getattr(router, name) or getattr(litellm, name) or []
        fallbacks: dict[str, tuple[str, ...]] = {}
        for index, item in enumerate(value):
            for source, targets in item.items():
                place = f"{section}.{name}[{index}]"
                if kinds.get(source) == "not_image":
                    continue  # a chat model's fallbacks in a LiteLLM config: not ours to serve
                if source not in kinds and names.resolve(source) is None:
                    self.problems.append(f"{place}: {source!r} is not a model_name in model_list")
                    continue
                for target in targets:
                    kind = kinds.get(target, "image" if names.resolve(target) is not None else None)
                    if kind is None:
                        self.problems.append(f"{place}.{source}: {target!r} is not a model_name in model_list")
                    elif kind != "image":
                        self.problems.append(
                            f"{place}.{source}: {target!r} is not known to generate images; a fallback must "
                            f"(set its model_info.mode: {IMAGE_MODE} if it does)"
                        )
                fallbacks[source] = (*fallbacks.get(source, ()), *targets)
        return fallbacks

    def _aliases(
        self,
        router: RouterSettingsSection,
        litellm: LitellmSettingsSection,
        kinds: Mapping[str, Kind],
        names: ModelNames,
    ) -> dict[str, Alias]:
        given = [
            ("litellm_settings.model_alias_map", {name: Alias(to) for name, to in litellm.model_alias_map.items()}),
            ("router_settings.model_group_alias",
             {name: Alias(to.model, to.hidden) for name, to in router.model_group_alias.items()}),
        ]  # fmt: skip
        aliases: dict[str, Alias] = {}
        for place, entries in given:
            for alias, target in entries.items():
                if alias in kinds:
                    self.warnings.append(f"{place}.{alias}: a model_name of model_list too, which wins; never used")
                elif target.target not in kinds and names.resolve(target.target) is None:
                    self.problems.append(f"{place}.{alias}: {target.target!r} is not a model_name in model_list")
                else:
                    aliases[alias] = target
        return aliases


def _in_litellm_params(place: tuple[str | int, ...]) -> bool:
    return len(place) > 3 and place[0] == "model_list" and place[2] in ("litellm_params", "params")


def _redis_url(router: RouterSettingsSection, litellm: LitellmSettingsSection) -> str | None:
    """The Redis the file names: router_settings' `redis_url` or host, else litellm_settings.cache_params'
    host (or, for `cache_params: {type: redis}` without one, LiteLLM's REDIS_HOST / REDIS_PORT / REDIS_PASSWORD)."""
    if router.redis_url:
        return router.redis_url
    if router.redis_host:
        return _url(router.redis_host, router.redis_port, router.redis_password)
    cache = litellm.cache_params
    if cache is None or cache.type not in (None, "redis"):
        return None
    if cache.host:
        return _url(cache.host, cache.port, cache.password)
    if cache.type == "redis" and (host := os.environ.get("REDIS_HOST")):
        port = os.environ.get("REDIS_PORT")
        return _url(host, int(port) if port and port.isdigit() else None, os.environ.get("REDIS_PASSWORD"))
    return None


def _url(host: str, port: int | None, password: str | None) -> str:
    credentials = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{credentials}{host}:{port or DEFAULT_REDIS_PORT}/0"


def _group_kinds(deployments: list[Deployment]) -> dict[str, Kind]:
    """Each model group's kind, from the deployments it is served by (its `not_image` ones never are)."""
    served: dict[str, set[Kind]] = {}
    for deployment in deployments:
        if is_wildcard(deployment.model_group):
            continue
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


@overload
def _first(*values: T | None, default: T) -> T: ...
@overload
def _first(*values: T | None) -> T | None: ...
def _first(*values: T | None, default: T | None = None) -> T | None:
    """The first value given (not None), else `default`."""
    return next((value for value in values if value is not None), default)
