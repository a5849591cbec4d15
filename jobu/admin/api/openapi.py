"""The OpenAPI 3.0 document of /api/v1, made from the endpoints' own declarations.

Each endpoint says what it is next to its code, with `documented(...)`: its summary, tag,
query parameters, the marshmallow schema of its body and of its answers, and the refusals
its use case can give. Everything else is read from the application itself, so it cannot
disagree with what is served: the path and its variables from the URL map, the role and
whether it is an action from `security.requires`, and the refusals the gate gives before the
view runs (401 for everyone, 400 csrf for a change made with the session, 403 for a role
above viewer or in read-only mode, 503 when the jobs database does not answer).

The document is built once per application (at its first request for it) with apispec's
MarshmallowPlugin, from the schemas of `admin.api.schemas`. GET /api/v1/openapi.json serves
it and /docs renders it. A route under /api/v1 without a declaration is left out of it, and
`undocumented(app)` names it: tests/integration/test_admin_openapi.py fails on any.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, jsonify
from marshmallow import Schema

from jobu import __version__
from jobu.admin.api import bp
from jobu.admin.api.schemas import ErrorEnvelopeSchema
from jobu.admin.security import UNSAFE_METHODS, access_of
from jobu.operations.users import Role

#: apispec 5.2 (Debian 12) compares versions with distutils' LooseVersion, which warns on
#: every use under Python 3.11's setuptools; the comparison itself is right, so the warning
#: is silenced where apispec is imported and run, and nowhere else.
_APISPEC_5_WARNING = "distutils Version classes are deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _APISPEC_5_WARNING, DeprecationWarning)
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

PREFIX = "/api/v1"
EXTENSION_KEY = "jobu_openapi"
#: The error codes behind each refusal status, as refusals.py and security.py give them.
REFUSALS = {
    400: "bad_request (the request is malformed: a body that is not a JSON object) or csrf "
         "(a change sent with the session lacks its X-CSRF-Token header)",
    401: "unauthenticated: no session and no API token, or the token is not known",
    403: "forbidden (the role is too low) or read_only (read_only: true in admin.yaml)",
    404: "not_found: no such thing",
    409: "already_exists (the name is taken) or invalid_state (the thing is in the wrong "
         "state, or a crons file manages it)",
    422: "invalid_input: a value is not valid; `field` names it when the sentence does",
    503: "unavailable: the jobs database does not answer, or its schema is behind "
         "(jobu migrate)",
}
AUTHENTICATION = (
    "Send an API token, `Authorization: Bearer jobu_…` (`jobu admin user token NAME` prints "
    "one; it carries that user's role and needs no CSRF token), or use a signed-in session "
    "cookie: then every POST, PUT, PATCH and DELETE also carries the session's CSRF token in "
    "the `X-CSRF-Token` header.")
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "an API token of `jobu admin user token NAME`"},
    "session": {"type": "apiKey", "in": "cookie", "name": "session",
                "description": "the session cookie of a signed-in user (POST /login)"},
    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
             "description": "the session's CSRF token, on changes made with the session"},
}
_VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTED = {"int": {"type": "integer", "minimum": 0},
              "default": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}}


@dataclass(frozen=True)
class Operation:
    """What an endpoint declares about itself (see `documented`)."""

    summary: str
    tag: str
    responses: Mapping[int, type[Schema] | dict[str, Any] | None]
    query: tuple[dict[str, Any], ...] = ()
    body: type[Schema] | None = None
    refusals: tuple[int, ...] = ()
    description: str | None = None


def documented(summary: str, *, tag: str,
               responses: Mapping[int, type[Schema] | dict[str, Any] | None],
               query: Iterable[dict[str, Any]] = (), body: type[Schema] | None = None,
               refusals: Iterable[int] = (), description: str | None = None) -> Callable:
    """Declare a view's part of the OpenAPI document.

    `responses` maps each success status to the schema of its JSON body (a marshmallow
    schema, or a JSON schema where no marshmallow schema makes it; None: no body);
    `query` holds `query_parameter`s; `body` is the schema of the JSON body it accepts;
    `refusals` the statuses its use case can refuse with (404, 409, 422), beyond those the
    gate, the path variables and the declared parameters already imply.
    """
    def mark(view: Callable) -> Callable:
        view.jobu_openapi = Operation(summary, tag, dict(responses), tuple(query), body,
                                      tuple(refusals), description or view.__doc__)
        return view
    return mark


def query_parameter(name: str, description: str, *, kind: str = "string",
                    minimum: int | None = None, maximum: int | None = None,
                    default: Any = None, required: bool = False) -> dict[str, Any]:
    """A query parameter (`kind` integer: checked by params.whole_number, 422 otherwise);
    `required`: the endpoint refuses (422) a request without it."""
    schema: dict[str, Any] = {"type": kind}
    for key, value in (("minimum", minimum), ("maximum", maximum), ("default", default)):
        if value is not None:
            schema[key] = value
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}


def page_limit(what: str) -> dict[str, Any]:
    """The `limit` of a list (params.limit): admin.yaml's page_size by default."""
    return query_parameter("limit", f"how many {what} a page holds (admin.yaml's page_size "
                           "by default)", kind="integer", minimum=1, maximum=1000)


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """A Flask rule as an OpenAPI path, with its path parameters."""
    parameters = []
    for found in _VARIABLE.finditer(rule):
        converter = found["converter"] or "default"
        parameters.append({"name": found["name"], "in": "path", "required": True,
                           "schema": dict(_CONVERTED.get(converter, _CONVERTED["default"]))})
    return _VARIABLE.sub(lambda found: "{" + found["name"] + "}", rule), parameters


