"""Notifications and the outbox: who is told, once per key, by e-mail (a real local SMTP server) and by signed
webhook (a real local HTTP server), with retries, and nothing at all when neither is configured."""
from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import datetime, timedelta, UTC
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select

from designer.db import transaction
from designer.models import Notification, OutboxMessage, Record, User
from designer.workflows import notify as nt

DATA = yaml.safe_load((Path(__file__).parent / "data" / "notify_recipients.yaml").read_text("utf-8"))
T0 = datetime(2026, 3, 15, 2, tzinfo=UTC)
SECRET = "s3cret-webhook-key"


@pytest.fixture
def users(app):
    """The users of tests/data/notify_recipients.yaml."""
    with app.app_context(), transaction(app) as s:
        ids = {}
        for name, spec in DATA["users"].items():  # no password: these users never log in
            user = User(username=name, password_hash="!", role=spec.get("role", "rep"), email=spec.get("email"),
                        active=spec.get("active", True), manager_id=ids.get(spec.get("manager")))
            s.add(user)
            s.flush()
            ids[name] = user.id
    return app


def _sessions(app):
    return app.extensions["tierwise.sessions"]


def _notify(app, key, to="alice", text="拜访 华东精密 已逾期 2 天", now=T0):
    with app.app_context(), transaction(app) as s:
        return nt.notify(s, to=to, record_id=None, kind="reminder", text=text, key=key, now=now) is not None


def _deliver(app, now=T0, limit=100):
    with app.app_context():
        return nt.deliver_outbox(_sessions(app), now, limit)


def _outbox(app):
    with app.app_context(), transaction(app) as s:
        return {m.key: (m.channel, m.status, m.attempts, m.last_error, m.next_attempt_at)
                for m in s.scalars(select(OutboxMessage))}


@pytest.mark.parametrize("case", DATA["cases"], ids=[c["why"] for c in DATA["cases"]])
def test_recipients(users, case):
    with users.app_context(), transaction(users) as s:
        assert nt.recipients(s, case["who"], Record(object="customer", owner=case["owner"])) == case["expect"]


def test_recipients_are_read_when_firing_not_when_planning(users):
    """A manager who changed since the reminder was planned: the new one is told."""
    with users.app_context(), transaction(users) as s:
        record = Record(object="customer", owner="alice")
        assert nt.recipients(s, "manager", record) == ["boss"]
        s.scalar(select(User).where(User.username == "alice")).manager_id = None
        s.flush()
        assert nt.recipients(s, "manager", record) == ["admin1", "admin2"]
        record.owner = "bob"
        assert nt.recipients(s, "owner", record) == ["bob"]


def test_notify_is_idempotent_by_key_and_skips_inactive_users(users):
    users.config.update(SMTP_HOST="127.0.0.1", WEBHOOK_URL="http://127.0.0.1:9/hook")
    assert _notify(users, "reminder:1:alice") is True
    assert _notify(users, "reminder:1:alice") is False
    assert _notify(users, "reminder:1:bob", to="bob") is True  # bob has no e-mail address: no e-mail copy
    assert _notify(users, "reminder:1:dave", to="dave") is False
    with users.app_context(), transaction(users) as s:
        notes = s.execute(select(Notification.key, Notification.username)).all()
    assert sorted(notes) == [("reminder:1:alice", "alice"), ("reminder:1:bob", "bob")]
    assert {k: v[0] for k, v in _outbox(users).items()} == {
        "reminder:1:alice:email": "email", "reminder:1:alice:webhook": "webhook", "reminder:1:bob:webhook": "webhook"}


def test_nothing_leaves_when_unconfigured(users):
    assert users.config["SMTP_HOST"] is None and users.config["WEBHOOK_URL"] is None
    assert _notify(users, "reminder:2:alice") is True
    with users.app_context(), transaction(users) as s:
        assert nt.webhook(s, url=None, body={"a": 1}, key="automation:x:1", now=T0) is None
    assert _outbox(users) == {}
    assert _deliver(users) == 0


