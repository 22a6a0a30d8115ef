"""Side inputs of a CRE model: a motif prior and descriptor features, as numeric
matrices fused with the pooled sequence embedding.

Motif prior: for each motif of a set, the best PWM
log-odds score of the sequence over both strands (the ``pwm`` family's
``max_score``, toolkit.features.pwm). Features: named numeric columns of the input
table (``--features COLS``; shell-style patterns such as ``thermo_*``), or the
descriptors of a descfeat HDF5 file matched to the rows by id.

Both are standardised with the train split's mean and SD; a value that is missing
(NaN) after standardisation becomes 0, the train mean, and is counted.
"""

import fnmatch

import numpy as np

from ..errors import ConfigError, InputError


def motif_prior(seqs, motifs):
    """Best log-odds score (bits, both strands) of every motif: float32 (n, K); NaN
    where a sequence is shorter than the motif or all its windows hold N."""
    from ..features import pwm

    K = len(motifs)
    step = len(pwm.WRITTEN_METRICS)  # the written columns per motif; max_score is the first
    assert pwm.WRITTEN_METRICS[0] == "max_score"
    return pwm.compute(seqs, None, motifs=motifs)[:, 0:step * K:step].astype(np.float32)


def select_columns(columns, spec, exclude=()):
    """Column names picked by a comma-separated list of names or shell patterns, in
    table order; an entry that matches nothing is an error."""
    chosen = []
    for pat in (p.strip() for p in spec.split(",") if p.strip()):
        hits = [c for c in columns if fnmatch.fnmatchcase(c, pat) and c not in exclude]
        if not hits:
            raise ConfigError(f"--features: no column matches '{pat}'",
                              hint="name numeric columns of the input, e.g. 'thermo_*,gc' (descfeat writes them)")
        chosen += [c for c in hits if c not in chosen]
    return chosen


def numeric_columns(table, names):
    """float32 (n, len(names)) of table columns; non-numeric text is an error naming the line."""
    from ..io.tables import parse_numeric

    return np.column_stack([parse_numeric(table, c) for c in names]).astype(np.float32) if names else \
        np.zeros((len(table.df), 0), np.float32)


def h5_features(path, ids, names=None):
    """Descriptors of a descfeat HDF5 file for the given row ids, in ``ids`` order.

    Returns (values float32 (n, d), names). Every id must be in the file.
    """
    from ..io.h5 import read_h5

    h = read_h5(path)
    have = list(h["names"])
    if names is None:
        names = have
    pos = {n: i for i, n in enumerate(have)}
    missing = [n for n in names if n not in pos]
    if missing:
        raise InputError(f"descriptor(s) missing: {', '.join(missing[:5])}", file=path,
                         hint="compute the features with the same descfeat options as for training")
    row = {r: i for i, r in enumerate(h["ids"])}
    absent = [r for r in ids if r not in row]
    if absent:
        raise InputError(f"{len(absent)} row id(s) of the input are not in the file, e.g. '{absent[0]}'", file=path,
                         hint="run descfeat on the same table (ids must match)")
    idx = np.fromiter((row[r] for r in ids), dtype=np.int64, count=len(ids))
    cols = np.fromiter((pos[n] for n in names), dtype=np.int64, count=len(names))
    return h["values"][idx][:, cols].astype(np.float32), list(names)


def one_hot(values, categories):
    """Float32 one-hot (n, len(categories)) of text labels (stripped); a label not
    among ``categories`` (a cell line unseen in training) is all zeros."""
    lut = {c: j for j, c in enumerate(categories)}
    out = np.zeros((len(values), len(categories)), dtype=np.float32)
    for i, v in enumerate(values):
        j = lut.get(str(v).strip())
        if j is not None:
            out[i, j] = 1.0
    return out


def fit_scaler(values):
    """Train-split mean and SD per column (SD 1 where a column is constant or empty)."""
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(values, axis=0) if len(values) else np.zeros(values.shape[1])
        sd = np.nanstd(values, axis=0) if len(values) else np.ones(values.shape[1])
    mean = np.where(np.isfinite(mean), mean, 0.0)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    return mean.tolist(), sd.tolist()


def apply_scaler(values, mean, sd):
    """Standardise; NaN becomes 0 (the train mean). Returns (float32 array, NaN count)."""
    z = (values - np.asarray(mean, dtype=np.float32)) / np.asarray(sd, dtype=np.float32)
    bad = ~np.isfinite(z)
    z[bad] = 0.0
    return z.astype(np.float32), int(bad.sum())


