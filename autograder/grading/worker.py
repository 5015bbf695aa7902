"""A long-lived grading process per worker slot: torch, Otter and nbclient are imported once, and
each submission is still graded by ``run_one`` in a fresh sandbox with a fresh kernel.

    python -m autograder.grading.worker      # reads one job per line on stdin, answers on stdout

A job is ``{"argv": [run_one's arguments], "log": path}``; while it runs, the process's stdout and
stderr go to ``log``, and the answer is one line ``{"exit": 0}`` (or 1 with ``"error"``). The
worker never runs student code itself (that happens in the sandboxed kernel), so sharing it between
submissions shares nothing a notebook could touch. The batch kills a worker that overruns a
submission's deadline, or that is told to stop, with its whole process tree, and starts a new one.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import traceback
from pathlib import Path


def serve() -> None:
    """The worker's loop: the protocol's stream is a copy of the original stdout, since fd 1 is the job's log."""
    from . import run_one  # the imports this process exists to keep warm

    answers = os.fdopen(os.dup(1), "w", buffering=1)
    for line in sys.stdin:
        job = json.loads(line)
        saved = os.dup(1), os.dup(2)
        with open(job["log"], "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                run_one.run(run_one.parser().parse_args(job["argv"]))
                answer = {"exit": 0}
            except BaseException as exc:  # reported like a crashed run_one; the worker goes on
                traceback.print_exc()
                answer = {"exit": 1, "error": f"{type(exc).__name__}: {exc}"[:300]}
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                os.close(saved[0])
                os.close(saved[1])
        answers.write(json.dumps(answer) + "\n")


class Worker:
    """The batch's side of one worker process (started on first use, replaced after a kill)."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.env, self.cwd = env, cwd
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen([sys.executable, "-m", "autograder.grading.worker"], env=self.env,
                                         cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, start_new_session=True, text=True, bufsize=1)

    def run(self, argv: list[str], log: Path, timeout: float) -> int | None:
        """Grade one submission; its exit status (0 when it wrote its results), or None past ``timeout``."""
        self.start()
        try:
            self.proc.stdin.write(json.dumps({"argv": argv, "log": str(log)}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._dead()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                line = self.proc.stdout.readline()
                return json.loads(line)["exit"] if line else self._dead()

    def _dead(self) -> int:
        self.proc.wait()
        status = self.proc.returncode
        self.proc = None
        return status if status else 1

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


class Workers:
    """The worker processes of one grading run, one per sandbox slot and environment, kept from one
    assignment's batch to the next (``grade`` over every assignment starts each only once)."""

    def __init__(self, cwd: Path):
        self.cwd = cwd
        self._by_key: dict[tuple[int, tuple], Worker] = {}

    def for_slot(self, slot: int, env: dict[str, str]) -> Worker:
        key = (slot, tuple(sorted(env.items())))
        if key not in self._by_key:
            self._by_key[key] = Worker(env, self.cwd)
        return self._by_key[key]

    def close(self) -> None:
        for worker in self._by_key.values():
            worker.close()
        self._by_key.clear()

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    serve()
