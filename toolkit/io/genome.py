"""BED intervals and genome windows (pyfaidx), the same rule in every command:
BED is 0-based, end-exclusive; a window of length L is centred at
``floor((start + end) / 2)`` and spans ``[c - floor(L/2), c - floor(L/2) + L)``;
minus-strand windows are reverse-complemented; windows past a chromosome end
are rejected, or clipped and padded with N."""

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..seq import reverse_complement
from .tables import SeqTable

BED_COLUMNS = ("chrom", "start", "end", "name", "score", "strand")


def read_bed(stream, name):
    """Parse BED (3 to 12+ columns, no header; track/browser/# lines skipped).

    Returns a DataFrame with text columns ``chrom, start, end[, name, score, strand, ...]``
    and a ``_line`` column with the 1-based line of each interval.
    """
    text = stream.read().decode("utf-8", errors="replace")
    rows, lines = [], []
    width = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.rstrip("\r").split("\t")
        if width is None:
            width = len(fields)
        if len(fields) < 3:
            raise InputError(f"BED line has {len(fields)} fields, at least 3 are needed", file=name, line=lineno,
                             hint="BED is tab-separated: chrom, start, end[, name, score, strand]")
        if len(fields) != width:
            raise InputError(f"BED line has {len(fields)} fields, the first line had {width}", file=name, line=lineno)
        for col, val in zip(("start", "end"), fields[1:3]):
            if not val.strip().isdigit():
                raise InputError(f"BED {col} '{val}' is not a non-negative integer", file=name, line=lineno, column=col)
        if int(fields[2]) < int(fields[1]):
            raise InputError("BED end is before start", file=name, line=lineno, column="end")
        if len(fields) >= 6 and fields[5] not in ("+", "-", "."):
            raise InputError(f"BED strand '{fields[5]}' is not +, - or .", file=name, line=lineno, column="strand")
        rows.append(fields)
        lines.append(lineno)
    if not rows:
        raise InputError("the BED input has no intervals", file=name)
    names = list(BED_COLUMNS[: min(width, 6)]) + [f"bed{i + 1}" for i in range(6, width)]
    df = pd.DataFrame(rows, columns=names, dtype=str)
    df["_line"] = lines
    return df


def open_genome(path):
    """Open a FASTA genome with pyfaidx (plain or BGZF; builds the .fai if it can).
    An already open ``pyfaidx.Fasta`` is returned as it is."""
    import pyfaidx

    if isinstance(path, pyfaidx.Fasta):
        return path
    try:
        return pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=True, rebuild=False)
    except FileNotFoundError:
        raise InputError("no such genome FASTA", file=path) from None
    except Exception as exc:  # pyfaidx raises several types for unindexable files
        raise InputError(f"cannot open the genome FASTA ({exc})", file=path,
                         hint="give a plain or bgzip-compressed FASTA (samtools faidx indexes it)") from None


def window(start, end, length):
    """The window of ``length`` centred on a BED interval (centre floor((start + end) / 2),
    wstart = centre - length // 2): returns (wstart, wend)."""
    centre = (start + end) // 2
    wstart = centre - length // 2
    return wstart, wstart + length


