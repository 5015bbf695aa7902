"""Broken and hostile submissions for assignment 01-softmax-cross-entropy.

Every case is built from the built solution notebook (run `make build` first), so a case
differs from a full-marks submission only by what it breaks. Nothing here runs a notebook.
"""

from __future__ import annotations

import base64
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat
from nbformat import NotebookNode

REPO_ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01-softmax-cross-entropy"
SOLUTION = REPO_ROOT / "autograder" / "dist" / ASSIGNMENT / "softmax_cross_entropy-solution.ipynb"
BLANK = REPO_ROOT / "assignments" / ASSIGNMENT / "softmax_cross_entropy.ipynb"
NOTEBOOK_NAME = "softmax_cross_entropy.ipynb"


@dataclass(frozen=True)
class Case:
    name: str  # short snake_case id, also the submission file stem
    category: str  # "control" | "broken file" | "broken notebook" | "never finishes" | "resource abuse" | "attack"
    description: str  # one sentence
    build: Callable[[Path], Path]  # writes the submission into the given folder, returns its path


# --- helpers ---------------------------------------------------------------------------------


def solution_notebook() -> NotebookNode:
    """A fresh copy of the built solution notebook."""
    if not SOLUTION.exists():
        raise FileNotFoundError(f"{SOLUTION} is missing: build the assignment first (make build)")
    return nbformat.read(SOLUTION, as_version=4)


def blank_notebook() -> NotebookNode:
    return nbformat.read(BLANK, as_version=4)


def _defining(nb: NotebookNode, function: str) -> int:
    """Index of the code cell that defines `function`."""
    pattern = re.compile(rf"^def {re.escape(function)}\(", re.MULTILINE)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and pattern.search(cell.source):
            return i
    raise KeyError(f"no cell defines {function}")


def insert_cell(nb: NotebookNode, after_function: str, source: str) -> NotebookNode:
    """Insert a code cell right after the cell defining `after_function`."""
    nb.cells.insert(_defining(nb, after_function) + 1, nbformat.v4.new_code_cell(source))
    return nb


def replace_function(nb: NotebookNode, name: str, new_source: str) -> NotebookNode:
    """Replace the whole source of the cell defining `name`."""
    nb.cells[_defining(nb, name)].source = new_source
    return nb


def delete_cell(nb: NotebookNode, source: str) -> NotebookNode:
    """Delete the code cell whose source is exactly `source`."""
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and c.source.strip() == source)]
    return nb


def write(nb: NotebookNode, folder: Path, name: str) -> Path:
    path = Path(folder) / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def write_bytes(data: bytes, folder: Path, filename: str) -> Path:
    path = Path(folder) / filename
    path.write_bytes(data)
    return path


def write_zip(folder: Path, name: str, entries: dict[str | zipfile.ZipInfo, bytes]) -> Path:
    path = Path(folder) / f"{name}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry, data in entries.items():
            zf.writestr(entry, data)
    return path


