"""A strict fake of the Bedrock runtime's InvokeModel (and of STS AssumeRole), from AWS's references.

Like the real service it verifies every request's SigV4 signature (recomputed with botocore from the
credentials it knows) or its Bedrock API key, routes `POST /model/{modelId}/invoke` on the raw,
percent-encoded path (an unencoded `/` in an ARN does not route), resolves inference-profile ids and
ARNs, rejects extraneous keys and out-of-range values with a `ValidationException`, and answers
errors with `x-amzn-ErrorType` and `{"message": ...}`. A prompt containing FILTERED is refused the
way each model family refuses it (FILTERED_OUTPUT: Titan/Nova's 200 with `error`).

Edits are checked as strictly: Titan/Nova task types (exactly one of maskImage/maskPrompt, pure black
and white masks the size of the image, no imageGenerationConfig for BACKGROUND_REMOVAL, Nova's RGB
inputs without transparent pixels, Titan's 1,408-pixel limit), the Stability image services (invoked
only through their `us.` inference profiles, each with its own fields, ranges and image limits) and
SD3/SD3.5 image-to-image. Input images are decoded (Pillow), so tests can read what was sent.
"""

from __future__ import annotations

import datetime
import hmac
import re
import threading
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from PIL import Image

from imagegen.testing import TINY_PNG_B64, FakeRequest, FakeResponse, FakeUpstream

from .images import decode_b64_image

REGION = "us-east-1"
ACCOUNT = "123456789012"
SDXL_MODELS = {"stability.stable-diffusion-xl-v0", "stability.stable-diffusion-xl-v1"}
SD3_MODELS = {"stability.sd3-large-v1:0", "stability.sd3-5-large-v1:0"}
STABLE_IMAGE_MODELS = {
    "stability.stable-image-core-v1:0", "stability.stable-image-core-v1:1",
    "stability.stable-image-ultra-v1:0", "stability.stable-image-ultra-v1:1",
}  # fmt: skip
TITAN_MODELS = {"amazon.titan-image-generator-v1", "amazon.titan-image-generator-v2:0"}
NOVA_MODELS = {"amazon.nova-canvas-v1:0"}
_PRESETS = {
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
    "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic", "pixel-art",
    "tile-texture",
}  # fmt: skip
_SERVICE_COMMON = {"seed", "output_format"}
# Each Stability image service: (required keys, optional keys), from AWS's stable-image-services page.
SERVICE_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "stability.stable-image-inpaint-v1:0": (
        {"prompt", "image"}, {"mask", "grow_mask", "negative_prompt", "style_preset"}),
    "stability.stable-image-erase-object-v1:0": ({"image"}, {"mask", "grow_mask"}),
    "stability.stable-image-search-replace-v1:0": (
        {"prompt", "image", "search_prompt"}, {"negative_prompt", "grow_mask", "style_preset"}),
    "stability.stable-image-search-recolor-v1:0": (
        {"prompt", "image", "select_prompt"}, {"negative_prompt", "grow_mask", "style_preset"}),
    "stability.stable-image-remove-background-v1:0": ({"image"}, set()),
    "stability.stable-outpaint-v1:0": (
        {"image"}, {"left", "right", "up", "down", "prompt", "creativity", "style_preset"}),
    "stability.stable-image-control-sketch-v1:0": (
        {"prompt", "image"}, {"control_strength", "negative_prompt", "style_preset"}),
    "stability.stable-image-control-structure-v1:0": (
        {"prompt", "image"}, {"control_strength", "negative_prompt", "style_preset"}),
    "stability.stable-image-style-guide-v1:0": (
        {"prompt", "image"}, {"aspect_ratio", "fidelity", "negative_prompt", "style_preset"}),
    "stability.stable-style-transfer-v1:0": (
        {"init_image", "style_image"},
        {"prompt", "negative_prompt", "composition_fidelity", "style_strength", "change_strength"}),
    "stability.stable-creative-upscale-v1:0": (
        {"prompt", "image"}, {"creativity", "negative_prompt", "style_preset"}),
    "stability.stable-conservative-upscale-v1:0": ({"prompt", "image"}, {"creativity", "negative_prompt"}),
    "stability.stable-fast-upscale-v1:0": ({"image"}, set()),
}  # fmt: skip
SERVICE_MODELS = set(SERVICE_KEYS)
# Number ranges: (low, high, integer); a service-specific range overrides the common one.
_SERVICE_RANGES: dict[str, tuple[float, float, bool]] = {
    "seed": (0, 4294967294, True), "grow_mask": (0, 20, True), "control_strength": (0, 1, False),
    "fidelity": (0, 1, False), "composition_fidelity": (0, 1, False), "style_strength": (0, 1, False),
    "change_strength": (0.1, 1, False), "creativity": (0.1, 0.5, False), "left": (0, 2000, True),
    "right": (0, 2000, True), "up": (0, 2000, True), "down": (0, 2000, True),
}  # fmt: skip
_OUTPAINT_CREATIVITY = (0.1, 1.0, False)
PROFILE_PREFIXES = ("us.", "eu.", "apac.", "global.")

