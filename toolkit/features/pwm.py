"""PWM family: transcription-factor motif scans.

Method
------
Log-odds matrix. From a motif's counts ``c[j, b]`` (position j, base b in A C G T)
with column total ``N_j``, the probabilities are ``p = (c + a * bg[b]) / (N_j + a)``
with a total pseudocount ``a = 0.8`` distributed by the background (Nishida, Frith &
Nakai 2009, Nucleic Acids Res. 37:939, who recommend 0.8), and the score matrix is
``W[j, b] = log2(p[j, b] / bg[b])`` in bits; the background is uniform
(0.25 each) unless ``background=`` is given.

Sites. A window of the motif's width L at start i scores ``sum_j W[j, x[i+j]]``
on the forward strand and the same with the reverse-complement matrix on the other
strand. Both strands are kept: a sequence of length n has 2 (n - L + 1) sites.
A window containing N has no score and is left out of every statistic (it is
skipped, not scored as 0). The set of site scores of a sequence and of its reverse
complement is the same, so every descriptor is strand-symmetric.

Per motif (``pwm_<TF>_<metric>``), over the valid sites s_1..s_S:

* ``max_score``, ``var_score`` (population variance), bits / bits^2. The mean score
  over all sites is computed but not written (:data:`RETIRED_METRICS`): averaged over
  every window of both strands it is a linear function of the G+C content.
* ``num_high_affinity``: sites with p-value < 1e-4 under the background, the p-value
  being the upper tail of the exact null distribution of the score (dynamic
  programming over the matrix columns, Staden 1989; as FIMO, Grant, Bailey & Noble
  2011, with its default threshold) with each column's scores on a grid of 0.001 bit.
  A motif whose best possible site is not that rare (p >= 1e-4, e.g. 6-mers under a
  uniform background) has no high-affinity sites.
* ``total_weight`` Z = sum_i 2**s_i: the sum of the sites' likelihood ratios
  P(site | motif) / P(site | background). Under the Berg & von Hippel (1987)
  approximation a site's log-odds is proportional to its binding free energy,
  ``ln LR_i = -dG_i / RT``, so Z = sum_i exp(-dG_i / RT), i.e.
  sum(exp(scores/RT)) with the score read as -dG; it is the sequence's
  association constant relative to one average random site (E_background[LR] = 1).
* ``entropy``: Shannon entropy (bits) of the binding probability over sites,
  p_i = LR_i / Z (each window in each orientation one binding state, the Boltzmann
  distribution of the sites), H = log2 Z - sum_i p_i s_i.
* ``delta_g`` = -RT ln Z at T = 310 K, R = 1.98720 cal/(mol K), in kcal/mol: the
  free energy of the sequence's total relative affinity (dG = RT ln K_d = -RT ln K_a
  for a dissociation constant K_d, and K_a relative to background is Z).
* ``top_k_mean``: mean of the k = 5 highest site scores (NaN with fewer than 5 sites).

Scan. A compiled pass (numba) per block of equal-length sequences. A motif is cut
into pieces of at most 6 positions; a window's score is the sum of its pieces' scores,
each read from a table indexed by the base-4 code of the piece's bases. Sequences are
taken 16 at a time, stored position-major (the 16 sequences side by side), so that
every statistic is accumulated in 16 independent lanes that the compiler turns into
vector instructions. A window's likelihood ratio relative to the motif's best possible
site, ``2 ** (s - s_best)``, is evaluated with a degree-11 polynomial (relative error
below 1e-14), and the k best scores are kept per lane by a sorting network of min/max
operations. Windows with N are handled in a scalar pass over the sequences that have
one. Nothing of size (motifs x windows) is held in memory.

A statistic with no valid site (sequence shorter than the motif, or every window
with an N) is NaN. Aggregates ``pwm_max_<metric>``, ``pwm_min_<metric>`` and
``pwm_sum_<metric>`` are taken over the motifs; they are NaN where any motif's value
is NaN (an aggregate over part of the motifs would be a different statistic).
``pwm_best_tf`` is the 0-based index, in column order, of the motif whose best site
has the smallest p-value (first in order on ties); the mapping is in its formula.
"""

