"""fit-cre: train the cross-cell-type CRE activity model."""

import click

from ..train.presets import CRE_TRAIN_DEFAULTS as _DEFAULTS
from ..train.presets import config_epilog
from . import options as opt

_TRAIN_FLAGS = {
    # flag name -> (config key, type, help); every other setting is a --config key
    "epochs": ("epochs", click.IntRange(1), "Maximum epochs."),
    "batch-size": ("batch_size", click.IntRange(2), "Sequences per step."),
    **opt.PRECISION_FLAG,
}

MOVED = opt.moved_to_config({
    # flags of earlier versions -> (config section, key, example value)
    "lr": ("train", "lr", "0.0003"), "weight-decay": ("train", "weight_decay", "0.05"),
    "warmup-epochs": ("train", "warmup_epochs", "5"), "min-epochs": ("train", "min_epochs", "20"),
    "patience": ("train", "patience", "12"), "min-delta": ("train", "min_delta", "0.002"),
    "huber-delta": ("train", "huber_delta", "1.0"), "se-cap": ("train", "se_cap", "25.0"),
    "task-weight-warmup": ("train", "task_weight_warmup", "5"), "rc-prob": ("train", "rc_prob", "0.5"),
    "rc-lambda": ("train", "rc_lambda", "0.05"), "shift": ("train", "shift", "3"),
    "mask-prob": ("train", "mask_prob", "0.02"), "clip": ("train", "clip", "1.0"),
    "best-k": ("train", "best_k", "3"), "regression-loss": ("train", "regression_loss", '"mse"'),
    "collapse-sd": ("train", "collapse_sd", "0"), "collapse-r": ("train", "collapse_r", "0.1"),
    "collapse-epochs": ("train", "collapse_epochs", "3"), "steps-per-epoch": ("train", "steps_per_epoch", "100"),
    "norm": ("model", "norm", '"batch"'), "head-dropout": ("model", "head_dropout", "[0.3, 0.2]"),
    "kmer-prior": ("model", "kmer_prior", "true"), "no-kmer-prior": ("model", "kmer_prior", "false"),
})


@opt.command("fit-cre", epilog=config_epilog("fit-cre"), moved_options=MOVED)
@opt.input_argument
@opt.model_dir_option("config.json, model.pt, normalization.json, train_log.tsv, checkpoints, baseline.json "
                      "and baseline.pt (the k-mer ridge on the same rows), motifs.txt (with a motif prior)")
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
              help="Model and schedule sizes: malinois (the full-size network, for a GPU) or cpu (minutes on a CPU); "
                   "auto: malinois on CUDA, cpu otherwise.")
@click.option("--arch", type=click.Choice(["malinois", "resnet", "mm-transformer"]), default=None,
              help="Network: malinois (weight-normalised multi-scale CNN with dilated residual blocks), resnet "
                   "(BatchNorm ResNet + dilated stack) or mm-transformer (k-mer patch transformer, "
                   "a branch per --modality, cross-modal fusion; no k-mer ridge branch, lr 5e-4 unless set). "
                   "Default: the preset's (config key model.arch).")
@click.option("--ensemble", "members", type=click.IntRange(1, 32), default=None, metavar="N",
              help="Train N networks from different initialisations together (each on its own loss, "
                   "gradients clipped per network) and average them. Default: the preset's (config key "
                   "model.members).")
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
@opt.config_option
@opt.training_options(_TRAIN_FLAGS, _DEFAULTS)
@opt.device_option
@opt.seed_option
@opt.threads_option
@opt.resume_option
@opt.data_mode_option("about a million 230-nt rows with one target")
@click.option("--no-baseline", is_flag=True,
              help="Skip the k-mer (k = 1-6) ridge baseline fitted on the same train/val rows (baseline.json).")