# -- e-mail through a real SMTP server ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        with self.lock:
            self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"

    def keys(self):
        return sorted(m["X-Tierwise-Key"] for _rcpt, m in self.messages)


@pytest.fixture
def smtp_server(users):
    """start(**aiosmtpd options) -> the Mailbox of a local SMTP server the app is configured to use."""
    from aiosmtpd.controller import Controller
    controllers = []

    def start(**options):
        mailbox = Mailbox()
        port = _free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        users.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="crm@example.com")
        return mailbox
    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp(smtp_server):
    return smtp_server()


def test_email_is_sent_once_per_key_even_when_delivered_twice(users, smtp):
    assert _notify(users, "reminder:3:alice", text="请跟进：华东精密机械有限公司")
    assert _deliver(users) == 1
    assert _deliver(users) == 0
    assert _deliver(users, T0 + timedelta(days=1)) == 0
    [(rcpt, message)] = smtp.messages
    assert rcpt == ["alice@example.com"]
    assert message["From"] == "crm@example.com"
    assert str(make_header(decode_header(message["Subject"]))) == "请跟进：华东精密机械有限公司"
    assert message["Message-ID"] == nt.message_id("reminder:3:alice:email")
    assert "华东精密机械有限公司" in message.get_payload(decode=True).decode("utf-8")
    assert _outbox(users)["reminder:3:alice:email"][:4] == ("email", "sent", 1, "")


def test_concurrent_deliveries_send_each_email_exactly_once(users, smtp):
    keys = [f"reminder:{i}:alice" for i in range(12)]
    for key in keys:
        _notify(users, key, text=f"提醒 {key}")
    errors = []

    def run():
        try:
            _deliver(users)
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert smtp.keys() == sorted(k + ":email" for k in keys)
    assert _deliver(users) == 0
    assert {v[1] for v in _outbox(users).values()} == {"sent"}


def test_smtp_login_uses_the_configured_account(users, smtp_server):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(_server, _session, _envelope, _mechanism, data):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"crm", b"right-password")
        return AuthResult(success=ok, handled=False)

    mailbox = smtp_server(authenticator=authenticator, auth_require_tls=False)
    users.config.update(SMTP_USERNAME="crm", SMTP_PASSWORD="wrong-password")
    _notify(users, "reminder:auth:alice")
    assert _deliver(users) == 0
    channel, status, attempts, error, next_at = _outbox(users)["reminder:auth:alice:email"]
    assert (status, attempts) == ("pending", 1) and "535" in error
    users.config["SMTP_PASSWORD"] = "right-password"
    assert _deliver(users, next_at) == 1
    assert mailbox.keys() == ["reminder:auth:alice:email"]


def test_a_message_another_worker_is_sending_is_skipped_not_waited_for(users, receiver):
    """PostgreSQL: the row is locked (FOR UPDATE SKIP LOCKED); SQLite: it is leased until CLAIM_LEASE passes."""
    with users.app_context(), transaction(users) as s:
        nt.webhook(s, url=None, body={"n": 1}, key="automation:busy:1", now=T0)
    with users.app_context():
        other = _sessions(users)()
        assert nt._claim(other, T0).key == "automation:busy:1"  # another worker, mid-send
        assert _deliver(users, T0) == 0
        postgres = other.get_bind().dialect.name == "postgresql"
        other.rollback()  # that worker dies without finishing
        other.close()
    if not postgres:
        assert _deliver(users, T0 + nt.CLAIM_LEASE - timedelta(seconds=1)) == 0
    assert _deliver(users, T0 + nt.CLAIM_LEASE) == 1
    assert [k for k, *_rest in receiver.requests] == ["automation:busy:1"]


