"""One-line training status for logs and terminals where a progress bar cannot be seen.

Under ``cellseg-nb run`` training happens inside a papermill kernel: a tqdm bar there is a notebook
widget that never reaches the terminal. With ``status_every_s`` set, the engine prints a plain line at
most that often (and at the end), which the runner forwards from the kernel to the terminal::

    [unet] step 120/500 (24%)  loss 0.4123  3.1 steps/s  elapsed 0:39  left ~2:03
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class StatusLine:
    """Prints ``[name] step s/total (p%) loss ... rate elapsed left`` every ``every_s`` seconds."""

    def __init__(self, name: str, total: int, every_s: float, start_step: int = 0,
                 stream: TextIO | None = None, clock=time.monotonic) -> None:
        self.name, self.total, self.every_s = name, int(total), float(every_s)
        self.stream, self.clock = stream or sys.stdout, clock
        self.start_step, self.started = int(start_step), clock()
        self.last_print = self.started
        self.loss: float | None = None

    @property
    def enabled(self) -> bool:
        return self.every_s > 0

    def line(self, step: int) -> str:
        elapsed = self.clock() - self.started
        done = step - self.start_step
        rate = done / elapsed if elapsed > 0 else 0.0
        left = (self.total - step) / rate if rate > 0 else float("nan")
        loss = "" if self.loss is None else f"  loss {self.loss:.4f}"
        eta = f"  left ~{_clock(left)}" if left == left else ""
        return (f"[{self.name}] step {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%){loss}"
                f"  {rate:.2f} steps/s  elapsed {_clock(elapsed)}{eta}")

    def update(self, step: int, loss: float | None = None, *, final: bool = False) -> None:
        """Remember the latest logged loss; print when ``every_s`` has passed or at the end."""
        if loss is not None:
            self.loss = float(loss)
        if not self.enabled:
            return
        now = self.clock()
        if final or now - self.last_print >= self.every_s:
            self.last_print = now
            print(self.line(step), file=self.stream, flush=True)
