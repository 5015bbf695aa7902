"""The demo submissions name entries of the mutation catalogue; their code lives there only."""

from __future__ import annotations

import ast

import pytest

from autograder import assignments, demos, notebooks, strength

WITH_DEMOS = [a for a in assignments.all_assignments() if a.demo_bugs.exists()]


@pytest.mark.parametrize("a", WITH_DEMOS, ids=[a.id for a in WITH_DEMOS])
def test_demo_bugs_hold_no_code_of_their_own(a):
    tree = ast.parse(a.demo_bugs.read_text())
    code = [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and "def " in n.value]
    assert not code, f"{a.demo_bugs} types out function bodies; name the catalogue entry instead"
    catalogue = strength.load_catalogue(a)
    known = {*catalogue.BUGS, *getattr(catalogue, "NOTEBOOK_BUGS", {}), *getattr(catalogue, "SEED_CODE", {})}
    for name, (entries, lost) in demos.declared(a).items():
        assert set(entries) <= known, f"{a.id} demo {name}: {set(entries) - known}"
        assert lost and all(points > 0 for points in lost.values()), f"{a.id} demo {name} must cost points"


def test_a_demo_bug_is_the_catalogue_entry_it_names():
    a = assignments.get("01-softmax-cross-entropy")
    nb = demos.with_bugs(a, ("softmax without the max shift",))
    code = notebooks.definitions(nb)
    assert "exps = torch.exp(logits)" in code and "logits.max(" not in code.split("def log_softmax")[0]


def test_an_unknown_entry_is_refused_naming_the_files():
    a = assignments.get("01-softmax-cross-entropy")
    with pytest.raises(demos.UnknownCatalogueEntry, match=r"demo_bugs\.py: 'softmax twice' is not an entry of .*mutants\.py"):
        demos.with_bugs(a, ("softmax twice",))
