"""evalboot: metrics against scipy, bootstrap behaviour, comparisons, specificity,
binary metrics, output formats and errors.

Real tables (tests/data, share/examples) give the truth; predictions are made from
it with seeded noise. Synthetic data are used only where a known answer is needed
(a known population correlation, correlated groups), and say so.
"""

import json
import math
import time

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss
from scipy.stats import mstats

from conftest import DATA, EXAMPLES, read_tsv, run_cli
from toolkit.evaluate import Task, evaluate
from toolkit.evaluate import bootstrap as bs
from toolkit.evaluate.metrics import Binary, Regression
from toolkit.evaluate.specificity import min_gap, target_indices, top_cell_agreement

LENTI = DATA / "lentimpra_HepG2_400.tsv"
JOINT = EXAMPLES / "lentimpra_joint_3cell.csv.gz"
GOSAI = DATA / "gosai_table_s2_10rows.tsv"
CELLS = ("HepG2", "K562", "WTC11")


# ----------------------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope="module")
def lenti(tmp_path_factory):
    """The real 400-row lentiMPRA table, a noisy prediction (0.8 x truth + N(0, 0.4), seed 11)
    and a few missing values: mean_value empty on 2 rows, the prediction NA on 1."""
    df = pd.read_csv(LENTI, sep="\t")
    rng = np.random.default_rng(11)
    df["pred_mean_value"] = (0.8 * df["mean_value"] + rng.normal(0, 0.4, len(df))).round(4)
    df["flat"] = (df["mean_value"].mean() + rng.normal(0, 0.01, len(df))).round(5)  # a collapsed model
    df["pair"] = [f"e{i // 2}" for i in range(len(df))]  # forward and reverse orientation of one element
    df.loc[[5, 17], "mean_value"] = np.nan
    df.loc[[30], "pred_mean_value"] = np.nan
    path = tmp_path_factory.mktemp("lenti") / "lenti_pred.tsv"
    df.to_csv(path, sep="\t", index=False, na_rep="")
    return path, df


@pytest.fixture(scope="module")
def joint(tmp_path_factory):
    """The real 3-cell lentiMPRA table with a good (pred_) and a poor (base_) prediction per cell."""
    df = pd.read_csv(JOINT)
    rng = np.random.default_rng(3)
    for c in CELLS:
        t = df[f"{c}_l2fc"]
        df[f"pred_{c}_l2fc"] = (0.8 * t + rng.normal(0, 0.4, len(df))).round(4)
        df[f"base_{c}_l2fc"] = (0.3 * t + rng.normal(0, 0.8, len(df))).round(4)
    path = tmp_path_factory.mktemp("joint") / "joint_pred.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path, df


def records(text):
    """The TSV output as a DataFrame of text."""
    return read_tsv(text)


def pick(out, metric, task=None, section="metrics", prediction=None, subset="all"):
    sel = (out["section"] == section) & (out["metric"] == metric) & (out["subset"] == subset)
    if task is not None:
        sel &= out["task"] == task
    if prediction is not None:
        sel &= out["prediction"] == prediction
    rows = out[sel]
    assert len(rows) == 1, (metric, task, section, prediction, subset, rows)
    return rows.iloc[0]


def value(out, *args, **kw):
    return float(pick(out, *args, **kw)["value"])


def ok(res):
    assert res.exit_code == 0, res.stderr
    return res


# ----------------------------------------------------------------------------- every metric against scipy

def test_cli_metrics_match_scipy_on_real_data(lenti):
    path, df = lenti
    res = ok(run_cli("evalboot", [path, "-q", "--bootstrap", "0"]))
    out = records(res.stdout)
    used = df.dropna(subset=["mean_value", "pred_mean_value"])
    y, p = used["mean_value"].to_numpy(), used["pred_mean_value"].to_numpy()
    wy = np.asarray(mstats.winsorize(y, limits=(0.05, 0.05)))
    wp = np.asarray(mstats.winsorize(p, limits=(0.05, 0.05)))
    ref = {
        "pearson": ss.pearsonr(y, p)[0],
        "spearman": ss.spearmanr(y, p)[0],
        "r2": 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2),
        "rmse": np.sqrt(np.mean((p - y) ** 2)),
        "mae": np.mean(np.abs(p - y)),
        "median_ae": np.median(np.abs(p - y)),
        "winsor_pearson": ss.pearsonr(wy, wp)[0],
        "sd_ratio": p.std() / y.std(),
    }
    for metric, expected in ref.items():
        assert value(out, metric, "mean_value") == pytest.approx(expected, rel=1e-9, abs=1e-12), metric
    # nothing silently lost: 3 rows excluded, counted in the output and on stderr
    assert pick(out, "pearson", "mean_value")["n"] == "397"
    assert value(out, "rows_excluded", "mean_value") == 3
    loud = ok(run_cli("evalboot", [path, "--bootstrap", "0"]))
    assert "3 of 400 rows excluded (2 with no truth, 1 with no pred value)" in loud.stderr


