"""The OpenAPI 3.1 document of every /v1 path, served at /v1/openapi.json.

Built from what the code serves: the read endpoints' table (v1.ENDPOINTS, with
their parameters, handed in), the ingest routes' paths (ingest.py) and the response
models (v1_schema.py), whose JSON Schemas pydantic writes. OpenAPI 3.1 takes
JSON Schema 2020-12 as it is, so the schemas go into `components` unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from daemon.api import ingest
from daemon.api import v1_schema as schema
from daemon.api.v1_params import Endpoint, Param, ParamType

REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "A parameter the endpoint cannot take; the message names it and what it accepts",
    401: "Bound beyond loopback and no valid bearer token",
    403: "A cross-origin write",
    404: "No such model",
    413: "The body is over the model's max_body_bytes",
    415: "A body that is neither JSON nor JSON Lines",
    503: "The store is unavailable: retry later (Retry-After)",
}
_READ_SECURITY: list[dict[str, list[str]]] = [{}, {"bearer": []}]
_DESCRIPTION = """\
mlmaint's HTTP API: push prediction rows and labels, and read what the daemon
stored (models, measures over time, alerts, retrain jobs, framework findings).

Reads (GET) are open on loopback and need the read token (`service.read_token`)
or the API token (`service.api_token`) as `Authorization: Bearer TOKEN` when the
server is bound beyond loopback. Writes (POST) need the API token, or nothing on
loopback when no token is configured. Times are UTC, ISO 8601."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlmaint")
    except PackageNotFoundError:
        return "0"


def _param_schema(param: Param) -> dict[str, object]:
    match param.type:
        case ParamType.TEXT:
            return {"type": "string"}
        case ParamType.TIME:
            return {"type": "string", "examples": ["2026-11-30", "2026-11-30T12:00:00Z"]}
        case ParamType.CHOICE:
            found: dict[str, object] = {"type": "string", "enum": list(param.options())}
            if param.default is not None:
                found["default"] = param.default
            return found
        case ParamType.LIMIT:
            return {
                "type": "integer",
                "minimum": 1,
                "maximum": param.maximum,
                "default": param.default,
            }


def _path_params(path: str) -> list[dict[str, object]]:
    if "{name}" not in path:
        return []
    return [
        {
            "name": "name",
            "in": "path",
            "required": True,
            "description": "the model's name, as configured",
            "schema": {"type": "string"},
        }
    ]


def _error(code: int) -> dict[str, object]:
    return {
        "description": _ERRORS[code],
        "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorOut")}}},
    }


def _ok(model: type[BaseModel] | None, description: str) -> dict[str, object]:
    body = {"type": "object"} if model is None else {"$ref": REF.format(model=model.__name__)}
    return {"description": description, "content": {"application/json": {"schema": body}}}


def _operation_id(method: str, path: str) -> str:
    words = [w.strip("{}").replace(".", "_") for w in path.split("/") if w and w != "v1"]
    return "_".join([method, *words])


def _read(endpoint: Endpoint) -> dict[str, object]:
    params = _path_params(endpoint.path) + [
        {
            "name": p.name,
            "in": "query",
            "required": False,
            "description": p.description,
            "schema": _param_schema(p),
        }
        for p in endpoint.params
    ]
    responses: dict[str, object] = {"200": _ok(endpoint.response, endpoint.summary)}
    for code in sorted({*endpoint.errors, 401, 503}):
        responses[str(code)] = _error(code)
    return {
        "operationId": _operation_id("get", endpoint.path),
        "summary": endpoint.summary,
        "parameters": params,
        "responses": responses,
        "security": _READ_SECURITY,
    }


def _ingest(path: str, stream: Literal["predictions", "labels"]) -> dict[str, object]:
    answer = schema.IngestedPredictions if stream == "predictions" else schema.IngestedLabels
    what = "prediction rows" if stream == "predictions" else "labels (prediction_id, label)"
    return {
        "operationId": _operation_id("post", path),
        "summary": f"Push {what}: a JSON array or JSON Lines, gzip accepted",
        "parameters": _path_params(path),
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        "responses": {
            "202": _ok(answer, "The counts of accepted and rejected rows, by reason"),
            **{str(code): _error(code) for code in (400, 401, 403, 404, 413, 415, 503)},
        },
        "security": [{"bearer": []}],
    }


def document(endpoints: Sequence[Endpoint]) -> Mapping[str, object]:
    """The OpenAPI 3.1 document of every /v1 path: the reads given and the ingest routes."""
    return _document(tuple(endpoints))


@functools.cache
def _document(endpoints: tuple[Endpoint, ...]) -> Mapping[str, object]:
    models: list[type[BaseModel]] = [schema.ErrorOut, schema.IngestedPredictions]
    models += [schema.IngestedLabels]
    models += [e.response for e in endpoints if e.response is not None]
    _, defs = models_json_schema(
        [(m, "serialization") for m in dict.fromkeys(models)], ref_template=REF
    )
    paths: dict[str, dict[str, object]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})["get"] = _read(endpoint)
    paths.setdefault(ingest.PREDICTIONS, {})["post"] = _ingest(ingest.PREDICTIONS, "predictions")
    paths.setdefault(ingest.LABELS, {})["post"] = _ingest(ingest.LABELS, "labels")
    return {
        "openapi": "3.1.0",
        "info": {"title": "mlmaint", "version": _version(), "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
