"""fit-physinformer: train PhysInformer, sequence -> biophysical descriptors (design 000)."""

import click

from ..train.physinformer import TRAIN_DEFAULTS as _DEFAULTS
from . import options as opt

CATEGORICAL = ("pwm_best_tf",)
"""Descriptors that are category codes, not quantities: never regressed."""

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

_TRAIN_FLAGS = {
    # flag name -> (config key, type, help)
    "epochs": ("epochs", click.IntRange(1), "Epochs (the one-cycle schedule spans all of them)."),
    "batch-size": ("batch_size", click.IntRange(2), "Sequences per step."),
    "lr": ("lr", click.FloatRange(0, min_open=True), "Base learning rate; the one-cycle peak is --lr-mult x this."),
    "lr-mult": ("lr_mult", click.FloatRange(0, min_open=True), "Peak learning rate as a multiple of --lr."),
    "weight-decay": ("weight_decay", click.FloatRange(0), "AdamW weight decay (not on biases, norms, log-variances)."),
    "clip": ("clip", click.FloatRange(0, min_open=True), "Gradient norm clipping."),
    "aux-lr-mult": ("aux_lr_mult", click.FloatRange(0, min_open=True),
                    "Auxiliary heads' learning rate as a multiple of the main schedule's."),
    "best-k": ("best_k", click.IntRange(1), "Best checkpoints kept."),
}


@opt.command("fit-physinformer")
@opt.input_argument
@click.option("-o", "--output", "out_dir", required=True, metavar="DIR",
              help="Model directory to write (config.json, model.pt, normalization.json, train_log.tsv, "
                   "val_descriptors.tsv, checkpoints).")
@opt.table_options
@click.option("--descriptors", "desc_spec", metavar="PATTERNS", default=None,
              help="Descriptors to learn: names or shell patterns, comma-separated (default: every descriptor "
                   "of the input but the psi_* electrostatics, which are TileFormer's; for a table, the columns "
                   "named pwm_*, bend_*, stiff_*, thermo_*, entropy_*, advanced_*; with --arch tileformer, psi_*).")
@click.option("--activities", metavar="COLS", default=None,
              help="Measured activity columns (e.g. mean_value, Dev_log2_enrichment) for the auxiliary heads "
                   "A (sequence + descriptors) and B (descriptors only); they never change the main model.")
@click.option("--arch", type=click.Choice(["physinformer", "tileformer"]), default="physinformer", show_default=True,
              help="physinformer: every descriptor (section 2-3); tileformer: the transformer of section 4 on the "
                   "psi_* electrostatic descriptors (descfeat --families psi); its default --descriptors is 'psi_*'.")
@click.option("--tileformer", "tileformer_dir", metavar="DIR", default=None,
              help="A trained TileFormer model directory: frozen inside PhysInformer, its predictions join the "
                   "representation every head sees (section 4.2). Its weights are copied into this model.")
@click.option("--preset", type=click.Choice(["auto", "full", "cpu"]), default="auto", show_default=True,
              help="Model and schedule sizes: full (the design's) or cpu (minutes on a CPU); auto: full on CUDA, "
                   "cpu otherwise.")
@click.option("--length", type=click.IntRange(1), default=None,
              help="Input length; shorter sequences are N-padded, longer ones centre-cropped "
                   "(default: the longest training sequence).")
