"""bend family: hand-worked values, an explicit per-sequence reference, strand symmetry,
batch independence and N handling."""

import cmath
import math
import random

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, REPO, read_tsv
from toolkit.features import bend
from toolkit.features.params import default_params
from toolkit.seq import reverse_complement

PARAMS = default_params()
NAMES = [d.name for d in bend.descriptors(PARAMS)]
COL = {n: i for i, n in enumerate(NAMES)}
RT = 1.987204e-3 * 310.15          # kcal/mol at 37 °C = 0.6163313...
OLSON = pd.read_csv(REPO / "share" / "params" / "olson1998_pDNA_step_means_signcorrected.tsv",
                    sep="\t").set_index("step")
TRI = pd.read_csv(REPO / "share" / "params" / "trinucleotide_bendability_ftrCOOL.tsv",
                  sep="\t").set_index("trinucleotide")["Bendability-DNAse"]


def values(seq):
    """{name: value} of one sequence."""
    return dict(zip(NAMES, bend.compute([seq], PARAMS)[0]))


@pytest.fixture(scope="module")
def real_seqs():
    return read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].str.upper().tolist()[:120]


# ---------------------------------------------------------------- names

def test_names_are_the_documents_44():
    windows = (5, 7, 9, 11)
    expected = ["bend_total_bending_energy", "bend_mean_bending_cost", "bend_max_bending_cost",
                "bend_bending_energy_variance"]
    for base in ("rms_curvature", "curvature_var"):
        for agg in ("mean", "max"):
            expected += [f"bend_{base}_w{w}_{agg}" for w in windows]
    expected += ["bend_curvature_gradient_mean", "bend_curvature_gradient_max"]
    for agg in ("mean", "global_max", "fraction_at_global_max"):
        expected += [f"bend_max_bend_w{w}_{agg}" for w in windows]
    expected += ["bend_hotspot_count", "bend_hotspot_density"]
    for agg in ("mean", "max"):
        expected += [f"bend_spectral_f{t}_{agg}_power" for t in ("0p200", "0p143", "0p100")]
    expected += ["bend_attention_bias_mean", "bend_attention_bias_min"]
    assert len(expected) == 44 and set(bend.RETIRED) <= set(expected)
    # written: the document's list less the copies of other columns (underflow, same maximum)
    assert NAMES == [n for n in expected if n not in bend.RETIRED] and len(set(NAMES)) == 40
    for d in bend.descriptors(PARAMS):
        assert d.family == "bend" and d.name.startswith("bend_")
        assert d.unit and d.formula and d.source


def test_tables_are_strand_symmetric():
    comp = str.maketrans("ACGT", "TGCA")
    for t, v in TRI.items():
        assert TRI[t.translate(comp)[::-1]] == v
    for s, row in OLSON.iterrows():
        r = OLSON.loc[s.translate(comp)[::-1]]
        assert (r.roll_deg, r.twist_deg, r.tilt_deg) == (row.roll_deg, row.twist_deg, -row.tilt_deg)


# ---------------------------------------------------------------- hand-worked values

def test_bendability_and_attention_hand_worked():
    # GGCA: trinucleotides GGC = 8.2, GCA = 7.5 (DNase I scale)
    v = values("GGCA")
    assert v["bend_total_bending_energy"] == pytest.approx(15.7)          # 8.2 + 7.5
    assert v["bend_mean_bending_cost"] == pytest.approx(7.85)             # 15.7 / 2
    assert v["bend_max_bending_cost"] == pytest.approx(8.2)
    assert v["bend_bending_energy_variance"] == pytest.approx(0.1225)     # (0.35^2 + 0.35^2) / 2
    # one pair (0, 1): exp(-15.7 / 0.61633) = exp(-25.473) = 8.6513e-12
    assert v["bend_attention_bias_mean"] == pytest.approx(8.6513e-12, rel=1e-4)
    # AAATT: AAA = 0.1, AAT = 0.0, ATT = 0.0; pair sums (0,1) 0.1, (0,2) 0.1, (1,2) 0.0
    v = values("AAATT")
    e = math.exp(-0.1 / RT)                                                # exp(-0.16225) = 0.85023
    assert e == pytest.approx(0.85023, rel=1e-5)
    assert v["bend_attention_bias_mean"] == pytest.approx((2 * e + 1) / 3)  # 0.90015
    assert v["bend_total_bending_energy"] == pytest.approx(0.1)


