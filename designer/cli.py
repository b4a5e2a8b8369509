"""The `tierwise` command line: one click group, a sub-command per area.

User mistakes end in a message and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import sys
from datetime import datetime, UTC
from pathlib import Path

import click

from engine import BundleInvalid, ExpressionError, RecordInvalid, codecs, load_bundle
from engine.evaluate import evaluate

from .records_io import RowError, header_map_for, read_records

BUNDLE_SUFFIXES = (".yaml", ".yml", ".json")


@click.group()
@click.version_option(package_name="tierwise")
def main():
    """tierwise: customer classification and follow-up, defined in bundles."""


def _as_of(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time such as 2026-03-15T10:00:00+08:00",
                                 param_hint="--as-of") from None


def _load(path: str):
    try:
        return load_bundle(path)
    except BundleInvalid as exc:
        for p in exc.problems:
            click.echo(str(p), err=True)
        raise SystemExit(1)


def _object(bundle, key: str):
    if key not in bundle.objects:
        raise click.BadParameter(f"no object `{key}` in bundle {bundle.id}; objects: {', '.join(bundle.objects)}",
                                 param_hint="--object")
    return bundle.classifier(key)


@main.command()
@click.argument("bundles", nargs=-1, required=True, type=click.Path(exists=True))
def lint(bundles):
    """Check bundles; print every problem as file:line:col: path: message."""
    failed = False
    for path in bundles:
        p = Path(path)
        if p.is_file() and p.suffix.lower() not in BUNDLE_SUFFIXES:
            click.echo(f"{path}: skipped (not a .yaml, .yml or .json file)", err=True)
            continue
        try:
            bundle = load_bundle(p)
        except BundleInvalid as exc:
            failed = True
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            continue
        rules = sum(len(c.rules) for c in bundle.classifications)
        fields = sum(len(o.fields) for o in bundle.objects.values())
        click.echo(f"{path}: ok ({len(bundle.objects)} objects, {fields} fields, "
                   f"{len(bundle.classifications)} classifications, {rules} rules)")
    sys.exit(1 if failed else 0)


@main.command("eval")
@click.argument("bundle", type=click.Path(exists=True))
@click.argument("expressions", nargs=-1, required=True)
@click.option("--object", "object_key", required=True, help="Object the expressions belong to.")
@click.option("--record", "record_file", type=click.Path(exists=True, dir_okay=False),
              help="JSON file with the record's fields and, under each child object's key, its child records.")
@click.option("--as-of", "as_of", help="The instant today() and now() see (ISO 8601); default: now.")
def eval_(bundle, expressions, object_key, record_file, as_of):
    """Evaluate expressions on one record; one JSON line each."""
    b = _load(bundle)
    clf = _object(b, object_key)
    raw = {}
    if record_file:
        try:
            raw = codecs.loads(Path(record_file).read_text("utf-8-sig"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise click.ClickException(f"{record_file}: not a JSON record: {exc}")
    try:
        record = clf.coerce(raw)
    except RecordInvalid as exc:
        for p in exc.problems:
            click.echo(f"{record_file}: {p}", err=True)
        sys.exit(1)
    when = _as_of(as_of)
    rejected = False
    for text in expressions:
        try:
            type_, value = evaluate(b, object_key, text, record, when)
            out = {"type": type_.split(":")[0], "value": codecs.to_json(value, b.tz)}
        except ExpressionError as exc:
            rejected = True
            out = {"error": {"kind": exc.kind, "column": exc.column, "message": exc.message}}
        click.echo(codecs.dumps(out))
    sys.exit(1 if rejected else 0)


@main.command()
@click.argument("bundle", type=click.Path(exists=True))
@click.argument("records", type=click.Path(exists=True, dir_okay=False))
@click.option("--object", "object_key", required=True, help="Object the records belong to.")
@click.option("--as-of", "as_of", help="The instant to classify at (ISO 8601); default: now.")
def classify(bundle, records, object_key, as_of):
    """Classify records from JSONL, CSV or XLSX; write JSONL with values and `_explain`."""
    b = _load(bundle)
    clf = _object(b, object_key)
    when = _as_of(as_of)
    bad = 0
    out = sys.stdout
    try:
        rows = read_records(Path(records), header_map_for(clf))
        for number, raw in rows:
            if isinstance(raw, RowError):
                bad += 1
                click.echo(f"{records}:{number}: {raw}", err=True)
                continue
            try:
                _, result = clf.validate(raw, when)
            except RecordInvalid as exc:
                bad += 1
                for p in exc.problems:
                    click.echo(f"{records}:{number}: {p.path}: {p.message}", err=True)
                continue
            out.write(codecs.dumps(result.to_json()) + "\n")
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc))
    if bad:
        click.echo(f"{bad} invalid record(s) in {records}", err=True)
    sys.exit(1 if bad else 0)


#: The instant the templates' sample data was generated for; the demo classifies as of then.
DEMO_AS_OF = "2026-11-01T09:00:00+08:00"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@main.command()
@click.argument("template", default="retail")
@click.option("--samples", default=3, show_default=True, help="How many customers to explain in full.")
def demo(template, samples):
    """Classify an example template's sample customers and show the results and why."""
    from collections import Counter

    from engine.explain import sentences

    folder = EXAMPLES / template
    if not (folder / "bundle.yaml").is_file():
        names = sorted(p.name for p in EXAMPLES.iterdir() if (p / "bundle.yaml").is_file()) if EXAMPLES.is_dir() else []
        raise click.ClickException(f"no template `{template}`; templates: {', '.join(names) or 'none found'}")
    b = _load(str(folder / "bundle.yaml"))
    clf = b.classifier("customer")
    when = _as_of(DEMO_AS_OF)
    counts = {c.key: Counter() for c in clf.classifications}
    explained = []
    total = bad = 0
    for _line, raw in read_records(folder / "customers.jsonl", {}):
        if isinstance(raw, RowError):
            bad += 1
            continue
        try:
            record, result = clf.validate(raw, when)
        except RecordInvalid:
            bad += 1
            continue
        total += 1
        for c in clf.classifications:
            value = result.values[c.key]
            for v in (value if isinstance(value, list) else [value]):
                counts[c.key][v] += 1
        if len(explained) < samples:
            explained.append((record, sentences(result)))
    click.secho(f"{b.title} — {total} 位客户（as of {DEMO_AS_OF}）", bold=True)
    for c in clf.classifications:
        click.secho(f"\n{c.label}（{c.key}, hit: {c.hit}）", bold=True)
        for value, n in sorted(counts[c.key].items(), key=lambda kv: (-kv[1], str(kv[0]))):
            shown = "（空）" if value is None else value
            click.echo(f"  {str(shown):<12} {n:>5}  {'█' * max(1, round(40 * n / max(total, 1)))}")
    title = clf.object.title or "name"
    for record, why in explained:
        click.secho(f"\n{record.get(title) or record.get('id')}", bold=True)
        for key, text in why.items():
            click.echo(f"  {key}: {text}")
    if bad:
        click.echo(f"\n{bad} sample record(s) were invalid", err=True)