@opt.training_options(_TRAIN_FLAGS, _DEFAULTS)
@click.option("--grad-checkpoint", is_flag=True, help="Gradient checkpointing of the stem and SSM layers (less memory).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@opt.seed_option
@opt.threads_option
@click.option("--resume", is_flag=True, help="Continue the run in DIR from checkpoint-last.pt, exactly.")
def cli(input, out_dir, fmt, seq_col, id_col, desc_spec, activities, arch, tileformer_dir, preset, length,
        grad_checkpoint, device, seed, jobs, resume, quiet, verbose, **train_flags):
    """Train PhysInformer: predict every descfeat descriptor from the sequence.

    Reads descfeat's HDF5 file (or a TSV with descriptor columns) with
    dgsplit's `split` column: fits on `train`, scores every epoch on `val`,
    and never uses `test` rows. Descriptors constant on the train split are
    dropped and listed in config.json; the rest are standardised with the
    train split's mean and SD (normalization.json). Each descriptor goes to
    the head of its family (its name's prefix); thermo_total_* and
    thermo_mean_* ΔG are derived from predicted ΔH and ΔS, so ΔG = ΔH -
    310.15 K·ΔS/1000 holds exactly. Outputs are a mean and a log-variance
    per descriptor (Gaussian NLL). One summary per epoch on standard error:
    validation Pearson, Spearman, R², MSE and MAE distributions, overall and
    per family, and the 5 best and worst descriptors.

    \b
    Examples:
      seqqc lib.tsv | dgsplit | descfeat -o d.h5 && fit-physinformer d.h5 -o models/pi
      fit-physinformer d.h5 -o models/pi --activities mean_value --preset cpu
      fit-physinformer d.h5 -o models/pi --resume
      fit-physinformer d.h5 -o models/tf --arch tileformer
      fit-physinformer d.h5 -o models/pi2 --tileformer models/tf
      predict -m models/pi test.tsv > descriptors_pred.tsv
    """
    import os

    import torch

    from ..train import dist
    from ..train import modeldir as MD
    from ..train import physinformer as trainer
    from ..train.cre import resolve_device

    group = dist.setup(device)          # torchrun: one rank of a DistributedDataParallel run
    log = opt.Log("fit-physinformer", quiet or not group.main, verbose)
    torch.set_num_threads(jobs)
    dev = resolve_device(device)
    if group.active and dev.type == "cuda":
        dev = torch.device("cuda", group.local_rank)
    if not resume:
        opt.require_input(input)
    config, norm = MD.open_run(out_dir, "physinformer", resume)
    group.barrier()                     # every rank has checked out_dir before rank 0 writes into it
    if config is not None:
        arch = config["model"].get("arch", "physinformer")
    tile = _tileformer(tileformer_dir, arch) if config is None and tileformer_dir else None
    data = _load(input, fmt, seq_col, id_col, desc_spec or ("psi_*" if arch == "tileformer" else None), activities,
                 length, config, norm, log)
    if config is None:
        config = _config(data, preset, dev, seed, train_flags, grad_checkpoint, arch, tile)
        if group.main:
            os.makedirs(out_dir, exist_ok=True)
            MD.write_json(os.path.join(out_dir, MD.CONFIG), config)
            MD.write_json(os.path.join(out_dir, MD.NORMALIZATION), data["normalization"])
    elif data["data_sha1"] != config["data_sha1"]:
        from ..errors import InputError

        raise InputError("the train/val rows differ from those the run started with", file=data["input"],
                         hint="resume with the same input")
    dropped = config["dropped"]
    log.info(f"fit-physinformer: {data['n_train']:,} train, {data['n_val']:,} val rows ({data['n_test']:,} test rows "
             f"not used); {len(config['descriptors'])} descriptors ("
             + ", ".join(f"{f} {config['families'].count(f)}" for f in dict.fromkeys(config["families"]))
             + f"); dropped: {len(dropped['zero_variance'])} constant on train, {len(dropped['no_values'])} without "
             f"values, {len(dropped['categorical'])} categorical; ΔG derived for "
             f"{len(config['thermo_triples'])} thermo triple(s); {arch}, preset {config['preset']}, device {dev}"
             + (f"; frozen TileFormer from {config['tileformer']['dir']}" if config.get("tileformer") else "")
             + (f"; auxiliary heads for {', '.join(config['activities'])}" if config["activities"] else "")
             + (", resuming" if resume else "")
             + (f"; {group.world} processes (DistributedDataParallel)" if group.active else ""))
    if dropped["zero_variance"]:
        log.detail("constant on the train split: " + ", ".join(dropped["zero_variance"]))
    n = data["normalization"]["descriptors"]
    result = trainer.train(config, data["train"], data["val"], out_dir, dev, (n["mean"], n["sd"]), log=log.info,
                           resume=resume, tileformer_state=tile["state"] if tile else None)
    best = result["best"]
    row = result["log"][best["epoch"] - 1]
    log.info(f"fit-physinformer: {result['epochs']} epochs; best epoch {best['epoch']} (median val NLL {row['val_nll_median']:.4f}, "
             f"median val Pearson {row['val_pearson_median']:.3f}, median R2 {row['val_r2_median']:.3f}); "
             f"model in {out_dir}")
    dist.teardown()


def _is_hdf5(path):
    """Is this input an HDF5 file (a path, or standard input starting with the HDF5 signature)?"""
    import sys

    if path in (None, "-"):
        raw = sys.stdin.buffer
        if hasattr(raw, "peek"):
            return raw.peek(8)[:8] == HDF5_MAGIC
        if raw.seekable():
            pos = raw.tell()
            head = raw.read(8)
            raw.seek(pos)
            return head == HDF5_MAGIC
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_MAGIC
    except OSError:
        return False


def _read_hdf5_any(input, acts):
    """Read an HDF5 input; standard input is first copied to a temporary file (h5py needs one)."""
    if input not in (None, "-"):
        return _read_hdf5(input, acts)
    import os
    import shutil
    import sys
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".h5")
    try:
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh)
        out = _read_hdf5(tmp, acts)
        out["name"] = "<stdin>"
        return out
    finally:
        os.unlink(tmp)


