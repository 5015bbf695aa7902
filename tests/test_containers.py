"""Containers without a Docker engine: the image definitions, the `docker run` line, the device choice."""

from __future__ import annotations

import csv
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from autograder import REPO_ROOT, course_checks, ship
from autograder.grading import batch, container

#: The image's venv is filled as the host's is (uv given pip's settings), with no uv cache in the layer.
INSTALLER = "scripts/install-requirements.py"
INSTALL = f"UV_NO_CACHE=1 python {INSTALLER} requirements.txt"
DOCKERFILES = {"cpu": REPO_ROOT / "autograder/containers/Dockerfile.cpu",
               "gpu": REPO_ROOT / "autograder/containers/Dockerfile.gpu"}
PIN = re.compile(r"([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*==\s*([^\s;]+)")


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", "\n".join(l for l in path.read_text().splitlines() if not l.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines() if line.strip()]


def _pins(lines) -> dict[str, str]:
    return {m.group(1).lower(): m.group(2) for line in lines
            if (m := PIN.fullmatch(line.split("#", 1)[0].strip()))}


def _requirements() -> dict[str, str]:
    return _pins((REPO_ROOT / "requirements.txt").read_text().splitlines())


# --- the image definitions --------------------------------------------------------------------

def _base_image(kind: str) -> str:
    """The image FROM names: a pinned default through ``ARG BASE_IMAGE`` (set before FROM)."""
    steps = _instructions(DOCKERFILES[kind])
    froms = [args for ins, args in steps if ins == "FROM"]
    assert froms == ["${BASE_IMAGE}"], f"Dockerfile.{kind}: one stage, FROM ${{BASE_IMAGE}}: {froms}"
    first_from = next(i for i, (ins, _) in enumerate(steps) if ins == "FROM")
    defaults = [a.split("=", 1)[1] for ins, a in steps[:first_from] if ins == "ARG" and a.startswith("BASE_IMAGE=")]
    assert len(defaults) == 1, f"Dockerfile.{kind}: ARG BASE_IMAGE=... must come before FROM, with a default"
    return defaults[0]


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_every_base_image_is_pinned_by_tag(kind):
    image = _base_image(kind)
    assert "$" not in image, f"Dockerfile.{kind}: the default base {image} comes from another argument"
    name, _, tag = image.rpartition(":")
    assert name and tag and "/" not in tag, f"Dockerfile.{kind}: base image {image} has no tag"
    assert tag != "latest", f"Dockerfile.{kind}: base image {image} uses latest"
    assert re.search(r"\d+\.\d+\.\d+", tag), f"Dockerfile.{kind}: {image} is not pinned to a patch release"


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_image_python_matches_the_environment(kind):
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    conda_python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    image = _base_image(kind)
    assert image.startswith(f"python:{conda_python.split('=')[1]}."), (image, conda_python)
    # a bare Debian base gets Debian's Python 3.11 from apt; both put the pins into one venv
    runs = " ".join(args for ins, args in _instructions(DOCKERFILES[kind]) if ins == "RUN")
    assert "command -v python3.11 >/dev/null || echo python3 python3-venv" in runs
    assert "python3.11 -m venv /opt/venv" in runs


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_image_installs_exactly_the_pinned_requirements(kind):
    steps = _instructions(DOCKERFILES[kind])
    assert ("COPY", "requirements.txt /course/requirements.txt") in steps
    assert ("COPY", f"{INSTALLER} /course/{INSTALLER}") in steps
    installs = [args for ins, args in steps if ins == "RUN" and ("pip install" in args or INSTALLER in args)]
    assert installs == [INSTALL], f"Dockerfile.{kind} must install requirements.txt and nothing else: {installs}"
    # any pin written into the Dockerfile itself (none today) must agree with requirements.txt
    text = DOCKERFILES[kind].read_text()
    written = {m.group(1).lower(): m.group(2) for m in PIN.finditer(text)}
    req = _requirements()
    assert all(req.get(k) == v for k, v in written.items() if k in req), written
    # and requirements.txt is what environment.yml pins (tests/test_environment.py checks it too)
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    env_pins = _pins(next(d["pip"] for d in env["dependencies"] if isinstance(d, dict)))
    assert {k: env_pins.get(k) for k in req} == req


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_image_has_fashion_mnist_offline(kind):
    runs = " ".join(args for ins, args in _instructions(DOCKERFILES[kind]) if ins == "RUN")
    assert re.search(r"apt-get install [^&]*dataset-fashion-mnist=\S+", runs), "the Debian data set, pinned"
    assert "python -m autograder data" in runs and "python -m autograder build" in runs
    env = " ".join(args for ins, args in _instructions(DOCKERFILES[kind]) if ins == "ENV")
    assert "FASHION_MNIST_DIR=/course/data" in env


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_entry_is_python_m_autograder_grade(kind):
    cmds = [args for ins, args in _instructions(DOCKERFILES[kind]) if ins in ("CMD", "ENTRYPOINT")]
    assert cmds == ['["python", "-m", "autograder", "grade"]']
    help_text = subprocess.run([sys.executable, "-m", "autograder", "grade", "--help"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=120)
    assert help_text.returncode == 0 and "--docker" in help_text.stdout and "--gpus" in help_text.stdout
    assert (REPO_ROOT / "autograder/grading/run_one.py").is_file()


def test_cpu_and_gpu_images_share_every_step_but_the_nvidia_settings():
    cpu, gpu = _instructions(DOCKERFILES["cpu"]), _instructions(DOCKERFILES["gpu"])
    nvidia = [k for k, (i, a) in enumerate(gpu) if i == "ENV" and "NVIDIA_VISIBLE_DEVICES" in a]
    assert len(nvidia) == 1, "one ENV holds the NVIDIA settings"
    # every layer before the NVIDIA settings is the CPU image's, so a builder shares them all
    assert gpu[:nvidia[0]] == cpu[:nvidia[0]] and gpu[nvidia[0] + 1:] == cpu[nvidia[0]:]
    gpu_env = gpu[nvidia[0]][1]
    assert "NVIDIA_VISIBLE_DEVICES=all" in gpu_env and "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in gpu_env
    assert "--gpus all" in DOCKERFILES["gpu"].read_text(), "the GPU image documents its run command"


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_a_code_change_reuses_the_wheel_layer(kind):
    """requirements.txt, the installer and its run come before the rest of the repository is copied in."""
    steps = _instructions(DOCKERFILES[kind])
    install = steps.index(("RUN", INSTALL))
    copy_all = steps.index(("COPY", ". /course"))
    assert steps.index(("COPY", "requirements.txt /course/requirements.txt")) < install < copy_all
    assert steps.index(("COPY", f"{INSTALLER} /course/{INSTALLER}")) < install
    # only where pip finds files may vary, and those arguments are declared after the apt layer
    args = [a.split("=")[0] for i, a in steps if i == "ARG"]
    assert args == ["BASE_IMAGE", "PIP_CERT", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"]
    assert all(steps.index(("ARG", f"{a}=")) > steps.index(("WORKDIR", "/course")) for a in args[1:])


def test_build_context_leaves_out_local_state():
    ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "autograder/dist", "graded", "data"} <= ignored


# --- the docker run command line --------------------------------------------------------------

def _line(tmp_path, runner, env=None, timeout=600.0):
    sub = tmp_path / "sub dir" / "hw.ipynb"
    sub.parent.mkdir(parents=True, exist_ok=True)
    sub.write_text("{}")
    zip_path = tmp_path / "a-autograder.zip"
    out = tmp_path / "scratch" / "out"
    return runner(zip_path, sub, out, env or {}, timeout), sub, zip_path, out


def _option(cmd, flag):
    return [cmd[i + 1] for i, c in enumerate(cmd[:-1]) if c == flag]


def test_docker_line_isolates_the_submission(tmp_path):
    cmd, sub, zip_path, out = _line(tmp_path, container.DockerRunner())
    assert cmd[:2] == ["docker", "run"] and "--rm" in cmd
    assert _option(cmd, "--network") == ["none"]
    assert _option(cmd, "--memory") == ["4g"] and _option(cmd, "--memory-swap") == ["4g"]
    assert _option(cmd, "--cpus") == ["2"] and _option(cmd, "--pids-limit") == ["512"]
    assert "--gpus" not in cmd
    mounts = _option(cmd, "-v")
    assert f"{zip_path}:/grading/autograder.zip:ro" in mounts
    assert f"{sub}:/grading/submission/hw.ipynb:ro" in mounts
    assert f"{out}:/grading/out" in mounts and out.is_dir(), "results come back through a writable mount"
    image = cmd.index("dl-autograded:cpu")
    assert cmd[image + 1:image + 12] == ["timeout", "-s", "KILL", "605", "python", "-m", "autograder.grading.run_one",
                                         "/grading/autograder.zip", "/grading/submission/hw.ipynb", "/grading/out",
                                         "--require-sandbox"]
    assert "--in-container" not in cmd, "the kernel runs in bubblewrap inside the container, as on the host"
    owner = [] if os.getuid() == 0 else ["--owner", f"{os.getuid()}:{os.getgid()}"]
    assert cmd[image + 12:image + 12 + len(owner)] == owner, "Docker's root inside hands the results back"
    kernel = cmd[image + 12 + len(owner):]
    assert kernel[:2] == ["--readable", "/course/data"], "the kernel sees the image's data folder, read-only"
    kernel = kernel[2:]
    assert kernel[::3] == ["--env"] * (len(kernel) // 3) and len(kernel) % 3 == 0
    kernel = dict(zip(kernel[1::3], kernel[2::3]))
    assert kernel["PATH"].startswith("/opt/venv/bin:") and kernel["FASHION_MNIST_DIR"] == "/course/data"
    assert "OMP_NUM_THREADS" not in kernel, "nothing the host did not set"


def test_docker_line_lets_bubblewrap_start_as_root_inside(tmp_path):
    """run_one runs as root in the container (no --user) with what bwrap needs; Docker also lifts seccomp."""
    cmd, *_ = _line(tmp_path, container.DockerRunner())
    before_image = cmd[:cmd.index("dl-autograded:cpu")]
    assert "--user" not in before_image and "--userns" not in before_image
    assert _option(before_image, "--cap-add") == ["SYS_ADMIN", "NET_ADMIN"]
    assert _option(before_image, "--security-opt") == ["systempaths=unconfined", "apparmor=unconfined",
                                                       "seccomp=unconfined"]
    podman = container.DockerRunner(docker="podman", engine="podman")
    cmd, *_ = _line(tmp_path, podman)
    before_image = cmd[:cmd.index("dl-autograded:cpu")]
    assert _option(before_image, "--cap-add") == ["SYS_ADMIN", "NET_ADMIN"] and "--user" not in before_image
    assert _option(before_image, "--security-opt") == ["systempaths=unconfined", "apparmor=unconfined"]
    assert "--owner" not in cmd, "podman's root inside is the caller (rootful: root; rootless: the caller)"


def test_docker_line_with_gpus_limits_and_environment(tmp_path):
    data = tmp_path / "fmnist"
    data.mkdir()
    runner = container.DockerRunner(image=container.IMAGES[True], memory="8g", cpus=1.5, gpus=True)
    env = {"FASHION_MNIST_DIR": str(data), "GRADING_DEVICE": "cuda:1", "OMP_NUM_THREADS": "3",
           "PYTHONPATH": "/host/only", "TMPDIR": "/host/tmp"}
    cmd, *_ = _line(tmp_path, runner, env, timeout=59.5)
    assert _option(cmd, "--gpus") == ["all"]
    assert _option(cmd, "--memory") == ["8g"] and _option(cmd, "--cpus") == ["1.5"]
    assert f"{data}:/data/fashion-mnist:ro" in _option(cmd, "-v")
    envs = _option(cmd, "-e")
    assert {"FASHION_MNIST_DIR=/data/fashion-mnist", "GRADING_DEVICE=cuda:1", "OMP_NUM_THREADS=3"} <= set(envs)
    assert not any(e.startswith(("PYTHONPATH=", "TMPDIR=/host")) for e in envs), "host paths stay on the host"
    assert "dl-autograded:gpu" in cmd and cmd[cmd.index("timeout") + 3] == "65"
    start = cmd.index("--require-sandbox")
    assert cmd[start + 1] == "--gpu", "bwrap binds the NVIDIA devices into the kernel's view"
    kernel = {cmd[i + 1]: cmd[i + 2] for i in range(start, len(cmd) - 2) if cmd[i] == "--env"}
    assert kernel["OMP_NUM_THREADS"] == "3" and kernel["GRADING_DEVICE"] == "cuda:1", "the kernel gets them too"
    assert kernel["FASHION_MNIST_DIR"] == "/data/fashion-mnist" and "PYTHONPATH" not in kernel
    assert _option(cmd[start:], "--readable") == ["/data/fashion-mnist"]


def test_podman_line_adds_the_runtime_and_rlimits_this_machine_needs(tmp_path, monkeypatch):
    monkeypatch.setattr(container.shutil, "which", lambda name: f"/usr/bin/{name}")
    runner = container.DockerRunner(docker="podman", engine="podman", global_flags=tuple(container.podman_global_flags()))
    cmd, *_ = _line(tmp_path, runner)
    assert cmd[:4] == ["podman", "--runtime", "runc", "run"]
    assert _option(cmd, "--ulimit") == ["nofile=4096:4096", "nproc=4096:4096"]
    assert _option(cmd, "--network") == ["none"] and _option(cmd, "--pids-limit") == ["512"]
    assert "--userns" not in cmd and "--user" not in cmd, "run_one is root inside; the kernel is not"
    gpu = container.DockerRunner(docker="podman", engine="podman", gpus=True)
    cmd, *_ = _line(tmp_path, gpu)
    assert _option(cmd, "--device") == ["nvidia.com/gpu=all"] and "--gpus" not in cmd, "podman's GPUs come through CDI"
    monkeypatch.setattr(container.shutil, "which", lambda name: None)
    assert container.podman_global_flags() == [], "without runc, podman keeps its own runtime"


def test_grade_flags_choose_the_runner(monkeypatch):
    import argparse

    parser = argparse.ArgumentParser()
    container.add_arguments(parser)
    assert container.runner_from_args(parser.parse_args([])) is None
    asked, checked = [], []

    def fake_make_runner(engine=None, wait=20.0, **settings):
        asked.append(engine)
        return container.DockerRunner(docker=engine or "docker", engine=engine or "docker", **settings)

    monkeypatch.setattr(container, "make_runner", fake_make_runner)
    monkeypatch.setattr(container, "check_image", lambda runner, wait=20.0: checked.append(runner.image))
    monkeypatch.setattr(container, "check_sandbox", lambda runner, wait=120.0: checked.append("sandbox"))
    r = container.runner_from_args(parser.parse_args(["--docker", "--gpus", "--memory", "6g", "--cpus", "3"]))
    assert (r.image, r.gpus, r.memory, r.cpus) == ("dl-autograded:gpu", True, "6g", 3.0)
    assert asked == [None], "no --engine: autodetect"
    assert checked == ["dl-autograded:gpu", "sandbox"], "the image and its sandbox are checked before any grading"
    r = container.runner_from_args(parser.parse_args(["--docker", "--engine", "podman"]))
    assert (r.engine, r.image, asked[-1]) == ("podman", "dl-autograded:cpu", "podman")
    with pytest.raises(container.DockerUnavailable, match="--gpus only applies with --docker"):
        container.runner_from_args(parser.parse_args(["--gpus"]))
    with pytest.raises(container.DockerUnavailable, match="--engine only applies with --docker"):
        container.runner_from_args(parser.parse_args(["--engine", "podman"]))


def test_autodetection_takes_the_first_engine_that_answers(tmp_path, monkeypatch):
    """A docker client whose daemon does not answer is passed over for a podman that does."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, body in {"docker": "exit 1", "podman": 'echo "$@" >> "$0.log"; echo runc'}.items():
        (bindir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bindir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    runner = container.make_runner(image="x:cpu")
    assert (runner.engine, runner.docker, runner.image) == ("podman", "podman", "x:cpu")
    assert (bindir / "podman.log").read_text().split() == ["info", "--format", "{{.Host.OCIRuntime.Name}}"]
    (bindir / "podman").write_text("#!/bin/sh\nexit 125\n")
    with pytest.raises(container.DockerUnavailable, match="neither a Docker engine .* nor podman"):
        container.make_runner()
    with pytest.raises(container.DockerUnavailable, match="`podman info` fails here"):
        container.make_runner("podman")


def _grade_docker(env, *extra):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", "--docker", *extra], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})


def _one_sentence(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    assert lines[0].endswith(".") and lines[0].count(". ") == 0, text
    return lines[0]


def test_docker_without_an_engine_fails_in_one_sentence(tmp_path):
    proc = _grade_docker({"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}, "--engine", "docker")
    assert proc.returncode == 2 and not proc.stdout
    line = _one_sentence(proc.stderr)
    assert "Docker engine" in line and "without --docker" in line


def test_docker_on_this_machine_fails_in_one_sentence_when_no_engine_answers():
    if subprocess.run(["docker", "version"], capture_output=True, timeout=30).returncode == 0:
        pytest.skip("a Docker engine answers here")
    proc = _grade_docker({}, "--gpus", "--engine", "docker")
    assert proc.returncode == 2 and "Docker engine" in _one_sentence(proc.stderr)


def test_docker_without_the_client_fails_in_one_sentence(tmp_path):
    proc = _grade_docker({"PATH": str(tmp_path)}, "--engine", "docker")
    assert proc.returncode == 2 and "not on PATH" in _one_sentence(proc.stderr)
    proc = _grade_docker({"PATH": str(tmp_path)})  # autodetect: neither engine is there
    assert proc.returncode == 2 and "neither a Docker engine" in _one_sentence(proc.stderr)


def test_a_missing_image_is_named_with_the_command_that_builds_it(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "podman").write_text("#!/bin/sh\nexit 1\n")
    (bindir / "podman").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    with pytest.raises(container.DockerUnavailable, match=r"podman image dl-autograded:gpu is missing; "
                                                        r"build it with `scripts/build-image.sh gpu`"):
        container.check_image(container.DockerRunner(image="dl-autograded:gpu", docker="podman", engine="podman"))


def test_a_container_where_bubblewrap_cannot_start_stops_docker_in_one_sentence(tmp_path, monkeypatch):
    """The probe's answer (here a stand-in engine that prints bwrap's refusal) stops --docker before grading."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "podman").write_text('#!/bin/sh\necho "$@" > "$0.log"\n'
                                  'echo "bwrap could not start a sandbox: bwrap: Can\'t mount proc on /newroot/proc. '
                                  'Operation not permitted"\n')
    (bindir / "podman").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    runner = container.DockerRunner(image="x:cpu", docker="podman", engine="podman")
    with pytest.raises(container.DockerUnavailable) as raised:
        container.check_sandbox(runner)
    line = _one_sentence(str(raised.value))
    assert "bubblewrap cannot start in a podman container of x:cpu" in line and "Can't mount proc" in line
    assert "without --docker" in line
    probe = (bindir / "podman.log").read_text()
    assert "--cap-add SYS_ADMIN" in probe and "x:cpu python -c" in probe, "it probes with the grading line's options"
    (bindir / "podman").write_text("#!/bin/sh\nexit 0\n")  # prints nothing: the sandbox starts
    container.check_sandbox(runner)
    (bindir / "podman").write_text("#!/bin/sh\necho 'no such image' >&2; exit 125\n")
    with pytest.raises(container.DockerUnavailable, match=r"probe container exited 125 \(no such image\)"):
        container.check_sandbox(runner)


