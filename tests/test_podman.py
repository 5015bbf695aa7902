"""Containers for real, with podman: the image builds, holds what it should, and grades like the local grader.

Builds ``localhost/dl-autograded:cpu`` with ``scripts/build-image.sh`` (podman's layer cache makes
a second run take seconds; a clean machine builds it from a debootstrapped Debian base in about
10 minutes), then grades every assignment's demo submissions in one container each and compares
the CSV with the local grader's byte for byte, and runs the zips' own ``run_autograder`` the way
``otter grade`` does.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder import REPO_ROOT
import podman_images
from gradescope_attacks import attacks as _attacks, printed, printed_lines, hunted as _hunted

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(podman_images.podman_problem() is not None, reason=str(podman_images.podman_problem()))]


@pytest.fixture(scope="session")
def cpu_image() -> str:
    image, seconds = podman_images.cpu_image()
    print(f"\n{image}: ready after {seconds:.0f} s")
    return image


def _requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]+\])?==(\S+)", line.split("#")[0].strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_image_has_exactly_the_pins_of_requirements(cpu_image):
    frozen = {}
    for line in podman_images.in_image(cpu_image, "pip", "freeze", "--all").splitlines():
        name, sep, version = line.partition("==")
        if sep:
            frozen[name.lower().replace("_", "-")] = version
    wanted = _requirements()
    assert {k: frozen.get(k) for k in wanted} == wanted
    python = podman_images.in_image(cpu_image, "python", "-c", "import sys; print(sys.version_info[:2])")
    assert python.strip() == "(3, 11)"


def test_image_has_fashion_mnist_offline(cpu_image):
    found = podman_images.in_image(cpu_image, "python", "-m", "autograder", "data")
    assert found.strip() == "Fashion-MNIST at /course/data: 60000 train, 10000 test images"
    debian = podman_images.in_image(cpu_image, "ls", "/usr/share/datasets/fashion-mnist").split()
    assert {"train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} <= set(debian), debian


def test_image_holds_the_built_zips_of_every_assignment(cpu_image, built):
    """The image's build of each assignment ships the same tests and points as this checkout's."""
    inside = f"/course/autograder/dist/{built.id}"
    listing = podman_images.in_image(cpu_image, "python", "-c", f"""
import json, zipfile
z = zipfile.ZipFile("{inside}/{built.autograder_zip.name}")
print(json.dumps({{"names": sorted(z.namelist()),
                  "tests": {{n: z.read(n).decode() for n in z.namelist() if n.startswith("tests/")}},
                  "points": json.load(open("{inside}/build-info.json"))["points"]}}))
""")
    theirs = json.loads(listing)
    with zipfile.ZipFile(built.autograder_zip) as zf:
        ours = {"names": sorted(zf.namelist()),
                "tests": {n: zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/")}}
    points = json.loads((built.dist_dir / "build-info.json").read_text())["points"]
    assert theirs["names"] == ours["names"] and theirs["tests"] == ours["tests"]
    assert theirs["points"] == points
    # the zips and the solutions are root's alone: a kernel run as another uid (otter grade) cannot read them
    tried = podman_images.in_image(cpu_image, "setpriv", "--reuid=100000", "--regid=100000", "--clear-groups",
                                   "python", "-c", f"""
import json
out = {{}}
for path in ("{inside}/{built.autograder_zip.name}", "/course/solutions/{built.id}/cases.py",
             "/course/autograder/__init__.py"):
    try:
        open(path, "rb").read(1)
        out[path] = "read"
    except OSError as exc:
        out[path] = type(exc).__name__
