"""Grade one submission in its own container (Docker or podman), with bubblewrap inside it as on the host.

``batch.grade(..., runner=DockerRunner(...))`` launches, instead of the local
``python -m autograder.grading.run_one ZIP SUBMISSION SCRATCH``, the same command inside a container:

    docker run --rm --init --network none --memory 4g --memory-swap 4g --cpus 2 --pids-limit 512 \\
        --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt systempaths=unconfined \\
        --security-opt apparmor=unconfined [--security-opt seccomp=unconfined] \\
        -v ZIP:/grading/autograder.zip:ro -v SUBMISSION:/grading/submission/NAME:ro \\
        -v OUT:/grading/out [--gpus all] IMAGE \\
        timeout -s KILL T python -m autograder.grading.run_one /grading/autograder.zip /grading/submission/NAME \\
        /grading/out --require-sandbox --readable DATA [OPTIONS]

so the results land in the same ``OUT`` folder and the rest of the batch (CSV, feedback, report)
does not change. ``run_one`` runs as root in the container and starts the kernel in bubblewrap,
as an unprivileged uid with no capabilities (``sandbox.py``): the zip, ``private/``,
``/course/solutions`` and ``/course/autograder/dist`` are outside the kernel's view. What
bubblewrap needs: CAP_SYS_ADMIN (its mount namespace), CAP_NET_ADMIN (loopback in its network
namespace), an unmasked /proc (``sandbox.bwrap_problem`` probes with a user namespace, where a
masked /proc cannot be mounted afresh), no AppArmor profile that forbids mounts, and on Docker its
default seccomp profile lifted (not tried here: no Docker engine). ``check_sandbox`` starts one
container before the batch and stops ``--docker`` with one sentence when bubblewrap cannot start;
``--require-sandbox`` makes every ``run_one`` refuse to grade without it.

With podman the line starts ``podman --runtime runc run`` (when runc is installed) and adds
``--ulimit nofile=4096:4096 --ulimit nproc=4096:4096``: podman's default runtime, crun, cannot
start containers on hosts with hybrid cgroups, and its default rlimits are higher than a process
without CAP_SYS_RESOURCE may set. The images are defined in ``autograder/containers/``
(``scripts/build-image.sh`` builds them with podman).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..course_checks import DEVICE_ENV_VAR
from ..datasets import DATASETS

IMAGES = {False: "dl-autograded:cpu", True: "dl-autograded:gpu"}  # keyed by --gpus
DOCKERFILES = {False: "autograder/containers/Dockerfile.cpu", True: "autograder/containers/Dockerfile.gpu"}
ENGINES = ("docker", "podman")  # autodetection tries them in this order
DEFAULT_MEMORY = "4g"
DEFAULT_CPUS = 2.0
DEFAULT_PIDS = 512
#: Below the usual hard limits, so that a process without CAP_SYS_RESOURCE may set them.
PODMAN_ULIMITS = ("nofile=4096:4096", "nproc=4096:4096")
LABEL = "dl-autograded.submission"  # `docker ps --filter label=dl-autograded.submission` finds them all
ZIP_IN, SUBMISSION_DIR_IN, OUT_IN, DATA_IN = "/grading/autograder.zip", "/grading/submission", "/grading/out", "/data"
PASSED_ENV = ("OMP_NUM_THREADS", "MPLBACKEND", DEVICE_ENV_VAR)  # host values the container keeps
ENTRY = ["python", "-m", "autograder.grading.run_one"]
IMAGE_DATA = {"fashion-mnist": "/course/data"}  # the images' own unpacked copies (autograder/containers/)
IMAGE_PATH = "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin"  # the images' venv first
#: What bubblewrap needs to start inside a container as root (see the module docstring).
SANDBOX_FLAGS = ("--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                 "--security-opt", "systempaths=unconfined", "--security-opt", "apparmor=unconfined")
DOCKER_SANDBOX_FLAGS = ("--security-opt", "seccomp=unconfined")  # Docker's default profile refuses unshare
#: Starts the kernel's sandbox once, as run_one would, and prints why it cannot ("" when it can).
SANDBOX_PROBE = """
import os, subprocess, tempfile
from pathlib import Path
from autograder.grading import sandbox
problem = sandbox.bwrap_problem() or ""
if not problem:
    box = sandbox.Sandbox(Path(tempfile.mkdtemp(dir="/grading/out")))
    box.prepare()
    done = subprocess.run(box.wrap(["id", "-u"]), capture_output=True, text=True, preexec_fn=box.preexec)
    if done.returncode:
        problem = "the sandboxed kernel did not start: " + done.stderr.strip()[:200]
    elif done.stdout.strip() == "0":
        problem = "the sandboxed kernel would run as root (setpriv is missing)"