def test_run_one_refuses_to_grade_without_the_sandbox_it_requires(a1, tmp_path):
    """--require-sandbox with bubblewrap off: run_one stops before the notebook runs, saying why."""
    proc = subprocess.run([sys.executable, "-m", "autograder.grading.run_one", str(a1.autograder_zip),
                           str(a1.solution_notebook), str(tmp_path / "scratch"), "--notebook-name",
                           a1.student_notebook.name, "--require-sandbox", "--no-sandbox"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip() == (f"run_one --require-sandbox: not grading {a1.solution_notebook.name}, "
                                   "because bubblewrap is turned off.")
    assert not (tmp_path / "scratch" / "out" / "results.pkl").exists()


# --- the thin wrapper, end to end, with a stand-in for `docker run` -----------------------------

FAKE_DOCKER = '''#!{python}
"""Stand-in for `docker run`: logs the line, maps the mounts back to host paths, runs the command."""
import os, subprocess, sys
args = sys.argv[1:]
open(os.environ["FAKE_DOCKER_LOG"], "a").write(repr(args) + "\\n")
assert args[0] == "run"
i, mounts, env = 1, {{}}, {{}}
while args[i].startswith("-"):
    if args[i] in ("--rm", "--init"):
        i += 1
        continue
    flag, value = args[i], args[i + 1]
    i += 2
    if flag == "-v":
        host, inside = value.split(":")[:2]
        mounts[inside] = host
    elif flag == "-e":
        key, _, val = value.partition("=")
        env[key] = mounts.get(val, val)
command = [mounts.get(a, a) for a in args[i + 1:]]
command = [sys.executable if a == "python" else a for a in command]
env = {{**env, "PATH": os.environ["PATH"], "PYTHONPATH": {repo!r}}}
sys.exit(subprocess.call(command, env=env))
'''


@pytest.mark.slow
def test_batch_grades_through_the_docker_runner_like_the_local_path(a1, tmp_path):
    """The runner changes only how run_one is launched: same score, CSV and feedback."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "docker"
    fake.write_text(FAKE_DOCKER.format(python=sys.executable, repo=str(REPO_ROOT)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "docker-calls.txt"
    os.environ["FAKE_DOCKER_LOG"] = str(log)
    try:
        outcomes = batch.grade(a1, [a1.solution_notebook], tmp_path / "out", workers=1, timeout=300,
                               quiet=True, runner=container.DockerRunner(docker=str(fake)))
    finally:
        del os.environ["FAKE_DOCKER_LOG"]
    (o,) = outcomes
    assert o.status == "Completed" and o.results.total == o.results.possible > 0, o.status
    calls = [eval(line) for line in log.read_text().splitlines()]  # noqa: S307 - our own repr()
    assert len(calls) == 1 and calls[0][calls[0].index("--network") + 1] == "none"
    with open(tmp_path / "out" / "final_grades.csv", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert rows[a1.solution_notebook.name]["grading_status"] == "Completed"
    assert f"python -m autograder.grading.run_one /grading/autograder.zip /grading/submission/" \
           f"{a1.solution_notebook.name} /grading/out --require-sandbox" in shlex.join(calls[0])
    assert "--in-container" not in calls[0] and "--slot" in calls[0]


# --- device selection -------------------------------------------------------------------------

def test_grading_device_prefers_cuda_and_obeys_the_override(monkeypatch):
    monkeypatch.delenv("GRADING_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert course_checks.grading_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert course_checks.grading_device() == torch.device("cpu")
    monkeypatch.setenv("GRADING_DEVICE", "cuda:1")
    assert course_checks.grading_device() == torch.device("cuda:1")
    monkeypatch.setenv("GRADING_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert course_checks.grading_device() == torch.device("cpu")


def test_nothing_in_the_grader_forces_cpu():
    sources = [*REPO_ROOT.glob("autograder/**/*.py"), *REPO_ROOT.glob("solutions/*/*.ipynb"),
               *REPO_ROOT.glob("solutions/*/*.py")]
    # setting CUDA_VISIBLE_DEVICES hides GPUs; passing the instructor's value through does not
    forcing = re.compile(r"CUDA_VISIBLE_DEVICES['\"]?\]?\s*=(?!=)|set_default_device\(\s*['\"]cpu|device\s*=\s*['\"]cpu['\"]")
    found = [f"{p.relative_to(REPO_ROOT)}: {m.group(0)}" for p in sources for m in forcing.finditer(p.read_text())]
    assert not found, found
    for a in REPO_ROOT.glob("assignments/*/course_checks.py"):
        assert a.read_text() == ship.checks_source(), f"{a} is stale"


@pytest.mark.skipif(os.geteuid() != 0, reason="handing files to another owner needs root")
def test_run_one_hands_what_it_leaves_to_the_owner_without_following_links(tmp_path):
    """`run_one --owner`: Docker's root inside the container gives the results back to the caller."""
    from autograder.grading import run_one

    outside = tmp_path / "outside.txt"
    outside.write_text("not ours to give")
    scratch = tmp_path / "scratch"
    (scratch / "out").mkdir(parents=True)
    (scratch / "out" / "results.pkl").write_bytes(b"x")
    (scratch / "out" / "link").symlink_to(outside)
    run_one.give_to(scratch, 4321, 4322)
    for path in (scratch, scratch / "out", scratch / "out" / "results.pkl", scratch / "out" / "link"):
        st = path.lstat()
        assert (st.st_uid, st.st_gid) == (4321, 4322), path
    assert (outside.stat().st_uid, outside.stat().st_gid) == (0, 0), "a link's target is never handed over"
