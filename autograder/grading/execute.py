"""Run a student notebook in a sandboxed kernel, cell by cell, then record the hidden tests there.

Each code cell gets its own time limit: a cell that runs too long is interrupted and the notebook
goes on, so questions that do not depend on it still score. A kernel that dies (``sys.exit``, a
segfault, the memory limit) or ignores the interrupt is replaced by a fresh one that re-runs the
notebook without that cell. Cell output beyond a cap is dropped. The hidden test files reach the
kernel only after the notebook has finished, and only its data log comes back (see ``seal``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat
import psutil
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from . import watchdog
from . import cells as cell_names
from .sandbox import Sandbox
from .watchdog import DiskWatch

MAX_KERNEL_STARTS = 4
IGNORE_TAG = "otter_ignore"
SETUP_SOURCE = """\
def _setup_for_grading():
    # ``otter`` as a lazy package: only Otter's real Notebook class is loaded, and set to grading mode
    # (check and export do nothing) before any notebook code runs; the recording loads Otter's test
    # files; any other name loads the whole package. Saves importing all of Otter in every kernel.
    import importlib, importlib.util, sys
    spec = importlib.util.find_spec("otter")
    if spec is not None and "otter" not in sys.modules:
        otter = importlib.util.module_from_spec(spec)

        def __getattr__(name):
            if importlib.util.find_spec(f"otter.{name}") is not None:  # a submodule: as usual
                return importlib.import_module(f"otter.{name}")
            del otter.__getattr__
            spec.loader.exec_module(otter)  # the real package, for anything else a notebook asks of it
            return getattr(otter, name)

        otter.__getattr__ = __getattr__
        sys.modules["otter"] = otter
        from otter.check.notebook import Notebook
        Notebook._grading_mode = True
        Notebook.check = lambda self, *args, **kwargs: None
        otter.Notebook = Notebook
    try:  # imported here, on the grader's time, so that a cell's limit measures the student's code
        import numpy, torch
    except ImportError:
        pass
