"""fit-cre and predict on the real lentiMPRA 3-cell example: the model directory,
never reading test rows, predict reproducing the logged validation metrics,
batch-size invariance, attribution maps, and refusal of bad model files. Resume,
determinism, torchrun and the model directory refusals: test_training_shared.py."""

import json
import math
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import EXAMPLES, read_tsv
from toolkit.cli.fit_cre import cli as fit_cli
from toolkit.cli.predict import cli as predict_cli
from toolkit.train import cre as trainer
from toolkit.train import data as D

TARGETS = "HepG2_l2fc,K562_l2fc,WTC11_l2fc"
FAST = ["--preset", "cpu", "--epochs", "2", "--batch-size", "32", "-q"]          # the cpu preset warms up 1 epoch


def invoke(cli, args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def split_table(tmp_path_factory):
    """seqqc | dgsplit of the bundled example, cut to 240 train / 60 val rows; every
    test row's targets are replaced by text that would be an error if it were read."""
    from conftest import run_cli

    d = tmp_path_factory.mktemp("cre")
    qc = run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"])
    sp = run_cli("dgsplit", ["-q"], input=qc.stdout)
    df = read_tsv(sp.stdout)
    import pandas as pd

    df = pd.concat([df[df["split"] == k].head(n) for k, n in (("train", 240), ("val", 60), ("test", 50))])
    df.loc[df["split"] == "test", ["HepG2_l2fc", "K562_l2fc", "WTC11_l2fc"]] = "not-read"
    path = d / "split.tsv"
    df.to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(split_table, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "cre"
    res = invoke(fit_cli, [split_table, "-o", out, "--targets", TARGETS, *FAST])
    assert res.exit_code == 0, res.output
    return out


def test_model_directory_contents(model_dir):
    names = sorted(p.name for p in model_dir.iterdir())
    assert {"config.json", "model.pt", "normalization.json", "train_log.tsv", "checkpoint-last.pt"} <= set(names)
    assert any(n.startswith("checkpoint-best-") for n in names)
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["kind"] == "cre" and cfg["targets"] == TARGETS.split(",")
    assert cfg["rows"] == {"train": 240, "val": 60, "test_not_read": 50}
    assert cfg["train"]["huber_delta"] == 1.0 and cfg["train"]["rc_lambda"] == 0.05 and cfg["train"]["epochs"] == 2
    norm = json.loads((model_dir / "normalization.json").read_text())
    assert set(norm["targets"]) == set(TARGETS.split(","))
    assert all(v["type"] == "regression" and v["transform"]["chain"] == ["zscore"] and v["transform"]["steps"][0]["sd"] > 0
               for v in norm["targets"].values())
    log = read_tsv(model_dir / "train_log.tsv")
    assert list(log["epoch"]) == ["1", "2"]
    base = json.loads((model_dir / "baseline.json").read_text())
    assert set(base["val_pearson"]) == set(TARGETS.split(",")) and all(-1 <= v <= 1 for v in base["val_pearson"].values())
    for col in ("train_loss", "val_mean_pearson", "val_mingap_r", "lr", "seconds", "samples_per_s",
                "val_pearson_HepG2_l2fc", "task_weight_K562_l2fc"):
        assert col in log.columns


def test_predict_reproduces_the_logged_validation_metrics(model_dir, split_table):
    df = read_tsv(split_table)
    val = df[df["split"] == "val"]
    res = invoke(predict_cli, ["-m", model_dir, "-q"], input=val.to_csv(sep="\t", index=False))
    assert res.exit_code == 0, res.output
    out = read_tsv(res.stdout)
    assert list(out.columns[:len(df.columns)]) == list(df.columns)          # passthrough, in order
    log = read_tsv(model_dir / "train_log.tsv")
    best = log.loc[log["val_mean_pearson"].astype(float).idxmax()]
    for t in TARGETS.split(","):
        r = np.corrcoef(out[t].astype(float), out["pred_" + t].astype(float))[0, 1]
        assert r == pytest.approx(float(best["val_pearson_" + t]), abs=2e-4)


def test_predict_baseline_is_the_ridge_fit_cre_scored(model_dir, split_table):
    df = read_tsv(split_table)
    val = df[df["split"] == "val"]
    res = invoke(predict_cli, ["-m", model_dir, "-q", "--baseline"], input=val.to_csv(sep="\t", index=False))
    assert res.exit_code == 0, res.output
    out = read_tsv(res.stdout)
    base = json.loads((model_dir / "baseline.json").read_text())
    for t in TARGETS.split(","):
        r = np.corrcoef(out[t].astype(float), out["base_" + t].astype(float))[0, 1]
        assert r == pytest.approx(base["val_pearson"][t], abs=1e-6)


def test_predict_batch_size_does_not_change_predictions(model_dir, split_table):
    data = split_table.read_text()
    a = read_tsv(invoke(predict_cli, ["-m", model_dir, "-q", "--batch-size", "1"], input=data).stdout)
    b = read_tsv(invoke(predict_cli, ["-m", model_dir, "-q", "--batch-size", "512", "--chunk-rows", "7"],
                        input=data).stdout)
    for t in TARGETS.split(","):
        assert np.allclose(a["pred_" + t].astype(float), b["pred_" + t].astype(float), rtol=1e-4, atol=1e-5)


def test_predict_reads_fasta_and_pads_short_sequences(model_dir, tmp_path):
    fa = tmp_path / "x.fa"
    fa.write_text(">a\nACGTACGTAGCTAGCTAGCATCGATCGACTAGCATCGA\n>b\n" + "GATTACA" * 40 + "\n")
    res = invoke(predict_cli, ["-m", model_dir, fa, "-q"])
    out = read_tsv(res.stdout)
    assert list(out["id"]) == ["a", "b"] and np.isfinite(out["pred_K562_l2fc"].astype(float)).all()


def test_test_rows_are_never_read(split_table, tmp_path):
    # the fixture's test rows hold 'not-read' as targets: parsing them would be an error
    df = read_tsv(split_table)
    df = df.reset_index(drop=True)
    assert df.loc[0, "split"] == "train"
    df.loc[0, "K562_l2fc"] = "bad"     # a train row (file line 2) is read, and its error named
    bad = tmp_path / "bad.tsv"
    df.to_csv(bad, sep="\t", index=False)
    res = invoke(fit_cli, [bad, "-o", tmp_path / "m", "--targets", TARGETS, *FAST])
    assert res.exit_code == 1 and "Error:" in res.output and "K562_l2fc" in res.output and "line 2" in res.output


def test_explain_maps(model_dir, split_table, tmp_path):
    import h5py

    df = read_tsv(split_table).head(3)
    data = df.to_csv(sep="\t", index=False)
    for method in ("saliency", "ig", "ism"):
        e = tmp_path / f"{method}.h5"
        res = invoke(predict_cli, ["-m", model_dir, "-q", "--explain", method, "-e", e, "--ig-steps", "64",
                                   "--no-rc-average"], input=data)
        assert res.exit_code == 0, res.output
        with h5py.File(e) as h5:
            m = h5[method][()]
            assert m.shape == (3, 3, 4, 230) and np.isfinite(m).all()
            assert [x.decode() if isinstance(x, bytes) else x for x in h5["ids"][()]] == list(df["id"])
        if method == "ism":
            ism = m
        if method == "ig":
            ig = m
    from toolkit.train.serve import load

    p = load(str(model_dir), torch.device("cpu"))
    seqs = list(df["sequence"])
    ref = p.predict(seqs, rc_average=False)
    # ISM: one substitution predicted directly
    s = seqs[0]
    pos = 100
    alt = "ACGT".replace(s[pos], "")[0]
    mut = p.predict([s[:pos] + alt + s[pos + 1:]], rc_average=False)
    assert ism[0, :, "ACGT".index(alt), pos] == pytest.approx(mut[0] - ref[0], abs=1e-4)
    assert np.all(ism[0, :, "ACGT".index(s[pos]), pos] == 0)
    # IG completeness: attributions sum to f(x) - f(zero baseline), up to the 64-step Riemann error (the
    # k-mer branch is a degree-6 polynomial along the path: 16 steps leave an error of about 0.1)
    zero = p.predict(["N" * 230], rc_average=False)[0]
    total = ig.sum(axis=(2, 3))
    assert np.allclose(total, ref - zero, rtol=0.15, atol=0.05)


def test_refuses_bad_model_files(model_dir, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    data = ">a\nACGTACGTAC\n"
    (bad / "model.pt").write_bytes((model_dir / "model.pt").read_bytes()[:1000])
    res = invoke(predict_cli, ["-m", bad, "-"], input=data)
    assert res.exit_code == 1 and "model.pt" in res.output and "truncated" in res.output

    class Evil:
        def __reduce__(self):
            return (print, ("PWNED",))

    (bad / "model.pt").write_bytes(pickle.dumps({"x": Evil()}))
    res = invoke(predict_cli, ["-m", bad, "-"], input=data)
    assert res.exit_code == 1 and "PWNED" not in res.output and "never run" in res.output
    cfg = json.loads((model_dir / "config.json").read_text())
    cfg["toolkit_version"] = "0.0.1"
    (bad / "config.json").write_text(json.dumps(cfg))
    res = invoke(predict_cli, ["-m", bad, "-"], input=data)
    assert res.exit_code == 1 and "version" in res.output
    res = invoke(predict_cli, ["-m", tmp_path / "nothing", "-"], input=data)
    assert res.exit_code == 1 and "not a model directory" in res.output


def test_fit_errors(split_table, tmp_path):
    df = read_tsv(split_table).drop(columns=["split"])
    p = tmp_path / "nosplit.tsv"
    df.to_csv(p, sep="\t", index=False)
    res = invoke(fit_cli, [p, "-o", tmp_path / "m", *FAST])
    assert res.exit_code == 1 and "split" in res.output and "dgsplit" in res.output
    res = invoke(fit_cli, [split_table, "-o", tmp_path / "m2", "--targets", "nope", *FAST])
    assert res.exit_code == 1 and "nope" in res.output


# ---------------------------------------------------------------- library pieces

def test_augmentations():
    gen = torch.Generator().manual_seed(0)
    codes = torch.as_tensor(D.encode(["ACGTTGCA", "AACCGGTN"], 8))
    assert torch.equal(D.reverse_complement(D.reverse_complement(codes)), codes)
    assert "".join("ACGTN"[i] for i in D.reverse_complement(codes)[1]) == "NACCGGTT"
    rc = D.augment(codes, gen, rc_prob=1.0, shift=0, mask_prob=0)
    assert torch.equal(rc, D.reverse_complement(codes))
    sh = D.augment(codes.repeat(50, 1), gen, rc_prob=0, shift=3, shift_prob=1.0, mask_prob=0)
    for row in sh[::2]:   # each row: the sequence moved by 1..3 with N filling the gap
        s = "".join("ACGTN"[i] for i in row)
        k = s.count("N")
        assert 1 <= k <= 3 and (s == "N" * k + "ACGTTGCA"[:8 - k] or s == "ACGTTGCA"[k:] + "N" * k)
    m = D.augment(torch.zeros(200, 1000, dtype=torch.uint8), gen, rc_prob=0, shift=0, mask_prob=0.02)
    assert (m == 4).float().mean().item() == pytest.approx(0.02, abs=0.003)
    assert D.encode(["ACGTAC"], 4).tolist() == [[1, 2, 3, 0]] and D.encode(["AC"], 5).tolist() == [[4, 0, 1, 4, 4]]


def test_loss_weights_masks_and_schedule():
    pred = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    y = torch.tensor([[0.5, float("nan")], [3.0, 1.0]])
    w = torch.tensor([[2.0, 1.0], [1.0, 1.0]])
    loss, per_task, mse, seen = trainer._loss(pred, y, w, torch.ones(2), 1.0)
    # Huber(0.5) = 0.125, Huber(3) = 2.5, Huber(1) = 0.5; weights 2, 1, 1; 3 labelled elements
    assert loss.item() == pytest.approx((2 * 0.125 + 2.5 + 0.5) / 3)
    assert per_task.tolist() == pytest.approx([(0.125 + 2.5) / 2, 0.5]) and seen.tolist() == [True, True]
    cfg = {**trainer.TRAIN_DEFAULTS}
    assert trainer._task_weights(torch.tensor([1.0, 1.0, 0.01]), cfg, 0).tolist() == [1, 1, 1]
    tw = trainer._task_weights(torch.tensor([1.0, 1.0, 0.001]), cfg, 5)
    assert tw.max().item() == pytest.approx(2.0) and tw[0].item() < 0.01   # normalised to mean 1, capped at 2x
    assert trainer.lr_at(0, 100, 10, 1e-3) == pytest.approx(1e-5)
    assert trainer.lr_at(10, 100, 10, 1e-3) == pytest.approx(1e-3)
    assert trainer.lr_at(100, 100, 10, 1e-3) == pytest.approx(1e-5)
    assert trainer.mingap(np.array([[1.0, 3.0, 2.0]]), np.array([0]))[0] == -2.0
    assert trainer.mingap(np.array([[1.0, 3.0, 2.0]]), np.array([-1]))[0] == 1.0
    assert math.isnan(trainer.pearson(np.ones((5, 1)), np.arange(5.0)[:, None])[0])


def test_kmer_ridge_recovers_a_planted_kmer_effect():
    # synthetic, for a known answer: activity = 1 per GATAA site (either strand) + noise
    from toolkit.models.kmer_ridge import KmerRidge, kmer_features
    from toolkit.seq import reverse_complement

    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGT"), 120)) for _ in range(900)]
    for i in range(0, 900, 2):
        p = rng.integers(0, 110)
        seqs[i] = seqs[i][:p] + "GATAA" + seqs[i][p + 5:]
    y = np.array([[s.count("GATAA") + reverse_complement(s).count("GATAA")] for s in seqs], float)
    y += rng.normal(0, 0.3, y.shape)
    m = KmerRidge().fit(seqs[:600], y[:600], seqs[600:750], y[600:750])
    r = np.corrcoef(m.predict(seqs[750:])[:, 0], y[750:, 0])[0, 1]
    assert r > 0.6          # an unrelated predictor gives r near 0
    X = kmer_features(["ACGT", "AAAN"])
    # 1-mers of ACGT on both strands: each base once + its complement once, over 4 windows
    assert X[0, :4].tolist() == [0.5, 0.5, 0.5, 0.5] and X[1, :4].tolist() == [0.75, 0, 0, 0.75]   # 3 A (and 3 T on the other strand) over 4 windows


def test_kmer_branch_is_the_ridge_regression_it_was_fitted_as():
    # synthetic, for a known answer: the branch (a conv layer) must give the ridge's predictions exactly
    from toolkit.models.cre import KmerRidgeBranch
    from toolkit.models.kmer_ridge import _rc_index, kmer_features
    from toolkit.train import side as S

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 60)) for _ in range(200)]
    seqs[3] = seqs[3][:10] + "NN" + seqs[3][12:]
    y = np.array([[s.count("GATA") + rng.normal(), s.count("CG") + rng.normal()] for s in seqs])
    groups = np.arange(200) // 2
    fit = S.crossfit_kmer_ridge(seqs, y, groups, folds=4)
    branch = KmerRidgeBranch(2)
    branch.set_ridge(fit["u"], fit["bias"])
    codes = torch.as_tensor(D.encode(seqs, 60))
    pred = branch(D.onehot(codes)).numpy()
    assert np.allclose(branch(D.onehot(D.reverse_complement(codes))).numpy(), pred, atol=1e-4)   # strand-symmetric
    offs = np.cumsum([0] + [4 ** k for k in range(1, 7)])
    X = kmer_features(seqs).astype(float)[:, np.concatenate(
        [offs[k - 1] + np.flatnonzero(np.arange(4 ** k) <= _rc_index(k)) for k in range(1, 7)])]
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    for t in range(2):
        beta = np.linalg.solve(Z.T @ Z + fit["alpha"][t] * np.eye(Z.shape[1]), Z.T @ (y[:, t] - y[:, t].mean()))
        assert np.allclose(Z @ beta + y[:, t].mean(), pred[:, t], atol=1e-4)
    assert fit["oof_r"][1] > 0.5           # the planted CG effect is found out of fold


