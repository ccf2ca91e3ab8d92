"""CPU threads shared among side-by-side notebooks: the run grants them, running trainings follow.

``cellseg-nb run`` executes a config's ``lanes`` side by side, one kernel per lane with ``OMP_NUM_THREADS``
= cores / lanes (on a small CPU two one-thread kernels beat one two-thread kernel). When a lane finishes
early its cores would idle while the other lanes still train. So the runner keeps a small grant file
(:class:`ThreadGrant`: the cores and the lanes still running) and names it in the environment variable
:data:`GRANT_ENV`, which every kernel inherits; the training engine reads it every few seconds
(:class:`ThreadFollower`) and sets ``torch.set_num_threads`` to ``cores // lanes still running``. Outside a
run (no variable, or no file) nothing changes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import torch

from ..atomic import atomic_write_json

log = logging.getLogger(__name__)

#: Environment variable naming the grant file of the run a kernel belongs to.
GRANT_ENV = "CELLSEG_NB_THREAD_GRANT"


class ThreadGrant:
    """The runner's side: ``cores`` shared by the lanes still running, written to ``path`` atomically."""

    def __init__(self, path: str | Path, cores: int, lanes: int) -> None:
        self.path = Path(path)
        self.cores = max(1, int(cores))
        self.lanes = max(1, int(lanes))
        self._lock = threading.Lock()
        self._write()

    @property
    def threads(self) -> int:
        """Threads each running lane may use now."""
        return max(1, self.cores // self.lanes)

    def lane_finished(self) -> None:
        """One lane is done: the others may use its cores."""
        with self._lock:
            self.lanes = max(1, self.lanes - 1)
            self._write()

    def _write(self) -> None:
        atomic_write_json(self.path, {"cores": self.cores, "lanes_running": self.lanes, "threads": self.threads})

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def granted_threads(path: str | Path | None = None) -> int | None:
    """Threads the run grants now (from ``path`` or the file :data:`GRANT_ENV` names); None outside a run or
    when the file is missing or unreadable (then nothing changes)."""
    path = path if path is not None else os.environ.get(GRANT_ENV)
    if not path:
        return None
    try:
        threads = int(json.loads(Path(path).read_text())["threads"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return threads if threads >= 1 else None


class ThreadFollower:
    """The training's side: at most every ``every_s`` seconds, set torch's thread count to the grant."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self._next = 0.0
        self.active = bool(os.environ.get(GRANT_ENV))

    def poll(self) -> int | None:
        """Apply a changed grant; returns the new thread count when it changed, else None."""
        if not self.active or time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self.every_s
        threads = granted_threads()
        if threads is None or threads == torch.get_num_threads():
            return None
        log.info("threads %d -> %d (granted by the run: other lanes finished)", torch.get_num_threads(), threads)
        torch.set_num_threads(threads)
        return threads
