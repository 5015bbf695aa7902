"""The buggy demo submissions: entries of mutants.py's catalogue, and the points each demo must cost.

Both bugs come from the seed notebook this assignment is built on, where students copy them.
"""

DEMOS = {
    # q4: its public check (it calls gradient twice, 1), no-accumulation (2) and untouched-arguments
    # (1) tests; all of q5 (public 1, trajectory 2, stopping 1, global data 1), since a loop that
    # reads the global Y fails on every data set but the global one.
    "two-bugs": (("gradient returns Theta.grad after backward on the caller's Theta (seed 002 derivadas)",
                  "gradient_descent reads the global Y (seed 002 gd)"), {"q4": 4, "q5": 5}),
}
