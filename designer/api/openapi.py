"""The OpenAPI 3.1 document of the API, generated from the published bundle.

Each object gets its schemas — `customer.Values` (every field, typed;
formulas read-only), `customer.Input` (what a create takes, children
included), `customer.Patch` and `customer.Record` (what a read gives, with
classifications and their explanations) — and each top-level object its own
list and create paths, so a client generator sees real field names and
types. The generic paths (a record by id, history, the bundle) complete it.
"""
from __future__ import annotations

from engine.fields import option_index

from ..records.listing import SORTS
from .serialize import read_only

#: field type -> JSON Schema of its stored value (empty is null; see `_nullable`)
TYPES = {
    "text": {"type": "string"},
    "textarea": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "money": {"type": "number", "description": "exact, two decimals; sent as a number or a decimal string"},
    "percent": {"type": "number", "minimum": 0, "maximum": 100},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "select": {"type": "string"},
    "multiselect": {"type": "array", "items": {"type": "string"}},
    "phone": {"type": "string", "description": "11-digit mainland mobile, or E.164 (+4930123456)"},
    "email": {"type": "string", "format": "email"},
    "url": {"type": "string", "format": "uri"},
    "region": {"type": "string", "description": "省/市/区, e.g. 广东省/深圳市/南山区"},
    "user": {"type": "string", "description": "a username of the workspace"},
    "autonumber": {"type": "string"},
}

