"""fit-ep: train the enhancer-promoter interaction model (design 002)."""

import click

from ..train.presets import EP_LOSS_WEIGHTS
from ..train.presets import EP_TRAIN_DEFAULTS as _DEFAULTS
from ..train.presets import config_epilog
from . import options as opt

_TRAIN_FLAGS = {
    # flag name -> (config key, type, help); every other setting is a --config key
    "epochs": ("epochs", click.IntRange(1), "Maximum epochs."),
    "batch-size": ("batch_size", click.IntRange(2), "Query pairs per batch (every batch holds one cell line)."),
    "support-size": ("support", click.IntRange(1),
                     "Pairs per support set: the unlabeled pairs whose mean environment feature is a cell "
                     "line's z_E (training batches, validation, --leave-one-cell-out test, predict's default)."),
    **opt.PRECISION_FLAG,
}

MOVED = opt.moved_to_config({
    # flags of earlier versions -> (config section, key, example value)
    "energy": ("model", "energy", '"interaction"'), "modules": ("model", "modules", "32"),
    "channels": ("model", "channels", "32"), "env-filters": ("model", "env_filters", "32"),
    "clamp-temperature": ("model", "clamp_temperature", "true"), "task-loss": ("train", "task_loss", '"bce"'),
    "loss-weights": ("train", "loss_weights", "[0.1, 0.1, 1, 0.01, 0.05]"), "lr": ("train", "lr", "0.001"),
    "weight-decay": ("train", "weight_decay", "0.01"), "env-lr-scale": ("train", "env_lr_scale", "0.1"),
    "warmup-epochs": ("train", "warmup_epochs", "1"), "min-epochs": ("train", "min_epochs", "6"),
    "patience": ("train", "patience", "3"), "curriculum-epochs": ("train", "curriculum_epochs", "2"),
    "rc-prob": ("train", "rc_prob", "0.5"), "margin": ("train", "margin", "1.0"),
})


def _layout_options(fn):
    for deco in reversed([
        click.option("--genome", metavar="FASTA", default=None,
                     help="Genome FASTA (plain or bgzip; pyfaidx) for a pair table of coordinates "
                          "(enhancer_chrom/start/end, promoter_chrom/start/end: the TargetFinder layout)."),
        click.option("--enhancer-length", type=click.IntRange(1), default=None,
                     help="Enhancer window (bp) centred on each enhancer; with sequences, their length "
                          "(shorter ones N-padded, longer centre-cropped). [default: 3000 with --genome, "
                          "else the longest train enhancer]"),
        click.option("--promoter-length", type=click.IntRange(1), default=None,
                     help="Promoter window (bp), as --enhancer-length. [default: 2000 with --genome, else the "
                          "longest train promoter]"),
        click.option("--clip", is_flag=True,
                     help="Pad windows that run past a chromosome end with N instead of refusing the row."),
        click.option("--enhancer-col", metavar="COL", default=None,
                     help="Enhancer sequence column (default: enhancer_seq, enhancer_sequence).",),
        click.option("--promoter-col", metavar="COL", default=None,
                     help="Promoter sequence column (default: promoter_seq, promoter_sequence)."),
        click.option("--cell-col", metavar="COL", default="cell", show_default=True, help="Cell-line column."),
        click.option("--label-col", metavar="COL", default="label", show_default=True,
                     help="0/1 interaction label column."),
        click.option("--distance-col", metavar="COL", default=None,
                     help="Enhancer-promoter distance column for the distance baseline (default: distance if "
                          "present, else the distance between the element centres)."),
    ]):
        fn = deco(fn)
    return fn


@opt.command("fit-ep", epilog=config_epilog("fit-ep"), moved_options=MOVED)
@opt.input_argument
@opt.model_dir_option("config.json, model.pt, normalization.json, calibration.json, train_log.tsv, checkpoints; "
                      "with --leave-one-cell-out a folder of them plus loco.tsv")
@_layout_options
@click.option("--leave-one-cell-out", "loco", is_flag=True,
              help="Ignore the split column: for each cell line, train on the other cell lines' pairs off the "
                   "held-out chromosomes, stop on --val-chroms, and test on the held-out cell line's pairs on "
                   "--test-chroms, next to the distance and region-propensity baselines (loco.tsv).")
@click.option("--cells", "held_cells", metavar="LIST", default=None,
              help="--leave-one-cell-out: hold out only these cell lines (comma-separated; default all).")
