"""Spot tampering: notebook code that rebinds library, Otter or course_checks functions.

Two independent signals, both reported in the submission's status:

* a static scan of the notebook's code for assignments, ``setattr`` or ``del`` on attributes of
  watched modules (``numpy``, ``torch``, ``otter``, ``course_checks``, ``builtins``, ``sys``), for
  rebinding ``grader`` to anything but an ``otter.Notebook``, and for naming Otter's results files;
* fingerprints of watched functions taken inside the kernel after the notebook ran, compared with
  the same fingerprints taken here, where no student code has run.

Detection does not decide scores on its own: sealed verdicts are immune anyway (see ``seal``). It
voids the verdicts that had to trust the kernel.
"""

from __future__ import annotations

import ast

import nbformat

WATCHED_PACKAGES = {"numpy", "torch", "otter", "course_checks", "builtins", "sys", "scipy", "sklearn"}
RESULT_FILES = ("results.json", "results.pkl", "/autograder/results")  # where Otter and Gradescope keep scores


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> dotted module path, from the import statements in ``tree``."""
    names: dict[str, str] = {"__builtins__": "builtins"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                names[a.asname or a.name] = f"{node.module}.{a.name}"
    return {k: v for k, v in names.items() if v.split(".")[0] in WATCHED_PACKAGES}


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``np.testing.assert_allclose`` -> 'numpy.testing.assert_allclose' when its root is watched."""
    parts = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        parts.append(node.attr if isinstance(node, ast.Attribute) else "[...]")
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases and parts:
        return ".".join([aliases[node.id], *reversed(parts)])
    return None


def scan_source(source: str) -> list[str]:
    """Sentences naming each watched attribute that ``source`` rebinds or deletes."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and any(f in node.value for f in RESULT_FILES):
            found.append(f"line {node.lineno} names Otter's results file {node.value[:60]!r}")
            continue
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "grader" for t in node.targets):
            func = node.value.func if isinstance(node.value, ast.Call) else None
            if not (isinstance(func, (ast.Attribute, ast.Name)) and getattr(func, "attr", getattr(func, "id", "")) == "Notebook"):
                found.append(f"line {node.lineno} rebinds grader, Otter's Notebook object")
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") \
                and node.args:
            root = _dotted(node.args[0], aliases) or aliases.get(getattr(node.args[0], "id", ""), None)
            if root:
                attr = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else None
                found.append(f"line {node.lineno} calls {node.func.id} on {root}" + (f".{attr}" if attr else ""))
            continue
        for target in targets:
            for t in (target.elts if isinstance(target, ast.Tuple) else [target]):
                dotted = _dotted(t, aliases)
                if dotted:
                    found.append(f"line {t.lineno} rebinds {dotted}")
    return found


def scan_notebook(path) -> list[str]:
    """``scan_source`` over every code cell, naming the cell."""
    nb = nbformat.read(str(path), as_version=4)
    found = []
    index = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        index += 1
        lines = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        found += [f"code cell {index}: {f}" for f in scan_source(lines)]
    return found


def compare_fingerprints(kernel: object, pristine: dict) -> list[str]:
    """Watched functions whose fingerprint in the kernel differs from the pristine one, and those the
    kernel did not report at all (a log rewritten to hide a replacement lists fewer, not more)."""
    if not isinstance(kernel, dict):
        return ["the kernel's log holds no fingerprints of the watched functions"]
    found = [f"{name} was replaced in the kernel ({kernel[name]})"
             for name in sorted(pristine) if name in kernel and kernel[name] != pristine[name]]
    missing = sorted(set(pristine) - set(kernel))
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        found.append(f"the kernel's log does not report {', '.join(missing[:3])}{more}")
    return found
