"""Motifs from attribution maps: seqlets called and clustered by TF-MoDISco, matched to JASPAR.

The maps ``predict --explain`` writes (ISM, saliency or integrated gradients) say how much each
base of each sequence moved a prediction. This module turns them into motifs:

1. :func:`attribution_tracks` turns one target's maps into the two tracks TF-MoDISco reads, the
   one-hot sequence and the *hypothetical* contribution of every base at every position (the
   *actual* contribution is their product: the observed base's);
2. :func:`discover_motifs` calls seqlets (windows of high contribution) and clusters them into
   motifs with modisco-lite (``modiscolite.tfmodisco.TFMoDISco``), separately for seqlets that
   raise the prediction (``pos``) and seqlets that lower it (``neg``);
3. :func:`match_motifs` compares each motif's position probability matrix with a MEME motif
   database (by default the bundled JASPAR 2024 CORE vertebrate non-redundant collection) with
   Tomtom as memelite implements it (``memelite.tomtom.tomtom``);
4. :func:`write_motifs` writes ``PREFIX.meme`` (the motifs), ``PREFIX.tsv`` (one row per motif
   with its best database matches) and ``PREFIX_<motif>.png`` (a logo figure per motif).

:func:`motifs_from_maps` does all four from the HDF5 file ``predict --explain -e`` writes and
returns a :class:`MotifRun` whose ``text`` is a one-line summary (and ``message`` says why no
motif was found, when none was). Tensor shapes use ``n`` sequences, ``T`` targets, ``L``
positions (the model's input length) and ``w`` motif positions; bases are in the order A, C,
G, T throughout.

Contribution conventions, the same as the attribution logos of ``predict --plot``
(:func:`toolkit.evaluate.plots.contribution_scores`):

- ``ism``: the map holds each single mutant's prediction minus the sequence's (0 at the
  observed base). The hypothetical contribution of base ``b`` at a position is its map value
  minus the mean of the other three bases' values, so the observed base's contribution is
  minus the mean of the three substitutions.
- ``saliency`` and ``ig``: the hypothetical contribution is the map itself (the gradient, or
  the integrated gradient, at each base), so the observed base's contribution is the map at
  the observed base.

What TF-MoDISco needs: with its defaults a sign's seqlets are clustered only when there are more
than 100 of them (``min_seqlets``), and a motif needs at least 20 (``min_cluster``): explain at
least a few hundred sequences that carry the motifs sought. A seqlet is ``window + 2 x flank``
= 41 positions, so maps shorter than that give no motif. TF-MoDISco drops a seqlet whose widened
window (about 50 positions) leaves the sequence: in short sequences a motif within about 25
positions of an end is mostly not counted in its motif's seqlets.

Everything is computed in memory except by :func:`write_motifs` and :func:`motifs_from_maps`,
which write the three kinds of output files and nothing else; nothing prints.
"""

import math
import os
import re
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

BASES = "ACGT"
METHODS = ("ism", "saliency", "ig")
COLLECTIONS = ("vertebrates", "insects")

# Positions of a pattern kept when it is trimmed: those whose summed absolute contribution is at
# least this fraction of the largest (what modisco-lite's reports do before Tomtom).
TRIM_THRESHOLD = 0.3

# A Tomtom match is called significant below this q-value (in the summary line only).
Q_SIGNIFICANT = 0.05

TABLE_COLUMNS = ["motif", "target", "sign", "n_seqlets", "width", "consensus",
                 "match_id", "match_name", "match_pvalue", "match_evalue", "match_qvalue", "match_strand",
                 "match_offset"]


