"""xAI's image models and what each accepts (docs.x.ai; /work/shared/reference/more-providers.md §2).

xAI takes no `size` (it answers 400 "Argument not supported: size"), no `style`, and `quality` only on
grok-imagine-image-2.0 (a price tier): the shape is `aspect_ratio` and `resolution` instead.
"""

from __future__ import annotations

from imagegen.provider import ANY, Allowed, IntRange, ModelSpec

ASPECT_RATIOS = frozenset(
    {"1:1", "3:4", "4:3", "9:16", "16:9", "2:3", "3:2", "9:19.5", "19.5:9", "9:20", "20:9", "1:2", "2:1", "auto"}
)
_PARAMS: dict[str, Allowed] = {
    "n": IntRange(1, 10),
    "response_format": frozenset({"url", "b64_json"}),
    "user": ANY,
    "aspect_ratio": ASPECT_RATIOS,
    "resolution": frozenset({"1k", "2k"}),
    "size": ANY,  # refused (or dropped) in `map_params` with a pointer to aspect_ratio
}


def _grok(name: str, *aliases: str, quality: bool = False) -> ModelSpec:
    params = {**_PARAMS, "quality": frozenset({"low", "medium", "high"})} if quality else _PARAMS
    return ModelSpec(name, params, aliases=aliases, family="grok")


MODELS: tuple[ModelSpec, ...] = (
    _grok("grok-imagine-image", "grok-imagine-image-beta"),
    _grok("grok-imagine-image-quality"),
    _grok("grok-imagine-image-2.0", quality=True),
    # xAI no longer accepts the bare `grok-2-image` alias (vercel/ai#12174): it is sent as grok-2-image-1212.
    _grok("grok-2-image-1212", "grok-2-image"),
)
