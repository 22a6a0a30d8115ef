"""Ridge regression of many targets on one feature matrix, with each target's penalty
chosen by K-fold cross-validation, from sufficient statistics.

The rows are read once, block by block, into per-fold sums (Gram matrix XᵀX, XᵀY,
column sums of X and Y, ΣY², row counts): nothing of size rows × targets is held and
the cost does not grow with the number of penalties beyond F²·T per penalty and fold.
For fold f and penalty α the model fitted on the other folds (features centred on
those rows, intercept = their mean target) predicts fold f; the out-of-fold
predictions' Pearson r with the targets, over all rows, is assembled from the same
sums (Σŷ, Σŷ², Σŷy per fold), so it equals the r of explicitly computed out-of-fold
predictions. Each target takes the penalty of best out-of-fold r and is refitted on
every row.

Features are standardised (mean 0, SD 1 over all rows; constant columns get SD 1)
before the penalty applies, so the penalty treats features alike.

The matrix products and the eigendecomposition run in torch (float64), whose CPU thread
count the commands set (-j): numpy's BLAS picks its own thread count, and a product split
over another number of threads rounds differently, so a run resumed in another process
would not refit the same prior bit for bit.
"""

import numpy as np
import torch


def _mm(a, b):
    """a @ b in float64 through torch (numpy arrays in and out)."""
    return (torch.as_tensor(np.ascontiguousarray(a, dtype=np.float64))
            @ torch.as_tensor(np.ascontiguousarray(b, dtype=np.float64))).numpy()

ALPHAS = tuple(10.0 ** np.arange(-3, 5.5, 0.5))
"""The penalty grid (on standardised features)."""


