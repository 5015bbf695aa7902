"""Mutation catalogue of assignment 02 (see autograder/strength.py).

BUGS: realistic mistakes, each with the question that must lose points. Most come from seed 002,
which this assignment is built on: its `derivadas` returns Theta.grad after backward() on the
caller's Theta (the gradient accumulates), its `gd` starts from ones and reads the global `Y`, its
`add_intercept` fills torch.zeros (float32), its softmax casts to double and has no max shift, and
its loss is -log((Y * P).sum(1)).mean(), the log of a softmax. The others are the axis/keepdim/sign/
mean slips of the softmax seeds, and the loop-order slips of a hand-written training loop.
VARIANTS: other correct ways to write the same functions.
"""

BUGS = {
    # ---------------------------------------------------------------- q1 add_intercept
    "add_intercept fills torch.zeros (float32) (seed 002)": ("q1", {"add_intercept": '''
def add_intercept(X):
    Xn = torch.zeros(X.shape[0], X.shape[1] + 1)
    Xn[:, 0] = 1
    Xn[:, 1:] = X
    return Xn
'''}),
    "add_intercept puts the ones column last": ("q1", {"add_intercept": '''
def add_intercept(X):
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1)
'''}),
    # ---------------------------------------------------------------- q2 softmax
    "softmax over the wrong axis (dim=0)": ("q2", {"softmax": '''
def softmax(X, Theta):
    logits = X @ Theta.T
    exps = torch.exp(logits - logits.max(dim=0, keepdim=True).values)
    return exps / exps.sum(dim=0, keepdim=True)
'''}),
    "softmax without the max shift": ("q2", {"softmax": '''
def softmax(X, Theta):
    exps = torch.exp(X @ Theta.T)
    return exps / exps.sum(dim=1, keepdim=True)
'''}),
    "softmax sum without keepdim": ("q2", {"softmax": '''
def softmax(X, Theta):
    logits = X @ Theta.T
    exps = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    return exps / exps.sum(dim=1)
'''}),
    "softmax casts to double, transpose trick (seed 002)": ("q2", {"softmax": '''
def softmax(X, Theta):
    logits = torch.matmul(X.double(), Theta.T.double())
    P = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    return (P.T / P.sum(axis=1)).T.double()
'''}),
    "softmax calls torch.softmax": ("q2", {"softmax": '''
def softmax(X, Theta):
    return torch.softmax(X @ Theta.T, dim=1)
'''}),
    "softmax shifted by the global max instead of each row's": ("q2", {"softmax": '''
def softmax(X, Theta):
    logits = X @ Theta.T
    exps = torch.exp(logits - logits.max())
    return exps / exps.sum(dim=1, keepdim=True)
'''}),
    # With a predict that goes through softmax, a softmax that fails must not cost q6 points too.
    "softmax forgets the transpose (X @ Theta), predict goes through softmax": ("q2", {
        "softmax": '''
def softmax(X, Theta):
    logits = X @ Theta
    exps = torch.exp(logits - logits.max(dim=1, keepdim=True).values)
    return exps / exps.sum(dim=1, keepdim=True)
''',
        "predict": '''
def predict(X, Theta):
    return softmax(X, Theta).argmax(dim=1)
'''}),
    # ---------------------------------------------------------------- q3 cross_entropy_loss
    "cross_entropy_loss as -log((Y * softmax).sum(1)) (seed 002)": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    P = softmax(X, Theta)
    p = (Y * P).sum(axis=1)
    return -torch.log(p).mean()
'''}),
    "cross_entropy_loss as Y * log(softmax)": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    return -(Y * torch.log(softmax(X, Theta))).sum(dim=1).mean()
'''}),
    "cross_entropy_loss sums instead of averaging": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    logits = X @ Theta.T
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -(Y * log_probs).sum()
'''}),
    "cross_entropy_loss averages over every entry (divides by n * c)": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    logits = X @ Theta.T
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -(Y * log_probs).mean()
'''}),
    "cross_entropy_loss without the minus sign": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    logits = X @ Theta.T
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return (Y * log_probs).sum(dim=1).mean()
'''}),
    "cross_entropy_loss calls F.cross_entropy": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    import torch.nn.functional as F
    return F.cross_entropy(X @ Theta.T, Y.argmax(dim=1))
'''}),
    "cross_entropy_loss clamps the probabilities before the log": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    P = softmax(X, Theta)
    return -(Y * torch.log(P.clamp_min(1e-12))).sum(dim=1).mean()
