"""Database tables of a tierwise workspace (SQLAlchemy 2, declarative).

Records of every object live in one table: the fields a person typed in
`data`, what the engine computed (formulas and classifications) in
`computed`, and the explanation beside it. Bundles change at run time, so a
column per field would mean DDL on every publish and lost data on a retype;
JSON keeps every value ever written, and publishing adds an expression index
per classification (`designer.bundles.indexes`) so filtering by tier stays an
index scan on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from datetime import datetime, UTC

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint,
                        String, Text, TypeDecorator, text)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: Constraint names Alembic can rely on, the same on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: JSON on SQLite, JSONB on PostgreSQL (indexable, compact).
Json = JSON().with_variant(JSONB(), "postgresql")
#: Integer primary keys that are 64-bit on PostgreSQL and SQLite's rowid on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite keeps no zone itself)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class User(Base):
    """A person in the workspace: admin, manager or rep, in a team, with a manager."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    #: admin | manager | rep
    role: Mapped[str] = mapped_column(String(16), default="rep")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    team: Mapped[Team | None] = relationship(lazy="joined")
    manager: Mapped[User | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)


class ApiToken(Base):
    """A per-user API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """Failed logins per username and per address, for throttling brute force."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BundleVersion(Base):
    """One published version of the workspace bundle; never changed once written."""

    __tablename__ = "bundle_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bundle_key: Mapped[str] = mapped_column(String(63))
    #: the bundle as written (YAML or JSON text, comments kept)
    source: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(String(255), default="bundle.yaml")
    published_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    published_by: Mapped[str | None] = mapped_column(String(150))
    note: Mapped[str] = mapped_column(Text, default="")
    #: what publishing changed: fields added, removed, retyped; records reclassified
    report: Mapped[dict] = mapped_column(Json, default=dict)


class Record(Base):
    """A record of any object; children point at their parent."""

    __tablename__ = "records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    object: Mapped[str] = mapped_column(String(63))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str | None] = mapped_column(String(150))
    #: key of the public pool the record sits in (owner is then empty)
    pool: Mapped[str | None] = mapped_column(String(63))
    #: when it entered the pool, why, and whom it was taken from (SPEC §6)
    pool_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    pool_reason: Mapped[str | None] = mapped_column(Text)
    previous_owner: Mapped[str | None] = mapped_column(String(150))
    #: when the current owner got the record (created, claimed or assigned): `protect` counts from here
    owned_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: when the next follow-up is due (SPEC §5; the earliest over the object's policies): 今日待跟进 and overdue lists
    followup_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    title: Mapped[str | None] = mapped_column(String(200))
    #: field values as typed (wire format: dates ISO, money exact)
    data: Mapped[dict] = mapped_column(Json, default=dict)
    #: formula and classification values
    computed: Mapped[dict] = mapped_column(Json, default=dict)
    #: classification key -> explanation
    explain: Mapped[dict] = mapped_column(Json, default=dict)
    bundle_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(150))
    updated_by: Mapped[str | None] = mapped_column(String(150))
    #: optimistic concurrency: an update names the version it read
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_records_object_owner_updated", "object", "owner", "updated_at"),
        Index("ix_records_object_updated", "object", "updated_at"),
        Index("ix_records_object_pool", "object", "pool"),
        Index("ix_records_owner_followup", "owner", "followup_due_at"),
    )


class ClassificationChange(Base):
    """The history of a record's classification values (SPEC §4)."""

    __tablename__ = "classification_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(63))
    old: Mapped[object] = mapped_column(Json, nullable=True)
    new: Mapped[object] = mapped_column(Json, nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: saved | time | rules published
    cause: Mapped[str] = mapped_column(String(32))
    explain: Mapped[dict] = mapped_column(Json, default=dict)
    bundle_version: Mapped[int | None] = mapped_column(Integer)
    #: the `at` of the record's previous and next change of this key in (at, id) order, None where there is
    #: none; kept by triggers (migration 0013) for the migration matrix (designer.dashboards.queries)
    prev_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: the previous change's `old` and `new`, and the `at` of the change before it (migration 0018)
    prev_old: Mapped[object] = mapped_column(Json, nullable=True)
    prev_new: Mapped[object] = mapped_column(Json, nullable=True)
    prev_prev_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    #: dashboards walk the changes of one classification after a date (designer.dashboards.queries)
    __table_args__ = (Index("ix_classification_history_key_at", "key", "at", "record_id", "id", "old", "new",
                            "prev_at", "next_at"),
                      Index("ix_classification_history_key_record", "key", "record_id", "at", "id", "old", "new",
                            "prev_at", "next_at"))
    # and a partial index of the rows that have a previous change, made by migration 0018's SQL
    # (designer.migrate.include_object)


class RecordValue(Base):
    """A value dashboards count by, one row per record and key (designer.dashboards.values).

    Kept by PostgreSQL triggers on `records` (migration 0009); empty on SQLite.
    """

    __tablename__ = "record_values"

    record_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(63), primary_key=True)
    object: Mapped[str] = mapped_column(String(63))
    value: Mapped[str | None] = mapped_column(Text)
    #: the record's owner; a child's is its parent's (the scope it is counted in)
    owner: Mapped[str | None] = mapped_column(String(150))

    __table_args__ = (Index("ix_record_values_count", "object", "key", "value", "owner"),)


