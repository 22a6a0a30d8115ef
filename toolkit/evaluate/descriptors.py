"""Per-descriptor agreement of many predicted columns at once (PhysInformer's
descriptors, or any set of tasks too many to read one by one).

For every column: Pearson, Spearman, R² (1 - SS_res/SS_tot), MSE and MAE of the
prediction against the truth, over the rows where both are finite; then the
distribution of each metric over the columns (mean, median, first and third
quartiles), overall and per family (the name's prefix before the first '_'), and the
5 best and 5 worst columns by Pearson. With bootstrap resamples of rows (or of
groups), every number gets a 95% percentile interval: each resample recomputes every
column's metrics on the same resampled rows and then their distribution, so the
interval of a median over descriptors is the spread of that median.

:func:`descriptor_metrics` and :func:`summary` are the point-estimate helpers that
fit-physinformer logs every epoch with (``toolkit.train.physinformer`` imports them
from here).
"""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import bootstrap as bs
from .metrics import Regression
from .report import Evaluation, Record, group_codes

METRICS = ("pearson", "spearman", "r2", "mse", "mae")
"""Per-descriptor metrics, in report order."""

STATS = ("mean", "median", "q1", "q3")
"""Statistics of a metric's distribution over descriptors."""

MIN_ROWS = 3
TOP = 5


def family_prefix(name):
    """Family of a column: its name's prefix before the first '_' ('other' without one).

    For fit-physinformer's descriptors this is the router family (pwm, bend, stiff,
    thermo, entropy, advanced; psi for the electrostatics, which the router pools
    with other unknown prefixes as 'global')."""
    head, sep, _ = str(name).partition("_")
    return head if sep and head else "other"


# ---------------------------------------------------------------------- point estimates


def _corr(a, b):
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def descriptor_metrics(pred, truth):
    """Per-column Pearson, Spearman, R², MSE and MAE over rows where both are finite.

    Parameters
    ----------
    pred, truth : float arrays (n, d)

    Returns
    -------
    dict metric -> float64 array (d,); NaN where fewer than 3 rows or no variance.
    """
    from scipy.stats import rankdata

    d = truth.shape[1]
    out = {k: np.full(d, np.nan) for k in METRICS}
    for j in range(d):
        ok = np.isfinite(truth[:, j]) & np.isfinite(pred[:, j])
        if ok.sum() < MIN_ROWS:
            continue
        p, t = pred[ok, j].astype(np.float64), truth[ok, j].astype(np.float64)
        e = p - t
        out["mse"][j] = float((e * e).mean())
        out["mae"][j] = float(np.abs(e).mean())
        sst = float(((t - t.mean()) ** 2).sum())
        if sst > 0:
            out["r2"][j] = 1.0 - float((e * e).sum()) / sst
        out["pearson"][j] = _corr(p, t)
        out["spearman"][j] = _corr(rankdata(p), rankdata(t))
    return out


def flat_pearson(pred, truth, mean=None, sd=None):
    """Pearson r of all standardised predictions against all standardised true values,
    flattened over rows and columns (the one-number summary of a multi-descriptor model).

    Parameters
    ----------
    pred, truth : float arrays (n, d); entries where either is not finite are left out
    mean, sd : float arrays (d,) or scalars, optional
        The column scalers (e.g. the train split's); default: each column's own mean and
        SD over its finite true values here. Columns without variation are left out.

    Returns
    -------
    float (NaN with fewer than 3 entries)
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    ok = np.isfinite(pred) & np.isfinite(truth)
    if mean is None or sd is None:
        t = np.where(ok, truth, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, sd = np.nanmean(t, axis=0), np.nanstd(t, axis=0)
    mean = np.broadcast_to(np.asarray(mean, dtype=np.float64), (truth.shape[1],))
    sd = np.broadcast_to(np.asarray(sd, dtype=np.float64), (truth.shape[1],))
    ok &= (np.isfinite(sd) & (sd > 0))[None, :]
    if ok.sum() < MIN_ROWS:
        return float("nan")
    z = ((pred - mean) / np.where(sd > 0, sd, 1.0))[ok]
    y = ((truth - mean) / np.where(sd > 0, sd, 1.0))[ok]
    return _corr(z, y)


def summary(values):
    """mean, median, q1, q3 of the finite values (NaN when none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"mean": float("nan"), "median": float("nan"), "q1": float("nan"), "q3": float("nan")}
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"mean": float(v.mean()), "median": float(med), "q1": float(q1), "q3": float(q3)}


