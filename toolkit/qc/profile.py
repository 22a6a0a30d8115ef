"""The library profile the CRE design asks for: lengths, GC, duplication,
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
    """The profile of a stream of sequences, in memory proportional to the row count
    times a few numbers (not the sequences themselves).

    Duplicates are counted with 64-bit hashes of the sequences.
    """

    def __init__(self, targets=(), se_cols=()):
        self.lengths, self.gc, self.hashes = [], [], []
        self.targets = {t: [] for t in targets}
        self.ses = {c: [] for c in se_cols}

    def add(self, seqs, targets, ses):
        """Add sequences (uppercase str array, shape (n,)) and their numeric columns (name -> float array (n,))."""
        seqs = list(seqs)
        if not seqs:
            return
        packed = PackedSeqs(seqs)
        gc = packed.count_bytes("GC")
        acgt = packed.count_bytes("ACGT")
        self.lengths.append(packed.lengths.astype(np.int32))
        self.gc.append(np.where(acgt > 0, gc / np.maximum(acgt, 1), np.nan))
        self.hashes.append(np.fromiter((hash(s) for s in seqs), dtype=np.int64, count=len(seqs)))
        for t in self.targets:
            self.targets[t].append(np.asarray(targets[t], dtype=np.float64))
        for c in self.ses:
            self.ses[c].append(np.asarray(ses[c], dtype=np.float64))

    def result(self):
        """The profile as a JSON-ready dict."""
        if not self.lengths:
            return {"rows": 0}
        lengths = np.concatenate(self.lengths)
        gcf = np.concatenate(self.gc)
        n = len(lengths)
        n_unique = len(np.unique(np.concatenate(self.hashes)))
        vals, cnt = np.unique(lengths, return_counts=True)
        order = np.argsort(-cnt, kind="stable")[:10]
        g = gcf[np.isfinite(gcf)]
        return {
            "rows": n,
            "length": {"min": int(lengths.min()), "max": int(lengths.max()), "mean": float(lengths.mean()),
                       "median": float(np.median(lengths)),
                       "most_common": {str(int(vals[i])): int(cnt[i]) for i in order}},
            "gc": {"mean": float(g.mean()) if g.size else None, "sd": float(g.std(ddof=1)) if g.size > 1 else None,
                   "p1": float(np.percentile(g, 1)) if g.size else None,
                   "p99": float(np.percentile(g, 99)) if g.size else None,
                   "fraction_below_0.3": float((g < 0.3).mean()) if g.size else None,
                   "fraction_above_0.7": float((g > 0.7).mean()) if g.size else None},
            "duplication_rate": float(1.0 - n_unique / n),
            "unique_sequences": int(n_unique),
            "targets": {t: _dist(np.concatenate(v)) for t, v in self.targets.items()},
            "standard_errors": {c: _se_summary(np.concatenate(v)) for c, v in self.ses.items()},
        }


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
