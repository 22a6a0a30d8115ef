"""PhysInformer's physics prior: the cross-validated many-target ridge (against a brute-force
refit per fold, penalty and target) and the motif-site statistics (against descfeat's pwm
family, a separate compiled implementation)."""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from toolkit.models.ridge import FoldSums, ridge_cv  # noqa: E402


def _brute(X, Y, fold, alphas):
    mu, sd = X.mean(0), X.std(0)
    sd[sd == 0] = 1
    Z = (X - mu) / sd
    n, T = Y.shape
    oof = np.zeros((len(alphas), n, T))
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        zm, ym = Z[tr].mean(0), Y[tr].mean(0)
        Zc = Z[tr] - zm
        for a, al in enumerate(alphas):
            B = np.linalg.solve(Zc.T @ Zc + al * np.eye(Z.shape[1]), Zc.T @ (Y[tr] - ym))
            oof[a][te] = (Z[te] - zm) @ B + ym
    r = np.array([[np.corrcoef(oof[a][:, t], Y[:, t])[0, 1] for t in range(T)] for a in range(len(alphas))])
    best = r.argmax(0)
    zm, ym = Z.mean(0), Y.mean(0)
    Zc = Z - zm
    coef = np.column_stack([np.linalg.solve(Zc.T @ Zc + alphas[best[t]] * np.eye(Z.shape[1]), Zc.T @ (Y[:, t] - ym[t]))
                            for t in range(T)])
    return coef, ym - zm @ coef, r[best, np.arange(T)], np.asarray(alphas)[best]


def test_ridge_cv_equals_brute_force_cross_validation():
    rng = np.random.default_rng(3)
    n, F, T = 240, 12, 5
    X = rng.normal(size=(n, F)) * rng.uniform(0.1, 10, F) + rng.normal(size=F) * 5
    X[:, 3] = 2.0                                                   # a constant column
    W = rng.normal(size=(F, T)) * (rng.uniform(size=(F, T)) < 0.5)
    Y = X @ W + rng.normal(size=(n, T)) * np.array([0.1, 1, 5, 20, 100])
    fold = rng.integers(0, 4, n)
    alphas = (1e-3, 0.1, 1.0, 10.0, 100.0, 1e4)
    sums = FoldSums(F, T, 4)
    for a in range(0, n, 50):                                       # block by block
        sums.add(X[a:a + 50], Y[a:a + 50], fold[a:a + 50])
    got = ridge_cv(sums, alphas)
    coef, icpt, r, alpha = _brute(X, Y, fold, alphas)
    np.testing.assert_array_equal(got["alpha"], alpha)
    np.testing.assert_allclose(got["cv_r"], r, rtol=1e-8)
    np.testing.assert_allclose(got["coef"], coef, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got["intercept"], icpt, rtol=1e-8, atol=1e-8)
    pred = (X - got["mean"]) / got["sd"] @ got["coef"] + got["intercept"]
    ref = (X - X.mean(0)) / np.where(X.std(0) == 0, 1, X.std(0)) @ coef + icpt
    np.testing.assert_allclose(pred, ref, rtol=1e-6, atol=1e-6)
    assert len(set(alpha)) > 1                                      # the noise levels pick different penalties


def _codes(seqs):
    L = max(map(len, seqs))
    return torch.tensor([["ACGTN".index(c) for c in s.ljust(L, "N")] for s in seqs])


def test_motif_site_statistics_equal_descfeats_pwm_family():
    from toolkit.features import pwm
    from toolkit.features.motifs import cell_type_motifs
    from toolkit.models.physinformer import PWM_STATS, PhysicsPrior

    motifs = cell_type_motifs("HepG2")
    sc = pwm._scorer(motifs, None, pwm.PSEUDOCOUNT, pwm.P_THRESHOLD)
    prior = PhysicsPrior(1, kmax=0, motifs=list(zip(sc.lods, sc.thresholds)))
    df = pd.read_csv("tests/data/lentimpra_HepG2_400.tsv", sep="\t")
    seqs = [s.upper() for s in df["seq"].tolist()[:40]]
    seqs[0] = seqs[0][:100] + "N" + seqs[0][101:]                   # windows over an N are left out
    seqs[1] = seqs[1][:150]                                         # a shorter sequence, N-padded in the batch
    phi = prior.features(_codes(seqs)).numpy().reshape(len(seqs), len(motifs), len(PWM_STATS))
    names = [d.name for d in pwm.descriptors(motifs=motifs)]
    ref = pwm.compute(seqs, motifs=motifs)
    labels = pwm.column_labels(motifs)
    for stat, metric in (("max", "max_score"), ("var", "var_score"), ("count", "num_high_affinity"),
                         ("weight", "total_weight"), ("entropy", "entropy"), ("top_mean", "top_k_mean")):
        j = PWM_STATS.index(stat)
        for k, lab in enumerate(labels):
            want = ref[:, names.index(f"pwm_{lab}_{metric}")]
            np.testing.assert_allclose(phi[:, k, j], want, rtol=2e-5, atol=2e-5, err_msg=f"{lab} {metric}")
    dg = ref[:, names.index(f"pwm_{labels[0]}_delta_g")]            # delta_g = -RT ln Z, linear in log2 Z
    np.testing.assert_allclose(-1.98720e-3 * 310 * np.log(2) * phi[:, 0, PWM_STATS.index("log2_weight")], dg,
                               rtol=1e-4)


