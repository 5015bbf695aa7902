"""The Fashion-MNIST helper finds the real data set in its documented order."""

from __future__ import annotations

import shutil

import pytest

from autograder import data, datasets

DEBIAN = data.DEBIAN_DIR


@pytest.fixture
def gz_copy(tmp_path):
    """A folder holding the four original .gz files, as a user might point FASHION_MNIST_DIR at."""
    assert DEBIAN.is_dir(), "Debian's dataset-fashion-mnist is required (make setup installs it)"
    folder = tmp_path / "downloads"
    shutil.copytree(DEBIAN, folder)
    return folder


def test_env_var_wins_and_files_are_unpacked(gz_copy, tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(gz_copy))
    root = data.fashion_mnist_root(download=False, data_dir=tmp_path / "data")
    assert root == tmp_path / "data"
    assert all((root / "FashionMNIST" / "raw" / f).stat().st_size > 0 for f in data.RAW_FILES)


def test_env_var_pointing_nowhere_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "empty"))
    with pytest.raises(data.FashionMNISTNotFound, match="apt-get install dataset-fashion-mnist"):
        data.fashion_mnist_root(download=False, data_dir=tmp_path / "data")


def test_repo_data_dir_comes_before_debian(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in data.RAW_FILES:
        (raw / f).write_bytes(b"x")
    assert data.fashion_mnist_root(download=False, data_dir=tmp_path / "data") == tmp_path / "data"


def test_debian_package_is_used_when_nothing_else_is_there(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    assert DEBIAN.is_dir(), "Debian's dataset-fashion-mnist is required (make setup installs it)"
    root = data.fashion_mnist_root(download=False, data_dir=tmp_path / "data")
    assert root == tmp_path / "data" and (root / "FashionMNIST" / "raw" / data.RAW_FILES[0]).is_file()


def test_nothing_anywhere_names_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(data.FashionMNISTNotFound, match="dataset-fashion-mnist"):
        data.fashion_mnist_root(download=False, data_dir=tmp_path / "data")


def test_real_dataset_loads_through_torchvision(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(DEBIAN))
    monkeypatch.setattr(data, "default_data_dir", lambda: tmp_path / "data")
    train, test = data.fashion_mnist(train=True, download=False), data.fashion_mnist(train=False, download=False)
    assert (len(train), len(test)) == (60000, 10000)
    image, label = test[0]
    assert tuple(image.shape) == (1, 28, 28) and 0 <= label < 10 and len(data.CLASSES) == 10
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_a_dataset_folder_set_by_the_instructor_reaches_the_sandboxed_kernels(monkeypatch, tmp_path):

    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))  # kernels get a clean environment: it must be passed on
    assert datasets.kernel_env(("fashion-mnist",)) == {data.ENV_VAR: str(tmp_path)}


def test_assignments_declare_their_data_sets_and_unknown_ones_are_named():
    from autograder import assignments

    assert assignments.get("03-fashion-mnist").datasets == ("fashion-mnist",)
    assert assignments.get("01-softmax-cross-entropy").datasets == ()
    assert datasets.get("fashion-mnist").env_var == data.ENV_VAR
    with pytest.raises(datasets.UnknownDataset, match="unknown data set 'imagenet'; known: fashion-mnist"):
        datasets.kernel_env(("imagenet",))
