"""Azure's own error answers: content-filter rejections and unknown deployments.

Azure spells a content-filter rejection several ways: on images, `code` `content_policy_violation`
with `inner_error: {code: ResponsibleAIPolicyViolation, content_filter_results, revised_prompt}`,
or `contentFilter` (prompt or generated image filtered); elsewhere `content_filter` with
`innererror.content_filter_result`. Anything else is OpenAI's error body, mapped by the core.
"""

from __future__ import annotations

from typing import Any

import httpx

from imagegen.exceptions import ContentPolicyViolationError, ImageGenError, NotFoundError
from imagegen.provider import GenerationRequest

CONTENT_FILTER_CODES = frozenset({"content_policy_violation", "contentFilter", "content_filter", "moderation_blocked"})
POLICY_VIOLATION = "ResponsibleAIPolicyViolation"


def azure_error(request: GenerationRequest, response: httpx.Response) -> ImageGenError | None:
    """The error for Azure's content-filter and DeploymentNotFound answers; None for the core default."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    code = None if error.get("code") is None else str(error["code"])
    inner = error.get("inner_error") or error.get("innererror")
    inner = inner if isinstance(inner, dict) else {}
    message = str(error.get("message") or f"HTTP {response.status_code}")
    where: dict[str, Any] = dict(
        provider=request.provider,
        model=request.model,
        status_code=response.status_code,
        code=code,
        param=None if error.get("param") is None else str(error["param"]),
        body=body,
        secrets=_credentials_sent(response),
    )
    if code in CONTENT_FILTER_CODES or inner.get("code") == POLICY_VIOLATION:
        filter_results = inner.get("content_filter_results") or inner.get("content_filter_result")
        return ContentPolicyViolationError(message, filter_results=filter_results, **where)
    if code == "DeploymentNotFound":
        hint = f" (the model string is azure/<deployment name>; no deployment is named {request.model!r})"
        return NotFoundError(message + hint, **where)
    return None


def _credentials_sent(response: httpx.Response) -> list[str]:
    # The request's own headers hold every credential used, even a token fetched for this attempt.
    headers = response.request.headers
    return [headers.get("api-key", ""), headers.get("authorization", "").removeprefix("Bearer ")]