SDXL_SIZES = {(1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640), (640, 1536), (768, 1344), (832, 1216),
              (896, 1152)}  # fmt: skip
TITAN_SIZES = {
    (1024, 1024), (768, 768), (512, 512), (768, 1152), (384, 576), (1152, 768), (576, 384), (768, 1280), (384, 640),
    (1280, 768), (640, 384), (896, 1152), (448, 576), (1152, 896), (576, 448), (768, 1408), (384, 704), (1408, 768),
    (704, 384), (640, 1408), (320, 704), (1408, 640), (704, 320), (1152, 640), (1173, 640),
}  # fmt: skip
NOVA_STYLES = {
    "3D_ANIMATED_FAMILY_FILM", "DESIGN_SKETCH", "FLAT_VECTOR_ILLUSTRATION", "GRAPHIC_NOVEL_ILLUSTRATION",
    "MAXIMALISM", "MIDCENTURY_RETRO", "PHOTOREALISM", "SOFT_DIGITAL_PAINTING",
}  # fmt: skip
SDXL_SAMPLERS = {"DDIM", "DDPM", "K_DPMPP_2M", "K_DPMPP_2S_ANCESTRAL", "K_DPM_2", "K_DPM_2_ANCESTRAL", "K_EULER",
                 "K_EULER_ANCESTRAL", "K_HEUN", "K_LMS"}  # fmt: skip
SDXL_STYLE_PRESETS = {
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance", "fantasy-art",
    "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk", "origami", "photographic", "pixel-art",
    "tile-texture",
}  # fmt: skip
SDXL_CLIP_PRESETS = {"FAST_BLUE", "FAST_GREEN", "NONE", "SIMPLE", "SLOW", "SLOWER", "SLOWEST"}
ASPECT_RATIOS = {"16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"}

_CORAL = "http://internal.amazon.com/coral/com.amazon.bedrock/"
_AUTH_CORAL = "http://internal.amazon.com/coral/com.amazon.coral.service/"
_AUTH_TYPES = {"UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException",
               "MissingAuthenticationTokenException"}  # fmt: skip
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


class Invalid(Exception):
    """A ValidationException: the message Bedrock gives for a malformed body."""


def bedrock_error(status: int, error_type: str, message: str) -> FakeResponse:
    suffix = _AUTH_CORAL if error_type in _AUTH_TYPES else _CORAL
    return FakeResponse(
        status,
        {"message": message},
        {"x-amzn-ErrorType": f"{error_type}:{suffix}", "x-amzn-RequestId": str(uuid.uuid4())},
    )


def _malformed(path: str, problem: str) -> Invalid:
    return Invalid(f"Malformed input request: {path}: {problem}, please reformat your input and try again.")


