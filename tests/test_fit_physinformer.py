"""fit-physinformer on real lentiMPRA rows (seqqc | dgsplit | descfeat -o d.h5): the
model directory, zero-variance descriptors dropped and recorded, routing, the exact
ΔG = ΔH - T·ΔS identity in predictions, the SSM against its recurrence, auxiliary heads
that never move the main model, and prediction. Resume, determinism, torchrun and the
model directory refusals: test_training_shared.py, for every family."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from conftest import DATA, read_tsv, run_cli
from toolkit.cli.fit_physinformer import cli as fit_cli
from toolkit.models import physinformer as P
from toolkit.train import physinformer as trainer

FAST = ["--preset", "cpu", "--epochs", "2", "--batch-size", "32", "-q"]


def invoke(cli, args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def _descriptors_h5(tmp_path_factory, families):
    """96 train / 32 val / 16 test real rows through seqqc | dgsplit | descfeat --families FAMILIES -o d.h5."""
    import pandas as pd

    d = tmp_path_factory.mktemp("pi")
    qc = run_cli("seqqc", [DATA / "lentimpra_HepG2_400.tsv", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q"], input=qc.stdout).stdout)
    df = pd.concat([df[df["split"] == k].head(n) for k, n in (("train", 96), ("val", 32), ("test", 16))])
    tsv = d / "split.tsv"
    df.to_csv(tsv, sep="\t", index=False)
    out = d / "d.h5"
    res = run_cli("descfeat", [tsv, "--families", families, "-o", out, "-q"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def h5(tmp_path_factory):
    return _descriptors_h5(tmp_path_factory, "thermo,entropy,bend")


@pytest.fixture(scope="module")
def model_dir(h5, tmp_path_factory):
    out = tmp_path_factory.mktemp("m") / "pi"
    res = invoke(fit_cli, [h5, "-o", out, "--activities", "mean_value", *FAST])
    assert res.exit_code == 0, res.output
    return out


def test_model_directory_and_zero_variance_descriptors(model_dir, h5):
    from toolkit.io.h5 import read_h5

    names = sorted(p.name for p in model_dir.iterdir())
    assert {"config.json", "model.pt", "normalization.json", "train_log.tsv", "checkpoint-last.pt",
            "val_descriptors.tsv"} <= set(names)
    cfg = json.loads((model_dir / "config.json").read_text())
    assert cfg["kind"] == "physinformer" and cfg["rows"] == {"train": 96, "val": 32, "test_not_used": 16}
    assert cfg["activities"] == ["mean_value"] and cfg["train"]["epochs"] == 2
    h = read_h5(h5)
    train = h["values"][np.array(h["columns"]["split"]) == "train"].astype(np.float64)
    sd = dict(zip(h["names"], train.std(axis=0)))
    zero = cfg["dropped"]["zero_variance"]
    assert zero and all(sd[n] <= 1e-8 for n in zero)                       # e.g. thermo_min_dS on these rows
    assert all(sd[n] > 1e-8 for n in cfg["descriptors"])
    dup = cfg["dropped"]["duplicate"]                   # repeats of an earlier descriptor on train (pruned)
    assert set(zero) | set(dup) | set(cfg["descriptors"]) == set(h["names"])
    for n, of in dup.items():                           # e.g. thermo_mean_dH = thermo_total_dH / 229 at 230 nt
        r = np.corrcoef(train[:, h["names"].index(n)], train[:, h["names"].index(of)])[0, 1]
        assert abs(r) > 0.999999 and of in cfg["descriptors"]
    norm = json.loads((model_dir / "normalization.json").read_text())
    assert norm["descriptors"]["names"] == cfg["descriptors"]
    i = cfg["descriptors"].index("thermo_total_dH")
    assert norm["descriptors"]["mean"][i] == pytest.approx(np.mean(train[:, h["names"].index("thermo_total_dH")]))
    assert dup["thermo_mean_dH"] == "thermo_total_dH"
    assert cfg["thermo_triple_names"] == [["thermo_total_dH", "thermo_total_dS", "thermo_total_dG"]]
    log = read_tsv(model_dir / "train_log.tsv")
    assert list(log["epoch"]) == ["1", "2"]
    for col in ("train_nll", "val_nll", "val_nll_median", "lr", "val_pearson_median", "val_spearman_q1", "val_r2_q3", "val_mse_mean",
                "val_mae_median", "val_pearson_thermo_median", "val_pearson_bend_mean",
                "val_aux_a_pearson_mean_value", "val_aux_b_pearson_mean_value", "val_best5", "val_worst5"):
        assert col in log.columns
    assert len(log["val_best5"][0].split(";")) == 5
    per = read_tsv(model_dir / "val_descriptors.tsv")
    assert list(per["descriptor"]) == cfg["descriptors"] and {"pearson", "spearman", "r2", "mse", "mae"} <= set(per)


def test_routing_and_output_shapes():
    names = ["thermo_total_dH", "bend_x", "thermo_total_dS", "pwm_CTCF_max_score", "stiff_a", "thermo_total_dG",
             "entropy_e", "advanced_gquad_count", "gc", "thermo_var_dG"]
    routes = P.route(names)
    assert sorted(i for ix in routes.values() for i in ix) == list(range(len(names)))
    for fam, ix in routes.items():
        assert all(P.family_of(names[i]) == fam for i in ix)
    assert routes["global"] == [8] and routes["thermo"] == [0, 2, 5, 9]
    assert P.thermo_triples(names) == [[0, 2, 5]]
    torch.manual_seed(0)
    m = P.PhysInformer(names, P.thermo_triples(names), embed=8, channels=[8, 8, 16], d_state=4, pyramid_hidden=16,
                       attn_heads=2, head_hidden=16).eval()
    with torch.no_grad():
        mu, lv = m(torch.randint(0, 5, (3, 40), dtype=torch.uint8))
    assert mu.shape == lv.shape == (3, len(names))
    assert set(m.heads) == set(P.FAMILIES)
    assert float(lv.min()) >= -10 and float(lv.max()) <= 10


def test_ssm_equals_the_sequential_recurrence_and_is_stable():
    torch.manual_seed(1)
    layer = P.SSMLayer(6, 5, dropout=0.0).double()
    u = torch.randn(2, 37, 6, dtype=torch.float64)
    assert torch.allclose(layer.ssm(u), layer.recurrence(u), atol=1e-10, rtol=1e-10)
    with torch.no_grad():                  # the document's B̄ = (Ā - I) A⁻¹ B with Ā = exp(ΔA)
        A = layer.A()
        Abar, Bbar = layer.discretise()
        delta = torch.nn.functional.softplus(layer.delta_raw)
        assert torch.allclose(Abar, torch.linalg.matrix_exp(delta * A))
        assert torch.allclose(A @ torch.linalg.solve(Abar - torch.eye(5, dtype=A.dtype), Bbar), layer.B)
        layer.M.mul_(10.0)                 # whatever the parameters: a contraction
        layer.W.mul_(10.0)
        layer.delta_raw.fill_(3.0)
        Abar, _ = layer.discretise()
        assert float(torch.linalg.matrix_norm(Abar, ord=2)) < 1.0
        assert torch.isfinite(layer.ssm(u)).all()


def test_gaussian_nll_and_onecycle_follow_torch():
    torch.manual_seed(2)
    mu, lv, y = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    ours = P.gaussian_nll(mu, lv, y)[0]
    ref = torch.nn.functional.gaussian_nll_loss(mu, y, lv.exp(), full=True, eps=0.0)
    assert float(ours) == pytest.approx(float(ref), rel=1e-5)
    y[0, 0] = float("nan")
    assert torch.isfinite(P.gaussian_nll(mu, lv, y)[0])
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=50, pct_start=0.1, div_factor=25,
                                                final_div_factor=1e4, cycle_momentum=False)
    for step in range(50):
        assert trainer.onecycle_lr(step, 50, 1e-3) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9)
        opt.step()
        sched.step()


def test_dg_identity_holds_in_predictions(model_dir, h5):
    from toolkit.io.h5 import read_h5
    from toolkit.train.serve import PhysInformerPredictor, load

    p = load(str(model_dir), torch.device("cpu"))
    assert isinstance(p, PhysInformerPredictor)
    seqs = read_h5(h5)["sequences"][:20]
    mean, sd = p.predict(seqs, uncertainty=True)
    assert mean.shape == sd.shape == (20, len(p.names)) and np.all(sd > 0) and np.isfinite(mean).all()
    T = p.temperature_k
    assert T == 310.15
    for h, s, g in p.thermo_triples:
        dh, ds, dg = (mean[:, p.names.index(x)] for x in (h, s, g))
        assert np.allclose(dg, dh - T * ds / 1000.0, rtol=1e-12, atol=1e-9)
    # the model itself is constrained: its de-standardised ΔG output already obeys the identity
    # (float32), before the predictor recomputes it in float64
    from toolkit.train import data as D

    z, _ = trainer.predict_codes(p.model, D.encode(seqs, p.length), torch.device("cpu"))
    raw = z.astype(np.float64) * p._sd + p._mean
    for h, s, g in p.triples:
        scale = np.abs(raw[:, h]).max() + np.abs(raw[:, g]).max()
        assert np.allclose(raw[:, g], raw[:, h] - 0.31015 * raw[:, s], atol=1e-5 * scale)
    # and so does the training data it learns from (descfeat's definitions)
    v = read_h5(h5)
    tv = v["values"].astype(np.float64)
    for h, s, g in p.thermo_triples:
        dh, ds, dg = (tv[:, v["names"].index(x)] for x in (h, s, g))
        assert np.allclose(dg, dh - 0.31015 * ds, rtol=1e-5)


def test_predictor_shapes_names_and_batch_invariance(model_dir, h5):
    from toolkit.io.h5 import read_h5
    from toolkit.train.serve import load

    p = load(str(model_dir), torch.device("cpu"))
    cfg = json.loads((model_dir / "config.json").read_text())
    assert p.names == p.targets == cfg["descriptors"] and p.side_inputs(["ACGT"]) is None
    seqs = read_h5(h5)["sequences"][:7] + ["ACGTAC", "N" * 250]          # short (N-padded) and long (cropped)
    a = p.predict(seqs, batch_size=1)
    b = p.predict(seqs, batch_size=64)
    assert a.shape == (9, len(p.names))
    # float32 kernels differ with the batch size (by CPU); a descriptor's error is judged on its own scale
    scale = np.abs(b).max(axis=0)
    assert np.all(np.abs(a - b) <= 1e-4 * scale + 1e-6)    # a batch leak would move a value by its scale
    assert p.uncertainty(seqs).shape == a.shape


def test_predict_command_writes_every_descriptor(model_dir, h5):
    from toolkit.cli.predict import cli as predict_cli
    from toolkit.io.h5 import read_h5

    seqs = read_h5(h5)["sequences"][:4]
    fasta = "".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs))
    res = invoke(predict_cli, ["-m", model_dir, "-q"], input=fasta)
    assert res.exit_code == 0, res.output
    out = read_tsv(res.stdout)
    names = json.loads((model_dir / "config.json").read_text())["descriptors"]
    assert [c for c in out.columns if c.startswith("pred_")] == [f"pred_{n}" for n in names]
    assert len(out) == 4 and np.isfinite(out["pred_thermo_total_dG"].astype(float)).all()
    # --uncertainty: one positive SD per descriptor; the dG identity survives the written text
    res = invoke(predict_cli, ["-m", model_dir, "-q", "--uncertainty"], input=fasta)
    assert res.exit_code == 0, res.output
    out = read_tsv(res.stdout)
    assert [c for c in out.columns if c.startswith("sd_")] == [f"sd_{n}" for n in names]
    assert (out[[f"sd_{n}" for n in names]].astype(float).to_numpy() > 0).all()
    f = {k: out[f"pred_thermo_total_{k}"].astype(float).to_numpy() for k in ("dH", "dS", "dG")}
    assert np.allclose(f["dG"], f["dH"] - 310.15 * f["dS"] / 1000, rtol=0, atol=1e-5)


def test_aux_heads_never_change_the_main_model(model_dir, h5, tmp_path):
    out = tmp_path / "noaux"
    res = invoke(fit_cli, [h5, "-o", out, *FAST])
    assert res.exit_code == 0, res.output
    a = torch.load(model_dir / "model.pt", weights_only=True)
    b = torch.load(out / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    la, lb = read_tsv(model_dir / "train_log.tsv"), read_tsv(out / "train_log.tsv")
    assert list(la["val_nll"]) == list(lb["val_nll"]) and "val_aux_a_pearson_mean_value" not in lb.columns
    ck = torch.load(model_dir / "checkpoint-last.pt", weights_only=True)
    assert "aux" in ck and any(k.startswith("a.encoder") for k in ck["aux"])   # the heads were trained


def test_aux_heads_of_the_best_epoch_predict_new_rows(model_dir, h5, tmp_path):
    """aux.pt holds heads A and B of the epoch model.pt holds: from the val rows' sequences
    and real descriptors the predictor reproduces the Pearson r the log recorded for that
    epoch, in the activity's own units, for any batch size."""
    import shutil

    from toolkit.errors import ConfigError, InputError
    from toolkit.io.h5 import read_h5
    from toolkit.train import data as D
    from toolkit.train.serve import load

    log = read_tsv(model_dir / "train_log.tsv")
    best = log.loc[log["val_nll_median"].astype(float).idxmin()]
    aux = torch.load(model_dir / "aux.pt", weights_only=True)
    last = torch.load(model_dir / "checkpoint-last.pt", weights_only=True)["aux"]
    same = aux.keys() == last.keys() and all(torch.equal(aux[k], last[k]) for k in aux)
    assert same == (int(best["epoch"]) == len(log))          # the best epoch's heads, not the last's

    p = load(str(model_dir), torch.device("cpu"))
    assert p.activities == ["mean_value"]
    h = read_h5(h5)
    val = np.flatnonzero(np.array(h["columns"]["split"]) == "val")
    seqs = [h["sequences"][i].strip().upper() for i in val]
    X = h["values"][val][:, [h["names"].index(n) for n in p.names]].astype(np.float64)
    y = np.array([float(h["columns"]["mean_value"][i]) for i in val])
    a, b = p.predict_activities(seqs, X)
    assert a.shape == b.shape == (len(val), 1)
    for which, pr in (("a", a), ("b", b)):
        r = np.corrcoef(pr[:, 0], y)[0, 1]
        assert r == pytest.approx(float(best[f"val_aux_{which}_pearson_mean_value"]), abs=2e-4)
    # original units: the heads' standardised output times the train SD plus the train mean
    norm = json.loads((model_dir / "normalization.json").read_text())["activities"]["mean_value"]
    heads = P.build_aux(json.loads((model_dir / "config.json").read_text()))
    heads.load_state_dict(aux)
    z = ((X - np.array(p._mean)) / np.array(p._sd)).astype(np.float32)
    with torch.no_grad():
        za, zb = heads.eval()(torch.as_tensor(D.encode(seqs, p.length)), torch.nan_to_num(torch.as_tensor(z)))
    assert np.allclose(a[:, 0], za[:, 0].numpy() * norm["sd"] + norm["mean"], rtol=1e-5, atol=1e-5)
    assert np.allclose(b[:, 0], zb[:, 0].numpy() * norm["sd"] + norm["mean"], rtol=1e-5, atol=1e-5)
    a1, b1 = p.predict_activities(seqs, X, batch_size=1)
    assert np.allclose(a1, a, rtol=1e-4, atol=1e-5) and np.allclose(b1, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="descriptors must be shaped"):
        p.predict_activities(seqs, X[:, 1:])

    # a model without aux.pt (written before it existed) or without activities says so
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    (old / "aux.pt").unlink()
    with pytest.raises(InputError, match="no aux.pt"):
        load(str(old), torch.device("cpu")).predict_activities(seqs, X)
    cfg = json.loads((old / "config.json").read_text())
    cfg["activities"] = []
    (old / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="no auxiliary heads"):
        load(str(old), torch.device("cpu")).predict_activities(seqs, X)


