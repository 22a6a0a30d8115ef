"""evalboot's evaluation: every metric, its bootstrap interval, comparisons and
specificity, gathered into one list of records.

One set of resamples serves everything: per-task metrics, their macro average
(the mean over tasks, resample by resample), the paired comparison of two
prediction sets, MinGap and the binned metrics. A record is one number with its
interval; :func:`evaluate` returns them with the warnings a user must see.
"""

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import ConfigError, InputError
from . import bootstrap as bs
from .metrics import BINARY_METRICS, REGRESSION_METRICS, Binary, Fraction, Regression
from .specificity import min_gap, target_indices, top_cell_agreement

MIN_ROWS = 3
COLLAPSE_RATIO = 0.2
BINNED_METRICS = ("pearson", "spearman", "rmse", "mae")
COLUMNS = ("section", "task", "prediction", "subset", "metric", "value", "ci_low", "ci_high", "n", "p_value",
           "p_adj")


@dataclass
class Task:
    """One truth column and its prediction(s).

    Attributes
    ----------
    name : str
        The truth column, e.g. ``HepG2_l2fc``.
    truth, pred : numpy.ndarray, shape (N,)
        Values of every input row; NaN (or infinite) rows are excluded from this task.
    pred_name : str
        The prediction column, e.g. ``pred_HepG2_l2fc``.
    kind : str
        ``regression`` or ``binary`` (truth 0/1).
    se : numpy.ndarray, shape (N,), optional
        Standard errors of the truth (``<CELL>_lfcSE``).
    se_name : str, optional
    compare, compare_name : optional
        A second prediction of the same truth, compared with ``pred`` on the same rows.
    cell : str, optional
        The task's cell type (``HepG2`` for ``HepG2_l2fc``); tasks with cells give MinGap.
    """

    name: str
    truth: np.ndarray
    pred: np.ndarray
    pred_name: str
    kind: str = "regression"
    se: Optional[np.ndarray] = None
    se_name: Optional[str] = None
    compare: Optional[np.ndarray] = None
    compare_name: Optional[str] = None
    cell: Optional[str] = None


@dataclass
class Record:
    """One reported number: see :data:`COLUMNS`."""

    section: str
    task: str
    prediction: str
    subset: str
    metric: str
    value: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: Optional[int] = None
    p_value: float = math.nan
    p_adj: float = math.nan

    def as_tuple(self):
        return tuple(getattr(self, c) for c in COLUMNS)


@dataclass
class Evaluation:
    """What :func:`evaluate` returns.

    Attributes
    ----------
    records : list of Record
    warnings : list of str
        Collapse warnings and undefined metrics: for standard error, always shown.
    notes : list of str
        Counts and choices (rows excluded, target cells, resampling unit).
    meta : dict
        Run parameters and counts, for the JSON output.
    """

    records: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    meta: dict = field(default_factory=dict)


def infer_kind(truth):
    """``binary`` when the finite truth values are exactly {0, 1}, else ``regression``."""
    vals = np.unique(truth[np.isfinite(truth)])
    return "binary" if len(vals) == 2 and vals[0] == 0 and vals[1] == 1 else "regression"


def group_codes(labels):
    """Integer codes 0..G-1 of group labels; a missing label (empty, NA) is a group of its own row.

    Parameters
    ----------
    labels : sequence of str, shape (N,)

    Returns
    -------
    (numpy.ndarray of int64, shape (N,), int)
        The codes and how many rows had no label.
    """
    labels = np.asarray(labels, dtype=object)
    codes = {}
    out = np.empty(len(labels), dtype=np.int64)
    missing = 0
    for i, v in enumerate(labels):
        key = "" if v is None else str(v).strip()
        if key in ("", "NA", "NaN", "nan"):
            key = ("__row__", i)
            missing += 1
        out[i] = codes.setdefault(key, len(codes))
    return out, missing


class _Unit:
    """An evaluator applied to a subset of rows, and where its numbers go."""

    def __init__(self, key, evaluator, rows, metrics):
        self.key = key  # (section, task, prediction, subset)
        self.evaluator = evaluator
        self.rows = rows
        self.metrics = metrics
        self.point = None
        self.boot = []
        self._all = None

    def run(self, W):
        if self._all is None:
            self._all = len(self.rows) == W.shape[1] and bool(np.all(self.rows == np.arange(W.shape[1])))
        return self.evaluator.compute(W if self._all else np.take(W, self.rows, axis=1))