@dataclass
class Motif:
    """One motif TF-MoDISco found, trimmed to its informative core.

    Attributes
    ----------
    name : str
        ``pos_<i>`` or ``neg_<i>`` (``<target>.pos_<i>`` when several targets were analysed),
        ``i`` counting from 0 in the order TF-MoDISco returns the patterns (by seqlet count).
    sign : str
        ``pos``: its seqlets raise the prediction; ``neg``: they lower it.
    ppm : numpy.ndarray, shape (w, 4)
        Position probability matrix: the base frequencies of the aligned seqlets (rows sum to 1).
    cwm : numpy.ndarray, shape (w, 4)
        Contribution weight matrix: the mean actual contribution of each base at each position.
    hcwm : numpy.ndarray, shape (w, 4)
        The mean hypothetical contribution.
    n_seqlets : int
        Seqlets in the pattern.
    seqlets : numpy.ndarray, int64, shape (n_seqlets, 4)
        Per seqlet: sequence index, start, end (0-based, end exclusive, positions of the maps)
        and 1 where the motif lies on the reverse strand (its reverse complement is read
        there), of the trimmed motif's ``w`` positions.
    target : str
        The target whose maps the motif was found in.
    trim : (int, int)
        The kept positions [start, end) of TF-MoDISco's untrimmed pattern.
    """

    name: str
    sign: str
    ppm: np.ndarray
    cwm: np.ndarray
    hcwm: np.ndarray
    n_seqlets: int
    seqlets: np.ndarray
    target: str = ""
    trim: tuple = (0, 0)

    @property
    def width(self):
        return int(self.ppm.shape[0])

    @property
    def consensus(self):
        """The most frequent base at each position (N where none reaches 0.5), as a string."""
        top = self.ppm.argmax(axis=1)
        return "".join(BASES[k] if self.ppm[i, k] >= 0.5 else "N" for i, k in enumerate(top))


@dataclass
class Match:
    """A database motif Tomtom aligned with a discovered motif.

    ``pvalue``: Tomtom's p-value of the best alignment (either strand); ``evalue``: p-value times
    the number of database motifs; ``qvalue``: Benjamini-Hochberg over this motif's p-values
    against every database motif; ``strand``: ``+`` or ``-`` (the database motif reverse
    complemented); ``offset``: the position of the (strand-oriented) database motif aligned with
    the discovered motif's first position (negative: the discovered motif starts before it).
    ``ppm`` (w', 4): the database motif as written in the database (forward strand).
    """

    id: str
    name: str
    pvalue: float
    evalue: float
    qvalue: float
    strand: str
    offset: int
    ppm: np.ndarray = field(repr=False, default=None)


@dataclass
class MotifRun:
    """What :func:`motifs_from_maps` did.

    ``motifs``: the motifs (all targets); ``matches``: per motif its best database matches, best
    first; ``table``: the rows of ``PREFIX.tsv`` (pandas.DataFrame); ``files``: the paths
    written; ``n_sequences``, ``targets``, ``method``: what was analysed; ``n_seqlets``: the
    seqlets in the motifs; ``message``: why no motif was found (None when some were); ``text``:
    a one-line summary for standard error.
    """

    motifs: List[Motif]
    matches: List[List[Match]]
    table: object
    files: List[str]
    n_sequences: int
    targets: List[str]
    method: str
    n_seqlets: int
    message: Optional[str]
    text: str


# ----------------------------------------------------------------------------------------------
# attribution maps -> modisco tracks


def onehot(seqs, length):
    """One-hot encode sequences as a model of input length ``length`` reads them.

    Parameters
    ----------
    seqs : list of str
        A, C, G, T (any case); any other letter is a position without a base. Shorter sequences
        are N-padded on both sides (the extra N on the right), longer ones cut to their central
        ``length`` bases, as ``predict`` does.
    length : int

    Returns
    -------
    numpy.ndarray float32, shape (n, length, 4)
        1 at the observed base; all zero at positions without one.
    """
    from ..train.data import encode

    codes = encode([str(s).upper() for s in seqs], int(length))
    return np.eye(5, dtype=np.float32)[codes][:, :, :4].copy()


