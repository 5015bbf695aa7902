"""The pip requirements and the conda environment pin the same packages."""

from __future__ import annotations

import importlib.util
import re

import yaml

from autograder import REPO_ROOT

STUDENT_ONLY = {"jupyterlab"}  # in environment.yml for students, not needed to grade


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*==\s*([^\s;]+)", line)
            assert m, f"every requirement must be pinned with ==, found {line!r}"
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_requirements_and_environment_agree():
    req = _pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = _pins(pip_section)
    missing = {k: v for k, v in req.items() if env_pins.get(k) != v}
    assert not missing, f"environment.yml lacks or pins differently: {missing}"
    extra = set(env_pins) - set(req) - STUDENT_ONLY
    assert not extra, f"environment.yml pins packages requirements.txt does not: {sorted(extra)}"
    assert STUDENT_ONLY <= set(env_pins), "environment.yml must give students JupyterLab"


def test_environment_pins_python_311_from_conda_forge():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert env["channels"] == ["conda-forge"]


def test_required_pins_present():
    req = _pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    assert req["torch"] == "2.14.1" and req["torchvision"] == "0.29.1"
    assert req["otter-grader[grading]"] == "7.0.0"
    for name in ("numpy", "scikit-learn", "matplotlib", "tqdm", "pytest"):
        assert name in req, f"{name} must be pinned"


def _installer():
    spec = importlib.util.spec_from_file_location("install_requirements",
                                                  REPO_ROOT / "scripts" / "install-requirements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_uv_is_given_what_pip_is_configured_with():
    installer = _installer()
    listing = "\n".join([
        ":env:.find-links='/opt/wheels'",
        ":env:.default-timeout='180'",
        "global.cert='/etc/ssl/certs/ca.crt'",
        "global.constraint='/etc/xdg/pip/constraints.txt'",
        "global.extra-index-url='\\nfile:///opt/a/simple\\nfile:///opt/b/simple'",  # one per line in pip.conf
        "global.find-links='/ignored/because/the/environment/wins'",
        "user.index-url='https://mirror.example/simple'",
    ])
    args, env = installer.uv_options(installer.pip_settings(listing))
    assert args[0] == "--compile-bytecode", "a read-only venv in the sandbox needs its bytecode"
    pairs = list(zip(args[1::2], args[2::2]))
    assert pairs[0] == ("--index-strategy", "unsafe-best-match"), "pip's choice: the best version"
    assert ("--extra-index-url", "file:///opt/a/simple") in pairs
    assert ("--extra-index-url", "file:///opt/b/simple") in pairs
    assert ("--find-links", "/opt/wheels") in pairs
    assert ("--find-links", "/ignored/because/the/environment/wins") not in pairs
    assert ("--constraint", "/etc/xdg/pip/constraints.txt") in pairs
    assert ("--index-url", "https://mirror.example/simple") in pairs
    assert env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca.crt", "UV_HTTP_TIMEOUT": "180"}
