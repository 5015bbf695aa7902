"""Grade one submission with Otter, in the current process; meant to run as its own process.

    python -m autograder.grading.run_one AUTOGRADER_ZIP SUBMISSION OUT_DIR

Writes ``OUT_DIR/results.json`` (Gradescope's format) and ``OUT_DIR/results.pkl`` (Otter's
``GradingResults``, pickled with dill) and exits 0, or exits non-zero if Otter itself failed.
"""

from __future__ import annotations

import sys
from pathlib import Path


def run(autograder_zip: Path, submission: Path, out_dir: Path) -> None:
    import dill
    from otter.run import main as otter_run

    out_dir.mkdir(parents=True, exist_ok=True)
    results = otter_run(str(submission), autograder=str(autograder_zip), output_dir=str(out_dir), no_logo=True)
    with open(out_dir / "results.pkl", "wb") as f:
        dill.dump(results, f)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    run(*(Path(arg).resolve() for arg in sys.argv[1:]))