_ERROR = {"$ref": "#/components/schemas/Error"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    out = dict(schema)
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def field_schema(f) -> dict:
    schema = dict(TYPES.get(f.type, {"type": "string"}))
    if f.type == "select":
        schema["enum"] = option_index(f.spec)[0]
    elif f.type == "multiselect":
        schema["items"] = {"type": "string", "enum": option_index(f.spec)[0]}
    for option, keyword in (("min", "minimum"), ("max", "maximum")):
        if isinstance(f.spec.get(option), (int, float)) and not isinstance(f.spec.get(option), bool):
            schema[keyword] = f.spec[option]
    if f.type in ("text", "textarea"):
        schema["maxLength"] = f.spec.get("max_length", 200 if f.type == "text" else 10000)
    schema["title"] = f.label
    if f.spec.get("help"):
        schema["description"] = f.spec["help"]
    if read_only(f):
        schema["readOnly"] = True
    return _nullable(schema)


def classification_schema(c) -> dict:
    if c.hit == "collect":
        items = {"type": "string"} | ({"enum": list(c.values)} if c.values else {})
        return {"type": ["array", "null"], "items": items, "title": c.label}
    kind = "number" if c.type == "number" else "string"
    schema = {"type": kind, "title": c.label}
    if c.values:
        schema["enum"] = list(c.values)
    return _nullable(schema)


def _object_schemas(bundle, obj) -> dict:
    key = obj.key
    fields = obj.fields
    writable = {k: field_schema(f) for k, f in fields.items() if not read_only(f)}
    required = [k for k, f in fields.items() if f.spec.get("required") is True and not read_only(f)]
    input_props = dict(writable)
    for child in obj.children:
        input_props[child] = {"type": "array", "items": _ref(f"{child}.Input")}
    if obj.parent is None:
        input_props["owner"] = {"type": "string", "description": "username; admins and managers only"}
    record = {
        "type": "object",
        "required": ["id", "object", "version", "values", "classifications", "explain"],
        "properties": {
            "id": {"type": "integer"},
            "object": {"const": key},
            "version": {"type": "integer", "description": "send it back as If-Match when changing the record"},
            "title": {"type": ["string", "null"]},
            "values": _ref(f"{key}.Values"),
            "classifications": {"type": "object", "properties": {
                c.key: classification_schema(c) for c in bundle.classifications_of(key)}},
            "explain": {"type": "object", "additionalProperties": _ref("Explanation")},
            "created_at": {"type": "string", "format": "date-time"},
            "created_by": {"type": ["string", "null"]},
            "updated_at": {"type": "string", "format": "date-time"},
            "updated_by": {"type": ["string", "null"]},
            "bundle_version": {"type": ["integer", "null"],
                               "description": "The published bundle version whose rules last changed this "
                                              "record's computed values or explanation (a publish that leaves "
                                              "them as they were does not rewrite the record)."},
        },
    }
    if obj.parent is None:
        record["properties"]["owner"] = {"type": ["string", "null"]}
        record["properties"]["pool"] = {"type": ["string", "null"], "description": "public pool (公海) it sits in"}
    else:
        record["properties"]["parent_id"] = {"type": "integer"}
    if obj.children:
        record["properties"]["children"] = {"type": "object", "properties": {
            child: {"type": "array", "items": _ref(f"{child}.Record")} for child in obj.children}}
    return {
        f"{key}.Values": {"type": "object", "title": obj.label,
                          "properties": {k: field_schema(f) for k, f in fields.items()}},
        f"{key}.Input": {"type": "object", "title": obj.label, "properties": input_props, "required": required,
                         "additionalProperties": False},
        f"{key}.Patch": {"type": "object", "title": obj.label,
                         "properties": {**writable, **({"owner": input_props["owner"]} if obj.parent is None else {}),
                                        "_version": {"type": "integer"}},
                         "additionalProperties": False},
        f"{key}.Record": record,
    }


def _generic_schemas() -> dict:
    problem = {"type": "object", "required": ["path", "message"], "properties": {
        "path": {"type": "string", "examples": ["order[1].amount"]},
        "message": {"type": "string"},
        "detail": {"type": ["object", "null"]},
    }}
    bundle_problem = {"type": "object", "properties": {
        "file": {"type": "string"}, "line": {"type": "integer"}, "col": {"type": "integer"},
        "path": {"type": "string"}, "message": {"type": "string"}, "kind": {"type": ["string", "null"]},
        "expr_col": {"type": "integer"},
    }}
    error = {"type": "object", "required": ["error"], "properties": {
        "error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "fields": {"type": "array", "items": _ref("Problem")},
            "problems": {"type": "array", "items": _ref("BundleProblem")},
        }},
        "record": {"type": "object", "description": "with 409 stale: the record as it is now"},
    }}
    explanation = {"type": "object", "properties": {
        "value": {},
        "rules": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "label": {"type": ["string", "null"]}, "when": {"type": "string"},
            "read": {"type": "object"}, "points": {"type": "number"}}}},
        "default": {"type": "boolean"},
        "read": {"type": "object", "description": "the values the deciding rules read"},
        "text": {"type": ["string", "null"], "description": "why, in one sentence"},
    }}
    history = {"type": "object", "properties": {
        "id": {"type": "integer"},
        "classifications": {"type": "array", "items": {"type": "object", "properties": {
            "key": {"type": "string"}, "old": {}, "new": {}, "at": {"type": "string", "format": "date-time"},
            "cause": {"type": "string", "enum": ["saved", "time", "rules published"]},
            "explain": {"type": "object"}, "bundle_version": {"type": ["integer", "null"]}}}},
        "audit": {"type": "array", "items": {"type": "object", "properties": {
            "record_id": {"type": "integer"}, "object": {"type": "string"},
            "at": {"type": "string", "format": "date-time"}, "actor": {"type": ["string", "null"]},
            "action": {"type": "string", "enum": ["create", "update", "delete"]},
            "changes": {"type": "object"}}}},
    }}
    version = {"type": "object", "properties": {
        "version": {"type": "integer"}, "bundle": {"type": "string"}, "filename": {"type": "string"},
        "published_at": {"type": "string", "format": "date-time"}, "published_by": {"type": ["string", "null"]},
        "note": {"type": "string"}, "report": {"type": "object"}, "source": {"type": "string"},
        "planning": _PLANNING,
    }}
    objects = {"type": "object", "properties": {
        "version": {"type": "integer"}, "bundle": {"type": "string"}, "title": {"type": "string"},
        "locale": {"type": "string"}, "timezone": {"type": "string"},
        "objects": {"type": "array", "items": {"type": "object"}},
    }}
    job = {"type": "object", "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": ["running", "done", "failed", "interrupted"]},
        "phase": {"type": ["string", "null"], "enum": ["reclassify", "plan", None]},
        "done": {"type": "integer"}, "total": {"type": "integer"}, "version": {"type": ["integer", "null"]},
        "by": {"type": ["string", "null"]}, "started_at": {"type": "string", "format": "date-time"},
        "finished": {"type": "boolean"}, "message": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "object"}},
    }}
    return {"Problem": problem, "BundleProblem": bundle_problem, "Error": error, "Explanation": explanation,
            "History": history, "BundleVersion": version, "Objects": objects, "PublishJob": job}


