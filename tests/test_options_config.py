"""The option layer: no command over 30 options, one meaning per flag name, the shared
definitions everywhere, ``--help`` without torch, and the fit-* ``--config FILE`` (TOML or
JSON; defaults < preset < file < flags; unknown keys refused; flags that became keys say so)."""

import json
import subprocess
import sys
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner

from conftest import DATA, REPO, run_cli
from toolkit.cli import COMMANDS, load

FITS = ("fit-cre", "fit-ep", "fit-physinformer")


def _options(name):
    return [p for p in load(name).params if isinstance(p, click.Option)]


# ----------------------------------------------------------------------------- counts and meanings

@pytest.mark.parametrize("name", list(COMMANDS))
def test_no_command_has_more_than_30_options(name):
    """Every click option counts, -v, -q and --version included (fit-cre had 50, fit-ep 42)."""
    assert len(_options(name)) <= 30, (name, len(_options(name)))


# A flag name several commands share with different help texts is listed here with the one
# meaning it has everywhere; any other shared name must have one help text (one definition).
SAME_MEANING = {
    "--arch": "the network architecture of the model the command trains (each family has its own choices)",
    "--batch-size": "rows per step or forward pass (sequences, or query pairs for fit-ep)",
    "--cell-col": "the column naming each row's cell type or cell line",
    "--chunk-rows": "rows processed at a time, bounding memory",
    "--data-in-memory": "the training cache's rows held in memory; the default rule names each family's row size",
    "--stream-data": "the training cache's rows read batch by batch (the other side of --data-in-memory)",
    "--epochs": "the number of training epochs (a maximum where early stopping applies)",
    "--features": "a descfeat HDF5 (or columns) of numeric features fused into the model / given to it at predict",
    "--genome": "the genome FASTA that windows are cut from",
    "--length": "the sequence length (N-padded or cropped to it; seqqc: the expected length)",
    "--no-baseline": "skip the family's baseline models fitted on the same rows (baseline.json)",
    "--output": "where the command writes: a file (or '-'), or for fit-* the model directory DIR",
    "-o": "the short form of --output",
    "--preset": "the model and schedule sizes of a fit-* family (each family names its own)",
    "--support-size": "pairs per support set whose mean environment feature is a cell line's z_E",
    "--target-cell-col": "the column naming each row's target cell type",
    "--targets": "comma-separated target columns",
    "--task-type": "COL=TYPE: the task type (regression, binary, ...) of a target column",
    "--test-chroms": "test chromosomes of a chromosome hold-out",
    "--val-chroms": "validation chromosomes of a chromosome hold-out",
    "--winsorize": "LOW,HIGH percentiles at which values are clipped (seqqc: targets; evalboot: for winsor_pearson)",
    "--plot": "PNG: where the command draws its figure (evalboot: the evaluation panels; predict: attribution logos)",
    "--rejects": "FILE: every input row (seqqc) or variant allele (predict --variants) not kept, with its reason",
    "--motifs": "FILE: a motif file (MEME/JASPAR format) used instead of the built-in list (descfeat's pwm family; predict --find-motifs' database)",
    "--clip": "windows past a chromosome end are padded with N instead of refused",
}


def _help_by_name():
    by = {}
    for name in COMMANDS:
        for p in _options(name):
            for flag in (*p.opts, *p.secondary_opts):
                by.setdefault(flag, {})[name] = (p.help or "").strip()
    return by


def test_a_flag_name_has_one_meaning():
    by = _help_by_name()
    differing = {flag for flag, helps in by.items() if len(helps) > 1 and len(set(helps.values())) > 1}
    unexplained = sorted(differing - set(SAME_MEANING))
    assert not unexplained, {f: by[f] for f in unexplained}
    assert all(len(reason) > 20 for reason in SAME_MEANING.values())
    stale = sorted(set(SAME_MEANING) - {f for f, helps in by.items() if len(helps) > 1})
    assert not stale, stale                       # the list holds only names that are shared


def test_the_flags_that_had_two_meanings_have_one():
    by = _help_by_name()
    assert set(by["--clip"]) == {"seqqc", "fit-ep"}         # gradient clipping is the config key train.clip
    assert all("N" in text and "gradient" not in text.lower() for text in by["--clip"].values())
    assert "--winsor" not in by and set(by["--winsorize"]) == {"seqqc", "evalboot"}


@pytest.mark.parametrize("flag", ["--device", "--resume", "--config", "--seed", "-j", "--format"])
def test_shared_options_have_one_definition(flag):
    helps = _help_by_name()[flag]
    assert len(helps) >= 2 and len(set(helps.values())) == 1, helps


