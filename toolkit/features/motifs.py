"""Motifs of the ``pwm`` family: the built-in per-cell-type JASPAR 2024 lists and motif files.

A motif is a :class:`Motif`: its TF name, JASPAR matrix ID and a count matrix of
shape (L, 4) over A, C, G, T. Three sources:

* :func:`cell_type_motifs` -- the built-in lists: HepG2 (34), K562 (31) and WTC11
  (34) JASPAR 2024 CORE matrix IDs, each with the TF label used in column names, and
  S2's 13 Drosophila factors, listed by name without IDs and resolved by name in the
  JASPAR 2024 CORE insects collection. Everything is read offline from the
  SQLite database that ships with ``pyjaspar`` (release ``JASPAR2024``).
* :func:`read_motif_file` -- a MEME-format (``letter-probability matrix``) or
  JASPAR-format (``>ID name`` + four rows ``A [ ... ]``) file, for
  ``descfeat --motifs FILE``.

Resolution record (checked by ``tests/test_features_pwm.py``):

* Every one of the 34 + 31 + 34 listed IDs exists in JASPAR2024 as
  written, in the CORE collection, and is the latest version of its base ID; no
  substitution was needed. (The code still falls back to the latest version of
  the base ID, recording it in ``Motif.note``, should a listed version be missing.)
  One label differs from JASPAR's: MA0095.4 is listed as ``YY1``, JASPAR names it
  ``Yy1`` (a mouse matrix); the list's label is kept.
* S2 (listed label -> JASPAR 2024 CORE insects name, matrix):
  Jra -> Jra MA2246.1; Kay -> kay MA2248.1; Stat92E -> Stat92E MA0532.2;
  SREBP/HLH106 -> SREBP MA2282.1; Achaete -> ac MA2295.1;
  Daughterless -> da MA2308.1; GATAe -> GATAe MA2238.1; Serpent -> srp MA2283.1;
  M1BP -> M1BP MA1459.2; Pointed -> pnt MA2262.1; Trl -> Trl MA0205.3;
  USF -> Usf MA2290.1; ZIPIC -> ZIPIC MA2322.1. All 13 exist. SREBP has two
  CORE matrices ("TF has several motif variants"): MA2281.1 (ATCACGTGAT, an
  E-box, which Usf MA2290.1 already covers) and MA2282.1 (ATCACGCCAC, the
  sterol regulatory element the factor is named for); MA2282.1 is used.
  S2 columns use the JASPAR (FlyBase) symbols: ``pwm_kay_max_score``, ...
"""

import re
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputError

RELEASE = "JASPAR2024"
BASES = "ACGT"
MEME_DEFAULT_NSITES = 20.0  # MEME motif format: nsites defaults to 20 when absent