'''}),
    # Not a scalar: autograd.grad then fails in gradient, which must not cost q4 points too.
    "cross_entropy_loss forgets the mean (returns the (n,) per-sample losses)": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    logits = X @ Theta.T
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -(Y * log_probs).sum(dim=1)
'''}),
    "cross_entropy_loss indexes with the one-hot Y as if it held labels": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    logits = X @ Theta.T
    shifted = logits - logits.max(dim=1, keepdim=True).values
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -log_probs[torch.arange(X.shape[0]), Y].mean()
'''}),
    # ---------------------------------------------------------------- q4 gradient
    "gradient returns Theta.grad after backward on the caller's Theta (seed 002 derivadas)": ("q4", {"gradient": '''
def gradient(X, Theta, Y):
    Theta.requires_grad_(True)
    loss = cross_entropy_loss(X, Theta, Y)
    loss.backward()
    return Theta.grad
'''}),
    "gradient by autograd.grad on the caller's Theta (left requiring grad)": ("q4", {"gradient": '''
def gradient(X, Theta, Y):
    Theta.requires_grad_(True)
    (grad,) = torch.autograd.grad(cross_entropy_loss(X, Theta, Y), Theta)
    return grad
'''}),
    "gradient by the closed form, without autograd": ("q4", {"gradient": '''
def gradient(X, Theta, Y):
    return (softmax(X, Theta) - Y).T @ X / X.shape[0]
'''}),
    "gradient of the negated loss (sign flipped)": ("q4", {"gradient": '''
def gradient(X, Theta, Y):
    leaf = Theta.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(-cross_entropy_loss(X, leaf, Y), leaf)
    return grad
'''}),
    "gradient zeroes Theta.grad, but still on the caller's Theta": ("q4", {"gradient": '''
def gradient(X, Theta, Y):
    Theta.requires_grad_(True)
    if Theta.grad is not None:
        Theta.grad.zero_()
    cross_entropy_loss(X, Theta, Y).backward()
    return Theta.grad
