"""The proxy describes itself: routes declared with typed models that validate and document them.

A route is an `ApiRoute`: a Starlette route plus its `Operation` (summary, request and response
models, the errors it may answer). The same pydantic models check request bodies and query strings
(`parse`, a 400 in OpenAI's error shape naming the field and the fix) and make the OpenAPI 3.1
document served at `GET /openapi.json` (`document`). Adding a route and its models is one
`ApiRoute(...)` line and the models themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from pydantic_core import ErrorDetails
from starlette.routing import BaseRoute, Route

from .errors import ProxyError

OPENAPI_VERSION = "3.1.0"
MODEL_GROUP_MARK = "x-imagegen-model-group"
"""In a schema, a string that names one of the proxy's model groups: the document lists them as its enum."""
_SHOWN_INPUT_CHARS = 60

M = TypeVar("M", bound=BaseModel)


class Expect:
    """What a field must be, for error messages: `Annotated[int | None, Field(ge=0), Expect("a non-negative …")]`."""

    def __init__(self, text: str) -> None:
        self.text = text


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every error the proxy answers, in OpenAI's shape."""

    error: ErrorDetail


class Strict(BaseModel):
    """A request body: JSON types as given (no "5" for 5), and no field the route does not know."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    """A query string: every value arrives as text and is converted; unknown parameters are ignored."""

    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True)
class Operation:
    """What a route does and takes, for the document: its `request` model is the JSON body (POST) or the
    query string (GET), or `bodies` its bodies by media type (a route taking multipart forms too); `response`
    the 200's JSON model (None with `media_type` for another kind of body)."""

    summary: str
    tag: str
    request: type[BaseModel] | None = None
    bodies: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    response: type[BaseModel] | None = None
    errors: tuple[int, ...] = (400,)
    media_type: str = "application/json"
    authenticated: bool = True
    description: str | None = None
    path_params: Mapping[str, str] = field(default_factory=dict)  # name → description (all model groups)


class ApiRoute(Route):
    """A route that appears in the OpenAPI document."""

    def __init__(self, path: str, endpoint: Any, method: str, operation: Operation) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method
        self.operation = operation


# -- validation ------------------------------------------------------------------------------------


def parse_body(model: type[M], body: bytes) -> M:
    """`body` (JSON) as `model`; a 400 naming the field and what it must be."""
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as error:
        raise invalid(model, error) from None


def parse_query(model: type[M], params: Mapping[str, str]) -> M:
    """The query string as `model`; a 400 naming the parameter and what it must be."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as error:
        raise invalid(model, error) from None


def invalid(model: type[BaseModel], error: ValidationError) -> ProxyError:
    """The 400 for a body or query that `model` refused: the first problem, and how to fix it."""
    problems = error.errors(include_url=False)
    unknown = sorted(str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden" and p["loc"])
    refused: Mapping[str, str] = getattr(model, "refused_fields", {})
    if why := next((refused[name] for name in unknown if name in refused), None):
        return ProxyError(400, why, param=next(name for name in unknown if name in refused))
    if unknown:
        supported = ", ".join(model.model_fields)
        return ProxyError(400, f"unsupported field(s) {', '.join(unknown)}; supported: {supported}", param=unknown[0])
    problem = problems[0]
    if problem["type"] == "json_invalid":
        return ProxyError(400, f"the request body is not valid JSON ({problem['msg']})", code="invalid_json")
    if not problem["loc"] or problem["type"] in ("model_type", "dict_type"):
        return ProxyError(400, "the request body must be a JSON object")
    name = str(problem["loc"][0])
    expected = _expected(model, name)
    if problem["type"] == "missing":
        return ProxyError(400, f"`{name}` is required: {expected or 'give it'}", param=name)
    if problem["type"] == "value_error":  # our own validators' messages say what is wrong and the fix
        message = str(problem.get("ctx", {}).get("error", problem["msg"]))
        return ProxyError(400, message if f"`{name}`" in message else f"`{name}`: {message}", param=name)
    what = expected or problem["msg"].lower()
    return ProxyError(400, f"`{name}` must be {what}{_got(problem)}", param=name)


def _expected(model: type[BaseModel], name: str) -> str | None:
    info = model.model_fields.get(name)
    if info is None:
        return None
    return next((meta.text for meta in info.metadata if isinstance(meta, Expect)), None)


def _got(problem: ErrorDetails) -> str:
    shown = repr(problem.get("input"))
    return f" (got {shown if len(shown) <= _SHOWN_INPUT_CHARS else shown[:_SHOWN_INPUT_CHARS] + '…'})"


# -- the document ----------------------------------------------------------------------------------


class _Used:
    """The models the document refers to, each in the mode it is used in (request or response)."""

    def __init__(self) -> None:
        self.models: list[tuple[type[BaseModel], JsonSchemaMode]] = []

    def add(self, model: type[BaseModel], mode: JsonSchemaMode) -> tuple[type[BaseModel], JsonSchemaMode]:
        if (model, mode) not in self.models:
            self.models.append((model, mode))
        return model, mode


def document(
    routes: Iterable[BaseRoute], *, title: str, version: str, model_groups: Sequence[str] | None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every `ApiRoute` in `routes` (`model_groups`: the names clients may ask for,
    the enum of every model name; None: any string, as under a wildcard deployment)."""
    api_routes = [route for route in routes if isinstance(route, ApiRoute)]
    used = _Used()
    used.add(ErrorResponse, "serialization")
    for route in api_routes:
        operation = route.operation
        for model in (operation.request, *operation.bodies.values()):
            if model is not None:
                used.add(model, "validation")
        if operation.response is not None:
            used.add(operation.response, "serialization")
    found, definitions = models_json_schema(used.models, ref_template="#/components/schemas/{model}")
    refs: dict[tuple[type[BaseModel], JsonSchemaMode], Any] = dict(found)  # type: ignore[arg-type]
    schemas: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for route in api_routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, refs, schemas)
    result = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the master key or a virtual key"},
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "api-key", "description": "Azure's form"},
            },
        },
    }
    marked: dict[str, Any] = _mark_model_groups(result, sorted(model_groups or ()))
    return marked


