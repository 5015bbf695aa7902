"""The class as every output sees it: the outcomes, the hand-graded scores and the roster together.

``outputs.write`` builds one ``Gradebook`` from a list of outcomes and the class folder, and the
CSV, the report, the answers sheets and the LMS files all read it, so they agree on every score.

How a question graded by hand counts (documented in the README):

- until a score is imported its cell is blank, in the CSV and everywhere else; it adds nothing to
  ``total_points_earned``;
- its points always count in what is possible: the points row's total and ``percent_correct``
  are over autograded *and* hand-graded points, so a class that is not hand-graded yet shows
  percentages that can only rise, never ones that fall once the essays are scored.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import manual, roster as rosters
from .outcome import Outcome

SCORES_FILE = "manual_scores.json"


@dataclass(frozen=True)
class HandScore:
    """One imported score: the points, the answer it was given to, and where it came from."""

    score: float
    answer: str  # ManualAnswer.digest() of the answer when it was scored
    source: str  # "scores.csv row 4"
    at: str  # when it was imported


def read_scores(out_dir: Path) -> dict[str, dict[str, HandScore]]:
    """The hand-graded scores kept in ``out_dir`` (label -> question -> score); {} when none."""
    path = out_dir / SCORES_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {label: {q: HandScore(**entry) for q, entry in qs.items()} for label, qs in data.get("scores", {}).items()}


def write_scores(out_dir: Path, scores: dict[str, dict[str, HandScore]]) -> None:
    """Keep ``scores`` in ``out_dir`` atomically (sorted, so the same scores give the same file)."""
    data = {"scores": {label: {q: vars(s) for q, s in sorted(qs.items())} for label, qs in sorted(scores.items()) if qs}}
    tmp = out_dir / (SCORES_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / SCORES_FILE)


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Gradebook:
    """Every current result of a class, with its hand-graded scores and its roster.

    Attributes:
        outcomes: one per submission, sorted by label.
        points: autograded question -> points (the build's).
        hand: hand-graded question -> its definition, sorted by name (from the outcomes).
        scores: label -> hand-graded question -> imported score.
        roster: the class roster, if it has one.
        warnings: what the outputs had to leave out or could not trust, in sentences.
    """

    outcomes: list[Outcome]
    points: dict[str, float]
    hand: dict[str, manual.ManualQuestion] = field(default_factory=dict)
    scores: dict[str, dict[str, HandScore]] = field(default_factory=dict)
    roster: rosters.Roster | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, outcomes: list[Outcome], points: dict[str, float], out_dir: Path | None = None) -> "Gradebook":
        """The gradebook of ``outcomes``, with the scores and the roster kept in ``out_dir`` (if given)."""
        outcomes = sorted(outcomes, key=lambda o: o.label)
        book = cls(outcomes, dict(points), manual.columns(outcomes))
        if out_dir is None:
            return book
        try:
            book.roster = rosters.of_class(out_dir)
        except rosters.RosterError as exc:
            book.warnings.append(f"the roster kept in the class folder is left out: {exc}")
        try:
            book.scores = read_scores(out_dir)
        except (ValueError, TypeError) as exc:
            book.warnings.append(f"{out_dir / SCORES_FILE} cannot be read ({exc}); hand-graded scores are left out")
        book.warnings += book._score_warnings()
        return book

    # --- questions and scores -------------------------------------------------------------
    @property
    def questions(self) -> list[str]:
        """Every question column, autograded and hand-graded, in Otter's (sorted) order."""
        return sorted({*self.points, *self.hand})

    def possible(self) -> float:
        return sum(self.points.values()) + sum(q.points for q in self.hand.values())

    @staticmethod
    def graded(o: Outcome) -> bool:
        return not o.results.has_catastrophic_failure()

    def hand_score(self, o: Outcome, q: str) -> float | None:
        """The imported score of ``o`` in hand-graded ``q``, or None (not graded yet, or not gradable)."""
        s = self.scores.get(o.label, {}).get(q)
        return s.score if s is not None and self.graded(o) else None

    def score(self, o: Outcome, q: str) -> float | None:
        """Points of ``o`` in question ``q``; None for a hand-graded question without a score,
        and for every question of a submission that was not graded."""
        if not self.graded(o):
            return None
        if q in self.hand:
            return self.hand_score(o, q)
        return o.results.get_score(q) if q in o.results.results else 0.0

    def total(self, o: Outcome) -> float:
        """Autograded points plus imported hand-graded points (0 for a submission not graded)."""
        if not self.graded(o):
            return 0.0
        return o.results.total + sum(s for q in self.hand if (s := self.hand_score(o, q)) is not None)

    def pending(self, o: Outcome) -> list[str]:
        """Hand-graded questions of a graded submission that have no score yet."""
        return [q for q in self.hand if self.graded(o) and self.hand_score(o, q) is None]

    # --- the roster -----------------------------------------------------------------------
    def students(self) -> dict[str, rosters.Student]:
        """Submission label -> roster student (empty without a roster)."""
        return self.roster.match([o.label for o in self.outcomes]) if self.roster else {}

    def missing(self) -> list[rosters.Student]:
        """Roster students with no submission."""
        return self.roster.missing([o.label for o in self.outcomes]) if self.roster else []

    def unrostered(self) -> list[str]:
        """Labels of submissions the roster does not name (none without a roster)."""
        if not self.roster:
            return []
        known = self.students()
        return [o.label for o in self.outcomes if o.label not in known]

    def who(self, o: Outcome) -> str:
        """How the outputs name a submission's student: the roster's name and id, else ""."""
        s = self.students().get(o.label)
        return s.describe() if s else ""

    # --- what the outputs must say --------------------------------------------------------
    def _score_warnings(self) -> list[str]:
        lines = []
        by_label = {o.label: o for o in self.outcomes}
        orphans = sorted(label for label in self.scores if label not in by_label)
        if orphans:
            lines.append(f"hand-graded scores are kept for {len(orphans)} submission(s) that are not in the class "
                         f"now and are left out of the outputs: {', '.join(orphans)}")
        for label, qs in sorted(self.scores.items()):
            o = by_label.get(label)
            for q, s in sorted(qs.items()):
                if o is None:
                    continue
                answer = manual.answer_of(o, q)
                if q not in self.hand:
                    lines.append(f"{label}: a score for {q} is kept, but {q} is not graded by hand in this build; "
                                 "it is left out")
                elif not self.graded(o):
                    lines.append(f"{label}: the {q} score of {s.source} is left out, because the submission is "
                                 f"not graded now ({o.status})")
                elif answer is not None and answer.digest() != s.answer:
                    lines.append(f"{label}: {q} was scored ({s.score:g}, {s.source}) on an answer that has changed "
                                 "since (a resubmission); the score is kept: check it and import it again")
        return lines

    def summary(self) -> list[str]:
        """Sentences for the end of a run: hand-graded questions still blank, roster gaps."""
        lines = []
        for q, question in self.hand.items():
            blank = [o.label for o in self.outcomes if self.graded(o) and self.hand_score(o, q) is None]
            if blank:
                lines.append(f"{q} is graded by hand ({question.points:g} pt): {len(blank)} graded submission(s) "
                             f"have no score yet; grade them from manual/{q}.html and "
                             "`python -m autograder manual import SCORES.csv --out OUT`")
        if self.roster:
            missing, extra = self.missing(), self.unrostered()
            if missing:
                lines.append(f"{len(missing)} roster student(s) have no submission (missing; their LMS score is "
                             f"left empty): {', '.join(s.describe() for s in missing)}")
            if extra:
                lines.append(f"{len(extra)} submission(s) are not on the roster and are left out of the LMS files: "
                             f"{', '.join(extra)}")
        return lines


def percent(total: float, possible: float) -> float:
    """Otter's ``percent_correct``: earned over possible, rounded to 4 digits (0 when nothing is possible)."""
    return round(total / possible, 4) if possible and not math.isnan(total) else 0