def _check_keys(obj: Any, allowed: set[str], path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _malformed(path, f"expected type: JSONObject, found: {type(obj).__name__}")
    for key in obj:
        if key not in allowed:
            raise _malformed(path, f"extraneous key [{key}] is not permitted")
    return obj


def _check_number(obj: dict[str, Any], key: str, low: float, high: float, path: str, integer: bool = False) -> None:
    if key not in obj:
        return
    value = obj[key]
    if value is None:
        raise _malformed(f"{path}/{key}", "expected type: Number, found: Null")
    if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
        raise _malformed(f"{path}/{key}", f"expected type: {'Integer' if integer else 'Number'}")
    if value < low:
        raise _malformed(f"{path}/{key}", f"{value} is not greater or equal to {low}")
    if value > high:
        raise _malformed(f"{path}/{key}", f"{value} is not less or equal to {high}")


def _check_string(
    obj: dict[str, Any], key: str, max_len: int, path: str, required: bool = False, min_len: int = 1
) -> None:
    if key not in obj:
        if required:
            raise _malformed(path, f"required key [{key}] not found")
        return
    value = obj[key]
    if not isinstance(value, str):
        raise _malformed(f"{path}/{key}", f"expected type: String, found: {'Null' if value is None else 'other'}")
    if not min_len <= len(value) <= max_len:
        raise _malformed(f"{path}/{key}", f"expected minLength: {min_len}, maxLength: {max_len}, actual: {len(value)}")


def _check_enum(obj: dict[str, Any], key: str, allowed: set[str], path: str) -> None:
    if key in obj and obj[key] not in allowed:
        raise _malformed(f"{path}/{key}", f"{obj[key]} is not a valid enum value")


def decode_image(value: Any, path: str) -> Image.Image:
    """A base64 PNG, JPEG or WEBP from a body, decoded, or Bedrock's ValidationException."""
    try:
        return decode_b64_image(value)[1]
    except ValueError:
        raise Invalid(f"{path}: Unable to decode the provided image. Provide a base64-encoded PNG or JPEG.") from None


def _check_pixels(
    image: Image.Image,
    path: str,
    *,
    min_side: int = 64,
    max_side: int | None = None,
    min_pixels: int = 0,
    max_pixels: int | None = 9_437_184,
    max_ratio: float | None = 2.5,
) -> None:
    width, height = image.size
    pixels = width * height
    if min(width, height) < min_side or (max_side and max(width, height) > max_side):
        raise Invalid(f"{path}: image dimensions {width}x{height} are outside the allowed range")
    if pixels < min_pixels or (max_pixels and pixels > max_pixels):
        raise Invalid(f"{path}: image has {pixels} pixels, which is outside the allowed range")
    if max_ratio and max(width, height) / min(width, height) > max_ratio:
        raise Invalid(f"{path}: image aspect ratio must be between 1:{max_ratio} and {max_ratio}:1")


def _check_service_number(body: dict[str, Any], key: str, rule: tuple[float, float, bool]) -> None:
    low, high, integer = rule
    _check_number(body, key, low, high, "#", integer=integer)


class FakeBedrock(FakeUpstream):
    """Bedrock runtime in `REGION`, with STS AssumeRole and AssumeRoleWithWebIdentity at `POST /` on the same
    server. `external_ids` maps a role to the ExternalId its trust policy requires; `web_identity_tokens`
    are the OIDC tokens STS accepts."""

    def __init__(
        self,
        credentials: dict[str, tuple[str, str | None]] | None = None,
        api_keys: tuple[str, ...] = (),
        roles: tuple[str, ...] = (),
        role_credentials_ttl: datetime.timedelta = datetime.timedelta(hours=1),
        application_profiles: dict[str, str] | None = None,
        external_ids: dict[str, str] | None = None,
        web_identity_tokens: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        self.credentials = dict(credentials or {})  # access key id → (secret key, session token)
        self.api_keys = api_keys
        self.roles = roles
        self.role_credentials_ttl = role_credentials_ttl
        self.application_profiles = dict(application_profiles or {})  # profile id → foundation model
        self.external_ids = dict(external_ids or {})
        self.web_identity_tokens = web_identity_tokens
        self.assumed_roles: list[dict[str, str]] = []
        self.invocations: list[tuple[str, dict[str, Any]]] = []  # (foundation model, body)
        self._state_lock = threading.Lock()

    # Errors

    def error(self, kind: str) -> FakeResponse:
        return {
            "auth": bedrock_error(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
            "permission": bedrock_error(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
            "not_found": bedrock_error(404, "ResourceNotFoundException", "Could not resolve the foundation model from the provided model identifier."),
            "bad_request": bedrock_error(400, "ValidationException", "Malformed input request, please reformat your input and try again."),
            "content_policy": bedrock_error(
                400, "ValidationException",
                "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request.",
            ),
            "rate_limit": bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."),
            "server_error": bedrock_error(500, "InternalServerException", "The server encountered an internal error while processing the request."),
            "unavailable": bedrock_error(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
        }[kind]  # fmt: skip

    # Routing and authentication

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "POST" and request.path == "/":
            return self._sts(request)
        match = re.fullmatch(r"/model/([^/]+)/invoke", request.path)
        if request.method != "POST" or match is None:
            return bedrock_error(404, "UnknownOperationException", f"No operation at {request.method} {request.path}")
        denied = self._authenticate(request, service="bedrock")
        if denied is not None:
            return denied
        if request.headers.get("content-type") != "application/json":
            return bedrock_error(400, "ValidationException", "The provided Content-Type is not supported.")
        model_id = unquote(match.group(1))
        model = self._foundation_model(model_id)
        if model is None:
            return bedrock_error(400, "ValidationException", "The provided model identifier is invalid.")
        if model in SERVICE_MODELS and model_id == model:
            return bedrock_error(
                400, "ValidationException",
                f"Invocation of model ID {model} with on-demand throughput isn't supported. Retry your request with "
                "the ID or ARN of an inference profile that contains this model.",
            )  # fmt: skip
        try:
            body = request.json()
        except ValueError:
            return bedrock_error(
                400, "ValidationException", "Malformed input request, please reformat your input and try again."
            )
        with self._state_lock:
            self.invocations.append((model, body))
        try:
            return self._invoke(model, body)
        except Invalid as exc:
            return bedrock_error(400, "ValidationException", str(exc))

    def _authenticate(self, request: FakeRequest, service: str) -> FakeResponse | None:
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            if authorization.removeprefix("Bearer ") in self.api_keys:
                return None
            return bedrock_error(
                403, "UnrecognizedClientException", "Invalid API Key format: Must start with pre-defined prefix"
            )
        match = _AUTHORIZATION.fullmatch(authorization)
        if match is None:
            return bedrock_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        known = self.credentials.get(match["key"])
        if known is None:
            return bedrock_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        secret, token = known
        if request.headers.get("x-amz-security-token") != token:
            return bedrock_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if match["region"] != REGION or match["service"] != service:
            return bedrock_error(
                403,
                "InvalidSignatureException",
                f"Credential should be scoped to a valid region and to service '{service}'.",
            )
        signed = match["signed"].split(";")
        if not {"host", "x-amz-date"} <= set(signed) or (token and "x-amz-security-token" not in signed):
            return bedrock_error(
                403, "IncompleteSignatureException", "The signed headers must include host and x-amz-date."
            )
        amz_date = request.headers["x-amz-date"]
        sent_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
        if abs(datetime.datetime.now(datetime.UTC) - sent_at) > datetime.timedelta(minutes=5):
            return bedrock_error(403, "InvalidSignatureException", "Signature expired.")
        # Recompute the signature over the raw request, as AWS does.
        aws_request = AWSRequest(
            method=request.method,
            url=f"http://{request.headers['host']}{request.path}",
            data=request.body,
            headers={name: request.headers[name] for name in signed},
        )
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(match["key"], secret, token), service, REGION)
        expected = signer.signature(
            signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request
        )
        if not hmac.compare_digest(expected, match["signature"]):
            return bedrock_error(
                403, "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS "
                "Secret Access Key and signing method. Consult the service documentation for details.",
            )  # fmt: skip
        return None

    def _foundation_model(self, model_id: str) -> str | None:
        known = SDXL_MODELS | SD3_MODELS | STABLE_IMAGE_MODELS | TITAN_MODELS | NOVA_MODELS | SERVICE_MODELS
        arn = re.fullmatch(rf"arn:aws:bedrock:{REGION}:(\d{{12}})?:([a-z-]+)/(.+)", model_id)
        if arn is not None:
            kind, model_id = arn.group(2), arn.group(3)
            if kind == "application-inference-profile":
                return self.application_profiles.get(model_id)
            if kind not in ("foundation-model", "inference-profile"):
                return None
            if kind == "inference-profile" and not model_id.startswith(PROFILE_PREFIXES):
                return None
        for prefix in PROFILE_PREFIXES:
            if model_id.startswith(prefix) and model_id[len(prefix) :] in known:
                return model_id[len(prefix) :]
        return model_id if model_id in known else None

    # The model families

    def _invoke(self, model: str, body: Any) -> FakeResponse:
        if model in SDXL_MODELS:
            return self._sdxl(body)
        if model in SD3_MODELS | STABLE_IMAGE_MODELS:
            return self._stability(model, body)
        if model in SERVICE_MODELS:
            return self._service(model, body)
        if isinstance(body, dict) and body.get("taskType") != "TEXT_IMAGE":
            return self._amazon_edit(model, body)
        return self._amazon(model, body)

    def _sdxl(self, body: Any) -> FakeResponse:
        keys = {"text_prompts", "height", "width", "cfg_scale", "clip_guidance_preset", "sampler", "samples", "seed",
                "steps", "style_preset", "extras"}  # fmt: skip
        _check_keys(body, keys, "#")
        prompts = body.get("text_prompts")
        if not isinstance(prompts, list) or not prompts:
            raise _malformed("#", "required key [text_prompts] not found")
        for i, prompt in enumerate(prompts):
            _check_keys(prompt, {"text", "weight"}, f"#/text_prompts/{i}")
            _check_string(prompt, "text", 2000, f"#/text_prompts/{i}", required=True)
            _check_number(prompt, "weight", -10, 10, f"#/text_prompts/{i}")
        if ("width" in body) != ("height" in body) or (
            "width" in body and (body["width"], body["height"]) not in SDXL_SIZES
        ):
            raise Invalid("height and width must be specified together as one of the allowed SDXL dimensions")
        _check_number(body, "cfg_scale", 0, 35, "#")
        _check_number(body, "steps", 10, 50, "#", integer=True)
        _check_number(body, "seed", 0, 4294967295, "#", integer=True)
        _check_number(body, "samples", 1, 1, "#", integer=True)
        _check_enum(body, "sampler", SDXL_SAMPLERS, "#")
        _check_enum(body, "style_preset", SDXL_STYLE_PRESETS, "#")
        _check_enum(body, "clip_guidance_preset", SDXL_CLIP_PRESETS, "#")
        filtered = "FILTERED" in prompts[0]["text"]
        artifact = {"seed": body.get("seed", 1234), "base64": TINY_PNG_B64,
                    "finishReason": "CONTENT_FILTERED" if filtered else "SUCCESS"}  # fmt: skip
        return FakeResponse(200, {"result": "success", "artifacts": [artifact]})

    def _stability(self, model: str, body: Any) -> FakeResponse:
        keys = {"prompt", "aspect_ratio", "output_format", "seed", "negative_prompt", "image", "strength"}
        if model in SD3_MODELS:
            keys.add("mode")
        _check_keys(body, keys, "#")
        _check_string(body, "prompt", 10000, "#", required=True)
        _check_string(body, "negative_prompt", 10000, "#")
        _check_enum(body, "aspect_ratio", ASPECT_RATIOS, "#")
        _check_enum(body, "output_format", {"jpeg", "png"}, "#")
        _check_enum(body, "mode", {"text-to-image", "image-to-image"}, "#")
        if body.get("mode") == "image-to-image":
            if not {"image", "strength"} <= set(body):
                raise _malformed("#", "image-to-image requires the prompt, image, and strength parameters")
            if "aspect_ratio" in body:
                raise _malformed("#", "aspect_ratio is only valid for text-to-image")
            _check_pixels(decode_image(body["image"], "#/image"), "#/image", max_pixels=None, max_ratio=None)
            _check_number(body, "strength", 0, 1, "#")
        elif "image" in body or "strength" in body:
            raise _malformed("#", "image and strength require mode image-to-image")
        _check_number(body, "seed", 0, 4294967294, "#", integer=True)
        return self._stability_answer(body)

    def _stability_answer(self, body: dict[str, Any]) -> FakeResponse:
        if "FILTERED" in body.get("prompt", ""):
            return FakeResponse(200, {"finish_reasons": ["Filter reason: prompt"]})
        return FakeResponse(200, {"seeds": [body.get("seed") or 2130420379], "finish_reasons": [None],
                                  "images": [TINY_PNG_B64]})  # fmt: skip

    def _service(self, model: str, body: Any) -> FakeResponse:
        required, optional = SERVICE_KEYS[model]
        _check_keys(body, required | optional | _SERVICE_COMMON, "#")
        for key in sorted(required - set(body)):
            raise _malformed("#", f"required key [{key}] not found")
        for key in ("prompt", "negative_prompt", "search_prompt", "select_prompt"):
            _check_string(body, key, 10000, "#", min_len=0 if key == "prompt" else 1)
        _check_enum(body, "output_format", {"jpeg", "png", "webp"}, "#")
        _check_enum(body, "style_preset", _PRESETS, "#")
        _check_enum(body, "aspect_ratio", ASPECT_RATIOS, "#")
        for key, rule in _SERVICE_RANGES.items():
            if model == "stability.stable-outpaint-v1:0" and key == "creativity":
                rule = _OUTPAINT_CREATIVITY
            _check_service_number(body, key, rule)
        limits: dict[str, Any] = {}
        if model == "stability.stable-creative-upscale-v1:0":
            limits = {"min_pixels": 4096, "max_pixels": 1_048_576, "max_ratio": None}
        elif model == "stability.stable-fast-upscale-v1:0":
            limits = {"min_side": 32, "max_side": 1536, "min_pixels": 1024, "max_pixels": 1_048_576, "max_ratio": None}
        for key in ("image", "init_image", "style_image"):
            if key in body:
                _check_pixels(decode_image(body[key], f"#/{key}"), f"#/{key}", **limits)
        if "mask" in body:
            decode_image(body["mask"], "#/mask")  # resized to the image by the service if its size differs
        if model == "stability.stable-outpaint-v1:0" and not any(body.get(k) for k in ("left", "right", "up", "down")):
            raise Invalid("At least one of left, right, up or down must be non-zero.")
        return self._stability_answer(body)

    def _amazon(self, model: str, body: Any) -> FakeResponse:
        nova = model in NOVA_MODELS
        _check_keys(body, {"taskType", "textToImageParams", "imageGenerationConfig"}, "#")
        if body.get("taskType") != "TEXT_IMAGE":
            raise _malformed("#/taskType", f"{body.get('taskType')} is not a valid enum value")
        text_keys = {"text", "negativeText", "conditionImage", "controlMode", "controlStrength"}
        if nova:
            text_keys.add("style")
        text = _check_keys(body.get("textToImageParams"), text_keys, "#/textToImageParams")
        max_len = 1024 if nova else 512
        _check_string(text, "text", max_len, "#/textToImageParams", required=True)
        _check_string(text, "negativeText", max_len, "#/textToImageParams")
        _check_enum(text, "style", NOVA_STYLES, "#/textToImageParams")
        config = _check_keys(
            body.get("imageGenerationConfig", {}),
            {"numberOfImages", "width", "height", "cfgScale", "seed", "quality"},
            "#/imageGenerationConfig",
        )
        path = "#/imageGenerationConfig"
        _check_number(config, "numberOfImages", 1, 5, path, integer=True)
        _check_number(config, "cfgScale", 1.1, 10.0, path)
        _check_number(config, "seed", 0, 858993459 if nova else 2147483646, path, integer=True)
        _check_enum(config, "quality", {"standard", "premium"}, path)
        if "width" in config or "height" in config:
            width, height = config.get("width", 1024), config.get("height", 1024)
            if nova:
                ok = (320 <= width <= 4096 and 320 <= height <= 4096 and not width % 16 and not height % 16
                      and 1 / 4 <= width / height <= 4 and width * height <= 4_194_304)  # fmt: skip
            else:
                ok = (width, height) in TITAN_SIZES
            if not ok:
                raise Invalid(f"The image size {width}x{height} is not supported by this model.")
        if "FILTERED_OUTPUT" in text["text"]:
            return FakeResponse(
                200, {"images": [], "error": "The generated image has been blocked by our content filters."}
            )
        if "FILTERED" in text["text"]:
            raise Invalid(
                "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request."
            )
        return FakeResponse(200, {"images": [TINY_PNG_B64] * config.get("numberOfImages", 1), "error": None})

    def _amazon_edit(self, model: str, body: Any) -> FakeResponse:
        nova = model in NOVA_MODELS
        task = body.get("taskType") if isinstance(body, dict) else None
        tasks = {"INPAINTING": "inPaintingParams", "OUTPAINTING": "outPaintingParams",
                 "IMAGE_VARIATION": "imageVariationParams", "BACKGROUND_REMOVAL": "backgroundRemovalParams"}  # fmt: skip
        if model == "amazon.titan-image-generator-v1":
            del tasks["BACKGROUND_REMOVAL"]  # a v2 task
        if task not in tasks:
            raise _malformed("#/taskType", f"{task} is not a valid enum value")
        field = tasks[task]
        if task == "BACKGROUND_REMOVAL":  # takes no imageGenerationConfig
            _check_keys(body, {"taskType", field}, "#")
            params = _check_keys(body.get(field), {"image"}, f"#/{field}")
            if "image" not in params:
                raise _malformed(f"#/{field}", "required key [image] not found")
            self._input_image(params["image"], f"#/{field}/image", nova)
            return FakeResponse(200, {"images": [TINY_PNG_B64], "error": None})
        _check_keys(body, {"taskType", field, "imageGenerationConfig"}, "#")
        path = f"#/{field}"
        max_len = 1024 if nova else 512
        if task == "IMAGE_VARIATION":
            params = _check_keys(body.get(field), {"images", "text", "negativeText", "similarityStrength"}, path)
            images = params.get("images")
            if not isinstance(images, list) or not 1 <= len(images) <= 5:
                raise _malformed(f"{path}/images", "expected between 1 and 5 images")
            for i, image in enumerate(images):
                self._input_image(image, f"{path}/images/{i}", nova)
            _check_number(params, "similarityStrength", 0.2, 1.0, path)
        else:
            keys = {"image", "text", "negativeText", "maskPrompt", "maskImage", "returnMask"}
            if task == "OUTPAINTING":
                keys.add("outPaintingMode")
            params = _check_keys(body.get(field), keys, path)
            if "image" not in params:
                raise _malformed(path, "required key [image] not found")
            image = self._input_image(params["image"], f"{path}/image", nova)
            if ("maskImage" in params) == ("maskPrompt" in params):
                raise Invalid(f"{path}: exactly one of maskImage or maskPrompt must be provided")
            if "maskImage" in params:
                self._mask(params["maskImage"], f"{path}/maskImage", image.size)
            _check_string(params, "maskPrompt", max_len, path)
            _check_enum(params, "outPaintingMode", {"DEFAULT", "PRECISE"}, path)
            if task == "OUTPAINTING" and not nova and "text" not in params:
                raise _malformed(path, "required key [text] not found")
        _check_string(params, "text", max_len, path)
        _check_string(params, "negativeText", max_len, path)
        config = _check_keys(
            body.get("imageGenerationConfig", {}),
            {"numberOfImages", "width", "height", "cfgScale", "seed", "quality"},
            "#/imageGenerationConfig",
        )
        if task != "IMAGE_VARIATION" and ({"width", "height"} & set(config)):
            raise Invalid(f"{task} does not support width and height: the output has the input image's size.")
        _check_number(config, "numberOfImages", 1, 5, "#/imageGenerationConfig", integer=True)
        _check_number(config, "cfgScale", 1.1, 10.0, "#/imageGenerationConfig")
        _check_number(config, "seed", 0, 858993459 if nova else 2147483646, "#/imageGenerationConfig", integer=True)
        _check_enum(config, "quality", {"standard", "premium"}, "#/imageGenerationConfig")
        if "FILTERED" in params.get("text", ""):
            raise Invalid(
                "This request has been blocked by our content filters. Please adjust your text prompt to submit a new request."
            )
        return FakeResponse(200, {"images": [TINY_PNG_B64] * config.get("numberOfImages", 1), "error": None})

    def _input_image(self, value: Any, path: str, nova: bool) -> Image.Image:
        image = decode_image(value, path)
        if image.format not in ("PNG", "JPEG"):
            raise Invalid(f"{path}: Only PNG and JPEG images are supported.")
        if nova:
            if image.mode not in ("RGB", "RGBA"):
                raise Invalid(f"{path}: The image must be 8 bits per channel RGB.")
            if image.mode == "RGBA" and image.getchannel("A").getextrema() != (255, 255):
                raise Invalid(
                    f"{path}: The image contains transparent or semi-transparent pixels, which are not supported."
                )
        elif max(image.size) > 1408:
            raise Invalid(f"{path}: The image must be at most 1408 pixels on its longer side.")
        return image

    def _mask(self, value: Any, path: str, size: tuple[int, int]) -> None:
        mask = decode_image(value, path)
        if mask.size != size:
            raise Invalid(f"{path}: The mask image must be the same size as the input image.")
        if mask.mode not in ("RGB", "RGBA"):
            raise Invalid(f"{path}: The mask image must be 8 bits per channel RGB.")
        colors = {color for _, color in mask.convert("RGB").getcolors(maxcolors=1 << 24) or ()}
        if not colors <= {(0, 0, 0), (255, 255, 255)}:
            raise Invalid(f"{path}: The mask image must contain only pure black and pure white pixels.")

    # STS AssumeRole (Query protocol, XML answers)

    def _sts(self, request: FakeRequest) -> FakeResponse:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        action = form.get("Action")
        if action not in ("AssumeRole", "AssumeRoleWithWebIdentity") or form.get("Version") != "2011-06-15":
            return _sts_error(400, "InvalidAction", "Could not find operation")
        role = form.get("RoleArn", "")
        if action == "AssumeRoleWithWebIdentity":  # unsigned: the token is the credential
            if form.get("WebIdentityToken") not in self.web_identity_tokens:
                return _sts_error(
                    400, "InvalidIdentityToken", "The web identity token that was passed could not be validated by AWS."
                )
        else:
            denied = self._authenticate(request, service="sts")
            if denied is not None:
                return denied
        required_external_id = self.external_ids.get(role) if action == "AssumeRole" else None
        if role not in self.roles or form.get("ExternalId") != required_external_id:
            return _sts_error(
                403, "AccessDenied", f"User is not authorized to perform: sts:{action} on resource: {role}"
            )
        key, secret, token = f"ASIA{uuid.uuid4().hex[:16].upper()}", uuid.uuid4().hex, uuid.uuid4().hex
        expiration = datetime.datetime.now(datetime.UTC) + self.role_credentials_ttl
        with self._state_lock:
            self.credentials[key] = (secret, token)
            assumed = {"RoleArn": role, "RoleSessionName": form.get("RoleSessionName", "")}
            assumed.update((name, form[name]) for name in ("ExternalId", "WebIdentityToken") if name in form)
            self.assumed_roles.append(assumed)
        xml = f"""<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <{action}Result>
    <Credentials>
      <AccessKeyId>{key}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::{ACCOUNT}:assumed-role/{role.rpartition("/")[2]}/{form.get("RoleSessionName")}</Arn>
      <AssumedRoleId>AROA{uuid.uuid4().hex[:16].upper()}:{form.get("RoleSessionName")}</AssumedRoleId>
    </AssumedRoleUser>
  </{action}Result>
  <ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>
</{action}Response>"""
        return FakeResponse(200, xml.encode(), {"content-type": "text/xml"})


def _sts_error(status: int, code: str, message: str) -> FakeResponse:
    xml = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return FakeResponse(status, xml.encode(), {"content-type": "text/xml"})
