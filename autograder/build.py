"""Build: master notebook -> student notebook + Gradescope autograder zip, via Otter Assign.

For each assignment the build
1. stages the master with its support files (``course_checks.py``, ``requirements.txt``);
2. runs Otter Assign once to get the solution notebook;
3. executes the solution's definitions on the inputs in ``cases.py`` and saves the results as
   ``expected.pt``, which only the autograder zip carries;
4. runs Otter Assign again, so the zip includes those expected values;
5. grades the solution notebook with that zip and fails, naming the question, below full marks;
6. publishes the student folder, the zip and the solution notebook.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from . import REPO_ROOT, checks, data, notebooks
from .assignments import Assignment

CHECKS_MODULE = "course_checks.py"
DATA_MODULE = "course_data.py"  # staged for masters that list it under `files:`
BUILD_INFO = "build-info.json"
NOT_BUILD_INPUTS = {"mutants.py", "demo_bugs.py"}  # test catalogues: editing them needs no rebuild


class BuildError(RuntimeError):
    """The build of one assignment failed; the message names the assignment and the question."""


@dataclass
class BuildResult:
    assignment: Assignment
    expected_cases: int
    score: float
    possible: float


def source_digest(a: Assignment) -> str:
    """Hash of everything a build reads, to tell whether the outputs are current."""
    h = hashlib.sha256()
    files = sorted(p for p in a.source_dir.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.name not in NOT_BUILD_INPUTS)
    for path in [*files, Path(checks.__file__), Path(data.__file__), REPO_ROOT / "requirements.txt", Path(__file__)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def is_current(a: Assignment) -> bool:
    """True when the dist folder was built from the current sources."""
    info = a.dist_dir / BUILD_INFO
    if not (info.exists() and a.autograder_zip.exists() and a.solution_notebook.exists()):
        return False
    return json.loads(info.read_text()).get("digest") == source_digest(a)


def _stage(a: Assignment, stage: Path) -> Path:
    shutil.copytree(a.source_dir, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(checks.__file__, stage / CHECKS_MODULE)
    shutil.copy(data.__file__, stage / DATA_MODULE)
    shutil.copy(REPO_ROOT / "requirements.txt", stage / "requirements.txt")
    torch.save({}, stage / checks.EXPECTED_FILE)
    return stage / a.master.name


def _otter_assign(master: Path, out: Path) -> None:
    from otter.assign import main as otter_assign

    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            otter_assign(str(master), str(out), no_run_tests=True, no_pdfs=True)
    except Exception as exc:
        raise BuildError(f"Otter Assign failed on {master.name}: {exc}\n{log.getvalue()}") from exc


def _load_cases(path: Path) -> dict:
    spec = importlib.util.spec_from_file_location(f"cases_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_cases()


def record_expected(a: Assignment, solution_nb: Path, stage: Path) -> int:
    """Run the solution's definitions on ``cases.py`` and write ``expected.pt`` into ``stage``."""
    if not (stage / "cases.py").exists():
        return 0
    code = notebooks.definitions(notebooks.read(solution_nb))
    namespace: dict = {"__name__": "__solution__"}
    sys.path.insert(0, str(stage))
    try:
        with contextlib.chdir(stage):
            exec(compile(code, f"{a.id} solution definitions", "exec"), namespace)
            return checks.record_expected(namespace, _load_cases(stage / "cases.py"), checks.EXPECTED_FILE)
    except Exception as exc:
        raise BuildError(f"{a.id}: recording the solution's expected values failed: {exc!r}") from exc
    finally:
        sys.path.remove(str(stage))


def grade_solution(a: Assignment, solution_nb: Path, zip_path: Path):
    """Grade the solution notebook with its own autograder (what Otter Assign's run_tests does)."""
    from otter.run import main as otter_run

    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        results = otter_run(str(solution_nb), autograder=str(zip_path), output_dir=None, no_logo=True)
    if results.has_catastrophic_failure():
        raise BuildError(f"{a.id}: grading the solution failed: {results.catastrophic_error}")
    failing = [q for q, r in results.to_dict().items() if r["score"] < r["possible"]]
    if failing:
        details = "\n".join(
            f"  {q}: {results.get_score(q)} / {results.to_dict()[q]['possible']}\n"
            + "\n".join("    " + line for line in results.get_result(q).summary().splitlines())
            for q in failing
        )
        raise BuildError(
            f"{a.id}: the solution does not pass its own tests in question(s) {', '.join(failing)}:\n{details}"
        )
    return results