def _quantile_bins(values, k=4):
    """Row indices of ``k`` quantile bins of ``values`` (ties stay together) with labels."""
    edges = np.quantile(values, np.linspace(0, 1, k + 1))
    which = np.clip(np.searchsorted(edges[1:-1], values, side="left"), 0, k - 1)
    out = []
    for j in range(k):
        idx = np.flatnonzero(which == j)
        if len(idx):
            out.append((f"Q{j + 1} [{_g(values[idx].min())}, {_g(values[idx].max())}]", idx))
    return out


def _g(x):
    return f"{x:.4g}"


def evaluate(tasks, n_boot=1000, seed=2025, groups=None, target_cell=None, winsor=(0.05, 0.05),
             threshold=0.5, level=0.95, source=None, group_name=None, target_cell_name="target_cell"):
    """Evaluate predictions against truth, with bootstrap intervals.

    Parameters
    ----------
    tasks : list of Task
        All with arrays of the same length N (the input rows).
    n_boot : int
        Bootstrap resamples (0: point estimates only).
    seed : int
        Seed of the resampling; the same seed gives the same numbers.
    groups : sequence of str, shape (N,), optional
        Cluster labels: whole groups are resampled (cluster bootstrap).
    target_cell : sequence of str, shape (N,), optional
        Each row's target cell for MinGap; without it, the top observed cell.
    winsor : (float, float)
        Winsorizing limits for ``winsor_pearson``.
    threshold : float
        Decision threshold of binary tasks.
    level : float
        Interval coverage.
    source : str, optional
        The input's name, for error messages.
    group_name, target_cell_name : str, optional
        Column names, for messages.

    Returns
    -------
    Evaluation

    Raises
    ------
    InputError
        A task with fewer than 3 usable rows; a binary task whose truth is not 0/1.
    """
    if not tasks:
        raise ConfigError("no tasks to evaluate", file=source)
    N = len(tasks[0].truth)
    result = Evaluation()
    units = []
    excluded = {}

    task_rows = {}
    for t in tasks:
        finite = {"truth": np.isfinite(t.truth), "pred": np.isfinite(t.pred)}
        if t.compare is not None:
            finite["compare"] = np.isfinite(t.compare)
        ok = np.logical_and.reduce(list(finite.values()))
        rows = np.flatnonzero(ok)
        counts = {"truth": int((~finite["truth"]).sum()),
                  "pred": int((finite["truth"] & ~finite["pred"]).sum())}
        if "compare" in finite:
            counts["compare"] = int((finite["truth"] & finite["pred"] & ~finite["compare"]).sum())
        counts["total"] = N - len(rows)
        excluded[t.name] = counts
        if counts["total"]:
            parts = [f"{v} with no {k}" if k == "truth" else f"{v} with no {k} value" for k, v in counts.items()
                     if k != "total" and v]
            result.notes.append(f"{t.name}: {counts['total']} of {N} rows excluded ({', '.join(parts)})")
        if len(rows) < MIN_ROWS:
            raise InputError(f"too few rows: {len(rows)} with both truth and prediction for task '{t.name}'"
                             f" ({counts['total']} missing or not finite)", file=source, column=t.name,
                             hint=f"evalboot needs at least {MIN_ROWS} rows per task")
        if t.kind == "binary":
            bad = ~np.isin(t.truth[rows], (0.0, 1.0))
            if bad.any():
                raise InputError(f"binary task needs truth values 0 or 1, found {t.truth[rows][bad][0]:g}",
                                 file=source, column=t.name,
                                 hint=f"use --task-type {t.name}=regression, or recode the column")
        task_rows[t.name] = rows
        preds = [(t.pred_name, t.pred)] + ([(t.compare_name, t.compare)] if t.compare is not None else [])
        for pname, pvals in preds:
            y, p = t.truth[rows], pvals[rows]
            if t.kind == "binary":
                ev = Binary(y, p, threshold=threshold)
                units.append(_Unit(("metrics", t.name, pname, "all"), ev, rows, ev.names))
                if not ev.probabilities:
                    result.notes.append(f"{pname}: predictions outside [0, 1], so no Brier score or calibration")
                elif pname == t.pred_name:
                    units.append(_Unit(("calibration", t.name, pname, "bins"), ev, rows,
                                       tuple(f"{m}:{j}" for j in range(ev.bins) for m in ("mean_pred", "frac_pos"))))
                if len(np.unique(y)) < 2:
                    result.warnings.append(f"{t.name}: only one class present, so AUROC and AUPR are undefined")
            else:
                se = t.se[rows] if t.se is not None else None
                ev = Regression(y, p, winsor=winsor, se=se)
                units.append(_Unit(("metrics", t.name, pname, "all"), ev, rows, Regression.names))
                if se is not None and pname == t.pred_name:
                    units.append(_Unit(("se", t.name, pname, "all"), ev, rows, ("weighted_mse",)))
                    if ev.se_rows < len(rows):
                        result.notes.append(f"{t.se_name}: {len(rows) - ev.se_rows} rows without a positive finite SE"
                                            " get weight 0 in weighted_mse and no SE quartile")
                    okse = np.flatnonzero(np.isfinite(se) & (se > 0))
                    if len(okse) >= 4 * MIN_ROWS:
                        for label, idx in _quantile_bins(se[okse]):
                            sub = rows[okse[idx]]
                            units.append(_Unit(("se_quartile", t.name, pname, f"{t.se_name} {label}"),
                                               Regression(t.truth[sub], pvals[sub], only=BINNED_METRICS), sub,
                                               BINNED_METRICS))

    spec = _specificity_units(tasks, task_rows, target_cell, target_cell_name, winsor, result)
    units += spec

    # point estimates, then the same statistics on every resample
    points = _run_units(units, np.ones((1, N)))
    for u in units:
        u.point = {k: float(v[0]) for k, v in points[id(u)].items()}
    codes = None
    if groups is not None:
        codes, missing = group_codes(groups)
        n_groups = int(codes.max()) + 1
        unit = f"groups of '{group_name}' ({n_groups} groups)" if group_name else f"{n_groups} groups"
        if missing:
            result.notes.append(f"{missing} rows without a '{group_name}' value are resampled as groups of one")
    else:
        n_groups = None
        unit = "rows"
    if n_boot > 0:
        for W in bs.resample_weights(N, n_boot, seed, groups=codes):
            results = _run_units(units, W)
            for u in units:
                res = results[id(u)]
                u.boot.append({m: res[m] for m in u.metrics if m in res})
        for u in units:
            u.boot = {m: np.concatenate([b[m] for b in u.boot]) for m in u.metrics if m in u.boot[0]}
    else:
        for u in units:
            u.boot = {}

    result.records = _records(tasks, units, level, n_boot, result, codes)
    result.meta = {
        "rows": N, "tasks": [t.name for t in tasks], "predictions": [t.pred_name for t in tasks],
        "compare": [t.compare_name for t in tasks if t.compare is not None], "bootstrap": n_boot, "seed": seed,
        "level": level, "resampling": unit, "groups": n_groups, "winsor": list(winsor), "threshold": threshold,
        "interval": "percentile" if n_boot else None, "excluded": excluded,
    }
    return result