def reference_from_ism(maps):
    """The sequences ISM maps were computed on, read off the maps.

    An ISM map is 0 at the observed base (the sequence minus itself) and, as a rule, nonzero at
    the three substitutions. A position with exactly one zero is given that base; a position
    with more than one zero (an N, or a position where substitutions did not change the
    prediction, which then contributes nothing) is given no base.

    Parameters
    ----------
    maps : numpy.ndarray, shape (n, 4, L)
        One target's ISM maps.

    Returns
    -------
    numpy.ndarray float32, shape (n, L, 4)
    """
    zero = np.asarray(maps) == 0
    one = zero.sum(axis=1) == 1                      # (n, L)
    out = (zero & one[:, None, :]).astype(np.float32)
    return np.ascontiguousarray(out.transpose(0, 2, 1))


def hypothetical_contributions(maps, method):
    """Hypothetical contribution scores of every base at every position.

    Parameters
    ----------
    maps : numpy.ndarray, shape (n, 4, L)
        One target's attribution maps, as ``predict --explain`` writes them.
    method : str
        ``ism``: ``h[b] = m[b] - mean(m[b'] for the three other bases b')`` (so the observed
        base, where ``m`` is 0, gets minus the mean of the three substitutions);
        ``saliency`` or ``ig``: the map itself.

    Returns
    -------
    numpy.ndarray float32, shape (n, L, 4)
    """
    if method not in METHODS:
        raise ValueError(f"unknown attribution method {method!r} (one of {', '.join(METHODS)})")
    m = np.asarray(maps, dtype=np.float64)
    if method == "ism":
        m = (4.0 * m - m.sum(axis=1, keepdims=True)) / 3.0
    return np.ascontiguousarray(m.transpose(0, 2, 1), dtype=np.float32)


def attribution_tracks(maps, method, sequences=None):
    """The one-hot and hypothetical-contribution tracks of one target's maps.

    Parameters
    ----------
    maps : numpy.ndarray, shape (n, 4, L)
    method : str
        ``ism``, ``saliency`` or ``ig``.
    sequences : list of str, or numpy.ndarray (n, L, 4), optional
        The sequences the maps were computed on (strings are read as the model read them, see
        :func:`onehot`). Needed for saliency and IG; for ISM they are read off the maps when not
        given (:func:`reference_from_ism`).

    Returns
    -------
    (onehot float32 (n, L, 4), hypothetical float32 (n, L, 4))
        Their product is the actual contribution of the observed bases.
    """
    maps = np.asarray(maps)
    if maps.ndim != 3 or maps.shape[1] != 4:
        raise ValueError(f"attribution maps must be shaped (n, 4, L), not {maps.shape}")
    n, _, L = maps.shape
    if sequences is None:
        if method != "ism":
            raise ValueError(f"{method} maps do not show which base each sequence has: pass the sequences")
        x = reference_from_ism(maps)
    elif isinstance(sequences, np.ndarray) and sequences.ndim == 3:
        x = np.ascontiguousarray(sequences, dtype=np.float32)
    else:
        x = onehot(list(sequences), L)
    if x.shape != (n, L, 4):
        raise ValueError(f"sequences give a one-hot array of shape {x.shape}, the maps need ({n}, {L}, 4)")
    return x, hypothetical_contributions(maps, method)


# ----------------------------------------------------------------------------------------------
# modisco


def _trim_bounds(cwm, threshold=TRIM_THRESHOLD):
    score = np.abs(cwm).sum(axis=1)
    keep = np.flatnonzero(score >= threshold * score.max())
    return int(keep.min()), int(keep.max()) + 1


