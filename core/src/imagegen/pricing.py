"""What a generation costs in USD: the provider's own figure, list prices from `prices.json`, or a
deployment's own prices.

A model is priced per token (the GPT image models: text input, image input and image output
tokens, from `response.usage`), per megapixel of output (FLUX.2, fal: each image's own size when the
provider reports it, else the size asked for), or per image by rules on quality, style, pixel count and
diffusion steps. A cost the provider reports in its answer (`ImageResponse.reported_cost`) is preferred
to the list price. A model without a price costs None, with one warning per model: never a made-up 0.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from .params import parse_size
from .types import Image, ImageResponse, Usage

logger = logging.getLogger("imagegen")

OVERRIDE_KEYS = frozenset(
    {
        "output_cost_per_image",
        "input_cost_per_token",
        "input_cost_per_image_token",
        "output_cost_per_image_token",
        "output_cost_per_token",
    }
)
"""`model_info` keys (LiteLLM's names) that give a deployment its own prices instead of the list price."""


@dataclass(frozen=True)
class ImageRule:
    """One per-image price: `usd` for each image when every condition given holds.

    `when`: other parameters' values that must hold (e.g. `{"resolution": {"2k"}}`).
    """

    usd: float
    quality: frozenset[str] | None = None
    max_pixels: int | None = None
    max_steps: int | None = None
    style: frozenset[str] | None = None
    """Styles the rule applies to; a listed style covers its substyles (`vector_illustration/line_art`)."""
    when: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def matches(self, quality: str | None, pixels: int | None, steps: int | None, values: Mapping[str, Any]) -> bool:
        style = values.get("style")
        return (
            (self.quality is None or quality in self.quality)
            and (self.max_pixels is None or (pixels is not None and pixels <= self.max_pixels))
            and (self.max_steps is None or (steps is not None and steps <= self.max_steps))
            and (self.style is None or (isinstance(style, str) and style.partition("/")[0] in self.style))
            and all(values.get(name) in allowed for name, allowed in self.when.items())
        )


@dataclass(frozen=True)
class MegapixelRule:
    """A price by output resolution: `usd` per megapixel, or `first` for the first megapixel and `usd` for
    each further one (FLUX.2). A megapixel is `pixels` pixels; `round_up` bills whole megapixels (fal)."""

    usd: float
    first: float | None = None
    pixels: int = 1_000_000
    round_up: bool = False

    def cost(self, pixels: int) -> float:
        megapixels = pixels / self.pixels
        if self.round_up:
            megapixels = math.ceil(megapixels)
        if self.first is None:
            return self.usd * megapixels
        return self.first + self.usd * max(megapixels - 1, 0)


@dataclass(frozen=True)
class ModelPrice:
    """How one model is priced: per token (when the response reports usage) and/or per image."""

    per_token: Mapping[str, float] = field(default_factory=dict)
    per_image: tuple[ImageRule, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    per_megapixel: MegapixelRule | None = None

    @classmethod
    def from_table(cls, entry: Mapping[str, Any]) -> ModelPrice:
        rules = tuple(
            ImageRule(
                usd=float(rule["usd"]),
                quality=frozenset(rule["quality"]) if "quality" in rule else None,
                max_pixels=rule.get("max_pixels"),
                max_steps=rule.get("max_steps"),
                style=frozenset(rule["style"]) if "style" in rule else None,
                when={name: frozenset(allowed) for name, allowed in rule.get("when", {}).items()},
            )
            for rule in entry.get("per_image", ())
        )
        megapixel = entry.get("per_megapixel")
        return cls(
            per_token=entry.get("per_token", {}),
            per_image=rules,
            defaults=entry.get("defaults", {}),
            per_megapixel=MegapixelRule(**megapixel) if megapixel else None,
        )

    @classmethod
    def from_model_info(cls, model_info: Mapping[str, Any]) -> ModelPrice:
        """A deployment's own prices, from LiteLLM-style `model_info` keys (see `OVERRIDE_KEYS`)."""
        token_keys = {
            "text_input": "input_cost_per_token",
            "image_input": "input_cost_per_image_token",
            "image_output": "output_cost_per_image_token",
            "text_output": "output_cost_per_token",
        }
        per_token = {
            name: float(model_info[key]) for name, key in token_keys.items() if model_info.get(key) is not None
        }
        per_image = model_info.get("output_cost_per_image")
        return cls(per_token=per_token, per_image=(ImageRule(float(per_image)),) if per_image is not None else ())

    def cost(self, response: ImageResponse, params: Mapping[str, Any]) -> float | None:
        if self.per_token and _has_tokens(response.usage):
            assert response.usage is not None
            return _token_cost(self.per_token, response.usage)
        pixels = _pixels(params) or _pixels(self.defaults)
        if self.per_megapixel is not None:
            sizes = [_image_pixels(image) or pixels for image in response.data]
            if None not in sizes:
                megapixel = self.per_megapixel
                return sum(megapixel.cost(size) for size in sizes if size is not None)
        quality = params.get("quality", self.defaults.get("quality"))
        steps = params.get("steps", self.defaults.get("steps"))
        values = {**self.defaults, **params}
        for rule in self.per_image:
            if rule.matches(quality, pixels, steps, values):
                return rule.usd * len(response.data)
        return None


def _has_tokens(usage: Usage | None) -> bool:
    return usage is not None and (usage.input_tokens > 0 or usage.output_tokens > 0)


def _token_cost(prices: Mapping[str, float], usage: Usage) -> float:
    input_details = usage.input_tokens_details or {}
    image_in = input_details.get("image_tokens", 0)
    # Without a breakdown, every input token is text (a text-to-image prompt).
    text_in = input_details.get("text_tokens", 0) or usage.input_tokens - image_in
    output_details = getattr(usage, "output_tokens_details", None) or {}
    text_out = output_details.get("text_tokens", 0) if "text_output" in prices else 0
    image_out = usage.output_tokens - text_out
    return (
        text_in * prices.get("text_input", 0.0)
        + image_in * prices.get("image_input", prices.get("text_input", 0.0))
        + image_out * prices.get("image_output", 0.0)
        + text_out * prices.get("text_output", 0.0)
    )


def _pixels(params: Mapping[str, Any]) -> int | None:
    size = params.get("size")
    if isinstance(size, str):
        try:
            width, height = parse_size(size)
        except ValueError:  # "auto": the provider picks
            return None
        return width * height
    native_width: Any = params.get("width")
    native_height: Any = params.get("height")
    if isinstance(native_width, int) and isinstance(native_height, int):
        return native_width * native_height
    return None


def _image_pixels(image: Image) -> int | None:
    """The size of a generated image, when the provider reports it (`width` and `height`, as fal does)."""
    extra = image.model_extra or {}
    width, height = extra.get("width"), extra.get("height")
    return width * height if isinstance(width, int) and isinstance(height, int) else None


@cache
def _price_table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("imagegen").joinpath("prices.json").read_text("utf-8"))
    return data


@lru_cache(maxsize=1024)
def price_of(provider: str, model: str, base_model: str | None = None) -> ModelPrice | None:
    """The list price of `provider/model` (or of its `base_model`), or None if imagegen has none.

    A provider in the table's `aliases` (azure → openai) charges the other's prices. Which model an
    alias, an inference profile, an ARN or an Azure deployment stands for is the plugin's to say (its
    ModelSpec), passed here as `base_model`.
    """
    table = _price_table()
    alias = table["aliases"].get(provider)
    tables = [t for t in (table.get(provider), table.get(alias) if alias else None) if t]
    names = [name for name in (base_model, model) if name]
    for name in names:
        for models in tables:
            if name in models:
                return ModelPrice.from_table(models[name])
    return None


def price_for(
    provider: str, model: str, *, base_model: str | None = None, model_info: Mapping[str, Any] | None = None
) -> ModelPrice | None:
    """What a call is charged: a deployment's own prices (`model_info`) when it gives some, else the list
    price of its model (`model_info.base_model`, else `base_model`, else `model`)."""
    model_info = model_info or {}
    if OVERRIDE_KEYS & model_info.keys():
        return ModelPrice.from_model_info(model_info)
    return price_of(provider, model, model_info.get("base_model") or base_model)


_warned: set[tuple[str, str]] = set()


def cost_of(
    provider: str,
    model: str,
    params: Mapping[str, Any],
    response: ImageResponse,
    *,
    base_model: str | None = None,
    model_info: Mapping[str, Any] | None = None,
) -> float | None:
    """The cost in USD of `response`, or None (logged once per model) when there is no price.

    `params` are the call's parameters (`quality`, `size`, `steps`, …); `model_info` may carry a
    deployment's own prices (`output_cost_per_image`, `input_cost_per_token`, …), which replace
    the list price, and a `base_model`. Without a deployment's own prices, the cost the provider
    reported in its answer is the cost.
    """
    if response.reported_cost is not None and not OVERRIDE_KEYS & (model_info or {}).keys():
        return round(response.reported_cost, 10)
    price = price_for(provider, model, base_model=base_model, model_info=model_info)
    cost = price.cost(response, params) if price is not None else None
    if cost is None:
        if (provider, model) not in _warned:
            _warned.add((provider, model))
            logger.warning(
                "imagegen has no price for %s/%s with these parameters: its cost is reported as None "
                "(give the deployment model_info.output_cost_per_image to price it)",
                provider,
                model,
            )
        return None
    return round(cost, 10)