def test_fit_output_is_the_shared_model_directory_option():
    for name in FITS:
        (o,) = [p for p in _options(name) if "-o" in p.opts]
        assert o.opts == ["-o", "--output"] and o.name == "out_dir" and o.required and o.metavar == "DIR"
        assert o.help.startswith("Model directory to write (config.json, model.pt")


# ----------------------------------------------------------------------------- --help without torch

HELP_PROBE = """
import sys
from toolkit.cli import load
try:
    load(sys.argv[1]).main(["--help"], prog_name=sys.argv[1])
except SystemExit as exc:
    code = exc.code
print("TORCH-LOADED" if "torch" in sys.modules else "NO-TORCH", code)
"""


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_does_not_import_torch(name):
    """A fresh interpreter: --help prints the usage, exits 0 and leaves torch unimported."""
    res = subprocess.run([sys.executable, "-c", HELP_PROBE, name], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"Usage: {name}")
    assert res.stdout.strip().splitlines()[-1] == "NO-TORCH 0", res.stdout[-300:]


# ----------------------------------------------------------------------------- --config: round trip

@pytest.fixture(scope="module")
def split_table(tmp_path_factory):
    """The real 400-row lentiMPRA HepG2 table through seqqc | dgsplit."""
    d = tmp_path_factory.mktemp("cfg")
    qc = run_cli("seqqc", [DATA / "lentimpra_HepG2_400.tsv", "-q"])
    sp = run_cli("dgsplit", ["-q"], input=qc.stdout)
    path = d / "split.tsv"
    path.write_text(sp.stdout)
    return path


# the same settings in both formats; epochs is also given as a flag (--epochs 1), which wins
TOML = """# a small network
[train]
lr = 0.002
epochs = 7
patience = 2
regression_loss = "mse"

[model]
stem = 8
width = 8
wide = 8
res_blocks = 0
head_hidden = [8, 4]
kmer_prior = false
"""
JSON = json.dumps({"train": {"lr": 0.002, "epochs": 7, "patience": 2, "regression_loss": "mse"},
                   "model": {"stem": 8, "width": 8, "wide": 8, "res_blocks": 0, "head_hidden": [8, 4],
                             "kmer_prior": False}}, indent=1)

# config.json's train and model keys in the order fit-cre wrote them before --config existed
CRE_TRAIN_ORDER = ["batch_size", "epochs", "min_epochs", "patience", "min_delta", "lr", "betas", "eps", "weight_decay",
                   "warmup_epochs", "clip", "huber_delta", "se_cap", "task_weight_warmup", "task_weight_ema",
                   "task_weight_cap", "rc_prob", "rc_lambda", "shift", "shift_prob", "mask_prob", "best_k",
                   "tie_margin", "kmer_folds", "regression_loss", "collapse_sd", "collapse_r", "collapse_epochs",
                   "steps_per_epoch", "precision"]   # precision: added with --precision, last
CRE_MODEL_ORDER = ["arch", "stem", "width", "wide", "res_blocks", "head_hidden", "n_side", "side_dropout", "norm",
                   "head_dropout", "kmer_prior", "members"]


@pytest.mark.parametrize("fmt,text", [("toml", TOML), ("json", JSON)], ids=["toml", "json"])
def test_config_file_sets_keys_and_a_flag_wins(split_table, tmp_path, fmt, text):
    import torch

    settings = tmp_path / f"settings.{fmt}"
    settings.write_text(text)
    out = tmp_path / "m"
    res = run_cli("fit-cre", [split_table, "-o", out, "--targets", "mean_value", "--preset", "cpu", "--config",
                              settings, "--epochs", "1", "--ensemble", "1", "--no-baseline", "-q"])
    assert res.exit_code == 0, res.stderr
    cfg = json.loads((out / "config.json").read_text())
    train, model = cfg["train"], cfg["model"]
    assert train["lr"] == 0.002 and train["patience"] == 2 and train["regression_loss"] == "mse"
    assert train["epochs"] == 1                                   # --epochs 1 over the file's 7
    assert (model["stem"], model["width"], model["wide"], model["res_blocks"]) == (8, 8, 8, 0)
    assert model["head_hidden"] == [8, 4] and model["kmer_prior"] is False and model["members"] == 1
    # what the file does not set keeps the cpu preset's value, else the design default
    assert train["batch_size"] == 64 and train["min_epochs"] == 12 and train["mask_prob"] == 0.0
    assert train["weight_decay"] == 0.05 and train["clip"] == 1.0 and model["norm"] == "batch"
    assert list(train) == CRE_TRAIN_ORDER and list(model) == CRE_MODEL_ORDER
    # the network that was trained has the file's sizes
    w = torch.load(out / "model.pt", weights_only=True)
    stem = [v for k, v in w.items() if v.ndim == 3][0]
    assert stem.shape[0] == 8, {k: tuple(v.shape) for k, v in w.items()}
    assert (out / "train_log.tsv").read_text().count("\n") == 2   # header and the one epoch


