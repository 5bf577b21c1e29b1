"""`imagegen serve`: the proxy's command, added to the core CLI through the `imagegen.commands` hook.

Only argument parsing happens at import; the server loads when the command runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagegen import hookimpl

from .workers import DEFAULT_DRAIN_TIMEOUT  # a module of constants: cheap for every `imagegen` command

if TYPE_CHECKING:
    from .config import SettingReport


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the OpenAI-compatible image proxy",
        description="Serve the models of a LiteLLM-style config file over OpenAI's Images API.",
    )
    serve.add_argument("--config", "-c", required=True, metavar="PATH", help="the YAML config (model_list, …)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: 0.0.0.0)")  # noqa: S104
    serve.add_argument("--port", type=int, default=4000, help="port to listen on (default: 4000)")
    serve.add_argument(
        "--workers", "--num_workers", type=int, default=1, metavar="N", help="worker processes (default: 1)"
    )
    serve.add_argument(
        "--check", action="store_true", help="validate the config, say what became of each setting, and exit"
    )
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="listen on a non-loopback address without general_settings.master_key",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--detailed_debug", action="store_true", help="the same as --log-level debug (LiteLLM's flag)")
    serve.add_argument(
        "--log-format", default="text", choices=["text", "json"], help="json: one JSON object per line (default: text)"
    )
    serve.add_argument(
        "--drain-timeout", type=float, default=DEFAULT_DRAIN_TIMEOUT, metavar="SECONDS",
        help="on SIGTERM, how long the requests in flight get to finish before they are answered 503 "
        f"(default: {DEFAULT_DRAIN_TIMEOUT:g}; a second SIGTERM stops them at once)",
    )  # fmt: skip
    serve.set_defaults(func=serve_command)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(args: argparse.Namespace) -> int:
    from .callbacks import load_callbacks
    from .config import ConfigError, load_config

    try:
        config = load_config(args.config)
        _, callback_warnings = load_callbacks(config.litellm_settings, config.path)
    except ConfigError as exc:
        _print_warnings(exc.warnings)
        print(f"imagegen serve: {exc}", file=sys.stderr)
        return 1
    _print_warnings([*config.warnings, *callback_warnings])
    if config.master_key is None and not is_loopback(args.host) and not args.allow_unauthenticated:
        print(
            f"imagegen serve: refusing to listen on {args.host} without authentication: set "
            "general_settings.master_key in the config, listen on 127.0.0.1 (--host 127.0.0.1), or pass "
            "--allow-unauthenticated",
            file=sys.stderr,
        )
        return 2
    if args.workers < 1:
        print("imagegen serve: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.drain_timeout < 0:
        print("imagegen serve: --drain-timeout must be 0 or more seconds", file=sys.stderr)
        return 2
    if args.check:
        groups = config.groups()
        print(f"{args.config}: OK ({len(groups)} model groups, {len(config.deployments)} deployments)")
        print(settings_table(config.settings))
        return 0
    if args.detailed_debug:
        args.log_level = "debug"
    _run(args, config)
    return 0


def settings_table(settings: Sequence[SettingReport]) -> str:
    """What became of each setting of the file, one per line: honoured, translated (to an equivalent) or ignored."""
    rows = [("setting", "status", "what imagegen does"), *((s.setting, s.status, s.note) for s in settings)]
    width = max(len(row[0]) for row in rows)
    return "\n".join(f"{setting:<{width}}  {status:<10}  {note}".rstrip() for setting, status, note in rows)


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"imagegen serve: warning: {warning}", file=sys.stderr)


def _run(args: argparse.Namespace, config: Any) -> None:
    import uvicorn

    from .capacity import raise_open_file_limit
    from .client_limits import LimitedHttpProtocol

    raise_open_file_limit()  # every connection is a descriptor: let the limit, not a default, decide
    options: dict[str, Any] = dict(
        host=args.host,
        port=args.port,
        log_config=_log_config(args.log_level, args.log_format),
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=args.drain_timeout + _SHUTDOWN_MARGIN,
        http=LimitedHttpProtocol,
    )
    if args.workers == 1:
        from .app import create_app

        app = create_app(config, freeze_startup_heap=True, drain_timeout=args.drain_timeout)
        uvicorn.run(app, **options)
        return
    from .metrics import MULTIPROC_ENV
    from .workers import CONFIG_ENV, DRAIN_TIMEOUT_ENV

    # Workers are fresh processes: they load the config themselves and share metrics through files.
    os.environ[CONFIG_ENV] = str(Path(args.config).resolve())
    os.environ[DRAIN_TIMEOUT_ENV] = str(args.drain_timeout)
    metrics_dir = os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="imagegen-metrics-")
    owned = MULTIPROC_ENV not in os.environ
    os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        from .lifecycle import serve_workers

        serve_workers(
            uvicorn.Config("imagegen_proxy.app:app_from_environment", factory=True, workers=args.workers, **options)
        )
    finally:
        if owned:
            shutil.rmtree(metrics_dir, ignore_errors=True)


_SHUTDOWN_MARGIN = 10.0
"""The server's own limit on a graceful stop, past the drain timeout: the app stops its requests first."""


def _log_config(level: str, log_format: str = "text") -> dict[str, Any]:
    """Uvicorn's logging, plus imagegen's loggers (request lines, routing events) at `level`; every line
    knows its request's id, and with `log_format="json"` every line is one JSON object."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {**LOGGING_CONFIG, "loggers": dict(LOGGING_CONFIG["loggers"])}
    config["loggers"]["imagegen"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config["filters"] = {"request_id": {"()": "imagegen_proxy.logs.RequestIdFilter"}}
    config["handlers"] = {name: {**handler, "filters": ["request_id"]} for name, handler in config["handlers"].items()}
    if log_format == "json":
        # one dict each: logging's dictConfig pops "()" from the dict it is given
        config["formatters"] = {name: {"()": "imagegen_proxy.logs.JsonFormatter"} for name in config["formatters"]}
    return config