def bed_windows(bed, genome, length=None, clip=False, name="<bed>"):
    """Fetch the sequence of every BED interval (resized to ``length`` if given).

    Returns a :class:`SeqTable` with the BED columns, ``window_start``,
    ``window_end``, ``sequence``, an ``id`` (the BED name, else
    ``chrom:start-end(strand)`` of the window) and a private ``_qc_reject``
    column holding the reason a window could not be fetched (empty when it was)
    and ``_n_pad`` (Ns added by clipping).
    """
    fa = open_genome(genome)
    sizes = {k: len(v) for k, v in fa.items()}
    n = len(bed)
    seqs = np.empty(n, dtype=object)
    reasons = np.empty(n, dtype=object)
    pads = np.zeros(n, dtype=np.int64)
    wstarts = np.zeros(n, dtype=np.int64)
    wends = np.zeros(n, dtype=np.int64)
    strands = bed["strand"].to_numpy() if "strand" in bed else np.full(n, ".", dtype=object)
    starts = bed["start"].astype(np.int64).to_numpy()
    ends = bed["end"].astype(np.int64).to_numpy()
    chroms = bed["chrom"].to_numpy()
    for i in range(n):
        chrom = chroms[i]
        s, e = (window(starts[i], ends[i], length) if length else (starts[i], ends[i]))
        wstarts[i], wends[i] = s, e
        reasons[i] = ""
        seqs[i] = ""
        if chrom not in sizes:
            reasons[i] = "unknown_chrom"
            continue
        size = sizes[chrom]
        lo, hi = max(s, 0), min(e, size)
        if (s < 0 or e > size) and not clip:
            reasons[i] = "out_of_bounds"
            continue
        if hi <= lo:
            reasons[i] = "out_of_bounds"
            continue
        core = fa[chrom][int(lo):int(hi)]
        left, right = lo - s, e - hi
        pads[i] = left + right
        seq = "N" * left + core + "N" * right
        if strands[i] == "-":
            seq = reverse_complement(seq)
        seqs[i] = seq
    df = bed.drop(columns=["_line"]).copy()
    ids = [f"{c}:{s}-{e}({st if st in '+-' else '.'})" for c, s, e, st in zip(chroms, wstarts, wends, strands)]
    if "name" in df and (df["name"] != ".").all() and df["name"].is_unique:
        df.insert(0, "id", df["name"].to_numpy())
    else:
        df.insert(0, "id", ids)
    df["window_start"] = wstarts.astype(str)
    df["window_end"] = wends.astype(str)
    df["sequence"] = seqs
    df["_qc_reject"] = reasons
    df["_n_pad"] = pads
    return SeqTable(df, "sequence", "id", bed["_line"].to_numpy(dtype=np.int64), name, "bed")


# --- tiling -----------------------------------------------------------------------------------

TILE_STRANDS = ("auto", "+", "-", "both")


def chromosome_regions(genome, chroms=None):
    """Whole chromosomes as regions to tile.

    Parameters
    ----------
    genome : str or pyfaidx.Fasta
        The genome FASTA (path) or an open one.
    chroms : list of str, optional
        Chromosomes to keep, in this order (default: every sequence of the FASTA, in its order).

    Returns
    -------
    pandas.DataFrame with text columns ``chrom, start, end`` (``0`` and the chromosome's
    length) and ``_line`` (0: a window of a whole chromosome has no input line).
    """
    fa = open_genome(genome)
    sizes = {k: len(v) for k, v in fa.items()}
    if chroms:
        wanted = list(dict.fromkeys(c.strip() for c in chroms if c.strip()))
        missing = [c for c in wanted if c not in sizes]
        if missing:
            shown = ", ".join(list(sizes)[:20]) + (", ..." if len(sizes) > 20 else "")
            raise ConfigError(f"chromosome(s) not in the genome: {', '.join(missing)}",
                              hint=f"the genome has: {shown}")
    else:
        wanted = list(sizes)
    if not wanted:
        raise InputError("the genome FASTA has no sequences")
    return pd.DataFrame({"chrom": wanted, "start": ["0"] * len(wanted),
                         "end": [str(sizes[c]) for c in wanted], "_line": np.zeros(len(wanted), dtype=np.int64)})


def tile_layout(start, end, width, step, reverse=False):
    """The windows of one region ``[start, end)``, laid out from its 5' end.

    Window k covers ``[start + k*step, start + k*step + width)``; with ``reverse`` (a
    minus-strand region) it is mirrored: ``[end - k*step - width, end - k*step)``. Full
    windows are those inside the region; then, if bases at the region's 3' end are not
    covered yet, one partial window: the remaining bases from the next step on
    (shorter than ``width``). With ``step > width`` the bases between windows are skipped,
    and so is a tail that falls in such a gap.

    Returns
    -------
    n_full : int, the number of full windows
    partial : (wstart, wend) of the partial window's bases, or None
    """
    length = end - start
    n_full = (length - width) // step + 1 if length >= width else 0
    covered = (n_full - 1) * step + width if n_full else 0
    off = n_full * step
    partial = None
    if covered < length and off < length:
        partial = (start, end - off) if reverse else (start + off, end)
    return n_full, partial


class _Rows:
    """Column lists of the windows made so far (one chunk)."""

    def __init__(self):
        self.region, self.chrom, self.ws, self.we, self.strand = [], [], [], [], []
        self.seq, self.reason, self.detail, self.pad = [], [], [], []

    def __len__(self):
        return len(self.region)

    def add(self, region, chrom, ws, we, strand, seq, reason="", detail="", pad=0):
        self.region.append(region)
        self.chrom.append(chrom)
        self.ws.append(ws)
        self.we.append(we)
        self.strand.append(strand)
        self.seq.append(seq)
        self.reason.append(reason)
        self.detail.append(detail)
        self.pad.append(pad)


