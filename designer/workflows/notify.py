"""Telling people: in-app notifications, and e-mail and webhooks through the outbox.

A notification is written in the transaction of whatever caused it (a
reminder firing, an automation), so it exists exactly when that effect was
committed. Effects outside the database cannot join that transaction; they
are queued as `OutboxMessage` rows with an idempotency key in the same
transaction and sent afterwards by `deliver_outbox`: at least once (a crash
between sending and committing resends that one message) and deduplicated
by the key (a row per key; the receiver gets it as `X-Tierwise-Key`, an
e-mail as a `Message-ID` derived from it).

Recipients are resolved when the notification is written — at firing time —
so a record reassigned or deleted since its reminder was planned never
reaches its old owner.
"""
from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import codecs

from .. import clock
from ..models import Notification, OutboxMessage, Record, User

#: the first retry waits this long, each further one twice as long as the one before, up to BACKOFF_CAP
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
#: how long a message claimed on SQLite stays invisible to other senders (longer than any send can take)
CLAIM_LEASE = timedelta(minutes=5)
#: the length of the `key` columns of notifications and outbox messages
KEY_LENGTH = 255
#: seconds to wait for an SMTP server or webhook receiver
SEND_TIMEOUT = 20
#: HTTP statuses worth retrying; any other 4xx means the request itself is wrong, and retrying cannot help
RETRYABLE_HTTP = {408, 425, 429}


