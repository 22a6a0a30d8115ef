"""Values at the edge of float64 are computed right or counted and reported, never dropped
in silence: seqqc's inverse-variance merge with tiny SEs, evalboot's Pearson for
predictions near 1e308, fit-cre's targets beyond float64, predict's missing side inputs."""

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.stats as ss

from conftest import DATA, read_tsv, run_cli

LENTI = DATA / "lentimpra_HepG2_400.tsv"


def _exact_ivw(y, se):
    """Inverse-variance weighted mean and SE in exact rational arithmetic (the oracle)."""
    w = [1 / Fraction(s) ** 2 for s in se]
    sw = sum(w)
    mean = sum(wi * Fraction(yi) for wi, yi in zip(w, y)) / sw
    var = 1 / sw  # may lie outside float64 (SE 1e160): its square root from the exact logarithms
    return float(mean), math.exp(0.5 * (math.log(var.numerator) - math.log(var.denominator)))


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1.0, 1e160])
def test_ivw_merge_is_right_for_tiny_and_huge_standard_errors(tmp_path, scale):
    """Two real lentiMPRA rows measured twice each; their SEs multiplied by ``scale``. With
    SE <= 1e-154, 1/SE^2 overflows: the merged target was empty in a kept row."""
    src = pd.read_csv(LENTI, sep="\t").head(2)
    rows = []
    for i, r in src.iterrows():
        for k, (dy, fse) in enumerate(((0.0, 1.0), (0.75, 2.5))):
            rows.append({"id": f"e{i}_{k}", "sequence": r["seq"], "HepG2_l2fc": float(r["mean_value"]) + dy,
                         "HepG2_lfcSE": repr(0.1 * fse * scale)})
    path = tmp_path / "dups.tsv"
    pd.DataFrame(rows).to_csv(path, sep="\t", index=False)
    res = run_cli("seqqc", [path, "-q", "--merge-duplicates", "ivw", "--se-bounds", "0,1e300", "--max-se", "1e300"])
    assert res.exit_code == 0, res.stderr
    out = read_tsv(res.stdout)
    assert len(out) == 2
    for i, r in enumerate(out.itertuples()):
        grp = rows[2 * i: 2 * i + 2]
        mean, se = _exact_ivw([g["HepG2_l2fc"] for g in grp], [g["HepG2_lfcSE"] for g in grp])
        assert float(r.HepG2_l2fc) == pytest.approx(mean, rel=1e-9)
        assert float(r.HepG2_lfcSE) == pytest.approx(se, rel=1e-9)


def test_pearson_of_predictions_near_the_float64_limit(tmp_path):
    """Predictions of +-1e308 scale: Pearson's r is scale-free and must be reported (it was
    blank: the sums of squares overflowed). Checked against scipy on the same predictions
    divided by 1e300 (exact in the correlation)."""
    df = pd.read_csv(LENTI, sep="\t").dropna(subset=["mean_value"]).head(300)
    rng = np.random.default_rng(5)
    y = df["mean_value"].to_numpy()
    p = (y - y.mean() + rng.normal(0, 0.5, len(y)))
    p = p / np.abs(p).max() * 1.5e308
    path = tmp_path / "pred.tsv"
    pd.DataFrame({"id": df["seq_id"], "mean_value": y,
                  "pred_mean_value": [repr(float(v)) for v in p]}).to_csv(path, sep="\t", index=False)
    res = run_cli("evalboot", [path, "-q", "--bootstrap", "0"])
    assert res.exit_code == 0, res.stderr
    out = read_tsv(res.stdout)
    sel = out[(out["section"] == "metrics") & (out["subset"] == "all")].set_index("metric")["value"]
    ref_r = ss.pearsonr(y, p / 1e300)[0]
    assert float(sel["pearson"]) == pytest.approx(ref_r, abs=1e-9)
    assert float(sel["spearman"]) == pytest.approx(ss.spearmanr(y, p)[0], abs=1e-9)
    assert float(sel["rmse"]) == pytest.approx(float(np.sqrt(np.mean(((p - y) / 1e300) ** 2))) * 1e300, rel=1e-9)


@pytest.fixture(scope="module")
def split_with_gc(tmp_path_factory):
    """The real 400-row lentiMPRA table through seqqc | dgsplit, with the GC fraction of each
    sequence as a side-input column."""
    d = tmp_path_factory.mktemp("nonfinite")
    qc = run_cli("seqqc", [LENTI, "-q"])
    split = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    split["gc"] = [f"{(s.count('G') + s.count('C')) / len(s):.4f}" for s in split["sequence"]]
    return d, split


def test_fit_cre_counts_targets_beyond_float64_and_predict_counts_filled_side_inputs(split_with_gc):
    d, split = split_with_gc
    train = split.index[split["split"] == "train"]
    table = split.copy()
    table.loc[train[:2], "mean_value"] = "1e400"   # overflows float64: read as inf
    table.loc[train[2], "mean_value"] = "-inf"
    path = d / "split.tsv"
    table.to_csv(path, sep="\t", index=False)
    model = d / "m"
    res = run_cli("fit-cre", [path, "-o", model, "--preset", "cpu", "--epochs", "1", "--no-baseline",
                              "--targets", "mean_value", "--modality", "gc=gc"])
    assert res.exit_code == 0, res.stderr
    warn = [ln for ln in res.stderr.splitlines() if "beyond the floating-point range" in ln]
    assert len(warn) == 1 and "3 train value(s)" in warn[0] and "'mean_value'" in warn[0], res.stderr
    test = split[split["split"] == "test"].head(20).copy()
    test.iloc[[1, 4, 7], test.columns.get_loc("gc")] = ["", "nan", "inf"]
    res = run_cli("predict", ["-m", model], input=test.to_csv(sep="\t", index=False))
    assert res.exit_code == 0, res.stderr
    warn = [ln for ln in res.stderr.splitlines() if ln.startswith("Warning:")]
    assert len(warn) == 1 and "3 missing or non-finite side-input value(s) in 3 row(s)" in warn[0], res.stderr
    assert len(read_tsv(res.stdout)) == 20