import math
from functools import lru_cache

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ConfigError
from . import Descriptor
from .encode import by_length

FAMILY = "pwm"
METRICS = ("max_score", "mean_score", "var_score", "num_high_affinity", "total_weight", "entropy", "delta_g",
           "top_k_mean")
#: Metrics the scan computes but descfeat does not write, and why.
RETIRED_METRICS = {
    "mean_score": ("the mean log-odds over every window of both strands is a sum of per-base terms averaged over "
                   "the sequence: a linear function of its base composition, and with both strands of its G+C "
                   "content (|r| = 1.000 with G+C for every motif at a fixed length)"),
}
#: The metrics written per motif and per aggregate, in output order.
WRITTEN_METRICS = tuple(m for m in METRICS if m not in RETIRED_METRICS)
AGGREGATES = ("max", "min", "sum")
PSEUDOCOUNT = 0.8            # total pseudocount, Nishida et al. 2009
BACKGROUND = (0.25, 0.25, 0.25, 0.25)
P_THRESHOLD = 1e-4           # FIMO's default site p-value threshold
TOP_K = 5
TEMPERATURE = 310.0          # K
R_KCAL = 8.314462618 / 4184.0  # gas constant, kcal/(mol K) (CODATA 2018)
GRID = 1000                  # null-distribution bins per bit (0.001 bit)
Q = 6                        # most motif positions per lookup-table piece of the scan kernel
LANES = 16                   # sequences scanned side by side by the scan kernel

_UNITS = {"max_score": "bits", "mean_score": "bits", "var_score": "bits^2", "num_high_affinity": "count",
          "total_weight": "-", "entropy": "bits", "delta_g": "kcal/mol", "top_k_mean": "bits"}
_RESERVED = set(AGGREGATES) | {"best"}

_JASPAR_CITE = "JASPAR 2024 CORE (Rauluseviciute et al. 2024, Nucleic Acids Res. 52:D174) via pyjaspar"
_METHOD_CITE = "log-odds with total pseudocount {a:g} (Nishida, Frith & Nakai 2009, Nucleic Acids Res. 37:939), {bg}"


def _method(background, pseudocount):
    bg = _background(background)
    text = "uniform background" if np.allclose(bg, 0.25) else "background " + " ".join(
        f"{b}={x:.3g}" for b, x in zip("ACGT", bg))
    return _METHOD_CITE.format(a=pseudocount, bg=text)


# ---------------------------------------------------------------- motifs -> scoring matrices

def _default_motifs(motifs):
    if motifs is None:
        from .motifs import cell_type_motifs

        return cell_type_motifs("HepG2")
    motifs = list(motifs)
    if not motifs:
        raise ConfigError("the pwm family needs at least one motif")
    return motifs


def _background(background):
    bg = np.asarray(BACKGROUND if background is None else background, dtype=np.float64)
    if bg.shape != (4,) or np.any(bg <= 0) or not np.isclose(bg.sum(), 1.0):
        raise ConfigError("background must be 4 positive frequencies (A, C, G, T) summing to 1")
    return bg


def log_odds(counts, background=None, pseudocount=PSEUDOCOUNT):
    """Log-odds scoring matrix of a count matrix.

    Parameters
    ----------
    counts : array, shape (L, 4)
        Counts per position, A C G T.
    background : array (4,), optional
        Background frequencies; uniform by default.
    pseudocount : float
        Total pseudocount per position, shared out by the background.

    Returns
    -------
    numpy.ndarray of float64, shape (L, 4)
        ``log2(p / bg)`` with ``p = (c + pseudocount * bg) / (N + pseudocount)``, bits.
    """
    bg = _background(background)
    c = np.asarray(counts, dtype=np.float64)
    p = (c + pseudocount * bg) / (c.sum(axis=1, keepdims=True) + pseudocount)
    return np.log2(p / bg)


