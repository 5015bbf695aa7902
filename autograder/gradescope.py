"""Gradescope's entry point with the sealed grader: ``/autograder`` in, ``results/results.json`` out.

    python -m autograder.gradescope [--root /autograder] [--notebook-name NAME]

Gradescope (and ``otter grade``, which copies a submission into the same layout) runs the zip's
``run_autograder`` as root, with the zip unpacked in ``ROOT/source`` and the student's upload in
``ROOT/submission``. The build writes that ``run_autograder`` to call this module, whose files the
zip carries under ``files/grader/`` (``GRADER_PARTS``; ``files/`` is what Otter's own grading image copies), so the upload is graded the way ``grade`` does
instead of by stock Otter inside the student's kernel (Otter's ``run_otter.py`` stays in the zip, unused):

1. ``ROOT/source`` (hidden tests, ``files/expected.pt``, the grader) becomes readable by root only;
2. its grading parts are packed into a private zip, the input of
   ``python -m autograder.grading.run_one ZIP SUBMISSION SCRATCH``, run from a root-owned copy of the
   grader the kernel may read. The kernel runs as an unprivileged uid: in bubblewrap where it can
   start (a container with CAP_SYS_ADMIN), else through ``setpriv`` alone (Gradescope's containers),
   and the hidden tests are replayed outside it. As root with neither, nothing is graded;
3. run_one's ``out/results.pkl`` (Otter ``GradingResults``) is written to ``ROOT/results/results.pkl``
   (what ``otter grade`` reads back) and converted to ``results.json`` by Otter's own
   ``GradingResults.to_gradescope_dict`` with the zip's ``otter_config.json``, so the visibility
   rules are Otter's: with ``show_hidden: true`` every question's entry is ``after_published`` and
   only the public summary is visible before publication.

A submission that cannot be graded (no notebook, a broken file, a crash) still gets a
``results.json``: score 0 and one visible entry saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

#: What run_one needs from the unpacked zip; everything else there (setup.sh, environment.yml) is Gradescope's.
GRADING_PARTS = ("otter_config.json", "tests", "files")
#: The grader's own files (under ``autograder/``) the zip carries in ``files/grader/autograder/``: what
#: this module and run_one import, kernel-side recording included. Under ``files/`` because that, the
#: tests and otter_config.json are all that ``otter grade``'s image copies from the zip.
GRADER_PARTS = ("__init__.py", "gradescope.py", "data.py", "datasets.py", "course_checks", "grading")
ZIP_GRADER_DIR = "files/grader"
#: Written by the build beside the grader: ``{"notebook_name": the file name the init cell expects,
#: "datasets": the data sets it declares}``.
SETTINGS_FILE = f"{ZIP_GRADER_DIR}/grading.json"
PACKAGE = Path(__file__).resolve().parent


def grader_files(package: Path = PACKAGE) -> list[Path]:
    """The files of ``GRADER_PARTS`` in ``package``, sorted."""
    found = []
    for part in GRADER_PARTS:
        top = package / part
        found += [top] if top.is_file() else sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts)
    return found


def copy_grader(dest: Path) -> Path:
    """The grader's files as the package ``dest/autograder``: root's, and readable by the kernel's uid
    (it imports the recording side); returns ``dest``, the folder to put on PYTHONPATH."""
    for path in grader_files():
        target = dest / "autograder" / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(0o644)
    for folder in [dest, *(p for p in dest.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)
    return dest


def open_way_to(path: Path) -> list[Path]:
    """Let other users through every folder above ``path`` (Miniforge's python lives under /root,
    mode 0700, on Gradescope). Adds only the search bit, never listing or writing; returns what changed."""
    changed = []
    for folder in reversed(path.resolve().parents):
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod((mode & 0o7777) | 0o001)
            changed.append(folder)
    return changed


class NotGradable(Exception):
    """The upload cannot be graded; the message says why, in a sentence."""


def find_submission(folder: Path) -> Path:
    """The one notebook (or Otter export zip) in Gradescope's submission folder."""
    from .grading import submissions

    found = sorted(p for p in folder.iterdir() if p.suffix in (".ipynb", ".zip")) if folder.is_dir() else []
    notebooks = [p for p in found if p.suffix == ".ipynb"]
    chosen = notebooks or found
    if len(chosen) != 1:
        names = ", ".join(p.name for p in found) or "nothing"
        raise NotGradable(f"the submission must be one .ipynb notebook or one Otter export .zip; found {names}.")
    try:
        submissions.validate(chosen[0])
    except submissions.InvalidSubmission as exc:
        raise NotGradable(f"invalid submission {chosen[0].name}: {exc}") from None
    return chosen[0]


def settings(source: Path) -> dict:
    """What the build recorded about the assignment in the unpacked zip (``SETTINGS_FILE``)."""
    path = source / SETTINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def data_args(names: list[str], folder: Path) -> list[str]:
    """run_one's arguments that hand each data set to the kernel: prepared by root under ``folder``
    (unpacked from Debian's package, or downloaded: the sandbox has no network), read-only there."""
    from . import datasets

    args = []
    for name in names:
        dataset = datasets.get(name)
        try:
            ready = dataset.prepare(folder / name)
        except FileNotFoundError as exc:
            raise NotGradable(f"the data set {name} is missing on this machine: {exc}") from None
        args += ["--env", dataset.env_var, str(ready), "--readable", str(ready)]
    return args


