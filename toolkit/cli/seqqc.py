"""seqqc: quality control of sequence tables, with nothing lost."""

import contextlib

import click

from ..errors import ConfigError
from . import options as opt


def _pair(text, name, cast=float):
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 2:
        raise click.BadParameter("expected LOW,HIGH", param_hint=f"'{name}'")
    try:
        return tuple(cast(p) for p in parts)
    except ValueError:
        raise click.BadParameter("expected two numbers LOW,HIGH", param_hint=f"'{name}'") from None


@opt.command("seqqc")
@opt.input_argument
@opt.output_option
@opt.table_options
@click.option("--genome", metavar="FASTA", default=None,
              help="Genome FASTA (plain or bgzip, indexed) for BED input.")
@click.option("--clip", is_flag=True,
              help="BED windows past a chromosome end are clipped and padded with N instead of rejected; "
                   "with --tile, so is the last, partial window of each region.")
@click.option("--tile", type=click.IntRange(min=1), default=None, metavar="W",
              help="Tile into windows of W bases: BED regions, or with no INPUT every chromosome of --genome. "
                   "Window ids are chrom:start-end(strand), 0-based and end-exclusive as in BED.")
@click.option("--step", type=click.IntRange(min=1), default=None, metavar="S",
              help="With --tile: a window every S bases (S < W overlaps). [default: W]")
@click.option("--strand", "tile_strand", type=click.Choice(["auto", "+", "-", "both"]), default="auto",
              show_default=True,
              help="With --tile: the strand each window is read from; auto = the BED strand column "
                   "(whole chromosomes: +); both = each window on + then -. Minus is reverse-complemented.")
@click.option("--chroms", metavar="LIST", default=None,
              help="With --tile and no INPUT: tile only these chromosomes (comma-separated), in this order.")
@click.option("--length", type=click.IntRange(min=1), default=None,
              help="Expected sequence length (BED: window length). Default: the most common length in the "
                   "first 100,000 rows.")
@click.option("--length-policy", type=click.Choice(["auto", "drop", "trim-pad", "none"]), default="auto",
              show_default=True,
              help="Off-length rows: drop; trim-pad (centre-trim or pad with N, flagged in qc_flag); "
                   "auto (drop if fewer than --length-tolerance of the first 100,000 rows are off-length, "
                   "else trim-pad); none (keep all lengths).")
@click.option("--length-tolerance", type=click.FloatRange(0, 1), default=0.005, show_default=True,
              help="Fraction of off-length rows below which 'auto' drops them.")