'''}),
    # ---------------------------------------------------------------- q5 gradient_descent
    "gradient_descent records the loss after the step": ("q5", {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros(Y.shape[1], X.shape[1], dtype=X.dtype)
    losses = []
    for _ in range(max_iter):
        Theta = Theta - lr * gradient(X, Theta, Y)
        losses.append(cross_entropy_loss(X, Theta, Y).item())
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
    return Theta, losses
'''}),
    "gradient_descent stopping rule without abs()": ("q5", {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros(Y.shape[1], X.shape[1], dtype=X.dtype)
    losses = []
    for _ in range(max_iter):
        losses.append(cross_entropy_loss(X, Theta, Y).item())
        if len(losses) > 1 and losses[-1] - losses[-2] <= tol:
            break
        Theta = Theta - lr * gradient(X, Theta, Y)
    return Theta, losses
'''}),
    "gradient_descent steps before testing the tolerance": ("q5", {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros(Y.shape[1], X.shape[1], dtype=X.dtype)
    losses = []
    for _ in range(max_iter):
        losses.append(cross_entropy_loss(X, Theta, Y).item())
        Theta = Theta - lr * gradient(X, Theta, Y)
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
    return Theta, losses
'''}),
    "gradient_descent starts from ones (seed 002 gd)": ("q5", {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.ones(Y.shape[1], X.shape[1], dtype=X.dtype)
    losses = []
    for _ in range(max_iter):
        losses.append(cross_entropy_loss(X, Theta, Y).item())
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
        Theta = Theta - lr * gradient(X, Theta, Y)
    return Theta, losses
'''}),
    "gradient_descent runs max_iter + 1 iterations": ("q5", {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros(Y.shape[1], X.shape[1], dtype=X.dtype)
    losses = []
    i = 0
    while i <= max_iter:
        losses.append(cross_entropy_loss(X, Theta, Y).item())
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
        Theta = Theta - lr * gradient(X, Theta, Y)
        i += 1
    return Theta, losses
'''}),
    "gradient_descent adds the gradient (ascent)": ("q5", {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros(Y.shape[1], X.shape[1], dtype=X.dtype)
    losses = []
    for _ in range(max_iter):
        losses.append(cross_entropy_loss(X, Theta, Y).item())
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
        Theta = Theta + lr * gradient(X, Theta, Y)
    return Theta, losses
'''}),
    "gradient_descent with float32 Theta whatever the dtype of X": ("q5", {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros(Y.shape[1], X.shape[1])
    losses = []
    for _ in range(max_iter):
        losses.append(cross_entropy_loss(X.float(), Theta, Y.float()).item())
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
        Theta = Theta - lr * gradient(X.float(), Theta, Y.float())
    return Theta, losses
'''}),
    "gradient_descent with a float64 Theta whatever the dtype of X": ("q5", {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros(Y.shape[1], X.shape[1], dtype=torch.float64)
    losses = []
    for _ in range(max_iter):
        losses.append(cross_entropy_loss(X, Theta, Y).item())
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
        Theta = Theta - lr * gradient(X, Theta, Y)
    return Theta, losses
'''}),
    # ---------------------------------------------------------------- q6 predict
    "predict returns floats": ("q6", {"predict": '''
def predict(X, Theta):
    return (X @ Theta.T).argmax(dim=1).float()
'''}),
    "predict over the wrong axis": ("q6", {"predict": '''
def predict(X, Theta):
    return (X @ Theta.T).argmax(dim=0)
'''}),
    "predict returns the largest logit instead of its index": ("q6", {"predict": '''
def predict(X, Theta):
    return (X @ Theta.T).max(dim=1).values
'''}),
    # ---------------------------------------------------------------- q7 train_with_nn
    "train_with_nn without zero_grad": ("q7", {"train_with_nn": '''
def train_with_nn(X, Y, lr, steps):
    model = nn.Linear(X.shape[1], Y.shape[1], bias=False, dtype=X.dtype)
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0)
    criterion = nn.CrossEntropyLoss()
    targets = Y.argmax(dim=1)
    losses = []
    for _ in range(steps):
        loss = criterion(model(X), targets)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    return model, losses
'''}),
    "train_with_nn keeps the random initial weights": ("q7", {"train_with_nn": '''
def train_with_nn(X, Y, lr, steps):
    model = nn.Linear(X.shape[1], Y.shape[1], bias=False, dtype=X.dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0)
    criterion = nn.CrossEntropyLoss()
    targets = Y.argmax(dim=1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(X), targets)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    return model, losses
'''}),
    "train_with_nn with momentum 0.9 (copied from a tutorial)": ("q7", {"train_with_nn": '''
def train_with_nn(X, Y, lr, steps):
    model = nn.Linear(X.shape[1], Y.shape[1], bias=False, dtype=X.dtype)
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    targets = Y.argmax(dim=1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(X), targets)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    return model, losses
'''}),
    "train_with_nn forgets dtype=X.dtype (float32 layer)": ("q7", {"train_with_nn": '''
def train_with_nn(X, Y, lr, steps):
    model = nn.Linear(X.shape[1], Y.shape[1], bias=False)
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0)
    criterion = nn.CrossEntropyLoss()
    targets = Y.argmax(dim=1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(X), targets)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    return model, losses
'''}),
    "train_with_nn records the loss after the step": ("q7", {"train_with_nn": '''
