"""Mutation catalogue of assignment 01 (see autograder/strength.py).

BUGS: realistic mistakes, each with the question that must lose points. Most come from the seeds:
the keepdim/axis/overflow steps of seed 004, log(p * onehot) and log(softmax) of seed 003, the
sum/mean and sign choices of seed 001. VARIANTS: other correct ways to write the same functions.
"""

BUGS = {
    "softmax over the wrong axis (dim=0)": ("q1", {"softmax": '''
def softmax(logits):
    shifted = logits - logits.max(dim=0, keepdim=True).values
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=0, keepdim=True)
'''}),
    "softmax without the max shift": ("q1", {"softmax": '''
def softmax(logits):
    exps = torch.exp(logits)
    return exps / exps.sum(dim=1, keepdim=True)
'''}),
    "softmax sum without keepdim": ("q1", {"softmax": '''
def softmax(logits):
    exps = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    return exps / exps.sum(dim=1)
'''}),
    "softmax calls torch.softmax": ("q1", {"softmax": '''
def softmax(logits):
    return torch.softmax(logits, dim=1)
'''}),
    "log_softmax as log(softmax)": ("q2", {"log_softmax": '''
def log_softmax(logits):
    return torch.log(softmax(logits))
'''}),
    "log_softmax without the shift inside log-sum-exp": ("q2", {"log_softmax": '''
def log_softmax(logits):
    return logits - torch.log(torch.exp(logits).sum(dim=1, keepdim=True))
'''}),
    "log_softmax calls F.log_softmax": ("q2", {"log_softmax": '''
def log_softmax(logits):
    import torch.nn.functional as F
    return F.log_softmax(logits, dim=1)
'''}),
    "one_hot returns int64": ("q3", {"one_hot": '''
def one_hot(targets, num_classes):
    rows = torch.zeros(targets.shape[0], num_classes, dtype=torch.int64)
    rows[torch.arange(targets.shape[0]), targets] = 1
    return rows
'''}),
    "one_hot ignores num_classes": ("q3", {"one_hot": '''
def one_hot(targets, num_classes):
    n, c = targets.shape[0], int(targets.max()) + 1
    rows = torch.zeros(n, c)
    rows[torch.arange(n), targets] = 1.0
    return rows
'''}),
    "nll_loss sums instead of averaging": ("q4", {"nll_loss": '''
def nll_loss(log_probs, targets):
    return -log_probs[torch.arange(log_probs.shape[0]), targets].sum()
'''}),
    "nll_loss without the minus sign": ("q4", {"nll_loss": '''
def nll_loss(log_probs, targets):
    return log_probs[torch.arange(log_probs.shape[0]), targets].mean()
'''}),
    "nll_loss indexes columns only (log_probs[:, targets])": ("q4", {"nll_loss": '''
def nll_loss(log_probs, targets):
    return -log_probs[:, targets].mean()
'''}),
    "cross_entropy after a softmax (softmax applied twice)": ("q5", {"cross_entropy": '''
def cross_entropy(logits, targets):
    return nll_loss(log_softmax(softmax(logits)), targets)
'''}),
    "cross_entropy as -log(p * onehot) summed over nonzero terms": ("q5", {"cross_entropy": '''
def cross_entropy(logits, targets):
    p = softmax(logits)
    picked = p[torch.arange(p.shape[0]), targets]
    return -torch.log(picked).mean()
'''}),
    "predict returns floats": ("q6", {"predict": '''
def predict(logits):
    return logits.argmax(dim=1).float()
'''}),
    "predict over the wrong axis": ("q6", {"predict": '''
def predict(logits):
    return logits.argmax(dim=0)
'''}),
    "accuracy counts instead of averaging": ("q7", {"accuracy": '''
def accuracy(logits, targets):
    return float((predict(logits) == targets).sum())
'''}),
    "accuracy with integer division": ("q7", {"accuracy": '''
def accuracy(logits, targets):
    return int((predict(logits) == targets).sum()) // len(targets)
'''}),
}

VARIANTS = {
    "softmax as exp(log_softmax)": {"softmax": '''
def softmax(logits):
    return torch.exp(log_softmax(logits))
'''},
    "softmax with amax and a reciprocal": {"softmax": '''
def softmax(logits):
    e = (logits - logits.amax(dim=1, keepdim=True)).exp()
    return e * e.sum(dim=1, keepdim=True).reciprocal()
'''},
    "log_softmax by method chaining": {"log_softmax": '''
def log_softmax(logits):
    shifted = logits - logits.max(1, keepdim=True)[0]
    return shifted - shifted.exp().sum(1, keepdim=True).log()
'''},
    "one_hot by comparison with arange": {"one_hot": '''
def one_hot(targets, num_classes):
    return (targets[:, None] == torch.arange(num_classes)[None, :]).float()
'''},
    "one_hot by scatter_": {"one_hot": '''
def one_hot(targets, num_classes):
    return torch.zeros(len(targets), num_classes).scatter_(1, targets.unsqueeze(1), 1.0)
'''},
    "nll_loss with gather": {"nll_loss": '''
def nll_loss(log_probs, targets):
    return -log_probs.gather(1, targets.unsqueeze(1)).mean()
'''},
    "nll_loss as a one-hot weighted sum": {"nll_loss": '''
def nll_loss(log_probs, targets):
    weights = one_hot(targets, log_probs.shape[1]).to(log_probs.dtype)
    return -(log_probs * weights).sum() / log_probs.shape[0]
'''},
    "cross_entropy written out with log-sum-exp": {"cross_entropy": '''
def cross_entropy(logits, targets):
    m = logits.max(dim=1, keepdim=True).values
    lse = m.squeeze(1) + torch.log(torch.exp(logits - m).sum(dim=1))
    return (lse - logits[torch.arange(len(targets)), targets]).mean()
'''},
    "predict with torch.max(...).indices": {"predict": '''
def predict(logits):
    return torch.max(logits, dim=1).indices
'''},
    "accuracy as a 0-dim float64 tensor": {"accuracy": '''
def accuracy(logits, targets):
    return (logits.argmax(dim=1) == targets).to(torch.float64).mean()
'''},
}

#: bug -> the words its feedback must contain (case-insensitive): the cause, as the student reads it.
CAUSES = {
    "softmax over the wrong axis (dim=0)": "dim=1",
    "softmax without the max shift": ("overflows", "subtract each row's maximum"),
    "softmax sum without keepdim": "keepdim=True",
    "softmax calls torch.softmax": ("elementary tensor operations", "torch.softmax"),
    "log_softmax as log(softmax)": ("underflows to 0", "stay in log space"),
    "log_softmax without the shift inside log-sum-exp": ("overflows", "subtract the row maximum"),
    "log_softmax calls F.log_softmax": ("elementary tensor operations", "F.log_softmax"),
    "one_hot returns int64": ("float32", "not int64"),
    "one_hot ignores num_classes": "num_classes",
    "nll_loss sums instead of averaging": ("mean over the 2 samples", "a sum gives twice"),
    "nll_loss without the minus sign": "minus sign",
    "nll_loss indexes columns only (log_probs[:, targets])": "log_probs[:, targets]",
    "cross_entropy after a softmax (softmax applied twice)": "applied twice",
    "cross_entropy as -log(p * onehot) summed over nonzero terms": ("underflows to 0", "stay in log space"),
    "predict returns floats": "int64",
    "predict over the wrong axis": "dim=1",
    "accuracy counts instead of averaging": "divide the count",
    "accuracy with integer division": "integer division",
}
