"""Figures of predictions against measurements (matplotlib, Agg canvas, no pyplot state).

The numbers a panel shows come from pure functions that draw nothing, so they can be
checked without a figure: :func:`scatter_stats` (the scatter titles),
:func:`residual_trend` (the residual panels), :func:`calibration_bins` (the calibration
panels) and :func:`mingap_quintiles` (performance by observed-MinGap quintile).

matplotlib is imported when a figure is made, so commands that never plot start fast.
"""

from typing import NamedTuple

import numpy as np

from .metrics import Regression
from .report import MIN_ROWS, _quantile_bins, mingap_inputs
from .specificity import min_gap


class ScatterStats(NamedTuple):
    """Agreement of a prediction with its truth, as a scatter panel's title gives it."""

    pearson: float
    spearman: float
    mae: float
    n: int


class ResidualTrend(NamedTuple):
    """Residuals summarised along the prediction (see :func:`residual_trend`)."""

    centre: np.ndarray
    median: np.ndarray
    sd: float


class CalibrationBins(NamedTuple):
    """Equal-frequency bins of the prediction (see :func:`calibration_bins`)."""

    mean_pred: np.ndarray
    mean_obs: np.ndarray
    n: np.ndarray
    slope: float
    intercept: float


class MinGapQuintiles(NamedTuple):
    """Agreement within quantile bins of the observed MinGap (see :func:`mingap_quintiles`)."""

    labels: list
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    pearson: np.ndarray
    cell_pearson: np.ndarray
    overall: float


def _finite_pair(truth, pred):
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(truth) & np.isfinite(pred)
    return truth[ok], pred[ok]


def _pearson(y, p):
    """Pearson's r as evalboot reports it; NaN under MIN_ROWS rows or for a constant."""
    if len(y) < MIN_ROWS:
        return float("nan")
    return float(Regression(y, p, only=("pearson",)).compute(np.ones((1, len(y))))["pearson"][0])


def scatter_stats(truth, pred):
    """Pearson's r, Spearman's rho, mean absolute error and the row count of a task.

    Rows where either value is missing (NaN or infinite) are left out. The numbers are
    computed as evalboot's metrics are (:class:`toolkit.evaluate.metrics.Regression`).

    Parameters
    ----------
    truth, pred : array-like, shape (n,)

    Returns
    -------
    ScatterStats
        ``(pearson, spearman, mae, n)``; the correlations are NaN with fewer than 3 rows
        or a constant column, every number is NaN with no rows.

    Examples
    --------
    >>> s = scatter_stats([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0])
    >>> round(s.pearson, 3), round(s.spearman, 3), s.mae, s.n
    (0.8, 0.8, 0.5, 4)
    """
    y, p = _finite_pair(truth, pred)
    n = len(y)
    if n == 0:
        return ScatterStats(float("nan"), float("nan"), float("nan"), 0)
    out = Regression(y, p, only=("pearson", "spearman", "mae")).compute(np.ones((1, n)))
    if n < MIN_ROWS:
        return ScatterStats(float("nan"), float("nan"), float(out["mae"][0]), n)
    return ScatterStats(float(out["pearson"][0]), float(out["spearman"][0]), float(out["mae"][0]), n)


def _equal_frequency(values, n_bins):
    """Row indices of up to ``n_bins`` bins of near-equal size, in increasing order of ``values``
    (a stable sort: tied values keep their row order and may fall in adjacent bins)."""
    order = np.argsort(values, kind="stable")
    n_bins = max(1, min(int(n_bins), len(values)))
    return [b for b in np.array_split(order, n_bins) if len(b)]


def residual_trend(truth, pred, n_bins=20):
    """The residual ``pred - truth`` along the prediction: its median in equal-frequency bins
    of the prediction, and its standard deviation.

    Parameters
    ----------
    truth, pred : array-like, shape (n,)
        Rows where either is missing are left out.
    n_bins : int
        Bins of the rows sorted by prediction (``numpy.array_split`` of the sort order, so
        bin sizes differ by one at most; fewer bins when there are fewer rows).

    Returns
    -------
    ResidualTrend
        ``centre``: the median prediction of each bin; ``median``: the median residual of
        each bin; ``sd``: the sample standard deviation (ddof 1) of every residual (NaN
        under two rows).

    Examples
    --------
    >>> t = residual_trend([0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 3.0, 3.0], n_bins=2)
    >>> t.centre.tolist(), t.median.tolist()
    ([1.0, 3.0], [0.5, 0.5])
    """
    y, p = _finite_pair(truth, pred)
    e = p - y
    bins = _equal_frequency(p, n_bins) if len(p) else []
    centre = np.array([np.median(p[b]) for b in bins])
    median = np.array([np.median(e[b]) for b in bins])
    sd = float(np.std(e, ddof=1)) if len(e) > 1 else float("nan")
    return ResidualTrend(centre, median, sd)


