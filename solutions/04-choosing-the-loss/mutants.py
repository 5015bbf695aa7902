"""Mutation catalogue of assignment 04 (see autograder/strength.py).

BUGS: realistic mistakes, each with the question that must lose points. Most come from the seeds:
seed 000's table of losses, activations and label shapes ([B] vs [B, 1], float vs int64 targets,
BCELoss vs BCEWithLogitsLoss, CrossEntropyLoss after a softmax), seed 001's BCE by hand with
'mean' and 'sum' and binary cross-entropy as two-class cross-entropy, seed 003's BCE from its
definition and log(p) of a probability that is exactly 0. VARIANTS: other correct ways to write
the same functions.
"""

# The solution's training loop, with a marker where the bugs and variants below change it.
_TRAIN = '''
def train(task, X, y, epochs, seed):
    torch.manual_seed(seed)
    inputs = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    targets = format_targets(task, y)
    if task == "binary":
        outputs = 1
    elif task == "multiclass":
        outputs = int(targets.max()) + 1
    else:
        outputs = targets.shape[1]
    model = SimpleMLP(inputs.shape[1], HIDDEN_UNITS, outputs)
    criterion = make_criterion(task)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=BATCH_SIZE, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    losses = []
    model.train()
    for _ in range(epochs):
        total, batches = 0.0, 0
        for batch_x, batch_t in loader:
            optimizer.zero_grad()
            loss = criterion(model(batch_x), batch_t)
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        losses.append(total / batches)
    return model, losses
'''


def _train_with(old: str, new: str) -> str:
    assert old in _TRAIN, old
    return _TRAIN.replace(old, new)


BUGS = {
    # ------------------------------------------------------------------ q1 sigmoid
    "sigmoid as 1 / (1 + exp(-x)) (nan gradient for x = -1e4)": ("q1", {"sigmoid": '''
def sigmoid(x):
    return 1 / (1 + torch.exp(-x))
'''}),
    "sigmoid as exp(x) / (1 + exp(x)) (nan for large x)": ("q1", {"sigmoid": '''
def sigmoid(x):
    return torch.exp(x) / (1 + torch.exp(x))
'''}),
    "sigmoid with the two branches swapped": ("q1", {"sigmoid": '''
def sigmoid(x):
    e = torch.exp(-torch.abs(x))
    return torch.where(x >= 0, e / (1 + e), 1 / (1 + e))
'''}),
    # Both textbook forms under torch.where: the values are right, but where backpropagates 0 into the
    # branch it did not pick, and 0 * inf = nan at x = +-1e4.
    "sigmoid by torch.where over the two textbook forms (nan gradient)": ("q1", {"sigmoid": '''
def sigmoid(x):
    return torch.where(x >= 0, 1 / (1 + torch.exp(-x)), torch.exp(x) / (1 + torch.exp(x)))
'''}),
    # exp(-|x|) with torch.abs: right values, but autograd's derivative of abs at 0 is 0, so the
    # gradient at exactly x = 0 is 0 instead of 0.25.
    "sigmoid with exp(-torch.abs(x)) (gradient 0 at x = 0)": ("q1", {"sigmoid": '''
def sigmoid(x):
    e = torch.exp(-torch.abs(x))
    return torch.where(x >= 0, 1 / (1 + e), e / (1 + e))
'''}),
    "sigmoid with clamped exponents (gradient 0 at x = 0)": ("q1", {"sigmoid": '''
def sigmoid(x):
    pos = 1 / (1 + torch.exp(-torch.clamp(x, min=0)))
    e = torch.exp(torch.clamp(x, max=0))
    return torch.where(x >= 0, pos, e / (1 + e))
'''}),
    "sigmoid calls torch.sigmoid": ("q1", {"sigmoid": '''
def sigmoid(x):
    return torch.sigmoid(x)
'''}),
    # ------------------------------------------------------------------ q2 binary_cross_entropy
    "BCE sums when asked for the mean": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    losses = -(targets * torch.clamp(torch.log(probs), min=-100)
               + (1 - targets) * torch.clamp(torch.log(1 - probs), min=-100))
    if reduction in ("mean", "sum"):
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "BCE without the minus sign": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    losses = targets * torch.clamp(torch.log(probs), min=-100) + (1 - targets) * torch.clamp(torch.log(1 - probs), min=-100)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "BCE mean divides by the batch size only, not by B*C": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    losses = -(targets * torch.clamp(torch.log(probs), min=-100)
               + (1 - targets) * torch.clamp(torch.log(1 - probs), min=-100))
    if reduction == "mean":
        return losses.sum() / probs.shape[0]
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "BCE without the clamp at -100 (0 * log 0 = nan)": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    losses = -(targets * torch.log(probs) + (1 - targets) * torch.log(1 - probs))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "BCE clamps the probabilities to [1e-7, 1 - 1e-7] instead of the logs": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    p = probs.clamp(1e-7, 1 - 1e-7)
    losses = -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "BCE picks one term with where(t == 1) (wrong for soft targets)": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    losses = -torch.where(targets == 1, torch.clamp(torch.log(probs), min=-100),
                          torch.clamp(torch.log(1 - probs), min=-100))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "BCE calls F.binary_cross_entropy": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    return F.binary_cross_entropy(probs, targets, reduction=reduction)
'''}),
    # ------------------------------------------------------------------ q3 bce_with_logits
    "bce_with_logits as log(sigmoid) (the detour through probabilities)": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    probs = sigmoid(logits)
    losses = -(targets * torch.log(probs) + (1 - targets) * torch.log(1 - probs))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
'''}),
    "bce_with_logits as (1 - t) z + log(1 + exp(-z)) without the split by sign": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    losses = (1 - targets) * logits + torch.log1p(torch.exp(-logits))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "bce_with_logits with + z t instead of - z t": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    losses = torch.clamp(logits, min=0) + logits * targets + torch.log1p(torch.exp(-torch.abs(logits)))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "bce_with_logits with exp(-z) instead of exp(-|z|)": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    losses = torch.clamp(logits, min=0) - logits * targets + torch.log1p(torch.exp(-logits))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "bce_with_logits ignores reduction='sum'": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    losses = torch.clamp(logits, min=0) - logits * targets + torch.log1p(torch.exp(-torch.abs(logits)))
    if reduction == "none":
        return losses
    return losses.mean()
