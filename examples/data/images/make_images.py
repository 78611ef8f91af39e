"""Regenerate the image/sequence data sets in this folder (NPZ files, see README.md).

    python examples/data/images/make_images.py

It needs two packages that are NOT dependencies of bnnlang; install them in a
throwaway environment, not in the project's:

    pip install mnist1d==0.0.2.post1 scikit-learn

(mnist1d pulls in scipy, matplotlib and requests; nothing is downloaded here:
MNIST-1D is built offline from the package's templates with `make_dataset`,
never with `get_dataset`, and the 8x8 digits ship inside scikit-learn.)

Every file is written with fixed seeds and a fixed zip date, so a rerun with the
same package versions gives the same bytes; the script prints each file's sha256.

- mnist1d_train.npz / mnist1d_test.npz: x float32 [n, 40, 1], y int64 [n]
- mnist1d_ood.npz: x = the test signals, each with its 40 positions permuted
- digits_train.npz / digits_test.npz: x float32 [n, 8, 8, 1] in [0, 1], y int64 [n]
- digits_ood_noise.npz: x = 400 images of uniform noise in [0, 1]
- digits_ood_shuffled.npz: x = the test images, each with its 64 pixels permuted
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FILES: list[str] = []


def save_npz(name: str, **arrays: np.ndarray) -> None:
    """Like np.savez_compressed, but with a fixed date and attributes in the zip, so the bytes never change."""
    with zipfile.ZipFile(HERE / name, "w") as zf:
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # the same on every platform
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    FILES.append(name)


def shuffle_each_row(x: np.ndarray, seed: int) -> np.ndarray:
    """Permute the positions (all axes after the first) of every row, with a different permutation per row."""
    flat = x.reshape(len(x), -1)
    return np.random.default_rng(seed).permuted(flat, axis=1).reshape(x.shape)


def mnist1d() -> None:
    """MNIST-1D with the package's default arguments: 5,000 signals of length 40, the first 80% for training."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()  # num_samples=5000, train_split=0.8, final_seq_length=40, seed=42, ...
    data = make_dataset(args)  # offline: seeds numpy's global generator with args.seed itself
    x = data["x"].astype(np.float32)[:, :, None]
    xt = data["x_test"].astype(np.float32)[:, :, None]
    assert x.shape == (4000, 40, 1) and xt.shape == (1000, 40, 1)
    save_npz("mnist1d_train.npz", x=x, y=data["y"].astype(np.int64))
    save_npz("mnist1d_test.npz", x=xt, y=data["y_test"].astype(np.int64))
    save_npz("mnist1d_ood.npz", x=shuffle_each_row(xt, seed=1))


def digits() -> None:
    """scikit-learn's 8x8 digits (1,797 images, grey levels 0..16): 1,397 to train, 400 to test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[..., None]  # [1797, 8, 8, 1], exact: k/16 is a float32
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(0).permutation(len(y))
    train, test = perm[:1397], perm[1397:]
    save_npz("digits_train.npz", x=x[train], y=y[train])
    save_npz("digits_test.npz", x=x[test], y=y[test])
    noise = np.random.default_rng(2).uniform(0.0, 1.0, size=(400, 8, 8, 1)).astype(np.float32)
    save_npz("digits_ood_noise.npz", x=noise)
    save_npz("digits_ood_shuffled.npz", x=shuffle_each_row(x[test], seed=3))


if __name__ == "__main__":
    mnist1d()
    digits()
    for name in FILES:
        print(hashlib.sha256((HERE / name).read_bytes()).hexdigest(), name)
