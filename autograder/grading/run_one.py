"""Grade one submission; meant to run as its own process (the batch starts one per submission).

    python -m autograder.grading.run_one AUTOGRADER_ZIP SUBMISSION SCRATCH [options]

Layout under SCRATCH, all made by this process:

* ``private/`` (mode 0700): the unpacked autograder, hidden tests and expected values; never in the
  sandbox's view;
* ``work/``: the sandbox's only writable folder, the notebook and the files it ships with;
* ``record/``: read-only in the sandbox, empty until the notebook has run, then the hidden tests
  and their inputs (never the expected values) for the recording;
* ``kernel-N/``: each kernel start's connection file and sockets;
* ``out/``: ``results.pkl`` (Otter's ``GradingResults``, pickled with dill), ``report.json``
  (a ``RunReport``) and ``executed.ipynb``.

Student code runs only inside the sandboxed kernel. This process never follows a path the
sandbox could have planted: it reads back only the data log, through ``safe_io``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .. import REPO_ROOT
from ..course_checks import DEVICE_ENV_VAR
from . import execute, safe_io, sandbox, tamper, verdict
from .outcome import RunReport

MAX_LOG_BYTES = 512 << 20
LOG_NAME = ".hidden-tests-log.pt"  # written by the kernel into its work folder, read back with safe_io
EXECUTED_NAME = "executed.ipynb"
#: The parts of the grader's package the kernel imports to record the hidden tests (read-only there).
LIBRARY = [REPO_ROOT / "autograder" / name for name in ("__init__.py", "course_checks", "grading", "data.py")]
GRADER_FILES = ("course_checks.py", "course_data.py")  # copied next to the notebook; never expected.pt
#: Variables passed on from the grader's environment when set (the device choice).
PASSED_TO_KERNEL = (DEVICE_ENV_VAR, "CUDA_VISIBLE_DEVICES")


def kernel_env(threads: int = 1, data_folders: dict[str, str] | None = None) -> dict[str, str]:
    """What a kernel's environment holds besides its own folders (it starts from nothing): Python's
    PATH, a locale, a plot backend, its thread count, a user name (the sandbox uid has no passwd
    entry; getpass needs one), the device variables, and each data set's variable."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "LANG": "C.UTF-8", "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": str(threads), "USER": "student", "LOGNAME": "student"}
    env.update({name: os.environ[name] for name in PASSED_TO_KERNEL if os.environ.get(name)})
    return {**env, **(data_folders or {})}


@dataclass
class Scratch:
    """The folders of one submission's run (see the module docstring)."""

    root: Path

    @property
    def private(self) -> Path:
        return self.root / "private"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def record(self) -> Path:
        return self.root / "record"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def files(self) -> Path:
        return self.private / "files"

    def make(self) -> None:
        for folder, mode in ((self.private, 0o700), (self.work, 0o755), (self.out, 0o755)):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(mode)
        # made before the kernel starts, read-only in the sandbox, filled only after the notebook ran
        self.record.mkdir(mode=0o755)

    def private_digest(self) -> str:
        """sha256 over the unpacked autograder's files, names and bytes (never in the sandbox's view)."""
        h = hashlib.sha256()
        for path in sorted(p for p in self.private.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(self.private)).encode() + b"\0" + path.read_bytes())
        return h.hexdigest()

    def clean(self) -> None:
        for folder in [self.work, self.private, self.record, *self.root.glob("kernel-*")]:
            safe_io.remove_tree(folder)


def unpack_submission(submission: Path, work: Path, notebook_name: str) -> Path:
    """Put the notebook (and a zip's other files) into ``work``; returns the notebook's path."""
    target = work / notebook_name
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as zf:
            for info in zf.infolist():  # submissions.validate already refused unsafe names and sizes
                if info.is_dir() or info.filename.startswith("/") or ".." in Path(info.filename).parts:
                    continue
                dest = work / info.filename
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
            top = next(n for n in zf.namelist() if n.endswith(".ipynb") and "/" not in n)
        (work / top).replace(target) if (work / top) != target else None
    else:
        shutil.copyfile(submission, target)
    return target


def _inputs_only(expected: Path, dest: Path) -> None:
    """The recorded cases without their expected values: what the kernel may see while recording."""
    import torch

    table = torch.load(expected, weights_only=True)
    torch.save({fn: [{**case, "expected": None} for case in cases] for fn, cases in table.items()}, dest)


def lay_out_work(args: argparse.Namespace, scratch: Scratch) -> Path:
    """The work folder as the kernel first sees it: the submission and the files it ships with."""
    if scratch.work.exists():
        safe_io.remove_tree(scratch.work)
        scratch.work.mkdir(mode=0o755)
    notebook = unpack_submission(Path(args.submission), scratch.work, args.notebook_name)
    for name in GRADER_FILES:
        if (scratch.files / name).exists():
            shutil.copyfile(scratch.files / name, scratch.work / name)
    return notebook


