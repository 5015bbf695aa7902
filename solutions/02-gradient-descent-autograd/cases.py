"""Inputs for the hidden tests of assignment 02.

``build`` runs the solution notebook's functions on these inputs and stores the results in
the autograder's ``expected.pt``; nothing here is an expected value.

Shapes follow the assignment: X is (n, f), Theta is (c, f), Y is one-hot (n, c).
"""

import torch

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: (n, f, c); "4x3 by 4 classes" makes n == c, which exposes a softmax over the wrong axis.
SHAPES = {"1 sample": (1, 3, 4), "5x2, 2 classes": (5, 2, 2), "4x3, 4 classes": (4, 3, 4), "9x5, 3 classes": (9, 5, 3)}


def make_cases() -> dict[str, list[tuple[str, tuple]]]:
    g = torch.Generator().manual_seed(20242)

    def randn(*shape, dtype=torch.float64, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    def one_hot(labels, c, dtype):
        Y = torch.zeros(labels.shape[0], c, dtype=dtype)
        Y[torch.arange(labels.shape[0]), labels] = 1
        return Y

    def labels(n, c):
        return torch.randint(0, c, (n,), generator=g)

    def learnable(n, f, c, dtype):
        """Points labelled by a random linear rule plus noise, so gradient descent makes progress."""
        X = randn(n, f)
        W = randn(c, f, scale=2.0)
        y = (X @ W.T + 0.5 * randn(n, c)).argmax(dim=1)
        return X.to(dtype), one_hot(y, c, dtype)

    intercept, plain, stable, labelled, labelled_stable, grads = [], [], [], [], [], []
    for shape_name, (n, f, c) in SHAPES.items():
        for dtype_name, dtype in DTYPES.items():
            name = f"{shape_name}, {dtype_name}"
            X, Theta = randn(n, f, dtype=dtype), randn(c, f, dtype=dtype)
            Y = one_hot(labels(n, c), c, dtype)
            intercept.append((name, (X,)))
            plain.append((name, (X, Theta)))
            labelled.append((name, (X, Theta, Y)))
            grads.append((name, (X, randn(c, f, dtype=dtype), Y)))
    for dtype_name, dtype in DTYPES.items():
        # Logits of size 1e3 to 1e4: exp overflows in both dtypes without the max shift.
        X, Theta = randn(6, 3, dtype=dtype, scale=30.0), randn(4, 3, dtype=dtype, scale=100.0)
        name = f"stable: logits up to about 1e4, {dtype_name}"
        stable.append((name, (X, Theta)))
        labelled_stable.append((name, (X, Theta, one_hot(labels(6, 4), 4, dtype))))
        # Rows whose correct class trails by 1000: its probability underflows to exactly 0.
        X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=dtype)
        Theta = torch.tensor([[1000.0, 0.0], [0.0, 1000.0], [0.0, 0.0]], dtype=dtype)
        name = f"stable: correct class 1000 below the best, {dtype_name}"
        stable.append((name, (X, Theta)))
        labelled_stable.append((name, (X, Theta, one_hot(torch.tensor([1, 2, 2]), 3, dtype))))
    intercept.append(("no rows, float64", (torch.zeros(0, 3, dtype=torch.float64),)))

    descent = []
    for dtype_name, dtype in DTYPES.items():
        X, Y = learnable(30, 4, 3, dtype)
        # tol = 0 never stops early here: consecutive losses are never exactly equal.
        descent.append((f"trajectory: 20 steps, lr 0.5, {dtype_name}", (X, Y, 0.5, 0.0, 20)))
        descent.append((f"trajectory: 1 step, lr 0.5, {dtype_name}", (X, Y, 0.5, 0.0, 1)))
    X, Y = learnable(40, 5, 4, torch.float64)
    descent.append(("trajectory: 12 steps, lr 2.0 (large), float64", (X, Y, 2.0, 0.0, 12)))
    descent.append(("equivalence: 50 steps, lr 0.3, float64", (X, Y, 0.3, 0.0, 50)))
    # Stopping rule: the tolerances sit far from every |loss change| near the stopping point.
    X, Y = learnable(30, 4, 3, torch.float64)
    descent.append(("stopping: tol 1e-3 stops early, float64", (X, Y, 0.5, 1e-3, 500)))
    descent.append(("stopping: huge tol stops at the second loss, float64", (X, Y, 0.5, 1e9, 500)))
    descent.append(("stopping: max_iter 7 comes first, float64", (X, Y, 0.5, 1e-12, 7)))
    descent.append(("stopping: max_iter 0 takes no step, float64", (X, Y, 0.5, 1e-3, 0)))
    X32, Y32 = X.float(), Y.float()
    descent.append(("stopping: tol 1e-2 stops early, float32", (X32, Y32, 0.5, 1e-2, 500)))

    predictions = list(plain)
    predictions.append(("clear winners, float64", (torch.eye(3, dtype=torch.float64), 5 * torch.eye(4, 3, dtype=torch.float64))))
    return {
        "add_intercept": intercept,
        "softmax": plain + stable,
        "cross_entropy_loss": labelled + labelled_stable,
        "gradient": grads,
        "gradient_descent": descent,
        "predict": predictions,
    }
