"""The buggy demo submissions: entries of mutants.py's catalogue, and the points each demo must cost."""

DEMOS = {
    # The textbook softmax without the max shift (nan for huge logits) and a sum where the mean
    # belongs. q1: its public check (the row [1e4, 0, -1e4]) and stability test; q4: its public check
    # (an NLL worked out by hand) and value test.
    "two-bugs": (("softmax without the max shift", "nll_loss sums instead of averaging"), {"q1": 2, "q4": 3}),
}
