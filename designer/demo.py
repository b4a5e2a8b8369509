"""`tierwise serve --demo`: a template, its sample customers and demo users, installed once."""
from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from engine import codecs

from .auth.users import add_user
from .bundles.publish import publish
from .bundles.workspace import current
from .clock import now
from .db import transaction
from .models import Record, User
from .records.store import save

#: (username, display name, role, manager)
USERS = [("admin", "管理员", "admin", None), ("wang", "王经理", "manager", None), ("alice", "李娜", "rep", "wang"),
         ("bob", "张伟", "rep", "wang"), ("carol", "刘洋", "rep", "wang"), ("dave", "陈静", "rep", "wang")]


def install(app, folder: Path, as_of: str):
    """Yield lines to print. Idempotent: a second run only reprints the demo logins."""
    passwords_file = Path(app.instance_path) / "demo-passwords.txt"
    with app.app_context(), transaction(app) as s:
        if s.scalar(select(func.count()).select_from(User)) == 0:
            lines = []
            for username, name, role, manager in USERS:
                password = secrets.token_urlsafe(8)
                add_user(s, username, password, role=role, display_name=name, team="销售一部", manager=manager)
                lines.append(f"{username:<6} {password:<14} {role:<8} {name}")
            passwords_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            passwords_file.chmod(0o600)
    with app.app_context(), transaction(app) as s:
        if s.scalar(select(func.count()).select_from(Record)) == 0:
            text = (folder / "bundle.yaml").read_text("utf-8")
            publish(s, text, "bundle.yaml", actor="admin", note=f"demo: {folder.name}", now=now())
            yield f"published the {folder.name} template"
    with app.app_context(), transaction(app) as s:
        if s.scalar(select(func.count()).select_from(Record)) == 0:
            cur = current(s)
            count = 0
            with (folder / "customers.jsonl").open(encoding="utf-8") as fh:
                for line in fh:
                    raw = codecs.loads(line)
                    owner = raw.pop("owner", None)
                    created = raw.pop("created_at", None)
                    raw.pop("id", None)
                    at = datetime.fromisoformat(created) if created else now()
                    saved = save(s, cur, owner, "customer", raw, owner=owner, now=at, allow_duplicates=True)
                    saved.record.updated_at = now()
                    count += 1
            s.flush()
            yield f"imported {count} sample customers (data as of {as_of})"
    yield "demo logins (also in " + str(passwords_file) + "):"
    yield from ("  " + line for line in passwords_file.read_text("utf-8").splitlines())
