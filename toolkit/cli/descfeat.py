"""descfeat: biophysical descriptors of every sequence, streamed."""

import click

from . import options as opt

CELL_TYPES = ("HepG2", "K562", "WTC11", "S2")


def _fmt_values(values):
    """Descriptor values as TSV text: 6 significant digits, NaN for undefined."""
    import numpy as np

    out = np.empty(values.shape, dtype=object)
    flat = values.ravel()
    out.ravel()[:] = ["NaN" if v != v else f"{v:.6g}" for v in flat.tolist()]
    return out


def _load_motifs(cell_type, motifs_path, families):
    if "pwm" not in families:
        return None, {}
    from ..features import motifs as motif_lib

    if motifs_path:
        found = motif_lib.read_motif_file(motifs_path)
        return found, {"motif_source": str(motifs_path), "motif_release": "user file"}
    found = motif_lib.cell_type_motifs(cell_type)
    return found, {"motif_source": f"JASPAR CORE via pyjaspar, {cell_type} list (PhysInformer design 5.2.1)",
                   "motif_release": "JASPAR2024"}


_WORKER = {}


def _init_worker(families, motifs):
    import signal

    from ..features.compute import DescriptorSet

    # Ctrl-C reaches the whole process group: only the parent answers it (one Error line, exit
    # 130, pool terminated); a worker that raised KeyboardInterrupt would print its traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..features.params import default_params

    _WORKER["set"] = DescriptorSet(families, default_params(), motifs=motifs)


def _compute(seqs):
    return _WORKER["set"].compute(seqs)


@opt.command("descfeat")
@click.argument("inputs", nargs=-1, metavar="[INPUT]")
@opt.output_option
@opt.table_options
@click.option("--cell-type", type=click.Choice(CELL_TYPES), default="HepG2", show_default=True,
              help="Motif list of the pwm family: the design's JASPAR 2024 CORE matrices for this cell type "
                   "(S2: 13 Drosophila factors by name).")
@click.option("--motifs", "motifs_path", metavar="FILE", default=None,
              help="Use the motifs of a MEME or JASPAR format file instead of the cell type's list.")
@click.option("--families", default="all", show_default=True, metavar="LIST",
              help="Comma-separated families: pwm, bend, stiff, thermo, entropy, advanced, psi (or all).")
@click.option("--list", "list_only", is_flag=True,
              help="Print every descriptor column it writes as TSV and exit: name, family, unit, formula (what "
                   "the value is, one line), source, and caveat (where the formula is not to be trusted as its "
                   "name suggests, e.g. the Wallace rule beyond ~20 nt; empty if none).")
@opt.threads_option
@click.option("--chunk-rows", type=click.IntRange(1), default=10000, show_default=True,
              help="Rows computed at a time (memory is bounded by a few chunks per worker).")
@click.option("--prune", is_flag=True,
              help="For modelling: leave out the descriptor columns that are constant on this input, and those "
                   "that repeat an earlier column (NaN in the same rows and |Pearson r| > 0.999999: an identical, "
                   "affine or negated copy, such as a total and a mean at one sequence length); the first in "
                   "output order is kept. --report lists each column left out, with 'constant' or the column it "
                   "duplicates. Deciding needs every row: the descriptors are computed in chunks as usual and "
                   "held in a temporary file (in TMPDIR) until the last row, then written. Not with --shard (each shard "
                   "would prune differently).")
@opt.report_option
@opt.shard_option
@click.option("--merge", is_flag=True,
              help="Join the HDF5 files given as INPUT (the shards of a --shard run, in any order, or whole runs "
                   "in the order given) into -o FILE.h5, streamed, and exit.")
