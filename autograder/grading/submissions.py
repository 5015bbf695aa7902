"""Check a submission file before grading, so that a bad file gets a clear reason, not a crash."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path, PurePosixPath

import nbformat

SUFFIXES = (".ipynb", ".zip")
MAX_ZIP_ENTRIES = 10_000  # an Otter export holds the notebook and a few files
MAX_ZIP_BYTES = 1 << 30  # what a zip may unpack to (a zip bomb is refused before anything is written)


class InvalidSubmission(Exception):
    """The file cannot be graded; the message says why, in a sentence."""


def _check_notebook_text(raw: bytes, where: str) -> None:
    if not raw.strip():
        raise InvalidSubmission(f"{where} is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"{where} is not UTF-8 text (byte {exc.start} is invalid)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(f"{where} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise InvalidSubmission(f"{where} is JSON but not a Jupyter notebook (no 'cells')")
    major = data.get("nbformat")
    if major != 4:
        raise InvalidSubmission(
            f"{where} is in notebook format {major}; only format 4 is graded (re-save it in Jupyter)"
        )
    try:
        nbformat.validate(nbformat.reads(text, as_version=4))
    except Exception as exc:  # nbformat raises several types for schema problems
        first = str(exc).strip().splitlines()[0][:200]
        raise InvalidSubmission(f"{where} is not a valid Jupyter notebook: {first}") from None


def validate(path: Path) -> None:
    """Raise ``InvalidSubmission`` unless ``path`` is a gradable notebook or Otter export zip."""
    if not path.is_file():
        raise InvalidSubmission(f"{path.name} does not exist or is not a file")
    if path.suffix not in SUFFIXES:
        raise InvalidSubmission(f"{path.name} is a {path.suffix or 'suffix-less'} file; submit .ipynb or .zip")
    if path.suffix == ".ipynb":
        _check_notebook_text(path.read_bytes(), path.name)
        return
    if not zipfile.is_zipfile(path):
        raise InvalidSubmission(f"{path.name} is not a valid zip file")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        unsafe = [n for n in names if n.startswith("/") or ".." in PurePosixPath(n).parts]
        if unsafe:
            raise InvalidSubmission(f"{path.name} has unsafe paths in the zip: {', '.join(unsafe[:3])}")
        unpacked = sum(info.file_size for info in zf.infolist())
        if len(names) > MAX_ZIP_ENTRIES or unpacked > MAX_ZIP_BYTES:
            raise InvalidSubmission(f"{path.name} unpacks to {len(names):,} files and {unpacked / 2**20:,.0f} MB; "
                                    f"at most {MAX_ZIP_ENTRIES:,} files and {MAX_ZIP_BYTES >> 20:,} MB are accepted")
        top = [n for n in names if n.endswith(".ipynb") and "/" not in n]
        if len(top) != 1:
            raise InvalidSubmission(
                f"{path.name} should hold exactly one notebook at its top level, found {len(top)}"
            )
        _check_notebook_text(zf.read(top[0]), f"{top[0]} in {path.name}")


def expand(paths: list[Path]) -> list[Path]:
    """Files as given, and the .ipynb/.zip files inside each directory given, in name order."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix in SUFFIXES and q.is_file())
        else:
            found.append(p)
    return found


def not_expanded(paths: list[Path]) -> list[str]:
    """What ``expand`` leaves out of the folders in ``paths``, one sentence per folder (nothing is skipped silently):
    files that are not .ipynb or .zip, and subfolders (hidden entries such as .ipynb_checkpoints only counted)."""
    lines = []
    for p in paths:
        if not p.is_dir():
            continue
        left = sorted(q for q in p.iterdir() if not (q.suffix in SUFFIXES and q.is_file()))
        shown = [q.name + ("/" if q.is_dir() else "") for q in left if not q.name.startswith(".")]
        hidden = len(left) - len(shown)
        if left:
            lines.append(f"{p}: {len(left)} entr{'y' if len(left) == 1 else 'ies'} not graded (only .ipynb and .zip "
                         f"files directly in the folder are): {', '.join(shown[:20])}"
                         + (f" and {len(shown) - 20} more" if len(shown) > 20 else "")
                         + (f"{', ' if shown else ''}{hidden} hidden" if hidden else ""))
    return lines


def labels(paths: list[Path]) -> list[str]:
    """A unique CSV label per submission: the file name, with parent folders added on clashes."""
    out = [p.name for p in paths]
    depth = 1
    while len(set(out)) < len(out) and depth < 8:
        clash = {n for n in out if out.count(n) > 1}
        out = [str(PurePosixPath(*p.resolve().parts[-depth - 1:])) if o in clash else o
               for p, o in zip(paths, out)]
        depth += 1
    return out