#: how far the workers are with planning every record again after a large publish (null: the publish did it)
_PLANNING = {"type": ["object", "null"], "properties": {
    "done": {"type": "integer"}, "total": {"type": "integer"}, "finished": {"type": "boolean"},
    "failing": {"type": ["object", "null"], "properties": {"error": {"type": "string"},
                                                           "retry_at": {"type": "string", "format": "date-time"}}}}}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    words = {400: "malformed request", 401: "not authenticated", 403: "not allowed for your role",
             404: "no such record that you may see", 409: "stale version or duplicate (or a publish running)",
             415: "wrong content type", 500: "the publish failed or its server stopped; nothing was published",
             422: "invalid values; every problem listed", 428: "no version given (If-Match or _version)",
             503: "no bundle published yet"}
    return {str(c): _json(_ERROR, words[c]) for c in codes}


_RECORD_ID = {"name": "record_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_IF_MATCH = {"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
             "description": 'the version read, as "3" (or send `_version` in the body)'}
_ALLOW_DUPLICATES = {"name": "allow_duplicates", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": ["1", "0"]},
                     "description": "save although a warn-mode duplicate (查重) was found"}


def _list_parameters(bundle, obj) -> list:
    params = [{"name": f"c.{c.key}", "in": "query", "required": False, "schema": {"type": "string"},
               "description": f"only records whose {c.label} is this value ((empty) for none)"}
              for c in bundle.classifications_of(obj.key)]
    return params + [
        {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}, "description": "title contains"},
        {"name": "expr", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "a condition in the bundle's expression language"},
        {"name": "sort", "in": "query", "required": False, "schema": {"type": "string", "enum": list(SORTS)}},
        {"name": "after", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "the `next` cursor of the previous page"},
        {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    ]