@click.option("--max-n-frac", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Drop rows whose fraction of N (padding excluded) exceeds this.")
@click.option("--targets", metavar="COLS", default=None,
              help="Comma-separated target columns (default: *_l2fc, *_log2FC, mean_value, DeepSTARR columns).")
@click.option("--se-bounds", metavar="LOW,HIGH", default="0,5", show_default=True,
              help="Sanity bounds for lfcSE columns (exclusive).")
@click.option("--se-rule", type=click.Choice(["A", "B", "none"]), default="A", show_default=True,
              help="lfcSE filter: A drops a row if any SE > --max-se; B only if the target_cell's SE does.")
@click.option("--max-se", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="lfcSE threshold of the SE filter.")
@click.option("--target-cell-col", metavar="COL", default="target_cell", show_default=True,
              help="Column naming each row's cell type (rule B).")
@click.option("--winsorize", metavar="LOW,HIGH", default=None,
              help="Clip each target to these percentiles of the kept rows, e.g. 0.1,99.9.")
@click.option("--merge-duplicates", "merge", type=click.Choice(["none", "median", "ivw"]), default="none",
              show_default=True,
              help="Merge rows with identical cleaned sequences: median, or inverse-variance weighting "
                   "(w = 1/SE^2, SE = sqrt(1/sum w)).")
@click.option("--rejects", metavar="FILE", default=None,
              help="Write every dropped row with qc_reason, qc_detail and qc_line to FILE (TSV).")
@opt.report_option
@opt.shard_option
def cli(input, output, fmt, seq_col, id_col, genome, clip, tile, step, tile_strand, chroms, length, length_policy,
        length_tolerance, max_n_frac, targets, se_bounds, se_rule, max_se, target_cell_col, winsorize, merge,
        rejects, report, shard, quiet, verbose):
    """Quality control of an MPRA or genome-window table, with nothing lost.

    Reads a TSV/CSV table (Gosai et al. 2024 *_log2FC/*_lfcSE, *_l2fc,
    lentiMPRA seq_id/seq/mean_value, DeepSTARR), FASTA, or BED with
    --genome, and applies in order: uppercase and strip; alphabet ACGTN;
    length policy; N fraction; non-finite targets and SEs; SE sanity bounds;
    the lfcSE filter (rule A or B); optional winsorizing; optional merging
    of exact duplicates. Kept rows go to the output with every input column;
    dropped rows go to --rejects with their reason. rows in = out + rejected
    + merged, always.

    With --tile W, BED regions (or, with no INPUT, whole chromosomes of
    --genome) are cut into windows of W bases every --step S bases, laid out
    from each region's 5' end (its end for a minus-strand region). The last,
    shorter window of a region is rejected as partial_window, or with --clip
    padded with N. Windows are rows, with ids chrom:start-end(strand).

    \b
    Examples:
      seqqc lib.csv --report qc.json --rejects rejected.tsv | dgsplit > split.tsv
      seqqc HepG2.tsv.gz --length 230 -o clean.tsv
      seqqc peaks.bed --genome hg38.fa --length 200 --clip > windows.tsv
      seqqc --genome NC_000913.3.fa.bgz --tile 200 --strand both --report tiles.json > tiles.tsv
      seqqc --genome hg38.fa --tile 1000 --step 500 --chroms chr7,chr8,chr19 \\
        | dgsplit --holdout-chrom --val-chroms chr19 --test-chroms chr7 > split.tsv
      seqqc genes.bed --genome hg38.fa --tile 500 --clip --rejects rej.tsv > tiles.tsv
    """
    from ..io.streams import AtomicOutput
    from ..io.tables import iter_table, write_tsv
    from ..qc.rules import QCConfig, QCRun

    log = opt.Log("seqqc", quiet, verbose)
    whole_genome = tile is not None and \
        click.get_current_context().get_parameter_source("input") == click.core.ParameterSource.DEFAULT
    _check_tiling(tile, step, tile_strand, chroms, genome, length, whole_genome)
    if tile is not None:
        length = tile
    if not whole_genome:
        opt.require_input(input)
    bounds = _pair(se_bounds, "--se-bounds")
    if not bounds[0] < bounds[1]:
        raise click.BadParameter(f"'{se_bounds}': LOW must be below HIGH, e.g. 0,5", param_hint="'--se-bounds'")
    wins = _pair(winsorize, "--winsorize")
    if wins is not None and not 0.0 <= wins[0] < wins[1] <= 100.0:
        raise click.BadParameter(f"'{winsorize}': percentiles with 0 <= LOW < HIGH <= 100, e.g. 0.1,99.9",
                                 param_hint="'--winsorize'")
    if genome is None and fmt == "bed":
        raise click.UsageError("--format bed needs --genome")
    config = QCConfig(length=length, length_policy=length_policy, length_tolerance=length_tolerance,
                      max_n_frac=max_n_frac, targets=targets, se_bounds=bounds, se_rule=se_rule,
                      max_se=max_se, target_cell_col=target_cell_col, winsorize=wins, merge=merge)
    config.validate()
    if shard is not None:
        opt.check_shard(shard, input)
        if tile is not None or wins is not None or merge != "none":
            raise click.UsageError("--shard cannot be combined with --tile, --winsorize or --merge-duplicates, "
                                   "which need every row: run them unsharded")
    opt.distinct_outputs(**{"-o": output, "--rejects": rejects, "--report": report})
    tiling = None
    if tile is not None:
        tiling = {"width": tile, "step": step or tile, "strand": tile_strand, "clip": clip,
                  "source": "chromosomes" if whole_genome else "bed"}
        chunks = _tiles(None if whole_genome else input, fmt, genome, tile, step, tile_strand, chroms, clip, tiling)
    else:
        def decide(head):  # a shard decides on the input's first rows, as the unsharded run does
            if head.fmt == "bed" and length is None and length_policy == "auto":
                config.length_policy = "none"
            run.decide(head)

        chunks = iter_table(input, fmt=fmt, seq_col=seq_col, id_col=id_col, genome=genome, length=length, clip=clip,
                            shard=shard, head=decide if shard else None)
    run = QCRun(config)
    header = shard is None or shard[0] == 1  # shards 2..N write no header: cat joins them
    inputs = [input, genome] if genome else [input]
    with AtomicOutput(output, inputs=inputs) as out, \
            (AtomicOutput(rejects, inputs=inputs) if rejects else contextlib.nullcontext()) as rej:
        first = True
        for chunk in chunks:
            if first:
                log.detail(f"format {chunk.fmt}; sequence column '{chunk.seq_col}', "
                           f"id column '{chunk.id_col or 'row<N>'}'")
                if chunk.fmt == "bed" and length is None and length_policy == "auto":
                    config.length_policy = "none"  # BED intervals keep their own lengths unless --length
            kept, rejected = run.process(chunk)
            if kept is not None:
                write_tsv(kept, out, header=first and header)
            if rej is not None:
                write_tsv(rejected, rej, header=first and header)
            first = False
            del chunk, kept, rejected  # not held while the next chunk is read
            log.status(f"seqqc: {run.rows_in:,} rows read")
        log.status_done()
        final, rep = run.finish()
        if final is not None:
            write_tsv(final, out)
    if tiling is not None:
        rep["tiling"] = tiling
    if shard is not None:
        rep["shard"] = f"{shard[0]}/{shard[1]}"
    if report is not None:
        opt.write_json(report, rep, inputs=inputs)
    _summary(log, rep)


def _check_tiling(tile, step, strand, chroms, genome, length, whole_genome):
    """Usage errors of the tiling options (before anything is read)."""
    if tile is None:
        for flag, given in (("--step", step is not None), ("--strand", strand != "auto"),
                            ("--chroms", chroms is not None)):
            if given:
                raise click.UsageError(f"{flag} needs --tile W")
        return
    if genome is None:
        raise click.UsageError("--tile needs --genome FASTA")
    if length is not None and length != tile:
        raise click.UsageError("--length and --tile disagree: with --tile, W is the window length")
    if chroms is not None and not whole_genome:
        raise click.UsageError("--chroms selects whole chromosomes to tile, so it takes no INPUT "
                               "(to tile BED regions, filter the BED)")


def _tiles(input, fmt, genome, width, step, strand, chroms, clip, stats):
    """Window chunks of BED regions (``input``) or of whole chromosomes (``input`` None)."""
    from ..errors import ConfigError
    from ..io.genome import chromosome_regions, open_genome, read_bed, tile_regions
    from ..io.streams import display_name, open_binary, sniff_text
    from ..io.tables import detect_format

    fa = open_genome(genome)
    if input is None:
        regions = chromosome_regions(fa, chroms.split(",") if chroms else None)
        name, kind = str(genome), "genome"
    else:
        name = display_name(input)
        stream = open_binary(input)
        text = sniff_text(stream, name)
        kind = fmt if fmt != "auto" else detect_format(text, None if input == "-" else str(input))
        if kind != "bed":
            raise ConfigError(f"--tile tiles BED regions, and this input looks like {kind.upper()}", file=name,
                              hint="give a BED file (or --format bed), or no INPUT to tile whole chromosomes")
        regions = read_bed(stream, name)
    yield from tile_regions(regions, fa, width, step, strand=strand, clip=clip, name=name, fmt=kind, stats=stats)


def _summary(log, rep):
    from tabulate import tabulate

    if log.quiet:
        return
    rows = [[k, v] for k, v in rep["removed_by_rule"].items() if v]
    lp = rep["length_policy"]
    log.info(f"seqqc: {rep['rows_in']} rows in, {rep['rows_out']} out, {rep['rows_rejected']} rejected, "
             f"{rep['rows_merged']} merged (length {lp['length']}, policy {lp['applied']})")
    if "tiling" in rep:
        t = rep["tiling"]
        log.info(f"seqqc: {t['regions']} {'chromosome' if t['source'] == 'chromosomes' else 'region'}(s) tiled "
                 f"(width {t['width']}, step {t['step']}, strand {t['strand']}): {t['full_windows']} full windows, "
                 f"{t['partial_windows']} partial ({t['partial_padded']} padded, {t['partial_rejected']} rejected)")
    if rows:
        log.info(tabulate(rows, headers=["rule", "rows removed"], tablefmt="simple"))
    prof = rep["profile_out"]
    if prof.get("rows"):
        stats = [["GC mean (SD)", f"{prof['gc']['mean']:.3f} ({prof['gc']['sd'] or 0:.3f})"],
                 ["duplication rate", f"{prof['duplication_rate']:.4f}"]]
        for t, d in prof["targets"].items():
            if d.get("n"):
                stats.append([t, f"mean {d['mean']:.3f}, SD {d['sd']:.3f}, median {d['p50']:.3f}"])
        for c, d in prof["standard_errors"].items():
            if d.get("n"):
                stats.append([c, f"median {d['median']:.3f}, IQR {d['iqr']:.3f}"])
        log.info(tabulate(stats, tablefmt="plain"))
    if rep.get("advice"):
        log.warn(rep["advice"])
    if rep["rows_out"] == 0:
        log.warn("no rows passed QC; see --rejects for the reasons")


main = cli

if __name__ == "__main__":
    cli()