class FoldSums:
    """Per-fold sufficient statistics of (X, Y), accumulated block by block.

    Parameters
    ----------
    n_features, n_targets : int
    folds : int
        Number of folds (rows are dealt to folds by the caller, :meth:`add`).
    """

    def __init__(self, n_features, n_targets, folds):
        F, T = n_features, n_targets
        self.folds = folds
        self.n = np.zeros(folds)
        self.sx = np.zeros((folds, F))
        self.sy = np.zeros((folds, T))
        self.syy = np.zeros((folds, T))
        self.xx = np.zeros((folds, F, F))
        self.xy = np.zeros((folds, F, T))

    def add(self, X, Y, fold):
        """X (m, F), Y (m, T) finite, fold (m,) ints in [0, folds)."""
        X = np.asarray(X, dtype=np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        for f in np.unique(fold):
            sel = fold == f
            x, y = X[sel], Y[sel]
            self.n[f] += len(x)
            self.sx[f] += x.sum(axis=0)
            self.sy[f] += y.sum(axis=0)
            self.syy[f] += (y * y).sum(axis=0)
            self.xx[f] += _mm(x.T, x)
            self.xy[f] += _mm(x.T, y)


def _solve(xx, xy, sx, sy, n, mu, sd, alphas):
    """Ridge fits on the rows summarised by (xx, xy, sx, sy, n), features standardised by
    (mu, sd), centred on these rows. Returns per alpha (coef (F, T) on standardised
    features, intercept (T,)) as a list."""
    m = sx / n
    G = (xx - n * np.outer(m, m)) / np.outer(sd, sd)            # centred, standardised Gram
    C = (xy - np.outer(m, sy)) / sd[:, None]                     # centred cross products
    const = np.diag(G) <= 1e-9 * max(float(np.diag(G).max()), 1.0)   # no variation on these rows
    G[const, :] = 0.0
    G[:, const] = 0.0
    C[const] = 0.0
    ev, V = torch.linalg.eigh(torch.as_tensor(np.ascontiguousarray(G)))
    ev, V = np.clip(ev.numpy(), 0.0, None), V.numpy()
    VtC = _mm(V.T, C)
    out = []
    zm = (m - mu) / sd                                           # these rows' mean standardised feature
    for a in alphas:
        coef = _mm(V, VtC / (ev + a)[:, None])
        out.append((coef, sy / n - _mm(zm[None, :], coef)[0]))
    return out


def _fold_scores(sums, f, fits, mu, sd):
    """Σŷ, Σŷ², Σŷy over fold f's rows, per fit (list of (coef, intercept)) and target: (3, A, T)."""
    nf = sums.n[f]
    zs = (sums.sx[f] - nf * mu) / sd                                               # Σ z
    zz = (sums.xx[f] - np.outer(sums.sx[f], mu) - np.outer(mu, sums.sx[f]) + nf * np.outer(mu, mu)) \
        / np.outer(sd, sd)                                                         # Σ z zᵀ
    zy = (sums.xy[f] - np.outer(mu, sums.sy[f])) / sd[:, None]                     # Σ z y
    out = np.zeros((3, len(fits), sums.sy.shape[1]))
    for a, (coef, b) in enumerate(fits):                                           # ŷ = z coef + b
        zc = _mm(zs[None, :], coef)[0]
        out[0, a] = zc + nf * b
        out[1, a] = (_mm(zz, coef) * coef).sum(0) + 2 * b * zc + nf * b * b    # diag(coefᵀ zz coef)
        out[2, a] = (coef * zy).sum(0) + b * sums.sy[f]
    return out


def _pearson(p1, p2, py, n, sy, syy):
    cov = py - p1 * sy / n
    vp = p2 - p1 * p1 / n
    vy = syy - sy * sy / n
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(np.clip(vp, 0, None) * np.clip(vy, 0, None))
    return np.where(np.isfinite(r), r, -np.inf)


def _scalers(sums):
    n = sums.n.sum()
    sx, xx = sums.sx.sum(0), sums.xx.sum(0)
    mu = sx / n
    var = np.diag(xx) / n - mu * mu
    sd = np.sqrt(np.clip(var, 0.0, None))
    sd[~(sd > 1e-12 * np.maximum(1.0, np.abs(mu)))] = 1.0
    return mu, sd


def ridge_holdout(sums, holdout, alphas=ALPHAS):
    """Fit on every fold but ``holdout`` and choose each target's penalty by the Pearson r
    of its predictions on the ``holdout`` fold (e.g. fold 0 = train rows, fold 1 = val rows).

    Returns
    -------
    dict: ``mean``, ``sd`` (F,) feature scalers (of the fitted rows); ``coef`` (F, T),
    ``intercept`` (T,) the fit; ``alpha`` (T,); ``r`` (T,) the holdout Pearson r per target;
    ``flat_r`` the Pearson r of all holdout predictions against all holdout targets,
    flattened over rows and targets.
    """
    h = holdout
    fit_n = sums.n.sum() - sums.n[h]
    sx = sums.sx.sum(0) - sums.sx[h]
    xx = sums.xx.sum(0) - sums.xx[h]
    mu = sx / fit_n
    sd = np.sqrt(np.clip(np.diag(xx) / fit_n - mu * mu, 0.0, None))
    sd[~(sd > 1e-12 * np.maximum(1.0, np.abs(mu)))] = 1.0
    fits = _solve(xx, sums.xy.sum(0) - sums.xy[h], sx, sums.sy.sum(0) - sums.sy[h], fit_n, mu, sd, alphas)
    p1, p2, py = _fold_scores(sums, h, fits, mu, sd)
    n, sy, syy = sums.n[h], sums.sy[h], sums.syy[h]
    r = _pearson(p1, p2, py, n, sy, syy)
    best = np.argmax(r, axis=0)
    T = len(best)
    cols = np.arange(T)
    coef = np.column_stack([fits[best[t]][0][:, t] for t in cols]) if T else np.zeros((len(mu), 0))
    intercept = np.array([fits[best[t]][1][t] for t in cols])
    flat = _pearson(p1[best, cols].sum(), p2[best, cols].sum(), py[best, cols].sum(), n * T, sy.sum(), syy.sum())
    rb = r[best, cols]
    return {"mean": mu, "sd": sd, "coef": coef, "intercept": intercept, "alpha": np.asarray(alphas)[best],
            "r": np.where(np.isfinite(rb), rb, np.nan), "flat_r": float(flat) if np.isfinite(flat) else float("nan")}


def ridge_cv(sums, alphas=ALPHAS):
    """Choose each target's penalty by cross-validation and refit on all rows.

    Parameters
    ----------
    sums : FoldSums
    alphas : sequence of float

    Returns
    -------
    dict: ``mean``, ``sd`` (F,) the feature scalers; ``coef`` (F, T) on standardised
    features and ``intercept`` (T,) of the refit on all rows; ``alpha`` (T,) the chosen
    penalties and ``cv_r`` (T,) their out-of-fold Pearson r.
    """
    n = sums.n.sum()
    sx, xx = sums.sx.sum(0), sums.xx.sum(0)
    sy, xy, syy = sums.sy.sum(0), sums.xy.sum(0), sums.syy.sum(0)
    mu, sd = _scalers(sums)
    A, T = len(alphas), sy.shape[0]
    score = np.zeros((3, A, T))
    for f in range(sums.folds):
        if sums.n[f] == 0 or sums.n[f] == n:
            continue
        fits = _solve(xx - sums.xx[f], xy - sums.xy[f], sx - sums.sx[f], sy - sums.sy[f], n - sums.n[f], mu, sd,
                      alphas)
        score += _fold_scores(sums, f, fits, mu, sd)
    r = _pearson(score[0], score[1], score[2], n, sy, syy)
    best = np.argmax(r, axis=0)
    full = _solve(xx, xy, sx, sy, n, mu, sd, alphas)
    coef = np.zeros((len(mu), T))
    intercept = np.zeros(T)
    for a in np.unique(best):
        cols = best == a
        coef[:, cols] = full[a][0][:, cols]
        intercept[cols] = full[a][1][cols]
    cv_r = r[best, np.arange(T)]
    return {"mean": mu, "sd": sd, "coef": coef, "intercept": intercept, "alpha": np.asarray(alphas)[best],
            "cv_r": np.where(np.isfinite(cv_r), cv_r, np.nan)}
