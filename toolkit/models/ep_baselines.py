"""Baselines every enhancer-promoter (EP) interaction score is shown next to.

Two simple models that need no sequence, and the keys they work on:

- :class:`DistanceBaseline`: P(interaction) from the enhancer-promoter distance alone,
  a logistic regression on ``log10(distance + 1)`` with an intercept. Contacts fall off
  with genomic distance, so this is the floor any EP model must clear.
- :class:`PropensityBaseline`: how often the enhancer and the promoter interact in the
  training pairs (some promoters are hubs). Per-enhancer and per-promoter positive rates,
  smoothed towards the training base rate by a Beta prior, combined on the log-odds
  scale. Regions never seen in training get the prior. It measures how much a score can
  get from remembering regions; on a test set of unseen chromosomes it has nothing to
  remember and returns the base rate everywhere.
- :func:`region_keys`: overlap-aware region keys. Exact coordinates are rarely shared
  across cell lines (each line called its own peaks), but nearby windows are: the key is
  the genomic bin holding the window's centre, so windows of two cell lines whose centres
  fall in one bin share a key.

Pure numpy/scipy: no files, no printing. Arrays are one value per pair, shape (n,).
"""

import numpy as np
from scipy.special import expit, logit

from ..errors import ConfigError, InputError

DEFAULT_BIN = 5000
"""Bin size (bp) of :func:`region_keys`: windows whose centres lie in one 5-kb bin share a key."""

DEFAULT_PRIOR_STRENGTH = 10.0
"""Pseudo-pairs of the Beta prior of :class:`PropensityBaseline` (its weight against a region's pairs)."""


def region_keys(chrom, start, end, bin=DEFAULT_BIN):
    """Overlap-aware keys of genomic regions: the bin of each region's centre.

    The centre is ``floor((start + end) / 2)`` (the centre of fit-ep's windows; BED-style 0-based
    start, end exclusive), and the key names the ``bin``-bp bin that holds it, as
    ``<chrom>:<bin start>-<bin end>`` with the chromosome normalised (``chr7`` and ``7``
    give ``7``). Two windows whose centres are ``d`` bp apart share a key when they fall
    in the same bin: always for ``d = 0``, never for ``d >= bin``, and with probability
    ``1 - d / bin`` for windows placed at random. With the default 5 kb, a 3-kb enhancer
    window of one cell line and an overlapping one of another (centres under 3 kb apart)
    share a key more often than not.

    Parameters
    ----------
    chrom : array-like of str, shape (n,)
    start, end : array-like of int, shape (n,)
    bin : int
        Bin size in bp (> 0).

    Returns
    -------
    numpy.ndarray of str (object), shape (n,)
    """
    if not isinstance(bin, (int, np.integer)) or bin <= 0:
        raise ConfigError(f"bin must be a positive integer number of bp, not {bin!r}")
    chrom = np.asarray(chrom, dtype=object)
    start = np.asarray(start)
    end = np.asarray(end)
    if not (len(chrom) == len(start) == len(end)):
        raise InputError(f"chrom, start and end differ in length ({len(chrom)}, {len(start)}, {len(end)})")
    start = _integers(start, "start")
    end = _integers(end, "end")
    if (end < start).any():
        i = int(np.flatnonzero(end < start)[0])
        raise InputError(f"region {i} ends before it starts ({start[i]}, {end[i]})")
    b = (start + end) // 2 // bin * bin
    return np.array([f"{_norm_chrom(c)}:{lo}-{lo + bin}" for c, lo in zip(chrom, b)], dtype=object)


def _norm_chrom(name):
    s = str(name).strip()
    return s[3:] if s[:3].lower() == "chr" else s


def _integers(values, what):
    v = np.asarray(values)
    if v.dtype.kind in "iu":
        return v.astype(np.int64)
    try:
        f = v.astype(np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} coordinates must be integers") from None
    if not np.isfinite(f).all() or (f != np.round(f)).any():
        raise InputError(f"{what} coordinates must be finite integers")
    return f.astype(np.int64)


