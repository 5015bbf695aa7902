"""Thresholds calibrated against randomness: how far correct notebooks land from the reference.

    python benchmarks/thresholds.py [--assignment 03|04|both] [--seeds N] [--threads T] [--json OUT]

Assignment 03 (the real Fashion-MNIST, on the CPU): the reference's own functions from the master
(make_loaders, build_*, fit, train_one_epoch, evaluate) train softmax regression and the MLP with
its hyper-parameters for N seeds, then with correct variants the notebook's Question 8 allows
(the corners of its stated ranges of batch size and learning rate, ``zero_grad(set_to_none=False)``
with an ``inference_mode`` evaluate). Each run's test accuracy on the 10,000 test images is
compared with q8's thresholds, exactly as ``assert_min_accuracy`` evaluates it. The catalogued
bugs that q8 must catch (forgetting ``zero_grad``, a learning rate of 1e-4) run too.

Assignment 04: the reference ``train`` and its correct variants train on the hidden tests' own
data (``cases.py``) for N training seeds; each held-out metric's shortfall from what the reference
reaches with the hidden test's seed is compared with ``TRAINING_MARGINS``, and the last epoch loss
with ``check_training``'s bound. Every catalogued q7 bug runs with the hidden test's seed (what the
grader does) and with the N seeds.

Prints one table per assignment and the CPU time used. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def _namespace(assignment_id: str, replacements: dict[str, str] | None = None) -> dict:
    """The master's definitions (imports included), some functions replaced, next to course_checks."""
    from autograder import assignments, notebooks

    a = assignments.get(assignment_id)
    nb = notebooks.read(a.master)
    for name, source in (replacements or {}).items():
        nb = notebooks.replace_function(nb, name, source)
    if str(a.student_dir) not in sys.path:
        sys.path.insert(0, str(a.student_dir))  # course_data.py and course_checks.py
    namespace: dict = {"__name__": "__bench__"}
    exec(compile(notebooks.definitions(nb), f"{assignment_id} definitions", "exec"), namespace)
    return namespace


