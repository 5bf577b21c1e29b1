"""Strict fakes of Google's OAuth token endpoint and of Vertex AI's image endpoints.

`FakeGoogleOAuth` is what a service-account key's `token_uri` points at: it verifies the RS256
signature of the JWT assertion google-auth sends (with the key's public half), its claims, and
issues access tokens. `FakeVertex` serves `:predict` (Imagen) and `:generateContent` (Gemini) under
`/v1/projects/{project}/locations/{location}/publishers/google/models/{model}` (its location, or `global`:
Gemini 3 Pro Image only there, Imagen never), accepts only
tokens the OAuth fake issued, and rejects unknown fields and bad values with Google's error body
`{"error": {"code", "message", "status"}}`, from the Imagen and Gemini API references. The Gemini and Imagen
generation behaviour is the Gemini API fake's (`gemini_fake.GenerateContentFake`).

Edits are checked as strictly: imagen-3.0-capability-001's reference images (one RAW image, a MASK
reference with a mask mode for every masked edit mode, the user's mask the size of the RAW image, no
aspect ratio), imagegeneration@006's `image`/`mask`/`editConfig`, and Gemini's `inlineData` parts (image
types, 7 MB each, the model's number of input images). Images are decoded (Pillow).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from imagegen.testing import FakeRequest, FakeResponse, FakeUpstream

from .gemini_fake import (
    BOOL,
    GEMINI_RATIOS,
    IMAGEN_PARAMETERS,
    RAI_MESSAGE,
    GenerateContentFake,
    InvalidArgument,
    accepts,
    check_parameters,
    decode_image,
    google_error,
    invalid_field,
)

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The audience Google requires in the assertion, whatever URL the key's token_uri names.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ServiceAccountKey:
    """A service-account key made at test time: its JSON (as Google issues it) and its public key."""

    def __init__(self, token_uri: str, project_id: str = "key-project-123", email: str | None = None) -> None:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key = private_key.public_key()
        self.key_id = secrets.token_hex(20)
        self.email = email or f"imagegen-test@{project_id}.iam.gserviceaccount.com"
        self.info = {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": self.key_id,
            "private_key": private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "client_email": self.email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{self.email}",
            "universe_domain": "googleapis.com",
        }
        self.json = json.dumps(self.info)


class HeldAnswers:
    """Holds a fake's answers until the test releases them.

    A test proves the event loop stays free while the client waits for an answer by releasing it
    from a coroutine: with the loop blocked that coroutine never runs, the hold times out, and
    `in_vain` counts it.
    """

    TIMEOUT = 5.0

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.in_vain = 0

    def wait(self) -> None:
        self.arrived.set()
        if not self.release.wait(self.TIMEOUT):
            self.in_vain += 1


class FakeGoogleOAuth(FakeUpstream):
    """`POST /token`: the JWT-bearer grant of a service account (RFC 7523), verified like Google does.

    With `hold` set, each answer waits for the test to release it.
    """

    def __init__(self, expires_in: int = 3599) -> None:
        super().__init__()
        self.expires_in = expires_in
        self.keys: dict[str, ServiceAccountKey] = {}  # by key id
        self.issued: set[str] = set()
        self.hold: HeldAnswers | None = None
        self._issue_lock = threading.Lock()

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def new_key(self, project_id: str = "key-project-123") -> ServiceAccountKey:
        key = ServiceAccountKey(self.token_uri, project_id)
        self.keys[key.key_id] = key
        return key

    def is_valid(self, token: str) -> bool:
        return token in self.issued

    def error(self, kind: str) -> FakeResponse:
        return FakeResponse(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})

    def handle(self, request: FakeRequest) -> FakeResponse:
        if self.hold is not None:
            self.hold.wait()
        if (request.method, request.path) != ("POST", "/token"):
            return FakeResponse(404, {"error": "not_found"})
        if request.headers.get("content-type") != "application/x-www-form-urlencoded":
            return self._invalid("invalid_request", "Invalid content type")
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != JWT_BEARER:
            return self._invalid("unsupported_grant_type", "Invalid grant_type")
        problem = self._assertion_problem(form.get("assertion", ""))
        if problem:
            return self._invalid("invalid_grant", problem)
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._issue_lock:
            self.issued.add(token)
        return FakeResponse(200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def _invalid(self, error: str, description: str) -> FakeResponse:
        return FakeResponse(400, {"error": error, "error_description": description})

    def _assertion_problem(self, assertion: str) -> str | None:
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(signature_b64)
        except ValueError:
            return "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
        key = self.keys.get(header.get("kid", ""))
        if header.get("alg") != "RS256" or key is None:
            return "Invalid JWT Signature."
        try:
            signed = f"{header_b64}.{claims_b64}".encode()
            key.public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return "Invalid JWT Signature."
        now = time.time()
        if claims.get("iss") != key.email or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            return "Invalid JWT: the issuer or the audience does not match."
        if not claims.get("iat", 0) - 300 <= now < claims.get("exp", 0) or claims["exp"] - claims["iat"] > 3600:
            return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        if SCOPE not in str(claims.get("scope", "")).split():
            return "Invalid JWT: the cloud-platform scope is missing."
        return None


class NotAMetadataServer(FakeUpstream):
    """What answers google-auth's probe for the Compute Engine metadata server (`GET /` at
    `GCE_METADATA_IP`) off Google Cloud: no `Metadata-Flavor: Google`, so ADC discovery finds no
    credentials. Each answer waits for the test to release it (`hold`)."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = HeldAnswers()

    def handle(self, request: FakeRequest) -> FakeResponse:
        self.hold.wait()
        return FakeResponse(404, b"Not Found", {"content-type": "text/plain"})