'''}),
    # The textbook stable form with torch.clamp and torch.abs: right values, but the gradient at
    # exactly z = 0 is -t instead of 0.5 - t.
    "bce_with_logits with clamp(z, min=0) and abs(z) (gradient -t at z = 0)": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    losses = torch.clamp(logits, min=0) - logits * targets + torch.log1p(torch.exp(-torch.abs(logits)))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "bce_with_logits as t softplus(-z) + (1 - t) softplus(z), softplus with clamp and abs (gradient 0 at z = 0)": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    def softplus(v):  # log(1 + e^v) = max(v, 0) + log1p(e^-|v|)
        return torch.clamp(v, min=0) + torch.log1p(torch.exp(-torch.abs(v)))
    losses = targets * softplus(-logits) + (1 - targets) * softplus(logits)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    "bce_with_logits with torch.where and log(1 + exp(-|z|)) (gradient 1 - t at z = 0)": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    z, t = logits, targets
    losses = torch.where(z >= 0, z * (1 - t), -z * t) + torch.log(1 + torch.exp(-z.abs()))
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.sum() / losses.numel()
    raise ValueError(reduction)
'''}),
    "bce_with_logits calls F.softplus": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    losses = (1 - targets) * logits + F.softplus(-logits)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''}),
    # ------------------------------------------------------------------ q4 make_criterion
    "make_criterion: BCELoss on logits for the binary task": ("q4", {"make_criterion": '''
def make_criterion(task):
    if task == "binary":
        return nn.BCELoss()
    if task == "multilabel":
        return nn.BCEWithLogitsLoss()
    if task == "multiclass":
        return nn.CrossEntropyLoss()
    raise ValueError(task)
'''}),
    "make_criterion: NLLLoss on logits for the multi-class task": ("q4", {"make_criterion": '''
def make_criterion(task):
    if task in ("binary", "multilabel"):
        return nn.BCEWithLogitsLoss()
    if task == "multiclass":
        return nn.NLLLoss()
    raise ValueError(task)
'''}),
    "make_criterion: CrossEntropyLoss for the multi-label task": ("q4", {"make_criterion": '''
def make_criterion(task):
    if task == "binary":
        return nn.BCEWithLogitsLoss()
    if task in ("multiclass", "multilabel"):
        return nn.CrossEntropyLoss()
    raise ValueError(task)
'''}),
    "make_criterion: reduction='sum'": ("q4", {"make_criterion": '''
def make_criterion(task):
    if task in ("binary", "multilabel"):
        return nn.BCEWithLogitsLoss(reduction="sum")
    if task == "multiclass":
        return nn.CrossEntropyLoss(reduction="sum")
    raise ValueError(task)
'''}),
    "make_criterion returns the class, not an instance": ("q4", {"make_criterion": '''
def make_criterion(task):
    if task in ("binary", "multilabel"):
        return nn.BCEWithLogitsLoss
    if task == "multiclass":
        return nn.CrossEntropyLoss
    raise ValueError(task)
'''}),
    # ------------------------------------------------------------------ q5 format_targets
    "format_targets: binary targets of shape [B] for a [B, 1] output": ("q5", {"format_targets": '''
def format_targets(task, y):
    y = torch.as_tensor(np.asarray(y))
    if task == "binary":
        return y.float()
    if task == "multiclass":
        return y.long()
    if task == "multilabel":
        return y.float()
    raise ValueError(task)
'''}),
    "format_targets: float class indices for CrossEntropyLoss": ("q5", {"format_targets": '''
def format_targets(task, y):
    y = torch.as_tensor(np.asarray(y))
    if task == "binary":
        return y.float().reshape(-1, 1)
    if task in ("multiclass", "multilabel"):
        return y.float()
    raise ValueError(task)
'''}),
    "format_targets: int64 multi-label targets": ("q5", {"format_targets": '''
def format_targets(task, y):
    y = torch.as_tensor(np.asarray(y))
    if task == "binary":
        return y.float().reshape(-1, 1)
    if task in ("multiclass", "multilabel"):
        return y.long()
    raise ValueError(task)
'''}),
    "format_targets: squeeze() drops the batch of one sample": ("q5", {"format_targets": '''
def format_targets(task, y):
    y = torch.as_tensor(np.asarray(y))
    if task == "binary":
        return y.float().reshape(-1, 1)
    if task == "multiclass":
        return y.long().squeeze()
    if task == "multilabel":
        return y.float()
    raise ValueError(task)
'''}),
    "format_targets: float64 binary targets (torch.from_numpy of floats)": ("q5", {"format_targets": '''
def format_targets(task, y):
    if task == "binary":
        return torch.from_numpy(np.asarray(y, dtype=float)).reshape(-1, 1)
    y = torch.as_tensor(np.asarray(y))
    if task == "multiclass":
        return y.long()
    if task == "multilabel":
        return y.float()
    raise ValueError(task)
'''}),
    # ------------------------------------------------------------------ q6 predict_labels
    "predict_labels thresholds the logits instead of the probabilities": ("q6", {"predict_labels": '''
def predict_labels(task, logits, threshold=0.5):
    if task == "binary":
        return (logits > threshold).long().reshape(-1)
    if task == "multiclass":
        return logits.argmax(dim=1)
    if task == "multilabel":
        return (logits > threshold).long()
    raise ValueError(task)
'''}),
    "predict_labels: argmax for the multi-label task": ("q6", {"predict_labels": '''
def predict_labels(task, logits, threshold=0.5):
    if task == "binary":
        return (torch.sigmoid(logits) > threshold).long().reshape(-1)
    if task in ("multiclass", "multilabel"):
        return logits.argmax(dim=1)
    raise ValueError(task)
'''}),
    "predict_labels: binary labels keep the shape [B, 1]": ("q6", {"predict_labels": '''
def predict_labels(task, logits, threshold=0.5):
    if task == "binary":
        return (torch.sigmoid(logits) > threshold).long()
    if task == "multiclass":
        return logits.argmax(dim=1)
    if task == "multilabel":
        return (torch.sigmoid(logits) > threshold).long()
    raise ValueError(task)
'''}),
    "predict_labels ignores the threshold argument (always 0.5)": ("q6", {"predict_labels": '''
def predict_labels(task, logits, threshold=0.5):
    if task == "binary":
        return (logits > 0).long().reshape(-1)
    if task == "multiclass":
        return logits.argmax(dim=1)
    if task == "multilabel":
        return (logits > 0).long()
    raise ValueError(task)
'''}),
    "predict_labels: multi-label labels as bool": ("q6", {"predict_labels": '''
def predict_labels(task, logits, threshold=0.5):
    if task == "binary":
        return (torch.sigmoid(logits) > threshold).long().reshape(-1)
    if task == "multiclass":
        return logits.argmax(dim=1)
    if task == "multilabel":
        return torch.sigmoid(logits) > threshold
    raise ValueError(task)
'''}),
    "predict_labels: binary squeeze() gives a 0-dim tensor for one sample": ("q6", {"predict_labels": '''
def predict_labels(task, logits, threshold=0.5):
    if task == "binary":
        return (torch.sigmoid(logits) > threshold).long().squeeze()
    if task == "multiclass":
        return logits.argmax(dim=1)
    if task == "multilabel":
        return (torch.sigmoid(logits) > threshold).long()
    raise ValueError(task)
'''}),
    # ------------------------------------------------------------------ q7 train
    "train: a sigmoid before BCEWithLogitsLoss": ("q7", {"train": _train_with(
        "loss = criterion(model(batch_x), batch_t)",
        "out = model(batch_x)\n            if task != 'multiclass':\n                out = torch.sigmoid(out)\n"
        "            loss = criterion(out, batch_t)")}),
    "train: a softmax before CrossEntropyLoss": ("q7", {"train": _train_with(
        "loss = criterion(model(batch_x), batch_t)",
        "out = model(batch_x)\n            if task == 'multiclass':\n                out = torch.softmax(out, dim=1)\n"
        "            loss = criterion(out, batch_t)")}),
    "train: epoch loss is the sum of the batch losses": ("q7", {"train": _train_with(
        "losses.append(total / batches)", "losses.append(total)")}),
    # optimizer.step() after the batch loop: one step per epoch, with the last batch's gradient only.
    "train: one optimizer step per epoch": ("q7", {"train": _train_with(
        "            optimizer.step()\n            total += loss.item()\n            batches += 1\n",
        "            total += loss.item()\n            batches += 1\n        optimizer.step()\n")}),
    "train: forgets optimizer.zero_grad()": ("q7", {"train": _train_with(
        "            optimizer.zero_grad()\n", "")}),
    # ------------------------------------------------------------------ q8 loss_table
    "loss_table: binary targets [B] next to a [B, 1] output": ("q8", {"loss_table": '''
def loss_table():
    return {
        "binary": {"output_shape": ("B", 1), "target_shape": ("B",), "target_dtype": torch.float32,
                   "criterion": "BCEWithLogitsLoss", "activation": "sigmoid"},
        "multiclass": {"output_shape": ("B", "C"), "target_shape": ("B",), "target_dtype": torch.int64,
                       "criterion": "CrossEntropyLoss", "activation": "softmax"},
        "multilabel": {"output_shape": ("B", "C"), "target_shape": ("B", "C"), "target_dtype": torch.float32,
                       "criterion": "BCEWithLogitsLoss", "activation": "sigmoid"},
    }
'''}),
    "loss_table: float32 class indices for the multi-class task": ("q8", {"loss_table": '''
def loss_table():
    return {
        "binary": {"output_shape": ("B", 1), "target_shape": ("B", 1), "target_dtype": torch.float32,
                   "criterion": "BCEWithLogitsLoss", "activation": "sigmoid"},
        "multiclass": {"output_shape": ("B", "C"), "target_shape": ("B",), "target_dtype": torch.float32,
                       "criterion": "CrossEntropyLoss", "activation": "softmax"},
        "multilabel": {"output_shape": ("B", "C"), "target_shape": ("B", "C"), "target_dtype": torch.float32,
                       "criterion": "BCEWithLogitsLoss", "activation": "sigmoid"},
    }
'''}),
    "loss_table: softmax for the multi-label task": ("q8", {"loss_table": '''
def loss_table():
    return {
        "binary": {"output_shape": ("B", 1), "target_shape": ("B", 1), "target_dtype": torch.float32,
                   "criterion": "BCEWithLogitsLoss", "activation": "sigmoid"},
        "multiclass": {"output_shape": ("B", "C"), "target_shape": ("B",), "target_dtype": torch.int64,
                       "criterion": "CrossEntropyLoss", "activation": "softmax"},
        "multilabel": {"output_shape": ("B", "C"), "target_shape": ("B", "C"), "target_dtype": torch.float32,
                       "criterion": "BCEWithLogitsLoss", "activation": "softmax"},
    }
'''}),
    "loss_table: BCELoss as the binary criterion": ("q8", {"loss_table": '''
def loss_table():
    return {
        "binary": {"output_shape": ("B", 1), "target_shape": ("B", 1), "target_dtype": torch.float32,
                   "criterion": "BCELoss", "activation": "sigmoid"},
        "multiclass": {"output_shape": ("B", "C"), "target_shape": ("B",), "target_dtype": torch.int64,
                       "criterion": "CrossEntropyLoss", "activation": "softmax"},
        "multilabel": {"output_shape": ("B", "C"), "target_shape": ("B", "C"), "target_dtype": torch.float32,
                       "criterion": "BCEWithLogitsLoss", "activation": "sigmoid"},
    }
'''}),
    # ------------------------------------------------------------------ q9 two_class_logits
    "two_class_logits as (z, 0): columns swapped": ("q9", {"two_class_logits": '''
def two_class_logits(logits):
    return torch.cat([logits, torch.zeros_like(logits)], dim=1)
'''}),
    "two_class_logits as (-z, z): the difference is 2z": ("q9", {"two_class_logits": '''
def two_class_logits(logits):
    return torch.cat([-logits, logits], dim=1)
'''}),
    "two_class_logits as probabilities (1 - sigmoid, sigmoid)": ("q9", {"two_class_logits": '''
def two_class_logits(logits):
    p = torch.sigmoid(logits)
    return torch.cat([1 - p, p], dim=1)
'''}),
    "two_class_logits concatenated along dim 0": ("q9", {"two_class_logits": '''
def two_class_logits(logits):
    return torch.cat([torch.zeros_like(logits), logits], dim=0)
'''}),
}