class HistoryHour(Base):
    """How many classification changes of one kind an hour saw, for the dashboards' past counts
    (designer.dashboards.changes).

    Rows per object, key, owner, hour and change (`old` -> `new`, as JSON
    text): the trend and the counts at a past time add these up instead of
    reading every history row since then. Kept by triggers on both databases
    (migration 0010): on SQLite one row per kind; on PostgreSQL rows are
    appended, a kind's several times with signed counts (a statement's), so
    a kind's count is the sum of its rows, and the table has no primary key
    there but the index `ix_history_hours` (object, key, owner, hour_end)
    INCLUDE (old, new, n) made by the migration. The primary key declared
    here is SQLite's (and the ORM's identity): read the table with Core and
    sum `n` by kind, not as ORM objects.
    """

    __tablename__ = "history_hours"

    object: Mapped[str] = mapped_column(String(63), primary_key=True)
    key: Mapped[str] = mapped_column(String(63), primary_key=True)
    #: the record's current owner ('' for none), the scope dashboards count in; '*' (no username's) for
    #: every owner together, what an unscoped chart reads
    owner: Mapped[str] = mapped_column(String(150), primary_key=True)
    #: the end of the hour (UTC): the changes made after `hour_end - 1 hour`, up to and at `hour_end`
    hour_end: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    old: Mapped[str] = mapped_column(Text, primary_key=True)
    new: Mapped[str] = mapped_column(Text, primary_key=True)
    #: history rows of the kind, signed on PostgreSQL (taken off: negative); on SQLite a row that reaches 0 is
    #: deleted, on PostgreSQL a kind's rows may sum to 0
    n: Mapped[int] = mapped_column(BigInteger)

    #: SQLite's key: the dashboards read a range of it and `n` from it alone (the rows are its entries, no rowid).
    #: PostgreSQL has no key, its index (migration 0010) gives the same range with `n` (an index-only scan)
    __table_args__ = (PrimaryKeyConstraint("object", "key", "owner", "hour_end", "old", "new"),
                      {"sqlite_with_rowid": False})