def _catalogue(assignment_id: str):
    from autograder import assignments

    path = assignments.get(assignment_id).source_dir / "mutants.py"
    spec = importlib.util.spec_from_file_location("catalogue", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _summary(values: list[float]) -> str:
    return f"{min(values):.4f} / {statistics.median(values):.4f} / {max(values):.4f}"


# --------------------------------------------------------------------------- assignment 03
#: Question 8's stated ranges: batch size 64-128, learning rate 0.05-0.1 (SGD, momentum 0.9, cosine schedule),
#: 4 epochs for softmax regression and 6 for the MLP. The corners of that box, and the careful variant.
A3_CONFIGS = {
    "reference (batch 128, lr 0.05)": dict(batch_size=128, lr=0.05),
    "batch 64, lr 0.05": dict(batch_size=64, lr=0.05),
    "batch 128, lr 0.1": dict(batch_size=128, lr=0.1),
    "batch 64, lr 0.1": dict(batch_size=64, lr=0.1),
    "set_to_none=False, inference_mode evaluate": dict(batch_size=128, lr=0.05, functions="careful"),
    "outside the range: batch 256, lr 0.02": dict(batch_size=256, lr=0.02),
}
A3_CAREFUL = {
    "train_one_epoch": '''
def train_one_epoch(model, loader, loss_fn, optimizer, device):
    model.train()
    total_loss, seen = 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model(images), labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(labels)
        seen += len(labels)
    return total_loss / seen
''',
    "evaluate": '''
def evaluate(model, loader, device):
    model.eval()
    correct, seen = 0, 0
    with torch.inference_mode():
        for images, labels in loader:
            correct += (model(images.to(device)).argmax(dim=1) == labels.to(device)).sum().item()
            seen += len(labels)
    return correct / seen
''',
}


def _a3_bugs() -> dict[str, tuple[dict, dict]]:
    """name -> (function replacements, config) of the catalogued bugs q8 must catch (the demos' bugs)."""
    from autograder import assignments, strength

    catalogue = strength.load_catalogue(assignments.get("03-fashion-mnist"))
    return {"forgets zero_grad (demo 'forgets-zero-grad')": (catalogue.BUGS["train_one_epoch forgets zero_grad"][1],
                                                              dict(batch_size=128, lr=0.05)),
            "lr 1e-4 (demo 'never-beats-0.80')": ({}, dict(batch_size=128, lr=1e-4))}


def bench_03(seeds: list[int], thresholds: dict[str, float], epochs: dict[str, int], bug_seeds: list[int],
             configs: dict[str, dict] = A3_CONFIGS) -> dict:
    import torch
    import tqdm

    quiet = functools.partial(tqdm.tqdm, disable=True)
    namespaces = {"plain": _namespace("03-fashion-mnist"), "careful": _namespace("03-fashion-mnist", A3_CAREFUL)}
    for ns in namespaces.values():
        ns["tqdm"] = quiet
    data = namespaces["plain"]["course_data"]
    to_dataset = namespaces["plain"]["to_tensor_dataset"]
    from torch.utils.data import Subset

    # As the notebook does: train on the 50,000 images of fit_set, report on the 10,000 of valid_set.
    full_train = to_dataset(data.fashion_mnist(train=True))
    fit_index, valid_index = data.validation_split(len(full_train))
    train_set, valid_set = Subset(full_train, fit_index.tolist()), Subset(full_train, valid_index.tolist())
    test_raw = data.fashion_mnist(train=False)
    images, labels = test_raw.data.unsqueeze(1).float() / 255, test_raw.targets  # what q8's hidden tests use
    cpu = torch.device("cpu")

    def accuracy(model) -> float:
        model.eval()
        with torch.no_grad():
            return (model(images).argmax(1) == labels).double().mean().item()

    def run(ns: dict, kind: str, seed: int, batch_size: int, lr: float) -> float:
        ns["SEED"] = seed
        torch.manual_seed(seed)
        train_loader, valid_loader = ns["make_loaders"](train_set, valid_set, batch_size=batch_size, seed=seed)
        model = ns["build_softmax_regression"]() if kind == "softmax" else ns["build_mlp"](hidden=256)
        ns["fit"](model, train_loader, valid_loader, epochs=epochs[kind], lr=lr, device=cpu)
        return accuracy(model)

    rows, results = [], {"configs": {}, "bugs": {}}
    for label, config in configs.items():
        ns = namespaces[config.get("functions", "plain")]
        for kind in ("softmax", "mlp"):
            start = time.perf_counter()
            accs = [run(ns, kind, s, config["batch_size"], config["lr"]) for s in seeds]
            fails = sum(a < thresholds[kind] for a in accs)
            results["configs"].setdefault(label, {})[kind] = accs
            rows.append((label, kind, len(accs), _summary(accs), f"{min(accs) - thresholds[kind]:+.4f}",
                         f"{fails}/{len(accs)}", f"{time.perf_counter() - start:.0f} s"))
            print(f"  {label}, {kind}: {_summary(accs)}  ({fails} below {thresholds[kind]})", flush=True)
    for label, (replacements, config) in (_a3_bugs() if bug_seeds else {}).items():
        ns = _namespace("03-fashion-mnist", replacements)
        ns["tqdm"] = quiet
        for kind in ("softmax", "mlp"):
            accs = [run(ns, kind, s, config["batch_size"], config["lr"]) for s in bug_seeds]
            caught = sum(a < thresholds[kind] for a in accs)
            results["bugs"].setdefault(label, {})[kind] = accs
            rows.append((f"BUG {label}", kind, len(accs), _summary(accs), f"{max(accs) - thresholds[kind]:+.4f}",
                         f"caught {caught}/{len(accs)}", ""))
            print(f"  BUG {label}, {kind}: {_summary(accs)}  (caught {caught}/{len(accs)})", flush=True)
    head = ("run", "model", "runs", "test accuracy min / median / max", "worst - threshold", "below threshold", "time")
    _print_table(f"Assignment 03: test accuracy on the 10,000 Fashion-MNIST test images, CPU, epochs "
                 f"{epochs['softmax']} / {epochs['mlp']}, thresholds {thresholds['softmax']} / {thresholds['mlp']}",
                 head, rows)
    return results


# --------------------------------------------------------------------------- assignment 04
def bench_04(seeds: list[int], bug_seeds: list[int]) -> dict:
    import numpy as np
    import torch

    from autograder.course_checks.training import TRAINING_MARGINS, _metrics

    spec = importlib.util.spec_from_file_location("cases04", REPO / "solutions/04-choosing-the-loss/cases.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    catalogue = _catalogue("04-choosing-the-loss")
    variants = {"reference": {}}
    variants.update({f"variant: {n}": r for n, r in catalogue.VARIANTS.items() if "train" in r})
    variants.update({f"seed code: {n}": r for n, (q, r) in catalogue.SEED_CODE.items() if q is None and "train" in r})
    variants["zero_grad(set_to_none=False) after the step"] = {"train": catalogue._train_with(
        "            optimizer.zero_grad()\n            loss = criterion(model(batch_x), batch_t)\n"
        "            loss.backward()\n            optimizer.step()\n",
        "            loss = criterion(model(batch_x), batch_t)\n            loss.backward()\n"
        "            optimizer.step()\n            optimizer.zero_grad(set_to_none=False)\n")}
    bugs = {n: r for n, (q, r) in catalogue.BUGS.items() if q == "q7"}
    data = {task: cases._task_data(task) for task in ("binary", "multiclass", "multilabel")}

    def scores(ns: dict, task: str, seed: int) -> dict:
        _, X_train, y_train, X_test, y_test, epochs, _ = data[task]
        model, losses = ns["train"](task, X_train.numpy(), y_train.numpy(), epochs, seed)
        model.eval()
        with torch.no_grad():
            logits = model(X_test.float())
        return {**_metrics(task, logits, y_test), "final_loss": float(losses[-1])}

    reference_ns = _namespace("04-choosing-the-loss")
    reference = {task: scores(reference_ns, task, cases.TRAIN_SEED) for task in data}

    def shortfalls(result: dict, task: str) -> dict:
        out = {}
        for metric, value in result.items():
            if metric == "final_loss":
                ref = reference[task]["final_loss"]
                out[metric] = (value - ref) / (0.3 * ref + 0.05)  # share of check_training's loss bound used
            else:
                _, higher = TRAINING_MARGINS[metric]
                ref = reference[task][metric]
                out[metric] = (ref - value) if higher else (value - ref)
        return out

    results: dict = {"reference": reference, "correct": {}, "bugs": {}}
    worst: dict = {}
    rows = []
    for label, replacements in variants.items():
        ns = _namespace("04-choosing-the-loss", replacements)
        for task in data:
            found = [shortfalls(scores(ns, task, s), task) for s in seeds]
            results["correct"].setdefault(label, {})[task] = found
            for metric in found[0]:
                values = [f[metric] for f in found]
                worst[(task, metric)] = max(worst.get((task, metric), -1.0), max(values))
                rows.append((label, task, metric, len(values), _summary(values)))
        print(f"  {label}: done", flush=True)
    bug_rows = []
    for label, replacements in bugs.items():
        ns = _namespace("04-choosing-the-loss", replacements)
        for task in data:
            found = [shortfalls(scores(ns, task, s), task) for s in bug_seeds]
            results["bugs"].setdefault(label, {})[task] = found
            for metric in found[0]:
                values = [f[metric] for f in found]
                bug_rows.append((f"BUG {label}", task, metric, len(values), _summary(values)))
        print(f"  BUG {label}: done", flush=True)
    _print_table("Assignment 04: shortfall from the reference (seed 0) on the hidden tests' held-out data; "
                 "final_loss: share of the loss bound used (1 = at the bound)",
                 ("run", "task", "metric", "seeds", "shortfall min / median / max"), rows + bug_rows)
    print("\nlargest shortfall of a correct run, per task and metric, against today's margins:")
    for (task, metric), value in sorted(worst.items()):
        margin = TRAINING_MARGINS.get(metric, (1.0, True))[0] if metric != "final_loss" else 1.0
        print(f"  {task:>10} {metric:>15}: {value:+.4f}  (margin {margin})")
    results["worst_correct"] = {f"{t} {m}": v for (t, m), v in worst.items()}
    return results


def _print_table(title: str, head: tuple, rows: list[tuple]) -> None:
    rows = [tuple(str(c) for c in head)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    print(f"\n{title}\n")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(rows[0], widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignment", choices=("03", "04", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per correct configuration")
    parser.add_argument("--bug-seeds", type=int, default=3, help="seeds per catalogued bug")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the grader gives each kernel 1)")
    parser.add_argument("--thresholds", default="0.82,0.86", help="q8's thresholds: softmax regression, MLP")
    parser.add_argument("--epochs", default="4,6", help="epochs of the reference: softmax regression, MLP")
    parser.add_argument("--configs", default="", help="comma-separated indices of the 03 configurations to run")
    parser.add_argument("--no-bugs", action="store_true", help="skip the catalogued bugs")
    parser.add_argument("--json", type=Path, help="also write every run's figures here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("MPLBACKEND", "Agg")
    seeds, bug_seeds = list(range(args.seeds)), list(range(args.bug_seeds))
    start, cpu_start = time.perf_counter(), time.process_time()
    out = {}
    if args.assignment in ("03", "both"):
        sm, mlp = (float(v) for v in args.thresholds.split(","))
        e_sm, e_mlp = (int(v) for v in args.epochs.split(","))
        chosen = [int(i) for i in args.configs.split(",") if i] or range(len(A3_CONFIGS))
        configs = {k: v for i, (k, v) in enumerate(A3_CONFIGS.items()) if i in chosen}
        out["03"] = bench_03(seeds, {"softmax": sm, "mlp": mlp}, {"softmax": e_sm, "mlp": e_mlp},
                             [] if args.no_bugs else bug_seeds, configs)
    if args.assignment in ("04", "both"):
        out["04"] = bench_04(seeds, bug_seeds)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\nwall {time.perf_counter() - start:.0f} s, CPU {time.process_time() - cpu_start:.0f} s "
          f"(user {usage.ru_utime:.0f} s, system {usage.ru_stime:.0f} s), {args.threads} torch thread(s), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