def _operation(
    route: ApiRoute, refs: Mapping[tuple[type[BaseModel], JsonSchemaMode], Any], schemas: Mapping[str, Any]
) -> dict[str, Any]:
    op = route.operation
    result: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{route.method.lower()}{route.path.replace('/', '_').replace('{', '').replace('}', '')}",
        "tags": [op.tag],
    }
    if op.description:
        result["description"] = op.description
    parameters = [
        {"name": name, "in": "path", "required": True, "description": text,
         "schema": {"type": "string", MODEL_GROUP_MARK: True}}
        for name, text in op.path_params.items()
    ]  # fmt: skip
    if op.request is not None and route.method == "GET":
        parameters += _query_parameters(schemas[_name(refs[op.request, "validation"])])
    elif op.request is not None or op.bodies:
        bodies = {"application/json": op.request} if op.request is not None else op.bodies
        result["requestBody"] = {
            "required": True,
            "content": {media: {"schema": refs[model, "validation"]} for media, model in bodies.items()},
        }
    if parameters:
        result["parameters"] = parameters
    if op.response is not None:
        ok: dict[str, Any] = {"schema": refs[op.response, "serialization"]}
    else:
        ok = {"schema": {"type": "string" if op.media_type.startswith("text/") else "object"}}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {op.media_type: ok}}}
    error = {"content": {"application/json": {"schema": refs[ErrorResponse, "serialization"]}}}
    statuses = sorted({*op.errors, *((401, 403) if op.authenticated else ())})
    for status in statuses:
        responses[str(status)] = {"description": _REASONS.get(status, "error"), **error}
    result["responses"] = responses
    result["security"] = [{"bearer": []}, {"apiKeyHeader": []}] if op.authenticated else [{}]
    return result


def _name(ref: Mapping[str, str]) -> str:
    return ref["$ref"].rsplit("/", 1)[-1]


def _query_parameters(schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _mark_model_groups(node: Any, groups: list[str]) -> Any:
    """Every schema marked as a model group's name becomes the enum of the proxy's model groups."""
    if isinstance(node, dict):
        if node.get(MODEL_GROUP_MARK):
            described = {"description": node["description"]} if "description" in node else {}
            return {"type": "string", **({"enum": groups} if groups else {}), **described}
        return {key: _mark_model_groups(value, groups) for key, value in node.items()}
    if isinstance(node, list):
        return [_mark_model_groups(item, groups) for item in node]
    return node


def model_group_schema(description: str) -> dict[str, Any]:
    """The JSON schema of a field naming a model group (see MODEL_GROUP_MARK)."""
    return {"type": "string", "description": description, MODEL_GROUP_MARK: True}


_REASONS = {
    400: "Bad request (OpenAI's error shape; `param` names the field)",
    401: "No key, or an invalid or expired key",
    403: "The key may not do this",
    404: "Not found",
    413: "Request too large",
    429: "Rate limit or concurrency limit exceeded (`Retry-After` says when to retry)",
    502: "The upstream provider failed",
    503: "The keys database or Redis is unreachable, or the upstream is unavailable",
    504: "The upstream provider timed out",
}
