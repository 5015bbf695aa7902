"""Two realistic bugs for the demo submission 'two-bugs.ipynb' and the points they must cost."""

BUGS = {
    # The textbook formula without the max shift: right for small logits, nan for huge ones.
    "softmax": '''
def softmax(logits):
    exps = torch.exp(logits)
    return exps / exps.sum(dim=1, keepdim=True)
''',
    # A sum where the mean belongs: right only for a batch of one.
    "nll_loss": '''
def nll_loss(log_probs, targets):
    return -log_probs[torch.arange(log_probs.shape[0]), targets].sum()
''',
}

#: question -> points each bug must cost: q1's public check (it has the row [1e4, 0, -1e4]) and
#: stability test; q4's public check (an NLL worked out by hand) and value test.
POINTS_LOST = {"q1": 2, "q4": 3}
