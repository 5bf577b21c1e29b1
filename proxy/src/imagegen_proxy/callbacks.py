"""Callbacks named in the config, as LiteLLM names them: `litellm_settings.callbacks` (every hook),
`success_callback` (`on_success` only) and `failure_callback` (`on_failure` only).

    litellm_settings:
      callbacks: custom_callbacks.proxy_handler_instance   # or a list

`module.attribute` is read from `module.py` in the config file's folder, as LiteLLM does, else from an
installed module. A callback is any object with some of `on_request` / `on_success` / `on_failure`
(plain or async; docs/callbacks.md); in `success_callback` / `failure_callback`, a plain function is the
hook itself. The proxy calls them for every call it makes, with the request's id and key in the record.
LiteLLM's built-in integration names (`langfuse`, …) are not available here and are ignored with a
warning; `otel` needs nothing: spans follow the process's OpenTelemetry tracer provider.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from imagegen.observe import HOOKS, callback_name

from .config import ConfigError

SETTINGS = {"callbacks": HOOKS, "success_callback": ("on_success",), "failure_callback": ("on_failure",)}
TRACING = frozenset({"otel", "opentelemetry"})


class OneHook:
    """One hook of a callback (or a plain function) as a callback object of its own."""

    def __init__(self, hook: str, function: Callable[..., Any], name: str) -> None:
        self.callback_name = name
        setattr(self, hook, function)


def load_callbacks(settings: Mapping[str, Any], config_path: Path | None) -> tuple[list[object], list[str]]:
    """The config's callbacks and warnings about it; raises ConfigError listing every name that cannot be used."""
    callbacks: list[object] = []
    problems: list[str] = []
    warnings: list[str] = []
    folder = config_path.parent if config_path is not None else None
    for key, hooks in SETTINGS.items():
        names = settings.get(key) or []
        for index, name in enumerate([names] if isinstance(names, str) else names):
            where = f"litellm_settings.{key}[{index}]"
            if not isinstance(name, str) or not name:
                problems.append(f"{where}: must be an import path like custom_callbacks.proxy_handler_instance")
            elif "." not in name:
                if name not in TRACING:
                    warnings.append(f"{where}: LiteLLM's {name!r} integration is not available in imagegen; ignored")
            else:
                try:
                    found = _resolve(name, folder)
                except Exception as exc:
                    problems.append(f"{where}: cannot load {name!r} ({type(exc).__name__}: {exc})")
                    continue
                callback = _as_callback(found, hooks, name)
                if callback is None:
                    problems.append(
                        f"{where}: {name!r} has none of {', '.join(hooks)} (LiteLLM's CustomLogger methods are not "
                        "called; see docs/callbacks.md)"
                    )
                else:
                    callbacks.append(callback)
    if problems:
        raise ConfigError(problems, str(config_path) if config_path else "the configuration", warnings)
    return callbacks, warnings


def _resolve(path: str, folder: Path | None) -> Any:
    module_name, _, attribute = path.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        source = folder.joinpath(*module_name.split(".")).with_suffix(".py") if folder is not None else None
        if source is not None and source.is_file():
            spec = importlib.util.spec_from_file_location(module_name, source)
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    return getattr(module, attribute)


def _as_callback(found: Any, hooks: tuple[str, ...], name: str) -> object | None:
    if hooks == HOOKS:
        return found if any(callable(getattr(found, hook, None)) for hook in HOOKS) else None
    (hook,) = hooks
    if inspect.isfunction(found) or inspect.iscoroutinefunction(found):
        return OneHook(hook, found, name)
    method = getattr(found, hook, None)
    return OneHook(hook, method, callback_name(found)) if callable(method) else None