@click.option("--val-chroms", default="chr19,chr21,chrX", show_default=True, metavar="LIST",
              help="--leave-one-cell-out: validation chromosomes ('7' and 'chr7' are the same).")
@click.option("--test-chroms", default="chr7,chr13", show_default=True, metavar="LIST",
              help="--leave-one-cell-out: test chromosomes.")
@click.option("--preset", type=click.Choice(["auto", "cpu", "full"]), default="auto", show_default=True,
              help="Model sizes: full (the design's sizes, for a GPU) or cpu (minutes on a CPU for a few thousand "
                   "pairs); auto: full on CUDA, cpu otherwise.")
@opt.config_option
@opt.training_options(_TRAIN_FLAGS, _DEFAULTS)
@opt.device_option
@opt.seed_option
@opt.threads_option
@opt.resume_option
@click.option("--no-baseline", is_flag=True,
              help="Skip the distance and region-propensity baselines fitted on the same train rows "
                   "(baseline.json).")
def cli(input, out_dir, genome, enhancer_length, promoter_length, clip, enhancer_col, promoter_col, cell_col,
        label_col, distance_col, loco, held_cells, val_chroms, test_chroms, preset, config_file, device, seed, jobs,
        resume, no_baseline, quiet, verbose, **train_flags):
    """Train the enhancer-promoter interaction model on a table of pairs.

    Reads enhancer-promoter pairs with a cell line (cell) and a 0/1 label:
    sequences (enhancer_seq, promoter_seq), or coordinates in the
    TargetFinder layout (enhancer_chrom/start/end, promoter_chrom/start/end)
    with --genome, cut as windows centred on each element (3,000 / 2,000 bp).
    Fits on the `train` rows of dgsplit's split column, stops early on the
    validation AUPR of the `val` rows (patience 3), and never reads `test`
    or `excluded` rows. A cell line's environment z_E is the mean feature of
    a support set of its pairs (labels unused), so the model scores pairs of
    a cell line it never saw. Writes the model directory of SPEC.md plus
    calibration.json (the decision threshold, the F1 maximum on val) and
    baseline.json (distance and region-propensity baselines on the same
    rows); one line per epoch on standard error: AUPR, AUROC, F1, the
    correlation loss, the cell-line classifier's accuracy (falling toward
    chance), T and lambda; train_log.tsv has every loss and z_I / z_E
    sparsity.

    With --leave-one-cell-out, for every cell line: train on the other
    cell lines' pairs off the held-out chromosomes, test on its pairs on
    --test-chroms, next to the two baselines; loco.tsv holds AUPR with 95%
    bootstrap intervals against the positive-class prior.

    \b
    Examples:
      dgsplit pairs.csv.gz --holdout cell=K562 --holdout-chrom | fit-ep --genome hg19.fa -o models/ep
      fit-ep targetfinder_pairs.csv.gz --genome hg19.fa --leave-one-cell-out -o loco
      predict -m models/ep pairs.tsv --genome hg19.fa | evalboot --truth label --pred pred_label
      fit-ep split.tsv --genome hg19.fa -o models/ep --resume
    """
    from ..train import dist

    file_settings = opt.read_settings(config_file, "fit-ep", resume, opt.Log("fit-ep", quiet))
    group, log, dev = opt.start_training("fit-ep", device, jobs, quiet, verbose, train_flags.get("precision"))
    if not resume:
        opt.require_input(input)
    settings = {"genome": genome, "lengths": {"enhancer": enhancer_length, "promoter": promoter_length},
                "clip": clip, "columns": {"enhancer": enhancer_col, "promoter": promoter_col, "cell": cell_col,
                                          "label": label_col, "distance": distance_col},
                "preset": preset, "file": file_settings, "seed": seed, "flags": train_flags}
    if loco:
        _leave_one_cell_out(input, out_dir, settings, held_cells, val_chroms, test_chroms, dev, resume,
                            no_baseline, log)
    else:
        _fit(input, out_dir, settings, dev, resume, no_baseline, log)
    dist.teardown()


# ---------------------------------------------------------------------------- one model