def test_non_finite_loss_stops_before_any_weight_changes():
    from toolkit.errors import ToolkitError
    from toolkit.train.step import guarded_step

    model = torch.nn.Linear(2, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters())
    loss = model(torch.tensor([[float("inf"), 1.0]])).sum()
    with pytest.raises(ToolkitError) as err:
        guarded_step(loss, model, opt, 1.0, 2, 1, "the targets")
    assert "epoch 3, batch 2" in str(err.value.message()) and "lower the learning rate (lr in the [train] table" in err.value.message()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_ensemble_members_are_averaged_and_reproduced_by_predict(split_table, tmp_path):
    from toolkit.models.cre import CREModel
    from toolkit.train import modeldir as MD
    from toolkit.train.serve import load

    out = tmp_path / "ens"
    res = invoke(fit_cli, [split_table, "-o", out, "--targets", TARGETS, *FAST, "--epochs", "1", "--ensemble", "2",
                           "--no-baseline"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["members"] == 2
    model = load(str(out), torch.device("cpu")).model
    assert isinstance(model, CREModel) and len(model.nets) == 2
    state = MD.load_tensors(str(out / "model.pt"))
    assert any(k.startswith("nets.1.") for k in state)
    # the members differ (own initialisation), the output is their mean averaged with the ridge branch
    x = D.onehot(torch.randint(0, 4, (5, 230), dtype=torch.uint8))
    with torch.no_grad():
        each = model(x, each=True)
        assert each.shape == (2, 5, 3) and not torch.allclose(each[0], each[1])
        assert torch.allclose(model(x), 0.5 * (each.mean(0) + model.kmer(x)), atol=1e-6)
    df = read_tsv(split_table)
    val = df[df["split"] == "val"]
    pred = read_tsv(invoke(predict_cli, ["-m", out, "-q"], input=val.to_csv(sep="\t", index=False)).stdout)
    log = read_tsv(out / "train_log.tsv")
    for t in TARGETS.split(","):
        r = np.corrcoef(pred[t].astype(float), pred["pred_" + t].astype(float))[0, 1]
        assert r == pytest.approx(float(log["val_pearson_" + t].iloc[0]), abs=2e-4)


def test_gradients_are_clipped_per_member():
    from toolkit.train.step import guarded_step

    a, b = torch.nn.Linear(3, 1, bias=False), torch.nn.Linear(3, 1, bias=False)
    model = torch.nn.ModuleList([a, b])
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    x = torch.ones(1, 3)
    loss = 100.0 * a(x).sum() + 0.01 * b(x).sum()       # member a's gradient norm 173, b's 0.017
    wa, wb = a.weight.detach().clone(), b.weight.detach().clone()
    guarded_step(loss, model, opt, 1.0, 0, 0, "the targets", groups=[list(a.parameters()), list(b.parameters())])
    assert float((wa - a.weight).norm()) == pytest.approx(1.0, rel=1e-5)       # clipped to 1
    assert float((wb - b.weight).norm()) == pytest.approx(0.01 * 3 ** 0.5, rel=1e-4)  # untouched by a's size
