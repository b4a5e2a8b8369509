"""Tests of schemas/bundle.schema.json, the JSON Schema of a bundle's structure.

The schema checks structure only (keys, types, shapes); expressions are
plain strings here and are checked by the engine.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from engine.source import load_text

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = ROOT / "schemas" / "bundle.schema.json"
DATA = Path(__file__).resolve().parent / "data"
CONFORMANCE = Path(__file__).resolve().parent / "conformance"


def load_yaml(text: str):
    """The engine's own reading of YAML (YAML 1.2 scalars: `on:` stays a key, dates stay text)."""
    doc, problems = load_text(text, "test.yaml")
    assert not problems, problems
    return doc.data


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def validator(schema) -> Draft202012Validator:
    return Draft202012Validator(schema)


def describe(errors) -> str:
    return "\n".join(f"{list(e.absolute_path)} [{keyword(e)}]: {e.message}" for e in errors)


def keyword(error) -> str:
    return str(error.validator)


# ---------------------------------------------------------------------------
# the schema itself


def test_schema_is_a_valid_draft_2020_12_schema(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://tierwise.dev/schemas/bundle.schema.json"
    Draft202012Validator.check_schema(schema)


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, path + (i,))


def test_every_object_schema_is_closed(schema):
    """Typos must be caught: every object schema sets `additionalProperties`
    (false, or a schema for maps such as `objects`). `if` tests are exempt."""
    open_ = [
        p
        for p, node in _walk(schema)
        if node.get("type") == "object"
        and "additionalProperties" not in node
        and not (p and p[-1] == "if")
    ]
    assert open_ == []


SUBSCHEMA_KEYWORDS = {"items", "prefixItems", "contains", "not", "if", "then", "else", "propertyNames"}


def test_no_false_subschemas(schema):
    """jsonschema reports a `false` subschema's error at the parent object, not
    at the offending key, so options not allowed somewhere use
    `$ref: "#/$defs/notAllowed"` (`not: {}`) instead: its error is located."""
    falses = [
        path + (k,)
        for path, node in _walk(schema)
        for k, v in node.items()
        if v is False
        and (path[-1:] in (("properties",), ("patternProperties",)) or k in SUBSCHEMA_KEYWORDS)
    ]
    assert falses == []


def test_every_property_is_described(schema):
    """Editors show `description` on completion: every declared property has one
    (directly or through its $ref target)."""
    defs = schema["$defs"]
    missing = []
    for path, node in _walk(schema):
        if path and path[-1] == "properties" and isinstance(node, dict):
            for name, sub in node.items():
                if sub is False or _in_conditional(path):
                    continue
                target = sub
                if "description" not in target and "$ref" in target:
                    target = defs[target["$ref"].rsplit("/", 1)[1]]
                if "description" not in target:
                    missing.append(path + (name,))
    assert missing == []


def _in_conditional(path) -> bool:
    return any(k in ("if", "then", "else") for k in path)


# ---------------------------------------------------------------------------
# valid bundles

VALID_FILES = [
    pytest.param(CONFORMANCE / "retail.bundle.yaml", id="conformance-retail"),
    pytest.param(DATA / "spec_examples.bundle.yaml", id="spec-examples"),
]


@pytest.mark.parametrize("path", VALID_FILES)
def test_valid_bundle_files(validator, path):
    doc = load_yaml(path.read_text(encoding="utf-8"))
    errors = list(validator.iter_errors(doc))
    assert not errors, describe(errors)


