"""The ``advanced`` descriptor family: hand-worked values, table look-ups, invariants."""

import math

import numpy as np
import pandas as pd
import pytest

from conftest import DATA
from toolkit.features import advanced as adv
from toolkit.features.params import default_params
from toolkit.seq import reverse_complement

P = default_params()
NAMES = [d.name for d in adv.descriptors(P)]
COL = {n[len("advanced_"):]: i for i, n in enumerate(NAMES)}
TELOMERE = "GGGTTAGGGTTAGGGTTAGGG"


def values(seqs):
    return adv.compute(list(seqs), P)


def one(seq):
    """{short name: value} for one sequence."""
    row = values([seq])[0]
    return {k: row[i] for k, i in COL.items()}


@pytest.fixture(scope="module")
def real():
    """40 real 230-nt lentiMPRA sequences (20 forward/reverse pairs)."""
    return pd.read_csv(DATA / "lentimpra_HepG2_400.tsv", sep="\t")["seq"].str.upper().tolist()[:40]


@pytest.fixture(scope="module")
def with_n(real):
    """The same sequences with 1-3 N bases at random places."""
    rng = np.random.default_rng(7)
    out = []
    for s in real:
        s = list(s)
        for k in rng.integers(0, len(s), rng.integers(1, 4)):
            s[k] = "N"
        out.append("".join(s))
    return out


# ------------------------------------------------------------------ the list
def test_names_units_and_count_match_the_document():
    ds = adv.descriptors(P)
    # design document 5.2.1 item 6: 55, less two copies of other columns (-thermo_total_dG plus
    # a salt term per step; bend_mean_bending_cost)
    assert set(adv.RETIRED) == {"advanced_sidd_total_opening_energy", "advanced_dnase_sensitivity_score"}
    assert len(ds) == 53
    assert len(set(NAMES)) == 53
    for d in ds:
        assert d.name.startswith("advanced_") and d.family == "advanced"
        assert d.unit and d.formula and d.source
    listed = ["gquad_score_mean", "gquad_score_max", "gquad_count", "melting_mean_melting_temp",
              "melting_var_melting_temp", "melting_min_melting_temp", "melting_max_melting_temp",
              "melting_mean_melting_dH", "melting_var_melting_dH", "melting_mean_melting_dS", "melting_var_melting_dS",
              "melting_mean_melting_dG", "melting_var_melting_dG", "melting_min_melting_dG", "melting_max_melting_dG",
              "sidd_mean_opening_prob", "sidd_max_opening_prob", "sidd_total_opening_energy", "sidd_opening_hotspots",
              "mgw_mean_width", "mgw_var_width", "mgw_min_width", "mgw_max_width", "mgw_narrow_regions",
              "mgw_wide_regions", "stacking_mean_stacking_energy", "stacking_var_stacking_energy",
              "stacking_min_stacking_energy", "stacking_max_stacking_energy", "stacking_total_stacking_energy",
              "nucleosome_dyad_score", "nucleosome_occupancy", "nucleosome_positioning_signal",
              "dnase_sensitivity_score", "z_dna_formation_potential", "a_tract_count", "a_tract_max_length",
              "cpg_island_score", "cpg_observed_expected", "methylation_potential"]
    written = [n for n in ("advanced_" + x for x in listed) if n not in adv.RETIRED]
    assert NAMES[:38] == written                             # the document's 40, in its order, less 2


# ------------------------------------------------------------------ G-quadruplex
def test_telomeric_repeat_is_a_g_quadruplex():
    v = one(TELOMERE)
    assert v["gquad_count"] == 1
    assert np.isnan(v["gquad_score_max"])                  # 21 nt: no 25-nt G4Hunter window
    # flanked to 25 nt: 12 G in runs of 3 score 3 each, T/A 0 -> 36 / 25 = 1.44 (>= 1.2, G4-prone)
    v = one("TT" + TELOMERE + "TT")
    assert v["gquad_count"] == 1
    assert v["gquad_score_max"] == pytest.approx(1.44) and v["gquad_score_mean"] == pytest.approx(1.44)
    # the C-rich strand is found too (count on both strands; |score| for the C strand)
    v = one(reverse_complement("TT" + TELOMERE + "TT"))
    assert v["gquad_count"] == 1 and v["gquad_score_max"] == pytest.approx(1.44)