def _labels(y, n):
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise InputError(f"y must have one label per pair ({n}), not shape {y.shape}")
    yf = y.astype(np.float64)
    if not np.isin(yf, (0.0, 1.0)).all():
        raise InputError("labels must be 0 or 1")
    if n == 0 or yf.min() == yf.max():
        raise InputError("training pairs need both classes (0 and 1)",
                         hint="check the split: the training set has no positives or no negatives")
    return yf


class DistanceBaseline:
    """Logistic regression of the interaction label on ``x = log10(distance + 1)``.

    ``P(y = 1 | d) = expit(intercept_ + coef_ * x)``, fitted by Newton's method (IRLS)
    with step halving, on ``x`` standardised with the training mean and SD; the
    coefficients are reported on the ``log10`` scale. A tiny L2 penalty
    ``l2 / 2 * slope**2`` (on the standardised slope, added to the mean log-loss)
    keeps the slope finite when distance separates the classes perfectly; on
    ordinary data its effect is far below rounding of any metric.

    Parameters
    ----------
    l2 : float
        The penalty (>= 0; default 1e-6).
    max_iter : int
        Newton iterations at most.
    tol : float
        Convergence: the largest Newton step below ``tol``.

    Attributes (after :meth:`fit`)
    ----------
    intercept_, coef_ : float
        On the scale of ``log10(distance + 1)``.
    n_iter_ : int
    base_rate_ : float
        Fraction of positives in training.
    """

    def __init__(self, l2=1e-6, max_iter=100, tol=1e-10):
        if not l2 >= 0:
            raise ConfigError(f"l2 must be >= 0, not {l2!r}")
        self.l2 = float(l2)
        self.max_iter = int(max_iter)
        self.tol = float(tol)

    @staticmethod
    def _x(distance):
        d = np.asarray(distance, dtype=np.float64)
        if d.ndim != 1:
            raise InputError(f"distance must be one value per pair, not shape {d.shape}")
        if not np.isfinite(d).all() or (d < 0).any():
            raise InputError("distances must be finite and >= 0")
        return np.log10(d + 1.0)

    def fit(self, distance, y):
        """Fit on training pairs.

        Parameters
        ----------
        distance : array-like of float, shape (n,), bp (>= 0)
        y : array-like of 0/1, shape (n,), both classes present

        Returns
        -------
        self
        """
        x = self._x(distance)
        y = _labels(y, len(x))
        self.base_rate_ = float(y.mean())
        mu, sd = float(x.mean()), float(x.std())
        if not sd > 0:  # one distance: the base rate, no slope
            self.intercept_, self.coef_, self.n_iter_ = float(logit(self.base_rate_)), 0.0, 0
            return self
        X = np.column_stack([np.ones_like(x), (x - mu) / sd])
        n = len(x)
        pen = np.array([0.0, self.l2])
        w = np.array([logit(self.base_rate_), 0.0])

        def objective(w):
            z = X @ w
            # mean log-loss, computed stably: log(1 + e^z) - y z
            return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * (pen * w * w).sum())

        f = objective(w)
        it = 0
        for it in range(1, self.max_iter + 1):
            p = expit(X @ w)
            grad = X.T @ (p - y) / n + pen * w
            h = p * (1.0 - p)
            H = (X * h[:, None]).T @ X / n + np.diag(pen) + 1e-12 * np.eye(2)
            step = np.linalg.solve(H, grad)
            t = 1.0
            while True:
                f_new = objective(w - t * step)
                if f_new <= f + 1e-12 * abs(f) or t < 1e-10:
                    break
                t *= 0.5
            w = w - t * step
            f = f_new
            if np.max(np.abs(t * step)) < self.tol:
                break
        self.n_iter_ = it
        self.coef_ = float(w[1] / sd)
        self.intercept_ = float(w[0] - w[1] * mu / sd)
        return self

    def predict_proba(self, distance):
        """P(y = 1) for each pair.

        Parameters
        ----------
        distance : array-like of float, shape (n,)

        Returns
        -------
        numpy.ndarray of float64, shape (n,)
        """
        if not hasattr(self, "coef_"):
            raise ConfigError("DistanceBaseline is not fitted", hint="call fit(distance, y) first")
        return expit(self.intercept_ + self.coef_ * self._x(distance))