# What each Imagen model accepts in `parameters` on Vertex: what both APIs take, and Vertex's own.
# Vertex spells the enums as Google's SDK does (`ALLOW_ADULT`, `BLOCK_MEDIUM_AND_ABOVE`: the Imagen edit reference).
_IMAGEN_COMMON: dict[str, Any] = {
    **IMAGEN_PARAMETERS,
    "personGeneration": {"DONT_ALLOW", "ALLOW_ADULT", "ALLOW_ALL"},
    "safetySetting": {"BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE"},
    "seed": range(0, 2**32),
    "addWatermark": BOOL,
    "storageUri": str,
}
_LEGACY = {"negativePrompt": str, "guidanceScale": (int, float)}
_REWRITING = {"enhancePrompt": BOOL}
IMAGEN_RULES: dict[str, dict[str, Any]] = {
    "imagegeneration@002": {"sampleCount": range(1, 9), "aspectRatio": {"1:1"}, "negativePrompt": str, "seed": range(0, 2**32)},
    "imagegeneration@005": {**_IMAGEN_COMMON, **_LEGACY},
    "imagegeneration@006": {**_IMAGEN_COMMON, **_LEGACY},
    "imagen-3.0-generate-001": {**_IMAGEN_COMMON, **_LEGACY},
    "imagen-3.0-fast-generate-001": {**_IMAGEN_COMMON, **_LEGACY},
    "imagen-3.0-generate-002": {**_IMAGEN_COMMON, **_REWRITING},
    "imagen-4.0-generate-001": {**_IMAGEN_COMMON, **_REWRITING, "sampleImageSize": {"1K", "2K"}},
    "imagen-4.0-ultra-generate-001": {**_IMAGEN_COMMON, **_REWRITING, "sampleImageSize": {"1K", "2K"}},
    "imagen-4.0-fast-generate-001": {**_IMAGEN_COMMON, **_REWRITING},
}  # fmt: skip
GEMINI_IMAGE_CONFIG: dict[str, dict[str, set[str]]] = {
    "gemini-2.0-flash-preview-image-generation": {},
    "gemini-2.5-flash-image": {"aspectRatio": GEMINI_RATIOS},
    "gemini-2.5-flash-image-preview": {"aspectRatio": GEMINI_RATIOS},
    "gemini-3-pro-image-preview": {"aspectRatio": GEMINI_RATIOS, "imageSize": {"1K", "2K", "4K"}},
    "gemini-3-pro-image": {"aspectRatio": GEMINI_RATIOS, "imageSize": {"1K", "2K", "4K"}},
}
GLOBAL = "global"
GLOBAL_ONLY = {"gemini-3-pro-image-preview", "gemini-3-pro-image"}
"""Served only in the global location (Gemini 3 Pro Image's model card: "global only")."""
_PATH = re.compile(r"/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+):(\w+)")


CAPABILITY_MODEL = "imagen-3.0-capability-001"
LEGACY_EDITORS = {"imagegeneration@006"}
EDIT_MODES = {"EDIT_MODE_DEFAULT", "EDIT_MODE_INPAINT_REMOVAL", "EDIT_MODE_INPAINT_INSERTION", "EDIT_MODE_OUTPAINT",
              "EDIT_MODE_CONTROLLED_EDITING", "EDIT_MODE_STYLE", "EDIT_MODE_BGSWAP", "EDIT_MODE_PRODUCT_IMAGE"}  # fmt: skip