def _load(input, fmt, seq_col, id_col, desc_spec, activities, length, config, norm, log):
    """Train and val rows (test rows dropped unread) as standardised splits."""
    import hashlib

    import numpy as np

    from ..errors import ConfigError, InputError
    from ..models.physinformer import ENTROPY_FACTOR, TEMPERATURE_K, family_of, thermo_triples
    from ..train import data as D
    from ..train.physinformer import Split

    acts = ([a.strip() for a in activities.split(",") if a.strip()] if activities else []) if config is None \
        else list(config["activities"])
    raw = _read_hdf5_any(input, acts) if _is_hdf5(input) else _read_table(input, fmt, seq_col, id_col, acts)
    name = raw["name"]
    have = raw["names"]
    if config is None:
        cand = _select(have, desc_spec, name)
        dropped = {"categorical": [c for c in cand if c in CATEGORICAL], "no_values": [], "zero_variance": []}
        cand = [c for c in cand if c not in CATEGORICAL]
    else:
        cand = list(config["descriptors"])
        missing = [c for c in cand if c not in have]
        if missing:
            raise InputError(f"descriptor(s) of the trained model missing: {', '.join(missing[:5])}", file=name)
    pos = {c: i for i, c in enumerate(have)}
    cols = np.array([pos[c] for c in cand], dtype=np.int64)
    vals = {k: raw["values"][k][:, cols].astype(np.float64) for k in ("train", "val")}
    for v in vals.values():
        v[~np.isfinite(v)] = np.nan
    if config is None:
        tr = vals["train"]
        finite = np.isfinite(tr).sum(axis=0)
        with np.errstate(invalid="ignore"):
            sd = np.nanstd(np.where(finite[None, :] > 0, tr, 0.0), axis=0)
        keep = []
        for j, c in enumerate(cand):
            if finite[j] < 3:
                dropped["no_values"].append(c)
            elif not sd[j] > 1e-8:
                dropped["zero_variance"].append(c)
            else:
                keep.append(j)
        if not keep:
            raise InputError("no descriptor varies on the train split", file=name,
                             hint="check the input (descfeat output with a split column) or --descriptors")
        names = [cand[j] for j in keep]
        vals = {k: v[:, keep] for k, v in vals.items()}
        mean = np.nanmean(vals["train"], axis=0)
        sdv = np.nanstd(vals["train"], axis=0)
        norm = {"descriptors": {"names": names, "mean": mean.tolist(), "sd": sdv.tolist()}, "activities": {}}
        triples, residual = [], {}
        for t in thermo_triples(names):
            h, s, g = (vals["train"][:, i] for i in t)
            r = np.abs(g - (h - TEMPERATURE_K * ENTROPY_FACTOR * s))
            scale = np.abs(h) + TEMPERATURE_K * ENTROPY_FACTOR * np.abs(s) + np.abs(g) + 1e-12
            ok = np.isfinite(r)
            if ok.any() and np.all(r[ok] <= 2e-5 * scale[ok] + 1e-6):
                triples.append(t)
                residual[names[t[2]]] = float(r[ok].max())
            else:
                log.warn(f"{names[t[2]]} is not {names[t[0]]} - {TEMPERATURE_K} K x {names[t[1]]}/1000 on the train "
                         "rows; it is predicted directly")
    else:
        names = cand
        triples, residual = config["thermo_triples"], config.get("thermo_identity_max_residual", {})
        mean = np.asarray(norm["descriptors"]["mean"])
        sdv = np.asarray(norm["descriptors"]["sd"])
        dropped = config["dropped"]
    z = {k: ((v - mean) / sdv).astype(np.float32) for k, v in vals.items()}
    act = {k: None for k in z}
    if acts:
        a = {k: raw["activities"][k] for k in z}
        if config is None:
            for j, c in enumerate(acts):
                col = a["train"][:, j]
                if np.isfinite(col).sum() < 3 or not np.nanstd(col) > 0:
                    raise InputError(f"activity '{c}' has fewer than 3 values or no variance in the train split",
                                     file=name, column=c, hint="drop it from --activities")
                norm["activities"][c] = {"mean": float(np.nanmean(col)), "sd": float(np.nanstd(col))}
        am = np.array([norm["activities"][c]["mean"] for c in acts])
        asd = np.array([norm["activities"][c]["sd"] for c in acts])
        act = {k: ((v - am) / asd).astype(np.float32) for k, v in a.items()}
    L = (length or max(len(s) for s in raw["seqs"]["train"])) if config is None else int(config["length"])
    splits = {k: Split(D.encode(raw["seqs"][k], L), z[k], act[k]) for k in z}
    h = hashlib.sha1()
    for k in ("train", "val"):
        h.update(splits[k].codes.numpy().tobytes())
        h.update(np.nan_to_num(vals[k], nan=-9e99).tobytes())
        if act[k] is not None:
            h.update(np.nan_to_num(act[k].astype(np.float64), nan=-9e99).tobytes())
    if config is None and not len(splits["val"]):
        raise ConfigError("no 'val' rows", file=name, hint="dgsplit writes train, val and test rows")
    return {"train": splits["train"], "val": splits["val"], "n_train": len(splits["train"]),
            "n_val": len(splits["val"]), "n_test": raw["n_test"], "names": names,
            "families": [family_of(c) for c in names], "triples": triples, "residual": residual, "dropped": dropped,
            "activities": acts, "length": L, "normalization": norm, "data_sha1": h.hexdigest(), "input": name,
            "format": raw["format"]}


