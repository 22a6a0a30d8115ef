"""psi family: hand-worked Debye-Hückel values, Debye lengths, ideal B-DNA geometry, an
explicit all-pairs numpy reference, screening, strand symmetry, N handling, batch
independence."""

import math

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, REPO, read_tsv
from toolkit.features import psi
from toolkit.features.params import default_params
from toolkit.seq import reverse_complement

PARAMS = default_params()
NAMES = [d.name for d in psi.descriptors(PARAMS)]
COL = {n: i for i, n in enumerate(NAMES)}
OLSON = pd.read_csv(REPO / "share" / "params" / "olson1998_pDNA_step_means_signcorrected.tsv",
                    sep="\t").set_index("step")
SEQS = read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].tolist()[:40]
K_STD, K_ENH = 12, 45


def values(seqs):
    return psi.compute(list(seqs), PARAMS)


# ---------------------------------------------------------------- names


def test_names_units_and_order():
    descs = psi.descriptors(PARAMS)
    assert len(descs) == 18 and len(set(NAMES)) == 18
    expected = [f"psi_{c}_{s}_{w}" for w in ("w0", "w1", "w2") for c in ("std", "enh") for s in ("min", "max", "mean")]
    assert NAMES == expected
    for d in descs:
        assert d.family == "psi" and d.unit == "kT/e" and d.formula and "Olson" in d.source
    assert "standard conditions" in descs[0].formula and "I = 0.15 M" in descs[0].formula
    assert "enhanced conditions" in descs[-1].formula and "I = 0.01 M" in descs[-1].formula
    out = values(SEQS[:3])
    assert out.shape == (3, 18) and out.dtype == np.float64


# ---------------------------------------------------------------- physics constants


def test_debye_and_bjerrum_lengths():
    # the textbook 0.304 / sqrt(I) nm at 25 °C (water, eps_r 78.5), l_B = 7.14 Å there
    for ionic in (0.01, 0.15, 1.0):
        assert psi.debye_length(ionic, 298.15, 78.5) == pytest.approx(3.04 / math.sqrt(ionic), rel=2e-3)
    assert psi.bjerrum_length(298.15, 78.5) == pytest.approx(7.14, abs=0.005)
    # Malmberg & Maryott: 78.30 at 25 °C, 74.15 at 37 °C
    assert psi.water_permittivity(298.15) == pytest.approx(78.30, abs=0.01)
    assert psi.water_permittivity(310.15) == pytest.approx(74.15, abs=0.01)
    # at 37 °C: 1/kappa = 0.3016 / sqrt(I) nm; the two conditions
    assert psi.debye_length(0.15) == pytest.approx(7.786, abs=1e-3)
    assert psi.debye_length(0.01) == pytest.approx(30.155, abs=1e-3)
    assert psi.bjerrum_length() == pytest.approx(7.2658, abs=1e-4)
    # lambda scales as sqrt(eps_r T / I)
    ratio = psi.debye_length(0.15) / psi.debye_length(0.15, 298.15, 78.5)
    assert ratio == pytest.approx(math.sqrt(74.15220547 * 310.15 / (78.5 * 298.15)), rel=1e-9)
    assert (psi.cutoff_bp(0.15), psi.cutoff_bp(0.01)) == (K_STD, K_ENH)   # ceil(5 lambda / 3.38 Å)
    with pytest.raises(ValueError):
        psi.debye_length(0.0)


def _one_point(charge_at, ionic=0.15, K=0):
    """Psi (kT/e) of the kernel at a sample point at the origin with one phosphate at
    ``charge_at`` (the other one 10 km away)."""
    pos = np.zeros((9, 1))
    pos[3:6, 0] = charge_at
    pos[6, 0] = 1e14
    prof = np.empty((1, 1))
    kl = np.array([1.0 / psi.debye_length(ionic) / math.log(2.0)])
    psi._profile(pos, kl, np.array([K]), np.array([-psi.bjerrum_length()]), psi.R_MIN, prof, np.empty((4, 1)))
    return prof[0, 0]


