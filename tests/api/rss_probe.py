"""Peak memory of a server process during a step, read from ``/proc`` (Linux).

``VmHWM`` is the process's peak RSS; writing ``5`` to ``/proc/PID/clear_refs`` resets it to the current RSS, so the
peak of one step can be read exactly. Where that write is not allowed, a thread samples ``VmRSS`` every 5 ms instead
(it may miss a spike shorter than that, so it can only under-report: the assertions stay meaningful upper bounds).
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from types import TracebackType


def status_bytes(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.M).group(1)) * 1024  # type: ignore[union-attr]


class PeakGrowth:
    """``with PeakGrowth(pid) as probe: ...`` then ``probe.grown``: peak RSS during the block minus RSS before it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = 0
        self.grown = 0
        self._sampled = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakGrowth":
        self.before = status_bytes(self.pid, "VmRSS")
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._sampled = max(self._sampled, status_bytes(self.pid, "VmRSS"))
            self._stop.wait(0.005)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
            peak = self._sampled
        else:
            peak = status_bytes(self.pid, "VmHWM")
        self.grown = peak - self.before