print(problem)
"""


class DockerUnavailable(RuntimeError):
    """``--docker`` cannot work here; the message is one sentence saying what to do."""


def podman_global_flags() -> list[str]:
    """``--runtime runc`` when runc is installed: crun fails on hybrid-cgroup hosts, runc works on all."""
    return ["--runtime", "runc"] if shutil.which("runc") else []


@dataclass(frozen=True)
class DockerRunner:
    """Builds the ``docker run`` (or ``podman run``) command line for one submission; ``batch.grade_one`` runs it."""

    image: str = IMAGES[False]
    memory: str = DEFAULT_MEMORY
    cpus: float = DEFAULT_CPUS
    gpus: bool = False
    pids_limit: int = DEFAULT_PIDS
    docker: str = "docker"  # the client to call (a name on PATH or a path)
    engine: str = "docker"  # which flags it takes: "docker" or "podman"
    global_flags: tuple[str, ...] = ()  # before `run`, e.g. podman's --runtime runc

    def engine_command(self) -> list[str]:
        """The client with its global flags: what precedes ``run``, ``image exists`` and the like."""
        return [self.docker, *self.global_flags]

    def run_flags(self) -> list[str]:
        """``run`` and the options every container of this runner gets: limits, no network, what bwrap needs."""
        cmd = [
            *self.engine_command(), "run", "--rm", "--init",
            "--network", "none",
            "--memory", self.memory, "--memory-swap", self.memory,  # no swap beyond the limit
            "--cpus", f"{self.cpus:g}",
            "--pids-limit", str(self.pids_limit),
            "--workdir", "/tmp", "-e", "HOME=/tmp", "-e", "TMPDIR=/tmp",
            *SANDBOX_FLAGS,  # run_one runs as root inside, the kernel as an unprivileged uid in bwrap
        ]
        if self.engine == "docker":
            cmd += DOCKER_SANDBOX_FLAGS
        if self.engine == "podman":
            for limit in PODMAN_ULIMITS:
                cmd += ["--ulimit", limit]
        if self.gpus:  # podman reaches GPUs through CDI (nvidia-ctk cdi generate), Docker through the toolkit
            cmd += ["--device", "nvidia.com/gpu=all"] if self.engine == "podman" else ["--gpus", "all"]
        return cmd

    def __call__(self, autograder_zip: Path, submission: Path, out: Path, env: dict[str, str],
                 timeout: float, options: list[str] = ()) -> list[str]:
        out.mkdir(parents=True, exist_ok=True)  # mounted, so it must exist and belong to us
        submission_in = f"{SUBMISSION_DIR_IN}/{submission.name}"
        cmd = [
            *self.run_flags(),
            "--label", f"{LABEL}={submission.name}",
            "-v", f"{Path(autograder_zip).resolve()}:{ZIP_IN}:ro",
            "-v", f"{Path(submission).resolve()}:{submission_in}:ro",
            "-v", f"{Path(out).resolve()}:{OUT_IN}",
        ]
        for dataset in DATASETS.values():  # the host's unpacked copy instead of the image's Debian package
            if env.get(dataset.env_var):
                inside = f"{DATA_IN}/{dataset.name}"
                cmd += ["-v", f"{Path(env[dataset.env_var]).resolve()}:{inside}:ro", "-e", f"{dataset.env_var}={inside}"]
        for name in PASSED_ENV:
            if env.get(name):
                cmd += ["-e", f"{name}={env[name]}"]
        sandboxed = ["--require-sandbox", *(["--gpu"] if self.gpus else [])]
        if self.engine == "docker" and os.getuid() != 0:  # Docker's root inside is root outside
            sandboxed += ["--owner", f"{os.getuid()}:{os.getgid()}"]
        # The host kills the client at `timeout`; the container kills itself just after.
        limit = str(math.ceil(timeout) + 5)
        return [*cmd, self.image, "timeout", "-s", "KILL", limit, *ENTRY, ZIP_IN, submission_in, OUT_IN,
                *sandboxed, *options, *self.kernel_env(env)]

    @staticmethod
    def kernel_env(env: dict[str, str]) -> list[str]:
        """run_one's ``--env`` pairs (and ``--readable`` for the data folders they name): the kernel
        starts with these and nothing else, and sees only these folders, as it does locally.

        Without them a containerised kernel would get no thread count (torch then starts one
        thread per host core, and OpenMP's busy waiting makes training several times slower on a
        loaded machine), no PATH and no data folder (it would unpack Fashion-MNIST again)."""
        kernel = {"PATH": IMAGE_PATH, "LANG": "C.UTF-8", "MPLBACKEND": env.get("MPLBACKEND") or "Agg",
                  "USER": "student", "LOGNAME": "student"}
        for dataset in DATASETS.values():  # the host's copy where one is mounted, else the image's
            inside = f"{DATA_IN}/{dataset.name}" if env.get(dataset.env_var) else IMAGE_DATA.get(dataset.name)
            if inside:
                kernel[dataset.env_var] = inside
        for name in ("OMP_NUM_THREADS", DEVICE_ENV_VAR):
            if env.get(name):
                kernel[name] = env[name]
        readable = [kernel[d.env_var] for d in DATASETS.values() if d.env_var in kernel]
        return [*(arg for folder in readable for arg in ("--readable", folder)),
                *(arg for name, value in kernel.items() for arg in ("--env", name, value))]


def _answers(cmd: list[str], wait: float) -> bool:
    """True when ``cmd`` exits 0 and prints something within ``wait`` seconds."""
    try:
        answer = subprocess.run(cmd, capture_output=True, text=True, timeout=wait, stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, OSError):
        return False
    return answer.returncode == 0 and bool(answer.stdout.strip())


def _engine_answers(runner: DockerRunner, wait: float) -> bool:
    """Docker: the daemon answers ``docker version``; podman (no daemon): ``podman info`` works."""
    fmt = "{{.Server.Version}}" if runner.engine == "docker" else "{{.Host.OCIRuntime.Name}}"
    probe = "version" if runner.engine == "docker" else "info"
    return _answers([*runner.engine_command(), probe, "--format", fmt], wait)


def make_runner(engine: str | None = None, wait: float = 20.0, **settings) -> DockerRunner:
    """A runner for ``engine`` ("docker", "podman", or None: the first of them that answers here).

    Raises ``DockerUnavailable`` when the chosen engine (or, autodetecting, every engine) is
    missing or does not answer.
    """
    def runner(name: str) -> DockerRunner:
        flags = tuple(podman_global_flags()) if name == "podman" else ()
        return DockerRunner(docker=name, engine=name, global_flags=flags, **settings)

    if engine is None:
        for name in ENGINES:
            if shutil.which(name) and _engine_answers(candidate := runner(name), wait):
                return candidate
        raise DockerUnavailable(
            "--docker needs a container engine, but neither a Docker engine (`docker version`) nor podman "
            "(`podman info`) answers here; install one (apt-get install podman runc) or grade without --docker."
        )
    if engine not in ENGINES:
        raise DockerUnavailable(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}.")
    chosen = runner(engine)
    if shutil.which(engine) is None:
        raise DockerUnavailable(f"--docker --engine {engine} needs the {engine} client, but `{engine}` is not on PATH.")
    if not _engine_answers(chosen, wait):
        if engine == "docker":
            raise DockerUnavailable(
                "--docker needs a running Docker engine, but none answers `docker version` here; "
                "start one (or point DOCKER_HOST at one), use --engine podman, or grade without --docker."
            )
        raise DockerUnavailable("--docker --engine podman needs a working podman, but `podman info` fails here; "
                                "run it to see why, or grade without --docker.")
    return chosen


def check_image(runner: DockerRunner, wait: float = 20.0) -> None:
    """Raise ``DockerUnavailable`` unless the runner's engine has its image."""
    probe = ["image", "inspect"] if runner.engine == "docker" else ["image", "exists"]
    found = subprocess.run([*runner.engine_command(), *probe, runner.image], capture_output=True, timeout=wait,
                           stdin=subprocess.DEVNULL)
    if found.returncode != 0:
        gpus = runner.image == IMAGES[True]
        how = (f"`scripts/build-image.sh {'gpu' if gpus else 'cpu'}`" if runner.engine == "podman" else
               f"`docker build -f {DOCKERFILES[gpus]} -t {runner.image} .`")
        raise DockerUnavailable(f"the {runner.engine} image {runner.image} is missing; build it with {how} "
                                "in the repository root.")