def test_single_charge_debye_hueckel_by_hand():
    # -1 e at 10 Å, I = 0.15 M, 37 °C: l_B = 7.2658 Å, 1/kappa = 7.7861 Å
    # Psi = -7.2658 * exp(-10 / 7.7861) / 10 = -7.2658 * 0.27684 / 10 = -0.20114 kT/e
    v = _one_point((6.0, 8.0, 0.0))
    assert v == pytest.approx(-0.20114, abs=1e-5)
    assert v == pytest.approx(-7.265793535954264 * math.exp(-10 / 7.786054924859197) / 10, rel=1e-13)
    # closer than R_MIN = 3 Å counts as 3 Å: -7.2658 * exp(-3 / 7.7861) / 3 = -1.6475
    assert _one_point((1.0, 0.0, 0.0)) == pytest.approx(-1.6475, abs=1e-4)
    assert _one_point((0.0, 0.0, 3.0)) == _one_point((1.0, 0.0, 0.0))
    # weaker screening, larger |Psi|; the unscreened limit is -l_B / r
    assert _one_point((6.0, 8.0, 0.0), ionic=0.01) < v
    assert _one_point((6.0, 8.0, 0.0), ionic=1e-12) == pytest.approx(-0.72658, abs=1e-5)


# ---------------------------------------------------------------- geometry


def test_step_transform_follows_the_3dna_convention():
    # pure roll: rotation about y by the roll angle, translation through the middle frame
    rot, t = psi.step_transform(0, 0, 3.4, 0, 10, 0)
    r = math.radians(10)
    assert np.allclose(rot, [[math.cos(r), 0, math.sin(r)], [0, 1, 0], [-math.sin(r), 0, math.cos(r)]], atol=1e-15)
    assert np.allclose(t, [3.4 * math.sin(r / 2), 0, 3.4 * math.cos(r / 2)], atol=1e-15)
    # pure tilt: rotation about x; pure twist: about z; shift and slide turn with half the twist
    rot, _ = psi.step_transform(0, 0, 3.4, 8, 0, 0)
    r = math.radians(8)
    assert np.allclose(rot, [[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]], atol=1e-15)
    rot, t = psi.step_transform(1.0, 0.0, 0.0, 0, 0, 36)
    h = math.radians(18)
    assert np.allclose(t, [math.cos(h), math.sin(h), 0.0], atol=1e-15)
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-15)


def _ideal_positions(L):
    """Sample points and phosphates of an L-bp ideal B-DNA (twist 36°, rise 3.38 Å)."""
    rot, shift = psi.step_transform(0, 0, 3.38, 0, 0, 36)
    rots = np.tile(rot.ravel(), (17, 1))
    shifts = np.tile(shift, (17, 1))
    p1, p2 = psi.phosphate_positions()
    pos = np.empty((9, L))
    psi._build(np.zeros(L, dtype=np.uint8), rots, shifts, p1, p2, np.array(psi.SAMPLE_POINT), pos)
    return pos


def test_ideal_b_dna_geometry():
    rot, shift = psi.step_transform(0, 0, 3.38, 0, 0, 36)
    assert np.allclose(np.linalg.matrix_power(rot, 10), np.eye(3), atol=1e-12)   # 10 bp per turn
    pos = _ideal_positions(21)
    s, a, b = pos[0:3].T, pos[3:6].T, pos[6:9].T
    assert np.allclose(s[10] - s[0], [0, 0, 33.8], atol=1e-12)                    # one pitch
    assert np.allclose(a[20] - a[10], a[10] - a[0], atol=1e-12)
    pp = np.linalg.norm(a[1:] - a[:-1], axis=1)
    assert np.allclose(pp, pp[0]) and 6.3 < pp[0] < 7.0                          # 6.46 Å
    assert pp[0] == pytest.approx(math.hypot(2 * 8.91 * math.sin(math.radians(18)), 3.38), abs=1e-9)
    assert np.allclose(np.hypot(a[:, 0], a[:, 1]), 8.91) and np.allclose(np.hypot(b[:, 0], b[:, 1]), 8.91)
    assert np.allclose(np.linalg.norm(b[1:] - b[:-1], axis=1), pp[0])
    # the phosphate between pairs 0 and 1 sits at Zp = -0.39 Å from their middle frame (3DNA B-DNA: ~ -0.4)
    assert a[1, 2] - 3.38 / 2 == pytest.approx(-0.39, abs=0.01)
    # the sample point is in the minor groove: equidistant from the two backbones, >= 6 Å from every P
    d1 = np.linalg.norm(a[None] - s[:, None], axis=2)
    d2 = np.linalg.norm(b[None] - s[:, None], axis=2)
    assert d1.min() > 6.0 and d2.min() > 6.0
    assert np.sort(d1[10]) == pytest.approx(np.sort(d2[10]))


