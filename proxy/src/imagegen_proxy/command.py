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
from pathlib import Path
from typing import Any

from imagegen import hookimpl


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction[Any]) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the OpenAI-compatible image proxy",
        description="Serve the models of a LiteLLM-style config file over OpenAI's Images API.",
    )
    serve.add_argument("--config", required=True, metavar="PATH", help="the YAML config (model_list, …)")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: 0.0.0.0)")  # noqa: S104
    serve.add_argument("--port", type=int, default=4000, help="port to listen on (default: 4000)")
    serve.add_argument("--workers", type=int, default=1, metavar="N", help="worker processes (default: 1)")
    serve.add_argument("--check", action="store_true", help="validate the config and exit")
    serve.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="listen on a non-loopback address without general_settings.master_key",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--drain-timeout", type=float, default=60.0, metavar="SECONDS",
        help="on SIGTERM, how long the requests in flight get to finish before they are answered 503 "
        "(default: 60; a second SIGTERM stops them at once)",
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
    from .config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        _print_warnings(exc.warnings)
        print(f"imagegen serve: {exc}", file=sys.stderr)
        return 1
    _print_warnings(config.warnings)
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
        return 0
    _run(args, config)
    return 0


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"imagegen serve: warning: {warning}", file=sys.stderr)


def _run(args: argparse.Namespace, config: Any) -> None:
    import uvicorn

    from .capacity import raise_open_file_limit
    from .client_limits import LimitedHttpProtocol

    raise_open_file_limit()  # every connection is a descriptor: let the limit, not a default, decide
    options: dict[str, Any] = dict(
        host=args.host, port=args.port, log_config=_log_config(args.log_level), access_log=False, server_header=False,
        timeout_graceful_shutdown=args.drain_timeout + _SHUTDOWN_MARGIN, http=LimitedHttpProtocol,
    )  # fmt: skip
    if args.workers == 1:
        from .app import create_app

        app = create_app(config, freeze_startup_heap=True, drain_timeout=args.drain_timeout)
        uvicorn.run(app, **options)
        return
    from .app import CONFIG_ENV, DRAIN_TIMEOUT_ENV
    from .metrics import MULTIPROC_ENV

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


def _log_config(level: str) -> dict[str, Any]:
    """Uvicorn's logging, plus imagegen's loggers (request lines, routing events) at `level`."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {**LOGGING_CONFIG, "loggers": dict(LOGGING_CONFIG["loggers"])}
    config["loggers"]["imagegen"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config
