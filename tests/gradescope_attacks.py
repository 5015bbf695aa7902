"""Attacks on the grader's Gradescope and container paths, as notebook cells (shared by
test_gradescope_sealed.py and test_podman.py). Each cell prints one tagged JSON line that
``printed`` reads back from the executed notebook."""

from __future__ import annotations

import json
from pathlib import Path

RUNNER_REPLACED = '''from otter.test_files import exception_test
from otter.test_files.abstract_test import TestCaseResult

def _always_passes(self, global_environment):
    """Every test case of every file passes, whatever the notebook computed."""
    self.test_case_results = [
        TestCaseResult(test_case=tc, message="passed", passed=True)
        for tc in self.test_cases
    ]

exception_test.ExceptionTestFile.run = _always_passes
print("Otter's test runner replaced")'''


HUNT = '''import json, os
wanted = ("expected.pt", "q1.py", "otter_config.json", "cases.py")
found = []
for root in ["/autograder", "/grading", "/keep", "/course", "/tmp", os.path.dirname(os.getcwd()), "/"]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in ("/proc", "/sys", "/dev", "/usr")]
        found += [os.path.join(dirpath, f) for f in filenames if f in wanted or f.endswith("-autograder.zip")]
readable = []
for path in dict.fromkeys(found):
    try:
        with open(path, "rb") as f:
            f.read(1)
        readable.append(path)
    except OSError:
        pass
print("HUNT " + json.dumps(readable))
try:
    with open("/keep/hunt.json", "w") as f:
        json.dump(readable, f)
except OSError:
    pass'''



HARVEST = '''import json, os, sys
# the paths on every process's command line (the grader's name its zip and scratch), their folders
# and the two above, searched for anything that looks like the hidden parts
seen, readable = set(), []
skip = (sys.prefix, sys.base_prefix, "/usr", "/proc", "/sys", "/dev")
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\\0")
    except OSError:
        continue
    for arg in args:
        path = arg.decode(errors="replace")
        if path.startswith("/") and not path.startswith(skip):
            seen.add(path)
            seen.update(os.path.dirname(path).rsplit("/", k)[0] for k in range(1, 3))
candidates = set()
for folder in sorted(p for p in seen if p and p != "/"):
    candidates.add(folder)
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not os.path.join(dirpath, d).startswith(skip)][:200]
        candidates.update(os.path.join(dirpath, f) for f in filenames)
        if len(candidates) > 20000:
            break
def hidden(path):
    name = os.path.basename(path)
    return (name in ("expected.pt", "otter_config.json", "results.pkl") or name.endswith("autograder.zip")
            or (name.startswith("q") and name.endswith(".py") and os.path.basename(os.path.dirname(path)) == "tests"))
tried = sorted(p for p in candidates if hidden(p))
for path in tried:
    try:
        with open(path, "rb") as f:
            f.read(1)
        readable.append(path)
    except OSError:
        pass
print("HARVEST " + json.dumps({"tried": tried, "readable": readable}))'''


DAEMON = '''import json, os, time
child = os.fork()
if child == 0:  # a grandchild in its own session, orphaned before the cell ends: it outlives the kernel
    os.setsid()
    if os.fork() == 0:
        os.close(1), os.close(2)
        time.sleep(900)
    os._exit(0)
os.waitpid(child, 0)
time.sleep(0.5)
print("DAEMON " + json.dumps(os.getuid()))'''


CELLS = {"runner_replaced": RUNNER_REPLACED, "hunt": HUNT, "harvest": HARVEST, "daemon": DAEMON}


def attacks(folder: Path, names: tuple[str, ...] = ("runner_replaced", "hunt", "patch_otter", "overwrite_grader")
            ) -> dict[str, Path]:
    """Blank notebooks with one attack cell each (``CELLS``: the 12-line cell that replaces Otter's
    test runner, a hunt for the hidden parts in every folder but /proc, /sys, /dev and /usr, a harvest
    of the paths on every command line, a daemon that outlives the kernel) or catalogue attacks."""
    import nbformat
    from hostile import cases

    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for name in names:
        if name in CELLS:
            nb = cases.blank_notebook()
            nb.cells.insert(2, nbformat.v4.new_code_cell(CELLS[name]))
            made[name] = cases.write(nb, folder, name)
        else:
            made[name] = cases.BY_NAME[name].build(folder)
        made[name].chmod(0o644)
    return made


def printed_lines(executed: Path) -> list[str]:
    """Every line the cells of an executed notebook printed. A stream's text may arrive in several
    outputs, split anywhere (even mid-line), so each cell's outputs of one stream are joined first."""
    import nbformat

    lines = []
    for cell in nbformat.read(executed, as_version=4).cells:
        for stream in ("stdout", "stderr"):
            lines += "".join(str(o.get("text", "")) for o in cell.get("outputs", [])
                             if o.get("output_type") == "stream" and o.get("name") == stream).splitlines()
    return lines


def printed(executed: Path, tag: str):
    """The JSON an attack cell printed after ``tag`` in the executed notebook."""
    lines = [line for line in printed_lines(executed) if line.startswith(tag + " ")]
    assert len(lines) == 1, f"the {tag} cell printed {lines}"
    return json.loads(lines[0][len(tag) + 1:])


def hunted(executed: Path) -> list[str]:
    """What the hunt cell could read."""
    return printed(executed, "HUNT")
