"""What must never reach students: hidden tests, solution blocks, expected values."""

from __future__ import annotations

import ast
import json
import zipfile
from pathlib import Path

import torch

from autograder import course_checks, notebooks, ship
from autograder.assignments import Assignment


def hidden_test_functions(a: Assignment) -> dict[str, str]:
    """name -> source of every hidden test function in the autograder zip."""
    found = {}
    with zipfile.ZipFile(a.autograder_zip) as zf:
        for name in zf.namelist():
            if name.startswith("tests/") and name.endswith(".py"):
                tree = ast.parse(zf.read(name).decode())
                for node in tree.body:
                    if isinstance(node, ast.FunctionDef) and any("hidden=True" in ast.unparse(d) for d in node.decorator_list):
                        node.decorator_list = []
                        found[node.name] = ast.unparse(node)
    return found


def solution_lines(a: Assignment) -> set[str]:
    """Distinctive lines of the master's solution blocks: long, and found nowhere else in the master
    or in the shared checks module (which students get anyway)."""
    inside, outside = [], []
    for cell in notebooks.read(a.master).cells:
        text = notebooks.code_of(cell)
        if cell.cell_type == "raw":
            continue
        marked = False
        for line in text.splitlines():
            if line.strip().startswith("# BEGIN SOLUTION"):
                marked = True
            elif line.strip().startswith("# END SOLUTION"):
                marked = False
            # Otter strips only marked lines, even inside a raw solution block
            solution = marked or line.rstrip().endswith("# SOLUTION")
            (inside if solution and cell.cell_type == "code" else outside).append(line.strip())
    shared = set(outside) | {line.strip() for line in ship.checks_source().splitlines()}
    return {line for line in inside if len(line) > 25 and not line.startswith("#") and line not in shared}


def expected_value_strings(a: Assignment) -> set[str]:
    """Recorded expected values with enough digits to be recognisable (e.g. '0.2763957')."""
    with zipfile.ZipFile(a.autograder_zip) as zf:
        with zf.open(f"files/{course_checks.EXPECTED_FILE}") as f:
            table = torch.load(f, weights_only=True)
    strings = set()

    def add(value):
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            for v in value.flatten()[:50].tolist():
                add(v)
        elif isinstance(value, float):
            text = f"{value:.7g}"
            if len(text.lstrip("-").replace("0.", "").replace(".", "")) >= 6:
                strings.add(text)
        elif isinstance(value, (list, tuple)):
            for v in value:
                add(v)

    for cases in table.values():
        for case in cases:
            add(case["expected"])
    return strings


def _without_outputs(name: str, text: str) -> str:
    """A notebook's text minus cell outputs: values a student computes and prints are theirs."""
    if not name.endswith(".ipynb"):
        return text
    try:
        nb = json.loads(text)
    except ValueError:
        return text
    for cell in nb.get("cells", []):
        cell.pop("outputs", None)
    return json.dumps(nb, indent=1, ensure_ascii=False)


def student_texts(folder: Path, export_zip: Path | None = None) -> dict[str, str]:
    """Every file a student receives (and what their export uploads), as text, outputs removed."""
    texts = {str(p.relative_to(folder)): p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()}
    if export_zip is not None:
        with zipfile.ZipFile(export_zip) as zf:
            for name in zf.namelist():
                texts[f"{export_zip.name}:{name}"] = zf.read(name).decode(errors="replace")
    return {name: _without_outputs(name, text) for name, text in texts.items()}


def find_leaks(a: Assignment, texts: dict[str, str], *, solutions: bool = True) -> list[str]:
    """Sentences naming each leak; ``solutions=False`` for a student's own filled-in notebook."""
    leaks = []
    hidden = hidden_test_functions(a)
    solution = solution_lines(a) if solutions else set()
    values = expected_value_strings(a)
    for where, text in texts.items():
        if "hidden=True" in text:
            leaks.append(f"{where}: contains a hidden test (hidden=True)")
        leaks += [f"{where}: contains hidden test {name}" for name, source in hidden.items()
                  if source in text or f"def {name}(" in text]
        if solutions and "BEGIN SOLUTION" in text:
            leaks.append(f"{where}: contains a solution block marker")
        leaks += [f"{where}: contains solution line {line!r}" for line in solution if line in text]
        leaks += [f"{where}: contains expected value {v}" for v in values if v in text]
    return leaks