def _fit(input, out_dir, settings, dev, resume, no_baseline, log):
    import os

    from ..train import dist
    from ..train import ep as trainer
    from ..train import modeldir as MD

    group = dist.group()
    config, _ = MD.open_run(out_dir, "ep", resume, lock=group.main)
    group.barrier()                     # every rank has checked out_dir before rank 0 writes into it
    if config is not None:
        settings = _settings_from_config(config, settings)
    data = _load_split(input, settings, config)
    if config is None:
        config = _config(data, settings, dev)
        if group.main:
            os.makedirs(out_dir, exist_ok=True)
            MD.write_json(os.path.join(out_dir, MD.CONFIG), config)
            MD.write_json(os.path.join(out_dir, MD.NORMALIZATION), data["normalization"])
    else:
        _check_same_data(config, data)
    log.info(f"fit-ep: {data['n']['train']:,} train, {data['n']['val']:,} val pairs "
             f"({data['n']['test']:,} test and {data['n']['excluded']:,} excluded rows not read); "
             f"{len(config['cells'])} training cell line(s): {', '.join(config['cells'])}; train prior "
             f"{data['normalization']['train_prior']:.4f}; {config['data']['layout']}, windows "
             f"{config['data']['lengths']['enhancer']}/{config['data']['lengths']['promoter']} bp; preset "
             f"{config['preset']}, energy {config['model']['energy']} (K = {config['model']['modules']}), device "
             f"{dev}" + (", resuming" if resume else "")
             + (f"; {group.world} processes (DistributedDataParallel)" if group.active else ""))
    result = trainer.train(config, data["train"], data["val"], out_dir, dev, log=log.info, resume=resume)
    best = result["best"]
    log.info(f"fit-ep: {result['stopped']} after {result['epochs']} epochs; best epoch {best['epoch']}: val AUPR "
             f"{best['val_aupr']:.4f} (prior {data['val_prior']:.4f}), AUROC {best['val_auroc']:.4f}; threshold "
             f"{best['threshold']:.4g} (val F1 {best['val_f1']:.3f}); model in {out_dir}")
    if not no_baseline and group.main:
        base = _baselines(data["aux"]["train"], data["aux"]["val"])
        MD.write_json(os.path.join(out_dir, "baseline.json"), _clean(base))
        log.info("fit-ep: baselines on the same rows: " + "; ".join(
            f"{k} val AUPR {v['val_aupr']:.4f}" if "val_aupr" in v else f"{k}: {v['note']}"
            for k, v in base.items() if isinstance(v, dict)))


def _settings_from_config(config, given):
    """On --resume the data settings of the run (the flags given now are ignored)."""
    d = config["data"]
    return {**given, "genome": d["genome"] if given["genome"] is None else given["genome"],
            "lengths": dict(d["lengths"]), "clip": d["clip"], "columns": dict(d["columns"])}


def _layout_args(settings, need_split):
    c = settings["columns"]
    return {"enhancer_col": c["enhancer"], "promoter_col": c["promoter"], "cell_col": c["cell"],
            "label_col": c["label"], "distance_col": c["distance"], "need_label": True, "need_split": need_split,
            "genome": settings["genome"]}


def _encode_rows(rows, layout, settings, lengths=None):
    """Labels, cells, distances, region keys and sequences of some rows (checked in that
    order: sequences first, so that an empty sequence is named before anything else)."""
    from ..io import pairs as P

    seqs = P.sequences(rows, layout, settings["genome"], lengths or settings["lengths"], settings["clip"])
    y = P.labels(rows, layout)
    cells = P.cells(rows, layout)
    dist = P.distances(rows, layout)
    keys = _region_keys(rows, layout, seqs)
    return {"seqs": seqs, "y": y, "cells": cells, "distance": dist, "keys": keys, "ids": rows.ids,
            "lines": rows.lines}


def _region_keys(rows, layout, seqs):
    """Region identity for the propensity baseline: where the table has coordinates, the
    5-kb bin of the element's centre (toolkit.models.ep_baselines.region_keys, so that
    overlapping windows of two cell lines count as one region); else the sequence itself."""
    import numpy as np

    from ..io.pairs import integer_column
    from ..models.ep_baselines import region_keys

    out = {}
    for el in ("enhancer", "promoter"):
        if el in layout.coords:
            c, s, e = layout.coords[el]
            out[el] = region_keys(rows.df[c].str.strip().to_numpy(dtype=object), integer_column(rows, s),
                                   integer_column(rows, e))
        else:
            out[el] = np.asarray(seqs[el], dtype=object)
    return out