def document(cur) -> dict:
    """The OpenAPI 3.1 document for the bundle in force (`cur`: workspace.Current)."""
    bundle = cur.bundle
    schemas = _generic_schemas()
    for obj in bundle.objects.values():
        schemas.update(_object_schemas(bundle, obj))
    any_record = {"oneOf": [_ref(f"{k}.Record") for k in bundle.objects]}
    any_patch = {"anyOf": [_ref(f"{k}.Patch") for k in bundle.objects]}
    paths: dict = {
        "/objects": {"get": {"operationId": "listObjects", "summary": "The published objects, fields and "
                                                                     "classifications", "tags": ["bundle"],
                             "responses": {"200": _json(_ref("Objects"), "objects"), **_errors(401, 503)}}},
        "/records/{record_id}": {
            "parameters": [_RECORD_ID],
            "get": {"operationId": "getRecord", "summary": "A record with its children, classifications and why",
                    "tags": ["records"], "responses": {"200": _json(any_record, "the record"),
                                                       **_errors(401, 404, 503)}},
            "patch": {"operationId": "updateRecord", "summary": "Change some values (optimistic concurrency)",
                      "tags": ["records"], "parameters": [_IF_MATCH, _ALLOW_DUPLICATES],
                      "requestBody": {"required": True, "content": {"application/json": {"schema": any_patch}}},
                      "responses": {"200": _json(any_record, "the record as saved"),
                                    **_errors(400, 401, 403, 404, 409, 422, 428, 503)}},
            "delete": {"operationId": "deleteRecord", "summary": "Delete a record (and its children)",
                       "tags": ["records"], "parameters": [_IF_MATCH],
                       "responses": {"204": {"description": "deleted"},
                                     **_errors(400, 401, 403, 404, 409, 428, 503)}},
        },
        "/records/{record_id}/history": {
            "parameters": [_RECORD_ID],
            "get": {"operationId": "recordHistory", "summary": "Classification history and audit log",
                    "tags": ["records"],
                    "parameters": [{"name": "limit", "in": "query", "required": False,
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000}}],
                    "responses": {"200": _json(_ref("History"), "history"), **_errors(401, 404, 503)}},
        },
        "/bundle": {
            "get": {"operationId": "getBundle", "summary": "The bundle in force, with its source", "tags": ["bundle"],
                    "responses": {"200": _json(_ref("BundleVersion"), "the newest version"),
                                  **_errors(401, 403, 404)}},
            "post": {"operationId": "publishBundle", "summary": "Publish a new immutable version (admins)",
                     "tags": ["bundle"],
                     "parameters": [{"name": "note", "in": "query", "required": False, "schema": {"type": "string"}}],
                     "requestBody": {"required": True, "content": {
                         "application/yaml": {"schema": {"type": "string"}},
                         "application/json": {"schema": {"type": "object"}},
                         "text/plain": {"schema": {"type": "string"}}}},
                     "responses": {"201": _json({"type": "object", "properties": {
                         "version": {"type": "integer"}, "report": {"type": "object"}, "job": _ref("PublishJob"),
                         "planning": _PLANNING}},
                         "published within a few seconds"),
                         "202": _json({"type": "object", "properties": {"job": _ref("PublishJob")}},
                                      "still publishing: poll the Location (/bundle/publishes/{id})"),
                         **_errors(400, 401, 403, 409, 415, 422)}},
        },
        "/bundle/publishes/{id}": {
            "get": {"operationId": "getPublish", "summary": "A publish job: status, phase and count; the version "
                                                            "and its report once done (admins)", "tags": ["bundle"],
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                    "responses": {"200": _json({"type": "object", "properties": {
                        "job": _ref("PublishJob"), "version": {"type": "integer"}, "report": {"type": "object"},
                        "planning": _PLANNING},
                        "required": ["job"]}, "the job (with the version once done)"),
                        **_errors(401, 403, 404, 422, 500)}},
        },
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "tags": ["bundle"],
                                  "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1"),
                                                **_errors(401, 503)}}},
    }
    for obj in bundle.objects.values():
        key = obj.key
        if obj.parent is None:
            paths[f"/o/{key}/records"] = {
                "get": {"operationId": f"list_{key}", "summary": f"List {obj.label} records", "tags": [key],
                        "parameters": _list_parameters(bundle, obj),
                        "responses": {"200": _json({"type": "object", "required": ["records", "next"], "properties": {
                            "records": {"type": "array", "items": _ref(f"{key}.Record")},
                            "next": {"type": ["string", "null"]}}}, "one page"), **_errors(400, 401, 503)}},
                "post": {"operationId": f"create_{key}", "summary": f"Create a {obj.label} record", "tags": [key],
                         "parameters": [_ALLOW_DUPLICATES],
                         "requestBody": {"required": True,
                                         "content": {"application/json": {"schema": _ref(f"{key}.Input")}}},
                         "responses": {"201": _json(_ref(f"{key}.Record"), "created"),
                                       **_errors(400, 401, 403, 409, 422, 503)}},
            }
        for child in obj.children:
            item = paths.setdefault(f"/records/{{record_id}}/{child}", {"parameters": [_RECORD_ID]})
            item["post"] = {"operationId": f"add_{child}", "summary": f"Add a {bundle.objects[child].label} to a "
                                                                      f"{obj.label} record", "tags": [key],
                            "requestBody": {"required": True,
                                            "content": {"application/json": {"schema": _ref(f"{child}.Input")}}},
                            "responses": {"201": _json(_ref(f"{child}.Record"), "created"),
                                          **_errors(400, 401, 404, 409, 422, 503)}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"tierwise API — {bundle.title or bundle.id}", "version": f"{bundle.id}.{cur.version}",
                 "description": "Records of the published bundle, with classifications and their explanations. "
                                "Authenticate with `Authorization: Bearer <token>`, or with the browser session "
                                "plus the X-CSRFToken header on unsafe requests."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}, {"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "a per-user API token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
