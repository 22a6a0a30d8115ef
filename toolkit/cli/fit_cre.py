"""fit-cre: train the cross-cell-type CRE activity model (design 001)."""

import click

from ..train.cre import TRAIN_DEFAULTS as _DEFAULTS
from . import options as opt

BASELINE_WEIGHTS = "baseline.pt"
"""The k-mer ridge baseline's parameters in a model directory (``predict --baseline``)."""

_TRAIN_FLAGS = {
    # flag name -> (config key, type, help)
    "epochs": ("epochs", click.IntRange(1), "Maximum epochs."),
    "batch-size": ("batch_size", click.IntRange(2), "Sequences per step."),
    "lr": ("lr", click.FloatRange(0, min_open=True), "Peak learning rate (AdamW)."),
    "weight-decay": ("weight_decay", click.FloatRange(0), "AdamW weight decay (not on biases, norms, weight-norm gains)."),
    "warmup-epochs": ("warmup_epochs", click.IntRange(0), "Linear warm-up from lr/100, then cosine to lr/100."),
    "min-epochs": ("min_epochs", click.IntRange(1), "Never stop early before this epoch."),
    "patience": ("patience", click.IntRange(1), "Stop after this many epochs without a gain of --min-delta."),
    "min-delta": ("min_delta", click.FloatRange(0), "Smallest gain of mean validation Pearson that counts."),
    "huber-delta": ("huber_delta", click.FloatRange(0, min_open=True), "Huber delta, in train-SD units."),
    "se-cap": ("se_cap", click.FloatRange(0, min_open=True), "Cap of the SE weights 1/(SE^2 + 1e-6)."),
    "task-weight-warmup": ("task_weight_warmup", click.IntRange(0),
                           "Epochs of equal task weights before the inverse-variance EMA weights."),
    "rc-prob": ("rc_prob", click.FloatRange(0, 1), "Reverse-complement augmentation probability (0: off)."),
    "rc-lambda": ("rc_lambda", click.FloatRange(0), "RC-consistency penalty weight (0: off)."),
    "shift": ("shift", click.IntRange(0), "Largest random shift (bp), vacated positions N."),
    "mask-prob": ("mask_prob", click.FloatRange(0, 1), "Per-base input masking probability."),
    "clip": ("clip", click.FloatRange(0, min_open=True), "Gradient norm clipping."),
    "best-k": ("best_k", click.IntRange(1), "Best checkpoints kept."),
    "regression-loss": ("regression_loss", click.Choice(["huber", "mse"]), "Loss of regression tasks."),
    "collapse-sd": ("collapse_sd", click.FloatRange(0, 1),
                    "Collapse guard: a task whose validation predictions vary less than this x its targets' SD "
                    "(and correlate below --collapse-r) has collapsed (0: guard off)."),
    "collapse-r": ("collapse_r", click.FloatRange(0, 1), "Collapse guard: correlation below which a flat task counts."),
    "collapse-epochs": ("collapse_epochs", click.IntRange(1), "Collapse guard: collapsed epochs in a row before stopping."),
}


@opt.command("fit-cre")
@opt.input_argument
@click.option("-o", "--output", "out_dir", required=True, metavar="DIR",
              help="Model directory to write (config.json, model.pt, normalization.json, train_log.tsv, checkpoints).")
@opt.table_options
@click.option("--targets", metavar="COLS", default=None,
              help="Comma-separated target columns (default: the recognised ones, e.g. <CELL>_l2fc).")
@click.option("--no-se", is_flag=True, help="Ignore <CELL>_lfcSE columns (no SE weights).")
@click.option("--task-type", "task_types", multiple=True, metavar="COL=TYPE",
              help="regression (Huber/MSE), binary (0/1; BCE on logits with a positive-class weight; predict writes "
                   "the probability) or count (Poisson; predict writes the expected count). Repeatable; default "
                   "regression, and a 0/1 column must be named.")
@click.option("--target-transform", "target_transforms", multiple=True, metavar="COL=T[,T...]",
              help="Transforms of a regression target, in order, fitted on train and inverted by predict: log1p, "
                   "asinh, rank, zscore, none. Repeatable; default zscore.")
@click.option("--preset", type=click.Choice(["auto", "malinois", "cpu"]), default="auto", show_default=True,
              help="Model and schedule sizes: malinois (the full design) or cpu (minutes on a CPU); "
                   "auto: malinois on CUDA, cpu otherwise.")