print(json.dumps(out))
""")
    assert list(json.loads(tried).values()) == ["PermissionError", "PermissionError", "read"], tried


def test_grade_in_podman_gives_the_local_csv_byte_for_byte(cpu_image, demo_batch, tmp_path):
    a, made, outcomes, _, local_out = demo_batch
    out = tmp_path / "podman"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "--docker", "--engine", "podman",
                           "--image", cpu_image, "--assignment", a.id, "--out", str(out), "--workers", "2",
                           "--timeout", "600"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "final_grades.csv").read_bytes() == (local_out / "final_grades.csv").read_bytes()
    assert "MISMATCH" not in proc.stdout
    for d in made:  # every submission ran in a container of its own, with no network
        log = (out / "feedback" / f"{d.path.name}.txt")
        assert log.is_file(), d.path.name


def test_the_podman_line_limits_each_container(cpu_image, tmp_path):
    """What a container started by `grade --docker --engine podman` gets: no network, the memory and pid limits."""
    from autograder.grading import container

    runner = container.make_runner("podman", image=cpu_image, memory="1g", pids_limit=64)
    (tmp_path / "a.zip").write_bytes(b"")
    (tmp_path / "s.ipynb").write_text("{}")
    line = runner(tmp_path / "a.zip", tmp_path / "s.ipynb", tmp_path / "out", {}, 60)
    probe = ("cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes 2>/dev/null || cat memory.max; "  # v1 or v2
             "cat pids/pids.max 2>/dev/null || cat pids.max; ls /sys/class/net")
    proc = subprocess.run([*line[:line.index(cpu_image) + 1], "sh", "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(1 << 30), "64", "lo"]


def test_otter_grade_per_submission_matches_the_project(cpu_image, demo_batch):
    """The zip's own run_autograder, run by Otter's own per-submission code (grade_submission) in
    Otter's image minus setup.sh: the same score, question by question, as this project's grader,
    and 0 for the cell that replaces Otter's test runner (stock Otter gives it full marks)."""
    a, made, outcomes, _, _ = demo_batch
    image = podman_images.otter_image(a.autograder_zip, cpu_image, f"localhost/otter-offline:{a.id}")
    chosen = [d for d in made if d.path.name in ("solution.ipynb", "blank.ipynb", "two-bugs.ipynb")]
    attack = None
    if a.id == "01-softmax-cross-entropy":  # the zip's sealed grader, not stock Otter, is what otter grade runs
        attack = _attacks(made[0].path.parent / "otter-grade", ("runner_replaced",))["runner_replaced"]
    paths = [d.path for d in chosen] + ([attack] if attack else [])
    with podman_images.docker_adapter_on_path(), ThreadPoolExecutor(2) as pool:  # as `otter grade -n 2`
        graded = dict(zip(paths, pool.map(lambda p: podman_images.otter_grade_one(p, image), paths)))
    for d in chosen:
        otter_results, seconds = graded[d.path]
        ours = outcomes[d.path.name].results
        where = f"{a.id} {d.path.name} ({seconds:.0f} s)"
        assert not otter_results.has_catastrophic_failure(), f"{where}: {otter_results.catastrophic_error}"
        assert {q: otter_results.get_score(q) for q in ours.test_files} == \
               {q: ours.get_score(q) for q in ours.test_files}, where
        assert otter_results.total == ours.total == d.expected_total, where
    if attack:
        otter_results, seconds = graded[attack]
        assert otter_results.total == 0, f"otter grade gave the replaced test runner {otter_results.total} ({seconds:.0f} s)"


# --- the sealed Gradescope entry point, in an emulated /autograder --------------------------------

def _score(results: dict) -> float:
    return results.get("score", sum(t.get("score", 0) for t in results["tests"]))


#: The catalogue's tampering, forging and secret-reading attacks and two that reach for other
#: processes, graded on Gradescope's path as locally (a run with 20 cases, planted links, log
#: replacements, proc_peek, exfiltrate_tests and broken zips included, passed in 900 s, while
#: patch_builtins still waited out its cell limit; this subset keeps CI's time).
CATALOGUE = ("patch_allclose", "patch_course_checks", "patch_otter", "overwrite_grader", "patch_builtins",
             "forge_log_hook", "forge_log_thread", "replace_recorder", "pre_import_library", "read_hidden_tests",
             "kill_all", "daemon_child")
#: Cases whose attack cannot reach its target on Gradescope's path, with what they score there instead:
#: pre_import_library finds the grader's package by listing folders, and the grader's copy sits in a
#: folder the kernel's uid may cross but not list, so its import fails and the zeros softmax keeps its
#: untampered score (locally, bubblewrap's view lists it, the patch is flagged and voids more).
UNREACHED = {"pre_import_library": (22, "grader package at []")}
#: Gradescope's containers (no CAP_SYS_ADMIN: bubblewrap cannot start), and one that lets bubblewrap start.
GRADESCOPE_MODES = {"user": (), "bubblewrap": podman_images.BWRAP_AS_ROOT}


