"""evalboot --plot: the numbers on the figure's panels, checked against computations written
here independently (scipy.stats, numpy, plain Python), and one run of the command.

Real measurements (share/examples/lentimpra_joint_3cell.csv.gz) give the truth; the
predictions are synthetic (a scaled truth plus seeded normal noise). Small synthetic arrays
are used where a hand-worked answer or ties are needed, and say so.
"""

import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss

from conftest import EXAMPLES
from toolkit.evaluate import Task, evaluate
from toolkit.evaluate.plots import (calibration_bins, mingap_quintiles, residual_trend, scatter_residuals,
                                    scatter_stats)
from toolkit.evaluate.report import mingap_inputs

JOINT = EXAMPLES / "lentimpra_joint_3cell.csv.gz"
CELLS = ("HepG2", "K562", "WTC11")


@pytest.fixture(scope="module")
def joint():
    """The real 3-cell table with synthetic predictions: 0.7 x truth + N(0, 0.5), seed 5."""
    df = pd.read_csv(JOINT)
    rng = np.random.default_rng(5)
    for c in CELLS:
        df[f"pred_{c}_l2fc"] = 0.7 * df[f"{c}_l2fc"] + rng.normal(0, 0.5, len(df))
    return df


def _tasks(df, cells=CELLS):
    return [Task(name=f"{c}_l2fc", truth=df[f"{c}_l2fc"].to_numpy(float), pred=df[f"pred_{c}_l2fc"].to_numpy(float),
                 pred_name=f"pred_{c}_l2fc", cell=c) for c in cells]


# ----------------------------------------------------------------------------- row 1: scatter titles

def test_scatter_stats_match_scipy(joint):
    y = joint["HepG2_l2fc"].to_numpy(float).copy()
    p = joint["pred_HepG2_l2fc"].to_numpy(float).round(1)  # rounded: ties in the ranks
    y[[3, 8]] = np.nan
    p[11] = np.inf
    ok = np.isfinite(y) & np.isfinite(p)
    s = scatter_stats(y, p)
    assert s.n == ok.sum() == len(y) - 3
    assert s.pearson == pytest.approx(ss.pearsonr(y[ok], p[ok])[0], abs=1e-10)
    assert s.spearman == pytest.approx(ss.spearmanr(y[ok], p[ok])[0], abs=1e-10)
    assert s.mae == pytest.approx(np.mean(np.abs(p[ok] - y[ok])), rel=1e-12)


def test_scatter_stats_too_few_rows():
    """Synthetic: two rows give an MAE but no correlation; no rows give nothing."""
    s = scatter_stats([1.0, 2.0], [2.0, 2.5])
    assert (math.isnan(s.pearson), math.isnan(s.spearman), s.mae, s.n) == (True, True, 0.75, 2)
    s = scatter_stats([np.nan], [1.0])
    assert s.n == 0 and math.isnan(s.mae)


# ----------------------------------------------------------------------------- row 2: residuals

def test_residual_trend_against_numpy(joint):
    y = joint["K562_l2fc"].to_numpy(float)
    p = joint["pred_K562_l2fc"].to_numpy(float)
    t = residual_trend(y, p, n_bins=20)
    e = p - y
    bins = np.array_split(np.argsort(p, kind="stable"), 20)
    assert np.allclose(t.centre, [np.median(p[b]) for b in bins], rtol=0, atol=1e-12)
    assert np.allclose(t.median, [np.median(e[b]) for b in bins], rtol=0, atol=1e-12)
    assert t.sd == pytest.approx(np.std(e, ddof=1), rel=1e-12)
    assert np.all(np.diff(t.centre) >= 0)


# ----------------------------------------------------------------------------- row 3: calibration

def test_calibration_bins_match_linregress(joint):
    y = joint["WTC11_l2fc"].to_numpy(float)[:1003].copy()  # 1003 rows: deciles of 101 and 100 rows
    p = joint["pred_WTC11_l2fc"].to_numpy(float)[:1003].copy()
    y[7] = np.nan
    ok = np.isfinite(y)
    c = calibration_bins(y, p, n_bins=10)
    yy, pp = y[ok], p[ok]
    bins = np.array_split(np.argsort(pp), 10)
    mp = np.array([pp[b].mean() for b in bins])
    mo = np.array([yy[b].mean() for b in bins])
    assert c.n.tolist() == [len(b) for b in bins] and c.n.sum() == 1002
    assert np.allclose(c.mean_pred, mp, rtol=0, atol=1e-12)
    assert np.allclose(c.mean_obs, mo, rtol=0, atol=1e-12)
    fit = ss.linregress(mp, mo)
    assert c.slope == pytest.approx(fit.slope, rel=1e-10)
    assert c.intercept == pytest.approx(fit.intercept, rel=1e-10, abs=1e-12)
    assert 0 < c.slope < 2