def check_sandbox(runner: DockerRunner, wait: float = 120.0) -> None:
    """Raise ``DockerUnavailable`` unless a container of this runner can start the kernel's sandbox.

    ``--docker`` never grades unsandboxed: without bubblewrap the kernel could read the hidden tests."""
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-", ignore_cleanup_errors=True) as folder:
        cmd = [*runner.run_flags(), "-v", f"{folder}:{OUT_IN}", runner.image, "python", "-c", SANDBOX_PROBE]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=wait, stdin=subprocess.DEVNULL)
            problem = done.stdout.strip() if done.returncode == 0 else \
                f"the probe container exited {done.returncode} ({done.stderr.strip()[-200:]})"
        except subprocess.TimeoutExpired:
            problem = f"the probe container did not finish in {wait:g} s"
    if problem:
        problem = " ".join(problem.replace(". ", "; ").split()).rstrip(".")
        raise DockerUnavailable(
            f"--docker runs each kernel in bubblewrap inside its container, but bubblewrap cannot start in a "
            f"{runner.engine} container of {runner.image} ({problem}); run the engine as root (rootful), allow what "
            f"the line adds (CAP_SYS_ADMIN, CAP_NET_ADMIN, systempaths=unconfined, apparmor=unconfined), "
            f"or grade without --docker.")


