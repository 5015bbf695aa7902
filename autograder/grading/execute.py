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
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from . import cells as cell_names
from .sandbox import Sandbox

MAX_KERNEL_STARTS = 4
IGNORE_TAG = "otter_ignore"
SETUP_SOURCE = """\
import otter as _otter_for_grading
_otter_for_grading.Notebook._grading_mode = True  # grader.check/export do nothing while grading
_otter_for_grading.Notebook.check = lambda self, *args, **kwargs: None
del _otter_for_grading
"""
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

    def kernel_processes(self) -> list[psutil.Process]:
        """The kernel's own process: the first one in the tree running ipykernel."""
        for p in self.process_tree():
            try:
                if p.name().startswith("python") and any("ipykernel" in part for part in p.cmdline()):
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


class GradingClient(NotebookClient):
    """nbclient with per-cell timeouts that move on, and an output cap."""

    def __init__(self, *args, output_cap: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.output_cap, self.output_bytes, self.dropped = output_cap, 0, 0
        self.timed_out: int | None = None  # index of the cell that timed out last

    async def _async_handle_timeout(self, timeout, cell=None):
        self.timed_out = self._current_index
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

    async def run_cell(self, cell, index: int):
        self._current_index = index
        watchdog = asyncio.ensure_future(self._watch())
        try:
            return await self.async_execute_cell(cell, index)
        finally:
            watchdog.cancel()
            self.km.kill_strays()

    async def _watch(self) -> None:
        """Stop the whole sandbox when it holds too many processes or too much memory in total."""
        limits = self.km.sandbox.limits
        while True:
            await asyncio.sleep(0.2)
            tree = self.km.process_tree()
            rss = 0
            for p in tree:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            self.km.peak_rss = max(self.km.peak_rss, rss)
            if len(tree) > limits.tree_processes or rss > limits.memory_bytes:
                self.km.tripped = (f"went over the sandbox's limits of {limits.tree_processes} processes or "
                                   f"{limits.memory_bytes / 2**30:g} GB of memory in total")
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


async def _run(cells: list[tuple[str, str]], sandbox: Sandbox, env: dict[str, str], cell_timeout: float,
               record_timeout: float, record_cell: str | None, prepare_record, result: Execution,
               log_file: Path) -> None:
    skip: set[int] = set()  # cells a fresh kernel leaves out: they killed, stalled or outran the last one
    while result.kernel_starts < MAX_KERNEL_STARTS:
        result.kernel_starts += 1
        result.errors.clear()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP_SOURCE)] +
                                      [nbformat.v4.new_code_cell(src) for src, _ in cells])
        km = SandboxedKernelManager(transport="ipc", ip=str(sandbox.workdir / ".kernel"),
                                    connection_file=str(sandbox.workdir / ".kernel.json"))
        km.sandbox = sandbox
        client = GradingClient(nb, km=km, timeout=int(cell_timeout), allow_errors=True, kernel_name="python3",
                               resources={"metadata": {"path": str(sandbox.workdir)}}, startup_timeout=120,
                               output_cap=sandbox.limits.output_bytes, iopub_timeout=10)
        failed_at: int | None = 0  # 0: the kernel's start; None: the recording
        result.notebook = nb
        with open(log_file, "ab") as log:
            try:
                async with client.async_setup_kernel(env=env, preexec_fn=sandbox.preexec, stdout=log, stderr=log):
                    await client.run_cell(nb.cells[0], 0)
                    for i, (_, question) in enumerate(cells, 1):
                        if i in skip:
                            continue
                        failed_at = i
                        client.timed_out = None
                        await client.run_cell(nb.cells[i], i)
                        _note_error(result, nb.cells[i], i, question)
                        if client.timed_out == i:
                            if not any(p.index == i for p in result.problems):
                                result.problems.append(CellProblem(i, question, f"timed out after {cell_timeout:g} s"))
                            skip.add(i)
                            if not await _responsive(client, 10):
                                raise KernelStuck()
                    failed_at = None
                    if record_cell is not None:
                        prepare_record()
                        cell = nbformat.v4.new_code_cell(record_cell)
                        nb.cells.append(cell)
                        client.timeout = int(record_timeout)
                        client.timed_out = None
                        await client.run_cell(cell, len(nb.cells) - 1)
                        if client.timed_out is not None:
                            result.record_error = f"the hidden tests ran past {record_timeout:g} s in the kernel"
                        elif any(o.get("output_type") == "error" for o in cell.outputs):
                            err = next(o for o in cell.outputs if o.get("output_type") == "error")
                            result.record_error = f"recording the hidden tests raised {err['ename']}: {err['evalue']}"[:300]
                    result.output_dropped = client.dropped
                    return
            except (DeadKernelError, KernelStuck, RuntimeError) as exc:
                log.write(f"\n[grader] kernel start {result.kernel_starts}: {type(exc).__name__}: {exc}\n".encode())
                if failed_at is None:
                    result.record_error = f"the kernel died while the hidden tests ran ({type(exc).__name__})"
                    return
                if failed_at == 0:
                    result.record_error = f"the kernel could not start ({type(exc).__name__}: {str(exc)[:200]})"
                    return
                question = cells[failed_at - 1][1]
                what = "ignored the interrupt and was stopped" if isinstance(exc, KernelStuck) else \
                    f"{km.tripped} and was stopped" if km.tripped else "stopped the kernel (it exited or crashed)"
                earlier = next((p for p in result.problems if p.index == failed_at), None)
                if earlier is None:
                    result.problems.append(CellProblem(failed_at, question, what))
                else:
                    earlier.what += f", and {what}"
                skip.add(failed_at)
            finally:
                result.output_dropped = max(result.output_dropped, client.dropped)
                result.peak_rss_mb = max(result.peak_rss_mb, km.peak_rss / 2**20)
                await _stop(km)
    result.record_error = f"the kernel was restarted {MAX_KERNEL_STARTS} times and still failed"


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


def execute(notebook: Path, sandbox: Sandbox, env: dict[str, str], *, cell_timeout: float,
            record_timeout: float, record_cell: str | None, prepare_record=lambda: None,
            seed: int | None = None, seed_variable: str | None = None, log_file: Path) -> Execution:
    """Run ``notebook`` in ``sandbox``, then the cell ``record_cell`` that records the hidden tests.

    ``prepare_record`` runs just before the recording cell (it puts the test files in place).
    """
    start = time.monotonic()
    nb = nbformat.read(str(notebook), as_version=4)
    cells = code_cells(nb, seed, seed_variable)
    result = Execution()
    asyncio.run(_run(cells, sandbox, env, cell_timeout, record_timeout, record_cell, prepare_record,
                     result, log_file))
    result.seconds = time.monotonic() - start
    shutil.rmtree(sandbox.workdir / ".ipython", ignore_errors=True)
    return result