def _split_of(aux, cells_list, lengths):
    from ..train import data as D
    from ..train.ep import PairSplit

    lut = {c: i for i, c in enumerate(cells_list)}
    idx = [lut.get(c, -1) for c in aux["cells"]]
    return PairSplit(D.encode(aux["seqs"]["enhancer"], lengths["enhancer"]),
                     D.encode(aux["seqs"]["promoter"], lengths["promoter"]), aux["y"], aux["cells"], idx)


def _check_classes(aux, which, name, layout):
    from ..errors import InputError

    y = aux["y"]
    if y.sum() == 0 or y.sum() == len(y):
        cls = "interacting (label 1)" if y.sum() == 0 else "non-interacting (label 0)"
        raise InputError(f"the {which} rows hold no {cls} pair", file=name, column=layout.label,
                         hint="both classes are needed to train and to compute AUPR; check the split")


def _load_split(input, settings, config):
    """Read the train and val rows of a split pair table (test and excluded rows unseen)."""
    import numpy as np

    from ..errors import InputError
    from ..io import pairs as P
    from ..io.streams import display_name
    from ..train.ep import immax_margins

    layout, rows, dropped = P.read_pairs(input, _layout_args(settings, need_split=True), keep=("train", "val"))
    name = display_name(input)
    for k in ("train", "val"):
        if rows[k] is None:
            raise InputError(f"no '{k}' rows", file=name, column="split",
                             hint="dgsplit writes train, val and test rows (dgsplit pairs.csv --holdout cell=K562 "
                                  "--holdout-chrom), or use --leave-one-cell-out")
    lengths = config["data"]["lengths"] if config is not None else _window_lengths(settings, layout)
    aux = {k: _encode_rows(rows[k], layout, settings, lengths) for k in ("train", "val")}
    if config is None:
        lengths = _settle_lengths(lengths, aux["train"]["seqs"])
    _check_classes(aux["train"], "train", name, layout)
    _check_classes(aux["val"], "val", name, layout)
    cells_list = sorted(set(aux["train"]["cells"].tolist())) if config is None else list(config["cells"])
    splits = {k: _split_of(aux[k], cells_list, lengths) for k in ("train", "val")}
    y = aux["train"]["y"]
    margins = immax_margins(float(y.sum()), float(len(y) - y.sum()))
    norm = {"train_positives": int(y.sum()), "train_negatives": int(len(y) - y.sum()),
            "train_prior": float(y.mean()), "immax_margins_at_margin_1": {"positive": margins[0],
                                                                          "negative": margins[1]},
            "note": "class counts of the train rows (the IMMAX margins follow them); no feature scalers"}
    return {"train": splits["train"], "val": splits["val"], "aux": aux, "layout": layout, "lengths": lengths,
            "cells": cells_list, "normalization": norm, "val_prior": float(np.mean(aux["val"]["y"])),
            "n": {"train": len(y), "val": len(aux["val"]["y"]), "test": dropped.get("test", 0),
                  "excluded": dropped.get("excluded", 0)},
            "data_sha1": _data_sha1(splits, aux), "input": name}


def _data_sha1(splits, aux):
    import hashlib

    h = hashlib.sha1()
    for k in ("train", "val"):
        h.update(splits[k].e.numpy().tobytes())
        h.update(splits[k].p.numpy().tobytes())
        h.update(aux[k]["y"].tobytes())
        h.update("\t".join(aux[k]["cells"].tolist()).encode())
    return h.hexdigest()


def _window_lengths(settings, layout):
    """Window lengths for coordinates (given, else 3,000 / 2,000); for sequences the given
    lengths or None (settled on the train sequences by :func:`_settle_lengths`)."""
    from ..io.pairs import DEFAULT_WINDOWS

    given = settings["lengths"]
    if layout.kind == "coordinates":
        return {el: given.get(el) or DEFAULT_WINDOWS[el] for el in ("enhancer", "promoter")}
    return dict(given)


def _settle_lengths(lengths, train_seqs):
    """Lengths still None become the longest train sequence of that element."""
    return {el: (lengths.get(el) or max(len(s) for s in train_seqs[el])) for el in ("enhancer", "promoter")}