def test_kmer_frequencies_count_both_strands_and_skip_n():
    from toolkit.models.physinformer import PhysicsPrior

    prior = PhysicsPrior(1, kmax=2)
    seq = "AACGTNTTG"
    phi = prior.features(_codes([seq])).numpy()[0]
    mono = phi[:2]                                                  # A/T and C/G pairs
    assert mono.tolist() == pytest.approx([(2 + 3) / 8, (1 + 2) / 8])    # A+T, C+G of 8 bases
    # dinucleotides without N: AA AC CG GT TT TG (6 windows); AA+TT pair: AA 1, TT 1 (+ rc counts) -> 4/6
    rc = {"A": "T", "C": "G", "G": "C", "T": "A"}
    wins = [seq[i:i + 2] for i in range(len(seq) - 1) if "N" not in seq[i:i + 2]]
    pairs = sorted({min(w, "".join(rc[c] for c in reversed(w))) for w in
                    ("".join(p) for p in __import__("itertools").product("ACGT", repeat=2))})
    want = [sum(w == p or "".join(rc[c] for c in reversed(w)) == p for w in wins) / len(wins) for p in pairs]
    assert phi[2:].tolist() == pytest.approx(want)


def test_ridge_holdout_equals_explicit_validation_predictions():
    from toolkit.models.ridge import ridge_holdout

    rng = np.random.default_rng(5)
    n, F, T = 300, 9, 4
    X = rng.normal(size=(n, F)) * rng.uniform(0.5, 3, F) + 1.0
    Y = X @ rng.normal(size=(F, T)) + rng.normal(size=(n, T)) * np.array([0.3, 2, 8, 30])
    is_val = np.arange(n) >= 220
    alphas = (1e-2, 1.0, 100.0, 1e4)
    sums = FoldSums(F, T, 2)
    sums.add(X, Y, is_val.astype(int))
    got = ridge_holdout(sums, 1, alphas)
    Xt, Yt = X[~is_val], Y[~is_val]
    mu, sd = Xt.mean(0), Xt.std(0)
    Zt = (Xt - mu) / sd
    Zv = (X[is_val] - mu) / sd
    best_r, preds = np.full(T, -np.inf), np.zeros((is_val.sum(), T))
    for al in alphas:
        B = np.linalg.solve(Zt.T @ Zt + al * np.eye(F), Zt.T @ (Yt - Yt.mean(0)))
        P = Zv @ B + Yt.mean(0)
        for t in range(T):
            r = np.corrcoef(P[:, t], Y[is_val, t])[0, 1]
            if r > best_r[t]:
                best_r[t], preds[:, t] = r, P[:, t]
    np.testing.assert_allclose(got["r"], best_r, rtol=1e-8)
    np.testing.assert_allclose(got["flat_r"], np.corrcoef(preds.ravel(), Y[is_val].ravel())[0, 1], rtol=1e-8)
    np.testing.assert_allclose((X[is_val] - got["mean"]) / got["sd"] @ got["coef"] + got["intercept"], preds,
                               rtol=1e-7, atol=1e-7)


def test_beta_nll_gives_every_mean_the_squared_error_gradient():
    """β = 1: d loss / d μ = (μ - y) / N whatever the log-variance (hand-worked from
    0.5·(y - μ)²·e^(-lv)·e^(lv)); β = 0: the plain NLL's (μ - y)·e^(-lv) / N."""
    from toolkit.models.physinformer import gaussian_nll

    mu = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    lv = torch.tensor([[-6.0, 0.0, 3.0]])
    y = torch.tensor([[0.4, float("nan"), 1.0]])                     # the NaN is left out: N = 2
    for beta, want in ((1.0, [(0.5 - 0.4) / 2, 0.0, (2.0 - 1.0) / 2]),
                       (0.0, [(0.5 - 0.4) * np.exp(6.0) / 2, 0.0, (2.0 - 1.0) * np.exp(-3.0) / 2])):
        mu.grad = None
        loss, nll, cnt, _ = gaussian_nll(mu, lv, y, beta)
        loss.backward()
        np.testing.assert_allclose(mu.grad.numpy()[0], want, rtol=1e-5)
        plain = 0.5 * (np.log(2 * np.pi) + np.array([-6.0, 3.0]) + np.array([0.01, 1.0]) * np.exp([6.0, -3.0]))
        np.testing.assert_allclose(nll.numpy()[[0, 2]], plain, rtol=1e-5)   # the reported NLL is the plain one


def test_prior_config_recognises_the_motif_list_of_the_pwm_columns():
    from toolkit.features import pwm
    from toolkit.features.motifs import cell_type_motifs
    from toolkit.train.physinformer import prior_config

    for ct in ("HepG2", "S2"):
        motifs = cell_type_motifs(ct)
        names = [d.name for d in pwm.descriptors(motifs=motifs)] + ["thermo_total_dG"]
        cfg, note = prior_config(names, 4)
        assert note == f"the {ct} motifs" and cfg["kmax"] == 4
        assert [m["id"] for m in cfg["motifs"]] == [m.matrix_id for m in motifs]
        lod = pwm.log_odds(motifs[0].counts)
        np.testing.assert_allclose(cfg["motifs"][0]["lod"], lod, atol=1e-9)
    cfg, note = prior_config(["pwm_NOSUCHTF_max_score", "thermo_total_dG"], 5)
    assert cfg["motifs"] == [] and "k-mers only" in note
    assert prior_config(["thermo_total_dG"], 5)[0]["motifs"] == []