def _select(have, spec, name):
    from ..errors import InputError
    from ..models.physinformer import family_of
    from ..train.side import select_columns

    if spec:
        import fnmatch

        from ..errors import ConfigError

        for pat in (x.strip() for x in spec.split(",") if x.strip()):
            if not any(fnmatch.fnmatchcase(c, pat) for c in have):
                raise ConfigError(f"--descriptors: nothing matches '{pat}'", file=name,
                                  hint="name descriptors of the input, e.g. 'thermo_*,bend_*' (descfeat --list)")
        return select_columns(have, spec)
    # psi_* (electrostatics) are TileFormer's targets and reach PhysInformer as its inputs (section 4.2)
    out = [c for c in have if family_of(c) != "global"] if not _from_h5(have) else \
        [c for c in have if not c.startswith("psi_")]
    if not out:
        raise InputError("no descriptor columns (pwm_*, bend_*, stiff_*, thermo_*, entropy_*, advanced_*)", file=name,
                         hint="run descfeat first, or name the columns with --descriptors")
    return out


def _from_h5(have):
    return getattr(have, "from_h5", False)


class _Names(list):
    from_h5 = True


def _numbers(texts, name, column, lines=None, ids=None):
    from ..io.tables import parse_numeric_values

    return parse_numeric_values(texts, lines, name, column, hint="fix the value or leave it empty", ids=ids)


def _read_hdf5(path, acts):
    import numpy as np

    from ..errors import InputError
    from ..io.h5 import read_h5
    from ..io.tables import check_split

    h = read_h5(path)
    if "split" not in h["columns"]:
        raise InputError("no 'split' column in the HDF5 file", file=path,
                         hint="run dgsplit before descfeat (seqqc lib.tsv | dgsplit | descfeat -o d.h5)")
    split = check_split(h["columns"]["split"], path)
    missing = [a for a in acts if a not in h["columns"]]
    if missing:
        raise InputError(f"activity column(s) not in the file: {', '.join(missing)}", file=path,
                         hint=f"its columns are: {', '.join(h['columns'])}")
    out = {"name": path, "format": "hdf5", "names": _Names(h["names"]), "values": {}, "seqs": {}, "activities": {},
           "n_test": int((split == "test").sum())}
    ids = h["ids"]
    for k in ("train", "val"):
        rows = np.flatnonzero(split == k)
        if k == "train" and not len(rows):
            raise InputError("no 'train' rows", file=path, column="split")
        out["values"][k] = h["values"][rows]
        out["seqs"][k] = [h["sequences"][i].strip().upper() for i in rows]
        if acts:
            out["activities"][k] = np.column_stack([
                _numbers([h["columns"][a][i] for i in rows], path, a, ids=[ids[i] for i in rows]) for a in acts])
    return out


