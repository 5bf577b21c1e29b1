"""Strict fakes of Google's OAuth token endpoint and of Vertex AI's image endpoints.

`FakeGoogleOAuth` is what a service-account key's `token_uri` points at: it verifies the RS256
signature of the JWT assertion google-auth sends (with the key's public half), its claims, and
issues access tokens. `FakeVertex` serves `:predict` (Imagen) and `:generateContent` (Gemini) under
`/v1/projects/{project}/locations/{location}/publishers/google/models/{model}`, accepts only
tokens the OAuth fake issued, and rejects unknown fields and bad values with Google's error body
`{"error": {"code", "message", "status"}}`, from the Imagen and Gemini API references.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from imagegen.testing import TINY_PNG_B64, FakeRequest, FakeResponse, FakeUpstream

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The audience Google requires in the assertion, whatever URL the key's token_uri names.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


def google_error(code: int, status: str, message: str) -> FakeResponse:
    return FakeResponse(code, {"error": {"code": code, "message": message, "status": status}})


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


# What each Imagen model accepts in `parameters` (names and enums from the Imagen API reference).
_RATIOS = {"1:1", "3:4", "4:3", "9:16", "16:9"}
_BOOL = (bool,)
_IMAGEN_COMMON: dict[str, Any] = {
    "sampleCount": range(1, 5),
    "aspectRatio": _RATIOS,
    "seed": range(0, 2**32),
    "addWatermark": _BOOL,
    "personGeneration": {"dont_allow", "allow_adult", "allow_all"},
    "safetySetting": {"block_low_and_above", "block_medium_and_above", "block_only_high", "block_none"},
    "language": {"auto", "en", "zh", "zh-CN", "zh-TW", "hi", "ja", "ko", "pt", "es"},
    "includeRaiReason": _BOOL,
    "includeSafetyAttributes": _BOOL,
    "outputOptions": dict,
    "storageUri": str,
}
_LEGACY = {"negativePrompt": str, "guidanceScale": (int, float)}
_REWRITING = {"enhancePrompt": _BOOL}
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
_GEMINI_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
GEMINI_IMAGE_CONFIG: dict[str, dict[str, set[str]]] = {
    "gemini-2.0-flash-preview-image-generation": {},
    "gemini-2.5-flash-image": {"aspectRatio": _GEMINI_RATIOS},
    "gemini-2.5-flash-image-preview": {"aspectRatio": _GEMINI_RATIOS},
    "gemini-3-pro-image-preview": {"aspectRatio": _GEMINI_RATIOS, "imageSize": {"1K", "2K", "4K"}},
}
GENERATION_CONFIG_FIELDS = {
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences", "presencePenalty",
    "frequencyPenalty", "seed", "responseMimeType", "responseModalities", "imageConfig",
}  # fmt: skip
RAI_MESSAGE = (
    "Image generation failed with the following error: The prompt could not be submitted. This prompt "
    "contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the prompt. "
    "If you think this was an error, send feedback. Support codes: 42876398"
)
_PATH = re.compile(r"/v1/projects/([^/]+)/locations/([^/]+)/publishers/google/models/([^/:]+):(\w+)")


def _invalid_field(name: str, where: str) -> FakeResponse:
    return google_error(400, "INVALID_ARGUMENT", f'Invalid JSON payload received. Unknown name "{name}" at \'{where}\': Cannot find field.')  # fmt: skip


def _accepts(rule: Any, value: Any) -> bool:
    if isinstance(rule, range):
        return isinstance(value, int) and not isinstance(value, bool) and value in rule
    if isinstance(rule, set):
        return value in rule
    if rule is _BOOL:
        return isinstance(value, bool)
    return isinstance(value, rule) and not isinstance(value, bool)


class FakeVertex(FakeUpstream):
    """Vertex AI for one project and location; tokens are checked with `token_is_valid`.

    `filter_images = k` replaces the first k images of the next answers with `raiFilteredReason`;
    `block_prompt = "SAFETY"` makes Gemini block the prompt; `thoughts_tokens = k` makes Gemini
    report k thinking tokens (`thoughtsTokenCount`, billed as text output). `content_policy_as` says how a
    `fail_next("content_policy")` looks: Imagen's 400 or Gemini's 200 with a blocked prompt.
    """

    def __init__(self, token_is_valid: Callable[[str], bool], project: str, location: str = "us-central1") -> None:
        super().__init__()
        self.token_is_valid = token_is_valid
        self.project = project
        self.location = location
        self.filter_images = 0
        self.block_prompt: str | None = None
        self.thoughts_tokens = 0
        self.content_policy_as = "imagen"

    def error(self, kind: str) -> FakeResponse:
        if kind == "content_policy" and self.content_policy_as == "gemini":
            return FakeResponse(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}})  # fmt: skip
        return {
            "auth": google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."),
            "permission": google_error(403, "PERMISSION_DENIED", f"Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/{self.project}/locations/{self.location}/publishers/google/models/x' (or it may not exist)."),
            "not_found": google_error(404, "NOT_FOUND", f"Publisher Model `projects/{self.project}/locations/{self.location}/publishers/google/models/x` not found."),
            "bad_request": google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
            "content_policy": google_error(400, "INVALID_ARGUMENT", RAI_MESSAGE),
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
        if project != self.project or location != self.location:
            return google_error(403, "PERMISSION_DENIED", f"Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/{project}/locations/{location}/publishers/google/models/{model}' (or it may not exist).")  # fmt: skip
        if request.headers.get("content-type") != "application/json":
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        try:
            body = request.json()
        except ValueError:
            return google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
        if method == "predict" and model in IMAGEN_RULES:
            return self.predict(model, body)
        if method == "generateContent" and model in GEMINI_IMAGE_CONFIG:
            return self.generate_content(model, body)
        if method == "generateContent" and model in IMAGEN_RULES:
            return google_error(400, "FAILED_PRECONDITION", f"Imagen model {model} cannot be accessed through the generateContent API.")  # fmt: skip
        return google_error(404, "NOT_FOUND", f"Publisher Model `projects/{project}/locations/{location}/publishers/google/models/{model}` was not found or your project does not have access to it.")  # fmt: skip

    def predict(self, model: str, body: dict[str, Any]) -> FakeResponse:
        for name in body:
            if name not in ("instances", "parameters"):
                return _invalid_field(name, "")
        instances = body.get("instances")
        if not isinstance(instances, list) or len(instances) != 1 or set(instances[0]) != {"prompt"}:
            return google_error(400, "INVALID_ARGUMENT", "Invalid instances: exactly one instance with a prompt is expected.")  # fmt: skip
        prompt = instances[0]["prompt"]
        if not isinstance(prompt, str) or not prompt.strip():
            return google_error(400, "INVALID_ARGUMENT", "Prompt is required.")
        parameters = body.get("parameters", {})
        rules = IMAGEN_RULES[model]
        for name, value in parameters.items():
            if name not in rules:
                return _invalid_field(name, "parameters")
            if not _accepts(rules[name], value):
                return google_error(400, "INVALID_ARGUMENT", f"Invalid value for parameter {name}: {value!r}.")
        options = parameters.get("outputOptions", {})
        if set(options) - {"mimeType", "compressionQuality"}:
            return _invalid_field(
                next(iter(set(options) - {"mimeType", "compressionQuality"})), "parameters.outputOptions"
            )
        if options.get("mimeType", "image/png") not in ("image/png", "image/jpeg"):
            return google_error(400, "INVALID_ARGUMENT", f"Unsupported mime type: {options['mimeType']}.")
        if "compressionQuality" in options and (options.get("mimeType") != "image/jpeg" or not _accepts(range(0, 101), options["compressionQuality"])):  # fmt: skip
            return google_error(400, "INVALID_ARGUMENT", "compressionQuality must be 0-100 and is for image/jpeg only.")
        if "seed" in parameters and "addWatermark" in rules and parameters.get("addWatermark", True):
            return google_error(400, "INVALID_ARGUMENT", "Seed is not supported when watermark is enabled.")
        count = parameters.get("sampleCount", 4)  # Imagen's default
        mime_type = options.get("mimeType", "image/png")
        rewritten = parameters.get("enhancePrompt", True) and "enhancePrompt" in rules
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
                prediction["prompt"] = f"A photorealistic image of {prompt}, natural light, high detail"
            predictions.append(prediction)
        if not parameters.get("includeRaiReason"):
            predictions = [p for p in predictions if "raiFilteredReason" not in p]
        return FakeResponse(200, {"predictions": predictions} if predictions else {})

    def generate_content(self, model: str, body: dict[str, Any]) -> FakeResponse:
        for name in body:
            if name not in ("contents", "generationConfig", "safetySettings", "systemInstruction", "labels"):
                return _invalid_field(name, "")
        contents = body.get("contents")
        if not contents or not isinstance(contents, list):
            return google_error(400, "INVALID_ARGUMENT", "Unable to submit request because it must have a text parameter. Add a text parameter and try again.")  # fmt: skip
        parts = contents[-1].get("parts") or []
        prompt = " ".join(part.get("text", "") for part in parts)
        config = body.get("generationConfig", {})
        for name in config:
            if name not in GENERATION_CONFIG_FIELDS:
                return _invalid_field(name, "generation_config")
        modalities = config.get("responseModalities", ["TEXT"])
        if sorted(modalities) != ["IMAGE", "TEXT"] and not (modalities == ["IMAGE"] and "2.0" not in model):
            return google_error(400, "INVALID_ARGUMENT", f"Model does not support the requested response modalities: {','.join(m.lower() for m in modalities)}")  # fmt: skip
        if "candidateCount" in config and config["candidateCount"] != 1:
            return google_error(400, "INVALID_ARGUMENT", "Multiple candidates is not enabled for this model.")
        image_rules = GEMINI_IMAGE_CONFIG[model]
        for name, value in config.get("imageConfig", {}).items():
            if name not in image_rules:
                return _invalid_field(name, "generation_config.image_config")
            if value not in image_rules[name]:
                return google_error(400, "INVALID_ARGUMENT", f"Unsupported {name}: {value}.")
        usage = {
            "promptTokenCount": 7,
            "candidatesTokenCount": 1300,
            **({"thoughtsTokenCount": self.thoughts_tokens} if self.thoughts_tokens else {}),
            "totalTokenCount": 1307 + self.thoughts_tokens,
            "trafficType": "ON_DEMAND",
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 7}],
            "candidatesTokensDetails": [
                {"modality": "IMAGE", "tokenCount": 1290},
                {"modality": "TEXT", "tokenCount": 10},
            ],
        }
        if self.block_prompt:
            return FakeResponse(200, {"promptFeedback": {"blockReason": self.block_prompt}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}})  # fmt: skip
        if self.filter_images:
            candidate: dict[str, Any] = {"content": {"role": "model"}, "finishReason": "IMAGE_SAFETY"}
        else:
            candidate = {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": f"Here is the image: {prompt}"},
                        {"inlineData": {"mimeType": "image/png", "data": TINY_PNG_B64}},
                    ],
                },
                "finishReason": "STOP",
            }
        return FakeResponse(
            200,
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "createTime": "2026-01-01T00:00:00.000000Z",
                "responseId": secrets.token_hex(8),
            },
        )