def null_survival(lod, background=None, grid=GRID):
    """Exact null distribution of a PWM score on a grid (Staden 1989 dynamic programming).

    Each column's scores are rounded to ``1 / grid`` bit; the distribution of the
    sum under independent background bases is convolved column by column.

    Parameters
    ----------
    lod : array, shape (L, 4)
        Scoring matrix, bits.
    background : array (4,), optional

    Returns
    -------
    lo : int
        Grid value of the first entry (lowest possible score x grid).
    sf : numpy.ndarray of float64, shape (hi - lo + 1,)
        ``sf[t] = P(score_on_grid >= (lo + t) / grid)``.
    """
    bg = _background(background)
    q = np.rint(np.asarray(lod) * grid).astype(np.int64)
    dist = np.ones(1)
    lo = 0
    for row in q:
        qmin = int(row.min())
        new = np.zeros(dist.size + int(row.max()) - qmin)
        for b in range(4):
            off = int(row[b]) - qmin
            new[off:off + dist.size] += bg[b] * dist
        dist = new
        lo += qmin
    sf = np.cumsum(dist[::-1])[::-1]
    return lo, np.minimum(sf, 1.0)


class _Scorer:
    """Scoring matrices, thresholds and null tails of a motif list (cached per list)."""

    def __init__(self, key, lods, background, p_threshold):
        self.key = key
        self.lods = lods
        self.lengths = np.array([w.shape[0] for w in lods])
        self.K = len(lods)
        self.M = int(self.lengths.max())
        # weights (2K, 4*M): row k forward, row K+k reverse complement; column b*M + j (zero-padded j >= L)
        wt = np.zeros((2, self.K, 4, self.M))
        for k, w in enumerate(lods):
            L = w.shape[0]
            wt[0, k, :, :L] = w.T
            wt[1, k, :, :L] = w[::-1, ::-1].T
        self.weights = wt.reshape(2 * self.K, 4 * self.M)
        self.tails = [null_survival(w, background) for w in lods]
        thr = np.full(self.K, np.inf)
        for k, (lo, sf) in enumerate(self.tails):
            hit = np.flatnonzero(sf < p_threshold)
            if hit.size:
                thr[k] = (lo + hit[0] - 0.5) / GRID  # scores rounding onto that grid value or above
        self.thresholds = thr
        self.max_possible = np.array([w.max(axis=1).sum() for w in lods])
        self.tables, self.top = _piece_tables(lods)
        self.lengths = self.lengths.astype(np.int64)

    def pvalue(self, k, scores):
        """Null upper-tail probability of scores (any shape) of motif k; NaN stays NaN."""
        lo, sf = self.tails[k]
        t = np.rint(np.nan_to_num(scores, nan=lo / GRID) * GRID) - lo
        p = sf[np.clip(t, 0, sf.size - 1).astype(np.int64)]
        return np.where(np.isnan(scores), np.nan, p)


@lru_cache(maxsize=16)
def _scorer_cached(key, background, pseudocount, p_threshold):
    counts = [np.frombuffer(raw, dtype=np.float64).reshape(-1, 4) for _, raw in key]
    lods = [log_odds(c, background, pseudocount) for c in counts]
    return _Scorer(key, lods, background, p_threshold)


def _scorer(motifs, background, pseudocount, p_threshold):
    key = tuple((m.matrix_id, np.ascontiguousarray(m.counts, dtype=np.float64).tobytes()) for m in motifs)
    bg = tuple(float(x) for x in _background(background))
    return _scorer_cached(key, bg, float(pseudocount), float(p_threshold))


# ---------------------------------------------------------------- names

def _sanitise(name):
    s = name.replace("::", "__")
    s = "".join(ch if (ch.isascii() and (ch.isalnum() or ch == "_")) else "_" for ch in s)
    return s.strip("_") or "motif"


