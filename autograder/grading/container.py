"""Grade one submission in its own Docker container: a thin wrapper over the local path.

``batch.grade(..., runner=DockerRunner(...))`` launches, instead of the local
``python -m autograder.grading.run_one ZIP SUBMISSION SCRATCH``, the same command inside a container
(where the container, not bubblewrap, is the sandbox):

    docker run --rm --init --network none --memory 4g --memory-swap 4g --cpus 2 --pids-limit 512 \\
        --user UID:GID -v ZIP:/grading/autograder.zip:ro -v SUBMISSION:/grading/submission/NAME:ro \\
        -v OUT:/grading/out [--gpus all] IMAGE \\
        timeout -s KILL T python -m autograder.grading.run_one /grading/autograder.zip /grading/submission/NAME \\
        /grading/out --in-container [OPTIONS]

so the results land in the same ``OUT`` folder and the rest of the batch (CSV, feedback, report)
does not change. The images are defined in ``autograder/containers/``.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..course_checks import DEVICE_ENV_VAR
from ..datasets import DATASETS

IMAGES = {False: "dl-autograded:cpu", True: "dl-autograded:gpu"}  # keyed by --gpus
DOCKERFILES = {False: "autograder/containers/Dockerfile.cpu", True: "autograder/containers/Dockerfile.gpu"}
DEFAULT_MEMORY = "4g"
DEFAULT_CPUS = 2.0
DEFAULT_PIDS = 512
LABEL = "dl-autograded.submission"  # `docker ps --filter label=dl-autograded.submission` finds them all
ZIP_IN, SUBMISSION_DIR_IN, OUT_IN, DATA_IN = "/grading/autograder.zip", "/grading/submission", "/grading/out", "/data"
PASSED_ENV = ("OMP_NUM_THREADS", "MPLBACKEND", DEVICE_ENV_VAR)  # host values the container keeps
ENTRY = ["python", "-m", "autograder.grading.run_one"]


class DockerUnavailable(RuntimeError):
    """``--docker`` cannot work here; the message is one sentence saying what to do."""


@dataclass(frozen=True)
class DockerRunner:
    """Builds the ``docker run`` command line for one submission; ``batch.grade_one`` runs it."""

    image: str = IMAGES[False]
    memory: str = DEFAULT_MEMORY
    cpus: float = DEFAULT_CPUS
    gpus: bool = False
    pids_limit: int = DEFAULT_PIDS
    docker: str = "docker"

    def __call__(self, autograder_zip: Path, submission: Path, out: Path, env: dict[str, str],
                 timeout: float, options: list[str] = ()) -> list[str]:
        out.mkdir(parents=True, exist_ok=True)  # mounted, so it must exist and belong to us
        submission_in = f"{SUBMISSION_DIR_IN}/{submission.name}"
        cmd = [
            self.docker, "run", "--rm", "--init",
            "--network", "none",
            "--memory", self.memory, "--memory-swap", self.memory,  # no swap beyond the limit
            "--cpus", f"{self.cpus:g}",
            "--pids-limit", str(self.pids_limit),
            "--user", f"{os.getuid()}:{os.getgid()}",  # results are the caller's files
            "--workdir", "/tmp", "-e", "HOME=/tmp", "-e", "TMPDIR=/tmp",
            "--label", f"{LABEL}={submission.name}",
            "-v", f"{Path(autograder_zip).resolve()}:{ZIP_IN}:ro",
            "-v", f"{Path(submission).resolve()}:{submission_in}:ro",
            "-v", f"{Path(out).resolve()}:{OUT_IN}",
        ]
        if self.gpus:
            cmd += ["--gpus", "all"]
        for dataset in DATASETS.values():  # the host's unpacked copy instead of the image's Debian package
            if env.get(dataset.env_var):
                inside = f"{DATA_IN}/{dataset.name}"
                cmd += ["-v", f"{Path(env[dataset.env_var]).resolve()}:{inside}:ro", "-e", f"{dataset.env_var}={inside}"]
        for name in PASSED_ENV:
            if env.get(name):
                cmd += ["-e", f"{name}={env[name]}"]
        # The host kills the docker client at `timeout`; the container kills itself just after.
        limit = str(math.ceil(timeout) + 5)
        return [*cmd, self.image, "timeout", "-s", "KILL", limit, *ENTRY, ZIP_IN, submission_in, OUT_IN,
                "--in-container", *options]


def check_engine(image: str, docker: str = "docker", wait: float = 20.0) -> None:
    """Raise ``DockerUnavailable`` unless a Docker engine answers and has ``image``."""
    if shutil.which(docker) is None:
        raise DockerUnavailable(f"--docker needs the Docker client, but `{docker}` is not on PATH.")
    try:
        answer = subprocess.run([docker, "version", "--format", "{{.Server.Version}}"],
                                capture_output=True, text=True, timeout=wait, stdin=subprocess.DEVNULL)
        ok = answer.returncode == 0 and answer.stdout.strip()
    except subprocess.TimeoutExpired:
        ok = False
    if not ok:
        raise DockerUnavailable(
            "--docker needs a running Docker engine, but none answers `docker version` here; "
            "start one (or point DOCKER_HOST at one) or grade without --docker."
        )
    found = subprocess.run([docker, "image", "inspect", image], capture_output=True, timeout=wait,
                           stdin=subprocess.DEVNULL)
    if found.returncode != 0:
        gpus = image == IMAGES[True]
        raise DockerUnavailable(
            f"the Docker image {image} is missing; build it with "
            f"`docker build -f {DOCKERFILES[gpus]} -t {image} .` in the repository root."
        )


def add_arguments(parser) -> None:
    """The ``grade`` flags for containers."""
    g = parser.add_argument_group("containers (see autograder/containers/)")
    g.add_argument("--docker", action="store_true", help="grade each submission in its own Docker container")
    g.add_argument("--gpus", action="store_true", help="with --docker: give each container the GPUs (--gpus all)")
    g.add_argument("--image", help=f"with --docker: image (default {IMAGES[False]}, or {IMAGES[True]} with --gpus)")
    g.add_argument("--memory", default=DEFAULT_MEMORY, help=f"with --docker: memory limit per container (default {DEFAULT_MEMORY})")
    g.add_argument("--cpus", type=float, default=DEFAULT_CPUS, help=f"with --docker: CPU limit per container (default {DEFAULT_CPUS:g})")


def runner_from_args(args) -> DockerRunner | None:
    """The runner the ``grade`` flags ask for (None: the local subprocess); checks the engine first."""
    if not args.docker:
        if args.gpus:
            raise DockerUnavailable("--gpus only applies with --docker; local grading already uses CUDA when present.")
        return None
    runner = DockerRunner(image=args.image or IMAGES[args.gpus], memory=args.memory, cpus=args.cpus, gpus=args.gpus)
    check_engine(runner.image, runner.docker)
    return runner
