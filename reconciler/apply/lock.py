"""One apply at a time per provider on a machine: a lock file naming its holder (pid, host, start time).

A lock whose holder process is gone (same host, pid not alive) is taken over, with a message; a live holder,
or one on another host that cannot be checked from here, refuses the new apply.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from reconciler import LockBusy, StateUnusable
from reconciler.host.processes import pid_alive, process_start


class LockHeld(LockBusy):
    """Another apply holds the lock; the message names it."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    started_at: float

    def describe(self) -> str:
        try:
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started_at))
        except (OverflowError, OSError, ValueError):  # a start time no clock gives: say so rather than crash
            when = f"an impossible time ({self.started_at!r})"
        return f"pid {self.pid} on {self.host} since {when}"


START_MARGIN_S = 300.0
_HELD_HERE: set[Path] = set()  # the locks this process holds: a lock naming our pid and not in it is a dead run's


def _may_hold(holder: Holder, path: Path) -> bool:
    """Whether a live process could be the apply that wrote the lock. This process only if it holds it (a
    restarted container gets the same pid), and never one started after the lock was written (a pid reused
    after a reboot)."""
    if holder.pid == os.getpid():
        return path.resolve() in _HELD_HERE
    if not pid_alive(holder.pid):
        return False
    started = process_start(holder.pid)
    # the margin: /proc's boot time is whole seconds, and a clock stepped forward while an apply runs moves the
    # start time /proc gives later; refusing a reused pid for a few minutes is the safe side of two writers
    return started is None or started <= holder.started_at + START_MARGIN_S


class StateLock:
    """`with StateLock(path) as lock:`; `lock.took_over` names a dead holder whose lock was taken over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.took_over: Holder | None = None
        self._held = False

    def acquire(self) -> StateLock:
        try:
            return self._acquire()
        except OSError as exc:
            raise StateUnusable(f"cannot take the lock {self.path}: {exc.strerror or exc}") from None

    def _acquire(self) -> StateLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = Holder(pid=os.getpid(), host=socket.gethostname(), started_at=time.time())
        unreadable = False
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                holder = self.read_holder()
                if holder is None:  # half-written or unreadable: treat as stale only if old enough
                    try:
                        young = time.time() - self.path.stat().st_mtime < 5
                    except FileNotFoundError:  # released meanwhile: try again
                        continue
                    if young:
                        unreadable = True
                        time.sleep(0.2)
                        continue
                elif holder.host != me.host:
                    raise LockHeld(
                        f"{self.path} is held by {holder.describe()}; it cannot be checked from {me.host}. "
                        f"If that apply is gone, delete the lock file and run again."
                    ) from None
                elif _may_hold(holder, self.path):
                    raise LockHeld(f"another apply is running ({holder.describe()}); lock {self.path}") from None
                self.took_over = holder
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": me.pid, "host": me.host, "startedAt": me.started_at}, f)
                f.flush()
                os.fsync(f.fileno())
            self._held = True
            _HELD_HERE.add(self.path.resolve())
            return self
        if unreadable:
            raise LockHeld(
                f"the lock {self.path} names no apply (half-written or not a lock); if no apply is running, "
                "delete it and run again"
            )
        raise LockHeld(f"could not take the lock {self.path}; another process keeps taking it")

    def read_holder(self) -> Holder | None:
        """The holder the file names, or None when it names none a live apply could be (a pid no process has)."""
        try:
            data = json.loads(self.path.read_bytes())
            pid, host, started = data["pid"], data["host"], float(data["startedAt"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None
        if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 2**31 or not math.isfinite(started):
            return None
        return Holder(pid=pid, host=str(host), started_at=started)

    def release(self) -> None:
        if self._held:
            holder = self.read_holder()
            if holder is not None and holder.pid == os.getpid():
                self.path.unlink(missing_ok=True)
            _HELD_HERE.discard(self.path.resolve())
            self._held = False

    def __enter__(self) -> StateLock:
        return self.acquire()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
