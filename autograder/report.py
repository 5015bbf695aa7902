"""The instructor report: one self-contained HTML file (plots embedded, plain JS, no network).

Sections: a summary and a histogram of totals; per question its points, mean, share of full
marks, difficulty and discrimination; per test case its pass rate (one row per test, whatever
messages it failed with); a sortable table of students with per-question scores and their
feedback inline; what was not graded and why; roster students with no submission; the slowest
submissions; links to the sheets of questions graded by hand.

Difficulty is the mean share of a question's points (1 = everyone scored full marks): easy at
0.8 and above, hard below 0.5. Discrimination is the correlation between a question's score and
the rest of the total (how well the question separates strong from weak submissions; near 0 or
negative deserves a look); it needs three graded submissions and some spread.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

from .grading.feedback import file_name
from .grading.gradebook import Gradebook
from .grading.manual_sheet import FOLDER as MANUAL_FOLDER, sheet_name
from .grading.outcome import Outcome

SLOWEST = 5
EASY, HARD = 0.8, 0.5
INLINE_FEEDBACK_CHARS = 20_000


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _histogram(totals: list[float], possible: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6, 2.2))
    bins = max(5, min(20, int(possible) + 1)) if possible else 10
    ax.hist(totals, bins=bins, range=(0, possible or max(totals or [1])), color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"total points (out of {possible:g})")
    ax.set_ylabel("submissions")
    ax.set_title("Total scores")
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    uri = _png(fig)
    plt.close(fig)
    return uri


def failure_line(message: str) -> str:
    """The sentence a failed test ends with (Otter puts the exception last)."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "failed"
    return re.sub(r"^(CheckFailure|AssertionError): ", "", last)


def _correlation(xs: list[float], ys: list[float]) -> float:
    """Pearson's r; nan with fewer than three pairs or no spread."""
    n = len(xs)
    if n < 3:
        return math.nan
    mx, my = sum(xs) / n, sum(ys) / n
    sxx, syy = sum((x - mx) ** 2 for x in xs), sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return math.nan
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / math.sqrt(sxx * syy)


def difficulty_word(p: float) -> str:
    return "—" if math.isnan(p) else "easy" if p >= EASY else "hard" if p < HARD else "medium"


def question_stats(book: Gradebook) -> list[dict]:
    """Per question (autograded and by hand): points, how many scored, mean, full-marks share,
    difficulty (mean / points) and discrimination (r with the rest of the total)."""
    graded = [o for o in book.outcomes if book.graded(o)]
    stats = []
    for q in book.questions:
        possible = book.hand[q].points if q in book.hand else book.points.get(q, 0)
        pairs = [(s, book.total(o) - s) for o in graded if (s := book.score(o, q)) is not None]
        scores = [s for s, _ in pairs]
        mean = sum(scores) / len(scores) if scores else math.nan
        stats.append({
            "question": q, "by_hand": q in book.hand, "possible": possible, "scored": len(scores),
            "mean": mean,
            "full_share": sum(s == possible for s in scores) / len(scores) if scores else math.nan,
            "difficulty": mean / possible if scores and possible else math.nan,
            "discrimination": _correlation(scores, [rest for _, rest in pairs]),
        })
    return stats


def test_stats(outcomes: list[Outcome]) -> list[dict]:
    """Per test case, over the graded submissions that ran it: pass count, runs, the commonest failure."""
    runs: dict[tuple[str, str], dict] = {}
    messages: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for o in outcomes:
        if o.results.has_catastrophic_failure():
            continue
        for q, test_file in o.results.results.items():
            for res in test_file.test_case_results:
                key = (q, res.test_case.name)
                entry = runs.setdefault(key, {"question": q, "test": res.test_case.name, "hidden": res.test_case.hidden,
                                              "points": res.test_case.points, "passed": 0, "ran": 0})
                entry["ran"] += 1
                if res.passed:
                    entry["passed"] += 1
                else:
                    messages[key][failure_line(res.message)] += 1
    for key, entry in runs.items():
        common = messages[key].most_common(1)
        entry["failure"], entry["failure_count"] = common[0] if common else ("", 0)
        entry["kinds"] = len(messages[key])
    return [runs[k] for k in sorted(runs)]


