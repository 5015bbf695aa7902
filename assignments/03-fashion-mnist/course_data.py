# Generated from autograder/data.py by `python -m autograder build`; do not edit.
# Edit the source and rebuild: `build --check` fails when this copy differs from it.
"""Find the real Fashion-MNIST and hand it to torchvision.

Resolution order (the first that works wins):
1. the directory in the environment variable ``FASHION_MNIST_DIR``;
2. ``data/`` at the repository root;
3. Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
4. torchvision's own download, into ``data/``.

A directory counts if it is a torchvision root (``FashionMNIST/raw/`` holding the four files) or
holds the four original files directly, gzipped or not; the latter are unpacked into ``data/``.
This file depends only on the standard library, torch and torchvision, so assignments can ship it.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
INSTALL_HINT = (
    "Install the real data set with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
    f"or put the four original files in a folder and set {ENV_VAR} to it."
)


class FashionMNISTNotFound(FileNotFoundError):
    """No usable copy of Fashion-MNIST was found; the message says what to install."""


def default_data_dir() -> Path:
    """``data/`` at the repository root (or next to this file when shipped on its own)."""
    here = Path(__file__).resolve().parent
    return (here.parent if here.name == "autograder" else here) / "data"


def _is_root(d: Path) -> bool:
    return all((d / "FashionMNIST" / "raw" / f).is_file() for f in RAW_FILES)


def _source_file(d: Path, name: str) -> Path | None:
    for candidate in (d / name, d / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _unpack(src: Path, root: Path) -> Path:
    """Copy (gunzipping where needed) the four files of ``src`` into ``root/FashionMNIST/raw``."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in RAW_FILES:
        source = _source_file(src, name)
        part = raw / f"{name}.part"
        opener = gzip.open if source.suffix == ".gz" else open
        with opener(source, "rb") as fin, open(part, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.replace(part, raw / name)
    return root


def _usable(d: Path, cache: Path) -> Path | None:
    """Return a torchvision root for directory ``d``, unpacking into ``cache`` if needed."""
    if _is_root(d):
        return d
    if all(_source_file(d, f) for f in RAW_FILES):
        return cache if _is_root(cache) else _unpack(d, cache)
    return None


def fashion_mnist_root(download: bool = True, data_dir: Path | None = None) -> Path:
    """Return a directory that ``torchvision.datasets.FashionMNIST(root)`` loads without network."""
    data_dir = data_dir or default_data_dir()
    env = os.environ.get(ENV_VAR)
    if env:
        found = _usable(Path(env), data_dir)
        if found is None:
            raise FashionMNISTNotFound(
                f"{ENV_VAR}={env} holds neither FashionMNIST/raw/ nor the four files {', '.join(RAW_FILES)} "
                "(optionally .gz). " + INSTALL_HINT
            )
        return found
    for candidate in (data_dir, DEBIAN_DIR):
        found = _usable(candidate, data_dir) if candidate.is_dir() else None
        if found is not None:
            return found
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(data_dir), train=True, download=True)
            FashionMNIST(str(data_dir), train=False, download=True)
            if _is_root(data_dir):
                return data_dir
        except Exception as exc:  # offline, blocked, or a broken download
            raise FashionMNISTNotFound(f"Fashion-MNIST is not on this machine and downloading it failed ({exc}). " + INSTALL_HINT) from None
    raise FashionMNISTNotFound("Fashion-MNIST is not on this machine. " + INSTALL_HINT)


def fashion_mnist(train: bool, transform=None, download: bool = True):
    """The real Fashion-MNIST split as a torchvision dataset (60,000 train or 10,000 test images)."""
    from torchvision import transforms
    from torchvision.datasets import FashionMNIST

    return FashionMNIST(
        str(fashion_mnist_root(download=download)),
        train=train,
        download=False,
        transform=transform if transform is not None else transforms.ToTensor(),
    )


#: How many training images assignment 03 holds out for validation, and the seed that picks them.
VALIDATION_SIZE = 10_000
VALIDATION_SEED = 2024


def validation_split(n: int = 60_000, size: int = VALIDATION_SIZE, seed: int = VALIDATION_SEED):
    """(training indices, validation indices): a seeded random split of ``range(n)`` into ``n - size``
    and ``size`` sorted int64 indices, the same on every machine. Tune on the validation part, keep
    the test set for the final measurement."""
    import torch

    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[size:].sort().values, order[:size].sort().values