@click.option("--arch", type=click.Choice(["malinois", "resnet", "mm-transformer"]), default=None,
              help="Network: malinois (weight-normalised multi-scale CNN, design 001 MODEL DESIGN), resnet "
                   "(BatchNorm ResNet + dilated stack, METHOD) or mm-transformer (design 004: k-mer patch transformer, "
                   "a branch per --modality, cross-modal fusion; no k-mer ridge branch, lr 5e-4 unless given). "
                   "Default: the preset's.")
@click.option("--norm", "conv_norm", type=click.Choice(["weight", "batch"]), default=None,
              help="malinois backbone: weight-normalised convs (the design) or convs followed by BatchNorm. "
                   "Default: the preset's.")
@click.option("--head-dropout", metavar="P1,P2", default=None,
              help="Dropout after the first and second layer of each head (design: 0.3,0.2). Default: the preset's.")
@click.option("--kmer-prior/--no-kmer-prior", default=None,
              help="Average the network's output with a k-mer (k = 1-6, both strands) ridge regression fitted "
                   "on the train rows (penalty by cross-validation over train folds; val is not used). "
                   "Default: the preset's (cpu: on, malinois: off).")
@click.option("--ensemble", "members", type=click.IntRange(1, 32), default=None, metavar="N",
              help="Train N networks from different initialisations together (each on its own loss, "
                   "gradients clipped per network) and average them. Default: the preset's.")
@click.option("--length", type=click.IntRange(1), default=None,
              help="Input length; shorter sequences are N-padded, longer ones centre-cropped "
                   "(default: the longest training sequence).")
@click.option("--motif-prior", metavar="CELL|FILE", default=None,
              help="Fuse the best PWM score of each motif: a cell type's JASPAR list (HepG2, K562, WTC11, S2) "
                   "or a MEME/JASPAR file.")
@click.option("--features", metavar="COLS|FILE.h5", default=None,
              help="Fuse numeric features: input columns (names or patterns such as 'thermo_*') or a "
                   "descfeat HDF5 file matched by id.")
@click.option("--modality", "modalities", multiple=True, metavar="NAME=COLS|FILE.h5[:mlp|cnn]",
              help="A numeric input modality (histone or TF signal summaries, descfeat descriptors): columns (names "
                   "or patterns) or a descfeat HDF5 matched by id; standardised on train. The mm-transformer gives "
                   "each its own branch (mlp, or cnn for an ordered track); other archs fuse them like --features. "
                   "Repeatable.")
@click.option("--cell-col", metavar="COL", default=None,
              help="Cell metadata: this column's train categories, one-hot (unseen ones all zero), as a modality.")
@opt.training_options(_TRAIN_FLAGS, _DEFAULTS)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@opt.seed_option
@opt.threads_option
@click.option("--resume", is_flag=True, help="Continue the run in DIR from checkpoint-last.pt, exactly.")
@click.option("--no-baseline", is_flag=True,
              help="Skip the k-mer (k = 1-6) ridge baseline fitted on the same train/val rows (baseline.json).")
