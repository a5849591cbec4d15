"""/docs: the JSON API described for people, rendered from its OpenAPI document.

The page reads the very document GET /api/v1/openapi.json serves (admin.api.openapi), so the
two cannot disagree: endpoints grouped by tag with their role, parameters, body and answers,
then every schema they name, field by field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, current_app, render_template
from markupsafe import Markup, escape

from jobu.admin.api.openapi import document_of

bp = Blueprint("docs", __name__)

_REF = "#/components/schemas/"


@dataclass
class Endpoint:
    method: str
    path: str
    summary: str
    description: str
    role: str
    action: bool
    anchor: str
    parameters: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] | None = None
    responses: list[dict[str, Any]] = field(default_factory=list)


def with_code(text: str) -> Markup:
    """The document's text, escaped, with its `backquoted` words as <code>."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def type_of(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema in words: {"text": "[Execution]", "ref": "Execution"} (ref: the component
    the text names, to link to; None for plain types)."""
    nullable = " or null" if schema.get("nullable") else ""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF)
        return {"text": name + nullable, "ref": name}
    for combined in ("allOf", "anyOf", "oneOf"):
        if schema.get(combined):
            inner = type_of(schema[combined][0])
            return {"text": inner["text"] + nullable, "ref": inner["ref"]}
    kind = schema.get("type")
    if kind == "array":
        inner = type_of(schema.get("items", {}))
        return {"text": f"[{inner['text']}]{nullable}", "ref": inner["ref"]}
    if kind is None:
        return {"text": "any JSON value", "ref": None}
    notes = [str(schema["format"])] if "format" in schema else []
    notes += [f"{word} {schema[key]}" for key, word in (("minimum", "≥"), ("maximum", "≤"),
                                                        ("default", "default"))
              if key in schema]
    text = kind + (f" ({', '.join(notes)})" if notes else "")
    return {"text": text + nullable, "ref": None}


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", ()))
    return [{"name": name, "type": type_of(prop), "required": name in required,
             "description": prop.get("description", "")}
            for name, prop in schema.get("properties", {}).items()]


def _json_schema(part: dict[str, Any]) -> dict[str, Any] | None:
    content = part.get("content", {}).get("application/json")
    return None if content is None else content["schema"]


def endpoints_by_tag(document: dict[str, Any]) -> dict[str, list[Endpoint]]:
    """The document's operations grouped by their tag, in path order."""
    grouped: dict[str, list[Endpoint]] = {}
    for path, item in sorted(document["paths"].items()):
        for method, operation in item.items():
            endpoint = Endpoint(
                method=method.upper(), path=path, summary=operation.get("summary", ""),
                description=operation.get("description", ""),
                role=operation.get("x-jobu-role") or "anyone",
                action=operation.get("x-jobu-action", False), anchor=operation["operationId"],
                parameters=[{"name": parameter["name"], "in": parameter["in"],
                             "type": type_of(parameter["schema"]),
                             "required": parameter.get("required", False),
                             "description": parameter.get("description", "")}
                            for parameter in operation.get("parameters", [])])
            if "requestBody" in operation:
                endpoint.body = type_of(_json_schema(operation["requestBody"]))
            for status, response in sorted(operation["responses"].items()):
                schema = _json_schema(response)
                endpoint.responses.append({
                    "status": status, "description": response["description"],
                    "type": type_of(schema) if schema is not None else None})
            grouped.setdefault(operation["tags"][0], []).append(endpoint)
    return grouped


@bp.get("/docs")
def docs_page():
    document = document_of(current_app._get_current_object())
    schemas = {name: _fields(schema)
               for name, schema in sorted(document["components"]["schemas"].items())}
    return render_template("docs.html", document=document, with_code=with_code,
                           groups=endpoints_by_tag(document), schemas=schemas)