def calibration_bins(truth, pred, n_bins=10):
    """Calibration of a regression: mean observed against mean predicted in equal-frequency
    bins of the prediction (deciles by default), and the least-squares line through the bins.

    A calibrated model has its bin points on the identity line (slope 1, intercept 0); a
    slope under 1 means the predictions spread wider than the truth they track.

    Parameters
    ----------
    truth, pred : array-like, shape (n,)
        Rows where either is missing are left out.
    n_bins : int
        Bins of the rows sorted by prediction: ``numpy.array_split`` of the stable sort order
        (sizes differ by one at most; fewer bins when there are fewer rows).

    Returns
    -------
    CalibrationBins
        ``mean_pred``, ``mean_obs``, ``n``: per bin, in increasing order of prediction;
        ``slope``, ``intercept``: the ordinary least-squares line ``mean_obs ~ mean_pred``
        through the bin points, unweighted (NaN with fewer than two distinct bin means).

    Examples
    --------
    >>> c = calibration_bins([0.0, 2.0, 2.0, 6.0], [0.0, 1.0, 2.0, 3.0], n_bins=2)
    >>> c.mean_pred.tolist(), c.mean_obs.tolist(), c.slope, c.intercept
    ([0.5, 2.5], [1.0, 4.0], 1.5, 0.25)
    """
    y, p = _finite_pair(truth, pred)
    bins = _equal_frequency(p, n_bins) if len(p) else []
    mean_pred = np.array([p[b].mean() for b in bins])
    mean_obs = np.array([y[b].mean() for b in bins])
    n = np.array([len(b) for b in bins], dtype=np.int64)
    slope = intercept = float("nan")
    if len(bins) >= 2:
        dx = mean_pred - mean_pred.mean()
        sxx = float(dx @ dx)
        if sxx > 1e-24 * max(float(mean_pred @ mean_pred), 1e-300):
            slope = float(dx @ (mean_obs - mean_obs.mean())) / sxx
            intercept = float(mean_obs.mean() - slope * mean_pred.mean())
    return CalibrationBins(mean_pred, mean_obs, n, slope, intercept)


def mingap_quintiles(truth, pred, target, k=5):
    """Agreement by quantile bin of the observed MinGap (quintiles by default).

    MinGap is :func:`toolkit.evaluate.specificity.min_gap` of the observed and of the
    predicted activities; the rows are split into ``k`` bins at the quantiles of the observed
    MinGap, as evalboot's report bins it (``numpy.quantile`` edges, a row goes to the first
    bin whose upper edge it does not exceed, tied values stay together, so bins can differ
    in size and an empty one is dropped).

    Parameters
    ----------
    truth, pred : numpy.ndarray, shape (n, c)
        Observed and predicted activity per row and cell (finite, c >= 2).
    target : numpy.ndarray of int, shape (n,)
        Each row's target cell (index 0..c-1).
    k : int
        Number of bins.

    Returns
    -------
    MinGapQuintiles
        Per non-empty bin, lowest first: ``labels`` (``Q1 [low, high]``), ``low`` and ``high``
        (smallest and largest observed MinGap), ``n`` (rows), ``pearson`` (Pearson's r of
        predicted against observed MinGap) and ``cell_pearson`` (shape (bins, c): Pearson's r
        of each cell's predicted against observed activity); ``overall``: Pearson's r of
        MinGap over all rows. A correlation is NaN with fewer than 3 rows or a constant.
    """
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    obs = min_gap(truth, target)
    prd = min_gap(pred, target)
    labels, low, high, n, r, cell_r = [], [], [], [], [], []
    for label, idx in (_quantile_bins(obs, k) if len(obs) else []):
        labels.append(label)
        low.append(obs[idx].min())
        high.append(obs[idx].max())
        n.append(len(idx))
        r.append(_pearson(obs[idx], prd[idx]))
        cell_r.append([_pearson(truth[idx, c], pred[idx, c]) for c in range(truth.shape[1])])
    return MinGapQuintiles(labels, np.array(low), np.array(high), np.array(n, dtype=np.int64), np.array(r),
                           np.array(cell_r).reshape(len(labels), truth.shape[1]), _pearson(obs, prd))


