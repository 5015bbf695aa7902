"""The sealed Gradescope entry point (autograder/gradescope.py) without a container: its parts.

The whole entry point runs in an emulated /autograder layout inside podman in tests/test_podman.py.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from autograder import gradescope


def _unpacked(zip_path, root):
    source = root / "source"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
    return source


def test_pack_keeps_what_run_one_reads_and_nothing_else(a1, tmp_path):
    source = _unpacked(a1.autograder_zip, tmp_path)
    packed = gradescope.pack(source, tmp_path / "private.zip")
    with zipfile.ZipFile(a1.autograder_zip) as original, zipfile.ZipFile(packed) as zf:
        wanted = {n for n in original.namelist() if n.split("/")[0] in gradescope.GRADING_PARTS
                  and not n.startswith(gradescope.ZIP_GRADER_DIR + "/")}
        assert "files/expected.pt" in wanted and "tests/q1.py" in wanted
        assert set(zf.namelist()) == wanted
        assert all(zf.read(n) == original.read(n) for n in wanted)
    assert {"setup.sh", "run_autograder", "environment.yml"} <= set(zipfile.ZipFile(a1.autograder_zip).namelist())


def test_lock_leaves_the_autograder_to_root_alone(a1, tmp_path):
    source = _unpacked(a1.autograder_zip, tmp_path)
    gradescope.lock(source)
    for path in [source, *source.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}: group or others may read it"


def test_the_submission_folder_must_hold_one_notebook(a1, tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    with pytest.raises(gradescope.NotGradable, match="found nothing"):
        gradescope.find_submission(folder)
    (folder / "a.ipynb").write_text(a1.student_notebook.read_text())
    (folder / "b.ipynb").write_text(a1.student_notebook.read_text())
    with pytest.raises(gradescope.NotGradable, match="found a.ipynb, b.ipynb"):
        gradescope.find_submission(folder)
    (folder / "b.ipynb").unlink()
    (folder / "a.pdf").write_bytes(b"%PDF")
    assert gradescope.find_submission(folder).name == "a.ipynb", "Otter exports may carry a PDF beside it"
    (folder / "a.ipynb").write_text("not json")
    with pytest.raises(gradescope.NotGradable, match="invalid submission a.ipynb: "):
        gradescope.find_submission(folder)


def test_an_export_zip_names_its_notebook(a1, tmp_path):
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr(a1.student_notebook.name, a1.student_notebook.read_text())
        zf.writestr("extra/notes.txt", "x")
    assert gradescope.notebook_name(export) == a1.student_notebook.name


def test_an_upload_that_is_not_graded_says_why_on_gradescope(a1, tmp_path):
    root = tmp_path / "autograder"
    _unpacked(a1.autograder_zip, root)
    (root / "submission").mkdir()
    (root / "submission" / "hw.ipynb").write_bytes(b"\xff\xfe")
    out = gradescope.grade(root)
    written = json.loads((root / "results" / "results.json").read_text())
    assert out == written and written["score"] == 0
    (entry,) = written["tests"]
    assert entry["visibility"] == "visible" and "invalid submission hw.ipynb" in entry["output"]


# --- the zip carries the sealed grader --------------------------------------------------------

def test_the_zip_runs_the_sealed_grader_it_carries(a1):
    """The zip's run_autograder calls autograder.gradescope from the grader files the zip carries,
    byte for byte those of this checkout, and setup.sh installs the sandbox's packages."""
    with zipfile.ZipFile(a1.autograder_zip) as zf:
        carried = {n: zf.read(n) for n in zf.namelist() if n.startswith(gradescope.ZIP_GRADER_DIR + "/")}
        run, setup = zf.read("run_autograder").decode(), zf.read("setup.sh").decode()
        settings = json.loads(carried.pop(gradescope.SETTINGS_FILE))
        assert "run_otter.py" in zf.namelist(), "Otter's own entry stays, for comparison"
    wanted = {f"{gradescope.ZIP_GRADER_DIR}/autograder/{p.relative_to(gradescope.PACKAGE).as_posix()}": p.read_bytes()
              for p in gradescope.grader_files()}
    assert settings == {"notebook_name": a1.student_notebook.name, "datasets": []}
    assert sorted(carried) == sorted(wanted)
    assert [n for n in wanted if carried[n] != wanted[n]] == []
    assert {f"files/grader/autograder/{n}" for n in ("grading/run_one.py", "grading/seal.py",
                                                     "course_checks/sealing.py")} <= set(carried)
    assert run.rstrip().endswith('exec python -m autograder.gradescope --root "$ROOT" "$@"'), run
    assert "run_otter.py" not in run
    assert "apt-get install -y bubblewrap util-linux" in setup


def test_open_way_to_adds_the_search_bit_only(tmp_path):
    deep = tmp_path / "closed" / "inner"
    deep.mkdir(parents=True)
    (tmp_path / "closed").chmod(0o700)
    changed = gradescope.open_way_to(deep / "python")
    assert tmp_path / "closed" in changed
    assert stat.S_IMODE((tmp_path / "closed").stat().st_mode) == 0o701
    assert gradescope.open_way_to(deep / "python") == []