def test_no_g_runs_no_quadruplex():
    # 25 nt, 8 single G (score 1 each), no C: 8 / 25 = 0.32
    v = one("AGTAGTAGTAGTAGTAGTAGTAGTA")
    assert v["gquad_count"] == 0 and v["gquad_score_max"] == pytest.approx(0.32)
    # runs of 4+ G score 4 per base: GGGGA x5 = 20 G * 4 / 25 = 3.2; also 5 G4 blocks -> one match
    v = one("GGGGA" * 5)
    assert v["gquad_score_max"] == pytest.approx(3.2) and v["gquad_count"] == 1
    # one G run of 15 holds GGG-G-GGG-G-GGG-G-GGG (loops of G): Quadparser counts it
    assert one("A" + "G" * 15 + "A")["gquad_count"] == 1
    assert one("A" + "G" * 14 + "A")["gquad_count"] == 0


def test_two_quadruplexes_one_per_strand():
    seq = TELOMERE + "ATATATATAT" + reverse_complement(TELOMERE)
    assert one(seq)["gquad_count"] == 2


# ------------------------------------------------------------------ melting
def test_melting_of_poly_a_by_hand():
    v = one("A" * 20)                                       # one 20-nt window
    # dH = 19 * (-7.9) + 2 * 2.3 = -145.5 kcal/mol
    assert v["melting_mean_melting_dH"] == pytest.approx(-145.5)
    # dS = 19 * (-22.2) + 2 * 4.1 + 0.368 * 19 * ln 0.05 = -421.8 + 8.2 - 20.94621 = -434.54621
    ds = -421.8 + 8.2 + 0.368 * 19 * math.log(0.05)
    assert v["melting_mean_melting_dS"] == pytest.approx(ds) and ds == pytest.approx(-434.54621, abs=1e-4)
    # dG = dH - 310.15 * dS / 1000 = -145.5 + 134.7745 = -10.7255
    assert v["melting_mean_melting_dG"] == pytest.approx(-145.5 - 310.15 * ds / 1000)
    assert v["melting_mean_melting_dG"] == pytest.approx(-10.7255, abs=1e-4)
    # Tm = -145500 / (dS + 1.987 ln(50e-9 / 4)) - 273.15 = 35.961 C
    tm = -145500 / (ds + 1.987 * math.log(12.5e-9)) - 273.15
    assert v["melting_mean_melting_temp"] == pytest.approx(tm) and tm == pytest.approx(35.961, abs=1e-3)
    assert v["melting_var_melting_temp"] == 0 and v["melting_min_melting_dG"] == v["melting_max_melting_dG"]
    assert np.isnan(one("A" * 19)["melting_mean_melting_temp"])


def test_melting_windows_agree_with_biopython(real):
    mt = pytest.importorskip("Bio.SeqUtils.MeltingTemp")
    seq = real[0]
    tms = []
    for i in range(len(seq) - 19):
        w = seq[i:i + 20]
        selfcomp = w == reverse_complement(w)
        tms.append(mt.Tm_NN(w, nn_table=mt.DNA_NN3, Na=50, K=0, Tris=0, Mg=0, dNTPs=0, saltcorr=5,
                            dnac1=50 if selfcomp else 25, dnac2=0 if selfcomp else 25, selfcomp=selfcomp))
    v = one(seq)
    assert v["melting_mean_melting_temp"] == pytest.approx(np.mean(tms), rel=1e-9)
    assert v["melting_var_melting_temp"] == pytest.approx(np.var(tms), rel=1e-9)
    assert v["melting_min_melting_temp"] == pytest.approx(min(tms), rel=1e-9)
    assert v["melting_max_melting_temp"] == pytest.approx(max(tms), rel=1e-9)