def test_poly_a_curvature_hand_worked():
    # AA: tilt -1.4, roll 0.7, twist 35.1 deg. Ten equal wedges turned by 35.1 deg each:
    # |sum_m e^{i m 35.1}| = |sin(175.5 deg) / sin(17.55 deg)| = 0.078459 / 0.301538 = 0.260196
    # kappa = |(-1.4, 0.7)| * 0.260196 = 1.565248 * 0.260196 = 0.407272 deg per turn
    kappa = math.hypot(-1.4, 0.7) * abs(math.sin(math.radians(175.5)) / math.sin(math.radians(17.55)))
    assert kappa == pytest.approx(0.407272, abs=1e-6)
    v = values("A" * 30)                                  # 29 steps, 20 equal curvature values
    for w in (5, 7, 9, 11):
        for key in (f"bend_rms_curvature_w{w}_mean", f"bend_rms_curvature_w{w}_max",
                    f"bend_max_bend_w{w}_mean", f"bend_max_bend_w{w}_global_max"):
            if key in bend.RETIRED:
                continue
            assert v[key] == pytest.approx(kappa, rel=1e-12)
        assert v[f"bend_curvature_var_w{w}_mean"] == 0.0 and v[f"bend_curvature_var_w{w}_max"] == 0.0
        assert v[f"bend_max_bend_w{w}_fraction_at_global_max"] == 1.0
    assert v["bend_curvature_gradient_mean"] == 0.0 and v["bend_curvature_gradient_max"] == 0.0
    assert v["bend_hotspot_count"] == 0.0 and v["bend_hotspot_density"] == 0.0
    # constant bendability 0.1 (AAA): 28 values, no variance and no periodic power
    assert v["bend_total_bending_energy"] == pytest.approx(2.8)
    assert v["bend_bending_energy_variance"] == 0.0
    for t in ("0p200", "0p143", "0p100"):
        assert v[f"bend_spectral_f{t}_mean_power"] == 0.0 and v[f"bend_spectral_f{t}_max_power"] == 0.0


def test_phased_roll_curves_more_than_out_of_phase():
    # A-tract-like phasing: a high-roll step (CA/TG roll 4.7) every 10-11 bp adds up;
    # repeating it every 5 bp puts consecutive ones on opposite faces and cancels.
    in_phase = ("CAAAAAAAAAA" * 6)[:60]
    anti = ("CAAAA" * 12)[:60]
    assert values(in_phase)["bend_rms_curvature_w5_mean"] > 3 * values(anti)["bend_rms_curvature_w5_mean"]


# ---------------------------------------------------------------- explicit per-sequence reference

def _reference(seq):
    """The descriptors written out per sequence with Python loops (slow, obvious)."""
    out = {}
    b = [TRI[seq[k:k + 3]] for k in range(len(seq) - 2)]
    out["bend_total_bending_energy"] = sum(b)
    out["bend_mean_bending_cost"] = sum(b) / len(b)
    out["bend_max_bending_cost"] = max(b)
    out["bend_bending_energy_variance"] = float(np.var(b))
    z, psi = [], 0.0
    for i in range(len(seq) - 1):
        row = OLSON.loc[seq[i:i + 2]]
        z.append(complex(row.tilt_deg, row.roll_deg) * cmath.exp(1j * math.radians(psi + row.twist_deg / 2)))
        psi += row.twist_deg
    kappa = [abs(sum(z[k:k + 10])) for k in range(len(z) - 9)]
    for w in (5, 7, 9, 11):
        wins = [kappa[j:j + w] for j in range(len(kappa) - w + 1)]
        rms = [math.sqrt(sum(x * x for x in win) / w) for win in wins]
        var = [float(np.var(win)) for win in wins]
        mx = [max(win) for win in wins]
        out[f"bend_rms_curvature_w{w}_mean"], out[f"bend_rms_curvature_w{w}_max"] = np.mean(rms), max(rms)
        out[f"bend_curvature_var_w{w}_mean"], out[f"bend_curvature_var_w{w}_max"] = np.mean(var), max(var)
        out[f"bend_max_bend_w{w}_mean"], out[f"bend_max_bend_w{w}_global_max"] = np.mean(mx), max(mx)
        out[f"bend_max_bend_w{w}_fraction_at_global_max"] = np.mean([abs(x - max(mx)) < 1e-9 for x in mx])
    grad = [abs(kappa[k + 1] - kappa[k]) for k in range(len(kappa) - 1)]
    out["bend_curvature_gradient_mean"], out["bend_curvature_gradient_max"] = np.mean(grad), max(grad)
    mu, sd = np.mean(kappa), np.std(kappa)
    hot = sum(k > mu + 2 * sd for k in kappa)
    out["bend_hotspot_count"], out["bend_hotspot_density"] = hot, hot / len(kappa)
    for f, tag in ((0.2, "0p200"), (1 / 7, "0p143"), (0.1, "0p100")):
        power = []
        for j in range(len(b) - 20):
            win = b[j:j + 21]
            m = sum(win) / 21
            X = sum((x - m) * cmath.exp(-2j * math.pi * f * t) for t, x in enumerate(win))
            power.append(abs(X) ** 2 / 21)
        out[f"bend_spectral_f{tag}_mean_power"], out[f"bend_spectral_f{tag}_max_power"] = np.mean(power), max(power)
    att = [math.exp(-sum(b[i:j + 1]) / RT) for i in range(len(b)) for j in range(i + 1, len(b))]
    out["bend_attention_bias_mean"], out["bend_attention_bias_min"] = np.mean(att), min(att)
    return out