# The built-in lists: (matrix ID, TF label), in output order.
HEPG2 = (
    ("MA0018.5", "CREB1"), ("MA0024.3", "E2F1"), ("MA0028.3", "ELK1"), ("MA0046.3", "HNF1A"),
    ("MA0047.4", "FOXA2"), ("MA0058.4", "MAX"), ("MA0060.4", "NFYA"), ("MA0079.5", "SP1"),
    ("MA0083.3", "SRF"), ("MA0088.2", "ZNF143"), ("MA0090.4", "TEAD1"), ("MA0093.4", "USF1"),
    ("MA0095.4", "YY1"), ("MA0099.4", "FOS::JUN"), ("MA0102.5", "CEBPA"), ("MA0108.3", "TBP"),
    ("MA0114.5", "HNF4A"), ("MA0139.2", "CTCF"), ("MA0148.5", "FOXA1"), ("MA0153.2", "HNF1B"),
    ("MA0466.4", "CEBPB"), ("MA0484.3", "HNF4G"), ("MA0494.2", "Nr1h3::Rxra"), ("MA0506.3", "Nrf1"),
    ("MA0512.2", "Rxra"), ("MA0526.5", "USF2"), ("MA0527.2", "ZBTB33"), ("MA0679.3", "ONECUT1"),
    ("MA0809.3", "TEAD4"), ("MA0836.3", "CEBPD"), ("MA1148.2", "PPARA::RXRA"), ("MA1683.2", "FOXA3"),
    ("MA2337.1", "Nr1h3"), ("MA2338.1", "Ppara"),
)
K562 = (
    ("MA0018.5", "CREB1"), ("MA0024.3", "E2F1"), ("MA0028.3", "ELK1"), ("MA0035.5", "GATA1"),
    ("MA0036.4", "GATA2"), ("MA0058.4", "MAX"), ("MA0060.4", "NFYA"), ("MA0079.5", "SP1"),
    ("MA0083.3", "SRF"), ("MA0088.2", "ZNF143"), ("MA0090.4", "TEAD1"), ("MA0091.2", "TAL1::TCF3"),
    ("MA0093.4", "USF1"), ("MA0095.4", "YY1"), ("MA0099.4", "FOS::JUN"), ("MA0108.3", "TBP"),
    ("MA0139.2", "CTCF"), ("MA0140.3", "GATA1::TAL1"), ("MA0150.3", "Nfe2l2"), ("MA0493.3", "KLF1"),
    ("MA0495.4", "MAFF"), ("MA0496.4", "MAFK"), ("MA0501.2", "MAF::NFE2"), ("MA0502.3", "NFYB"),
    ("MA0506.3", "Nrf1"), ("MA0526.5", "USF2"), ("MA0527.2", "ZBTB33"), ("MA0809.3", "TEAD4"),
    ("MA0841.2", "NFE2"), ("MA1516.2", "KLF3"), ("MA1633.2", "BACH1"),
)
WTC11 = (
    ("MA0018.5", "CREB1"), ("MA0024.3", "E2F1"), ("MA0028.3", "ELK1"), ("MA0039.5", "KLF4"),
    ("MA0058.4", "MAX"), ("MA0059.2", "MAX::MYC"), ("MA0060.4", "NFYA"), ("MA0077.2", "SOX9"),
    ("MA0078.3", "Sox17"), ("MA0079.5", "SP1"), ("MA0083.3", "SRF"), ("MA0084.2", "SRY"),
    ("MA0088.2", "ZNF143"), ("MA0090.4", "TEAD1"), ("MA0093.4", "USF1"), ("MA0095.4", "YY1"),
    ("MA0099.4", "FOS::JUN"), ("MA0108.3", "TBP"), ("MA0139.2", "CTCF"), ("MA0141.4", "ESRRB"),
    ("MA0142.1", "Pou5f1::Sox2"), ("MA0143.5", "SOX2"), ("MA0506.3", "Nrf1"), ("MA0514.3", "Sox3"),
    ("MA0515.1", "Sox6"), ("MA0526.5", "USF2"), ("MA0527.2", "ZBTB33"), ("MA0785.2", "POU2F1"),
    ("MA0787.1", "POU3F2"), ("MA0809.3", "TEAD4"), ("MA0866.1", "SOX21"), ("MA0870.1", "Sox1"),
    ("MA1723.2", "PRDM9"), ("MA2339.1", "Nanog"),
)
# S2: (the listed label, the JASPAR 2024 CORE insects name it is resolved by).
S2 = (
    ("Jra", "Jra"), ("Kay", "kay"), ("Stat92E", "Stat92E"), ("SREBP/HLH106", "SREBP"),
    ("Achaete", "ac"), ("Daughterless", "da"), ("GATAe", "GATAe"), ("Serpent", "srp"),
    ("M1BP", "M1BP"), ("Pointed", "pnt"), ("Trl", "Trl"), ("USF", "Usf"), ("ZIPIC", "ZIPIC"),
)
# Where a name has several CORE insects matrices, the one used (see the module docstring).
S2_CHOICE = {"SREBP": "MA2282.1"}
# What the S2 names resolved to in JASPAR2024 (a record; the tests re-resolve and compare).
S2_RESOLVED = {
    "Jra": "MA2246.1", "kay": "MA2248.1", "Stat92E": "MA0532.2", "SREBP": "MA2282.1", "ac": "MA2295.1",
    "da": "MA2308.1", "GATAe": "MA2238.1", "srp": "MA2283.1", "M1BP": "MA1459.2", "pnt": "MA2262.1",
    "Trl": "MA0205.3", "Usf": "MA2290.1", "ZIPIC": "MA2322.1",
}
CELL_TYPE_IDS = {"HepG2": HEPG2, "K562": K562, "WTC11": WTC11}
CELL_TYPES = ("HepG2", "K562", "WTC11", "S2")


