"""stiff family: hand-worked energies, explicit per-sequence reference, the z-score reference,
strand symmetry, batch independence and N handling."""

import itertools
import math
import random

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, REPO, read_tsv
from toolkit.features import stiff
from toolkit.features.params import default_params
from toolkit.seq import reverse_complement

PARAMS = default_params()
NAMES = [d.name for d in stiff.descriptors(PARAMS)]
COL = {n: i for i, n in enumerate(NAMES)}
PAR = ("tilt", "roll", "twist", "shift", "slide", "rise")
STEPS = [a + b for a in "ACGT" for b in "ACGT"]
B_DNA = np.array([0, 0, 36, 0, 0, 3.4])

_EQ = pd.read_csv(REPO / "share" / "params" / "lankas2003_md_equilibrium.tsv", sep="\t").set_index("step")
_K = pd.read_csv(REPO / "share" / "params" / "lankas2003_md_stiffness_long.tsv", sep="\t")


def _theta(step):
    r = _EQ.loc[step]
    return np.array([r.tilt_deg, r.roll_deg, r.twist_deg, r.shift_A, r.slide_A, r.rise_A])


def _kmat(step):
    d = _K[_K.step == step]
    M = np.zeros((6, 6))
    for p1, p2, v in zip(d.p1, d.p2, d.K_kT_deg_A):
        M[PAR.index(p1), PAR.index(p2)] = v
    return M


def _energy(step):
    """1/2 dtheta^T K dtheta straight from the two tables (no strand averaging)."""
    d = _theta(step) - B_DNA
    return 0.5 * d @ _kmat(step) @ d


E16 = np.array([_energy(s) for s in STEPS])


def values(seq):
    return dict(zip(NAMES, stiff.compute([seq], PARAMS)[0]))


@pytest.fixture(scope="module")
def real_seqs():
    return read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].str.upper().tolist()[:150]


# ---------------------------------------------------------------- names and tables

def test_names_are_the_documents_62():
    listed = [f"stiff_{s}_relative_energy" for s in ("total", "mean", "var", "max", "min")]
    for mode in ("twist", "tilt", "roll"):
        listed += [f"stiff_{mode}_{s}_energy" for s in ("total", "mean", "var", "max", "min")]
    listed += [f"stiff_pca_{what}_{k}" for what in ("component", "explained_var", "cumulative_var")
               for k in (1, 2, 3)]
    listed += ["stiff_total_deformation_zscore", "stiff_mean_deformation_zscore", "stiff_max_deformation_zscore",
               "stiff_high_energy_regions_count", "stiff_high_energy_fraction",
               "stiff_energy_distribution_entropy", "stiff_energy_gc_correlation", "stiff_energy_at_correlation"]
    listed += [f"stiff_energy_autocorr_lag{k}" for k in (1, 2, 3, 5, 10)]
    listed += ["stiff_energy_gradient_mean", "stiff_energy_gradient_max", "stiff_energy_gradient_std",
               "stiff_smoothness_score", "stiff_periodicity_score_3", "stiff_periodicity_score_10"]
    assert len(listed) == 48                          # what section 5.2.1 lists ...
    assert set(stiff.RETIRED) <= set(listed)          # ... less the copies of other columns (4)
    written = [n for n in listed if n not in stiff.RETIRED]
    assert NAMES[:44] == written
    assert len(NAMES) == len(set(NAMES)) == 58        # the count it gives, 62, less those 4
    extra = [f"stiff_{m}_{s}_energy" for m in ("shift", "slide", "rise")
             for s in ("total", "mean", "var", "max", "min")]
    extra.remove("stiff_shift_min_energy")
    assert NAMES[44:] == extra
    for d in stiff.descriptors(PARAMS):
        assert d.family == "stiff" and d.name.startswith("stiff_") and d.unit and d.formula and d.source


def test_step_energies_come_from_the_tables_and_are_strand_symmetric():
    tab = stiff.stiff_tables(PARAMS)
    rc = [STEPS.index(s.translate(str.maketrans("ACGT", "TGCA"))[::-1]) for s in STEPS]
    assert np.array_equal(tab["E"], tab["E"][rc])                  # exactly equal for complements
    assert np.allclose(tab["E"], E16, rtol=1e-9)                   # averaging only removes rounding
    assert (tab["E"] > 0).all()
    # AA by hand: dtheta = (-1.1, 0.7, -0.8995, 0.08, -0.15, -0.15)
    m = {k: v[0] for k, v in tab["mode"].items()}
    assert m["twist"] == pytest.approx(0.5 * 0.0774697 * 0.8995 ** 2, rel=1e-5)   # 0.031340
    assert m["tilt"] == pytest.approx(0.5 * 0.0632792 * 1.1 ** 2, rel=1e-5)       # 0.038284
    assert m["roll"] == pytest.approx(0.5 * 0.0386817 * 0.7 ** 2, rel=1e-5)       # 0.009477
    assert m["slide"] == pytest.approx(0.5 * 4.893568 * 0.15 ** 2, rel=1e-6)      # 0.055053
    assert m["rise"] == pytest.approx(0.5 * 12.78417 * 0.15 ** 2, rel=1e-6)       # 0.143822
    assert tab["E"][0] == pytest.approx(0.197836, abs=1e-6)                      # with the couplings
    assert tab["mode"]["shift"][STEPS.index("AT")] == 0.0                          # AT: shift 0


