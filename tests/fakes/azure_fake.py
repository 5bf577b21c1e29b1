"""A strict fake of Azure OpenAI's image generation and edits, from Azure's REST reference (2024-10-21+).

    POST /openai/deployments/{deployment}/images/generations?api-version=...
    POST /openai/v1/images/generations[?api-version=preview]      (body: model = deployment name)
    POST /openai/deployments/{deployment}/images/edits?api-version=2025-04-01-preview+  (multipart)
    POST /openai/v1/images/edits                                  (multipart, model = deployment name)

Like Azure it requires a supported `api-version` (missing: 404 "Resource not found"; unknown: 400
"API version not supported"; gpt-image models only from 2025-04-01-preview), an `api-key` header
or an Entra ID bearer token, and an existing deployment (404 DeploymentNotFound). The body is
then judged by the OpenAI model behind the deployment, exactly as `FakeOpenAI` judges it (Azure
serves OpenAI's models and answers their errors), except that Azure's `output_format` has no webp, DALL·E
deployments do not edit, and there is no variations route. Prompts containing PROMPT_FILTER_TRIGGER are
refused by the prompt filter, those containing OUTPUT_FILTER_TRIGGER by the image filter, in
Azure's two error shapes; every image carries Azure's filter results.
"""

from __future__ import annotations

import re
import time
from typing import Any

from imagegen.testing import FakeRequest, FakeResponse
from tests.fakes.openai_fake import GPT_IMAGE, FakeOpenAI, openai_error

API_VERSIONS = frozenset({
    "2023-12-01-preview", "2024-02-01", "2024-02-15-preview", "2024-03-01-preview", "2024-04-01-preview",
    "2024-05-01-preview", "2024-06-01", "2024-07-01-preview", "2024-08-01-preview", "2024-09-01-preview",
    "2024-10-01-preview", "2024-10-21", "2024-12-01-preview", "2025-01-01-preview", "2025-02-01-preview",
    "2025-03-01-preview", "2025-04-01-preview", "2025-06-01-preview",
})  # fmt: skip
GPT_IMAGE_MIN_API_VERSION = "2025-04-01-preview"  # dated versions sort as strings
DEPLOYMENTS = {
    "dall-e-3": "dall-e-3",
    "gpt-image-1": "gpt-image-1",
    "images-prod": "dall-e-3",  # a name that does not say which model it serves
    "team-gpt-image-1-mini": "gpt-image-1-mini",
}
PROMPT_FILTER_TRIGGER = "graphic violence"
OUTPUT_FILTER_TRIGGER = "borderline scene"

_DEPLOYMENT_PATH = re.compile(r"^/openai/deployments/(?P<deployment>[^/]+)/images/(?P<operation>generations|edits)$")
_V1_PATH = re.compile(r"^/openai/v1/images/(?P<operation>generations|edits)$")
EDITS_MIN_API_VERSION = "2025-04-01-preview"
_SAFE = {"filtered": False, "severity": "safe"}
_PROMPT_FILTER_RESULTS = {
    "hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE,
    "profanity": {"detected": False, "filtered": False},
    "jailbreak": {"detected": False, "filtered": False},
}  # fmt: skip
_CONTENT_FILTER_RESULTS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
PROMPT_FILTER_REJECTION = {**_PROMPT_FILTER_RESULTS, "violence": {"filtered": True, "severity": "high"}}


def azure_error(status: int, code: str, message: str, **extra: Any) -> FakeResponse:
    return FakeResponse(status, {"error": {"code": code, "message": message, **extra}})


def prompt_filter_error() -> FakeResponse:
    """Azure's rejection of a prompt by its content filter (images: `inner_error`, snake_case code)."""
    return FakeResponse(
        400,
        {
            "error": {
                "code": "content_policy_violation",
                "inner_error": {
                    "code": "ResponsibleAIPolicyViolation",
                    "content_filter_results": PROMPT_FILTER_REJECTION,
                },
                "message": "Your request was rejected as a result of our safety system. Your prompt may contain "
                "text that is not allowed by our safety system.",
                "type": "invalid_request_error",
            }
        },
    )


def output_filter_error() -> FakeResponse:
    """Azure's answer when the generated image itself is filtered (camelCase `contentFilter`)."""
    return FakeResponse(
        400,
        {
            "created": int(time.time()),
            "error": {
                "code": "contentFilter",
                "message": "Generated image was filtered as a result of our safety system.",
            },
        },
    )