def column_labels(motifs):
    """TF labels used in column names, one per motif, unique.

    ``FOS::JUN`` becomes ``FOS__JUN``; other characters outside letters, digits and
    ``_`` become ``_``. Where labels collide (two matrices of one TF, or a label equal
    to an aggregate word ``max``/``min``/``sum``/``best``), the matrix ID is appended
    (``CTCF_MA1929_2``), then an ordinal if still needed.

    Returns
    -------
    list of str
    """
    base = [_sanitise(m.name) for m in motifs]
    counts = {}
    for b in base:
        counts[b] = counts.get(b, 0) + 1
    labels = []
    seen = set()
    for b, m in zip(base, motifs):
        lab = b
        if counts[b] > 1 or b in _RESERVED:
            lab = f"{b}_{_sanitise(m.matrix_id)}"
        cand, i = lab, 2
        while cand in seen:
            cand = f"{lab}_{i}"
            i += 1
        seen.add(cand)
        labels.append(cand)
    return labels


def _formula(metric, what, k, p):
    return {
        "max_score": f"Highest log-odds score (bits) of {what} over all N-free windows on both strands.",
        "mean_score": f"Mean log-odds score (bits) of {what} over all N-free windows on both strands.",
        "var_score": f"Population variance of the log-odds scores of {what} over all N-free windows on both strands.",
        "num_high_affinity": (f"Number of N-free windows (both strands counted) where {what} scores with null "
                              f"p-value < {p:g} (exact score distribution under the background, "
                              "0.001-bit grid; 0 when no site can be that rare)."),
        "total_weight": (f"Sum over N-free windows on both strands of 2^score of {what}, i.e. the summed likelihood "
                         "ratios = relative association constant exp(-dG/RT) summed over sites."),
        "entropy": (f"Shannon entropy (bits) of {what}'s binding distribution over sites (both strands), "
                    "p_i = 2^score_i / total_weight."),
        "delta_g": (f"-RT ln(total_weight) of {what} at 310 K (kcal/mol): free energy of the sequence's total "
                    "affinity relative to one random background site (Berg & von Hippel 1987)."),
        "top_k_mean": f"Mean of the {k} highest site scores (bits) of {what} over both strands; NaN with fewer sites.",
    }[metric]


def descriptors(params=None, motifs=None, background=None, pseudocount=PSEUDOCOUNT, p_threshold=P_THRESHOLD,
                top_k=TOP_K):
    """The PWM descriptors of a motif list, in output order.

    Parameters
    ----------
    params : Params, unused (the family needs no parameter table)
    motifs : list of toolkit.features.motifs.Motif, optional
        Default: the built-in HepG2 list.

    Returns
    -------
    list of Descriptor
        7 per motif (``pwm_<TF>_<metric>``, the metrics of WRITTEN_METRICS), then
        ``pwm_max_<metric>``, ``pwm_min_<metric>``, ``pwm_sum_<metric>`` for each metric
        and ``pwm_best_tf`` (7 K + 22 in all; 260 for HepG2's 34 motifs).
    """
    motifs = _default_motifs(motifs)
    labels = column_labels(motifs)
    method = _method(background, pseudocount)
    out = []
    for lab, m in zip(labels, motifs):
        if m.source.startswith("JASPAR"):
            src = f"{_JASPAR_CITE}, matrix {m.matrix_id}; {method}"
        else:
            src = f"motif file {m.source}, matrix {m.matrix_id}; {method}"
        what = f"{m.name} ({m.matrix_id})"
        for met in WRITTEN_METRICS:
            out.append(Descriptor(f"{FAMILY}_{lab}_{met}", FAMILY, _UNITS[met], _formula(met, what, top_k, p_threshold), src))
    agg_src = f"the per-motif pwm descriptors above; {method}"
    words = {"max": "Maximum", "min": "Minimum", "sum": "Sum"}
    for agg in AGGREGATES:
        for met in WRITTEN_METRICS:
            out.append(Descriptor(f"{FAMILY}_{agg}_{met}", FAMILY, _UNITS[met],
                                  f"{words[agg]} of pwm_<TF>_{met} over the {len(motifs)} motifs; NaN if any is NaN.",
                                  agg_src))
    mapping = ", ".join(f"{i} {lab}" for i, lab in enumerate(labels))
    out.append(Descriptor(f"{FAMILY}_best_tf", FAMILY, "index",
                          "0-based index of the motif whose best site has the smallest null p-value (first on ties; "
                          f"NaN if any motif is undefined): {mapping}.", agg_src))
    return out


