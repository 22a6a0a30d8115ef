"""Figures of predictions against measurements (matplotlib, Agg canvas, no pyplot state).

matplotlib is imported when a figure is made, so commands that never plot start fast.
"""

import numpy as np


def scatter_residuals(tasks, max_points=200_000, seed=2025):
    """One column per task: prediction against truth with the identity line (top) and the
    residual ``pred - truth`` against truth (bottom). A binary task shows its calibration
    (observed fraction against mean prediction in ten bins) and the score distribution of
    each class instead.

    Parameters
    ----------
    tasks : list of toolkit.evaluate.report.Task
    max_points : int
        Rows drawn per task at most (a seeded random subset beyond that; the metrics use all).
    seed : int

    Returns
    -------
    matplotlib.figure.Figure
        Attached to an Agg canvas: ``fig.savefig(path, format="png")`` writes it.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    k = len(tasks)
    fig = Figure(figsize=(4.2 * k, 7.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, k, squeeze=False, gridspec_kw={"height_ratios": [3, 2]})
    rng = np.random.default_rng(seed)
    for j, t in enumerate(tasks):
        ok = np.flatnonzero(np.isfinite(t.truth) & np.isfinite(t.pred))
        if len(ok) > max_points:
            ok = np.sort(rng.choice(ok, max_points, replace=False))
        y, p = t.truth[ok], t.pred[ok]
        top, bottom = axes[0, j], axes[1, j]
        if t.kind == "binary":
            _calibration(top, bottom, y, p, t)
            continue
        alpha = float(np.clip(3000 / max(len(y), 1), 0.05, 0.8))
        top.scatter(y, p, s=4, alpha=alpha, linewidths=0, rasterized=True, color="#1f77b4")
        lo = float(min(y.min(), p.min()))
        hi = float(max(y.max(), p.max()))
        top.plot([lo, hi], [lo, hi], color="#d62728", linewidth=1, label="identity")
        r = np.corrcoef(y, p)[0, 1] if len(y) > 1 and y.std() > 0 and p.std() > 0 else np.nan
        top.set_title(f"{t.name}\nPearson {r:.3f}, n = {len(ok):,}", fontsize=10)
        top.set_xlabel(f"observed {t.name}")
        top.set_ylabel(t.pred_name)
        top.legend(loc="upper left", fontsize=8, frameon=False)
        bottom.scatter(y, p - y, s=4, alpha=alpha, linewidths=0, rasterized=True, color="#7f7f7f")
        bottom.axhline(0, color="#d62728", linewidth=1)
        bottom.set_xlabel(f"observed {t.name}")
        bottom.set_ylabel("residual (pred - observed)")
    return fig


def _calibration(top, bottom, y, p, t):
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
