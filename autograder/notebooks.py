"""Small notebook utilities shared by build, demos and tests."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path
from typing import Any

import nbformat

#: Top-level statements kept when only a notebook's definitions are wanted.
DEFINITION_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def read(path: Path) -> nbformat.NotebookNode:
    """Read a notebook as nbformat 4."""
    return nbformat.read(str(path), as_version=4)


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


def code_of(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def definitions(nb: nbformat.NotebookNode) -> str:
    """Imports, functions, classes and UPPER_CASE constants of every code cell, in order.

    This is what ``build`` executes to record the solution's expected values, so that recording
    never runs a notebook's training loops or plots.
    """
    kept = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(code_of(cell))
        except SyntaxError:
            continue  # IPython magics and the like
        for node in tree.body:
            constant = isinstance(node, ast.Assign) and all(
                isinstance(t, ast.Name) and t.id.isupper() for t in node.targets
            )
            if isinstance(node, DEFINITION_NODES) or constant:
                kept.append(ast.get_source_segment(code_of(cell), node))
    return "\n\n".join(kept)


def replace_function(nb: nbformat.NotebookNode, name: str, new_source: str) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` whose top-level ``def name`` is replaced by ``new_source``."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = code_of(cell)
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                lines = source.split("\n")
                start = node.lineno - 1 - len(node.decorator_list)
                lines[start:node.end_lineno] = new_source.strip("\n").split("\n")
                cell.source = "\n".join(lines)
                return nb
    raise KeyError(f"no top-level function {name!r} in the notebook")


def stable_ids(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Give every cell an id derived from its position and content, so builds are repeatable."""
    for index, cell in enumerate(nb.cells):
        digest = hashlib.sha1(f"{index}\0{cell.cell_type}\0{code_of(cell)}".encode()).hexdigest()
        cell["id"] = digest[:12]
    return nb


def normalised(path: Path) -> Any:
    """A notebook's content for staleness checks: cells' types and sources plus Otter metadata."""
    nb = read(path)
    return {
        "cells": [(c.cell_type, code_of(c)) for c in nb.cells],
        "otter": nb.metadata.get("otter"),
    }


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb
