"""Real containers with podman, for the tests and the container benchmark.

``cpu_image()`` builds (or finds in podman's cache) the project's CPU image with
``scripts/build-image.sh``; ``otter_image()`` builds, on top of it, the image ``otter grade``
builds from Otter's own Dockerfile, with its one step that needs the internet left out (see the
function); ``otter_grade_one()`` grades one submission in it with Otter's own per-submission code.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

from autograder import REPO_ROOT

#: The CPU image's tag; another tag keeps parallel checkouts on one machine from retagging each other's.
IMAGE = os.environ.get("DL_AUTOGRADED_IMAGE", "localhost/dl-autograded:cpu")
ADAPTER = REPO_ROOT / "scripts" / "podman-docker"  # `docker` on podman, for python-on-whales
#: The RUN step of Otter 7.0.0's grade/Dockerfile that runs the zip's setup.sh (Miniforge from GitHub,
#: an otter-env from conda-forge, playwright's Chromium: none of them reachable offline).
SETUP_STEP = re.compile(r"RUN dos2unix /autograder/run_autograder /autograder/source/setup.sh && \\\n"
                        r"(?:    .*\n)*?    rm -rf /var/lib/apt/lists/\* /tmp/\* /var/tmp/\*\n")
WITHOUT_SETUP = "RUN dos2unix /autograder/run_autograder && chmod +x /autograder/run_autograder\n"


def podman_problem() -> str | None:
    """None when podman can run containers here (as root it can install itself), else why not."""
    if shutil.which("podman") or (os.geteuid() == 0 and shutil.which("apt-get")):
        return None
    return "podman is not installed and cannot be installed without root and apt-get"


def cpu_image(timeout: float = 2400) -> tuple[str, float]:
    """Build the CPU image from the current tree (cached layers are reused); returns (tag, seconds)."""
    start = time.monotonic()
    lock = Path(tempfile.gettempdir()) / f"podman-build-{re.sub(r'[^A-Za-z0-9.-]', '_', IMAGE)}.lock"
    with open(lock, "a") as held:  # test workers take turns: the second finds every layer cached
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.run(["nice", "-n", "10", str(REPO_ROOT / "scripts" / "build-image.sh"), "cpu"],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "IMAGE": IMAGE})
    assert proc.returncode == 0, f"scripts/build-image.sh cpu failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return IMAGE, time.monotonic() - start


def in_image(image: str, *cmd: str, timeout: float = 300) -> str:
    """Run ``cmd`` in a throwaway container of ``image`` with no network; returns its stdout."""
    proc = subprocess.run(["podman", "--runtime", "runc", "run", "--rm", "--network", "none",
                           "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", image, *cmd],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} in {image}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
    return proc.stdout


def adapter_env() -> dict[str, str]:
    """The environment in which python-on-whales' `docker` is the podman adapter."""
    return {**os.environ, "PATH": f"{ADAPTER}:{os.environ['PATH']}"}


def otter_dockerfile() -> str:
    """Otter's grade/Dockerfile without the step that runs setup.sh (the only step that needs the internet).

    The project's image already holds what setup.sh would install into Miniforge's otter-env: the
    pins of requirements.txt (which the zip's environment.yml repeats) in /opt/venv, first on PATH,
    so run_autograder's ``python`` is that venv's after its ``mamba activate`` line fails.
    """
    import otter.grade

    text = (Path(otter.grade.__file__).parent / "Dockerfile").read_text()
    without, count = SETUP_STEP.subn(WITHOUT_SETUP, text)
    assert count == 1, "Otter's Dockerfile changed: its setup.sh step is not where it was in 7.0.0"
    return without


def otter_image(autograder_zip: Path, base: str, tag: str) -> str:
    """Build Otter's grading image for ``autograder_zip`` as ``otter grade`` does (python-on-whales'
    ``docker buildx build --load`` through the adapter), minus its setup.sh step; returns the tag."""
    from python_on_whales import DockerClient

    with tempfile.TemporaryDirectory(prefix="otter-image-") as context:
        with zipfile.ZipFile(autograder_zip) as zf:
            zf.extractall(context)
        dockerfile = Path(context) / "Dockerfile.offline"
        dockerfile.write_text(otter_dockerfile())
        client = DockerClient(client_call=[str(ADAPTER / "docker")])
        client.build(context, build_args={"BASE_IMAGE": base}, tags=[tag], file=str(dockerfile), load=True)
    return tag


