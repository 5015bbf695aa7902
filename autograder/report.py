"""The instructor report: one self-contained HTML file (plots embedded) that shows the class."""

from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from pathlib import Path

from .grading.feedback import file_name, score_line
from .grading.outcome import Outcome

SLOWEST = 5
COMMON_FAILURES = 3


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _histogram(totals: list[float], possible: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6, 3))
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


def _template(sentence: str) -> str:
    """Group messages that differ only in numbers."""
    return re.sub(r"-?\d+(\.\d+)?(e[-+]?\d+)?", "#", sentence)


def question_stats(outcomes: list[Outcome], points: dict[str, float]) -> list[dict]:
    """Per question: mean points, share of full marks, most common failure messages."""
    graded = [o for o in outcomes if not o.results.has_catastrophic_failure()]
    stats = []
    for q in sorted(points):
        scores = [o.results.get_score(q) for o in graded if q in o.results.results]
        counter: Counter = Counter()
        example: dict[str, str] = {}
        for o in graded:
            if q not in o.results.results:
                continue
            for res in o.results.results[q].test_case_results:
                if not res.passed:
                    sentence = failure_line(res.message)
                    key = _template(sentence)
                    counter[key] += 1
                    example.setdefault(key, sentence)
        stats.append({
            "question": q,
            "possible": points[q],
            "mean": sum(scores) / len(scores) if scores else 0.0,
            "full_share": sum(s == points[q] for s in scores) / len(scores) if scores else 0.0,
            "failures": [(example[k], n) for k, n in counter.most_common(COMMON_FAILURES)],
        })
    return stats


def render(outcomes: list[Outcome], points: dict[str, float], title: str, feedback_dir: str = "feedback") -> str:
    """The report as an HTML string."""
    possible = sum(points.values())
    totals = [o.results.total for o in outcomes if not o.results.has_catastrophic_failure()]
    problems = [o for o in outcomes if o.results.has_catastrophic_failure()]
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}",
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}",
        "th{background:#f2f2f2}.num{text-align:right}.bad{color:#b00}",
        "</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p id='summary'>{len(outcomes)} submissions: {len(totals)} graded, "
        f"{sum(1 for o in problems if o.status.startswith('timed out'))} timed out, "
        f"{sum(1 for o in problems if not o.status.startswith('timed out'))} not graded for another reason. "
        f"Mean score {(sum(totals) / len(totals) if totals else 0):.2f} / {possible:g}.</p>",
    ]
    if totals:
        parts.append(f"<img alt='histogram of total scores' src='{_histogram(totals, possible)}'>")
    parts.append("<h2>Questions</h2><p>Means and shares are over the graded submissions.</p>"
                 "<table><tr><th>question</th><th>points</th><th>mean</th>"
                 "<th>full marks</th><th>most common failures</th></tr>")
    for s in question_stats(outcomes, points):
        fails = "<br>".join(f"{n}× {e(msg)}" for msg, n in s["failures"]) or "none"
        parts.append(
            f"<tr data-question='{e(s['question'])}'><td>{e(s['question'])}</td><td class='num'>{s['possible']:g}</td>"
            f"<td class='num' data-mean='{s['mean']:.4f}'>{s['mean']:.2f}</td>"
            f"<td class='num' data-full='{s['full_share']:.4f}'>{s['full_share']:.0%}</td><td>{fails}</td></tr>"
        )
    parts.append("</table><h2>Timed out or not graded</h2>")
    if problems:
        parts.append("<table><tr><th>submission</th><th>reason</th></tr>")
        parts += [f"<tr class='problem'><td>{e(o.label)}</td><td class='bad'>{e(o.status)}</td></tr>" for o in problems]
        parts.append("</table>")
    else:
        parts.append("<p>None.</p>")
    parts.append(f"<h2>Slowest {SLOWEST}</h2><table><tr><th>submission</th><th>seconds</th><th>peak RSS (MB)</th></tr>")
    for o in sorted(outcomes, key=lambda o: -o.seconds)[:SLOWEST]:
        parts.append(f"<tr class='slow'><td>{e(o.label)}</td><td class='num'>{o.seconds:.1f}</td>"
                     f"<td class='num'>{o.peak_rss_mb:.0f}</td></tr>")
    parts.append("</table><h2>Submissions</h2><table><tr><th>submission</th><th>score</th><th>feedback</th></tr>")
    for o in sorted(outcomes, key=lambda o: o.label):
        link = f"{feedback_dir}/{file_name(o.label)}"
        parts.append(f"<tr class='submission'><td>{e(o.label)}</td><td>{e(score_line(o))}</td>"
                     f"<td><a href='{e(link)}'>{e(link)}</a></td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def write(outcomes: list[Outcome], points: dict[str, float], out_dir: Path, title: str) -> Path:
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(outcomes, points, title), encoding="utf-8")
    tmp.replace(path)
    return path
