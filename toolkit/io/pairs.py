"""Enhancer-promoter pair tables: reading (streamed, split-aware), column layout, and
the enhancer and promoter sequences, given or cut from a genome.

Two layouts are recognised (columns are case-sensitive):

- sequences: ``enhancer_seq`` and ``promoter_seq`` (aliases ``enhancer_sequence``,
  ``promoter_sequence``; or any columns named with ``enhancer_col`` / ``promoter_col``);
- coordinates (the TargetFinder layout): ``enhancer_chrom``, ``enhancer_start``,
  ``enhancer_end``, ``promoter_chrom``, ``promoter_start``, ``promoter_end``, read with
  a genome FASTA. Coordinates are BED-like (0-based, end-exclusive) and each element's
  window follows the toolkit's genome-window rule (toolkit.io.genome): centre ``floor((start + end) / 2)``, span
  ``[centre - floor(L/2), centre - floor(L/2) + L)``; a window past a chromosome end is
  an error naming the line, or with ``clip`` is padded with N.

Besides the sequences a pair has a cell line (``cell``), a 0/1 label (``label``), an
optional genomic distance (``distance``) and, in a training input, dgsplit's ``split``
(``train``, ``val``, ``test``, ``excluded``).
"""

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from . import tables
from .streams import display_name, open_binary, sniff_text

ELEMENTS = ("enhancer", "promoter")
SEQ_ALIASES = {"enhancer": ("enhancer_seq", "enhancer_sequence"), "promoter": ("promoter_seq", "promoter_sequence")}
COORDS = ("chrom", "start", "end")
SPLIT_VALUES = ("train", "val", "test", "excluded")
DEFAULT_WINDOWS = {"enhancer": 3000, "promoter": 2000}


@dataclass
class PairLayout:
    """Which columns of a pair table hold what.

    Attributes
    ----------
    kind : str
        ``sequences`` or ``coordinates``.
    seq : dict element -> column (sequence layout)
    coords : dict element -> (chrom, start, end) columns (coordinate layout; also filled in a
        sequence table that carries them, for chromosome hold-outs)
    cell, label : str
    distance : str or None
    split : str or None
    columns : list of str, every column of the input in order
    """

    kind: str
    seq: dict = field(default_factory=dict)
    coords: dict = field(default_factory=dict)
    cell: str = "cell"
    label: str = "label"
    distance: Optional[str] = None
    split: Optional[str] = None
    columns: list = field(default_factory=list)

    def chrom_columns(self):
        """The chromosome columns of the elements (empty when the table has none)."""
        return [c[0] for c in self.coords.values()]


def _listing(cols):
    shown = ", ".join(repr(c) for c in cols[:12])
    return shown + (f", ... ({len(cols)} columns)" if len(cols) > 12 else "")


def resolve_layout(columns, name, enhancer_col=None, promoter_col=None, cell_col="cell", label_col="label",
                   distance_col=None, need_label=True, need_split=False, genome=None):
    """Find the columns of a pair table.

    Parameters
    ----------
    columns : list of str
    name : str, the input's name for messages
    enhancer_col, promoter_col : str, optional
        Sequence columns (default: the aliases; else coordinates).
    cell_col, label_col : str
    distance_col : str, optional; default ``distance`` when present
    need_label, need_split : bool
    genome : str, optional
        The genome FASTA; required by the coordinate layout.

    Returns
    -------
    PairLayout

    Raises
    ------
    InputError naming line 1 when a needed column is missing (with the delimiter hint when
    the header has a single column); ConfigError for coordinates without a genome.
    """
    cols = list(columns)
    single = len(cols) == 1
    delim = ("; the header has a single column, so the delimiter may be wrong (tables are TSV or CSV)"
             if single else "")

    def missing(what, hint):
        raise InputError(f"{what} among the columns: {_listing(cols)}{delim}", file=name, line=1, hint=hint)

    layout = PairLayout(kind="sequences", columns=cols, cell=cell_col, label=label_col)
    for el, given in (("enhancer", enhancer_col), ("promoter", promoter_col)):
        trio = tuple(f"{el}_{c}" for c in COORDS)
        if all(c in cols for c in trio):
            layout.coords[el] = trio
        if given is not None:
            if given not in cols:
                missing(f"no {el} sequence column: --{el}-col '{given}' is not a column",
                        f"name the {el} sequence column with --{el}-col")
            layout.seq[el] = given
        else:
            found = next((c for c in SEQ_ALIASES[el] if c in cols), None)
            if found is not None:
                layout.seq[el] = found
    if len(layout.seq) < 2:
        if len(layout.coords) == 2 and not layout.seq:
            layout.kind = "coordinates"
            if genome is None:
                raise ConfigError("the pair table has coordinates but no sequences", file=name,
                                  hint="add --genome genome.fa (plain or bgzip FASTA; pyfaidx indexes it)")
        else:
            el = "enhancer" if "enhancer" not in layout.seq else "promoter"
            missing(f"no {el} sequence column ({SEQ_ALIASES[el][0]}) and no coordinates "
                    f"({el}_chrom, {el}_start, {el}_end)",
                    f"give {SEQ_ALIASES['enhancer'][0]} and {SEQ_ALIASES['promoter'][0]} columns, or the "
                    "TargetFinder coordinates with --genome, or name the columns with fit-ep --enhancer-col/--promoter-col "
                    "(predict reads the columns the model was trained on)")
    for what, col, need in (("cell line", cell_col, True), ("label", label_col, need_label)):
        if need and col not in cols:
            missing(f"no {what} column '{col}'", f"name it with fit-ep --{what.split()[0]}-col")
    if distance_col is not None:
        if distance_col not in cols:
            missing(f"no distance column '{distance_col}'", "name it with fit-ep --distance-col (predict reads "
                                                            "the column the model was trained on)")
        layout.distance = distance_col
    elif "distance" in cols:
        layout.distance = "distance"
    if need_split:
        if "split" not in cols:
            missing("no 'split' column", "run dgsplit first (dgsplit pairs.csv --holdout cell=K562 --holdout-chrom), "
                                         "or use --leave-one-cell-out")
        layout.split = "split"
    return layout