MASKED_EDIT_MODES = {
    "EDIT_MODE_INPAINT_REMOVAL",
    "EDIT_MODE_INPAINT_INSERTION",
    "EDIT_MODE_OUTPAINT",
    "EDIT_MODE_BGSWAP",
}
MASK_MODES = {"MASK_MODE_DEFAULT", "MASK_MODE_USER_PROVIDED", "MASK_MODE_BACKGROUND", "MASK_MODE_FOREGROUND",
              "MASK_MODE_SEMANTIC"}  # fmt: skip
REFERENCE_TYPES = {"REFERENCE_TYPE_RAW", "REFERENCE_TYPE_MASK", "REFERENCE_TYPE_CONTROL", "REFERENCE_TYPE_STYLE",
                   "REFERENCE_TYPE_SUBJECT", "REFERENCE_TYPE_CONTENT"}  # fmt: skip
_CAPABILITY_RULES: dict[str, Any] = {
    **{k: v for k, v in _IMAGEN_COMMON.items() if k != "aspectRatio"}, **_LEGACY,
    "editMode": EDIT_MODES, "editConfig": dict, "baseSteps": range(1, 2**31),
}  # fmt: skip
_LEGACY_EDIT_RULES: dict[str, Any] = {**{k: v for k, v in IMAGEN_RULES["imagegeneration@006"].items()
                                         if k != "aspectRatio"}, "editConfig": dict}  # fmt: skip
LEGACY_EDIT_MODES = {"inpainting-insert", "inpainting-remove", "outpainting", "product-image"}
GEMINI_INPUT_IMAGES = {"gemini-2.0-flash-preview-image-generation": 3, "gemini-2.5-flash-image": 3,
                       "gemini-2.5-flash-image-preview": 3, "gemini-3-pro-image-preview": 14,
                       "gemini-3-pro-image": 14}  # fmt: skip


def _check_dilation(config: dict[str, Any], name: str) -> None:
    value = config.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidArgument(f"{name} must be a number between 0 and 1.")


def _check_classes(classes: Any) -> None:
    if not (isinstance(classes, list) and 1 <= len(classes) <= 5 and all(type(c) is int for c in classes)):
        raise InvalidArgument("maskClasses must hold from 1 to 5 class ids.")