_setup_for_grading()
del _setup_for_grading
"""
SETUP_TIMEOUT = 300.0  # seconds for the grader's own first cell (imports torch)
INTERRUPT_GRACE = 10.0  # seconds from the interrupt, all waits together, for the kernel to answer again
class KernelStuck(Exception):
    """The kernel did not answer after its cell was interrupted."""


@dataclass
class CellProblem:
    index: int  # position among the notebook's code cells, from 1
    where: str  # how a student finds the cell, e.g. 'q4, the cell starting "for epoch in range(…"'
    what: str  # "timed out after 10 s", "killed the kernel", ...

    def __str__(self) -> str:
        return f"{self.where or f'code cell {self.index}'} {self.what}"


@dataclass
class Execution:
    """What running one notebook produced."""

    problems: list[CellProblem] = field(default_factory=list)  # timeouts and kernel deaths
    errors: list[str] = field(default_factory=list)  # exceptions raised by cells, one line each
    output_dropped: int = 0  # bytes of cell output over the cap
    kernel_starts: int = 0
    record_error: str = ""  # why the hidden tests could not be recorded ("" if they were)
    seconds: float = 0.0
    notebook: nbformat.NotebookNode | None = None  # the last run, with its (capped) outputs
    peak_rss_mb: float = 0.0  # the sandboxed kernel's largest total RSS, sampled every 0.2 s


def code_cells(nb: nbformat.NotebookNode, seed: int | None, seed_variable: str | None) -> list[tuple[str, str]]:
    """The cells to run as (source, where), like Otter: ignored cells out, seeding in front.

    ``where`` names the cell for a student: its question and first line (see ``cells.places``).
    """
    cells: list[tuple[str, str]] = []
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell, place in zip(code, cell_names.places(nb)):
        meta = cell.get("metadata", {})
        if IGNORE_TAG in meta.get("tags", []) or meta.get("otter", {}).get("ignore"):
            continue
        source = cell.source
        if seed is not None and not source.startswith("%%"):
            seeding = f"{seed_variable} = {seed}" if seed_variable else \
                f"import numpy as _np, random as _random\n_np.random.seed({seed})\n_random.seed({seed})"
            source = f"{seeding}\n{source}"
        cells.append((source, str(place)))
    return cells


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel started inside ``sandbox``; interrupts go straight to the kernel process."""

    sandbox: Sandbox | None = None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return self.sandbox.wrap(cmd) if self.sandbox else cmd

    def write_connection_file(self, **kwargs):
        out = super().write_connection_file(**kwargs)
        if self.sandbox and self.sandbox.uid is not None:
            import os

            os.chown(self.connection_file, self.sandbox.uid, self.sandbox.uid)
        return out

    tripped: str = ""  # why the watchdog stopped the sandbox, if it did
    peak_rss: int = 0  # the largest total RSS of the sandbox the watchdog saw, in bytes

    def process_tree(self) -> list[psutil.Process]:
        """The launched process (bwrap or the kernel) and everything under it."""
        process = getattr(self.provisioner, "process", None)
        if process is None:
            return []
        try:
            root = psutil.Process(process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    _kernel: psutil.Process | None = None

    def kernel_processes(self) -> list[psutil.Process]:
        """The kernel's own process: the first one in the tree running ipykernel (found once, then
        kept while it runs: each lookup reads every process of the machine, twice a cell)."""
        if self._kernel is not None and self._kernel.is_running():
            return [self._kernel]
        for p in self.process_tree():
            try:
                if p.name().startswith("python") and any("ipykernel" in part for part in p.cmdline()):
                    self._kernel = p
                    return [p]
            except psutil.Error:
                pass
        return []

    def kill_strays(self) -> None:
        """Kill processes the notebook left running under the kernel (forks, shells)."""
        for kernel in self.kernel_processes():
            try:
                for child in kernel.children(recursive=True):
                    child.kill()
            except psutil.Error:
                pass

    async def _async_interrupt_kernel(self) -> None:
        for p in self.kernel_processes():
            try:
                p.send_signal(signal.SIGINT)
            except psutil.Error:
                pass

    interrupt_kernel = _async_interrupt_kernel


@dataclass(frozen=True)
class Budget:
    """The time a notebook gets. Cells run until ``cells_until``; whatever happens, the recording
    of the hidden tests still gets the time up to ``record_until`` (both on ``time.monotonic``)."""

    cell_timeout: float
    record_timeout: float
    cells_until: float = float("inf")
    record_until: float = float("inf")
    overall: float = 0.0  # the submission's limit in seconds, for the status (0: none)

    @classmethod
    def for_submission(cls, cell_timeout: float, record_timeout: float, left: float, started: float,
                       overall: float, judge_margin: float = 10.0) -> "Budget":
        """``left`` seconds from ``started`` (of the submission's limit, ``overall``): keep a reserve
        for the recording, a quarter of the limit, at least 20 s, at most 150 s."""
        if not left:
            return cls(cell_timeout, record_timeout)
        reserve = min(max(overall / 4, 20.0), 150.0, left / 2)
        end = started + left - min(judge_margin, left / 10)
        return cls(cell_timeout, record_timeout, cells_until=end - reserve, record_until=end, overall=overall)


class GradingClient(NotebookClient):
    """nbclient with per-cell timeouts that move on, an output cap and a watchdog."""

    def __init__(self, *args, output_cap: int, disk: DiskWatch, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_cap, self.output_bytes, self.dropped = output_cap, 0, 0
        self.disk = disk
        self.timed_out: int | None = None  # index of the cell that timed out last
        self.interrupted_at = 0.0  # time.monotonic() of the last interrupt

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out = self._current_index
        self.interrupted_at = time.monotonic()
        await self.km.interrupt_kernel()
        return {"content": {"status": "error", "ename": "CellTimeoutError",
                            "evalue": f"the cell ran past its {timeout} s limit and was interrupted",
                            "traceback": []}}

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {}), default=str))
        self.output_bytes += size
        if self.output_bytes > self.output_cap:
            self.dropped += size
            return None
        return super().output(outs, msg, display_id, cell_index)

    async def run_cell(self, cell, index: int, timeout: float):
        self._current_index, self.timeout, self.timed_out = index, max(1, int(timeout)), None
        watchdog = asyncio.ensure_future(self._watch())
        try:
            return await self.async_execute_cell(cell, index)
        finally:
            watchdog.cancel()
            self.km.kill_strays()

    async def _watch(self) -> None:
        """Stop the whole sandbox when it holds too many processes, too much memory in total, or
        its work folder too many bytes or files, or when the kernel stopped answering while idle."""
        limits = self.km.sandbox.limits
        kernel = self.km.kernel_processes()  # looked up once: its CPU time is read at each answer
        # bwrap gives the kernel a tmpfs /tmp of its own; elsewhere /tmp is not the sandbox's
        tmp = f"/proc/{kernel[0].pid}/root/tmp" if kernel and self.km.sandbox.available else None

        def kernel_cpu() -> float:
            return watchdog.cpu_seconds(kernel)

        silence = watchdog.Silence(time.monotonic(), kernel_cpu())
        probed = 0.0
        while True:
            await asyncio.sleep(watchdog.INTERVAL)
            tree = self.km.process_tree()
            count, rss = watchdog.tree_usage(tree)
            self.km.peak_rss = max(self.km.peak_rss, max((watchdog.tree_usage([p])[1] for p in tree), default=0))
            now = time.monotonic()
            answered = False
            while await self.kc.control_channel.msg_ready():  # kernel_info replies: the kernel is alive
                await self.kc.control_channel.get_msg(timeout=0)
                answered = True
            if answered:
                silence.answered(now, kernel_cpu())
            if now - probed >= watchdog.PROBE_EVERY:
                self.kc.control_channel.send(self.kc.session.msg("kernel_info_request"))
                probed = now
            reason = ""
            if count > limits.tree_processes or rss > limits.memory_bytes:
                reason = (f"went over the sandbox's limits of {limits.tree_processes} processes or "
                          f"{limits.memory_bytes / 2**30:g} GB of memory in total")
            else:
                # without the kernel's process, busy cannot be told from broken: only the cell limit applies
                reason = self.disk.check(tmp=tmp) or (silence.check(now, kernel_cpu) if kernel else "")
            if reason:
                self.km.tripped = reason
                for p in tree:
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                return