def cli(input, out_dir, fmt, seq_col, id_col, targets, no_se, task_types, target_transforms, preset, arch, conv_norm, head_dropout, kmer_prior,
        members,
        length, motif_prior, features, modalities, cell_col, device, seed, jobs, resume, no_baseline, quiet, verbose, **train_flags):
    """Train the cross-cell-type CRE activity model on a split table.

    Reads a table with a sequence column, target columns and dgsplit's
    `split` column: fits on `train`, stops early on `val`, and never reads
    `test` rows. Targets are standardised on the train split; SE columns
    (<CELL>_lfcSE) weight the loss; missing labels are masked. Writes the
    model directory of SPEC.md; one summary line per epoch on standard
    error. Every training option defaults to the design's value (or the
    preset's) and is recorded in config.json.

    \b
    Examples:
      seqqc lib.csv | dgsplit | fit-cre --targets K562_l2fc,HepG2_l2fc,SKNSH_l2fc -o models/cre
      dgsplit lib.tsv > split.tsv && fit-cre split.tsv --preset cpu --motif-prior HepG2 -o models/cre
      fit-cre split.tsv -o models/cre --resume
    """
    import os

    import torch

    from ..train import cre as trainer
    from ..train import dist
    from ..train import modeldir as MD

    group = dist.setup(device)          # torchrun: one rank of a DistributedDataParallel run
    log = opt.Log("fit-cre", quiet or not group.main, verbose)
    torch.set_num_threads(jobs)
    dev = trainer.resolve_device(device)
    if group.active and dev.type == "cuda":
        dev = torch.device("cuda", group.local_rank)
    if not resume:
        opt.require_input(input)
    config, norm = MD.open_run(out_dir, "cre", resume)
    group.barrier()                     # every rank has checked out_dir before rank 0 writes into it
    data = _load(input, fmt, seq_col, id_col, targets, no_se, length, motif_prior, features, config, norm, log,
                 task_types, target_transforms, modalities, cell_col)
    if config is None:
        config = _config(data, preset, arch, dev, seed, train_flags, input, motif_prior, features,
                         {"norm": conv_norm, "head_dropout": _dropouts(head_dropout), "kmer_prior": kmer_prior,
                          "members": members})
        if group.main:
            os.makedirs(out_dir, exist_ok=True)
            if motif_prior and os.path.isfile(motif_prior):
                import shutil

                shutil.copyfile(motif_prior, os.path.join(out_dir, "motifs.txt"))
            MD.write_json(os.path.join(out_dir, MD.CONFIG), config)
            MD.write_json(os.path.join(out_dir, MD.NORMALIZATION), data["normalization"])
    else:
        _check_same_data(config, data)
    log.info(f"fit-cre: {data['n_train']:,} train, {data['n_val']:,} val rows ({data['n_test']:,} test rows not read); "
             f"{len(config['targets'])} task(s): {', '.join(config['targets'])}; preset {config['preset']}, arch "
             f"{config['model']['arch']}, device {dev}" + (", resuming" if resume else "")
             + (f"; {group.world} processes (DistributedDataParallel)" if group.active else ""))
    result = trainer.train(config, data["train"], data["val"], out_dir, dev, log=log.info, resume=resume)
    best = result["best"]
    row = result["log"][best["epoch"] - 1]
    per = ", ".join(f"{t} r {row['val_pearson_' + t]:.3f}" if "val_pearson_" + t in row else
                    f"{t} AUROC {row['val_auroc_' + t]:.3f} AUPR {row['val_aupr_' + t]:.3f}" for t in config["targets"])
    log.info(f"fit-cre: {result['stopped']} after {result['epochs']} epochs; best epoch {best['epoch']}: "
             f"val {per} (mean score {best['score']:.4f}); model in {out_dir}")
    dist.teardown()
    if not no_baseline and group.main:
        from ..models.kmer_ridge import KmerRidge

        ridge = KmerRidge().fit(data["seqs"]["train"], data["z"]["train"], data["seqs"]["val"], data["z"]["val"])
        base = {"model": "k-mer (k = 1-6, both strands) ridge regression, penalty chosen on val",
                "val_pearson": {t: float(ridge.val_r[j]) for j, t in enumerate(config["targets"])},
                "alpha": {t: float(ridge.alpha[j]) for j, t in enumerate(config["targets"])}}
        base["val_mean_pearson"] = float(sum(base["val_pearson"].values()) / len(config["targets"]))
        MD.write_json(os.path.join(out_dir, "baseline.json"), base)
        import torch as _t

        MD.save_tensors(os.path.join(out_dir, BASELINE_WEIGHTS),
                        {k: _t.as_tensor(v) for k, v in ridge.state().items()})
        per = ", ".join(f"{t} {v:.3f}" for t, v in base["val_pearson"].items())
        log.info(f"fit-cre: baseline k-mer ridge val Pearson {per} (mean {base['val_mean_pearson']:.4f}; "
                 "its penalty was chosen on val, so it is if anything optimistic)")


