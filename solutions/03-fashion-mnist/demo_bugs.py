"""The buggy demo submissions: entries of mutants.py's catalogue, and the points each demo must cost."""

DEMOS = {
    # Neither bug changes how the two Fashion-MNIST models train (they have no dropout or batch
    # norm, and the returned loss is only reported), so only q5's and q6's tests notice: their
    # public checks (a mean per sample with lr=0, eval mode on a batch-norm model) and one hidden
    # test each.
    "two-bugs": (("train_one_epoch averages per batch, not per sample", "evaluate never sets eval mode"),
                 {"q5": 2, "q6": 2}),
    # q5's public check (its .grad holds every batch's gradient) and parameter test (1 + 2); q8's
    # public check (the validation split) and both accuracy thresholds (1 + 2 + 2): the softmax
    # regression stalls far below 0.82 and the MLP diverges.
    "forgets-zero-grad": (("train_one_epoch forgets zero_grad",), {"q5": 3, "q8": 5}),
    # q8's public check and both accuracy thresholds (1 + 2 + 2).
    "never-beats-0.80": (("q8 trains with lr=1e-4 (copied from an Adam example)",), {"q8": 5}),
}
