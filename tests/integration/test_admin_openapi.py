"""The OpenAPI document of /api/v1 and the /docs page rendered from it.

* The document is valid OpenAPI 3.0: neither openapi-spec-validator nor jsonschema is
  importable in both test environments (Debian 12 packages neither for this venv), so it is
  checked here: against OPENAPI_SHAPE, a JSON schema of the part of OpenAPI 3.0 the document
  uses, with the small validator below; and for what a schema cannot say (every $ref
  resolves, every path variable is declared, operationIds are unique, security schemes exist).
* It documents every /api/v1 route of the URL map and nothing else, so it cannot fall behind.
* A property-based run (hypothesis; schemathesis is not packaged by Debian) sends each
  operation path and query parameters and JSON bodies drawn from its documented schemas, plus
  junk, with an admin's API token, and checks that no answer is a 5xx, every status is one the
  document lists for the operation, and every JSON body validates against the documented
  schema for that status.

All of it runs on SQLite only: the document and the shapes of the answers come from the
application, not from the database, and the dialects' parity is what test_admin_api.py and
test_operations_parity.py prove; a few hundred generated requests per dialect would only add
minutes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobu.admin.api.openapi import PREFIX, api_routes, build_document, openapi_path, undocumented
from jobu.config import TopicConfig
from jobu.model import CronSpec, NewExecution, WorkerInfo
from jobu.operations.queue_messages import Record, Rejected, to_execution
from jobu.operations.users import Role, issue_api_token
from jobu.store.queue import NewDeadLetter
from tests.support.admin_site import AdminSite

pytestmark = pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)

METHODS = ("get", "put", "post", "delete", "patch")

# --- a validator for the subset of JSON Schema (and OpenAPI 3.0's schema objects) in use ---


def resolve(reference: str, root: dict[str, Any]) -> Any:
    """The target of a local `$ref` ("#/a/b") in `root`; KeyError when there is none."""
    target: Any = root
    for part in reference.removeprefix("#/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "null":
        return value is None
    return isinstance(value, _TYPES[kind])


def problems(value: Any, schema: dict[str, Any], root: dict[str, Any],
             where: str = "$") -> list[str]:
    """What is wrong with `value` under `schema` (empty: nothing). Knows $ref, nullable,
    allOf/anyOf/oneOf, enum, type, properties, required, additionalProperties,
    patternProperties, items, minimum, maximum, minLength, pattern and format date-time."""
    if "$ref" in schema:
        return problems(value, resolve(schema["$ref"], root), root, where)
    if value is None and schema.get("nullable"):
        return []
    found: list[str] = []
    for part in schema.get("allOf", ()):
        found += problems(value, part, root, where)
    for key in ("anyOf", "oneOf"):
        if key in schema and not any(not problems(value, part, root, where)
                                     for part in schema[key]):
            found.append(f"{where}: matches none of {key}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_is_type(value, each) for each in kinds):
            return [*found, f"{where}: {value!r} is not of type {kind}"]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                found.append(f"{where}: {name!r} is missing")
        for name, item in value.items():
            if name in properties:
                found += problems(item, properties[name], root, f"{where}.{name}")
                continue
            patterned = [part for pattern, part in schema.get("patternProperties", {}).items()
                         if re.search(pattern, name)]
            for part in patterned:
                found += problems(item, part, root, f"{where}.{name}")
            extra = schema.get("additionalProperties", True)
            if not patterned and extra is False:
                found.append(f"{where}: {name!r} is not allowed")
            elif not patterned and isinstance(extra, dict):
                found += problems(item, extra, root, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found += problems(item, schema["items"], root, f"{where}[{index}]")
    if _is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            found.append(f"{where}: shorter than {schema['minLength']}")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if schema.get("format") == "date-time":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                found.append(f"{where}: {value!r} is not a date-time")
    return found


#: The part of OpenAPI 3.0 the document uses, as a JSON schema (after the specification's own
#: schema, https://spec.openapis.org/oas/3.0/schema, restricted to what is built here).
OPENAPI_SHAPE: dict[str, Any] = {
    "type": "object", "required": ["openapi", "info", "paths"],
    "additionalProperties": False,
    "patternProperties": {"^x-": {}},
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.0\.\d+$"},
        "info": {"type": "object", "required": ["title", "version"],
                 "properties": {"title": {"type": "string"}, "version": {"type": "string"},
                                "description": {"type": "string"}}},
        "servers": {"type": "array"},
        "tags": {"type": "array"},
        "paths": {"type": "object", "additionalProperties": False,
                  "patternProperties": {"^/": {"$ref": "#/definitions/PathItem"}}},
        "components": {"type": "object", "additionalProperties": False, "properties": {
            "schemas": {"type": "object",
                        "additionalProperties": {"$ref": "#/definitions/Schema"}},
            "securitySchemes": {"type": "object",
                                "additionalProperties": {"$ref": "#/definitions/Security"}}}},
    },
    "definitions": {
        "PathItem": {"type": "object", "additionalProperties": False, "properties": {
            method: {"$ref": "#/definitions/Operation"} for method in METHODS}},
        "Operation": {
            "type": "object", "required": ["responses"], "additionalProperties": False,
            "patternProperties": {"^x-": {}},
            "properties": {
                "operationId": {"type": "string"}, "summary": {"type": "string"},
                "description": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "parameters": {"type": "array", "items": {"$ref": "#/definitions/Parameter"}},
                "requestBody": {"type": "object", "required": ["content"],
                                "properties": {"required": {"type": "boolean"},
                                               "content": {"$ref": "#/definitions/Content"}}},
                "responses": {"type": "object", "additionalProperties": False,
                              "patternProperties": {
                                  "^[1-5][0-9][0-9]$": {"$ref": "#/definitions/Response"}}},
                "security": {"type": "array", "items": {
                    "type": "object", "additionalProperties": {"type": "array"}}}}},
        "Parameter": {
            "type": "object", "required": ["name", "in", "schema"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string"},
                           "in": {"enum": ["query", "header", "path", "cookie"]},
                           "required": {"type": "boolean"},
                           "description": {"type": "string"},
                           "schema": {"$ref": "#/definitions/Schema"}}},
        "Response": {"type": "object", "required": ["description"],
                     "additionalProperties": False,
                     "properties": {"description": {"type": "string"},
                                    "content": {"$ref": "#/definitions/Content"}}},
        "Content": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["schema"], "additionalProperties": False,
            "properties": {"schema": {"$ref": "#/definitions/Schema"}}}},
        "Schema": {
            "type": "object", "additionalProperties": False,
            "patternProperties": {"^x-": {}},
            "properties": {
                "$ref": {"type": "string", "pattern": "^#/components/schemas/"},
                "type": {"enum": ["object", "array", "string", "integer", "number",
                                  "boolean"]},
                "format": {"type": "string"}, "description": {"type": "string"},
                "nullable": {"type": "boolean"}, "readOnly": {"type": "boolean"},
                "writeOnly": {"type": "boolean"}, "default": {},
                "enum": {"type": "array"}, "example": {},
                "minimum": {"type": "number"}, "maximum": {"type": "number"},
                "minLength": {"type": "integer"}, "maxLength": {"type": "integer"},
                "pattern": {"type": "string"}, "title": {"type": "string"},
                "required": {"type": "array", "items": {"type": "string"}},
                "properties": {"type": "object",
                               "additionalProperties": {"$ref": "#/definitions/Schema"}},
                "additionalProperties": {"anyOf": [{"type": "boolean"},
                                                   {"$ref": "#/definitions/Schema"}]},
                "items": {"$ref": "#/definitions/Schema"},
                **{key: {"type": "array", "items": {"$ref": "#/definitions/Schema"}}
                   for key in ("allOf", "anyOf", "oneOf")}}},
        "Security": {
            "type": "object", "required": ["type"],
            "properties": {"type": {"enum": ["apiKey", "http", "oauth2", "openIdConnect"]},
                           "scheme": {"type": "string"},
                           "in": {"enum": ["query", "header", "cookie"]},
                           "name": {"type": "string"}, "description": {"type": "string"}}},
    },
}


def operations_of(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, item in sorted(document["paths"].items())
            for method, operation in sorted(item.items())]


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


def structural_problems(document: dict[str, Any]) -> list[str]:
    """What OPENAPI_SHAPE cannot say about a document."""
    found = []
    for reference in references(document):
        try:
            resolve(reference, document)
        except (KeyError, TypeError):
            found.append(f"$ref {reference} resolves to nothing")
    schemes = set(document.get("components", {}).get("securitySchemes", {}))
    seen_ids: dict[str, str] = {}
    for path, method, operation in operations_of(document):
        where = f"{method.upper()} {path}"
        variables = set(re.findall(r"{(\w+)}", path))
        declared = {parameter["name"] for parameter in operation.get("parameters", [])
                    if parameter["in"] == "path"}
        if variables != declared:
            found.append(f"{where}: path variables {variables}, declared {declared}")
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path" and parameter.get("required") is not True:
                found.append(f"{where}: path parameter {parameter['name']} not required")
        names = [(parameter["name"], parameter["in"])
                 for parameter in operation.get("parameters", [])]
        if len(names) != len(set(names)):
            found.append(f"{where}: a parameter is declared twice")
        if not operation.get("responses"):
            found.append(f"{where}: no responses")
        if operation.get("operationId") in seen_ids:
            found.append(f"{where}: operationId {operation['operationId']} also on "
                         f"{seen_ids[operation['operationId']]}")
        seen_ids[operation.get("operationId")] = where
        for requirement in operation.get("security", []):
            if not set(requirement) <= schemes:
                found.append(f"{where}: unknown security scheme in {requirement}")
    return found


@pytest.fixture
def site(store, db_spec, tmp_path):
    site = AdminSite.make(store, db_spec, tmp_path)
    yield site
    site.close()


@pytest.fixture
def document(site):
    return build_document(site.app)


def test_the_document_is_valid_openapi_3_0(document):
    assert problems(document, OPENAPI_SHAPE, OPENAPI_SHAPE) == []
    assert structural_problems(document) == []
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    error = document["components"]["schemas"]["ErrorEnvelope"]
    assert error["properties"]["error"]["$ref"] == "#/components/schemas/Error"
    assert set(document["components"]["schemas"]["Error"]["properties"]) == {
        "code", "message", "field"}


def test_the_checks_catch_a_broken_document(document):
    """The validator is no rubber stamp: each kind of mistake is reported."""
    jobs = document["paths"]["/api/v1/jobs/{execution_id}"]["get"]
    jobs["parameters"] = []
    jobs["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] += "Gone"
    document["paths"]["/api/v1/crons"]["get"]["operationId"] = jobs["operationId"]
    document["paths"]["/api/v1/crons"]["get"]["responses"]["20x"] = {"description": "?"}
    found = structural_problems(document)
    assert any("path variables" in problem for problem in found)
    assert any("resolves to nothing" in problem for problem in found)
    assert any("operationId" in problem for problem in found)
    assert problems(document, OPENAPI_SHAPE, OPENAPI_SHAPE) != []


def test_every_api_route_is_documented_and_nothing_else(site, document):
    assert undocumented(site.app) == []
    served = {(openapi_path(rule)[0], method.lower()) for rule, method, _ in api_routes(site.app)}
    documented = {(path, method) for path, method, _ in operations_of(document)}
    assert served == documented
    assert len(documented) >= 20
    for path, method, operation in operations_of(document):
        assert path.startswith(PREFIX), path
        assert operation["summary"] and operation["tags"], (method, path)
        assert operation["x-jobu-role"] in ("viewer", "operator", "admin"), (method, path)
        if method != "get":
            assert {"session": [], "csrf": []} in operation["security"], (method, path)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}


def test_an_undocumented_route_is_named(site):
    """A route added under /api/v1 without @documented fails the test above."""
    site.app.add_url_rule(f"{PREFIX}/secret", "api.secret", lambda: "")
    assert undocumented(site.app) == [f"GET {PREFIX}/secret"]


def test_the_document_is_served_to_viewers_and_built_once(site, document):
    response = site.client(Role.VIEWER).get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.get_json() == document
    built = site.app.extensions["jobu_openapi"]
    assert site.client(Role.VIEWER).get("/docs").status_code == 200
    assert site.client(Role.VIEWER).get("/api/v1/openapi.json").get_json() == document
    assert site.app.extensions["jobu_openapi"] is built
    refused = site.client(None).get("/api/v1/openapi.json")
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == (
        "unauthenticated")


def test_docs_page_lists_every_endpoint_with_its_role_and_how_to_authenticate(site, document):
    response = site.client(Role.VIEWER).get("/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'href="/docs" class="here">API</a>' in page
    assert 'href="/api/v1/openapi.json"' in page
    assert "jobu admin user token NAME" in page and "Authorization: Bearer" in page
    assert "X-CSRF-Token" in page
    for path, method, operation in operations_of(document):
        section = page.split(f'id="{operation["operationId"]}"', 1)[1].split("</section>")[0]
        assert f"{method.upper()} {path}" in section
        assert f"role: {operation['x-jobu-role']}" in section
        for status in operation["responses"]:
            assert f"<td>{status}</td>" in section, (method, path, status)
        for parameter in operation.get("parameters", []):
            assert f"<code>{parameter['name']}</code>" in section, (method, path)
    for name in document["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    # nothing from elsewhere: no Swagger UI from a CDN, every link and source on this server
    assert re.findall(r'(?:src|href)="(?!/|#)[^"]*"', page) == []
    assert site.client(None).get("/docs").status_code == 302


# --- the property-based run ---

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6)


#: Values that name what the seeded data has, or that the use cases accept, drawn beside the
#: generated ones (by parameter or body field name) so that the run reaches the successes too.
#: CURRENT stands for the id of the seeded dead letter, which changes when one is discarded.
CURRENT = "<current>"
KNOWN: dict[str, list[Any]] = {
    "name": ["nightly", "fresh"], "execution_id": [1, 2, 3], "dead_letter_id": [CURRENT],
    "schedule": ["0 3 * * *", "@daily", "every 30m"], "handler_name": ["report"],
    "timezone": ["Asia/Seoul", "UTC"], "cron": ["nightly"], "handler": ["report"],
    "status": ["FAILED", "PENDING", "failed"], "max_retry": [0, 2], "topic": ["orders"],
    "count": [1, 5], "limit": [1, 2, 50], "before": [2, 3]}


def values_of(schema: dict[str, Any], document: dict[str, Any],
              name: str | None = None) -> st.SearchStrategy:
    """Values that fit `schema` (an OpenAPI schema object of `document`), and the KNOWN
    values of `name`."""
    made = _fitting(schema, document)
    if name in KNOWN:
        made = st.sampled_from(KNOWN[name]) | made
    return st.none() | made if schema.get("nullable") else made


def _fitting(schema: dict[str, Any], document: dict[str, Any]) -> st.SearchStrategy:
    if "$ref" in schema:
        return values_of(resolve(schema["$ref"], document), document)
    for key in ("allOf", "anyOf", "oneOf"):
        if schema.get(key):
            return values_of(schema[key][0], document)
    kind = schema.get("type")
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        return st.floats(min_value=schema.get("minimum"), max_value=schema.get("maximum"),
                         allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string" and schema.get("format") == "date-time":
        return st.datetimes().map(datetime.isoformat)
    if kind == "string":
        made = st.text(min_size=schema.get("minLength", 0), max_size=30)
        if schema.get("pattern") == "^[^/]+$":
            made = made.filter(lambda text: "/" not in text)
        return made
    if kind == "array":
        return st.lists(values_of(schema.get("items", {}), document), max_size=3)
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: values_of(part, document, name) for name, part in properties.items()
             if name in required},
            optional={name: values_of(part, document, name)
                      for name, part in properties.items() if name not in required})
    return JSON_VALUES


def seed(site: AdminSite) -> dict[str, str]:
    """A little data, put back before each request: the cron `nightly` and a dead letter;
    what CURRENT stands for."""
    store = site.store
    try:
        store.cron_get("nightly")
    except LookupError:
        store.cron_create(CronSpec(name="nightly", schedule="0 3 * * *", handler_name="report"))
    letters = store.dead_letter_list(limit=1)
    if not letters:
        record = Record(topic="orders", partition=0, offset=1,
                        value=b'{"handler_name": "sleep", "params": {}}', key=b"k",
                        headers=(("trace", b"1"),))
        decision = to_execution(record, TopicConfig(allowed_handlers=("noop",)), 1_000_000)
        assert isinstance(decision, Rejected)
        store.queue_commit_batch("jobu", [], [], [NewDeadLetter(
            "orders", 0, 1, b"k", (("trace", b"1"),), record.value, decision.reason)])
        letters = store.dead_letter_list(limit=1)
    return {"dead_letter_id": str(letters[0].id)}


def seed_once(site: AdminSite) -> None:
    """Three executions (one failed), a worker, and a queue.yaml that lets the dead letter
    (refused by a stricter topic when it was kept) be replayed."""
    queue = site.directory / "queue.yaml"
    settings = yaml.safe_load(queue.read_text()) or {}
    settings.update({"enabled": True, "kafka": {"bootstrap_servers": ["127.0.0.1:9092"]},
                     "topics": {"orders": {"allowed_handlers": ["noop", "sleep"]}}})
    queue.write_text(yaml.safe_dump(settings))
    store = site.store
    for number in range(3):
        store.execution_insert(NewExecution(handler_name="report", params={"n": number}))
    [claimed] = store.execution_claim("w", ["default"], 1, 60)
    store.execution_fail(claimed.id, claimed.lease_token, "boom", traceback="tb")
    store.worker_register(WorkerInfo(id="w1", kind="worker", hostname="alpha", pid=1,
                                     handlers=("report",)))


def plausible_bodies(schema: dict[str, Any], document: dict[str, Any]) -> st.SearchStrategy:
    """Bodies of KNOWN values only (the required fields, some others): most are accepted,
    so the answers of success are checked too, not only refusals."""
    target = resolve(schema["$ref"], document) if "$ref" in schema else schema
    required = set(target.get("required", ()))
    return st.fixed_dictionaries(
        {name: st.sampled_from(KNOWN[name]) if name in KNOWN else values_of(part, document)
         for name, part in target.get("properties", {}).items() if name in required},
        optional={name: st.sampled_from(KNOWN[name])
                  for name in target.get("properties", {}) if name in KNOWN
                  and name not in required})


def example_of(operation: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    """One request that should succeed, tried first whatever hypothesis draws: path
    variables naming seeded things, the required query parameters and nothing else, a body of
    the required fields (or, with none required, of one field) with KNOWN values. (Without
    it, whether a success is drawn depends on hypothesis's version.)"""
    parameters = operation.get("parameters", [])
    chosen: dict[str, Any] = {
        "path": {parameter["name"]: KNOWN[parameter["name"]][0]
                 for parameter in parameters if parameter["in"] == "path"},
        "query": {parameter["name"]: str(KNOWN[parameter["name"]][0])
                  for parameter in parameters
                  if parameter["in"] == "query" and parameter.get("required")},
        "body": None}
    if "requestBody" in operation:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        target = resolve(schema["$ref"], document) if "$ref" in schema else schema
        names = [name for name in target.get("properties", {}) if name in KNOWN]
        required = [name for name in names if name in target.get("required", ())]
        chosen["body"] = {name: KNOWN[name][-1] for name in required or names[:1]}
    return chosen


def requests_of(operation: dict[str, Any], document: dict[str, Any]) -> st.SearchStrategy:
    """{"path": {name: value}, "query": {name: text or None}, "body": value} for one
    operation: parameters from their schemas, KNOWN values or junk; a body from its schema
    or any JSON value."""
    path_values = {}
    query_values = {}
    for parameter in operation.get("parameters", []):
        drawn = values_of(parameter["schema"], document, parameter["name"])
        if parameter["in"] == "path":
            path_values[parameter["name"]] = drawn
        else:
            query_values[parameter["name"]] = st.none() | drawn.map(str) | st.text(max_size=12)
    body = st.none()
    if "requestBody" in operation:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        body = plausible_bodies(schema, document) | values_of(schema, document) | JSON_VALUES
    return st.fixed_dictionaries({"path": st.fixed_dictionaries(path_values),
                                  "query": st.fixed_dictionaries(query_values),
                                  "body": body})


def url_of(path: str, chosen: dict[str, Any], current: dict[str, str]) -> str:
    made = path
    for name, value in chosen["path"].items():
        value = current[name] if value == CURRENT else value
        made = made.replace("{" + name + "}", quote(str(value), safe=""))
    query = "&".join(f"{quote(name)}={quote(value, safe='')}"
                     for name, value in chosen["query"].items() if value is not None)
    return made + (f"?{query}" if query else "")


def answers_as_documented(site: AdminSite, client: Any, headers: dict[str, str], path: str,
                          method: str, operation: dict[str, Any], document: dict[str, Any],
                          seen: set[int]) -> Any:
    """The hypothesis check of one operation, ready to run; it adds the statuses it gets to
    `seen`."""

    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(chosen=requests_of(operation, document))
    def check(chosen: dict[str, Any]) -> None:
        url, body = url_of(path, chosen, seed(site)), chosen["body"]
        with_body = {"json": body} if "requestBody" in operation else {}
        response = client.open(url, method=method.upper(), headers=headers, **with_body)
        where = f"{method.upper()} {url} {body!r} → {response.status_code}"
        seen.add(response.status_code)
        text = response.get_data(as_text=True)
        assert response.status_code < 500, f"{where}: {text}"
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, f"{where}: not documented: {text}"
        content = documented.get("content", {}).get("application/json")
        if content is None:
            assert text == "", where
            return
        answer = response.get_json(silent=True)
        assert answer is not None, f"{where}: not JSON: {text}"
        wrong = problems(answer, content["schema"], document)
        assert not wrong, f"{where}: {wrong} in {answer}"

    return example(chosen=example_of(operation, document))(check)


def test_generated_requests_get_documented_answers(site, store, document):
    """For each operation, 25 requests drawn from the document: no 5xx, a status the document
    lists for the operation, a body that validates against the schema of that status; and
    among them at least one success, so that its schema was checked too. Derandomized: the
    same requests at every run."""
    seed_once(site)
    token = issue_api_token(store, "admin")
    client = site.app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    never_done = []
    for path, method, operation in operations_of(document):
        seen: set[int] = set()
        answers_as_documented(site, client, headers, path, method, operation, document, seen)()
        if not any(200 <= status < 300 for status in seen):
            never_done.append(f"{method.upper()} {path}: only {sorted(seen)}")
    assert never_done == []