def _seqlet_coordinates(pattern, start, end):
    """Per seqlet of a modisco pattern: sequence, start, end, reverse, of pattern positions
    [start, end) (a reverse-strand seqlet reads the sequence backwards from its end)."""
    rows = []
    for s in pattern.seqlets:
        if s.is_revcomp:
            rows.append((s.example_idx, s.end - end, s.end - start, 1))
        else:
            rows.append((s.example_idx, s.start + start, s.start + end, 0))
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def discover_motifs(onehot, hypothetical, target="", window=21, flank=10, max_seqlets=20000,
                    min_seqlets=100, min_cluster=20, leiden_runs=50, trim_threshold=TRIM_THRESHOLD,
                    **modisco_options):
    """Call seqlets and cluster them into motifs with TF-MoDISco (modisco-lite).

    Parameters
    ----------
    onehot : numpy.ndarray, shape (n, L, 4)
        The sequences (1 at the observed base, all zero where there is none).
    hypothetical : numpy.ndarray, shape (n, L, 4)
        Hypothetical contribution scores (see :func:`hypothetical_contributions`); the actual
        contributions are ``onehot * hypothetical``.
    target : str
        Recorded in each motif (``Motif.target``).
    window, flank : int
        Seqlets are found as windows of ``window`` positions with high summed contribution and
        grown by ``flank`` on each side (modisco's ``sliding_window_size``, ``flank_size``).
    max_seqlets : int
        At most this many seqlets per sign are clustered, the strongest
        (``max_seqlets_per_metacluster``).
    min_seqlets : int
        A sign with this many seqlets or fewer is not clustered (``min_metacluster_size``).
    min_cluster : int
        Patterns supported by fewer seqlets are dropped (``final_min_cluster_size``).
    leiden_runs : int
        Leiden clusterings (seeds) per round (``n_leiden_runs``).
    trim_threshold : float
        Each pattern is trimmed to the positions between the first and last whose summed
        absolute contribution reaches this fraction of the largest.
    **modisco_options
        Passed on to ``modiscolite.tfmodisco.TFMoDISco``.

    Returns
    -------
    list of Motif
        Positive patterns first, then negative ones; within a sign, as modisco orders them. Empty
        when no sign had more than ``min_seqlets`` seqlets or no cluster survived.
    """
    from modiscolite.tfmodisco import TFMoDISco

    x = np.ascontiguousarray(onehot, dtype=np.float32)
    h = np.ascontiguousarray(hypothetical, dtype=np.float32)
    if x.shape != h.shape or x.ndim != 3 or x.shape[2] != 4:
        raise ValueError(f"onehot {x.shape} and hypothetical {h.shape} must both be shaped (n, L, 4)")
    if not np.isfinite(h).all():
        raise ValueError("the hypothetical contributions hold non-finite values")
    n, L, _ = x.shape
    if n == 0 or L < window + 2 * flank or not np.any(x * h):
        return []
    pos, neg = TFMoDISco(one_hot=x, hypothetical_contribs=h, sliding_window_size=window, flank_size=flank,
                         max_seqlets_per_metacluster=max_seqlets, min_metacluster_size=min_seqlets,
                         final_min_cluster_size=min_cluster, n_leiden_runs=leiden_runs, **modisco_options)
    motifs = []
    for sign, patterns in (("pos", pos), ("neg", neg)):
        for i, p in enumerate(patterns or []):
            cwm = np.asarray(p.contrib_scores, dtype=np.float64)
            a, b = _trim_bounds(cwm, trim_threshold)
            ppm = np.asarray(p.sequence, dtype=np.float64)[a:b]
            total = ppm.sum(axis=1, keepdims=True)    # < 1 where some seqlets have no base (N)
            ppm = np.where(total > 0, ppm / np.where(total > 0, total, 1), 0.25)
            motifs.append(Motif(name=f"{sign}_{i}", sign=sign, ppm=ppm, cwm=cwm[a:b],
                                hcwm=np.asarray(p.hypothetical_contribs, dtype=np.float64)[a:b],
                                n_seqlets=len(p.seqlets), seqlets=_seqlet_coordinates(p, a, b),
                                target=target, trim=(a, b)))
    return motifs


# ----------------------------------------------------------------------------------------------
# Tomtom against a motif database


