"""A strict fake of the Gemini API's image endpoints, and the Google wire formats it shares with the Vertex fake.

`FakeGemini` serves `POST /v1beta/models/{model}:generateContent` (Gemini image models) and `:predict`
(Imagen, deprecated: `imagen_served = False` answers as Google does now that it is shut down), from
ai.google.dev and the reference (more-providers.md §1, provider-edit-apis.md §4):

- the key in the `x-goog-api-key` header; a wrong one is Google's 400 `API_KEY_INVALID`, a missing one its 403.
  The real API also takes `?key=` in the URL: this fake refuses it, so that a key in a URL fails the tests;
- `generationConfig` fields and `imageConfig` per model (uppercase `imageSize`, the model's aspect ratios);
  the Vertex-only `imageConfig` keys (`outputMimeType`, `personGeneration`, …) are unknown fields here;
- input images as `inlineData` parts (PNG, JPEG, WEBP, 7 MB each, the model's count), 20 MB per request;
- Imagen `parameters` without what only Vertex takes (`seed`, `negativePrompt`, `addWatermark`, `enhancePrompt`);
- Google's error body `{"error": {"code", "message", "status", "details"?}}`.

`GenerateContentFake` is the `:generateContent` and Imagen-generation behaviour both Google fakes share:
`filter_images = k` filters the first k images, `block_prompt = "SAFETY"` blocks the prompt,
`thoughts_tokens = k` reports k thinking tokens, `thought_images = k` answers k interim thought images first;
`content_policy_as` says how `fail_next("content_policy")` looks: Imagen's 400 or Gemini's blocked prompt.
"""

from __future__ import annotations

import re
import secrets
from typing import Any, ClassVar

from PIL import Image

from imagegen.testing import TINY_PNG_B64, FakeRequest, FakeResponse, FakeUpstream

from .images import decode_b64_image

API_KEY = "AIzaSy-test-" + secrets.token_hex(12)
MB = 1024 * 1024
MAX_REQUEST_BYTES = 20 * MB


def google_error(
    code: int, status: str, message: str, reason: str | None = None, details: list[dict[str, Any]] | None = None
) -> FakeResponse:
    """Google's error body; with a `reason`, the `google.rpc.ErrorInfo` detail that carries it; `details`: more."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if reason is not None:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    if details:
        error["details"] = error.get("details", []) + details
    return FakeResponse(code, {"error": error})


def quota_details(retry_delay: str) -> list[dict[str, Any]]:
    """What the Gemini API adds to a 429: which quota ran out, and how long to wait (a protobuf Duration)."""
    return [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}],
        },
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay},
    ]  # fmt: skip


def invalid_field(name: str, where: str) -> FakeResponse:
    return google_error(400, "INVALID_ARGUMENT", f'Invalid JSON payload received. Unknown name "{name}" at \'{where}\': Cannot find field.')  # fmt: skip


def blocked_prompt(reason: str = "PROHIBITED_CONTENT") -> FakeResponse:
    """Gemini's answer to a prompt it blocks: a 200 with `promptFeedback.blockReason` and no candidate."""
    return FakeResponse(200, {"promptFeedback": {"blockReason": reason}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}})  # fmt: skip


BOOL = (bool,)


def accepts(rule: Any, value: Any) -> bool:
    if isinstance(rule, range):
        return isinstance(value, int) and not isinstance(value, bool) and value in rule
    if isinstance(rule, set):
        return value in rule
    if rule is BOOL:
        return isinstance(value, bool)
    return isinstance(value, rule) and not isinstance(value, bool)


class InvalidArgument(Exception):
    """A 400 INVALID_ARGUMENT with this message."""


def decode_image(value: Any, where: str, max_bytes: int = 10 * MB) -> Image.Image:
    """A base64 image from a request, decoded, or Google's INVALID_ARGUMENT."""
    try:
        data, image = decode_b64_image(value)
    except ValueError:
        raise InvalidArgument(f"{where}: Image is not valid. Provide a PNG or JPEG image.") from None
    if len(data) > max_bytes:
        raise InvalidArgument(f"{where}: Image is larger than {max_bytes // MB} MB.")
    return image