def test_self_complementary_window_gets_symmetry_and_concentration_terms():
    v = one("CGCGCGCGCGCGCGCGCGCG")
    # dH = 19 steps alternating CG (-10.6, 10 of them) and GC (-9.8, 9) + 2 * 0.1 = -194.0
    assert v["melting_mean_melting_dH"] == pytest.approx(-194.0)
    ds = 10 * -27.2 + 9 * -24.4 + 2 * -2.8 - 1.4 + 0.368 * 19 * math.log(0.05)
    assert v["melting_mean_melting_dS"] == pytest.approx(ds)
    assert v["melting_mean_melting_temp"] == pytest.approx(-194000 / (ds + 1.987 * math.log(50e-9)) - 273.15)


# ------------------------------------------------------------------ SIDD
def _relief():
    rt = 1.987 * 310.15 / 1000
    K, alpha = 2220 * rt / 5000, -0.055 * 5000 / 10.4
    gres = 2 * math.pi ** 2 * 3.6 * K * (alpha + 20 / 10.4) ** 2 / (4 * math.pi ** 2 * 3.6 + K * 20)
    return 0.5 * K * alpha ** 2 - gres                    # 95.6580 - 79.2004 = 16.4576 kcal/mol


def test_sidd_of_poly_a_by_hand():
    # AA step opening energy at 310.15 K, 10 mM Na+:
    # -(-7.9 - 310.15 * (-22.2 + 0.368 ln 0.01) / 1000) = 7.9 - 310.15 * 0.0238947 = 0.489058
    o = -(-7.9 - 310.15 * (-22.2 + 0.368 * math.log(0.01)) / 1000)
    assert o == pytest.approx(0.489058, abs=1e-6)
    assert _relief() == pytest.approx(16.4576, abs=1e-4)
    v = one("A" * 42)
    # every 20-bp window: G = 10.84 + 20 * 0.489058 - 16.4576 = 4.1636; p = 1 / (1 + exp(G / RT)) = 1.1624e-3
    G = 10.84 + 20 * o - _relief()
    p = 1 / (1 + math.exp(G / (1.987 * 0.31015)))
    assert p == pytest.approx(1.1624e-3, rel=1e-3)
    assert v["sidd_mean_opening_prob"] == pytest.approx(p) and v["sidd_max_opening_prob"] == pytest.approx(p)
    assert v["sidd_opening_hotspots"] == 1                 # all 21 windows above 1e-3: one run
    assert one("G" * 42)["sidd_opening_hotspots"] == 0
    assert np.isnan(one("A" * 21)["sidd_mean_opening_prob"])  # a window needs both flanking steps


def test_sidd_matches_a_plain_loop(with_n):
    nn = P.table("nn_thermo").set_index("step")
    opening = {s: -(r.SL1998_dH - 310.15 * (r.SL1998_dS + 0.368 * math.log(0.01)) / 1000)
               for s, r in nn.iterrows()}
    rt = 1.987 * 310.15 / 1000
    for seq in with_n[:4]:
        step = [opening.get(seq[i:i + 2], np.nan) for i in range(len(seq) - 1)]
        bp = [(step[x - 1] + step[x]) / 2 for x in range(1, len(seq) - 1)]
        G = [10.84 + sum(bp[i:i + 20]) - _relief() for i in range(len(bp) - 19)]
        p = np.array([1 / (1 + math.exp(g / rt)) for g in G if not np.isnan(g)])
        v = one(seq)
        assert v["sidd_mean_opening_prob"] == pytest.approx(p.mean(), rel=1e-9)
        assert v["sidd_max_opening_prob"] == pytest.approx(p.max(), rel=1e-9)