def test_the_zip_on_gradescope_scores_like_the_local_grader(cpu_image, a1, tmp_path):
    """Stock Otter on Gradescope gives the 12-line cell full marks and lets the kernel read the hidden
    tests; the zip's own run_autograder (the sealed grader it carries) gives what `grade` gives, for
    the demos and the attacks, in a Gradescope-like container (the kernel as an unprivileged uid) and
    in one where bubblewrap starts, and the kernel reads none of the hidden parts in either."""
    from autograder import demos
    from autograder.grading import batch, sandbox
    from autograder.grading.outcome import REPORT_NAME, RunReport

    subs = _attacks(tmp_path / "subs", ("runner_replaced", "hunt", "harvest", "daemon", *CATALOGUE))
    points = json.loads((a1.dist_dir / "build-info.json").read_text())["points"]
    for d in demos.make(a1, tmp_path / "subs", points)[:2]:  # solution, blank
        d.path.chmod(0o644)
        subs[d.path.stem] = d.path
    outcomes = {o.label: o for o in batch.grade(a1, list(subs.values()), tmp_path / "local", workers=2, quiet=True)}
    local = {label: o.results.total for label, o in outcomes.items()}

    # every container on its own, two at a time (one kernel thread each, on two cores)
    runs = {("stock", "runner_replaced"): (subs["runner_replaced"], "stock", tmp_path / "stock", ()),
            ("stock", "hunt"): (subs["hunt"], "stock", tmp_path / "stock-hunt", ())}
    for mode, options in GRADESCOPE_MODES.items():
        for name in (list(subs) if mode == "user" else ["runner_replaced", "hunt", "harvest", "solution"]):
            runs[mode, name] = (subs[name], "zip", tmp_path / mode / name, options)
    with ThreadPoolExecutor(2) as pool:
        futures = {key: pool.submit(podman_images.gradescope_run, cpu_image, a1.autograder_zip, *run)
                   for key, run in runs.items()}
    done = {key: future.result() for key, future in futures.items()}

    assert _score(done["stock", "runner_replaced"]) == sum(points.values()), "stock Otter falls for the replaced test runner"
    stock_found = json.loads((tmp_path / "stock-hunt" / "hunt.json").read_text())
    assert "/autograder/source/tests/q1.py" in stock_found and "/autograder/source/files/expected.pt" in stock_found

    for mode in GRADESCOPE_MODES:
        for name in [n for m, n in runs if m == mode]:
            keep, results = tmp_path / mode / name, done[mode, name]
            where = f"{mode} {name}"
            wanted = UNREACHED[name][0] if mode == "user" and name in UNREACHED else local[subs[name].name]
            assert _score(results) == wanted, f"{where}: {_score(results)}, {local[subs[name].name]} locally"
            tests = {t["name"]: t for t in results["tests"]}
            status = outcomes[subs[name].name].status if wanted == local[subs[name].name] else ""
            if status.startswith("invalid submission"):  # refused before anything ran, on both paths
                assert set(tests) == {"Not graded"} and "invalid submission" in tests["Not graded"]["output"], where
                continue
            assert set(tests) == {"Public Tests", *points}, where
            assert tests["Public Tests"]["visibility"] == "visible", where
            assert all(tests[q]["visibility"] == "after_published" for q in points), where
            assert results["stdout_visibility"] == "after_published", where
            (out,) = [p.parent for p in keep.glob("sealed-*/run/out/" + REPORT_NAME)]
            report = RunReport.read(out)
            assert report.isolation == mode and "unsandboxed" not in report.status, f"{where}: {report.status}"
            if "tampering suspected" in status:  # flagged there as here
                assert "tampering suspected" in report.status, f"{where}: {report.status}"
        found = _hunted(next((tmp_path / mode / "hunt").glob("sealed-*/run/out/executed.ipynb")))
        assert found == [], f"{mode}: the kernel could read {found}"
        harvest = printed(next((tmp_path / mode / "harvest").glob("sealed-*/run/out/executed.ipynb")), "HARVEST")
        assert harvest["readable"] == [], f"{mode}: the kernel read {harvest['readable']}"
        if mode == "user":
            for name, (_, line) in UNREACHED.items():
                executed = next((tmp_path / mode / name).glob("sealed-*/run/out/executed.ipynb"))
                assert line in _printed_lines(executed), f"{name}: {_printed_lines(executed)}"
            executed = next((tmp_path / mode / "read_hidden_tests").glob("sealed-*/run/out/executed.ipynb"))
            seen = [line for line in _printed_lines(executed) if line.startswith(("searched", "found"))]
            assert any(line.startswith("searched") for line in seen) and not any(
                line.startswith("found") for line in seen), seen
        if mode == "user":  # bwrap's own pid namespace hides the grader's command line
            assert any(p.startswith("/keep/sealed-") and p.endswith("/autograder.zip") for p in harvest["tried"])
            daemon = next((tmp_path / mode / "daemon").glob("sealed-*/run/out"))
            assert printed(daemon / "executed.ipynb", "DAEMON") == sandbox.UID_BASE
            assert "1 process(es) the notebook left running were killed" in RunReport.read(daemon).status


