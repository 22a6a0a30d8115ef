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
@click.option("--features", "features_h5", metavar="FILE.h5", default=None,
              help="descfeat HDF5 of these rows, for a model trained with --features FILE.h5.")
@click.option("--explain", type=click.Choice(["saliency", "ig", "ism"]), default=None,
              help="Also write attribution maps (n, tasks, 4, L) to -e FILE.h5.")
@click.option("-e", "--explain-output", metavar="FILE.h5", default=None, help="Where --explain writes.")
@click.option("--ig-steps", type=click.IntRange(1), default=64, show_default=True, help="Integrated-gradients steps.")
@click.option("--ig-baseline", type=click.Choice(["zero", "shuffle"]), default="zero", show_default=True,
              help="Integrated-gradients baseline: all-zero, or the sequence's bases shuffled (--seed).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@opt.seed_option
@opt.threads_option
def cli(input, model_dir, output, fmt, seq_col, id_col, rc_average, batch_size, chunk_rows, uncertainty, features_h5,
        explain,
        explain_output, ig_steps, ig_baseline, device, seed, jobs, quiet, verbose):
    """Predict with a trained model: every input column plus pred_<target>.

    Reads any sequence input (table or FASTA; path or standard input) in
    chunks; sequences are N-padded or centre-cropped to the model's length.
    Predictions are in the targets' original units (the train-split
    standardisation is inverted), 10 significant digits; for a PhysInformer
    model one pred_<descriptor> column per descriptor (--uncertainty adds
    sd_<descriptor>). With --explain, attribution maps go to an
    HDF5 file (datasets ids, targets, <method> float32 [n, tasks, 4, L]).

    \b
    Examples:
      seqqc lib.csv | predict --model models/cre > preds.tsv
      predict --model models/cre test.tsv | evalboot --truth HepG2_l2fc --pred pred_HepG2_l2fc
      predict -m models/cre hits.fa --explain ism -e ism.h5 > preds.tsv
    """
    import time

    import pandas as pd
    import torch

    from ..errors import ConfigError
    from ..io.streams import AtomicOutput
    from ..io.tables import clean_sequences, iter_table, standard_frame, write_tsv
    from ..train.cre import resolve_device
    from ..train.serve import load

    if explain and not explain_output:
        raise click.UsageError("--explain needs -e/--explain-output FILE.h5")
    opt.require_input(input)
    log = opt.Log("predict", quiet, verbose)
    torch.set_num_threads(jobs)
    dev = resolve_device(device)
    pred = load(model_dir, dev)
    if explain_output and not explain_output.endswith(".h5"):
        raise ConfigError("-e/--explain-output must end in .h5", file=explain_output)
    if uncertainty and not getattr(pred, "has_uncertainty", False):
        raise ConfigError("--uncertainty: this model predicts no uncertainty", file=model_dir,
                          hint="drop --uncertainty (PhysInformer models predict one)")
    cols = [f"pred_{t}" for t in pred.targets]
    sd_cols = [f"sd_{t}" for t in pred.targets] if uncertainty else []
    t0 = time.time()
    n = 0
    maps = []
    with AtomicOutput(output, inputs=[input]) as out:
        first = True
        for chunk in iter_table(input, fmt=fmt, seq_col=seq_col, id_col=id_col, chunk_rows=chunk_rows):
            seqs = clean_sequences(chunk)
            side = pred.side_inputs(seqs, chunk, features_h5)
            if uncertainty:
                y, sd = pred.predict(seqs, side, batch_size=batch_size, rc_average=rc_average, uncertainty=True)
            else:
                y = pred.predict(seqs, side, batch_size=batch_size, rc_average=rc_average)
            frame = standard_frame(chunk, seqs).reset_index(drop=True)
            clash = [c for c in cols + sd_cols if c in frame.columns]
            if clash:
                raise ConfigError(f"the input already has column(s) {', '.join(clash)}", file=chunk.name, line=1,
                                  hint="drop or rename them before predicting")
            vals = {c: [f"{v:.10g}" for v in y[:, j]] for j, c in enumerate(cols)}
            vals.update({c: [f"{v:.10g}" for v in sd[:, j]] for j, c in enumerate(sd_cols)})
            vals = pd.DataFrame(vals)
            write_tsv(pd.concat([frame, vals], axis=1), out, header=first)
            first = False
            if explain:
                maps.append((frame["id"].to_numpy(dtype=object),
                             pred.explain(seqs, side, explain, steps=ig_steps, baseline=ig_baseline, seed=seed)))
            n += len(frame)
            log.status(f"predict: {n:,} sequences, {n / max(time.time() - t0, 1e-9):,.0f}/s")
        log.status_done()
    if explain:
        _write_maps(explain_output, explain, pred, maps, [input])
    log.info(f"predict: {n:,} sequences, {len(cols)} target(s), {'RC-averaged, ' if (pred.rc_trained if rc_average is None else rc_average) else ''}"
             f"device {dev}, {time.time() - t0:.1f} s")


def _write_maps(path, method, pred, maps, inputs):
    import h5py
    import numpy as np

    from .. import __version__
    from ..io.streams import AtomicOutput

    with AtomicOutput(path, inputs=inputs, by_name=True) as tmp:
        with h5py.File(tmp, "w") as h5:
            s = h5py.string_dtype("utf-8")
            h5.create_dataset("ids", data=np.concatenate([m[0] for m in maps]).astype(object), dtype=s)
            h5.create_dataset("targets", data=np.array(pred.targets, dtype=object), dtype=s)
            h5.create_dataset(method, data=np.concatenate([m[1] for m in maps]), compression="gzip",
                              compression_opts=4, shuffle=True)
            h5.attrs["method"] = method
            h5.attrs["toolkit_version"] = __version__
            h5.attrs["layout"] = "[sequence, task, base A C G T, position]; positions of the model's input length"


main = cli

if __name__ == "__main__":
    cli()