def add_arguments(parser) -> None:
    """The ``grade`` flags for containers."""
    g = parser.add_argument_group("containers (see autograder/containers/)")
    g.add_argument("--docker", action="store_true", help="grade each submission in its own container")
    g.add_argument("--engine", choices=ENGINES, help="with --docker: the container engine "
                   "(default: the first of docker, podman that answers)")
    g.add_argument("--gpus", action="store_true", help="with --docker: give each container the GPUs (--gpus all)")
    g.add_argument("--image", help=f"with --docker: image (default {IMAGES[False]}, or {IMAGES[True]} with --gpus)")
    g.add_argument("--memory", default=DEFAULT_MEMORY, help=f"with --docker: memory limit per container (default {DEFAULT_MEMORY})")
    g.add_argument("--cpus", type=float, default=DEFAULT_CPUS, help=f"with --docker: CPU limit per container (default {DEFAULT_CPUS:g})")


def runner_from_args(args) -> DockerRunner | None:
    """The runner the ``grade`` flags ask for (None: the local subprocess); checks the engine and image first."""
    if not args.docker:
        if args.gpus:
            raise DockerUnavailable("--gpus only applies with --docker; local grading already uses CUDA when present.")
        if getattr(args, "engine", None):
            raise DockerUnavailable("--engine only applies with --docker.")
        return None
    runner = make_runner(getattr(args, "engine", None), image=args.image or IMAGES[args.gpus], memory=args.memory,
                         cpus=args.cpus, gpus=args.gpus)
    check_image(runner)
    check_sandbox(runner)
    return runner
