"""Evaluation metrics, computed for many bootstrap resamples at once.

Every metric here takes resampling weights ``W``, shape (B, n): resample ``b``
holds row ``i`` ``W[b, i]`` times (float, or small integer counts, which are
gathered faster). ``W = ones((1, n))`` gives the metric of the data as they are;
the counts of a bootstrap resample (rows drawn with replacement) give exactly
the metric of that resample (the number scipy gives on the resampled rows),
without copying the data. Sums over rows become matrix products, and ranks and
order statistics come from cumulative sums over one sort of each variable, so
1,000 resamples of 100,000 rows take seconds.

Definitions (each checked against scipy in ``tests/test_evalboot.py``):

- ``pearson``: Pearson's r (``scipy.stats.pearsonr``).
- ``spearman``: Pearson's r of mid-ranks, ties averaged (``scipy.stats.spearmanr``).
- ``r2``: coefficient of determination ``1 - SS_res / SS_tot`` of the prediction as it
  is (not the squared correlation; negative when worse than the mean).
- ``rmse``, ``mae``: root mean squared and mean absolute error of ``pred - truth``.
- ``median_ae``: median absolute error (``numpy.median``: mean of the two middle
  values for an even count).
- ``winsor_pearson``: Pearson's r after winsorizing truth and prediction separately
  (``scipy.stats.mstats.winsorize`` with the same limits).
- ``sd_ratio``: SD(prediction) / SD(truth); far below 1 when a model collapsed to
  near-constant predictions.
- ``weighted_mse``: mean squared error weighted by ``1 / SE**2`` (rows with a
  non-finite or non-positive SE get weight 0).
- ``auroc``: area under the ROC curve, ties counted one half (Mann-Whitney U / n1 n0).
- ``aupr``: average precision, ``sum_k (R_k - R_{k-1}) P_k`` over the distinct score
  thresholds (as ``sklearn.metrics.average_precision_score``).
- ``f1``, ``precision``, ``recall``: at ``prediction >= threshold``.
- ``brier``: mean of ``(pred - truth)**2`` for predicted probabilities.
- ``ece``: expected calibration error over equal-width probability bins,
  ``sum_b (n_b / n) |mean pred_b - fraction positive_b|``.
- ``prior``: the fraction of positive rows, the AUPR a random ranking has on average (so
  AUPR is read against it); reported with the binary metrics, not compared between predictions.
"""

import math

import numpy as np

REGRESSION_METRICS = ("pearson", "spearman", "r2", "rmse", "mae", "median_ae", "winsor_pearson")
BINARY_METRICS = ("auroc", "aupr", "f1", "precision", "recall", "brier", "ece")