def jaspar_path(collection="vertebrates"):
    """The bundled JASPAR 2024 CORE non-redundant MEME file of ``collection`` (``vertebrates`` or
    ``insects``); any other value is taken as the path of a MEME file and returned as is."""
    if collection in COLLECTIONS:
        from ..io.paths import share_dir

        return str(share_dir() / "motifs" / f"JASPAR2024_CORE_{collection}_non-redundant_pfms.meme")
    return str(collection)


def read_database(meme_path):
    """A MEME motif file as (ids, names, matrices (4, w) each), read with memelite.

    The ID is the first word of a MOTIF line, the name the rest (empty when there is none)."""
    from memelite.io import read_meme

    if not os.path.isfile(meme_path):
        raise FileNotFoundError(f"motif database {meme_path!r} not found")
    db = read_meme(meme_path)
    if not db:
        raise ValueError(f"no motifs in {meme_path!r} (is it a MEME file?)")
    ids, names = [], []
    for key in db:
        head, _, rest = key.partition(" ")
        ids.append(head)
        names.append(rest.strip())
    return ids, names, [np.asarray(m, dtype=np.float64) for m in db.values()]


def match_motifs(motifs, meme_path=None, n_matches=3):
    """Match each motif's PPM against a MEME motif database with Tomtom (memelite).

    Parameters
    ----------
    motifs : list of Motif
    meme_path : str, optional
        A MEME file, or ``vertebrates`` / ``insects`` for the bundled JASPAR 2024 CORE
        non-redundant collections (default: vertebrates).
    n_matches : int
        How many matches to keep per motif, best (smallest p-value) first.

    Returns
    -------
    list of list of Match
        Per motif, its best ``n_matches`` database motifs. Tomtom's p-value is that of the best
        alignment on either strand; the E-value is the p-value times the number of database
        motifs; the q-value is Benjamini-Hochberg over the motif's p-values against every
        database motif (one family of tests per discovered motif).
    """
    if not motifs:
        return []
    from memelite.tomtom import tomtom
    from scipy.stats import false_discovery_control

    ids, names, mats = read_database(jaspar_path("vertebrates" if meme_path is None else meme_path))
    queries = [np.asarray(m.ppm, dtype=np.float64).T.copy() for m in motifs]
    p, _, offsets, _, strands = tomtom(queries, mats)
    p = np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)
    q = false_discovery_control(p, axis=-1, method="bh")   # Benjamini-Hochberg, per motif
    out = []
    for i in range(len(motifs)):
        best = np.argsort(p[i], kind="stable")[:n_matches]
        out.append([Match(id=ids[j], name=names[j], pvalue=float(p[i, j]), evalue=float(p[i, j] * len(ids)),
                          qvalue=float(q[i, j]), strand="-" if strands[i, j] else "+", offset=int(offsets[i, j]),
                          ppm=mats[j].T.copy()) for j in best])
    return out


# ----------------------------------------------------------------------------------------------
# outputs


