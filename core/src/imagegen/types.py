"""What a call returns: OpenAI's `ImagesResponse` shape (plus whatever else the provider sent), and the
events of a streamed call: OpenAI's `ImageGenStreamEvent` / `ImageEditStreamEvent`."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class Image(BaseModel):
    """One generated image: base64 data or a URL, and the prompt the model actually used.

    `expires_at`: for a URL, the unix time it stops working, when the provider says (signed URLs
    often last minutes: download them promptly, or ask for `response_format="b64_json"`).
    """

    model_config = ConfigDict(extra="allow")

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None
    expires_at: int | None = None

    def image_bytes(self) -> bytes:
        """The decoded image; raises ValueError for URL results (download those yourself)."""
        if self.b64_json is None:
            raise ValueError("this image was returned as a URL; download it from `image.url`")
        return base64.b64decode(self.b64_json)


class Usage(BaseModel):
    """Token usage, as OpenAI reports it for the GPT image models."""

    model_config = ConfigDict(extra="allow")

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_tokens_details: dict[str, int] = Field(default_factory=lambda: {"text_tokens": 0, "image_tokens": 0})

    @classmethod
    def total(cls, usages: Iterable[Usage | None]) -> Usage | None:
        """The usages added up key by key (a fanned-out or streamed answer's parts); None when there is none."""
        present = [usage for usage in usages if usage is not None]
        if len(present) <= 1:
            return present[0] if present else None  # nothing to add up: the one usage as it is
        return cls.model_validate(_sum_counts([usage.model_dump() for usage in present]))


class ImageResponse(BaseModel):
    """An OpenAI-compatible image generation response.

    Serialises exactly as OpenAI's `ImagesResponse` (plus any extra fields the provider returned).
    `provider`, `model`, `warnings` and `cost` are available but never serialised.
    `reported_cost`: what the provider's answer says the images cost, in USD (a plugin sets it when its
    provider reports one, e.g. BFL's `cost`); `cost` prefers it to the list price. Never serialised.
    """

    model_config = ConfigDict(extra="allow")

    created: int = Field(default_factory=lambda: int(time.time()))
    data: list[Image] = Field(default_factory=list)
    usage: Usage | None = None
    reported_cost: float | None = Field(default=None, exclude=True)

    _provider: str | None = PrivateAttr(default=None)
    _model: str | None = PrivateAttr(default=None)
    _warnings: list[str] = PrivateAttr(default_factory=list)
    _cost: float | None = PrivateAttr(default=None)

    @property
    def provider(self) -> str | None:
        """The provider prefix that served this response (`openai`, `bedrock`, …)."""
        return self._provider

    @property
    def model(self) -> str | None:
        """The resolved model id, without the provider prefix."""
        return self._model

    @property
    def warnings(self) -> list[str]:
        """What imagegen changed on the way (a dropped parameter, a nearest-size substitution)."""
        return self._warnings

    @property
    def cost(self) -> float | None:
        """The cost in USD when known; None when imagegen has no price for the model."""
        return self._cost

    def _annotate(self, provider: str, model: str, warnings: list[str], cost: float | None = None) -> None:
        self._provider, self._model, self._warnings, self._cost = provider, model, warnings, cost

    @classmethod
    def merge(cls, parts: list[ImageResponse]) -> ImageResponse:
        """One response from several (a fanned-out request); extra fields come from the first."""
        first = parts[0]
        merged = first.model_copy()
        merged.data = [image for part in parts for image in part.data]
        merged.usage = Usage.total(part.usage for part in parts)
        reported = [part.reported_cost for part in parts]
        # Only a cost every part reported is the whole's: otherwise the list price prices all of it.
        merged.reported_cost = None if None in reported else sum(cost for cost in reported if cost is not None)
        return merged

    def __repr_args__(self) -> Any:
        # Never print megabytes of base64: show its length instead.
        for name, value in super().__repr_args__():
            if name == "data":
                value = [_short_image(image) for image in value]
            yield name, value


def _sum_counts(counts: list[dict[str, Any]]) -> dict[str, Any]:
    """Token counts added up key by key, nested details included (`output_tokens_details`, …)."""
    total: dict[str, Any] = {}
    for key in dict.fromkeys(key for count in counts for key in count):
        values = [count[key] for count in counts if count.get(key) is not None]
        if values and all(isinstance(v, dict) for v in values):
            total[key] = _sum_counts(values)
        elif values and all(isinstance(v, int) for v in values):
            total[key] = sum(values)
        elif values:
            total[key] = values[0]
    return total


def _short_image(image: Image) -> Image:
    if image.b64_json and len(image.b64_json) > 64:
        return image.model_copy(update={"b64_json": f"<{len(image.b64_json)} base64 chars>"})
    return image


class ImageStreamEventBase(BaseModel):
    """What every image event carries (OpenAI's fields); `type` names the event."""

    model_config = ConfigDict(extra="allow")

    type: str
    b64_json: str
    created_at: int = Field(default_factory=lambda: int(time.time()))
    size: str = "auto"
    quality: str = "auto"
    background: str = "auto"
    output_format: str = "png"

    def image_bytes(self) -> bytes:
        return base64.b64decode(self.b64_json)

    @property
    def operation(self) -> str:
        """`image_generation` or `image_edit`: the part of `type` before the dot."""
        return self.type.partition(".")[0]

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, f"<{len(value)} base64 chars>" if name == "b64_json" and len(value) > 64 else value


class PartialImageEvent(ImageStreamEventBase):
    """An image still being made: `image_generation.partial_image` or `image_edit.partial_image`."""

    type: Literal["image_generation.partial_image", "image_edit.partial_image"]
    partial_image_index: int


class CompletedImageEvent(ImageStreamEventBase):
    """A finished image, with the call's token `usage`: `image_generation.completed` or `image_edit.completed`."""

    type: Literal["image_generation.completed", "image_edit.completed"]
    usage: Usage = Field(default_factory=Usage)


ImageStreamEvent = PartialImageEvent | CompletedImageEvent
"""One event of a streamed call; serialises exactly as OpenAI's image stream events."""
