"""The bubblewrap sandbox a student's kernel runs in: no network, a read-only system, one writable folder.

Limits come from rlimits set just before ``bwrap`` starts, and are inherited by everything inside:
``RLIMIT_DATA`` caps each process's memory, ``RLIMIT_FSIZE`` each file it writes, and
``RLIMIT_NPROC`` the processes and threads of the sandbox's own user id (a fork bomb stops there).
The last one only binds a non-root user, so when the grader runs as root, bwrap (as root) switches
the kernel to an unprivileged uid of its own (``UID_BASE`` + slot) with ``setpriv``. Slots are
claimed with ``claimed_slots`` (a lock per slot), so two grader runs on one machine never share a
uid: their process counts stay apart, and one run's ``reap`` cannot kill the other's kernel. Where bwrap is missing or unusable, ``Sandbox.available``
is False and the grader runs the kernel directly, with the same rlimits, and says so.

``user_only`` is for containers where bwrap cannot start (Gradescope's: no CAP_SYS_ADMIN): a grader
running as root still starts the kernel through ``setpriv`` as the unprivileged uid, so files only
root may read stay out of its reach, and ``reap`` kills whatever that uid left running. The
kernel then sees the rest of the file system as that uid would, and the network.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

UID_BASE = 100000  # sandbox user ids: UID_BASE + slot
#: One lock file per slot a grader holds; root-only, so that no kernel can open one and hold its slot.
SLOT_LOCKS = Path("/run/dl-autograded-slots")
MAX_SLOTS = 1 << 18
DEFAULT_MEMORY_GB = 4.0
DEFAULT_DISK_GB = 2.0
DEFAULT_MAX_FILES = 100_000


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed kernel."""

    memory_bytes: int = int(DEFAULT_MEMORY_GB * (1 << 30))  # per process (RLIMIT_DATA)
    processes: int = 256  # processes and threads of the sandbox's uid (RLIMIT_NPROC)
    disk_bytes: int = int(DEFAULT_DISK_GB * (1 << 30))  # the work folder in total (watchdog)
    disk_entries: int = DEFAULT_MAX_FILES  # files and folders in the work folder (watchdog)
    tmp_bytes: int = 1 << 30  # size of its private /tmp (a tmpfs)
    output_bytes: int = 4 << 20  # cell output kept per notebook; the rest is dropped
    tree_processes: int = 32  # processes (not threads) in the sandbox before it is stopped

    @property
    def file_bytes(self) -> int:
        """The largest file it may write (RLIMIT_FSIZE): 1 GB, or the folder's limit if smaller."""
        return min(1 << 30, self.disk_bytes)


