"""Regenerate the NPZ inputs of the error corpus: `python tests/errors/data/make_npz.py`."""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# x has 5 rows, y has 4: the dimension N disagrees between the two arrays.
np.savez(HERE / "data_npz_rows_disagree.npz", x=np.linspace(0, 1, 5).reshape(5, 1), y=np.zeros(4))
# x is declared real[N, 1] but stored as a vector (one axis).
np.savez(HERE / "data_npz_wrong_rank.npz", x=np.linspace(0, 1, 5), y=np.zeros(5))
# tokens declared int[N, 6] in 0..V-1 with V = 12: row 2 holds the id 12.
tokens = np.arange(24).reshape(4, 6) % 12
tokens[2, 3] = 12
np.savez(HERE / "data_npz_token_out_of_range.npz", tokens=tokens, y=np.array([0, 1, 2, 0]))
# images declared real[N, 8, 8, 1] but stored without their channel axis, as [N, 8, 8].
np.savez(HERE / "data_npz_image_wrong_rank.npz", img=np.zeros((5, 8, 8)), y=np.array([0, 1, 2, 3, 4]))