def test_config_keys_cover_config_json_and_the_man_page():
    """Every train setting fit-* writes is a documented key; the man page lists each key."""
    from toolkit.cli.manpage import render
    from toolkit.train import presets as P

    for name in FITS:
        keys = P.KEYS[name]
        assert set(P.DEFAULTS[name]) <= set(keys["train"])
        page = render(name)
        for key, text in P.describe_keys(name):
            assert f"\\fB{key}\\fR" in page, key
            assert "Default:" in text
    assert set(CRE_TRAIN_ORDER) == set(P.KEYS["fit-cre"]["train"])
    assert set(CRE_MODEL_ORDER) - {"n_side"} <= set(P.KEYS["fit-cre"]["model"])


def test_trainers_use_the_same_defaults():
    """The trainers' tables are the torch-free ones (or equal copies while they keep their own)."""
    from toolkit.train import cre, ep, physinformer
    from toolkit.train import presets as P

    assert cre.TRAIN_DEFAULTS == P.CRE_TRAIN_DEFAULTS
    assert ep.TRAIN_DEFAULTS == P.EP_TRAIN_DEFAULTS
    assert physinformer.TRAIN_DEFAULTS == P.PHYSINFORMER_TRAIN_DEFAULTS


# ----------------------------------------------------------------------------- --config: refusals