@dataclass(frozen=True, eq=False)
class Motif:
    """One TF binding motif.

    Attributes
    ----------
    name : str
        TF label used in column names (the built-in list's label, or the file's / JASPAR's name).
    matrix_id : str
        JASPAR matrix ID (``MA0139.2``) or the identifier a motif file gives.
    counts : numpy.ndarray of float64, shape (L, 4)
        Site counts per position, columns A, C, G, T. From a probability matrix
        (MEME format) these are probabilities x nsites.
    source : str
        Where the matrix came from (``JASPAR2024 CORE (pyjaspar)`` or a file path).
    jaspar_name : str
        The name JASPAR (or the file) gives the matrix.
    note : str
        Anything changed while resolving (e.g. a version substituted), else ``""``.
    """

    name: str
    matrix_id: str
    counts: np.ndarray = field(repr=False)
    source: str = ""
    jaspar_name: str = ""
    note: str = ""

    @property
    def length(self):
        """Motif width L."""
        return int(self.counts.shape[0])

    @property
    def probabilities(self):
        """Column-normalised counts, float64 (L, 4), A C G T; no pseudocount."""
        return self.counts / self.counts.sum(axis=1, keepdims=True)


def _checked_counts(counts, what, file=None, line=None):
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4 or arr.shape[0] == 0:
        raise InputError(f"motif {what} is not an L x 4 matrix (got shape {arr.shape})", file=file, line=line)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or np.any(arr.sum(axis=1) <= 0):
        raise InputError(f"motif {what} has negative, non-finite or all-zero columns", file=file, line=line,
                         hint="each position needs non-negative counts or probabilities that sum above 0")
    return arr


# ---------------------------------------------------------------- JASPAR (pyjaspar, offline)

@lru_cache(maxsize=1)
def _jaspar():
    from pyjaspar import jaspardb

    return jaspardb(release=RELEASE)


def _counts_of(jm):
    """Bio.motifs counts of a pyjaspar motif -> float64 (L, 4)."""
    return np.array([list(jm.counts[b]) for b in BASES], dtype=np.float64).T


def fetch_by_id(matrix_id, name=None):
    """A JASPAR2024 matrix by ID, offline.

    Parameters
    ----------
    matrix_id : str
        ``MA0139.2``. A version missing from the release falls back to the latest
        version of the same base ID (recorded in ``Motif.note``).
    name : str, optional
        Column label; default JASPAR's name.

    Returns
    -------
    Motif

    Raises
    ------
    ConfigError
        When neither the version nor its base ID is in JASPAR2024.
    """
    db = _jaspar()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyjaspar warns about a missing ID; handled below
        jm = db.fetch_motif_by_id(matrix_id)
    note = ""
    if jm is None:
        jm = db.fetch_motif_by_id(matrix_id.split(".")[0])  # latest version of the base ID
        if jm is None:
            raise ConfigError(f"JASPAR matrix {matrix_id} is not in {RELEASE}",
                              hint="check the ID, or give the motifs with --motifs FILE")
        note = f"{matrix_id} is not in {RELEASE}; used the latest version {jm.matrix_id}"
    return Motif(name=name or jm.name, matrix_id=jm.matrix_id, counts=_counts_of(jm),
                 source=f"{RELEASE} {jm.collection} (pyjaspar)", jaspar_name=jm.name, note=note)


