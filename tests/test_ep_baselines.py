"""The enhancer-promoter baselines: known answers for the distance logistic regression
(saturated and separable cases, an independent optimiser), hand-worked smoothed
propensities, the prior for unseen regions, and overlap-aware region keys."""

from fractions import Fraction

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit

from toolkit.errors import ConfigError, InputError
from toolkit.models.ep_baselines import DistanceBaseline, PropensityBaseline, region_keys


# ----------------------------------------------------------------------------- DistanceBaseline

def test_distance_two_distances_give_their_observed_rates():
    """Two distinct distances: the logistic fit is saturated, so it reproduces each rate."""
    d = np.r_[np.full(20, 1e4), np.full(50, 1e6)]
    y = np.r_[np.ones(12), np.zeros(8), np.ones(10), np.zeros(40)]      # 0.6 near, 0.2 far
    m = DistanceBaseline().fit(d, y)
    p = m.predict_proba([1e4, 1e6])
    assert p == pytest.approx([0.6, 0.2], abs=1e-5)
    slope = (np.log(0.2 / 0.8) - np.log(0.6 / 0.4)) / (np.log10(1e6 + 1) - np.log10(1e4 + 1))
    assert m.coef_ == pytest.approx(slope, rel=1e-4)
    assert m.base_rate_ == pytest.approx(22 / 70)


def test_distance_separable_case_stays_finite_and_separates():
    d = np.r_[np.geomspace(1e3, 1e4, 30), np.geomspace(1e5, 1e6, 70)]
    y = np.r_[np.ones(30), np.zeros(70)]
    m = DistanceBaseline().fit(d, y)
    assert np.isfinite(m.coef_) and m.coef_ < 0 and np.isfinite(m.intercept_)
    p = m.predict_proba(d)
    assert (p[:30] > 0.99).all() and (p[30:] < 0.01).all()
    # a stronger penalty gives a flatter, still separating, fit
    m2 = DistanceBaseline(l2=1e-2).fit(d, y)
    assert m.coef_ < m2.coef_ < 0
    assert (m2.predict_proba(d[:30]) > 0.5).all() and (m2.predict_proba(d[30:]) < 0.5).all()


def test_distance_matches_an_independent_optimiser():
    rng = np.random.default_rng(3)
    d = 10 ** rng.uniform(4, 6.3, 2000)
    y = (rng.random(2000) < expit(4.0 - 1.2 * np.log10(d + 1))).astype(int)
    m = DistanceBaseline(l2=0).fit(d, y)
    x = np.log10(d + 1)

    def nll(w):
        z = w[0] + w[1] * x
        return np.sum(np.logaddexp(0, z) - y * z)

    ref = minimize(nll, [0.0, 0.0], method="BFGS", options={"gtol": 1e-9}).x
    assert m.intercept_ == pytest.approx(ref[0], abs=1e-4) and m.coef_ == pytest.approx(ref[1], abs=1e-4)
    assert m.coef_ == pytest.approx(-1.2, abs=0.3)                       # near the planted slope
    # row order does not matter; predictions fall with distance
    perm = rng.permutation(2000)
    m2 = DistanceBaseline(l2=0).fit(d[perm], y[perm])
    assert m2.coef_ == pytest.approx(m.coef_, rel=1e-8)
    assert np.all(np.diff(m.predict_proba(np.geomspace(1e3, 1e7, 50))) < 0)


def test_distance_refuses_bad_input():
    with pytest.raises(InputError, match="both classes"):
        DistanceBaseline().fit([1e4, 2e4], [0, 0])
    with pytest.raises(InputError, match=">= 0"):
        DistanceBaseline().fit([-5, 2e4], [0, 1])
    with pytest.raises(InputError, match="0 or 1"):
        DistanceBaseline().fit([1e4, 2e4], [0, 2])
    with pytest.raises(ConfigError, match="not fitted"):
        DistanceBaseline().predict_proba([1e4])
    # one distance only: the base rate
    assert DistanceBaseline().fit([5e4] * 4, [1, 0, 0, 0]).predict_proba([1e3, 1e6]) == pytest.approx([0.25, 0.25])


# ----------------------------------------------------------------------------- PropensityBaseline

# hand-worked: base rate 3/8; prior strength 2, so 0.75 pseudo-positives in 2 pseudo-pairs
ENH = ["e1", "e1", "e1", "e2", "e2", "e3", "e3", "e3"]
PRO = ["p1", "p1", "p2", "p2", "p2", "p3", "p3", "p2"]
Y = [1, 1, 0, 1, 0, 0, 0, 0]


def _p(odds):
    return float(odds / (1 + odds))