def _run_units(units, W):
    """Every unit's metrics on weights ``W``; units sharing an evaluator share its computation."""
    done, out = {}, {}
    for u in units:
        key = (id(u.evaluator), id(u.rows))
        if key not in done:
            done[key] = u.run(W)
        out[id(u)] = done[key]
    return out


@dataclass
class MinGapInputs:
    """The cell tasks MinGap is computed over and each row's target cell (see :func:`mingap_inputs`).

    Attributes
    ----------
    tasks : list of Task
        The regression tasks that are cells, in column order.
    names : list of str
        Their cell names.
    truth, pred : numpy.ndarray, shape (N, k)
        Observed and predicted activity of every input row in each cell.
    ok : numpy.ndarray of bool, shape (N,)
        Rows whose every observed and predicted value is finite.
    target : numpy.ndarray of int, shape (N,)
        Each row's target cell (index into ``names``); -1 where the target-cell column names
        none of the cells (those rows are left out of MinGap).
    how : str
        Where the target cell came from, for the notes.
    notes : list of str
        What a user should be told (rows left out, a fallback to the top observed cell).
    """

    tasks: list
    names: list
    truth: np.ndarray
    pred: np.ndarray
    ok: np.ndarray
    target: np.ndarray
    how: str
    notes: list = field(default_factory=list)

    @property
    def rows(self):
        """Indices of the rows MinGap is computed on (finite values and a known target cell)."""
        return np.flatnonzero(self.ok & (self.target >= 0))