def test_calibration_bins_hand_worked():
    """Synthetic: 20 rows, prediction 0..19, truth 2 x prediction + 1 except row 19 (+10).
    Bins of 2 rows: mean predictions 0.5, 2.5, ..., 18.5; mean truth 2, 6, ..., 34 and the
    last 38 + 5 = 43."""
    p = np.arange(20.0)
    y = 2 * p + 1
    y[19] += 10
    c = calibration_bins(y, p)
    assert c.mean_pred.tolist() == [0.5 + 2 * j for j in range(10)]
    assert c.mean_obs.tolist() == [2.0 + 4 * j for j in range(9)] + [43.0]
    assert c.n.tolist() == [2] * 10
    # least squares by hand: x = 0.5 + 2j, residual bump of 5 at j = 9
    x = np.array(c.mean_pred)
    sxx = sum((xi - x.mean()) ** 2 for xi in x)
    slope = 2 + 5 * (x[9] - x.mean()) / sxx
    assert c.slope == pytest.approx(slope, rel=1e-12)
    assert c.intercept == pytest.approx(np.mean(c.mean_obs) - slope * x.mean(), rel=1e-12)


def test_calibration_bins_constant_prediction_has_no_line():
    c = calibration_bins([1.0, 2.0, 3.0, 4.0], [0.5] * 4, n_bins=2)
    assert c.mean_pred.tolist() == [0.5, 0.5] and c.mean_obs.tolist() == [1.5, 3.5]
    assert math.isnan(c.slope) and math.isnan(c.intercept)


def test_calibration_bins_fewer_rows_than_bins():
    c = calibration_bins([1.0, 2.0, 4.0], [3.0, 1.0, 2.0], n_bins=10)
    assert c.mean_pred.tolist() == [1.0, 2.0, 3.0] and c.mean_obs.tolist() == [2.0, 4.0, 1.0]
    assert c.n.tolist() == [1, 1, 1]


# ----------------------------------------------------------------------------- row 4: MinGap quintiles

def _plain_pearson(a, b):
    n = len(a)
    if n < 3:
        return math.nan
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa = sum((x - ma) ** 2 for x in a)
    sbb = sum((y - mb) ** 2 for y in b)
    return sab / math.sqrt(saa * sbb) if saa > 0 and sbb > 0 else math.nan


def _plain_quantile(sorted_vals, q):
    """Linear interpolation between order statistics (numpy's default), by hand."""
    h = (len(sorted_vals) - 1) * q
    lo = math.floor(h)
    if lo + 1 >= len(sorted_vals):
        return sorted_vals[-1]
    return sorted_vals[lo] + (h - lo) * (sorted_vals[lo + 1] - sorted_vals[lo])


def _brute_quintiles(truth, pred, target, k=5):
    """Plain Python: MinGap row by row, quintile edges by hand, a row in the bin counted by the
    inner edges strictly below it (ties stay together), Pearson by its formula."""
    truth, pred, target = truth.tolist(), pred.tolist(), target.tolist()

    def gap(row, t):
        return row[t] - max(v for j, v in enumerate(row) if j != t)

    obs = [gap(r, t) for r, t in zip(truth, target)]
    prd = [gap(r, t) for r, t in zip(pred, target)]
    srt = sorted(obs)
    inner = [_plain_quantile(srt, j / k) for j in range(1, k)]
    which = [sum(1 for e in inner if e < v) for v in obs]
    out = []
    for b in range(k):
        idx = [i for i, w in enumerate(which) if w == b]
        if not idx:
            continue
        cell_r = [_plain_pearson([truth[i][c] for i in idx], [pred[i][c] for i in idx])
                  for c in range(len(truth[0]))]
        out.append((len(idx), min(obs[i] for i in idx), max(obs[i] for i in idx),
                    _plain_pearson([obs[i] for i in idx], [prd[i] for i in idx]), cell_r))
    return out, _plain_pearson(obs, prd)


def _close(a, b, tol=1e-9):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol


@pytest.mark.parametrize("decimals", [None, 1])
def test_mingap_quintiles_brute_force(joint, decimals):
    """The real truth of 503 rows (503: no quantile falls on an order statistic); with
    ``decimals=1`` truth and prediction are rounded, so MinGap has many ties."""
    df = joint.iloc[:503]
    truth = df[[f"{c}_l2fc" for c in CELLS]].to_numpy(float)
    pred = df[[f"pred_{c}_l2fc" for c in CELLS]].to_numpy(float)
    if decimals is not None:
        truth, pred = truth.round(decimals), pred.round(decimals)
    target = np.array([CELLS.index(c) for c in df["target_cell"]])
    q = mingap_quintiles(truth, pred, target)
    want, overall = _brute_quintiles(truth, pred, target)
    assert len(q.labels) == len(want) == len(q.n)
    assert q.n.sum() == 503
    for j, (n, lo, hi, r, cell_r) in enumerate(want):
        assert q.n[j] == n
        assert q.low[j] == lo and q.high[j] == hi
        assert q.labels[j].startswith(f"Q{j + 1} [")
        assert _close(q.pearson[j], r)
        assert all(_close(a, b) for a, b in zip(q.cell_pearson[j], cell_r))
    assert _close(q.overall, overall)
    if decimals is None:
        assert len(q.n) == 5 and q.n.max() - q.n.min() <= 1  # no ties: 503 rows in bins of 100 or 101


