"""fit-physinformer: train PhysInformer, sequence -> biophysical descriptors."""

import click

from ..train.physinformer_data import DATA_DEFAULTS as _DATA
from ..train.presets import PHYSINFORMER_TRAIN_DEFAULTS as _DEFAULTS
from ..train.presets import config_epilog
from . import options as opt

_TRAIN_FLAGS = {
    # flag name -> (config key, type, help); every other setting is a --config key
    "epochs": ("epochs", click.IntRange(1), "Epochs (the one-cycle schedule spans all of them)."),
    "batch-size": ("batch_size", click.IntRange(2), "Sequences per step."),
    **opt.PRECISION_FLAG,
}

MOVED = opt.moved_to_config({
    # flags of earlier versions -> (config section, key, example value)
    "lr": ("train", "lr", "0.0001"), "lr-mult": ("train", "lr_mult", "10"),
    "weight-decay": ("train", "weight_decay", "0.01"), "clip": ("train", "clip", "1.0"),
    "aux-lr-mult": ("train", "aux_lr_mult", "0.1"), "best-k": ("train", "best_k", "3"),
    "steps-per-epoch": ("train", "steps_per_epoch", "100"),
})


@opt.command("fit-physinformer", epilog=config_epilog("fit-physinformer"), moved_options=MOVED)
@opt.input_argument
@opt.model_dir_option("config.json, model.pt, normalization.json, train_log.tsv, val_descriptors.tsv, "
                       "baseline.json, checkpoints")
@opt.table_options
@click.option("--descriptors", "desc_spec", metavar="PATTERNS", default=None,
              help="Descriptors to learn: names or shell patterns, comma-separated (default: every descriptor "
                   "of the input but the psi_* electrostatics, which are TileFormer's; for a table, the columns "
                   "named pwm_*, bend_*, stiff_*, thermo_*, entropy_*, advanced_*; with --arch tileformer, psi_*).")
@click.option("--activities", metavar="COLS", default=None,
              help="Measured activity columns (e.g. mean_value, Dev_log2_enrichment) for the auxiliary heads "
                   "A (sequence + descriptors) and B (descriptors only); they never change the main model.")
@click.option("--arch", type=click.Choice(["physinformer", "tileformer"]), default="physinformer", show_default=True,
              help="physinformer: every descriptor; tileformer: a sequence transformer on the "
                   "psi_* electrostatic descriptors (descfeat --families psi); its default --descriptors is 'psi_*'.")
@click.option("--tileformer", "tileformer_dir", metavar="DIR", default=None,
              help="A trained TileFormer model directory: frozen inside PhysInformer, its predictions join the "
                   "representation every head sees. Its weights are copied into this model.")
@click.option("--preset", type=click.Choice(["auto", "full", "cpu"]), default="auto", show_default=True,
              help="Model and schedule sizes: full (the full-size model, for a GPU) or cpu (minutes on a CPU); "
                   "auto: full on CUDA, cpu otherwise.")
@click.option("--length", type=click.IntRange(1), default=None,
              help="Input length; shorter sequences are N-padded, longer ones centre-cropped "
                   "(default: the longest training sequence).")
@opt.motif_options
@click.option("--augment", type=click.IntRange(0), metavar="N", default=None,
              help="Add N training sequences (plain sequence table only): mutated copies of train sequences "
                   "(data.mutate_fraction of their positions substituted), dinucleotide shuffles of train "
                   "sequences (counts kept exactly) and, with --genome, genome windows of the model length, "
                   "mixed as data.augment_mix says; their descriptors are computed like the rows'. One that "
                   "dgsplit would group with a val or test row (data.leak_near, both strands) is dropped and "
                   "counted. [default: config data.augment, else "
                   f"{_DATA['augment']}]")
@click.option("--genome", metavar="FASTA", default=None,
              help="Genome for --augment's windows (plain or bgzip FASTA with its index; windows free of N, "
                   "either strand).")
@opt.config_option
@opt.training_options(_TRAIN_FLAGS, _DEFAULTS)
@click.option("--grad-checkpoint", is_flag=True,
              help="Gradient checkpointing of the stem and SSM layers (less memory; config key model.grad_checkpoint).")
