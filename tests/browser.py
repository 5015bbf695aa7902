"""Headless Chromium for tests that load a page: where it is, what the page's DOM became, its JS errors.

Tests that need it call ``chromium_or_skip()``: without Chromium they are skipped with the reason,
except where ``REQUIRE_CHROMIUM=1`` is set (``.ci/run`` sets it and installs Chromium), where they
fail, so CI never passes by skipping them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]


def chromium_or_skip() -> str:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    reason = "Chromium is not installed (apt-get install chromium)"
    if os.environ.get("REQUIRE_CHROMIUM") == "1":
        pytest.fail(f"{reason}, and REQUIRE_CHROMIUM=1 says this run must check the report in a browser")
    pytest.skip(f"{reason}; CI sets REQUIRE_CHROMIUM=1 and installs it")


def load(page: Path, fragment: str = "", timeout: float = 120) -> tuple[str, list[str]]:
    """The DOM of ``page`` after its scripts ran, and the console errors Chromium logged."""
    proc = subprocess.run([chromium_or_skip(), *FLAGS, "--dump-dom", page.resolve().as_uri() + fragment],
                          capture_output=True, text=True, timeout=timeout)
    errors = [line for line in proc.stderr.splitlines()
              if ":CONSOLE" in line and re.search(r"Uncaught|Error|error", line)]
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr[-2000:]
    return proc.stdout, errors


def screenshot(page: Path, png: Path, size: str = "1200,2000", timeout: float = 120) -> Path:
    """A PNG of ``page`` as Chromium draws it at ``size`` (width,height)."""
    proc = subprocess.run([chromium_or_skip(), *FLAGS, f"--screenshot={png}", f"--window-size={size}",
                           "--hide-scrollbars", page.resolve().as_uri()], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]
    return png