# --- grade --docker: bubblewrap inside the container --------------------------------------------

def _printed_lines(executed: Path) -> list[str]:
    """The OBSERVED lines a catalogue case printed, from an executed notebook."""
    return [line.split("OBSERVED: ", 1)[1] for line in printed_lines(executed) if "OBSERVED: " in line]


def _observed(out: Path, label: str) -> list[str]:
    """The OBSERVED lines a catalogue case printed while `grade` ran it (its kept executed notebook)."""
    from autograder.grading import feedback

    return _printed_lines(out / "executed" / feedback.executed_name(label))


PEEK = '''import json, os
where = ["/course/solutions", "/course/autograder/dist", "/grading/autograder.zip", "/grading/out/private"]
print("PEEK " + json.dumps({p: os.path.exists(p) for p in where}))'''


def _peeked(executed: Path) -> dict[str, bool]:
    """Which of PEEK's paths the kernel could see, from its printed line."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    (line,) = [line for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
               for line in o.get("text", "").splitlines() if line.startswith("PEEK ")]
    return json.loads(line[5:])


class _FormerLine:
    """The line `grade --docker` used to run (``run_one --in-container``: no bubblewrap), as the control."""

    def __init__(self, runner):
        self.runner = runner

    def __call__(self, *args, **kwargs) -> list[str]:
        return ["--in-container" if a == "--require-sandbox" else a for a in self.runner(*args, **kwargs)]


def test_grade_docker_keeps_the_hidden_tests_from_the_kernel(cpu_image, a1, tmp_path):
    """`grade --docker --engine podman` on the attack cases: the kernel, in bubblewrap inside its
    container, reads neither the hidden tests, nor expected.pt, nor the zip, nor /course/solutions,
    and every case (tampering included) gets the local grader's CSV row, byte for byte. The control,
    the former `--in-container` line, shows the same hunt finds them when the kernel is not sandboxed."""
    import nbformat
    from hostile import cases
    from autograder.grading import batch, container, feedback

    subs = _attacks(tmp_path / "subs")
    subs["read_hidden_tests"] = cases.BY_NAME["read_hidden_tests"].build(tmp_path / "subs")
    nb = cases.blank_notebook()
    nb.cells.insert(2, nbformat.v4.new_code_cell(PEEK))
    subs["peek"] = cases.write(nb, tmp_path / "subs", "peek")
    for path in subs.values():
        path.chmod(0o644)
    batch.grade(a1, list(subs.values()), tmp_path / "local", workers=2, quiet=True)
    out = tmp_path / "podman"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "--docker", "--engine", "podman",
                           "--image", cpu_image, "--assignment", a1.id, "--out", str(out), "--workers", "2",
                           *map(str, subs.values())], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "final_grades.csv").read_bytes() == (tmp_path / "local" / "final_grades.csv").read_bytes()
    with open(out / "final_grades.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    for name in ("patch_otter", "overwrite_grader"):  # tampering is seen and voids what the kernel observed
        assert "tampering suspected" in rows[subs[name].name]["grading_status"], rows[subs[name].name]
    assert all("unsandboxed" not in r["grading_status"] for r in rows.values()), rows
    found = _hunted(out / "executed" / feedback.executed_name(subs["hunt"].name))
    assert found == [], f"the kernel in the container could read {found}"
    seen = _observed(out, subs["read_hidden_tests"].name)
    assert any(line.startswith("searched") for line in seen), seen
    assert not [line for line in seen if line.startswith("found")], seen
    peeked = _peeked(out / "executed" / feedback.executed_name(subs["peek"].name))
    assert not any(peeked.values()), f"the kernel in the container could see {peeked}"

    former = _FormerLine(container.make_runner("podman", image=cpu_image))
    batch.grade(a1, [subs["hunt"], subs["peek"]], tmp_path / "former", workers=2, quiet=True, runner=former)
    found = _hunted(tmp_path / "former" / "executed" / feedback.executed_name(subs["hunt"].name))
    assert {"q1.py", "expected.pt", f"{a1.id}-autograder.zip"} <= {Path(f).name for f in found}, found
    assert all(_peeked(tmp_path / "former" / "executed" / feedback.executed_name(subs["peek"].name)).values())