class AuditEntry(Base):
    """Who changed which fields of a record, when, from what to what."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(BigId, index=True)
    object: Mapped[str] = mapped_column(String(63))
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(150))
    #: create | update | delete
    action: Mapped[str] = mapped_column(String(16))
    #: field -> [old, new]
    changes: Mapped[dict] = mapped_column(Json, default=dict)


class DuplicateKey(Base):
    """Normalised values of `unique` fields, for the duplicate check (查重, SPEC §2)."""

    __tablename__ = "duplicate_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    object: Mapped[str] = mapped_column(String(63))
    field: Mapped[str] = mapped_column(String(63))
    value: Mapped[str] = mapped_column(String(255))

    __table_args__ = (Index("ix_duplicate_keys_lookup", "object", "field", "value"),)


class Counter(Base):
    """Autonumber sequences: next value per object, field and period (e.g. the year)."""

    __tablename__ = "counters"

    object: Mapped[str] = mapped_column(String(63), primary_key=True)
    field: Mapped[str] = mapped_column(String(63), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


__all__ = ["Base", "Team", "User", "ApiToken", "LoginFailure", "BundleVersion", "Record", "ClassificationChange",
           "RecordValue", "HistoryHour", "AuditEntry", "DuplicateKey", "Counter"]


class ImportJob(Base):
    """An import of records from a CSV or XLSX file (designer.imports): what was asked, how far it got.

    In partial mode every committed batch moves `stage` and `last_row` in the
    same transaction as its rows, so a resume starts exactly after the last
    row that was written, never writing one twice.
    """

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object: Mapped[str] = mapped_column(String(63))
    #: who imports (None: the command line, acting for the whole workspace)
    username: Mapped[str | None] = mapped_column(String(150))
    #: draft | queued | running | done | failed (all-or-nothing: bad rows, nothing written) | interrupted
    status: Mapped[str] = mapped_column(String(16), default="draft")
    #: all (one transaction) | partial (good rows in, bad rows reported)
    mode: Mapped[str] = mapped_column(String(16), default="partial")
    #: what a duplicate row does: skip | update | new
    duplicates: Mapped[str] = mapped_column(String(16), default="skip")
    #: the file as the user named it, and where it is kept (the instance folder for uploads)
    filename: Mapped[str] = mapped_column(String(255), default="")
    path: Mapped[str] = mapped_column(Text)
    #: column mapping, child table and match key, owner, batch size, file checksum
    options: Mapped[dict] = mapped_column(Json, default=dict)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    #: rows that failed
    errors: Mapped[int] = mapped_column(Integer, default=0)
    #: parents | children: the table being worked through
    stage: Mapped[str] = mapped_column(String(16), default="parents")
    #: the last row of `stage` (as numbered in the file) whose outcome is committed
    last_row: Mapped[int] = mapped_column(Integer, default=0)
    #: summary: a message for interrupted or failed jobs, what all-or-nothing would have written
    report: Mapped[dict] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_import_jobs_username", "username", "created_at"),)


class ImportProblem(Base):
    """One problem of one row of an import: a failed row (`error`), or a note on a skipped or warned row."""

    __tablename__ = "import_problems"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    #: parents | children
    stage: Mapped[str] = mapped_column(String(16))
    #: the row's number in its file or sheet (the header is row 1)
    file_row: Mapped[int] = mapped_column(Integer)
    #: the column's heading in the file (or the field's label when no column holds it)
    column_label: Mapped[str] = mapped_column(String(255), default="")
    message: Mapped[str] = mapped_column(Text)
    #: error | skipped | warning
    kind: Mapped[str] = mapped_column(String(16), default="error")

    __table_args__ = (Index("ix_import_problems_job", "job_id", "stage", "file_row"),)


__all__ += ["ImportJob", "ImportProblem"]


# -- workflows (SPEC §5–7): the durable schedule and what firing it produces ------------------------------


class Firing(Base):
    """One future firing: a reminder, escalation, pool reclaim or warning, date/cron automation, reclassification.

    Written in the transaction of the record change that caused it, with a
    unique idempotency `key`; a change that moves or cancels it updates the
    row in that transaction. Rows outlive their records (no foreign key) so a
    cancellation keeps its reason. Workers claim pending rows with
    `FOR UPDATE SKIP LOCKED` and commit the row's effects with its completion.
    """

    __tablename__ = "schedule"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    #: reminder | reclassify | pool_reclaim | pool_warn | automation_date | automation_cron | replan (no record)
    kind: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    #: pending | done | cancelled | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: what the firing needs to re-check itself (policy key, due time it belongs to, step, owner at planning)
    payload: Mapped[dict] = mapped_column(Json, default=dict)
    bundle_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: what firing did, or why it was cancelled
    outcome: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("ix_schedule_pending_due", "due_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
        Index("ix_schedule_record", "record_id", "status"),
    )


class Task(Base):
    """A to-do for a user about a record (follow-up due, automation `task`)."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"), index=True)
    assignee: Mapped[str] = mapped_column(String(150))
    title: Mapped[str] = mapped_column(String(300))
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    #: open | done | cancelled
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: what created it: "automation downgrade_alert", "follow-up cadence"
    cause: Mapped[str] = mapped_column(String(200), default="")
    #: idempotency key of the firing or event that created it
    key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_tasks_assignee_status_due", "assignee", "status", "due_at"),)


class Notification(Base):
    """An in-app message in a user's inbox; e-mail and webhooks copies go through the outbox."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    #: reminder | escalation | pool_reclaim | pool_warn | automation | assigned
    kind: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    #: idempotency: one message per recipient and firing
    key: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_notifications_user", "username", "read_at", "created_at"),)


class OutboxMessage(Base):
    """An effect outside the database (e-mail, webhook), delivered at least once and deduplicated by `key`."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    #: email | webhook
    channel: Mapped[str] = mapped_column(String(16))
    #: an e-mail address or a URL
    target: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(Json, default=dict)
    #: pending | sent | failed (gave up after the last attempt)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        Index("ix_outbox_pending", "next_attempt_at", postgresql_where=text("status = 'pending'"),
              sqlite_where=text("status = 'pending'")),
    )


