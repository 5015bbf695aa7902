"""Sandbox slots (the kernel's uid) are held by one grader run at a time on a machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from autograder.grading import sandbox

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="slots only pick uids when the grader runs as root")

CLAIM = ("import sys; from pathlib import Path; from autograder.grading import sandbox\n"
         "with sandbox.claimed_slots(int(sys.argv[1]), Path(sys.argv[2])) as slots: print(*slots)")


def _claim_elsewhere(count: int, locks) -> list[int]:
    done = subprocess.run([sys.executable, "-c", CLAIM, str(count), str(locks)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return [int(s) for s in done.stdout.split()]


def test_two_runs_never_share_a_slot_and_a_slot_frees_when_its_run_ends(tmp_path):
    locks = tmp_path / "slots"
    with sandbox.claimed_slots(2, locks) as mine:
        assert mine == [0, 1]
        assert _claim_elsewhere(3, locks) == [2, 3, 4], "another process got a slot this one holds"
        with sandbox.claimed_slots(1, locks) as more:  # a second run in the same process too
            assert more == [2]
    assert _claim_elsewhere(2, locks) == [0, 1], "released slots are claimed again"


def test_a_kernel_cannot_open_a_slot_lock_to_hold_it():
    """As the sandbox's uid, the kernel may not open the lock files (to flock them and starve graders)."""
    with sandbox.claimed_slots(1) as (slot,):
        lock = sandbox.SLOT_LOCKS / f"{slot}.lock"
        assert lock.exists()
        probe = (f"import fcntl\ntry:\n    fd = open({str(lock)!r})\n    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)\n"
                 f"    print('held')\nexcept OSError as exc:\n    print(type(exc).__name__)")
        done = subprocess.run(["setpriv", f"--reuid={sandbox.UID_BASE + slot}", f"--regid={sandbox.UID_BASE + slot}",
                               "--clear-groups", sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "PermissionError", done.stdout + done.stderr


def test_a_lock_folder_others_may_write_is_not_trusted(tmp_path):
    locks = tmp_path / "planted"
    locks.mkdir()
    locks.chmod(0o777)
    (locks / "0.lock").symlink_to("/etc/passwd")
    with sandbox.claimed_slots(2, locks) as slots:
        assert slots == [(os.getpid() % 4096) * 64, (os.getpid() % 4096) * 64 + 1]
    assert (locks / "0.lock").is_symlink() and os.stat("/etc/passwd").st_size > 0
