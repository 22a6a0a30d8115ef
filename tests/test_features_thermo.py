"""thermo family: SantaLucia 1998 nearest-neighbour descriptors (toolkit.features.thermo)."""

import numpy as np
import pytest

from conftest import random_seqs, DATA, read_tsv
from toolkit.features import thermo
from toolkit.features.params import default_params
from toolkit.seq import reverse_complement

# The document (section 5.2.1, item 4) announces "45 features" but its list, with the
# {..} patterns expanded, names 43: this list is what descfeat computes.
DOC_NAMES = (
    ["thermo_total_dH", "thermo_mean_dH", "thermo_var_dH",
     "thermo_total_dS", "thermo_mean_dS", "thermo_var_dS", "thermo_min_dS", "thermo_max_dS",
     "thermo_total_dG", "thermo_mean_dG", "thermo_var_dG", "thermo_min_dG", "thermo_max_dG"]
    + [f"thermo_{q}_p{p}" for q in ("dG", "dH", "dS") for p in (5, 10, 25, 50, 75, 90, 95)]
    + ["thermo_dG_iqr", "thermo_dH_iqr", "thermo_dS_iqr",
       "thermo_melting_temp_wallace", "thermo_melting_temp_gc_adjusted",
       "thermo_local_min_count", "thermo_local_max_count",
       "thermo_low_energy_runs", "thermo_high_energy_runs"]
)


@pytest.fixture(scope="module")
def params():
    return default_params()


@pytest.fixture(scope="module")
def names(params):
    return [d.name for d in thermo.descriptors(params)]


def _row(seq, params, names):
    return dict(zip(names, thermo.compute([seq], params)[0]))


def _random(n, rng, lengths=(5, 17, 40), n_rate=0.0):
    return random_seqs(n, rng, lengths, n_rate)


def test_names_match_the_document_list(params, names):
    assert names == DOC_NAMES
    assert len(names) == 43 and len(set(names)) == len(names)
    for d in thermo.descriptors(params):
        assert d.name.startswith("thermo_") and d.family == "thermo"
        assert d.unit and d.formula and d.source
        assert "nn_thermo_16steps.tsv" in d.source or "Wallace" in d.source or "Schildkraut" in d.source


def test_dG_at_310_15K_reproduces_the_table_dG37_column(params):
    tab = params.table("nn_thermo").set_index("step")
    dG = thermo.step_tables(params)["dG"]
    steps = [a + b for a in "ACGT" for b in "ACGT"]
    printed = tab.loc[steps, "SL1998_dG37"].to_numpy()
    # the table prints dG37 to 3 decimals: agreement within rounding
    assert np.max(np.abs(dG - printed)) <= 5e-4 + 1e-12
    # e.g. AA: -7.9 - 310.15 * (-22.2) / 1000 = -7.9 + 6.88533 = -1.01467 (table: -1.015)
    assert dG[0] == pytest.approx(-1.01467)
    # complement steps carry the same values (AA = TT, CA = TG, ...)
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    for i, s in enumerate(steps):
        j = steps.index(comp[s[1]] + comp[s[0]])
        assert dG[i] == dG[j]


