"""Limits that rlimits cannot express, checked from outside the sandbox while a cell runs.

Every ``INTERVAL`` seconds the watchdog looks at the sandbox's process tree (how many processes,
how much memory in total) and its private /tmp (how many files), and less often at its work folder
(how many bytes on disk, how many files and folders). Over a limit, the caller stops the whole
sandbox. The folder scan never follows links and is iterative, so a tree ten thousand folders deep
or a million empty files cannot stall or crash it; it gives up counting past the file limit, which
is itself the verdict.
"""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import psutil

INTERVAL = 0.2  # seconds between process samples
DISK_INTERVAL = 1.0  # seconds between folder scans (sooner when the file system fills fast)
PROBE_EVERY = 2.0  # seconds between the kernel_info requests sent on the kernel's control channel
SILENT_AFTER = 20.0  # seconds of no answer, with the kernel idle, after which it counts as broken
IDLE_CPU = 0.05  # "idle": the kernel used at most this share of one core while it stayed silent


@dataclass
class Usage:
    """What one folder scan found."""

    bytes: int = 0  # allocated on disk (sparse files count what they really use)
    entries: int = 0  # files, folders, links and everything else
    complete: bool = True  # False when the scan stopped at the entry limit


def folder_usage(root: Path, max_entries: int) -> Usage:
    """Disk use of everything under ``root``, without following links; stops past ``max_entries``."""
    usage = Usage()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    usage.entries += 1
                    if usage.entries > max_entries:
                        usage.complete = False
                        return usage
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    usage.bytes += info.st_blocks * 512
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(entry.path)
        except OSError:  # unreadable or vanished: what is there still counts where we saw it
            continue
    return usage


def tmp_entries(folder: str) -> int:
    """Files and folders on the file system holding ``folder``, from one statvfs (0 if unreadable)."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return 0
    return st.f_files - st.f_ffree


class DiskWatch:
    """Tells when a work folder goes over its byte or entry limit."""

    def __init__(self, folder: Path, max_bytes: int, max_entries: int):
        self.folder, self.max_bytes, self.max_entries = folder, max_bytes, max_entries
        self._last_scan = 0.0
        self._free_at_scan = self._free()

    def _free(self) -> int:
        try:
            st = os.statvfs(self.folder)
            return st.f_bavail * st.f_frsize
        except OSError:
            return 0

    def check(self, now: float | None = None, tmp: str | None = None) -> str:
        """"" while within the limits, else a sentence saying which limit was passed. ``tmp``: the
        sandbox's private /tmp as the grader reaches it (``/proc/PID/root/tmp``); a tmpfs caps its
        bytes but not its files, each of which costs kernel memory outside every rlimit."""
        now = time.monotonic() if now is None else now
        if tmp is not None and tmp_entries(tmp) > self.max_entries:
            return f"made more than {self.max_entries:,} files and folders in /tmp"
        filling = self._free_at_scan - self._free() > self.max_bytes // 4  # the disk fills fast: look now
        if not filling and now - self._last_scan < DISK_INTERVAL:
            return ""
        self._last_scan, self._free_at_scan = now, self._free()
        usage = folder_usage(self.folder, self.max_entries)
        if not usage.complete:
            return f"wrote more than {self.max_entries:,} files and folders into the work folder"
        if usage.bytes > self.max_bytes:
            return f"wrote more than {self.max_bytes / 2**30:g} GB into the work folder"
        return ""


class Silence:
    """Tells when a kernel has stopped working: its control channel, which a busy kernel still
    answers (its own thread serves it), went unanswered for ``SILENT_AFTER`` seconds while the
    kernel used next to no CPU. A notebook that breaks ipykernel itself (``builtins.isinstance``
    replaced, say) leaves it so; without this the grader waited out the whole cell limit."""

    def __init__(self, now: float, cpu_seconds: float):
        self.answered_at, self.cpu_at_answer = now, cpu_seconds

    def answered(self, now: float, cpu_seconds: float) -> None:
        self.answered_at, self.cpu_at_answer = now, cpu_seconds

    def check(self, now: float, cpu_seconds: Callable[[], float]) -> str:
        """"" while the kernel answers or works, else a sentence saying it went silent (``cpu_seconds``
        is asked only then)."""
        silent = now - self.answered_at
        if silent < SILENT_AFTER or cpu_seconds() - self.cpu_at_answer > IDLE_CPU * silent:
            return ""
        return f"left the kernel broken (it answered nothing for {silent:.0f} s while idle)"


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """The user and system CPU time the processes have used; vanished ones count as nothing."""
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def tree_usage(processes: list[psutil.Process]) -> tuple[int, int]:
    """(number of processes, their total resident memory in bytes); vanished ones count as nothing."""
    rss = 0
    for p in processes:
        try:
            rss += p.memory_info().rss
        except psutil.Error:
            pass
    return len(processes), rss
