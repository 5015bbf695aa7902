"""Benchmark of assignment 03 (Fashion-MNIST): grading time, peak memory, accuracies, epoch times.

    python benchmarks/fashion_mnist.py [--repeat N] [--threads T] [--skip-grading] [--skip-training]

1. Grades the solution notebook end to end, as ``python -m autograder grade`` does (a fresh
   process running Otter, with OMP_NUM_THREADS=T), ``--repeat`` times. Prints the wall time, the
   score, and the peak resident memory of the grading process tree (Otter plus the kernel),
   sampled every 50 ms, and the CPU time the grading processes used: on a machine shared with
   other jobs the wall time grows, the CPU time hardly does.
2. Runs the solution's own ``train_softmax_regression`` and ``train_mlp`` in this process and
   prints every epoch's time and the test accuracy the models reach.
3. Times one MLP training epoch (batch size 128) twice: over the in-memory ``TensorDataset`` the
   notebook builds, and over the torchvision dataset with the ``ToTensor`` transform, which
   converts every image from PIL again at every epoch.

Nothing here is a test: the figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ASSIGNMENT = "03-fashion-mnist"


class PeakRSS:
    """Samples the summed RSS of this process's descendants in a background thread."""

    def __init__(self, interval: float = 0.05):
        import psutil

        self._psutil, self._interval = psutil, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = self._psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except self._psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self._interval)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def bench_grading(repeat: int, threads: int) -> None:
    from autograder import assignments
    from autograder.build import build, is_current
    from autograder.grading import batch

    a = assignments.get(ASSIGNMENT)
    if not is_current(a):
        print(f"building {a.id} first ...")
        build(a)
    env = batch._data_env()
    print(f"\n== grading the solution notebook ({threads} thread(s), {os.cpu_count()} cores, "
          f"timeout {batch.DEFAULT_TIMEOUT:g} s)")
    times, scores = [], []
    for run in range(1, repeat + 1):
        load = os.getloadavg()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with tempfile.TemporaryDirectory(prefix="bench-a3-") as scratch, PeakRSS() as rss:
            outcome = batch.grade_one(a, a.solution_notebook, "solution.ipynb", Path(scratch),
                                      batch.DEFAULT_TIMEOUT, threads, env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        r = outcome.results
        score = "-" if r.has_catastrophic_failure() else f"{r.total:g}/{r.possible:g}"
        times.append(outcome.seconds)
        scores.append(score)
        print(f"run {run}: {outcome.seconds:.1f} s wall, {cpu:.1f} s CPU (grader + kernel), score {score}, "
              f"status {outcome.status}, peak RSS {rss.peak / 2**30:.2f} GiB, load average before "
              f"{load[0]:.1f}")
    print(f"grading time: min {min(times):.1f} s, median {statistics.median(times):.1f} s; "
          f"headroom under the {batch.DEFAULT_TIMEOUT:g} s timeout: {batch.DEFAULT_TIMEOUT / max(times):.1f}x; "
          f"scores {'identical' if len(set(scores)) == 1 else 'DIFFER'}: {sorted(set(scores))}")


def _solution_namespace() -> dict:
    """The solution notebook's definitions, executed next to course_checks/course_data."""
    from autograder import assignments, notebooks

    a = assignments.get(ASSIGNMENT)
    sys.path.insert(0, str(a.student_dir))  # course_data.py and course_checks.py
    namespace: dict = {"__name__": "__bench__"}
    exec(compile(notebooks.definitions(notebooks.read(a.solution_notebook)), "solution", "exec"), namespace)
    return namespace


def _timed_epochs(ns: dict) -> list[float]:
    """Wrap the namespace's train_one_epoch so that every call's duration is recorded."""
    durations: list[float] = []
    inner = ns["train_one_epoch"]

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)

    ns["train_one_epoch"] = timed
    return durations


def bench_training(threads: int) -> None:
    import torch
    from torch.utils.data import DataLoader

    torch.set_num_threads(threads)
    ns = _solution_namespace()
    start = time.perf_counter()
    train_raw, test_raw = ns["course_data"].fashion_mnist(train=True), ns["course_data"].fashion_mnist(train=False)
    train_set, test_set = ns["to_tensor_dataset"](train_raw), ns["to_tensor_dataset"](test_raw)
    device = ns["get_device"]()
    print(f"\n== training with the solution's hyperparameters on {device} ({threads} thread(s))")
    print(f"loading Fashion-MNIST into float tensors: {time.perf_counter() - start:.1f} s")
    epochs = _timed_epochs(ns)
    images, labels = test_set.tensors
    for builder in ("train_softmax_regression", "train_mlp"):
        epochs.clear()
        start = time.perf_counter()
        model, history = ns[builder](train_set, test_set, device)
        total = time.perf_counter() - start
        with torch.no_grad():
            model.eval()
            accuracy = (model(images.to(device)).argmax(1).cpu() == labels).double().mean().item()
        print(f"{builder}: test accuracy {accuracy:.4f} (history says {history['test_acc'][-1]:.4f}); "
              f"{len(epochs)} epochs, training epochs {', '.join(f'{t:.2f}' for t in epochs)} s; "
              f"{total:.1f} s with the accuracy passes")

    print("\n== one MLP training epoch, batch size 128: in-memory tensors vs DataLoader + ToTensor")
    loss_fn = torch.nn.CrossEntropyLoss()
    for label, dataset in [("TensorDataset (in memory)", train_set), ("torchvision + ToTensor", train_raw)]:
        torch.manual_seed(0)
        model = ns["build_mlp"]().to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = DataLoader(dataset, batch_size=128, shuffle=True, generator=torch.Generator().manual_seed(0))
        start = time.perf_counter()
        for _ in loader:
            pass
        data_only = time.perf_counter() - start
        epochs.clear()
        ns["train_one_epoch"](model, loader, loss_fn, optimizer, device)
        print(f"{label:27s}: epoch {epochs[-1]:.2f} s, of which reading the data alone takes {data_only:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="how many times to grade the solution")
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 1) // 2),
                        help="torch/OpenMP threads (default: what the grader gives each of its workers)")
    parser.add_argument("--skip-grading", action="store_true")
    parser.add_argument("--skip-training", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    if not args.skip_grading:
        bench_grading(args.repeat, args.threads)
    if not args.skip_training:
        bench_training(args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