def notebook_bytes(nb: NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


# --- cell sources ----------------------------------------------------------------------------

WRONG_SOFTMAX = '''def softmax(logits):
    """Wrong on purpose: every probability is 0."""
    return torch.zeros_like(logits)'''

SYNTAX_ERROR_NLL = "def nll_loss(log_probs, targets)\n    return 0"

RAISING_PREDICT = '''def predict(logits):
    """Raises as soon as it is called."""
    raise ValueError("predict is broken on purpose")'''

INFINITE_LOOP = "while True:\n    pass"
SLEEP_FOREVER = "import time\ntime.sleep(10**9)"

MEMORY_BOMB = """hog = []
while True:
    hog.append(bytearray(256 * 2**20))"""

FORK_BOMB = """import os
while True:
    try:
        os.fork()
    except OSError:
        pass"""

SYS_EXIT = "import sys\nsys.exit(3)"
OS_EXIT = "import os\nos._exit(0)"
KILL_KERNEL = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
SEGFAULT = "import ctypes\nctypes.string_at(0)"
PRINT_FLOOD = 'for _ in range(100):\n    print("x" * (1 << 20))'
RAISE_BOOM = 'raise RuntimeError("boom")'

WRITE_OUTSIDE = """import os
for target in [os.environ.get("HOSTILE_CANARY_DIR", "/tmp/hostile-canary"), "/tmp", os.getcwd() + "/..", "/work"]:
    try:
        with open(os.path.join(target, "pwned.txt"), "w") as f:
            f.write("written by a hostile submission\\n")
        print("wrote", target)
    except Exception as e:
        print("could not write", target, type(e).__name__)
for entry in os.listdir(os.getcwd()):
    try:
        os.remove(entry)
        print("deleted", entry)
    except Exception as e:
        print("could not delete", entry, type(e).__name__)"""

NETWORK = """import socket, urllib.request
try:
    socket.create_connection(("pypi.org", 443), timeout=5).close()
    print("socket to pypi.org:443 worked")
except Exception as e:
    print("socket to pypi.org:443 failed:", type(e).__name__)
try:
    urllib.request.urlopen("http://1.1.1.1", timeout=5).read(100)
    print("http://1.1.1.1 worked")
except Exception as e:
    print("http://1.1.1.1 failed:", type(e).__name__)"""

READ_HIDDEN_TESTS = """import fnmatch, os
wanted = ["expected.pt", "q1.py", "*-autograder.zip", "otter_config.json"]
roots, here = ["/", "/tmp"], os.path.abspath(os.getcwd())
while True:
    roots.append(here)
    if os.path.dirname(here) == here:
        break
    here = os.path.dirname(here)
seen, found = 0, []
for root in dict.fromkeys(roots):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in ("/proc", "/sys", "/dev")]
        seen += len(filenames)
        found += [os.path.join(dirpath, f) for f in filenames if any(fnmatch.fnmatch(f, w) for w in wanted)]
        if seen > 20000:
            break
for path in dict.fromkeys(found):
    try:
        with open(path, "rb") as f:
            print(path, f.read(200))
    except Exception as e:
        print(path, "unreadable:", type(e).__name__)"""

PATCH_ALLCLOSE = """import numpy.testing, torch, torch.testing
numpy.testing.assert_allclose = lambda *a, **k: None
torch.allclose = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None"""

PATCH_COURSE_CHECKS = """import course_checks
for _name in dir(course_checks):
    if _name.startswith(("assert_", "check_")) and callable(getattr(course_checks, _name)):
        setattr(course_checks, _name, lambda *a, **k: None)"""

PATCH_OTTER = """try:
    import otter.test_files.abstract_test as at
    at.TestFile.score = property(lambda self: self.possible)
except Exception as e:
    print("TestFile patch failed:", e)
try:
    from otter.test_files import exception_test
    exception_test.ExceptionTestFile.run = lambda self, env: None
except Exception as e:
    print("ExceptionTestFile patch failed:", e)"""

OVERWRITE_GRADER = """import json, os, pickle
grader = None
fake = {"score": 100.0, "tests": [{"name": f"q{i}", "score": 10.0, "max_score": 10.0} for i in range(1, 8)]}
for folder in [os.getcwd(), "/autograder/results"]:
    for name, data in [("results.json", json.dumps(fake).encode()), ("results.pkl", pickle.dumps(fake))]:
        try:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
        except Exception as e:
            print("could not write", folder, name, type(e).__name__)"""

PATCH_BUILTINS = "import builtins\nbuiltins.isinstance = lambda *a: True"


# --- builders --------------------------------------------------------------------------------


def with_cell(after: str, source: str, wrong_softmax: bool = False) -> Callable[[], NotebookNode]:
    """The solution plus one cell after the `after` function, optionally with a zeros softmax."""

    def make() -> NotebookNode:
        nb = solution_notebook()
        if wrong_softmax:
            replace_function(nb, "softmax", WRONG_SOFTMAX)
        return insert_cell(nb, after, source)

    return make


def nb_case(name: str, category: str, description: str, make: Callable[[], NotebookNode]) -> Case:
    return Case(name, category, description, lambda folder: write(make(), folder, name))


def _replaced(name: str, source: str) -> Callable[[], NotebookNode]:
    return lambda: replace_function(solution_notebook(), name, source)


def _without_init() -> NotebookNode:
    nb = solution_notebook()
    del nb.cells[0]
    return nb


def _raise_first() -> NotebookNode:
    nb = solution_notebook()
    nb.cells.insert(0, nbformat.v4.new_code_cell(RAISE_BOOM))
    return nb


def _renamed() -> NotebookNode:
    nb = solution_notebook()
    cell = nb.cells[_defining(nb, "softmax")]
    cell.source = re.sub(r"\bsoftmax\b", "my_softmax", cell.source)
    return nb


def _nbformat3(folder: Path) -> Path:
    path = Path(folder) / "nbformat3.ipynb"
    nbformat.write(nbformat.convert(solution_notebook(), 3), path, version=3)
    return path


def _not_utf8(folder: Path) -> Path:
    data = notebook_bytes(solution_notebook())
    marker = b"# Assignment 1"
    assert marker in data
    return write_bytes(data.replace(marker, b"# Assignment \xff\xfe1", 1), folder, "not_utf8.ipynb")


HUGE_BYTES = 40 * 2**20  # base64 grows it by 4/3: ~53 MiB of JSON string


def _huge(folder: Path) -> Path:
    nb = solution_notebook()
    payload = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(HUGE_BYTES)).decode()
    cell = nb.cells[_defining(nb, "softmax")]
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": payload, "text/plain": "<Figure>"})]
    return write(nb, folder, "huge_50mb")


