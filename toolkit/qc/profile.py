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


def profile(seqs, targets, ses):
    """Profile a set of cleaned sequences and their numeric columns.

    Parameters
    ----------
    seqs : array of str, shape (n,)
    targets : dict name -> float array (n,)
    ses : dict SE column -> float array (n,)

    Returns
    -------
    dict, JSON-serialisable.
    """
    seqs = list(seqs)
    n = len(seqs)
    if n == 0:
        return {"rows": 0}
    packed = PackedSeqs(seqs)
    lengths = packed.lengths
    gc = packed.count_bytes("GC")
    acgt = packed.count_bytes("ACGT")
    gcf = np.where(acgt > 0, gc / np.maximum(acgt, 1), np.nan)
    vals, cnt = np.unique(lengths, return_counts=True)
    order = np.argsort(-cnt, kind="stable")[:10]
    n_unique = len(set(seqs))
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
        "unique_sequences": n_unique,
        "targets": {t: _dist(v) for t, v in targets.items()},
        "standard_errors": {c: _se_summary(v) for c, v in ses.items()},
    }


def _se_summary(v):
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"n": int(v.size), "median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1)}
