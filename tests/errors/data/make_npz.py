"""Regenerate the NPZ inputs of the error corpus: `python tests/errors/data/make_npz.py`."""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# x has 5 rows, y has 4: the dimension N disagrees between the two arrays.
np.savez(HERE / "data_npz_rows_disagree.npz", x=np.linspace(0, 1, 5).reshape(5, 1), y=np.zeros(4))
# x is declared real[N, 1] but stored as a vector (one axis).
np.savez(HERE / "data_npz_wrong_rank.npz", x=np.linspace(0, 1, 5), y=np.zeros(5))
