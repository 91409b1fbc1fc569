"""Datasets for calibration, accuracy and fine-tuning.

A DATA argument is a built-in name or an ``.npz`` file with ``x`` (N, C, H, W)
float inputs and ``y`` integer labels:

* ``digits``: scikit-learn's bundled 8x8 handwritten digits (1797 images),
  pixels scaled to [0, 1], shape (1, 8, 8). ``digits-padded`` is the same
  zero-padded by 2 pixels to (1, 12, 12) for models that want room for
  several 3x3 convolutions. Split: a fixed stratified 80/20 train/test split
  (``random_state=0``).
* ``fashion-mnist``: Debian's ``dataset-fashion-mnist`` (gzipped IDX files in
  /usr/share/datasets/fashion-mnist), pixels scaled to [0, 1], (1, 28, 28),
  the official 60000/10000 train/test split.

A ``.npz`` file is used whole for every split unless it holds ``x_train``,
``y_train``, ``x_test``, ``y_test``.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass

import numpy as np

from wqrc.errors import WqrcError
from wqrc.holdout import DEFAULT_VAL_SPLIT

FASHION_DIR = os.environ.get("WQRC_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
BUILTIN = ("digits", "digits-padded", "fashion-mnist")


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    # the test split is the training split (an .npz with x and y only, or equal arrays): its
    # test accuracy is then no held-out figure, and reading it says so
    test_is_training: bool = False

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        if which == "train":
            return self.x_train, self.y_train
        if self.test_is_training:
            import warnings
            warnings.warn(f"{self.name}: the test split is the training split (the file has x and y, or equal "
                          f"x_train and x_test), so its accuracy is measured on data the model was calibrated or "
                          f"trained on; store x_train, y_train, x_test and y_test for a held-out figure")
        return self.x_test, self.y_test

    def validation_split(self, fraction: float = DEFAULT_VAL_SPLIT, seed: int = 0):
        """A deterministic slice of the training data, never the test split.

        Returns (x_fit, y_fit, x_val, y_val).
        """
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self.x_train))
        n_val = max(1, int(round(fraction * len(order))))
        val, fit = order[:n_val], order[n_val:]
        return self.x_train[fit], self.y_train[fit], self.x_train[val], self.y_train[val]


def _digits(pad: int) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    xtr, xte, ytr, yte = train_test_split(x, d.target.astype(np.int64), test_size=0.2,
                                          random_state=0, stratify=d.target)
    return Dataset("digits-padded" if pad else "digits", xtr, ytr, xte, yte)


def _idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_mnist() -> Dataset:
    files = {k: os.path.join(FASHION_DIR, f"{k}-idx{3 if 'images' in k else 1}-ubyte.gz")
             for k in ("train-images", "train-labels", "t10k-images", "t10k-labels")}
    missing = [p for p in files.values() if not os.path.isfile(p)]
    if missing:
        raise WqrcError(
            f"fashion-mnist: {missing[0]} not found; install Debian's package "
            "('apt-get install dataset-fashion-mnist') or set WQRC_FASHION_MNIST_DIR"
        )
    def img(k):
        return (_idx(files[k]).astype(np.float32) / 255.0)[:, None]
    return Dataset("fashion-mnist", img("train-images"), _idx(files["train-labels"]).astype(np.int64),
                   img("t10k-images"), _idx(files["t10k-labels"]).astype(np.int64))


def _npz(path: str) -> Dataset:
    from wqrc.untrusted import load_npz, npz_members

    keys = set(npz_members(path))   # headers only; each array is size-checked before it is read
    split = {"x_train", "y_train", "x_test", "y_test"}
    if split <= keys:
        z = load_npz(path, names=split.__contains__)
        parts = [z[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    elif "x" in keys:
        z = load_npz(path, names={"x", "y"}.__contains__)
        x = z["x"]
        if x.ndim == 0:
            raise WqrcError(f"{path}: 'x' must be (N, C, H, W), (N, C, L) or (N, F) with one label per sample")
        y = z["y"] if "y" in z else np.zeros(len(x), np.int64)
        parts = [x, y, x, y]
    else:
        raise WqrcError(f"{path}: expected arrays 'x' and 'y' (or x_train/y_train/x_test/y_test), found {sorted(keys)}")
    xtr, ytr, xte, yte = parts
    if xtr.ndim not in (2, 3, 4) or xte.ndim != xtr.ndim or len(xtr) != len(ytr) or len(xte) != len(yte):
        raise WqrcError(f"{path}: 'x' must be (N, C, H, W), (N, C, L) or (N, F) with one label per sample")
    for name, arr in (("x", xtr), ("x_test", xte)):
        if len(arr) == 0 or arr.size == 0:
            raise WqrcError(f"{path}: '{name}' holds no samples")
        if arr.dtype.kind not in "biuf":
            raise WqrcError(f"{path}: '{name}' must hold real numbers, not {arr.dtype}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise WqrcError(f"{path}: '{name}' holds NaN or infinite values")
    for name, arr in (("y", ytr), ("y_test", yte)):
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise WqrcError(f"{path}: '{name}' must be one integer label per sample, not {arr.dtype} {arr.shape}")
    same = xtr is xte or (xtr.shape == xte.shape and np.array_equal(xtr, xte))
    return Dataset(os.path.basename(path), xtr.astype(np.float32), ytr.astype(np.int64),
                   xte.astype(np.float32), yte.astype(np.int64), test_is_training=same)


def check_spec(spec: str, option: str = "") -> None:
    """A dataset spec checked without reading it: a built-in name or an existing ``.npz`` file."""
    where = f"{option}: " if option else ""
    if spec in BUILTIN:
        return
    if spec.endswith(".npz"):
        if not os.path.isfile(spec):
            raise WqrcError(f"{where}{spec}: no such data file")
        return
    raise WqrcError(f"{where}unknown dataset '{spec}': use one of {', '.join(BUILTIN)} or an .npz file")


def load_dataset(spec: str) -> Dataset:
    """Load a built-in dataset by name or an ``.npz`` file."""
    check_spec(spec)
    if spec == "digits":
        return _digits(0)
    if spec == "digits-padded":
        return _digits(2)
    if spec == "fashion-mnist":
        return _fashion_mnist()
    return _npz(spec)


def check_fits(ds: Dataset, input_shape: tuple[int, ...], num_outputs: int | None = None,
               layout: str = "nchw") -> None:
    """Clear errors when data does not match the model."""
    from wqrc.ir.graph import fit_input
    if tuple(fit_input(ds.x_test[:1], input_shape, layout).shape[1:]) != tuple(input_shape):
        raise WqrcError(
            f"dataset '{ds.name}' has samples of shape {tuple(ds.x_test.shape[1:])}, "
            f"the model expects {tuple(input_shape)}"
        )
    if num_outputs is not None and ds.num_classes > num_outputs:
        raise WqrcError(
            f"dataset '{ds.name}' has labels up to {ds.num_classes - 1}, the model has only {num_outputs} outputs"
        )


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits.reshape(len(logits), -1), axis=1) == y))
