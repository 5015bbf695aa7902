"""Grade one submission with Otter, in the current process; meant to run as its own process.

    python -m autograder.grading.run_one AUTOGRADER_ZIP SUBMISSION OUT_DIR

Writes ``OUT_DIR/results.json`` (Gradescope's format), ``OUT_DIR/results.pkl`` (Otter's
``GradingResults``, pickled with dill) and ``OUT_DIR/usage.json`` (peak memory of this process
and of the kernel), and exits 0, or exits non-zero if Otter itself failed.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def run(autograder_zip: Path, submission: Path, out_dir: Path) -> None:
    import dill
    from otter.run import main as otter_run

    out_dir.mkdir(parents=True, exist_ok=True)
    results = otter_run(str(submission), autograder=str(autograder_zip), output_dir=str(out_dir), no_logo=True)
    with open(out_dir / "results.pkl", "wb") as f:
        dill.dump(results, f)
    usage = {  # ru_maxrss is in KiB on Linux; children = the (waited-for) kernel
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "kernel_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
    (out_dir / "usage.json").write_text(json.dumps(usage))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    run(*(Path(arg).resolve() for arg in sys.argv[1:]))
