"""One batch split over a cluster's array job: which submissions shard ``I`` of ``N`` grades.

A submission belongs to shard ``int(sha256(its bytes)[:16], 16) % N``: its content decides, not
its name or place in the list, so adding a file moves no other file, and the same file lands in
the same shard on every machine. Files with the same bytes share a shard.

``--shard I/N`` names the index; ``--shard auto/N`` reads it from the first of ``INDEX_VARIABLES``
that is set (Slurm job arrays, Kubernetes Indexed Jobs, AWS Batch array jobs), numbered from 0.

Shard ``I`` of ``N`` grades into ``OUT/shard-I-of-N/``, an ordinary output folder with its own
result store (so a killed shard, run again, grades only what it had not finished), plus
``shard.json``: the whole submission set it was given (label -> sha256), its own share, and
whether the run finished. ``merge`` reads these manifests to know every submission of the class,
so a shard that never ran is reported, not silently dropped.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from ..assignments import Assignment
from . import batch, submissions
from .outcome import Outcome
from .store import build_digest, content_digest

INDEX_VARIABLES = ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX")
MANIFEST = "shard.json"

#: The command every array task runs (Slurm's sbatch script and the Kubernetes Jobs run exactly
#: this, after the interpreter; tests check both against it).
COMMAND = ("-m", "autograder", "grade", "--assignment", "{assignment}", "--shard", "auto/{shards}",
           "--workers", "{workers}", "--out", "{results}", "{submissions}")


class ShardError(ValueError):
    """A ``--shard`` value that cannot be used; the message says why in one sentence."""


def command(**values: str | int) -> list[str]:
    """``COMMAND`` with its placeholders filled (assignment, shards, workers, results, submissions)."""
    return [part.format(**values) for part in COMMAND]


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0 <= index < count); ``source`` names the variable the index came from."""

    index: int
    count: int
    source: str = ""

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def folder(self, out: Path) -> Path:
        return out / folder_name(self.index, self.count)

    def owns(self, digest: str) -> bool:
        return shard_of(digest, self.count) == self.index


def folder_name(index: int, count: int) -> str:
    return f"shard-{index}-of-{count}"


def shard_of(digest: str, count: int) -> int:
    """The shard of a submission whose bytes have this sha256 hex digest."""
    return int(digest[:16], 16) % count


def _whole(text: str, what: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ShardError(f"{what} must be a whole number, not {text!r}") from None


def parse(spec: str, environ: Mapping[str, str] = os.environ) -> Shard:
    """``"I/N"`` or ``"auto/N"`` -> a ``Shard``; ``ShardError`` with one sentence otherwise."""
    index_text, slash, count_text = spec.partition("/")
    if not slash:
        raise ShardError(f"--shard {spec}: write it as I/N (shard I of N, counted from 0) or auto/N")
    count = _whole(count_text, f"--shard {spec}: the number of shards")
    if count < 1:
        raise ShardError(f"--shard {spec}: the number of shards must be at least 1")
    source = ""
    if index_text.strip() == "auto":
        source = next((v for v in INDEX_VARIABLES if environ.get(v, "").strip()), "")
        if not source:
            raise ShardError(f"--shard {spec} takes the shard index from {', '.join(INDEX_VARIABLES[:-1])} or "
                             f"{INDEX_VARIABLES[-1]}, and none of them is set (run it as an array task, or give I/N)")
        index = _whole(environ[source], f"--shard {spec}: {source}")
        where = f"{source}={index}"
    else:
        index = _whole(index_text, f"--shard {spec}: the shard index")
        where = f"shard index {index}"
    if not 0 <= index < count:
        hint = f" (number the array from 0: --array=0-{count - 1})" if source.startswith("SLURM") else ""
        raise ShardError(f"--shard {spec}: {where} is outside 0..{count - 1}{hint}")
    return Shard(index, count, source)


@dataclass
class Manifest:
    """``shard.json``: what one shard was asked to grade and whether it finished.

    Attributes:
        assignment: the assignment id.
        build: sha256 of the ``build-info.json`` it graded under (as the result store records it).
        points: question -> points of that build (``merge`` writes the CSV and report from them).
        shard, count: this is shard ``shard`` of ``count``.
        submissions: every submission of the run, label -> sha256 of its bytes (not only this shard's).
        share: the labels of this shard, sorted.
        argv: the command line that graded it.
        started, finished: seconds since the epoch; ``finished`` is None while running or when killed.
    """

    assignment: str
    build: str
    points: dict[str, float]
    shard: int
    count: int
    submissions: dict[str, str]
    share: list[str]
    argv: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float | None = None

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{MANIFEST}.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")
        os.replace(tmp, folder / MANIFEST)

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        """The manifest of a shard folder; ``ShardError`` naming the file when it is missing or malformed."""
        file = folder / MANIFEST
        try:
            data = json.loads(file.read_text())
            return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        except FileNotFoundError:
            raise ShardError(f"{folder} has no {MANIFEST}: it was not graded with --shard") from None
        except (ValueError, TypeError) as exc:
            raise ShardError(f"{file} cannot be read as a shard manifest: {exc}") from None


def grade(a: Assignment, paths: list[Path], out: Path, shard: Shard, quiet: bool = False,
          **batch_options) -> tuple[list[Outcome], Path]:
    """Grade this shard's part of ``paths`` into ``out/shard-I-of-N`` (see the module docstring).

    The manifest is written before grading starts, so a shard killed mid-way is still known to
    ``merge``; ``finished`` is set when the batch ends. ``batch_options`` go to ``batch.grade``.

    Returns:
        The outcomes of this shard's submissions, and the shard's folder.
    """
    labels = submissions.labels(paths)
    digests = {label: content_digest(p) for p, label in zip(paths, labels)}
    folder = shard.folder(out)
    manifest = Manifest(a.id, build_digest(a), a.points, shard.index, shard.count, dict(sorted(digests.items())),
                        sorted(n for n, d in digests.items() if shard.owns(d)), list(sys.argv), time.time())
    manifest.write(folder)
    if not quiet:
        via = f" (index from {shard.source})" if shard.source else ""
        print(f"{a.id}: shard {shard}{via}: {len(manifest.share)} of {len(paths)} submission(s) -> {folder}",
              flush=True)
    outcomes = batch.grade(a, paths, folder, quiet=quiet, select=lambda p, label: shard.owns(digests[label]),
                           **batch_options)
    manifest.finished = time.time()
    manifest.write(folder)
    return outcomes, folder