# ---------------------------------------------------------------- scanning

_ONEHOT = np.vstack([np.eye(4), np.zeros((1, 4))])  # code 4 (N) -> all-zero row


def _scan_block(codes, sc):
    """Site scores of one block of equal-length sequences.

    Parameters
    ----------
    codes : uint8 array, shape (n, L)
    sc : _Scorer

    Returns
    -------
    scores : float64 array, shape (2, K, n, L)
        [strand, motif, sequence, window start]; strand 0 forward, 1 reverse
        complement. Windows starting at every position (the sequence is padded
        with N to the longest motif); see ``valid``.
    valid : bool array, shape (K, n, L)
        Window fully inside the sequence and free of N.
    """
    n, L = codes.shape
    M, K = sc.M, sc.K
    padded = np.full((n, L + M - 1), 4, dtype=np.uint8)
    padded[:, :L] = codes
    X = _ONEHOT[padded]                                      # (n, L+M-1, 4)
    win = sliding_window_view(X, M, axis=1)                  # (n, L, 4, M) view
    win = np.ascontiguousarray(win).reshape(n * L, 4 * M)
    scores = (sc.weights @ win.T).reshape(2, K, n, L)
    isn = np.zeros((n, L + M), dtype=np.int32)
    np.cumsum(padded == 4, axis=1, out=isn[:, 1:])
    valid = np.empty((K, n, L), dtype=bool)
    for m in np.unique(sc.lengths):
        ok = (isn[:, m:m + L] - isn[:, :L]) == 0
        valid[sc.lengths == m] = ok
    return scores, valid


def site_scores(seqs, motifs=None, background=None, pseudocount=PSEUDOCOUNT):
    """Per-window scores of equal-length sequences, both strands (for inspection and tests).

    Parameters
    ----------
    seqs : list of str, length n, all of length L
    motifs : list of Motif, length K

    Returns
    -------
    list of K float64 arrays, shape (n, 2, L - L_k + 1)
        [sequence, strand (0 forward, 1 reverse complement of the motif), window
        start]; NaN at windows containing N.
    """
    motifs = _default_motifs(motifs)
    sc = _scorer(motifs, background, pseudocount, P_THRESHOLD)
    groups = list(by_length(seqs))
    if len(groups) != 1:
        raise ConfigError("site_scores needs sequences of one length")
    _, codes = groups[0]
    L = codes.shape[1]
    scores, valid = _scan_block(codes, sc)
    out = []
    for k, m in enumerate(sc.lengths):
        W = max(L - m + 1, 0)
        s = np.where(valid[k][None], scores[:, k], np.nan)[:, :, :W]   # (2, n, W)
        out.append(s.transpose(1, 0, 2).copy())
    return out


# ---------------------------------------------------------------- the scan kernel

