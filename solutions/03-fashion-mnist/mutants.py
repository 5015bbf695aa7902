"""Mutation catalogue of assignment 03 (see autograder/strength.py).

BUGS come from seed 002's training loop and the mistakes the issue names: a forgotten zero_grad,
train/eval mode never set, a loss averaged per batch instead of per sample, evaluating on the
training set, an unseeded or shuffled test loader, a model without Flatten or without ReLU.
q8 grades the trained models themselves; the demo submissions 'forgets-zero-grad' and
'never-beats-0.80' already show it failing models end to end, so no NOTEBOOK_BUGS repeat that here.
"""

BUGS = {
    "get_device ignores GRADING_DEVICE": ("q1", {"get_device": '''
def get_device():
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
'''}),
    "get_device always returns the CPU": ("q1", {"get_device": '''
def get_device():
    return torch.device(os.environ.get("GRADING_DEVICE", "cpu"))
'''}),
    "make_loaders shuffles the test loader": ("q2", {"make_loaders": '''
def make_loaders(train_set, test_set, batch_size, seed):
    generator = torch.Generator().manual_seed(seed)
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator),
            DataLoader(test_set, batch_size=batch_size, shuffle=True))
'''}),
    "make_loaders ignores the seed": ("q2", {"make_loaders": '''
def make_loaders(train_set, test_set, batch_size, seed):
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True),
            DataLoader(test_set, batch_size=batch_size, shuffle=False))
'''}),
    "make_loaders drops the last partial batch": ("q2", {"make_loaders": '''
def make_loaders(train_set, test_set, batch_size, seed):
    generator = torch.Generator().manual_seed(seed)
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=generator, drop_last=True),
            DataLoader(test_set, batch_size=batch_size, shuffle=False))
'''}),
    "softmax regression without Flatten": ("q3", {"build_softmax_regression": '''
def build_softmax_regression():
    return nn.Sequential(nn.Linear(28 * 28, 10))
'''}),
    "softmax regression ending in a softmax (not logits)": ("q3", {"build_softmax_regression": '''
def build_softmax_regression():
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10), nn.Softmax(dim=1))
'''}),
    "MLP without the ReLU": ("q4", {"build_mlp": '''
def build_mlp(hidden=256):
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.Linear(hidden, 10))
'''}),
    "MLP ignores the hidden size": ("q4", {"build_mlp": '''
def build_mlp(hidden=256):
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 128), nn.ReLU(), nn.Linear(128, 10))
'''}),
    "train_one_epoch forgets zero_grad": ("q5", {"train_one_epoch": '''
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
'''}),
    "train_one_epoch never sets train mode": ("q5", {"train_one_epoch": '''
def train_one_epoch(model, loader, loss_fn, optimizer, device):
    total_loss, seen = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        seen += len(labels)
    return total_loss / seen
'''}),
    "train_one_epoch averages per batch, not per sample": ("q5", {"train_one_epoch": '''
def train_one_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    losses = []
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)
'''}),
    "evaluate never sets eval mode": ("q6", {"evaluate": '''
def evaluate(model, loader, device):
    correct, seen = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            seen += len(labels)
    return correct / seen
'''}),
    "evaluate runs with autograd on": ("q6", {"evaluate": '''
def evaluate(model, loader, device):
    model.eval()
    correct, seen = 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        correct += (model(images).argmax(dim=1) == labels).sum().item()
        seen += len(labels)
    return correct / seen
'''}),
    "evaluate averages per-batch accuracies": ("q6", {"evaluate": '''
def evaluate(model, loader, device):
    model.eval()
    accuracies = []
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            accuracies.append((model(images).argmax(dim=1) == labels).float().mean().item())
    return sum(accuracies) / len(accuracies)
'''}),
    "fit reports the training set as the test accuracy": ("q7", {"fit": '''
def fit(model, train_loader, test_loader, epochs, lr, device):
    model.to(device)
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    history = {"train_loss": [], "train_acc": [], "test_acc": []}
    for _ in tqdm(range(epochs), desc="epochs"):
        history["train_loss"].append(train_one_epoch(model, train_loader, loss_fn, optimizer, device))
        scheduler.step()
        history["train_acc"].append(evaluate(model, train_loader, device))
        history["test_acc"].append(evaluate(model, train_loader, device))
    return history
'''}),
}

# Mistakes outside a function's contract, graded as whole notebooks (they need the real training).
NOTEBOOK_BUGS = {
    # Every function is right, but the learning rate (1e-4, copied from an Adam example) is far too
    # small for SGD: after the same epochs neither model gets anywhere near 0.80.
    "q8 trains with lr=1e-4 (copied from an Adam example)": ("q8", {
        "epochs=4, lr=0.05": "epochs=4, lr=1e-4",
        "epochs=6, lr=0.05": "epochs=6, lr=1e-4",
    }),
}