# ------------------------------------------------------------------ DNAshape
@pytest.fixture(scope="module")
def shape_table():
    return P.table("dnashape").set_index("pentamer")


def test_single_pentamer_is_the_table_row(shape_table):
    row = shape_table.loc["AAAAA"]                        # MGW 3.38, ProT -16.51, EP -10.1
    v = one("AAAAA")
    assert v["mgw_mean_width"] == row.MGW == v["mgw_min_width"] == v["mgw_max_width"]
    assert v["prot_mean_twist"] == row.ProT and v["ep_min_potential"] == row.EP
    # two steps, one pentamer each: Roll -5.05 (step1) and -5.09 (step2)
    assert v["roll_mean_angle"] == pytest.approx((row.Roll_step1 + row.Roll_step2) / 2)
    assert v["roll_min_angle"] == row.Roll_step2 and v["roll_max_angle"] == row.Roll_step1
    assert v["helt_mean_twist"] == pytest.approx((37.74 + 38.01) / 2)
    assert v["mgw_narrow_regions"] == 1 and v["mgw_wide_regions"] == 0
    assert np.isnan(one("AAAA")["mgw_mean_width"])


def _shape_reference(seq, table):
    """DNAshapeR's rule written out: per-base values from the centred pentamer, per-step values the
    mean of step1 of the pentamer starting one base before and step2 of the one starting two before."""
    pent = [seq[i:i + 5] for i in range(len(seq) - 4)]
    row = [table.loc[p] if p in table.index else None for p in pent]
    base = {c: [r[c] for r in row if r is not None] for c in ("MGW", "ProT", "EP")}
    steps = {}
    for c in ("Roll", "HelT"):
        vals = []
        for j in range(1, len(seq) - 2):
            got = []
            if j - 1 < len(row) and row[j - 1] is not None:
                got.append(row[j - 1][c + "_step1"])
            if j - 2 >= 0 and row[j - 2] is not None:
                got.append(row[j - 2][c + "_step2"])
            if got:
                vals.append(np.mean(got))
        steps[c] = vals
    return base, steps


def test_shape_profiles_match_the_table_tiled(real, with_n, shape_table):
    for seq in [real[0], with_n[1], "GCGAAAATTTTCGCTATATAGGCC"]:
        base, steps = _shape_reference(seq, shape_table)
        v = one(seq)
        mgw = np.array(base["MGW"])
        assert v["mgw_mean_width"] == pytest.approx(mgw.mean()) and v["mgw_var_width"] == pytest.approx(mgw.var())
        assert v["mgw_min_width"] == mgw.min() and v["mgw_max_width"] == mgw.max()
        assert v["prot_var_twist"] == pytest.approx(np.var(base["ProT"]))
        assert v["ep_mean_potential"] == pytest.approx(np.mean(base["EP"]))
        assert v["ep_min_potential"] == min(base["EP"])
        for key, c in (("roll", "Roll"), ("helt", "HelT")):
            s = np.array(steps[c])
            assert v[f"{key}_mean_{'angle' if key == 'roll' else 'twist'}"] == pytest.approx(s.mean())
            assert v[f"{key}_max_{'angle' if key == 'roll' else 'twist'}"] == pytest.approx(s.max())


def test_mgw_region_counts():
    # A-tract pentamers are narrow (AAAAA 3.38); GC-rich ones are wide: two narrow runs apart
    seq = "GCGCG" + "AAAAAAA" + "GCGCGCG" + "TTTTTTT" + "GCGCG"
    base, _ = _shape_reference(seq, P.table("dnashape").set_index("pentamer"))
    narrow = np.array(base["MGW"]) < 4.0
    runs = int(narrow[0]) + int(np.sum(narrow[1:] & ~narrow[:-1]))
    assert runs == 2 and one(seq)["mgw_narrow_regions"] == 2


