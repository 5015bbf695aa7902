"""Grade one submission; meant to run as its own process (the batch starts one per submission).

    python -m autograder.grading.run_one AUTOGRADER_ZIP SUBMISSION SCRATCH [options]

Layout under SCRATCH: ``private/`` holds the unpacked autograder (hidden tests, expected values) and
is never visible to student code; ``work/`` is the sandbox's only writable folder; ``out/`` gets
``results.pkl`` (Otter's ``GradingResults``, pickled with dill), ``status.json`` and ``usage.json``.
Student code runs only inside the sandboxed kernel; this process replays its data log.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import time
import zipfile
from pathlib import Path

from .. import REPO_ROOT
from . import execute, safe_io, sandbox, tamper, verdict

MAX_LOG_BYTES = 512 << 20
LOG_NAME = ".hidden-tests-log.pt"  # written by the kernel into its work folder, read back with safe_io
#: The parts of the grader's package the kernel imports to record the hidden tests (read-only there).
LIBRARY = [REPO_ROOT / "autograder" / name for name in ("__init__.py", "course_checks", "grading", "data.py")]
GRADER_FILES = ("course_checks.py", "course_data.py")  # copied next to the notebook; never expected.pt


def _unpack_submission(submission: Path, work: Path, notebook_name: str) -> Path:
    """Put the notebook (and a zip's other files) into ``work``; returns the notebook's path."""
    target = work / notebook_name
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as zf:
            for info in zf.infolist():  # submissions.validate already refused unsafe names
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


def _pristine_fingerprints() -> dict:
    import importlib

    for dotted in verdict.seal.WATCHED:  # load every watched module here, untouched
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
    return verdict.seal.fingerprints()


def run(args: argparse.Namespace) -> None:
    import dill
    import torch

    start = time.monotonic()
    scratch = Path(args.scratch)
    private, work, out, record = scratch / "private", scratch / "work", scratch / "out", scratch / "record"
    for d in (private, work, out):
        d.mkdir(parents=True, exist_ok=True)
    private.chmod(0o700)
    with zipfile.ZipFile(args.autograder_zip) as zf:
        zf.extractall(private)
    config = json.loads((private / "otter_config.json").read_text())
    files_dir = private / "files"
    notebook = _unpack_submission(Path(args.submission), work, args.notebook_name)
    for name in GRADER_FILES:
        if (files_dir / name).exists():
            shutil.copyfile(files_dir / name, work / name)

    tampering = tamper.scan_notebook(notebook)
    limits = sandbox.Limits(memory_bytes=int(args.memory_gb * (1 << 30)))
    # The recording's folder: made by the grader before the kernel starts, outside the work folder,
    # read-only in the sandbox, and filled only after the notebook ran.
    record.mkdir(mode=0o755)
    readable = [Path(p) for p in args.readable] + [record, *LIBRARY]
    box = sandbox.Sandbox(work, readable=readable, limits=limits, slot=args.slot,
                          gpu=args.gpu, use_bwrap=not (args.no_sandbox or args.in_container))

    def prepare_record() -> None:
        (record / "tests").mkdir(mode=0o755)
        for test in (private / "tests").glob("*.py"):
            shutil.copyfile(test, record / "tests" / test.name)
        _inputs_only(files_dir / "expected.pt", record / "expected.pt")

    box.prepare()
    env = {k: v for k, v in args.env}
    env.update(HOME=str(work), IPYTHONDIR=str(work / ".ipython"), MPLCONFIGDIR=str(work / ".matplotlib"),
               TMPDIR="/tmp" if box.available else str(work), PYTHONDONTWRITEBYTECODE="1")
    cell = verdict.seal.record_cell(str(REPO_ROOT), str(record), str(work / LOG_NAME))
    run_info = execute.execute(notebook, box, env, cell_timeout=args.cell_timeout,
                               record_timeout=args.record_timeout, record_cell=cell,
                               prepare_record=prepare_record, seed=config.get("seed"),
                               seed_variable=config.get("seed_variable"), log_file=scratch / "kernel-log.txt")

    log, not_run = None, run_info.record_error
    if not not_run:
        try:
            raw = safe_io.read_back(work, LOG_NAME, MAX_LOG_BYTES)
            log = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
            if not isinstance(log, dict) or not isinstance(log.get("tests"), dict):
                raise ValueError("it is not a log")
        except safe_io.ReadBackError as exc:
            not_run = f"the sandboxed run left no usable log of the hidden tests ({exc})"
        except Exception as exc:  # a forged or truncated log is refused, not trusted
            log, not_run = None, f"the log of the hidden tests could not be read ({type(exc).__name__})"
    if log is not None:
        tampering += tamper.compare_fingerprints(log.get("fingerprints", {}), _pristine_fingerprints())
    kernel_tests = set(json.loads(args.kernel_tests)) if args.kernel_tests else set()
    results, sources = verdict.judge(log, verdict.test_files(private / "tests"), files_dir,
                                     kernel_tests=kernel_tests, tampering=tampering, not_run=not_run)

    notes = [] if box.available or args.in_container else ["unsandboxed"]
    notes += [str(p) for p in run_info.problems]
    if not_run:
        notes.append(f"hidden tests not run: {not_run}")
    if tampering:
        more = f" (and {len(tampering) - 3} more)" if len(tampering) > 3 else ""
        notes.append("tampering suspected: " + "; ".join(tampering[:3]) + more)
    if run_info.output_dropped:
        notes.append(f"cell output over {limits.output_bytes >> 20} MB was dropped")
    status = "Completed" + (" (" + "; ".join(notes) + ")" if notes else "")
    with open(out / "results.pkl", "wb") as f:
        dill.dump(results, f)
    if run_info.notebook is not None:  # what the notebook printed, for the instructor
        import nbformat

        run_info.notebook.cells = [c for c in run_info.notebook.cells if verdict.seal.RECORD_MARK not in c.source]
        nbformat.write(run_info.notebook, out / "executed.ipynb")
    (out / "status.json").write_text(json.dumps({
        "status": status, "sandboxed": box.available or args.in_container, "problems": [str(p) for p in run_info.problems],
        "cell_errors": run_info.errors, "tampering": tampering, "verdicts": sources,
        "kernel_starts": run_info.kernel_starts, "seconds": time.monotonic() - start,
    }, indent=1))
    usage = {  # ru_maxrss is in KiB on Linux; the kernel's figure comes from the watchdog's samples
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "kernel_peak_rss_mb": run_info.peak_rss_mb,
    }
    (out / "usage.json").write_text(json.dumps(usage))
    if not args.keep:
        for folder in (work, private, record):
            safe_io.remove_tree(folder)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autograder.grading.run_one", description=__doc__.splitlines()[0])
    p.add_argument("autograder_zip")
    p.add_argument("submission")
    p.add_argument("scratch")
    p.add_argument("--notebook-name", required=True, help="the file name the notebook's init cell expects")
    p.add_argument("--cell-timeout", type=float, default=300.0)
    p.add_argument("--record-timeout", type=float, default=600.0)
    p.add_argument("--memory-gb", type=float, default=sandbox.DEFAULT_MEMORY_GB)
    p.add_argument("--slot", type=int, default=0)
    p.add_argument("--gpu", action="store_true")
    p.add_argument("--no-sandbox", action="store_true", help="run the kernel without bubblewrap")
    p.add_argument("--in-container", action="store_true", help="a container isolates this run: no bubblewrap")
    p.add_argument("--readable", action="append", default=[], help="extra read-only folder for the sandbox")
    p.add_argument("--env", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    p.add_argument("--keep", action="store_true", help="keep work/ and private/ (for debugging)")
    p.add_argument("--kernel-tests", default="", help="JSON list of tests judged by their kernel verdict")
    return p


if __name__ == "__main__":
    run(parser().parse_args())