VARIANTS = {
    "sigmoid with the conditions written as x < 0": {"sigmoid": '''
def sigmoid(x):
    negative = x < 0
    e = torch.exp(torch.where(negative, x, -x))  # -|x|, the -x branch at 0
    return torch.where(negative, e / (1 + e), 1 / (1 + e))
'''},
    "sigmoid by masked assignment": {"sigmoid": '''
def sigmoid(x):
    out = torch.empty_like(x)
    pos = x >= 0
    out[pos] = 1 / (1 + torch.exp(-x[pos]))
    e = torch.exp(x[~pos])
    out[~pos] = e / (1 + e)
    return out
'''},
    "BCE with log1p(-p) and torch.maximum": {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    floor = torch.tensor(-100.0, dtype=probs.dtype)
    log_p = torch.maximum(probs.log(), floor)
    log_q = torch.maximum(torch.log1p(-probs), floor)
    losses = -(targets * log_p + (1 - targets) * log_q)
    reducers = {"mean": torch.mean, "sum": torch.sum, "none": lambda v: v}
    if reduction not in reducers:
        raise ValueError(f"unknown reduction {reduction!r}")
    return reducers[reduction](losses)
'''},
    "bce_with_logits as t softplus(-z) + (1 - t) softplus(z), softplus by hand with torch.where": {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    def softplus(v):  # log(1 + e^v) = max(v, 0) + log1p(e^-|v|), both pieces from the v >= 0 side at 0
        pos = v >= 0
        return torch.where(pos, v, torch.zeros_like(v)) + torch.log1p(torch.exp(torch.where(pos, -v, v)))
    losses = targets * softplus(-logits) + (1 - targets) * softplus(logits)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    if reduction == "none":
        return losses
    raise ValueError(reduction)
'''},
    "bce_with_logits by sign with torch.where, finite in both branches": {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    z, t = logits, targets
    up = z >= 0
    losses = torch.where(up, (1 - t) * z, -t * z) + torch.log1p(torch.exp(torch.where(up, -z, z)))
    reducers = {"mean": torch.mean, "sum": torch.sum, "none": lambda v: v}
    if reduction not in reducers:
        raise ValueError(reduction)
    return reducers[reduction](losses)
'''},
    "make_criterion from a dict of classes": {"make_criterion": '''
def make_criterion(task):
    losses = {"binary": nn.BCEWithLogitsLoss, "multiclass": nn.CrossEntropyLoss, "multilabel": nn.BCEWithLogitsLoss}
    if task not in losses:
        raise ValueError(task)
    return losses[task](reduction="mean")
'''},
    "format_targets with torch.tensor and unsqueeze": {"format_targets": '''
def format_targets(task, y):
    if isinstance(y, torch.Tensor):
        y = y.numpy()
    if task == "binary":
        return torch.tensor(y, dtype=torch.float).unsqueeze(1)
    if task == "multiclass":
        return torch.tensor(y, dtype=torch.long)
    if task == "multilabel":
        return torch.tensor(y, dtype=torch.float)
    raise ValueError(task)
'''},
    "predict_labels with the logit of the threshold and softmax-argmax": {"predict_labels": '''
def predict_labels(task, logits, threshold=0.5):
    cut = float(np.log(threshold / (1 - threshold)))
    if task == "binary":
        return (logits[:, 0] > cut).long()
    if task == "multiclass":
        return torch.softmax(logits, dim=1).argmax(dim=1)
    if task == "multilabel":
        return (logits > cut).long()
    raise ValueError(task)
'''},
    "train: loss before zero_grad, model.zero_grad, sample-weighted epoch loss": {"train": '''
def train(task, X, y, epochs, seed):
    torch.manual_seed(seed)
    X = torch.tensor(np.asarray(X), dtype=torch.float32)
    t = format_targets(task, y)
    y_np = np.asarray(y)
    out = {"binary": 1, "multiclass": int(y_np.max()) + 1, "multilabel": y_np.shape[-1]}[task]
    model = SimpleMLP(X.shape[1], HIDDEN_UNITS, out)
    loss_fn = make_criterion(task)
    opt = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loader = DataLoader(TensorDataset(X, t), batch_size=BATCH_SIZE, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    history = []
    for epoch in range(epochs):
        seen, running = 0, 0.0
        for xb, tb in loader:
            loss = loss_fn(model(xb), tb)
            model.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item() * len(xb)
            seen += len(xb)
        history.append(running / seen)
    return model, history
'''},
    "loss_table with classes, lists, aliases and capitals": {"loss_table": '''
def loss_table():
    sig = {"activation": "Sigmoid", "criterion": nn.BCEWithLogitsLoss, "target_dtype": torch.float}
    return {
        "binary": {**sig, "output_shape": ["B", 1], "target_shape": ["B", 1]},
        "multiclass": {"output_shape": ["B", "C"], "target_shape": ["B"], "target_dtype": torch.long,
                       "criterion": nn.CrossEntropyLoss, "activation": "Softmax"},
        "multilabel": {**sig, "output_shape": ["B", "C"], "target_shape": ["B", "C"]},
    }
'''},
    "loss_table with nn. prefixes, loss instances, functions and shapes written as text": {"loss_table": '''
def loss_table():
    return {
        "binary": {"output_shape": "[B, 1]", "target_shape": "(B, 1)", "target_dtype": torch.float32,
                   "criterion": "nn.BCEWithLogitsLoss", "activation": torch.sigmoid},
        "multiclass": {"output_shape": ("B", "C"), "target_shape": ("B"), "target_dtype": "torch.int64",
                       "criterion": nn.CrossEntropyLoss(), "activation": "torch.softmax"},
        "multilabel": {"output_shape": "B, C", "target_shape": "[B, C]", "target_dtype": torch.float,
                       "criterion": "torch.nn.BCEWithLogitsLoss()", "activation": nn.Sigmoid()},
    }
'''},
    "two_class_logits as (-z/2, z/2)": {"two_class_logits": '''
def two_class_logits(logits):
    return torch.cat([-logits / 2, logits / 2], dim=1)
'''},
    "two_class_logits with F.pad": {"two_class_logits": '''
def two_class_logits(logits):
    return F.pad(logits, (1, 0))
'''},
}

# Right values through the library functions Part 1 forbids, by routes the source scan misses:
# each must lose exactly its question's no-library points (found by what the call reached at run time).
EVASIONS = {
    "sigmoid by the in-place tensor method sigmoid_() on a copy": ("q1", {"sigmoid": '''
def sigmoid(x):
    return x.clone().sigmoid_()
'''}),
    "sigmoid through a default argument bound to torch.special.expit": ("q1", {"sigmoid": '''
def sigmoid(x, squash=torch.special.expit):
    return squash(x)
'''}),
    "binary_cross_entropy looked up in vars(F)": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    return vars(F)["binary_cross_" + "entropy"](probs, targets, reduction=reduction)
'''}),
    "bce_with_logits through an ATen operator looked up by getattr(torch.ops.aten, ...)": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction)
    code = {"none": 0, "mean": 1, "sum": 2}[reduction]
    op = getattr(torch.ops.aten, "binary_cross_entropy_" + "with_logits")
    return op(logits, targets, None, None, code)