def otter_grade_one(submission: Path, image: str, timeout: int = 600):
    """Otter's own per-submission step of ``otter grade`` (create, copy in, start, wait, copy out),
    with `docker` being the adapter; returns Otter's ``GradingResults`` and the seconds it took."""
    from otter.grade import containers

    start = time.monotonic()
    with docker_adapter_on_path():
        results = containers.grade_submission(str(submission), image, timeout=timeout, network=False)
    return results, time.monotonic() - start


@contextlib.contextmanager
def docker_adapter_on_path():
    """`docker` (the podman adapter) first on PATH while inside. Calls from several threads at once
    (Otter's own `otter grade` grades in a thread pool) are wrapped in one outer use of this, so that
    no thread's exit takes the adapter away from another."""
    import python_on_whales

    old = os.environ["PATH"]
    os.environ["PATH"] = adapter_env()["PATH"]
    python_on_whales.docker.client_config._client_call_with_path = None  # find `docker` on the new PATH
    try:
        yield
    finally:
        os.environ["PATH"] = old
        python_on_whales.docker.client_config._client_call_with_path = None


#: What `podman run` needs for bubblewrap to start inside a container as root (tried here):
#: CAP_SYS_ADMIN for its mount namespace, CAP_NET_ADMIN to bring up loopback in its network
#: namespace, and /proc unmasked so that it may mount a fresh /proc. The kernel itself ends up
#: with no capabilities, no_new_privs and an unprivileged uid (setpriv).
BWRAP_AS_ROOT = ("--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "unmask=/proc/*")
#: The same for a grader that runs as a non-root user in the container: bubblewrap makes its own
#: user namespace, so only /proc needs unmasking.
BWRAP_AS_USER = ("--security-opt", "unmask=/proc/*")


def gradescope_run(image: str, autograder_zip: Path, submission: Path, entry: str, keep: Path,
                   options: tuple[str, ...] = (), timeout: float = 900) -> dict:
    """Gradescope emulated in a container with no network: the zip unpacked into /autograder/source,
    its run_autograder copied to /autograder, the upload in /autograder/submission, then ``entry``
    run as root ("zip": ``/autograder/run_autograder --keep``, the sealed grader, with $TMPDIR on
    ``keep``; "stock": Otter's own ``run_otter.py``, which the zip still carries, as the control).
    The zip and the upload come in through a folder only root may read, as on Gradescope, where
    they are not in the container at all, and the image's /course is removed first (Gradescope's
    image holds the environment, not the course). Returns results.json's content."""
    keep.mkdir(parents=True, exist_ok=True)
    inbox = Path(tempfile.mkdtemp(prefix="gradescope-in-"))  # mode 0700: the kernel's uid cannot look in
    shutil.copy(autograder_zip, inbox / "autograder.zip")
    shutil.copy(submission, inbox / submission.name)
    run = "/autograder/run_autograder --keep" if entry == "zip" else "python /autograder/source/run_otter.py"
    # Gradescope's container holds the zip's environment and nothing of the course: no /course
    script = (f"set -e; rm -rf /course; mkdir -p /autograder/source /autograder/submission /autograder/results; "
              f"python -m zipfile -e /in/autograder.zip /autograder/source; "
              f"cp /autograder/source/run_autograder /autograder/run_autograder; chmod +x /autograder/run_autograder; "
              f"cp /in/{submission.name} /autograder/submission/; echo '{{}}' > /autograder/submission_metadata.json; "
              f"cd /autograder/source; {run}; cp /autograder/results/results.json /keep/")
    try:
        proc = subprocess.run(["podman", "--runtime", "runc", "run", "--rm", "--init", "--network", "none",
                               "--memory", "4g", "--pids-limit", "512",
                               "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", *options,
                               "-v", f"{inbox}:/in:ro", "-v", f"{keep.resolve()}:/keep", "-e", "TMPDIR=/keep",
                               image, "bash", "-c", script], capture_output=True, text=True, timeout=timeout)
    finally:
        shutil.rmtree(inbox, ignore_errors=True)
    assert proc.returncode == 0, f"{entry} {submission.name}: exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return json.loads((keep / "results.json").read_text())