def _piece_tables(lods, q=Q):
    """Lookup tables of the pieces of every motif, both strands.

    A motif of width L is cut into ``ceil(L / q)`` pieces of near-equal width (at
    most q positions). A window's score is the sum over its pieces of
    ``tab[start + code]``, ``code`` being the base-4 number of the piece's bases
    (A=0 C=1 G=2 T=3, first base most significant) and ``start`` the piece's table
    for the forward matrix or for the reverse-complement matrix, which is cut at the
    same offsets.

    Returns
    -------
    tables : tuple of numpy arrays
        ``tab`` (float64, all piece tables one after the other), then int64 arrays
        ``pstart`` (K + 1: motif k's pieces are ``pstart[k]:pstart[k + 1]``),
        ``offset`` and ``width`` of each piece in the motif, and the table starts
        ``fwd`` and ``rev`` of each piece.
    top : float64 array (K,)
        Best possible score of each motif, bits.
    """
    tabs, pstart, offset, width, fwd, rev = [], [0], [], [], [], []
    top = np.zeros(len(lods))
    size = 0
    for k, w in enumerate(lods):
        L = w.shape[0]
        n = -(-L // q)
        o = 0
        for wd in [L // n + (j < L % n) for j in range(n)]:
            digits = (np.arange(4 ** wd)[:, None] // 4 ** np.arange(wd - 1, -1, -1)[None, :]) % 4   # (4^wd, wd)
            for mat, starts in ((w, fwd), (w[::-1, ::-1], rev)):
                sc = mat[o + np.arange(wd)[None, :], digits].sum(axis=1)
                tabs.append(sc)
                starts.append(size)
                size += sc.size
            top[k] += tabs[-2].max()
            offset.append(o)
            width.append(wd)
            o += wd
        pstart.append(len(offset))
    i64 = [np.array(a, dtype=np.int64) for a in (pstart, offset, width, fwd, rev)]
    return (np.concatenate(tabs), *i64), top


_FAST = {"reassoc", "contract", "nsz", "arcp"}   # fast-math without assuming finite values
_KERNEL = dict(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
_EXP2 = tuple(np.log(2.0) ** j / math.factorial(j) for j in range(12))   # Taylor coefficients of 2**f


@intrinsic
def _int_bits_as_float(typingctx, x):
    """The float64 whose IEEE-754 bit pattern is the int64 ``x``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@numba.njit(inline="always", fastmath=_FAST)
def _exp2(x):
    """2 ** x for x <= 0 (up to rounding), in vectorisable operations.

    x = n + f with n an integer and |f| <= 1/2; 2**f by its Taylor polynomial of
    degree 11 (truncation error < 7e-15 relative), 2**n by building the exponent
    bits. x is clamped at -1000: smaller likelihood ratios (relative to the motif's
    best site) read as 2**-1000.
    """
    x = max(x, -1000.0)
    n = np.floor(x + 0.5)
    f = x - n
    c = _EXP2
    p = c[11]
    p = p * f + c[10]
    p = p * f + c[9]
    p = p * f + c[8]
    p = p * f + c[7]
    p = p * f + c[6]
    p = p * f + c[5]
    p = p * f + c[4]
    p = p * f + c[3]
    p = p * f + c[2]
    p = p * f + c[1]
    p = p * f + c[0]
    return p * _int_bits_as_float((np.int64(n) + 1023) << 52)


@numba.njit(**_KERNEL)
def _score_windows(cw, tab, first, last, offset, width, fwd, rev, sF, sR, m):
    """Scores of one motif at the first ``m`` lane-interleaved window starts.

    cw : int32 (Q, L * LANES), ``cw[w - 1, p * LANES + i]`` = code of the w bases of
    lane i from position p; pieces ``first:last`` of the tables (see _piece_tables);
    sF, sR : float64, written: forward and reverse-complement scores.
    """
    for j in range(first, last):
        idx = cw[width[j] - 1, offset[j] * LANES:]
        tf = tab[fwd[j]:]
        tr = tab[rev[j]:]
        if j == first:
            for u in range(m):
                sF[u] = tf[idx[u]]
                sR[u] = tr[idx[u]]
        else:
            for u in range(m):
                sF[u] += tf[idx[u]]
                sR[u] += tr[idx[u]]


@numba.njit(**_KERNEL)
def _accumulate(sF, sR, W, thr, top, acc, best, ranks):
    """Statistics of W windows in every lane (all windows valid).

    acc : float64 (6, LANES), written: sum of scores, sum of squares, sites with
    score >= thr, sum of 2**(s - top), sum of 2**(s - top) * s, number of sites.
    best : float64 (top_k * LANES), written: ``best[j * LANES + i]`` the (j+1)-th
    highest score of lane i (-inf while there are fewer sites). ranks : tuple of top_k
    zeros (see _scan_kernel): top_k is a compile-time constant, so the loops over it
    unroll and the lane loop vectorises.
    """
    top_k = len(ranks)
    acc[:] = 0.0
    best[:] = -np.inf
    s1, s2, high, z, zs = acc[0], acc[1], acc[2], acc[3], acc[4]
    for t in range(W):
        r = t * LANES
        for i in range(LANES):
            x = sF[r + i]
            y = sR[r + i]
            s1[i] += x + y
            s2[i] += x * x + y * y
            high[i] += (1.0 if x >= thr else 0.0) + (1.0 if y >= thr else 0.0)
            wx = _exp2(x - top)
            wy = _exp2(y - top)
            z[i] += wx + wy
            zs[i] += wx * x + wy * y
            # insert x, then y, into the sorted list: new b_j = max(b_j, min(b_{j-1}, v))
            for j in range(top_k - 1, 0, -1):
                best[j * LANES + i] = max(best[j * LANES + i], min(best[(j - 1) * LANES + i], x))
            best[i] = max(best[i], x)
            for j in range(top_k - 1, 0, -1):
                best[j * LANES + i] = max(best[j * LANES + i], min(best[(j - 1) * LANES + i], y))
            best[i] = max(best[i], y)
    acc[5] = 2.0 * W


@numba.njit(**_KERNEL)
def _accumulate_lane(sF, sR, i, W, Lk, nN, thr, top, acc, best, ranks):
    """Like _accumulate for lane i alone, leaving out the windows with an N.

    nN : int32 ((L + 1) * LANES), ``nN[p * LANES + i]`` = number of N among the first
    p bases of lane i.
    """
    top_k = len(ranks)
    for m in range(6):
        acc[m, i] = 0.0
    for j in range(top_k):
        best[j * LANES + i] = -np.inf
    for t in range(W):
        if nN[(t + Lk) * LANES + i] != nN[t * LANES + i]:
            continue
        for v in (sF[t * LANES + i], sR[t * LANES + i]):
            acc[0, i] += v
            acc[1, i] += v * v
            acc[2, i] += 1.0 if v >= thr else 0.0
            w = _exp2(v - top)
            acc[3, i] += w
            acc[4, i] += w * v
            acc[5, i] += 1.0
            for j in range(top_k - 1, 0, -1):
                best[j * LANES + i] = max(best[j * LANES + i], min(best[(j - 1) * LANES + i], v))
            best[i] = max(best[i], v)


@numba.njit(**_KERNEL)
def _scan_kernel(codes, tab, pstart, offset, width, fwd, rev, lengths, thresholds, top, ranks, out):
    """All 8 statistics of every motif for a block of equal-length sequences.

    Parameters
    ----------
    codes : uint8 (n, L)
        A C G T N = 0..4.
    tab, pstart, offset, width, fwd, rev, top
        See _piece_tables.
    lengths, thresholds : (K,)
        Motif widths; scores at or above the threshold count as high-affinity sites.
    ranks : tuple of k zeros
        k, the number of best scores averaged, given as the tuple's length so that it
        is a compile-time constant (one specialisation per k, cached as any other).
    out : float64 (n, K, 8)
        Written, NaN where undefined.

    Sequences are processed LANES at a time (the last group padded with A, whose
    results are dropped), positions-major: element ``p * LANES + i`` is position p
    of the group's i-th sequence.
    """
    top_k = len(ranks)
    n, L = codes.shape
    K = lengths.shape[0]
    q = width.max()
    cw = np.zeros((q, L * LANES), dtype=np.int32)
    nN = np.zeros((L + 1) * LANES, dtype=np.int32)
    sF = np.empty(L * LANES)
    sR = np.empty(L * LANES)
    acc = np.empty((6, LANES))
    best = np.empty(top_k * LANES)
    rt_ln2 = R_KCAL * TEMPERATURE * np.log(2.0)
    for i0 in range(0, n, LANES):
        nb = min(LANES, n - i0)
        # codes of 1..q bases from every position (N read as A: such windows are dropped)
        for p in range(L):
            for i in range(LANES):
                b = codes[i0 + i, p] if i < nb else 0
                cw[0, p * LANES + i] = b if b < 4 else 0
                nN[(p + 1) * LANES + i] = nN[p * LANES + i] + (1 if b > 3 else 0)
        for w in range(1, q):
            for u in range((L - w) * LANES):
                cw[w, u] = cw[w - 1, u] * 4 + cw[0, u + w * LANES]
        for k in range(K):
            W = L - lengths[k] + 1
            if W <= 0:
                out[i0:i0 + nb, k, :] = np.nan
                continue
            _score_windows(cw, tab, pstart[k], pstart[k + 1], offset, width, fwd, rev, sF, sR, W * LANES)
            _accumulate(sF, sR, W, thresholds[k], top[k], acc, best, ranks)
            for i in range(nb):
                if nN[L * LANES + i] > 0:
                    _accumulate_lane(sF, sR, i, W, lengths[k], nN, thresholds[k], top[k], acc, best, ranks)
                o = out[i0 + i, k]
                ns = acc[5, i]
                if ns == 0:
                    o[:] = np.nan
                    continue
                mean = acc[0, i] / ns
                var = acc[1, i] / ns - mean * mean
                log2z = np.log2(acc[3, i]) + top[k]
                ent = log2z - acc[4, i] / acc[3, i]
                o[0] = best[i]
                o[1] = mean
                o[2] = var if var > 0.0 else 0.0
                o[3] = acc[2, i]
                o[4] = 2.0 ** log2z
                o[5] = ent if ent > 0.0 else 0.0
                o[6] = -rt_ln2 * log2z
                if ns >= top_k:
                    s = 0.0
                    for j in range(top_k):
                        s += best[j * LANES + i]
                    o[7] = s / top_k
                else:
                    o[7] = np.nan
    return out

def compute(seqs, params=None, motifs=None, background=None, pseudocount=PSEUDOCOUNT, p_threshold=P_THRESHOLD,
            top_k=TOP_K):
    """PWM descriptors of every sequence.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase A/C/G/T/N; lengths may differ.
    params : Params, unused
    motifs : list of Motif, length K, optional (default: HepG2 list)
    background : array (4,), optional
    pseudocount, p_threshold, top_k : see the module docstring

    Returns
    -------
    numpy.ndarray of float64, shape (n, 7 K + 22)
        Columns in the order of :func:`descriptors`.
    """
    motifs = _default_motifs(motifs)
    sc = _scorer(motifs, background, pseudocount, p_threshold)
    K = sc.K
    nm = len(METRICS)
    out = np.full((len(seqs), nm * K + len(AGGREGATES) * nm + 1), np.nan)
    for idx, codes in by_length(seqs):
        if codes.shape[1] == 0:
            continue
        vals = _scan_kernel(np.ascontiguousarray(codes, dtype=np.uint8), *sc.tables, sc.lengths, sc.thresholds,
                            sc.top, (0,) * int(top_k), np.empty((len(idx), K, nm)))
        best_p = np.column_stack([sc.pvalue(k, vals[:, k, 0]) for k in range(K)])
        out[idx, :nm * K] = vals.reshape(len(idx), nm * K)
        agg = np.concatenate([vals.max(axis=1), vals.min(axis=1), vals.sum(axis=1)], axis=1)
        out[idx, nm * K:nm * K + len(AGGREGATES) * nm] = agg   # NaN propagates: NaN if any motif is NaN
        any_nan = np.isnan(best_p).any(axis=1)
        best = np.argmin(np.where(np.isnan(best_p), np.inf, best_p), axis=1).astype(np.float64)
        best[any_nan] = np.nan
        out[idx, -1] = best
    return out[:, _written_columns(K)]


def _written_columns(K):
    """Indices of the written columns among the scan's 8 K + 25 (RETIRED_METRICS left out)."""
    nm = len(METRICS)
    keep = [i for i in range(nm * (K + len(AGGREGATES))) if METRICS[i % nm] not in RETIRED_METRICS]
    return np.asarray(keep + [nm * (K + len(AGGREGATES))], dtype=np.intp)
