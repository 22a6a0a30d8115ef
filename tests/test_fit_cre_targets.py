"""fit-cre's target types, transforms and collapse guard (issue 7; designs 003 and 004).

The tables are the real lentiMPRA 3-cell example through seqqc | dgsplit; the extra
target columns are derived from its measurements where a test needs a known scale or
type (raw "TPM" in the billions = 1e8 * 2^(3 * HepG2 l2fc), an above-median 0/1 label,
a read count), and one column is seeded noise for the model that must collapse.
"""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import EXAMPLES, read_tsv, run_cli
from toolkit.cli.fit_cre import cli as fit_cli
from toolkit.cli.predict import cli as predict_cli
from toolkit.errors import InputError
from toolkit.train import targets as TT

FAST = ["--preset", "cpu", "--ensemble", "1", "--batch-size", "32", "--no-baseline"]   # cpu: 1 warm-up epoch


def invoke(args, cli=fit_cli, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    qc = run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    df = pd.concat([df[df["split"] == k].head(n) for k, n in (("train", 240), ("val", 80), ("test", 20))])
    h = df["HepG2_l2fc"].astype(float)
    df["tpm"] = 1e8 * 2 ** (3 * h)
    df["active"] = (h > h[df["split"] == "train"].median()).astype(int)
    df["reads"] = np.round(2 ** (df["K562_l2fc"].astype(float) + 2)).astype(int)
    df["noise"] = np.random.default_rng(0).normal(size=len(df))
    path = tmp_path_factory.mktemp("targets") / "split.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path


def test_transforms_invert_exactly_and_rank_is_the_train_cdf():
    rng = np.random.default_rng(1)
    x = np.exp(rng.normal(5, 3, size=500))
    for chain in (["log1p", "zscore"], ["asinh"], ["zscore"], ["rank", "zscore"], []):
        p = TT.fit(x, chain)
        z = TT.forward(x, p)
        assert np.allclose(TT.inverse(z, p), x, rtol=1e-9 if "rank" not in chain else 1e-6)
        if chain and chain[-1] == "zscore":
            assert abs(z.mean()) < 1e-9 and z.std() == pytest.approx(1.0)
    p = TT.fit(np.arange(1.0, 11.0), ["rank"])
    assert TT.forward(np.array([1.0, 10.0, 5.5]), p) == pytest.approx([0.05, 0.95, 0.5])
    p = TT.fit(np.array([0.0, 1.0, 3.0]), ["log1p", "zscore"])
    assert p["steps"][1]["mean"] == pytest.approx(np.mean(np.log1p([0.0, 1.0, 3.0])))
    assert TT.bad_for_chain(np.array([0.0, -1.0, -3.0, 2.0]), ["log1p"]).tolist() == [1, 2]


def test_target_checks_refuse_with_the_fix():
    y01 = np.array([0.0, 1.0, 1.0, 0.0, np.nan])
    with pytest.raises(InputError, match="--task-type t=binary"):
        TT.check(y01, "t", "regression", ["zscore"], explicit=False)
    assert "trained as a regression" in TT.check(y01, "t", "regression", ["zscore"], explicit=True)[0]
    with pytest.raises(InputError, match="other than 0 and 1"):
        TT.check(np.array([0.0, 1.0, 2.0]), "t", "binary", [], explicit=True)
    with pytest.raises(InputError, match="log1p,zscore"):
        TT.check(np.array([0.0, 1.5, 2.0]), "t", "count", [], explicit=True)
    with pytest.raises(InputError, match="constant"):
        TT.check(np.array([3.0, 3.0, 3.0]), "t", "regression", ["zscore"], explicit=False)
    warn = TT.check(np.array([1e6, 3e7, 2e9, 5e8]), "t", "regression", ["zscore"], explicit=False)
    assert warn and "--target-transform t=log1p,zscore" in warn[0]
    assert TT.check(np.array([1e6, 3e7, 2e9, 5e8]), "t", "regression", ["log1p", "zscore"], explicit=False) == []


def test_raw_targets_reproduce_the_loss_of_thousands_and_the_default_fixes_it(table, tmp_path):
    """Design 003: unnormalised targets left the loss in the thousands; the default z-score fixes it."""
    res = invoke([table, "-o", tmp_path / "raw", "--targets", "tpm", "--target-transform", "tpm=none", "--epochs",
                  "2", *FAST])
    assert res.exit_code == 0, res.output
    assert "--target-transform tpm=log1p,zscore" in res.output              # warned, with the fix
    raw = read_tsv(tmp_path / "raw" / "train_log.tsv")["train_loss"].astype(float)
    assert raw.min() > 5000
    for extra, name in (([], "default"), (["--target-transform", "tpm=log1p,zscore"], "log")):
        res = invoke([table, "-o", tmp_path / name, "--targets", "tpm", "--epochs", "2", *extra, *FAST])
        assert res.exit_code == 0, res.output
        loss = read_tsv(tmp_path / name / "train_log.tsv")["train_loss"].astype(float)
        assert loss.max() < 10
    norm = json.loads((tmp_path / "log" / "normalization.json").read_text())
    assert norm["targets"]["tpm"]["transform"]["chain"] == ["log1p", "zscore"]
    # predict inverts the chain: predictions come back on the TPM scale
    df = read_tsv(table)
    out = read_tsv(invoke(["-m", tmp_path / "log", "-q"], cli=predict_cli,
                          input=df[df["split"] == "val"].to_csv(sep="\t", index=False)).stdout)
    pred = out["pred_tpm"].astype(float)
    assert pred.min() > 1e5 and pred.max() < 1e11
    log = read_tsv(tmp_path / "log" / "train_log.tsv")
    best = log.loc[log["val_mean_pearson"].astype(float).idxmax()]
    r = np.corrcoef(np.log1p(out["tpm"].astype(float)), np.log1p(pred))[0, 1]
    assert r == pytest.approx(float(best["val_pearson_tpm"]), abs=2e-4)


def test_mixed_task_types(table, tmp_path):
    res = invoke([table, "-o", tmp_path / "bad", "--targets", "active", "--epochs", "1", *FAST])
    assert res.exit_code == 1 and "--task-type active=binary" in res.output
    out = tmp_path / "mixed"
    res = invoke([table, "-o", out, "--targets", "active,reads,WTC11_l2fc", "--task-type", "active=binary",
                  "--task-type", "reads=count", "--epochs", "2", *FAST])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["task_types"] == ["binary", "count", "regression"]
    log = read_tsv(out / "train_log.tsv")
    for col in ("train_loss_active", "train_loss_reads", "train_loss_WTC11_l2fc", "val_auroc_active",
                "val_aupr_active", "val_pearson_reads", "val_pearson_WTC11_l2fc", "val_sd_ratio_reads"):
        assert col in log.columns
    assert 0 <= float(log["val_auroc_active"].iloc[-1]) <= 1
    df = read_tsv(table)
    val = df[df["split"] == "val"]
    pred = read_tsv(invoke(["-m", out, "-q"], cli=predict_cli, input=val.to_csv(sep="\t", index=False)).stdout)
    p = pred["pred_active"].astype(float)
    assert ((p > 0) & (p < 1)).all()                                        # probabilities
    assert (pred["pred_reads"].astype(float) > 0).all()                     # expected counts
    best = log.loc[log["val_mean_pearson"].astype(float).idxmax()]
    auroc, _ = TT.binary_scores(p.to_numpy(), val["active"].astype(float).to_numpy())
    assert auroc == pytest.approx(float(best["val_auroc_active"]), abs=1e-6)
    # a transform on a binary target is refused
    res = invoke([table, "-o", tmp_path / "x", "--targets", "active", "--task-type", "active=binary",
                  "--target-transform", "active=log1p", *FAST])
    assert res.exit_code == 1 and "only regression targets" in res.output


def test_collapse_guard_stops_a_model_that_collapses(table, tmp_path):
    """Noise targets and a crushing weight decay: the network's output goes flat."""
    out = tmp_path / "flat"
    crush = tmp_path / "crush.toml"
    crush.write_text("[train]\nweight_decay = 100\n\n[model]\nkmer_prior = false\n")
    res = CliRunner().invoke(fit_cli, [str(table), "-o", str(out), "--targets", "noise", "--config", str(crush),
                                       "--epochs", "8", *FAST])
    assert res.exit_code == 1
    assert "predictions have collapsed" in res.output and "--target-transform" in res.output
    log = read_tsv(out / "train_log.tsv")
    assert len(log) < 8 and float(log["val_sd_ratio_noise"].iloc[-1]) < 0.2
    assert (out / "model.pt").exists() and (out / "checkpoint-last.pt").exists()
    # the same run without the guard trains to the end
    no_guard = tmp_path / "no_guard.json"
    no_guard.write_text('{"train": {"weight_decay": 100, "collapse_sd": 0}, "model": {"kmer_prior": false}}')
    res = invoke([table, "-o", tmp_path / "noguard", "--targets", "noise", "--config", no_guard,
                  "--epochs", "5", *FAST])
    assert res.exit_code == 0, res.output
