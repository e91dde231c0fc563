"""Exact effect of flipping one 0/1 input on a fitted random forest's predictions.

For every row and every flag, the forest's prediction with that flag flipped
is needed to compute expected permutation importance. Predicting ``p``
modified copies of the data costs ``p`` full predictions; walking each tree
once per row is enough instead: flipping flag ``j`` can only change a tree's
leaf if the row's path tests ``j``, and then the new leaf is found by
following the other branch (with ``j`` flipped below it too). The result is
identical to ``predict_proba`` on the flipped data (tested), at a fraction
of the cost.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_BLOCK = 512  # rows per block: a block of X (~512 x 70 float32) stays in L2 cache


@njit(cache=True, parallel=True)
def _flip_deltas(left, right, feature, threshold, value1, roots, X, col_of_feature, n_out):
    """Per row: sum over trees of the leaf value, and of (leaf value with flag k flipped - it).

    Rows are taken in blocks, and within a block tree by tree, so one tree's nodes stay in
    cache while the block's rows walk it; each row still sums its trees in the same order.
    """
    n = X.shape[0]
    out = np.zeros((n, n_out))
    total = np.zeros(n)
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for c in prange(n_blocks):
        lo = c * _BLOCK
        hi = min(n, lo + _BLOCK)
        seen = np.full(n_out, False)
        touched = np.empty(n_out, dtype=np.int64)
        for t in range(roots.shape[0]):
            root = roots[t]
            for i in range(lo, hi):
                node = root
                while left[node] != -1:
                    node = left[node] if X[i, feature[node]] <= threshold[node] else right[node]
                base = value1[node]
                total[i] += base
                n_touched = 0
                node = root
                while left[node] != -1:
                    f = feature[node]
                    xf = X[i, f]
                    k = col_of_feature[f]
                    if k >= 0 and not seen[k]:
                        seen[k] = True
                        touched[n_touched] = k
                        n_touched += 1
                        flipped = 1.0 - xf
                        alt = left[node] if flipped <= threshold[node] else right[node]
                        while left[alt] != -1:
                            g = feature[alt]
                            xg = flipped if g == f else X[i, g]
                            alt = left[alt] if xg <= threshold[alt] else right[alt]
                        out[i, k] += value1[alt] - base
                    node = left[node] if xf <= threshold[node] else right[node]
                for m in range(n_touched):
                    seen[touched[m]] = False
    return total, out


def _packed_trees(forest):
    """Concatenate the trees' node arrays, with child indices offset, for numba."""
    lefts, rights, features, thresholds, values, roots = [], [], [], [], [], []
    offset = 0
    for estimator in forest.estimators_:
        t = estimator.tree_
        left, right = t.children_left.astype(np.int64), t.children_right.astype(np.int64)
        lefts.append(np.where(left >= 0, left + offset, -1))
        rights.append(np.where(right >= 0, right + offset, -1))
        features.append(t.feature.astype(np.int64))
        thresholds.append(t.threshold.astype(np.float32))
        value = t.value[:, 0, :]
        values.append(value[:, 1] / value.sum(axis=1))
        roots.append(offset)
        offset += t.node_count
    return (
        np.concatenate(lefts),
        np.concatenate(rights),
        np.concatenate(features),
        np.concatenate(thresholds),
        np.concatenate(values),
        np.asarray(roots, dtype=np.int64),
    )


def forest_predictions(forest, X: np.ndarray, columns) -> tuple[np.ndarray, np.ndarray]:
    """Probability of class 1, as is and with each of ``columns`` flipped (0 <-> 1).

    Parameters
    ----------
    forest : sklearn.ensemble.RandomForestClassifier
        Fitted binary classifier.
    X : ndarray
        Rows to predict (the 0/1 columns must hold exactly 0 or 1).
    columns : sequence of int
        Column indices of 0/1 flags.

    Returns
    -------
    base : ndarray, shape (n,)
        Equal to ``forest.predict_proba(X)[:, 1]`` (summed in a fixed order, so reproducible).
    flipped : ndarray, shape (n, len(columns))
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    columns = np.asarray(list(columns), dtype=np.int64)
    col_of_feature = np.full(X.shape[1], -1, dtype=np.int64)
    col_of_feature[columns] = np.arange(len(columns))
    total, delta = _flip_deltas(*_packed_trees(forest), X, col_of_feature, len(columns))
    n_trees = len(forest.estimators_)
    base = total / n_trees
    return base, base[:, None] + delta / n_trees


def flipped_predictions(forest, X: np.ndarray, columns) -> np.ndarray:
    """Probability of class 1 with each of ``columns`` flipped, shape ``(n, len(columns))``."""
    return forest_predictions(forest, X, columns)[1]