def motif_table(motifs, matches, n_matches=3):
    """The rows of ``PREFIX.tsv``: one per motif.

    Columns: ``motif``, ``target``, ``sign`` (pos/neg), ``n_seqlets``, ``width``, ``consensus``
    (:attr:`Motif.consensus`), then for the best match ``match_id``, ``match_name``,
    ``match_pvalue``, ``match_evalue``, ``match_qvalue``, ``match_strand`` (+/-),
    ``match_offset`` (see :class:`Match`), and for the next ones ``match<k>_id``,
    ``match<k>_name``, ``match<k>_qvalue`` (k = 2..n_matches). A missing match is an empty ID and
    name and NaN numbers.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    cols = list(TABLE_COLUMNS)
    for k in range(2, n_matches + 1):
        cols += [f"match{k}_id", f"match{k}_name", f"match{k}_qvalue"]
    rows = []
    for i, m in enumerate(motifs):
        ms = matches[i] if i < len(matches) else []
        row = {"motif": m.name, "target": m.target, "sign": m.sign, "n_seqlets": m.n_seqlets, "width": m.width,
               "consensus": m.consensus}
        best = ms[0] if ms else None
        row.update({"match_id": best.id if best else "", "match_name": best.name if best else "",
                    "match_pvalue": best.pvalue if best else math.nan,
                    "match_evalue": best.evalue if best else math.nan,
                    "match_qvalue": best.qvalue if best else math.nan,
                    "match_strand": best.strand if best else "", "match_offset": best.offset if best else ""})
        for k in range(2, n_matches + 1):
            mk = ms[k - 1] if len(ms) >= k else None
            row.update({f"match{k}_id": mk.id if mk else "", f"match{k}_name": mk.name if mk else "",
                        f"match{k}_qvalue": mk.qvalue if mk else math.nan})
        rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def _format_table(df):
    out = df.copy()
    for c in out.columns:
        if c.endswith(("pvalue", "qvalue", "evalue")):
            out[c] = ["NaN" if not np.isfinite(v) else f"{v:.4g}" for v in out[c].astype(float)]
        else:
            out[c] = out[c].astype(str)
    return out


def meme_text(motifs):
    """The MEME (version 4) text of the motifs' PPMs: one ``MOTIF <name> <target>`` entry each,
    ``nsites`` the seqlet count, uniform background."""
    lines = ["MEME version 4", "", f"ALPHABET= {BASES}", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for m in motifs:
        alt = re.sub(r"\s+", "_", m.target) if m.target else m.sign
        lines.append(f"MOTIF {m.name} {alt}")
        lines.append(f"letter-probability matrix: alength= 4 w= {m.width} nsites= {m.n_seqlets} E= 0")
        lines += [" ".join(f"{v:.6f}" for v in row) for row in m.ppm]
        lines.append("")
    return "\n".join(lines) + "\n"


def _safe(name):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def logo_path(prefix, motif):
    """``PREFIX_<motif name>.png`` (characters other than letters, digits, ``.``, ``_``, ``-``
    replaced by ``_``)."""
    return f"{prefix}_{_safe(motif.name)}.png"


def _ic_matrix(ppm):
    """Information content logo heights (w, 4) of a PPM (uniform background, bits)."""
    p = np.clip(np.asarray(ppm, dtype=np.float64), 0, None)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    ent = -(p * np.log2(np.where(p > 0, p, 1))).sum(axis=1)
    return p * (2.0 - ent)[:, None]


def motif_figure(motif, matches=(), method="ism"):
    """The logo figure of one motif: its contribution weight matrix, its information-content
    logo and, when there is one, the best database match's, aligned as Tomtom aligned them.

    Parameters
    ----------
    motif : Motif
    matches : list of Match
        Best first; only the first is drawn.
    method : str
        Names the contribution axis.

    Returns
    -------
    matplotlib.figure.Figure
        Attached to an Agg canvas; drawn with logomaker.
    """
    import logomaker
    import pandas as pd
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    best = matches[0] if matches else None
    w = motif.width
    lo, hi = 0, w
    if best is not None:
        t = best.ppm if best.strand == "+" else best.ppm[::-1, ::-1]
        lo, hi = min(0, best.offset * -1), max(w, len(t) - best.offset)
    span = hi - lo
    panels = 3 if best is not None else 2
    fig = Figure(figsize=(float(np.clip(span / 3, 5, 14)), 1.8 * panels), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(panels, 1, squeeze=False)[:, 0]

    def draw(ax, mat, start, ylabel, title):
        frame = pd.DataFrame(mat, columns=list(BASES), index=np.arange(start, start + len(mat)))
        logomaker.Logo(frame, ax=ax, color_scheme="classic", show_spines=False)
        ax.axhline(0, color="#7f7f7f", linewidth=0.5)
        ax.set_xlim(lo - 0.5, hi - 0.5)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_title(title, fontsize=9, loc="left")

    label = {"ism": "ISM score", "ig": "IG attribution", "saliency": "saliency"}.get(method, "contribution")
    where = f"{motif.target}  " if motif.target else ""
    draw(axes[0], motif.cwm, 0, label, f"{where}{motif.name}: {motif.n_seqlets} seqlets, contribution")
    draw(axes[1], _ic_matrix(motif.ppm), 0, "bits", "sequence (information content)")
    axes[1].set_ylim(0, 2)
    if best is not None:
        t = best.ppm if best.strand == "+" else best.ppm[::-1, ::-1]
        draw(axes[2], _ic_matrix(t), -best.offset, "bits",
             f"{best.id} {best.name} ({best.strand} strand), Tomtom q = {best.qvalue:.2g}")
        axes[2].set_ylim(0, 2)
    axes[-1].set_xlabel("position")
    return fig


def write_motifs(prefix, motifs, matches, method="ism", n_matches=3):
    """Write ``PREFIX.meme``, ``PREFIX.tsv`` and one ``PREFIX_<motif>.png`` per motif.

    Parameters
    ----------
    prefix : str
        Path prefix of the outputs (its folder must exist).
    motifs : list of Motif
    matches : list of list of Match
        As :func:`match_motifs` returns them (may be empty lists).
    method : str
        The attribution method (names the logos' contribution axis).
    n_matches : int
        Matches per motif in the table.

    Returns
    -------
    list of str
        The paths written: the MEME file, the table, then the logos. With no motif, the MEME file
        holds only its header and the table only its header line.
    """
    from ..io.streams import AtomicOutput
    from ..io.tables import write_tsv

    prefix = str(prefix)
    paths = [f"{prefix}.meme", f"{prefix}.tsv"]
    with AtomicOutput(paths[0]) as fh:
        fh.write(meme_text(motifs))
    with AtomicOutput(paths[1]) as fh:
        write_tsv(_format_table(motif_table(motifs, matches, n_matches)), fh)
    for i, m in enumerate(motifs):
        path = logo_path(prefix, m)
        fig = motif_figure(m, matches[i] if i < len(matches) else [], method)
        with AtomicOutput(path, text=False) as fh:
            fig.savefig(fh, format="png", dpi=110)
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------------------
# the whole thing


def read_maps(h5_path, target=None):
    """Read a ``predict --explain`` HDF5 file.

    Parameters
    ----------
    h5_path : str
    target : str, optional
        Read only this target's maps (default: all).

    Returns
    -------
    (ids list of str (n), targets list of str, method str, maps float32 (n, T, 4, L))
        ``maps`` holds only ``target``'s maps (T = 1) when one is named.
    """
    import h5py

    with h5py.File(h5_path, "r") as h5:
        method = h5.attrs.get("method")
        method = method.decode() if isinstance(method, bytes) else method
        if method not in METHODS or method not in h5:
            raise ValueError(f"{h5_path!r} is not a predict --explain file (no ism, saliency or ig maps)")
        ids = list(h5["ids"].asstr()[:])
        targets = list(h5["targets"].asstr()[:])
        dset = h5[method]
        if target is not None:
            if target not in targets:
                raise ValueError(f"target {target!r} is not in {h5_path!r} (it has: {', '.join(targets)})")
            t = targets.index(target)
            maps = dset[:, t:t + 1]
            targets = [target]
        else:
            maps = dset[:]
    return ids, targets, method, np.asarray(maps, dtype=np.float32)


def motifs_from_maps(h5_path, prefix, sequences=None, jaspar="vertebrates", target=None, n_matches=3,
                     **discover_options):
    """Motifs from a ``predict --explain`` maps file: discovered, matched and written.

    Parameters
    ----------
    h5_path : str
        The HDF5 file of ``predict --explain METHOD -e FILE.h5`` (datasets ``ids``, ``targets``
        and ``ism``, ``saliency`` or ``ig`` float32 (n, T, 4, L)).
    prefix : str
        Writes ``PREFIX.meme``, ``PREFIX.tsv`` and ``PREFIX_<motif>.png`` (:func:`write_motifs`).
    sequences : list of str, dict id -> str, or numpy.ndarray (n, L, 4), optional
        The sequences predict explained, in the file's row order (a dict is looked up by the
        file's ``ids``); strings are read as the model read them (N-padded or centre-cropped to
        L). Required for saliency and IG maps; ISM maps show the sequence themselves
        (:func:`reference_from_ism`).
    jaspar : str
        ``vertebrates`` or ``insects`` (the bundled JASPAR 2024 CORE non-redundant collections),
        or the path of any MEME motif file.
    target : str, optional
        Analyse this target's maps only; default: every target in turn (motif names then start
        with ``<target>.`` when there are several).
    n_matches : int
        Database matches kept per motif.
    **discover_options
        Passed on to :func:`discover_motifs` (``window``, ``flank``, ``max_seqlets``,
        ``min_seqlets``, ``min_cluster``, ``leiden_runs``, ...).

    Returns
    -------
    MotifRun
        ``text`` is a one-line summary; ``message`` is None, or says why no motif was found
        (too few sequences or seqlets), in which case the files hold headers only.
    """
    ids, targets, method, maps = read_maps(h5_path, target)
    n, _, _, L = maps.shape if maps.ndim == 4 else (0, 0, 4, 0)
    if isinstance(sequences, dict):
        missing = [i for i in ids if i not in sequences]
        if missing:
            raise ValueError(f"{len(missing)} id(s) of {h5_path!r} have no sequence (first: {missing[0]!r})")
        sequences = [sequences[i] for i in ids]
    if sequences is not None and len(sequences) != n:
        raise ValueError(f"{len(sequences)} sequences for {n} rows of maps in {h5_path!r}")
    db = jaspar_path(jaspar)
    read_database(db)  # a missing or empty database fails before the clustering, not after
    motifs = []
    for t, name in enumerate(targets):
        if n == 0:
            break
        x, h = attribution_tracks(maps[:, t], method, sequences)
        found = discover_motifs(x, h, target=name, **discover_options)
        if len(targets) > 1:
            for m in found:
                m.name = f"{name}.{m.name}"
        motifs += found
    matches = match_motifs(motifs, db, n_matches)
    files = write_motifs(prefix, motifs, matches, method, n_matches)
    table = motif_table(motifs, matches, n_matches)
    n_seqlets = int(sum(m.n_seqlets for m in motifs))
    message = None
    opts = {"window": 21, "flank": 10, "min_seqlets": 100}
    opts.update({k: v for k, v in discover_options.items() if k in opts})
    if not motifs:
        if n == 0:
            message = f"no sequences in {h5_path!r}: no motifs"
        elif L < opts["window"] + 2 * opts["flank"]:
            message = (f"the maps are {L} positions long, shorter than a seqlet ({opts['window']} + 2 x "
                       f"{opts['flank']} flank): no motifs")
        else:
            message = (f"TF-MoDISco found no motif in the {method} maps of {n:,} sequences (a motif needs more than "
                       f"{opts['min_seqlets']} seqlets of one sign, and clusters of at least "
                       f"{discover_options.get('min_cluster', 20)}): explain more sequences")
    sig = sum(1 for ms in matches if ms and ms[0].qvalue < Q_SIGNIFICANT)
    if motifs:
        text = (f"motifs: {len(motifs)} motif(s) ({sum(m.sign == 'pos' for m in motifs)} pos, "
                f"{sum(m.sign == 'neg' for m in motifs)} neg) from {n_seqlets:,} seqlets in the {method} maps of "
                f"{n:,} sequences; {sig} matched in {os.path.basename(db)} at q < {Q_SIGNIFICANT}; wrote "
                f"{files[0]}, {files[1]} and {len(files) - 2} logo(s)")
    else:
        text = f"motifs: {message}; wrote {files[0]} and {files[1]} (headers only)"
    return MotifRun(motifs=motifs, matches=matches, table=table, files=files, n_sequences=n, targets=targets,
                    method=method, n_seqlets=n_seqlets, message=message, text=text)