def cli(inputs, output, fmt, seq_col, id_col, cell_type, motifs_path, families, list_only, jobs, chunk_rows,
        prune, report, shard, merge, quiet, verbose):
    """Biophysical descriptors of every sequence: PWM, bending, stiffness,
    thermodynamics, entropy and advanced structure (the PhysInformer set).

    Reads a table with a sequence column, or FASTA, in chunks; writes the
    input columns plus one column per descriptor as TSV, or HDF5 with
    -o FILE.h5 (descriptors float32 [n, d], names, ids, sequences,
    passthrough columns; attributes: toolkit version, cell type, motif
    source and release, parameter table checksums). A descriptor that is
    undefined for a sequence (too short, only N) is NaN and counted in the
    report, never invented. --list prints every descriptor with its unit,
    formula, source and caveat. --prune leaves out the columns that are
    constant or duplicated on this input (for modelling; it holds the
    descriptors in a temporary file until the last row).

    With --shard I/N a cluster array job computes shard I of N: TSV shards
    joined with cat (1..N in order) are the unsharded output, byte for
    byte; HDF5 shards are joined with --merge.

    \b
    Examples:
      seqqc lib.csv | descfeat --cell-type HepG2 -o feats.h5
      seqqc lib.csv | descfeat --families thermo,entropy | dgsplit > split.tsv
      descfeat --list --cell-type K562 > descriptors.tsv
      descfeat lib.tsv --prune --report feats.json -o feats.h5   # model input
      descfeat lib.tsv --shard 3/10 -o feats.3.h5      # one task of a 10-task array job
      descfeat --merge -o feats.h5 feats.*.h5           # then join the shards, in shard order
    """
    import os
    import sys
    import time

    if jobs > 1:  # one BLAS thread per worker process, or the workers oversubscribe the cores
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
    import numpy as np

    from ..features import FAMILIES
    from ..features.compute import DescriptorSet, parse_families
    from ..features.params import default_params
    from ..io.streams import AtomicOutput
    from ..io.tables import iter_table, standard_frame, write_tsv

    log = opt.Log("descfeat", quiet, verbose)
    opt.distinct_outputs(**{"-o": output, "--report": report})
    if merge:
        if prune:
            raise click.UsageError("--prune is for computing descriptors, not for --merge")
        return _merge(inputs, output, shard, log)
    if prune and shard is not None:
        raise click.UsageError("--prune needs every row, not a shard: run it on the whole input (or on the "
                               "merged shards' input)")
    if len(inputs) > 1:
        raise click.UsageError(f"descfeat reads one INPUT, got {len(inputs)} (several are for --merge)")
    input = inputs[0] if inputs else "-"
    from ..errors import ConfigError

    try:
        fams = parse_families(families)
    except ConfigError as exc:
        raise click.BadParameter(f"{exc.what}; {exc.hint}", param_hint="'--families'") from None
    if not fams:
        raise click.BadParameter(f"'{families}' names no family; give e.g. thermo,entropy, or all",
                                 param_hint="'--families'")
    motifs, motif_attrs = _load_motifs(cell_type, motifs_path, fams)
    params = default_params()
    dset = DescriptorSet(fams, params, motifs=motifs)
    if list_only:
        import pandas as pd

        table = pd.DataFrame([(d.name, d.family, d.unit, d.formula, d.source, d.caveat) for d in dset.descriptors],
                             columns=["name", "family", "unit", "formula", "source", "caveat"])
        write_tsv(table, sys.stdout)
        return
    opt.require_input(input)
    opt.check_shard(shard, input)
    header = shard is None or shard[0] == 1  # shards 2..N write no header: cat joins them
    names = dset.names
    d = len(names)
    attrs = {"cell_type": cell_type if motifs_path is None else "", "families": list(fams),
             "parameter_checksums": params.checksums(), **motif_attrs}
    n_rows = 0
    nan_counts = np.zeros(d, dtype=np.int64)
    col_min = np.full(d, np.inf)
    col_max = np.full(d, -np.inf)
    t0 = time.time()
    h5 = output.endswith(".h5")
    pool = None
    if jobs > 1:
        import multiprocessing as mp
        import signal

        # Workers are forked with SIGINT ignored (and ignore it in their initializer too), so that
        # a Ctrl-C between the fork and the initializer cannot reach them either.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            pool = mp.get_context("fork").Pool(jobs, initializer=_init_worker, initargs=(fams, motifs))
        finally:
            signal.signal(signal.SIGINT, previous)

    def results(chunks):
        """(table chunk, values) in input order; at most 2 x jobs chunks in flight."""
        if pool is None:
            for chunk in chunks:
                yield chunk, dset.compute(_seqs(chunk)) if len(chunk) else np.zeros((0, d))
                del chunk  # not held while the next chunk is read
            return
        pending = []
        for chunk in chunks:
            if not len(chunk):  # an empty shard
                pending.append((chunk, _Ready(np.zeros((0, d)))))
                continue
            pending.append((chunk, pool.apply_async(_compute, (_seqs(chunk),))))
            if len(pending) >= 2 * jobs:
                c, r = pending.pop(0)
                yield c, r.get()
        for c, r in pending:
            yield c, r.get()

    pruner = spool = None
    if prune:
        import pickle
        import tempfile

        from ..features.prune import ColumnPruner

        pruner = ColumnPruner(names)
        spool = tempfile.TemporaryFile(prefix="descfeat-prune-")  # unlinked at once: nothing left behind

    class Sink:
        """Writes (frame, values) chunks of the columns ``keep`` to the output."""

        def __init__(self, out, keep):
            self.out, self.keep, self.writer, self.first = out, keep, None, True

        def write(self, frame, values, row_offset):
            keep = self.keep
            if keep is not None:
                values = values[:, keep]
            cols = names if keep is None else [names[i] for i in keep]
            if h5:
                if self.writer is None:
                    from ..io.h5 import H5Writer

                    if shard is not None:
                        attrs.update(shard=f"{shard[0]}/{shard[1]}", shard_first_row=int(row_offset))
                    fam = [dset.descriptors[i].family for i in (range(d) if keep is None else keep)]
                    self.writer = H5Writer(self.out, cols, fam, attrs)
                passthrough = {c: frame[c].to_numpy(dtype=object) for c in frame.columns if c not in ("id", "sequence")}
                self.writer.append(frame["id"].to_numpy(dtype=object), frame["sequence"].to_numpy(dtype=object),
                                   passthrough, values)
            else:
                import pandas as pd

                vals = pd.DataFrame(_fmt_values(values), columns=cols)
                write_tsv(pd.concat([frame.reset_index(drop=True), vals], axis=1), self.out,
                          header=self.first and header)
            self.first = False

        def close(self):
            if self.writer is not None:
                self.writer.close()

    try:
        with AtomicOutput(output, inputs=[input], by_name=h5) as out:
            sink = Sink(out, None)
            chunks = iter_table(input, fmt=fmt, seq_col=seq_col, id_col=id_col, chunk_rows=chunk_rows, shard=shard)
            for chunk, values in results(chunks):
                frame = standard_frame(chunk, _seqs(chunk) if len(chunk) else [])
                n_rows += len(frame)
                nan_counts += np.isnan(values).sum(axis=0)
                if len(values):  # (an empty shard has none)
                    with np.errstate(invalid="ignore"):
                        col_min = np.fmin(col_min, np.nanmin(np.where(np.isnan(values), np.inf, values), axis=0))
                        col_max = np.fmax(col_max, np.nanmax(np.where(np.isnan(values), -np.inf, values), axis=0))
                if pruner is not None:
                    pruner.update(values)
                    pickle.dump((frame, values), spool, protocol=pickle.HIGHEST_PROTOCOL)
                else:
                    sink.write(frame, values, chunk.row_offset)
                del chunk, values, frame  # not held while the next chunk is read
                log.status(f"descfeat: {n_rows:,} sequences, {n_rows / max(time.time() - t0, 1e-9):,.0f}/s")
            log.status_done()
            if pruner is not None:
                sink.keep = pruner.keep()
                spool.seek(0)
                while True:  # the chunks again, as they came (every chunk was spooled, empty ones too)
                    try:
                        frame, values = pickle.load(spool)
                    except EOFError:
                        break
                    sink.write(frame, values, 0)
            sink.close()
    finally:
        if pool is not None:
            pool.terminate()
        if spool is not None:
            spool.close()
    seconds = time.time() - t0
    constant = [names[i] for i in range(d) if n_rows and col_min[i] == col_max[i]]
    undefined = {names[i]: int(nan_counts[i]) for i in range(d) if nan_counts[i]}
    rep = {"input": input, "rows": n_rows, "descriptors": d,
           **({"shard": f"{shard[0]}/{shard[1]}"} if shard else {}),
           "per_family": {f: sum(1 for x in dset.descriptors if x.family == f) for f in FAMILIES if f in fams},
           "constant_columns": constant, "undefined_values": undefined,
           **({"pruned": pruner.dropped(), "descriptors_written": int(len(pruner.keep()))} if pruner else {}),
           "seconds": seconds,
           "sequences_per_second": n_rows / seconds if seconds else None, **attrs}
    if report:
        opt.write_json(report, rep, inputs=[input])
    log.info(f"descfeat: {n_rows} sequences x {d} descriptors ({', '.join(f'{k} {v}' for k, v in rep['per_family'].items())}) "
             f"in {seconds:.1f} s")
    if pruner is not None:
        dropped = pruner.dropped()
        n_const = sum(1 for x in dropped if x["reason"] == "constant")
        log.info(f"descfeat: --prune left out {len(dropped)} of {d} descriptors ({n_const} constant, "
                 f"{len(dropped) - n_const} duplicating an earlier column; listed in --report), wrote {d - len(dropped)}")
    elif constant:
        log.info(f"descfeat: {len(constant)} descriptor(s) constant over this input (kept; listed in --report)")
    if undefined:
        log.warn(f"{len(undefined)} descriptor(s) undefined (NaN) for some sequences, "
                 f"{int(nan_counts.sum())} values in all; see --report")


