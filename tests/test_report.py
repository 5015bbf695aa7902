"""The HTML report agrees with final_grades.csv, stands alone, and its table sorts in a real browser."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import pandas as pd
import pytest

from autograder.grading import batch, feedback
from browser import load

pytestmark = pytest.mark.slow


class _Page(HTMLParser):
    """Collects the report's question rows, test rows, student rows, links and embedded sources."""

    def __init__(self):
        super().__init__()
        self.questions, self.tests, self.students, self.links, self.sources = {}, [], [], [], []
        self.row, self.student, self.body = None, None, {}
        self.headers, self.in_students_head = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if tag == "table" and attrs.get("id") == "students":
            self.in_students_head = True
        if tag == "th" and self.in_students_head:
            self.headers.append(attrs.get("data-col"))
        if tag == "tr" and "data-question" in attrs:
            self.row = self.questions.setdefault(attrs["data-question"], {})
        if tag == "tr" and attrs.get("class") == "test":
            self.tests.append((attrs["data-test"], float(attrs["data-pass-rate"])))
        if tag == "tr" and attrs.get("class") == "submission":
            self.student = {"file": attrs["data-file"], "cells": []}
            self.students.append(self.student)
        if tag == "td" and self.row is not None:
            for key in ("data-mean", "data-full"):
                if key in attrs:
                    self.row[key] = float(attrs[key])
        if tag == "td" and self.student is not None:
            self.student["cells"].append(attrs.get("data-sort"))
        if tag == "a":
            self.links.append(attrs["href"])
        if tag in ("img", "script", "link"):
            self.sources.append(attrs.get("src") or attrs.get("href") or "")

    def handle_endtag(self, tag):
        if tag == "tr":
            self.row, self.student = None, None
        if tag == "thead":
            self.in_students_head = False


def _parse(text: str) -> _Page:
    parsed = _Page()
    parsed.feed(text)
    return parsed


def test_report_matches_the_csv(demo_batch):
    a, made, outcomes, _, out = demo_batch
    page = (out / "report.html").read_text()
    parsed = _parse(page)
    csv = pd.read_csv(out / "final_grades.csv")
    points = csv[csv.file == "points-per-question"].iloc[0]
    graded = csv[(csv.file != "points-per-question") & (csv.grading_status == "Completed")]
    questions = [c for c in csv.columns if c not in ("file", "total_points_earned", "percent_correct", "grading_status")]
    assert sorted(parsed.questions) == sorted(questions)
    for q in questions:
        scored = graded[q].dropna().astype(float)  # a question graded by hand is blank until scores are imported
        if scored.empty:
            assert "data-mean" not in parsed.questions[q], f"{q} has no score yet, so no mean"
            continue
        assert parsed.questions[q]["data-mean"] == pytest.approx(scored.mean(), abs=1e-4)
        assert parsed.questions[q]["data-full"] == pytest.approx((scored == float(points[q])).mean(), abs=1e-4)
    for d in made:
        assert f"feedback/{feedback.file_name(d.path.name)}" in parsed.links
        assert (out / "feedback" / feedback.file_name(d.path.name)).exists()
    embedded = [s for s in parsed.sources if s]
    assert embedded and all(s.startswith("data:image/png;base64,") for s in embedded), "report must be self-contained"
    assert not re.search(r"https?://", page), "the report must not need the network"
    mean = graded.total_points_earned.astype(float).mean()
    assert f"Mean score {mean:.2f} / {float(points.total_points_earned):g}" in page


def test_each_test_has_one_row_with_its_pass_rate(demo_batch):
    _, _, outcomes, _, out = demo_batch
    parsed = _parse((out / "report.html").read_text())
    ran, passed = Counter(), Counter()
    for o in outcomes.values():
        for q, test_file in o.results.results.items():
            for res in test_file.test_case_results:
                ran[f"{q}/{res.test_case.name}"] += 1
                passed[f"{q}/{res.test_case.name}"] += res.passed
    names = [name for name, _ in parsed.tests]
    assert len(names) == len(set(names)), "a test failing with different messages still has one row"
    assert sorted(names) == sorted(ran)
    for name, rate in parsed.tests:
        assert rate == pytest.approx(passed[name] / ran[name], abs=1e-4), name
    assert any(rate < 1 for _, rate in parsed.tests), "the blank demo fails tests"


def test_students_table_has_every_score_and_the_feedback_inline(demo_batch):
    _, made, outcomes, csv, out = demo_batch
    page = (out / "report.html").read_text()
    parsed = _parse(page)
    rows = {r.file: r for r in csv.itertuples() if r.file != "points-per-question"}
    assert sorted(s["file"] for s in parsed.students) == sorted(rows)
    questions = [c for c in csv.columns if c not in ("file", "total_points_earned", "percent_correct", "grading_status")]
    assert parsed.headers[:3] == ["file", "total", "percent"] and parsed.headers[3:3 + len(questions)] == questions
    for s in parsed.students:
        row = csv[csv.file == s["file"]].iloc[0]
        assert float(s["cells"][1]) == pytest.approx(float(row.total_points_earned))
        for q, cell in zip(questions, s["cells"][3:]):
            assert (cell == "") == pd.isna(row[q]) and (cell == "" or float(cell) == pytest.approx(float(row[q]))), q
    for label in outcomes:
        text = (out / "feedback" / feedback.file_name(label)).read_text()
        first = next(line for line in text.splitlines() if line.startswith("q"))
        assert first in page, "each student's feedback is in the page"
    assert not re.search(r">\s*nan\s*(MB)?\s*<", page) and "nan MB" not in page


def test_the_report_loads_without_errors_and_sorts_in_chromium(demo_batch):
    _, _, _, csv, out = demo_batch
    dom, errors = load(out / "report.html", "#sort=total:desc")
    body = _parse(dom).body
    assert errors == [] and "data-js-errors" not in body, errors
    assert body.get("data-js-ready") == "1", "the page's script ran to its end"
    order = [s["file"] for s in _parse(dom).students]
    totals = dict(zip(csv.file, csv.total_points_earned.astype(float)))
    assert [totals[f] for f in order] == sorted((totals[f] for f in order), reverse=True)
    assert order != sorted(order) or len(set(totals[f] for f in order)) == 1, "the sort moved rows"
    dom, _ = load(out / "report.html", "#sort=file:asc")
    assert [s["file"] for s in _parse(dom).students] == sorted(order)


def test_report_lists_timeouts_and_errors_with_reasons(a1, tmp_path):
    (tmp_path / "broken.ipynb").write_text("not json")
    outcomes = batch.grade(a1, [tmp_path / "broken.ipynb"], tmp_path / "out", workers=1, timeout=60, quiet=True)
    page = (tmp_path / "out" / "report.html").read_text()
    assert "broken.ipynb" in page and "not valid JSON" in page
    assert batch.summary_line(outcomes, 26) == "graded 0, errored 1, timed out 0, mean score 0.00 / 26"
    assert "26" in page, "the report knows the points even when nothing was graded"
    assert "nan" not in page.lower(), "no `nan MB` for a file that never ran"
    assert "No submission ran." in page