def test_table_input_and_errors(h5, tmp_path):
    """A TSV with descriptor columns works too; a column constant on train (not on val) is
    dropped; a missing split column or a non-numeric descriptor is an Error: line."""
    import pandas as pd

    from toolkit.io.h5 import read_h5

    h = read_h5(h5)
    df = pd.DataFrame({"id": h["ids"], "sequence": h["sequences"], "split": h["columns"]["split"]})
    keep = ["thermo_total_dH", "thermo_total_dS", "thermo_total_dG", "bend_total_bending_energy"]
    for n in keep:
        df[n] = h["values"][:, h["names"].index(n)]
    df["thermo_fake"] = np.where(df["split"] == "train", 1.0, np.arange(len(df)))
    tsv = tmp_path / "d.tsv"
    df.to_csv(tsv, sep="\t", index=False)
    out = tmp_path / "m"
    res = invoke(fit_cli, [tsv, "-o", out, "--preset", "cpu", "--epochs", "1", "--batch-size", "48", "-q"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["descriptors"] == keep and cfg["dropped"]["zero_variance"] == ["thermo_fake"]
    assert cfg["thermo_triples"] == [[0, 1, 2]]
    df.drop(columns=["split"]).to_csv(tsv, sep="\t", index=False)
    res = invoke(fit_cli, [tsv, "-o", tmp_path / "m2", "-q"])
    assert res.exit_code == 1 and "split" in res.output and "dgsplit" in res.output
    df["bend_total_bending_energy"] = df["bend_total_bending_energy"].astype(object)
    df.loc[0, "bend_total_bending_energy"] = "abc"
    df.to_csv(tsv, sep="\t", index=False)
    res = invoke(fit_cli, [tsv, "-o", tmp_path / "m3", "-q"])
    assert res.exit_code == 1 and "'abc' is not a number" in res.output and "line 2" in res.output


@pytest.fixture(scope="module")
def psi_h5(tmp_path_factory):
    """The same rows with the psi (electrostatics) and thermo families."""
    return _descriptors_h5(tmp_path_factory, "thermo,psi")


def test_tileformer_learns_the_psi_descriptors_and_feeds_physinformer(psi_h5, tmp_path):
    from toolkit.models.tileformer import TileFormer
    from toolkit.train import modeldir as MD
    from toolkit.train.serve import load

    tf_dir = tmp_path / "tf"
    res = invoke(fit_cli, [psi_h5, "-o", tf_dir, "--arch", "tileformer", *FAST])
    assert res.exit_code == 0, res.output
    cfg = json.loads((tf_dir / "config.json").read_text())
    assert cfg["model"]["arch"] == "tileformer" and cfg["model"]["d_model"] == 64
    assert cfg["descriptors"] and all(n.startswith("psi_") for n in cfg["descriptors"])   # default: psi_* only
    assert len(cfg["descriptors"]) + len(cfg["dropped"]["zero_variance"]) == 18
    # the physics prior computes the potential profile: minima and maxima come out (nearly) exact on val rows
    assert cfg["model"]["prior"]["tracks"]["electrostatics"]["cutoff"] == [12, 45]
    val = pd.read_csv(tf_dir / "val_descriptors.tsv", sep="\t").set_index("descriptor")
    for n in ("psi_std_min_w0", "psi_std_max_w0", "psi_enh_min_w1", "psi_enh_max_w2"):
        assert val.loc[n, "pearson"] > 0.99, (n, val.loc[n, "pearson"])
    model = load(str(tf_dir), torch.device("cpu")).model
    assert isinstance(model, TileFormer)
    # predictions and uncertainties for every psi descriptor, any input length
    from toolkit.cli.predict import cli as predict_cli
    from toolkit.io.h5 import read_h5

    fasta = "".join(f">s{i}\n{s}\n" for i, s in enumerate(read_h5(psi_h5)["sequences"][:6]))
    out = read_tsv(invoke(predict_cli, ["-m", tf_dir, "--uncertainty", "-q"], input=fasta).stdout)
    assert len(out) == 6
    for n in cfg["descriptors"]:
        assert np.isfinite(out["pred_" + n].astype(float)).all() and (out["sd_" + n].astype(float) > 0).all()
    with torch.no_grad():
        mu, lv = model(torch.randint(0, 5, (3, 150)))
    assert mu.shape == (3, len(cfg["descriptors"])) and torch.isfinite(lv).all()

    # section 4.2: PhysInformer with the frozen TileFormer's predictions as extra inputs
    pi_dir = tmp_path / "pi"
    res = invoke(fit_cli, [psi_h5, "-o", pi_dir, "--tileformer", tf_dir, "--descriptors", "thermo_*", *FAST])
    assert res.exit_code == 0, res.output
    pcfg = json.loads((pi_dir / "config.json").read_text())
    assert pcfg["tileformer"]["config"]["descriptors"] == cfg["descriptors"]
    tf_state = MD.load_tensors(str(tf_dir / "model.pt"))
    pi_state = MD.load_tensors(str(pi_dir / "model.pt"))
    for k, v in tf_state.items():                     # copied in and never trained
        assert torch.equal(pi_state["tileformer." + k], v)
    pi = load(str(pi_dir), torch.device("cpu")).model
    assert pi.tileformer is not None and not pi.tileformer.training
    pi.train()
    assert not pi.tileformer.training and not any(p.requires_grad for p in pi.tileformer.parameters())
    head = next(iter(pi.heads.values()))
    width = 64 + len(cfg["descriptors"]) + (64 if pcfg["model"]["prior"] else 0)    # z, TileFormer, physics prior
    assert any(m.in_features == width for m in head.modules() if isinstance(m, torch.nn.Linear))
    pred = read_tsv(invoke(predict_cli, ["-m", pi_dir, "-q"], input=fasta).stdout)
    assert np.isfinite(pred["pred_thermo_total_dG"].astype(float)).all()
    # the wrong combinations are refused
    bad = CliRunner().invoke(fit_cli, [str(psi_h5), "-o", str(tmp_path / "x"), "--arch", "tileformer",
                                       "--tileformer", str(tf_dir), *FAST])
    assert bad.exit_code != 0 and "--tileformer" in bad.output
    bad = CliRunner().invoke(fit_cli, [str(psi_h5), "-o", str(tmp_path / "y"), "--tileformer", str(pi_dir), *FAST])
    assert bad.exit_code == 1 and "not a TileFormer model directory" in bad.output