def _load(input, fmt, seq_col, id_col, targets, no_se, length, motif_prior, features, config, norm, log,
          task_types=(), target_transforms=(), modalities=(), cell_col=None):
    """Read train and val rows (test rows are dropped chunk by chunk, unseen) and build the splits."""
    import numpy as np

    from ..errors import ConfigError, InputError
    from ..io.tables import (clean_sequences, parse_numeric, read_split_rows, se_columns, target_cell_name,
                             target_columns)
    from ..train import data as D
    from ..train import side as S
    from ..train.cre import Split

    first, tables, n_test = read_split_rows(input, fmt, seq_col, id_col,
                                            hint="run dgsplit first (seqqc lib.csv | dgsplit | fit-cre ...)")
    for name, t in tables.items():
        if t is None:
            raise InputError(f"no '{name}' rows", file=first.name, column="split",
                             hint="dgsplit writes train, val and test rows; check --val-fraction")
    cols = list(first.df.columns)
    if config is None:
        tnames = target_columns(cols, targets)
        if not tnames:
            raise ConfigError("no target columns found", file=first.name,
                              hint="name them with --targets (numeric columns, e.g. HepG2_l2fc)")
        se = {} if no_se else se_columns(cols, tnames)
        L = length
    else:
        tnames, se, L = config["targets"], config["se_columns"], config["length"]
        missing = [c for c in list(tnames) + list(se.values()) if c not in cols]
        if missing:
            raise InputError(f"column(s) of the trained model missing: {', '.join(missing)}", file=first.name)
    seqs = {k: clean_sequences(t) for k, t in tables.items()}
    if L is None:
        L = max(len(s) for s in seqs["train"])
    ys = {k: np.column_stack([parse_numeric(t, c) for c in tnames]) for k, t in tables.items()}
    for k, y in ys.items():
        y[~np.isfinite(y)] = np.nan
    from ..train import targets as TT

    if config is None:
        norm = {"targets": {}, "se_weight_mean": {}}
        kinds = TT.parse_assignments(task_types, "--task-type", TT.TASK_TYPES, tnames)
        chains = TT.parse_assignments(target_transforms, "--target-transform", TT.TRANSFORMS, tnames, True)
        for t, chain in chains.items():
            if kinds.get(t, "regression") != "regression" and chain != ["none"]:
                raise ConfigError(f"--target-transform {t}: only regression targets are transformed",
                                  hint=f"drop it, or use --task-type {t}=regression")
        for j, t in enumerate(tnames):
            kind = kinds.get(t, "regression")
            chain = [c for c in chains.get(t, TT.DEFAULT_TRANSFORM[kind]) if c != "none"]
            for msg in TT.check(ys["train"][:, j], t, kind, chain, t in kinds, file=first.name):
                log.warn(msg)
            for k, tab in tables.items():
                bad = TT.bad_for_chain(ys[k][:, j], chain)
                if bad.size:
                    raise InputError(f"target '{t}' has {bad.size} value(s) <= -1, where log1p is undefined (e.g. "
                                     f"{ys[k][bad[0], j]:g} at id {tab.ids()[bad[0]]})", file=first.name, column=t,
                                     hint=f"use --target-transform {t}=asinh,zscore")
            norm["targets"][t] = {"type": kind, "transform": TT.fit(ys["train"][:, j], chain)}
    z = {}
    for k, y in ys.items():
        z[k] = np.empty(y.shape, dtype=np.float32)
        for j, t in enumerate(tnames):
            z[k][:, j] = TT.forward(y[:, j], TT.params_of(norm["targets"][t]))
    w = {}
    for k, t in tables.items():
        wk = np.ones((len(t.df), len(tnames)), dtype=np.float32)
        for j, name in enumerate(tnames):
            if name in se:
                s = parse_numeric(t, se[name])
                cap = 25.0 if config is None else config["train"]["se_cap"]
                wj = np.minimum(1.0 / (np.nan_to_num(s, nan=np.inf) ** 2 + 1e-6), cap)
                wk[:, j] = wj
        w[k] = wk
    for j, name in enumerate(tnames):
        if name in se:
            if config is None:
                ok = np.isfinite(z["train"][:, j])
                norm["se_weight_mean"][name] = float(w["train"][ok, j].mean()) if ok.any() else 1.0
            for k in w:
                w[k][:, j] /= norm["se_weight_mean"][name]
    # side inputs
    side = {k: None for k in tables}
    side_cfg = None if config is None else config.get("side")
    if config is None and (motif_prior or features or modalities or cell_col):
        side_cfg = {}
    if side_cfg is not None:
        blocks = {k: [] for k in tables}
        names, slices = [], []
        mp = motif_prior if config is None else (side_cfg.get("motif_prior") or {}).get("source")
        if mp:
            motifs = _motifs(mp)
            for k in tables:
                blocks[k].append(S.motif_prior(seqs[k], motifs))
            names += [f"motif:{m.matrix_id}" for m in motifs]
            side_cfg["motif_prior"] = {"source": mp, "motifs": [m.matrix_id for m in motifs]}
            slices.append({"name": "motifs", "branch": "mlp", "end": len(names)})
        ft = features if config is None else (side_cfg.get("features") or {}).get("spec")
        if ft:
            if ft.endswith(".h5"):
                fnames = None if config is None else side_cfg["features"]["names"]
                for k, t in tables.items():
                    v, fnames = S.h5_features(ft, list(t.ids()), fnames)
                    blocks[k].append(v)
            else:
                exclude = {"id", first.seq_col, "split", "group_id", *tnames, *se.values()}
                fnames = S.select_columns(cols, ft, exclude) if config is None else side_cfg["features"]["names"]
                for k, t in tables.items():
                    blocks[k].append(S.numeric_columns(t, fnames))
            names += fnames
            side_cfg["features"] = {"spec": ft, "names": fnames}
            slices.append({"name": "features", "branch": "mlp", "end": len(names)})
        # --modality NAME=COLS|FILE.h5[:mlp|cnn] and the --cell-col label, in the order given
        specs = [_modality(m) for m in modalities] if config is None else \
            [m for m in side_cfg.get("modality_specs", [])]
        exclude = {"id", first.seq_col, "split", "group_id", *tnames, *se.values()}
        for m in specs:
            if m["spec"].endswith(".h5"):
                mnames = m.get("names")
                for k, t in tables.items():
                    v, mnames = S.h5_features(m["spec"], list(t.ids()), mnames)
                    blocks[k].append(v)
            else:
                mnames = m.get("names") or S.select_columns(cols, m["spec"], exclude)
                for k, t in tables.items():
                    blocks[k].append(S.numeric_columns(t, mnames))
            m["names"] = list(mnames)
            names += [f"{m['name']}:{c}" for c in mnames]
            slices.append({"name": m["name"], "branch": m["branch"], "end": len(names)})
        side_cfg["modality_specs"] = specs
        cell = {"column": cell_col} if config is None and cell_col else side_cfg.get("cell")
        if cell:
            if cell["column"] not in cols:
                raise ConfigError(f"--cell-col '{cell['column']}' is not a column", file=first.name, line=1)
            if "categories" not in cell:
                cell["categories"] = sorted({v.strip() for v in tables["train"].df[cell["column"]]})
            for k, t in tables.items():
                blocks[k].append(S.one_hot(t.df[cell["column"]], cell["categories"]))
            names += [f"cell:{c}" for c in cell["categories"]]
            slices.append({"name": "cell", "branch": "mlp", "end": len(names)})
            side_cfg["cell"] = cell
        start = 0
        for sl in slices:
            sl["start"], start = start, sl["end"]
        side_cfg["modalities"] = slices
        raw = {k: np.concatenate(b, axis=1) for k, b in blocks.items()}
        if config is None:
            m_, s_ = S.fit_scaler(raw["train"])
            norm["side"] = {"names": names, "mean": m_, "sd": s_}
        nan_total = 0
        for k in tables:
            side[k], nbad = S.apply_scaler(raw[k], norm["side"]["mean"], norm["side"]["sd"])
            nan_total += nbad
        if nan_total:
            log.warn(f"{nan_total} missing side-feature value(s) set to the train mean")
    tidx = {}
    for k, t in tables.items():
        if "target_cell" in t.df.columns:
            cells = [target_cell_name(c) or c for c in tnames]
            lut = {c: j for j, c in enumerate(cells)}
            tidx[k] = np.array([lut.get(v.strip(), -1) for v in t.df["target_cell"]])
        else:
            tidx[k] = None
    splits = {k: Split(D.encode(seqs[k], L), z[k], w[k], side[k], tidx[k],
                       t.df["group_id"].to_numpy() if "group_id" in t.df.columns else None)
              for k, t in tables.items()}
    import hashlib

    h = hashlib.sha1()
    for k in ("train", "val"):
        h.update(splits[k].codes.numpy().tobytes())
        h.update(np.nan_to_num(ys[k], nan=-9e99).tobytes())
    return {"task_types": [norm["targets"][t].get("type", "regression") for t in tnames],
            "train": splits["train"], "val": splits["val"], "seqs": seqs, "z": z, "n_train": len(splits["train"]),
            "n_val": len(splits["val"]), "n_test": n_test, "targets": tnames, "se": se, "length": L,
            "normalization": norm, "side": side_cfg, "n_side": 0 if side["train"] is None else side["train"].shape[1],
            "data_sha1": h.hexdigest(), "input": first.name}