# Shapes the spec allows that the files above do not use.
VALID_SNIPPETS = {
    "every field type with its options": """
        bundle: all-types
        title: All field types
        locale: en-US
        timezone: Europe/Berlin
        calendar: none
        objects:
          customer:
            label: Customer
            description: Everything at once
            title: name
            fields:
              - {key: name, type: text, max_length: 50, pattern: "[A-Z].*", help: Legal name,
                 unique: {mode: warn, match: company}}
              - {key: notes, type: textarea, max_length: 5000, readonly: false}
              - {key: visits, type: integer, min: 0, max: 1000, default: 0}
              - {key: ratio, type: number, min: -1.5, max: 1.5, decimals: 3, default: 0.5}
              - {key: revenue, type: money, currency: USD, min: 0, default: 0}
              - {key: share, type: percent, min: 0, max: 100, decimals: 1, default: 50}
              - {key: vip, type: boolean, default: false}
              - {key: since, type: date, default: "2026-01-01"}
              - {key: next_call, type: datetime, default: {expr: "now() + 1d"}}
              - {key: due, type: date, default: {expr: "today() + 7d"}}
              - {key: stage, type: select, default: lead,
                 options: [{value: lead, label: Lead}, {value: won}, lost]}
              - {key: tags, type: multiselect, options: [a, b, c], default: [a, b]}
              - {key: phone, type: phone, unique: {mode: block}}
              - {key: email, type: email, unique: {match: exact}}
              - {key: site, type: url}
              - {key: region, type: region, default: 广东省/深圳市/南山区}
              - {key: sales_rep, type: user, default: ~}
              - {key: code, type: autonumber, format: "KH-{yyyy}-{seq:5}"}
              - {key: lost_reason, type: textarea, visible_if: "stage == 'lost'",
                 required_if: "stage == 'lost'", required: false}
          contact:
            parent: customer
            fields: []
        """,
    "classification hit policies": """
        bundle: hits
        objects: {customer: {fields: [{key: revenue, type: money}]}}
        classifications:
          - key: tier
            object: customer
            description: numeric tiers
            values: [1, 2, 3]
            rules: [{when: "revenue > 10", value: 1, label: big}]
            default: 3
          - key: tags
            object: customer
            hit: collect
            values: [big]
            rules: [{when: "revenue > 10", value: big}]
          - key: score
            object: customer
            hit: sum
            base: -5.5
            rules: [{when: "revenue > 10", points: 2.5, label: big}, {when: "true", points: -1}]
        """,
    "follow-up with working hours and reminders to users": """
        bundle: fu
        objects: {customer: {fields: [{key: name, type: text}]}}
        followup:
          - key: fu
            object: customer
            label: 跟进
            cadence: [{when: "true", every: 12h, label: always}]
            working_days: false
            working_hours: {start: "09:00", end: "18:00"}
            reminders:
              - {at: 0m, notify: admins, label: due now}
              - {at: 1w, notify: alice}
        """,
    "minimal pool": """
        bundle: pool-min
        objects: {customer: {fields: [{key: name, type: text}]}}
        pool:
          - {key: public, object: customer}
        """,
    "every trigger and action": """
        bundle: actions
        objects: {customer: {fields: [{key: name, type: text}, {key: due, type: date},
                                      {key: industry, type: text}]}}
        automations:
          - key: a
            object: customer
            label: all actions
            on: created
            do:
              - task: {title: "call {name}"}
              - notify: {to: [owner, manager, bob], text: "{name}"}
              - assign: {strategy: least_loaded, users: [alice]}
              - assign: {strategy: rule, expr: industry, map: {教育: alice, "1": bob}, default: carol}
              - set: {name: "upper(name)", due: "today() + 7d"}
              - webhook: {url: "https://example.com/hook"}
              - to_pool: public
              - to_pool: {pool: public, reason: "长期未跟进 {name}"}
              - to_pool: {}
          - {key: b, object: customer, on: changed, fields: [name, owner],
             when: "old.name != name", do: [{notify: {to: owner, text: hi}}]}
          - {key: c, object: customer, on: date, field: due, catch_up: digest,
             do: [{notify: {to: owner, text: hi}}]}
          - {key: d, object: customer, on: schedule, cron: "*/15 9-18 * * 1-5", catch_up: all,
             do: [{notify: {to: owner, text: hi}}]}
        """,
}


@pytest.mark.parametrize("source", VALID_SNIPPETS.values(), ids=VALID_SNIPPETS.keys())
def test_valid_snippets(validator, source):
    doc = load_yaml(textwrap.dedent(source))
    errors = list(validator.iter_errors(doc))
    assert not errors, describe(errors)


# ---------------------------------------------------------------------------
# invalid bundles: each expected error at its exact path

INVALID = load_yaml((DATA / "schema_invalid.yaml").read_text(encoding="utf-8"))["cases"]


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_fragments(validator, case):
    doc = load_yaml(case["source"])
    errors = list(validator.iter_errors(doc))
    assert errors, "expected the bundle to be rejected"
    for expected in case["errors"]:
        matches = [
            e
            for e in errors
            if list(e.absolute_path) == expected["path"]
            and ("keyword" not in expected or keyword(e) == expected["keyword"])
        ]
        assert matches, f"no error at {expected}; got:\n{describe(errors)}"
    expected_paths = [e["path"] for e in case["errors"]]
    stray = [e for e in errors if list(e.absolute_path) not in expected_paths]
    assert not stray, f"errors at unexpected paths:\n{describe(stray)}"


def test_invalid_table_is_well_formed():
    names = [c["name"] for c in INVALID]
    assert len(names) == len(set(names))
    for case in INVALID:
        assert set(case) == {"name", "source", "errors"}, case["name"]
        for expected in case["errors"]:
            assert set(expected) <= {"path", "keyword"}
            assert isinstance(expected["path"], list)


def test_plain_safe_load_turns_on_into_a_bool(validator):
    """Why bundles are read with the engine's loader: with PyYAML's YAML 1.1 rules an
    unquoted `on:` key becomes True, and the automation loses its trigger."""
    source = (DATA / "spec_examples.bundle.yaml").read_text(encoding="utf-8")
    assert True in yaml.safe_load(source)["automations"][0]
    assert "on" in load_yaml(source)["automations"][0]
