"""The parameter-track statistics of PhysInformer's physics prior (toolkit.models.tracks),
each against a plain-Python computation over the valid windows of real sequences
(lentiMPRA HepG2, with an N inside one and a shorter, N-padded one), and the curvature
profile against descfeat's bend family (a separate NumPy implementation)."""

import cmath
import math

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from toolkit.models import tracks as T  # noqa: E402
from toolkit.train.physinformer import track_tables  # noqa: E402


@pytest.fixture(scope="module")
def seqs():
    df = pd.read_csv("tests/data/lentimpra_HepG2_400.tsv", sep="\t")
    s = [x.upper() for x in df["seq"].iloc[:6]]
    s[1] = s[1][:90] + "N" + s[1][91:]                    # an N inside
    s[2] = s[2][:150]                                     # shorter: padded with N in the batch
    s[3] = s[3][:40] + "NN" + s[3][42:100]
    return s


def _codes(seqs):
    L = max(map(len, seqs))
    return torch.as_tensor([["ACGTN".index(b) for b in s.ljust(L, "N")] for s in seqs])


def _values(seq, k, table):
    """(valid-window values, their start positions) of one track, by dictionary lookup."""
    look = {"".join("ACGT"[(i >> (2 * (k - 1 - j))) & 3] for j in range(k)): v for i, v in enumerate(table)}
    out = []
    for i in range(len(seq) - k + 1):
        w = seq[i:i + k]
        if "N" not in w:
            out.append((i, look[w]))
    return out


def _stats(seq, k, table):
    pv = _values(seq, k, table)
    pos = {i: v for i, v in pv}
    v = np.array([x for _, x in pv])
    n = len(v)
    mean = v.mean()
    var = ((v - mean) ** 2).mean()
    out = [mean, math.sqrt(var), v.min(), v.max()] + [np.percentile(v, q * 100) for q in T.QUANTILES]
    for lag in T.LAGS:
        pairs = [(pos[i] - mean) * (pos[i + lag] - mean) for i in pos if i + lag in pos]
        out.append(sum(pairs) / len(pairs) / var if pairs and var > 1e-12 else 0.0)
    g = [pos[i + 1] - pos[i] for i in pos if i + 1 in pos]
    out += [np.mean(np.abs(g)), np.std(g)]
    for w in T.SMOOTH:
        sm = [np.mean([pos[j] for j in range(i, i + w)]) for i in pos if all(j in pos for j in range(i, i + w))]
        out += [min(sm), max(sm), np.std(sm)] if sm else [0.0, 0.0, 0.0]
    assert n > 0
    return np.array(out)


def test_every_track_statistic_equals_a_python_loop_over_valid_windows(seqs):
    tt = track_tables()
    ts = T.TrackStats(tt["tables"], tt["curvature"], tt["periodic"])
    got = ts(_codes(seqs)).numpy().astype(np.float64)
    assert got.shape == (len(seqs), ts.n_features) and np.isfinite(got).all()
    per = len(T.TRACK_STATS)
    for t, (name, k, table) in enumerate(tt["tables"]):
        if name not in ("nn_SL1998_dG37", "bendability_dnase", "shape_MGW", "stiff_relative_energy", "gc"):
            continue
        for r, s in enumerate(seqs):
            want = _stats(s, k, table)
            np.testing.assert_allclose(got[r, t * per:(t + 1) * per], want, rtol=2e-4, atol=2e-4 * (1 + np.abs(want).max()),
                                       err_msg=f"{name}, sequence {r}")


def _kappa(seq, roll, tilt, twist):
    """Wedge-model curvature, step by step with cmath; None where a turn holds an N."""
    steps = [seq[i:i + 2] for i in range(len(seq) - 1)]
    idx = ["ACGT".index(a) * 4 + "ACGT".index(b) if "N" not in a + b else None for a, b in steps]
    psi, z = 0.0, []
    for j in idx:
        om = math.radians(twist[j]) if j is not None else 0.0
        z.append(complex(tilt[j], roll[j]) * cmath.exp(1j * (psi + om / 2)) if j is not None else 0j)
        psi += om
    return [abs(sum(z[k:k + T.TURN])) if all(i is not None for i in idx[k:k + T.TURN]) else None
            for k in range(len(z) - T.TURN + 1)]


