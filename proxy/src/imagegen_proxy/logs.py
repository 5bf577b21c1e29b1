"""The proxy's log lines: uvicorn's text, or one JSON object per line (`imagegen serve --log-format json`).

A JSON line has `time` (UTC, ISO 8601), `level`, `logger`, `message`, the request's `request_id` when
it was logged while serving one, and whatever fields the line carries (a request's `operation`,
`key_alias`, `model_group`, `deployment`, `provider`, `status`, `latency_ms`, `cost`, `images`; a refused
one's error `code`).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from .observability import current_request_id

FIELDS = (
    "request_id", "operation", "key_alias", "model_group", "deployment", "provider", "status", "images", "latency_ms",
    "cost", "code",
)  # fmt: skip


class RequestIdFilter(logging.Filter):
    """Puts the id of the request being served (if any) on every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((name, value) for name in FIELDS if (value := getattr(record, name, None)) is not None)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