'''}),
    "bce_with_logits through a default argument bound to nn.BCEWithLogitsLoss": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean", loss_class=nn.BCEWithLogitsLoss):
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction)
    return loss_class(reduction=reduction)(logits, targets)
'''}),
}

# The seeds' own functions, adapted only in name and signature. None: right, must get full marks;
# a question: wrong, must lose points there.
SEED_CODE = {
    "seed 001 BCE: -np.mean(t log p + (1 - t) log(1 - p))": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    y_pred, y_true = probs, targets
    bce_loss = -np.mean(y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred))
    return bce_loss
'''}),
    "seed 001 BCEWithLogitsLoss: scipy's expit, then the logs": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    import scipy.special
    y_pred, y_true = logits, targets
    y_pred_sigmoid = scipy.special.expit(y_pred)
    loss = y_true * np.log(y_pred_sigmoid) + (1 - y_true) * np.log(1 - y_pred_sigmoid)
    if reduction == 'mean':
        bce_loss = -np.mean(loss)
    elif reduction == 'sum':
        bce_loss = -np.sum(loss)
    return bce_loss
'''}),
    "seed 003 BCE from its definition, torch.mean of the logs": ("q2", {"binary_cross_entropy": '''
def binary_cross_entropy(probs, targets, reduction="mean"):
    y_pred, y_true = probs, targets
    return torch.mean( - ( y_true*torch.log(y_pred) + (1-y_true)*torch.log(1.0-y_pred) ) )
'''}),
    "seed 003 F.binary_cross_entropy_with_logits": ("q3", {"bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    return F.binary_cross_entropy_with_logits(logits, targets)
'''}),
    "seed 000 training loop: zero_grad, loss on logits, mean batch loss per epoch": (None, {"train": '''
def train(task, X, y, epochs, seed):
    torch.manual_seed(seed)
    X_t = torch.tensor(np.asarray(X), dtype=torch.float32)
    y_t = format_targets(task, y)
    num_features = X_t.shape[1]
    output_dim = {"binary": 1, "multiclass": int(np.asarray(y).max()) + 1, "multilabel": y_t.shape[-1]}[task]
    dataloader = DataLoader(TensorDataset(X_t, y_t), batch_size=BATCH_SIZE, shuffle=True,
                            generator=torch.Generator().manual_seed(seed))
    model = SimpleMLP(input_dim=num_features, hidden_dim=HIDDEN_UNITS, output_dim=output_dim)
    criterion = make_criterion(task)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    model.train()
    losses = []
    for epoch in range(epochs):
        epoch_loss = 0.0
        for batch_x, batch_y in dataloader:
            optimizer.zero_grad()
            outputs = model(batch_x)
            loss = criterion(outputs, batch_y)
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item()
        epoch_loss /= len(dataloader)
        losses.append(epoch_loss)
    return model, losses
'''}),
}

#: bug -> the words its feedback must contain (case-insensitive): the cause, as the student reads it.
CAUSES = {
    "sigmoid as 1 / (1 + exp(-x)) (nan gradient for x = -1e4)": ("overflows", "exponentiate -|x|"),
    "sigmoid as exp(x) / (1 + exp(x)) (nan for large x)": ("overflows", "inf / inf = nan"),
    "sigmoid with the two branches swapped": "swapping the two branches",
    "sigmoid by torch.where over the two textbook forms (nan gradient)": ("torch.where computes both branches", "0 * inf = nan"),
    "sigmoid with exp(-torch.abs(x)) (gradient 0 at x = 0)": ("derivative 0", "torch.where(x >= 0, -x, x)"),
    "sigmoid with clamped exponents (gradient 0 at x = 0)": ("torch.clamp", "derivative 0"),
    "sigmoid calls torch.sigmoid": ("elementary tensor operations", "torch.sigmoid"),
    "BCE sums when asked for the mean": "'mean' divides by all B * C",
    "BCE without the minus sign": "minus sign",
    "BCE mean divides by the batch size only, not by B*C": "dividing by the batch size B",
    "BCE without the clamp at -100 (0 * log 0 = nan)": ("0 * -inf = nan", "clamp each logarithm at -100"),
    "BCE clamps the probabilities to [1e-7, 1 - 1e-7] instead of the logs": "clamping the probabilities instead",
    "BCE picks one term with where(t == 1) (wrong for soft targets)": "not a choice of one term",
    "BCE calls F.binary_cross_entropy": ("elementary tensor operations", "F.binary_cross_entropy"),
    "bce_with_logits as log(sigmoid) (the detour through probabilities)": ("sigmoid(-1e4) is exactly 0", "never go through a probability"),
    "bce_with_logits as (1 - t) z + log(1 + exp(-z)) without the split by sign": ("exp(-z) overflows", "split by sign"),
    "bce_with_logits with + z t instead of - z t": "minus z * t",
    "bce_with_logits with exp(-z) instead of exp(-|z|)": ("exp(-z) overflows", "only -|z|"),
    "bce_with_logits ignores reduction='sum'": "'sum' adds the elementwise losses up",
    "bce_with_logits with clamp(z, min=0) and abs(z) (gradient -t at z = 0)": ("derivative 0", "0.5 - t"),
    "bce_with_logits as t softplus(-z) + (1 - t) softplus(z), softplus with clamp and abs (gradient 0 at z = 0)": ("derivative 0", "0.5 - t"),
    "bce_with_logits with torch.where and log(1 + exp(-|z|)) (gradient 1 - t at z = 0)": ("torch.abs the derivative 0", "0.5 - t"),
    "bce_with_logits calls F.softplus": ("elementary tensor operations", "F.softplus"),
    "make_criterion: BCELoss on logits for the binary task": "nn.BCELoss wants probabilities",
    "make_criterion: NLLLoss on logits for the multi-class task": "nn.NLLLoss wants log-probabilities",
    "make_criterion: CrossEntropyLoss for the multi-label task": ("its own yes/no question", "multi-hot"),
    "make_criterion: reduction='sum'": "reduction='mean'",
    "make_criterion returns the class, not an instance": "call the class",
    "format_targets: binary targets of shape [B] for a [B, 1] output": "must be [B, 1] too",
    "format_targets: float class indices for CrossEntropyLoss": "int64 class indices",
    "format_targets: int64 multi-label targets": "float32 targets, not the int64 labels",
    "format_targets: squeeze() drops the batch of one sample": "squeeze() drops the batch dimension",
    "format_targets: float64 binary targets (torch.from_numpy of floats)": ("float32 targets", "float64"),
    "predict_labels thresholds the logits instead of the probabilities": "not to the logits themselves",
    "predict_labels: argmax for the multi-label task": "should have shape (2, 3)",
    "predict_labels: binary labels keep the shape [B, 1]": "should have shape (3,)",
    "predict_labels ignores the threshold argument (always 0.5)": "use the threshold argument",
    "predict_labels: multi-label labels as bool": "torch.int64",
    "predict_labels: binary squeeze() gives a 0-dim tensor for one sample": "not squeeze()",
    "train: a sigmoid before BCEWithLogitsLoss": "a sigmoid in front of BCEWithLogitsLoss",
    "train: a softmax before CrossEntropyLoss": "a softmax in front of CrossEntropyLoss",
    "train: epoch loss is the sum of the batch losses": "the mean of its batch losses",
    "train: one optimizer step per epoch": "once per batch",
    "train: forgets optimizer.zero_grad()": "zero_grad()",
    "loss_table: binary targets [B] next to a [B, 1] output": "must be the same as input size",
    "loss_table: float32 class indices for the multi-class task": "expected target dtype to be Long",
    "loss_table: softmax for the multi-label task": "applies a sigmoid to the logits itself",
    "loss_table: BCELoss as the binary criterion": ("BCELoss on raw logits", "between 0 and 1"),
    "two_class_logits as (z, 0): columns swapped": "with class 1 second",
    "two_class_logits as (-z, z): the difference is 2z": "exactly z",
    "two_class_logits as probabilities (1 - sigmoid, sigmoid)": "probabilities do not",
    "two_class_logits concatenated along dim 0": "along dim=1",
}
