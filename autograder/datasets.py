"""The data sets assignments can declare, and what grading needs to know about each.

An assignment lists the data sets it uses in ``solutions/<id>/assignment.toml``
(``datasets = ["fashion-mnist"]``). The grader then passes each one's folder into the sandbox
(read-only) and its environment variable into the kernel, containers mount it, and image builds
install its Debian package. A second data set is one more entry here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import data


@dataclass(frozen=True)
class Dataset:
    """One data set: how to find it on this machine and how to hand it to a kernel."""

    name: str
    env_var: str  # the variable the shipped loader reads (e.g. course_data's FASHION_MNIST_DIR)
    debian_package: str  # installs it offline on Debian and Ubuntu (and in the grading images)
    locate: Callable[[], Path]  # its folder here; raises FileNotFoundError (with a hint) when missing
    prepare: Callable[[Path], Path]  # a usable folder, made under the given one if need be (may download)

    def folder(self) -> Path | None:
        """The instructor's own copy (the variable wins), or the one found on this machine, or None."""
        if os.environ.get(self.env_var):
            return Path(os.environ[self.env_var])
        try:
            return self.locate()
        except FileNotFoundError:
            return None


DATASETS: dict[str, Dataset] = {
    "fashion-mnist": Dataset("fashion-mnist", data.ENV_VAR, "dataset-fashion-mnist",
                             lambda: data.fashion_mnist_root(download=False),
                             lambda folder: data.fashion_mnist_root(download=True, data_dir=folder)),
}


class UnknownDataset(LookupError):
    """An assignment names a data set that is not in ``DATASETS``."""


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise UnknownDataset(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def kernel_env(names: tuple[str, ...]) -> dict[str, str]:
    """Environment variable -> folder for the data sets ``names`` found on this machine."""
    found = {}
    for name in names:
        folder = get(name).folder()
        if folder is not None:
            found[get(name).env_var] = str(folder)
    return found
