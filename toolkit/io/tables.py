"""Tables of sequences: format detection (TSV, CSV, FASTA, BED), parsing with
every column kept as text, and the column conventions the commands share
(``id``, ``sequence``, targets, standard errors)."""

import csv
import io
import re

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from .streams import display_name, open_binary, sniff_text

FORMATS = ("auto", "tsv", "csv", "fasta", "bed")

SEQ_ALIASES = ("sequence", "seq", "Sequence", "Seq", "SEQUENCE", "sequence_230nt", "sequence_200nt", "sequences")
ID_ALIASES = ("id", "seq_id", "ID", "IDs", "name", "Name", "sequence_id", "element_id", "element", "oligo_id")

TARGET_PATTERNS = (
    re.compile(r"^.+_l2fc$"),
    re.compile(r"^.+_log2FC$"),
    re.compile(r"^mean_value$"),
    re.compile(r"^(Dev|Hk)_log2_enrichment$"),
)
SE_SUFFIX = "_lfcSE"
MISSING_TOKENS = frozenset(["", "NA", "NaN", "nan", "NAN", "N/A", "na", "null", "NULL", "None", "."])
_DNA_LIKE = re.compile(r"^[ACGTNacgtn]{8,}$")


class SeqTable:
    """A parsed input: all columns as text plus the conventions resolved.

    Attributes
    ----------
    df : pandas.DataFrame
        Every input column as ``str``, in input order.
    seq_col : str
        The column holding sequences.
    id_col : str or None
        The input column holding row ids (None: ids are ``row<N>``).
    lines : numpy.ndarray of int, shape (n,)
        1-based line in the input file where each row starts.
    name : str
        The input's name for messages.
    fmt : str
        ``tsv``, ``csv``, ``fasta`` or ``bed``.
    """

    def __init__(self, df, seq_col, id_col, lines, name, fmt):
        self.df = df
        self.seq_col = seq_col
        self.id_col = id_col
        self.lines = lines
        self.name = name
        self.fmt = fmt

    def __len__(self):
        return len(self.df)

    def ids(self):
        """Row ids: the id column, or ``row<N>`` (N = 1-based data row)."""
        if self.id_col is not None:
            return self.df[self.id_col].to_numpy(dtype=object)
        return np.array([f"row{i + 1}" for i in range(len(self.df))], dtype=object)


def detect_format(text, path=None):
    """Guess the format of an input from its first bytes (and name).

    Returns one of ``tsv``, ``csv``, ``fasta``, ``bed``.
    """
    stripped = text.lstrip()
    if stripped.startswith(">"):
        return "fasta"
    lower = (path or "").lower()
    for suffix in (".gz", ".bgz"):
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
    if lower.endswith((".fa", ".fasta", ".fna")):
        return "fasta"
    if lower.endswith(".bed"):
        return "bed"
    first = ""
    for line in text.splitlines():
        if line.strip() and not line.startswith(("#", "track", "browser")):
            first = line
            break
    fields = first.split("\t")
    if len(fields) >= 3 and fields[1].strip().isdigit() and fields[2].strip().isdigit():
        return "bed"
    if first.count("\t") == 0 and first.count(",") > 0:
        return "csv"
    return "tsv"


