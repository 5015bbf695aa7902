"""Two realistic bugs for the demo submission 'two-bugs.ipynb' and the points they must cost."""

BUGS = {
    # The detour through probabilities: right for moderate logits, inf/nan for logits like -1e4.
    "bce_with_logits": '''
def bce_with_logits(logits, targets, reduction="mean"):
    probs = sigmoid(logits)
    losses = -(targets * torch.log(probs) + (1 - targets) * torch.log(1 - probs))
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses
''',
    # A sigmoid in front of BCEWithLogitsLoss: the loss squashes the logits twice, so the training
    # loss cannot go below about 0.5 and the binary and multi-label models train badly.
    "train": '''
def train(task, X, y, epochs, seed):
    torch.manual_seed(seed)
    inputs = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    targets = format_targets(task, y)
    outputs = 1 if task == "binary" else (int(targets.max()) + 1 if task == "multiclass" else targets.shape[1])
    model = SimpleMLP(inputs.shape[1], HIDDEN_UNITS, outputs)
    criterion = make_criterion(task)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    loader = DataLoader(TensorDataset(inputs, targets), batch_size=BATCH_SIZE, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    losses = []
    for _ in range(epochs):
        total = 0.0
        for batch_x, batch_t in loader:
            optimizer.zero_grad()
            out = model(batch_x)
            if task != "multiclass":
                out = torch.sigmoid(out)
            loss = criterion(out, batch_t)
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(loader))
    return model, losses
''',
}

#: question -> points each bug must cost: q3's public check (logits of +-1e4) and stability test
#: (1 + 2); q7's public check (the loss stalls near 0.5) and binary and multi-label training tests (1 + 2 + 2).
POINTS_LOST = {"q3": 3, "q7": 5}