def fill_record_folder(scratch: Scratch) -> None:
    """After the notebook ran: the hidden tests and their inputs, for the kernel to record with."""
    (scratch.record / "tests").mkdir(mode=0o755)
    for test in (scratch.private / "tests").glob("*.py"):
        shutil.copyfile(test, scratch.record / "tests" / test.name)
    _inputs_only(scratch.files / "expected.pt", scratch.record / "expected.pt")


def load_log(work: Path) -> tuple[dict | None, str]:
    """(the kernel's data log, "") or (None, why it cannot be used)."""
    import torch

    try:
        raw = safe_io.read_back(work, LOG_NAME, MAX_LOG_BYTES)
        log = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
    except safe_io.ReadBackError as exc:
        return None, f"the sandboxed run left no usable log of the hidden tests ({exc})"
    except Exception as exc:  # a forged or truncated log is refused, not trusted
        return None, f"the log of the hidden tests could not be read ({type(exc).__name__})"
    if not isinstance(log, dict) or not isinstance(log.get("tests"), dict):
        return None, "the log of the hidden tests is not a log"
    return log, ""


def status_line(report: RunReport, run_info: execute.Execution, limits: sandbox.Limits, in_container: bool) -> str:
    notes = [] if report.sandboxed or in_container else \
        ["kernel isolated by an unprivileged user id only"] if report.isolation == "user" else ["unsandboxed"]
    notes += report.problems
    if report.not_run:
        notes.append(f"hidden tests not run: {report.not_run}")
    if report.tampering:
        more = f" (and {len(report.tampering) - 3} more)" if len(report.tampering) > 3 else ""
        notes.append("tampering suspected: " + "; ".join(report.tampering[:3]) + more)
    if run_info.output_dropped:
        notes.append(f"cell output over {limits.output_bytes >> 20} MB was dropped")
    return "Completed" + (" (" + "; ".join(notes) + ")" if notes else "")


def run(args: argparse.Namespace) -> None:
    import dill
    import nbformat
    import psutil

    start = time.monotonic()
    scratch = Scratch(Path(args.scratch))
    scratch.make()
    with zipfile.ZipFile(args.autograder_zip) as zf:
        zf.extractall(scratch.private)
    private_before = scratch.private_digest()
    config = json.loads((scratch.private / "otter_config.json").read_text())
    notebook = lay_out_work(args, scratch)
    # both read the file as submitted, before any of it runs
    tampering = tamper.scan_notebook(notebook)
    functions = verdict.seal.notebook_functions(
        [source for source, _ in execute.code_cells(nbformat.read(str(notebook), as_version=4), None, None)])

    limits = sandbox.Limits(memory_bytes=int(args.memory_gb * (1 << 30)), disk_bytes=int(args.disk_gb * (1 << 30)),
                            disk_entries=args.max_files)
    box = sandbox.Sandbox(scratch.work, readable=[Path(p) for p in args.readable] + [scratch.record, *LIBRARY],
                          limits=limits, slot=args.slot, gpu=args.gpu,
                          use_bwrap=not (args.no_sandbox or args.in_container), user_only=args.user_fallback)
    if args.require_sandbox and (problem := sandbox_problem(box)):
        raise SystemExit(f"run_one --require-sandbox: not grading {Path(args.submission).name}, because {problem}.")
    box.prepare()

    def prepare_work() -> None:  # before a restart: the work folder anew, nothing the last kernel left
        lay_out_work(args, scratch)
        box.prepare()

    env = dict(args.env)
    env.update(HOME=str(scratch.work), IPYTHONDIR=str(scratch.work / ".ipython"),
               MPLCONFIGDIR=str(scratch.work / ".matplotlib"), TMPDIR="/tmp" if box.available else str(scratch.work),
               PYTHONDONTWRITEBYTECODE="1")
    deadline = start + (args.deadline_unix - time.time()) if args.deadline_unix else 0.0
    budget = execute.Budget.for_submission(args.cell_timeout, args.record_timeout,
                                           max(deadline - start, 1.0) if deadline else 0.0, start, args.timeout)
    try:
        run_info = execute.execute(notebook, box, env, budget=budget,
                                   record_cell=verdict.seal.record_cell(str(REPO_ROOT), str(scratch.record),
                                                                        str(scratch.work / LOG_NAME)),
                                   prepare_record=lambda: fill_record_folder(scratch), prepare_work=prepare_work,
                                   seed=config.get("seed"), seed_variable=config.get("seed_variable"),
                                   log_file=scratch.root / "kernel-log.txt")
        reaped = box.reap()  # before anything is read back: nothing of the student's may still run
    finally:  # a kernel folder made outside scratch goes too, whatever happened
        box.remove_outside_dirs()

    if scratch.private_digest() != private_before:  # cannot happen unless the sandbox leaks
        tampering.append("the autograder's own files changed while the notebook ran")
    log, not_run = (None, run_info.record_error) if run_info.record_error else load_log(scratch.work)
    if log is not None:
        tampering += tamper.compare_fingerprints(log.get("fingerprints"), verdict.seal.fingerprints())
    results, sources = verdict.judge(log, verdict.test_files(scratch.private / "tests"), scratch.files,
                                     tampering=tampering, functions=functions, not_run=not_run)

    report = RunReport(sandboxed=box.available or args.in_container, isolation=box.isolation, problems=[str(p) for p in run_info.problems]
                       + ([f"{reaped} process(es) the notebook left running were killed"] if reaped else []),
                       cell_errors=run_info.errors, tampering=tampering, verdicts=sources, not_run=not_run,
                       kernel_starts=run_info.kernel_starts, kernel_peak_rss_mb=run_info.peak_rss_mb)
    report.status = status_line(report, run_info, limits, args.in_container)
    with open(scratch.out / "results.pkl", "wb") as f:
        dill.dump(results, f)
    if run_info.notebook is not None:  # what the notebook printed, for the instructor
        for cell in run_info.notebook.cells:
            if verdict.seal.RECORD_MARK in cell.source:
                cell.source = "# The grader recorded the hidden tests here; below is what the notebook's code printed."
        nbformat.write(run_info.notebook, scratch.out / EXECUTED_NAME)
    report.seconds = time.monotonic() - start
    report.peak_rss_mb = psutil.Process().memory_info().rss / 2**20  # this process, at the end (a worker lives on)
    report.write(scratch.out)
    if not args.keep:
        scratch.clean()
    if args.owner:
        give_to(scratch.root, *(int(n) for n in args.owner.split(":")))