def _zip_extra(folder: Path) -> Path:
    return write_zip(folder, "zip_extra_files", {
        NOTEBOOK_NAME: notebook_bytes(solution_notebook()),
        "notes.txt": b"Some notes the student zipped by accident.\n",
        "data/blob.bin": os.urandom(2**20),
    })


def _zip_traversal(folder: Path) -> Path:
    return write_zip(folder, "zip_traversal", {
        NOTEBOOK_NAME: notebook_bytes(solution_notebook()),
        zipfile.ZipInfo("../../evil.py"): b'raise SystemExit("evil.py escaped the submission folder")\n',
    })


def _zip_two(folder: Path) -> Path:
    return write_zip(folder, "zip_two_notebooks", {
        NOTEBOOK_NAME: notebook_bytes(solution_notebook()),
        "softmax_cross_entropy-blank.ipynb": notebook_bytes(blank_notebook()),
    })


def _raw(name: str, data: bytes) -> Callable[[Path], Path]:
    return lambda folder: write_bytes(data, folder, f"{name}.ipynb")


# --- the catalogue ---------------------------------------------------------------------------

CTRL, FILE, NB, HANG, ABUSE, ATTACK = (
    "control", "broken file", "broken notebook", "never finishes", "resource abuse", "attack")
_NOTE = "if it has no effect only q1 loses points (log_softmax does not call softmax)"

