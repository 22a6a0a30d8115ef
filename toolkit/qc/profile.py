"""The library profile seqqc reports: lengths, GC, duplication,
per-target distribution and per-cell standard errors."""

import numpy as np

from ..seq.arrays import PackedSeqs

PERCENTILES = (0.1, 1, 5, 25, 50, 75, 95, 99, 99.9)


def _dist(values):
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0}
    out = {"n": int(v.size), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
           "min": float(v.min()), "max": float(v.max())}
    out.update({f"p{p:g}": float(q) for p, q in zip(PERCENTILES, np.percentile(v, PERCENTILES))})
    return out


class ProfileAccumulator:
    """The profile of a stream of sequences, exact, in memory that grows with the number of
    distinct values, not with the rows: lengths and GC contents are kept as count tables,
    sequences as the set of their 64-bit hashes (duplicates counted with them), and target
    and SE values as tables of distinct finite values and their counts.
    """

    def __init__(self, targets=(), se_cols=()):
        self.lengths = _Counts()
        self.gc = _Counts()          # key: GC count * 2**32 + ACGT count (exact fractions)
        self.hashes = _Distinct()
        self.n = 0
        self.targets = {t: _Counts() for t in targets}
        self.ses = {c: _Counts() for c in se_cols}

    def add(self, seqs, targets, ses):
        """Add sequences (uppercase str array, shape (n,)) and their numeric columns (name -> float array (n,))."""
        seqs = list(seqs)
        if not seqs:
            return
        packed = PackedSeqs(seqs)
        gc = packed.count_bytes("GC").astype(np.int64)
        acgt = packed.count_bytes("ACGT").astype(np.int64)
        self.n += len(seqs)
        self.lengths.add(packed.lengths.astype(np.int64))
        self.gc.add((gc << 32) + acgt)
        self.hashes.add(np.fromiter((hash(s) for s in seqs), dtype=np.int64, count=len(seqs)))
        for t in self.targets:
            self.targets[t].add(_finite(targets[t]))
        for c in self.ses:
            self.ses[c].add(_finite(ses[c]))

    def result(self):
        """The profile as a JSON-ready dict."""
        if not self.n:
            return {"rows": 0}
        n = self.n
        lv, lc = self.lengths.table()
        order = np.argsort(-lc, kind="stable")[:10]
        keys, kc = self.gc.table()
        acgt, gcn = keys & 0xFFFFFFFF, keys >> 32
        fin = acgt > 0  # GC content is undefined for a sequence of N only
        gv, gw = gcn[fin] / acgt[fin], kc[fin]
        gv, gw = _merge(gv, gw)  # equal fractions from different (GC, ACGT) pairs
        g = _Weighted(gv, gw)
        n_unique = self.hashes.count()
        return {
            "rows": n,
            "length": {"min": int(lv.min()), "max": int(lv.max()), "mean": float((lv * lc).sum() / n),
                       "median": _Weighted(lv.astype(np.float64), lc).percentile(50),
                       "most_common": {str(int(lv[i])): int(lc[i]) for i in order}},
            "gc": {"mean": g.mean() if g.n else None, "sd": g.sd() if g.n > 1 else None,
                   "p1": g.percentile(1) if g.n else None,
                   "p99": g.percentile(99) if g.n else None,
                   "fraction_below_0.3": float(gw[gv < 0.3].sum() / g.n) if g.n else None,
                   "fraction_above_0.7": float(gw[gv > 0.7].sum() / g.n) if g.n else None},
            "duplication_rate": float(1.0 - n_unique / n),
            "unique_sequences": int(n_unique),
            "targets": {t: _dist_counts(*v.table()) for t, v in self.targets.items()},
            "standard_errors": {c: _se_summary_counts(*v.table()) for c, v in self.ses.items()},
        }


def _finite(values):
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def _merge(values, counts):
    """Sum the counts of equal values; values sorted."""
    if len(values) == 0:
        return values, counts
    u, inv = np.unique(values, return_inverse=True)
    return u, np.bincount(inv.ravel(), weights=counts, minlength=len(u)).astype(np.int64)