class PropensityBaseline:
    """How often the enhancer and the promoter of a pair interact in training.

    With ``pi`` the training base rate and ``a = prior_strength``, a region seen in
    ``n`` training pairs, ``k`` of them positive, has the smoothed rate (the posterior
    mean under a ``Beta(a * pi, a * (1 - pi))`` prior)::

        r = (k + a * pi) / (n + a)

    computed separately for enhancer keys and promoter keys. A region never seen in
    training has ``r = pi``. The two rates are combined as independent evidence on the
    log-odds scale (naive Bayes relative to the base rate)::

        logit P = logit(r_enhancer) + logit(r_promoter) - logit(pi)       (combine="logit")

    so an unseen enhancer leaves the promoter's rate unchanged and an unseen pair gets
    ``pi``. ``combine="mean"`` averages the two rates instead.

    Keys are any strings: exact region keys or names (which match only where the same
    element recurs), or :func:`region_keys` bins (which also match overlapping windows of
    another cell line).

    Parameters
    ----------
    prior_strength : float
        ``a`` > 0, in pseudo-pairs (default 10).
    combine : ``logit`` or ``mean``

    Attributes (after :meth:`fit`)
    ----------
    base_rate_ : float
    enhancer_rates_, promoter_rates_ : dict str -> float, the smoothed rates of the
        training regions
    """

    def __init__(self, prior_strength=DEFAULT_PRIOR_STRENGTH, combine="logit"):
        if not prior_strength > 0:
            raise ConfigError(f"prior_strength must be > 0, not {prior_strength!r}")
        if combine not in ("logit", "mean"):
            raise ConfigError(f"unknown combine '{combine}'", hint="use logit or mean")
        self.prior_strength = float(prior_strength)
        self.combine = combine

    @staticmethod
    def _keys(keys, what, n=None):
        k = np.asarray(keys, dtype=object)
        if k.ndim != 1 or (n is not None and len(k) != n):
            raise InputError(f"{what} keys must be one per pair" + (f" ({n})" if n is not None else ""))
        return k.astype(str)

    def _rates(self, keys, y):
        uniq, inv = np.unique(keys, return_inverse=True)
        n = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
        k = np.bincount(inv, weights=y, minlength=len(uniq))
        a, pi = self.prior_strength, self.base_rate_
        return uniq, (k + a * pi) / (n + a)

    def fit(self, enhancer_keys, promoter_keys, y):
        """Fit on training pairs.

        Parameters
        ----------
        enhancer_keys, promoter_keys : array-like of str, shape (n,)
        y : array-like of 0/1, shape (n,), both classes present

        Returns
        -------
        self
        """
        e = self._keys(enhancer_keys, "enhancer")
        p = self._keys(promoter_keys, "promoter", len(e))
        y = _labels(y, len(e))
        self.base_rate_ = float(y.mean())
        self._e_keys, self._e_rates = self._rates(e, y)
        self._p_keys, self._p_rates = self._rates(p, y)
        return self

    @property
    def enhancer_rates_(self):
        return dict(zip(self._e_keys.tolist(), self._e_rates.tolist()))

    @property
    def promoter_rates_(self):
        return dict(zip(self._p_keys.tolist(), self._p_rates.tolist()))

    def _lookup(self, keys, known, rates):
        """Rate of each key; the base rate for keys not seen in training."""
        out = np.full(len(keys), self.base_rate_)
        if len(known):
            pos = np.searchsorted(known, keys).clip(0, len(known) - 1)
            hit = known[pos] == keys
            out[hit] = rates[pos[hit]]
        return out

    def predict_proba(self, enhancer_keys, promoter_keys):
        """P(y = 1) for each pair.

        Parameters
        ----------
        enhancer_keys, promoter_keys : array-like of str, shape (n,)

        Returns
        -------
        numpy.ndarray of float64, shape (n,)
        """
        if not hasattr(self, "base_rate_"):
            raise ConfigError("PropensityBaseline is not fitted", hint="call fit(enhancer_keys, promoter_keys, y) first")
        e = self._keys(enhancer_keys, "enhancer")
        p = self._keys(promoter_keys, "promoter", len(e))
        re = self._lookup(e, self._e_keys, self._e_rates)
        rp = self._lookup(p, self._p_keys, self._p_rates)
        if self.combine == "mean":
            return (re + rp) / 2.0
        return expit(logit(re) + logit(rp) - logit(self.base_rate_))