def _modality(text):
    """--modality NAME=COLS|FILE.h5[:mlp|cnn] -> {"name", "spec", "branch"}."""
    from ..errors import ConfigError

    name, eq, spec = text.partition("=")
    branch = "mlp"
    for b in ("mlp", "cnn"):
        if spec.endswith(":" + b):
            spec, branch = spec[:-len(b) - 1], b
    if not eq or not name.strip() or not spec.strip() or name.strip() in ("motifs", "features", "cell"):
        raise ConfigError(f"--modality '{text}' is not NAME=COLS, NAME=FILE.h5 or either with :mlp / :cnn",
                          hint="e.g. --modality histone='H3K27ac_*,H3K4me3_*':cnn (names motifs, features and cell "
                               "are taken)")
    return {"name": name.strip(), "spec": spec.strip(), "branch": branch}


def _motifs(source):
    import os

    from ..features import motifs as M

    if os.path.isfile(source):
        return M.read_motif_file(source)
    cells = ("HepG2", "K562", "WTC11", "S2")
    if source not in cells:
        from ..errors import ConfigError

        raise ConfigError(f"--motif-prior '{source}' is neither a file nor a cell type",
                          hint=f"use one of {', '.join(cells)} or a MEME/JASPAR motif file")
    return M.cell_type_motifs(source)


