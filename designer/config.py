"""Configuration: defaults, then the instance folder's `tierwise.cfg`, then `TIERWISE_*` / `DATABASE_URL` variables."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask


def load(app: Flask, overrides: dict | None = None):
    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    app.config.update(
        DATABASE_URL=f"sqlite:///{instance / 'tierwise.db'}",
        SECRET_KEY=None,
        BABEL_DEFAULT_LOCALE="zh_CN",
        LANGUAGES=["zh_CN", "en"],
        #: failed logins allowed per username or address within LOGIN_WINDOW seconds
        LOGIN_LIMIT=5,
        LOGIN_WINDOW=900,
        PAGE_SIZE=50,
        #: lists up to this long are exported at once; longer ones in the background, with progress
        #: (designer.exports.jobs: XLSX is written at about 1,500 records a second)
        EXPORT_INLINE_ROWS=3000,
        #: imports of this many rows or more are checked a batch ahead by a helper process (designer.imports.ahead)
        IMPORT_AHEAD_FROM=20_000,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        #: e-mail copies of notifications (designer.workflows.notify): off until SMTP_HOST is set
        SMTP_HOST=None,
        SMTP_PORT=25,
        SMTP_USERNAME=None,
        SMTP_PASSWORD=None,
        SMTP_FROM="tierwise@localhost",
        SMTP_STARTTLS=False,
        #: signed webhook copies of notifications (X-Tierwise-Signature: sha256=HMAC of the body with the secret)
        WEBHOOK_URL=None,
        WEBHOOK_SECRET=None,
        #: an outbox message that failed this many times is marked failed and no longer retried
        OUTBOX_MAX_ATTEMPTS=8,
    )
    app.config.from_pyfile(str(instance / "tierwise.cfg"), silent=True)
    if os.environ.get("DATABASE_URL"):
        app.config["DATABASE_URL"] = os.environ["DATABASE_URL"]
    app.config.from_prefixed_env("TIERWISE")
    if overrides:
        app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret(instance)


def _instance_secret(instance: Path) -> str:
    """A secret kept in the instance folder, made on first start: sessions survive restarts."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