def test_propensity_smoothed_rates_by_hand():
    m = PropensityBaseline(prior_strength=2).fit(ENH, PRO, Y)
    assert m.base_rate_ == 3 / 8
    # (k + 2 * 3/8) / (n + 2)
    assert m.enhancer_rates_ == pytest.approx({"e1": 11 / 20, "e2": 7 / 16, "e3": 3 / 20})
    assert m.promoter_rates_ == pytest.approx({"p1": 11 / 16, "p2": 7 / 24, "p3": 3 / 16})
    # log-odds combination relative to the base rate: odds = odds_e * odds_p / odds_pi
    odds_pi = Fraction(3, 5)
    e1p1 = Fraction(11, 9) * Fraction(11, 5) / odds_pi                 # = 121/27
    e3p2 = Fraction(3, 17) * Fraction(7, 17) / odds_pi                 # = 35/289
    got = m.predict_proba(["e1", "e3", "e2", "zz", "e1"], ["p1", "p2", "nope", "nope", "p3"])
    want = [_p(e1p1), _p(e3p2), 7 / 16, 3 / 8, _p(Fraction(11, 9) * Fraction(3, 13) / odds_pi)]
    assert got == pytest.approx(want, rel=1e-12)
    assert got[0] == pytest.approx(121 / 148, rel=1e-12) and got[1] == pytest.approx(35 / 324, rel=1e-12)


def test_propensity_mean_combination_and_unseen_prior():
    m = PropensityBaseline(prior_strength=2, combine="mean").fit(ENH, PRO, Y)
    assert m.predict_proba(["e1", "new"], ["p1", "new"]) == pytest.approx([99 / 160, 3 / 8], rel=1e-12)
    # every key unseen: the training base rate, whatever the prior strength
    for a in (0.5, 10, 1e4):
        m = PropensityBaseline(prior_strength=a).fit(ENH, PRO, Y)
        assert m.predict_proba(["x", "y", "z"], ["u", "v", "w"]) == pytest.approx([3 / 8] * 3)
    # a very strong prior pulls every seen region to the base rate too
    assert PropensityBaseline(prior_strength=1e9).fit(ENH, PRO, Y).predict_proba(["e1"], ["p1"]) == \
        pytest.approx([3 / 8], rel=1e-6)


def test_propensity_refuses_bad_input():
    with pytest.raises(ConfigError):
        PropensityBaseline(prior_strength=0)
    with pytest.raises(ConfigError):
        PropensityBaseline(combine="max")
    with pytest.raises(InputError, match="one per pair"):
        PropensityBaseline().fit(ENH, PRO[:-1], Y)
    with pytest.raises(InputError, match="both classes"):
        PropensityBaseline().fit(ENH, PRO, [0] * 8)
    with pytest.raises(ConfigError, match="not fitted"):
        PropensityBaseline().predict_proba(["e1"], ["p1"])


# ----------------------------------------------------------------------------- region keys

def test_region_keys_bin_the_window_centre():
    keys = region_keys(["chr1", "1", "chr1", "chrX"], [100, 4000, 5200, 9999], [200, 7000, 6000, 10001])
    # centres 150, 5500, 5600, 10000
    assert keys.tolist() == ["1:0-5000", "1:5000-10000", "1:5000-10000", "X:10000-15000"]
    assert region_keys(["chr1"], [4000], [7000], bin=1000).tolist() == ["1:5000-6000"]
    with pytest.raises(ConfigError):
        region_keys(["chr1"], [1], [2], bin=0)
    with pytest.raises(InputError, match="ends before"):
        region_keys(["chr1"], [500], [100])


def test_overlapping_windows_of_another_cell_line_share_propensity_through_bins():
    """Training pairs from one cell line; a test pair of another line at shifted, overlapping
    coordinates: exact keys give the prior, 5-kb bins carry the training rate over."""
    # cell A: the enhancer at chr2:10,000-11,500 interacts with the promoter at chr2:60,000-62,000
    e_start = np.array([10000, 10000, 30000, 30000, 80000, 80000])
    p_start = np.array([60000, 60000, 90000, 95000, 120000, 125000])
    y = np.array([1, 1, 0, 0, 0, 0])
    chrom = ["chr2"] * 6
    # cell B: the same elements called slightly differently (overlapping windows)
    te, tp = np.array([10400]), np.array([60300])
    exact = PropensityBaseline(prior_strength=1).fit(
        [f"2:{s}-{s + 1500}" for s in e_start], [f"2:{s}-{s + 2000}" for s in p_start], y)
    assert exact.predict_proba([f"2:{te[0]}-{te[0] + 1500}"], [f"2:{tp[0]}-{tp[0] + 2000}"]) == \
        pytest.approx([1 / 3])
    binned = PropensityBaseline(prior_strength=1).fit(
        region_keys(chrom, e_start, e_start + 1500), region_keys(chrom, p_start, p_start + 2000), y)
    p = binned.predict_proba(region_keys(["chr2"], te, te + 1500), region_keys(["chr2"], tp, tp + 2000))
    # enhancer and promoter rates (2 + 1/3) / 3 = 7/9 each; odds 7/2 * 7/2 / (1/2) = 24.5
    assert p == pytest.approx([24.5 / 25.5], rel=1e-12)