@pytest.mark.parametrize("limits", [(0.05, 0.05), (0.1, 0.0), (0.0, 0.0), (0.02, 0.2)])
def test_resampled_metrics_equal_scipy_on_the_resampled_rows(limits):
    """A resample given as counts gives exactly scipy's numbers on the rows drawn (ties included)."""
    df = pd.read_csv(LENTI, sep="\t")
    rng = np.random.default_rng(5)
    y = df["mean_value"].to_numpy()[:150]
    p = np.round(0.7 * y + rng.normal(0, 0.5, len(y)), 1)  # rounded: many ties
    reg = Regression(y, p, winsor=limits)
    draws = rng.integers(0, len(y), size=(6, len(y)))
    W = np.stack([np.bincount(d, minlength=len(y)) for d in draws]).astype(float)
    got = reg.compute(W)
    for b, d in enumerate(draws):
        yy, pp = y[d], p[d]
        wy = np.asarray(mstats.winsorize(yy, limits=limits))
        wp = np.asarray(mstats.winsorize(pp, limits=limits))
        assert got["pearson"][b] == pytest.approx(ss.pearsonr(yy, pp)[0], abs=1e-12)
        assert got["spearman"][b] == pytest.approx(ss.spearmanr(yy, pp)[0], abs=1e-12)
        assert got["winsor_pearson"][b] == pytest.approx(ss.pearsonr(wy, wp)[0], abs=1e-12)
        assert got["median_ae"][b] == pytest.approx(np.median(np.abs(pp - yy)), abs=1e-12)
        assert got["mae"][b] == pytest.approx(np.mean(np.abs(pp - yy)), abs=1e-12)
        assert got["rmse"][b] == pytest.approx(np.sqrt(np.mean((pp - yy) ** 2)), abs=1e-12)


def test_weighted_mse_and_se_quartiles(tmp_path):
    """SE-aware metrics on the real Gosai et al. rows (weighted MSE by hand) and, for quartiles,
    on the lentiMPRA truth with SEs drawn with a seed (the table has none)."""
    df = pd.read_csv(GOSAI, sep="\t")
    rng = np.random.default_rng(2)
    df["pred_K562_log2FC"] = (df["K562_log2FC"] + rng.normal(0, 0.3, len(df))).round(4)
    path = tmp_path / "gosai.tsv"
    df.to_csv(path, sep="\t", index=False)
    out = records(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "50"])).stdout)
    y, p, se = df["K562_log2FC"], df["pred_K562_log2FC"], df["K562_lfcSE"]
    w = 1 / se ** 2
    assert value(out, "weighted_mse", "K562_log2FC", section="se") == pytest.approx(
        np.sum(w * (p - y) ** 2) / np.sum(w), rel=1e-9)

    lt = pd.read_csv(LENTI, sep="\t").rename(columns={"mean_value": "HepG2_l2fc"})
    lt["HepG2_lfcSE"] = rng.uniform(0.05, 0.6, len(lt)).round(4)
    lt["pred_HepG2_l2fc"] = (lt["HepG2_l2fc"] + rng.normal(0, 1, len(lt)) * lt["HepG2_lfcSE"]).round(4)
    path = tmp_path / "se.tsv"
    lt.to_csv(path, sep="\t", index=False)
    out = records(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "50"])).stdout)
    quart = out[out["section"] == "se_quartile"]
    subsets = list(dict.fromkeys(quart["subset"]))
    assert len(subsets) == 4 and all(s.startswith(f"HepG2_lfcSE Q{k + 1} [") for k, s in enumerate(subsets))
    edges = np.quantile(lt["HepG2_lfcSE"], [0.25, 0.5, 0.75])
    first = lt[lt["HepG2_lfcSE"] <= edges[0]]
    q1 = quart[quart["subset"] == subsets[0]]
    q1 = dict(zip(q1["metric"], q1["value"]))
    assert float(q1["pearson"]) == pytest.approx(ss.pearsonr(first["HepG2_l2fc"], first["pred_HepG2_l2fc"])[0])
    assert float(q1["rmse"]) == pytest.approx(np.sqrt(np.mean((first["pred_HepG2_l2fc"] - first["HepG2_l2fc"]) ** 2)))
    # errors grow with the SE here, so the noisiest quartile has the largest RMSE
    rmse = [float(quart[(quart["subset"] == s) & (quart["metric"] == "rmse")]["value"].iloc[0]) for s in subsets]
    assert rmse[3] > rmse[0]


# ----------------------------------------------------------------------------- bootstrap behaviour

def test_interval_covers_a_known_correlation():
    """Synthetic (a known population correlation is needed): bivariate normal with rho = 0.6.
    The 95% intervals of 60 independent data sets cover 0.6 about 95% of the time."""
    rho, n, reps = 0.6, 200, 60
    rng = np.random.default_rng(42)
    covered = 0
    for r in range(reps):
        y = rng.normal(size=n)
        p = rho * y + math.sqrt(1 - rho ** 2) * rng.normal(size=n)
        reg = Regression(y, p)
        boot = np.concatenate([reg.compute(W)["pearson"] for W in bs.resample_weights(n, 400, seed=r)])
        lo, hi = bs.percentile_interval(boot)
        covered += lo <= rho <= hi
    assert 0.85 <= covered / reps <= 1.0, covered


def test_same_seed_same_intervals_other_seed_other(lenti):
    path, _ = lenti
    a = ok(run_cli("evalboot", [path, "-q", "--seed", "1", "--bootstrap", "200"])).stdout
    b = ok(run_cli("evalboot", [path, "-q", "--seed", "1", "--bootstrap", "200"])).stdout
    c = ok(run_cli("evalboot", [path, "-q", "--seed", "2", "--bootstrap", "200"])).stdout
    assert a == b
    assert value(records(a), "pearson") == value(records(c), "pearson")
    assert pick(records(a), "pearson")["ci_low"] != pick(records(c), "pearson")["ci_low"]


