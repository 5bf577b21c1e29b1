"""How the proxy's processes are laid out: facts that the server, the command and the keys all read."""

from __future__ import annotations

import os

CONFIG_ENV = "IMAGEGEN_PROXY_CONFIG"
"""The config file a worker process loads (`imagegen serve` sets it for `--workers N`)."""
DRAIN_TIMEOUT_ENV = "IMAGEGEN_PROXY_DRAIN_TIMEOUT"
"""A worker process's drain timeout in seconds (`imagegen serve --drain-timeout`, for `--workers N`)."""
DEFAULT_DRAIN_TIMEOUT = 60.0
"""Seconds the requests in flight get to finish after SIGTERM: about one image at a slow model."""


def several_workers() -> bool:
    """Whether this process is one of several workers (`imagegen serve --workers N` names the config in
    `IMAGEGEN_PROXY_CONFIG` for its workers; uvicorn's own `--workers` reads `WEB_CONCURRENCY`)."""
    concurrency = os.environ.get("WEB_CONCURRENCY", "1")
    return CONFIG_ENV in os.environ or (concurrency.isdigit() and int(concurrency) > 1)
