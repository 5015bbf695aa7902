"""Inputs for the hidden tests of assignment 03.

``build`` runs the solution notebook's ``record_*`` functions (``course_checks.probe_*`` applied to
the solution's ``train_one_epoch``, ``evaluate`` and ``fit``) on these inputs and stores the
results in the autograder's ``expected.pt``; nothing here is an expected value.

Every case is tiny and float64: a few samples with 6 features and 3 classes, a seeded model
(``course_checks.tiny_classifier``), unshuffled batches. Case names start with the situation the
hidden tests select them by.
"""

import torch


def make_cases() -> dict[str, list[tuple[str, tuple]]]:
    g = torch.Generator().manual_seed(20243)

    def data(n):
        features = torch.randn(n, 6, generator=g, dtype=torch.float64) * 2
        labels = torch.randint(0, 3, (n,), generator=g, dtype=torch.int64)
        return features, labels

    # train_one_epoch: (features, labels, model kind, model seed, batch size, lr, starts in train mode)
    train = [
        ("several batches: 10 samples in batches of 4, 4, 2", (*data(10), "linear", 11, 4, 0.5, True)),
        ("several batches: 9 samples in batches of 3, 3, 3", (*data(9), "linear", 12, 3, 0.3, True)),
        ("lr=0: 10 samples in batches of 4, 4, 2", (*data(10), "linear", 13, 4, 0.0, True)),
        ("lr=0: 7 samples in batches of 5, 2", (*data(7), "linear", 14, 5, 0.0, True)),
        ("starts in eval mode: batch-norm model, one batch of 8", (*data(8), "batchnorm", 15, 8, 0.5, False)),
    ]
    # evaluate: (features, labels, model kind, model seed, batch size, starts in train mode)
    evaluate = [
        ("several batches: 10 samples in batches of 4, 4, 2", (*data(10), "linear", 21, 4, False)),
        ("several batches: 11 samples in batches of 3, 3, 3, 2", (*data(11), "linear", 22, 3, True)),
        ("starts in train mode: batch-norm model, one batch of 8", (*data(8), "batchnorm", 23, 8, True)),
    ]
    # fit: (features, labels, test features, test labels, model kind, seed, batch size, epochs, lr)
    fit = [
        ("linear model, 12 samples in batches of 4, 3 epochs", (*data(12), *data(8), "linear", 31, 4, 3, 0.1)),
        ("batch-norm model, 12 samples in batches of 5, 5, 2, 2 epochs",
         (*data(12), *data(6), "batchnorm", 32, 5, 2, 0.05)),
    ]
    return {"record_train_one_epoch": train, "record_evaluate": evaluate, "record_fit": fit}
