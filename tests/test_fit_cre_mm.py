"""fit-cre's multi-modal inputs and design 004's mm-transformer on real lentiMPRA rows
with descfeat descriptors as the second modality (seqqc | dgsplit | descfeat)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from conftest import EXAMPLES, read_tsv, run_cli
from toolkit.cli.fit_cre import cli as fit_cli
from toolkit.cli.predict import cli as predict_cli
from toolkit.models.mm import MMNet


def invoke(args, cli=fit_cli, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """The 3-cell table split with WTC11-library elements held out (cell-type hold-out),
    160 train / 48 val / 24 test rows drawn (seeded), with thermo and bend descriptors."""
    qc = run_cli("seqqc", [EXAMPLES / "lentimpra_joint_3cell.csv.gz", "-q"])
    df = read_tsv(run_cli("dgsplit", ["-q", "--holdout", "target_cell=WTC11"], input=qc.stdout).stdout)
    assert set(df.loc[df["split"] == "test", "target_cell"]) == {"WTC11"}
    df = pd.concat([df[df["split"] == k].sample(n, random_state=0)
                    for k, n in (("train", 160), ("val", 48), ("test", 24))])
    d = tmp_path_factory.mktemp("mm")
    df.to_csv(d / "split.tsv", sep="\t", index=False)
    res = run_cli("descfeat", [d / "split.tsv", "--families", "thermo,bend", "-q"])
    assert res.exit_code == 0, res.output
    (d / "d.tsv").write_text(res.stdout)
    return d / "d.tsv"


def test_mm_transformer_trains_on_sequence_plus_descriptors_and_predicts(table, tmp_path):
    out = tmp_path / "mm"
    res = invoke([table, "-o", out, "--arch", "mm-transformer", "--targets", "HepG2_l2fc,K562_l2fc",
                  "--modality", "thermo=thermo_*", "--modality", "bend=bend_*:cnn", "--cell-col", "target_cell",
                  "--epochs", "2", "--batch-size", "32", "--no-baseline", "-q"])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["arch"] == "mm-transformer" and cfg["model"]["kmer_prior"] is False
    assert cfg["model"]["mm"]["fusion_layers"] == 6 and cfg["train"]["lr"] == 5e-4
    mods = cfg["side"]["modalities"]
    assert [(m["name"], m["branch"]) for m in mods] == [("thermo", "mlp"), ("bend", "cnn"), ("cell", "mlp")]
    df = read_tsv(table)
    n_thermo = sum(c.startswith("thermo_") for c in df.columns)
    assert mods[0]["start"] == 0 and mods[0]["end"] == n_thermo and mods[1]["start"] == n_thermo
    assert cfg["side"]["cell"]["categories"] == ["HepG2"]           # the held-out WTC11 is never seen in training
    log = read_tsv(out / "train_log.tsv")
    assert "val_sd_ratio_HepG2_l2fc" in log.columns
    # predict reads the modalities from the table; the unseen cell line gets the all-zero cell vector
    test = df[df["split"] == "test"]
    pred = read_tsv(invoke(["-m", out, "-q"], cli=predict_cli, input=test.to_csv(sep="\t", index=False)).stdout)
    assert len(pred) == len(test) and np.isfinite(pred["pred_HepG2_l2fc"].astype(float)).all()
    val = df[df["split"] == "val"]
    pred = read_tsv(invoke(["-m", out, "-q"], cli=predict_cli, input=val.to_csv(sep="\t", index=False)).stdout)
    best = log.loc[log["val_mean_pearson"].astype(float).idxmax()]
    r = np.corrcoef(pred["HepG2_l2fc"].astype(float), pred["pred_HepG2_l2fc"].astype(float))[0, 1]
    assert r == pytest.approx(float(best["val_pearson_HepG2_l2fc"]), abs=2e-4)
    # without the modality columns (FASTA) predict says what is missing
    fasta = "".join(f">{i}\n{s}\n" for i, s in zip(test["id"], test["sequence"]))
    res = CliRunner().invoke(predict_cli, ["-m", str(out), "-q"], input=fasta)
    assert res.exit_code == 1 and "Error:" in res.output


def test_mm_net_uses_every_modality_and_any_length():
    torch.manual_seed(0)
    mods = [{"name": "a", "start": 0, "end": 5, "branch": "mlp"}, {"name": "b", "start": 5, "end": 21, "branch": "cnn"}]
    net = MMNet(2, mods, d_model=32, seq_layers=1, seq_heads=4, fusion_layers=1, fusion_heads=4, mlp_hidden=16,
                cnn_filters=8, head_hidden=8).eval()
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, 230)), 4).float().transpose(1, 2)
    side = torch.randn(3, 21)
    y = net(x, side)
    assert y.shape == (3, 2)
    for sl in (slice(0, 5), slice(5, 21)):                                  # each modality moves the output
        s2 = side.clone()
        s2[:, sl] += 1.0
        assert not torch.allclose(net(x, s2), y)
    assert net(x[:, :, :200], side).shape == (3, 2)


def test_modality_errors(table, tmp_path):
    res = CliRunner().invoke(fit_cli, [str(table), "-o", str(tmp_path / "x"), "--modality", "nonsense", "-q"])
    assert res.exit_code == 2 and "--modality" in res.output   # its syntax: a usage error, before the input
    res = CliRunner().invoke(fit_cli, [str(table), "-o", str(tmp_path / "y"), "--modality", "m=nothing_*", "-q"])
    assert res.exit_code == 1 and "nothing_*" in res.output