class FakeAzureOpenAI(FakeOpenAI):
    """An Azure OpenAI resource at `url`, with `deployments` (name → model) and the credentials it accepts."""

    def __init__(
        self,
        api_keys: tuple[str, ...] = ("azure-test-key-1234",),
        tokens: tuple[str, ...] = (),
        deployments: dict[str, str] | None = None,
    ) -> None:
        super().__init__(api_keys=api_keys)
        self.tokens = set(tokens)
        self.deployments = dict(DEPLOYMENTS if deployments is None else deployments)

    def error(self, kind: str) -> FakeResponse:
        if kind == "mid_stream_error":  # Azure streams as OpenAI does
            return super().error(kind)
        return {
            "auth": azure_error(
                401,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
                "key for an active subscription and use a correct regional API endpoint for your resource.",
            ),
            "permission": azure_error(
                403,
                "PermissionDenied",
                "The principal lacks the required data action "
                "`Microsoft.CognitiveServices/accounts/OpenAI/deployments/images/generations/action`.",
            ),
            "not_found": self.deployment_not_found(),
            "bad_request": openai_error(400, "Invalid prompt", "invalid_request_error", param="prompt"),
            "content_policy": prompt_filter_error(),
            "rate_limit": FakeResponse(
                429,
                {
                    "error": {
                        "code": "429",
                        "message": "Requests to the Images_Generations Operation under Azure OpenAI API version "
                        "2024-10-21 have exceeded call rate limit of your current OpenAI S0 pricing tier. "
                        "Please retry after 1 second.",
                    }
                },
                {"retry-after-ms": "5", "retry-after": "1"},
            ),
            "server_error": openai_error(500, "The server had an error while processing your request.", "server_error"),
            "unavailable": azure_error(
                503, "ServiceUnavailable", "The service is temporarily unable to process your request."
            ),
        }[kind]

    @staticmethod
    def deployment_not_found() -> FakeResponse:
        return azure_error(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the "
            "last 5 minutes, please wait a moment and try again.",
        )

    def handle(self, request: FakeRequest) -> FakeResponse:
        if request.method == "GET" and request.path.startswith("/files/"):
            return super().handle(request)
        match = _DEPLOYMENT_PATH.match(request.path)
        v1 = _V1_PATH.match(request.path)
        if request.method != "POST" or (match is None and v1 is None):
            return azure_error(404, "404", "Resource not found")
        api_version = request.query.get("api-version", [None])[0]
        if match is not None:
            if api_version is None:
                return azure_error(404, "404", "Resource not found")
            if api_version not in API_VERSIONS:
                return azure_error(400, "BadRequest", "API version not supported")
        elif api_version not in (None, "preview"):
            return azure_error(400, "BadRequest", "API version not supported")
        if (denied := self.authenticate(request)) is not None:
            return denied
        if (match or v1)["operation"] == "edits":  # type: ignore[index]
            return self.edit(request, match["deployment"] if match else None, api_version)
        if request.headers.get("content-type") != "application/json":
            return openai_error(400, "Invalid content type; expected application/json", "invalid_request_error")
        try:
            body = request.json()
        except ValueError:
            return openai_error(400, "We could not parse the JSON body of your request.", "invalid_request_error")
        if match is not None:
            deployment = match["deployment"]  # a `model` in the body is ignored here, as Azure does
        else:
            deployment = body.get("model")
            if not deployment:
                return openai_error(
                    400,
                    "Missing required parameter: 'model'.",
                    "invalid_request_error",
                    "model",
                    "missing_required_parameter",
                )
        model = self.deployments.get(deployment)
        if model is None:
            return self.deployment_not_found()
        if (
            model in GPT_IMAGE
            and api_version is not None
            and api_version != "preview"
            and api_version < GPT_IMAGE_MIN_API_VERSION
        ):
            return azure_error(
                400,
                "BadRequest",
                f"Model {model} is enabled only for api versions {GPT_IMAGE_MIN_API_VERSION} and later",
            )
        prompt = body.get("prompt")
        if isinstance(prompt, str) and PROMPT_FILTER_TRIGGER in prompt:
            return prompt_filter_error()
        response = self.generate({**body, "model": model})
        if response.status != 200 or response.streamed:
            return response
        if isinstance(prompt, str) and OUTPUT_FILTER_TRIGGER in prompt:
            return output_filter_error()
        for item in response.body["data"]:
            item["prompt_filter_results"] = _PROMPT_FILTER_RESULTS
            item["content_filter_results"] = _CONTENT_FILTER_RESULTS
        return response

    def generate(self, body: dict[str, Any]) -> FakeResponse:
        if body.get("output_format") == "webp":  # Azure's output_format is png or jpeg
            supported = "'jpeg', 'png'"
            return openai_error(400, f"Invalid value: 'webp'. Supported values are: {supported}.",
                                "invalid_request_error", "output_format", "invalid_value")  # fmt: skip
        return super().generate(body)

    def edit(self, request: FakeRequest, deployment: str | None, api_version: str | None) -> FakeResponse:
        if api_version is not None and api_version != "preview" and api_version < EDITS_MIN_API_VERSION:
            return azure_error(404, "404", "Resource not found")
        if deployment is None:  # the v1 surface names the deployment in the form's `model`
            try:
                deployment = request.form()[0].get("model", [""])[0]
            except ValueError as exc:
                return openai_error(400, f"Invalid multipart body: {exc}", "invalid_request_error")
        model = self.deployments.get(deployment)
        if model is None:
            return self.deployment_not_found()
        if model not in GPT_IMAGE:
            return azure_error(400, "OperationNotSupported", f"The images/edits operation does not work with {model}.")
        return self.edit_form(request, deployment_model=model)

    def authenticate(self, request: FakeRequest) -> FakeResponse | None:
        """None when the api-key or the bearer token is accepted, else Azure's 401."""
        if "api-key" in request.headers:
            if request.headers["api-key"] in self.api_keys:
                return None
            return self.error("auth")
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer ") and bearer.removeprefix("Bearer ") in self.tokens:
            return None
        return azure_error(
            401,
            "401",
            "Unauthorized. Access token is missing, invalid, audience is incorrect "
            "(https://cognitiveservices.azure.com), or have expired.",
        )