def scatter_residuals(tasks, max_points=200_000, seed=2025, target_cell=None, target_cell_name="target_cell"):
    """The evaluation figure: one column per task, a row per view.

    A regression task shows, top to bottom:

    1. prediction against observed with the identity line, titled with Pearson's r,
       Spearman's rho, MAE and n (:func:`scatter_stats`);
    2. the residual ``pred - observed`` against the prediction, with its median in 20
       equal-frequency bins of the prediction (fewer, of 10 rows or more, under 200 rows)
       and the residual SD (:func:`residual_trend`);
    3. calibration: mean observed against mean predicted in the 10 deciles of the
       prediction, the identity line and the least-squares line through the 10 points, its
       slope and intercept written on the panel (:func:`calibration_bins`).

    A binary task shows its calibration (observed fraction against mean prediction in ten
    bins of width 0.1) and the score distribution of each class; its third row is empty.

    With two or more regression tasks that are cells (MinGap, as evalboot's report computes
    it, :func:`toolkit.evaluate.report.mingap_inputs`), a fourth row across the figure shows
    Pearson's r of predicted against observed MinGap in each quintile of the observed MinGap
    (bars, with n per quintile) and each cell's r in that quintile (points)
    (:func:`mingap_quintiles`).

    Parameters
    ----------
    tasks : list of toolkit.evaluate.report.Task
    max_points : int
        Rows drawn per task at most (a seeded random subset beyond that); the numbers on the
        panels use every row.
    seed : int
    target_cell : numpy.ndarray of str, shape (N,), optional
        Each row's target cell for MinGap (else its top observed cell).
    target_cell_name : str
        That column's name, for the MinGap panel's title.

    Returns
    -------
    matplotlib.figure.Figure
        Attached to an Agg canvas: ``fig.savefig(path, format="png")`` writes it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    spec = mingap_inputs(tasks, target_cell, target_cell_name)
    rows = spec.rows if spec is not None else np.array([], dtype=np.int64)
    k = len(tasks)
    heights = [3, 2, 3] + ([3] if spec is not None else [])
    fig = Figure(figsize=(4.6 * k, 1.4 * sum(heights)), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(heights), k, height_ratios=heights)
    rng = np.random.default_rng(seed)
    for j, t in enumerate(tasks):
        top, middle, bottom = (fig.add_subplot(grid[i, j]) for i in range(3))
        ok = np.flatnonzero(np.isfinite(t.truth) & np.isfinite(t.pred))
        drawn = ok
        if len(drawn) > max_points:
            drawn = np.sort(rng.choice(drawn, max_points, replace=False))
        y, p = t.truth[drawn], t.pred[drawn]
        if t.kind == "binary":
            _binary(top, middle, y, p, t)
            bottom.axis("off")
            continue
        _regression(top, middle, bottom, t, t.truth[ok], t.pred[ok], y, p)
    if spec is not None:
        _mingap_panel(fig.add_subplot(grid[3, :]), spec, rows, target_cell_name)
    return fig


def _regression(top, middle, bottom, t, y_all, p_all, y, p):
    """Rows 1-3 of a regression task: every row for the numbers, ``y, p`` (a subset) drawn."""
    if len(y_all) == 0:
        for ax in (top, middle, bottom):
            ax.axis("off")
        top.set_title(f"{t.name}\nno rows with both values", fontsize=10)
        return
    stats = scatter_stats(y_all, p_all)
    alpha = float(np.clip(3000 / max(len(y), 1), 0.05, 0.8))
    size = float(np.clip(4000 / max(len(y), 1), 4, 16))
    top.scatter(y, p, s=size, alpha=alpha, linewidths=0, rasterized=True, color="#1f77b4")
    lo = float(min(y.min(), p.min()))
    hi = float(max(y.max(), p.max()))
    top.plot([lo, hi], [lo, hi], color="#d62728", linewidth=1, label="identity")
    top.set_title(f"{t.name}\nr = {stats.pearson:.3f}, \u03c1 = {stats.spearman:.3f}, "
                  f"MAE = {stats.mae:.3g}, n = {stats.n:,}", fontsize=10)
    top.set_xlabel(f"observed {t.name}")
    top.set_ylabel(t.pred_name)
    top.legend(loc="upper left", fontsize=8, frameon=False)

    trend = residual_trend(y_all, p_all, n_bins=max(1, min(20, stats.n // 10)))  # bins of 10 rows or more
    middle.scatter(p, p - y, s=size, alpha=alpha, linewidths=0, rasterized=True, color="#7f7f7f")
    middle.axhline(0, color="#d62728", linewidth=1)
    middle.plot(trend.centre, trend.median, color="#ff7f0e", linewidth=1.5, marker=".",
                label=f"median in {len(trend.centre)} bins of prediction")
    middle.text(0.98, 0.96, f"residual SD = {trend.sd:.3g}", transform=middle.transAxes, ha="right", va="top",
                fontsize=8)
    middle.set_xlabel(t.pred_name)
    middle.set_ylabel("residual (pred - observed)")
    middle.legend(loc="lower left", fontsize=8, frameon=False)

    cal = calibration_bins(y_all, p_all)
    span = np.concatenate([cal.mean_pred, cal.mean_obs])
    lo, hi = float(span.min()), float(span.max())
    bottom.plot([lo, hi], [lo, hi], color="#d62728", linewidth=1, label="identity")
    bottom.plot(cal.mean_pred, cal.mean_obs, "o", color="#1f77b4", label="decile of prediction")
    if np.isfinite(cal.slope):
        xs = np.array([cal.mean_pred.min(), cal.mean_pred.max()])
        bottom.plot(xs, cal.intercept + cal.slope * xs, color="#2ca02c", linewidth=1, linestyle="--",
                    label="least-squares line")
    bottom.text(0.98, 0.04, f"slope = {cal.slope:.3f}\nintercept = {cal.intercept:.3g}",
                transform=bottom.transAxes, ha="right", va="bottom", fontsize=8)
    bottom.set_title(f"calibration: {len(cal.n)} bins of ~{int(np.median(cal.n)):,} rows", fontsize=9)
    bottom.set_xlabel(f"mean {t.pred_name} in bin")
    bottom.set_ylabel(f"mean observed {t.name}")
    bottom.legend(loc="upper left", fontsize=8, frameon=False)


def _mingap_panel(ax, spec, rows, target_cell_name):
    """Row 4: Pearson's r of MinGap (bars) and of each cell (points) per observed-MinGap quintile."""
    how = spec.how
    title = f"By observed-MinGap quintile (MinGap over {', '.join(spec.names)}; target cell from the {how})"
    if len(rows) < 5 * MIN_ROWS:
        ax.axis("off")
        ax.set_title(f"{title}\n{len(rows)} rows: too few for quintiles", fontsize=10)
        return
    q = mingap_quintiles(spec.truth[rows], spec.pred[rows], spec.target[rows])
    x = np.arange(len(q.labels))
    ax.bar(x, np.nan_to_num(q.pearson), width=0.6, color="#1f77b4", alpha=0.75, label="MinGap r")
    markers = "osD^v<>p*h"
    width = 0.5
    for c, name in enumerate(spec.names):
        dx = (c - (len(spec.names) - 1) / 2) * width / max(len(spec.names), 1)
        ax.plot(x + dx, q.cell_pearson[:, c], linestyle="none", marker=markers[c % len(markers)], markersize=5,
                color=f"C{(c + 1) % 10}", label=f"{name} r")
    for xi, r, n in zip(x, q.pearson, q.n):
        text = "r n/a" if not np.isfinite(r) else f"{r:.2f}"
        ax.annotate(f"{text}\nn = {n:,}", (xi, max(np.nan_to_num(r), 0)), textcoords="offset points",
                    xytext=(0, 3), ha="center", va="bottom", fontsize=8)
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(q.labels, fontsize=8)
    ax.set_xlabel("observed MinGap quintile [lowest, highest observed MinGap]")
    ax.set_ylabel("Pearson r (predicted vs observed)")
    lows = np.nanmin(np.concatenate([q.pearson, q.cell_pearson.ravel(), [0.0]]))
    ax.set_ylim(min(-0.05, lows - 0.1), 1.15)
    ax.set_title(f"{title}; MinGap r over all {len(rows):,} rows = {q.overall:.3f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=min(len(spec.names) + 1, 6))


def _binary(top, bottom, y, p, t):
    if np.all((p >= 0) & (p <= 1)):
        b = np.minimum((p * 10).astype(int), 9)
        cnt = np.bincount(b, minlength=10)
        used = cnt > 0
        mp = np.bincount(b, weights=p, minlength=10)[used] / cnt[used]
        fr = np.bincount(b, weights=y, minlength=10)[used] / cnt[used]
        top.plot([0, 1], [0, 1], color="#d62728", linewidth=1, label="perfect calibration")
        top.plot(mp, fr, marker="o", color="#1f77b4", label="observed")
        top.set_xlabel(f"mean {t.pred_name} in bin")
        top.set_ylabel("fraction positive")
        top.legend(loc="upper left", fontsize=8, frameon=False)
    top.set_title(f"{t.name} (binary)\nn = {len(y):,}", fontsize=10)
    for cls, color in ((0, "#7f7f7f"), (1, "#1f77b4")):
        bottom.hist(p[y == cls], bins=30, alpha=0.6, color=color, label=f"truth {cls}")
    bottom.set_xlabel(t.pred_name)
    bottom.set_ylabel("rows")
    bottom.legend(fontsize=8, frameon=False)


def contribution_scores(seq, attribution, method):
    """The per-position contribution of the observed bases, the letters of an attribution logo.

    Parameters
    ----------
    seq : str
        The sequence the map was computed on (ACGT; any other letter is a position with no
        base), at most L long (shorter: the map's first len(seq) positions are read).
    attribution : numpy.ndarray, shape (4, L)
        One task's map, bases in the order A, C, G, T.
    method : str
        ``saliency`` or ``ig``: the map at the observed base (gradient or attribution times
        the one-hot input). ``ism``: the map holds each single mutant's prediction minus
        the sequence's, so the observed base's contribution is minus the mean of the three
        substitutions (how much the prediction drops, on average, when the base is changed).

    Returns
    -------
    numpy.ndarray, shape (4, len(seq))
        Zero everywhere but the observed base's row (and zero at positions without a base).
    """
    a = np.asarray(attribution, dtype=np.float64)
    n = len(seq)
    idx = np.array(["ACGT".find(b) for b in seq.upper()], dtype=np.int64)
    from .motifs import hypothetical_contributions   # the one definition of a base's contribution

    hyp = hypothetical_contributions(a[None, :, :n], method)[0].T      # (4, n)
    out = np.zeros((4, n))
    pos = np.flatnonzero(idx >= 0)
    out[idx[pos], pos] = hyp[idx[pos], pos]
    return out


def attribution_logos(rows, method, width=None):
    """Sequence logos of attribution maps, one panel per (sequence, task).

    Parameters
    ----------
    rows : list of (title str, sequence str, attribution numpy.ndarray (4, L))
    method : str
        ``saliency``, ``ig`` or ``ism`` (see :func:`contribution_scores`).
    width : float, optional
        Figure width in inches (default: grows with the sequence length, 6 to 24).

    Returns
    -------
    matplotlib.figure.Figure
        Attached to an Agg canvas. Letters above the axis raised the prediction, letters
        below lowered it; drawn with logomaker.
    """
    import logomaker
    import pandas as pd
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    longest = max(len(s) for _, s, _ in rows)
    fig = Figure(figsize=(width or float(np.clip(longest / 10, 6, 24)), 1.9 * len(rows)), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, (title, seq, att) in zip(axes, rows):
        scores = contribution_scores(seq, att, method)
        frame = pd.DataFrame(scores.T, columns=list("ACGT"))
        logomaker.Logo(frame, ax=ax, color_scheme="classic", show_spines=False)
        ax.axhline(0, color="#7f7f7f", linewidth=0.5)
        ax.set_xlim(-0.5, len(seq) - 0.5)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel({"ism": "ISM score", "ig": "IG attribution"}.get(method, "saliency"), fontsize=8)
    axes[-1].set_xlabel("position")
    return fig
