"""Finding, loading and routing to provider plugins.

Plugins are found through entry points (group `imagegen.providers`, name = model prefix) but only
imported when their prefix is first used, so `import imagegen` costs nothing per installed plugin.
A plugin that fails to load keeps its error (shown when its prefix is used, and by
`imagegen plugins`) and never breaks the others, unless `IMAGEGEN_STRICT_PLUGINS=1`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import traceback
from dataclasses import dataclass
from typing import Any

import pluggy

from .exceptions import SHOWN_VALUE_CHARS, PluginError, brief
from .hookspecs import CommandSpec, ProviderSpec
from .provider import GENERATION, HOOKS_VERSION, SUPPORTED_HOOKS_VERSIONS, ModelSpec, Operation, ProviderInfo

PROVIDER_GROUP = "imagegen.providers"
COMMAND_GROUP = "imagegen.commands"
DEFAULT_PROVIDER = "openai"
DEFAULT_MODELS: dict[Operation, str] = {"generation": "gpt-image-1", "edit": "gpt-image-1", "variation": "dall-e-2"}
"""The model of a call that names none, per operation (OpenAI's own defaults; variations are dall-e-2's)."""


def _disabled() -> set[str]:
    return {name.strip() for name in os.environ.get("IMAGEGEN_DISABLE_PLUGINS", "").split(",") if name.strip()}


def _strict() -> bool:
    return os.environ.get("IMAGEGEN_STRICT_PLUGINS", "").lower() in {"1", "true", "yes"}


@dataclass
class PluginEntry:
    """An installed plugin's entry point, before or after loading."""

    prefix: str
    module: str
    distribution: str
    version: str
    provider: Provider | None = None
    error: str | None = None


class Provider:
    """A loaded provider plugin: its declared info and its hooks."""

    def __init__(self, entry: PluginEntry, hook: Any, info: ProviderInfo) -> None:
        self.prefix = entry.prefix
        self.distribution = entry.distribution
        self.version = entry.version
        self.hook = hook
        self.info = info

    def model(self, name: str) -> ModelSpec | None:
        return self.info.model(name)

    def __repr__(self) -> str:
        return f"<Provider {self.prefix} from {self.distribution} {self.version}>"


def _entry_points(group: str) -> list[Any]:
    import importlib_metadata

    return list(importlib_metadata.entry_points(group=group))


def _load_provider(entry: PluginEntry) -> Provider:
    module = importlib.import_module(entry.module)
    manager = pluggy.PluginManager("imagegen")
    manager.add_hookspecs(ProviderSpec)
    manager.register(module, name=entry.prefix)
    manager.check_pending()  # a misspelled hook name fails here, not at call time
    info = manager.hook.provider_info()
    if info is None:
        raise PluginError("it does not implement the `provider_info` hook (see docs/writing-a-plugin.md)")
    if not isinstance(info, ProviderInfo):
        raise PluginError(f"its `provider_info` hook must return imagegen.ProviderInfo, got {type(info).__name__}")
    if info.hooks_version not in SUPPORTED_HOOKS_VERSIONS:
        newer = "imagegen-core" if info.hooks_version > HOOKS_VERSION else entry.distribution
        raise PluginError(
            f"it was built for imagegen hooks version {info.hooks_version}, but this imagegen-core "
            f"speaks versions {', '.join(map(str, sorted(SUPPORTED_HOOKS_VERSIONS)))}; upgrade {newer}"
        )
    return Provider(entry, manager.hook, info)


