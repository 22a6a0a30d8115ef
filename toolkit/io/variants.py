"""Variants to score: VCF records (read with pysam), tables of genomic variants, tables of
element sequences with a variant inside, and the two windows (reference and alternative
allele) a sequence model reads for each.

Window rule (genome): an allele of ``n`` bases starting at 0-based position ``s`` of its
haplotype is centred as a BED interval ``[s, s + n)`` is (:func:`toolkit.io.genome.window`):
the window of ``L`` bases starts at ``s + n // 2 - L // 2``. The reference window is that of
REF in the genome; the alternative window is that of ALT in the genome with REF replaced by
ALT (flanks read from the genome), so an indel keeps both windows ``L`` bases long and both
centred on the event. Bases past a chromosome end are N (``n_pad`` counts them, the larger of
the two windows). Elements: the reference sequence is the element, the alternative the
element with REF replaced by ALT; both are read as any sequence is (N-padded or centre-cropped
to ``L``).

Every allele is a row: scored, or rejected with a reason (:data:`REASONS`).
"""

import contextlib
import gzip
import os
import re
import shutil
import tempfile
import zlib

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from .streams import display_name

REASONS = {
    "invalid_position": "the position is not a whole number of at least 1",
    "invalid_allele": "REF or ALT has characters outside A, C, G, T, N, or is empty",
    "no_alt": "the record has no ALT allele ('.')",
    "symbolic_alt": "a symbolic ALT (<DEL>, <INS>, ...), a spanning deletion (*) or a breakend",
    "unknown_chrom": "the chromosome is not in the genome",
    "out_of_bounds": "REF runs past the end of the chromosome or element",
    "ref_mismatch": "REF differs from the genome (or the element) at that position",
    "outside_window": "REF lies outside the bases of the element the model reads",
    "invalid_sequence": "the element's sequence is empty or has characters outside A, C, G, T, N",
}
"""Why an allele is not scored (``qc_reason``) and what it means."""

_BASES = re.compile(r"^[ACGTN]+$")
VCF_SUFFIXES = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")


# --- input kind -----------------------------------------------------------------------------

def _head_bytes(path, n=1 << 12):
    """The first ``n`` bytes of a file, decompressed when it is gzip (or BGZF)."""
    with open(path, "rb") as fh:
        raw = fh.read(1 << 16)
    if raw[:2] == b"\x1f\x8b":
        try:
            return zlib.decompressobj(31).decompress(raw, n)
        except zlib.error:
            return b""
    return raw[:n]


