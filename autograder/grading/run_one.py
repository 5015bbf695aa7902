"""Grade one submission; meant to run as its own process (the batch starts one per submission).

    python -m autograder.grading.run_one AUTOGRADER_ZIP SUBMISSION SCRATCH [options]

Layout under SCRATCH: ``private/`` holds the unpacked autograder (hidden tests, expected values) and
is never visible to student code; ``work/`` is the sandbox's only writable folder; ``out/`` gets
``results.pkl`` (Otter's ``GradingResults``, pickled with dill), ``status.json`` and ``usage.json``.
Student code runs only inside the sandboxed kernel; this process replays its data log.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import time
import zipfile
from pathlib import Path

from . import execute, sandbox, tamper, verdict

MAX_LOG_BYTES = 512 << 20
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


def _pristine_fingerprints(files_dir: Path) -> dict:
    import importlib

    for dotted in verdict.seal.WATCHED:  # load every watched module here, untouched
        parts = dotted.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                importlib.import_module(".".join(parts[:cut]))
                break
            except ImportError:
                continue
    with verdict.pristine_checks(files_dir):
        import course_checks  # noqa: F401

        prints = verdict.seal.fingerprints()
        sys.modules.pop("course_checks", None)
    return prints


def run(args: argparse.Namespace) -> None:
    import dill
    import torch

    start = time.monotonic()
    scratch = Path(args.scratch)
    private, work, out = scratch / "private", scratch / "work", scratch / "out"
    for d in (private, work, out):
        d.mkdir(parents=True, exist_ok=True)
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
    box = sandbox.Sandbox(work, readable=[Path(p) for p in args.readable], limits=limits, slot=args.slot,
                          gpu=args.gpu, use_bwrap=not (args.no_sandbox or args.in_container))
    record = work / ".grading"

    def prepare_record() -> None:
        (record / "tests").mkdir(parents=True, exist_ok=True)
        for test in (private / "tests").glob("*.py"):
            shutil.copyfile(test, record / "tests" / test.name)
        shutil.copyfile(files_dir / "course_checks.py", record / "course_checks.py")
        shutil.copyfile(Path(verdict.seal.__file__), record / "course_seal.py")
        _inputs_only(files_dir / "expected.pt", record / "expected.pt")
        box.prepare()

    box.prepare()
    env = {k: v for k, v in args.env}
    env.update(HOME=str(work), IPYTHONDIR=str(work / ".ipython"), MPLCONFIGDIR=str(work / ".matplotlib"),
               TMPDIR="/tmp" if box.available else str(work), PYTHONDONTWRITEBYTECODE="1")
    run_info = execute.execute(notebook, box, env, cell_timeout=args.cell_timeout,
                               record_timeout=args.record_timeout, record_folder=record,
                               prepare_record=prepare_record, seed=config.get("seed"),
                               seed_variable=config.get("seed_variable"), log_file=scratch / "kernel-log.txt")

    log, not_run = None, run_info.record_error
    log_path = record / "log.pt"
    if not not_run:
        if not log_path.is_file():
            not_run = "the sandboxed run left no log of the hidden tests"
        elif log_path.stat().st_size > MAX_LOG_BYTES:
            not_run = f"the log of the hidden tests is larger than {MAX_LOG_BYTES >> 20} MB"
        else:
            try:
                log = torch.load(log_path, weights_only=True, map_location="cpu")
                if not isinstance(log, dict) or not isinstance(log.get("tests"), dict):
                    raise ValueError("it is not a log")
            except Exception as exc:  # a forged or truncated log is refused, not trusted
                log, not_run = None, f"the log of the hidden tests could not be read ({type(exc).__name__})"
    if log is not None:
        tampering += tamper.compare_fingerprints(log.get("fingerprints", {}), _pristine_fingerprints(files_dir))
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

        run_info.notebook.cells = [c for c in run_info.notebook.cells if "_record_hidden_tests" not in c.source]
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
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


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