def train_with_nn(X, Y, lr, steps):
    model = nn.Linear(X.shape[1], Y.shape[1], bias=False, dtype=X.dtype)
    with torch.no_grad():
        model.weight.zero_()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0)
    criterion = nn.CrossEntropyLoss()
    targets = Y.argmax(dim=1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        criterion(model(X), targets).backward()
        optimizer.step()
        losses.append(criterion(model(X), targets).item())
    return model, losses
'''}),
}

VARIANTS = {
    "add_intercept with F.pad": {"add_intercept": '''
def add_intercept(X):
    import torch.nn.functional as F
    return F.pad(X, (1, 0), value=1.0)
'''},
    "add_intercept with hstack and ones_like": {"add_intercept": '''
def add_intercept(X):
    return torch.hstack([torch.ones_like(X[:, :1]), X])
'''},
    "add_intercept relying on torch.cat's type promotion": {"add_intercept": '''
def add_intercept(X):
    return torch.cat((torch.ones(len(X), 1), X), 1)
'''},
    "softmax as exp(z - m - log sum exp(z - m))": {"softmax": '''
def softmax(X, Theta):
    z = torch.matmul(X, Theta.t())
    z = z - z.amax(dim=1, keepdim=True)
    return torch.exp(z - torch.log(torch.exp(z).sum(dim=-1, keepdim=True)))
'''},
    "cross_entropy_loss with gather on the class indices": {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    z = X @ Theta.T
    m = z.max(dim=1, keepdim=True).values
    log_probs = z - m - torch.log(torch.exp(z - m).sum(dim=1, keepdim=True))
    return -log_probs.gather(1, Y.argmax(dim=1, keepdim=True)).mean()
'''},
    "cross_entropy_loss with fancy indexing, lse - z_true": {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    z = X @ Theta.T
    m = z.max(dim=1).values
    lse = m + torch.log(torch.exp(z - m[:, None]).sum(dim=1))
    true = z[torch.arange(z.shape[0]), Y.argmax(dim=1)]
    return (lse - true).mean()
'''},
    "cross_entropy_loss as a one-hot weighted total over n": {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    z = X @ Theta.T
    z = z - z.max(dim=1, keepdim=True)[0]
    return (Y * (torch.log(torch.exp(z).sum(dim=1, keepdim=True)) - z)).sum() / X.shape[0]
'''},
    "gradient by backward() on a fresh leaf": {"gradient": '''
def gradient(X, Theta, Y):
    leaf = Theta.detach().clone()
    leaf.requires_grad = True
    cross_entropy_loss(X, leaf, Y).backward()
    return leaf.grad
'''},
    "gradient computed in float64 and cast back": {"gradient": '''
def gradient(X, Theta, Y):
    leaf = Theta.detach().to(torch.float64).requires_grad_()
    loss = cross_entropy_loss(X.double(), leaf, Y.double())
    return torch.autograd.grad(loss, [leaf])[0].to(Theta.dtype)
'''},
    "gradient on Theta.detach() without a clone": {"gradient": '''
def gradient(X, Theta, Y):
    leaf = Theta.detach().requires_grad_()
    return torch.autograd.grad(cross_entropy_loss(X, leaf, Y), leaf)[0]
'''},
    "gradient_descent as a while loop with an in-place update": {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros((Y.shape[1], X.shape[1]), dtype=X.dtype)
    losses = []
    previous = None
    i = 0
    while i < max_iter:
        loss = float(cross_entropy_loss(X, Theta, Y))
        losses.append(loss)
        if previous is not None and abs(loss - previous) <= tol:
            break
        with torch.no_grad():
            Theta -= lr * gradient(X, Theta, Y)
        previous = loss
        i += 1
    return Theta, losses
'''},
    "gradient_descent with a 0-dim tensor comparison and zeros_like": {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    Theta = torch.zeros_like(Y.T @ X)
    losses = []
    old = None
    for step in range(max_iter):
        loss = cross_entropy_loss(X, Theta, Y).detach()
        losses.append(loss.item())
        if old is not None and (loss - old).abs() <= tol:
            break
        old = loss
        Theta = Theta - lr * gradient(X, Theta, Y)
    return Theta, losses
'''},
    "gradient_descent keeping Theta in float64, cast back at the end": {"gradient_descent": '''
def gradient_descent(X, Y, lr, tol, max_iter):
    X64, Y64 = X.double(), Y.double()
    Theta = torch.zeros(Y.shape[1], X.shape[1], dtype=torch.float64)
    losses = []
    for _ in range(max_iter):
        losses.append(cross_entropy_loss(X64, Theta, Y64).item())
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
        Theta = Theta - lr * gradient(X64, Theta, Y64)
    return Theta.to(X.dtype), losses
'''},
    "predict via argmax of the softmax (seed 002 previsoes)": {"predict": '''
def predict(X, Theta):
    return softmax(X, Theta).argmax(axis=1)
'''},
    "predict with torch.max(...).indices": {"predict": '''
def predict(X, Theta):
    return torch.max(X @ Theta.T, dim=1).indices
'''},
    "train_with_nn with init.zeros_, F.cross_entropy and one-hot targets": {"train_with_nn": '''
def train_with_nn(X, Y, lr, steps):
    import torch.nn.functional as F
    model = nn.Linear(X.shape[1], Y.shape[1], bias=False).to(X.dtype)
    nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(X), Y)  # class probabilities as targets: same loss for one-hot Y
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return model, losses
'''},
    "train_with_nn zeroing the model's grads, weight.data.fill_": {"train_with_nn": '''
def train_with_nn(X, Y, lr, steps):
    model = nn.Linear(X.shape[1], Y.shape[1], bias=False, dtype=X.dtype)
    model.weight.data.fill_(0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0)
    criterion = nn.CrossEntropyLoss()
    labels = torch.argmax(Y, 1)
    losses = []
    step = 0
    while step < steps:
        model.zero_grad()
        out = model(X)
        loss = criterion(out, labels)
        loss.backward()
        losses.append(loss.item())
        optimizer.step()
        step += 1
    return model, losses
'''},
}