# ---------------------------------------------------------------- hand-worked sequences

def test_poly_a_hand_worked():
    e = E16[0]                                              # 0.197836 kT, every step AA
    mu, sd = E16.mean(), E16.std()                          # uniform over the 16 steps
    v = values("AAAAA")                                     # 4 steps
    assert v["stiff_total_relative_energy"] == pytest.approx(4 * e)
    assert v["stiff_mean_relative_energy"] == pytest.approx(e)
    assert v["stiff_var_relative_energy"] == 0.0
    assert v["stiff_max_relative_energy"] == v["stiff_min_relative_energy"] == pytest.approx(e)
    assert v["stiff_twist_total_energy"] == pytest.approx(4 * 0.5 * 0.0774697 * 0.8995 ** 2, rel=1e-5)
    assert v["stiff_high_energy_fraction"] == 0.0 and v["stiff_high_energy_regions_count"] == 0.0
    assert v["stiff_energy_distribution_entropy"] == pytest.approx(2.0)   # 4 equal shares: log2 4
    assert v["stiff_energy_gradient_mean"] == v["stiff_energy_gradient_max"] == 0.0
    assert v["stiff_energy_gradient_std"] == 0.0
    for k in (1, 2, 3):                                     # a constant profile has no spread
        assert v[f"stiff_pca_component_{k}"] == 0.0
        assert np.isnan(v[f"stiff_pca_explained_var_{k}"])
        assert k == 1 or np.isnan(v[f"stiff_pca_cumulative_var_{k}"])
    undefined = ["stiff_energy_gc_correlation", "stiff_smoothness_score",
                 "stiff_periodicity_score_3", "stiff_periodicity_score_10"]
    undefined += [f"stiff_energy_autocorr_lag{k}" for k in (1, 2, 3, 5, 10)]
    assert all(np.isnan(v[n]) for n in undefined)


def test_two_steps_hand_worked():
    ea, et = E16[STEPS.index("AA")], E16[STEPS.index("AT")]  # 0.197836 and 2.167240 kT
    v = values("AAT")                                        # steps AA, AT
    assert v["stiff_mean_relative_energy"] == pytest.approx((ea + et) / 2)
    assert v["stiff_var_relative_energy"] == pytest.approx(((et - ea) / 2) ** 2)
    assert v["stiff_high_energy_fraction"] == 0.5            # AT > 1 kT, AA not
    assert v["stiff_high_energy_regions_count"] == 1.0
    p = ea / (ea + et)                                       # share of the total
    assert v["stiff_energy_distribution_entropy"] == pytest.approx(-p * math.log2(p) - (1 - p) * math.log2(1 - p))
    assert v["stiff_energy_gradient_mean"] == pytest.approx(et - ea)
    assert v["stiff_energy_gradient_std"] == 0.0             # a single difference
    # deviations -d/2, +d/2: r1 = (-d^2/4) / (d^2/2) = -0.5; smoothness 1 - d^2 / (2 d^2/4) = -1
    assert v["stiff_energy_autocorr_lag1"] == pytest.approx(-0.5)
    assert v["stiff_smoothness_score"] == pytest.approx(-1.0)
    # two points span one direction: all variance on the first principal axis
    assert v["stiff_pca_explained_var_1"] == pytest.approx(1.0)
    assert v["stiff_pca_explained_var_2"] == pytest.approx(0.0, abs=1e-12)
    x = stiff.stiff_tables(PARAMS)["pca_x"]
    d = x[STEPS.index("AT")] - x[STEPS.index("AA")]
    assert v["stiff_pca_component_1"] == pytest.approx((d @ d) / 4)   # variance of two points +-d/2
    assert np.isnan(v["stiff_energy_gc_correlation"])       # both steps have G+C = 0
    # z of the total: n = 2 steps, 1 adjacent pair
    ref = stiff.stiff_tables(PARAMS)["ref"]
    z = (ea + et - 2 * ref["mu"]) / math.sqrt(2 * ref["var"] + 2 * ref["c1"])
    assert v["stiff_total_deformation_zscore"] == pytest.approx(z)