def _config(data, settings, dev, extra=None):
    """The resolved configuration: defaults < preset < the --config file < the flags."""
    import os

    from .. import __version__
    from ..models.ep import PRESETS

    preset = settings["preset"]
    if preset == "auto":
        preset = "full" if dev.type == "cuda" else "cpu"
    p = PRESETS[preset]
    file_train = dict(settings["file"]["train"])
    train = dict(_DEFAULTS)
    for key in ("batch_size", "support", "epochs", "lr", "env_lr_scale"):
        train[key] = p[key]
    for k, v in zip(EP_LOSS_WEIGHTS, file_train.pop("loss_weights", p["loss_weights"])):
        train[k], train[k + "_max"] = v, 2 * v
    train.update(file_train)
    train.update({k: v for k, v in settings["flags"].items() if v is not None})
    model = {k: p[k] for k in ("channels", "kernel", "blocks", "pool", "d", "env_hidden", "modules",
                               "dropout", "strands", "env_input", "env_filters", "energy")}
    model["clamp_temperature"] = False
    model.update(settings["file"]["model"])
    layout = data["layout"]
    cols = {"enhancer": layout.seq.get("enhancer"), "promoter": layout.seq.get("promoter"), "cell": layout.cell,
            "label": layout.label, "distance": layout.distance}
    genome = settings["genome"]
    cfg = {"kind": "ep", "toolkit_version": __version__, "targets": [layout.label], "cells": data["cells"],
           "preset": preset, "seed": settings["seed"], "model": model, "train": train,
           "data": {"layout": layout.kind, "columns": cols, "coordinates": {k: list(v) for k, v in layout.coords.items()},
                    "genome": os.path.abspath(genome) if genome else None, "lengths": dict(data["lengths"]),
                    "clip": bool(settings["clip"])},
           "support_size": train["support"], "input": data["input"], "data_sha1": data["data_sha1"],
           "rows": {"train": data["n"]["train"], "val": data["n"]["val"], "test_not_read": data["n"]["test"],
                    "excluded_not_read": data["n"]["excluded"]}}
    if extra:
        cfg.update(extra)
    return cfg


def _check_same_data(config, data):
    from ..errors import InputError

    if data["data_sha1"] != config["data_sha1"]:
        raise InputError("the train/val rows differ from those the run started with", file=data["input"],
                         hint="resume with the same input table (and genome)")


# ---------------------------------------------------------------------------- baselines

def _baselines(train, val):
    """Distance and region-propensity baselines fitted on ``train``, scored on ``val``."""
    import numpy as np

    from ..train.ep import binary_metrics

    out = {"val_prior": float(np.mean(val["y"]))}
    preds = _baseline_predictions(train, val)
    for name, p in preds.items():
        if p is None:
            out[name] = {"note": "no distance column and no coordinates"}
            continue
        m = binary_metrics(val["y"], p)
        out[name] = {"val_aupr": m["aupr"], "val_auroc": m["auroc"], "model": _BASELINE_TEXT[name]}
    return out


_BASELINE_TEXT = {
    "distance": "logistic regression on log10(distance + 1), fitted on the train rows",
    "propensity": "smoothed interaction rate of the enhancer and of the promoter region in the train rows "
                  "(unseen regions get the prior)",
}


def _baseline_predictions(train, test):
    """P(interaction) of ``test`` rows by the distance and propensity baselines fitted on ``train``."""
    import numpy as np

    from ..models.ep_baselines import DistanceBaseline, PropensityBaseline

    out = {"distance": None}
    if train["distance"] is not None and test["distance"] is not None:
        ok = np.isfinite(train["distance"]) & (train["distance"] >= 0)
        if ok.sum() >= 2 and 0 < train["y"][ok].sum() < ok.sum():
            model = DistanceBaseline().fit(train["distance"][ok], train["y"][ok])
            p = np.full(len(test["y"]), np.nan)
            tok = np.isfinite(test["distance"]) & (test["distance"] >= 0)
            p[tok] = model.predict_proba(test["distance"][tok])
            out["distance"] = p
    prop = PropensityBaseline().fit(train["keys"]["enhancer"], train["keys"]["promoter"], train["y"])
    out["propensity"] = np.asarray(prop.predict_proba(test["keys"]["enhancer"], test["keys"]["promoter"]),
                                   dtype=np.float64)
    return out


def _clean(obj):
    import math

    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


# ---------------------------------------------------------------------------- leave one cell out

def _safe(name):
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", str(name))