def test_cluster_bootstrap_wider_when_groups_are_correlated(tmp_path):
    """Synthetic (correlated groups are needed): 60 groups of 10 rows share a group effect in
    both truth and prediction, so rows are not independent and resampling groups gives a wider
    interval than resampling rows; with no group effect the two agree."""
    rng = np.random.default_rng(9)
    g = np.repeat(np.arange(60), 10)
    effect = rng.normal(0, 1, 60)[g]
    truth = effect + rng.normal(0, 0.3, len(g))
    df = pd.DataFrame({"id": [f"r{i}" for i in range(len(g))], "group": [f"g{k}" for k in g],
                       "y": truth.round(4), "pred_y": (0.5 * effect + rng.normal(0, 0.4, len(g))).round(4)})
    path = tmp_path / "groups.tsv"
    df.to_csv(path, sep="\t", index=False)

    def width(args):
        row = pick(records(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "400", *args])).stdout), "pearson")
        return float(row["ci_high"]) - float(row["ci_low"])

    rows, groups = width([]), width(["--group-col", "group"])
    assert groups > 2 * rows, (rows, groups)
    loud = ok(run_cli("evalboot", [path, "--bootstrap", "10", "--group-col", "group"]))
    assert "groups of 'group' (60 groups)" in loud.stderr
    df["noise"] = [f"n{k}" for k in rng.permutation(g)]  # groups unrelated to the values
    df.to_csv(path, sep="\t", index=False)
    assert width(["--group-col", "noise"]) == pytest.approx(rows, rel=0.35)


def test_group_weights_resample_whole_groups():
    groups = np.array([0, 0, 1, 2, 2, 2])
    for W in bs.resample_weights(6, 50, seed=1, groups=groups):
        assert np.all(W[:, 0] == W[:, 1]) and np.all(W[:, 3] == W[:, 5])
        assert np.all(W.sum(axis=1) == 2 * W[:, 0] + W[:, 2] + 3 * W[:, 3])
    for W in bs.resample_weights(6, 50, seed=1):
        assert np.all(W.sum(axis=1) == 6)


# ----------------------------------------------------------------------------- paired comparison

def test_paired_compare_detects_the_better_predictor(joint):
    path, _ = joint
    args = ["--compare", "base_HepG2_l2fc,base_K562_l2fc,base_WTC11_l2fc", "--bootstrap", "300", "-q"]
    out = records(ok(run_cli("evalboot", [path, *args])).stdout)
    for c in CELLS:
        d = pick(out, "delta_pearson", f"{c}_l2fc", section="compare")
        assert float(d["value"]) > 0.2 and float(d["ci_low"]) > 0
        assert float(d["p_adj"]) < 0.05
        z = pick(out, "fisher_z", f"{c}_l2fc", section="compare")
        assert float(z["value"]) > 5 and float(z["p_adj"]) < 1e-6
        assert float(pick(out, "delta_rmse", f"{c}_l2fc", section="compare")["ci_high"]) < 0
    macro = pick(out, "delta_pearson", "macro", section="compare")
    assert float(macro["value"]) == pytest.approx(np.mean(
        [value(out, "delta_pearson", f"{c}_l2fc", section="compare") for c in CELLS]))
    assert float(macro["ci_low"]) > 0


def test_paired_compare_does_not_detect_an_identical_predictor(joint, tmp_path):
    _, df = joint
    df = df.copy()
    for c in CELLS:
        df[f"same_{c}_l2fc"] = df[f"pred_{c}_l2fc"]
    path = tmp_path / "same.tsv"
    df.to_csv(path, sep="\t", index=False)
    out = records(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "200", "--compare",
                                          "same_HepG2_l2fc,same_K562_l2fc,same_WTC11_l2fc"])).stdout)
    for c in CELLS:
        for m in ("delta_pearson", "delta_rmse", "fisher_z"):
            rec = pick(out, m, f"{c}_l2fc", section="compare")
            assert float(rec["value"]) == 0
            assert float(rec["p_value"]) == 1 and float(rec["p_adj"]) == 1


def test_holm_on_hand_worked_p_values():
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert bs.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1; NaN left out of the family (m = 2: 0.2 x 2 = 0.4, 0.7 x 1 -> 0.7)
    adj = bs.holm([0.7, float("nan"), 0.2])
    assert adj[0] == pytest.approx(0.7) and math.isnan(adj[1]) and adj[2] == pytest.approx(0.4)
    assert bs.holm([0.6, 0.5]) == pytest.approx([1.0, 1.0])


def test_fisher_z_for_dependent_correlations_hand_worked():
    # Meng, Rosenthal & Rubin (1992): r1 = 0.5, r2 = 0.3, r12 = 0.4, n = 103
    # z1 - z2 = 0.549306 - 0.309520 = 0.239786; rbar2 = 0.17; f = 0.6 / 1.66 = 0.361446;
    # h = (1 - 0.361446 * 0.17) / 0.83 = 1.130788; z = 0.239786 * sqrt(100 / (2 * 0.6 * 1.130788)) = 2.0585
    z, p = bs.compare_correlations(0.5, 0.3, 0.4, 103)
    assert z == pytest.approx(2.0585, abs=1e-3)
    assert p == pytest.approx(0.0395, abs=5e-4)
    assert bs.compare_correlations(0.4, 0.4, 1.0, 50) == (0.0, 1.0)