NOTEBOOK_BUGS = {
    # Seed 002's gd: the parameter is `y` but the body reads the notebook's global one-hot `Y`.
    # Only a whole notebook has that global, so only whole-notebook grading shows the real symptom.
    "gradient_descent reads the global Y (seed 002 gd)": ("q5", {
        "def gradient_descent(X, Y, lr, tol, max_iter):": "def gradient_descent(X, y, lr, tol, max_iter):",
    }),
}

# Right values through the library functions the notebook forbids, by routes the source scan misses:
# each must lose exactly its question's no-library points (found by what the call reached at run time).
EVASIONS = {
    "softmax imports F.softmax under another name inside the function": ("q2", {"softmax": '''
def softmax(X, Theta):
    from torch.nn.functional import softmax as class_probabilities
    return class_probabilities(X @ Theta.T, dim=1)
'''}),
    "softmax through torch.distributions.Categorical(logits=...).probs": ("q2", {"softmax": '''
def softmax(X, Theta):
    return torch.distributions.Categorical(logits=X @ Theta.T).probs
'''}),
    "cross_entropy_loss by getattr(F, 'cross_' + 'entropy') with probability targets": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    import torch.nn.functional as F
    return getattr(F, "cross_" + "entropy")(X @ Theta.T, Y)
'''}),
    "cross_entropy_loss through torch.ops.aten._log_softmax": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    log_probs = torch.ops.aten._log_softmax(X @ Theta.T, 1, False)
    return -(Y * log_probs).sum(dim=1).mean()
'''}),
}

# Seed 002, the notebook this assignment is built on, function by function, adapted only in name and
# signature (its derivadas/loss/gd become gradient/cross_entropy_loss/gradient_descent). None: right,
# must get full marks; a question: wrong, must lose points there.
SEED_CODE = {
    "seed 002 add_intercept: torch.zeros is float32": ("q1", {"add_intercept": '''
def add_intercept(X):
    Xn = torch.zeros(X.shape[0], X.shape[1] + 1)
    Xn[:, 0]  = 1
    Xn[:, 1:] = X
    return Xn
'''}),
    "seed 002 softmax: .double() and no max shift": ("q2", {"softmax": '''
def softmax(X, Theta):
    """
    Aqui Theta e a matriz de parametros e X uma matriz.
    """
    P = torch.exp(torch.matmul(X.double(), (Theta.T).double()))
    return (P.T / P.sum(axis=1)).T.double()
'''}),
    "seed 002 loss: -log((Y * P).sum(1)).mean()": ("q3", {"cross_entropy_loss": '''
def cross_entropy_loss(X, Theta, Y):
    P = softmax(X, Theta)
    p = (Y * P).sum(axis=1)
    return -torch.log(p).mean()
'''}),
    "seed 002 derivadas: returns Theta.grad, which accumulates": ("q4", {"gradient": '''
def gradient(X, Theta, Y):
    l = cross_entropy_loss(X, Theta, Y)
    l.backward()
    return Theta.grad
'''}),
    "seed 002 gd: reads the global Y, starts from ones, returns Theta only": ("q5", {"gradient_descent": '''
def gradient_descent(X, y, lr, tol, max_iter):
    d_fun, loss_fun, lambda_ = gradient, cross_entropy_loss, lr
    theta = torch.ones(Y.shape[1],X.shape[1])
    theta.requires_grad_(True)
    old_lf = np.inf
    i = 0
    while True:
        theta.requires_grad_(True)
        grad = d_fun(X,theta,y)
        with torch.no_grad():
            theta_novo = theta - lambda_ * grad
        lf = loss_fun(X, theta, y)
        if torch.abs(old_lf - lf) <= tol:
            break
        theta = theta_novo
        old_lf = lf
        i += 1
        if i == max_iter:
            break
    return theta
'''}),
    "seed 002 previsoes: argmax of the softmax": (None, {"predict": '''
def predict(X, Theta):
    P = softmax(X, Theta)
    return P.argmax(axis=1)
'''}),
}