def sandbox_problem(box: sandbox.Sandbox) -> str:
    """Why ``box`` would not keep the kernel away from the hidden tests ("" when it would)."""
    if box.isolation == "user":  # --user-fallback: root-only files stay out of reach
        return ""
    if box.user_only and os.geteuid() == 0 and not box.available:
        return f"{sandbox.bwrap_problem() or 'bubblewrap is turned off'}, and setpriv is missing to run it as another user"
    if not box.available:
        return sandbox.bwrap_problem() or "bubblewrap is turned off"
    if os.geteuid() == 0 and box.uid is None:
        return "the kernel would run as root (setpriv is missing)"
    return ""


def give_to(root: Path, uid: int, gid: int) -> None:
    """Hand what is left under ``root`` to the caller (a container's root wrote it; links are not followed)."""
    for folder, dirs, files in os.walk(root):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.chown(name, uid, gid, follow_symlinks=False)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder.grading.run_one", description=__doc__.splitlines()[0])
    p.add_argument("autograder_zip")
    p.add_argument("submission")
    p.add_argument("scratch")
    p.add_argument("--notebook-name", required=True, help="the file name the notebook's init cell expects")
    p.add_argument("--cell-timeout", type=float, default=300.0)
    p.add_argument("--record-timeout", type=float, default=600.0)
    p.add_argument("--timeout", type=float, default=0.0, help="the submission's limit, for the status")
    p.add_argument("--deadline-unix", type=float, default=0.0,
                   help="when the whole submission must be graded (seconds since the epoch; 0: no limit)")
    p.add_argument("--memory-gb", type=float, default=sandbox.DEFAULT_MEMORY_GB)
    p.add_argument("--disk-gb", type=float, default=sandbox.DEFAULT_DISK_GB)
    p.add_argument("--max-files", type=int, default=sandbox.DEFAULT_MAX_FILES)
    p.add_argument("--slot", type=int, default=0)
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--no-sandbox", action="store_true", help="run the kernel without bubblewrap")
    p.add_argument("--in-container", action="store_true", help="a container isolates this run: no bubblewrap")
    p.add_argument("--require-sandbox", action="store_true",
                   help="refuse to grade unless the kernel runs in bubblewrap (as a non-root uid when this runs as root)")
    p.add_argument("--user-fallback", action="store_true",
                   help="where bubblewrap cannot start and this runs as root, still run the kernel as an unprivileged "
                        "uid (setpriv); with --require-sandbox, that is enough (Gradescope's containers)")
    p.add_argument("--owner", metavar="UID:GID", help="at the end, hand what is left under SCRATCH to this owner")
    p.add_argument("--readable", action="append", default=[], help="extra read-only folder for the sandbox")
    p.add_argument("--env", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    p.add_argument("--keep", action="store_true", help="keep work/ and private/ (for debugging)")
    return p


if __name__ == "__main__":
    run(parser().parse_args())