def test_paired_p_value():
    assert bs.paired_p_value(np.zeros(99)) == 1.0
    assert bs.paired_p_value(np.ones(99)) == pytest.approx(2 / 100)
    assert bs.paired_p_value(np.r_[np.ones(90), -np.ones(9)]) == pytest.approx(2 * 10 / 100)


# ----------------------------------------------------------------------------- specificity

def test_min_gap_hand_worked_three_cells():
    truth = np.array([[2.0, 0.5, 1.0],
                      [0.0, 1.0, 3.0],
                      [1.0, 1.0, 0.5]])
    # target cells A, B, C: 2 - max(0.5, 1) = 1; 1 - max(0, 3) = -2; 0.5 - max(1, 1) = -0.5
    assert min_gap(truth, np.array([0, 1, 2])).tolist() == [1.0, -2.0, -0.5]
    # top observed cell: A (2 - 1 = 1), C (3 - 1 = 2), A on a tie (1 - 1 = 0)
    top = target_indices(["A", "B", "C"], truth=truth)
    assert top.tolist() == [0, 2, 0]
    assert min_gap(truth, top).tolist() == [1.0, 2.0, 0.0]
    assert target_indices(["A", "B", "C"], target_cell=np.array(["B", "X", "C"])).tolist() == [1, -1, 2]
    pred = np.array([[1.0, 0.0, 0.5], [0.0, 2.0, 1.0], [0.2, 0.1, 0.0]])
    assert top_cell_agreement(truth, pred).tolist() == [True, False, True]


def test_min_gap_in_the_output(tmp_path):
    """Four rows, three cells, target_cell given (one row names a cell that is not a task)."""
    truth = [[2.0, 0.5, 1.0], [0.0, 1.0, 3.0], [1.0, 1.0, 0.5], [0.2, 0.4, 0.1], [1.0, 0.0, 0.0]]
    pred = [[1.0, 0.0, 0.5], [0.0, 2.0, 1.0], [0.2, 0.1, 0.0], [0.3, 0.1, 0.6], [0.0, 0.0, 1.0]]
    target = ["A", "B", "C", "B", "SKNSH"]
    df = pd.DataFrame({"id": [f"s{i}" for i in range(5)], "target_cell": target})
    for j, c in enumerate("ABC"):
        df[f"{c}_l2fc"] = [r[j] for r in truth]
        df[f"pred_{c}_l2fc"] = [r[j] for r in pred]
    path = tmp_path / "three.tsv"
    df.to_csv(path, sep="\t", index=False)
    res = ok(run_cli("evalboot", [path, "--bootstrap", "0"]))
    out = records(res.stdout)
    # observed: 1, -2, -0.5, 0.4 - 0.2 = 0.2; predicted: 0.5, 1, 0 - 0.2 = -0.2, 0.1 - 0.6 = -0.5
    obs, prd = [1.0, -2.0, -0.5, 0.2], [0.5, 1.0, -0.2, -0.5]
    mg = pick(out, "pearson", "MinGap", section="specificity")
    assert float(mg["value"]) == pytest.approx(ss.pearsonr(obs, prd)[0]) and mg["n"] == "4"
    assert value(out, "spearman", "MinGap", section="specificity") == pytest.approx(ss.spearmanr(obs, prd)[0])
    # top predicted = top observed in rows 1, 3 (ties: first cell) and not in 2, 4, 5 -> 2 of 5
    assert value(out, "top_cell_agreement", "top_cell", section="specificity") == pytest.approx(2 / 5)
    assert "1 rows whose 'target_cell' is not one of A, B, C are left out" in res.stderr


def test_min_gap_on_real_three_cell_data(joint):
    path, df = joint
    out = records(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "100"])).stdout)
    truth = df[[f"{c}_l2fc" for c in CELLS]].to_numpy()
    pred = df[[f"pred_{c}_l2fc" for c in CELLS]].to_numpy()
    own = df["target_cell"].map({c: i for i, c in enumerate(CELLS)}).to_numpy()
    rows = np.arange(len(df))
    others_t, others_p = truth.copy(), pred.copy()
    others_t[rows, own] = -np.inf
    others_p[rows, own] = -np.inf
    obs = truth[rows, own] - others_t.max(axis=1)
    prd = pred[rows, own] - others_p.max(axis=1)
    rec = pick(out, "pearson", "MinGap", section="specificity")
    assert float(rec["value"]) == pytest.approx(ss.pearsonr(obs, prd)[0], rel=1e-9)
    assert float(rec["ci_low"]) < float(rec["value"]) < float(rec["ci_high"])
    hit = np.mean(truth.argmax(axis=1) == pred.argmax(axis=1))
    assert value(out, "top_cell_agreement", "top_cell", section="specificity") == pytest.approx(hit)
    quart = out[(out["section"] == "specificity") & out["subset"].str.startswith("observed Q")]
    assert quart["subset"].nunique() == 4
    assert sum(int(n) for n in quart[quart["metric"] == "pearson"]["n"]) == len(df)
    # macro = the mean over the three tasks, with its own interval
    macro = pick(out, "pearson", "macro")
    assert float(macro["value"]) == pytest.approx(np.mean([value(out, "pearson", f"{c}_l2fc") for c in CELLS]))
    assert float(macro["ci_low"]) < float(macro["value"]) < float(macro["ci_high"])


