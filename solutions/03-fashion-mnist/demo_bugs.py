"""Buggy variants of the solution for the demo submissions, and the points each must cost.

``two-bugs``: ``evaluate`` never switches to eval mode, and ``train_one_epoch`` averages the batch
means. Neither changes how the two Fashion-MNIST models train (they have no dropout or batch
norm, and the returned loss is only reported), so only q5's and q6's tests notice: their public
checks (a mean per sample with lr=0, eval mode on a batch-norm model) and one hidden test each.
"""

BUGS = {
    # Averages the per-batch means: wrong whenever the last batch is smaller.
    "train_one_epoch": '''
def train_one_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    batch_means = []
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        batch_means.append(loss.item())
    return sum(batch_means) / len(batch_means)
''',
    # Forgets model.eval(): batch norm would normalise with batch statistics and update its averages.
    "evaluate": '''
def evaluate(model, loader, device):
    correct, seen = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            seen += len(labels)
    return correct / seen
''',
}

#: q5's public check and per-sample loss test (1 + 1), q6's public check and eval-mode test (1 + 1).
POINTS_LOST = {"q5": 2, "q6": 2}

_NO_ZERO_GRAD = {
    # Gradients pile up from batch to batch: q5's parameter test fails, and on Fashion-MNIST the
    # softmax regression stalls far below 0.82 (0.68-0.72 measured) while the MLP diverges (accuracy 0.1).
    "train_one_epoch": '''
def train_one_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    total_loss, seen = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        seen += len(labels)
    return total_loss / seen
''',
}

_TINY_LEARNING_RATE = {
    # Every function is right, but the learning rate (1e-4, copied from an Adam example) is far too
    # small for SGD: after the same epochs neither model gets anywhere near 0.80.
    "train_softmax_regression": '''
def train_softmax_regression(train_set, valid_set, device):
    torch.manual_seed(SEED)
    train_loader, valid_loader = make_loaders(train_set, valid_set, batch_size=128, seed=SEED)
    model = build_softmax_regression()
    history = fit(model, train_loader, valid_loader, epochs=4, lr=1e-4, device=device)
    return model, history
''',
    "train_mlp": '''
def train_mlp(train_set, valid_set, device):
    torch.manual_seed(SEED)
    train_loader, valid_loader = make_loaders(train_set, valid_set, batch_size=128, seed=SEED)
    model = build_mlp(hidden=256)
    history = fit(model, train_loader, valid_loader, epochs=6, lr=1e-4, device=device)
    return model, history
''',
}

EXTRA_DEMOS = {
    # q5's public check (its .grad holds every batch's gradient) and parameter test (1 + 2); q8's
    # public check (the validation split) and both accuracy thresholds (1 + 2 + 2).
    "forgets-zero-grad": (_NO_ZERO_GRAD, {"q5": 3, "q8": 5}),
    # q8's public check and both accuracy thresholds of q8 (1 + 2 + 2).
    "never-beats-0.80": (_TINY_LEARNING_RATE, {"q8": 5}),
}