def _summary_rows(M):
    """:func:`summary` of each row of M (B, k), ignoring NaN: dict stat -> (B,)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # all-NaN rows give NaN
        q1, med, q3 = np.nanpercentile(M, [25, 50, 75], axis=1)
        return {"mean": np.nanmean(M, axis=1), "median": med, "q1": q1, "q3": q3}


# ---------------------------------------------------------------------- with intervals


@dataclass
class DescriptorEvaluation(Evaluation):
    """:class:`~toolkit.evaluate.report.Evaluation` of many columns, plus the full table.

    Attributes
    ----------
    table : list of dict
        One per column, in input order: ``descriptor``, ``family``, ``prediction``, ``n``
        (rows used), and for each metric its value, ``<metric>_ci_low`` and
        ``<metric>_ci_high``.
    """

    table: list = field(default_factory=list)


def evaluate_descriptors(truth, pred, names, pred_names=None, n_boot=1000, seed=2025, groups=None, level=0.95,
                         metrics=METRICS, family=family_prefix, group_name=None, top=TOP):
    """Per-column metrics and their distribution over columns, with bootstrap intervals.

    Parameters
    ----------
    truth, pred : float arrays, shape (N, d)
        Column j of ``pred`` predicts column j of ``truth``; NaN or infinite entries
        leave that row out of that column only.
    names : list of str, length d
        The truth columns (descriptor names).
    pred_names : list of str, length d, optional
        The prediction columns (default ``pred_<name>``).
    n_boot : int
        Bootstrap resamples of rows (0: point estimates only).
    seed : int
    groups : sequence, shape (N,), optional
        Cluster labels: whole groups are resampled.
    level : float
        Interval coverage.
    metrics : tuple of str
        A subset of :data:`METRICS` (Spearman is the costliest).
    family : callable(str) -> str
        Family of a column name (default :func:`family_prefix`).
    group_name : str, optional
        For the resampling description.
    top : int
        Best and worst columns listed.

    Returns
    -------
    DescriptorEvaluation
        Records: section ``descriptors`` (task = ``all`` or a family, prediction =
        ``per-descriptor``, subset = mean/median/q1/q3, n = columns with a value),
        sections ``best`` and ``worst`` (task = column, prediction = its prediction
        column, subset = ``rank k`` by Pearson, n = rows).
    """
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    if truth.ndim != 2 or truth.shape != pred.shape:
        raise ValueError(f"truth and pred must be (N, d) arrays of the same shape, got {truth.shape}, {pred.shape}")
    N, d = truth.shape
    if len(names) != d:
        raise ValueError(f"{len(names)} names for {d} columns")
    metrics = tuple(m for m in METRICS if m in metrics)
    if not metrics or "pearson" not in metrics:
        raise ValueError(f"metrics must include pearson (best/worst are ranked by it); choose from {METRICS}")
    pred_names = list(pred_names) if pred_names is not None else [f"pred_{n}" for n in names]
    fams = [family(n) for n in names]
    only = tuple("rmse" if m == "mse" else m for m in metrics)
    result = DescriptorEvaluation()

    regs, rows = [], []
    for j in range(d):
        ok = np.isfinite(truth[:, j]) & np.isfinite(pred[:, j])
        r = np.flatnonzero(ok)
        rows.append(r)
        regs.append(Regression(truth[r, j], pred[r, j], only=only) if len(r) >= MIN_ROWS else None)
    short = [names[j] for j in range(d) if regs[j] is None]
    if short:
        result.notes.append(f"{len(short)} column(s) with fewer than {MIN_ROWS} rows of truth and prediction have "
                            f"no metrics: {', '.join(short[:5])}{', ...' if len(short) > 5 else ''}")

    def run(W):
        out = {m: np.full((W.shape[0], d), np.nan) for m in metrics}
        for j, reg in enumerate(regs):
            if reg is None:
                continue
            Wj = W if len(rows[j]) == N else np.take(W, rows[j], axis=1)
            res = reg.compute(Wj)
            for m in metrics:
                out[m][:, j] = res["rmse"] ** 2 if m == "mse" else res[m]
        return out

    point = {m: v[0] for m, v in run(np.ones((1, N))).items()}
    codes, n_groups = None, None
    if groups is not None:
        codes, missing = group_codes(groups)
        n_groups = int(codes.max()) + 1
        if missing:
            result.notes.append(f"{missing} rows without a '{group_name}' value are resampled as groups of one")
    boot = None
    if n_boot > 0:
        parts = [run(W) for W in bs.resample_weights(N, n_boot, seed, groups=codes)]
        boot = {m: np.concatenate([p[m] for p in parts]) for m in metrics}

    def interval(vals):
        return bs.percentile_interval(vals, level) if boot is not None else (math.nan, math.nan)

    # the table
    for j, n in enumerate(names):
        rec = {"descriptor": n, "family": fams[j], "prediction": pred_names[j], "n": len(rows[j])}
        for m in metrics:
            lo, hi = interval(boot[m][:, j]) if boot is not None else (math.nan, math.nan)
            rec[m], rec[f"{m}_ci_low"], rec[f"{m}_ci_high"] = float(point[m][j]), lo, hi
        result.table.append(rec)

    # distributions over columns: overall, then per family in order of first appearance
    subsets = [("all", np.arange(d))] + [(f, np.array([j for j in range(d) if fams[j] == f]))
                                         for f in dict.fromkeys(fams)]
    if len(subsets) == 2:                           # one family: its rows would repeat 'all'
        subsets = subsets[:1]
    for label, idx in subsets:
        for m in metrics:
            pv = point[m][idx]
            s_point = summary(pv)
            s_boot = _summary_rows(boot[m][:, idx]) if boot is not None else None
            k = int(np.isfinite(pv).sum())
            for s in STATS:
                lo, hi = interval(s_boot[s]) if s_boot is not None else (math.nan, math.nan)
                result.records.append(Record("descriptors", label, "per-descriptor", s, m, s_point[s], lo, hi, k))

    # best and worst by Pearson
    r = point["pearson"]
    order = [j for j in np.argsort(-np.nan_to_num(r, nan=-np.inf), kind="stable") if np.isfinite(r[j])]
    for section, chosen in (("best", order[:top]), ("worst", order[::-1][:top])):
        for rank, j in enumerate(chosen, 1):
            for m in metrics:
                t = result.table[j]
                result.records.append(Record(section, names[j], pred_names[j], f"rank {rank}", m, t[m],
                                             t[f"{m}_ci_low"], t[f"{m}_ci_high"], len(rows[j])))

    unit = "rows"
    if codes is not None:
        unit = f"groups of '{group_name}' ({n_groups} groups)" if group_name else f"{n_groups} groups"
    result.meta = {"rows": N, "descriptors": d, "families": {f: fams.count(f) for f in dict.fromkeys(fams)},
                   "metrics": list(metrics), "bootstrap": n_boot, "seed": seed, "level": level,
                   "resampling": unit, "groups": n_groups, "interval": "percentile" if n_boot else None,
                   "without_metrics": short}
    return result
