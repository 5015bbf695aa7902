"""The files every assignment ships, generated from one source each.

``course_checks.py`` is the package ``autograder/course_checks/`` flattened into one module: the
modules in dependency order, their relative imports dropped (everything then lives in one
namespace), each under a banner naming its source. ``course_data.py`` is ``autograder/data.py``.
Both carry a "generated, do not edit" header; ``build`` writes them into the student folder and the
autograder zip, and ``build --check`` fails when a committed copy differs from what this module
makes now. One file is what Otter's ``files:`` ships, what a student's ``import course_checks``
finds next to the notebook offline, and what Gradescope's stock Otter imports; no install step.
"""

from __future__ import annotations

import ast
from pathlib import Path

from . import course_checks, data

CHECKS_FILE = "course_checks.py"
DATA_FILE = "course_data.py"
PACKAGE_DIR = Path(course_checks.__file__).parent


def _header(source: str) -> str:
    return (f"# Generated from {source} by `python -m autograder build`; do not edit.\n"
            "# Edit the source and rebuild: `build --check` fails when this copy differs from it.\n")


def _split(path: Path, imports: dict[str, set[str]]) -> str:
    """A module's code without its docstring and top-level imports; absolute imports go to ``imports``
    (module -> names, "" for a plain ``import``), relative ones are dropped."""
    text = path.read_text()
    tree = ast.parse(text)
    drop: set[int] = set()
    for node in tree.body:
        is_doc = node is tree.body[0] and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports.setdefault(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""), set())
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            imports.setdefault(f"from {node.module} import", set()).update(
                a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
        elif not (is_doc or isinstance(node, ast.ImportFrom)):
            continue
        drop.update(range(node.lineno, node.end_lineno + 1))
    lines = [line for k, line in enumerate(text.split("\n"), 1) if k not in drop]
    return "\n".join(lines).strip("\n") + "\n"


def _import_lines(imports: dict[str, set[str]]) -> str:
    def key(statement: str) -> tuple:
        module = statement.split()[1]
        return (module.split(".")[0] in ("numpy", "torch"), statement.startswith("from"), module)
    lines = [s if not names else f"{s} {', '.join(sorted(names))}" for s, names in sorted(imports.items(), key=lambda kv: key(kv[0]))]
    return "\n".join(lines) + "\n"


def checks_source() -> str:
    """The text of the shipped ``course_checks.py``."""
    package_doc = ast.get_docstring(ast.parse((PACKAGE_DIR / "__init__.py").read_text()))
    imports: dict[str, set[str]] = {}
    bodies = []
    for name in course_checks.MODULES:
        path = PACKAGE_DIR / f"{name}.py"
        first = (ast.get_docstring(ast.parse(path.read_text())) or "").strip().split("\n")[0]
        bodies.append(f"\n# {'=' * 78}\n# {name}.py: {first}\n# {'=' * 78}\n{_split(path, imports)}")
    head = [_header("autograder/course_checks/"), f'"""{package_doc}\n"""\n', "from __future__ import annotations\n",
            _import_lines(imports)]
    return "\n".join(head + bodies)


def data_source() -> str:
    """The text of the shipped ``course_data.py``."""
    return _header("autograder/data.py") + Path(data.__file__).read_text()


#: file name -> function giving its text
SHIPPED = {CHECKS_FILE: checks_source, DATA_FILE: data_source}


def sources() -> list[Path]:
    """Every file the shipped files are made from (for the build's digest)."""
    return sorted(PACKAGE_DIR.glob("*.py")) + [Path(data.__file__), Path(__file__)]


def write(folder: Path, names: tuple[str, ...] = (CHECKS_FILE, DATA_FILE)) -> None:
    """Write the shipped files ``names`` into ``folder``."""
    for name in names:
        (folder / name).write_text(SHIPPED[name]())