class DeliveryError(Exception):
    """Sending one message failed; `permanent` when trying again cannot succeed."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


# -- who ------------------------------------------------------------------------------------------------------


def recipients(session: Session, who, record: Record | None) -> list[str]:
    """Usernames `who` stands for, for `record`, as the users table says now; inactive users are left out.

    `who` is `owner`, `manager` (the owner's manager; the workspace admins when the owner has no active
    manager), `admins`, a username, or a list of these. The result has no duplicates and keeps the order.
    """
    out: list[str] = []
    for name in who if isinstance(who, (list, tuple)) else [who]:
        for username in _resolve(session, name, record):
            if username not in out:
                out.append(username)
    return out


def _resolve(session: Session, who: str, record: Record | None) -> list[str]:
    if who == "owner":
        owner = _user(session, record.owner if record is not None else None)
        return [owner.username] if owner is not None and owner.active else []
    if who == "manager":
        owner = _user(session, record.owner if record is not None else None)
        boss = session.get(User, owner.manager_id) if owner is not None and owner.manager_id else None
        if boss is not None and boss.active:
            return [boss.username]
        return _admins(session)
    if who == "admins":
        return _admins(session)
    user = _user(session, who)
    return [user.username] if user is not None and user.active else []


def _user(session: Session, username: str | None) -> User | None:
    if not username:
        return None
    return session.scalar(select(User).where(User.username == username))


def _admins(session: Session) -> list[str]:
    return list(session.scalars(select(User.username).where(User.role == "admin", User.active.is_(True))
                                .order_by(User.username)))


# -- what -----------------------------------------------------------------------------------------------------


def notify(session: Session, *, to: str, record_id: int | None, kind: str, text: str, key: str,
           now: datetime) -> Notification | None:
    """Write the in-app notification `key` for user `to`, with its e-mail and webhook copies when configured.

    `key` names one message to one recipient (the firing's key and the username, say). Idempotent: a key
    already written returns None and queues nothing again; so does a user who does not exist or is inactive.
    """
    key = fit_key(key)
    if session.scalar(select(Notification.id).where(Notification.key == key)) is not None:
        return None
    user = _user(session, to)
    if user is None or not user.active:
        return None
    note = Notification(username=user.username, record_id=record_id, kind=kind, text=text, key=key, created_at=now)
    session.add(note)
    config = current_app.config
    if config.get("SMTP_HOST") and user.email:
        _enqueue(session, key=fit_key(key + ":email"), channel="email", target=user.email, now=now, payload={
            "subject": _subject(text), "text": text, "username": user.username, "record_id": record_id,
            "kind": kind})
    if config.get("WEBHOOK_URL"):
        _enqueue(session, key=fit_key(key + ":webhook"), channel="webhook", target=config["WEBHOOK_URL"], now=now,
                 payload={"event": "notification", "key": key, "kind": kind, "to": user.username,
                          "record_id": record_id, "text": text, "at": now.isoformat()})
    session.flush()
    return note


def webhook(session: Session, *, url: str | None, body: dict, key: str, now: datetime) -> OutboxMessage | None:
    """Queue a signed POST of `body` to `url` (the workspace's WEBHOOK_URL when None); once per `key`.

    None when there is nowhere to send it, or `key` was queued before.
    """
    target = url or current_app.config.get("WEBHOOK_URL")
    if not target:
        return None
    return _enqueue(session, key=fit_key(key), channel="webhook", target=target, payload=body, now=now)


def _enqueue(session: Session, *, key: str, channel: str, target: str, payload: dict,
             now: datetime) -> OutboxMessage | None:
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
        return None
    row = OutboxMessage(key=key, channel=channel, target=target, payload=codecs.to_json(payload), status="pending",
                        attempts=0, next_attempt_at=now, created_at=now, last_error="")
    session.add(row)
    session.flush()
    return row


def fit_key(key: str) -> str:
    """`key` as stored: keys longer than the column (255) keep their start and end a hash of the whole key."""
    if len(key) <= KEY_LENGTH:
        return key
    return key[:KEY_LENGTH - 33] + "~" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _subject(text: str) -> str:
    first = text.strip().splitlines()[0] if text.strip() else "tierwise"
    return first if len(first) <= 78 else first[:77] + "…"


# -- sending --------------------------------------------------------------------------------------------------


def deliver_outbox(session_factory: Callable[[], Session], now: datetime, limit: int = 100) -> int:
    """Send up to `limit` due pending messages, one transaction each; the number sent.

    On PostgreSQL a message is claimed `FOR UPDATE SKIP LOCKED` and kept locked while it is sent, so
    concurrent workers never send one message twice at once; its outcome commits right after sending. SQLite
    has no row locks: a message is claimed by moving its `next_attempt_at` past `now` (an atomic conditional
    update), so another sender skips it; a sender that dies holding it leaves it to be retried once that
    lease has passed. A failure is retried with exponential backoff, and after OUTBOX_MAX_ATTEMPTS attempts
    (or at once when retrying cannot help) the message is `failed` with its `last_error`.
    """
    sent = 0
    for _ in range(limit):
        with session_factory() as session:
            row = _claim(session, now)
            if row is None:
                break
            try:
                _send(row)
            except DeliveryError as exc:
                _failed(row, str(exc), exc.permanent, now)
            except Exception as exc:  # an unforeseen error backs off too: it never blocks the queue
                _failed(row, f"{type(exc).__name__}: {exc}", False, now)
            else:
                row.attempts += 1
                row.status, row.sent_at, row.last_error = "sent", now, ""
                sent += 1
            session.commit()
    return sent


def _claim(session: Session, now: datetime) -> OutboxMessage | None:
    due = (select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
           .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1))
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(due.with_for_update(skip_locked=True))
    while (row := session.scalar(due)) is not None:
        taken = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending",
                   OutboxMessage.next_attempt_at <= now)
            .values(next_attempt_at=now + CLAIM_LEASE)
            .execution_options(synchronize_session=False)).rowcount
        session.commit()
        if taken:
            session.refresh(row)
            return row
    return None


def _failed(row: OutboxMessage, error: str, permanent: bool, now: datetime):
    row.attempts += 1
    row.last_error = error[:2000]
    if permanent or row.attempts >= int(current_app.config.get("OUTBOX_MAX_ATTEMPTS", 8)):
        row.status = "failed"
    else:
        row.next_attempt_at = now + backoff(row.attempts)


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 1 min, 2, 4, … at most BACKOFF_CAP."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_CAP)


def _send(row: OutboxMessage):
    if row.channel == "email":
        send_email(row.target, row.payload, row.key)
    elif row.channel == "webhook":
        post_webhook(row.target, row.payload, row.key)
    else:
        raise DeliveryError(f"unknown outbox channel `{row.channel}`", permanent=True)


def send_email(address: str, payload: dict, key: str):
    """Send one e-mail through the configured SMTP server (STARTTLS when asked, implicit TLS on port 465)."""
    config = current_app.config
    host = config.get("SMTP_HOST")
    if not host:
        raise DeliveryError("SMTP_HOST is not set: set it (and SMTP_PORT, SMTP_FROM) to send e-mail")
    port = int(config.get("SMTP_PORT") or 25)
    message = EmailMessage()
    message["From"] = config.get("SMTP_FROM") or "tierwise@localhost"
    message["To"] = address
    message["Subject"] = payload.get("subject") or "tierwise"
    message["Date"] = format_datetime(clock.now())
    message["Message-ID"] = message_id(key)
    message["X-Tierwise-Key"] = key
    message.set_content(payload.get("text") or "")
    try:
        if port == 465:
            client = smtplib.SMTP_SSL(host, port, timeout=SEND_TIMEOUT, context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=SEND_TIMEOUT)
        with client:
            if config.get("SMTP_STARTTLS"):
                client.starttls(context=ssl.create_default_context())
            if config.get("SMTP_USERNAME"):
                client.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"the SMTP server refused {address}: {exc.recipients}", permanent=True) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {host}:{port}: {exc}") from exc


def message_id(key: str) -> str:
    """The same Message-ID for every attempt of one key, so a resent e-mail is recognisably the same."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@tierwise>"


def body_bytes(payload: dict) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, keys sorted, the same on every attempt."""
    return codecs.dumps(dict(sorted(payload.items()))).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The `X-Tierwise-Signature` value: `sha256=` and the hex HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_webhook(url: str, payload: dict, key: str):
    """POST the payload as JSON, signed with WEBHOOK_SECRET when one is set; any 2xx answer is success."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"webhook URL `{url}` must start with http:// or https://", permanent=True)
    body = body_bytes(payload)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "tierwise-webhook",
               "X-Tierwise-Key": key}
    secret = current_app.config.get("WEBHOOK_SECRET")
    if secret:
        headers["X-Tierwise-Signature"] = signature(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        permanent = 400 <= exc.code < 500 and exc.code not in RETRYABLE_HTTP
        raise DeliveryError(f"webhook {url} answered HTTP {exc.code} {exc.reason}", permanent=permanent) from exc
    except OSError as exc:
        raise DeliveryError(f"webhook {url}: {exc}") from exc
    except ValueError as exc:
        raise DeliveryError(f"webhook URL `{url}` is not valid: {exc}", permanent=True) from exc
