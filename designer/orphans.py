"""Helper processes that end themselves once the process that started them is gone.

The helpers of an import (`imports.ahead`) and of a publish or an impact
preview (`bundles.parallel`) wait for work from the process that started
them. Killed outright (kill -9, the machine's memory killer), that process
tells them nothing, and they would wait forever, a PostgreSQL connection
open in the publish's. So each helper watches its parent from a daemon
thread and exits when it has been adopted by another.
"""
from __future__ import annotations

import os
import threading
import time

#: seconds between a helper's looks at its parent
EVERY = 1.0


def watch():
    """Called in a helper as it starts: end it once its parent is gone."""
    threading.Thread(target=_watch, args=(os.getppid(),), daemon=True, name="orphan-watch").start()


def _watch(parent: int):
    while os.getppid() == parent:
        time.sleep(EVERY)
    os._exit(0)