def test_matches_explicit_reference():
    rng = random.Random(7)
    seqs = ["".join(rng.choice("ACGT") for _ in range(n)) for n in (34, 41, 41, 60)]
    seqs.append("AAAAAATTTTTGCAAAAAATTTTTGCAAAAAATTTTTGCAGGGCCC")   # A-tracts, GGGCCC
    got = bend.compute(seqs, PARAMS)
    for seq, row in zip(seqs, got):
        ref = _reference(seq)
        assert set(ref) - set(bend.RETIRED) == set(NAMES)
        for name, want in ref.items():
            if name in bend.RETIRED:
                continue
            assert row[COL[name]] == pytest.approx(want, rel=1e-9, abs=1e-12), (seq, name)


# ---------------------------------------------------------------- invariants

def test_reverse_complement_gives_the_same_descriptors(real_seqs):
    seqs = real_seqs + ["A" * 40, "GATTACA" * 6, "ACGTNNACGTTGCAAAAAATTTTTGCGGCCNA" * 2]
    fwd = bend.compute(seqs, PARAMS)
    rev = bend.compute([reverse_complement(s) for s in seqs], PARAMS)
    assert np.array_equal(np.isnan(fwd), np.isnan(rev))
    ok = ~np.isnan(fwd)
    assert np.allclose(fwd[ok], rev[ok], rtol=1e-9, atol=1e-12)


def test_batches_order_and_lengths_do_not_change_results(real_seqs):
    with_n = real_seqs[60][:100] + "N" + real_seqs[60][101:]         # same length: shares a block
    seqs = real_seqs[:40] + [with_n] + [s[:200] for s in real_seqs[40:60]] + ["ACGTN" * 9, "A" * 15, "", "GG"]
    whole = bend.compute(seqs, PARAMS)
    one_by_one = np.vstack([bend.compute([s], PARAMS) for s in seqs])
    assert np.array_equal(whole, one_by_one, equal_nan=True)         # bit for bit
    perm = np.random.default_rng(3).permutation(len(seqs))
    assert np.array_equal(bend.compute([seqs[i] for i in perm], PARAMS), whole[perm], equal_nan=True)


def test_blocks_do_not_change_results(real_seqs, monkeypatch):
    base = bend.compute(real_seqs, PARAMS)
    monkeypatch.setattr(bend, "BLOCK_ELEMENTS", 7 * 230)             # 7-row blocks
    assert np.array_equal(bend.compute(real_seqs, PARAMS), base, equal_nan=True)


# ---------------------------------------------------------------- N and short sequences

def test_n_positions_are_left_out():
    v = values("A" * 30 + "N" + "A" * 30)
    ref = values("A" * 30)
    # 28 + 28 valid AAA trinucleotides; the turns that touch the N step are dropped, the rest
    # are poly-A turns
    assert v["bend_total_bending_energy"] == pytest.approx(5.6)
    assert v["bend_mean_bending_cost"] == pytest.approx(0.1)
    for name in NAMES:
        if "curvature" in name or "max_bend_w" in name:
            assert v[name] == pytest.approx(ref[name], rel=1e-12, abs=1e-15), name
    assert v["bend_hotspot_density"] == 0.0


def test_undefined_only_where_no_value_exists():
    curv = [n for n in NAMES if "curvature" in n or "max_bend_w" in n or "hotspot" in n]
    spec = [n for n in NAMES if "spectral" in n]
    assert np.isnan(bend.compute(["N" * 40, "", "AC"], PARAMS)).all()
    v = values("ACGTN" * 10)            # every helical turn contains N; trinucleotides ACG, CGT valid
    assert all(np.isnan(v[n]) for n in curv + spec)
    assert v["bend_total_bending_energy"] == pytest.approx(10 * (TRI["ACG"] + TRI["CGT"]))
    v = values("ACGTACGTAC")            # 10 nt: no helical turn of 10 steps
    assert all(np.isnan(v[n]) for n in curv) and not np.isnan(v["bend_max_bending_cost"])
    v = values("ACGTACGTACGTACGTACGTAC")   # 22 nt: 20 trinucleotides, no 21-window
    assert all(np.isnan(v[n]) for n in spec)
    v = values("ACGTACGTACGTACGTACGTACG")  # 23 nt: one spectral window
    assert not any(np.isnan(v[n]) for n in spec)
    full = bend.compute(read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].str.upper().tolist()[:50], PARAMS)
    assert not np.isnan(full).any()
