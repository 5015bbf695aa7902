"""Reading back and removing what a sandbox wrote, without trusting any of it.

Student code could have planted symbolic links, FIFOs, sockets, device nodes, hard links, huge
files, names with newlines or trees ten thousand folders deep anywhere it could write. So:

* ``read_back`` opens a file one path component at a time from a folder the grader made, never
  following a link, accepts only a regular file, and reads at most ``max_bytes``;
* ``remove_tree`` deletes with coreutils ``rm``, which never follows links and has no depth limit
  (Python 3.11's ``shutil.rmtree`` recurses and gives up on deep trees).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path


class ReadBackError(Exception):
    """A file the sandbox should have written is missing, not a regular file, or too large."""


def read_back(root: Path, relative: str, max_bytes: int) -> bytes:
    """The bytes of ``root/relative``, where ``root`` is a folder the grader created and the sandbox
    cannot replace. Raises ``ReadBackError`` with a sentence naming the problem."""
    parts = [p for p in Path(relative).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ReadBackError(f"{relative!r} is not a path inside the sandbox's folder")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                raise ReadBackError(f"{relative} cannot be read: {part} is not a plain folder ({exc.strerror})") from None
            os.close(fd)
            fd = child
        try:
            file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY, dir_fd=fd)
        except FileNotFoundError:
            raise ReadBackError(f"{relative} does not exist") from None
        except OSError as exc:  # ELOOP: a symbolic link
            raise ReadBackError(f"{relative} is not a regular file ({exc.strerror})") from None
    finally:
        os.close(fd)
    try:
        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReadBackError(f"{relative} is not a regular file")
        if info.st_size > max_bytes:
            raise ReadBackError(f"{relative} is larger than {max_bytes >> 20} MB")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(file_fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:  # it grew while we read
            raise ReadBackError(f"{relative} is larger than {max_bytes >> 20} MB")
        return b"".join(chunks)
    finally:
        os.close(file_fd)


def remove_tree(path: Path) -> None:
    """Delete ``path`` and everything below it; links are removed, never followed."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path):  # chmod -R would follow a link given as its argument
        os.unlink(path)
        return
    # A folder the sandbox made unreadable (chmod 000) stops rm when the grader is not root.
    subprocess.run([_tool("chmod"), "-R", "u+rwX", "--", str(path)], capture_output=True, timeout=600)
    subprocess.run([_tool("rm"), "-rf", "--one-file-system", "--", str(path)], capture_output=True, timeout=600)


def _tool(name: str) -> str:
    """coreutils' ``name`` wherever the PATH is (graders are sometimes run with a bare one)."""
    return shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/bin/{name}") if os.path.exists(p)), name)
