"""Two realistic bugs for the demo submission 'two-bugs.ipynb' and the points they must cost.

Both come from the seed notebook this assignment is built on, where students copy them.
"""

BUGS = {
    # backward() on the caller's Theta, returning Theta.grad: the gradient accumulates across calls
    # and the caller's tensor is left requiring grad with a .grad attached.
    "gradient": '''
def gradient(X, Theta, Y):
    Theta.requires_grad_(True)
    loss = cross_entropy_loss(X, Theta, Y)
    loss.backward()
    return Theta.grad
''',
    # The loop takes the labels as `y` but reads the notebook's global one-hot `Y`: right on the
    # running example only, and a shape error on the training split and on any other data.
    "gradient_descent": '''
def gradient_descent(X, y, lr, tol, max_iter):
    Theta = torch.zeros(Y.shape[1], X.shape[1], dtype=X.dtype)
    losses = []
    for _ in range(max_iter):
        losses.append(cross_entropy_loss(X, Theta, Y).item())
        if len(losses) > 1 and abs(losses[-1] - losses[-2]) <= tol:
            break
        Theta = Theta - lr * gradient(X, Theta, Y)
    return Theta, losses
''',
}

#: question -> points the bugs must cost: q4's public check (it calls gradient twice, 1),
#: no-accumulation (2) and untouched-arguments (1) tests; all of q5 (public 1, trajectory 2,
#: stopping 1, global data 1), since the loop fails on every data set but the global one.
POINTS_LOST = {"q4": 4, "q5": 5}