def test_ideal_b_dna_potential_is_uniform_inside():
    pos = _ideal_positions(120)
    prof = np.empty((2, 120))
    rot, shift, p1, p2, smp, kl, kcut, scale, rmin = psi._kernel_args(PARAMS)
    psi._profile(pos, kl, kcut, scale, rmin, prof, np.empty((4, 120)))
    std, enh = prof
    assert np.isnan(std[:K_STD]).all() and np.isnan(std[120 - K_STD:]).all() and not np.isnan(std[K_STD:-K_STD]).any()
    assert np.isnan(enh[:K_ENH]).all() and not np.isnan(enh[K_ENH:-K_ENH]).any()
    assert np.ptp(std[K_STD:-K_STD]) < 1e-12 and np.ptp(enh[K_ENH:-K_ENH]) < 1e-12
    assert -4.0 < std[60] < -2.5 and -14.0 < enh[60] < -10.0


# ---------------------------------------------------------------- an explicit reference


def _reference(seq, ionic, K):
    """Psi profile by an independent all-pairs numpy calculation (3DNA rebuild written out)."""
    cols = ["shift_A", "slide_A", "rise_A", "tilt_deg", "roll_deg", "twist_deg"]
    mean = OLSON[cols].mean().to_numpy(dtype=float, copy=True)
    mean[[0, 3]] = 0.0

    def rz(t):
        return np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])

    def ry(t):
        return np.array([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])

    R, o = np.eye(3), np.zeros(3)
    frames = [(R, o)]
    for a, b in zip(seq, seq[1:]):
        p = OLSON.loc[a + b, cols].to_numpy(float) if "N" not in a + b else mean
        tau, rho, om = np.radians(p[3:])
        g = math.hypot(tau, rho)
        ph = math.atan2(tau, rho)
        o = o + R @ rz(om / 2 - ph) @ ry(g / 2) @ rz(ph) @ p[:3]
        R = R @ rz(om / 2 - ph) @ ry(g) @ rz(om / 2 + ph)
        frames.append((R, o))
    P1 = np.array([-8.91 * math.cos(math.radians(95.2)), 8.91 * math.sin(math.radians(95.2)), -2.08])
    P2 = P1 * [1, -1, -1]
    S = np.array([o + R @ [-5.86, 0, 0] for R, o in frames])
    Q = np.array([[o + R @ P1, o + R @ P2] for R, o in frames])       # (L, 2, 3)
    lb, lam = psi.bjerrum_length(), psi.debye_length(ionic)
    L = len(seq)
    out = np.full(L, np.nan)
    for j in range(K, L - K):
        r = np.linalg.norm(Q[j - K:j + K + 1] - S[j], axis=2)
        out[j] = -lb * np.sum(np.exp(-r / lam) / r)
    return out


def test_profile_matches_an_all_pairs_reference():
    for seq in (SEQS[0], "ACGTNNACGTTTGACNAGGGCCCATATATTTTTAAAAACGCG" * 3):
        prof = psi.profiles(seq, PARAMS)["psi"]
        for c, (ionic, K) in enumerate(((0.15, K_STD), (0.01, K_ENH))):
            ref = _reference(seq, ionic, K)
            assert np.array_equal(np.isnan(prof[c]), np.isnan(ref))
            assert np.nanmax(np.abs(prof[c] - ref)) < 1e-11


def test_statistics_of_the_profile():
    seqs = [SEQS[1], SEQS[2][:151], "ACGT" * 10 + "N" * 30 + "GGCA" * 12]      # even, odd, with N
    out = values(seqs)
    for row, seq in zip(out, seqs):
        L = len(seq)
        h = (L + 1) // 2
        prof = psi.profiles(seq, PARAMS)["psi"]
        ok = np.array([b != "N" for b in seq])
        for c, tag in enumerate(("std", "enh")):
            for w, sel in (("w0", slice(0, L)), ("w1", slice(0, h)), ("w2", slice(L - h, L))):
                v = prof[c, sel][ok[sel] & ~np.isnan(prof[c, sel])]
                got = [row[COL[f"psi_{tag}_{s}_{w}"]] for s in ("min", "max", "mean")]
                if v.size == 0:
                    assert np.isnan(got).all()
                else:
                    assert got[0] == v.min() and got[1] == v.max() and got[2] == pytest.approx(v.mean(), rel=1e-14)


def test_closest_phosphate_on_real_sequences():
    for seq in SEQS[:10]:
        pr = psi.profiles(seq, PARAMS)
        s, q = pr["sample"], np.concatenate([pr["p1"], pr["p2"]])
        dmin = np.linalg.norm(q[None] - s[:, None], axis=2).min()
        assert 5.5 < dmin and dmin > psi.R_MIN          # the R_MIN guard never binds


# ---------------------------------------------------------------- invariants


