"""Course tooling: build student notebooks and autograders from master notebooks, and grade."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Caps the cores a run counts on (torch threads per kernel or build, default worker count).
CPUS_ENV = "AUTOGRADER_CPUS"


def usable_cpus() -> int:
    """The cores this process may use: ``AUTOGRADER_CPUS`` when set, else its CPU affinity (what
    taskset, Slurm and a cgroup cpuset allow), never more kernels' threads than cores to run them."""
    given = os.environ.get(CPUS_ENV, "").strip()
    if given:
        if not given.isdigit() or int(given) < 1:
            raise SystemExit(f"{CPUS_ENV}={given!r}: expected a whole number of cores, 1 or more")
        return int(given)
    return max(1, len(os.sched_getaffinity(0)))