async def _responsive(client: GradingClient, grace: float) -> bool:
    """Whether the kernel answers a kernel_info request within ``grace`` seconds."""
    msg_id = client.kc.kernel_info()
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            msg = await client.kc.shell_channel.get_msg(timeout=max(0.1, deadline - time.monotonic()))
        except Exception:
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id:
            return True
    return False


@dataclass
class _Run:
    """What one notebook run shares across its kernel starts."""

    cells: list[tuple[str, str]]
    sandbox: Sandbox
    env: dict[str, str]
    budget: Budget
    record_cell: str | None
    prepare_record: Callable[[], None]
    prepare_work: Callable[[], None]
    result: Execution
    log_file: Path
    skip: set[int] = field(default_factory=set)  # cells later starts leave out: they killed, stalled or outran
    cut: int | None = None  # the cell the overall limit cut; later cells are not run


def _cut_problem(run: _Run, index: int, question: str) -> None:
    run.cut = index
    run.skip.update(range(index, len(run.cells) + 1))
    run.result.problems.append(CellProblem(index, question, f"was cut at the submission's overall limit of "
                                                            f"{run.budget.overall:g} s; the cells after it were not run"))


async def _run_cells(run: _Run, client: GradingClient, nb) -> None:
    budget, result = run.budget, run.result
    for i, (_, question) in enumerate(run.cells, 1):
        if i in run.skip:
            continue
        until = budget.cells_until if run.cut is None else budget.record_until  # re-runs after a cut may use the reserve
        left = until - time.monotonic()
        if left <= 0:
            _cut_problem(run, i, question)
            return
        limited_by_deadline = left < budget.cell_timeout
        await client.run_cell(nb.cells[i], i, min(budget.cell_timeout, left))
        _note_error(result, nb.cells[i], i, question)
        if client.timed_out == i:
            if limited_by_deadline and run.cut is None:
                _cut_problem(run, i, question)
            elif not any(p.index == i for p in result.problems):
                result.problems.append(CellProblem(i, question, f"timed out after {budget.cell_timeout:g} s"))
            run.skip.add(i)
            # nbclient already waited up to iopub_timeout for the cell's end: the grace counts that wait
            grace = INTERRUPT_GRACE - (time.monotonic() - client.interrupted_at)
            if not await _responsive(client, max(1.0, grace)):
                raise KernelStuck()
            if run.cut is not None:
                return


async def _record(run: _Run, client: GradingClient, nb) -> None:
    result, budget = run.result, run.budget
    left = min(budget.record_timeout, budget.record_until - time.monotonic())
    if left < 1:
        result.record_error = "no time was left to record the hidden tests"
        return
    run.prepare_record()
    cell = nbformat.v4.new_code_cell(run.record_cell)
    nb.cells.append(cell)
    await client.run_cell(cell, len(nb.cells) - 1, left)
    if client.timed_out is not None:
        result.record_error = f"the hidden tests ran past {left:.0f} s in the kernel"
    elif any(o.get("output_type") == "error" for o in cell.outputs):
        err = next(o for o in cell.outputs if o.get("output_type") == "error")
        result.record_error = f"recording the hidden tests raised {err['ename']}: {err['evalue']}"[:300]


