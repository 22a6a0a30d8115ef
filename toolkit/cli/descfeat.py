"""descfeat: biophysical descriptors of every sequence, streamed."""

import click

from . import options as opt


def _chunk_result(dset, seqs, prefix, keep_values):
    """Descriptors of ``seqs`` and what the command needs of them, made where they are
    computed (in a worker, so that only that crosses back): ``(summary, lines, values)``.

    summary: per column the NaN count, minimum and maximum (NaN left out; +inf / -inf
    where there is none). lines: with ``prefix`` (the rows' input columns as TSV lines,
    UTF-8), the output lines of these rows (bytes), else None. values: with
    ``keep_values``, the float64 array (rows, descriptors), else None.
    """
    import numpy as np

    values = dset.compute(seqs) if len(seqs) else np.zeros((0, len(dset)))
    if len(values):
        summary = (np.isnan(values).sum(axis=0), np.fmin.reduce(values, axis=0), np.fmax.reduce(values, axis=0))
    else:
        summary = (np.zeros(len(dset), dtype=np.int64), np.full(len(dset), np.inf), np.full(len(dset), -np.inf))
    return summary, None if prefix is None else _tsv_lines(values, prefix), values if keep_values else None


def _tsv_lines(values, prefix):
    """TSV lines (bytes): each line of ``prefix`` (bytes), then the row's descriptor values,
    ``format(v, ".6g")`` each, NaN where undefined."""
    from ..io.numfmt import format_rows

    return format_rows(values, digits=6, nan="NaN", prefix=prefix) if values.shape[1] else prefix


def _load_motifs(cell_type, motifs_path, families):
    from ..features.labeller import load_motifs

    return load_motifs(cell_type, motifs_path, families)


_WORKER = {}


def _init_worker(families, motifs):
    import signal

    from ..features.compute import DescriptorSet

    # Ctrl-C reaches the whole process group: only the parent answers it (one Error line, exit
    # 130, pool terminated); a worker that raised KeyboardInterrupt would print its traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SIGTERM (Pool.terminate) and SIGHUP end a worker by the kernel's default action: the
    # inherited Python handler can miss a signal that arrives while the worker waits for a
    # lock (its sem_wait resumes), leaving the parent waiting for it. Ignored signals stay ignored.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) not in (signal.SIG_IGN, signal.SIG_DFL):
            signal.signal(sig, signal.SIG_DFL)
    from ..features.params import default_params

    _WORKER["set"] = DescriptorSet(families, default_params(), motifs=motifs)
    # Load the compiled kernels and the tables now, while the parent reads the first rows,
    # not when the first piece arrives. An error here is met again, and reported, on a real piece.
    try:
        _chunk_result(_WORKER["set"], ["ACGTTGCA" * 30], b"warm-up\n", False)
    except Exception:
        pass


def _compute(seqs, prefix, keep_values):
    return _chunk_result(_WORKER["set"], seqs, prefix, keep_values)


