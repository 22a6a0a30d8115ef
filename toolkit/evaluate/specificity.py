"""Cell-type specificity: MinGap and top-cell agreement.

MinGap (Gosai et al. 2024) of a sequence for its target cell is the activity in
the target cell minus the highest activity among the other cells: positive when
the sequence is most active in its target cell, by that margin.
"""

import numpy as np


def min_gap(values, target):
    """MinGap of every row.

    Parameters
    ----------
    values : numpy.ndarray, shape (n, k)
        Activity per row and cell (k >= 2).
    target : numpy.ndarray of int, shape (n,)
        Index (0..k-1) of each row's target cell.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``values[i, target[i]] - max_{j != target[i]} values[i, j]``.

    Examples
    --------
    >>> min_gap(np.array([[2.0, 0.5, 1.0]]), np.array([0]))
    array([1.])
    """
    values = np.asarray(values, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    if values.ndim != 2 or values.shape[1] < 2:
        raise ValueError("MinGap needs at least two cells (values of shape (n, k), k >= 2)")
    rows = np.arange(len(values))
    own = values[rows, target]
    others = values.copy()
    others[rows, target] = -np.inf
    return own - others.max(axis=1)


def target_indices(cells, target_cell=None, truth=None):
    """Each row's target cell as an index into ``cells``.

    Parameters
    ----------
    cells : list of str
        Cell names of the tasks, in column order.
    target_cell : numpy.ndarray of str, shape (n,), optional
        The ``target_cell`` column; rows naming none of ``cells`` get -1.
    truth : numpy.ndarray, shape (n, k), optional
        Observed activities; used when ``target_cell`` is None: the top observed cell.

    Returns
    -------
    numpy.ndarray of int, shape (n,)
    """
    if target_cell is not None:
        lookup = {c: i for i, c in enumerate(cells)}
        return np.array([lookup.get(str(v).strip(), -1) for v in target_cell], dtype=np.int64)
    if truth is None:
        raise ValueError("give target_cell or truth")
    return np.argmax(np.asarray(truth), axis=1).astype(np.int64)


def top_cell_agreement(truth, pred):
    """Whether each row's top predicted cell is its top observed cell.

    Parameters
    ----------
    truth, pred : numpy.ndarray, shape (n, k)

    Returns
    -------
    numpy.ndarray of bool, shape (n,)
    """
    return np.argmax(np.asarray(pred), axis=1) == np.argmax(np.asarray(truth), axis=1)