def _dropouts(text):
    """--head-dropout 'P1,P2' -> [p1, p2] (None stays None)."""
    if text is None:
        return None
    from ..errors import ConfigError

    try:
        p = [float(v) for v in text.split(",")]
    except ValueError:
        p = []
    if len(p) != 2 or not all(0 <= v < 1 for v in p):
        raise ConfigError(f"--head-dropout '{text}' is not two probabilities", hint="e.g. --head-dropout 0.3,0.2")
    return p


def _config(data, preset, arch, dev, seed, flags, input, motif_prior, features, model_flags=None):
    from .. import __version__
    from ..models.cre import PRESETS
    from ..train.cre import TRAIN_DEFAULTS

    if preset == "auto":
        preset = "malinois" if dev.type == "cuda" else "cpu"
    p = PRESETS[preset]
    train = dict(TRAIN_DEFAULTS)
    for key in ("batch_size", "epochs", "min_epochs", "patience", "warmup_epochs", "lr", "mask_prob"):
        train[key] = p[key]
    train.update({k: v for k, v in flags.items() if v is not None})
    model = {"arch": arch or p["arch"], "stem": p["stem"], "width": p["width"], "wide": p["wide"],
             "res_blocks": p["res_blocks"], "head_hidden": list(p["head_hidden"]), "n_side": data["n_side"],
             "side_dropout": 0.3}
    for key in ("norm", "head_dropout", "kmer_prior", "members"):
        given = (model_flags or {}).get(key)
        model[key] = p[key] if given is None else given
    if model["arch"] == "mm-transformer":
        # design 004's sizes; its own defaults where the CNN presets' do not fit a transformer
        model["mm"] = dict(MM_SIZES)
        for key, value in (("kmer_prior", False), ("members", 1)):
            if (model_flags or {}).get(key) is None:
                model[key] = value
        if flags.get("lr") is None:
            train["lr"] = 5e-4
    return {"kind": "cre", "toolkit_version": __version__, "targets": data["targets"], "se_columns": data["se"],
            "task_types": data["task_types"],
            "length": data["length"], "preset": preset, "seed": seed, "model": model, "train": train,
            "side": data["side"], "input": data["input"], "data_sha1": data["data_sha1"],
            "rows": {"train": data["n_train"], "val": data["n_val"], "test_not_read": data["n_test"]}}


MM_SIZES = {"d_model": 128, "patch": 6, "seq_layers": 4, "seq_heads": 4, "fusion_layers": 6, "fusion_heads": 8,
            "dropout": 0.1, "mlp_hidden": 128, "cnn_filters": 64, "head_hidden": 64}
"""The mm-transformer's sizes (design 004, "Model")."""


def _check_same_data(config, data):
    from ..errors import InputError

    if data["data_sha1"] != config["data_sha1"]:
        raise InputError("the train/val rows differ from those the run started with", file=data["input"],
                         hint="resume with the same input table")


main = cli

if __name__ == "__main__":
    cli()