def test_total_zscore_is_standard_over_all_sequences_of_a_length():
    # The reference is a uniform random sequence: over all 4^6 sequences of 6 nt the
    # z-score of the total has mean 0 and mean square 1 exactly (adjacent steps covary).
    seqs = ["".join(t) for t in itertools.product("ACGT", repeat=6)]
    v = stiff.compute(seqs, PARAMS)
    z = v[:, COL["stiff_total_deformation_zscore"]]
    assert z.mean() == pytest.approx(0.0, abs=1e-12)
    assert (z * z).mean() == pytest.approx(1.0, rel=1e-12)


# ---------------------------------------------------------------- explicit per-sequence reference

def _reference(seq):
    """The descriptors written out per sequence from the raw tables (slow, obvious)."""
    idx = [STEPS.index(seq[i:i + 2]) for i in range(len(seq) - 1)]
    E = np.array([E16[i] for i in idx])
    out = {"stiff_total_relative_energy": E.sum(), "stiff_mean_relative_energy": E.mean(),
           "stiff_var_relative_energy": E.var(), "stiff_max_relative_energy": E.max(),
           "stiff_min_relative_energy": E.min()}
    for mode in PAR:
        j = PAR.index(mode)
        m = np.array([0.5 * _kmat(STEPS[i])[j, j] * (_theta(STEPS[i])[j] - B_DNA[j]) ** 2 for i in idx])
        for stat, f in (("total", np.sum), ("mean", np.mean), ("var", np.var), ("max", np.max), ("min", np.min)):
            out[f"stiff_{mode}_{stat}_energy"] = f(m)
    X = np.array([_theta(STEPS[i]) for i in idx]) / np.array([_theta(s) for s in STEPS]).std(axis=0)
    lam = np.sort(np.linalg.eigvalsh(np.cov(X.T, bias=True)))[::-1]
    for k in (1, 2, 3):
        out[f"stiff_pca_component_{k}"] = lam[k - 1]
        out[f"stiff_pca_explained_var_{k}"] = lam[k - 1] / lam.sum()
        out[f"stiff_pca_cumulative_var_{k}"] = lam[:k].sum() / lam.sum()
    mu, var = E16.mean(), E16.var()
    c1 = np.mean([(E16[STEPS.index(a + b)] - mu) * (E16[STEPS.index(b + c)] - mu)
                  for a, b, c in itertools.product("ACGT", repeat=3)])
    n = len(E)
    out["stiff_total_deformation_zscore"] = (E.sum() - n * mu) / math.sqrt(n * var + 2 * (n - 1) * c1)
    out["stiff_mean_deformation_zscore"] = (E.mean() - mu) / math.sqrt(var)
    out["stiff_max_deformation_zscore"] = (E.max() - mu) / math.sqrt(var)
    high = E > 1.0
    out["stiff_high_energy_fraction"] = high.mean()
    out["stiff_high_energy_regions_count"] = sum(1 for i in range(n) if high[i] and (i == 0 or not high[i - 1]))
    p = E / E.sum()
    out["stiff_energy_distribution_entropy"] = -(p * np.log2(p)).sum()
    gc = np.array([sum(c in "GC" for c in seq[i:i + 2]) / 2 for i in range(n)])
    out["stiff_energy_gc_correlation"] = np.corrcoef(E, gc)[0, 1]
    out["stiff_energy_at_correlation"] = np.corrcoef(E, 1 - gc)[0, 1]
    x = E - E.mean()
    for k in (1, 2, 3, 5, 10):
        out[f"stiff_energy_autocorr_lag{k}"] = (x[:-k] * x[k:]).sum() / (x * x).sum()
    d = np.diff(E)
    out["stiff_energy_gradient_mean"], out["stiff_energy_gradient_max"] = np.abs(d).mean(), np.abs(d).max()
    out["stiff_energy_gradient_std"] = d.std()
    out["stiff_smoothness_score"] = 1 - (d * d).mean() / (2 * E.var())
    t = np.arange(n)
    for period in (3, 10):
        X = (x * np.exp(-2j * np.pi * t / period)).sum()
        out[f"stiff_periodicity_score_{period}"] = abs(X) ** 2 / (n * (x * x).sum())
    del out["stiff_shift_min_energy"]              # not a descriptor (0 whenever AT/CG/GC/TA occurs)
    for name in stiff.RETIRED:                     # copies of other columns, not written
        del out[name]
    assert set(out) == set(NAMES)
    return out