def test_curvature_statistics_equal_a_cmath_loop_and_descfeats_profile(seqs):
    from toolkit.features import bend
    from toolkit.features.params import default_params

    tt = track_tables()
    ts = T.TrackStats(tt["tables"], tt["curvature"], tt["periodic"])
    got = ts(_codes(seqs)).numpy().astype(np.float64)
    at = ts.feature_names.index("curvature_mean")
    c = tt["curvature"]
    tables = bend.bend_tables(default_params())
    for r, s in enumerate(seqs):
        kap = _kappa(s, c["roll"], c["tilt"], c["twist"])
        v = np.array([x for x in kap if x is not None])
        ref = bend.curvature_profile(np.array([["ACGTN".index(b) for b in s]], dtype=np.uint8), tables)[0]
        np.testing.assert_allclose(np.sort(v), np.sort(ref[np.isfinite(ref)]), rtol=1e-9)
        want = [v.mean(), v.std(), v.min(), v.max()] + [np.percentile(v, q * 100) for q in T.QUANTILES]
        for w in T.CURVATURE_WINDOWS:
            wins = [kap[i:i + w] for i in range(len(kap) - w + 1) if all(x is not None for x in kap[i:i + w])]
            rms = [math.sqrt(np.mean(np.square(x))) for x in wins]
            var = [np.var(x) for x in wins]
            want += [np.mean(rms), max(rms), np.mean(var), max(var), np.mean([max(x) for x in wins])]
        np.testing.assert_allclose(got[r, at:at + len(T.CURVATURE_STATS)], want, rtol=1e-4, atol=1e-3,
                                   err_msg=f"sequence {r}")


def test_periodicity_and_windowed_entropy_equal_python_loops(seqs):
    tt = track_tables()
    ts = T.TrackStats(tt["tables"], tt["curvature"], tt["periodic"])
    got = ts(_codes(seqs)).numpy().astype(np.float64)
    table = dict((t[0], t) for t in tt["tables"])["bendability_dnase"]
    at = ts.feature_names.index("bendability_dnase_period5_mean")
    ae = ts.feature_names.index("entropy_w5_mean")
    for r, s in enumerate(seqs):
        pos = dict(_values(s, 3, table[2]))
        mean = np.mean(list(pos.values()))
        want = []
        for p in T.PERIODS:
            pw = []
            for i in pos:
                if all(j in pos for j in range(i, i + T.PERIOD_WINDOW)):
                    f = sum((pos[i + t] - mean) * cmath.exp(2j * math.pi * t / p) for t in range(T.PERIOD_WINDOW))
                    pw.append(abs(f) ** 2 / T.PERIOD_WINDOW)
            want += [np.mean(pw), max(pw)]
        np.testing.assert_allclose(got[r, at:at + len(T.PERIOD_STATS)], want, rtol=1e-3, err_msg=f"sequence {r}")
        want = []
        for w in T.ENTROPY_WINDOWS:
            H = []
            for i in range(len(s) - w + 1):
                win = s[i:i + w]
                if "N" in win:
                    continue
                H.append(-sum(win.count(b) / w * math.log2(win.count(b) / w) for b in "ACGT" if b in win))
            want += [np.mean(H), min(H), max(H), np.std(H)]
        np.testing.assert_allclose(got[r, ae:ae + len(T.ENTROPY_STATS)], want, rtol=1e-4, atol=1e-5,
                                   err_msg=f"sequence {r}")


def test_sequences_too_short_for_a_window_give_zeros_not_nan():
    tt = track_tables()
    ts = T.TrackStats(tt["tables"], tt["curvature"], tt["periodic"])
    for L in (0, 1, 3, 9, 12):
        f = ts(torch.randint(0, 4, (2, L)))
        assert f.shape == (2, ts.n_features) and torch.isfinite(f).all()
    f = ts(torch.full((1, 50), 4))                        # all N
    assert torch.equal(f, torch.zeros_like(f))


def test_a_table_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="expected 16"):
        T.TrackStats([("x", 2, [0.0] * 15)])


def test_electrostatic_potential_equals_descfeats_psi_family(seqs):
    """The torch rebuild of the frames and the screened-Coulomb sums against descfeat's
    compiled psi family: the 18 window statistics of every sequence."""
    from toolkit.features import psi
    from toolkit.features.params import default_params
    from toolkit.train.physinformer import electrostatics_tables

    e = T.Electrostatics(**electrostatics_tables())
    got = e(_codes(seqs)).numpy().astype(np.float64)
    ref = psi.compute(seqs, default_params())
    per = len(T.TRACK_STATS) + 9
    for j, d in enumerate(psi.descriptors()):
        _, tag, stat, w = d.name.split("_")
        c = [t for t, _, _ in psi.CONDITIONS].index(tag)
        col = c * per + len(T.TRACK_STATS) + ("w0", "w1", "w2").index(w) * 3 + ("min", "max", "mean").index(stat)
        want = ref[:, j]
        short = ~np.isfinite(want)                        # too short for the cut-off: descfeat NaN, here 0
        np.testing.assert_allclose(got[~short, col], want[~short], rtol=0, atol=1e-5, err_msg=d.name)
        assert (got[short, col] == 0).all()
    prof, ok = e.profiles(_codes(seqs[:1]))
    want = psi.profiles(seqs[0], default_params())["psi"]
    np.testing.assert_allclose(prof[:, 0][ok[:, 0]].numpy(), want[ok[:, 0].numpy()], rtol=1e-10)