def _leave_one_cell_out(input, out_dir, settings, held_cells, val_chroms, test_chroms, dev, resume, no_baseline,
                        log):
    """Train one model per held-out cell line and score its test pairs next to the baselines."""
    import json
    import os
    import time

    import numpy as np

    from .. import __version__
    from ..errors import ConfigError, InputError
    from ..io import pairs as P
    from ..split.allocate import by_column_and_chromosome
    from ..train import dist
    from ..train import ep as trainer
    from ..train import modeldir as MD

    group = dist.group()
    run_path = os.path.join(out_dir, "loco.json")
    if resume:
        if not os.path.exists(run_path):
            raise ConfigError(f"{out_dir} holds no --leave-one-cell-out run (no loco.json)",
                              hint="drop --resume to start one")
        saved = MD.read_json(run_path)
        settings = {**settings, **{k: saved["settings"][k] for k in ("genome", "lengths", "clip", "columns")}}
        held_cells, val_chroms, test_chroms = (",".join(saved["held_out"]), ",".join(saved["val_chroms"]),
                                               ",".join(saved["test_chroms"]))
    elif os.path.exists(run_path) or os.path.exists(os.path.join(out_dir, MD.CONFIG)):
        raise ConfigError(f"{out_dir} already holds a run", hint="choose a new -o DIR, or add --resume")
    if group.main:
        MD.lock(out_dir)                # a second run writing this directory stops at once
    group.barrier()                     # every rank has checked out_dir before rank 0 writes into it
    layout, rows, _ = P.read_pairs(input, _layout_args(settings, need_split=False), keep=None)
    rows = rows["all"]
    name = rows.name
    if not layout.coords:
        raise InputError("--leave-one-cell-out holds chromosomes out, but the table has no enhancer_chrom / "
                         "promoter_chrom columns", file=name, line=1,
                         hint="give the TargetFinder coordinates (or add the chrom columns to a sequence table)")
    lengths = _window_lengths(settings, layout)
    aux = _encode_rows(rows, layout, settings, lengths)
    lengths = _settle_lengths(lengths, aux["seqs"])
    cells_all = aux["cells"]
    present = sorted(set(cells_all.tolist()))
    held = present if not held_cells else [c.strip() for c in held_cells.split(",") if c.strip()]
    unknown = [c for c in held if c not in present]
    if unknown:
        raise ConfigError(f"--cells: cell line(s) not in the table: {', '.join(unknown)}", file=name,
                          hint=f"cell lines are: {', '.join(present)}")
    if len(present) < 2:
        raise InputError("--leave-one-cell-out needs at least two cell lines", file=name, column=layout.cell)
    vc = [c.strip() for c in val_chroms.split(",") if c.strip()]
    tc = [c.strip() for c in test_chroms.split(",") if c.strip()]
    chroms = P.chromosomes(rows, layout)
    if group.main:
        os.makedirs(out_dir, exist_ok=True)
    if not resume and group.main:
        MD.write_json(run_path, {"toolkit_version": __version__, "input": name, "held_out": held,
                                 "val_chroms": vc, "test_chroms": tc,
                                 "settings": {"genome": os.path.abspath(settings["genome"]) if settings["genome"]
                                              else None, "lengths": lengths, "clip": settings["clip"],
                                              "columns": settings["columns"]}})
    from ..train import data as D

    codes_e = D.encode(aux["seqs"]["enhancer"], lengths["enhancer"])
    codes_p = D.encode(aux["seqs"]["promoter"], lengths["promoter"])
    names = ("train", "val", "test", "excluded")
    summary, pred_frames = [], []
    for c in held:
        t0 = time.time()
        split, _, _ = by_column_and_chromosome(np.arange(len(rows)), cells_all, [c], chroms, val=vc, test=tc)
        part = {k: np.flatnonzero(split == i) for i, k in enumerate(names)}
        fold_dir = os.path.join(out_dir, f"heldout-{_safe(c)}")
        done = os.path.join(fold_dir, "test_predictions.tsv")
        sub = {k: _subset(aux, part[k]) for k in ("train", "val", "test")}
        for k in ("train", "val", "test"):
            if len(part[k]) == 0 or sub[k]["y"].sum() == 0:
                raise InputError(f"holding out {c}: the {k} set has {len(part[k])} pairs and "
                                 f"{int(sub[k]['y'].sum())} interacting ones", file=name,
                                 hint="choose --val-chroms / --test-chroms that hold pairs of every cell line")
        if resume and os.path.exists(done):
            import pandas as pd

            frame = pd.read_csv(done, sep="\t", dtype=str, keep_default_na=False)
            log.info(f"fit-ep: {c}: already done ({done})")
        else:
            cells_list = sorted(set(sub["train"]["cells"].tolist()))
            splits = {}
            for k in ("train", "val", "test"):
                lut = {x: i for i, x in enumerate(cells_list)}
                splits[k] = trainer.PairSplit(codes_e[part[k]], codes_p[part[k]], sub[k]["y"], sub[k]["cells"],
                                              [lut.get(x, -1) for x in sub[k]["cells"]])
            fold_resume = resume and os.path.exists(os.path.join(fold_dir, MD.CONFIG))
            group.barrier()             # every rank has looked before rank 0 writes the fold's config
            data = {"layout": layout, "lengths": lengths, "cells": cells_list, "input": name,
                    "data_sha1": _data_sha1(splits, sub),
                    "n": {"train": len(part["train"]), "val": len(part["val"]), "test": 0, "excluded": 0}}
            if fold_resume:
                config = MD.read_config(fold_dir, kinds={"ep"})
                _check_same_data(config, data)
            else:
                config = _config(data, settings, dev, extra={"leave_one_cell_out": {
                    "held_out": c, "val_chroms": vc, "test_chroms": tc,
                    "rows": {k: int(len(part[k])) for k in names},
                    "note": "test rows (the held-out cell line on test chromosomes) are scored by the driver "
                            "after training, never by the trainer"}})
                if group.main:
                    os.makedirs(fold_dir, exist_ok=True)
                    MD.write_json(os.path.join(fold_dir, MD.CONFIG), config)
                    y = sub["train"]["y"]
                    MD.write_json(os.path.join(fold_dir, MD.NORMALIZATION),
                                  {"train_positives": int(y.sum()), "train_negatives": int(len(y) - y.sum()),
                                   "train_prior": float(y.mean())})
            log.info(f"fit-ep: holding out {c}: {len(part['train']):,} train, {len(part['val']):,} val pairs "
                     f"(other cell lines off {','.join(tc)}), {len(part['test']):,} test pairs ({c} on "
                     f"{','.join(tc)}), {len(part['excluded']):,} excluded")
            result = trainer.train(config, splits["train"], splits["val"], fold_dir, dev,
                                   log=(lambda m, c=c: log.info(f"fit-ep: {c}: {m}")), resume=fold_resume)
            if group.main:              # rank 0 scores the test pairs and writes; the other ranks go on
                frame = _score_test(fold_dir, splits["test"], sub, config, dev, no_baseline)
                from ..io.streams import AtomicOutput
                from ..io.tables import write_tsv

                with AtomicOutput(done) as fh:
                    write_tsv(frame, fh)
                log.info(f"fit-ep: {c}: {result['stopped']} after {result['epochs']} epochs (best "
                         f"{result['best']['epoch']}, val AUPR {result['best']['val_aupr']:.3f}); "
                         f"{time.time() - t0:.0f} s")
        if not group.main:
            continue
        pred_frames.append(frame)
        summary.append(_loco_row(c, frame, settings["seed"]))
        r = summary[-1]
        log.info(f"fit-ep: {c}: test AUPR fit-ep {r['aupr_fit_ep']:.3f} [{r['aupr_fit_ep_low']:.3f}, "
                 f"{r['aupr_fit_ep_high']:.3f}], distance {r['aupr_distance']:.3f}, propensity "
                 f"{r['aupr_propensity']:.3f}, prior {r['prior']:.3f} ({r['n_test']} pairs)")
    if not group.main:
        return
    import pandas as pd

    from ..io.streams import AtomicOutput
    from ..io.tables import write_tsv

    table = pd.DataFrame(summary)
    with AtomicOutput(os.path.join(out_dir, "loco.tsv")) as fh:
        write_tsv(table.map(_fmt), fh)
    with AtomicOutput(os.path.join(out_dir, "loco_predictions.tsv")) as fh:
        write_tsv(pd.concat(pred_frames, ignore_index=True), fh)
    json.dumps(summary)  # every value is plain
    log.info(f"fit-ep: leave-one-cell-out over {len(held)} cell line(s) in {out_dir}: loco.tsv, loco_predictions.tsv")