class FakeVertex(GenerateContentFake):
    """Vertex AI for one project and location; tokens are checked with `token_is_valid`.

    `filter_images = k` replaces the first k images of the next answers with `raiFilteredReason`;
    `block_prompt = "SAFETY"` makes Gemini block the prompt; `thoughts_tokens = k` makes Gemini
    report k thinking tokens (`thoughtsTokenCount`, billed as text output). `content_policy_as` says how a
    `fail_next("content_policy")` looks: Imagen's 400 (the default) or Gemini's 200 with a blocked prompt.
    """

    IMAGE_CONFIG = GEMINI_IMAGE_CONFIG
    INPUT_IMAGES = GEMINI_INPUT_IMAGES
    BODY_FIELDS: ClassVar[set[str]] = {"contents", "generationConfig", "safetySettings", "systemInstruction", "labels"}

    def __init__(self, token_is_valid: Callable[[str], bool], project: str, location: str = "us-central1") -> None:
        super().__init__(content_policy_as="imagen")
        self.token_is_valid = token_is_valid
        self.project = project
        self.location = location

    def response_fields(self, model: str) -> dict[str, Any]:
        return {**super().response_fields(model), "createTime": "2026-01-01T00:00:00.000000Z"}

    def usage_fields(self) -> dict[str, Any]:
        return {"trafficType": "ON_DEMAND"}

    def error(self, kind: str) -> FakeResponse:
        if kind == "content_policy":
            return self.content_policy_error()
        return {
            "auth": google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."),
            "permission": google_error(403, "PERMISSION_DENIED", f"Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/{self.project}/locations/{self.location}/publishers/google/models/x' (or it may not exist)."),
            "not_found": google_error(404, "NOT_FOUND", f"Publisher Model `projects/{self.project}/locations/{self.location}/publishers/google/models/x` not found."),
            "bad_request": google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
            "rate_limit": google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model with base model: imagen-3.0-generate. Please submit a quota increase request."),
            "server_error": google_error(500, "INTERNAL", "Internal error encountered."),
            "unavailable": google_error(503, "UNAVAILABLE", "The service is currently unavailable."),
        }[kind]  # fmt: skip

    def handle(self, request: FakeRequest) -> FakeResponse:
        match = _PATH.fullmatch(request.path)
        if request.method != "POST" or match is None:
            return google_error(404, "NOT_FOUND", f"The requested URL {request.path} was not found on this server.")
        project, location, model, method = match.groups()
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return google_error(401, "UNAUTHENTICATED", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.")  # fmt: skip
        if not self.token_is_valid(auth.removeprefix("Bearer ")):
            return self.error("auth")
        if project != self.project or location not in (self.location, GLOBAL):
            return google_error(403, "PERMISSION_DENIED", f"Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/{project}/locations/{location}/publishers/google/models/{model}' (or it may not exist).")  # fmt: skip
        if (model in GLOBAL_ONLY) != (location == GLOBAL) and (
            model in GLOBAL_ONLY or model not in GEMINI_IMAGE_CONFIG
        ):
            # Gemini 3 Pro Image is served in global only; Imagen nowhere in global ("The global location is
            # not supported for Imagen models"); other Gemini models both in global and in regions.
            return google_error(404, "NOT_FOUND", f"Publisher Model `projects/{project}/locations/{location}/publishers/google/models/{model}` is not served in location {location}.")  # fmt: skip
        if request.headers.get("content-type") != "application/json":
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        try:
            body = request.json()
        except ValueError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
        if method == "predict" and (model in IMAGEN_RULES or model == CAPABILITY_MODEL):
            return self.predict(model, body)
        if method == "generateContent" and model in GEMINI_IMAGE_CONFIG:
            return self.generate_content(model, body)
        if method == "generateContent" and model in IMAGEN_RULES:
            return google_error(400, "FAILED_PRECONDITION", f"Imagen model {model} cannot be accessed through the generateContent API.")  # fmt: skip
        return google_error(404, "NOT_FOUND", f"Publisher Model `projects/{project}/locations/{location}/publishers/google/models/{model}` was not found or your project does not have access to it.")  # fmt: skip

    def predict(self, model: str, body: dict[str, Any]) -> FakeResponse:
        for name in body:
            if name not in ("instances", "parameters"):
                return invalid_field(name, "")
        instances = body.get("instances")
        if isinstance(instances, list) and len(instances) == 1 and isinstance(instances[0], dict):
            edit = None
            if model == CAPABILITY_MODEL:
                edit = self._capability_edit
            elif model in LEGACY_EDITORS and "image" in instances[0]:
                edit = self._legacy_edit
            if edit is not None:
                try:
                    return edit(instances[0], body.get("parameters", {}))
                except InvalidArgument as exc:
                    return google_error(400, "INVALID_ARGUMENT", str(exc))
        return self.predict_generation(body, IMAGEN_RULES[model])

    def _capability_edit(self, instance: dict[str, Any], parameters: Any) -> FakeResponse:
        for name in instance:
            if name not in ("prompt", "referenceImages"):
                raise InvalidArgument(f"Invalid JSON payload received. Unknown name \"{name}\" at 'instances[0]'.")
        check_parameters(parameters, _CAPABILITY_RULES)
        if "aspectRatio" in parameters:
            raise InvalidArgument("aspectRatio is not supported for mask editing.")
        if set(parameters.get("editConfig", {})) - {"baseSteps"}:
            raise InvalidArgument("Unknown field in parameters.editConfig.")
        if not accepts(range(1, 2**31), parameters.get("editConfig", {}).get("baseSteps", 1)):
            raise InvalidArgument("editConfig.baseSteps must be a positive integer.")
        self._check_seed(parameters)
        references = instance.get("referenceImages")
        if not isinstance(references, list) or not references:
            raise InvalidArgument("referenceImages is required.")
        raw, masks = None, []
        for i, reference in enumerate(references):
            where = f"referenceImages[{i}]"
            allowed = {"referenceType", "referenceId", "referenceImage", "maskImageConfig", "controlImageConfig",
                       "styleImageConfig", "subjectImageConfig"}  # fmt: skip
            if not isinstance(reference, dict) or set(reference) - allowed:
                raise InvalidArgument(f"{where}: unknown field.")
            kind = reference.get("referenceType")
            if kind not in REFERENCE_TYPES or type(reference.get("referenceId")) is not int:
                raise InvalidArgument(f"{where}: referenceType and an integer referenceId are required.")
            image = reference.get("referenceImage")
            if image is not None and (
                not isinstance(image, dict) or set(image) - {"bytesBase64Encoded", "gcsUri", "mimeType"}
            ):
                raise InvalidArgument(f"{where}.referenceImage: unknown field.")
            if kind == "REFERENCE_TYPE_RAW":
                if raw is not None:
                    raise InvalidArgument("At most one raw reference image can be provided.")
                raw = decode_image((image or {}).get("bytesBase64Encoded"), f"{where}.referenceImage")
            elif kind == "REFERENCE_TYPE_MASK":
                masks.append((where, reference))
        mode = parameters.get("editMode", "EDIT_MODE_DEFAULT")
        if raw is None:
            raise InvalidArgument("A raw reference image is required for editing.")
        if mode in MASKED_EDIT_MODES and (len(masks) != 1 or len(references) != 2):
            raise InvalidArgument("For mask editing, exactly two reference images must be specified, one with REFERENCE_TYPE_RAW, and one with REFERENCE_TYPE_MASK.")  # fmt: skip
        for where, reference in masks:
            config = reference.get("maskImageConfig")
            if not isinstance(config, dict) or set(config) - {"maskMode", "maskClasses", "dilation"}:
                raise InvalidArgument(f"{where}: maskImageConfig with a maskMode is required.")
            if config.get("maskMode") not in MASK_MODES:
                raise InvalidArgument(f"{where}: invalid maskMode {config.get('maskMode')!r}.")
            _check_dilation(config, "dilation")
            if config["maskMode"] == "MASK_MODE_SEMANTIC" or "maskClasses" in config:
                _check_classes(config.get("maskClasses"))
            if config["maskMode"] == "MASK_MODE_USER_PROVIDED":
                mask = decode_image(
                    (reference.get("referenceImage") or {}).get("bytesBase64Encoded"), f"{where}.referenceImage"
                )
                if mask.size != raw.size:
                    raise InvalidArgument("The mask must have the same dimensions as the raw reference image.")
        prompt = instance.get("prompt", "")
        if not isinstance(prompt, str):
            raise InvalidArgument("prompt must be a string.")
        if "FILTERED" in prompt:
            raise InvalidArgument(RAI_MESSAGE)
        return self.predictions(parameters, None)

    def _legacy_edit(self, instance: dict[str, Any], parameters: Any) -> FakeResponse:
        if set(instance) - {"prompt", "image", "mask"}:
            raise InvalidArgument("Unknown field in instances[0].")
        check_parameters(parameters, _LEGACY_EDIT_RULES)
        self._check_seed(parameters)
        config = parameters.get("editConfig", {})
        if set(config) - {"editMode", "maskMode", "maskDilation", "guidanceScale", "productPosition", "baseSteps"}:
            raise InvalidArgument("Unknown field in parameters.editConfig.")
        if config.get("editMode", "inpainting-insert") not in LEGACY_EDIT_MODES:
            raise InvalidArgument(f"Invalid editMode {config.get('editMode')!r}.")
        _check_dilation(config, "maskDilation")
        image = decode_image(instance["image"].get("bytesBase64Encoded"), "instances[0].image")
        mask_mode = config.get("maskMode")
        if mask_mode is not None:
            if not isinstance(mask_mode, dict) or mask_mode.get("maskType") not in (
                "background",
                "foreground",
                "semantic",
            ):
                raise InvalidArgument("editConfig.maskMode.maskType must be background, foreground or semantic.")
            if mask_mode["maskType"] == "semantic" or "classes" in mask_mode:
                _check_classes(mask_mode.get("classes"))
        if "mask" in instance:
            mask = decode_image((instance["mask"].get("image") or {}).get("bytesBase64Encoded"), "instances[0].mask")
            if mask.size != image.size:
                raise InvalidArgument("The mask must have the same dimensions as the image.")
        elif mask_mode is None and config.get("editMode") != "product-image":
            raise InvalidArgument("A mask or editConfig.maskMode is required for mask-based editing.")
        return self.predictions(parameters, None)

    def _check_seed(self, parameters: dict[str, Any]) -> None:
        if "seed" in parameters and parameters.get("addWatermark", True):
            raise InvalidArgument("Seed is not supported when watermark is enabled.")