def check_parameters(parameters: Any, rules: dict[str, Any], where: str = "parameters") -> None:
    if not isinstance(parameters, dict):
        raise InvalidArgument(f"{where} must be an object.")
    for name, value in parameters.items():
        if name not in rules:
            raise InvalidArgument(
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
            )
        if not accepts(rules[name], value):
            raise InvalidArgument(f"Invalid value for parameter {name}: {value!r}.")


# What Imagen accepts in `parameters` on both APIs (names and enums from the Imagen API reference).
IMAGEN_RATIOS = {"1:1", "3:4", "4:3", "9:16", "16:9"}
IMAGEN_PARAMETERS: dict[str, Any] = {
    "sampleCount": range(1, 5),
    "aspectRatio": IMAGEN_RATIOS,
    "personGeneration": {"dont_allow", "allow_adult", "allow_all"},
    "safetySetting": {"block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"},
    "language": {"auto", "en", "zh", "zh-CN", "zh-TW", "hi", "ja", "ko", "pt", "es"},
    "includeRaiReason": BOOL,
    "includeSafetyAttributes": BOOL,
    "outputOptions": dict,
}
GEMINI_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
GENERATION_CONFIG_FIELDS = {
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences", "presencePenalty",
    "frequencyPenalty", "seed", "responseMimeType", "responseModalities", "imageConfig", "thinkingConfig",
}  # fmt: skip
GEMINI_INPUT_TYPES = {"image/png", "image/jpeg", "image/webp"}
RAI_MESSAGE = (
    "Image generation failed with the following error: The prompt could not be submitted. This prompt "
    "contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the prompt. "
    "If you think this was an error, send feedback. Support codes: 42876398"
)
IMAGE_TOKENS = 258  # what Gemini counts for a small input image