def _fmt(v):
    if isinstance(v, float):
        return "NaN" if v != v else f"{v:.6g}"
    return str(v)


def _subset(aux, idx):
    return {"seqs": {k: [v[i] for i in idx] for k, v in aux["seqs"].items()}, "y": aux["y"][idx],
            "cells": aux["cells"][idx], "distance": None if aux["distance"] is None else aux["distance"][idx],
            "keys": {k: v[idx] for k, v in aux["keys"].items()}, "ids": aux["ids"][idx], "lines": aux["lines"][idx]}


def _score_test(fold_dir, test_split, sub, config, dev, no_baseline):
    """The held-out cell line's test pairs scored by the fold's best model (support sets drawn
    from the test pairs, labels unused) and by the baselines fitted on the fold's train rows."""
    import numpy as np
    import pandas as pd

    from ..train import ep as trainer
    from ..train.serve import load

    pred = load(fold_dir, dev)
    groups = trainer.support_sets(test_split.cell_names, int(config["support_size"]), int(config["seed"]))
    logits, _, _, _ = trainer.score_pairs(pred.model, test_split, groups, dev, pred.env)
    test = sub["test"]
    frame = pd.DataFrame({"id": test["ids"], "cell": test["cells"], "label": test["y"].astype(int).astype(str),
                          "distance": ["" if test["distance"] is None or not np.isfinite(v) else f"{v:.10g}"
                                       for v in (test["distance"] if test["distance"] is not None
                                                 else np.full(len(test["y"]), np.nan))]})
    frame["pred_label"] = [f"{v:.10g}" for v in trainer.sigmoid(logits)]
    sup = np.zeros(len(test["y"]), dtype=int)
    for _, (_, s) in groups.items():
        sup[s] = 1
    frame["support_set"] = sup.astype(str)
    if not no_baseline:
        for k, p in _baseline_predictions(sub["train"], test).items():
            frame[f"pred_{k}"] = ["NaN" if p is None or not np.isfinite(v) else f"{v:.10g}"
                                  for v in (p if p is not None else np.full(len(test["y"]), np.nan))]
    return frame