def _pieces(n, jobs):
    """Row ranges ``(start, stop)`` a chunk of n rows is cut into for ``jobs`` processes: about 4
    per process (no fewer than 256 rows each, but one piece at least), so that workers end
    together and one process's work arrays stay small."""
    size = max(1, min(n, max(256, -(-n // (4 * jobs))))) if n else 1
    return [(a, min(a + size, n)) for a in range(0, n, size)] or [(0, 0)]


@opt.command("descfeat")
@click.argument("inputs", nargs=-1, metavar="[INPUT]")
@opt.output_option
@opt.table_options
@opt.motif_options
@click.option("--families", default="all", show_default=True, metavar="LIST",
              help="Comma-separated families: pwm, bend, stiff, thermo, entropy, advanced, psi (or all).")
@click.option("--list", "list_only", is_flag=True,
              help="Write every descriptor column it computes as TSV (to -o, or standard output) and exit: name, family, unit, formula (what "
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
    import collections
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
    from ..io.tables import iter_table, standard_frame, tsv_header, tsv_rows, write_tsv

    log = opt.Log("descfeat", quiet, verbose)
    if output.endswith((".h5.gz", ".hdf5", ".h5.bgz")):
        raise click.BadParameter(f"'{output}': HDF5 output is written to a path ending in .h5 (its datasets are "
                                 "compressed inside the file); .gz is for TSV", param_hint="'-o' / '--output'")
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
        if output.endswith(".h5"):
            raise click.BadParameter("--list writes TSV: give -o FILE.tsv (or no -o, for standard output)",
                                     param_hint="'-o' / '--output'")
        with AtomicOutput(output) as out:
            write_tsv(table, out)
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
    text = not h5 and not prune   # TSV lines made where the values are computed (in the workers)
    pool = None
    pending = collections.deque()   # pieces in the workers, in input order
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
        """(frame, (summary, lines, values), row offset, last piece of its chunk) in input order.

        A chunk as read is cut into pieces (:func:`_pieces`): with workers so that they
        share it evenly, at most 2 x jobs pieces in flight; in one process so that the
        work arrays stay small enough to be reused rather than mapped afresh. For TSV a
        worker is given the input columns as text and sends back the output lines, not
        the values.
        """
        for chunk in chunks:
            seqs = _seqs(chunk) if len(chunk) else []
            frame = standard_frame(chunk, seqs)
            offset = chunk.row_offset
            del chunk  # not held while the next chunk is read
            cuts = _pieces(len(frame), jobs)
            for k, (a, b) in enumerate(cuts):
                piece = frame.iloc[a:b]
                prefix = tsv_rows(piece).encode("utf-8") if text else None
                if pool is None:
                    yield piece, _chunk_result(dset, seqs[a:b], prefix, not text), offset + a, k == len(cuts) - 1
                    continue
                pending.append((piece, pool.apply_async(_compute, (seqs[a:b], prefix, not text)), offset + a,
                                k == len(cuts) - 1))
                if len(pending) >= 2 * jobs:
                    f, r, o, last = pending.popleft()
                    yield f, r.get(), o, last
        while pending:
            f, r, o, last = pending.popleft()
            yield f, r.get(), o, last

    pruner = spool = None
    if prune:
        import pickle
        import tempfile

        from ..features.prune import ColumnPruner

        pruner = ColumnPruner(names)
        spool = tempfile.TemporaryFile(prefix="descfeat-prune-")  # unlinked at once: nothing left behind

    class Sink:
        """Writes pieces (frame, values, or their TSV lines) of the columns ``keep`` to the output."""

        def __init__(self, out, keep):
            self.out, self.keep, self.writer, self.first = out, keep, None, True

        def write(self, frame, values, row_offset, lines=None):
            keep = self.keep
            cols = names if keep is None else [names[i] for i in keep]
            if values is not None and keep is not None:
                values = values[:, keep]
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
                if self.first:
                    line = tsv_header(list(frame.columns) + cols)
                    if header:
                        self.out.write(line)
                if lines is None:
                    prefix = tsv_rows(frame)
                    lines = _tsv_lines(values, prefix.encode("utf-8")) if cols else prefix
                self.out.write(lines if isinstance(lines, str) else lines.decode("utf-8"))
            self.first = False

        def close(self):
            if self.writer is not None:
                self.writer.close()

    try:
        with AtomicOutput(output, inputs=[input], by_name=h5) as out:
            sink = Sink(out, None)
            chunks = iter_table(input, fmt=fmt, seq_col=seq_col, id_col=id_col, chunk_rows=chunk_rows, shard=shard)
            held = []   # --prune: the pieces of the chunk being read, which the pruner takes whole
            for frame, (summary, lines, values), offset, last in results(chunks):
                n_rows += len(frame)
                nan_counts += summary[0]
                col_min = np.fmin(col_min, summary[1])
                col_max = np.fmax(col_max, summary[2])
                if pruner is not None:
                    held.append(values)
                    if last:
                        pruner.update(held[0] if len(held) == 1 else np.concatenate(held))
                        held = []
                    pickle.dump((frame, values), spool, protocol=pickle.HIGHEST_PROTOCOL)
                else:
                    sink.write(frame, values, offset, lines)
                del frame, values, lines  # not held while the next piece is read
                log.status(f"descfeat: {n_rows:,} sequences, {n_rows / max(time.time() - t0, 1e-9):,.0f}/s")
            log.status_done()
            if pruner is not None:
                sink.keep = pruner.keep()
                spool.seek(0)
                while True:  # the pieces again, as they came (every chunk was spooled, empty ones too)
                    try:
                        frame, values = pickle.load(spool)
                    except EOFError:
                        break
                    sink.write(frame, values, 0)
            sink.close()
        if pool is not None:  # every result is in: the workers end as they would on their own
            pool.close()
            pool.join()
            pool = None
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
