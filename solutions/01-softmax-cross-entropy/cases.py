"""Inputs for the hidden tests of assignment 01.

``build`` runs the solution notebook's functions on these inputs and stores the results in
the autograder's ``expected.pt``; nothing here is an expected value.
"""

import torch

SHAPES = {"1x5 single row": (1, 5), "6x1 single class": (6, 1), "4x4 square": (4, 4), "7x3": (7, 3)}
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def make_cases() -> dict[str, list[tuple[str, tuple]]]:
    g = torch.Generator().manual_seed(20241)

    def randn(shape, dtype, scale=3.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    def targets(n, c):
        return torch.randint(0, c, (n,), generator=g, dtype=torch.int64)

    logits, stable, labelled, labelled_stable = [], [], [], []
    for shape_name, (n, c) in SHAPES.items():
        for dtype_name, dtype in DTYPES.items():
            name = f"{shape_name}, {dtype_name}"
            x = randn((n, c), dtype)
            logits.append((name, (x,)))
            labelled.append((name, (x, targets(n, c))))
    for dtype_name, dtype in DTYPES.items():
        huge = randn((5, 4), dtype, scale=1e4)
        gap = torch.tensor([[0.0, -1000.0, 2.0], [1000.0, 0.0, -1000.0], [-1e4, -1e4 + 1, -1e4 + 2]], dtype=dtype)
        stable += [(f"stable: logits of magnitude 1e4, {dtype_name}", (huge,)),
                   (f"stable: rows like [0, -1000], {dtype_name}", (gap,))]
        labelled_stable += [(f"stable: logits of magnitude 1e4, {dtype_name}", (huge, targets(5, 4))),
                            (f"stable: rows like [0, -1000], {dtype_name}", (gap, torch.tensor([1, 2, 0])))]

    one_hot = [(f"{n} labels, {c} classes", (targets(n, c), c)) for n, c in [(1, 5), (6, 1), (4, 4), (9, 3)]]
    one_hot.append(("labels that skip the last class", (torch.tensor([0, 1, 0, 1]), 4)))
    nll = [(name, (torch.log_softmax(x, dim=1), t)) for name, (x, t) in labelled]
    nll.append(("very negative log-probabilities, float64",
                (torch.tensor([[-1e3, -1e-300, -50.0]], dtype=torch.float64), torch.tensor([0]))))
    return {
        "softmax": logits + stable,
        "log_softmax": logits + stable,
        "one_hot": one_hot,
        "nll_loss": nll,
        "cross_entropy": labelled + labelled_stable,
        "predict": logits + stable,
        "accuracy": labelled + [("all correct", (torch.eye(3, dtype=torch.float64), torch.arange(3)))],
    }