def _one_error(res):
    assert res.exit_code == 1, (res.exit_code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    return lines[0]


REFUSED = [
    ("fit-cre", "settings.toml", "[train]\nlr = 0.001\nlrr = 0.1\n", ["unknown key 'lrr' in [train]", "line 3",
                                                                       "did you mean 'lr'"]),
    ("fit-cre", "settings.json", '{"train": {"lr": 0.001},\n "model": {"widht": 8}}',
     ["unknown key 'widht' in [model]", "line 2", "did you mean 'width'"]),
    ("fit-cre", "settings.toml", "[optimizer]\nlr = 0.1\n", ["unknown section 'optimizer'", "line 1"]),
    ("fit-cre", "settings.toml", "[train]\nlr = -1\n", ["'train.lr': -1", "out of range", "line 2"]),
    ("fit-cre", "settings.toml", "[model]\nkmer_prior = \"no\"\n", ["'model.kmer_prior': expected true or false"]),
    ("fit-cre", "settings.toml", "[model]\nhead_dropout = [0.3]\n", ["'model.head_dropout'", "list of 2"]),
    ("fit-cre", "settings.toml", "[train]\nepochs = 2.5\n", ["'train.epochs': expected an integer"]),
    ("fit-cre", "settings.toml", "[train\nlr = 1\n", ["not valid TOML or JSON"]),
    ("fit-cre", "settings.json", '{"train": {"lr": 0.001,}}', ["not valid JSON", "line 1"]),
    ("fit-ep", "settings.toml", "[model]\nenergy = \"quadratic\"\n", ["'model.energy'", "interaction or linear"]),
    ("fit-ep", "settings.toml", "[train]\nloss_weights = [0.1, 0.1]\n", ["'train.loss_weights'", "list of 5"]),
    ("fit-ep", "settings.toml", "[train]\nseed = 1\n", ["unknown key 'seed' in [train]"]),
    ("fit-physinformer", "settings.toml", "[model]\nd_model = 64\n", ["'d_model' is a setting of --arch tileformer"]),
    ("fit-physinformer", "settings.toml", "[model]\nn_side = 3\n", ["unknown key 'n_side' in [model]"]),
]


@pytest.mark.parametrize("name,fname,text,expect", REFUSED, ids=[f"{r[0]}-{r[3][0][:30]}" for r in REFUSED])
def test_config_file_refusals_come_before_any_input(name, fname, text, expect, tmp_path):
    """exit 1, one Error line naming the file (and the line and key); INPUT is absent, so a
    check made after reading it would name the input instead; no model directory is made."""
    settings = tmp_path / fname
    settings.write_text(text)
    res = run_cli(name, [tmp_path / "absent.tsv", "-o", tmp_path / "m", "--config", settings])
    line = _one_error(res)
    assert line.startswith(f"Error: {settings}"), line
    for part in expect:
        assert part in line, (part, line)
    assert "absent.tsv" not in line and not (tmp_path / "m").exists()


def test_mm_sizes_for_another_network_are_refused(split_table, tmp_path):
    settings = tmp_path / "s.toml"
    settings.write_text("[model.mm]\nd_model = 32\n")
    res = run_cli("fit-cre", [split_table, "-o", tmp_path / "m", "--targets", "mean_value", "--preset", "cpu",
                              "--config", settings, "--epochs", "1", "--no-baseline", "-q"])
    line = _one_error(res)
    assert "[model.mm]" in line and "--arch mm-transformer" in line and str(settings) in line


MOVED = [
    ("fit-cre", ["--lr", "0.01"], "[train] then lr = "),
    ("fit-cre", ["--no-kmer-prior"], "[model] then kmer_prior = false"),
    ("fit-cre", ["--clip", "2"], "[train] then clip = "),
    ("fit-cre", ["--head-dropout", "0.3,0.2"], "[model] then head_dropout = [0.3, 0.2]"),
    ("fit-ep", ["--energy", "linear"], "[model] then energy = "),
    ("fit-ep", ["--loss-weights", "0.1,0.1,1,0.01,0.05"], "[train] then loss_weights = [0.1, 0.1, 1, 0.01, 0.05]"),
    ("fit-physinformer", ["--lr-mult", "5"], "[train] then lr_mult = "),
    ("evalboot", ["--winsor", "5,95"], "--winsorize LOW,HIGH"),
]


@pytest.mark.parametrize("name,args,expect", MOVED, ids=[f"{m[0]}{m[1][0]}" for m in MOVED])
def test_a_flag_that_became_a_config_key_says_where_it_went(name, args, expect, tmp_path):
    res = run_cli(name, [tmp_path / "absent.tsv", "-o", tmp_path / "m", *args])
    assert res.exit_code == 2, res.stderr
    assert f"Error: {args[0]} is no longer an option" in res.stderr and expect in res.stderr, res.stderr
    assert res.stderr.count("Error:") == 1


def test_an_unknown_flag_is_still_clicks_own_error(tmp_path):
    res = run_cli("fit-cre", [tmp_path / "absent.tsv", "-o", tmp_path / "m", "--no-such-flag"])
    assert res.exit_code == 2 and "No such option" in res.stderr and "--no-such-flag" in res.stderr


# ----------------------------------------------------------------------------- fit-ep, fit-physinformer

def _ep_config(file_settings, flags):
    """fit-ep's resolved configuration for a sequence pair table of two cell lines (no input read)."""
    from toolkit.train.ep_data import resolve_config

    layout = SimpleNamespace(seq={"enhancer": "enhancer_seq", "promoter": "promoter_seq"}, cell="cell",
                             label="label", distance=None, kind="sequences", coords={})
    data = {"layout": layout, "cells": ["A", "B"], "lengths": {"enhancer": 100, "promoter": 50}, "input": "x.tsv",
            "data_sha1": "0", "n": {"train": 10, "val": 4, "test": 0, "excluded": 0}}
    settings = {"preset": "cpu", "file": {"train": {}, "model": {}, **file_settings}, "seed": 1, "flags": flags,
                "genome": None, "clip": False}
    return resolve_config(data, settings, SimpleNamespace(type="cpu"))


def test_fit_ep_precedence_defaults_preset_file_flags():
    base = _ep_config({}, {})
    # the cpu preset (docs/models.md, fit-ep: gamma starts at 1, environment at a tenth of the rate, lr 1e-2)
    assert base["train"]["gamma"] == 1.0 and base["train"]["gamma_max"] == 2.0
    assert base["train"]["env_lr_scale"] == 0.1 and base["train"]["lr"] == 0.01 and base["train"]["support"] == 32
    assert base["train"]["task_loss"] == "immax" and base["model"]["energy"] == "linear"
    assert base["model"]["clamp_temperature"] is False and base["train"]["min_epochs"] == 6
    cfg = _ep_config({"train": {"loss_weights": [0.1, 0.1, 0.05, 0.01, 0.05], "eta": 0.5, "support": 8,
                                "task_loss": "bce", "env_lr_scale": 1.0},
                      "model": {"energy": "interaction", "modules": 1, "clamp_temperature": True}},
                     {"support": 16, "epochs": None, "batch_size": None})
    t, m = cfg["train"], cfg["model"]
    # loss_weights expands to the five weights and caps twice as large; a weight given itself wins
    assert [t[k] for k in ("alpha", "beta", "gamma", "delta")] == [0.1, 0.1, 0.05, 0.01]
    assert [t[k + "_max"] for k in ("alpha", "beta", "gamma", "delta", "eta")] == [0.2, 0.2, 0.1, 0.02, 0.1]
    assert t["eta"] == 0.5 and "loss_weights" not in t
    assert t["support"] == 16                                    # --support-size over the file's 8
    assert cfg["support_size"] == t["eval_support"] == 256      # scoring's support set: a config key
    assert t["task_loss"] == "bce" and t["env_lr_scale"] == 1.0 and t["lr"] == 0.01
    assert (m["energy"], m["modules"], m["clamp_temperature"]) == ("interaction", 1, True)
    assert list(t) == list(base["train"]) and list(m) == list(base["model"])     # config.json's layout kept


def test_fit_physinformer_file_keys_and_grad_checkpoint():
    from toolkit.train.physinformer_data import resolve_config

    data = {"names": ["a"], "families": ["global"], "triples": [], "residual": None, "activities": [], "length": 20,
            "dropped": {}, "input": "x", "format": "tsv", "data_sha1": "0", "n_train": 1, "n_val": 1, "n_test": 0}
    cpu = SimpleNamespace(type="cpu")
    cfg = resolve_config(data, "cpu", cpu, 1, {"epochs": 3}, False, settings={
        "train": {"lr_mult": 5.0, "epochs": 9}, "model": {"d_state": 4, "grad_checkpoint": True}})
    assert cfg["train"]["lr_mult"] == 5.0 and cfg["train"]["epochs"] == 3 and cfg["train"]["clip"] == 1.0
    assert cfg["model"]["d_state"] == 4 and cfg["model"]["grad_checkpoint"] is True
    assert cfg["model"]["embed"] == 16                            # the cpu preset's, not set in the file
    plain = resolve_config(data, "cpu", cpu, 1, {}, False)
    assert plain["model"]["grad_checkpoint"] is False and list(plain["model"]) == list(cfg["model"])


def test_config_is_not_read_on_resume_and_says_so(tmp_path):
    """--resume keeps the run's config.json: a --config given then is checked, and a warning says
    it is not used (the run directory is absent here, so the run itself fails after that)."""
    settings = tmp_path / "s.toml"
    settings.write_text("[train]\nlr = 0.5\n")
    res = run_cli("fit-cre", [tmp_path / "absent.tsv", "-o", tmp_path / "m", "--config", settings, "--resume"])
    assert f"Warning: --config {settings} is not read on --resume" in res.stderr


def test_help_lists_the_config_keys():
    res = CliRunner().invoke(load("fit-ep"), ["--help"], terminal_width=100)
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "[train] batch_size, support, epochs" in text and "[model] channels, kernel" in text
    assert "energy" in text and "loss_weights" in text and "curriculum_epochs" in text


def _cre_config(file_settings, arch=None, members=None):
    """fit-cre's resolved configuration for one regression target (no input read)."""
    from toolkit.train.cre_data import resolve_config

    data = {"n_side": 2, "targets": ["y"], "se": [], "task_types": ["regression"], "length": 50, "side": None,
            "input": "x", "data_sha1": "0", "n_train": 10, "n_val": 5, "n_test": 0}
    settings = {"train": {}, "model": {}, "file": "s.toml", **file_settings}
    return resolve_config(data, "cpu", arch, SimpleNamespace(type="cpu"), 1, {"epochs": None, "batch_size": None}, "x",
                   None, None, {"members": members}, settings)


def test_fit_cre_mm_transformer_defaults_yield_to_the_file_and_flags():
    # the mm-transformer's own defaults (docs/models.md, multi-modal inputs): lr 5e-4, no k-mer branch, one network
    cfg = _cre_config({"model": {"arch": "mm-transformer", "mm": {"d_model": 64}}})
    assert cfg["model"]["arch"] == "mm-transformer" and cfg["train"]["lr"] == 5e-4
    assert cfg["model"]["kmer_prior"] is False and cfg["model"]["members"] == 1
    assert cfg["model"]["mm"]["d_model"] == 64 and cfg["model"]["mm"]["fusion_layers"] == 6
    cfg = _cre_config({"train": {"lr": 1e-3}, "model": {"kmer_prior": True, "members": 2}}, arch="mm-transformer",
                      members=3)
    assert cfg["train"]["lr"] == 1e-3 and cfg["model"]["kmer_prior"] is True
    assert cfg["model"]["members"] == 3                          # --ensemble 3 over the file's 2
    cpu = _cre_config({"model": {"arch": "resnet", "side_dropout": 0.5}})
    assert cpu["model"]["arch"] == "resnet" and cpu["model"]["side_dropout"] == 0.5
    assert cpu["train"]["lr"] == 3e-3 and "mm" not in cpu["model"]   # the cpu preset's lr
