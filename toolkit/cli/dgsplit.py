"""dgsplit: leakage-safe train/val/test splits."""

import click

from . import options as opt

CHROM_COLUMNS = ("chrom", "chr", "chromosome", "seqnames", "Chromosome")
#: --near kmer: up to this many rows the leakage check is prepared on a second thread beside the grouping
PARALLEL_KMER_ROWS = 300_000


def _clean(s):
    """Stripped, uppercase sequence; the same object when it already is (saves memory)."""
    s = s.strip()
    return s if s.isupper() else s.upper()


def _parse_holdout(text):
    if "=" not in text:
        raise click.BadParameter("expected COL=VALUE[,VALUE...]", param_hint="'--holdout'")
    col, vals = text.split("=", 1)
    values = [v.strip() for v in vals.split(",") if v.strip()]
    if not col.strip() or not values:
        raise click.BadParameter("expected COL=VALUE[,VALUE...]", param_hint="'--holdout'")
    return col.strip(), values


def _parse_fractions(text):
    try:
        fr = [float(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter("expected three numbers, e.g. 0.8,0.1,0.1", param_hint="'--fractions'") from None
    if len(fr) != 3 or min(fr) < 0 or abs(sum(fr) - 1) > 1e-6:
        raise click.BadParameter("expected three non-negative numbers summing to 1", param_hint="'--fractions'")
    return fr


@opt.command("dgsplit")
@opt.input_argument
@opt.output_option
@opt.table_options
@opt.seed_option
@click.option("--fractions", default="0.8,0.1,0.1", show_default=True, metavar="TRAIN,VAL,TEST",
              help="Row fractions of the random grouped split.")
@click.option("--group-by", "grouping", type=click.Choice(["exact", "rc"]), default="rc", show_default=True,
              help="Rows share a group when their cores are identical (exact) or identical up to reverse "
                   "complement (rc).")
@click.option("--flanks", default="auto", show_default=True, metavar="auto|none|L,R",
              help="Flanks removed before grouping: auto = the prefix and suffix every sequence shares "
                   "(adapters, >= 8 nt; rows carrying them on the other strand are read reverse-complemented); "
                   "none; or L,R bases.")
@click.option("--near", type=click.Choice(["none", "hamming", "kmer"]), default="none", show_default=True,
              help="Also group near-duplicates: hamming (equal-length cores within --max-mismatch "
                   "substitutions, either strand) or kmer (exact Jaccard of canonical k-mer sets >= "
                   "--kmer-threshold; indels and shifts too).")
@click.option("--max-mismatch", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Hamming distance for --near hamming.")
@click.option("--kmer-k", type=click.IntRange(4, 31), default=12, show_default=True, help="k for --near kmer.")
@click.option("--kmer-threshold", type=click.FloatRange(0, 1, min_open=True), default=0.5, show_default=True,
              help="Jaccard threshold for --near kmer (above 0, at most 1).")
@click.option("--strata", "strata_col", default="target_cell", show_default=True, metavar="COL",
              help="Keep each split within +-2 points of this column's overall proportions (if present).")
@click.option("--holdout-chrom", is_flag=True,
              help="Split by chromosome (the Malinois split): --val-chroms to val, --test-chroms to test. "
                   "With --holdout too: the held-out rows on test chromosomes are the test set, the other "
                   "rows off them train and val, and the rest is 'excluded'.")
@click.option("--val-chroms", default="chr19,chr21,chrX", show_default=True, metavar="LIST",
              help="Validation chromosomes for --holdout-chrom ('7' and 'chr7' are the same).")
@click.option("--test-chroms", default="chr7,chr13", show_default=True, metavar="LIST",
              help="Test chromosomes for --holdout-chrom.")
@click.option("--chrom-col", default=None, metavar="COL[,COL...]",
              help="Chromosome column(s) for --holdout-chrom; a row on several chromosomes goes to its "
                   "strictest split (default: chrom, chr, chromosome, seqnames; in a table of coordinates "
                   "every element's chromosome, e.g. enhancer_chrom and promoter_chrom, always counts).")
@click.option("--holdout", "holdout", default=None, metavar="COL=VALUE,...",
              help="Rows whose COL is one of the VALUEs (and their groups) are the test set, e.g. "
                   "target_cell=HepG2; the rest is split train/val. Combines with --holdout-chrom.")
@click.option("--allow-empty", is_flag=True,
              help="Write the split even when train, val or test (one asked for: a fraction above 0, or "
                   "chromosomes named) is left empty, with a warning; without it that is an error (too few "
                   "rows or groups, chromosomes absent from the input, flanks that leave no core).")
@click.option("--manifest", metavar="FILE", default=None,
              help="Write id, SHA1 of the sequence (elements: a table of coordinates' chrom:start-end "
                   "keys), group_id and split per row (TSV).")
@click.option("--check", "check_only", is_flag=True,
              help="Check the split already in the input (--split-col) instead of making one: report every "
                   "related pair of rows in two different splits, by the same relations and options; write "
                   "no table; exit 0 when none crosses, 1 when some do.")
@click.option("--split-col", default="split", show_default=True, metavar="COL",
              help="With --check: the column holding each row's split (any labels, e.g. fold1..fold5; "
                   "rows labelled 'excluded' are in no split).")
@opt.report_option
def cli(input, output, fmt, seq_col, id_col, seed, fractions, grouping, flanks, near, max_mismatch, kmer_k,
        kmer_threshold, strata_col, holdout_chrom, val_chroms, test_chroms, chrom_col, holdout, allow_empty,
        manifest, check_only, split_col, report, quiet, verbose):
    """Leakage-safe train/val/test splits: rows that share biology share a split.

    Groups rows by identical sequence, by reverse complement, after removing
    the flanks every sequence shares (e.g. lentiMPRA's 15-nt adapters; rows
    written whole on the other strand are read reverse-complemented), and
    optionally by near-duplicates; then allocates whole groups: randomly
    (80/10/10, seed 2025, stratified by target_cell), by held-out
    chromosomes (--holdout-chrom), by a held-out column value (--holdout),
    or by both at once. Adds the columns split and group_id and keeps every
    input column.

    What each relation guarantees. Groups are the connected components of
    the relations asked for, so related rows never cross splits, and two
    rows share a group only through a chain of related pairs. exact:
    identical cores. rc: a core and its reverse complement. --near hamming:
    cores of equal length within --max-mismatch substitutions (either strand
    with --group-by rc; a base other than A, C, G, T counts as N, and N
    matches only N); it never links cores of different
    lengths, so an insertion or deletion is not caught. --near kmer: exact
    Jaccard of the sets of canonical k-mers (k = --kmer-k, windows with N
    skipped) at least --kmer-threshold; strand-blind, catches substitutions,
    indels and shifts when they leave enough k-mers shared; cores shorter
    than k link to nothing. No relation sees homology below these thresholds.

    Before anything is written, every pair of rows related by the relations
    grouped by is enumerated again by a separate search that does not use
    the groups; a related pair in two splits stops the run with an error.
    The report says what was checked.

    --check reads a split made by anyone (a published fold assignment, a
    chromosome split, a random split; --split-col, any labels) and reports,
    without changing it, the related pairs of rows in different splits:
    counts per relation and per pair of splits, the most similar examples,
    and the groups that cross; a summary on stderr, details in --report.
    Exit 0 when nothing crosses, 1 when something does.

    A table of coordinates without sequences (e.g. enhancer-promoter pairs:
    enhancer_chrom, enhancer_start, enhancer_end, promoter_...) is grouped by
    its elements instead: rows that share an element's exact coordinates
    share a group.

    With --holdout and --holdout-chrom together, test is the held-out rows on
    test chromosomes, train and val are the other rows on train and val
    chromosomes, and rows that would leak either way (held-out rows
    elsewhere, other rows on test chromosomes) get split 'excluded': written
    and counted, and ignored by every fit-* command.

    \b
    Examples:
      seqqc lib.csv | dgsplit --report split.json > split.tsv
      seqqc gosai_table_s2.tsv | dgsplit --holdout-chrom --near hamming > split.tsv
      dgsplit joint_3cell.tsv --holdout target_cell=WTC11 --near kmer -o split.tsv
      dgsplit --check published_folds.tsv --split-col fold --near hamming --report check.json
      dgsplit targetfinder_pairs.csv.gz --holdout cell=K562 --holdout-chrom \\
        --test-chroms chr8,chr9 --val-chroms chr7 --report split.json > ep_split.tsv
    """
    import numpy as np

    from ..errors import ConfigError, ToolkitError
    from ..io.streams import AtomicOutput
    from ..io.tables import element_columns, no_sequence_column, read_table, standard_frame, target_columns, write_tsv
    from ..seq import sha1
    from ..split.allocate import (SPLIT_NAMES, by_chromosome, by_column, by_column_and_chromosome, check_no_leak,
                                  random_grouped)
    from ..seq.arrays import ascii_buffer
    from ..split.check import RELATION_LABELS, PairCheck
    from ..split.group import group_rows, resolve_flanks

    log = opt.Log("dgsplit", quiet, verbose)
    opt.require_input(input)
    opt.distinct_outputs(**{"-o": None if check_only else output, "--manifest": manifest, "--report": report})
    fr = _parse_fractions(fractions)
    if flanks not in ("auto", "none"):
        try:
            left, right = (int(x) for x in flanks.split(","))
            if left < 0 or right < 0:
                raise ValueError
        except ValueError:
            raise click.BadParameter("expected auto, none or L,R with two non-negative integers",
                                     param_hint="'--flanks'") from None
        flanks = (left, right)
    held = _parse_holdout(holdout) if holdout else None
    if held and not holdout_chrom and fr[0] + fr[1] <= 0:
        raise click.BadParameter(f"'{fractions}': with --holdout the held-out rows are the test set and the rest "
                                 "is split by the train and val fractions, which must not both be 0",
                                 param_hint="'--fractions'")
    if holdout_chrom:
        both = sorted(set(_chrom_list(val_chroms)) & set(_chrom_list(test_chroms)))
        if both:
            raise click.BadParameter(f"chromosome(s) {', '.join(both)} also in --val-chroms; a chromosome is "
                                     "in one split", param_hint="'--test-chroms'")
    if check_only:
        given = [name for name, on in (("-o", output not in ("-", None)), ("--manifest", manifest),
                                       ("--holdout", holdout), ("--holdout-chrom", holdout_chrom)) if on]
        if given:
            raise click.UsageError(f"--check reads a split and writes no table: drop {', '.join(given)} "
                                   "(the findings go to stderr and --report)")

    table = read_table(input, fmt=fmt, seq_col=seq_col, id_col=id_col, require_seq=False)
    df = table.df
    cols = [c for c in df.columns if not c.startswith("_")]
    elements = []
    flipped = None
    if table.seq_col is None:
        elements = element_columns(cols)
        if not elements:
            raise no_sequence_column(cols, table.name, also=(
                ", or give coordinates to group by (chrom, start, end, or <element>_chrom, _start, _end "
                "for each element, e.g. enhancer_* and promoter_*)"))
        if near != "none":
            raise ConfigError(f"--near {near} needs sequences, and this table has coordinates only",
                              file=table.name, line=1,
                              hint="drop --near: rows are grouped by identical element coordinates")
        seqs = None
        labels, ginfo, canon_keys, ekeys = _group_by_coordinates(table, elements)
        n = len(labels)
        log.detail("no sequence column: rows grouped by element coordinates ("
                   + ", ".join(e[0] or "chrom/start/end" for e in elements) + ")")
    else:
        seqs = [_clean(s) for s in df[table.seq_col].to_numpy(dtype=object)]
        if any(not s for s in seqs):
            i = next(i for i, s in enumerate(seqs) if not s)
            raise ToolkitError("empty sequence", file=table.name, line=int(table.lines[i]), column=table.seq_col,
                               hint="run seqqc first, which rejects such rows with a reason")
        n = len(seqs)
        left, right, flipped = resolve_flanks(seqs, flanks)
        if flipped is not None:
            log.detail(f"{int(flipped.sum())} rows carry the shared flanks on the other strand; read reverse-complemented")
        if check_only:   # only the rows in a split are grouped and checked
            split_codes, split_names, split_values = _read_split(table, cols, split_col)
            seqs = [s if c >= 0 else "" for s, c in zip(seqs, split_codes)]
        # the leakage check's own search, prepared apart from the groups; with --near kmer on a second
        # thread while the groups are made (its compiled k-mer passes release the interpreter lock), up
        # to PARALLEL_KMER_ROWS rows: above, one after the other, so that the two sets of k-mer sets
        # are not held at once
        packed = ascii_buffer(seqs)   # the rows as bytes, for the compiled passes of grouping and check
        prepare = (PairCheck, seqs, left, right, flipped, grouping, near, max_mismatch, kmer_k, kmer_threshold,
                   packed)
        parallel = near == "kmer" and n <= PARALLEL_KMER_ROWS
        if parallel:
            pair_check = _Background(*prepare)
        with log.progress(range(3 if near != "none" else 0), label="near-duplicates") as bar:
            step = (lambda k: bar.update(k)) if hasattr(bar, "update") else None
            labels, ginfo, canon_keys = group_rows(seqs, grouping=grouping, flanks=(left, right, flipped), near=near,
                                                   max_mismatch=max_mismatch, kmer_k=kmer_k,
                                                   kmer_threshold=kmer_threshold, progress=step, return_keys=True,
                                                   packed=packed)
        if not parallel:
            pair_check = _Done(prepare[0](*prepare[1:]))
    relation_opts = dict(grouping=grouping, near=near, max_mismatch=max_mismatch, kmer_k=kmer_k,
                         kmer_threshold=kmer_threshold)
    if check_only:
        if seqs is None:
            split_codes, split_names, split_values = _read_split(table, cols, split_col)
        return _check(log, table, split_col, split_codes, split_names, split_values, labels, ginfo, canon_keys,
                      relation_opts, report, input, pair_check.result() if seqs is not None else None)

    strata = df[strata_col].to_numpy(dtype=object) if strata_col in cols else np.zeros(n, dtype=np.int8)
    moved = 0
    excluded = None
    if held:
        col, values = held
        if col not in cols:
            raise ConfigError(f"--holdout column '{col}' is not in the input", file=table.name, line=1,
                              hint=f"columns are: {', '.join(cols)}")
        present = set(df[col].unique())
        missing = [v for v in values if v not in present]
        if missing:
            raise ConfigError(f"--holdout value(s) not found in column '{col}': {', '.join(missing)}",
                              file=table.name, hint=f"values are: {', '.join(sorted(map(str, present))[:20])}")
    if holdout_chrom:
        ccols = _chrom_columns(chrom_col, cols, elements, table.name)
        chroms = df[ccols].to_numpy(dtype=object)
        if held:
            col, values = held
            split, moved, excluded = by_column_and_chromosome(labels, df[col].to_numpy(dtype=object), values,
                                                              chroms, val=val_chroms.split(","),
                                                              test=test_chroms.split(","))
            mode = (f"held out {col} = {','.join(values)} on chromosomes (val {val_chroms}; test {test_chroms}); "
                    f"chromosomes from {', '.join(ccols)}")
        else:
            split, moved = by_chromosome(labels, chroms, val=val_chroms.split(","), test=test_chroms.split(","))
            mode = f"chromosomes (val {val_chroms}; test {test_chroms})"
            if len(ccols) > 1:
                mode += f"; chromosomes from {', '.join(ccols)}"
    elif held:
        col, values = held
        split, moved = by_column(labels, df[col].to_numpy(dtype=object), values, fr,
                                 strata=strata if strata_col in cols and strata_col != col else None, seed=seed)
        mode = f"held out {col} = {','.join(values)}"
    else:
        split = random_grouped(labels, strata, fr, seed)
        mode = f"random grouped {fractions}, seed {seed}"

    # checked on the groups and, independently of grouping and allocation, on the cores (or elements) themselves:
    # every related pair of rows is enumerated again by the check's own search
    leak = check_no_leak(labels, split, keys=canon_keys if seqs is None else None)   # sequences: pairs below
    crossing = None
    if not leak and seqs is not None:
        crossing = pair_check.result().run(np.where(split < 3, split, -1))
        bad = {k: v for k, v in crossing["crossing_pairs"].items() if v}
        if bad:
            ex = crossing["examples"][0]
            ids = table.ids()
            leak = (", ".join(f"{v} {RELATION_LABELS[k]} pairs" for k, v in bad.items())
                    + f" of rows in different splits, e.g. {ids[ex['row_a']]} and {ids[ex['row_b']]}")
    if leak:
        raise ToolkitError(f"leakage check failed: {leak}", file=table.name,
                           hint="this is a bug in dgsplit; please report it with the input")
    empty = _empty_splits(split, labels, fr, held, chroms if holdout_chrom else None, val_chroms, test_chroms,
                          seqs, (left, right) if seqs is not None else None)
    if empty and not allow_empty:
        what, hint = empty[0]
        raise ConfigError(what, file=table.name, hint=f"{hint}; or add --allow-empty to write it anyway")

    names = np.array(SPLIT_NAMES, dtype=object)[split]
    gids = np.char.add("g", (labels + 1).astype(str)).astype(object)
    out = standard_frame(table)
    for c in ("split", "group_id"):
        if c in out.columns:
            log.warn(f"the input already has a '{c}' column; it is replaced")
            out = out.drop(columns=[c])
    out["split"] = names
    out["group_id"] = gids

    rep = _report(table, out, labels, split, strata if strata_col in cols else None, strata_col,
                  target_columns(cols), ginfo, mode, moved, seed, excluded, crossing, relation_opts)
    with AtomicOutput(output, inputs=[input]) as fh:
        write_tsv(out, fh)
    if manifest:
        import pandas as pd

        if seqs is not None:
            man = pd.DataFrame({"id": out["id"].to_numpy(), "sha1": [sha1(s) for s in seqs],
                                "group_id": gids, "split": names})
        else:
            man = pd.DataFrame({"id": out["id"].to_numpy(), "elements": ekeys, "group_id": gids, "split": names})
        with AtomicOutput(manifest, inputs=[input]) as fh:
            write_tsv(man, fh)
    if report:
        opt.write_json(report, rep, inputs=[input])
    for what, _ in empty:                   # --allow-empty: written, and said
        log.warn(what)
    _summary(log, rep)


def _chrom_list(text):
    """The chromosomes of --val-chroms / --test-chroms, normalised ('chr7' and '7' are one)."""
    from ..split.allocate import normalise_chrom

    return [normalise_chrom(c) for c in text.split(",") if c.strip()]


def _empty_splits(split, labels, fractions, held, chroms, val_chroms, test_chroms, seqs, flanks):
    """(message, what to do) for each split that was asked for and got no row.

    A split is asked for when its fraction is above 0 (random and --holdout splits; the
    test set of --holdout is the held-out rows), or, with --holdout-chrom, when chromosomes
    are named for it (train: always)."""
    import numpy as np

    from ..split.allocate import SPLIT_NAMES, normalise_chrom

    n = len(labels)
    groups = len(np.unique(labels))
    named = {"val": _chrom_list(val_chroms), "test": _chrom_list(test_chroms)}
    given = {"val": val_chroms, "test": test_chroms}
    out = []
    for k, name in enumerate(SPLIT_NAMES[:3]):
        if (split == k).any():
            continue
        if chroms is not None:
            asked = name == "train" or bool(named[name])
        elif held:
            asked = name == "test" or fractions[k] > 0
        else:
            asked = fractions[k] > 0
        if not asked:
            continue
        what = f"the {name} split is empty"
        if groups == 1 and n > 1:
            what += f": all {n} rows fell in one group"
            shortest = min((len(s) for s in seqs if s), default=0) if seqs is not None else 0
            if flanks is not None and sum(flanks) >= shortest:
                hint = (f"--flanks {flanks[0]},{flanks[1]} removes {sum(flanks)} nt, as much as the shortest "
                        f"sequence ({shortest} nt), so every core is empty: give smaller --flanks, or none")
            else:
                hint = "the rows are all related (identical or near-identical): check the input"
        elif chroms is not None and name != "train":
            present = sorted({normalise_chrom(c) for c in np.asarray(chroms, dtype=object).ravel()},
                             key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))
            shown = ", ".join(present[:12]) + (", ..." if len(present) > 12 else "")
            what += (f": no row is on the {name} chromosomes ({given[name]}); the input's are "
                     f"{shown}")
            hint = f"name chromosomes of the input with --{name}-chroms"
        elif chroms is not None:
            what += ": every row is on a validation or test chromosome (or in a group with one)"
            hint = "name fewer chromosomes with --val-chroms and --test-chroms"
        else:
            what += (f": {n} row{'s' if n != 1 else ''} in {groups} group{'s' if groups != 1 else ''} "
                     f"{'are' if n != 1 else 'is'} too few for a {name} fraction of {fractions[k]:g}")
            hint = "give more rows, or change --fractions"
        out.append((what, hint))
    return out


class _Done:
    """A finished result with the interface of a future."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _Background:
    """``fn(*args)`` on a daemon thread (an error or Ctrl-C in the main thread does not wait for it);
    ``result()`` joins it and returns the value or raises its exception."""

    def __init__(self, fn, *args):
        import threading

        self._value = self._error = None

        def work():
            try:
                self._value = fn(*args)
            except BaseException as exc:   # handed to the caller of result()
                self._error = exc

        self._thread = threading.Thread(target=work, daemon=True)
        self._thread.start()

    def result(self):
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value

def _chrom_columns(chrom_col, cols, elements, name):
    """The chromosome column(s) --holdout-chrom reads: --chrom-col (comma-separated), else a
    chromosome column by its usual name; in a table of coordinates every element's too."""
    from ..errors import ConfigError

    if chrom_col:
        ccols = [c.strip() for c in chrom_col.split(",") if c.strip()]
        missing = [c for c in ccols if c not in cols]
        if missing or not ccols:
            raise ConfigError(f"--chrom-col column(s) not in the input: {', '.join(missing) or chrom_col!r}",
                              file=name, line=1, hint=f"columns are: {', '.join(cols)}")
    else:
        ccols = [c for c in CHROM_COLUMNS if c in cols][:1]
    for e in elements:  # a row of a coordinate table lies on each of its elements' chromosomes
        if e[1] not in ccols:
            ccols.append(e[1])
    if not ccols:
        raise ConfigError("--holdout-chrom needs a chromosome column", file=name, line=1,
                          hint=f"name it with --chrom-col (looked for {', '.join(CHROM_COLUMNS)})")
    return ccols


def _group_by_coordinates(table, elements):
    """Group a coordinate table's rows by shared elements; returns labels, info, element key codes
    (n, m) and each row's keys joined with ';' (for the manifest)."""
    import numpy as np

    from ..errors import InputError
    from ..io.tables import parse_numeric
    from ..split.group import element_key, group_by_elements

    keys = []
    for _, ccol, scol, ecol in elements:
        chrom = table.df[ccol].str.strip().to_numpy(dtype=object)
        empty = np.flatnonzero(chrom == "")
        if len(empty):
            raise InputError("empty chromosome", file=table.name, line=int(table.lines[empty[0]]), column=ccol,
                             hint="every element needs a chromosome, start and end")
        pos = {}
        for c in (scol, ecol):
            v = parse_numeric(table, c, hint="coordinates are integers (BED-style: 0-based start, end exclusive)")
            bad = np.flatnonzero(~np.isfinite(v) | (v != np.round(v)) | (v < 0))
            if len(bad):
                i = int(bad[0])
                raise InputError(f"'{table.df[c].iloc[i]}' is not a coordinate", file=table.name,
                                 line=int(table.lines[i]), column=c,
                                 hint="coordinates are non-negative integers (BED-style: 0-based start, end exclusive)")
            pos[c] = v.astype(np.int64)
        keys.append(element_key(chrom, pos[scol], pos[ecol]))
    labels, info, codes = group_by_elements(keys)
    joined = keys[0] if len(keys) == 1 else np.array([";".join(k) for k in zip(*keys)], dtype=object)
    info["element_columns"] = {(e[0] or "element"): [e[1], e[2], e[3]] for e in elements}
    return labels, info, codes, joined


def _report(table, out, labels, split, strata, strata_col, targets, ginfo, mode, moved, seed, excluded=None,
            crossing=None, relation_opts=None):
    import numpy as np
    import pandas as pd

    from ..qc.profile import _dist
    from ..split.allocate import SPLIT_NAMES, SPLITS

    n = len(labels)
    rep = {"input": table.name, "mode": mode, "seed": seed, "rows": n, "grouping": ginfo,
           "groups_moved_to_stricter_split": moved, "splits": {}}
    if excluded is not None:
        rep["excluded"] = {"rows": int((split == 3).sum()), **excluded,
                           "note": "in no split: written with split 'excluded' and ignored by fit-* commands"}
    for k, name in enumerate(SPLIT_NAMES if excluded is not None else SPLITS):
        m = split == k
        entry = {"rows": int(m.sum()), "fraction": float(m.mean()) if n else 0.0,
                 "groups": int(len(np.unique(labels[m])))}
        if strata is not None:
            vc = pd.Series(strata[m]).value_counts(normalize=True)
            entry[f"{strata_col}_proportions"] = {str(k2): float(v) for k2, v in vc.sort_index().items()}
        dist_cols = ["MinGap"] if "MinGap" in out.columns else targets
        entry["distributions"] = {c: _dist(pd.to_numeric(out[c][m], errors="coerce").to_numpy(dtype=float))
                                  for c in dist_cols}
        rep["splits"][name] = entry
    if strata is not None:
        overall = pd.Series(strata).value_counts(normalize=True)
        rep[f"{strata_col}_proportions"] = {str(k): float(v) for k, v in overall.sort_index().items()}
        dev = 0.0
        for name in SPLITS:
            props = rep["splits"][name].get(f"{strata_col}_proportions", {})
            if rep["splits"][name]["rows"]:
                for k, v in overall.items():
                    dev = max(dev, abs(props.get(str(k), 0.0) - v))
        rep["max_proportion_deviation"] = dev
    if ginfo.get("grouped_by") == "element coordinates":
        rep["leakage_check"] = "passed: no group and no element (identical coordinates) in more than one split"
    else:
        rep["leakage_check"] = ("passed: no group in more than one split, and no pair of rows related by "
                                f"{_relations_text(ginfo, relation_opts)} in two different splits "
                                f"({crossing['sequences']} distinct sequences; {crossing['compared']} candidate "
                                "near-duplicate pairs across splits compared)")
        rep["leakage_check_pairs"] = {"relations": crossing["relations"],
                                      "crossing_pairs": crossing["crossing_pairs"],
                                      "sequences": crossing["sequences"],
                                      "candidate_pairs_compared": crossing["compared"]}
    if excluded is not None:
        rep["leakage_check"] += " (excluded rows are in none)"
    return rep


def _relations_text(ginfo, o):
    """The relations a run groups by, in words: 'exact, reverse complement and hamming (<= 2 mismatches)'."""
    f = ginfo["flanks"]
    parts = [f"exact (cores after {f['left']}+{f['right']} nt flanks)"]
    if o["grouping"] == "rc":
        parts.append("reverse complement")
    if o["near"] == "hamming":
        parts.append(f"hamming (<= {o['max_mismatch']} mismatches, equal lengths"
                     + (", either strand)" if o["grouping"] == "rc" else ")"))
    elif o["near"] == "kmer":
        parts.append(f"k-mer Jaccard (k = {o['kmer_k']}, >= {o['kmer_threshold']}, canonical k-mers)")
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _read_split(table, cols, split_col):
    """The split column of --check: codes (n,) (-1 for 'excluded'), the split names (train, val, test
    first, then the other labels sorted) and the labels as read."""
    import numpy as np

    from ..errors import ConfigError, InputError
    from ..split.check import MAX_SPLITS

    if split_col not in cols:
        raise ConfigError(f"--check needs a split column, and '{split_col}' is not in the input", file=table.name,
                          line=1, hint=f"name it with --split-col (columns are: {', '.join(cols)})")
    values = np.array([str(v).strip() for v in table.df[split_col].to_numpy(dtype=object)], dtype=object)
    empty = np.flatnonzero(values == "")
    if len(empty):
        raise InputError("empty split value", file=table.name, line=int(table.lines[empty[0]]), column=split_col,
                         hint="give every row a split, or 'excluded' for a row in none")
    names = [v for v in ("train", "val", "test") if v in set(values)]
    names += sorted(set(values) - set(names) - {"excluded"})
    if len(names) > MAX_SPLITS:
        raise InputError(f"{len(names)} distinct values in column '{split_col}'; at most {MAX_SPLITS} splits "
                         "can be checked", file=table.name, column=split_col,
                         hint="is this the right column? (--split-col)")
    code_of = {v: i for i, v in enumerate(names)}
    code_of["excluded"] = -1
    return np.array([code_of[v] for v in values], dtype=np.int64), names, values


def _check(log, table, split_col, split, names, values, labels, ginfo, keys, o, report, input, pair_check):
    """dgsplit --check: every related pair of rows in two different splits of an existing split column.
    Rows labelled 'excluded' were left out of the grouping (as empty sequences) and of the check."""
    import numpy as np
    from tabulate import tabulate

    from ..split.check import RELATION_LABELS, cross_split_keys
    from ..split.group import group_by_elements

    ids = table.ids()
    kept = split >= 0
    if pair_check is not None:
        res = pair_check.run(split)
        lab = labels[kept]
    else:
        res = cross_split_keys(keys, split)
        lab, _, _ = group_by_elements([keys[kept, j] for j in range(keys.shape[1])])   # rows in a split only
    per_group = np.zeros((int(lab.max()) + 1 if len(lab) else 0, max(len(names), 1)), dtype=bool)
    per_group[lab, split[kept]] = True
    crossing_groups = np.flatnonzero(per_group.sum(axis=1) > 1)
    rows_crossing = int(np.isin(lab, crossing_groups).sum())
    total = sum(res["crossing_pairs"].values())
    rep = {"input": table.name, "mode": "check", "split_column": split_col, "rows": int(len(split)),
           "rows_in_no_split": int((~kept).sum()),
           "splits": {nm: int((split == i).sum()) for i, nm in enumerate(names)},
           "relations": res["relations"],
           "options": ({"group_by": o["grouping"], "flanks": ginfo["flanks"], "near": o["near"],
                        **({"max_mismatch": o["max_mismatch"]} if o["near"] == "hamming" else {}),
                        **({"kmer_k": o["kmer_k"], "kmer_threshold": o["kmer_threshold"]}
                           if o["near"] == "kmer" else {})}
                       if pair_check is not None else {"grouped_by": "element coordinates"}),
           "crossing_pairs": res["crossing_pairs"],
           "crossing_by_split_pair": {rel: {f"{'|'.join(sorted((names[a], names[b])))}": v for (a, b), v in d.items()}
                                      for rel, d in res["by_split_pair"].items()},
           "examples": [{"relation": e["relation"], "id_a": str(ids[e["row_a"]]), "split_a": values[e["row_a"]],
                         "id_b": str(ids[e["row_b"]]), "split_b": values[e["row_b"]], "distance": e["distance"]}
                        for e in res["examples"]],
           "sequences": res.get("sequences"), "candidate_pairs_compared": res.get("compared", 0),
           "groups": {"total": int(len(np.unique(lab))), "crossing": int(len(crossing_groups)),
                      "rows_in_crossing_groups": rows_crossing},
           "result": "passed" if total == 0 and not len(crossing_groups) else "failed"}
    if bool(total) != bool(len(crossing_groups)):   # two independent computations disagree: a bug
        rep["result"] = "failed"
        rep["inconsistent"] = ("the groups and the pair search disagree; please report this with the input")
    if report:
        opt.write_json(report, rep, inputs=[input])
    if not log.quiet:
        split_text = ", ".join(f"{k} {v}" for k, v in rep["splits"].items())
        log.info(f"dgsplit --check: {rep['rows']} rows in {len(names)} splits ({split_text}) from column "
                 f"'{split_col}'" + (f"; {rep['rows_in_no_split']} excluded" if rep["rows_in_no_split"] else ""))
        if pair_check is not None:
            log.info(f"relations: {_relations_text(ginfo, o)}")
        pairs = sorted({p for d in rep["crossing_by_split_pair"].values() for p in d})
        rows = [[RELATION_LABELS.get(rel, rel), f"{v:,}", *[f"{rep['crossing_by_split_pair'][rel].get(p, 0):,}"
                                                          for p in pairs]]
                for rel, v in rep["crossing_pairs"].items()]
        log.info(tabulate(rows, headers=["relation", "pairs across splits", *pairs], tablefmt="simple",
                          disable_numparse=True))
        g = rep["groups"]
        log.info(f"groups: {g['crossing']:,} of {g['total']:,} cross splits ({g['rows_in_crossing_groups']:,} rows)")
        for e in rep["examples"][:6]:
            log.info(f"  {RELATION_LABELS.get(e['relation'], e['relation'])}: {e['id_a']} ({e['split_a']}) ~ "
                     f"{e['id_b']} ({e['split_b']}), distance {e['distance']}")
        if "inconsistent" in rep:
            log.info(f"Error: {rep['inconsistent']}")
        if rep["result"] == "passed":
            log.info("passed: no related rows in two different splits")
        else:
            log.info(f"FAILED: {total:,} pairs of related rows lie in two different splits")
    if rep["result"] != "passed":
        click.get_current_context().exit(1)


def _summary(log, rep):
    from tabulate import tabulate

    if log.quiet:
        return
    g = rep["grouping"]
    if g.get("grouped_by") == "element coordinates":
        how = f"grouped by the coordinates of {g['distinct_elements']} distinct elements"
    else:
        how = f"flanks removed {g['flanks']['left']}+{g['flanks']['right']} nt"
    log.info(f"dgsplit: {rep['rows']} rows in {g['groups']} groups ({rep['mode']}); {how}")
    rows = [[k, v["rows"], f"{v['fraction']:.3f}", v["groups"]] for k, v in rep["splits"].items()]
    log.info(tabulate(rows, headers=["split", "rows", "fraction", "groups"], tablefmt="simple"))
    if "excluded" in rep:
        e = rep["excluded"]
        log.info(f"excluded (would leak; in no split): {e['held_out_off_test_chromosomes']} held-out rows off the "
                 f"test chromosomes, {e['others_on_test_chromosomes']} other rows on them")
    if "max_proportion_deviation" in rep:
        log.info(f"largest deviation from the overall proportions: {rep['max_proportion_deviation']:.4f}")


main = cli

if __name__ == "__main__":
    cli()
