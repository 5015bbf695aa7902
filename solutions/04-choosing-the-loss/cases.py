"""Inputs for the hidden tests of assignment 04.

``build`` runs the solution notebook's functions on these inputs and stores the results in the
autograder's ``expected.pt``; nothing here is an expected value. The training data of the
``held_out_scores`` cases is what the hidden tests of ``train`` train and evaluate on.
"""

import numpy as np
import torch
from sklearn.datasets import make_classification, make_multilabel_classification

DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: name -> shape; [B] vs [B, 1] vs [B, C] and a batch of one sample.
SHAPES = {"[B]=(6,)": (6,), "[B,1]=(5,1)": (5, 1), "[B,C]=(4,3)": (4, 3), "one sample (1,1)": (1, 1)}
REDUCTIONS = ("mean", "sum", "none")
EPOCHS, TRAIN_SEED, DATA_SEED = 15, 0, 2024


def _task_data(task: str) -> tuple:
    if task == "multilabel":
        X, y = make_multilabel_classification(n_samples=600, n_features=10, n_classes=5, n_labels=2,
                                              allow_unlabeled=False, random_state=DATA_SEED)
    else:
        X, y = make_classification(n_samples=600, n_features=10, n_informative=6, n_redundant=0,
                                   n_classes=2 if task == "binary" else 3, random_state=DATA_SEED)
    X_train, X_test, y_train, y_test = X[:400], X[400:], y[:400], y[400:]
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    as_x = lambda a: torch.from_numpy(np.ascontiguousarray((a - mean) / std, dtype=np.float64))
    as_y = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.int64))
    return (task, as_x(X_train), as_y(y_train), as_x(X_test), as_y(y_test), EPOCHS, TRAIN_SEED)


def make_cases() -> dict[str, list[tuple[str, tuple]]]:
    g = torch.Generator().manual_seed(40404)

    def randn(shape, dtype, scale=3.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    def bits(shape, dtype):
        return torch.randint(0, 2, shape, generator=g).to(dtype)

    sigmoid, bce, logits_bce = [], [], []
    for shape_name, shape in SHAPES.items():
        for dtype_name, dtype in DTYPES.items():
            name = f"{shape_name}, {dtype_name}"
            sigmoid.append((name, (randn(shape, dtype, 4.0),)))
            probs = torch.sigmoid(randn(shape, dtype)).to(dtype)
            z = randn(shape, dtype)
            t = bits(shape, dtype)
            bce.append((f"mean: {name}", (probs, t)))
            logits_bce.append((f"mean: {name}", (z, t)))
            for reduction in ("sum", "none"):
                bce.append((f"{reduction}: {name}", (probs, t, reduction)))
                logits_bce.append((f"{reduction}: {name}", (z, t, reduction)))
    soft = torch.rand(3, 4, generator=g, dtype=torch.float64)
    bce.append(("mean: soft targets in [0, 1], float64", (torch.sigmoid(randn((3, 4), torch.float64)), soft)))
    logits_bce.append(("mean: soft targets in [0, 1], float64", (randn((3, 4), torch.float64), soft)))
    for dtype_name, dtype in DTYPES.items():
        extreme = torch.tensor([-1e4, -1e4, -100.0, -30.0, 0.0, 30.0, 100.0, 1e4, 1e4], dtype=dtype)
        sigmoid.append((f"stable: inputs up to 1e4, {dtype_name}", (extreme,)))
        sigmoid.append((f"stable: random inputs of magnitude 1e4, {dtype_name}", (randn((3, 4), dtype, 1e4),)))
        edge_p = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.5, 1e-30]], dtype=dtype)
        edge_t = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]], dtype=dtype)
        edge_t2 = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=dtype)
        extreme_t = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0], dtype=dtype)
        # 'none' only, so that a wrong reduction costs its points in the reduction tests alone.
        bce.append((f"edge: probabilities of exactly 0 and 1, reduction=none, {dtype_name}", (edge_p, edge_t, "none")))
        bce.append((f"edge: confident and right, reduction=none, {dtype_name}", (edge_p[:2], edge_t2[:2], "none")))
        for reduction in REDUCTIONS:
            logits_bce.append((f"stable: logits up to 1e4, reduction={reduction}, {dtype_name}",
                               (extreme.reshape(-1, 1), extreme_t.reshape(-1, 1), reduction)))
        logits_bce.append((f"stable: random logits of magnitude 1e4, {dtype_name}",
                           (randn((5, 3), dtype, 1e4), bits((5, 3), dtype))))

    def labels(n, c):
        return torch.randint(0, c, (n,), generator=g, dtype=torch.int64)

    format_targets = [
        ("binary, 8 samples", ("binary", labels(8, 2))),
        ("binary, one sample", ("binary", torch.tensor([1]))),
        ("multiclass, 9 samples of 4 classes", ("multiclass", labels(9, 4))),
        ("multiclass, one sample", ("multiclass", torch.tensor([2]))),
        ("multilabel, 6 samples of 5 labels", ("multilabel", torch.randint(0, 2, (6, 5), generator=g))),
        ("multilabel, one sample", ("multilabel", torch.tensor([[0, 1, 1, 0, 1]]))),
    ]
    predict = []
    for threshold in (0.5, 0.3, 0.8):
        predict.append((f"binary, (10, 1) logits, threshold {threshold}", ("binary", randn((10, 1), torch.float32, 2.0), threshold)))
        predict.append((f"multilabel, (6, 5) logits, threshold {threshold}", ("multilabel", randn((6, 5), torch.float32, 2.0), threshold)))
    predict += [
        ("binary, logits between 0 and 0.5, default threshold", ("binary", torch.tensor([[0.1], [0.4], [-0.2], [0.45], [2.0]]))),
        ("binary, one sample", ("binary", torch.tensor([[0.7]]))),
        ("multiclass, (7, 4) logits", ("multiclass", randn((7, 4), torch.float32))),
        ("multiclass, (5, 3) float64 logits", ("multiclass", randn((5, 3), torch.float64))),
        ("multiclass, one sample", ("multiclass", randn((1, 3), torch.float32))),
        ("multilabel, one sample, default threshold", ("multilabel", randn((1, 5), torch.float32))),
    ]
    two_class = [(f"{n} samples, {dtype_name}", (randn((n, 1), dtype, 2.0),))
                 for n in (1, 6) for dtype_name, dtype in DTYPES.items()]
    return {
        "sigmoid": sigmoid,
        "binary_cross_entropy": bce,
        "bce_with_logits": logits_bce,
        "format_targets": format_targets,
        "predict_labels": predict,
        "loss_table": [("all tasks", ())],
        "two_class_logits": two_class,
        "held_out_scores": [(task, _task_data(task)) for task in ("binary", "multiclass", "multilabel")],
    }