def decode(codes):
    """uint8 code rows (A0 C1 G2 T3 N4) back to strings."""
    lut = np.frombuffer(b"ACGTN", dtype=np.uint8)
    return [lut[row].tobytes().decode("ascii") for row in np.asarray(codes)]


def crossfit_kmer_ridge(seqs, y, groups=None, folds=5, seed=0, kmax=6):
    """The k-mer ridge regression of a model's k-mer branch, from train rows only.

    Features as toolkit.models.kmer_ridge (strand-summed k-mer frequencies, k = 1..kmax,
    one column per k-mer/reverse-complement pair), standardised on these rows. The
    penalty is chosen by cross-validation within these rows, so that validation rows
    stay free for early stopping: the rows are dealt into ``folds`` folds by ``groups``
    (dgsplit's group_id: a group's rows share a fold), each fold is predicted by a
    ridge fitted on the others for every penalty of the grid, and each task takes the
    penalty whose out-of-fold predictions correlate best with y; then the ridge is
    refitted on all rows.

    Parameters
    ----------
    seqs : list of str (all the same length, as the model sees them)
    y : float (n, T), NaN = missing

    Returns
    -------
    dict: ``u`` list of (4^k, T) arrays and ``bias`` (T,), the fit on all rows as
    weights of per-window k-mer frequencies (KmerRidgeBranch.set_ridge); ``alpha`` and
    ``oof_r`` (T,), the chosen penalty and its out-of-fold Pearson r.
    """
    from ..models.kmer_ridge import ALPHAS, _decompose, _rc_index, kmer_features

    n, T = y.shape
    X = kmer_features(seqs, kmax).astype(np.float64)
    offs = np.cumsum([0] + [4 ** k for k in range(1, kmax + 1)])
    rcs = [_rc_index(k) for k in range(1, kmax + 1)]
    pairs = [np.flatnonzero(np.arange(4 ** k) <= rcs[k - 1]) for k in range(1, kmax + 1)]   # one k-mer per pair
    col = np.cumsum([0] + [len(p) for p in pairs])
    X = X[:, np.concatenate([offs[k - 1] + pairs[k - 1] for k in range(1, kmax + 1)])]
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd == 0] = 1.0
    X = (X - mu) / sd
    g = np.arange(n) if groups is None else np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1]
    perm = np.random.default_rng(seed).permutation(g.max() + 1 if n else 0)
    fold = perm[g] % max(2, min(folds, len(perm)))
    oof = np.zeros((len(ALPHAS), n, T))

    def fit(rows, t):
        ok = rows & np.isfinite(y[:, t])
        key = ok.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _decompose(X[ok])
        U, s, Vt = cache[key]
        ym = y[ok, t].mean()
        return U, s, Vt, ym, U.T @ (y[ok, t] - ym)

    cache = {}
    for f in np.unique(fold):
        out = fold == f
        for t in range(T):
            U, s, Vt, ym, Uty = fit(~out, t)
            for a, alpha in enumerate(ALPHAS):
                oof[a, out, t] = X[out] @ (Vt.T @ (s / (s ** 2 + alpha) * Uty)) + ym
    res = {"alpha": np.zeros(T), "oof_r": np.zeros(T),
           "u": [np.zeros((4 ** k, T), np.float32) for k in range(1, kmax + 1)], "bias": np.zeros(T, np.float32)}
    for t in range(T):
        ok = np.isfinite(y[:, t])
        rs = [np.corrcoef(oof[a, ok, t], y[ok, t])[0, 1] if oof[a, ok, t].std() > 0 else -1 for a in range(len(ALPHAS))]
        best = int(np.nanargmax(rs))
        res["alpha"][t], res["oof_r"][t] = ALPHAS[best], rs[best]
        U, s, Vt, ym, Uty = fit(np.ones(n, bool), t)
        v = (Vt.T @ (s / (s ** 2 + ALPHAS[best]) * Uty)) / sd
        res["bias"][t] = ym - float(mu @ v)
        for k in range(1, kmax + 1):   # each k-mer takes its pair's weight; a palindrome counts twice
            kmers = np.arange(4 ** k)
            canon = np.minimum(kmers, rcs[k - 1])
            v_k = v[col[k - 1] + np.searchsorted(np.flatnonzero(kmers <= rcs[k - 1]), canon)]
            res["u"][k - 1][:, t] = v_k * np.where(kmers == rcs[k - 1], 2.0, 1.0)
    return res