# ------------------------------------------------------------------ stacking
def test_stacking_by_hand():
    v = one("ACGT")
    # steps AC -10.51, CG -9.69, GT -10.51
    assert v["stacking_total_stacking_energy"] == pytest.approx(-30.71)
    assert v["stacking_mean_stacking_energy"] == pytest.approx(-30.71 / 3)
    # deviations -0.27333, 0.54667, -0.27333 -> (0.074711 + 0.298844 + 0.074711) / 3 = 0.149422
    assert v["stacking_var_stacking_energy"] == pytest.approx(0.149422, abs=1e-6)
    assert v["stacking_min_stacking_energy"] == -10.51 and v["stacking_max_stacking_energy"] == -9.69


# ------------------------------------------------------------------ nucleosome, DNase
def test_trinucleotide_scales_by_hand():
    v = one("AAAA")                                       # AAA, AAA
    assert v["nucleosome_occupancy"] == -36
    v = one("GCCA")                                       # GCC 45, CCA 8 ; DNase 8.2, 0.7
    assert v["nucleosome_occupancy"] == pytest.approx(26.5)
    assert np.isnan(v["nucleosome_dyad_score"])          # shorter than 147 bp


def test_dyad_score_matches_a_plain_loop(real):
    tri = P.table("trinucleotide").set_index("trinucleotide")["Nucleosome positioning"]
    j = np.arange(-72, 73)
    k = np.cos(2 * np.pi * j / 10.2)
    k = k - k.mean()
    for seq in real[:3] + ["ACGT" * 37]:
        s = {c: tri[seq[c - 1:c + 2]] for c in range(1, len(seq) - 1)}   # by centre
        scores = [sum(s[d + jj] * kk for jj, kk in zip(j, k)) / 145 for d in range(73, len(seq) - 73)]
        assert one(seq)["nucleosome_dyad_score"] == pytest.approx(max(scores), rel=1e-9, abs=1e-12)


def test_positioning_signal_sees_ten_bp_periodicity():
    rng = np.random.default_rng(1)
    phased = "AATTTGCGCG" * 23                            # AA/TT steps every 10 bp
    shuffled = "".join(rng.permutation(list(phased)))    # same composition, no phase
    assert one(phased)["nucleosome_positioning_signal"] > 20
    assert one(shuffled)["nucleosome_positioning_signal"] < 5
    assert np.isnan(one("A" * 50)["nucleosome_positioning_signal"])  # all steps AA: no variance


# ------------------------------------------------------------------ Z-DNA, A-tracts
def test_z_dna_alternation():
    assert one("CG" * 6)["z_dna_formation_potential"] == pytest.approx(-0.7)   # 11 steps at 0.7
    assert one("CA" * 6)["z_dna_formation_potential"] == pytest.approx(-1.3)   # CA AS 1.3, AC SA 1.3
    assert one("A" * 12)["z_dna_formation_potential"] == pytest.approx(-3.9)
    # C G C G C G T A T A T A with C anti, G syn, T anti, A syn: CG .7 GC .7 CG .7 GC .7 CG .7,
    # GT (syn-anti = AS[T][G]) 1.3, then TA/AT 2.5 five times: 3.5 + 1.3 + 12.5 = 17.3 over 11 steps
    assert one("CGCGCGTATATA")["z_dna_formation_potential"] == pytest.approx(-17.3 / 11)
    # CC and GG break the alternation: the better phase is worse than CGCG...
    assert one("CGCGGCGCGCGC")["z_dna_formation_potential"] < -0.7
    assert np.isnan(one("CG" * 5)["z_dna_formation_potential"])


