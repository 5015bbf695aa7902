"""Stopping a batch cleanly: SIGTERM or SIGINT (how ``timeout``, Slurm and Kubernetes stop a job)
ends every submission's process tree at once, sandboxes included; finished results are already in
the result store, so a rerun resumes. The grader then exits with 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

import psutil


class Stopped(BaseException):
    """The batch was told to stop (not an ``Exception``, so no handler meant for a submission catches it)."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def kill_trees(pids: list[int], wait: float = 5.0) -> None:
    """Kill each process and every descendant (Jupyter kernels start in their own sessions)."""
    procs: list[psutil.Process] = []
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs += root.children(recursive=True) + [root]
        except psutil.NoSuchProcess:
            continue
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=wait)


class Children:
    """The submission processes a batch is running, so that one signal can stop them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self.stopping = 0  # the signal that stops the batch (0: none)

    def add(self, pid: int) -> None:
        with self._lock:
            self._pids.add(pid)
        if self.stopping:  # started just as the signal came: it goes too
            kill_trees([pid])

    def discard(self, pid: int) -> None:
        with self._lock:
            self._pids.discard(pid)

    def stop(self, signum: int) -> None:
        self.stopping = signum
        with self._lock:
            pids = list(self._pids)
        kill_trees(pids)


@contextlib.contextmanager
def stop_on_signals(children: Children) -> Iterator[None]:
    """While the block runs, SIGTERM and SIGINT kill ``children`` and raise ``Stopped`` in the main
    thread. Elsewhere than in the main thread it does nothing (signals only reach the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        children.stop(signum)
        raise Stopped(signum)

    saved = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, old in saved.items():
            signal.signal(s, old)
