#!/usr/bin/env python3
"""Install requirement files into the environment of the Python that runs this script.

uv unpacks wheels in parallel and compiles the bytecode on every core: torch's 5.5 GB CUDA
build takes about 45 s here, against 100-150 s with pip. uv is given what pip is configured
with (indexes, find-links, constraint files, CA bundle, timeout), so it picks the same files;
where a version is on several indexes, the configured extra indexes win, as with pip here.
The bytecode matters: the sandbox mounts the venv read-only, so a kernel cannot write it.
When uv cannot be installed or fails, pip installs as before.

Usage: .venv/bin/python scripts/install-requirements.py requirements.txt [more.txt ...]
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
import time

UV = "uv==0.13.10"
PIP = [sys.executable, "-m", "pip"]
# pip's variants, lowest priority first; the environment overrides every file, as in pip
PRIORITY = {"global": 0, "install": 0, "user": 1, "site": 2, ":env:": 3}


def pip_settings(listing: str) -> dict[str, list[str]]:
    """Parse `pip config list` into {option: values}, keeping the highest-priority source."""
    best: dict[str, tuple[int, list[str]]] = {}
    for line in listing.splitlines():
        m = re.fullmatch(r"(.+)\.([a-z-]+)=('.*')", line.strip())  # pip prints each value as a repr
        if not m:
            continue
        rank = PRIORITY.get(m.group(1), 0)
        if m.group(2) not in best or rank >= best[m.group(2)][0]:
            best[m.group(2)] = (rank, ast.literal_eval(m.group(3)).split())
    return {key: values for key, (_, values) in best.items()}


def uv_options(settings: dict[str, list[str]]) -> tuple[list[str], dict[str, str]]:
    """pip's settings as uv arguments and environment variables."""
    args = ["--compile-bytecode", "--index-strategy", "unsafe-best-match"]
    for url in settings.get("index-url", [])[:1]:
        args += ["--index-url", url]
    for key, flag in (("extra-index-url", "--extra-index-url"), ("find-links", "--find-links"),
                      ("constraint", "--constraint")):
        for value in settings.get(key, []):
            args += [flag, value]
    env = {}
    for cert in settings.get("cert", [])[:1]:
        env["SSL_CERT_FILE"] = cert
    for timeout in settings.get("default-timeout", [])[:1]:
        env["UV_HTTP_TIMEOUT"] = timeout
    return args, env


def _files(requirements: list[str]) -> list[str]:
    return [x for r in requirements for x in ("-r", r)]


def with_uv(requirements: list[str]) -> bool:
    """Install with uv; False when uv is not available or its install failed."""
    got = subprocess.run(PIP + ["install", "--quiet", UV], capture_output=True, text=True)
    if got.returncode != 0:
        why = (got.stderr.strip().splitlines() or ["no message"])[-1]
        print(f"could not install {UV} ({why}); installing with pip", file=sys.stderr)
        return False
    listing = subprocess.run(PIP + ["config", "list"], capture_output=True, text=True).stdout
    args, env = uv_options(pip_settings(listing))
    cmd = [sys.executable, "-m", "uv", "pip", "install", "--quiet", "--python", sys.executable]
    cmd += args + _files(requirements)
    start = time.monotonic()
    if subprocess.run(cmd, env={**os.environ, **env}).returncode != 0:
        print(f"uv failed: {shlex.join(cmd)}\ninstalling with pip instead", file=sys.stderr)
        return False
    print(f"installed {', '.join(requirements)} with uv in {time.monotonic() - start:.0f} s")
    return True


def main(requirements: list[str]) -> int:
    if not requirements:
        sys.exit(__doc__)
    if os.environ.get("INSTALL_WITH") != "pip" and with_uv(requirements):
        return 0
    cmd = PIP + ["install", "--quiet", "--disable-pip-version-check"]
    return subprocess.run(cmd + _files(requirements)).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