class PluginRegistry:
    """All provider plugins of this process, loaded on first use."""

    def __init__(self) -> None:
        self._entries: dict[str, PluginEntry] | None = None
        self._conflicts: dict[str, str] = {}
        self._by_model: dict[str, Provider] = {}
        self._lock = threading.RLock()

    def entries(self) -> dict[str, PluginEntry]:
        """The installed, enabled plugins by prefix (not loaded)."""
        if self._entries is None:
            with self._lock:
                if self._entries is None:
                    self._entries = self._scan()
        return self._entries

    def _scan(self) -> dict[str, PluginEntry]:
        disabled = _disabled()
        entries: dict[str, PluginEntry] = {}
        for ep in _entry_points(PROVIDER_GROUP):
            if ep.name in disabled:
                continue
            dist = ep.dist
            entry = PluginEntry(
                prefix=ep.name,
                module=ep.value.split(":")[0],
                distribution=dist.name if dist else "unknown",
                version=dist.version if dist else "unknown",
            )
            existing = entries.get(ep.name)
            if existing and existing.distribution != entry.distribution:
                self._conflicts[ep.name] = (
                    f"the prefix {ep.name!r} is claimed by two installed plugins, {existing.distribution} "
                    f"and {entry.distribution}; uninstall one of them or disable one with "
                    f"IMAGEGEN_DISABLE_PLUGINS"
                )
                existing.error = self._conflicts[ep.name]
                if _strict():
                    raise PluginError(self._conflicts[ep.name])
            entries.setdefault(ep.name, entry)
        return entries

    def provider(self, prefix: str) -> Provider:
        """The loaded plugin for `prefix`; raises PluginError if absent or broken."""
        entry = self.entries().get(prefix)
        if entry is None:
            installed = ", ".join(sorted(self.entries())) or "none"
            if prefix in _disabled():
                hint = "it is disabled by IMAGEGEN_DISABLE_PLUGINS"
            elif len(prefix) > SHOWN_VALUE_CHARS:  # not a prefix at all (base64 passed as a model, say)
                hint = "a model is named `prefix/model`"
            else:
                hint = f"install its plugin, e.g. `pip install imagegen-{prefix.replace('_', '-')}`"
            raise PluginError(
                f"no provider plugin for the prefix {brief(prefix)}; {hint}. Installed providers: {installed}"
            )
        if entry.provider is None and entry.error is None:
            with self._lock:
                if entry.provider is None and entry.error is None:
                    try:
                        entry.provider = _load_provider(entry)
                    except Exception as exc:  # a broken plugin must not break the others
                        detail = (
                            exc.message
                            if isinstance(exc, PluginError)
                            else "".join(traceback.format_exception_only(type(exc), exc)).strip()
                        )
                        entry.error = f"{entry.distribution} failed to load: {detail}"
                        if _strict():
                            raise PluginError(entry.error) from exc
        if entry.error is not None:
            raise PluginError(f"the provider {prefix!r} is unavailable: {entry.error}")
        assert entry.provider is not None
        return entry.provider

    def resolve(self, model: str | None, operation: Operation = GENERATION) -> tuple[Provider, str]:
        """The plugin and the provider-local model id for a model string.

        `prefix/model` goes to the plugin owning `prefix`; a bare name to the plugin that lists it;
        no model means OpenAI's default for the operation (`gpt-image-1`; `dall-e-2` for variations).
        """
        if not model:
            return self.provider(DEFAULT_PROVIDER), DEFAULT_MODELS[operation]
        prefix, sep, rest = model.partition("/")
        if sep and prefix in self.entries():
            return self.provider(prefix), rest
        found = self._by_model.get(model)
        if found is not None:
            return found, model
        # A plugin serving another's models through another API answers a bare name only when no other does.
        for candidate in sorted(self._load_all_for_lookup(), key=lambda provider: provider.info.defer_bare_names):
            if candidate.model(model) is not None:
                self._by_model[model] = candidate
                return candidate, model
        if sep:
            return self.provider(prefix), rest  # raises the "no plugin for prefix" error
        installed = ", ".join(sorted(self.entries())) or "none"
        example = model if len(model) <= SHOWN_VALUE_CHARS else "MODEL"
        raise PluginError(
            f"no installed provider knows the model {brief(model)}; name it with its provider prefix "
            f"(e.g. 'openai/{example}' for an OpenAI-compatible server). Installed providers: {installed}"
        )

    def _load_all_for_lookup(self) -> list[Provider]:
        # The default provider first: a bare OpenAI model name is by far the most common.
        prefixes = sorted(self.entries(), key=lambda p: (p != DEFAULT_PROVIDER, p))
        providers = []
        for prefix in prefixes:
            try:
                providers.append(self.provider(prefix))
            except PluginError:
                continue  # its error is shown when its prefix is used, and by `imagegen plugins`
        return providers

    def load_all(self) -> list[PluginEntry]:
        """Every installed plugin, loaded (for `imagegen plugins`); errors are kept on the entries."""
        for prefix in self.entries():
            with contextlib.suppress(PluginError):  # kept on the entry, shown by the caller
                self.provider(prefix)
        return sorted(self.entries().values(), key=lambda e: e.prefix)


def load_command_plugins() -> pluggy.PluginManager:
    """CLI extensions (group `imagegen.commands`); a broken one is reported, not fatal."""
    manager = pluggy.PluginManager("imagegen")
    manager.add_hookspecs(CommandSpec)
    disabled = _disabled()
    for ep in _entry_points(COMMAND_GROUP):
        if ep.name in disabled:
            continue
        try:
            manager.register(ep.load(), name=ep.name)
        except Exception as exc:
            if _strict():
                raise
            import sys

            print(f"imagegen: the command plugin {ep.name!r} failed to load: {exc}", file=sys.stderr)
    return manager


def with_provider(model: str, custom_llm_provider: str | None) -> str:
    """`model` routed to the plugin `custom_llm_provider` whatever its name says (LiteLLM's
    `custom_llm_provider`): exactly `prefix/model`, unless `model` already has that prefix."""
    if not custom_llm_provider or model.startswith(f"{custom_llm_provider}/"):
        return model
    return f"{custom_llm_provider}/{model}"


registry = PluginRegistry()
"""The process-wide plugin registry."""
