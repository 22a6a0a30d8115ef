"""Columns of a descriptor table that carry nothing a model could use: constant ones,
and those that repeat an earlier column (descfeat --prune).

On the rows given (all of them: a column's being constant or a copy is a property
of the whole input, so the statistics are accumulated chunk by chunk):

* a column is **constant** when it has at most one distinct value apart from NaN
  (an all-NaN column included);
* a later column is a **duplicate** of an earlier kept column when both are NaN in
  exactly the same rows and, over the other rows, the absolute Pearson correlation
  exceeds :data:`R_DUPLICATE` (an identical column, an affine copy such as a total
  and a mean at one fixed length, or a negated copy). A column that is defined on
  other rows than its near-copy is kept: it is not the same information.

The first column in output order is kept; each later one is compared with the kept
columns before it, in order, and named a duplicate of the first match, so no two
columns left have |r| > R_DUPLICATE and the result does not depend on chunking.
"""

import numpy as np

#: |Pearson r| above which two columns count as one.
R_DUPLICATE = 0.999999


class ColumnPruner:
    """Accumulates, chunk by chunk, what is needed to find constant and duplicate columns.

    Parameters
    ----------
    names : list of str
        Column names, in output order.
    r_min : float
        The |r| threshold of a duplicate.

    Per column: count of finite values, their minimum and maximum, and the sums of the
    values and of their squares after subtracting the column's first finite value (a
    constant shift that leaves r unchanged and keeps the sums from cancelling); per
    pair: the count of rows where both are finite and the sum of the products of the
    shifted values.
    """

    def __init__(self, names, r_min=R_DUPLICATE):
        self.names = list(names)
        self.r_min = float(r_min)
        d = len(self.names)
        self.rows = 0
        self.count = np.zeros(d)
        self.lo = np.full(d, np.inf)
        self.hi = np.full(d, -np.inf)
        self.shift = np.full(d, np.nan)
        self.s1 = np.zeros(d)
        self.s2 = np.zeros(d)
        self.both = np.zeros((d, d))
        self.cross = np.zeros((d, d))

    def update(self, values):
        """Add the rows of ``values`` (array (m, d); NaN where undefined)."""
        x = np.asarray(values, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.names):
            raise ValueError(f"expected (m, {len(self.names)}) values, got {x.shape}")
        if not len(x):
            return
        ok = np.isfinite(x)
        new = np.isnan(self.shift) & ok.any(axis=0)
        if new.any():
            first = ok[:, new].argmax(axis=0)
            self.shift[new] = x[first, np.nonzero(new)[0]]
        y = np.where(ok, x - np.where(np.isnan(self.shift), 0.0, self.shift), 0.0)
        okf = ok.astype(np.float64)
        self.rows += len(x)
        self.count += okf.sum(axis=0)
        with np.errstate(invalid="ignore"):
            self.lo = np.fmin(self.lo, np.where(ok, x, np.inf).min(axis=0))
            self.hi = np.fmax(self.hi, np.where(ok, x, -np.inf).max(axis=0))
        self.s1 += y.sum(axis=0)
        self.s2 += (y * y).sum(axis=0)
        self.both += okf.T @ okf
        self.cross += y.T @ y

    def constant(self):
        """Bool array (d,): at most one distinct finite value."""
        return ~(self.hi > self.lo)

    def _decide(self):
        if getattr(self, "_decided", None) is not None and self._decided[0] == self.rows:
            return self._decided[1]
        const = self.constant()
        n = np.maximum(self.count, 1.0)
        mean = self.s1 / n
        var = self.s2 / n - mean * mean
        with np.errstate(invalid="ignore", divide="ignore"):
            # r of every pair, valid for pairs NaN in the same rows (then both counts are n)
            r = (self.cross / n[:, None] - mean[:, None] * mean[None, :]) / np.sqrt(np.outer(var, var))
        same_rows = (self.both == self.count[:, None]) & (self.both == self.count[None, :])
        match = same_rows & (np.abs(r) > self.r_min) & (var[:, None] > 0) & (var[None, :] > 0)
        kept, dropped = [], []
        for j, name in enumerate(self.names):
            if const[j]:
                dropped.append({"column": name, "reason": "constant"})
                continue
            hit = [i for i in kept if match[i, j]] if kept and match[kept, j].any() else []
            if hit:
                i = hit[0]
                dropped.append({"column": name, "reason": "duplicate", "of": self.names[i],
                                "r": float(np.clip(r[i, j], -1.0, 1.0))})
            else:
                kept.append(j)
        self._decided = (self.rows, (kept, dropped))
        return kept, dropped

    def keep(self):
        """Indices of the columns kept, in output order."""
        return np.asarray(self._decide()[0], dtype=np.intp)

    def dropped(self):
        """The columns dropped, in output order: dicts with ``column``, ``reason``
        (``constant`` or ``duplicate``) and, for a duplicate, ``of`` (the kept column it
        repeats) and ``r`` (their Pearson correlation)."""
        return [dict(d) for d in self._decide()[1]]