def test_unreachable_smtp_server_is_retried_with_backoff_then_given_up(users):
    users.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port(), OUTBOX_MAX_ATTEMPTS=3)
    _notify(users, "reminder:4:alice")
    now = T0
    for attempt, wait in ((1, timedelta(minutes=1)), (2, timedelta(minutes=2))):
        assert _deliver(users, now) == 0
        _channel, status, attempts, error, next_at = _outbox(users)["reminder:4:alice:email"]
        assert (status, attempts) == ("pending", attempt) and "SMTP 127.0.0.1" in error
        assert next_at == now + wait
        assert _deliver(users, next_at - timedelta(seconds=1)) == 0  # not due yet: not even tried
        assert _outbox(users)["reminder:4:alice:email"][2] == attempt
        now = next_at
    assert _deliver(users, now) == 0
    _channel, status, attempts, error, _next = _outbox(users)["reminder:4:alice:email"]
    assert (status, attempts) == ("failed", 3) and error


# -- webhooks to a real HTTP server ---------------------------------------------------------------------------


class Receiver:
    """A webhook receiver that checks signatures and deduplicates by X-Tierwise-Key, as the docs tell users to."""

    def __init__(self):
        self.requests = []  # (key, signature ok, body)
        self.fail_next = []  # HTTP statuses to answer before accepting
        self.lock = threading.Lock()

    def accepted_keys(self):
        return sorted({key for key, ok, _body, status in self.requests if ok and status == 200})


@pytest.fixture
def receiver(users):
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's hook name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            ok = hmac.compare_digest(self.headers.get("X-Tierwise-Signature", ""), expected)
            with state.lock:
                status = state.fail_next.pop(0) if state.fail_next else (200 if ok else 401)
                state.requests.append((self.headers["X-Tierwise-Key"], ok, json.loads(body), status))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    users.config.update(WEBHOOK_URL=f"http://127.0.0.1:{httpd.server_port}/hook", WEBHOOK_SECRET=SECRET)
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_webhook_is_signed_and_sent_once_per_key(users, receiver):
    _notify(users, "reminder:5:alice", text="客户降级：华东精密 A → C")
    with users.app_context(), transaction(users) as s:
        assert nt.webhook(s, url=None, body={"record": 7, "tier": "C"}, key="automation:down:7", now=T0) is not None
        assert nt.webhook(s, url=None, body={"record": 7, "tier": "C"}, key="automation:down:7", now=T0) is None
    assert _deliver(users) == 2
    assert _deliver(users) == 0
    assert [(k, ok) for k, ok, _b, _s in sorted(receiver.requests, key=lambda r: r[0])] == [
        ("automation:down:7", True), ("reminder:5:alice:webhook", True)]
    bodies = {k: b for k, _ok, b, _s in receiver.requests}
    assert bodies["automation:down:7"] == {"record": 7, "tier": "C"}
    assert bodies["reminder:5:alice:webhook"]["text"] == "客户降级：华东精密 A → C"
    assert bodies["reminder:5:alice:webhook"]["to"] == "alice"


