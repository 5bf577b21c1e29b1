"""Gemini's wire format for image output, `:generateContent`, shared by the Gemini API and Vertex AI plugins.

    {"contents": [{"role": "user", "parts": [{"text": …}, {"inlineData": {"mimeType", "data"}}…]}],
     "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio", …}}}
    → {"candidates": [{"content": {"parts": [{"text"} | {"inlineData": {"mimeType", "data"}}]},
                       "finishReason"}], "promptFeedback"?: {"blockReason"}, "usageMetadata": {…}}

Each call makes about one image, so the models declare `max_images_per_call=1` and the core fans a
larger `n` out into concurrent calls. An edit puts its input images after the text, as `inlineData`
parts; Gemini takes no mask. Thinking models (Gemini 3) may answer with interim "thought" parts, text
or images, marked `thought: true`: they are not the answer and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from imagegen.exceptions import ContentPolicyViolationError, InternalServerError
from imagegen.provider import ANY, Allowed, GenerationRequest, IntRange
from imagegen.types import Image, ImageResponse, Usage

from .params import BASIC_QUALITY, aspect_ratio, image_size, native, native_fields

ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
COMMON_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 10),  # one image per call: the core fans out
    "response_format": frozenset({"b64_json"}),  # Gemini answers in base64 only
    "quality": BASIC_QUALITY,
    **native(temperature=ANY, top_p=ANY, seed=IntRange(-(2**31), 2**31 - 1)),
}
"""What every Gemini image model takes on both APIs (those with an aspect ratio add `size`)."""
MAX_INPUT_BYTES = 7 * 1024 * 1024
"""The largest input image sent inline ("7 MB max image", Google's model cards)."""
# Native parameters that belong in `generationConfig.imageConfig`; the others go in `generationConfig`.
IMAGE_CONFIG_PARAMS = frozenset({"imageSize"})
# Finish reasons of a candidate stopped by a safety or policy filter.
BLOCKED_FINISH_REASONS = frozenset(
    {
        "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
        "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
    }
)  # fmt: skip


def generate_content_body(request: GenerationRequest, ratios: Iterable[str] = ASPECT_RATIOS) -> dict[str, Any]:
    """The `:generateContent` body for a checked request (`n` is never sent: it is 1 per call)."""
    # TEXT too: some models refuse IMAGE alone, and the text is the model's account of the image.
    generation_config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    image_config: dict[str, Any] = {}
    if ratio := aspect_ratio(request, ratios):
        image_config["aspectRatio"] = ratio
    if size := image_size(request):
        image_config["imageSize"] = size
    for name, value in native_fields(request).items():
        (image_config if name in IMAGE_CONFIG_PARAMS else generation_config)[name] = value
    if image_config:
        generation_config["imageConfig"] = image_config
    return {
        "contents": [{"role": "user", "parts": content_parts(request)}],
        "generationConfig": generation_config,
    }


def content_parts(request: GenerationRequest) -> list[dict[str, Any]]:
    """The prompt's parts: its text, then an edit's input images inline, in the order given."""
    images = [{"inlineData": {"mimeType": image.media_type, "data": image.b64()}} for image in request.images]
    return [{"text": request.prompt}, *images]


def parse_generate_content_response(
    request: GenerationRequest, response: httpx.Response, service: str
) -> ImageResponse:
    """Images from the candidates' `inlineData` parts, the text parts as `revised_prompt`.

    `service` names the API in messages ("Vertex AI", "The Gemini API").
    """
    body = response.json()
    where = {"provider": request.provider, "model": request.model}
    feedback = body.get("promptFeedback") or {}
    if block_reason := feedback.get("blockReason"):
        detail = feedback.get("blockReasonMessage")
        message = f"{service} blocked the prompt ({block_reason})" + (f": {detail}" if detail else "")
        raise ContentPolicyViolationError(message, filter_results=feedback, body=body, **where)

    inline_images: list[dict[str, Any]] = []
    texts: list[str] = []
    finish_reasons: list[str] = []
    for candidate in body.get("candidates") or ():
        if reason := candidate.get("finishReason"):
            finish_reasons.append(reason)
        for part in (candidate.get("content") or {}).get("parts") or ():
            if part.get("thought"):
                continue  # an interim thought (text or image), not the answer
            if "inlineData" in part:
                inline_images.append(part["inlineData"])
            elif part.get("text"):
                texts.append(part["text"])
    text = "".join(texts).strip() or None

    if not inline_images:
        blocked = [reason for reason in finish_reasons if reason in BLOCKED_FINISH_REASONS]
        if blocked:
            message = f"{service} stopped the image for {', '.join(blocked)}" + (f": {text}" if text else "")
            raise ContentPolicyViolationError(message, filter_results=finish_reasons, **where)
        answer = f"; it answered: {text[:300]}" if text else ""
        raise InternalServerError(
            f"the model returned no image (finish reason {', '.join(finish_reasons) or 'none'}){answer}",
            status_code=502,
            **where,
        )

    images = [
        Image(b64_json=data["data"], revised_prompt=text, **{k: v for k, v in data.items() if k != "data"})
        for data in inline_images
    ]
    extra = {k: v for k, v in body.items() if k not in ("candidates", "usageMetadata", "promptFeedback")}
    return ImageResponse(data=images, usage=_usage(body.get("usageMetadata")), **extra)


def _usage(metadata: dict[str, Any] | None) -> Usage | None:
    """Gemini's token counts (`usageMetadata`), split into text and image tokens (they are priced differently)."""
    if not metadata:
        return None
    prompt_tokens = int(metadata.get("promptTokenCount", 0))
    thought_tokens = int(metadata.get("thoughtsTokenCount", 0))  # billed as text output
    output_tokens = int(metadata.get("candidatesTokenCount", 0)) + thought_tokens
    prompt_by_modality = _by_modality(metadata.get("promptTokensDetails"))
    output_by_modality = _by_modality(metadata.get("candidatesTokensDetails"))
    image_in = prompt_by_modality.get("IMAGE", 0)
    text_out = output_by_modality.get("TEXT", 0) + thought_tokens
    return Usage.model_validate(
        {
            "input_tokens": prompt_tokens,
            "output_tokens": output_tokens,
            "total_tokens": int(metadata.get("totalTokenCount", prompt_tokens + output_tokens)),
            "input_tokens_details": {"text_tokens": prompt_tokens - image_in, "image_tokens": image_in},
            "output_tokens_details": {"text_tokens": text_out, "image_tokens": output_tokens - text_out},
        }
    )


def _by_modality(details: list[dict[str, Any]] | None) -> dict[str, int]:
    return {item.get("modality", ""): int(item.get("tokenCount", 0)) for item in details or ()}