class _Ready:
    """A result already at hand, with the ``get()`` of a pool's AsyncResult."""

    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


def _merge(inputs, output, shard, log):
    """descfeat --merge: join descfeat HDF5 files (see toolkit.io.h5.merge_h5)."""
    import time

    from ..io.h5 import merge_h5
    from ..io.streams import AtomicOutput

    if shard is not None:
        raise click.UsageError("--merge joins shards; it takes no --shard")
    if not inputs:
        raise click.UsageError("--merge needs the HDF5 files to join, e.g. descfeat --merge -o all.h5 feats.*.h5")
    if not output.endswith(".h5"):
        raise click.UsageError("--merge writes HDF5: give -o FILE.h5 (TSV shards are joined with cat)")
    t0 = time.time()
    with AtomicOutput(output, inputs=list(inputs), by_name=True) as tmp:
        info = merge_h5(list(inputs), tmp)
    what = f"{info['shards']} shards" if info["shards"] else f"{len(info['files'])} files"
    log.info(f"descfeat: merged {what}, {info['rows']:,} rows, into {output} in {time.time() - t0:.1f} s")


def _seqs(chunk):
    from ..io.tables import clean_sequences

    return clean_sequences(chunk)


def man_extra():
    """The descriptor list for the man page (section DESCRIPTORS)."""
    from ..features import FAMILIES
    from ..features.compute import DescriptorSet
    from ..features.params import default_params

    motifs, _ = _load_motifs("HepG2", None, FAMILIES)
    dset = DescriptorSet(FAMILIES, default_params(), motifs=motifs)
    return [(f"{x.name} ({x.unit})", f"{x.formula}{' Caveat: ' + x.caveat if x.caveat else ''} Source: {x.source}")
            for x in dset.descriptors]


main = cli

if __name__ == "__main__":
    cli()