def test_hand_worked_10mer(params, names):
    # GATTACAGCC: steps GA AT TT TA AC CA AG GC CC (9 steps)
    # dH: -8.2 -7.2 -7.9 -7.2 -8.4 -8.5 -7.8 -9.8 -8.0            -> sum -73.0 kcal/mol
    # dS: -22.2 -20.4 -22.2 -21.3 -22.4 -22.7 -21.0 -24.4 -19.9   -> sum -196.5 cal/mol/K
    # dG = -73.0 - 310.15 * (-196.5) / 1000 = -73.0 + 60.944475 = -12.055525 kcal/mol
    #   (sum of the table's dG37 column: -12.057, within 9 x 0.0005 of rounding)
    r = _row("GATTACAGCC", params, names)
    assert r["thermo_total_dH"] == pytest.approx(-73.0)
    assert r["thermo_total_dS"] == pytest.approx(-196.5)
    assert r["thermo_total_dG"] == pytest.approx(-12.055525)
    assert abs(r["thermo_total_dG"] - (-12.057)) <= 9 * 5e-4
    assert r["thermo_mean_dG"] == pytest.approx(-12.055525 / 9)
    assert r["thermo_mean_dH"] == pytest.approx(-73.0 / 9)
    assert r["thermo_min_dS"] == pytest.approx(-24.4)          # GC
    assert r["thermo_max_dS"] == pytest.approx(-19.9)          # CC
    assert r["thermo_min_dG"] == pytest.approx(-9.8 + 310.15 * 24.4 / 1000)   # GC: -2.23234
    assert r["thermo_max_dG"] == pytest.approx(-7.2 + 310.15 * 21.3 / 1000)   # TA: -0.593805
    # median of the 9 dH values: sorted -9.8 -8.5 -8.4 -8.2 [-8.0] -7.9 -7.8 -7.2 -7.2
    assert r["thermo_dH_p50"] == pytest.approx(-8.0)
    # dH p25: position 0.25 * 8 = 2 -> -8.4; p75: position 6 -> -7.8; iqr 0.6
    assert r["thermo_dH_p25"] == pytest.approx(-8.4)
    assert r["thermo_dH_iqr"] == pytest.approx(0.6)
    # Wallace: A=3 T=2 G=2 C=3 -> 2*(3+2) + 4*(2+3) = 30 degC
    assert r["thermo_melting_temp_wallace"] == 30.0
    # GC-adjusted: 81.5 + 16.6*log10(0.05) + 0.41*50 - 675/10 = 81.5 - 21.5969 + 20.5 - 67.5
    assert r["thermo_melting_temp_gc_adjusted"] == pytest.approx(81.5 + 16.6 * np.log10(0.05) + 20.5 - 67.5)
    # dG profile -1.315 -0.873 -1.015 -0.594 -1.453 -1.460 -1.287 -2.232 -1.828:
    # maxima AT, TA, AG; minima TT, CA, GC
    assert r["thermo_local_max_count"] == 3 and r["thermo_local_min_count"] == 3
    # high-energy steps AA/AT/TA/TT: AT TT TA is one run of 3; low-energy GC CC only 2 steps long
    assert r["thermo_high_energy_runs"] == 1 and r["thermo_low_energy_runs"] == 0


def test_wallace_rule_of_a_short_oligo(params, names):
    # ACGTTGCA: A=2 T=2 G=2 C=2 -> 2*4 + 4*4 = 24 degC
    assert _row("ACGTTGCA", params, names)["thermo_melting_temp_wallace"] == 24.0
    # AAAAAAGC: 2*6 + 4*2 = 20 degC
    assert _row("AAAAAAGC", params, names)["thermo_melting_temp_wallace"] == 20.0


def test_energy_classes_are_the_table_quartiles(params):
    low, high = thermo._energy_classes(thermo.step_tables(params)["dG"])
    steps = np.array([a + b for a in "ACGT" for b in "ACGT"])
    assert sorted(steps[low]) == ["CC", "CG", "GC", "GG"]
    assert sorted(steps[high]) == ["AA", "AT", "TA", "TT"]


def test_plateaus_count_once_and_runs(params, names):
    # ATTTA: AT TT TT TA = -0.873 -1.015 -1.015 -0.594: one minimum (the TT plateau), no maximum
    r = _row("ATTTA", params, names)
    assert (r["thermo_local_min_count"], r["thermo_local_max_count"]) == (1, 0)
    # monotone profile: AAAA AC CCCC -> no extrema
    r = _row("AAAAACCCCC", params, names)
    assert (r["thermo_local_min_count"], r["thermo_local_max_count"]) == (0, 0)
    # GCGCAAAAGG: GC CG GC (low run of 3) CA AA AA AA (high run of 3) AG GG
    r = _row("GCGCAAAAGG", params, names)
    assert (r["thermo_low_energy_runs"], r["thermo_high_energy_runs"]) == (1, 1)


