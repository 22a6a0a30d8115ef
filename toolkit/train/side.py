"""Side inputs of a CRE model: a motif prior and descriptor features, as numeric
matrices fused with the pooled sequence embedding.

Motif prior (design 001 METHOD item 6): for each motif of a set, the best PWM
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
    return pwm.compute(seqs, None, motifs=motifs)[:, 0:8 * K:8].astype(np.float32)


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