class _Counts:
    """A table of distinct values and their counts, built from batches (merged once the
    pending values outgrow the table, so memory follows the distinct values)."""

    def __init__(self):
        self._values = None  # the dtype of the first values added
        self._counts = np.zeros(0, dtype=np.int64)
        self._pending = []
        self._pending_n = 0

    def add(self, values):
        if len(values):
            u, c = np.unique(values, return_counts=True)
            if self._values is None:
                self._values = u[:0]
            self._pending.append((u, c))
            self._pending_n += len(u)
            if self._pending_n > max(1 << 20, 2 * len(self._values)):
                self.table()

    def table(self):
        """(values sorted, counts)."""
        if self._values is None:
            return np.zeros(0), self._counts
        if self._pending:
            vals = np.concatenate([self._values] + [u for u, _ in self._pending])
            cnts = np.concatenate([self._counts] + [c for _, c in self._pending])
            self._pending, self._pending_n = [], 0
            self._values, self._counts = _merge(vals, cnts)
        return self._values, self._counts


class _Distinct:
    """The set of distinct int64 values of batches (duplicates dropped as it grows)."""

    def __init__(self):
        self._set = np.zeros(0, dtype=np.int64)
        self._pending = []
        self._pending_n = 0

    def add(self, values):
        self._pending.append(np.unique(values))
        self._pending_n += len(self._pending[-1])
        if self._pending_n > max(1 << 20, 2 * len(self._set)):
            self.count()

    def count(self):
        if self._pending:
            self._set = np.unique(np.concatenate([self._set] + self._pending))
            self._pending, self._pending_n = [], 0
        return len(self._set)


class _Weighted:
    """Statistics of a sample given as sorted distinct values and their counts, equal to
    those of the expanded sample (numpy's linear percentiles, ddof=1 SD)."""

    def __init__(self, values, counts):
        self.values = np.asarray(values, dtype=np.float64)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.cum = np.cumsum(self.counts)
        self.n = int(self.cum[-1]) if len(self.cum) else 0

    def mean(self):
        return float((self.values * self.counts).sum() / self.n)

    def sd(self):
        m = (self.values * self.counts).sum() / self.n
        return float(np.sqrt((self.counts * (self.values - m) ** 2).sum() / (self.n - 1)))

    def at(self, k):
        """The k-th (0-based) smallest value of the expanded sample."""
        return self.values[np.searchsorted(self.cum, k, side="right")]

    def percentile(self, q):
        h = (self.n - 1) * (q / 100.0)
        lo = int(np.floor(h))
        t = h - lo
        a, b = self.at(lo), self.at(min(lo + 1, self.n - 1))
        diff = b - a
        return float(b - diff * (1 - t) if t >= 0.5 else a + diff * t)  # numpy's lerp


def _dist_counts(values, counts):
    """:func:`_dist` of the sample given by a table of distinct values and counts."""
    w = _Weighted(values, counts)
    if w.n == 0:
        return {"n": 0}
    out = {"n": w.n, "mean": w.mean(), "sd": w.sd() if w.n > 1 else 0.0,
           "min": float(w.values[0]), "max": float(w.values[-1])}
    out.update({f"p{p:g}": w.percentile(p) for p in PERCENTILES})
    return out


def _se_summary_counts(values, counts):
    """:func:`_se_summary` of the sample given by a table of distinct values and counts."""
    w = _Weighted(values, counts)
    if w.n == 0:
        return {"n": 0}
    q1, med, q3 = (w.percentile(q) for q in (25, 50, 75))
    return {"n": w.n, "median": med, "q1": q1, "q3": q3, "iqr": q3 - q1}


def profile(seqs, targets, ses):
    """Profile one set of sequences (see :class:`ProfileAccumulator`)."""
    acc = ProfileAccumulator(list(targets), list(ses))
    acc.add(seqs, targets, ses)
    return acc.result()


def _se_summary(v):
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1)}