def test_concurrent_deliveries_post_each_webhook_exactly_once(users, receiver):
    keys = [f"automation:cron:{i}" for i in range(12)]
    with users.app_context(), transaction(users) as s:
        for key in keys:
            nt.webhook(s, url=None, body={"key": key}, key=key, now=T0)
    threads = [threading.Thread(target=_deliver, args=(users,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(k for k, *_rest in receiver.requests) == sorted(keys)
    assert {v[1] for v in _outbox(users).values()} == {"sent"}


def test_failing_receiver_is_retried_until_it_accepts(users, receiver):
    receiver.fail_next = [503, 500]
    with users.app_context(), transaction(users) as s:
        nt.webhook(s, url=None, body={"n": 1}, key="automation:retry:1", now=T0)
    assert _deliver(users, T0) == 0
    assert _outbox(users)["automation:retry:1"][1:4] == ("pending", 1, _error(users, 503))
    assert _deliver(users, T0 + timedelta(seconds=30)) == 0  # backing off: not tried
    assert _deliver(users, T0 + timedelta(minutes=1)) == 0
    assert _outbox(users)["automation:retry:1"][2] == 2
    assert _deliver(users, T0 + timedelta(minutes=3)) == 1
    assert _outbox(users)["automation:retry:1"][1:4] == ("sent", 3, "")
    assert [s for _k, _ok, _b, s in receiver.requests] == [503, 500, 200]
    assert receiver.accepted_keys() == ["automation:retry:1"]


def _error(app, status):
    return f"webhook {app.config['WEBHOOK_URL']} answered HTTP {status} " + {503: "Service Unavailable",
                                                                            500: "Internal Server Error"}[status]


def test_a_refused_request_is_not_retried(users, receiver):
    receiver.fail_next = [400]
    with users.app_context(), transaction(users) as s:
        nt.webhook(s, url=None, body={"n": 1}, key="automation:bad:1", now=T0)
        nt.webhook(s, url="ftp://example.com/x", body={"n": 2}, key="automation:bad:2", now=T0)
    assert _deliver(users) == 0
    box = _outbox(users)
    assert box["automation:bad:1"][1:3] == ("failed", 1) and "HTTP 400" in box["automation:bad:1"][3]
    assert box["automation:bad:2"][1:3] == ("failed", 1) and "http://" in box["automation:bad:2"][3]


def test_a_crash_after_sending_resends_that_message_with_the_same_key(users, receiver, monkeypatch):
    """At least once: the receiver sees the key twice and keeps one; nothing else is resent."""
    with users.app_context(), transaction(users) as s:
        nt.webhook(s, url=None, body={"n": 1}, key="automation:crash:1", now=T0)
        nt.webhook(s, url=None, body={"n": 2}, key="automation:crash:2", now=T0 + timedelta(seconds=1))
    assert _deliver(users, T0) == 1  # crash:1 sent and committed (crash:2 not due yet)
    real = nt.post_webhook

    def crash_after_sending(url, payload, key):
        real(url, payload, key)
        raise SystemExit("worker killed")

    monkeypatch.setattr(nt, "post_webhook", crash_after_sending)
    with pytest.raises(SystemExit):
        _deliver(users, T0 + timedelta(seconds=1))
    monkeypatch.setattr(nt, "post_webhook", real)
    assert _outbox(users)["automation:crash:2"][1] == "pending"
    assert _deliver(users, T0 + nt.CLAIM_LEASE + timedelta(seconds=2)) == 1
    assert [k for k, *_rest in receiver.requests] == ["automation:crash:1", "automation:crash:2", "automation:crash:2"]
    assert receiver.accepted_keys() == ["automation:crash:1", "automation:crash:2"]
    with users.app_context(), transaction(users) as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent")) == 2


def test_signature_is_hmac_sha256_of_the_exact_body():
    body = nt.body_bytes({"b": "降级", "a": 1})
    assert body == '{"a":1,"b":"降级"}'.encode()
    assert nt.signature("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


def test_an_unforeseen_error_backs_off_instead_of_blocking_the_queue(users, receiver, monkeypatch):
    with users.app_context(), transaction(users) as s:
        nt.webhook(s, url=None, body={"n": 1}, key="automation:odd:1", now=T0)
        nt.webhook(s, url=None, body={"n": 2}, key="automation:odd:2", now=T0)

    def odd(url, payload, key):
        if payload["n"] == 1:
            raise UnicodeEncodeError("ascii", "客", 0, 1, "ordinal not in range")
        real(url, payload, key)

    real = nt.post_webhook
    monkeypatch.setattr(nt, "post_webhook", odd)
    assert _deliver(users) == 1
    box = _outbox(users)
    assert box["automation:odd:1"][1:3] == ("pending", 1) and box["automation:odd:1"][3].startswith("UnicodeEncodeError")
    assert box["automation:odd:2"][1] == "sent"


def test_keys_longer_than_the_column_stay_unique_and_idempotent(users):
    users.config.update(SMTP_HOST="127.0.0.1", WEBHOOK_URL="http://127.0.0.1:9/hook")
    base = "reminder:" + "x" * 300
    assert _notify(users, base + ":1:alice") and _notify(users, base + ":2:alice")
    assert not _notify(users, base + ":1:alice")
    keys = _outbox(users)
    assert len(keys) == 4 and all(len(k) <= 255 for k in keys)
    with users.app_context(), transaction(users) as s:
        assert s.scalar(select(func.count()).select_from(Notification)) == 2