class PairRows:
    """Rows of a pair table (every column as text), their file lines and row ids.

    Attributes: df (DataFrame), lines (int64 array, 1-based file lines), ids (object array),
    name (the input's name).
    """

    def __init__(self, df, lines, ids, name):
        self.df = df.reset_index(drop=True)
        self.lines = np.asarray(lines, dtype=np.int64)
        self.ids = np.asarray(ids, dtype=object)
        self.name = name

    def __len__(self):
        return len(self.df)

    def subset(self, mask):
        mask = np.asarray(mask)
        return PairRows(self.df.loc[mask].reset_index(drop=True), self.lines[mask], self.ids[mask], self.name)


def read_pairs(path, layout_args, keep=None, chunk_rows=tables.CHUNK_ROWS):
    """Read a pair table (TSV or CSV, gzip by magic bytes), streamed.

    Parameters
    ----------
    path : str, ``-`` or None (standard input)
    layout_args : dict of keyword arguments for :func:`resolve_layout`
    keep : tuple of split names, optional
        Only rows whose ``split`` is one of these are parsed and kept (the others are
        dropped chunk by chunk, unseen, and counted); None keeps every row.

    Returns
    -------
    layout : PairLayout
    rows : dict split -> PairRows (``all`` when ``keep`` is None); a kept split without rows is None
    dropped : dict split -> count of rows not kept
    """
    name = display_name(path)
    stream = open_binary(path)
    text = sniff_text(stream, name)
    fmt = tables.detect_format(text, None if path in (None, "-") else str(path))
    if fmt in ("fasta", "bed"):
        raise InputError(f"this looks like {fmt.upper()}, not a table of enhancer-promoter pairs", file=name,
                         hint="give a TSV or CSV pair table (enhancer_seq/promoter_seq or the TargetFinder "
                              "coordinates, cell, label)")
    sep = "\t" if fmt == "tsv" else ","
    layout = None
    parts = {k: [] for k in (keep or ("all",))}
    dropped = {}
    offset = 0
    for df, lines in tables._iter_delimited(stream, name, sep, chunk_rows):
        if layout is None:
            layout = resolve_layout(list(df.columns), name, **layout_args)
        ids = _row_ids(df, offset)
        offset += len(df)
        if keep is None:
            parts["all"].append((df, lines, ids))
            continue
        split = np.array([v.strip() for v in df[layout.split]], dtype=object)
        bad = ~np.isin(split, SPLIT_VALUES)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"split value '{split[i]}' is not train, val, test or excluded", file=name,
                             line=int(lines[i]), column=layout.split, hint="use dgsplit's output unchanged")
        for k in SPLIT_VALUES:
            m = split == k
            if not m.any():
                continue
            if k in parts:
                parts[k].append((df.loc[m], lines[m], ids[m]))
            else:
                dropped[k] = dropped.get(k, 0) + int(m.sum())
    if layout is None:
        raise InputError("the input has a header but no data rows", file=name,
                         hint="check the file or the command before the pipe")
    rows = {}
    for k, p in parts.items():
        rows[k] = None if not p else PairRows(pd.concat([x[0] for x in p], ignore_index=True),
                                              np.concatenate([x[1] for x in p]), np.concatenate([x[2] for x in p]),
                                              name)
    return layout, rows, dropped


def _row_ids(df, offset):
    for c in tables.ID_ALIASES:
        if c in df.columns:
            return df[c].to_numpy(dtype=object)
    return np.array([f"row{i}" for i in range(offset + 1, offset + len(df) + 1)], dtype=object)


def labels(rows, layout):
    """The 0/1 labels of the rows, float64 (n,).

    Text that is not a number is an InputError naming line and column; numbers other
    than 0 and 1 (or a missing label) are refused too.
    """
    y = tables.parse_numeric_values(rows.df[layout.label], rows.lines, rows.name, layout.label,
                                    hint="labels are 0 (no interaction) or 1 (interaction)")
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"label '{rows.df[layout.label].iloc[i]}' is not 0 or 1", file=rows.name,
                         line=int(rows.lines[i]), column=layout.label,
                         hint="labels are 0 (no interaction) or 1 (interaction)")
    return y