def test_matches_explicit_reference(real_seqs):
    rng = random.Random(11)
    seqs = ["".join(rng.choice("ACGT") for _ in range(n)) for n in (25, 40, 40)] + real_seqs[:3]
    got = stiff.compute(seqs, PARAMS)
    for seq, row in zip(seqs, got):
        for name, want in _reference(seq).items():
            assert row[COL[name]] == pytest.approx(want, rel=1e-8, abs=1e-11), (seq[:20], name)


def test_periodicity_picks_up_a_planted_period():
    # AT (2.17 kT) every 10 bp in poly-A: the energy profile has period 10
    seq = ("AAAAAAAAAT" * 20)[:200]
    v = values(seq)
    assert v["stiff_periodicity_score_10"] > 20 * v["stiff_periodicity_score_3"]
    assert v["stiff_energy_autocorr_lag10"] > 0.8


# ---------------------------------------------------------------- invariants

def test_reverse_complement_gives_the_same_descriptors(real_seqs):
    seqs = real_seqs + ["AAAAA", "AAT", "GATTACA" * 7, "ACGTNNACGTTGCAAAAAATTTTTGCGGCCNA" * 2]
    fwd = stiff.compute(seqs, PARAMS)
    rev = stiff.compute([reverse_complement(s) for s in seqs], PARAMS)
    assert np.array_equal(np.isnan(fwd), np.isnan(rev))
    ok = ~np.isnan(fwd)
    assert np.allclose(fwd[ok], rev[ok], rtol=1e-9, atol=1e-12)


def test_results_do_not_depend_on_the_batch(real_seqs, monkeypatch):
    # PCA, z-scores and thresholds use only the sequence itself and the fixed tables.
    with_n = real_seqs[50][:100] + "N" + real_seqs[50][101:]         # same length: shares a block
    seqs = real_seqs[:30] + [with_n] + [s[:190] for s in real_seqs[30:45]] + ["ACGTN" * 9, "AAT", "", "G"]
    whole = stiff.compute(seqs, PARAMS)
    one_by_one = np.vstack([stiff.compute([s], PARAMS) for s in seqs])
    assert np.array_equal(whole, one_by_one, equal_nan=True)          # bit for bit
    other = stiff.compute(seqs[:5] + ["GC" * 100] * 20, PARAMS)[:5]   # different company
    assert np.array_equal(other, whole[:5], equal_nan=True)
    perm = np.random.default_rng(5).permutation(len(seqs))
    assert np.array_equal(stiff.compute([seqs[i] for i in perm], PARAMS), whole[perm], equal_nan=True)
    monkeypatch.setattr(stiff, "BLOCK_ELEMENTS", 3 * 230)
    assert np.array_equal(stiff.compute(seqs, PARAMS), whole, equal_nan=True)


# ---------------------------------------------------------------- N and short sequences

def test_steps_with_n_are_left_out():
    v = values("AATNAAT")                          # steps AA, AT | AA, AT (the two touching N dropped)
    w = values("AAT")
    for name in ("stiff_mean_relative_energy", "stiff_var_relative_energy", "stiff_high_energy_fraction",
                 "stiff_pca_component_1"):
        assert v[name] == pytest.approx(w[name]), name
    assert v["stiff_total_relative_energy"] == pytest.approx(2 * w["stiff_total_relative_energy"])
    assert v["stiff_high_energy_regions_count"] == 2.0
    # valid steps at positions 0 (AA), 1 (AT), 4 (AA), 5 (AT); deviations -d/2, +d/2, -d/2, +d/2,
    # sum of squares d^2. Lag 1: pairs (0,1), (4,5) -> 2 * (-d^2/4) / d^2 = -0.5; lag 2: no pair;
    # lag 3: (1,4) -> -0.25; lag 5: (0,5) -> -0.25; lag 10: no pair.
    assert v["stiff_energy_autocorr_lag1"] == pytest.approx(-0.5)
    assert v["stiff_energy_autocorr_lag3"] == pytest.approx(-0.25)
    assert v["stiff_energy_autocorr_lag5"] == pytest.approx(-0.25)
    assert np.isnan(v["stiff_energy_autocorr_lag2"]) and np.isnan(v["stiff_energy_autocorr_lag10"])


def test_undefined_only_where_no_value_exists(real_seqs):
    assert np.isnan(stiff.compute(["", "A", "N" * 30, "ANANANA"], PARAMS)).all()
    v = values("AC")                               # one step: order-free statistics only
    assert v["stiff_total_relative_energy"] == pytest.approx(E16[STEPS.index("AC")])
    assert np.isnan(v["stiff_energy_gradient_mean"]) and np.isnan(v["stiff_energy_autocorr_lag1"])
    assert not np.isnan(stiff.compute(real_seqs, PARAMS)).any()