def _corr_from_sums(sw, sx, sy, sxx, syy, sxy):
    """Pearson's r from weighted sums of (centred) values, each shape (B,).

    NaN where either variable is constant within the resample (its variance is
    rounding noise relative to its mean square).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        mx, my = sx / sw, sy / sw
        qx, qy = sxx / sw, syy / sw
        vx, vy = qx - mx * mx, qy - my * my
        r = (sxy / sw - mx * my) / np.sqrt(vx * vy)
        ok = (vx > 1e-10 * qx) & (vy > 1e-10 * qy)
    return np.where(ok, np.clip(r, -1.0, 1.0), np.nan)


def _float(W):
    """Weights as float64 (integer counts are converted once per call)."""
    return W if W.dtype == np.float64 else W.astype(np.float64)


def _rowdot(a, b):
    """Row-wise dot products of two (B, m) arrays, without a temporary."""
    return np.einsum("ij,ij->i", a, b)


class _Sorted:
    """One sort of ``x``, reused for the ranks and order statistics of every resample.

    Rows with equal values form one tie group; per resample, the weight of each
    group (in increasing order of value) gives mid-ranks by a cumulative sum and
    any order statistic by a binary search.

    Parameters
    ----------
    x : numpy.ndarray, shape (n,)
    """

    def __init__(self, x):
        self.order = np.argsort(x, kind="stable")
        srt = x[self.order]
        n = len(x)
        new = np.ones(n, dtype=bool)
        new[1:] = srt[1:] != srt[:-1]
        self.starts = np.flatnonzero(new)
        self.values = srt[self.starts]  # distinct values, increasing
        self.has_ties = len(self.starts) < n
        self.group = np.empty(n, dtype=np.int64)
        self.group[self.order] = np.cumsum(new) - 1  # tie group of each row

    def counts(self, W):
        """Weight of each tie group in each resample and its cumulative sum, both (B, K)."""
        C = np.take(W, self.order, axis=1)  # (faster than W[:, order]; fastest on small integers)
        if self.has_ties:
            C = np.add.reduceat(C, self.starts, axis=1, dtype=np.float64)
        else:
            C = _float(C)
        return C, np.cumsum(C, axis=1)

    @staticmethod
    def group_ranks(C, cum):
        """Mid-rank of each tie group (ties averaged, as ``scipy.stats.rankdata``), (B, K)."""
        return cum - (C - 1.0) * 0.5

    def order_stat(self, cum, k):
        """The ``k[b]``-th smallest value (1-based) of each resample ``b``, shape (B,)."""
        idx = np.fromiter((np.searchsorted(c, kb - 1e-9) for c, kb in zip(cum, k)), dtype=np.int64,
                          count=len(k))
        return self.values[np.minimum(idx, len(self.values) - 1)]


def _power_of_two_below(m):
    """2**(e - 1) for m = f * 2**e, 0.5 <= f < 1: m divided by it lies in [1, 2), exactly."""
    return math.ldexp(1.0, math.frexp(m)[1] - 1)


class _Centred:
    """Values minus their mean, so that sums of squares stay well conditioned; values above
    1e100 in magnitude are first divided by a power of two (exact), so that squares and sums
    of values near the float64 limit (1e308) do not overflow. ``centre(x)`` maps values of
    the same variable the same way; ``scale`` is the divisor (1 for ordinary data)."""

    def __init__(self, v):
        m = float(np.max(np.abs(v))) if len(v) else 0.0
        self.scale = _power_of_two_below(m) if m > 1e100 else 1.0
        u = v / self.scale if self.scale != 1.0 else v
        self.shift = float(np.mean(u))
        self.values = u - self.shift

    def centre(self, x):
        return (x / self.scale if self.scale != 1.0 else x) - self.shift


def check_winsor(limits):
    """Validate winsorizing limits ``(low, high)``: fractions in [0, 1) summing to under 1."""
    low, high = limits
    if not (0 <= low < 1 and 0 <= high < 1 and low + high < 1):
        raise ValueError("winsorizing limits must be fractions in [0, 1) that sum to less than 1")
    return float(low), float(high)


class Regression:
    """Regression metrics of one task, for any set of resampling weights.

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        Observed values (finite).
    p : numpy.ndarray, shape (n,)
        Predictions (finite).
    winsor : tuple of two floats
        Fractions clipped at the low and high end before ``winsor_pearson``
        (as ``scipy.stats.mstats.winsorize(limits=winsor)``).
    se : numpy.ndarray, shape (n,), optional
        Standard errors of ``y``; adds ``weighted_mse``.
    only : iterable of str, optional
        Compute only these metrics (the costlier ranks and order statistics are skipped
        when not asked for).

    Examples
    --------
    >>> reg = Regression(np.array([1.0, 2, 3, 4]), np.array([1.5, 1.0, 3.5, 4.0]))
    >>> round(float(reg.compute(np.ones((1, 4)))["spearman"][0]), 3)
    0.8
    """

    names = REGRESSION_METRICS + ("sd_ratio",)

    def __init__(self, y, p, winsor=(0.05, 0.05), se=None, only=None):
        self.only = None if only is None else frozenset(only)
        self.y = np.asarray(y, dtype=np.float64)
        self.p = np.asarray(p, dtype=np.float64)
        self.n = len(self.y)
        self.winsor = check_winsor(winsor)
        e = self.p - self.y
        self._yc, self._pc = _Centred(self.y), _Centred(self.p)
        yc, pc = self._yc.values, self._pc.values
        me = float(np.max(np.abs(e))) if self.n else 0.0  # errors near 1e308: squares taken of e / ke
        self._ke = _power_of_two_below(me) if 1e100 < me < np.inf else 1.0
        es = e / self._ke if self._ke != 1.0 else e
        cols = [np.ones(self.n), yc, pc, yc * yc, pc * pc, yc * pc, es * es, np.abs(es)]
        self.has_se = se is not None
        if self.has_se:
            se = np.asarray(se, dtype=np.float64)
            ok = np.isfinite(se) & (se > 0)
            w = np.zeros(self.n)
            w[ok] = 1.0 / se[ok] ** 2
            self.se_rows = int(ok.sum())
            cols += [w * es * es, w]
        self._lin = np.column_stack(cols)
        self._ys, self._ps = _Sorted(self.y), _Sorted(self.p)
        self._ae = _Sorted(np.abs(e))

    def compute(self, W):
        """Every metric for each resample.

        Parameters
        ----------
        W : numpy.ndarray, shape (B, n)

        Returns
        -------
        dict of str to numpy.ndarray, shape (B,)
        """
        want = self.only or frozenset(self.names) | {"weighted_mse"}
        counts, W = W, _float(W)
        s = W @ self._lin
        sw, sy, sp, syy, spp, syp, see, sae = s[:, :8].T
        out = {"pearson": _corr_from_sums(sw, sy, sp, syy, spp, syp)}
        if "spearman" in want or "winsor_pearson" in want:
            cy, cumy = self._ys.counts(counts)
            cp, cump = self._ps.counts(counts)
        if "spearman" in want:
            out["spearman"] = self._spearman(W, sw, cy, cumy, cp, cump)
        ky, kp = self._yc.scale, self._pc.scale  # 1 unless values reach 1e100 (see _Centred)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            vy = syy / sw - (sy / sw) ** 2
            vp = spp / sw - (sp / sw) ** 2
            # a truth constant within a resample has a variance of rounding noise: no R2, no ratio
            vary = vy > 1e-10 * (syy / sw)
            ke = self._ke
            out["r2"] = np.where(vary, 1.0 - (see / sw) * (ke / ky) * (ke / ky) / vy, np.nan)
            out["rmse"] = np.sqrt(see / sw) * ke
            out["mae"] = sae / sw * ke
            out["sd_ratio"] = np.where(vary, np.sqrt(np.maximum(vp, 0) / vy) * (kp / ky), np.nan)
            if self.has_se:
                out["weighted_mse"] = s[:, 8] / s[:, 9] * ke * ke
        if "median_ae" in want:
            _, cum_ae = self._ae.counts(counts)
            out["median_ae"] = _median(self._ae, cum_ae, sw)
        if "winsor_pearson" in want:
            out["winsor_pearson"] = self._winsor_pearson(W, s, sw, cy, cumy, cp, cump)
        return out

    def _spearman(self, W, sw, cy, cumy, cp, cump):
        """Pearson's r of mid-ranks: sums of ranks and squared ranks per tie group, the
        cross products per row. Ranks are centred on their mean, (total + 1) / 2."""
        mid = ((sw + 1) * 0.5)[:, None]
        ry = self._ys.group_ranks(cy, cumy) - mid
        rp = self._ps.group_ranks(cp, cump) - mid
        wry, wrp = cy * ry, cp * rp
        sxy = _rowdot(W * np.take(ry, self._ys.group, axis=1), np.take(rp, self._ps.group, axis=1))
        return _corr_from_sums(sw, wry.sum(1), wrp.sum(1), _rowdot(wry, ry), _rowdot(wrp, rp), sxy)

    def _winsor_pearson(self, W, s, sw, cy, cumy, cp, cump):
        low, high = self.winsor
        if low == 0 and high == 0:
            return _corr_from_sums(*s[:, :6].T)
        # scipy.stats.mstats.winsorize: the int(low * n) smallest values are set to the next one,
        # the int(n * high) largest to the one before them
        k_lo = np.floor(low * sw) + 1
        k_hi = sw - np.floor(sw * high)
        sums, rows = [], []
        for srt, C, cum, v in ((self._ys, cy, cumy, self._yc), (self._ps, cp, cump, self._pc)):
            lo = v.centre(srt.order_stat(cum, k_lo))[:, None]
            hi = v.centre(srt.order_stat(cum, k_hi))[:, None]
            grp = np.clip(v.centre(srt.values)[None, :], lo, hi)  # per tie group: sums are cheap
            wg = C * grp
            sums.append((wg.sum(1), _rowdot(wg, grp)))
            rows.append(np.clip(v.values[None, :], lo, hi))  # per row: for the cross products
        (sx, sxx), (sy, syy) = sums
        return _corr_from_sums(sw, sx, sy, sxx, syy, _rowdot(W * rows[0], rows[1]))


def _median(srt, cum, total):
    """Median of each resample (mean of the two middle values for an even count), (B,)."""
    k1 = np.floor((total + 1) / 2)
    k2 = np.floor(total / 2) + 1
    return 0.5 * (srt.order_stat(cum, k1) + srt.order_stat(cum, k2))


class Binary:
    """Metrics of one binary task (truth 0/1, prediction a score or probability).

    Parameters
    ----------
    y : numpy.ndarray, shape (n,)
        Observed classes, 0 or 1.
    p : numpy.ndarray, shape (n,)
        Predicted scores; probabilities in [0, 1] add ``brier``, ``ece`` and calibration bins.
    threshold : float
        A row is called positive when ``p >= threshold`` (F1, precision, recall).
    bins : int
        Equal-width probability bins for calibration.
    """

    def __init__(self, y, p, threshold=0.5, bins=10):
        self.y = np.asarray(y, dtype=np.float64)
        self.p = np.asarray(p, dtype=np.float64)
        self.n = len(self.y)
        self.threshold = float(threshold)
        self.probabilities = bool(np.all((self.p >= 0) & (self.p <= 1)))
        srt = _Sorted(self.p)
        self._order, self._starts = srt.order, srt.starts
        ys = self.y[self._order]
        self._pos_sorted, self._neg_sorted = ys, 1.0 - ys
        called = (self.p >= self.threshold).astype(np.float64)
        cols = [np.ones(self.n), self.y, self.y * called, (1 - self.y) * called, self.y * (1 - called),
                (self.p - self.y) ** 2]
        self.bins = int(bins)
        self.edges = np.linspace(0.0, 1.0, self.bins + 1)
        if self.probabilities:
            b = np.minimum((self.p * self.bins).astype(np.int64), self.bins - 1)
            onehot = np.zeros((self.n, self.bins))
            onehot[np.arange(self.n), b] = 1.0
            cols += list(onehot.T) + list((onehot * self.p[:, None]).T) + list((onehot * self.y[:, None]).T)
        self._lin = np.column_stack(cols)

    @property
    def names(self):
        return (BINARY_METRICS if self.probabilities else BINARY_METRICS[:5]) + ("prior",)

    def compute(self, W):
        """Every metric for each resample (see :meth:`Regression.compute`); calibration bins
        are returned as ``mean_pred:<k>``, ``frac_pos:<k>`` and ``n:<k>`` (k = 0..bins-1)."""
        counts, W = W, _float(W)
        s = W @ self._lin
        sw, npos, tp, fp, fn, sq = s[:, :6].T
        out = {}
        Ws = _float(np.take(counts, self._order, axis=1))
        pos = np.add.reduceat(Ws * self._pos_sorted, self._starts, axis=1)
        neg = np.add.reduceat(Ws * self._neg_sorted, self._starts, axis=1)
        P, N = pos.sum(1), neg.sum(1)
        neg_below = np.cumsum(neg, axis=1) - neg
        with np.errstate(divide="ignore", invalid="ignore"):
            out["auroc"] = np.where((P > 0) & (N > 0), (pos * (neg_below + 0.5 * neg)).sum(1) / (P * N), np.nan)
            pos_d, neg_d = pos[:, ::-1], neg[:, ::-1]  # thresholds from the highest score down
            tp_c, fp_c = np.cumsum(pos_d, axis=1), np.cumsum(neg_d, axis=1)
            prec = np.where(tp_c + fp_c > 0, tp_c / (tp_c + fp_c), 0.0)
            out["aupr"] = np.where(P > 0, (pos_d * prec).sum(1) / P, np.nan)
            out["f1"] = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
            out["precision"] = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
            out["recall"] = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
            out["prior"] = npos / sw   # fraction of positives: the AUPR of a random ranking
            if self.probabilities:
                out["brier"] = sq / sw
                k = self.bins
                cnt, sp, sy = s[:, 6:6 + k], s[:, 6 + k:6 + 2 * k], s[:, 6 + 2 * k:6 + 3 * k]
                mp = np.where(cnt > 0, sp / cnt, np.nan)
                fr = np.where(cnt > 0, sy / cnt, np.nan)
                out["ece"] = np.nansum(np.where(cnt > 0, cnt / sw[:, None] * np.abs(mp - fr), 0.0), axis=1)
                for j in range(k):
                    out[f"mean_pred:{j}"] = mp[:, j]
                    out[f"frac_pos:{j}"] = fr[:, j]
                    out[f"n:{j}"] = cnt[:, j]
        return out


class Fraction:
    """The weighted fraction of rows where an indicator holds (e.g. top cell agreement).

    Parameters
    ----------
    hit : numpy.ndarray of bool, shape (n,)
    name : str
        The metric's name.
    """

    def __init__(self, hit, name):
        self.hit = np.asarray(hit, dtype=np.float64)
        self.n = len(self.hit)
        self.name = name
        self.names = (name,)

    def compute(self, W):
        with np.errstate(divide="ignore", invalid="ignore"):
            W = _float(W)
            return {self.name: (W @ self.hit) / W.sum(axis=1)}