class GenerateContentFake(FakeUpstream):
    """Gemini's `:generateContent` and Imagen's generation through `:predict`, as both Google APIs serve them."""

    IMAGE_CONFIG: ClassVar[dict[str, dict[str, set[str]]]]
    """Each Gemini model's `imageConfig` fields and their values."""
    INPUT_IMAGES: ClassVar[dict[str, int]]
    """The most input images each Gemini model takes."""
    BODY_FIELDS: ClassVar[set[str]]
    """The top-level fields of a `:generateContent` body."""

    def __init__(self, content_policy_as: str) -> None:
        super().__init__()
        self.filter_images = 0
        self.block_prompt: str | None = None
        self.thoughts_tokens = 0
        self.thought_images = 0
        self.content_policy_as = content_policy_as
        """How `fail_next("content_policy")` looks: Imagen's 400 or Gemini's 200 with a blocked prompt."""

    def content_policy_error(self) -> FakeResponse:
        if self.content_policy_as == "gemini":
            return blocked_prompt()
        return google_error(400, "INVALID_ARGUMENT", RAI_MESSAGE)

    def image_tokens(self, model: str, image_config: dict[str, Any]) -> int:
        """The output tokens of one generated image."""
        return 1290

    def response_fields(self, model: str) -> dict[str, Any]:
        """The answer's fields besides `candidates` and `usageMetadata`."""
        return {"modelVersion": model, "responseId": secrets.token_hex(8)}

    def usage_fields(self) -> dict[str, Any]:
        return {}

    def generate_content(self, model: str, body: dict[str, Any]) -> FakeResponse:
        for name in body:
            if name not in self.BODY_FIELDS:
                return invalid_field(name, "")
        contents = body.get("contents")
        if not contents or not isinstance(contents, list):
            return google_error(400, "INVALID_ARGUMENT", "Unable to submit request because it must have a text parameter. Add a text parameter and try again.")  # fmt: skip
        parts = contents[-1].get("parts") or []
        prompt = " ".join(part.get("text", "") for part in parts)
        images = [part["inlineData"] for part in parts if "inlineData" in part]
        for i, part in enumerate(parts):
            if len(set(part) & {"text", "inlineData", "fileData"}) != 1 or set(part) - {
                "text",
                "inlineData",
                "fileData",
                "thoughtSignature",
            }:
                return google_error(400, "INVALID_ARGUMENT", f"contents.parts[{i}]: a part holds exactly one of text, inlineData or fileData.")  # fmt: skip
        if len(images) > self.INPUT_IMAGES[model]:
            return google_error(400, "INVALID_ARGUMENT", f"Too many images in the request: {len(images)}; {model} accepts at most {self.INPUT_IMAGES[model]}.")  # fmt: skip
        for i, inline in enumerate(images):
            if set(inline) != {"mimeType", "data"} or inline["mimeType"] not in GEMINI_INPUT_TYPES:
                return google_error(400, "INVALID_ARGUMENT", f"Unsupported MIME type: {inline.get('mimeType')}")
            try:
                decoded = decode_image(inline["data"], f"inlineData[{i}]", max_bytes=7 * MB)
            except InvalidArgument as exc:
                return google_error(400, "INVALID_ARGUMENT", str(exc))
            if f"image/{(decoded.format or '').lower()}" != inline["mimeType"]:
                return google_error(400, "INVALID_ARGUMENT", f"inlineData[{i}] is not a {inline['mimeType']} image.")
        config = body.get("generationConfig", {})
        for name in config:
            if name not in GENERATION_CONFIG_FIELDS:
                return invalid_field(name, "generation_config")
        modalities = config.get("responseModalities", ["TEXT"])
        if sorted(modalities) != ["IMAGE", "TEXT"] and not (modalities == ["IMAGE"] and "2.0" not in model):
            return google_error(400, "INVALID_ARGUMENT", f"Model does not support the requested response modalities: {','.join(m.lower() for m in modalities)}")  # fmt: skip
        if "candidateCount" in config and config["candidateCount"] != 1:
            return google_error(400, "INVALID_ARGUMENT", "Multiple candidates is not enabled for this model.")
        image_config = config.get("imageConfig", {})
        image_rules = self.IMAGE_CONFIG[model]
        for name, value in image_config.items():
            if name not in image_rules:
                return invalid_field(name, "generation_config.image_config")
            if value not in image_rules[name]:
                return google_error(400, "INVALID_ARGUMENT", f"Unsupported {name}: {value}.")
        if self.block_prompt:
            return blocked_prompt(self.block_prompt)
        image_in = IMAGE_TOKENS * len(images)
        image_out = self.image_tokens(model, image_config)
        usage = {
            "promptTokenCount": 7 + image_in,
            "candidatesTokenCount": image_out + 10,
            **({"thoughtsTokenCount": self.thoughts_tokens} if self.thoughts_tokens else {}),
            "totalTokenCount": 7 + image_in + image_out + 10 + self.thoughts_tokens,
            **self.usage_fields(),
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}]
            + ([{"modality": "IMAGE", "tokenCount": image_in}] if images else []),
            "candidatesTokensDetails": [
                {"modality": "IMAGE", "tokenCount": image_out},
                {"modality": "TEXT", "tokenCount": 10},
            ],
        }
        if self.filter_images:
            candidate: dict[str, Any] = {"content": {"role": "model"}, "finishReason": "IMAGE_SAFETY"}
        else:
            thoughts = [{"inlineData": {"mimeType": "image/png", "data": TINY_PNG_B64}, "thought": True}]
            candidate = {
                "content": {
                    "role": "model",
                    "parts": [
                        *(thoughts * self.thought_images),
                        {"text": f"Here is the image: {prompt}"},
                        {"inlineData": {"mimeType": "image/png", "data": TINY_PNG_B64}},
                    ],
                },
                "finishReason": "STOP",
            }
        return FakeResponse(200, {"candidates": [candidate], "usageMetadata": usage, **self.response_fields(model)})

    def predict_generation(self, body: dict[str, Any], rules: dict[str, Any]) -> FakeResponse:
        """An Imagen generation: one instance with a prompt, `parameters` per the model's `rules`."""
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1 or set(instances[0]) != {"prompt"}:
            return google_error(400, "INVALID_ARGUMENT", "Invalid instances: exactly one instance with a prompt is expected.")  # fmt: skip
        prompt = instances[0]["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            return google_error(400, "INVALID_ARGUMENT", "Prompt is required.")
        parameters = body.get("parameters", {})
        try:
            check_parameters(parameters, rules)
        except InvalidArgument as exc:
            return google_error(400, "INVALID_ARGUMENT", str(exc))
        options = parameters.get("outputOptions", {})
        if set(options) - {"mimeType", "compressionQuality"}:
            return invalid_field(
                next(iter(set(options) - {"mimeType", "compressionQuality"})), "parameters.outputOptions"
            )
        if options.get("mimeType", "image/png") not in ("image/png", "image/jpeg"):
            return google_error(400, "INVALID_ARGUMENT", f"Unsupported mime type: {options['mimeType']}.")
        if "compressionQuality" in options and (options.get("mimeType") != "image/jpeg" or not accepts(range(0, 101), options["compressionQuality"])):  # fmt: skip
            return google_error(400, "INVALID_ARGUMENT", "compressionQuality must be 0-100 and is for image/jpeg only.")
        if "seed" in parameters and "addWatermark" in rules and parameters.get("addWatermark", True):
            return google_error(400, "INVALID_ARGUMENT", "Seed is not supported when watermark is enabled.")
        rewritten = parameters.get("enhancePrompt", True) and "enhancePrompt" in rules
        return self.predictions(
            parameters, f"A photorealistic image of {prompt}, natural light, high detail" if rewritten else None
        )

    def predictions(self, parameters: dict[str, Any], rewritten: str | None) -> FakeResponse:
        count = parameters.get("sampleCount", 4)  # Imagen's default
        mime_type = parameters.get("outputOptions", {}).get("mimeType", "image/png")
        predictions: list[dict[str, Any]] = []
        for index in range(count):
            if index < self.filter_images:
                reason = "56562880" if not parameters.get("includeRaiReason") else (
                    "Your current safety filter threshold filtered out 1 generated images. You will not be charged "
                    "for blocked images. Try rephrasing the prompt. Support codes: 56562880"
                )  # fmt: skip
                predictions.append({"raiFilteredReason": reason})
                continue
            prediction = {"mimeType": mime_type, "bytesBase64Encoded": TINY_PNG_B64}
            if rewritten:
                prediction["prompt"] = rewritten
            predictions.append(prediction)
        if not parameters.get("includeRaiReason"):
            predictions = [p for p in predictions if "raiFilteredReason" not in p]
        return FakeResponse(200, {"predictions": predictions} if predictions else {})


FLASH_31_RATIOS = GEMINI_RATIOS | {"1:4", "4:1", "1:8", "8:1"}
GEMINI_MODELS: dict[str, dict[str, set[str]]] = {
    "gemini-2.5-flash-image": {"aspectRatio": GEMINI_RATIOS},
    "gemini-2.5-flash-image-preview": {"aspectRatio": GEMINI_RATIOS},
    "gemini-3-pro-image-preview": {"aspectRatio": GEMINI_RATIOS, "imageSize": {"1K", "2K", "4K"}},
    "gemini-3-pro-image": {"aspectRatio": GEMINI_RATIOS, "imageSize": {"1K", "2K", "4K"}},
    "gemini-3.1-flash-image-preview": {"aspectRatio": FLASH_31_RATIOS, "imageSize": {"512", "1K", "2K", "4K"}},
    "gemini-3.1-flash-image": {"aspectRatio": FLASH_31_RATIOS, "imageSize": {"512", "1K", "2K", "4K"}},
}
INPUT_IMAGES = {model: 3 if model.startswith("gemini-2.5") else 14 for model in GEMINI_MODELS}
# Output tokens of one image (ai.google.dev: 1290 on 2.5 Flash Image; 1120 up to 2K and 2000 at 4K on 3 Pro).
IMAGE_TOKENS_BY_SIZE = {"512": 747, "1K": 1120, "2K": 1120, "4K": 2000}
_SIZED = {"sampleImageSize": {"1K", "2K"}}
IMAGEN_MODELS: dict[str, dict[str, Any]] = {
    "imagen-4.0-generate-001": {**IMAGEN_PARAMETERS, **_SIZED},
    "imagen-4.0-ultra-generate-001": {**IMAGEN_PARAMETERS, **_SIZED},
    "imagen-4.0-fast-generate-001": IMAGEN_PARAMETERS,
}
_PATH = re.compile(r"/v1beta/models/([^/:]+):(\w+)")


class FakeGemini(GenerateContentFake):
    """The Gemini API for one key. `imagen_served = False`: Imagen is shut down (404 for its models)."""

    IMAGE_CONFIG = GEMINI_MODELS
    INPUT_IMAGES = INPUT_IMAGES
    BODY_FIELDS: ClassVar[set[str]] = {
        "contents", "generationConfig", "safetySettings", "systemInstruction", "tools", "toolConfig", "cachedContent",
    }  # fmt: skip

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__(content_policy_as="gemini")
        self.api_key = api_key
        self.imagen_served = True
        self.retry_delay = "0.1s"
        """The `RetryInfo.retryDelay` of `fail_next("rate_limit")`: the real API asks for tens of seconds (the
        SDK waits that long before it retries), which the tests that need it set."""

    @property
    def api_base(self) -> str:
        return self.url

    def image_tokens(self, model: str, image_config: dict[str, Any]) -> int:
        if model.startswith("gemini-2.5"):
            return 1290
        return IMAGE_TOKENS_BY_SIZE[image_config.get("imageSize", "1K")]

    def error(self, kind: str) -> FakeResponse:
        if kind == "content_policy":
            return self.content_policy_error()
        return {
            "auth": google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", "API_KEY_INVALID"),
            "permission": google_error(403, "PERMISSION_DENIED", "Generative Language API has not been used in project 123456 before or it is disabled.", "SERVICE_DISABLED"),
            "not_found": google_error(404, "NOT_FOUND", "models/x is not found for API version v1beta, or is not supported for generateContent."),
            "bad_request": google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
            "rate_limit": google_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.", details=quota_details(self.retry_delay)),
            "server_error": google_error(500, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
            "unavailable": google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        }[kind]  # fmt: skip

    def handle(self, request: FakeRequest) -> FakeResponse:
        if "key" in request.query:  # the real API takes it; imagegen must never put a key in a URL
            return google_error(400, "INVALID_ARGUMENT", "This fake refuses ?key=: send the key in x-goog-api-key.")
        match = _PATH.fullmatch(request.path)
        if request.method != "POST" or match is None:
            return google_error(404, "NOT_FOUND", f"The requested URL {request.path} was not found on this server.")
        model, method = match.groups()
        key = request.headers.get("x-goog-api-key")
        if key is None:
            return google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.")  # fmt: skip
        if key != self.api_key:
            return self.error("auth")
        if request.headers.get("content-type") != "application/json":
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if len(request.body) > MAX_REQUEST_BYTES:
            return google_error(400, "INVALID_ARGUMENT", f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes.")  # fmt: skip
        try:
            body = request.json()
        except ValueError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
        if method == "generateContent" and model in GEMINI_MODELS:
            return self.generate_content(model, body)
        if method == "predict" and model in IMAGEN_MODELS and self.imagen_served:
            for name in body:
                if name not in ("instances", "parameters"):
                    return invalid_field(name, "")
            return self.predict_generation(body, IMAGEN_MODELS[model])
        return google_error(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods.")  # fmt: skip