def fetch_by_name(name, tax_group="insects", collection="CORE"):
    """The JASPAR2024 matrix of a TF name within a taxonomic group, offline.

    Latest versions only; the name match is exact first, then case-insensitive.
    Where several matrices share the name, :data:`S2_CHOICE` decides, else the
    lowest matrix ID.

    Returns
    -------
    Motif

    Raises
    ------
    ConfigError
        When no matrix of that name exists in the collection and group.
    """
    found = _jaspar().fetch_motifs(collection=collection, tax_group=[tax_group], all_versions=False)
    hits = [m for m in found if m.name == name] or [m for m in found if m.name.lower() == name.lower()]
    if not hits:
        raise ConfigError(f"no {RELEASE} {collection} {tax_group} matrix named '{name}'")
    hits.sort(key=lambda m: m.matrix_id)
    choice = S2_CHOICE.get(name)
    jm = next((m for m in hits if m.matrix_id == choice), hits[0])
    note = ""
    if len(hits) > 1:
        note = f"{len(hits)} matrices named {name} ({', '.join(m.matrix_id for m in hits)}); used {jm.matrix_id}"
    return Motif(name=jm.name, matrix_id=jm.matrix_id, counts=_counts_of(jm),
                 source=f"{RELEASE} {collection} {tax_group} (pyjaspar)", jaspar_name=jm.name, note=note)


@lru_cache(maxsize=None)
def _cell_type_motifs(cell_type):
    if cell_type == "S2":
        return tuple(fetch_by_name(jname) for _, jname in S2)
    return tuple(fetch_by_id(mid, name) for mid, name in CELL_TYPE_IDS[cell_type])


def cell_type_motifs(cell_type):
    """The built-in motif list of a cell type, from JASPAR2024 offline.

    Parameters
    ----------
    cell_type : {"HepG2", "K562", "WTC11", "S2"}

    Returns
    -------
    list of Motif
        In the list's order: 34 (HepG2), 31 (K562), 34 (WTC11) or 13 (S2).
    """
    if cell_type not in CELL_TYPES:
        raise ConfigError(f"no motif list for cell type '{cell_type}'", hint=f"choose from {', '.join(CELL_TYPES)}")
    return list(_cell_type_motifs(cell_type))


# ---------------------------------------------------------------- motif files

_MEME_MATRIX = re.compile(r"^letter-probability matrix:(.*)$")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _meme_field(text, key):
    m = re.search(rf"\b{key}\s*=\s*({_NUM})", text)
    return float(m.group(1)) if m else None


def parse_meme(text, source="<motifs>"):
    """Motifs of a MEME-format text (``MOTIF id [name]`` + ``letter-probability matrix``).

    Probabilities are turned into counts with the matrix's ``nsites`` (20 where
    absent, MEME's default). An ``ALPHABET`` other than ACGT is an error.
    Log-odds matrices and background lines are ignored (the ``pwm`` family
    uses its own background).

    Returns
    -------
    list of Motif
    """
    lines = text.splitlines()
    motifs = []
    ident = name = None
    ident_line = None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("ALPHABET"):
            alpha = line.split("=", 1)[-1].strip()
            if alpha and alpha.upper() not in ("ACGT", "DNA"):
                raise InputError(f"MEME alphabet '{alpha}' is not DNA (ACGT)", file=source, line=i + 1)
        elif line.startswith("MOTIF"):
            parts = line.split()
            if len(parts) < 2:
                raise InputError("MOTIF line without an identifier", file=source, line=i + 1)
            ident, name, ident_line = parts[1], (parts[2] if len(parts) > 2 else parts[1]), i + 1
        else:
            m = _MEME_MATRIX.match(line)
            if m:
                if ident is None:
                    raise InputError("letter-probability matrix before any MOTIF line", file=source, line=i + 1)
                width = _meme_field(m.group(1), "w")
                nsites = _meme_field(m.group(1), "nsites") or MEME_DEFAULT_NSITES
                rows = []
                j = i + 1
                while j < len(lines):
                    fields = lines[j].split()
                    if not fields:
                        if rows:
                            break
                        j += 1
                        continue
                    try:
                        vals = [float(v) for v in fields]
                    except ValueError:
                        break
                    if len(vals) != 4:
                        raise InputError(f"motif {ident}: a matrix row has {len(vals)} values, expected 4",
                                         file=source, line=j + 1)
                    rows.append(vals)
                    j += 1
                    if width is not None and len(rows) == int(width):
                        break
                if width is not None and len(rows) != int(width):
                    raise InputError(f"motif {ident}: {len(rows)} matrix rows, but w= {int(width)}",
                                     file=source, line=ident_line)
                probs = _checked_counts(rows, ident, file=source, line=ident_line)
                motifs.append(Motif(name=name, matrix_id=ident, counts=probs / probs.sum(1, keepdims=True) * nsites,
                                    source=str(source), jaspar_name=name))
                ident = None
                i = j
                continue
        i += 1
    return motifs


