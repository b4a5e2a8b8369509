"""The rows of an import checked a batch ahead, by a helper process, while this one writes the batch before.

Of a batch saved a batch at a time (`batch.save_many`), nearly half the
time is the engine's: every row typed, validated, classified, explained and
its duplicate keys normalised (`batch.check`). That reads nothing but the
rows and the bundle, so on a machine of more than one core a large import
hands it to one helper process: while this process looks up duplicates,
plans and writes batch k, the helper checks batch k + 1 (and has k + 2 in
its queue). What is decided against the database — duplicates, ids,
autonumbers, owners, the workflows' plans — stays here, in file order, so
the rows come out as they would checked in this process; each batch is
checked at the instant it is handed over, the instant it is then saved
with.

The helper is spawned, not forked (the web runs imports in a thread: a
fork would copy locks other threads hold), and compiles the published
bundle itself: about a second, worth it from `IMPORT_AHEAD_FROM` rows (the
workspace's setting, 20,000 by default). A helper that fails leaves the
batches it had to this process, as if there were none; an import's process
killed outright leaves no helper behind.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import datetime
from itertools import islice

from .. import orphans
from ..bundles.workspace import Current
from .batch import batched, check
from .rows import Rows

#: batches handed to the helper beyond the one being written
QUEUED = 2

log = logging.getLogger(__name__)
_rows: Rows | None = None


def _start(source: str, filename: str, version: int, arguments: dict):
    """In the helper: the table's `Rows` (`Rows.arguments`), from the published bundle's source."""
    global _rows
    from engine import load_bundle_text
    orphans.watch()
    _rows = Rows(Current(version, load_bundle_text(source, filename)), user=None, **arguments)


def _check(chunk: list, now: datetime):
    return check(_rows, chunk, now)


def batches(rows: Rows, pending: Iterator, size: int, clock: Callable[[], datetime], *,
            helper: tuple[str, str] | None) -> Iterator[tuple[list, datetime, list | None]]:
    """(chunk, now, what `check` made of it at now) for each chunk of `size` rows of `pending`, in order;
    checked by a helper process ahead of time when `helper` ((source, filename) of the bundle) is given and
    the rows can be saved a batch at a time, else here as each is reached."""
    if helper is None or not batched(rows) or (os.cpu_count() or 1) < 2:
        while chunk := list(islice(pending, size)):
            now = clock()
            yield chunk, now, check(rows, chunk, now)
        return
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                               initargs=(*helper, rows.cur.version, rows.arguments))
    ahead: deque[tuple[list, datetime, Future | None]] = deque()
    failed = False
    try:
        while True:
            while len(ahead) <= QUEUED and (chunk := list(islice(pending, size))):
                now = clock()
                ahead.append((chunk, now, None if failed else pool.submit(_check, chunk, now)))
            if not ahead:
                return
            chunk, now, future = ahead.popleft()
            checked = None
            if future is not None:
                try:
                    checked = future.result()
                except Exception as exc:  # noqa: BLE001  (any failure of the helper: this process checks the rest)
                    log.warning("the import's helper failed, this process checks the remaining rows: %s",
                                (str(exc).splitlines() or [type(exc).__name__])[0])
                    failed = True
                    pool.shutdown(wait=False, cancel_futures=True)
                    ahead = deque((c, n, None) for c, n, _f in ahead)
                    future = None
            yield chunk, now, checked if future is not None else check(rows, chunk, now)
    finally:  # the helper ends with the import (or its failure): what it had queued is dropped
        pool.shutdown(wait=True, cancel_futures=True)
