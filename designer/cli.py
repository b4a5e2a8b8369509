"""The `tierwise` command line: one click group, a sub-command per area.

User mistakes end in a message and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
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


# -- the workspace: database, bundles, users, the server ------------------------------------------

@contextmanager
def _app(database: str | None = None, instance: str | None = None, *, migrate: bool = True):
    """The app for a command, its database migrated; connections closed when the command ends."""
    from .app import create_app
    from .db import engine_of
    from .migrate import upgrade as run_migrations
    config = {}
    if database:
        config["DATABASE_URL"] = database
    if instance:
        config["INSTANCE_PATH"] = str(Path(instance).resolve())
    app = create_app(config)
    try:
        if migrate:
            run_migrations(engine_of(app))
        yield app
    finally:
        engine_of(app).dispose()


_database = click.option("--database", envvar="DATABASE_URL", help="Database URL (default: SQLite in the instance folder).")
_instance = click.option("--instance", envvar="TIERWISE_INSTANCE", type=click.Path(file_okay=False),
                         help="Instance folder (SQLite file, secret key, settings).")


@main.group()
def db():
    """The database schema."""


@db.command()
@_database
@_instance
def upgrade(database, instance):
    """Apply every migration (also done by `serve` on start)."""
    from .db import engine_of
    with _app(database, instance) as app:
        click.echo(f"database at {engine_of(app).url.render_as_string(hide_password=True)} is up to date")


@main.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--note", default="", help="Why this version is published.")
@click.option("--by", "actor", default=None, help="Who publishes (a username).")
@_database
@_instance
def publish(bundle, note, actor, database, instance):
    """Publish BUNDLE as a new version of the workspace bundle and reclassify every record."""
    from engine import BundleInvalid

    from .bundles.publish import publish as run
    from .clock import now
    from .db import transaction
    path = Path(bundle)
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{bundle}: not UTF-8 text") from None
    with _app(database, instance) as app, click.progressbar(length=1, label="reclassifying", file=sys.stderr) as bar:
        def progress(done, total):
            bar.length = max(total, 1)
            bar.update(done - bar.pos)
        try:
            with app.app_context(), transaction(app) as s:
                row = run(s, text, path.name, actor=actor, note=note, now=now(), progress=progress)
                version, report = row.id, row.report
        except BundleInvalid as exc:
            for p in exc.problems:
                click.echo(str(p).replace(path.name, str(bundle), 1), err=True)
            sys.exit(1)
    click.echo(f"published version {version} of {bundle}")
    for key, items in report.items():
        if items:
            click.echo(f"  {key}: {items if isinstance(items, int) else ', '.join(items)}")


@main.group()
def user():
    """Users of the workspace."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "manager", "rep"]), default="rep", show_default=True)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--team", default=None)
@click.option("--manager", default=None, help="Username of this user's manager.")
@click.option("--email", default=None)
@click.option("--password", default=None, help="Default: ask (or generate with --generate).")
@click.option("--generate", is_flag=True, help="Generate a password and print it.")
@_database
@_instance
def user_add(username, role, display_name, team, manager, email, password, generate, database, instance):
    """Add a user."""
    import secrets

    from .auth.users import UserError, add_user
    from .db import transaction
    if generate:
        password = secrets.token_urlsafe(9)
    elif password is None:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        with _app(database, instance) as app, app.app_context(), transaction(app) as s:
            add_user(s, username, password, role=role, display_name=display_name, team=team, manager=manager,
                     email=email)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {role} {username}" + (f" with password {password}" if generate else ""))


@user.command("token")
@click.argument("username")
@click.option("--name", default="cli", help="What the token is for.")
@_database
@_instance
def user_token(username, name, database, instance):
    """Issue an API token for USERNAME (shown once)."""
    from sqlalchemy import select

    from .auth.users import issue_token
    from .db import transaction
    from .models import User
    with _app(database, instance) as app, app.app_context(), transaction(app) as s:
        row = s.scalar(select(User).where(User.username == username))
        if row is None:
            raise click.ClickException(f"no user `{username}`")
        click.echo(issue_token(s, row, name))


@main.command()
@click.option("--demo", is_flag=True, help="Install the demo template, its sample customers and demo users first.")
@click.option("--template", default="manufacturing", show_default=True, help="Template for --demo.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@_database
@_instance
def serve(demo, template, host, port, database, instance):
    """Serve the web app (migrating the database first)."""
    from waitress import serve as waitress_serve
    with _app(database, instance) as app:
        if demo:
            from .demo import install
            for line in install(app, EXAMPLES / template, DEMO_AS_OF):
                click.echo(line)
        click.echo(f"tierwise on http://{host}:{port}/  (Ctrl+C to stop)")
        waitress_serve(app, host=host, port=port, threads=8, ident="tierwise")
