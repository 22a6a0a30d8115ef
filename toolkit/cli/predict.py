"""predict: apply a trained model directory to any sequence input, streamed."""

import click

from . import options as opt


@opt.command("predict")
@opt.input_argument
@click.option("-m", "--model", "model_dir", required=True, metavar="DIR", help="Model directory written by a fit-* command.")
@opt.output_option
@opt.table_options
@click.option("--rc-average/--no-rc-average", default=None,
              help="Average the forward and reverse-complement predictions (default: on where the model "
                   "was trained with reverse complements).")
@click.option("--batch-size", type=click.IntRange(1), default=512, show_default=True, help="Sequences per forward pass.")
@click.option("--chunk-rows", type=click.IntRange(1), default=20000, show_default=True,
              help="Rows read, predicted and written at a time (memory is bounded by one chunk).")
@click.option("--uncertainty", is_flag=True,
              help="Also write each output's predicted SD (sd_<target>, original units), for models that "
                   "predict one (PhysInformer).")
@click.option("--baseline", is_flag=True,
              help="fit-cre models: also write base_<target>, the k-mer (k = 1-6) ridge baseline fitted with the "
                   "model on the same train rows (penalty chosen on val), for evalboot --compare.")
@click.option("--features", "features_h5", metavar="FILE.h5", default=None,
              help="descfeat HDF5 of these rows, for a model trained with --features FILE.h5.")
@click.option("--explain", type=click.Choice(["saliency", "ig", "ism"]), default=None,
              help="Also write attribution maps (n, tasks, 4, L) of the predictions written (strand-averaged "
                   "where they are) to -e FILE.h5.")
@click.option("-e", "--explain-output", metavar="FILE.h5", default=None, help="Where --explain writes.")
@click.option("--ig-steps", type=click.IntRange(1), default=64, show_default=True,
              help="Integrated-gradients steps (midpoint rule). -e also gets ig_completeness_error [n, tasks]: "
                   "|sum of the attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)|; raise the steps where "
                   "it is large.")
@click.option("--ig-baseline", type=click.Choice(["zero", "shuffle"]), default="zero", show_default=True,
              help="Integrated-gradients baseline: all-zero, or the sequence's bases shuffled (--seed).")
@click.option("--plot", metavar="PNG", default=None,
              help="With --explain: draw the attribution maps of the first 3 sequences (one logo per sequence and "
                   "target: the observed bases' contributions, above the axis where they raise the prediction, "
                   "below where they lower it; for ism minus the mean of the three substitutions) to a PNG.")
@click.option("--find-motifs", "find_motifs", metavar="PREFIX", default=None,
              help="With --explain and -e: call seqlets in the maps and cluster them into motifs (TF-MoDISco, "
                   "modisco-lite), match each to JASPAR (Tomtom, memelite) and write PREFIX.meme, PREFIX.tsv (motif, "
                   "seqlets, best matches, q-values) and a logo PNG per motif. Explain a few hundred sequences.")
@click.option("--motifs", "motifs_path", metavar="FILE", default=None,
              help="With --find-motifs: match against the motifs of a MEME format file instead of the bundled "
                   "JASPAR 2024 CORE vertebrates ('insects': the bundled insect collection).")
@click.option("--variants", is_flag=True,
              help="INPUT holds variants, not sequences: score each as alt - ref (see above). A VCF (plain, gzip or "
                   "bgzip; by content or a .vcf/.vcf.gz/.bcf name) or a TSV/CSV of chrom, pos, ref, alt needs "
                   "--genome; a TSV/CSV of elements (sequence, position, ref, alt) does not.")
@click.option("--rejects", metavar="FILE", default=None,
              help="With --variants: write every allele not scored, with qc_reason, qc_detail and qc_line, to "
                   "FILE (TSV).")
@click.option("--genome", metavar="FASTA", default=None,
              help="With --variants: the reference genome the windows are cut from and REF is checked against "
                   "(plain or bgzip FASTA). Enhancer-promoter (fit-ep) models: the genome for a pair table of "
                   "coordinates (default: the FASTA the model was trained with, if it is still there).")
