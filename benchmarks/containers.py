"""Container benchmark: the local grader against `grade --docker --engine podman`, and Otter's own
per-submission run (the zip's run_autograder in Otter's image minus setup.sh), on the same demos.

    .venv/bin/python benchmarks/containers.py [--assignment ID ...] [--workers 2] [--skip-otter]

Builds (or finds cached) localhost/dl-autograded:cpu with scripts/build-image.sh and prints its
build time and size; then, per assignment, grades the demo submissions locally and in podman
containers (one each) in the same run, and prints every submission's seconds both ways, the
scores, whether the two CSVs are byte-identical, and Otter's score and seconds per submission
beside the project's. Prints figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import podman_images  # noqa: E402

from autograder import assignments, demos  # noqa: E402
from autograder.build import build, is_current  # noqa: E402
from autograder.grading import batch, container  # noqa: E402


def image_size(image: str) -> float:
    out = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", image],
                         capture_output=True, text=True, check=True).stdout
    return int(out) / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assignment", action="append", help="assignment id (default: all)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--skip-otter", action="store_true", help="leave out Otter's per-submission run")
    args = p.parse_args()
    chosen = [assignments.get(i) for i in args.assignment] if args.assignment else assignments.all_assignments()

    image, seconds = podman_images.cpu_image()
    print(f"image {image}: ready in {seconds:.0f} s (cached layers reused), {image_size(image):.2f} GB")
    runner = container.make_runner("podman", image=image)
    container.check_sandbox(runner)  # as `grade --docker` does: bubblewrap must start inside
    for a in chosen:
        if not is_current(a):
            build(a)
        points = json.loads((a.dist_dir / "build-info.json").read_text())["points"]
        with tempfile.TemporaryDirectory(prefix="bench-containers-") as tmp:
            made = demos.make(a, Path(tmp) / "subs", points)
            paths = [d.path for d in made]
            start = time.monotonic()
            local = batch.grade(a, paths, Path(tmp) / "local", workers=args.workers, quiet=True)
            local_wall = time.monotonic() - start
            start = time.monotonic()
            boxed = batch.grade(a, paths, Path(tmp) / "podman", workers=args.workers, quiet=True, runner=runner)
            boxed_wall = time.monotonic() - start
            same = (Path(tmp) / "local/final_grades.csv").read_bytes() == \
                   (Path(tmp) / "podman/final_grades.csv").read_bytes()
            print(f"\n{a.id}: {len(paths)} demos, --workers {args.workers}: local {local_wall:.1f} s, "
                  f"podman {boxed_wall:.1f} s (x{boxed_wall / local_wall:.2f}); CSVs byte-identical: {same}")
            otter = {}
            if not args.skip_otter:
                otter_img = podman_images.otter_image(a.autograder_zip, image, f"localhost/otter-offline:{a.id}")
                for d in made:
                    results, secs = podman_images.otter_grade_one(d.path, otter_img)
                    total = "error" if results.has_catastrophic_failure() else f"{results.total:g}"
                    otter[d.path.name] = (total, secs)
            by_local = {o.label: o for o in local}
            by_boxed = {o.label: o for o in boxed}
            print(f"  {'submission':<22} {'local s':>8} {'podman s':>9} {'score':>7}   {'otter score':>11} {'otter s':>8}")
            for d in made:
                n = d.path.name
                lo, bo = by_local[n], by_boxed[n]
                score = f"{lo.results.total:g}/{bo.results.total:g}"
                ot, osec = otter.get(n, ("-", float("nan")))
                print(f"  {n:<22} {lo.seconds:>8.1f} {bo.seconds:>9.1f} {score:>7}   {ot:>11} {osec:>8.1f}")


if __name__ == "__main__":
    main()
