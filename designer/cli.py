"""The `tierwise` command line: one click group, a sub-command per area.

User mistakes end in a message and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime, UTC
from itertools import islice
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


@db.command()
@_database
@_instance
def rebuild(database, instance):
    """Fill again the tables the dashboards count from, from the records and their history.

    Triggers keep them as records change; a load that bypassed the triggers
    (a restore with --disable-triggers, session_replication_role = replica)
    leaves them behind. Runs in one transaction: an interrupted rebuild
    changes nothing."""
    from .dashboards import changes, neighbours, values
    from .db import transaction
    with _app(database, instance) as app, transaction(app) as s:
        tables = [("history_hours", changes.rebuild), ("the history's neighbours", neighbours.rebuild)]
        if s.get_bind().dialect.name == "postgresql":  # SQLite counts from its expression indexes instead
            tables.insert(0, ("record_values", values.rebuild))
        for name, run in tables:
            click.echo(f"rebuilding {name} ...", nl=False)
            started = time.perf_counter()
            run(s)
            click.echo(f" {time.perf_counter() - started:.1f} s")


@main.command()
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False))
@click.option("--note", default="", help="Why this version is published.")
@click.option("--by", "actor", default=None, help="Who publishes (a username).")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="Beyond 5,000 records the workers plan each record's reminders, reclaims and timed "
                   "reclassification after the publish; --wait does it here, with a progress bar (a worker running "
                   "meanwhile shares the work).")
@_database
@_instance
def publish(bundle, note, actor, wait, database, instance):
    """Publish BUNDLE as a new version of the workspace bundle and reclassify every record."""
    from engine import BundleInvalid

    from .bundles.bulk import HELPERS
    from .bundles.publish import publish as run
    from .clock import now
    from .db import transaction
    from .workflows import replan
    path = Path(bundle)
    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{bundle}: not UTF-8 text") from None
    labels = {"reclassify": "reclassifying", "plan": "planning reminders"}
    with _app(database, instance) as app:
        with click.progressbar(length=1, label=labels["reclassify"], file=sys.stderr) as bar:
            def progress(phase, done, total):
                if bar.label != labels[phase]:  # a new phase starts its own count
                    bar.label, bar.pos = labels[phase], 0
                bar.length = max(total, 1)
                bar.update(done - bar.pos)
            try:
                with app.app_context(), transaction(app) as s:
                    row = run(s, text, path.name, actor=actor, note=note, now=now(), progress=progress,
                              helpers=HELPERS)
                    version, report = row.id, row.report
            except BundleInvalid as exc:
                for p in exc.problems:
                    click.echo(str(p).replace(path.name, str(bundle), 1), err=True)
                sys.exit(1)
        click.echo(f"published version {version} of {bundle}")
        later = report.pop("planned_later", 0)
        for key, items in report.items():
            if items:
                click.echo(f"  {key}: {items if isinstance(items, int) else ', '.join(items)}")
        if not later:
            return
        if not wait:
            click.echo(f"  the workflow worker now plans the reminders, reclaims and timed reclassification of "
                       f"{later:,} records again, a chunk at a time (`tierwise serve` runs it, or `tierwise worker`; "
                       f"--wait does it here)")
            return
        with app.app_context(), click.progressbar(length=later, label="planning reminders (after the publish)",
                                                  file=sys.stderr) as bar:
            def moved(state):
                bar.length = max(state["total"], 1)
                bar.update(state["done"] - bar.pos)
            state = replan.run_here(app.extensions["tierwise.sessions"], version, moved)
    if state["finished"]:
        click.echo(f"  reminders, reclaims and timed reclassification planned again for {state['total']:,} records")
    else:
        failing = state["failing"] or {}
        raise click.ClickException(
            f"planning stopped at {state['done']:,} of {state['total']:,} records: {failing.get('error', '?')}; the "
            f"worker tries again at {failing.get('retry_at', '?')} (`tierwise serve` or `tierwise worker`)")


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
@click.option("--worker/--no-worker", default=True, show_default=True,
              help="Run the workflow worker in this process too (the embedded default: one process, zero setup); "
                   "--no-worker when `tierwise worker` processes run elsewhere.")
@_database
@_instance
def serve(demo, template, host, port, worker, database, instance):
    """Serve the web app (migrating the database first), with the workflow worker beside it."""
    import threading

    from waitress import serve as waitress_serve
    with _app(database, instance) as app:
        if demo:
            from .demo import install
            for line in install(app, EXAMPLES / template, DEMO_AS_OF):
                click.echo(line)
        if worker:
            from .workflows.worker import run as run_worker
            # a daemon thread: it stops with the server; on SQLite it takes the worker lease like any worker
            threading.Thread(target=run_worker, args=(app,), kwargs={"echo": click.echo}, daemon=True,
                             name="tierwise-worker").start()
            click.echo("workflow worker running in this process (reminders, pools, automations)")
        click.echo(f"tierwise on http://{host}:{port}/  (Ctrl+C to stop)")
        waitress_serve(app, host=host, port=port, threads=8, ident="tierwise")


# -- data in and out: imports and exports ---------------------------------------------------------

def _import_job(session, app, cur, file, object_key, sheet, children, child_object, match, mode, duplicates, owner,
                values=()):
    """A queued import job for the command line's choices, its columns mapped by heading.

    FILE holds records of `object_key`: top-level records (and, with
    `children`, their child records in a sheet or file of their own), or the
    records of a child object alone, each row naming its parent (`match`).
    """
    from sqlalchemy import select

    from .clock import now
    from .imports import choices, mapping
    from .imports.runner import BATCH
    from .imports.sheets import SheetError, Table, check_suffix, checksum, is_xlsx, sheet_names
    from .models import ImportJob, User
    bundle = cur.bundle
    obj = bundle.objects.get(object_key or "")
    if obj is None:
        raise click.BadParameter(f"no object `{object_key}`; objects: {', '.join(bundle.objects)}", param_hint="--object")
    if owner and session.scalar(select(User.id).where(User.username == owner, User.active.is_(True))) is None:
        raise click.BadParameter(f"no active user `{owner}`", param_hint="--owner")

    def read(table):
        try:
            check_suffix(table.path)
            return table.header()
        except SheetError as exc:
            raise click.ClickException(str(exc)) from None

    def match_key(parent):
        candidates = [f.key for f in mapping.match_fields(parent)]
        key = match or (candidates[0] if candidates else None)
        if key not in candidates:
            raise click.BadParameter(f"match parents by one of {', '.join(candidates)}", param_hint="--match")
        return key

    def columns_of(table, o, headers, key=None):
        parent = bundle.objects[o.parent] if o.parent else None
        try:
            samples = [cells for _number, cells in islice(table.rows(), 20)]
        except SheetError as exc:
            raise click.ClickException(str(exc)) from None
        judged = mapping.judge(headers, o, parent=parent, match=key, samples=samples)
        columns = [target for target, _how in judged]
        if parent is not None and mapping.PARENT not in columns:
            raise click.ClickException(f"{table.label}: no column is headed {parent.fields[key].label} (or {key}) "
                                       f"to match the {o.key} rows to their {parent.key}")
        problems = mapping.problems(columns, o, child=parent is not None)
        if problems:
            raise click.ClickException(f"{table.label}: cannot map the columns: " + "; ".join(
                f"{code} {field}".strip() for code, field in problems))
        how_said = {mapping.SIMILAR: " (guessed from a similar heading)",
                    mapping.CONTENT: " (guessed from the column's values)"}
        used = ", ".join(f"{h} → {c}{how_said.get(how, '')}" for h, (c, how) in zip(headers, judged) if c)
        ignored = ", ".join(h or "(empty)" for h, c in zip(headers, columns) if not c)
        click.echo(f"{o.key}: {used}" + (f"; ignored: {ignored}" if ignored else ""), err=True)
        return columns

    picks: dict = {}  # (object, field) -> text -> option
    for spec in values:
        try:
            o_key, f_key, text, option = choices.parse_choice(bundle, obj, spec)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--value") from None
        picks.setdefault((o_key, f_key), {})[text] = option

    def chosen_of(table, o, columns):
        chosen = {i: picks[(o.key, t)] for i, t in enumerate(columns) if (o.key, t) in picks}
        for line in choices.hints(o, choices.find(table, columns, o), chosen):
            click.echo(line, err=True)
        return {str(i): c for i, c in chosen.items()}

    path = Path(file).resolve()
    table = Table(path, sheet)
    headers = read(table)
    key = match_key(bundle.objects[obj.parent]) if obj.parent else None
    columns = columns_of(table, obj, headers, key)
    options = {"sheet": sheet, "headers": headers, "columns": columns, "match": key,
               "owner": owner, "batch": int(app.config.get("IMPORT_BATCH_SIZE", BATCH)), "checksum": checksum(path),
               "values": chosen_of(table, obj, columns)}
    if children:
        if not obj.children:
            raise click.BadParameter(f"`{obj.key}` has no child objects", param_hint="--children")
        named = Path(children).stem  # a sheet or file named for a child object (the import template's are)
        child_key = child_object or (obj.children[0] if len(obj.children) == 1 else next(
            (k for k in obj.children if named in (k, bundle.objects[k].label)), None))
        if child_key not in obj.children:
            raise click.BadParameter(f"choose one of {', '.join(obj.children)}", param_hint="--child-object")
        if Path(children).is_file():
            child_table = Table(Path(children).resolve())
        elif is_xlsx(path) and children in sheet_names(path):
            child_table = Table(path, children)
        else:
            raise click.BadParameter(f"no file, and no sheet of {path.name}, named `{children}`", param_hint="--children")
        child = bundle.objects[child_key]
        child_headers = read(child_table)
        key = match_key(obj)
        child_columns = columns_of(child_table, child, child_headers, key)
        options["child"] = {"object": child_key, "path": str(child_table.path), "sheet": child_table.sheet,
                            "headers": child_headers, "columns": child_columns, "match": key,
                            "checksum": checksum(child_table.path),
                            "values": chosen_of(child_table, child, child_columns)}
    return ImportJob(object=obj.key, username=None, status="queued", mode=mode, duplicates=duplicates,
                     filename=path.name, path=str(path), options=options, created_at=now(), heartbeat_at=now())


@main.command("import")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--object", "object_key", help="Object the rows become records of (a child object: with --match).")
@click.option("--sheet", default=None, help="XLSX: the sheet to read (default: the first).")
@click.option("--children", default=None, help="Child records: a sheet of FILE, or a .csv/.xlsx file of their own.")
@click.option("--child-object", default=None, help="Object of the child records (default: the only child object, or the one the sheet or file is named for).")
@click.option("--match", default=None, help="Parent field child rows name their parent by (default: its title).")
@click.option("--mode", type=click.Choice(["all", "partial"]), default="partial", show_default=True,
              help="all: any bad row and nothing is imported; partial: good rows in, bad rows reported.")
@click.option("--duplicates", type=click.Choice(["skip", "update", "new"]), default="skip", show_default=True,
              help="A row that duplicates an existing record: skip it, update that record, or import it anyway.")
@click.option("--owner", default=None, help="Username to own the new records (default: none; admins see them).")
@click.option("--value", "values", multiple=True, metavar="FIELD:TEXT=OPTION",
              help="Import a select field's TEXT, which is no option, as OPTION (empty: leave the cell empty); "
                   "CHILD.FIELD for a child object's field. Repeatable; unmapped such values are listed.")
@click.option("--errors", "errors_file", type=click.Path(dir_okay=False), help="Write the failed rows to this XLSX file.")
@click.option("--resume", "resume_id", type=int, help="Resume interrupted import JOB (its file and choices are kept).")
@_database
@_instance
def import_(file, object_key, sheet, children, child_object, match, mode, duplicates, owner, values, errors_file,
            resume_id, database, instance):
    """Import records from FILE (.xlsx or .csv), columns mapped by field label or key, every row checked like a form."""
    from .bundles.workspace import NoBundle, current
    from .imports import jobs
    from .imports.report import write_errors
    from .imports.runner import run
    from .models import ImportJob
    if resume_id is None and not (file and object_key):
        raise click.UsageError("give FILE and --object, or --resume JOB")
    with _app(database, instance) as app:
        sessions = app.extensions["tierwise.sessions"]
        with sessions() as s:
            try:
                cur = current(s)
            except NoBundle as exc:
                raise click.ClickException(str(exc)) from None
            if resume_id is not None:
                job = s.get(ImportJob, resume_id)
                if job is None:
                    raise click.ClickException(f"no import {resume_id}")
                try:
                    jobs.queue(s, app, job)
                except jobs.JobBusy as exc:
                    raise click.ClickException(str(exc)) from None
            else:
                job = _import_job(s, app, cur, file, object_key, sheet, children, child_object, match, mode,
                                  duplicates, owner, values)
                s.add(job)
                s.commit()
            job_id = job.id
        with click.progressbar(length=1, label=f"import {job_id}", file=sys.stderr) as bar:
            def progress(done, total):
                bar.length = max(total, 1)
                bar.update(done - bar.pos)
            try:
                finished = run(app, job_id, progress=progress)
            except jobs.JobBusy as exc:
                raise click.ClickException(str(exc)) from None
            except Exception as exc:
                raise click.ClickException(f"import {job_id} was interrupted ({type(exc).__name__}: {exc}); what was "
                                           f"committed stays: resume with `tierwise import --resume {job_id}`") from None
        if errors_file and finished.errors:
            with sessions() as s, open(errors_file, "wb") as out:
                write_errors(s, cur.bundle, finished, out)
    summary = (f"import {job_id}: imported {finished.imported}, updated {finished.updated}, "
               f"skipped {finished.skipped}, failed {finished.errors}")
    if finished.status == "failed":
        summary += " (all or nothing: nothing was written)"
    if errors_file and finished.errors:
        summary += f"; failed rows in {errors_file}"
    click.echo(summary)
    sys.exit(1 if finished.errors else 0)


@main.command("import-template")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--object", "object_key", required=True, help="Object whose records the template is for.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of the notes.")
@_database
@_instance
def import_template(out, object_key, lang, database, instance):
    """Write an XLSX to type records into: headings that map by themselves, drop-downs of each select's options,
    a sheet per child object."""
    from .bundles.workspace import NoBundle, current
    from .imports.template import write_template
    with _app(database, instance) as app, app.extensions["tierwise.sessions"]() as s:
        try:
            bundle = current(s).bundle
        except NoBundle as exc:
            raise click.ClickException(str(exc)) from None
    obj = bundle.objects.get(object_key)
    if obj is None:
        raise click.BadParameter(f"no object `{object_key}`; objects: {', '.join(bundle.objects)}", param_hint="--object")
    with open(out, "wb") as fh:
        write_template(bundle, obj, fh, lang=lang)
    click.echo(f"wrote {out}: " + ", ".join([obj.label] + [bundle.objects[k].label for k in obj.children]))


@main.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--object", "object_key", required=True, help="Top-level object to export.")
@click.option("--filter", "expr", default="", help="Expression filter, as on the list page: \"tier == 'A'\".")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default=None, help="Default: from OUT's suffix.")
@click.option("--user", "username", default=None, help="Export only what this user may see (default: everything).")
@_database
@_instance
def export_(out, object_key, expr, fmt, username, database, instance):
    """Export a list to OUT as XLSX or CSV (UTF-8 with BOM): labels as headings, classifications and why."""
    from sqlalchemy import select

    from .bundles.workspace import NoBundle, current
    from .exports import files as export
    from .models import User
    from .records import listing
    from .records.expression_filter import where_clause
    fmt = fmt or ("csv" if out.lower().endswith(".csv") else "xlsx")
    with _app(database, instance) as app, app.extensions["tierwise.sessions"]() as s:
        try:
            cur = current(s)
        except NoBundle as exc:
            raise click.ClickException(str(exc)) from None
        obj = cur.bundle.objects.get(object_key)
        if obj is None or obj.parent is not None:
            tops = ", ".join(k for k, o in cur.bundle.objects.items() if o.parent is None)
            raise click.BadParameter(f"no top-level object `{object_key}`; objects: {tops}", param_hint="--object")
        if expr.strip():
            _clause, problem = where_clause(s, cur.bundle, obj.key, expr.strip())
            if problem:
                raise click.BadParameter(f"column {problem['column']}: {problem['message']}", param_hint="--filter")
        if username:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise click.BadParameter(f"no user `{username}`", param_hint="--user")
        else:
            user = User(username="", role="admin")  # the command line sees the whole workspace
        args = {"expr": expr.strip()} if expr.strip() else {}
        count = -1  # the heading row
        with click.progressbar(length=listing.count(s, cur, obj, user, args), label=f"export {obj.key}",
                               file=sys.stderr) as bar:
            def counted(rows):
                nonlocal count
                for row in rows:
                    count += 1
                    if count:
                        bar.update(1)
                    yield row
            rows = counted(export.rows(s, cur, obj, user, args, fmt=fmt))
            if fmt == "xlsx":
                with open(out, "wb") as fh:
                    export.write_xlsx(rows, fh, obj.label)
            else:
                with open(out, "w", encoding="utf-8", newline="") as fh:
                    for chunk in export.csv_chunks(rows):
                        fh.write(chunk)
    click.echo(f"exported {count} {obj.key} record(s) to {out}")


@main.command()
@click.option("--once", is_flag=True, help="Run one tick (everything due now, or up to --as-of) and exit.")
@click.option("--as-of", "as_of", help="With --once: run everything due up to this instant (ISO 8601), as of then.")
@click.option("--interval", default=1.0, show_default=True, type=float, help="Seconds between ticks when idle.")
@click.option("--batch", default=200, show_default=True, type=click.IntRange(1, 10000),
              help="Firings claimed per transaction.")
@click.option("--engine", type=click.Choice(["auto", "procrastinate", "loop"]), default="auto", show_default=True,
              help="PostgreSQL: procrastinate runs the workers (auto), or a plain polling loop; SQLite: the loop.")
@_database
@_instance
def worker(once, as_of, interval, batch, engine, database, instance):
    """Run the schedule: reminders, escalations, pool reclaims, automations, time-driven reclassification.

    On PostgreSQL start as many as you like, on any hosts; on SQLite one runs at a time (a second waits).
    """
    import signal

    from .clock import freeze
    from .db import engine_of
    from .workflows.worker import LeaseHeld, run, worker_name
    if as_of and not once:
        raise click.UsageError("--as-of needs --once (a long-running worker follows the real clock)")
    when = _as_of(as_of) if as_of else None
    if when is not None and when.tzinfo is None:
        raise click.BadParameter(f"{as_of!r} has no UTC offset; write it like 2026-03-15T10:00:00+08:00",
                                 param_hint="--as-of")
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))

    def echo(message):
        click.echo(message, err=True)
    with _app(database, instance) as app:
        postgres = engine_of(app).dialect.name == "postgresql"
        if engine == "procrastinate" and not postgres:
            raise click.UsageError("--engine procrastinate needs PostgreSQL (DATABASE_URL=postgresql://...)")
        if postgres and engine != "loop":
            from .workflows import procrastinate_app
            with freeze(when) if when is not None else nullcontext():
                counts = procrastinate_app.run(app, once=once, as_of=when, batch=batch, name=worker_name())
        else:
            try:
                if when is not None:
                    with freeze(when):
                        counts = run(app, once=True, as_of=when, batch=batch, echo=echo)
                else:
                    counts = run(app, once=once, interval=interval, batch=batch, stop=lambda: bool(stopping),
                                 echo=echo)
            except LeaseHeld as exc:
                raise click.ClickException(str(exc)) from None
    if once:
        click.echo(", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v) or "nothing due")
