"""Where the data are: a point is inside when its nearest data row (in standardised coordinates) is no
farther than the data's own ``quantile`` (95 %) nearest-neighbour spacing.

The attribution and interaction probes average a shuffled or boxed input's effect only over the
moved rows that stay inside the data, so that a network's output far from anything it was trained
on does not decide whether an input matters. scikit-learn's ``NearestNeighbors`` does the search.
"""

from __future__ import annotations

import numpy as np


class DataSupport:
    """The region the rows ``X`` cover (see the module docstring); ``max_rows`` caps the rows kept for the search.

    Example:
        >>> X = np.random.default_rng(0).uniform(size=(500, 2))
        >>> DataSupport(X).inside(np.array([[0.5, 0.5], [5.0, 5.0]])).tolist()
        [True, False]
    """

    def __init__(self, X: np.ndarray, quantile: float = 0.95, max_rows: int | None = None, seed: int = 0) -> None:
        from sklearn.neighbors import NearestNeighbors

        if max_rows is not None and len(X) > max_rows:
            X = X[np.random.default_rng(seed).choice(len(X), max_rows, replace=False)]
        self.mu = X.mean(axis=0)
        sd = X.std(axis=0)
        self.sd = np.where(sd > 0, sd, 1.0)
        Z = (X - self.mu) / self.sd
        self.nn = NearestNeighbors(n_neighbors=2).fit(Z)
        self.tau = float(np.quantile(self.nn.kneighbors(Z)[0][:, 1], quantile))

    def inside(self, X: np.ndarray) -> np.ndarray:
        """Boolean per row of ``X``: within the spacing of the nearest data row.

        Example:
            >>> DataSupport(np.arange(10.0)[:, None]).inside(np.array([[4.5], [30.0]])).tolist()
            [True, False]
        """
        return self.nn.kneighbors((X - self.mu) / self.sd, n_neighbors=1)[0][:, 0] <= self.tau
