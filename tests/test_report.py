"""The HTML report agrees with final_grades.csv and stands alone."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from autograder.grading import batch, feedback

pytestmark = pytest.mark.slow


class _Rows(HTMLParser):
    """Collects the data-* attributes of table cells and the hrefs/srcs of the page."""

    def __init__(self):
        super().__init__()
        self.questions, self.links, self.sources, self.row = {}, [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-question" in attrs:
            self.row = self.questions.setdefault(attrs["data-question"], {})
        if tag == "td" and self.row is not None:
            for key in ("data-mean", "data-full"):
                if key in attrs:
                    self.row[key] = float(attrs[key])
        if tag == "a":
            self.links.append(attrs["href"])
        if tag in ("img", "script", "link"):
            self.sources.append(attrs.get("src") or attrs.get("href") or "")


def test_report_matches_the_csv(demo_batch):
    a, made, outcomes, _, out = demo_batch
    page = (out / "report.html").read_text()
    parsed = _Rows()
    parsed.feed(page)
    csv = pd.read_csv(out / "final_grades.csv")
    points = csv[csv.file == "points-per-question"].iloc[0]
    graded = csv[(csv.file != "points-per-question") & (csv.grading_status == "Completed")]
    questions = [c for c in csv.columns if c not in ("file", "total_points_earned", "percent_correct", "grading_status")]
    assert sorted(parsed.questions) == sorted(questions)
    for q in questions:
        assert parsed.questions[q]["data-mean"] == pytest.approx(graded[q].astype(float).mean(), abs=1e-4)
        share = (graded[q].astype(float) == float(points[q])).mean()
        assert parsed.questions[q]["data-full"] == pytest.approx(share, abs=1e-4)
    for d in made:
        assert f"feedback/{feedback.file_name(d.path.name)}" in parsed.links
        assert (out / "feedback" / feedback.file_name(d.path.name)).exists()
    assert parsed.sources and all(s.startswith("data:image/png;base64,") for s in parsed.sources), "report must be self-contained"
    assert not re.search(r"https?://", page), "the report must not need the network"
    mean = graded.total_points_earned.astype(float).mean()
    assert f"Mean score {mean:.2f} / {float(points.total_points_earned):g}" in page


def test_report_lists_timeouts_and_errors_with_reasons(a1, tmp_path):
    (tmp_path / "broken.ipynb").write_text("not json")
    outcomes = batch.grade(a1, [tmp_path / "broken.ipynb"], tmp_path / "out", workers=1, timeout=60, quiet=True)
    page = (tmp_path / "out" / "report.html").read_text()
    assert "broken.ipynb" in page and "not valid JSON" in page
    assert batch.summary_line(outcomes, 26) == "graded 0, errored 1, timed out 0, mean score 0.00 / 26"
    assert "26" in page, "the report knows the points even when nothing was graded"
