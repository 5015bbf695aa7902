"""The buggy demo submissions: entries of mutants.py's catalogue, and the points each demo must cost."""

DEMOS = {
    # q3: its public check (logits of +-1e4) and stability test (1 + 2); q7: its public check (the
    # loss stalls near 0.5) and the binary and multi-label training tests (1 + 2 + 2).
    "two-bugs": (("bce_with_logits as log(sigmoid) (the detour through probabilities)",
                  "train: a sigmoid before BCEWithLogitsLoss"), {"q3": 3, "q7": 5}),
}
