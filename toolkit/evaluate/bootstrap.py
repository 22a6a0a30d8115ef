"""Bootstrap resampling, percentile intervals and the tests evalboot reports.

Resamples are represented by weights: ``W[b, i]`` is how many times resample
``b`` holds row ``i`` (see :mod:`toolkit.evaluate.metrics`). Rows are drawn with
replacement, or whole groups are (the cluster bootstrap, for rows that are not
independent: the two orientations of an element, alleles of one locus, tiles of
one region); then every row of a drawn group is counted once per draw.
"""

import math

import numpy as np

CHUNK_CELLS = 2_000_000  # resamples x rows held at once (16 MB per float64 array)


def resample_weights(n_rows, n_boot, seed, groups=None, chunk_cells=CHUNK_CELLS):
    """Bootstrap weights, in chunks of resamples.

    Parameters
    ----------
    n_rows : int
        Rows of the table.
    n_boot : int
        Resamples in all.
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same resamples.
    groups : numpy.ndarray of int, shape (n_rows,), optional
        Group code (0..G-1) of each row: groups are resampled instead of rows.
    chunk_cells : int
        Upper bound on ``chunk * n_rows`` for memory.

    Yields
    ------
    numpy.ndarray of uint8 (uint32 if a count exceeds 255), shape (chunk, n_rows)
        How often each resample holds each row; a resample's counts sum to ``n_rows``
        (row bootstrap) or to the rows of the drawn groups.
    """
    rng = np.random.default_rng(seed)
    units = n_rows if groups is None else int(groups.max()) + 1
    step = max(1, min(n_boot, chunk_cells // max(n_rows, 1)))
    done = 0
    while done < n_boot:
        b = min(step, n_boot - done)
        draws = rng.integers(0, units, size=(b, units))
        draws += (np.arange(b) * units)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * units).reshape(b, units)
        counts = counts.astype(np.uint8 if counts.max() <= 255 else np.uint32)  # small: gathered fast
        yield counts if groups is None else np.take(counts, groups, axis=1)
        done += b


def percentile_interval(values, level=0.95):
    """Percentile bootstrap interval of resampled values.

    Parameters
    ----------
    values : numpy.ndarray, shape (B,)
        The statistic in each resample; NaN (undefined in a resample, e.g. a
        correlation of a constant) is left out.
    level : float
        Coverage, e.g. 0.95.

    Returns
    -------
    (float, float)
        NaN, NaN when fewer than half the resamples give a value.
    """
    values = np.asarray(values, dtype=np.float64)
    ok = values[np.isfinite(values)]
    if len(ok) == 0 or len(ok) < 0.5 * len(values):
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.percentile(ok, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def paired_p_value(deltas):
    """Two-sided bootstrap p-value of a paired difference being 0.

    ``p = min(1, 2 min((#{delta <= 0} + 1) / (B + 1), (#{delta >= 0} + 1) / (B + 1)))``:
    the share of resamples on the other side of 0, doubled, never below
    ``2 / (B + 1)``. Identical predictors (every delta 0) give 1.

    Parameters
    ----------
    deltas : numpy.ndarray, shape (B,)
        Metric of one prediction minus the other's, on the same resamples.

    Returns
    -------
    float (NaN without finite resamples)
    """
    d = np.asarray(deltas, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return math.nan
    B = len(d)
    tol = 1e-12 * max(1.0, float(np.max(np.abs(d))))
    below = (np.count_nonzero(d <= tol) + 1) / (B + 1)
    above = (np.count_nonzero(d >= -tol) + 1) / (B + 1)
    return float(min(1.0, 2 * min(below, above)))


def compare_correlations(r1, r2, r12, n):
    """Test two correlations with a common variable (Meng, Rosenthal and Rubin 1992).

    Fisher's z of ``r1 = corr(truth, pred A)`` and ``r2 = corr(truth, pred B)``, with
    the correction for ``r12 = corr(pred A, pred B)`` that a paired comparison needs:
    ``z = (z1 - z2) sqrt((n - 3) / (2 (1 - r12) h))``, ``h = (1 - f rbar2) / (1 - rbar2)``,
    ``f = min(1, (1 - r12) / (2 (1 - rbar2)))``, ``rbar2 = (r1^2 + r2^2) / 2``.

    Parameters
    ----------
    r1, r2, r12 : float
    n : int
        Rows (assumed independent).

    Returns
    -------
    (float, float)
        z and its two-sided normal p-value; (0, 1) when ``r1 == r2``.
    """
    vals = (r1, r2, r12)
    if not all(math.isfinite(v) for v in vals) or n <= 3:
        return math.nan, math.nan
    if r1 == r2:
        return 0.0, 1.0
    if max(abs(r1), abs(r2)) >= 1 or r12 >= 1:
        return math.nan, math.nan
    z1, z2 = math.atanh(r1), math.atanh(r2)
    rbar2 = (r1 * r1 + r2 * r2) / 2
    f = min(1.0, (1 - r12) / (2 * (1 - rbar2)))
    h = (1 - f * rbar2) / (1 - rbar2)
    z = (z1 - z2) * math.sqrt((n - 3) / (2 * (1 - r12) * h))
    return z, math.erfc(abs(z) / math.sqrt(2))


def holm(p_values):
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1).

    Parameters
    ----------
    p_values : sequence of float
        NaN entries are left out of the family and stay NaN.

    Returns
    -------
    numpy.ndarray, shape (m,)
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out