VARIANTS = {
    "get_device with `or`": {"get_device": '''
def get_device():
    return torch.device(os.environ.get("GRADING_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu"))
'''},
    "get_device asking torch.cuda.device_count() > 0": {"get_device": '''
def get_device():
    wanted = os.environ.get("GRADING_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda") if torch.cuda.device_count() > 0 else torch.device("cpu")
'''},
    "get_device with is_available imported by name": {"get_device": '''
from torch.cuda import is_available


def get_device():
    return torch.device(os.environ.get("GRADING_DEVICE") or ("cuda" if is_available() else "cpu"))
'''},
    "get_device through torch.accelerator": {"get_device": '''
def get_device():
    if os.environ.get("GRADING_DEVICE"):
        return torch.device(os.environ["GRADING_DEVICE"])
    return torch.accelerator.current_accelerator() if torch.accelerator.is_available() else torch.device("cpu")
'''},
    "MLP class whose output layer is assigned first in __init__": {"build_mlp": '''
class OutputFirstMLP(nn.Module):
    """The layers are registered out, hidden; forward applies hidden, then out."""

    def __init__(self, hidden):
        super().__init__()
        self.out = nn.Linear(hidden, 10)
        self.hidden = nn.Linear(28 * 28, hidden)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x.flatten(1))))


def build_mlp(hidden=256):
    return OutputFirstMLP(hidden)
'''},
    "make_loaders with an explicit RandomSampler": {"make_loaders": '''
def make_loaders(train_set, test_set, batch_size, seed):
    from torch.utils.data import RandomSampler
    sampler = RandomSampler(train_set, generator=torch.Generator().manual_seed(seed))
    return DataLoader(train_set, batch_size=batch_size, sampler=sampler), DataLoader(test_set, batch_size=batch_size)
'''},
    "softmax regression with Flatten(start_dim=1)": {"build_softmax_regression": '''
def build_softmax_regression():
    return nn.Sequential(nn.Flatten(start_dim=1), nn.Linear(784, 10))
'''},
    "MLP with named layers": {"build_mlp": '''
def build_mlp(hidden=256):
    from collections import OrderedDict
    return nn.Sequential(OrderedDict(flat=nn.Flatten(), fc1=nn.Linear(784, hidden), act=nn.ReLU(),
                                     fc2=nn.Linear(hidden, 10)))
'''},
    "train_one_epoch zeroing gradients after the step": {"train_one_epoch": '''
def train_one_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    optimizer.zero_grad()
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        total += float(loss) * x.shape[0]
        count += x.shape[0]
    return total / count
'''},
    "evaluate under inference_mode with tensor counters": {"evaluate": '''
def evaluate(model, loader, device):
    model.eval()
    correct = torch.zeros((), dtype=torch.int64)
    total = 0
    with torch.inference_mode():
        for x, y in loader:
            correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().cpu()
            total += y.numel()
    return correct.item() / total
'''},
}

#: bug -> the words its feedback must contain (case-insensitive): the cause, as the student reads it.
CAUSES = {
    "get_device ignores GRADING_DEVICE": ("GRADING_DEVICE is set", "os.environ.get"),
    "get_device always returns the CPU": "torch.cuda.is_available()",
    "make_loaders shuffles the test loader": "shuffle=False",
    "make_loaders ignores the seed": "generator=torch.Generator().manual_seed(seed)",
    "make_loaders drops the last partial batch": "drop_last",
    "softmax regression without Flatten": "nn.Flatten()",
    "softmax regression ending in a softmax (not logits)": ("ends with a softmax", "raw logits"),
    "MLP without the ReLU": "the ReLU between the two Linear layers is missing",
    "MLP ignores the hidden size": "use the argument `hidden`",
    "train_one_epoch forgets zero_grad": ("added up", "optimizer.zero_grad()"),
    "train_one_epoch never sets train mode": "model.train()",
    "train_one_epoch averages per batch, not per sample": ("mean loss per sample", "not the mean of the batch means"),
    "evaluate never sets eval mode": "model.eval()",
    "evaluate runs with autograd on": "torch.no_grad()",
    "evaluate averages per-batch accuracies": "over-weights the last batch",
    "fit reports the training set as the test accuracy": "evaluate on the test loader",
    "q8 trains with lr=1e-4 (copied from an Adam example)": ("at least 0.82 is required", "learning rate"),
}