def mingap_inputs(tasks, target_cell=None, target_cell_name="target_cell"):
    """Which tasks are cells and which cell each row targets, as evalboot's MinGap uses them.

    Parameters
    ----------
    tasks : list of Task
    target_cell : numpy.ndarray of str, shape (N,), optional
        The target-cell column; when absent, or when it names none of the cells, each row's
        top observed cell is its target.
    target_cell_name : str
        That column's name, for the notes.

    Returns
    -------
    MinGapInputs or None
        None when fewer than two regression tasks are cells (no MinGap).
    """
    cells = [t for t in tasks if t.kind == "regression" and t.cell]
    if len(cells) < 2:
        return None
    names = [t.cell for t in cells]
    truth = np.column_stack([t.truth for t in cells])
    pred = np.column_stack([t.pred for t in cells])
    ok = np.isfinite(truth).all(axis=1) & np.isfinite(pred).all(axis=1)
    notes = []
    if target_cell is not None:
        target = target_indices(names, target_cell=np.asarray(target_cell, dtype=object))
        if not (target[ok] >= 0).any():
            notes.append(f"no '{target_cell_name}' value names one of the cells {', '.join(names)}; "
                         "MinGap uses each row's top observed cell")
            target = target_indices(names, truth=np.where(np.isfinite(truth), truth, -np.inf))
            how = "top observed cell"
        else:
            off = int((ok & (target < 0)).sum())
            if off:
                notes.append(f"MinGap: {off} rows whose '{target_cell_name}' is not one of "
                             f"{', '.join(names)} are left out")
            how = f"'{target_cell_name}' column"
    else:
        target = target_indices(names, truth=np.where(np.isfinite(truth), truth, -np.inf))
        how = "top observed cell"
    return MinGapInputs(cells, names, truth, pred, ok, target, how, notes)


def _specificity_units(tasks, task_rows, target_cell, target_cell_name, winsor, result):
    """MinGap and top-cell units over the tasks that are cells."""
    spec = mingap_inputs(tasks, target_cell, target_cell_name)
    if spec is None:
        return []
    cells, names, truth, pred, ok, target = (spec.tasks, spec.names, spec.truth, spec.pred, spec.ok,
                                             spec.target)
    result.notes.extend(spec.notes)
    rows_all = np.flatnonzero(ok)
    rows = spec.rows
    result.notes.append(f"MinGap over {', '.join(names)}: target cell from the {spec.how}; {len(rows)} rows")
    units = []
    pred_label = ",".join(t.pred_name for t in cells)
    if len(rows) >= MIN_ROWS:
        obs = min_gap(truth[rows], target[rows])
        prd = min_gap(pred[rows], target[rows])
        units.append(_Unit(("specificity", "MinGap", pred_label, "all"),
                           Regression(obs, prd, only=BINNED_METRICS + ("r2",)), rows, BINNED_METRICS + ("r2",)))
        if len(rows) >= 4 * MIN_ROWS:
            for label, idx in _quantile_bins(obs):
                units.append(_Unit(("specificity", "MinGap", pred_label, f"observed {label}"),
                                   Regression(obs[idx], prd[idx], only=BINNED_METRICS), rows[idx], BINNED_METRICS))
    if len(rows_all) >= MIN_ROWS:
        hit = top_cell_agreement(truth[rows_all], pred[rows_all])
        units.append(_Unit(("specificity", "top_cell", pred_label, "all"), Fraction(hit, "top_cell_agreement"),
                           rows_all, ("top_cell_agreement",)))
    return units