def api_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(rule, method, endpoint) of every route under /api/v1."""
    return sorted((rule.rule, method, rule.endpoint) for rule in app.url_map.iter_rules()
                  if rule.rule.startswith(PREFIX + "/")
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def undocumented(app: Flask) -> list[str]:
    """The routes under /api/v1 whose view declares no documentation."""
    return [f"{method} {rule}" for rule, method, endpoint in api_routes(app)
            if getattr(app.view_functions[endpoint], "jobu_openapi", None) is None]


def _refusal_statuses(method: str, operation: Operation, needs: Any,
                      path_parameters: list) -> list[int]:
    statuses = {401, 503, *operation.refusals}
    if method in UNSAFE_METHODS:
        statuses.add(400)
    if operation.body is not None:
        statuses.update((400, 422))
    if needs.action or (needs.role is not None and needs.role != Role.VIEWER):
        statuses.add(403)
    if path_parameters:
        statuses.add(404)
    if any(parameter["schema"]["type"] == "integer" for parameter in operation.query):
        statuses.add(422)
    return sorted(statuses)


def _operation(app: Flask, method: str, endpoint: str, operation: Operation,
               path_parameters: list) -> dict[str, Any]:
    needs = access_of(app, endpoint)
    role = needs.role.value if needs.role is not None else None
    unsafe = method in UNSAFE_METHODS
    responses: dict[str, Any] = {}
    for status, schema in operation.responses.items():
        responses[str(status)] = {"description": "done, no body" if schema is None
                                  else "done"}
        if schema is not None:
            responses[str(status)]["content"] = {"application/json": {"schema": schema}}
    for status in _refusal_statuses(method, operation, needs, path_parameters):
        responses[str(status)] = {"description": REFUSALS[status], "content": {
            "application/json": {"schema": ErrorEnvelopeSchema}}}
    document: dict[str, Any] = {
        "operationId": endpoint.split(".", 1)[-1],
        "summary": operation.summary,
        "tags": [operation.tag],
        "parameters": [*path_parameters, *operation.query],
        "responses": responses,
        "security": ([{"bearer": []}, {"session": [], "csrf": []}] if unsafe
                     else [{"bearer": []}, {"session": []}]),
        "x-jobu-role": role,
        "x-jobu-action": needs.action,
    }
    if operation.description:
        document["description"] = " ".join(operation.description.split())
    if operation.body is not None:
        document["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": operation.body}}}
    return document


def _tighten(document: dict[str, Any]) -> None:
    """What marshmallow does that apispec versions say differently, said alike: no schema
    takes keys it does not declare (bodies are loaded with unknown=RAISE), and an answer
    carries every field of its schema (a dump writes them all)."""
    bodies = {content["schema"]["$ref"].rsplit("/", 1)[-1]
              for item in document["paths"].values() for operation in item.values()
              for content in operation.get("requestBody", {}).get("content", {}).values()}
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        schema["additionalProperties"] = False
        if name not in bodies and schema.get("properties"):
            schema["required"] = sorted(schema["properties"])


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.0 document of every documented route of `app` under /api/v1."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", _APISPEC_5_WARNING, DeprecationWarning)
        document = _spec_of(app).to_dict()
    _tighten(document)
    return document


def _spec_of(app: Flask) -> APISpec:
    spec = APISpec(title="jobu admin API", version=__version__, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()],
                   info={"description": AUTHENTICATION + " Errors are "
                         '`{"error": {"code", "message", "field"}}`.'})
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    paths: dict[str, dict[str, Any]] = {}
    for rule, method, endpoint in api_routes(app):
        operation = getattr(app.view_functions[endpoint], "jobu_openapi", None)
        if operation is None:
            continue
        path, path_parameters = openapi_path(rule)
        paths.setdefault(path, {})[method.lower()] = _operation(
            app, method, endpoint, operation, path_parameters)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec


def document_of(app: Flask) -> dict[str, Any]:
    """This application's document, built at the first call."""
    if EXTENSION_KEY not in app.extensions:
        app.extensions[EXTENSION_KEY] = build_document(app)
    return app.extensions[EXTENSION_KEY]


@bp.get("/openapi.json")
@documented("This document: OpenAPI 3.0 of every endpoint under /api/v1",
            tag="documentation", responses={200: {"type": "object"}})
def openapi_document():
    return jsonify(document_of(current_app._get_current_object()))
