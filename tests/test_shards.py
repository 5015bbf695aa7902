"""Shards and merge without a cluster: which shard a file lands in, the index from the engines'
variables, and merge's promises (same CSV as one machine, missing shards named, conflicts refused).

Most submissions here are files the grader rejects before running anything (empty, not JSON,
...): they go through the real worker pool, result store, manifests and writers in well under a
second. Executed notebooks on a real cluster are ``test_cluster.py``'s job.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import dill
import pytest

from autograder.__main__ import main
from autograder.assignments import Assignment
from autograder.grading import batch, merge, shards
from autograder.grading.store import ResultStore, StoredResult

POINTS = {"q1": 2, "q2": 3}


def _course(root: Path, digest: str = "first") -> Assignment:
    """An assignment whose build-info.json we control (rejected files never reach its zip)."""
    a = Assignment("01-softmax-cross-entropy", root)
    a.dist_dir.mkdir(parents=True, exist_ok=True)
    (a.dist_dir / "build-info.json").write_text(json.dumps({"digest": digest, "points": POINTS}))
    return a


def _class(folder: Path, count: int = 12) -> list[Path]:
    """``count`` rejected submissions with different bytes (so they spread over shards)."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = ["", "{", "[1, 2]", '{"nbformat": 3, "worksheets": []}', "\xff"]
    paths = []
    for k in range(count):
        p = folder / f"student{k:02d}.ipynb"
        p.write_text(kinds[k % len(kinds)] + " " * (k // len(kinds)))
        paths.append(p)
    return paths


def _grade_shards(a: Assignment, paths: list[Path], out: Path, count: int, skip: tuple[int, ...] = ()) -> None:
    for index in range(count):
        if index not in skip:
            shards.grade(a, paths, out, shards.Shard(index, count), quiet=True, workers=2)


def _merge(*args: str | Path) -> int:
    return main(["merge", *map(str, args)])


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the shard of a file --------------------------------------------------------------------


def test_a_files_shard_depends_on_its_bytes_only(tmp_path):
    paths = _class(tmp_path / "subs", 40)
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    before = {n: shards.shard_of(d, 7) for n, d in digests.items()}
    assert len(set(before.values())) == 7, "40 different files reach every one of 7 shards"
    renamed = tmp_path / "elsewhere" / "zed.ipynb"
    renamed.parent.mkdir()
    shutil.copy(paths[3], renamed)
    assert shards.shard_of(hashlib.sha256(renamed.read_bytes()).hexdigest(), 7) == before[paths[3].name]


def test_adding_a_file_moves_no_other_file(tmp_path):
    a = _course(tmp_path / "course")
    paths = _class(tmp_path / "subs", 10)
    _grade_shards(a, paths, tmp_path / "first", 3)
    late = tmp_path / "subs" / "late.ipynb"
    late.write_text("late and empty?")
    _grade_shards(a, [late, *paths], tmp_path / "second", 3)
    for index in range(3):
        first = shards.Manifest.read(tmp_path / "first" / f"shard-{index}-of-3").share
        second = shards.Manifest.read(tmp_path / "second" / f"shard-{index}-of-3").share
        assert set(second) - {"late.ipynb"} == set(first)


@pytest.mark.parametrize("variable", shards.INDEX_VARIABLES)
def test_auto_takes_the_index_from_each_engines_variable(variable):
    assert shards.parse("auto/4", {variable: "3"}) == shards.Shard(3, 4, variable)


def test_the_first_variable_in_the_documented_order_wins():
    env = {"AWS_BATCH_JOB_ARRAY_INDEX": "1", "SLURM_ARRAY_TASK_ID": "2"}
    assert shards.parse("auto/4", env).index == 2


@pytest.mark.parametrize("spec, env, words", [
    ("auto/4", {}, "none of them is set"),
    ("auto/4", {"SLURM_ARRAY_TASK_ID": "4"}, "SLURM_ARRAY_TASK_ID=4 is outside 0..3 (number the array from 0: --array=0-3)"),
    ("auto/4", {"JOB_COMPLETION_INDEX": "two"}, "JOB_COMPLETION_INDEX must be a whole number, not 'two'"),
    ("5/4", {}, "shard index 5 is outside 0..3"),
    ("-1/4", {}, "shard index -1 is outside 0..3"),
    ("1/0", {}, "the number of shards must be at least 1"),
    ("3", {}, "write it as I/N"),
])
def test_a_bad_shard_is_one_sentence_and_exit_2(spec, env, words, monkeypatch, capsys, tmp_path):
    for v in shards.INDEX_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert main(["grade", "--assignment", "01-softmax-cross-entropy", f"--shard={spec}",
                 "--out", str(tmp_path / "out"), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and err.startswith(f"grade: --shard {spec}")
    assert not (tmp_path / "out").exists(), "nothing graded"


def test_the_cli_grades_one_shard_into_its_folder(tmp_path, monkeypatch, capsys):
    a = _course(tmp_path / "course")
    paths = _class(tmp_path / "subs", 9)
    monkeypatch.setattr("autograder.assignments.get", lambda aid: a)
    monkeypatch.setattr("autograder.__main__._built_in_turn", lambda chosen, failed: iter(chosen))
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    assert main(["grade", "--assignment", a.id, "--shard", "auto/3", "--workers", "1",
                 "--out", str(tmp_path / "out"), str(tmp_path / "subs")]) == 0
    printed = capsys.readouterr().out
    manifest = shards.Manifest.read(tmp_path / "out" / "shard-1-of-3")
    assert f"shard 1/3 (index from JOB_COMPLETION_INDEX): {len(manifest.share)} of 9 submission(s)" in printed
    assert sorted(manifest.submissions) == [p.name for p in paths] and manifest.finished
    with open(tmp_path / "out" / "shard-1-of-3" / "final_grades.csv", newline="") as f:
        assert [r["file"] for r in csv.DictReader(f)][1:] == manifest.share
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["shard-1-of-3"]


# --- merge -----------------------------------------------------------------------------------


def test_merge_writes_the_one_machine_csv_and_twice_changes_nothing(tmp_path, capsys):
    a = _course(tmp_path / "course")
    paths = _class(tmp_path / "subs")
    batch.grade(a, paths, tmp_path / "one", workers=2, quiet=True)
    _grade_shards(a, paths, tmp_path / "shards", 4)
    shares = [shards.Manifest.read(tmp_path / "shards" / f"shard-{i}-of-4").share for i in range(4)]
    assert sorted(sum(shares, [])) == [p.name for p in paths] and sum(bool(s) for s in shares) >= 3
    assert _merge(tmp_path / "shards", "--out", tmp_path / "final") == 0
    assert "merged 4 shard folder(s)" in capsys.readouterr().out
    final = tmp_path / "final"
    assert (final / "final_grades.csv").read_bytes() == (tmp_path / "one" / "final_grades.csv").read_bytes()
    assert _tree(final / "feedback") == _tree(tmp_path / "one" / "feedback")
    page = (final / "report.html").read_text()
    assert page.count("<tr class='submission'") == len(paths) and f"{len(paths)} submissions" in page
    assert page == (tmp_path / "one" / "report.html").read_text(), "rejected files take 0.0 s: the same report too"
    first = _tree(final)
    # Again, with the shard folders named one by one and in another order: the same bytes.
    assert _merge(*sorted((tmp_path / "shards").iterdir(), reverse=True), "--out", final) == 0
    assert _tree(final) == first


def test_a_shard_that_never_ran_is_named_and_nothing_is_written(tmp_path, capsys):
    a = _course(tmp_path / "course")
    paths = _class(tmp_path / "subs")
    _grade_shards(a, paths, tmp_path / "shards", 3, skip=(1,))
    owed = [p.name for p in paths if shards.shard_of(hashlib.sha256(p.read_bytes()).hexdigest(), 3) == 1]
    assert owed
    assert _merge(tmp_path / "shards", "--out", tmp_path / "final") == 1
    err = capsys.readouterr().err
    assert f"{len(owed)} submission(s) were graded by no shard" in err
    for name in owed:
        assert f"  {name}: shard 1/3 never ran or its folder was not given (no shard-1-of-3)" in err
    assert "nothing written" in err and not (tmp_path / "final").exists()
    assert _merge(tmp_path / "shards", "--out", tmp_path / "final", "--allow-missing") == 0
    with open(tmp_path / "final" / "final_grades.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert len(rows) == len(paths) + 1
    assert all(rows[n]["grading_status"].startswith("not graded: shard 1/3 never ran") for n in owed)
    assert rows[owed[0]]["total_points_earned"] == "0"


def test_a_shard_killed_before_it_finished_is_named(tmp_path, capsys):
    a = _course(tmp_path / "course")
    paths = _class(tmp_path / "subs", 6)
    _grade_shards(a, paths, tmp_path / "shards", 1)
    folder = tmp_path / "shards" / "shard-0-of-1"
    manifest = shards.Manifest.read(folder)
    manifest.finished = None  # what a killed run leaves: the manifest of its start and part of the store
    manifest.write(folder)
    lost = sorted((folder / ".results").glob("*.pkl"))[0]
    with open(lost, "rb") as f:
        label = dill.load(f).label
    lost.unlink()
    assert _merge(folder, "--out", tmp_path / "final") == 1
    err = capsys.readouterr().err
    assert f"  {label}: shard 0/1 ({folder}) started " in err
    assert "and did not finish: run it again, it grades only what is missing" in err


def test_expect_names_a_file_no_shard_was_given(tmp_path, capsys):
    a = _course(tmp_path / "course")
    paths = _class(tmp_path / "subs", 5)
    _grade_shards(a, paths, tmp_path / "shards", 2)
    (tmp_path / "subs" / "late.ipynb").write_text("")
    assert _merge(tmp_path / "shards", "--out", tmp_path / "final", "--expect", tmp_path / "subs") == 1
    err = capsys.readouterr().err
    assert "1 submission(s) were graded by no shard" in err and "late.ipynb: shard " in err
    assert "was not given this file" in err
    assert _merge(tmp_path / "shards", "--out", tmp_path / "final", "--expect", tmp_path / "nowhere") == 2
    assert capsys.readouterr().err.strip() == f"merge: --expect names what does not exist: {tmp_path / 'nowhere'}"


def test_a_result_for_other_contents_under_the_same_name_is_left_out_and_named(tmp_path, capsys):
    a = _course(tmp_path / "course")
    old = _class(tmp_path / "old", 3)
    _grade_shards(a, old, tmp_path / "a", 1)
    new = _class(tmp_path / "new", 3)
    new[1].write_text("")  # student01 was "{" (not JSON) in the first grading
    shards.grade(a, new, tmp_path / "b", shards.Shard(0, 1), quiet=True)
    assert _merge(tmp_path / "a", tmp_path / "b", "--out", tmp_path / "final") == 2, "manifests disagree"
    assert "given different files under the same name: student01.ipynb" in capsys.readouterr().err
    assert _merge(tmp_path / "a", tmp_path / "b", "--out", tmp_path / "final", "--expect", tmp_path / "new") == 0
    assert "1 submission(s) also have results for other file contents" in capsys.readouterr().err
    with open(tmp_path / "final" / "final_grades.csv", newline="") as f:
        status = {r["file"]: r["grading_status"] for r in csv.DictReader(f)}
    assert status["student01.ipynb"].endswith("is empty"), "the --expect file's own result, not the old one"


def test_two_different_results_for_one_submission_are_refused(tmp_path, capsys):
    a = _course(tmp_path / "course")
    paths = _class(tmp_path / "subs", 4)
    _grade_shards(a, paths, tmp_path / "a", 1)
    shutil.copytree(tmp_path / "a" / "shard-0-of-1", tmp_path / "b" / "shard-0-of-1")
    assert _merge(tmp_path / "a", tmp_path / "b", "--out", tmp_path / "same") == 0, "equal results merge"
    # Make folder b's result for one submission say something else under the same build.
    file = sorted((tmp_path / "b" / "shard-0-of-1" / ".results").glob("*.pkl"))[0]
    with open(file, "rb") as f:
        entry: StoredResult = dill.load(f)
    other = batch._failure(entry.label, entry.outcome.path, batch.GraderCrash("grader crashed (exit 9): gone"), 1.0)
    with open(file, "wb") as f:
        dill.dump(StoredResult(other, entry.assignment, entry.content, entry.build, entry.options, entry.stored_at), f)
    capsys.readouterr()
    assert _merge(tmp_path / "a", tmp_path / "b", "--out", tmp_path / "final") == 2
    err = capsys.readouterr().err
    assert err.startswith("merge: 1 submission(s) have different results under the same build")
    assert f"{entry.label}: {tmp_path / 'a' / 'shard-0-of-1'} (" in err
    assert f"{tmp_path / 'b' / 'shard-0-of-1'} (grader crashed (exit 9): gone)" in err
    assert not (tmp_path / "final").exists()


def test_shards_of_different_builds_are_refused(tmp_path, capsys):
    paths = _class(tmp_path / "subs", 4)
    shards.grade(_course(tmp_path / "course", "first"), paths, tmp_path / "shards", shards.Shard(0, 2), quiet=True)
    shards.grade(_course(tmp_path / "course", "second"), paths, tmp_path / "shards", shards.Shard(1, 2), quiet=True)
    assert _merge(tmp_path / "shards", "--out", tmp_path / "final") == 2
    err = capsys.readouterr().err
    assert "graded for different assignments or builds" in err
    assert "shard-0-of-2" in err and "shard-1-of-2" in err


def test_a_folder_without_a_manifest_is_refused_with_the_way_out(tmp_path, capsys):
    a = _course(tmp_path / "course")
    batch.grade(a, _class(tmp_path / "subs", 3), tmp_path / "plain", workers=1, quiet=True)
    assert _merge(tmp_path / "plain", "--out", tmp_path / "final") == 2
    assert "--shard 0/1, which reuses every result" in capsys.readouterr().err
    shards.grade(a, _class(tmp_path / "subs", 3), tmp_path / "plain", shards.Shard(0, 1), quiet=True)
    assert _merge(tmp_path / "plain", "--out", tmp_path / "final") == 0


def test_the_store_reader_lists_without_the_dist_folder(tmp_path):
    a = _course(tmp_path / "course")
    _grade_shards(a, _class(tmp_path / "subs", 3), tmp_path / "shards", 1)
    m = shards.Manifest.read(tmp_path / "shards" / "shard-0-of-1")
    shutil.rmtree(a.dist_dir)
    store = ResultStore.reader(tmp_path / "shards" / "shard-0-of-1" / ".results", m.assignment, m.build)
    assert [r.label for r in store.listing().current] == m.share
    with pytest.raises(RuntimeError, match="cannot save"):
        store.save(store.listing().current[0].outcome)
    assert merge.shard_folders([tmp_path / "shards"]) == [tmp_path / "shards" / "shard-0-of-1"]


def test_the_roster_kept_beside_the_shards_reaches_the_merged_class(tmp_path, capsys):
    a = _course(tmp_path / "course")
    paths = _class(tmp_path / "subs", 4)
    _grade_shards(a, paths, tmp_path / "results", 2)
    (tmp_path / "results" / "roster.csv").write_text(  # where grade --roster --out results keeps it
        "file,student_id,name\n" + "".join(f"{p.name},s{k},Student {k}\n" for k, p in enumerate(paths)))
    assert _merge(tmp_path / "results", "--out", tmp_path / "final") == 0
    assert f"roster {tmp_path / 'results' / 'roster.csv'} kept as" in capsys.readouterr().out
    assert (tmp_path / "final" / "roster.csv").read_bytes() == (tmp_path / "results" / "roster.csv").read_bytes()
    with open(tmp_path / "final" / "canvas_grades.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) >= len(paths), "the LMS file of the roster's students"
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "roster.csv").write_text("file,student_id\nx.ipynb,s9\n")
    shutil.copytree(tmp_path / "results" / "shard-0-of-2", tmp_path / "other" / "shard-0-of-2")
    assert _merge(tmp_path / "results", tmp_path / "other", "--out", tmp_path / "again") == 2
    assert "the shards keep different rosters" in capsys.readouterr().err
