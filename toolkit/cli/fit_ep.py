"""fit-ep: train the enhancer-promoter interaction model."""

import click

from ..train.presets import EP_TRAIN_DEFAULTS as _DEFAULTS
from ..train.presets import config_epilog
from . import options as opt

_TRAIN_FLAGS = {
    # flag name -> (config key, type, help); every other setting is a --config key
    "epochs": ("epochs", click.IntRange(1), "Maximum epochs."),
    "batch-size": ("batch_size", click.IntRange(2), "Query pairs per batch (every batch holds one cell line)."),
    "support-size": ("support", click.IntRange(1),
                     "Pairs per support set in the training batches: the unlabeled pairs whose mean "
                     "environment feature is a cell line's z_E (scoring uses the config key "
                     f"train.eval_support, {_DEFAULTS['eval_support']}: validation, --leave-one-cell-out test, "
                     "predict's default)."),
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
                     help="Enhancer-promoter distance column (bp; a signed distance counts by its magnitude), read "
                          "by the model and by the distance baseline "
                          "(default: distance if present, else the distance between the element centres; with "
                          "neither, the model reads the sequences only)."),
    ]):
        fn = deco(fn)
    return fn


@opt.command("fit-ep", epilog=config_epilog("fit-ep"), moved_options=MOVED)
@opt.input_argument
@opt.model_dir_option("config.json, model.pt, normalization.json, calibration.json, baseline.json, train_log.tsv, "
                      "checkpoint-last.pt; with --leave-one-cell-out one such folder per held-out cell line "
                      "(heldout-<cell>/, with test_predictions.tsv) plus loco.tsv, loco.json and "
                      "loco_predictions.tsv")
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
              help="Model sizes: full (the full-size model, for a GPU) or cpu (minutes on a CPU for a few thousand "
                   "pairs); auto: full on CUDA, cpu otherwise.")
@opt.config_option
@opt.training_options(_TRAIN_FLAGS, _DEFAULTS)
@opt.device_option
@opt.seed_option
@opt.threads_option
@opt.resume_option
@click.option("--no-environment", is_flag=True,
              help="Train the sequence-only reference: the environment stream stays off (as in the first "
                   "epochs) and every pair is scored from its two sequences (and its distance) alone (config key "
                   "train.environment).")
@click.option("--no-baseline", is_flag=True,
              help="Skip the distance and region-propensity baselines fitted on the same train rows "
                   "(baseline.json).")
def cli(input, out_dir, genome, enhancer_length, promoter_length, clip, enhancer_col, promoter_col, cell_col,
        label_col, distance_col, loco, held_cells, val_chroms, test_chroms, preset, config_file, device, seed, jobs,
        resume, no_environment, no_baseline, quiet, verbose, **train_flags):
    """Train the enhancer-promoter interaction model on a table of pairs.

    Reads enhancer-promoter pairs with a cell line (cell) and a 0/1 label:
    sequences (enhancer_seq, promoter_seq), or coordinates in the
    TargetFinder layout (enhancer_chrom/start/end, promoter_chrom/start/end)
    with --genome, cut as windows centred on each element (3,000 / 2,000 bp).
    Fits on the `train` rows of dgsplit's split column, stops early on the
    validation AUPR of the `val` rows (patience 3), and never reads `test`
    or `excluded` rows. A cell line's environment z_E is the mean feature of
    a support set of its pairs (labels unused), so the model scores pairs of
    a cell line it never saw. Where the pairs have distances (a distance
    column, or coordinates of both elements on one chromosome) the model adds
    a learned function of log10(distance + 1) to each pair's score, and
    predict then reads the distances too. Writes a model directory (config.json, model.pt,
    train_log.tsv, checkpoints) plus
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
                "preset": preset, "file": file_settings, "seed": seed,
                "flags": {**train_flags, "environment": False if no_environment else None}}
    if loco:
        from ..train.ep_loco import leave_one_cell_out

        leave_one_cell_out(input, out_dir, settings, held_cells, val_chroms, test_chroms, dev, resume, no_baseline,
                           log)
    else:
        from ..train.ep_data import fit

        fit(input, out_dir, settings, dev, resume, no_baseline, log)
    dist.teardown()


main = cli

if __name__ == "__main__":
    cli()