def test_mingap_quintiles_hand_worked():
    """Synthetic: 5 rows, two cells, target cell 0: MinGap = cell 0 - cell 1 = 1..5 observed,
    one row per quintile (so no correlation within a bin)."""
    truth = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0], [5.0, 0.0]])
    pred = np.array([[1.0, 0.5], [2.0, 0.0], [2.0, 0.0], [5.0, 0.5], [6.0, 0.0]])
    q = mingap_quintiles(truth, pred, np.zeros(5, dtype=int))
    assert q.n.tolist() == [1] * 5 and q.low.tolist() == [1, 2, 3, 4, 5]
    assert np.isnan(q.pearson).all()
    assert q.overall == pytest.approx(ss.pearsonr([1, 2, 3, 4, 5], [0.5, 2, 2, 4.5, 6])[0], abs=1e-12)


def test_figure_mingap_is_the_reports(joint):
    """The MinGap the figure bins is the one evalboot reports (same rows, target cells, r)."""
    tasks = _tasks(joint)
    target = joint["target_cell"].to_numpy(object)
    spec = mingap_inputs(tasks, target)
    rows = spec.rows
    q = mingap_quintiles(spec.truth[rows], spec.pred[rows], spec.target[rows])
    res = evaluate(tasks, n_boot=0, target_cell=target)
    rec = next(r for r in res.records if r.section == "specificity" and r.task == "MinGap" and r.subset == "all"
               and r.metric == "pearson")
    assert rec.n == len(rows) == q.n.sum()
    assert q.overall == pytest.approx(rec.value, abs=1e-12)
    # with no target-cell column each row's target is its top observed cell
    top = mingap_inputs(tasks)
    assert top.target.tolist() == np.argmax(top.truth, axis=1).tolist()
    assert mingap_inputs(tasks[:1]) is None


# ----------------------------------------------------------------------------- the figure

def test_figure_panels(joint):
    """Three regression cells and one binary task (synthetic labels): 4 x 3 panels plus the
    MinGap row; titles carry scipy's r and rho; the binary task's third panel is hidden."""
    df = joint.iloc[:600]
    tasks = _tasks(df)
    rng = np.random.default_rng(1)
    lab = (df["HepG2_l2fc"].to_numpy() > 0).astype(float)
    tasks.append(Task(name="active", truth=lab, pred=np.clip(0.6 * lab + 0.4 * rng.random(len(df)), 0, 1),
                      pred_name="pred_active", kind="binary"))
    fig = scatter_residuals(tasks, target_cell=df["target_cell"].to_numpy(object))
    axes = fig.get_axes()
    assert len(axes) == 4 * 3 + 1
    y, p = df["K562_l2fc"].to_numpy(float), df["pred_K562_l2fc"].to_numpy(float)
    title = axes[3].get_title()  # second task's scatter (three axes per task)
    assert f"r = {ss.pearsonr(y, p)[0]:.3f}" in title
    assert f"\u03c1 = {ss.spearmanr(y, p)[0]:.3f}" in title
    assert f"MAE = {np.mean(np.abs(p - y)):.3g}" in title and "n = 600" in title
    texts = [t.get_text() for t in axes[4].texts]
    assert f"residual SD = {np.std(p - y, ddof=1):.3g}" in texts
    fit = ss.linregress(*[[a[b].mean() for b in np.array_split(np.argsort(p), 10)] for a in (p, y)])
    assert f"slope = {fit.slope:.3f}\nintercept = {fit.intercept:.3g}" in [t.get_text() for t in axes[5].texts]
    assert not axes[11].axison  # binary task: no calibration-by-decile panel
    assert "quintile" in axes[12].get_title()
    assert len(axes[12].get_xticklabels()) == 5


def test_figure_without_cells_has_three_rows(joint):
    tasks = _tasks(joint.iloc[:300], CELLS[:1])
    assert len(scatter_residuals(tasks).get_axes()) == 3


# ----------------------------------------------------------------------------- the command

def test_evalboot_plot_end_to_end(joint, tmp_path):
    """evalboot from the shell on the real 3-cell truth with synthetic predictions."""
    src = tmp_path / "pred.tsv"
    joint.to_csv(src, sep="\t", index=False)
    png = tmp_path / "fit.png"
    res = subprocess.run([sys.executable, "-m", "toolkit.cli.evalboot", str(src), "--bootstrap", "0",
                          "--plot", str(png), "-o", str(tmp_path / "m.tsv")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert re.search(r"plot written to .*fit\.png", res.stderr)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    img = imread(png)
    # 3 columns and 4 rows of panels at 110 dpi: 4.6 x 3 by 1.4 x 11 inches
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert 1500 <= img.shape[0] <= 1800 and 1400 <= img.shape[1] <= 1600
    assert img[..., :3].std() > 0.05  # not blank