def _loco_row(cell, frame, seed, n_boot=1000):
    """One loco.tsv row: AUPR (and AUROC) of fit-ep and the baselines with 95% bootstrap intervals
    (the same resamples for all three) and the paired differences."""
    import numpy as np

    from ..evaluate import Task, evaluate

    y = frame["label"].astype(float).to_numpy()
    p = frame["pred_label"].astype(float).to_numpy()
    row = {"held_out": cell, "n_test": len(y), "positives": int(y.sum()), "prior": float(y.mean())}
    comps = [c for c in ("distance", "propensity") if f"pred_{c}" in frame.columns]
    for comp in comps or [None]:
        q = frame[f"pred_{comp}"].astype(float).to_numpy() if comp else None
        if comp and not np.isfinite(q).any():
            row[f"aupr_{comp}"] = float("nan")
            continue
        res = evaluate([Task(name="label", truth=y, pred=p, pred_name="fit-ep", kind="binary", compare=q,
                             compare_name=comp)], n_boot=n_boot, seed=seed)
        for r in res.records:
            if r.section == "metrics" and r.metric in ("aupr", "auroc"):
                key = "fit_ep" if r.prediction == "fit-ep" else comp
                row[f"{r.metric}_{key}"] = r.value
                row[f"{r.metric}_{key}_low"] = r.ci_low
                row[f"{r.metric}_{key}_high"] = r.ci_high
            if r.section == "compare" and r.metric == "delta_aupr":
                row[f"delta_aupr_vs_{comp}"] = r.value
                row[f"delta_aupr_vs_{comp}_low"] = r.ci_low
                row[f"delta_aupr_vs_{comp}_high"] = r.ci_high
    order = ["held_out", "n_test", "positives", "prior"]
    for key in ["fit_ep"] + comps:
        for m in ("aupr", "auroc"):
            order += [f"{m}_{key}", f"{m}_{key}_low", f"{m}_{key}_high"]
    for comp in comps:
        order += [f"delta_aupr_vs_{comp}", f"delta_aupr_vs_{comp}_low", f"delta_aupr_vs_{comp}_high"]
    return {k: row.get(k, float("nan")) for k in order}


main = cli

if __name__ == "__main__":
    cli()
