"""Tables of sequences: format detection (TSV, CSV, FASTA, BED), parsing with
every column kept as text, and the column conventions the commands share
(``id``, ``sequence``, targets, standard errors)."""

import csv
import io
import itertools
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
# names that are not a sequence column although they start with 'seq': ids and names
# (seq_id, sequence_name), and a whole header read as one column (seq_id;seq;value)
_NOT_SEQ_NAME = re.compile(r"([_ ](ids?|names?)$)|[,;|\t\"]", re.IGNORECASE)


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
    row_offset : int
        Data rows before this one (chunks of a stream): ids ``row<N>`` continue across chunks.
    ids : array of str, optional
        Row ids to report instead (rows gathered from several chunks keep their own).
    """

    def __init__(self, df, seq_col, id_col, lines, name, fmt, row_offset=0, ids=None):
        self.row_offset = row_offset
        self._ids = ids
        self.df = df
        self.seq_col = seq_col
        self.id_col = id_col
        self.lines = lines
        self.name = name
        self.fmt = fmt

    def __len__(self):
        return len(self.df)

    def ids(self):
        """Row ids: those given, the id column, or ``row<N>`` (N = 1-based data row)."""
        if self._ids is not None:
            return self._ids
        if self.id_col is not None:
            return self.df[self.id_col].to_numpy(dtype=object)
        start = self.row_offset + 1
        return np.array([f"row{i}" for i in range(start, start + len(self.df))], dtype=object)


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


CHUNK_ROWS = 100_000


def read_table(path, fmt="auto", seq_col=None, id_col=None, genome=None, require_seq=True, **bed_options):
    """Read a whole sequence table from ``path`` (``-`` for standard input).

    Same parameters as :func:`iter_table`; returns one :class:`SeqTable`.
    """
    chunks = list(iter_table(path, fmt=fmt, seq_col=seq_col, id_col=id_col, genome=genome,
                             require_seq=require_seq, **bed_options))
    if len(chunks) == 1:
        return chunks[0]
    first = chunks[0]
    df = pd.concat([c.df for c in chunks], ignore_index=True)
    lines = np.concatenate([c.lines for c in chunks])
    return SeqTable(df, first.seq_col, first.id_col, lines, first.name, first.fmt)


def iter_table(path, fmt="auto", seq_col=None, id_col=None, genome=None, chunk_rows=CHUNK_ROWS,
               require_seq=True, shard=None, head=None, shard_align=1, **bed_options):
    """Read a sequence table in chunks of at most ``chunk_rows`` rows.

    Parameters
    ----------
    path : str
        Path, ``-`` or None (standard input); gzip is recognised by its magic bytes.
    fmt : str
        One of :data:`FORMATS`; ``auto`` detects it from the content.
    seq_col, id_col : str, optional
        Override the detected sequence and id columns.
    genome : str, optional
        FASTA path; required for BED input.
    chunk_rows : int
        Rows per chunk; TSV/CSV are read line by line so memory stays bounded.
    require_seq : bool
        False: a TSV/CSV without a sequence column is read with ``seq_col`` None (for
        tables of genomic coordinates, e.g. enhancer-promoter pairs) instead of being an error.
    shard : (int, int), optional
        ``(I, N)``, 1 <= I <= N: yield only the rows of shard I of N (:func:`shard_bounds`),
        with their global ``row_offset`` (ids ``row<N>``) and file lines. A delimited
        ``path`` is counted in a first pass, so it must be a file, not standard input.
        Columns are still resolved on the input's first rows, so every shard agrees.
        An empty shard yields one chunk of no rows (its columns).
    shard_align : int
        Shard boundaries are rounded up to multiples of this (see :func:`shard_bounds`).
    head : callable, optional
        Called once with the input's first chunk (up to ``chunk_rows`` rows, before any
        shard selection), for decisions that must not depend on the shard.
    bed_options : dict
        Passed to :func:`toolkit.io.genome.bed_windows` (length, clip).

    Yields
    ------
    SeqTable
        Chunks with the same columns, consecutive ``row_offset`` and file line numbers.
        Raises InputError before yielding anything if the input has no data rows.
    """
    name = display_name(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    stream = open_binary(path)
    text = sniff_text(stream, name)
    if fmt == "auto":
        fmt = detect_format(text, None if path in (None, "-") else str(path))
    if fmt in ("fasta", "bed"):
        if fmt == "fasta":
            from .fasta import read_fasta

            whole = read_fasta(stream, name)
        else:
            if genome is None:
                raise ConfigError("BED input needs a genome to read its sequences", file=name,
                                  hint="cut the windows with seqqc first (seqqc regions.bed --genome genome.fa "
                                       "--length L > windows.tsv; plain, bgzip or gzip FASTA), then give that table")
            from .genome import bed_windows, read_bed

            whole = bed_windows(read_bed(stream, name), genome, name=name, **bed_options)
        if head is not None and len(whole):
            head(SeqTable(whole.df.iloc[:chunk_rows].reset_index(drop=True), whole.seq_col, whole.id_col,
                          whole.lines[:chunk_rows], name, fmt))
        lo, hi = (0, len(whole)) if shard is None else shard_bounds(len(whole), *shard, align=shard_align)
        for start in range(lo, hi, chunk_rows):
            stop = min(start + chunk_rows, hi)
            part = whole.df.iloc[start:stop].reset_index(drop=True)
            yield SeqTable(part, whole.seq_col, whole.id_col, whole.lines[start:stop], name, fmt,
                           row_offset=start)
        if lo == hi and shard is not None and len(whole):
            yield SeqTable(whole.df.iloc[0:0], whole.seq_col, whole.id_col, whole.lines[0:0], name, fmt,
                           row_offset=lo)
        return
    sep = "\t" if fmt == "tsv" else ","
    lo, hi = 0, None
    if shard is not None:
        lo, hi = shard_bounds(count_rows(path, fmt), *shard, align=shard_align)
    cols = None       # (seq_col, id_col), resolved on the first block
    empty = None      # the first block without rows: an empty shard's one chunk
    offset = 0        # data rows before this block
    yielded = False

    def wanted(before, rows):
        """Parse the first block (columns) and the blocks that hold rows of the shard."""
        return cols is None or (before + rows > lo and before < hi)

    for df, lines in _iter_delimited(stream, name, sep, chunk_rows, parse=None if shard is None else wanted):
        m = len(lines)
        if cols is None:
            first = resolve_columns(df, lines, name, fmt, seq_col=seq_col, id_col=id_col, require_seq=require_seq)
            cols = (first.seq_col, first.id_col)
            empty = df.iloc[0:0].copy()  # a copy: a view would keep the whole first block alive
            if head is not None:
                head(first)
            del first
        if df is not None:
            a, b = max(lo - offset, 0), m if hi is None else min(hi - offset, m)
            if a < b:
                if (a, b) != (0, m):
                    df, lines = df.iloc[a:b].reset_index(drop=True), lines[a:b]
                yielded = True
                yield SeqTable(df, cols[0], cols[1], lines, name, fmt, row_offset=offset + a)
        offset += m
        del df, lines  # not held while the next block is read
        if hi is not None and offset >= hi:
            break
    if cols is None:
        raise InputError("the input has a header but no data rows", file=name,
                         hint="check the file or the command before the pipe")
    if shard is not None and not yielded:
        yield SeqTable(empty, cols[0], cols[1], np.zeros(0, dtype=np.int64), name, fmt, row_offset=lo)


def shard_bounds(n, index, count, align=1):
    """Rows ``[start, stop)`` (0-based data rows) of shard ``index`` of ``count`` (1-based).

    Shards are contiguous and near-equal: shard I holds rows ceil((I-1)n/N) to
    ceil(In/N), so shards 1..N in order are the rows in order, sizes differ by at most
    one, and shard 1 is empty only when the input is. With ``align`` > 1 every
    boundary is rounded up to a multiple of ``align`` (at most ``n``), so that a command
    working in batches of ``align`` rows forms the same batches sharded or not.
    """
    if not 1 <= index <= count:
        raise ConfigError(f"shard {index}/{count}: the index must be between 1 and {count}")

    def edge(k):
        b = -(-k * n // count)
        return min(n, -(-b // align) * align)

    return edge(index - 1), edge(index)


def count_rows(path, fmt="auto"):
    """The number of data rows of a delimited table file, as :func:`iter_table` reads them
    (blank lines, leading comments and the header not counted), without parsing fields."""
    name = display_name(path)
    if path in (None, "-"):
        raise ConfigError("cannot count the rows of standard input", file=name,
                          hint="give the input as a file to process a shard of it")
    stream = open_binary(path)
    try:
        text = sniff_text(stream, name)
        if fmt == "auto":
            fmt = detect_format(text, str(path))
        if fmt in ("fasta", "bed"):
            raise ConfigError(f"count_rows reads delimited tables, not {fmt}", file=name)
        sep = "\t" if fmt == "tsv" else ","
        return sum(len(nums) for _, nums in _iter_delimited(stream, name, sep, CHUNK_ROWS,
                                                            parse=lambda before, rows: False))
    finally:
        stream.close()


def _iter_delimited(stream, name, sep, chunk_rows, parse=None):
    """Parse a delimited table block by block; every column as text.

    Blank lines are skipped; leading ``#`` comment lines are skipped and a header
    may itself start with ``#``. Yields (DataFrame, 1-based file line of each row).
    ``parse(rows_before, rows)``, when given, says whether a block is parsed; an
    unparsed block is yielded as (None, lines) at the cost of splitting lines only.
    """
    reader = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    lineno = 0

    def lines():
        nonlocal lineno
        while True:
            try:
                line = reader.readline()
            except UnicodeDecodeError as exc:
                raise InputError(f"binary or non-UTF-8 data ({exc.reason})", file=name, line=lineno + 1,
                                 hint="give a TSV, CSV, FASTA or BED file in UTF-8 or ASCII") from None
            if not line:
                return
            lineno += 1
            yield lineno, line

    it = lines()
    header = None
    pending = None
    pending_num = header_num = None
    for num, line in it:
        if not line.strip():
            continue
        if line.startswith("#"):
            pending, pending_num = line, num
            continue
        header, header_num = line, num
        break
    if header is None:
        if pending is not None:  # only '#' lines: the last one is the header
            header, header_num = pending[1:], pending_num
        else:
            raise InputError("the input has no header and no rows", file=name, hint="check the file")
    elif pending is not None and header is not None and _looks_like_header_comment(pending, header, sep):
        # '#col1<TAB>col2' then data: the commented line was the header
        block, nums = [header], [lineno]
        header = pending[1:]
        yield from _blocks(it, block, nums, header, name, sep, chunk_rows, parse, header_line=pending_num)
        return
    yield from _blocks(it, [], [], header, name, sep, chunk_rows, parse, header_line=header_num)


def _looks_like_header_comment(comment, first, sep):
    c, f = comment.count(sep), first.count(sep)
    # the first data row may end with one trailing delimiter more than the header
    return c > 0 and (c == f or (c + 1 == f and first.rstrip("\r\n").endswith(sep)))


def _blocks(it, block, nums, header, name, sep, chunk_rows, parse=None, header_line=1):
    """Group lines into blocks of ``chunk_rows`` non-blank lines and parse each
    (or, where ``parse(rows_before, rows)`` is false, yield (None, lines))."""
    names, quoted = _parse_header(header, name, sep, header_line)
    state = {}  # "trail": data rows end with one trailing delimiter (decided on the first row)
    before = 0
    while True:
        batch = list(itertools.islice(it, chunk_rows - len(block)))
        more = bool(batch)
        if batch:
            if any(not line.strip("\r\n") for _, line in batch):
                batch = [(num, line) for num, line in batch if line.strip("\r\n")]
            block.extend(line for _, line in batch)
            nums.extend(num for num, _ in batch)
            batch = None
            if len(block) < chunk_rows:
                continue
        if block:
            if parse is None or parse(before, len(block)):
                if not block[-1].endswith("\n"):
                    block[-1] += "\n"
                parsed = _parse_block(names, quoted, block, nums, name, sep, state)
            else:
                parsed = (None, np.asarray(nums, dtype=np.int64))
            before += len(block)
            block, nums = [], []  # the raw lines are not held while the caller works on the block
            yield parsed
            parsed = None
        if not more:
            return


_NO_TABS_HINT = "remove tabs and line breaks from fields: every output is TSV, which cannot hold them"


def _parse_header(header, name, sep, line):
    """The column names of a header line, and whether fields are read with CSV quoting.

    CSV fields may be double-quoted. A TSV is read without quoting (a quote is an ordinary
    character) unless a header field is enclosed in double quotes, as R's write.table
    writes it: then the whole file is read with CSV quoting. Names are stripped; an empty
    name becomes ``Unnamed: <i>``. A name given twice, or holding a tab, is an InputError
    naming the header line (columns pass through by name, unchanged).
    """
    text = header.rstrip("\r\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    quoted = sep != "\t" or any(len(f) >= 2 and f[0] == f[-1] == '"' for f in (g.strip() for g in text.split("\t")))
    if quoted:
        raw = next(csv.reader([text + "\n"], delimiter=sep), [])
        if any("\n" in f for f in raw):  # a quote left open: the name runs into the next line
            raise InputError("a quoted column name spans several lines, which is not supported", file=name,
                             line=line, hint="remove line breaks inside fields")
    else:
        raw = text.split(sep)
    names = []
    for i, f in enumerate(raw):
        f = f.strip()
        if "\t" in f:
            raise InputError(f"column name {f!r} contains a tab", file=name, line=line, hint=_NO_TABS_HINT)
        names.append(f or f"Unnamed: {i}")
    seen = set()
    for f in names:
        if f in seen:
            raise InputError("the header names this column twice", file=name, line=line, column=f,
                             hint="rename one of them: columns pass through unchanged, so names must be unique")
        seen.add(f)
    return names, quoted


def _field_counts(block, nums, name, sep, quoted, names):
    """Fields of each line of a block, and whether its last field is empty.

    Quoted input is split by the csv module: a quoted field running over a line break,
    or a field holding a tab (which no TSV output could hold), is an InputError naming
    the line and column.
    """
    n = len(block)
    if not quoted or not any('"' in line for line in block):  # no quoting: fields are split at every sep
        if sep != "\t" and any("\t" in line for line in block):
            k = next(k for k, line in enumerate(block) if "\t" in line)
            j = next(j for j, f in enumerate(block[k].split(sep)) if "\t" in f)
            raise InputError("the field contains a tab", file=name, line=nums[k],
                             column=names[j] if j < len(names) else None, hint=_NO_TABS_HINT)
        counts = np.fromiter((line.count(sep) for line in block), dtype=np.int64, count=n) + 1
        last_empty = np.fromiter((line.rstrip("\r\n").endswith(sep) for line in block), dtype=bool, count=n)
        return counts, last_empty
    if csv.field_size_limit() < 2**31 - 1:
        csv.field_size_limit(2**31 - 1)  # whole chromosomes or long sequences in one field
    counts = np.zeros(n, dtype=np.int64)
    last_empty = np.zeros(n, dtype=bool)
    reader = csv.reader(block, delimiter=sep)
    k = 0
    try:
        for k, rec in enumerate(reader):
            if reader.line_num != k + 1:
                raise InputError("a quoted field spans several lines, which is not supported", file=name,
                                 line=nums[k], hint="remove line breaks inside fields")
            line = block[k]
            if "\t" in line and (sep != "\t" or line.count("\t") + 1 != len(rec)):
                j = next((j for j, f in enumerate(rec) if "\t" in f), None)
                raise InputError("the field contains a tab", file=name, line=nums[k],
                                 column=names[j] if j is not None and j < len(names) else None, hint=_NO_TABS_HINT)
            counts[k] = len(rec)
            last_empty[k] = not rec or rec[-1] == ""
    except csv.Error as exc:
        raise InputError(f"cannot parse the row ({exc})", file=name, line=nums[min(k, n - 1)],
                         hint="check the delimiter and quoting (use --format tsv or --format csv)") from None
    return counts, last_empty


def _parse_block(names, quoted, block, nums, name, sep, state):
    """Parse a block of data lines under the header's ``names``.

    Rows may have fewer fields than the header (the missing ones are empty). One more
    field than the header is accepted only as an empty field after a trailing delimiter
    on every data row (as spreadsheet and R exports write them); any other surplus is
    an InputError naming the line, so that no column is ever shifted.
    """
    text = "".join(block)
    if "\x00" in text:
        k = next(k for k, line in enumerate(block) if "\x00" in line)
        raise InputError("binary data (NUL byte)", file=name, line=nums[k], hint="this is not a text table")
    h = len(names)
    counts, last_empty = _field_counts(block, nums, name, sep, quoted, names)
    trailing = (counts == h + 1) & last_empty
    if "trail" not in state:
        state["trail"] = bool(trailing[0])
    if state["trail"]:
        bad = np.flatnonzero(~trailing)
        if len(bad):
            k = int(bad[0])
            raise InputError(f"row has {counts[k]} fields where the rows above have {h + 1} (the header's {h} "
                             "and an empty one after a trailing delimiter)", file=name, line=nums[k],
                             hint="end every data row the same way: all with one trailing delimiter or none")
    else:
        bad = np.flatnonzero(counts > h)
        if len(bad):
            k = int(bad[0])
            raise InputError(f"row has {counts[k]} fields but the header has {h}", file=name, line=nums[k],
                             hint="check the delimiter and quoting (use --format tsv or --format csv); a trailing "
                                  "delimiter must end every data row or none")
    extra = "\x00trailing"
    data = text.encode("utf-8")  # bytes: a StringIO would hold 4 bytes per character
    del text
    try:
        df = pd.read_csv(
            io.BytesIO(data), sep=sep, header=None, names=names + [extra] if state["trail"] else names,
            index_col=False, dtype=str, keep_default_na=False, na_filter=False,
            quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE, engine="c", skip_blank_lines=False,
        )
    except pd.errors.ParserError as exc:
        msg = str(exc)
        m = re.search(r"line (\d+), saw (\d+)", msg)
        if m:
            k = int(m.group(1)) - 1
            line = nums[k] if 0 <= k < len(nums) else None
            raise InputError(f"row has {m.group(2)} fields but the header has {h}", file=name, line=line,
                             hint="check the delimiter and quoting (use --format tsv or --format csv)") from None
        raise InputError(f"cannot parse the table ({msg.strip()})", file=name, hint="check the delimiter") from None
    if len(df) != len(block):
        raise InputError("a quoted field spans several lines, which is not supported", file=name,
                         line=nums[0], hint="remove line breaks inside fields")
    if state["trail"]:
        df = df.drop(columns=extra)
    for col in df.columns:
        if df[col].isna().any():  # fields missing at the end of a short row
            df[col] = df[col].fillna("")
    return df, np.asarray(nums, dtype=np.int64)


def resolve_columns(df, lines, name, fmt, seq_col=None, id_col=None, require_seq=True):
    """Find the sequence and id columns of a parsed table and wrap it in a SeqTable.

    Without a sequence column: an InputError, or with ``require_seq=False`` a SeqTable
    whose ``seq_col`` is None.
    """
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
        if found is None and require_seq:
            raise no_sequence_column(cols, name)
    if id_col is not None:
        if id_col not in cols:
            raise ConfigError(f"--id-col '{id_col}' is not a column", file=name, hint=f"columns are: {', '.join(cols)}")
        idc = id_col
    else:
        idc = next((c for c in ID_ALIASES if c in cols and c != found), None)
    return SeqTable(df, found, idc, lines, name, fmt)


def no_sequence_column(cols, name, also=""):
    """The InputError for a table without a sequence column (``also``: what else would do)."""
    hint = "name the sequence column with --seq-col" + also
    if len(cols) == 1:
        seps = [s for s in (";", "|") if s in cols[0]]
        if seps:
            hint = (f"the header is a single column holding '{seps[0]}', so the delimiter looks like "
                    f"'{seps[0]}', which is not read: convert the file to TSV or CSV (comma-separated), "
                    "with --format tsv or --format csv if needed")
        else:
            hint = ("the header has a single column, so the delimiter may be wrong "
                    "(tables are TSV or CSV; try --format tsv or --format csv) or " + hint)
    return InputError(f"no sequence column found among the columns: {', '.join(repr(c) for c in cols[:12])}",
                      file=name, line=1, hint=hint)


def clean_sequences(table):
    """Uppercase sequences of a table chunk; an empty sequence or a character outside
    A, C, G, T, N is an InputError naming the line and column."""
    from ..seq.arrays import PackedSeqs

    seqs = [s.strip().upper() for s in table.df[table.seq_col].tolist()]
    packed = PackedSeqs(seqs)
    bad = np.flatnonzero((packed.invalid() > 0) | (packed.lengths == 0))
    if len(bad):
        i = int(bad[0])
        what = "empty sequence" if not seqs[i] else "sequence has characters outside A, C, G, T, N"
        raise InputError(what, file=table.name, line=int(table.lines[i]), column=table.seq_col,
                         hint="run seqqc first, which rejects such rows with a reason")
    return seqs


def standard_frame(table, seqs=None):
    """The input columns ready for output: ``id`` first (added when the input has
    none), the sequence column named ``sequence`` (values replaced by ``seqs`` when
    given; a table without one, ``seq_col`` None, keeps none), every other column unchanged
    and in order; private ``_`` columns dropped.
    """
    cols = [c for c in table.df.columns if not c.startswith("_")]
    out = table.df.loc[:, cols].copy()
    if seqs is not None:
        out[table.seq_col] = seqs
    if table.seq_col is not None and table.seq_col != "sequence":
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
    loose = [c for c in cols if re.match(r"^seq(uence)?([_ ].*)?$", c, re.IGNORECASE) and not _NOT_SEQ_NAME.search(c)
             and c not in ID_ALIASES]
    if len(loose) == 1:
        return loose[0]
    sample = df.head(50)
    dna = [c for c in cols if len(sample) and sample[c].map(lambda v: bool(_DNA_LIKE.match(v.strip()))).mean() > 0.9]
    if len(dna) == 1:
        return dna[0]
    return None


CHROM_ALIASES = ("chrom", "chr", "chromosome", "seqnames", "Chromosome")
START_ALIASES = ("start", "chromStart", "Start")
END_ALIASES = ("end", "chromEnd", "End")


def element_columns(columns):
    """The genomic elements of a table of coordinates, as (name, chrom, start, end) columns.

    Recognised: one plain element (a chromosome column ``chrom``/``chr``/``chromosome``/
    ``seqnames`` with ``start``/``chromStart`` and ``end``/``chromEnd``), and any number of
    prefixed ones, ``<p>_chrom`` (or ``<p>_chr``) with ``<p>_start`` and ``<p>_end`` (e.g. the
    TargetFinder pairs' ``enhancer_*`` and ``promoter_*``), in column order.

    Returns
    -------
    list of (name, chrom_col, start_col, end_col); empty when there is none.
    """
    cols = list(columns)
    present = set(cols)
    out = []
    chrom = next((c for c in CHROM_ALIASES if c in present), None)
    start = next((c for c in START_ALIASES if c in present), None)
    end = next((c for c in END_ALIASES if c in present), None)
    if chrom and start and end:
        out.append(("", chrom, start, end))
    for c in cols:
        for suffix in ("_chrom", "_chr"):
            if c.endswith(suffix) and len(c) > len(suffix):
                p = c[: -len(suffix)]
                if f"{p}_start" in present and f"{p}_end" in present and all(e[0] != p for e in out):
                    out.append((p, c, f"{p}_start", f"{p}_end"))
    return out


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


def parse_numeric(table, column, hint="fix the value, or leave it empty (NA) so that QC rejects the row"):
    """Parse a text column of a table chunk as float64 (see :func:`parse_numeric_values`)."""
    return parse_numeric_values(table.df[column], table.lines, table.name, column, hint)


def parse_numeric_values(values, lines, name, column, hint="fix the value, or leave it empty (NA)", ids=None):
    """Parse text values as float64.

    Missing tokens (empty, NA, NaN, inf) become NaN or +-inf and are left to the
    caller; any other non-numeric text is an InputError naming the file, line (or,
    without line numbers, the row id) and column.

    Parameters
    ----------
    values : pandas.Series or list of str
    lines : array of int, the file line of each value, or None (e.g. HDF5 input)
    name, column : str, for the message
    hint : str, what to do
    ids : array of str, optional; named in the message when there are no lines

    Returns
    -------
    numpy.ndarray of float64, shape (n,)
    """
    values = pd.Series(values, dtype=object).astype(str).reset_index(drop=True)
    # stripped first: pandas reads ' 2 ' but not 'Infinity ' or ' inf'
    out = pd.to_numeric(values.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isnan(out)
    if bad.any():
        stripped = values[bad].str.strip()
        really_bad = ~stripped.isin(MISSING_TOKENS) & ~stripped.str.lower().isin(["nan", "inf", "-inf", "+inf"])
        if really_bad.any():
            pos = int(np.flatnonzero(bad)[np.flatnonzero(really_bad.to_numpy())[0]])
            where = {"line": int(lines[pos])} if lines is not None else {}
            what = f"'{values.iloc[pos][:40]}' is not a number"
            if lines is None and ids is not None:
                what += f" (row id {ids[pos]})"
            raise InputError(what, file=name, column=column, hint=hint, **where)
    return out


SPLIT_VALUES = ("train", "val", "test", "excluded")
"""The values of dgsplit's ``split`` column. ``excluded``: rows a combined hold-out
(``dgsplit --holdout COL=V --holdout-chrom``) keeps out of every split because they would
leak (a held-out row off the test chromosomes, another row on them); no command trains,
selects or tests on them."""


def check_split(values, name, lines=None):
    """dgsplit's split labels, stripped, as an object array; anything other than
    train, val, test or excluded is an InputError naming the line."""
    split = np.array([v.strip() for v in values], dtype=object)
    bad = ~np.isin(split, SPLIT_VALUES)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = {"line": int(lines[i])} if lines is not None else {}
        raise InputError(f"split value '{split[i]}' is not train, val, test or excluded", file=name,
                         column="split", hint="use dgsplit's output unchanged", **where)
    return split


def read_split_rows(path, fmt="auto", seq_col=None, id_col=None, hint="run dgsplit first", counts=None,
                    require_seq=True):
    """The train and val rows of a split table, streamed; test and excluded rows are dropped
    chunk by chunk without being parsed (a training command never reads them).

    Parameters
    ----------
    counts : dict, optional
        Filled with the number of rows of each split value (``train``, ``val``, ``test``,
        ``excluded``).
    require_seq : bool
        False for a table of coordinates without sequences (see :func:`iter_table`).

    Returns
    -------
    first : SeqTable, the first chunk (columns, names, format)
    tables : dict "train"/"val" -> SeqTable (None when the split has no such rows), with
        the rows' file lines and ids
    n_test : int, test rows skipped (excluded rows are not counted here; see ``counts``)
    """
    keep = {"train": [], "val": []}
    n_test = 0
    first = None
    if counts is not None:
        counts.update({k: 0 for k in SPLIT_VALUES})
    for chunk in iter_table(path, fmt=fmt, seq_col=seq_col, id_col=id_col, require_seq=require_seq):
        if first is None:
            first = chunk
            if "split" not in chunk.df.columns:
                raise InputError("no 'split' column", file=chunk.name, line=1, hint=hint)
        split = check_split(chunk.df["split"].tolist(), chunk.name, chunk.lines)
        n_test += int((split == "test").sum())
        if counts is not None:
            for k in SPLIT_VALUES:
                counts[k] += int((split == k).sum())
        for k in keep:
            m = split == k
            if m.any():
                keep[k].append((chunk.df.loc[m].reset_index(drop=True), chunk.lines[m], chunk.ids()[m]))
    tables = {}
    for k, parts in keep.items():
        tables[k] = None if not parts else SeqTable(
            pd.concat([p[0] for p in parts], ignore_index=True), first.seq_col, first.id_col,
            np.concatenate([p[1] for p in parts]), first.name, first.fmt,
            ids=np.concatenate([np.asarray(p[2], dtype=object) for p in parts]))
    return first, tables, n_test


def write_tsv(df, fh, header=True, chunk_rows=200_000):
    """Write ``df`` as TSV with one header line.

    Values are written as text, unquoted (as TSV input is read). A name or value holding
    a tab, a line feed or a carriage return cannot be written so that it reads back as
    one field: that is an InputError naming the column (and the row id where there is
    one), raised before the chunk that holds it is written. The readers refuse such fields
    already, so this guards the commands' own values.
    """
    names = [str(c) for c in df.columns]
    line = tsv_header(names)
    if header:
        fh.write(line)
    for start in range(0, len(df), chunk_rows):
        text = tsv_rows(df.iloc[start:start + chunk_rows])
        if text:
            fh.write(text)


def tsv_header(names):
    """The header line (with its line feed) of a TSV with columns ``names``; a name holding a
    tab or line break is an InputError (see :func:`write_tsv`)."""
    names = [str(c) for c in names]
    bad = next((c for c in names if _BREAKS.search(c)), None)
    if bad is not None:
        raise InputError(f"column name {bad!r} contains a tab or line break", hint=_NO_TABS_HINT)
    return "\t".join(names) + "\n"


def tsv_rows(df):
    """The rows of ``df`` as TSV text, each line ending in a line feed ("" for none), as
    :func:`write_tsv` writes them (a value holding a tab or line break is an InputError)."""
    names = [str(c) for c in df.columns]
    cols = [df[c].to_numpy(dtype=object) for c in df.columns]
    cols = [c if _all_str(c) else c.astype(str) for c in cols]
    text = "\n".join(map("\t".join, zip(*cols)))
    rows = len(df)
    if text.count("\t") != rows * (len(names) - 1) or text.count("\n") != rows - 1 or "\r" in text:
        _refuse_breaks(names, cols, df)
    return text + "\n" if rows else ""


_BREAKS = re.compile(r"[\t\n\r]")


def _refuse_breaks(names, cols, part):
    """The InputError for the first value of ``cols`` with a tab or line break."""
    for name, values in zip(names, cols):
        hits = [i for i, v in enumerate(values) if _BREAKS.search(v)]
        if hits:
            i = hits[0]
            row = f" (row id {part['id'].iloc[i]!r})" if "id" in part.columns and name != "id" else ""
            raise InputError(f"a value contains a tab or line break{row}", column=name, hint=_NO_TABS_HINT)


def _all_str(values):
    """True when every value is a str (checked in C by pandas)."""
    return pd.api.types.infer_dtype(values, skipna=False) == "string"