def read_table(path, fmt="auto", seq_col=None, id_col=None, genome=None, **bed_options):
    """Read a sequence table from ``path`` (``-`` for standard input).

    Parameters
    ----------
    path : str
        Path, ``-`` or None.
    fmt : str
        One of :data:`FORMATS`.
    seq_col, id_col : str, optional
        Override the detected sequence and id columns.
    genome : str, optional
        FASTA path; required for BED input.
    bed_options : dict
        Passed to :func:`toolkit.io.genome.bed_windows` (length, clip).

    Returns
    -------
    SeqTable
    """
    name = display_name(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    stream = open_binary(path)
    text = sniff_text(stream, name)
    if fmt == "auto":
        fmt = detect_format(text, None if path in (None, "-") else str(path))
    if fmt == "fasta":
        from .fasta import read_fasta

        return read_fasta(stream, name)
    if fmt == "bed":
        if genome is None:
            raise ConfigError(
                "BED input needs a genome",
                file=name,
                hint="add --genome genome.fa (plain, bgzip or gzip FASTA with a .fai index)",
            )
        from .genome import read_bed, bed_windows

        bed = read_bed(stream, name)
        return bed_windows(bed, genome, name=name, **bed_options)
    sep = "\t" if fmt == "tsv" else ","
    df, lines = _read_delimited(stream, name, sep)
    return resolve_columns(df, lines, name, fmt, seq_col=seq_col, id_col=id_col)


def _read_delimited(stream, name, sep):
    """Parse a delimited table; every column as text. Returns (df, line numbers)."""
    data = stream.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"binary or non-UTF-8 data at byte {exc.start}", file=name, line=line,
            hint="give a TSV, CSV, FASTA or BED file in UTF-8 or ASCII",
        ) from None
    del data
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError("binary data (NUL byte)", file=name, line=line, hint="this is not a text table")
    skipped = 0
    # leading comment lines ('#' then not the header) are skipped; the header may itself start with '#'
    while text.startswith("#"):
        nl = text.find("\n")
        line0 = text[: nl if nl >= 0 else len(text)]
        rest = text[nl + 1:] if nl >= 0 else ""
        if rest.startswith("#") or not rest:
            text = rest
            skipped += 1
            continue
        text = text[1:]  # '#col1\tcol2' header
        break
    if not text.strip():
        raise InputError("the input has no header and no rows", file=name, hint="check the file")
    try:
        df = pd.read_csv(
            io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
            quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL, engine="c",
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as exc:
        msg = str(exc)
        m = re.search(r"line (\d+), saw (\d+)", msg)
        exp = re.search(r"Expected (\d+) fields", msg)
        if m:
            raise InputError(
                f"row has {m.group(2)} fields but the header has {exp.group(1) if exp else '?'}",
                file=name, line=int(m.group(1)) + skipped,
                hint="check the delimiter and quoting (use --format tsv or --format csv)",
            ) from None
        raise InputError(f"cannot parse the table ({msg.strip()})", file=name, hint="check the delimiter") from None
    except pd.errors.EmptyDataError:
        raise InputError("the input has no header and no rows", file=name) from None
    if any(str(c).startswith("Unnamed: ") for c in df.columns[:1]) and df.columns[0] == "Unnamed: 0":
        df = df.rename(columns={"Unnamed: 0": "index"})
    df.columns = [str(c).strip() for c in df.columns]
    lines = _data_line_numbers(text, len(df)) + skipped
    for col in df.columns:
        # pandas leaves NaN for fields missing at the end of a short row
        if df[col].isna().any():
            df[col] = df[col].fillna("")
    return df, lines


def _data_line_numbers(text, nrows):
    """1-based file line of each data row, skipping blank lines as the parser does."""
    if "\n\n" not in text and "\n\r\n" not in text and not text.startswith(("\n", "\r\n")):
        return np.arange(nrows, dtype=np.int64) + 2
    lines = text.split("\n")
    nonblank = np.flatnonzero([bool(ln.strip("\r")) for ln in lines]) + 1
    # the first non-blank line is the header
    rows = nonblank[1:nrows + 1]
    if len(rows) < nrows:  # quoted fields spanning lines: fall back to row order
        return np.arange(nrows, dtype=np.int64) + 2
    return rows.astype(np.int64)


def resolve_columns(df, lines, name, fmt, seq_col=None, id_col=None):
    """Find the sequence and id columns of a parsed table and wrap it in a SeqTable."""
    if len(df) == 0:
        raise InputError(
            "the input has a header but no data rows", file=name,
            hint="check the file or the command before the pipe",
        )
    cols = list(df.columns)
    if seq_col is not None:
        if seq_col not in cols:
            raise ConfigError(f"--seq-col '{seq_col}' is not a column", file=name, hint=f"columns are: {', '.join(cols)}")
        found = seq_col
    else:
        found = find_seq_column(df)
        if found is None:
            hint = "name the sequence column with --seq-col"
            if len(cols) == 1:
                hint = ("the header has a single column, so the delimiter may be wrong "
                        "(tables are TSV or CSV; try --format tsv or --format csv) or " + hint)
            raise InputError(
                f"no sequence column found among the columns: {', '.join(repr(c) for c in cols[:12])}",
                file=name, line=1, hint=hint,
            )
    if id_col is not None:
        if id_col not in cols:
            raise ConfigError(f"--id-col '{id_col}' is not a column", file=name, hint=f"columns are: {', '.join(cols)}")
        idc = id_col
    else:
        idc = next((c for c in ID_ALIASES if c in cols and c != found), None)
    return SeqTable(df, found, idc, lines, name, fmt)


def standard_frame(table, seqs=None):
    """The input columns ready for output: ``id`` first (added when the input has
    none), the sequence column named ``sequence`` (values replaced by ``seqs`` when
    given), every other column unchanged and in order; private ``_`` columns dropped.
    """
    cols = [c for c in table.df.columns if not c.startswith("_")]
    out = table.df.loc[:, cols].copy()
    if seqs is not None:
        out[table.seq_col] = seqs
    if table.seq_col != "sequence":
        if "sequence" in out.columns:
            raise ConfigError(f"the input has both a 'sequence' column and the sequence column '{table.seq_col}'",
                              file=table.name, line=1, hint="rename one of them")
        out = out.rename(columns={table.seq_col: "sequence"})
    if "id" not in out.columns:
        out.insert(0, "id", table.ids())
    return out


def find_seq_column(df):
    """The sequence column: a known alias, else the one column whose values look like DNA."""
    cols = list(df.columns)
    for alias in SEQ_ALIASES:
        if alias in cols:
            return alias
    loose = [c for c in cols if re.match(r"^seq(uence)?([_ ].*)?$", c, re.IGNORECASE)]
    if len(loose) == 1:
        return loose[0]
    sample = df.head(50)
    dna = [c for c in cols if len(sample) and sample[c].map(lambda v: bool(_DNA_LIKE.match(v.strip()))).mean() > 0.9]
    if len(dna) == 1:
        return dna[0]
    return None


def target_columns(columns, requested=None):
    """Target columns: those named (comma-separated string or list) or the recognised ones."""
    columns = list(columns)
    if requested:
        names = [t.strip() for t in requested.split(",")] if isinstance(requested, str) else list(requested)
        missing = [t for t in names if t not in columns]
        if missing:
            raise ConfigError(
                f"target column(s) not in the input: {', '.join(missing)}",
                hint=f"columns are: {', '.join(columns)}",
            )
        return names
    return [c for c in columns if any(p.match(c) for p in TARGET_PATTERNS)]


def target_cell_name(target):
    """The cell name of a target column: ``K562_l2fc`` -> ``K562``; None if it has none."""
    for suffix in ("_l2fc", "_log2FC"):
        if target.endswith(suffix):
            return target[: -len(suffix)]
    return None


def se_columns(columns, targets):
    """Map each target to its standard-error column ``<CELL>_lfcSE`` when present."""
    columns = set(columns)
    out = {}
    for t in targets:
        cell = target_cell_name(t)
        if cell is not None and cell + SE_SUFFIX in columns:
            out[t] = cell + SE_SUFFIX
    return out


def parse_numeric(table, column):
    """Parse a text column as float64.

    Missing tokens (empty, NA, NaN, inf) become NaN or +-inf and are left to the
    QC rules; any other non-numeric text is an error naming the line.

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    values = table.df[column]
    out = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(out)
    if bad.any():
        stripped = values[bad].str.strip()
        really_bad = ~stripped.isin(MISSING_TOKENS) & ~stripped.str.lower().isin(["nan", "inf", "-inf", "+inf"])
        if really_bad.any():
            pos = int(np.flatnonzero(bad)[np.flatnonzero(really_bad.to_numpy())[0]])
            raise InputError(
                f"'{values.iloc[pos][:40]}' is not a number",
                file=table.name, line=int(table.lines[pos]), column=column,
                hint="fix the value, or leave it empty (NA) so that QC rejects the row",
            )
    return out


def write_tsv(df, fh, chunk_rows=200_000):
    """Write ``df`` as TSV with one header line.

    Values are written as text, unquoted (as TSV input is read); a chunk with a value
    containing a tab or newline falls back to csv quoting (QUOTE_MINIMAL).
    """
    ncols = len(df.columns)
    fh.write("\t".join(map(str, df.columns)) + "\n")
    for start in range(0, len(df), chunk_rows):
        part = df.iloc[start:start + chunk_rows]
        cols = [part[c].to_numpy(dtype=object) for c in part.columns]
        cols = [c if _all_str(c) else c.astype(str) for c in cols]
        text = "\n".join(map("\t".join, zip(*cols)))
        rows = len(part)
        if text.count("\t") != rows * (ncols - 1) or text.count("\n") != rows - 1:
            part.to_csv(fh, sep="\t", index=False, header=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            continue
        if rows:
            fh.write(text)
            fh.write("\n")


def _all_str(values):
    return all(type(v) is str for v in values)