@pytest.mark.parametrize("seq, count, longest", [
    ("GCAAAATTTTGC", 1, 8),      # A4T4
    ("GCTTTTAAAAGC", 2, 4),      # the TpA splits it: TTTT | AAAA
    ("GCAAATGC", 1, 4),          # A3T1
    ("GCAATGC", 0, 3),           # too short
    ("GCATATATGC", 0, 2),        # AT | AT | AT
    ("GGGCCC", 0, 0),            # no A or T
    ("AAAAAAAAAAAANTTTT", 2, 12),  # N breaks a run
])
def test_a_tracts(seq, count, longest):
    v = one(seq)
    assert v["a_tract_count"] == count and v["a_tract_max_length"] == longest


# ------------------------------------------------------------------ CpG
def test_cpg_observed_expected_by_hand():
    v = one("CGCAATTGCA")
    # C 3, G 2, CpG 1, 10 bases: 1 * 10 / (3 * 2) = 1.6667; density 100 * 1 / 9 steps
    assert v["cpg_observed_expected"] == pytest.approx(10 / 6)
    assert v["methylation_potential"] == pytest.approx(100 / 9)
    v = one("CGNAATTGCA")
    # C 2, G 2, CpG 1, 9 bases: 9 / 4 = 2.25; 7 steps without N
    assert v["cpg_observed_expected"] == pytest.approx(2.25)
    assert v["methylation_potential"] == pytest.approx(100 / 7)
    assert np.isnan(one("AATT")["cpg_observed_expected"])  # no C, no G: undefined
    assert one("AATT")["methylation_potential"] == 0


def test_cpg_island_windows():
    # 100 nt of AT then 200 of CG: window i (101 windows) has G+C = 100 + i of 200, so > 0.5 for
    # i >= 1, and o/e about 200 / (50 + i / 2) >= 2 > 0.6: 100 of 101 windows qualify
    seq = "AT" * 50 + "CG" * 100
    assert one(seq)["cpg_island_score"] == pytest.approx(100 / 101)
    assert one("CGCA" * 50)["cpg_island_score"] == 1      # G+C 0.75, o/e 50 * 200 / (100 * 50) = 2
    assert one("A" * 200)["cpg_island_score"] == 0
    assert np.isnan(one("CG" * 99)["cpg_island_score"])  # shorter than 200


# ------------------------------------------------------------------ invariants
def test_reverse_complement_gives_the_same_values(real, with_n):
    seqs = real + with_n + ["TT" + TELOMERE + "TT", "GCTTTTAAAAGC", "CGCGGCGCGCGC"]
    a = values(seqs)
    b = values([reverse_complement(s) for s in seqs])
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = ~np.isnan(a)
    assert np.allclose(a[ok], b[ok], rtol=1e-9, atol=1e-9)


def test_rows_batches_and_lengths_are_independent(real, with_n):
    seqs = real[:10] + with_n[:10] + ["ACGTAC", "", "N" * 30, TELOMERE, "A" * 300]
    whole = values(seqs)
    perm = np.random.default_rng(3).permutation(len(seqs))
    np.testing.assert_array_equal(values([seqs[i] for i in perm]), whole[perm])
    singles = np.vstack([values([s]) for s in seqs])
    np.testing.assert_allclose(singles, whole, rtol=1e-12, atol=1e-12)


def test_nan_only_where_undefined(real, with_n):
    assert not np.isnan(values(real)).any()               # 230 nt, no N: everything defined
    assert np.isnan(values(["N" * 230])).all()           # nothing to compute from
    assert np.isnan(values([""])).all()
    v = one("ACGTAC")
    defined = {k for k, x in v.items() if not np.isnan(x)}
    assert {"stacking_total_stacking_energy", "a_tract_count", "cpg_observed_expected", "mgw_mean_width",
            "gquad_count", "nucleosome_occupancy"} <= defined
    assert np.isnan(v["melting_mean_melting_temp"]) and np.isnan(v["gquad_score_max"])
    # a few N bases only remove the windows that contain them
    x = values(with_n)
    assert not np.isnan(x[:, [COL["stacking_mean_stacking_energy"], COL["mgw_mean_width"],
                              COL["melting_mean_melting_temp"], COL["gquad_score_max"]]]).any()