def test_steps_with_N_are_excluded(params, names):
    # ACGNNTTGCA: valid steps AC CG TT TG GC CA (GN NN NT dropped)
    r = _row("ACGNNTTGCA", params, names)
    assert r["thermo_total_dH"] == pytest.approx(-8.4 - 10.6 - 7.9 - 8.5 - 9.8 - 8.5)
    assert r["thermo_mean_dS"] == pytest.approx((-22.4 - 27.2 - 22.2 - 22.7 - 24.4 - 22.7) / 6)
    # Tm uses the 8 A/C/G/T bases: A=2 T=2 G=2 C=2 -> 24
    assert r["thermo_melting_temp_wallace"] == 24.0
    # the N breaks the profile: CG (-2.164) is the end of a stretch, not a minimum
    # stretch 1: AC CG; stretch 2: TT TG GC CA = -1.015 -1.460 -2.232 -1.460 -> one minimum (GC)
    assert r["thermo_local_min_count"] == 1 and r["thermo_local_max_count"] == 0


def test_nan_only_where_undefined(params, names):
    x = thermo.compute(["N" * 20, "A", "", "NA", "AC"], params)
    assert np.isnan(x[0]).all() and np.isnan(x[2]).all()
    wal = names.index("thermo_melting_temp_wallace")
    # one base: no step, so every step statistic is NaN; the Wallace rule is defined (2 degC)
    assert np.isnan(np.delete(x[1], [wal, wal + 1])).all() and x[1, wal] == 2.0
    assert np.isnan(np.delete(x[3], [wal, wal + 1])).all()
    assert not np.isnan(x[4]).any()
    real = read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].tolist()
    assert not np.isnan(thermo.compute(real, params)).any()


def test_statistics_match_a_direct_computation(params, names):
    rng = np.random.default_rng(0)
    seqs = _random(60, rng, lengths=(3, 8, 25, 61), n_rate=0.1)
    tabs = thermo.step_tables(params)
    code = {b: i for i, b in enumerate("ACGT")}
    got = thermo.compute(seqs, params)
    for s, row in zip(seqs, got):
        r = dict(zip(names, row))
        idx = [4 * code[a] + code[b] for a, b in zip(s, s[1:]) if a in code and b in code]
        if not idx:
            assert np.isnan(r["thermo_total_dG"])
            continue
        for q in ("dH", "dS", "dG"):
            v = tabs[q][idx]
            if f"thermo_total_{q}" in r:
                assert r[f"thermo_total_{q}"] == pytest.approx(v.sum())
                assert r[f"thermo_mean_{q}"] == pytest.approx(v.mean())
                assert r[f"thermo_var_{q}"] == pytest.approx(v.var(), abs=1e-9)
            for p in (5, 10, 25, 50, 75, 90, 95):
                assert r[f"thermo_{q}_p{p}"] == pytest.approx(np.percentile(v, p))
            iqr = np.percentile(v, 75) - np.percentile(v, 25)
            assert r[f"thermo_{q}_iqr"] == pytest.approx(iqr, abs=1e-9)


def test_reverse_complement_gives_the_same_values(params):
    rng = np.random.default_rng(1)
    seqs = _random(40, rng, lengths=(12, 30, 230), n_rate=0.05)
    real = read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].tolist()[:20]
    seqs += real
    a = thermo.compute(seqs, params)
    b = thermo.compute([reverse_complement(s) for s in seqs], params)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-9, equal_nan=True)


def test_row_permutation_and_batching_do_not_change_values(params):
    rng = np.random.default_rng(2)
    seqs = _random(50, rng, lengths=(2, 9, 30, 31, 230), n_rate=0.03) + ["N" * 5, ""]
    whole = thermo.compute(seqs, params)
    perm = rng.permutation(len(seqs))
    np.testing.assert_array_equal(thermo.compute([seqs[i] for i in perm], params), whole[perm])
    single = np.vstack([thermo.compute([s], params) for s in seqs])
    np.testing.assert_array_equal(single, whole)


def _reference_set():
    """220 real lentiMPRA sequences: every other row of the fixture, plus 20 rows with a
    block of 1-4 N written in at a different place each."""
    real = read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].tolist()
    seqs = real[::2]
    for i, s in enumerate(real[1::20]):
        a = 7 + 11 * i
        seqs.append(s[:a] + "N" * (1 + i % 4) + s[a + 1 + i % 4:])
    return seqs