def notebook_name(submission: Path) -> str:
    """The notebook's file name (inside an export zip: its one top-level notebook)."""
    if submission.suffix != ".zip":
        return submission.name
    with zipfile.ZipFile(submission) as zf:
        return next(n for n in zf.namelist() if n.endswith(".ipynb") and "/" not in n)


def lock(source: Path) -> None:
    """Only root (the grading process) may read the unpacked autograder from now on."""
    for path in [source, *(p for p in source.rglob("*"))]:
        path.chmod(0o700 if path.is_dir() else 0o600)


def pack(source: Path, dest: Path) -> Path:
    """The unpacked autograder's grading parts (not the grader's own files) as the zip run_one takes."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in GRADING_PARTS:
            top = source / part
            for path in sorted([top, *top.rglob("*")] if top.is_dir() else [top]):
                if path.is_file() and not path.is_relative_to(source / ZIP_GRADER_DIR):
                    zf.write(path, path.relative_to(source).as_posix())
    return dest


def error_results(reason: str) -> dict:
    """Gradescope's results for an upload that was not graded."""
    return {"score": 0, "stdout_visibility": "visible",
            "tests": [{"name": "Not graded", "visibility": "visible", "status": "failed",
                       "output": f"This submission was not graded: {reason}"}]}


def gradescope_results(results, config: dict, status: str) -> dict:
    """Otter's own conversion, plus the grader's status line in the output."""
    from otter.run.run_autograder.autograder_config import AutograderConfig

    output = results.to_gradescope_dict(AutograderConfig(config))
    output["output"] = "\n".join(filter(None, [output.get("output"), f"Grading status: {status}"]))
    return output


def grade(root: Path, *, name: str | None = None, cell_timeout: float = 300.0,
          memory_gb: float = 4.0, keep: bool = False) -> dict:
    """Grade ``root/submission`` with the sealed grader; writes and returns ``results.json``'s content."""
    import dill

    from .grading import run_one, sandbox
    from .grading.outcome import RunReport

    source, results_dir = root / "source", root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / "otter_config.json").read_text())
    start = time.monotonic()
    try:
        submission = find_submission(root / "submission")
        built = settings(source)
        lock(source)
        scratch_root = Path(tempfile.mkdtemp(prefix="sealed-"))
        scratch_root.chmod(0o711)  # the sandbox's uid must reach its work folder, nothing else
        private = scratch_root / "autograder.zip"
        pack(source, private).chmod(0o600)
        grader = copy_grader(scratch_root / "grader")
        if os.geteuid() == 0 and sandbox.bwrap_problem():  # bwrap would make the folders above its binds
            for folder in (Path(sys.prefix), Path(sys.base_prefix), scratch_root):
                open_way_to(folder)
        scratch = scratch_root / "run"
        record_timeout = max(cell_timeout, 60)
        cmd = [sys.executable, "-m", "autograder.grading.run_one", str(private), str(submission), str(scratch),
               "--notebook-name", name or built.get("notebook_name") or notebook_name(submission),
               "--cell-timeout", f"{cell_timeout:g}",
               "--record-timeout", f"{record_timeout:g}", "--memory-gb", f"{memory_gb:g}",
               "--require-sandbox", "--user-fallback", *data_args(built.get("datasets", []), scratch_root / "data")]
        for variable, value in run_one.kernel_env().items():  # the kernel's environment, as `grade` gives it
            cmd += ["--env", variable, value]
        env = {**os.environ, "PYTHONPATH": str(grader)}
        log = scratch_root / "grader-log.txt"
        with sandbox.claimed_slots(1) as (slot,), open(log, "wb") as out:  # a uid no other grader here uses
            proc = subprocess.run(cmd + ["--slot", str(slot)], stdout=out, stderr=subprocess.STDOUT, env=env,
                                  cwd=scratch_root, stdin=subprocess.DEVNULL)
        pickled = scratch / "out" / "results.pkl"
        if proc.returncode != 0 or not pickled.is_file():
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise NotGradable(f"the grader stopped (exit {proc.returncode}): {tail[0][:300]}")
        with open(pickled, "rb") as f:
            results = dill.load(f)
        status = RunReport.read(scratch / "out").status
        shutil.copyfile(pickled, results_dir / "results.pkl")  # what `otter grade` copies back
        output = gradescope_results(results, config, status)
        if keep:
            print(f"kept the grading folder {scratch_root}", flush=True)
        else:
            shutil.rmtree(scratch_root, ignore_errors=True)
    except NotGradable as exc:
        output, status = error_results(str(exc)), f"not graded: {exc}"
    (results_dir / "results.json").write_text(json.dumps(output, indent=4))
    score = output.get("score", sum(t.get("score", 0) for t in output["tests"]))
    print(f"{status}\nscore {score:g} in {time.monotonic() - start:.1f} s", flush=True)
    return output


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.gradescope", description=__doc__.splitlines()[0])
    p.add_argument("--root", default="/autograder", help="Gradescope's folder (default /autograder)")
    p.add_argument("--notebook-name", help="the file name the init cell expects (default: the build's, else the submitted one's)")
    p.add_argument("--cell-timeout", type=float, default=300.0)
    p.add_argument("--memory-gb", type=float, default=4.0)
    p.add_argument("--keep", action="store_true", help="keep the grading folder under $TMPDIR (for debugging)")
    args = p.parse_args(argv)
    grade(Path(args.root), name=args.notebook_name, cell_timeout=args.cell_timeout, memory_gb=args.memory_gb, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