def distances(rows, layout):
    """The distance column as float64 (n,) (NaN where missing), or None when the table has none;
    a signed distance (upstream negative) counts by its magnitude.

    Without a distance column but with coordinates, the distance between the element
    centres on the same chromosome (NaN across chromosomes)."""
    if layout.distance is not None:
        return np.abs(tables.parse_numeric_values(rows.df[layout.distance], rows.lines, rows.name, layout.distance,
                                                  hint="give the enhancer-promoter distance in bp, or leave it empty"))
    if len(layout.coords) == 2:
        ec, es, ee = layout.coords["enhancer"]
        pc, ps, pe = layout.coords["promoter"]
        e_mid = (integer_column(rows, es) + integer_column(rows, ee)) // 2
        p_mid = (integer_column(rows, ps) + integer_column(rows, pe)) // 2
        same = rows.df[ec].to_numpy(dtype=object) == rows.df[pc].to_numpy(dtype=object)
        return np.where(same, np.abs(e_mid - p_mid).astype(np.float64), np.nan)
    return None


def cells(rows, layout):
    """Cell line of each row (stripped text, object array); an empty cell is an error."""
    c = np.array([v.strip() for v in rows.df[layout.cell]], dtype=object)
    empty = c == ""
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InputError("empty cell line", file=rows.name, line=int(rows.lines[i]), column=layout.cell,
                         hint="every pair needs the cell line it was measured in")
    return c


def chromosomes(rows, layout):
    """Chromosome(s) of each row, object array (n, k) over the elements' chrom columns, or None."""
    cols = layout.chrom_columns()
    if not cols:
        return None
    return rows.df[cols].to_numpy(dtype=object)


def integer_column(rows, col):
    """A coordinate column as int64 (n,); anything but a non-negative integer is an error
    naming line and column."""
    vals = rows.df[col].to_numpy(dtype=object)
    out = np.empty(len(vals), dtype=np.int64)
    for i, v in enumerate(vals):
        v = v.strip()
        if not v.isdigit():
            raise InputError(f"'{v[:40]}' is not a non-negative integer coordinate", file=rows.name,
                             line=int(rows.lines[i]), column=col, hint="coordinates are 0-based BED positions")
        out[i] = int(v)
    return out


def sequences(rows, layout, genome=None, lengths=None, clip=False):
    """The enhancer and promoter sequences of the rows.

    Parameters
    ----------
    rows : PairRows
    layout : PairLayout
    genome : str, optional
        FASTA path (coordinate layout).
    lengths : dict element -> window length (coordinate layout; default 3,000 / 2,000)
    clip : bool
        Pad windows past a chromosome end with N instead of refusing them.

    Returns
    -------
    dict element -> list of str (uppercase A/C/G/T/N)

    Raises
    ------
    InputError naming line and column: an empty sequence or a character outside A/C/G/T/N
    (sequence layout); an unknown chromosome, a bad coordinate or a window past a
    chromosome end without ``clip`` (coordinate layout).
    """
    out = {}
    if layout.kind == "sequences":
        for el in ELEMENTS:
            t = tables.SeqTable(rows.df, layout.seq[el], None, rows.lines, rows.name, "tsv")
            out[el] = tables.clean_sequences(t)
        return out
    from .genome import open_genome, window

    lengths = {**DEFAULT_WINDOWS, **(lengths or {})}
    fa = open_genome(genome)
    sizes = {k: len(v) for k, v in fa.items()}
    for el in ELEMENTS:
        cc, sc, ec = layout.coords[el]
        chroms = [v.strip() for v in rows.df[cc]]
        starts, ends = integer_column(rows, sc), integer_column(rows, ec)
        L = int(lengths[el])
        cache = {}
        seqs = []
        for i, (c, s, e) in enumerate(zip(chroms, starts, ends)):
            if e < s:
                raise InputError(f"{el} end is before its start", file=rows.name, line=int(rows.lines[i]), column=ec)
            key = (c, int(s), int(e))
            seq = cache.get(key)
            if seq is None:
                if c not in sizes:
                    raise InputError(f"{el} chromosome '{c}' is not in the genome {genome}", file=rows.name,
                                     line=int(rows.lines[i]), column=cc,
                                     hint="use the genome build the coordinates refer to (TargetFinder: hg19)")
                ws, we = window(int(s), int(e), L)
                size = sizes[c]
                if (ws < 0 or we > size) and not clip:
                    raise InputError(f"the {L:,} bp {el} window {c}:{ws}-{we} runs past the chromosome end "
                                     f"({size:,} bp)", file=rows.name, line=int(rows.lines[i]), column=sc,
                                     hint="drop the row, or train with fit-ep --clip, which pads it with N")
                lo, hi = max(ws, 0), min(we, size)
                core = str(fa[c][lo:hi]) if hi > lo else ""
                seq = "N" * (lo - ws) + core + "N" * (we - hi)
                cache[key] = seq
            seqs.append(seq)
        out[el] = seqs
    return out