def is_bgzf(path):
    """True when ``path`` is BGZF (bgzip), which pysam reads directly (plain gzip it does not)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    return len(head) >= 16 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC"


def variant_input_kind(path, name=None):
    """``vcf`` or ``table``: VCF/BCF by content (``##fileformat=VCF``, ``BCF``) or by suffix
    (.vcf, .vcf.gz, .vcf.bgz, .bcf); anything else is read as a TSV/CSV table."""
    head = _head_bytes(path)
    if head.startswith(b"##fileformat=VCF") or head.startswith(b"BCF\x02"):
        return "vcf"
    if str(name or path).lower().endswith(VCF_SUFFIXES):
        return "vcf"
    return "table"


@contextlib.contextmanager
def readable_vcf(path):
    """A path pysam can open for ``path``: itself, or (plain gzip, which pysam cannot read)
    a decompressed temporary copy, removed on exit."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic != b"\x1f\x8b" or is_bgzf(path):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="variants-") as tmp:
        plain = os.path.join(tmp, "input.vcf")
        try:
            with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise InputError(f"the gzip stream is truncated or corrupt ({exc})", file=display_name(path),
                             hint="re-download or re-compress the file (gzip -t checks it)") from None
        yield plain


# --- alleles and windows --------------------------------------------------------------------

def split_alts(alt):
    """The ALT alleles of a record: a tuple (or None, or a comma-separated text) -> list of str;
    none at all -> ``['.']`` (one row, rejected as ``no_alt``)."""
    if alt is None:
        return ["."]
    if isinstance(alt, str):
        alt = alt.split(",")
    alts = [a.strip() for a in alt]
    return alts or ["."]


def allele_problem(ref, alt):
    """(reason, detail) when the pair of alleles cannot be scored, else None."""
    if alt in (".", ""):
        return ("no_alt", "ALT is '.'") if alt == "." else ("invalid_allele", "ALT is empty")
    a = alt.upper()
    if a.startswith("<") or a == "*" or "[" in a or "]" in a or (len(a) > 1 and (a[0] == "." or a[-1] == ".")):
        return "symbolic_alt", f"ALT '{alt[:40]}' is not a sequence"
    r = (ref or "").upper()
    for what, allele in (("REF", r), ("ALT", a)):
        if not _BASES.match(allele):
            return "invalid_allele", f"{what} '{allele[:40]}' has characters outside A, C, G, T, N" if allele \
                else f"{what} is empty"
    return None


def parse_position(text):
    """A 1-based position from text, or None when it is not an integer >= 1."""
    t = str(text).strip()
    if not t.isdigit():
        return None
    p = int(t)
    return p if p >= 1 else None


def _centred(hap, origin, n, length):
    """The ``length`` bases of ``hap`` centred on the allele of ``n`` bases at index ``origin``
    (BED rule: start at origin + n // 2 - length // 2)."""
    start = origin + n // 2 - length // 2
    return hap[start:start + length], start


class GenomeWindows:
    """Reference and alternative windows of genomic variants.

    Parameters
    ----------
    genome : pyfaidx.Fasta (opened by :func:`toolkit.io.genome.open_genome`)
    length : int, the model's input length L
    """

    def __init__(self, genome, length):
        self.fa = genome
        self.length = int(length)
        self.sizes = {k: len(v) for k, v in genome.items()}

    def windows(self, chrom, pos, ref, alt):
        """((ref_window, alt_window, n_pad), None) or (None, (reason, detail)) for one allele.

        ``pos`` 1-based, ``ref`` and ``alt`` uppercase bases (checked by :func:`allele_problem`).
        """
        if chrom not in self.sizes:
            return None, ("unknown_chrom", f"'{chrom}' is not in the genome")
        size = self.sizes[chrom]
        s, m, L = pos - 1, len(ref), self.length
        if s + m > size:
            return None, ("out_of_bounds", f"REF ends at {s + m}, past the chromosome end ({size})")
        seq = self.fa[chrom]
        found = seq[s:s + m].upper()
        if found != ref:
            return None, ("ref_mismatch", f"REF '{ref[:40]}' but the genome has '{found[:40]}'")
        left = seq[max(0, s - L):s].upper()
        right = seq[s + m:min(size, s + m + L)].upper()
        lpad, rpad = L - len(left), L - len(right)
        left, right = "N" * lpad + left, right + "N" * rpad
        out, pads = [], []
        for allele in (ref, alt):
            n = len(allele)
            win, start = _centred(left + allele + right, L, n, L)
            # padded positions of the haplotype: [0, lpad) and [L + n + L - rpad, 2L + n)
            pads.append(max(0, min(start + L, lpad) - start) + max(0, start + L - max(start, 2 * L + n - rpad)))
            out.append(win)
        return (out[0], out[1], max(pads)), None


def element_windows(seq, pos, ref, alt, length):
    """((ref_sequence, alt_sequence), None) or (None, (reason, detail)) for a variant inside an
    element: REF (uppercase) at 1-based ``pos`` of ``seq`` (uppercase) replaced by ALT. REF must
    lie inside the ``length`` central bases that the model reads of a longer element."""
    if not _BASES.match(seq):
        return None, ("invalid_sequence", "the element's sequence is empty or has characters outside A, C, G, T, N")
    s, m = pos - 1, len(ref)
    if s + m > len(seq):
        return None, ("out_of_bounds", f"REF ends at {s + m}, past the element's end ({len(seq)})")
    found = seq[s:s + m]
    if found != ref:
        return None, ("ref_mismatch", f"REF '{ref[:40]}' but the element has '{found[:40]}'")
    if len(seq) > length:
        a = (len(seq) - length) // 2
        if s < a or s + m > a + length:
            return None, ("outside_window", f"the model reads bases {a + 1}-{a + length} of this "
                                            f"{len(seq)}-base element")
    return (seq, seq[:s] + alt + seq[s + m:]), None


# --- reading --------------------------------------------------------------------------------

def count_vcf_records(path, name):
    """The number of records of a VCF/BCF (a first pass, for --shard)."""
    n = 0
    for _ in _vcf_iter(path, name):
        n += 1
    return n


def _vcf_header_lines(path):
    """Header lines of a text VCF (they start with '#'), so that records can be given their
    file line; None for BCF."""
    with open(path, "rb") as fh:
        magic = fh.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    n = 0
    with opener(path, "rb") as fh:
        first = fh.read(3)
        if first == b"BCF":
            return None
        fh.seek(0)
        for line in fh:
            if not line.startswith(b"#"):
                break
            n += 1
    return n


def _vcf_iter(path, name, header_lines=None):
    """(record index, file line, chrom, pos, id, ref, alts) of every record, through pysam."""
    try:
        import pysam
    except ImportError:   # pragma: no cover - pysam is an install requirement
        raise ConfigError("reading a VCF needs pysam", hint="install it: python3 -m pip install pysam") from None
    old = pysam.set_verbosity(0)   # htslib's notices (no index, undeclared contigs) are not for the user
    try:
        try:
            vf = pysam.VariantFile(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the VCF ({exc})", file=name,
                             hint="give a VCF (plain, gzip or bgzip) or BCF file") from None
        with vf:
            it = iter(vf)
            i = 0
            while True:
                line = None if header_lines is None else header_lines + i + 1
                try:
                    rec = next(it)
                except StopIteration:
                    return
                except (OSError, ValueError) as exc:
                    where = {"line": line} if line is not None else {}
                    raise InputError(f"VCF record {i + 1} cannot be read ({exc})", file=name,
                                     hint="check the record's fields (tab-separated CHROM POS ID REF ALT ...)",
                                     **where) from None
                yield i, (i + 1 if line is None else line), rec.chrom, rec.pos, rec.id, rec.ref, rec.alts
                i += 1
    finally:
        pysam.set_verbosity(old)


def vcf_chunks(path, name, chunk_rows, lo=0, hi=None):
    """Records ``[lo, hi)`` of a VCF/BCF in chunks of ``chunk_rows`` records (chunk boundaries at
    multiples of ``chunk_rows`` from ``lo``), as DataFrames with text columns ``id, chrom, pos,
    ref, alt`` (alt: the record's ALTs joined by commas, '.' for none) and ``_record`` (0-based
    record index), ``_line`` (file line; BCF: record number)."""
    lines = _vcf_header_lines(path)
    rows = []

    def frame():
        df = pd.DataFrame(rows, columns=["_record", "_line", "chrom", "pos", "id", "ref", "alt"])
        return df[["id", "chrom", "pos", "ref", "alt", "_record", "_line"]]

    for i, line, chrom, pos, vid, ref, alts in _vcf_iter(path, name, lines):
        if i < lo:
            continue
        if hi is not None and i >= hi:
            break
        rows.append((i, line, chrom, str(pos), vid or "", ref or "", ",".join(alts) if alts else "."))
        if len(rows) >= chunk_rows:
            yield frame()
            rows = []
    if rows:
        yield frame()


def _find(columns, names):
    lower = {c.lower().lstrip("#"): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


VCF_LAYOUT = {"mode": "genome", "chrom": "chrom", "pos": "pos", "ref": "ref", "alt": "alt", "seq": None, "id": "id",
              "strand": None}
"""The layout of the frames :func:`vcf_chunks` yields (see :func:`table_layout`)."""


def table_layout(columns, seq_col=None, detected=None, id_col=None, name=None):
    """How a variant table is laid out: ``{'mode': 'genome'|'element', 'chrom', 'pos', 'ref',
    'alt', 'seq', 'id', 'strand'}`` (column names, None where absent). A sequence column
    (``seq_col``, else ``detected``, the one the table reader found, unless that is the REF or
    ALT column) with position makes an element table; otherwise a chromosome column (chrom,
    chr, chromosome; any case, '#' allowed) with pos makes a genome table, which may have a
    strand column. ``id``: ``id_col``, else a column called id. Raises InputError naming the
    file (``name``) and what is missing."""
    cols = list(columns)
    ref, alt = _find(cols, ("ref",)), _find(cols, ("alt",))
    chrom = _find(cols, ("chrom", "chr", "chromosome"))
    seq = seq_col or (detected if detected not in (None, ref, alt) else None)
    if seq is None and chrom is not None:
        lay = {"mode": "genome", "chrom": chrom, "pos": _find(cols, ("pos", "position")), "seq": None,
               "strand": _find(cols, ("strand",))}
    else:
        lay = {"mode": "element", "chrom": None, "pos": _find(cols, ("position", "pos")), "seq": seq, "strand": None}
    lay.update(ref=ref, alt=alt, id=id_col or _find(cols, ("id",)))
    need = ["pos", "ref", "alt"] + (["seq"] if lay["mode"] == "element" else [])
    missing = [k for k in need if lay[k] is None]
    if missing:
        want = {"pos": "pos" if lay["mode"] == "genome" else "position", "ref": "ref", "alt": "alt",
                "seq": "sequence"}
        raise InputError(f"a variant table needs the column(s) {', '.join(want[k] for k in missing)}",
                         file=name, line=1, hint="give chrom, pos, ref, alt (with --genome), or sequence, position, "
                                                 f"ref, alt (elements); columns are: {', '.join(cols[:12])}")
    return lay


def allele_windows(alleles, layout, genome=None, length=None):
    """The two windows of every allele of a chunk, or why it cannot be scored.

    Parameters
    ----------
    alleles : pandas.DataFrame, one row per ALT allele (:func:`expand_alleles`), text columns
    layout : dict, :func:`table_layout` or :data:`VCF_LAYOUT`
    genome : GenomeWindows, for genome layouts
    length : int, the model's input length L (elements)

    Returns
    -------
    dict: ``ref``, ``alt`` (lists of str, one pair per scorable allele, in order), ``ok`` (bool,
    shape (m,)), ``reason``, ``detail`` (lists of str, m; empty where ok) and ``n_pad`` (int,
    shape (m,); genome windows: N bases past a chromosome end). A ``strand`` column with '-'
    reverse-complements both windows.
    """
    from ..seq import reverse_complement

    m = len(alleles)
    out = {"ref": [], "alt": [], "ok": np.zeros(m, bool), "reason": [""] * m, "detail": [""] * m,
           "n_pad": np.zeros(m, int)}
    col = {k: alleles[layout[k]].tolist() if layout.get(k) else [None] * m
           for k in ("chrom", "pos", "ref", "alt", "seq", "strand")}
    for i in range(m):
        r, a = str(col["ref"][i]).strip().upper(), str(col["alt"][i]).strip()
        prob = allele_problem(r, a)
        pos = parse_position(col["pos"][i])
        if prob is None and pos is None:
            prob = ("invalid_position", f"position '{str(col['pos'][i])[:20]}' is not a whole number of at least 1")
        res = None
        if prob is None:
            a = a.upper()
            if layout["mode"] == "genome":
                res, prob = genome.windows(str(col["chrom"][i]).strip(), pos, r, a)
                if res is not None and str(col["strand"][i]).strip() == "-":
                    res = (reverse_complement(res[0]), reverse_complement(res[1]), res[2])
            else:
                res, prob = element_windows(str(col["seq"][i]).strip().upper(), pos, r, a, length)
        if prob is not None:
            out["reason"][i], out["detail"][i] = prob
            continue
        out["ok"][i] = True
        out["ref"].append(res[0])
        out["alt"].append(res[1])
        if layout["mode"] == "genome":
            out["n_pad"][i] = res[2]
    return out


def variant_ids(rows, layout):
    """Each row's id (:func:`variant_id`): the given id, else ``chrom:pos:ref:alt`` (genome) or
    ``row<N>:pos:ref:alt`` (elements; N the 1-based input row, from the ``_record`` column)."""
    m = len(rows)
    given = rows[layout["id"]].tolist() if layout.get("id") else [None] * m
    where = rows[layout["chrom"]].tolist() if layout["mode"] == "genome" else [f"row{k + 1}" for k in rows["_record"]]
    return [variant_id(g, w, p, r, a) for g, w, p, r, a in
            zip(given, where, rows[layout["pos"]], rows[layout["ref"]], rows[layout["alt"]])]


def expand_alleles(df, alt_col):
    """One row per ALT allele (comma-separated ALTs split; the ALT column then holds one), with
    ``_row`` the row's index in ``df``."""
    alts = [split_alts(a) for a in df[alt_col].tolist()]
    idx = np.repeat(np.arange(len(df)), [len(a) for a in alts])
    out = df.iloc[idx].reset_index(drop=True)
    out[alt_col] = [a for row in alts for a in row]
    out["_row"] = idx
    return out


def variant_id(given, chrom, pos, ref, alt):
    """The row's id: the one given (ID, id column), else ``chrom:pos:ref:alt``."""
    g = str(given).strip() if given is not None else ""
    return g if g and g != "." else f"{chrom}:{pos}:{ref}:{alt}"