def cli(input, out_dir, fmt, seq_col, id_col, targets, no_se, task_types, target_transforms, preset, arch, members,
        length, motif_prior, features, modalities, cell_col, config_file, device, seed, jobs, resume, data_in_memory,
        no_baseline, quiet, verbose, **train_flags):
    """Train the cross-cell-type CRE activity model on a split table.

    Reads a table with a sequence column, target columns and dgsplit's
    `split` column: fits on `train`, stops early on `val`, and never reads
    `test` rows. Targets are standardised on the train split; SE columns
    (<CELL>_lfcSE) weight the loss; missing labels are masked. Writes the
    model directory (config.json, model.pt, normalization.json, train_log.tsv,
    checkpoints); one summary line per epoch on standard
    error. Every setting defaults to the preset's value (or the built-in default),
    can be changed in a --config file (keys below), and is recorded in
    config.json.

    The input is read once, chunk by chunk, into the training cache
    DIR/train_cache.h5 (HDF5: uint8 sequence codes and the raw targets, SE
    and side inputs of the train and val rows, chunked); transforms and
    scalers are fitted from it, and training reads its batches from it by
    row index (--stream-data) or from memory (--data-in-memory), so no text
    is held. The cache survives a kill for --resume and is deleted when the
    run finishes. The k-mer ridge (branch and baseline) uses at most 10,000
    train rows (a seeded sample above that).

    \b
    Examples:
      seqqc lib.csv | dgsplit | fit-cre --targets K562_l2fc,HepG2_l2fc,SKNSH_l2fc -o models/cre
      dgsplit lib.tsv > split.tsv && fit-cre split.tsv --preset cpu --motif-prior HepG2 -o models/cre
      fit-cre split.tsv -o models/cre --resume
    """
    from ..train import cre_data

    _check_options(task_types, target_transforms, modalities, motif_prior)
    settings = opt.read_settings(config_file, "fit-cre", resume, opt.Log("fit-cre", quiet))
    group, log, dev = opt.start_training("fit-cre", device, jobs, quiet, verbose, train_flags.get("precision"))
    if not resume:
        opt.require_input(input)
    cre_data.fit(input, out_dir, group, log, dev, settings, fmt=fmt, seq_col=seq_col, id_col=id_col, targets=targets,
                 no_se=no_se, task_types=task_types, target_transforms=target_transforms, preset=preset, arch=arch,
                 members=members, length=length, motif_prior=motif_prior, features=features, modalities=modalities,
                 cell_col=cell_col, seed=seed, resume=resume, data_in_memory=data_in_memory, no_baseline=no_baseline,
                 train_flags=train_flags)


def _check_options(task_types, target_transforms, modalities, motif_prior):
    """Usage errors (exit 2) of the options whose values click does not check, before any input is read:
    the syntax and values of --task-type and --target-transform (whether each names a target is
    known only from the input), --modality and --motif-prior."""
    import os

    from ..errors import ConfigError
    from ..train import targets as TT
    from ..train.cre_data import MOTIF_CELLS, modality

    for flag, items, allowed, several in (("--task-type", task_types, TT.TASK_TYPES, False),
                                          ("--target-transform", target_transforms, TT.TRANSFORMS, True)):
        for item in items:
            col, eq, val = (x.strip() for x in item.partition("="))
            if not eq or not col or not val:
                raise click.BadParameter(f"'{item}' is not COL=VALUE (e.g. {flag} HepG2_l2fc={allowed[-1]})",
                                         param_hint=f"'{flag}'")
            bad = [v for v in (val.split(",") if several else [val]) if v.strip() not in allowed]
            if bad:
                raise click.BadParameter(f"'{item}': unknown {'transform' if several else 'task type'} "
                                         f"'{bad[0].strip()}'; choose from {', '.join(allowed)}",
                                         param_hint=f"'{flag}'")
    try:
        for m in modalities:
            modality(m)
    except ConfigError as exc:
        raise click.BadParameter(f"{exc.what}; {exc.hint}", param_hint="'--modality'") from None
    if motif_prior and not os.path.isfile(motif_prior) and motif_prior not in MOTIF_CELLS:
        raise click.BadParameter(f"'{motif_prior}' is neither a file nor a cell type; use one of "
                                 f"{', '.join(MOTIF_CELLS)} or a MEME/JASPAR motif file", param_hint="'--motif-prior'")


main = cli

if __name__ == "__main__":
    cli()