def test_stronger_screening_gives_smaller_magnitude():
    out = values(SEQS)
    for w in ("w0", "w1", "w2"):
        for s in ("min", "max", "mean"):
            assert (out[:, COL[f"psi_enh_{s}_{w}"]] < out[:, COL[f"psi_std_{s}_{w}"]]).all()
    assert (out < 0).all()
    # same cut-off, rising ionic strength: |Psi| falls at every sampled base pair
    pos = np.empty((9, len(SEQS[0])))
    rot, shift, p1, p2, smp, kl, kcut, scale, rmin = psi._kernel_args(PARAMS)
    code = np.array(["ACGT".index(b) for b in SEQS[0]], dtype=np.uint8)
    psi._build(code, rot, shift, p1, p2, smp, pos)
    ionic = [0.005, 0.01, 0.05, 0.15, 0.5]
    kls = np.array([1 / psi.debye_length(i) / math.log(2) for i in ionic])
    prof = np.empty((len(ionic), pos.shape[1]))
    psi._profile(pos, kls, np.full(len(ionic), 20), np.full(len(ionic), scale[0]), rmin, prof,
                 np.empty((4, pos.shape[1])))
    inner = prof[:, 20:-20]
    assert (np.diff(np.abs(inner), axis=0) < 0).all()


def test_reverse_complement_whole_invariant_and_halves_swap():
    seqs = SEQS[:20] + [SEQS[20][:183], SEQS[21][:100] + "NNNN" + SEQS[21][104:171]]
    fwd = values(seqs)
    rev = values([reverse_complement(s) for s in seqs])
    for c in ("std", "enh"):
        for s in ("min", "max", "mean"):
            a = fwd[:, COL[f"psi_{c}_{s}_w0"]]
            assert np.allclose(a, rev[:, COL[f"psi_{c}_{s}_w0"]], rtol=0, atol=1e-11)
            assert np.allclose(fwd[:, COL[f"psi_{c}_{s}_w1"]], rev[:, COL[f"psi_{c}_{s}_w2"]], rtol=0, atol=1e-11)
            assert np.allclose(fwd[:, COL[f"psi_{c}_{s}_w2"]], rev[:, COL[f"psi_{c}_{s}_w1"]], rtol=0, atol=1e-11)
    # and the values are sequence-dependent (not a constant of the geometry)
    assert np.ptp(fwd[:20], axis=0).min() > 1e-4


def test_n_handling_and_short_sequences():
    rows = ["N" * 230, "ACGTTGCA" * 3, "ACGTTGCAA" * 5, SEQS[3][:115] + "N" * 115]
    out = values(rows)
    assert np.isnan(out[0]).all()                                   # only N: nothing to sample
    assert np.isnan(out[1]).all()                                   # 24 nt < 25 (2K + 1, standard)
    std = [COL[n] for n in NAMES if "_std_" in n]
    enh = [COL[n] for n in NAMES if "_enh_" in n]
    assert not np.isnan(out[2, std]).any() and np.isnan(out[2, enh]).all()   # 45 nt: standard only
    w2 = [COL[n] for n in NAMES if n.endswith("_w2")]
    assert np.isnan(out[3, w2]).all()                               # second half all N
    assert not np.isnan(out[3, [COL["psi_std_mean_w1"], COL["psi_enh_mean_w1"]]]).any()
    # an N step gets the mean step: tilt and shift 0, the others the table mean
    tabs = psi.psi_tables(PARAMS)
    mean = tabs["step_params"][16]
    assert mean[0] == 0.0 and mean[3] == 0.0
    assert mean[2] == pytest.approx(OLSON["rise_A"].mean()) and mean[5] == pytest.approx(OLSON["twist_deg"].mean())
    # an N acts only through its two steps (a rigid turn of the chain beyond them):
    # sample points whose cut-off window does not reach them keep their values
    base = SEQS[4]
    mut = base[:20] + "N" + base[21:]
    pa, pb = psi.profiles(base, PARAMS)["psi"], psi.profiles(mut, PARAMS)["psi"]
    for c, K in enumerate((K_STD, K_ENH)):
        far = slice(21 + K + 1, len(base) - K)
        assert np.allclose(pa[c, far], pb[c, far], rtol=0, atol=1e-9)
        assert not np.allclose(pa[c, K:21 + K], pb[c, K:21 + K], rtol=0, atol=1e-9)


def test_batch_order_and_lengths_do_not_change_values():
    seqs = SEQS[:25] + [SEQS[25][:120], SEQS[26][:97], "ACGTN" * 30, SEQS[27][:200]]
    together = values(seqs)
    alone = np.vstack([values([s]) for s in seqs])
    assert np.array_equal(together, alone, equal_nan=True)
    perm = np.random.default_rng(0).permutation(len(seqs))
    assert np.array_equal(values([seqs[i] for i in perm]), together[perm], equal_nan=True)
