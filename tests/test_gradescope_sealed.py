"""The sealed Gradescope entry point (autograder/gradescope.py) without a container: its parts.

The whole entry point runs in an emulated /autograder layout inside podman in tests/test_podman.py.
"""

from __future__ import annotations

import json
import stat
import zipfile

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
        wanted = {n for n in original.namelist() if n.split("/")[0] in gradescope.GRADING_PARTS}
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
