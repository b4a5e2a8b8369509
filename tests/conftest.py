"""Fixtures that build worlds: an app on SQLite or PostgreSQL, a published bundle, users, records.

Database tests run on the database named by TIERWISE_TEST_DB (`sqlite`, the
default, or `postgresql`, the local server at TIERWISE_TEST_PG or
postgresql://postgres@127.0.0.1:5432/test); CI runs the suite once for each.
Each test gets an empty schema of its own.
"""
from __future__ import annotations

import os
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

DB = os.environ.get("TIERWISE_TEST_DB", "sqlite")
PG_URL = os.environ.get("TIERWISE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 3, 15, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
ROOT = Path(__file__).resolve().parent.parent


def pytest_report_header(config):
    return f"tierwise database: {DB}"


@pytest.fixture
def database_url(tmp_path):
    if DB == "sqlite":
        yield f"sqlite:///{tmp_path / 'tierwise.db'}"
        return
    if DB != "postgresql":
        raise pytest.UsageError(f"TIERWISE_TEST_DB must be sqlite or postgresql, not {DB!r}")
    from designer.db import make_engine
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def app(database_url, tmp_path):
    from designer.app import create_app
    from designer.db import engine_of
    from designer.migrate import upgrade
    app = create_app({"DATABASE_URL": database_url, "INSTANCE_PATH": str(tmp_path / "instance"), "TESTING": True,
                      "SECRET_KEY": "test", "WTF_CSRF_ENABLED": False})
    upgrade(engine_of(app))
    yield app
    engine_of(app).dispose()


@pytest.fixture
def frozen():
    from designer.clock import freeze
    with freeze(NOW):
        yield NOW


@pytest.fixture
def publish(app, frozen):
    """publish(text_or_path) -> version id."""
    from designer.bundles.publish import publish as run
    from designer.db import transaction

    def publish(source, filename="bundle.yaml"):
        if isinstance(source, Path):
            source, filename = source.read_text("utf-8"), source.name
        with app.app_context(), transaction(app) as s:
            return run(s, source, filename, actor="admin", now=frozen).id
    return publish


@pytest.fixture
def make_user(app):
    """make_user(username, role='rep', manager=None, team=None) -> password."""
    from designer.auth.users import add_user
    from designer.db import transaction

    def make_user(username, role="rep", manager=None, team=None, password=None):
        password = password or f"pw-{username}-secret"
        with app.app_context(), transaction(app) as s:
            add_user(s, username, password, role=role, manager=manager, team=team)
        return password
    return make_user


@pytest.fixture
def login(app, make_user):
    """login(username, role='rep', ...) -> a test client logged in as a new user."""
    def login(username, role="rep", **kw):
        password = make_user(username, role, **kw)
        client = app.test_client()
        response = client.post("/login", data={"username": username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return login


@pytest.fixture
def live_server(app):
    """The app served on a free local port (CSRF on, as in production) for the browser tests; its base URL."""
    import threading

    from werkzeug.serving import make_server
    app.config["WTF_CSRF_ENABLED"] = True
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, driven by Playwright (`playwright install` cannot download browsers here).

    One per test module, not per session: sync Playwright keeps an asyncio loop running in the main thread
    while it is open, and later tests (the procrastinate worker) start loops of their own.
    """
    import shutil

    from playwright.sync_api import sync_playwright
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is needed for browser tests (apt-get install chromium; .ci/run does)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable,
                              args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        yield b
        b.close()
