"""The grader's first kernel cell (``execute.SETUP_SOURCE``): Otter as a lazy package in grading mode."""

from __future__ import annotations

import json
import subprocess
import sys

from autograder.grading.execute import SETUP_SOURCE

PROBE = """
import json, sys
from otter.check.notebook import Notebook as direct  # by another route than otter.Notebook
direct_mode = {"grading_mode": direct._grading_mode, "check": direct().check("q1")}
import otter
grader = otter.Notebook()
from otter import Notebook
lazy = {"check": grader.check("q1"), "export": grader.export(), "check_all": grader.check_all(),
        "grading_mode": Notebook._grading_mode, "same_class": Notebook is otter.Notebook,
        "api_loaded": "otter.api" in sys.modules, "run_loaded": "otter.run" in sys.modules,
        "direct": direct_mode, "direct_same_class": direct is Notebook}
from otter.test_files import test_case
lazy["test_files_without_api"] = "otter.api" not in sys.modules
version = otter.__version__  # any other name: the whole package
full = {"api_loaded": "otter.api" in sys.modules, "version": version, "logs": hasattr(otter, "logs"),
        "grading_mode": otter.Notebook._grading_mode, "check": otter.Notebook().check("q1")}
print(json.dumps({"lazy": lazy, "full": full}))
"""


def test_setup_cell_loads_only_otters_notebook_until_a_notebook_asks_for_more(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SETUP_SOURCE + PROBE], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    import otter

    assert seen["lazy"] == {"check": None, "export": None, "check_all": None, "grading_mode": True,
                            "same_class": True, "api_loaded": False, "run_loaded": False,
                            "test_files_without_api": True, "direct": {"grading_mode": True, "check": None},
                            "direct_same_class": True}, seen
    assert seen["full"] == {"api_loaded": True, "version": otter.__version__, "logs": True,
                            "grading_mode": True, "check": None}, seen
