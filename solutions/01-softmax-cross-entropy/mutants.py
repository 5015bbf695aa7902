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

# Right values through the library functions the notebook forbids, by routes the source scan misses:
# each must lose exactly its question's no-library points (found by what the call reached at run time).
EVASIONS = {
    "softmax imports F.softmax under another name inside the function": ("q1", {"softmax": '''
def softmax(logits):
    from torch.nn.functional import softmax as row_probs
    return row_probs(logits, dim=1)
'''}),
    "softmax through torch.distributions.Categorical(logits=...).probs": ("q1", {"softmax": '''
def softmax(logits):
    return torch.distributions.Categorical(logits=logits).probs
'''}),
    "log_softmax by getattr(torch, 'log_' + 'softmax')": ("q2", {"log_softmax": '''
def log_softmax(logits):
    return getattr(torch, "log_" + "softmax")(logits, dim=1)
'''}),
    "log_softmax through torch.ops.aten._log_softmax": ("q2", {"log_softmax": '''
def log_softmax(logits):
    return torch.ops.aten._log_softmax(logits, 1, False)
'''}),
    "one_hot looked up in vars(torch.nn.functional)": ("q3", {"one_hot": '''
def one_hot(targets, num_classes):
    return vars(torch.nn.functional)["one_" + "hot"](targets, num_classes).to(torch.float32)
'''}),
    "nll_loss through a default argument bound to F.nll_loss": ("q4", {"nll_loss": '''
def nll_loss(log_probs, targets, pick=torch.nn.functional.nll_loss):
    return pick(log_probs, targets)
'''}),
    "cross_entropy builds nn.CrossEntropyLoss by getattr": ("q5", {"cross_entropy": '''
def cross_entropy(logits, targets):
    criterion = getattr(torch.nn, "CrossEntropy" + "Loss")()
    return criterion(logits, targets)
'''}),
    "cross_entropy through eval of torch.nn.functional.cross_entropy": ("q5", {"cross_entropy": '''
def cross_entropy(logits, targets):
    return eval("torch.nn.functional." + "cross_entropy")(logits, targets)
'''}),
}

# The seeds' own functions, adapted only in name and signature (their helpers become this notebook's
# functions of the same job). None: right, must get full marks; a question: wrong, must lose points there.
SEED_CODE = {
    "seed 004: NumPy softmax without keepdims": ("q1", {"softmax": '''
def softmax(logits):
    """Y is n_samples X n_classes"""
    import numpy as np
    expY = np.exp(logits)
    P = expY / np.sum(expY, axis=1)
    return P
'''}),
    "seed 004: NumPy softmax with the row max and keepdims": ("q1", {"softmax": '''
def softmax(logits):
    """Y is n_samples X n_classes"""
    import numpy as np
    maxY_by_row = np.max(logits, axis=1, keepdims=True)
    expY = np.exp(logits - maxY_by_row)
    P = expY / np.sum(expY, axis=1, keepdims=True)
    return P
'''}),
    "seed 003: softmax by hand with keepdim, no shift": ("q1", {"softmax": '''
def softmax(logits):
    numerator = torch.exp(logits)
    denominator = torch.sum(torch.exp(logits), dim=1, keepdim=True)
    return numerator / denominator
'''}),
    "seed 003: cross-entropy as the log of the picked probability": ("q5", {"cross_entropy": '''
def cross_entropy(logits, targets):
    y_pred = softmax(logits)
    y_true_one_hot = one_hot(targets, logits.shape[1])
    return torch.mean(-torch.log(y_pred[torch.where(y_true_one_hot == 1)]))
'''}),
    "seed 003: log_softmax + F.nll_loss as cross-entropy": ("q5", {"cross_entropy": '''
def cross_entropy(logits, targets):
    import torch.nn.functional as F
    log_likelihood = torch.log_softmax(logits, dim=1)
    return F.nll_loss(log_likelihood, targets)
'''}),
    "seed 001: NLLLoss in NumPy on one-hot targets": ("q4", {"nll_loss": '''
def nll_loss(log_probs, targets):
    import numpy as np
    y_true, y_pred = one_hot(targets, log_probs.shape[1]), log_probs
    total_loss = -np.sum(y_true * y_pred)
    num_of_samples = y_pred.shape[0]
    mean_loss = total_loss / num_of_samples
    return mean_loss
'''}),
    "seed 003: the predicted class by argmax over dim 1": (None, {"predict": '''
def predict(logits):
    return torch.argmax(logits, dim=1)
'''}),
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