# ----------------------------------------------------------------------------- binary targets

def test_binary_metrics_hand_computed():
    y = np.array([1, 0, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.1])
    got = {k: v[0] for k, v in Binary(y, p, threshold=0.5).compute(np.ones((1, 6))).items()}
    # AUROC: positive-negative pairs ranked right: 0.9 > 3, 0.7 > 2, 0.4 > 2 -> 7 / 9
    assert got["auroc"] == pytest.approx(7 / 9)
    # AUPR (average precision): precision at each positive, descending: 1/1, 2/3, 3/4
    assert got["aupr"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    # threshold 0.5: called 0.9, 0.8, 0.7 -> TP 2, FP 1, FN 1
    assert got["f1"] == pytest.approx(2 / 3) and got["precision"] == pytest.approx(2 / 3)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["brier"] == pytest.approx(np.mean((p - y) ** 2))
    # bins [0.9, 1]: 0.9 vs 1; [0.8, 0.9): 0.8 vs 0; [0.7, 0.8): 0.7 vs 1; [0.4, 0.5): 0.4 vs 1; ...
    assert got["ece"] == pytest.approx((0.1 + 0.8 + 0.3 + 0.6 + 0.3 + 0.1) / 6)
    # ties count one half: pairs (0.6+, 0.6-) 0.5, (0.6+, 0.1-) 1, (0.2+, 0.6-) 0, (0.2+, 0.1-) 1 -> 2.5 / 4;
    # AP: threshold 0.6 -> precision 1/2, recall 1/2; 0.2 -> precision 2/3, recall 1
    tie = Binary(np.array([1, 0, 1, 0]), np.array([0.6, 0.6, 0.2, 0.1])).compute(np.ones((1, 4)))
    assert tie["auroc"][0] == pytest.approx(0.625)
    assert tie["aupr"][0] == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_binary_task_in_the_cli(lenti, tmp_path):
    """Real truth made binary (active: mean_value > 0.5); the prediction a probability from
    the noisy prediction; auto-detected as binary, AUROC against scipy's Mann-Whitney U."""
    _, df = lenti
    d = df.dropna(subset=["mean_value", "pred_mean_value"]).copy()
    d["active"] = (d["mean_value"] > 0.5).astype(int)
    d["pred_active"] = (1 / (1 + np.exp(-3 * (d["pred_mean_value"] - 0.5)))).round(5)
    path = tmp_path / "binary.tsv"
    d[["seq_id", "active", "pred_active"]].to_csv(path, sep="\t", index=False)
    out = records(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "100", "--threshold", "0.4"])).stdout)
    pos, neg = d[d["active"] == 1]["pred_active"], d[d["active"] == 0]["pred_active"]
    auroc = ss.mannwhitneyu(pos, neg).statistic / (len(pos) * len(neg))
    assert value(out, "auroc", "active") == pytest.approx(auroc)
    called = d["pred_active"] >= 0.4
    tp = int((called & (d["active"] == 1)).sum())
    f1 = 2 * tp / (2 * tp + int((called & (d["active"] == 0)).sum()) + int((~called & (d["active"] == 1)).sum()))
    assert value(out, "f1", "active") == pytest.approx(f1)
    assert "pearson" not in set(out[out["task"] == "active"]["metric"])
    cal = out[out["section"] == "calibration"]
    assert set(cal["metric"]) == {"mean_pred", "frac_pos"}
    assert sum(int(n) for n in cal[cal["metric"] == "frac_pos"]["n"]) == len(d)
    # forced regression: the same column gets regression metrics instead
    out = records(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "0", "--task-type", "active=regression"])).stdout)
    assert value(out, "pearson", "active") == pytest.approx(ss.pearsonr(d["active"], d["pred_active"])[0])


# ----------------------------------------------------------------------------- warnings, formats, plot

def test_collapse_warning_for_near_constant_prediction(lenti):
    path, _ = lenti
    res = ok(run_cli("evalboot", [path, "--truth", "mean_value", "--pred", "flat", "--bootstrap", "20"]))
    warn = [ln for ln in res.stderr.splitlines() if ln.startswith("Warning:")]
    assert len(warn) == 1 and "flat" in warn[0] and "collapsed" in warn[0], res.stderr
    assert value(records(res.stdout), "sd_ratio", "mean_value") < 0.2
    normal = ok(run_cli("evalboot", [path, "--bootstrap", "20"]))
    assert "collapsed" not in normal.stderr


def test_json_tsv_and_table_formats(lenti, tmp_path):
    path, _ = lenti
    tsv = records(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "50"])).stdout)
    assert list(tsv.columns) == ["section", "task", "prediction", "subset", "metric", "value", "ci_low",
                                 "ci_high", "n", "p_value", "p_adj"]
    doc = json.loads(ok(run_cli("evalboot", [path, "-q", "--bootstrap", "50", "--output-format", "json"])).stdout)
    assert doc["meta"]["bootstrap"] == 50 and doc["meta"]["excluded"]["mean_value"]["total"] == 3
    js = pd.DataFrame(doc["results"])
    assert len(js) == len(tsv)
    pj = js[(js["metric"] == "pearson") & (js["section"] == "metrics")].iloc[0]
    assert pj["value"] == pytest.approx(value(tsv, "pearson"), rel=1e-11)
    assert pj["p_value"] is None  # NaN becomes null: strict JSON
    out = tmp_path / "eval.json"  # -o x.json chooses JSON
    ok(run_cli("evalboot", [path, "-q", "--bootstrap", "50", "-o", out]))
    assert json.loads(out.read_text())["results"] == doc["results"]
    table = ok(run_cli("evalboot", [path, "-q", "--bootstrap", "50", "--output-format", "table"])).stdout
    assert "Metrics" in table and "pearson" in table and "[" in table and "\t" not in table