class WorkflowEvent(Base):
    """What a workflow did to a record, and why: shown on the record page; pool limits count these."""

    __tablename__ = "workflow_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    #: reminder | escalation | automation | assign | pool_in | pool_claim | pool_return | pool_warn | cancelled
    kind: Mapped[str] = mapped_column(String(32))
    #: the policy, pool or automation key
    rule: Mapped[str] = mapped_column(String(63), default="")
    #: in words: "tier changed A → C", "reclaim_when held: days_since(...) > 30"
    cause: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(Json, default=dict)
    #: the user it concerns (the claimer, the old owner), None for the system
    actor: Mapped[str | None] = mapped_column(String(150))

    __table_args__ = (Index("ix_workflow_events_actor", "actor", "kind", "at"),)


class WorkerLease(Base):
    """Who runs a singleton job (the SQLite worker); a lease that is not renewed expires."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


__all__ += ["Firing", "Task", "Notification", "OutboxMessage", "WorkflowEvent", "WorkerLease"]


class BundleDraft(Base):
    """The workspace's draft bundle in the web designer (designer.studio), one row per bundle key.

    `source` is always what the admin last typed, even when it does not
    parse: a draft that fails to load must never lose their work. It is
    compared with the published version it was started from (`base_version`)
    to tell whether there is anything to publish.
    """

    __tablename__ = "bundle_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the workspace draft ("workspace"); one row per key
    name: Mapped[str] = mapped_column(String(63), unique=True)
    source: Mapped[str] = mapped_column(Text, default="")
    #: the published version the draft was started from (None: started before anything was published)
    base_version: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(150))


__all__ += ["BundleDraft"]


class PublishJob(Base):
    """A publish from the web designer or the REST API, run in a background thread (designer.bundles.publishing).

    The publish itself is one transaction: it commits whole or not at all,
    and this row turns `done` (with the version) in that same transaction, so
    a process killed half-way leaves the rules as they were and this row
    `running` with a heartbeat that stops; the studio then reports it as
    interrupted. `phase`, `done` and `total` are the progress the page shows.
    """

    __tablename__ = "publish_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: who published, and why (the version's note)
    username: Mapped[str | None] = mapped_column(String(150))
    note: Mapped[str] = mapped_column(Text, default="")
    #: the draft's text as it was when publishing began
    source: Mapped[str] = mapped_column(Text)
    #: running | done | failed (nothing published: `report` says why) | interrupted
    status: Mapped[str] = mapped_column(String(16), default="running")
    #: reclassify | plan: records reclassified, then records whose reminders and reclaims are planned again
    phase: Mapped[str] = mapped_column(String(16), default="")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: the version it published
    version: Mapped[int | None] = mapped_column(Integer)
    #: {"message": ...} or {"problems": [...]} when it failed
    report: Mapped[dict] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


__all__ += ["PublishJob"]


class ExportJob(Base):
    """An export of a long list to XLSX or CSV, written in a background thread (designer.exports.jobs).

    The list's filters are kept as the page had them (`args`), so the file is
    the list the user saw. The file is written beside the instance's other
    files under a name only this row knows, and handed only to its user;
    it is deleted a day after it was made (`expired`).
    """

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    object: Mapped[str] = mapped_column(String(63))
    #: xlsx | csv
    fmt: Mapped[str] = mapped_column(String(8))
    #: the list's query arguments: filters, search, expression, sort
    args: Mapped[dict] = mapped_column(Json, default=dict)
    #: running | done | failed | interrupted | expired (the file was deleted)
    status: Mapped[str] = mapped_column(String(16), default="running")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: the name the download is offered under, and where the file is kept
    filename: Mapped[str] = mapped_column(String(255), default="")
    path: Mapped[str] = mapped_column(Text, default="")
    #: {"message": ...} when it failed
    report: Mapped[dict] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_export_jobs_username", "username", "created_at"),)


__all__ += ["ExportJob"]


class ImpactJob(Base):
    """An impact preview of the studio's draft, computed in a background thread (designer.studio.previewing).

    At a million records the preview reads every record and its children: a
    minute or more, longer than a request may wait. The page polls this row
    for the count and takes the result from it when it is `done`.
    """

    __tablename__ = "impact_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str | None] = mapped_column(String(150))
    #: running | done | failed | interrupted | superseded (the same user asked again meanwhile)
    status: Mapped[str] = mapped_column(String(16), default="running")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: the preview (`bundles.impact.preview` with the studio's `effects`) when done
    result: Mapped[dict] = mapped_column(Json, default=dict)
    #: {"message": ...} when it failed
    report: Mapped[dict] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


__all__ += ["ImpactJob"]