# Column sums and (row number)-weighted column sums of the 220 x 43 values that the
# numpy implementation (before the compiled kernel) gave on _reference_set(). The
# kernel sums in numpy's order, so the values are the same to the last bit.
PINNED = {
    'thermo_total_dH': (-413140.60000000003, -45602393.50000001),
    'thermo_mean_dH': (-1806.622469873715, -199667.4607098683),
    'thermo_var_dH': (97.95004785910457, 10827.233092937015),
    'thermo_total_dS': (-1103508.6999999993, -121781357.09999993),
    'thermo_mean_dS': (-4825.524069363778, -533210.9549457006),
    'thermo_var_dS': (455.5482978287941, 50575.58352591262),
    'thermo_min_dS': (-5983.999999999976, -661232.0),
    'thermo_max_dS': (-4378.000000000008, -483769.0),
    'thermo_total_dG': (-70887.37669500004, -7831905.5954350075),
    'thermo_mean_dG': (-309.9861797605395, -34292.08303345924),
    'thermo_var_dG': (30.646096986415845, 3380.856666511422),
    'thermo_min_dG': (-491.1148000000022, -54268.185400000046),
    'thermo_max_dG': (-130.63710000000052, -14435.399550000011),
    'thermo_dG_p5': (-479.30101375000135, -53039.60910450003),
    'thermo_dG_p10': (-419.06301099999956, -46079.66183500001),
    'thermo_dG_p25': (-348.36702499999956, -38488.08814500003),
    'thermo_dG_p50': (-302.4725199999999, -33421.861660000024),
    'thermo_dG_p75': (-261.4995199999991, -28905.906080000026),
    'thermo_dG_p90': (-215.3703559999996, -23913.31890600003),
    'thermo_dG_p95': (-184.99399850000006, -20540.46502700002),
    'thermo_dH_p5': (-2142.6149999999952, -237011.97000000003),
    'thermo_dH_p10': (-1933.9799999999987, -212763.97999999998),
    'thermo_dH_p25': (-1856.3250000000041, -205145.09999999998),
    'thermo_dH_p50': (-1773.7000000000019, -196034.40000000002),
    'thermo_dH_p75': (-1731.675000000002, -191407.50000000003),
    'thermo_dH_p90': (-1673.5199999999982, -185136.12000000002),
    'thermo_dH_p95': (-1604.0100000000045, -177252.59999999998),
    'thermo_dS_p5': (-5372.594999999989, -594123.4500000001),
    'thermo_dS_p10': (-5079.419999999983, -559943.02),
    'thermo_dS_p25': (-4953.374999999992, -547423.2999999998),
    'thermo_dS_p50': (-4883.99999999998, -539682.0),
    'thermo_dS_p75': (-4611.1, -509484.2),
    'thermo_dS_p90': (-4399.100000000009, -486022.1),
    'thermo_dS_p95': (-4378.000000000008, -483769.0),
    'thermo_dG_iqr': (86.86750500000004, 9582.18206500001),
    'thermo_dH_iqr': (124.64999999999978, 13737.6),
    'thermo_dS_iqr': (342.27499999999907, 37939.09999999998),
    'thermo_melting_temp_wallace': (151640.0, 16756082.0),
    'thermo_melting_temp_gc_adjusted': (17041.51335531436, 1884361.2590542897),
    'thermo_local_min_count': (13702.0, 1508648.0),
    'thermo_local_max_count': (13481.0, 1484139.0),
    'thermo_low_energy_runs': (1218.0, 136860.0),
    'thermo_high_energy_runs': (1224.0, 135317.0),
}


def test_values_are_those_of_the_numpy_implementation(params, names):
    x = thermo.compute(_reference_set(), params)
    assert x.shape == (220, 43) and not np.isnan(x).any()
    w = np.arange(1, 221, dtype=np.float64)
    got = np.array([x.sum(axis=0), (w[:, None] * x).sum(axis=0)]).T
    want = np.array([PINNED[n] for n in names])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