def tile_regions(regions, genome, width, step=None, strand="auto", clip=False, chunk_rows=100_000,
                 name="<bed>", fmt="bed", stats=None):
    """Tile regions into windows of ``width`` bases every ``step`` bases, streamed in chunks.

    Windows are laid out from each region's 5' end (see :func:`tile_layout`): its start,
    or its end for a minus-strand BED region. ``strand`` says which strand each window's
    sequence is read from: ``auto`` the region's (BED column 6; ``.`` or no column: the
    forward strand, labelled ``.``; whole chromosomes: ``+``), ``+``, ``-``, or ``both``
    (each window twice, ``+`` then ``-``). Minus-strand sequences are reverse complements.

    Every window is a row, kept or marked for rejection in ``_qc_reject`` (nothing is lost):
    ``partial_window`` (the last, shorter window of a region; with ``clip`` it is padded
    with N on the side where the region ends and kept), ``out_of_bounds`` (a window past
    the chromosome end; with ``clip`` the region is first cut at the chromosome end),
    ``unknown_chrom`` and ``empty_region`` (one row per region and strand).

    Parameters
    ----------
    regions : pandas.DataFrame
        Text columns ``chrom, start, end`` (BED, 0-based, end-exclusive), optionally
        ``strand`` and others, and ``_line`` (input line of each region), as from
        :func:`read_bed` or :func:`chromosome_regions`.
    genome : str or pyfaidx.Fasta
    width, step : int
        Window width and step (default: ``width``, adjacent windows).
    chunk_rows : int
        Rows per chunk: memory is bounded by it, not by the chromosome or region size.
    stats : dict, optional
        Filled with counts of rows: ``full_windows``, ``partial_windows`` (``partial_padded`` +
        ``partial_rejected``), ``out_of_bounds``, ``unknown_chrom`` and ``empty_region``, which add
        up to ``rows``; and ``regions``.

    Yields
    ------
    SeqTable
        Columns: ``id`` (``chrom:start-end(strand)`` of the window's bases, 0-based,
        end-exclusive), the region's columns (``strand`` set to, or added as, the window's
        strand), ``window_start``, ``window_end``, ``sequence`` (``width`` bases; shorter
        in a rejected partial window, empty in other rejected rows), and the private
        ``_qc_reject``, ``_qc_detail`` and ``_n_pad`` (Ns of padding).
    """
    step = width if step is None else step
    if width < 1 or step < 1:
        raise ConfigError("--tile and --step must be positive integers")
    if strand not in TILE_STRANDS:
        raise ConfigError(f"unknown strand '{strand}'", hint=f"use one of {', '.join(TILE_STRANDS)}")
    fa = open_genome(genome)
    sizes = {k: len(v) for k, v in fa.items()}
    st = stats if stats is not None else {}
    for k in ("regions", "rows", "full_windows", "partial_windows", "partial_padded", "partial_rejected",
              "out_of_bounds", "unknown_chrom", "empty_region"):
        st[k] = 0
    has_strand = "strand" in regions.columns
    chroms = regions["chrom"].to_numpy(dtype=object)
    starts = regions["start"].astype(np.int64).to_numpy()
    ends = regions["end"].astype(np.int64).to_numpy()
    rstrands = regions["strand"].to_numpy(dtype=object) if has_strand else None
    default = "." if fmt == "bed" else "+"
    rows = _Rows()
    offset = 0
    per_fetch = max(1, min(chunk_rows // 2, 20_000_000 // step))  # at most ~20 MB of sequence per fetch

    def flush():
        nonlocal rows, offset
        table = _tile_table(regions, rows, name, fmt, offset)
        offset += len(rows)
        st["rows"] += len(rows)
        rows = _Rows()
        return table

    for i in range(len(regions)):
        st["regions"] += 1
        chrom, s, e = chroms[i], int(starts[i]), int(ends[i])
        rs = rstrands[i] if has_strand and rstrands[i] in ("+", "-") else default
        out = {"auto": [rs], "+": ["+"], "-": ["-"], "both": ["+", "-"]}[strand]
        reverse = rs == "-"
        if chrom not in sizes:
            for o in out:
                rows.add(i, chrom, s, e, o, "", "unknown_chrom", f"'{chrom}' is not in the genome")
            st["unknown_chrom"] += len(out)
        elif e <= s:
            for o in out:
                rows.add(i, chrom, s, e, o, "", "empty_region", "the region has no bases")
            st["empty_region"] += len(out)
        elif clip and s >= sizes[chrom]:
            for o in out:
                rows.add(i, chrom, s, e, o, "", "out_of_bounds", f"the region starts past the chromosome end "
                         f"({sizes[chrom]})")
            st["out_of_bounds"] += len(out)
        else:
            size = sizes[chrom]
            if clip:
                e = min(e, size)
            n_full, partial = tile_layout(s, e, width, step, reverse)
            seq_of = fa[chrom]
            for k0 in range(0, n_full, per_fetch):
                k1 = min(n_full, k0 + per_fetch)
                if reverse:
                    lo, hi = e - (k1 - 1) * step - width, e - k0 * step
                else:
                    lo, hi = s + k0 * step, s + (k1 - 1) * step + width
                dense = step <= 2 * width  # one fetch for the batch; else one per window
                text = seq_of[lo:min(hi, size)] if dense and lo < size else ""
                for k in range(k0, k1):
                    ws = e - k * step - width if reverse else s + k * step
                    we = ws + width
                    if we > size:
                        for o in out:
                            rows.add(i, chrom, ws, we, o, "", "out_of_bounds",
                                     f"window end {we} is past the chromosome end ({size})")
                        st["out_of_bounds"] += len(out)
                        continue
                    core = text[ws - lo:we - lo] if dense else seq_of[ws:we]
                    for o in out:
                        rows.add(i, chrom, ws, we, o, reverse_complement(core) if o == "-" else core)
                    st["full_windows"] += len(out)
                    if len(rows) >= chunk_rows:
                        yield flush()
            if partial is not None:
                ws, we = partial
                if we > size:  # only without clip: the region runs past the chromosome end
                    for o in out:
                        rows.add(i, chrom, ws, we, o, "", "out_of_bounds",
                                 f"window end {we} is past the chromosome end ({size})")
                    st["out_of_bounds"] += len(out)
                else:
                    st["partial_windows"] += len(out)
                    core = seq_of[ws:we]
                    pad = width - len(core)
                    padded = "N" * pad + core if reverse else core + "N" * pad
                    for o in out:
                        if clip:
                            rows.add(i, chrom, ws, we, o, reverse_complement(padded) if o == "-" else padded,
                                     pad=pad)
                        else:
                            rows.add(i, chrom, ws, we, o, reverse_complement(core) if o == "-" else core,
                                     "partial_window", f"{we - ws} of {width} bases at the region's end "
                                     "(--clip pads it with N)")
                    st["partial_padded" if clip else "partial_rejected"] += len(out)
        if len(rows) >= chunk_rows:
            yield flush()
    if len(rows) or offset == 0:
        yield flush()


def _tile_table(regions, rows, name, fmt, offset):
    """A chunk of windows as a SeqTable (see :func:`tile_regions`)."""
    idx = np.asarray(rows.region, dtype=np.int64)
    cols = [c for c in regions.columns if c != "_line"]
    df = regions.iloc[idx][cols].reset_index(drop=True)
    strands = np.asarray(rows.strand, dtype=object)
    df["strand"] = strands  # the window's strand: replaces the region's column, or is added after them
    ws = np.asarray(rows.ws, dtype=np.int64)
    we = np.asarray(rows.we, dtype=np.int64)
    df.insert(0, "id", [f"{c}:{a}-{b}({o})" for c, a, b, o in zip(rows.chrom, ws.tolist(), we.tolist(), rows.strand)])
    df["window_start"] = ws.astype(str).astype(object)
    df["window_end"] = we.astype(str).astype(object)
    df["sequence"] = np.asarray(rows.seq, dtype=object)
    df["_qc_reject"] = np.asarray(rows.reason, dtype=object)
    df["_qc_detail"] = np.asarray(rows.detail, dtype=object)
    df["_n_pad"] = np.asarray(rows.pad, dtype=np.int64)
    lines = regions["_line"].to_numpy(dtype=np.int64)[idx]
    return SeqTable(df, "sequence", "id", lines, name, fmt, row_offset=offset)