# --- without bubblewrap (Gradescope's containers): an unprivileged uid alone -----------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="the uid switch needs root and setpriv")


@needs_root
def test_user_isolation_runs_as_another_uid_and_reaps_what_it_leaves(tmp_path):
    """Without bwrap, ``user_only`` still drops to the sandbox uid (a root-only file is refused) and
    ``reap`` kills a grandchild that left the kernel's session, which would otherwise live on."""
    import psutil

    from autograder.grading import sandbox

    work = tmp_path / "work"
    work.mkdir()
    secret = tmp_path / "expected.pt"
    secret.write_text("the hidden values")
    secret.chmod(0o600)
    box = sandbox.Sandbox(work, use_bwrap=False, user_only=True, slot=9)
    assert (box.isolation, box.uid) == ("user", sandbox.UID_BASE + 9)
    assert sandbox.Sandbox(work, use_bwrap=False).isolation == "none"
    box.prepare()
    script = (f"import os, time\ntry:\n    open({str(secret)!r}).read()\n    print(os.getuid(), 'read')\n"
              f"except OSError:\n    print(os.getuid(), 'refused')\n"
              "if os.fork() == 0:\n    os.setsid()\n    os.close(1), os.close(2)\n    time.sleep(600)\n")
    done = subprocess.run(box.wrap([sys.executable, "-c", script]), capture_output=True, text=True, cwd=work,
                          preexec_fn=box.preexec, timeout=60)
    assert done.stdout.split() == [str(box.uid), "refused"], done.stdout + done.stderr

    def running() -> list:
        return [p for p in psutil.process_iter(["uids", "status"]) if p.info["uids"] and box.uid in p.info["uids"]
                and p.info["status"] != psutil.STATUS_ZOMBIE]

    assert len(running()) == 1, "the grandchild outlived the process that started it"
    assert box.reap() == 1
    assert running() == []


@pytest.mark.slow
@needs_root
def test_without_bubblewrap_the_zip_keeps_the_hidden_parts_from_the_kernel(a1, tmp_path):
    """Gradescope's containers cannot start bubblewrap (emulated: a PATH without bwrap). The zip's own
    run_autograder then runs the kernel as an unprivileged uid: the attacks score what the local
    grader gives them, the harvest of every command line's paths reads none of this grading's hidden
    parts, and the daemon is killed before anything is read back."""
    from autograder.grading import batch, sandbox
    from autograder.grading.outcome import RunReport
    from gradescope_attacks import attacks, printed

    subs = attacks(tmp_path / "subs", ("runner_replaced", "harvest", "daemon", "patch_otter"))
    local = {o.label: o.results.total for o in batch.grade(a1, list(subs.values()), tmp_path / "local", workers=2,
                                                           quiet=True)}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/bin", "/bin"):
        for exe in Path(folder).iterdir():
            if exe.name != "bwrap" and not os.path.lexists(bin_dir / exe.name):
                (bin_dir / exe.name).symlink_to(exe)
    for name, path in subs.items():
        root = tmp_path / name / "autograder"
        tmp = Path(tempfile.mkdtemp(prefix="gs-", dir="/tmp"))  # short: the kernel's socket paths must fit
        _unpacked(a1.autograder_zip, root)
        (root / "submission").mkdir()
        (root / "results").mkdir()
        shutil.copy(path, root / "submission" / path.name)
        env = {**os.environ, "AUTOGRADER_ROOT": str(root), "TMPDIR": str(tmp),
               "PATH": f"{Path(sys.executable).parent}:{bin_dir}"}
        proc = subprocess.run(["bash", str(root / "source" / "run_autograder"), "--keep"], env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        results = json.loads((root / "results" / "results.json").read_text())
        assert "Not graded" not in {t["name"] for t in results["tests"]}, results
        score = results.get("score", sum(t.get("score", 0) for t in results["tests"]))
        assert score == local[path.name], f"{name}: {score} here, {local[path.name]} locally ({proc.stdout})"
        (run,) = tmp.glob("sealed-*/run")
        report = RunReport.read(run / "out")
        assert report.isolation == "user", report
        assert "kernel isolated by an unprivileged user id only" in report.status, report.status
        if name == "harvest":
            seen = printed(run / "out" / "executed.ipynb", "HARVEST")
            assert str(run.parent / "autograder.zip") in seen["tried"], "the harvest reached the private zip's path"
            mine = [p for p in seen["readable"] if Path(p).is_relative_to(tmp_path) or Path(p).is_relative_to(tmp)]
            assert mine == [], f"the kernel read {mine}"
        if name == "daemon":
            uid = printed(run / "out" / "executed.ipynb", "DAEMON")  # the slot another grader here holds is skipped
            assert sandbox.UID_BASE <= uid < sandbox.UID_BASE + sandbox.MAX_SLOTS, f"the kernel's uid: {uid}"
            assert "1 process(es) the notebook left running were killed" in report.status, report.status
        shutil.rmtree(tmp)

