"""The Gemini image models, one table for both Google plugins (the Gemini API's and Vertex AI's), and the
`ModelSpec` each builds from an entry (Google's model cards; /work/shared/reference/provider-edit-apis.md
§2.4 and §4, more-providers.md §1.3).

Each call makes one image (`n` fans out); an edit sends its input images as parts of the prompt, with no mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from imagegen.provider import ANY, Allowed, ModelSpec, OperationSpec

from .generate_content import ASPECT_RATIOS, COMMON_PARAMS, MAX_INPUT_BYTES
from .params import SIZED_QUALITY, native

GEMINI = "gemini"


@dataclass(frozen=True)
class GeminiImageModel:
    """One Gemini image model: `aspect_ratios` that `size` maps to (None: it takes none), the `image_size`
    resolutions it offers (and so OpenAI's `quality`), how many input images an edit takes, and whether Vertex
    AI serves it only in the `global` location."""

    name: str
    aliases: tuple[str, ...] = ()
    max_input_images: int = 3
    aspect_ratios: tuple[str, ...] | None = ASPECT_RATIOS
    image_sizes: frozenset[str] | None = None
    global_only: bool = False

    def spec(self, refused: Mapping[str, Allowed] | None = None) -> ModelSpec:
        """Its spec; `refused`: parameters the plugin lists only to refuse them with a reason of its own."""
        params: dict[str, Allowed] = {**COMMON_PARAMS}
        if self.aspect_ratios is not None:
            params["size"] = ANY  # any WIDTHxHEIGHT, mapped to the nearest aspect ratio
        if self.image_sizes is not None:
            params.update({"quality": SIZED_QUALITY, **native(image_size=self.image_sizes)})
        params.update(refused or {})
        # An edit sends the images as parts of the prompt; there is no mask (the core refuses one).
        edit = OperationSpec(params, max_images=self.max_input_images, max_bytes=MAX_INPUT_BYTES)
        return ModelSpec(self.name, params, max_images_per_call=1, aliases=self.aliases, family=GEMINI, edit=edit)


# Gemini 3.1 Flash Image adds four extreme ratios and a 512-pixel size (second-hand: TanStack AI, Puter).
FLASH_31_ASPECT_RATIOS = (*ASPECT_RATIOS, "1:4", "4:1", "1:8", "8:1")

GEMINI_2_0_FLASH_IMAGE = GeminiImageModel("gemini-2.0-flash-preview-image-generation", aspect_ratios=None)
# "Works best with up to 3 images as input" (ai.google.dev); Vertex's model card: at most 3.
GEMINI_2_5_FLASH_IMAGE = GeminiImageModel("gemini-2.5-flash-image", aliases=("gemini-2.5-flash-image-preview",))
# Vertex's model card: at most 14 input images, "global only".
GEMINI_3_PRO_IMAGE = GeminiImageModel(
    "gemini-3-pro-image-preview",
    aliases=("gemini-3-pro-image",),
    max_input_images=14,
    image_sizes=frozenset({"1K", "2K", "4K"}),
    global_only=True,
)
GEMINI_3_1_FLASH_IMAGE = GeminiImageModel(
    "gemini-3.1-flash-image-preview",
    aliases=("gemini-3.1-flash-image",),
    max_input_images=14,
    aspect_ratios=FLASH_31_ASPECT_RATIOS,
    image_sizes=frozenset({"512", "1K", "2K", "4K"}),
)

IMAGE_MODELS: Mapping[str, GeminiImageModel] = {
    model.name: model
    for model in (GEMINI_2_0_FLASH_IMAGE, GEMINI_2_5_FLASH_IMAGE, GEMINI_3_PRO_IMAGE, GEMINI_3_1_FLASH_IMAGE)
}


def aspect_ratios_of(name: str) -> tuple[str, ...]:
    """The aspect ratios a listed Gemini model's `size` maps to (Gemini's usual ten for any other)."""
    model = IMAGE_MODELS.get(name)
    return model.aspect_ratios if model is not None and model.aspect_ratios is not None else ASPECT_RATIOS