def test_plot_writes_a_png(joint, tmp_path):
    path, _ = joint
    png = tmp_path / "fit.png"
    res = ok(run_cli("evalboot", [path, "-q", "--bootstrap", "0", "--plot", png, "-o", tmp_path / "m.tsv"]))
    assert res.stdout == ""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.png", "m.tsv"]


# ----------------------------------------------------------------------------- errors

def _table(tmp_path, text, name="t.tsv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(res, *words):
    assert res.exit_code == 1, (res.exit_code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert res.stdout == ""
    return lines[0]


def test_errors_name_file_line_and_column(tmp_path, lenti):
    path, _ = lenti
    _error(run_cli("evalboot", [path, "--truth", "nope"]), str(path), "'nope'", "not in the input")
    _error(run_cli("evalboot", [path, "--truth", "mean_value", "--pred", "pred_nope"]), "'pred_nope'")
    _error(run_cli("evalboot", [path, "--group-col", "batch"]), "--group-col", "'batch'")
    bad = _table(tmp_path, "id\tx\tpred_x\nr1\t1\t2\nr2\t2\t1.5\nr3\t3\toops\nr4\t4\t4\n")
    _error(run_cli("evalboot", [bad]), str(bad), "line 4", "column 'pred_x'", "'oops'",
           "not a number")
    few = _table(tmp_path, "id\tx\tpred_x\nr1\t1\t2\nr2\t2\t1.5\n", "few.tsv")
    _error(run_cli("evalboot", [few]), "few.tsv", "too few rows")
    nan = _table(tmp_path, "id\tx\tpred_x\nr1\t1\t2\nr2\tNA\t1.5\nr3\t3\t\nr4\t4\t4\n", "nan.tsv")
    _error(run_cli("evalboot", [nan]), "nan.tsv", "column 'x'", "too few rows", "2 missing")
    nobin = _table(tmp_path, "id\tx\tpred_x\nr1\t1\t0.2\nr2\t0.5\t0.5\nr3\t0\t0.1\nr4\t1\t0.9\n", "nobin.tsv")
    _error(run_cli("evalboot", [nobin, "--task-type", "x=binary"]), "column 'x'", "0 or 1")
    nopred = _table(tmp_path, "id\tK562_l2fc\tHepG2_l2fc\nr1\t1\t2\n", "nopred.tsv")
    _error(run_cli("evalboot", [nopred]), "nopred.tsv", "pred_K562_l2fc")
    fasta = _table(tmp_path, ">s1\nACGT\n", "x.fa")
    _error(run_cli("evalboot", [fasta]), "x.fa", "FASTA")


def test_usage_errors_exit_2(lenti):
    path, _ = lenti
    assert run_cli("evalboot", [path, "--truth", "mean_value", "--pred", "a,b"]).exit_code == 2
    assert run_cli("evalboot", [path, "--compare", "a,b"]).exit_code == 2
    assert run_cli("evalboot", [path, "--task-type", "mean_value=ordinal"]).exit_code == 2
    assert run_cli("evalboot", [path, "--winsorize", "60,40"]).exit_code == 2
    assert run_cli("evalboot", [path, "--pred", "flat"]).exit_code == 2  # not pred_<truth>: needs --truth


def test_truth_inferred_from_pred_and_pred_from_truth(lenti):
    path, _ = lenti
    base = ok(run_cli("evalboot", [path, "-q", "--bootstrap", "0"])).stdout
    assert ok(run_cli("evalboot", [path, "-q", "--bootstrap", "0", "--truth", "mean_value"])).stdout == base
    assert ok(run_cli("evalboot", [path, "-q", "--bootstrap", "0", "--pred", "pred_mean_value"])).stdout == base


# ----------------------------------------------------------------------------- --per-descriptor

@pytest.fixture(scope="module")
def descriptors(tmp_path_factory):
    """Real descriptors (descfeat thermo and bend of 120 real lentiMPRA rows) and a noisy
    prediction of each: truth + N(0, (k_j SD_j)^2), k_j from 0.1 to 3 (seed 5), so the
    descriptors range from well to badly predicted; a few values missing."""
    d = tmp_path_factory.mktemp("desc")
    src = d / "lenti120.tsv"
    pd.read_csv(LENTI, sep="\t").head(120).to_csv(src, sep="\t", index=False)
    res = ok(run_cli("descfeat", [src, "--families", "thermo,bend", "-q"]))
    df = read_tsv(res.stdout)
    names = [c for c in df.columns if c.startswith(("thermo_", "bend_"))]
    rng = np.random.default_rng(5)
    cols = {"id": df["id"]}
    for j, n in enumerate(names):
        t = df[n].astype(float).to_numpy()
        sd = t.std() if t.std() > 0 else 1.0
        cols[n] = t
        cols[f"pred_{n}"] = t + rng.normal(0, sd * (0.1 + 2.9 * j / len(names)), len(t))
    cols["other"] = 1.0                                 # matched by '*' below, but has no prediction
    cols["group"] = [f"g{i // 3}" for i in range(len(df))]
    out = pd.DataFrame(cols)
    out.loc[[3, 40], names[0]] = np.nan
    out.loc[[7], f"pred_{names[1]}"] = np.nan
    path = d / "desc_pred.tsv"
    out.to_csv(path, sep="\t", index=False, na_rep="")
    return path, out, names


def _reference(df, names):
    """Per-descriptor metrics by scipy/numpy on the rows where both values are finite."""
    ref = {}
    for n in names:
        y, p = df[n].to_numpy(float), df[f"pred_{n}"].to_numpy(float)
        okr = np.isfinite(y) & np.isfinite(p)
        y, p = y[okr], p[okr]
        const = np.ptp(y) == 0
        ref[n] = {"n": int(okr.sum()),
                  "pearson": np.nan if const else ss.pearsonr(y, p)[0],
                  "spearman": np.nan if const else ss.spearmanr(y, p)[0],
                  "r2": np.nan if const else 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2),
                  "mse": np.mean((p - y) ** 2), "mae": np.mean(np.abs(p - y))}
    return ref


def test_per_descriptor_metrics_and_distributions_match_scipy(descriptors, tmp_path):
    path, df, names = descriptors
    table = tmp_path / "per_desc.tsv"
    res = ok(run_cli("evalboot", [path, "--per-descriptor", "--bootstrap", "0", "--descriptors-out", table]))
    out = records(res.stdout)
    assert f"{len(names)} tasks in 2 families (per-descriptor)" in res.stderr
    ref = _reference(df, names)
    # the full table: every descriptor, in input order, checked against scipy and numpy
    full = read_tsv(table.read_text())
    assert list(full["descriptor"]) == names and list(full["prediction"]) == [f"pred_{n}" for n in names]
    assert list(full["family"]) == [n.split("_")[0] for n in names]
    for _, row in full.iterrows():
        r = ref[row["descriptor"]]
        assert int(row["n"]) == r["n"]
        for m in ("pearson", "spearman", "r2", "mse", "mae"):
            if np.isnan(r[m]):
                assert row[m] == "", (row["descriptor"], m)
            else:
                assert float(row[m]) == pytest.approx(r[m], rel=1e-8, abs=1e-10), (row["descriptor"], m)
    assert int(full.loc[full["descriptor"] == names[0], "n"].iloc[0]) == 118      # 2 missing truths
    assert int(full.loc[full["descriptor"] == names[1], "n"].iloc[0]) == 119      # 1 missing prediction
    # distributions over descriptors: numpy's mean, median and quartiles, overall and per family
    for fam, chosen in (("all", names), ("thermo", [n for n in names if n.startswith("thermo_")]),
                        ("bend", [n for n in names if n.startswith("bend_")])):
        for m in ("pearson", "spearman", "r2", "mse", "mae"):
            v = np.array([ref[n][m] for n in chosen])
            v = v[np.isfinite(v)]
            want = {"mean": v.mean(), "median": np.median(v), "q1": np.percentile(v, 25),
                    "q3": np.percentile(v, 75)}
            for s, w in want.items():
                rec = pick(out, m, fam, section="descriptors", subset=s)
                assert float(rec["value"]) == pytest.approx(w, rel=1e-8), (fam, m, s)
                assert int(rec["n"]) == len(v)
    # 5 best and 5 worst by Pearson, in order
    finite = [n for n in names if np.isfinite(ref[n]["pearson"])]
    by_r = sorted(finite, key=lambda n: -ref[n]["pearson"])
    for section, expect in (("best", by_r[:5]), ("worst", by_r[::-1][:5])):
        got = out[(out["section"] == section) & (out["metric"] == "pearson")]
        assert list(got["task"]) == expect and list(got["subset"]) == [f"rank {k}" for k in range(1, 6)]
        assert [float(x) for x in got["value"]] == pytest.approx([ref[n]["pearson"] for n in expect], rel=1e-8)
    # the readable table and JSON carry the same numbers
    text = ok(run_cli("evalboot", [path, "-q", "--per-descriptor", "--bootstrap", "0", "--output-format",
                                   "table"])).stdout
    assert "pearson over tasks" in text and "5 worst by Pearson r" in text and by_r[0] in text
    doc = json.loads(ok(run_cli("evalboot", [path, "-q", "--per-descriptor", "--bootstrap", "0",
                                            "--output-format", "json"])).stdout)
    assert doc["meta"]["mode"] == "per-descriptor" and doc["meta"]["descriptors"] == len(names)
    med = next(r for r in doc["results"] if r["section"] == "descriptors" and r["task"] == "all"
               and r["metric"] == "pearson" and r["subset"] == "median")
    assert med["value"] == pytest.approx(value(out, "pearson", "all", section="descriptors", subset="median"))


def test_per_descriptor_intervals_recompute_every_descriptor_per_resample(descriptors):
    """The interval of the mean and median Pearson r over descriptors is the spread of that
    statistic over group resamples, each descriptor's r computed by numpy on the rows drawn."""
    path, df, names = descriptors
    B, seed = 60, 9
    out = records(ok(run_cli("evalboot", [path, "-q", "--per-descriptor", "--bootstrap", B, "--seed", seed,
                                          "--group-col", "group"])).stdout)
    from toolkit.evaluate.report import group_codes

    codes, _ = group_codes(df["group"].to_numpy(dtype=object))
    W = np.concatenate(list(bs.resample_weights(len(df), B, seed, groups=codes)))
    stats = {"mean": [], "median": []}
    for w in W:
        rs = []
        for n in names:
            y, p = df[n].to_numpy(float), df[f"pred_{n}"].to_numpy(float)
            okr = np.isfinite(y) & np.isfinite(p)
            y, p = np.repeat(y[okr], w[okr]), np.repeat(p[okr], w[okr])
            rs.append(np.corrcoef(y, p)[0, 1] if np.ptp(y) > 0 else np.nan)
        rs = np.array(rs)
        stats["mean"].append(np.nanmean(rs))
        stats["median"].append(np.nanmedian(rs))
    for s, v in stats.items():
        rec = pick(out, "pearson", "all", section="descriptors", subset=s)
        lo, hi = np.percentile(v, [2.5, 97.5])
        assert float(rec["ci_low"]) == pytest.approx(lo, rel=1e-6)
        assert float(rec["ci_high"]) == pytest.approx(hi, rel=1e-6)
        assert lo < float(rec["value"]) < hi
    # a descriptor's own interval in the best list comes from the same resamples
    top = out[(out["section"] == "best") & (out["metric"] == "pearson")].iloc[0]
    assert float(top["ci_low"]) <= float(top["value"]) <= float(top["ci_high"])


def test_per_descriptor_column_patterns_and_refusals(descriptors):
    path, df, names = descriptors
    thermo = [n for n in names if n.startswith("thermo_")]
    # patterns select columns; a matched column without a prediction ('other', 'id') is left out
    base = ["-q", "--per-descriptor", "--bootstrap", "0"]
    out = records(ok(run_cli("evalboot", [path, *base, "--truth", "thermo_*"])).stdout)
    assert set(out.loc[out["section"] == "descriptors", "task"]) == {"all"}        # one family: no repeat
    assert int(pick(out, "mae", "all", section="descriptors", subset="mean")["n"]) == len(thermo)
    both = records(ok(run_cli("evalboot", [path, *base, "--truth", "thermo_*,bend_*", "--pred", "pred_*"])).stdout)
    every = records(ok(run_cli("evalboot", [path, *base, "--truth", "*"])).stdout)
    plain = records(ok(run_cli("evalboot", [path, *base])).stdout)
    key = ["section", "task", "subset", "metric"]
    assert every.equals(plain)                                  # input order
    assert both.sort_values(key).reset_index(drop=True).equals(plain.sort_values(key).reset_index(drop=True))
    assert set(plain.loc[plain["section"] == "descriptors", "task"]) == {"all", "thermo", "bend"}
    # a --pred template also works without --per-descriptor (one record set per task)
    one = records(ok(run_cli("evalboot", ["-q", path, "--bootstrap", "0", "--truth", thermo[0], "--pred",
                                          "pred_*"])).stdout)
    assert set(one.loc[one["section"] == "metrics", "task"]) == {thermo[0]}
    # refusals: no match (1), a malformed template and options that do not apply (2)
    res = run_cli("evalboot", [path, *base, "--truth", "zzz_*"])
    assert res.exit_code == 1 and "no column matches 'zzz_*'" in res.stderr
    assert run_cli("evalboot", [path, *base, "--pred", "a*b*"]).exit_code == 2
    assert run_cli("evalboot", [path, *base, "--compare", "pred_*"]).exit_code == 2
    assert run_cli("evalboot", [path, "--descriptors-out", path]).exit_code == 1      # never over the input


def test_descriptor_helpers_moved_but_still_importable():
    """fit-physinformer's per-epoch helpers live in toolkit.evaluate.descriptors; the old
    names still import, and agree with scipy."""
    from toolkit.evaluate.descriptors import descriptor_metrics, summary
    from toolkit.train import physinformer as trainer

    assert trainer.descriptor_metrics is descriptor_metrics and trainer.summary is summary
    df = pd.read_csv(LENTI, sep="\t")
    y = np.column_stack([df["mean_value"].to_numpy(float), np.full(len(df), 2.0)])
    p = y + np.random.default_rng(1).normal(0, 0.5, y.shape)
    met = descriptor_metrics(p, y)
    assert met["pearson"][0] == pytest.approx(ss.pearsonr(y[:, 0], p[:, 0])[0], rel=1e-10)
    assert met["spearman"][0] == pytest.approx(ss.spearmanr(y[:, 0], p[:, 0])[0], rel=1e-10)
    assert np.isnan(met["pearson"][1]) and np.isnan(met["r2"][1]) and met["mse"][1] > 0     # constant truth
    s = summary(np.array([1.0, np.nan, 3.0, 2.0, 10.0]))
    assert s == {"mean": 4.0, "median": 2.5, "q1": 1.75, "q3": 4.75}


# ----------------------------------------------------------------------------- speed

@pytest.mark.slow
def test_thousand_resamples_of_100k_rows_take_seconds():
    """Synthetic (size is the point): 100,000 rows, one task, every metric, 1,000 resamples."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=100_000).round(3)
    p = (0.6 * y + rng.normal(size=y.size)).round(3)
    t0 = time.monotonic()
    res = evaluate([Task("HepG2_l2fc", y, p, "pred_HepG2_l2fc")], n_boot=1000, seed=1)
    elapsed = time.monotonic() - t0
    assert elapsed < 60, elapsed
    rec = next(r for r in res.records if r.metric == "spearman")
    assert rec.ci_low < rec.value < rec.ci_high