def _num(x: float, fmt: str = ".2f") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _attr(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:90em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}.num{text-align:right;white-space:nowrap}.bad{color:#b00}.warn{color:#8a5a00}
table.sortable th{cursor:pointer;user-select:none}table.sortable th[aria-sort=ascending]::after{content:" ▲"}
table.sortable th[aria-sort=descending]::after{content:" ▼"}
.bar{display:inline-block;height:.8em;background:#4c72b0;vertical-align:middle;margin-right:.4em}
.bar.low{background:#c44e52}.hand{background:#fff8e6}.pending{color:#b36b00}
details pre{white-space:pre-wrap;max-width:70em;font-size:.85em;background:#f7f7f7;padding:.5em}
"""

SCRIPT = r"""
(function () {
  var errors = [];
  window.addEventListener('error', function (ev) {
    errors.push(String(ev.message));
    document.body.setAttribute('data-js-errors', errors.join(' | '));
  });
  function key(cell) {
    var v = cell.getAttribute('data-sort');
    if (v === null) { v = cell.textContent.trim(); }
    if (v === '') { return [2, '']; }
    var n = Number(v);
    return isFinite(n) ? [0, n] : [1, v.toLowerCase()];
  }
  function compare(a, b, desc) {
    if (a[0] !== b[0] || a[0] === 2) { return a[0] - b[0]; }  // numbers, then text, blanks last
    var c = a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0;
    return desc ? -c : c;
  }
  function sortTable(table, col, desc) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) { return compare(key(r1.cells[col]), key(r2.cells[col]), desc); });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      if (i === col) { th.setAttribute('aria-sort', desc ? 'descending' : 'ascending'); }
      else { th.removeAttribute('aria-sort'); }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener('click', function () {
        sortTable(table, i, th.getAttribute('aria-sort') === 'ascending');
      });
    });
  });
  var m = /^#sort=([\w-]+)(?::(asc|desc))?$/.exec(window.location.hash);  // e.g. #sort=total:desc
  if (m) {
    var table = document.getElementById('students');
    var ths = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var col = ths.findIndex(function (th) { return th.getAttribute('data-col') === m[1]; });
    if (col >= 0) { sortTable(table, col, m[2] === 'desc'); }
  }
  document.body.setAttribute('data-js-ready', '1');
})();
"""


def _summary(book: Gradebook, e) -> str:
    graded = [o for o in book.outcomes if book.graded(o)]
    problems = [o for o in book.outcomes if not book.graded(o)]
    timed = sum(1 for o in problems if o.status.startswith("timed out"))
    mean = sum(book.total(o) for o in graded) / len(graded) if graded else 0.0
    text = (f"{len(book.outcomes)} submissions: {len(graded)} graded, {timed} timed out, "
            f"{len(problems) - timed} not graded for another reason. Mean score {mean:.2f} / {book.possible():g}.")
    pending = sum(1 for o in graded if book.pending(o))
    if book.hand:
        text += (f" Graded by hand: {', '.join(book.hand)} ({sum(q.points for q in book.hand.values()):g} points); "
                 f"{pending} graded submission(s) still lack a hand-graded score, counted as 0 until imported.")
    if book.roster:
        text += f" Roster: {len(book.roster.students)} students, {len(book.missing())} without a submission."
    return f"<p id='summary'>{e(text)}</p>"


def _questions_table(book: Gradebook, e) -> list[str]:
    parts = ["<h2>Questions</h2><p>Over the graded submissions (for a question graded by hand, over those with a "
             f"score). Difficulty: mean share of the points, easy ≥ {EASY:g}, hard &lt; {HARD:g}. Discrimination: "
             "correlation of the question's score with the rest of the total.</p>",
             "<table id='questions' class='sortable'><thead><tr><th>question</th><th>graded</th><th>points</th>"
             "<th>scored</th><th>mean</th><th>full marks</th><th>difficulty</th><th>discrimination</th></tr></thead><tbody>"]
    for s in question_stats(book):
        q = e(s["question"])
        kind = f"by hand (<a href='{MANUAL_FOLDER}/{e(sheet_name(s['question']))}'>answers</a>)" if s["by_hand"] else "tests"
        p = s["difficulty"]
        mean_attr = f" data-mean='{_attr(s['mean'])}'" if s["scored"] else ""
        full_attr = f" data-full='{_attr(s['full_share'])}'" if s["scored"] else ""
        parts.append(
            f"<tr data-question='{q}'{' class=hand' if s['by_hand'] else ''}><td>{q}</td><td>{kind}</td>"
            f"<td class='num'>{s['possible']:g}</td><td class='num'>{s['scored']}</td>"
            f"<td class='num' data-sort='{_attr(s['mean'])}'{mean_attr}>{_num(s['mean'])}</td>"
            f"<td class='num' data-sort='{_attr(s['full_share'])}'{full_attr}>{_num(s['full_share'] * 100, '.0f')}"
            f"{'%' if s['scored'] else ''}</td>"
            f"<td class='num' data-sort='{_attr(p)}' data-difficulty='{_attr(p)}'>{_num(p)} {difficulty_word(p)}</td>"
            f"<td class='num' data-sort='{_attr(s['discrimination'])}'>{_num(s['discrimination'])}</td></tr>")
    parts.append("</tbody></table>")
    return parts


def _tests_table(book: Gradebook, e) -> list[str]:
    parts = ["<h2>Tests</h2><p>Each test case once, with its pass rate over the graded submissions that ran it and "
             "its most common failure (a test failing in several ways says how many).</p>",
             "<table id='tests' class='sortable'><thead><tr><th>question</th><th>test</th><th>kind</th><th>points</th>"
             "<th>pass rate</th><th>passed</th><th>most common failure</th></tr></thead><tbody>"]
    for t in test_stats(book.outcomes):
        rate = t["passed"] / t["ran"] if t["ran"] else math.nan
        bar = f"<span class='bar{' low' if rate < HARD else ''}' style='width:{rate * 5:.2f}em'></span>"
        failure = (f"{t['failure_count']}× {e(t['failure'])}" + (f" <i>(+{t['kinds'] - 1} other message(s))</i>"
                                                               if t["kinds"] > 1 else "")) if t["failure"] else "none"
        parts.append(
            f"<tr class='test' data-test='{e(t['question'])}/{e(t['test'])}' data-pass-rate='{_attr(rate)}'>"
            f"<td>{e(t['question'])}</td><td class='num'>{e(t['test'])}</td><td>{'hidden' if t['hidden'] else 'public'}</td>"
            f"<td class='num'>{t['points']:g}</td><td class='num' data-sort='{_attr(rate)}'>{bar}{rate:.0%}</td>"
            f"<td class='num'>{t['passed']} / {t['ran']}</td><td>{failure}</td></tr>")
    parts.append("</tbody></table>")
    return parts


def _students_table(book: Gradebook, e, feedback: dict[str, str], feedback_dir: str) -> list[str]:
    students = book.students()
    head = ["<th data-col='file'>submission</th>"] + (["<th data-col='student'>student</th>",
                                                        "<th data-col='student_id'>id</th>"] if book.roster else [])
    head += ["<th data-col='total'>total</th>", "<th data-col='percent'>%</th>"]
    head += [f"<th data-col='{e(q)}'>{e(q)}{' ✍' if q in book.hand else ''}</th>" for q in book.questions]
    head += ["<th data-col='status'>status</th>", "<th data-col='feedback'>feedback</th>"]
    possible = book.possible()
    parts = ["<h2>Students</h2><p>Click a column to sort (blanks last). ✍: graded by hand; a blank is not graded "
             "yet. Each row's feedback is what the student's feedback file says.</p>",
             f"<table id='students' class='sortable'><thead><tr>{''.join(head)}</tr></thead><tbody>"]
    for o in book.outcomes:
        s = students.get(o.label)
        graded = book.graded(o)
        total = book.total(o) if graded else None
        cells = [f"<td>{e(o.label)}</td>"]
        if book.roster:
            cells += [f"<td>{e(s.name) if s else '<i>not on the roster</i>'}</td>", f"<td>{e(s.student_id) if s else ''}</td>"]
        cells += [f"<td class='num' data-sort='{_attr(total)}'>{_num(total, 'g')}</td>",
                  f"<td class='num' data-sort='{_attr(total / possible if total is not None and possible else None)}'>"
                  f"{_num(total / possible * 100, '.0f') if total is not None and possible else '—'}</td>"]
        for q in book.questions:
            v = book.score(o, q)
            pending = q in book.hand and graded and v is None
            cells.append(f"<td class='num{' pending' if pending else ''}' data-sort='{_attr(v)}'>"
                         f"{'' if v is None else format(v, 'g')}</td>")
        text = feedback.get(o.label, "")
        if len(text) > INLINE_FEEDBACK_CHARS:
            text = text[:INLINE_FEEDBACK_CHARS] + "\n[… cut; the whole file is linked]"
        link = f"{feedback_dir}/{file_name(o.label)}"
        cells += [f"<td class='{'' if graded else 'bad'}'>{e(o.status)}</td>",
                  f"<td data-sort=''><details><summary>show</summary><pre>{e(text)}</pre></details>"
                  f"<a href='{e(link)}'>{e(link)}</a></td>"]
        parts.append(f"<tr class='submission' data-file='{e(o.label)}'>{''.join(cells)}</tr>")
    parts.append("</tbody></table>")
    return parts


def render(book: Gradebook, title: str, feedback: dict[str, str] | None = None, feedback_dir: str = "feedback") -> str:
    """The report as an HTML string; ``feedback`` maps a label to the text shown inline."""
    feedback = feedback or {}
    e = html.escape
    graded = [o for o in book.outcomes if book.graded(o)]
    problems = [o for o in book.outcomes if not book.graded(o)]
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>", f"<title>{e(title)}</title><style>{STYLE}</style>",
             "</head><body>", f"<h1>{e(title)}</h1>", _summary(book, e)]
    if book.warnings:
        parts.append("<ul id='warnings'>" + "".join(f"<li class='warn'>{e(w)}</li>" for w in book.warnings) + "</ul>")
    if graded:
        parts.append(f"<img alt='histogram of total scores' src='{_histogram([book.total(o) for o in graded], book.possible())}'>")
    parts += _questions_table(book, e)
    parts += _students_table(book, e, feedback, feedback_dir)
    parts += _tests_table(book, e)
    parts.append("<h2>Timed out or not graded</h2>")
    if problems:
        parts.append("<table id='problems'><tr><th>submission</th><th>reason</th></tr>")
        parts += [f"<tr class='problem'><td>{e(o.label)}</td><td class='bad'>{e(o.status)}</td></tr>" for o in problems]
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    if book.roster:
        missing, extra = book.missing(), book.unrostered()
        parts.append("<h2>Roster</h2>")
        parts.append("<p>Missing (on the roster, no submission; their LMS score is left empty): "
                     + (", ".join(f"<span class='missing'>{e(s.describe())}</span>" for s in missing) or "none") + ".</p>")
        parts.append("<p>Not on the roster (left out of the LMS files): "
                     + (", ".join(f"<span class='unrostered'>{e(x)}</span>" for x in extra) or "none") + ".</p>")
    ran = [o for o in book.outcomes if o.seconds > 0]
    parts.append(f"<h2>Slowest {SLOWEST}</h2><table id='slowest'><tr><th>submission</th><th>seconds</th>"
                 "<th>peak RSS (MB)</th></tr>")
    for o in sorted(ran, key=lambda o: -o.seconds)[:SLOWEST]:
        parts.append(f"<tr class='slow'><td>{e(o.label)}</td><td class='num'>{o.seconds:.1f}</td>"
                     f"<td class='num'>{_num(o.peak_rss_mb, '.0f')}</td></tr>")
    parts.append("</table>")
    if not ran:
        parts.append("<p>No submission ran.</p>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


def write(book: Gradebook, out_dir: Path, title: str, feedback: dict[str, str] | None = None) -> Path:
    """Write ``out_dir/report.html``; ``feedback`` (label -> text) is shown inline in the students table."""
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(book, title, feedback), encoding="utf-8")
    tmp.replace(path)
    return path