def kernel_tests(a: Assignment, scratch: Path) -> list[str]:
    """Grade the built solution the sealed way; return the tests whose replay cannot pass.

    Those keep the verdict they reach inside the sandboxed kernel (see grading/verdict.py). A test
    that fails both ways, or one that needs expected values yet cannot be replayed, is a build error.
    """
    from .grading import batch

    options = batch.Options(timeout=1800, cell_timeout=900)
    outcome = batch.grade_one(a, a.solution_notebook, a.solution_notebook.name, scratch, options=options)
    status_file = scratch / "out" / "status.json"
    if outcome.results.has_catastrophic_failure() or not status_file.exists():
        raise BuildError(f"{a.id}: sealed grading of the solution failed: {outcome.status}")
    verdicts = json.loads(status_file.read_text())["verdicts"]
    kernel = sorted(k for k, v in verdicts.items() if not v["sealed"] and v["kernel"])
    broken = sorted(k for k, v in verdicts.items() if not v["sealed"] and (not v["kernel"] or v["uses_expected"]))
    if broken or len(verdicts) == 0:
        raise BuildError(f"{a.id}: the solution fails these tests when graded sealed: {', '.join(broken) or 'all'} "
                         f"({outcome.status})")
    return kernel


def generate(a: Assignment, out: Path) -> Path:
    """Run the staged Otter Assign passes into ``out``; return Otter's output folder."""
    stage_master = _stage(a, out / "stage")
    _otter_assign(stage_master, out / "pass1")
    record_expected(a, out / "pass1" / "autograder" / a.master.name, out / "stage")
    _otter_assign(stage_master, out / "pass2")
    return out / "pass2"


def _publish_student(otter_out: Path, student_dir: Path) -> None:
    if student_dir.exists():
        shutil.rmtree(student_dir)
    shutil.copytree(otter_out / "student", student_dir)
    for nb_path in student_dir.glob("*.ipynb"):
        notebooks.write(notebooks.stable_ids(notebooks.read(nb_path)), nb_path)


def build(a: Assignment, *, run_tests: bool = True) -> BuildResult:
    """Build one assignment and publish its student folder and dist folder."""
    with tempfile.TemporaryDirectory(prefix=f"build-{a.id}-") as tmp:
        tmp = Path(tmp)
        otter_out = generate(a, tmp)
        built_zip = next((otter_out / "autograder").glob("*.zip"))
        solution = otter_out / "autograder" / a.master.name
        expected = torch.load(tmp / "stage" / checks.EXPECTED_FILE, weights_only=True)
        results = grade_solution(a, solution, built_zip) if run_tests else None
        _publish_student(otter_out, a.student_dir)
        if a.dist_dir.exists():
            shutil.rmtree(a.dist_dir)
        a.dist_dir.mkdir(parents=True)
        shutil.copy(built_zip, a.autograder_zip)
        shutil.copy(solution, a.solution_notebook)
        points = {q: d["possible"] for q, d in results.to_dict().items()} if results else {}
        info = {"digest": source_digest(a), "points": points}
        (a.dist_dir / BUILD_INFO).write_text(json.dumps(info))
        if run_tests:
            info["kernel_tests"] = kernel_tests(a, tmp / "sealed")
            (a.dist_dir / BUILD_INFO).write_text(json.dumps(info))
    return BuildResult(
        a,
        expected_cases=sum(len(v) for v in expected.values()),
        score=results.total if results else float("nan"),
        possible=results.possible if results else float("nan"),
    )


def stale_files(a: Assignment) -> list[str]:
    """Files under ``assignments/<id>/`` that differ from what the master would generate now."""
    with tempfile.TemporaryDirectory(prefix=f"check-{a.id}-") as tmp:
        tmp = Path(tmp)
        stage_master = _stage(a, tmp / "stage")
        _otter_assign(stage_master, tmp / "out")
        fresh = tmp / "out" / "student"
        names = {p.name for p in fresh.iterdir()} | (
            {p.name for p in a.student_dir.iterdir()} if a.student_dir.exists() else set()
        )
        stale = []
        for name in sorted(names):
            new, old = fresh / name, a.student_dir / name
            if not old.exists() or not new.exists():
                stale.append(name)
            elif name.endswith(".ipynb"):
                if notebooks.normalised(new) != notebooks.normalised(old):
                    stale.append(name)
            elif new.read_bytes() != old.read_bytes():
                stale.append(name)
        return stale
