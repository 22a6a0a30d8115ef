"""BED intervals and genome windows (pyfaidx), following SPEC.md "Genome windows":
BED is 0-based, end-exclusive; a window of length L is centred at
``floor((start + end) / 2)`` and spans ``[c - floor(L/2), c - floor(L/2) + L)``;
minus-strand windows are reverse-complemented; windows past a chromosome end
are rejected, or clipped and padded with N."""

import numpy as np
import pandas as pd

from ..errors import InputError
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
    """Open a FASTA genome with pyfaidx (plain or BGZF; builds the .fai if it can)."""
    import pyfaidx

    try:
        return pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=True, rebuild=False)
    except FileNotFoundError:
        raise InputError("no such genome FASTA", file=path) from None
    except Exception as exc:  # pyfaidx raises several types for unindexable files
        raise InputError(f"cannot open the genome FASTA ({exc})", file=path,
                         hint="give a plain or bgzip-compressed FASTA (samtools faidx indexes it)") from None


def window(start, end, length):
    """The SPEC window of ``length`` around a BED interval: returns (wstart, wend)."""
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