def _records(tasks, units, level, n_boot, result, groups=None):
    recs = []

    def interval(vals):
        return bs.percentile_interval(vals, level) if n_boot else (math.nan, math.nan)

    by_key = {u.key: u for u in units}
    for u in units:
        section, task, pred, subset = u.key
        n = len(u.rows)
        if section == "calibration":
            ev = u.evaluator
            for j in range(ev.bins):
                cnt = u.point[f"n:{j}"]
                if cnt == 0:
                    continue
                label = f"[{ev.edges[j]:.1f}, {ev.edges[j + 1]:.1f}{']' if j == ev.bins - 1 else ')'}"
                for m in ("mean_pred", "frac_pos"):
                    lo, hi = interval(u.boot.get(f"{m}:{j}", []))
                    recs.append(Record(section, task, pred, label, m, u.point[f"{m}:{j}"], lo, hi, int(cnt)))
            continue
        for m in u.metrics:
            lo, hi = interval(u.boot.get(m, []))
            recs.append(Record(section, task, pred, subset, m, u.point[m], lo, hi, n))
        if section == "metrics":
            t = next(t for t in tasks if t.name == task)
            recs.append(Record(section, task, pred, subset, "rows_excluded", float(len(t.truth) - n), n=n))
            ratio = u.point.get("sd_ratio")
            if ratio is not None and math.isfinite(ratio) and ratio < COLLAPSE_RATIO:
                result.warnings.append(
                    f"{pred}: SD of the predictions is {100 * ratio:.1f}% of the SD of {task} (under "
                    f"{100 * COLLAPSE_RATIO:.0f}%): the model may have collapsed to near-constant predictions")

    # macro averages over tasks, per prediction set (first and second) and metric
    for which in ("pred", "compare"):
        chosen = [by_key[("metrics", t.name, getattr(t, f"{which}_name"), "all")] for t in tasks
                  if getattr(t, which) is not None]
        if len(chosen) < 2:
            continue
        label = "macro(" + ",".join(u.key[2] for u in chosen) + ")"
        for m in REGRESSION_METRICS + BINARY_METRICS:
            have = [u for u in chosen if m in u.metrics]
            if len(have) < 2:
                continue
            point = float(np.mean([u.point[m] for u in have]))
            boot = np.mean([u.boot[m] for u in have], axis=0) if n_boot else []
            lo, hi = interval(boot)
            recs.append(Record("metrics", "macro", label, "all", m, point, lo, hi, None))

    recs += _comparisons(tasks, by_key, level, n_boot, interval, groups, result)
    return recs


def _comparisons(tasks, by_key, level, n_boot, interval, groups=None, result=None):
    """Paired differences (first minus second prediction) with bootstrap p-values, and the
    Fisher z test of Pearson's r; Holm-Bonferroni across tasks for each metric.

    The z test assumes independent rows. With ``groups`` (int codes, shape (N,)) rows of a
    group are not independent, so its sample size is the number of groups among the task's
    rows (each group counted once, as if its rows were one observation: conservative), and
    the record's n is that number."""
    pairs = [t for t in tasks if t.compare is not None]
    if not pairs:
        return []
    recs = []
    family = {}  # metric -> list of records to adjust together
    deltas = {}
    for t in pairs:
        a = by_key[("metrics", t.name, t.pred_name, "all")]
        b = by_key[("metrics", t.name, t.compare_name, "all")]
        label = f"{t.pred_name} vs {t.compare_name}"
        metrics = REGRESSION_METRICS if t.kind == "regression" else BINARY_METRICS
        for m in metrics:
            if m not in a.metrics or m not in b.metrics:
                continue
            d_point = a.point[m] - b.point[m]
            d_boot = a.boot[m] - b.boot[m] if n_boot else np.array([])
            deltas.setdefault(m, []).append((d_point, d_boot))
            lo, hi = interval(d_boot)
            p = bs.paired_p_value(d_boot) if n_boot else math.nan
            rec = Record("compare", t.name, label, "all", f"delta_{m}", d_point, lo, hi, len(a.rows), p)
            recs.append(rec)
            family.setdefault(f"delta_{m}", []).append(rec)
        if t.kind == "regression":
            rows = a.rows
            r12 = float(np.corrcoef(t.pred[rows], t.compare[rows])[0, 1]) if len(rows) > 2 else math.nan
            n_eff = len(rows) if groups is None else len(np.unique(groups[rows]))
            z, p = bs.compare_correlations(a.point["pearson"], b.point["pearson"], r12, n_eff)
            rec = Record("compare", t.name, label, "all", "fisher_z", z, n=n_eff, p_value=p)
            if groups is not None and result is not None:
                result.notes.append(f"{t.name}: fisher_z takes the {n_eff} groups as its sample size, not the "
                                    f"{len(rows)} rows (rows of a group are not independent)")
            recs.append(rec)
            family.setdefault("fisher_z", []).append(rec)
    for recs_m in family.values():
        adj = bs.holm([r.p_value for r in recs_m])
        for r, a in zip(recs_m, adj):
            r.p_adj = float(a)
    if len(pairs) >= 2:
        label = "macro(" + ",".join(f"{t.pred_name} vs {t.compare_name}" for t in pairs) + ")"
        for m, items in deltas.items():
            if len(items) < 2:
                continue
            point = float(np.mean([d for d, _ in items]))
            boot = np.mean([b for _, b in items], axis=0) if n_boot else np.array([])
            lo, hi = interval(boot)
            p = bs.paired_p_value(boot) if n_boot else math.nan
            recs.append(Record("compare", "macro", label, "all", f"delta_{m}", point, lo, hi, None, p))
    return recs
