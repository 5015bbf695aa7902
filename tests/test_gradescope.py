"""Gradescope, emulated: each built zip unpacked into an /autograder layout and run by its own entry point."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from autograder import REPO_ROOT

pytestmark = pytest.mark.slow



def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]+\])?\s*==\s*(\S+)", line.strip())
        if m:
            pins.setdefault(m.group(1).lower(), set()).add(m.group(3))
    return pins


def gradescope_run(zip_path: Path, submission: Path, root: Path) -> dict:
    """Unpack ``zip_path`` as Gradescope does and run its own ``run_autograder`` against ``root``."""
    source = root / "source"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    shutil.copy(submission, root / "submission" / submission.name)
    (root / "submission_metadata.json").write_text(json.dumps({
        "id": 1, "created_at": "2026-01-01T00:00:00Z", "assignment": {"title": zip_path.stem},
        "users": [{"email": "student@example.edu", "name": "Student", "sid": "1"}], "previous_submissions": [],
    }))
    # Otter's environment lines (Miniforge is absent here, so `python` is this venv's), then the sealed grader
    assert "python /autograder/source/run_otter.py" not in (source / "run_autograder").read_text()
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(source / "run_autograder")], capture_output=True, text=True, timeout=900,
                          env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((root / "results" / "results.json").read_text())


def test_zip_environment_installs_the_same_pins_and_one_torch(built):
    with zipfile.ZipFile(built.autograder_zip) as zf:
        env = yaml.safe_load(zf.read("environment.yml"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = _pins(pip)
    req = _pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    assert {k: pins.get(k) for k in req} == req, "the zip's environment must install requirements.txt's pins"
    assert all(len(v) == 1 for v in pins.values()), f"two versions of one package: {pins}"
    assert sum(1 for line in pip if re.match(r"torch\b", line)) == 1, "exactly one torch"
    assert not any(line.startswith("-") for line in pip), "no extra index: the tested default is PyPI's wheel"
    assert "python=3.11" in env["dependencies"]


def test_gradescope_results_match_the_local_grader(demo_batch, tmp_path):
    a, made, outcomes, _, _ = demo_batch
    points = a.points
    with zipfile.ZipFile(a.autograder_zip) as zf:
        config = json.loads(zf.read("otter_config.json"))
    assert config["show_hidden"] is True and config["show_stdout"] is True
    # the solution and the blank notebook, side by side: full marks and zero (the buggy demos retrain models in 03)
    chosen = [d for d in made if d.path.name in ("solution.ipynb", "blank.ipynb")]
    with ThreadPoolExecutor(2) as pool:
        ran = list(pool.map(lambda d: gradescope_run(a.autograder_zip, d.path, tmp_path / d.path.stem / "autograder"),
                            chosen))
    assert len(ran) == 2
    for demo, results in zip(chosen, ran):
        local = outcomes[demo.path.name].results
        tests = {t["name"]: t for t in results["tests"]}
        where = f"{a.id} {demo.path.name}"

        # every question, with its points, and the same score as the local grader
        questions = {n: t for n, t in tests.items() if n in points}
        assert set(questions) == set(points), f"{where}: questions {sorted(questions)} != {sorted(points)}"
        for q, t in questions.items():
            assert t["max_score"] == points[q] and t["score"] == local.get_score(q), f"{where} {q}: {t}"
        total = results.get("score", sum(t["score"] for t in questions.values()))
        assert total == local.total == demo.expected_total, f"{where}: {total} vs {local.total}"

        # before publication students see only the public summary; the rest waits for publication
        assert tests["Public Tests"]["visibility"] == "visible"
        assert set(tests) == {"Public Tests", *points}, f"{where}: unexpected entries {set(tests)}"
        assert all(t["visibility"] == "after_published" for t in questions.values()), where
        assert results["stdout_visibility"] == "after_published", where
        assert results.get("visibility", "visible") == "visible"  # the submission page itself is shown
        public_output = tests["Public Tests"]["output"]
        for q, test_file in local.results.items():
            for r in test_file.test_case_results:
                if r.test_case.hidden and not r.passed and r.message.strip():
                    assert r.message.strip() not in public_output, f"{where} {q}: hidden failure is visible"