@opt.device_option
@opt.seed_option
@opt.threads_option
@opt.resume_option
@opt.data_mode_option("sequence codes plus 8 bytes per descriptor and row")
def cli(input, out_dir, fmt, seq_col, id_col, desc_spec, activities, arch, tileformer_dir, preset, length,
        cell_type, motifs_path, augment, genome, config_file, grad_checkpoint, device, seed, jobs, resume,
        data_in_memory, quiet, verbose, **train_flags):
    """Train PhysInformer: predict every descfeat descriptor from the sequence.

    Reads descfeat's HDF5 file (or a TSV with descriptor columns) with
    dgsplit's `split` column: fits on `train`, scores every epoch on `val`,
    and never uses `test` rows. A plain sequence table (TSV, CSV with a
    sequence and a `split` column, no descriptor columns) is labelled here:
    the descriptors of its train and val rows are computed with descfeat's
    library (the families --descriptors names, by default all but psi; the
    pwm motifs of --cell-type or --motifs), exactly the values descfeat
    writes, and stored in the training cache, so --resume does not compute
    them again; config.json records what computed them. --augment N adds N
    train sequences (mutated copies, dinucleotide shuffles, --genome
    windows), labelled the same way; none that dgsplit would group with a
    val or test row is kept, and the run summary and config.json count
    those dropped. Descriptors constant on the train split, and those that
    repeat an earlier one there (descfeat --prune's rule; config key
    data.prune), are dropped and listed in config.json; the rest are
    standardised with the train split's mean and SD (normalization.json).
    A physics prior is added to the network's output: the k-mer frequencies
    (k <= 5, both strands), the pwm motifs' site statistics and the
    statistics of biophysical parameter tracks along the sequence (spreads,
    percentiles, windowed extrema, curvature; for TileFormer also the
    minor-groove electrostatic potential), with a ridge regression of every
    descriptor fitted on the train rows before the first epoch (config keys
    model.physics_prior, model.prior_kmax, model.prior_tracks); the network
    learns what it leaves. At the end the k-mer (k = 1-5) ridge fitted on the
    same rows is reported beside the model, mean, median and flattened
    validation Pearson (baseline.json; config key train.baseline).
    Each descriptor goes to the head of its family (its name's prefix); thermo_total_* and
    thermo_mean_* ΔG are derived from predicted ΔH and ΔS, so ΔG = ΔH -
    310.15 K·ΔS/1000 holds exactly. Outputs are a mean and a log-variance
    per descriptor (Gaussian NLL). One summary per epoch on standard error:
    validation Pearson, Spearman, R², MSE and MAE distributions, overall and
    per family, and the 5 best and worst descriptors.

    The input is read once, in blocks, into the training cache
    DIR/train_cache.h5 (uint8 sequence codes and the raw descriptor values
    of the train and val rows, chunked HDF5); descriptor statistics are
    computed from it block by block, and training reads batches from it by
    row index (--stream-data) or from memory (--data-in-memory). The cache
    survives a kill for --resume and is deleted when the run finishes.

    \b
    Examples:
      seqqc lib.tsv | dgsplit > split.tsv
      fit-physinformer split.tsv --cell-type HepG2 -o models/pi
      fit-physinformer split.tsv -o models/pi --augment 30000 --genome share/examples/ecoli/NC_000913.3.fa.bgz
      seqqc lib.tsv | dgsplit | descfeat -o d.h5 && fit-physinformer d.h5 -o models/pi
      fit-physinformer d.h5 -o models/pi --activities mean_value --preset cpu
      fit-physinformer d.h5 -o models/pi --resume
      fit-physinformer d.h5 -o models/tf --arch tileformer
      fit-physinformer d.h5 -o models/pi2 --tileformer models/tf
      predict -m models/pi test.tsv > descriptors_pred.tsv
    """
    from ..train import physinformer_data

    settings = opt.read_settings(config_file, "fit-physinformer", resume, opt.Log("fit-physinformer", quiet))
    if not resume:
        physinformer_data.check_model_keys(settings, arch)
        if tileformer_dir and arch == "tileformer":
            raise click.UsageError("--tileformer feeds a TileFormer into PhysInformer; it does not go with "
                                   "--arch tileformer")
    group, log, dev = opt.start_training("fit-physinformer", device, jobs, quiet, verbose, train_flags.get("precision"))
    if not resume:
        opt.require_input(input)
    given = click.get_current_context().get_parameter_source
    motifs_given = motifs_path is not None or given("cell_type") != click.core.ParameterSource.DEFAULT
    physinformer_data.fit(input, out_dir, group, log, dev, settings, fmt=fmt, seq_col=seq_col, id_col=id_col,
                          desc_spec=desc_spec, activities=activities, arch=arch, tileformer_dir=tileformer_dir,
                          preset=preset, length=length, grad_checkpoint=grad_checkpoint, seed=seed, resume=resume,
                          data_in_memory=data_in_memory, train_flags=train_flags, cell_type=cell_type,
                          motifs_path=motifs_path, motifs_given=motifs_given, augment=augment, genome=genome,
                          jobs=jobs)


main = cli

if __name__ == "__main__":
    cli()