def _read_table(input, fmt, seq_col, id_col, acts):
    import numpy as np

    from ..errors import InputError
    from ..io.tables import SeqTable, clean_sequences, read_split_rows

    first, tables, n_test = read_split_rows(
        input, fmt, seq_col, id_col, hint="run dgsplit first (seqqc lib.tsv | dgsplit | descfeat | fit-physinformer ...)")
    cols = list(first.df.columns)
    exclude = {"id", first.seq_col, "split", "group_id", *(acts or [])}
    names = [c for c in cols if c not in exclude]
    missing = [a for a in acts if a not in cols]
    if missing:
        raise InputError(f"activity column(s) not in the input: {', '.join(missing)}", file=first.name, line=1)
    out = {"name": first.name, "format": "table", "names": names, "values": {}, "seqs": {}, "activities": {},
           "n_test": n_test}
    for k, t in tables.items():
        if t is None:
            if k == "train":
                raise InputError("no 'train' rows", file=first.name, column="split")
            t = SeqTable(first.df.iloc[:0], first.seq_col, first.id_col, np.zeros(0, dtype=np.int64), first.name,
                         first.fmt)
        out["seqs"][k] = clean_sequences(t) if len(t.df) else []
        out["values"][k] = _Lazy(t.df, names, first.name, t.lines)
        if acts:
            out["activities"][k] = np.column_stack([_numbers(t.df[a].tolist(), first.name, a, t.lines) for a in acts])
    return out


class _Lazy:
    """Numeric columns of a table, parsed only when selected (``[:, cols]``)."""

    def __init__(self, df, names, name, lines):
        self.df, self.names, self.name, self.lines = df, names, name, lines

    def __getitem__(self, key):
        import numpy as np

        _, cols = key
        chosen = [self.names[j] for j in cols]
        if not len(self.df):
            return np.zeros((0, len(chosen)))
        return np.column_stack([_numbers(self.df[c].tolist(), self.name, c, self.lines) for c in chosen])


def _tileformer(path, arch):
    """The TileFormer of a model directory: {"dir", "config" (what builds it), "state"}."""
    import os

    from ..errors import InputError
    from ..models import KINDS
    from ..train import modeldir as MD

    if arch == "tileformer":
        raise click.UsageError("--tileformer feeds a TileFormer into PhysInformer; it does not go with --arch tileformer")
    cfg = MD.read_config(path, kinds=KINDS)
    if cfg["kind"] != "physinformer" or cfg["model"].get("arch") != "tileformer":
        raise InputError("not a TileFormer model directory", file=path,
                         hint="train one with fit-physinformer --arch tileformer")
    state = MD.load_tensors(os.path.join(path, MD.WEIGHTS))
    return {"dir": os.path.abspath(path), "state": state,
            "config": {"model": cfg["model"], "descriptors": cfg["descriptors"]}}


def _config(data, preset, dev, seed, flags, grad_checkpoint, arch="physinformer", tile=None):
    from .. import __version__
    from ..models import tileformer as TF
    from ..models.physinformer import ENTROPY_FACTOR, PRESETS, TEMPERATURE_K
    from ..train.physinformer import TRAIN_DEFAULTS

    if preset == "auto":
        preset = "full" if dev.type == "cuda" else "cpu"
    p = PRESETS[preset]
    sizes = TF.PRESETS[preset] if arch == "tileformer" else p
    train = dict(TRAIN_DEFAULTS)
    for key in ("batch_size", "epochs", "lr"):
        train[key] = sizes[key]
    train.update({k: v for k, v in flags.items() if v is not None})
    if arch == "tileformer":
        model = {k: sizes[k] for k in ("d_model", "n_heads", "n_layers", "d_ff", "dropout")}
        model.update({k: p[k] for k in ("aux_embed", "aux_channels", "aux_hidden")})
    else:
        model = {k: p[k] for k in ("embed", "channels", "kernels", "d_state", "ssm_layers", "pyramid_hidden",
                                   "attn_heads", "head_hidden", "dropout", "aux_embed", "aux_channels", "aux_hidden")}
    model.update({"arch": arch, "temperature_k": TEMPERATURE_K, "entropy_factor": ENTROPY_FACTOR,
                  "grad_checkpoint": grad_checkpoint})
    names = data["names"]
    return {"tileformer": {k: tile[k] for k in ("dir", "config")} if tile else None,"kind": "physinformer", "toolkit_version": __version__, "targets": names, "descriptors": names,
            "families": data["families"], "thermo_triples": data["triples"],
            "thermo_triple_names": [[names[i] for i in t] for t in data["triples"]],
            "thermo_identity_max_residual": data["residual"], "activities": data["activities"],
            "length": data["length"], "preset": preset, "seed": seed, "model": model, "train": train,
            "dropped": data["dropped"], "input": data["input"], "input_format": data["format"],
            "data_sha1": data["data_sha1"],
            "rows": {"train": data["n_train"], "val": data["n_val"], "test_not_used": data["n_test"]}}


main = cli

if __name__ == "__main__":
    cli()