CASES: list[Case] = [
    nb_case("solution", CTRL, "The unchanged solution notebook: full marks.", solution_notebook),
    nb_case("blank", CTRL, "The unchanged student notebook: no marks, no crash.", blank_notebook),
    nb_case("wrong_softmax", CTRL, "The solution with the zeros softmax of the patch_* attacks and no attack: "
            "what they must score.", _replaced("softmax", WRONG_SOFTMAX)),
    # broken files
    Case("not_json", FILE, "A .ipynb holding plain text, not JSON.", _raw("not_json", b"this is not a notebook\n")),
    Case("empty", FILE, "A zero-byte .ipynb.", _raw("empty", b"")),
    Case("json_not_notebook", FILE, 'Valid JSON that is not a notebook: {"hello": 1}.',
         _raw("json_not_notebook", json.dumps({"hello": 1}).encode())),
    Case("nbformat3", FILE, "The solution converted to a valid nbformat-3 notebook (worksheets).", _nbformat3),
    Case("not_utf8", FILE, "The solution's bytes with latin-1 bytes 0xff 0xfe inside a markdown string.", _not_utf8),
    Case("huge_50mb", FILE, "The solution plus a >=50 MB base64 image/png output on the softmax cell.", _huge),
    # broken notebooks
    nb_case("no_init_cell", NB, "The otter init cell is deleted, so every grader.check raises NameError.",
            _without_init),
    nb_case("check_cell_deleted", NB, 'The grader.check("q3") cell is deleted; should still get full marks.',
            lambda: delete_cell(solution_notebook(), 'grader.check("q3")')),
    nb_case("renamed_functions", NB, "softmax is defined as my_softmax, so q1 fails (log_softmax does not "
            "call softmax); demo cells raise NameError.",
            _renamed),
    nb_case("syntax_error", NB, "The nll_loss cell has a SyntaxError (missing colon), so q4 and q5 fail.",
            _replaced("nll_loss", SYNTAX_ERROR_NLL)),
    nb_case("raise_first_cell", NB, "A new first cell raises RuntimeError; the rest should still grade.",
            _raise_first),
    nb_case("raise_in_question", NB, "predict raises ValueError when called (q6 fails; accuracy calls predict).",
            _replaced("predict", RAISING_PREDICT)),
    # never finishes
    nb_case("infinite_loop_q4", HANG, "A busy `while True: pass` cell right after nll_loss.",
            with_cell("nll_loss", INFINITE_LOOP)),
    nb_case("sleep_forever", HANG, "time.sleep(10**9) right after softmax.", with_cell("softmax", SLEEP_FOREVER)),
    # resource abuse
    nb_case("memory_bomb", ABUSE, "After all functions, allocates 256 MiB bytearrays until killed.",
            with_cell("accuracy", MEMORY_BOMB)),
    nb_case("fork_bomb", ABUSE, "After all functions, every process forks forever (errors swallowed).",
            with_cell("accuracy", FORK_BOMB)),
    nb_case("sys_exit", ABUSE, "sys.exit(3) right after one_hot.", with_cell("one_hot", SYS_EXIT)),
    nb_case("os_exit", ABUSE, "os._exit(0) right after cross_entropy: the kernel dies with status 0.",
            with_cell("cross_entropy", OS_EXIT)),
    nb_case("kill_kernel", ABUSE, "The kernel sends itself SIGKILL right after predict.",
            with_cell("predict", KILL_KERNEL)),
    nb_case("segfault", ABUSE, "ctypes.string_at(0) segfaults the kernel right after log_softmax.",
            with_cell("log_softmax", SEGFAULT)),
    nb_case("print_flood", ABUSE, "Prints 100 MiB of 'x' right after softmax.", with_cell("softmax", PRINT_FLOOD)),
    # attacks
    nb_case("write_outside", ATTACK, "Writes pwned.txt to $HOSTILE_CANARY_DIR, /tmp, cwd/.. and /work, "
            "then deletes every file in its cwd.", with_cell("accuracy", WRITE_OUTSIDE)),
    nb_case("network", ATTACK, "Tries a socket to pypi.org:443 and an HTTP request to 1.1.1.1 and prints the result.",
            with_cell("accuracy", NETWORK)),
    nb_case("read_hidden_tests", ATTACK, "Walks /, /tmp and the cwd's ancestors for hidden tests and autograder "
            "files and prints what it can read.", with_cell("accuracy", READ_HIDDEN_TESTS)),
    nb_case("patch_allclose", ATTACK, f"Zeros softmax plus no-op numpy/torch closeness asserts; {_NOTE}.",
            with_cell("softmax", PATCH_ALLCLOSE, wrong_softmax=True)),
    nb_case("patch_course_checks", ATTACK, f"Zeros softmax plus every course_checks assert_/check_ made a no-op; "
            f"{_NOTE}.", with_cell("softmax", PATCH_COURSE_CHECKS, wrong_softmax=True)),
    nb_case("patch_otter", ATTACK, f"Zeros softmax plus Otter's TestFile.score and ExceptionTestFile.run patched; "
            f"{_NOTE}.", with_cell("softmax", PATCH_OTTER, wrong_softmax=True)),
    nb_case("overwrite_grader", ATTACK, f"Zeros softmax; last cell sets grader = None and writes fake results.json/"
            f".pkl into cwd and /autograder/results; {_NOTE}.",
            with_cell("accuracy", OVERWRITE_GRADER, wrong_softmax=True)),
    nb_case("patch_builtins", ATTACK, f"Zeros softmax plus builtins.isinstance = lambda *a: True; {_NOTE}.",
            with_cell("softmax", PATCH_BUILTINS, wrong_softmax=True)),
    Case("zip_extra_files", ATTACK, "A zip with the solution plus notes.txt and a 1 MiB data/blob.bin: "
         "should grade normally.", _zip_extra),
    Case("zip_traversal", ATTACK, "A zip with the solution plus an entry named ../../evil.py.", _zip_traversal),
    Case("zip_two_notebooks", ATTACK, "A zip with the solution and the blank notebook, both at top level.", _zip_two),
]

assert len({c.name for c in CASES}) == len(CASES)
BY_NAME = {c.name: c for c in CASES}


def build_all(folder: Path) -> dict[str, Path]:
    """Build every case into `folder`; returns name -> submission path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {c.name: c.build(folder) for c in CASES}