async def _one_start(run: _Run) -> bool:
    """One kernel start: the notebook (without the skipped cells), then the recording. True when done,
    False when the kernel died or stalled and another start should run without the cell at fault."""
    result, sandbox = run.result, run.sandbox
    result.kernel_starts += 1
    result.errors.clear()
    if result.kernel_starts > 1:
        run.prepare_work()  # a fresh work folder: nothing the last kernel wrote is kept
    folder = sandbox.new_kernel_dir(result.kernel_starts)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP_SOURCE)] +
                                  [nbformat.v4.new_code_cell(src) for src, _ in run.cells])
    km = SandboxedKernelManager(transport="ipc", ip=str(folder / "k"), connection_file=str(folder / "kernel.json"))
    km.sandbox = sandbox
    limits = sandbox.limits
    client = GradingClient(nb, km=km, timeout=int(run.budget.cell_timeout), allow_errors=True, kernel_name="python3",
                           resources={"metadata": {"path": str(sandbox.workdir)}}, startup_timeout=120,
                           output_cap=limits.output_bytes, iopub_timeout=10,
                           disk=DiskWatch(sandbox.workdir, limits.disk_bytes, limits.disk_entries))
    result.notebook = nb
    stage = "start"  # "start", "cells" or "record"
    with open(run.log_file, "ab") as log:
        try:
            async with client.async_setup_kernel(env=run.env, preexec_fn=sandbox.preexec, stdout=log, stderr=log):
                sandbox.lock_kernel_dir()
                await client.run_cell(nb.cells[0], 0, min(SETUP_TIMEOUT, max(1.0, run.budget.record_until - time.monotonic())))
                stage = "cells"
                await _run_cells(run, client, nb)
                stage = "record"
                if run.record_cell is not None:
                    await _record(run, client, nb)
                return True
        except (DeadKernelError, KernelStuck, RuntimeError) as exc:
            log.write(f"\n[grader] kernel start {result.kernel_starts}: {type(exc).__name__}: {exc}\n".encode())
            if stage == "record":
                result.record_error = f"the kernel died while the hidden tests ran ({type(exc).__name__})"
                return True
            if stage == "start":
                result.record_error = f"the kernel could not start ({type(exc).__name__}: {str(exc)[:200]})"
                return True
            index = client._current_index
            question = run.cells[index - 1][1]
            what = "ignored the interrupt and was stopped" if isinstance(exc, KernelStuck) else \
                f"{km.tripped} and was stopped" if km.tripped else "stopped the kernel (it exited or crashed)"
            earlier = next((p for p in result.problems if p.index == index), None)
            if earlier is None:
                result.problems.append(CellProblem(index, question, what))
            else:
                earlier.what += f", and {what}"
            run.skip.add(index)
            return False
        finally:
            result.output_dropped = max(result.output_dropped, client.dropped)
            result.peak_rss_mb = max(result.peak_rss_mb, km.peak_rss / 2**20)
            await _stop(km)


async def _run(run: _Run) -> None:
    while run.result.kernel_starts < MAX_KERNEL_STARTS:
        if await _one_start(run):
            return
    run.result.record_error = f"the kernel was restarted {MAX_KERNEL_STARTS} times and still failed"


async def _stop(km: SandboxedKernelManager) -> None:
    """Shut the kernel down (nbclient leaves a kernel it did not start running) and kill what is left."""
    tree = km.process_tree()
    try:
        await asyncio.wait_for(km.shutdown_kernel(now=True), 10)
    except Exception:  # already dead, or not answering: the kill below settles it
        pass
    for p in tree:
        try:
            p.kill()
        except psutil.Error:
            pass


def _note_error(result: Execution, cell, index: int, question: str) -> None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" and out.get("ename") != "CellTimeoutError":
            where = question or f"code cell {index}"
            result.errors.append(f"{where} raised {out['ename']}: {str(out.get('evalue', ''))[:200]}")


def execute(notebook: Path, sandbox: Sandbox, env: dict[str, str], *, budget: Budget, record_cell: str | None,
            prepare_record: Callable[[], None] = lambda: None, prepare_work: Callable[[], None] = lambda: None,
            seed: int | None = None, seed_variable: str | None = None, log_file: Path) -> Execution:
    """Run ``notebook`` in ``sandbox`` within ``budget``, then the cell ``record_cell`` that records the
    hidden tests.

    ``prepare_record`` runs just before the recording cell (it puts the test files in place);
    ``prepare_work`` before every kernel start but the first (it lays the work folder out afresh).
    """
    start = time.monotonic()
    nb = nbformat.read(str(notebook), as_version=4)
    result = Execution()
    asyncio.run(_run(_Run(code_cells(nb, seed, seed_variable), sandbox, env, budget, record_cell, prepare_record,
                          prepare_work, result, log_file)))
    result.seconds = time.monotonic() - start
    return result