@click.option("--support-size", type=click.IntRange(1), default=None,
              help="Enhancer-promoter models: pairs per cell line whose mean environment feature is its z_E, "
                   "drawn with --seed from that cell line's input rows (labels unused). [default: the model's, 256]")
@opt.device_option
@opt.seed_option
@opt.threads_option
@opt.shard_option
def cli(input, model_dir, output, fmt, seq_col, id_col, rc_average, batch_size, chunk_rows, uncertainty, baseline,
        features_h5,
        explain,
        explain_output, ig_steps, ig_baseline, plot, find_motifs, motifs_path, variants, rejects, genome, support_size,
        device, seed, jobs, shard, quiet, verbose):
    """Predict with a trained model: every input column plus pred_<target>.

    Reads any sequence input (table or FASTA; path or standard input) in
    chunks; sequences are N-padded or centre-cropped to the model's length.
    Predictions are in the targets' original units (the train-split
    standardisation is inverted), 10 significant digits; for a PhysInformer
    model one pred_<descriptor> column per descriptor (--uncertainty adds
    sd_<descriptor>). With --explain, attribution maps of the predictions
    written (forward and reverse-complement averaged where they are; ism: each
    single mutant predicted minus the sequence's prediction) go to an HDF5 file
    (datasets ids, targets, <method> float32 [n, tasks, 4, L]; ig adds
    ig_completeness_error float32 [n, tasks]).

    An enhancer-promoter model (fit-ep) reads a pair table (enhancer_seq and
    promoter_seq, or the TargetFinder coordinates with --genome, and cell)
    whole, and adds pred_<label> (the probability that the pair interacts),
    call_<label> (1 when pred_<label> reaches the threshold calibrated on the
    validation pairs, calibration.json) and support_set. Each cell line,
    seen in training or not, gets its environment from a support set of
    --support-size of its own input pairs, drawn without replacement by
    numpy's default_rng(seed + CRC32 of the cell name), labels unused
    (support_set = 1 marks them; leave them out of an evaluation if you
    prefer); every pair, support pairs included, is then scored. A model
    trained with distances (fit-ep's default when the train rows have them)
    also reads each pair's distance: the column it was trained on, else the
    distance between the element centres from the coordinates.

    With --variants (sequence models: fit-cre, fit-physinformer), each
    variant is scored as the prediction of its ALT window minus that of its
    REF window, both in one forward pass. INPUT: a VCF or a TSV/CSV with
    chrom, pos, ref, alt (1-based; optional id, strand), cut from
    --genome; or a TSV/CSV of elements (an MPRA library: a sequence
    column, position 1-based in the element, ref, alt; no genome). A
    table with a sequence column is read as elements. Models that read
    descfeat features or other columns besides the sequence are
    refused. Multi-allelic records give one row per ALT. Genome windows are L bases, the model's length:
    the REF window starts at pos - 1 + floor(len(REF)/2) - floor(L/2)
    (centred on REF as seqqc centres a BED interval); the ALT window is
    centred the same way on ALT in the genome with REF replaced by ALT,
    its flanks read from the genome, so an indel keeps both windows L
    bases long and centred on the event. Bases past a chromosome end are
    N (n_pad counts them: the larger of the two windows). A table's
    strand column, where '-', reverse-complements both windows (for
    models of strand-oriented windows, such as promoters); a VCF is read
    on the + strand. Elements: REF is the element, ALT the element with
    REF replaced by ALT, each read as any sequence is (N-padded or
    centre-cropped to L). Output: id (the
    VCF ID or id column, else chrom:pos:ref:alt), chrom, pos, ref, alt,
    n_pad (tables: their own columns, the ALT column holding one allele),
    then per target ref_<target>, alt_<target>, delta_<target> (alt -
    ref); with two or more <CELL>_l2fc targets also mingap_cell (the top
    cell of the REF prediction), mingap_ref, mingap_alt and delta_mingap
    (MinGap of each allele for that cell). Not scored, with a reason:
    REF differing from the genome or element (ref_mismatch), an unknown
    chromosome (unknown_chrom), REF past the end (out_of_bounds), a
    symbolic ALT, '*' or a breakend (symbolic_alt), no ALT (no_alt),
    other characters (invalid_allele), a bad position (invalid_position),
    REF outside the bases the model reads of a long element
    (outside_window), an element that is not DNA (invalid_sequence).
    --rejects FILE keeps them; standard error gets the
    counts. --batch-size is rounded up to an even number.

    \b
    Examples:
      seqqc lib.csv | predict --model models/cre > preds.tsv
      predict --model models/cre test.tsv | evalboot --truth HepG2_l2fc --pred pred_HepG2_l2fc
      predict -m models/cre hits.fa --explain ism -e ism.h5 > preds.tsv
      predict -m models/cre big.tsv --shard 2/8 -o preds.2.tsv   # cat preds.{1..8}.tsv > preds.tsv
      predict -m models/cre test.tsv --explain ism -e ism.h5 --find-motifs motifs > preds.tsv
      predict -m models/cre --variants calls.vcf.gz --genome hg38.fa --rejects rej.tsv > effects.tsv
      predict -m models/cre --variants library_snvs.tsv | sort -t$'\\t' -k9,9g | head
    """
    import contextlib
    import math
    import os
    import time

    import pandas as pd
    import torch

    from ..errors import ConfigError
    from ..io.streams import AtomicOutput
    from ..io.tables import clean_sequences, iter_table, standard_frame, write_tsv
    from ..train.cre import resolve_device
    from ..train.serve import load

    if variants:
        not_here = {"--uncertainty": uncertainty, "--baseline": baseline, "--features": features_h5,
                    "--explain": explain, "-e": explain_output, "--plot": plot, "--find-motifs": find_motifs,
                    "--motifs": motifs_path, "--support-size": support_size}
        given = [flag for flag, value in not_here.items() if value]
        if given:
            raise click.UsageError(f"{', '.join(given)} do(es) not apply with --variants (variant effects are "
                                   "predictions of two windows; explain or plot the windows with a plain predict)")
    elif rejects:
        raise click.UsageError("--rejects is for --variants (variants not scored); predict scores every sequence")
    if explain and not explain_output:
        raise click.UsageError("--explain needs -e/--explain-output FILE.h5")
    if explain_output and not explain_output.endswith(".h5"):
        raise click.BadParameter(f"'{explain_output}': attribution maps are written as HDF5, to a path ending "
                                 "in .h5", param_hint="'-e' / '--explain-output'")
    if plot and not explain:
        raise click.UsageError("--plot draws attribution maps: it needs --explain METHOD and -e FILE.h5")
    if find_motifs and not explain:
        raise click.UsageError("--find-motifs reads attribution maps: it needs --explain METHOD and -e FILE.h5")
    if motifs_path and not find_motifs:
        raise click.UsageError("--motifs names the motifs that --find-motifs matches against: give --find-motifs "
                               "PREFIX too")
    if motifs_path and motifs_path not in ("vertebrates", "insects") and not os.path.isfile(motifs_path):
        raise click.BadParameter(f"'{motifs_path}': no such file (a MEME motif file, or 'insects')",
                                 param_hint="'--motifs'")
    opt.distinct_outputs(**{"-o": output, "-e": explain_output, "--plot": plot, "--rejects": rejects,
                            "--find-motifs": f"{find_motifs}.tsv" if find_motifs else None})
    opt.require_input(input)
    opt.check_shard(shard, input)
    log = opt.Log("predict", quiet, verbose)
    torch.set_num_threads(jobs)
    dev = resolve_device(device)
    pred = load(model_dir, dev)
    if variants:
        return _predict_variants(input, pred, model_dir, output, rejects, fmt, seq_col, id_col, rc_average, batch_size,
                                 chunk_rows, genome, shard, log, dev)
    if getattr(pred, "kind", None) == "ep":
        if explain or uncertainty or features_h5:
            raise ConfigError("--explain, --uncertainty and --features do not apply to an enhancer-promoter model",
                              file=model_dir, hint="drop them")
        if shard is not None:
            raise ConfigError("--shard does not apply to an enhancer-promoter model: its support sets are drawn "
                              "from the whole input", file=model_dir, hint="predict the pair table unsharded")
        return _predict_pairs(input, output, pred, genome, support_size, seed, batch_size, log, dev)
    if genome is not None:   # read only for the pair tables of enhancer-promoter models
        length = getattr(pred, "length", None)
        raise ConfigError("--genome is read only for enhancer-promoter models (pair tables of coordinates), and "
                          "this model reads sequences", file=model_dir,
                          hint="drop --genome; for BED regions, cut the windows with seqqc first: seqqc regions.bed "
                               f"--genome genome.fa --length {length or 'L'} | predict -m {model_dir}")
    if uncertainty and not getattr(pred, "has_uncertainty", False):
        raise ConfigError("--uncertainty: this model predicts no uncertainty", file=model_dir,
                          hint="drop --uncertainty (PhysInformer models predict one)")
    cols = [f"pred_{t}" for t in pred.targets]
    sd_cols = [f"sd_{t}" for t in pred.targets] if uncertainty else []
    if baseline and not hasattr(pred, "baseline"):
        raise ConfigError("--baseline: only fit-cre models carry a k-mer baseline", file=model_dir)
    base_cols = [f"base_{t}" for t in pred.targets] if baseline else []
    t0 = time.time()
    n = 0
    filled = [0, 0]  # missing or non-finite side-input values (and their rows) set to the train mean
    header = shard is None or shard[0] == 1  # shards 2..N write no header: cat joins them
    # Batches start at multiples of the batch size (attribution: of 64 too) in the whole input, sharded or
    # not: a row meets the same batch shapes in every run, so sharded predictions are the same digits.
    align = math.lcm(batch_size, 64) if explain else batch_size
    chunk_rows = -(-chunk_rows // align) * align
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(AtomicOutput(output, inputs=[input]))
        maps = None
        shown = []  # (title, sequence, map (4, L)) of the first sequences, for --plot
        explained = [] if find_motifs else None  # the sequences explained, in the maps' order, for --find-motifs
        if explain:  # attribution maps are written chunk by chunk, like the predictions
            maps = _MapWriter(stack.enter_context(AtomicOutput(explain_output, inputs=[input], by_name=True)),
                              explain, pred)
        first = True
        for chunk in iter_table(input, fmt=fmt, seq_col=seq_col, id_col=id_col, chunk_rows=chunk_rows, shard=shard,
                                shard_align=align):
            if not len(chunk):  # an empty shard: nothing to predict (no header either, it is not shard 1)
                continue
            seqs = clean_sequences(chunk)
            side = pred.side_inputs(seqs, chunk, features_h5)
            if side is not None:
                filled = [a + b for a, b in zip(filled, pred.side_filled)]
            if uncertainty:
                y, sd = pred.predict(seqs, side, batch_size=batch_size, rc_average=rc_average, uncertainty=True)
            else:
                y = pred.predict(seqs, side, batch_size=batch_size, rc_average=rc_average)
            frame = standard_frame(chunk, seqs).reset_index(drop=True)
            clash = [c for c in cols + sd_cols + base_cols if c in frame.columns]
            if clash:
                raise ConfigError(f"the input already has column(s) {', '.join(clash)}", file=chunk.name, line=1,
                                  hint="drop or rename them before predicting")
            vals = {c: [f"{v:.10g}" for v in y[:, j]] for j, c in enumerate(cols)}
            vals.update({c: [f"{v:.10g}" for v in sd[:, j]] for j, c in enumerate(sd_cols)})
            if base_cols:
                b = pred.baseline(seqs)
                vals.update({c: [f"{v:.10g}" for v in b[:, j]] for j, c in enumerate(base_cols)})
            vals = pd.DataFrame(vals)
            write_tsv(pd.concat([frame, vals], axis=1), out, header=first and header)
            first = False
            if explain:
                ids = frame["id"].to_numpy(dtype=object)
                att = pred.explain(seqs, side, explain, steps=ig_steps, baseline=ig_baseline, seed=seed,
                                   rc_average=rc_average, ism_batch_size=batch_size)
                maps.append(ids, *att)
                if explained is not None:
                    explained.extend(seqs)
                for i in range(min(len(ids), 3 - len({t[0] for t in shown}))):
                    shown += [((ids[i], task), seqs[i], att[0][i, j]) for j, task in enumerate(pred.targets)]
            n += len(frame)
            del chunk, seqs, side, y, frame, vals  # not held while the next chunk is read
            log.status(f"predict: {n:,} sequences, {n / max(time.time() - t0, 1e-9):,.0f}/s")
        log.status_done()
        if maps is not None:
            maps.close()
        if plot and shown:
            _plot_maps(plot, input, shown, explain)
    if find_motifs:   # the maps file is complete and in place
        _find_motifs(explain_output, find_motifs, explained, motifs_path, log)
    if filled[0]:
        log.warn(f"{filled[0]:,} missing or non-finite side-input value(s) in {filled[1]:,} row(s) were set to the "
                 "train mean (as in training); check the input columns or --features")
    log.info(f"predict: {n:,} sequences, {len(cols)} target(s), {'RC-averaged, ' if (pred.rc_trained if rc_average is None else rc_average) else ''}"
             f"device {dev}, {time.time() - t0:.1f} s")


def _predict_pairs(input, output, pred, genome, support_size, seed, batch_size, log, dev):
    """predict for an enhancer-promoter model: the whole pair table, scored cell line by cell line."""
    import os
    import time

    import numpy as np

    from ..errors import ConfigError, InputError
    from ..io import pairs as P
    from ..io.streams import AtomicOutput
    from ..io.tables import write_tsv

    t0 = time.time()
    data = pred.config["data"]
    if genome is None and data.get("genome") and os.path.exists(data["genome"]):
        genome = data["genome"]
    cols = data["columns"]
    label = pred.targets[0]
    out = AtomicOutput(output, inputs=[input])
    uses_distance = getattr(pred, "uses_distance", False)
    layout, rows, _ = P.read_pairs(input, {"enhancer_col": cols.get("enhancer"), "promoter_col": cols.get("promoter"),
                                           "cell_col": cols["cell"], "label_col": label, "need_label": False,
                                           "distance_col": cols.get("distance") if uses_distance else None,
                                           "genome": genome}, keep=None)
    rows = rows["all"]
    seqs = P.sequences(rows, layout, genome, pred.lengths, data.get("clip", False))
    cells = P.cells(rows, layout)
    distances = P.distances(rows, layout) if uses_distance else None
    if uses_distance:
        if distances is None:
            raise InputError("the model reads the enhancer-promoter distance, but the table has no distance column "
                             "and no coordinates of both elements", file=rows.name, line=1,
                             hint="add a 'distance' column (bp), or the enhancer_/promoter_chrom, _start, _end columns")
        unknown = int((~np.isfinite(distances)).sum())
        if unknown:
            log.warn(f"predict: {unknown:,} pair(s) without a distance (empty, or on two chromosomes) scored with "
                     "the model's value for an unknown distance")
    prob, support = pred.score(seqs["enhancer"], seqs["promoter"], cells, support_size, seed, batch_size, distances)
    frame = rows.df[[c for c in rows.df.columns if not c.startswith("_")]].copy()
    if "id" not in frame.columns:
        frame.insert(0, "id", rows.ids)
    new = [f"pred_{label}", f"call_{label}", "support_set"]
    clash = [c for c in new if c in frame.columns]
    if clash:
        raise ConfigError(f"the input already has column(s) {', '.join(clash)}", file=rows.name, line=1,
                          hint="drop or rename them before predicting")
    frame[new[0]] = [f"{v:.10g}" for v in prob]
    frame[new[1]] = (prob >= pred.threshold).astype(int).astype(str)
    frame[new[2]] = support.astype(int).astype(str)
    with out as fh:
        write_tsv(frame.reset_index(drop=True), fh)
    unseen = sorted(set(cells.tolist()) - set(pred.cells))
    log.info(f"predict: {len(frame):,} pairs in {len(set(cells.tolist()))} cell line(s)"
             + (f" ({len(unseen)} not seen in training: {', '.join(unseen[:6])})" if unseen else "")
             + f", support sets of {pred.support_size if support_size is None else support_size}, threshold "
             f"{pred.threshold:.4g}, device {dev}, {time.time() - t0:.1f} s")


def _predict_variants(input, pred, model_dir, output, rejects, fmt, seq_col, id_col, rc_average, batch_size,
                      chunk_rows, genome, shard, log, dev):
    """predict --variants: every allele of the input scored (ref, alt, delta per target) or
    rejected with its reason; streamed chunk by chunk, both windows of a variant in one batch."""
    import contextlib
    import os
    import shutil
    import tempfile
    import time
    from collections import Counter

    import numpy as np
    import pandas as pd

    from ..errors import ConfigError, InputError
    from ..evaluate.variants import mingap_effects, score_alleles
    from ..io import variants as V
    from ..io.genome import open_genome
    from ..io.streams import AtomicOutput, display_name
    from ..io.tables import iter_table, shard_bounds, target_cell_name, write_tsv

    if getattr(pred, "kind", None) == "ep" or not getattr(pred, "length", None):
        raise ConfigError("--variants scores sequence models (fit-cre, fit-physinformer); this is an "
                          "enhancer-promoter model", file=model_dir,
                          hint="score a pair table with a plain predict, once with each allele's sequences")
    side = (getattr(pred, "config", None) or {}).get("side") or {}
    if getattr(pred, "features", None) or side.get("modality_specs") or side.get("cell"):
        raise ConfigError("--variants: this model reads more than the sequence (descfeat features, input "
                          "columns or a cell column), which the variant windows do not have", file=model_dir,
                          hint="score variants with a model trained on the sequence alone (fit-cre without "
                               "--features or modality columns)")
    L = int(pred.length)
    name = display_name(input)
    bs = batch_size + batch_size % 2
    block = bs // 2          # variants per forward pass: a record meets the same batch in every chunk and shard
    chunk_rows = -(-chunk_rows // block) * block
    targets = list(pred.targets)
    cells = [target_cell_name(t) for t in targets]
    cell_idx = [j for j, c in enumerate(cells) if c is not None]
    t0 = time.time()
    reasons = Counter()
    n_scored = n_alleles = 0
    header = shard is None or shard[0] == 1

    with contextlib.ExitStack() as stack:
        path = input
        if input in (None, "-"):   # pysam and the kind check need a file: standard input is spooled to one
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="predict-variants-"))
            path = os.path.join(tmp, "input")
            with open(path, "wb") as dst:
                shutil.copyfileobj(click.get_binary_stream("stdin"), dst, 1 << 20)
            if os.path.getsize(path) == 0:
                raise InputError("the input is empty", file=name, hint="check the file or the command before the pipe")
        kind = V.variant_input_kind(path, None if input in (None, "-") else input)
        fa = None
        if kind == "vcf" or genome is not None:
            if genome is None:
                raise click.UsageError("--variants with a VCF needs --genome FASTA (the windows are cut from it "
                                       "and REF is checked against it)")
            fa = V.GenomeWindows(open_genome(genome), L)

        def chunks():
            """(frame with _record and _line, layout) per chunk of the input."""
            if kind == "vcf":
                vcf = stack.enter_context(V.readable_vcf(path))
                lo, hi = (0, None) if shard is None else shard_bounds(V.count_vcf_records(vcf, name), *shard,
                                                                      align=block)
                for df in V.vcf_chunks(vcf, name, chunk_rows, lo, hi):
                    yield df, V.VCF_LAYOUT
                return
            lay = None
            for t in iter_table(path, fmt=fmt, seq_col=seq_col, id_col=id_col, chunk_rows=chunk_rows,
                                require_seq=False, shard=shard, shard_align=block):
                if lay is None:
                    lay = V.table_layout(t.df.columns, seq_col, t.seq_col, id_col, name)
                    if lay["mode"] == "genome" and fa is None:
                        raise click.UsageError("--variants with a table of chrom, pos, ref, alt needs --genome "
                                               "FASTA (a table of elements: sequence, position, ref, alt does not)")
                    if lay["mode"] == "element" and fa is not None:
                        raise click.UsageError("--genome is for VCFs and tables of chrom, pos, ref, alt; this "
                                               f"table has element sequences ('{lay['seq']}'): drop --genome")
                yield t.df.reset_index(drop=True).assign(_record=t.row_offset + np.arange(len(t)), _line=t.lines), lay

        def fmt_g(values):
            return [f"{v:.10g}" for v in values]

        out = stack.enter_context(AtomicOutput(output, inputs=[input]))
        rej = stack.enter_context(AtomicOutput(rejects, inputs=[input])) if rejects else None
        first_out = first_rej = True
        for df, lay in chunks():
            if not len(df):
                continue
            al = V.expand_alleles(df, lay["alt"])
            win = V.allele_windows(al, lay, fa, L)
            n_alleles += len(al)
            bad, keep = np.flatnonzero(~win["ok"]), np.flatnonzero(win["ok"])
            reasons.update(win["reason"][i] for i in bad)
            visible = [c for c in df.columns if not c.startswith("_")]
            if rej is not None and len(bad):
                r_frame = al.iloc[bad][visible].reset_index(drop=True)
                r_frame["qc_reason"] = [win["reason"][i] for i in bad]
                r_frame["qc_detail"] = [win["detail"][i] for i in bad]
                r_frame["qc_line"] = [str(int(x)) for x in al["_line"].iloc[bad]]
                write_tsv(r_frame, rej, header=first_rej and header)
                first_rej = False
            ok_rows = al.iloc[keep].reset_index(drop=True)
            y_ref, y_alt = score_alleles(pred, win["ref"], win["alt"], ok_rows["_record"].to_numpy() // block,
                                         batch_size=bs, rc_average=rc_average)
            frame = ok_rows[visible].copy()
            ids = V.variant_ids(ok_rows, lay)
            if "id" in frame.columns:
                frame["id"] = ids
            else:
                frame.insert(0, "id", ids)
            if lay["mode"] == "genome":
                frame["n_pad"] = [str(int(v)) for v in win["n_pad"][keep]]
            vals = {}
            for j, t in enumerate(targets):
                vals.update({f"ref_{t}": fmt_g(y_ref[:, j]), f"alt_{t}": fmt_g(y_alt[:, j]),
                             f"delta_{t}": fmt_g(y_alt[:, j] - y_ref[:, j])})
            if len(cell_idx) >= 2:   # MinGap of both alleles for the REF allele's top cell line
                g = mingap_effects(y_ref[:, cell_idx], y_alt[:, cell_idx])
                vals.update({"mingap_cell": [cells[cell_idx[c]] for c in g["cell"]], "mingap_ref": fmt_g(g["ref"]),
                             "mingap_alt": fmt_g(g["alt"]), "delta_mingap": fmt_g(g["delta"])})
            clash = [c for c in vals if c in frame.columns]
            if clash:
                raise ConfigError(f"the input already has column(s) {', '.join(clash)}", file=name, line=1,
                                  hint="drop or rename them before predicting")
            write_tsv(pd.concat([frame.reset_index(drop=True), pd.DataFrame(vals)], axis=1), out,
                      header=first_out and header)
            first_out = False
            n_scored += len(keep)
            log.status(f"predict: {n_scored:,} variants, {n_scored / max(time.time() - t0, 1e-9):,.0f}/s")
        log.status_done()
    n_rej = sum(reasons.values())
    counts = ", ".join(f"{k} {v:,}" for k, v in reasons.most_common())
    if n_rej and not rejects:
        log.warn(f"{n_rej:,} variant allele(s) not scored ({counts}); --rejects FILE keeps them with their reason")
    log.info(f"predict: {n_scored:,} of {n_alleles:,} variant allele(s) scored"
             + (f", {n_rej:,} rejected ({counts})" if n_rej else "")
             + f", {len(targets)} target(s), windows of {L} bases, device {dev}, {time.time() - t0:.1f} s")