#: bug -> the words its feedback must contain (case-insensitive): the cause, as the student reads it.
CAUSES = {
    "add_intercept fills torch.zeros (float32) (seed 002)": "dtype=X.dtype",
    "add_intercept puts the ones column last": "column of ones first",
    "softmax over the wrong axis (dim=0)": "dim=1",
    "softmax without the max shift": ("overflows", "subtract each row's own maximum"),
    "softmax sum without keepdim": "keepdim=True",
    "softmax casts to double, transpose trick (seed 002)": "should have dtype torch.float32",
    "softmax calls torch.softmax": ("elementary tensor operations", "torch.softmax"),
    "softmax shifted by the global max instead of each row's": ("whole matrix", "each row's own maximum"),
    "softmax forgets the transpose (X @ Theta), predict goes through softmax": "X @ Theta.T",
    "cross_entropy_loss as -log((Y * softmax).sum(1)) (seed 002)": ("underflows to 0", "stay in log space"),
    "cross_entropy_loss as Y * log(softmax)": ("0 * -inf = nan", "stay in log space"),
    "cross_entropy_loss sums instead of averaging": "a sum over the samples",
    "cross_entropy_loss averages over every entry (divides by n * c)": "a mean over every entry",
    "cross_entropy_loss without the minus sign": "minus sign",
    "cross_entropy_loss calls F.cross_entropy": ("elementary tensor operations", "F.cross_entropy"),
    "cross_entropy_loss clamps the probabilities before the log": "clamping the probabilities",
    "cross_entropy_loss forgets the mean (returns the (n,) per-sample losses)": ("should have shape ()", "mean over the samples"),
    "cross_entropy_loss indexes with the one-hot Y as if it held labels": "not a vector of labels",
    "gradient returns Theta.grad after backward on the caller's Theta (seed 002 derivadas)": ("adds to Theta.grad", "accumulates"),
    "gradient by autograd.grad on the caller's Theta (left requiring grad)": ("requires_grad=True", "fresh leaf"),
    "gradient by the closed form, without autograd": "should use autograd",
    "gradient of the negated loss (sign flipped)": "sign",
    "gradient zeroes Theta.grad, but still on the caller's Theta": ("requires_grad=True", "fresh leaf"),
    "gradient_descent records the loss after the step": "before taking the step",
    "gradient_descent stopping rule without abs()": "abs()",
    "gradient_descent steps before testing the tolerance": "test the tolerance before taking another step",
    "gradient_descent starts from ones (seed 002 gd)": "Theta starts as zeros",
    "gradient_descent runs max_iter + 1 iterations": "at most max_iter iterations",
    "gradient_descent adds the gradient (ascent)": "against the gradient",
    "gradient_descent with float32 Theta whatever the dtype of X": "should have dtype torch.float64",
    "gradient_descent with a float64 Theta whatever the dtype of X": "dtype=X.dtype",
    "predict returns floats": "int64",
    "predict over the wrong axis": "dim=1",
    "predict returns the largest logit instead of its index": "not the logit itself",
    "train_with_nn without zero_grad": "zero_grad()",
    "train_with_nn keeps the random initial weights": "zero weights",
    "train_with_nn with momentum 0.9 (copied from a tutorial)": "momentum=0",
    "train_with_nn forgets dtype=X.dtype (float32 layer)": "dtype=X.dtype",
    "train_with_nn records the loss after the step": "before optimizer.step()",
    "gradient_descent reads the global Y (seed 002 gd)": "global variable",
}
