"""`CallRecord`: what callbacks are told about one call. A stable contract: fields are added, never
renamed or removed, within a major version.

A record never holds a credential (settings are not parameters), image bytes (input images are counted,
long strings are shortened) or, unless the application opted in (`imagegen.log_prompts = True`, or the
proxy's `general_settings.store_prompts`), the prompt.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["started", "success", "failure", "cancelled"]
MAX_PARAM_CHARS = 1024
"""A string parameter longer than this (base64 image data, most often) is recorded by its length only."""


@dataclass(kw_only=True)
class CallRecord:
    """One call (a generation, an edit or a variation), as callbacks see it.

    `on_request` gets it with `status="started"` once the call is checked and about to be sent;
    `on_success` with `status="success"` and the outcome; `on_failure` with `status="failure"` (an
    error; `error_class`, `error_message`, `status_code`) or `"cancelled"` (the caller left: a stream
    closed early, a task cancelled). Times are UTC; durations in milliseconds.
    """

    call_id: str
    """Unique per call (hex)."""
    operation: str
    """`generation`, `edit` or `variation`."""
    status: Status = "started"
    provider: str | None = None
    """The plugin's prefix (`openai`, `bedrock`, …); None if the call failed before routing."""
    model: str | None = None
    """The model id, without the prefix."""
    base_model: str | None = None
    """The model whose rules and price apply (behind an alias, a profile or an Azure deployment)."""
    params: dict[str, Any] = field(default_factory=dict)
    """The parameters sent, as checked (`n`, `size`, `quality`, native ones): no settings, no credentials."""
    input_images: int = 0
    """How many input images an edit or a variation sent (their bytes are never recorded)."""
    mask: bool = False
    stream: bool = False
    prompt: str | None = None
    """The prompt, only when the application opted in; else None."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """The caller's `metadata`: never sent upstream."""
    mock: bool = False
    """The answer was a `mock_response`: nothing was sent."""
    start_time: datetime
    end_time: datetime | None = None
    latency_ms: float | None = None
    time_to_first_event_ms: float | None = None
    """A stream's time from the call's start to its first event."""
    images: int = 0
    """Images generated; on failure, those made all the same (a stream's, before it was closed or broke)."""
    usage: dict[str, Any] | None = None
    """The provider's token usage, where it reports one."""
    cost: float | None = None
    """USD, as `ImageResponse.cost`: None when imagegen has no price for the model. On failure, what was
    spent all the same (a stream closed early: the images it had made)."""
    retries: int = 0
    """Upstream requests sent again after a failed attempt (the core's retries of every part)."""
    polls: int = 0
    """Polls of a job (submit, then poll)."""
    warnings: list[str] = field(default_factory=list)
    error_class: str | None = None
    """The exception's class name (`RateLimitError`, …) on failure."""
    error_message: str | None = None
    """Its message (credentials masked)."""
    status_code: int | None = None
    """The HTTP status of the error, where there was one."""
    request_id: str | None = None
    """Set by the proxy: the request's `x-request-id` (one request may make several calls)."""
    key_alias: str | None = None
    """Set by the proxy: the virtual key's alias."""
    key_hash: str | None = None
    """Set by the proxy: the virtual key's hash (never the key)."""
    model_group: str | None = None
    """Set by the proxy: the model group that served the call."""
    deployment: str | None = None
    """Set by the proxy: the deployment's id."""

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON-ready values (times in ISO 8601)."""
        values = dataclasses.asdict(self)
        for name in ("start_time", "end_time"):
            if values[name] is not None:
                values[name] = values[name].isoformat()
        return values


def recordable(params: dict[str, Any]) -> dict[str, Any]:
    """`params` fit for a record: no bytes or files, long strings by their length only."""
    kept: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, bytes | bytearray | memoryview) or hasattr(value, "read"):
            continue
        if isinstance(value, str) and len(value) > MAX_PARAM_CHARS:
            value = f"<{len(value)} characters>"
        kept[name] = value
    return kept