def _find_motifs(maps_path, prefix, sequences, database, log):
    """--find-motifs: motifs from the maps file just written, matched to a motif database."""
    from ..errors import ConfigError

    try:
        from ..evaluate.motifs import motifs_from_maps
    except ImportError as exc:   # pragma: no cover - modisco-lite and memelite are install requirements
        raise ConfigError(f"--find-motifs needs modisco-lite and memelite ({exc})",
                          hint="install them: python3 -m pip install modisco-lite memelite") from None
    try:
        run = motifs_from_maps(maps_path, prefix, sequences=sequences, jaspar=database or "vertebrates")
    except (ValueError, OSError) as exc:   # a motif file that is not MEME, an unwritable PREFIX
        from ..errors import InputError

        raise InputError(f"--find-motifs: {exc}", file=database or prefix,
                         hint="give a MEME format motif file to --motifs, and a PREFIX in a writable folder") from None
    if run.message:
        log.warn(f"--find-motifs: {run.message}")
    log.info(run.text)


def _plot_maps(path, input, shown, method):
    """The --plot figure: one logo per (sequence, target) of the maps shown (((id, target),
    sequence, map (4, L)), ...), each sequence as the model read it."""
    from ..errors import ConfigError
    from ..io.streams import AtomicOutput

    try:
        from ..evaluate.plots import attribution_logos
    except ImportError as exc:   # pragma: no cover - matplotlib and logomaker are install requirements
        raise ConfigError(f"--plot needs matplotlib and logomaker ({exc})",
                          hint="install them: python3 -m pip install matplotlib logomaker") from None
    from ..train.data import decode_rows, encode

    def as_read(seq, L):  # N-padded or centre-cropped to the model's input length, as the model read it
        return decode_rows(encode([seq], L), [L])[0]

    rows = [(f"{sid}  {task}", as_read(seq, att.shape[-1]), att) for (sid, task), seq, att in shown]
    fig = attribution_logos(rows, method)
    with AtomicOutput(path, inputs=[input], text=False, by_name=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


class _MapWriter:
    """Attribution maps appended chunk by chunk to an HDF5 file (datasets ids, targets,
    <method> float32 [n, tasks, 4, L]), so memory does not grow with the input."""

    def __init__(self, path, method, pred):
        import h5py
        import numpy as np

        from .. import __version__
        from ..io.h5 import create_h5

        self.h5, self._guard = create_h5(path)  # a full disk is an error, not a crash inside HDF5
        self.method = method
        self.n = 0
        s = h5py.string_dtype("utf-8")
        self.h5.create_dataset("ids", shape=(0,), maxshape=(None,), dtype=s, chunks=(4096,))
        self.h5.create_dataset("targets", data=np.array(pred.targets, dtype=object), dtype=s)
        self.h5.attrs["method"] = method
        self.h5.attrs["toolkit_version"] = __version__
        self.h5.attrs["layout"] = "[sequence, task, base A C G T, position]; positions of the model's input length"

    def append(self, ids, maps, extra=None):
        """ids: str array (m,); maps: float32 (m, tasks, 4, L); extra: name -> float32 (m, tasks)
        per-sequence datasets (ig_completeness_error)."""
        import numpy as np

        maps = np.asarray(maps, dtype=np.float32)
        for name, v in (extra or {}).items():
            v = np.asarray(v, dtype=np.float32)
            if name not in self.h5:
                self.h5.create_dataset(name, shape=(0, *v.shape[1:]), maxshape=(None, *v.shape[1:]), dtype="float32",
                                       chunks=(4096, *v.shape[1:]))
            self.h5[name].resize((self.n + len(v), *v.shape[1:]))
            self.h5[name][self.n:self.n + len(v)] = v
        if self.method not in self.h5:
            self.h5.create_dataset(self.method, shape=(0, *maps.shape[1:]), maxshape=(None, *maps.shape[1:]),
                                   dtype="float32", chunks=(max(1, min(256, len(maps))), *maps.shape[1:]),
                                   compression="gzip", compression_opts=4, shuffle=True)
        new = self.n + len(maps)
        self.h5["ids"].resize((new,))
        self.h5["ids"][self.n:new] = np.asarray(ids, dtype=object)
        self.h5[self.method].resize((new, *maps.shape[1:]))
        self.h5[self.method][self.n:new] = maps
        self.n = new
        self._check()

    def close(self):
        self.h5.close()
        self._guard.close()
        self._check()

    def _check(self):
        from ..io.h5 import check_h5

        check_h5(self.h5, self._guard)


main = cli

if __name__ == "__main__":
    cli()