def parse_jaspar(text, source="<motifs>"):
    """Motifs of a JASPAR-format text: ``>ID name`` then four rows, A C G T, each
    ``A [ 1 2 3 ]`` (brackets and the letter optional, as in the ``.pfm`` files).

    Values are counts; a matrix whose every column sums to 1 is read as
    probabilities and scaled to 20 sites (MEME's default nsites).

    Returns
    -------
    list of Motif
    """
    motifs = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if not line or line.startswith("#"):
            i += 1
            continue
        if not line.startswith(">"):
            raise InputError("expected a '>ID name' header line (JASPAR format)", file=source, line=i + 1)
        parts = line[1:].split()
        if not parts:
            raise InputError("empty '>' header", file=source, line=i + 1)
        ident, name, head = parts[0], (parts[1] if len(parts) > 1 else parts[0]), i + 1
        rows = {}
        order = []
        j = i + 1
        while j < len(lines) and len(order) < 4:
            row = lines[j].strip()
            j += 1
            if not row:
                continue
            m = re.match(r"^([ACGTacgt])?\s*\[?(.*?)\]?\s*$", row)
            letter = (m.group(1) or BASES[len(order)]).upper()
            try:
                vals = [float(v) for v in m.group(2).split()]
            except ValueError:
                raise InputError(f"motif {ident}: a matrix row is not numbers", file=source, line=j) from None
            rows[letter] = vals
            order.append(letter)
        if sorted(order) != list(BASES):
            raise InputError(f"motif {ident}: needs four rows A, C, G, T", file=source, line=head)
        widths = {len(v) for v in rows.values()}
        if len(widths) != 1:
            raise InputError(f"motif {ident}: rows of different lengths", file=source, line=head)
        counts = _checked_counts(np.array([rows[b] for b in BASES]).T, ident, file=source, line=head)
        if np.allclose(counts.sum(axis=1), 1.0, atol=1e-3):
            counts = counts * MEME_DEFAULT_NSITES
        motifs.append(Motif(name=name, matrix_id=ident, counts=counts, source=str(source), jaspar_name=name))
        i = j
    return motifs


def read_motif_file(path):
    """Motifs of a MEME- or JASPAR-format file (detected from its content).

    Parameters
    ----------
    path : str or pathlib.Path

    Returns
    -------
    list of Motif
        In file order.

    Raises
    ------
    InputError
        Unreadable file, unknown format, malformed matrix, or no motif at all.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read motif file: {exc.strerror}", file=str(path)) from None
    if raw[:2] == b"\x1f\x8b":
        import gzip

        raw = gzip.decompress(raw)
    text = raw.decode("utf-8", "replace")
    if re.search(r"^\s*MOTIF\s", text, re.M) or "letter-probability matrix" in text:
        motifs = parse_meme(text, source=str(path))
    elif re.search(r"^\s*>", text, re.M):
        motifs = parse_jaspar(text, source=str(path))
    else:
        raise InputError("not a MEME or JASPAR motif file", file=str(path),
                         hint="MEME files have 'MOTIF' and 'letter-probability matrix' lines; JASPAR files '>ID name'")
    if not motifs:
        raise InputError("no motif matrices found", file=str(path))
    return motifs