@contextlib.contextmanager
def claimed_slots(count: int, locks: Path = SLOT_LOCKS):
    """``count`` sandbox slots that no other grader on this machine holds while inside (each an
    exclusive ``flock`` on ``locks/N.lock``, released when the process ends, however it ends).
    Without root the kernel keeps the grader's uid, so any slots do; where ``locks`` cannot be
    made (a read-only /run), slots are derived from the pid as before."""
    if os.geteuid() != 0:
        yield list(range(count))
        return
    try:
        locks.mkdir(mode=0o700, parents=True, exist_ok=True)
        if locks.stat().st_uid != 0 or locks.stat().st_mode & 0o077:
            raise PermissionError(f"{locks} is not root's alone")
    except OSError:
        yield [(os.getpid() % 4096) * 64 + k % 64 for k in range(count)]
        return
    held: list[tuple[int, int]] = []
    try:
        for slot in range(MAX_SLOTS):
            if len(held) == count:
                break
            fd = os.open(locks / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append((slot, fd))
            except BlockingIOError:
                os.close(fd)
        yield [slot for slot, _ in held]
    finally:
        for _, fd in held:
            os.close(fd)


@functools.cache
def bwrap_problem() -> str | None:
    """None if ``bwrap`` can start a sandbox with no network here, else the reason it cannot."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bubblewrap (bwrap) is not installed"
    probe = [exe, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc",
             "--dev", "/dev", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start: {exc}"
    if done.returncode != 0:
        return f"bwrap could not start a sandbox: {done.stderr.decode(errors='replace').strip()[:200]}"
    return None


def _system_binds() -> list[str]:
    """Read-only views of what Python, torch and the kernel need: /usr, /etc, the library folders."""
    args: list[str] = []
    for top in ("/usr", "/etc", "/opt"):
        if os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    return args


def _gpu_binds() -> list[str]:
    """The NVIDIA device files and driver information, when there are any."""
    args = []
    for dev in sorted(Path("/dev").glob("nvidia*")):
        args += ["--dev-bind", str(dev), str(dev)]
    for ro in ("/sys", "/run/nvidia-persistenced"):
        if os.path.exists(ro):
            args += ["--ro-bind", ro, ro]
    return args


#: A Unix socket's path holds at most 107 bytes; the kernel binds FOLDER/k-PORT (``execute``'s ip).
MAX_SOCKET_PATH = 107
KERNEL_SOCKET = "k-65535"
SHORT_ROOT = "/tmp" if os.path.isdir("/tmp") else None  # where a kernel folder goes when the scratch path is too deep


@dataclass
class Sandbox:
    """How to start one kernel: inside bwrap when possible, always under rlimits."""

    workdir: Path  # the only writable folder; the kernel's working directory and $HOME
    readable: list[Path] = field(default_factory=list)  # extra read-only folders (venv, dataset)
    limits: Limits = field(default_factory=Limits)
    slot: int = 0  # worker slot: picks the uid when running as root
    gpu: bool = False
    use_bwrap: bool = True
    kernel_dir: Path | None = None  # the current kernel's connection file and sockets (``new_kernel_dir``)
    outside_dirs: list[Path] = field(default_factory=list)  # short kernel folders made in SHORT_ROOT
    user_only: bool = False  # without bwrap, still run the kernel as the unprivileged uid (see the module docstring)

    @property
    def available(self) -> bool:
        return self.use_bwrap and bwrap_problem() is None

    @property
    def uid(self) -> int | None:
        """The unprivileged uid the kernel runs as (None: keep the grader's own)."""
        if os.geteuid() != 0 or not shutil.which("setpriv") or not (self.available or self.user_only):
            return None
        return UID_BASE + self.slot

    @property
    def isolation(self) -> str:
        """How the kernel is kept apart: bubblewrap, user (an unprivileged uid only) or none."""
        return "bubblewrap" if self.available else "user" if self.uid is not None else "none"

    def _setpriv(self) -> list[str]:
        return [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={self.uid}", f"--regid={self.uid}",
                "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"]

    def reap(self) -> int:
        """Kill every process the sandbox's uid still has (a kernel's daemon outlives it without
        bwrap's pid namespace); returns how many there were. Only in "user" isolation."""
        if self.isolation != "user":
            return 0
        import psutil

        left = [p for p in psutil.process_iter(["uids", "status"])
                if p.info["uids"] and self.uid in p.info["uids"] and p.info["status"] != psutil.STATUS_ZOMBIE]
        if left:  # kill(-1) as that uid reaches all of its processes at once, so none can fork away
            killer = "import os, signal; os.kill(-1, signal.SIGKILL)"
            subprocess.run([*self._setpriv(), sys.executable, "-I", "-c", killer], capture_output=True, timeout=30)
            psutil.wait_procs(left, timeout=10)
        return len(left)

    def prepare(self) -> None:
        """Give the sandbox's uid its working folder (call only before any student code ran)."""
        if self.uid is None:
            return
        for root, dirs, files in os.walk(self.workdir):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, self.uid, self.uid, follow_symlinks=False)

    def new_kernel_dir(self, start: int) -> Path:
        """A fresh folder, made by the grader, for the next kernel's connection file and sockets.

        Each start gets its own, so nothing an earlier kernel planted (a link where the grader
        writes the connection file, say) is ever in the way. ``lock_kernel_dir`` takes it back once
        the kernel is up."""
        folder = self.workdir.parent / f"kernel-{start}"
        if len(os.fsencode(folder / KERNEL_SOCKET)) > MAX_SOCKET_PATH:  # a deep scratch folder: zmq could not bind
            folder = Path(tempfile.mkdtemp(prefix=f"dl-kernel-{start}-", dir=SHORT_ROOT))  # mode 0700
            self.outside_dirs.append(folder)
        else:
            folder.mkdir(mode=0o700)
        if self.uid is not None:
            os.chown(folder, self.uid, self.uid)
        self.kernel_dir = folder
        return folder

    def remove_outside_dirs(self) -> None:
        """Remove the kernel folders ``new_kernel_dir`` had to make outside the scratch folder."""
        from . import safe_io

        while self.outside_dirs:
            safe_io.remove_tree(self.outside_dirs.pop())

    def lock_kernel_dir(self) -> None:
        """Once the kernel has made its sockets: it may no longer add, rename or replace anything there."""
        if self.kernel_dir is not None and self.uid is not None:
            os.chown(self.kernel_dir, 0, 0)
            os.chmod(self.kernel_dir, 0o755)

    def wrap(self, cmd: list[str]) -> list[str]:
        """``cmd`` as it runs in the sandbox (as the uid alone, or unchanged, when bwrap is not available)."""
        if not self.available:
            return cmd if self.uid is None else [*self._setpriv(), *cmd]
        work = str(self.workdir)
        namespaces = ["--unshare-all"] if self.uid is None else \
            ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        args = [shutil.which("bwrap"), *namespaces, "--die-with-parent", "--new-session",
                *_system_binds(), "--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--size", str(self.limits.tmp_bytes), "--tmpfs", "/tmp"]
        made: set[str] = {"/", "/tmp", "/usr", "/etc", "/opt"}

        def bind(option: str, path: str) -> None:
            for parent in reversed(Path(path).parents):  # bwrap would make missing parents 0700
                if str(parent) not in made:
                    args.extend(["--perms", "0755", "--dir", str(parent)])
                    made.add(str(parent))
            args.extend([option, path, path])
            made.add(path)

        for path in [Path(sys.prefix), Path(sys.base_prefix), *self.readable]:
            if path.exists() and not str(path).startswith(("/usr/", "/etc/", "/opt/")):
                bind("--ro-bind", str(path))
        if self.gpu:
            args += _gpu_binds()
        bind("--bind", work)
        if self.kernel_dir is not None:
            bind("--bind", str(self.kernel_dir))
        args += ["--chdir", work, "--unsetenv", "JPY_PARENT_PID"]  # its parent is bwrap's, not ours
        if self.uid is not None:  # bwrap runs as root (so it can bind any path), the kernel does not
            args += self._setpriv()
        return args + cmd

    def preexec(self) -> None:
        """Runs in the child between fork and exec: set the limits, then drop to the sandbox uid."""
        lim = self.limits
        resource.setrlimit(resource.RLIMIT_DATA, (lim.memory_bytes, lim.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (lim.file_bytes, lim.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if self.uid is not None:  # binds the sandbox's uid once setpriv switches to it; root ignores it
            resource.setrlimit(resource.RLIMIT_NPROC, (lim.processes, lim.processes))
