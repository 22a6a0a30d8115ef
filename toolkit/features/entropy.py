"""Information and complexity descriptors (``entropy_*``).

All entropies are in bits (log base 2) and computed from the sequence's own
counts (no pseudocounts), as the design document's formulas do. N handling:

* counts of bases, k-mers, base pairs at a distance and windows only use items
  made of A/C/G/T (an item containing N is left out, and so are its positions);
* a statistic with nothing left to count is NaN;
* the two parse-based measures (Lempel-Ziv, linguistic complexity) keep the
  sequence in one piece and treat every N as a symbol that matches nothing.

Strand symmetry: a k-mer and its reverse complement have the same count on the
two strands, and entropies, mutual information, window statistics, runs,
palindromes and repeats only depend on such counts, so every descriptor except
``entropy_lempel_ziv_complexity`` (a left-to-right parse),
``entropy_compression_ratio`` (a left-to-right context model) and
``entropy_conditional_order*`` (a base given the bases before it: on the reverse
strand, given the bases after it, which differs by the windows at the two ends)
is the same for a sequence and its reverse complement.

Work is vectorised over all sequences of one length (:func:`by_length`), in
blocks of :data:`BLOCK_ROWS` rows to bound memory. Window compositions are read
from one cumulative sum of packed per-base weights; k-mer distributions from
``bincount`` (k <= 4) or a row-wise sort (k >= 5); the Lempel-Ziv parse from
longest-previous-factor lengths found by rank doubling over all rows at once.
"""

from math import lgamma, log

import numpy as np

from . import Descriptor
from .encode import by_length

FAMILY = "entropy"

#: Window widths of the windowed Shannon entropy and of the windowed GC entropy.
SHANNON_WINDOWS = (5, 10, 15, 20)
GC_WINDOWS = (5, 10)
KMER_ORDERS = (1, 2, 3, 4, 5, 6)
CONDITIONAL_ORDERS = (1, 2, 3)
RENYI_ALPHAS = (("0.0", 0.0), ("0.5", 0.5), ("2.0", 2.0), ("inf", np.inf))
MI_DISTANCES = (1, 2, 3, 5, 10)
#: Length of the reverse-complement palindromes counted by ``palindrome_density``.
PALINDROME_LENGTH = 6
#: k of the k-mers whose multiplicity defines ``repeat_density``.
REPEAT_K = 8
#: Tandem repeats: unit periods 1-6 bp, at least this many bases in the repeat.
TANDEM_PERIODS = (1, 2, 3, 4, 5, 6)
TANDEM_MIN_LENGTH = 12
#: Context length of the adaptive model behind ``compression_ratio``.
COMPRESSION_ORDER = 2
#: Rows processed together (bounds the k-mer count matrices).
BLOCK_ROWS = 4096


def _layout():
    """(name, kind, argument) of every descriptor in the document's order (46)."""
    out = [("entropy_shannon_global", "shannon", None)]
    for stat in ("mean", "max", "min", "std"):
        out += [(f"entropy_shannon_w{w}_{stat}", "shannon_w", (w, stat)) for w in SHANNON_WINDOWS]
    out += [(f"entropy_kmer_{k}mer", "kmer", k) for k in KMER_ORDERS]
    out += [(f"entropy_conditional_order{o}", "cond", o) for o in CONDITIONAL_ORDERS]
    out += [(f"entropy_renyi_entropy_alpha{label}", "renyi", a) for label, a in RENYI_ALPHAS]
    out += [("entropy_lempel_ziv_complexity", "lz", None)]
    out += [(f"entropy_mutual_info_dist{d}", "mi", d) for d in MI_DISTANCES]
    for stat in ("mean", "max"):
        out += [(f"entropy_gc_entropy_w{w}_{stat}", "gc_w", (w, stat)) for w in GC_WINDOWS]
    out += [("entropy_linguistic_complexity", "lc", None),
            ("entropy_compression_ratio", "compress", None),
            ("entropy_run_length_entropy", "runlen", None),
            ("entropy_palindrome_density", "palindrome", None),
            ("entropy_repeat_density", "repeat", None),
            ("entropy_tandem_repeat_fraction", "tandem", None)]
    return out


_SHANNON = "Shannon C (1948) Bell Syst Tech J 27:379-423"
_STAT_WORDS = {"mean": "Mean", "max": "Maximum", "min": "Minimum", "std": "Population standard deviation"}


def _describe(kind, arg):
    """(unit, formula, source) of one descriptor."""
    if kind == "shannon":
        return ("bits", "Shannon entropy -Σ p·log2 p of the A/C/G/T composition (N excluded).", _SHANNON)
    if kind == "shannon_w":
        w, stat = arg
        return ("bits", f"{_STAT_WORDS[stat]} over all {w}-bp sliding windows (step 1, windows with N "
                        "left out) of the Shannon entropy of the window's base composition.", _SHANNON)
    if kind == "kmer":
        return ("bits", f"Shannon entropy of the frequencies of the overlapping {arg}-mers without N "
                        f"(maximum log2 of min(4^{arg}, number of {arg}-mers)).", _SHANNON)
    if kind == "cond":
        return ("bits", f"Conditional entropy H({arg + 1}-mers) - H(their first {arg} bases) of a base "
                        f"given the {arg} preceding bases, over the {arg + 1}-mers without N (>= 0; "
                        "not strand-symmetric: the reverse strand conditions on the following bases).",
                "Shannon C (1948); design document section 5.2.2")
    if kind == "renyi":
        return ("bits", f"Rényi entropy of order {arg} of the A/C/G/T composition: "
                        "log2(Σ p^α)/(1-α); α=0 log2 of the number of bases present, α=inf -log2 max p.",
                "Rényi A (1961) Proc 4th Berkeley Symp Math Stat Prob 1:547-561")
    if kind == "lz":
        return ("-", "Lempel-Ziv (1976) phrase count c of the exhaustive left-to-right parse, normalised "
                     "as c·log4(L)/L (about 1 for a random sequence); N matches nothing; not "
                     "strand-symmetric.",
                "Lempel A, Ziv J (1976) IEEE Trans Inf Theory 22:75-81; algorithm of Kaspar F, "
                "Schuster HG (1987) Phys Rev A 36:842-848")
    if kind == "mi":
        return ("bits", f"Mutual information Σ p(a,b)·log2(p(a,b)/(p(a)·p(b))) between the bases at "
                        f"positions i and i+{arg}, over all such pairs without N.",
                "Li W (1990) J Stat Phys 60:823-837")
    if kind == "gc_w":
        w, stat = arg
        return ("bits", f"{_STAT_WORDS[stat]} over all {w}-bp sliding windows without N of the binary "
                        "entropy of the window's GC fraction.", _SHANNON)
    if kind == "lc":
        return ("-", "Linguistic complexity: distinct substrings without N summed over all lengths k, "
                     "divided by Σ_k min(4^k, number of k-mers without N).",
                "Troyanskaya OG et al. (2002) Bioinformatics 18:679-688; Trifonov EN (1990)")
    if kind == "compress":
        return ("-", f"Ideal code length of an adaptive order-{COMPRESSION_ORDER} Markov model "
                     "(Krichevsky-Trofimov estimator) over the bases that follow an N-free "
                     f"{COMPRESSION_ORDER}-base context, divided by 2 bits per base; not strand-symmetric.",
                "Krichevsky RE, Trofimov VK (1981) IEEE Trans Inf Theory 27:199-207")
    if kind == "runlen":
        return ("bits", "Shannon entropy of the length distribution of the maximal homopolymer runs "
                        "(runs of N left out).", _SHANNON)
    if kind == "palindrome":
        return ("-", f"Fraction of the {PALINDROME_LENGTH}-mers without N that equal their own reverse "
                     "complement (1/64 expected at random).",
                "Gelfand MS, Koonin EV (1997) Nucleic Acids Res 25:2430-2439")
    if kind == "repeat":
        return ("-", f"Fraction of the {REPEAT_K}-mers without N whose {REPEAT_K}-mer occurs more than "
                     "once in the sequence (direct repeats).", "defined here (k-mer multiplicity)")
    if kind == "tandem":
        return ("-", f"Fraction of the A/C/G/T bases inside a perfect tandem repeat of unit "
                     f"{TANDEM_PERIODS[0]}-{TANDEM_PERIODS[-1]} bp spanning at least {TANDEM_MIN_LENGTH} bp.",
                "microsatellite definition (unit 1-6 bp, Ellegren H (2004) Nat Rev Genet 5:435-445); "
                f"{TANDEM_MIN_LENGTH}-bp threshold chosen here")
    raise ValueError(kind)


def descriptors(params=None, **options):
    """The 46 ``entropy_*`` descriptors, in output order.

    Returns
    -------
    list of toolkit.features.Descriptor
    """
    out = []
    for name, kind, arg in _layout():
        unit, formula, source = _describe(kind, arg)
        out.append(Descriptor(name, FAMILY, unit, formula, source))
    return out


# --------------------------------------------------------------------------- helpers


def _xlog2x(n):
    """Table t[c] = c·log2(c) for c = 0..n (t[0] = 0)."""
    c = np.arange(n + 1, dtype=np.float64)
    out = np.zeros(n + 1)
    out[1:] = c[1:] * np.log2(c[1:])
    return out


def _entropy_from_counts(counts, xlogx):
    """Shannon entropy (bits) of each row of an integer count matrix (m, K); NaN for empty rows."""
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.log2(n) - xlogx[counts].sum(axis=1) / n
    h[n == 0] = np.nan
    return np.maximum(h, 0.0) if h.size else h


def _row_bincount(keys, size):
    """Counts (m, size) of the values 0..size-1 in each row of ``keys`` (m, W); -1 is ignored."""
    m = keys.shape[0]
    k = np.where(keys >= 0, keys, size) + (size + 1) * np.arange(m)[:, None]
    c = np.bincount(k.ravel(), minlength=m * (size + 1)).reshape(m, size + 1)
    return c[:, :size]


def _kmer_keys(codes, k_max):
    """k-mer indices for k = 1..k_max: dict k -> int64 (m, L-k+1), -1 where the k-mer has an N."""
    m, L = codes.shape
    c = codes.astype(np.int64)
    bad = codes > 3
    out = {}
    cur = np.where(bad, -1, c)
    out[1] = cur
    for k in range(2, k_max + 1):
        W = L - k + 1
        if W <= 0:
            out[k] = np.zeros((m, 0), dtype=np.int64)
            continue
        prev = out[k - 1][:, :W]
        nxt = c[:, k - 1:]
        cur = np.where((prev >= 0) & ~bad[:, k - 1:], prev * 4 + nxt, -1)
        out[k] = cur
    return out


def _sorted_groups(keys):
    """Sort each row; return (sorted, new-run flags, rank within run 1.., valid flags)."""
    s = np.sort(keys, axis=1)
    m, W = s.shape
    new = np.ones((m, W), dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    cols = np.arange(W)
    start = np.maximum.accumulate(np.where(new, cols, 0), axis=1)
    return s, new, cols - start + 1, s >= 0


def _entropy_sorted(keys, incr):
    """Shannon entropy (bits) per row of the multiset of non-negative values of ``keys`` (m, W).

    ``incr[t] = t·log2 t - (t-1)·log2(t-1)``, so that summing it over the rank t of each item
    within its group gives Σ c·log2 c.
    """
    m, W = keys.shape
    if W == 0:
        return np.full(m, np.nan)
    _, _, t, valid = _sorted_groups(keys)
    n = valid.sum(axis=1)
    s = np.where(valid, incr[t], 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        h = np.log2(n) - s / n
    h[n == 0] = np.nan
    return np.maximum(h, 0.0)


def _window_codes(codes, w, weights):
    """Packed composition code of every w-bp window: Σ weights[base] (m, L-w+1), int64."""
    m, L = codes.shape
    cs = np.zeros((m, L + 1), dtype=np.int64)
    np.cumsum(weights[codes], axis=1, out=cs[:, 1:])
    return cs[:, w:] - cs[:, :-w]


def _shannon_window_table(w):
    """Entropy (bits) of a w-window indexed by the packed code Σ (w+1)^(3-b) over its bases;
    NaN for codes whose counts do not sum to w (the window holds an N)."""
    b = w + 1
    cA, cC, cG, cT = np.meshgrid(*(np.arange(b),) * 4, indexing="ij")
    code = ((cA * b + cC) * b + cG) * b + cT
    tot = cA + cC + cG + cT
    xl = _xlog2x(w)
    h = np.log2(w) - (xl[cA] + xl[cC] + xl[cG] + xl[cT]) / w
    table = np.full(b ** 4, np.nan)
    table[code[tot == w]] = np.maximum(h[tot == w], 0.0)
    weights = np.array([b ** 3, b ** 2, b, 1, 0], dtype=np.int64)
    return table, weights


def _gc_window_table(w):
    """Binary entropy (bits) of the GC fraction of a w-window, indexed by gc·(w+1) + at; NaN if gc+at < w."""
    b = w + 1
    gc, at = np.meshgrid(np.arange(b), np.arange(b), indexing="ij")
    p = gc / w
    with np.errstate(invalid="ignore", divide="ignore"):
        h = 0.0 - (np.where(p > 0, p * np.log2(p), 0.0) + np.where(p < 1, (1 - p) * np.log2(1 - p), 0.0))
    table = np.full(b * b, np.nan)
    ok = gc + at == w
    table[(gc * b + at)[ok]] = h[ok]
    weights = np.array([1, b, b, 1, 0], dtype=np.int64)
    return table, weights


def _masked_stats(vals, stats):
    """Statistics over the non-NaN entries of each row of ``vals`` (m, W): dict stat -> (m,).
    NaN where a row has none."""
    m, W = vals.shape
    ok = ~np.isnan(vals)
    n = ok.sum(axis=1)
    out = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(ok, vals, 0.0)
        mean = z.sum(axis=1) / n
        for stat in stats:
            if stat == "mean":
                out[stat] = mean
            elif stat == "max":
                out[stat] = np.where(ok, vals, -np.inf).max(axis=1) if W else np.full(m, np.nan)
            elif stat == "min":
                out[stat] = np.where(ok, vals, np.inf).min(axis=1) if W else np.full(m, np.nan)
            elif stat == "std":
                out[stat] = np.sqrt(np.where(ok, (vals - mean[:, None]) ** 2, 0.0).sum(axis=1) / n)
    for stat in out:
        out[stat] = np.where(n > 0, out[stat], np.nan)
    return out


def _rc_palindromes(k):
    """bool (4^k,): k-mer index equal to the index of its reverse complement."""
    idx = np.arange(4 ** k)
    rc = np.zeros_like(idx)
    x = idx.copy()
    for _ in range(k):
        rc = rc * 4 + (3 - x % 4)
        x //= 4
    return rc == idx


def _lz_and_linguistic(codes):
    """Lempel-Ziv (1976) phrase counts and linguistic complexity of each row.

    For every position i, the longest previous factor LPF[i] (longest l such that
    s[i:i+l] also starts at some j < i) is found level by level: the l-mers of all
    rows are ranked by one row-wise sort, an l-mer that is not the first of its rank
    has occurred before, and (l+1)-mers get the rank ``rank_l·5 + next base``. A row
    leaves the loop at the first l where no l-mer repeats. N gets a unique rank, so
    nothing containing an N repeats. The same ranks count the distinct N-free l-mers
    of every length for the linguistic complexity.

    codes : uint8 (m, L). Returns (phrases int64 (m,), linguistic float64 (m,)).
    """
    m, L = codes.shape
    valid = codes < 4
    pos = np.arange(L, dtype=np.int64)
    lpf = np.zeros((m, L), dtype=np.int64)
    num = np.zeros(m)
    den = np.zeros(m)
    done_level = np.full(m, L, dtype=np.int64)
    rows = np.arange(m)
    ids = np.where(valid, codes.astype(np.int64), 5 * L + pos)     # N: unique
    cur_valid = valid
    level = 1
    while rows.size and level <= L:
        W = L - level + 1
        key = ids * (6 * L) + pos[:W]
        s = np.sort(key, axis=1)
        sid, spos = np.divmod(s, 6 * L)
        new = np.ones((rows.size, W), dtype=bool)
        new[:, 1:] = sid[:, 1:] != sid[:, :-1]
        flat = (spos + W * np.arange(rows.size)[:, None]).ravel()
        seen = np.empty((rows.size, W), dtype=bool)
        seen.ravel()[flat] = ~new.ravel()
        rank = np.empty((rows.size, W), dtype=np.int64)
        rank.ravel()[flat] = (np.cumsum(new, axis=1) - 1).ravel()
        nvalid = cur_valid.sum(axis=1)
        num[rows] += nvalid - (seen & cur_valid).sum(axis=1)
        den[rows] += np.minimum(4.0 ** min(level, 60), nvalid)
        lpf[rows, :W] += seen
        more = seen.any(axis=1)
        done_level[rows[~more]] = level
        if not more.any() or W == 1:
            break
        keep = np.flatnonzero(more)
        rows = rows[keep]
        nxt_valid = cur_valid[keep, :-1] & valid[rows, level:]
        ids = np.where(nxt_valid, rank[keep, :-1] * 5 + codes[rows, level:], 5 * L + pos[:W - 1])
        cur_valid = nxt_valid
        level += 1
    # lengths beyond a row's last level: every N-free l-mer is distinct and counts in both sums
    padded = np.zeros((m, L + 2), dtype=bool)
    padded[:, 1:-1] = valid
    edges = np.diff(padded.astype(np.int8), axis=1)
    r0, c0 = np.nonzero(edges == 1)
    _, c1 = np.nonzero(edges == -1)
    seg = c1 - c0
    x = np.maximum(seg - done_level[r0], 0).astype(np.float64)
    tail = np.bincount(r0, weights=x * (x + 1) / 2, minlength=m)
    with np.errstate(invalid="ignore", divide="ignore"):
        linguistic = (num + tail) / (den + tail)
    linguistic[valid.sum(axis=1) == 0] = np.nan
    # phrase walk: next phrase starts after the longest previous factor plus one new symbol
    phrases = np.zeros(m, dtype=np.int64)
    at = np.zeros(m, dtype=np.int64)
    act = np.flatnonzero(np.full(m, L > 0))
    while act.size:
        phrases[act] += 1
        at[act] += lpf[act, at[act]] + 1
        act = act[at[act] < L]
    return phrases, linguistic


def _run_length_entropy(codes, xlogx):
    """Shannon entropy (bits) of the homopolymer run-length distribution of each row (N runs ignored)."""
    m, L = codes.shape
    if L == 0:
        return np.full(m, np.nan)
    new = np.ones((m, L), dtype=bool)
    new[:, 1:] = codes[:, 1:] != codes[:, :-1]
    flat = new.ravel()
    run_id = np.cumsum(flat) - 1
    lengths = np.bincount(run_id)
    starts = np.flatnonzero(flat)
    base = codes.ravel()[starts]
    row = starts // L
    keep = base < 4
    counts = np.bincount(row[keep] * (L + 1) + lengths[keep], minlength=m * (L + 1)).reshape(m, L + 1)
    return _entropy_from_counts(counts, xlogx)


def _tandem_fraction(codes):
    """Fraction of A/C/G/T bases covered by perfect tandem repeats (period 1-6, >= TANDEM_MIN_LENGTH bp).

    A base is covered when some TANDEM_MIN_LENGTH-bp window around it is p-periodic
    (s[i] == s[i+p] throughout, no N) for a period p; the union of such windows is
    exactly the set of bases inside periodic stretches of at least that length.
    """
    m, L = codes.shape
    T = TANDEM_MIN_LENGTH
    n = (codes < 4).sum(axis=1)
    covered = np.zeros((m, L), dtype=bool)
    if L >= T:
        starts = np.zeros((m, L - T + 1), dtype=bool)          # window s[i:i+T] is periodic
        for p in TANDEM_PERIODS:
            if p >= T:
                continue
            eq = (codes[:, p:] == codes[:, :-p]) & (codes[:, p:] < 4)     # (m, L-p)
            c = np.zeros((m, L - p + 1), dtype=np.int32)
            np.cumsum(eq, axis=1, out=c[:, 1:])
            starts |= (c[:, T - p:] - c[:, :-(T - p)]) == T - p
        c = np.zeros((m, L + T), dtype=np.int32)
        np.cumsum(starts, axis=1, out=c[:, T:L + 1])
        c[:, L + 1:] = c[:, L:L + 1]
        covered = (c[:, T:] - c[:, :L]) > 0                  # some window start in (x-T, x]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = covered.sum(axis=1) / n
    out[n == 0] = np.nan
    return out


def _kt_ratio(keys, order):
    """Krichevsky-Trofimov ideal code length / (2 bits per base) of an order-``order`` model.

    keys : int64 (m, W) indices of the (order+1)-mers (-1 with N). The KT estimator
    P(b | ctx) = (c(ctx, b) + 1/2) / (c(ctx) + 2) is exchangeable, so the sequential
    code length only depends on the final counts: per context,
    log2 Γ(n+2)/Γ(2) - Σ_b log2 Γ(c_b + 1/2)/Γ(1/2).
    """
    m, W = keys.shape
    K = 4 ** (order + 1)
    counts = _row_bincount(keys, K)                                       # (m, 4^(order+1))
    top = int(counts.max()) + 1 if counts.size else 1
    ctx = counts.reshape(m, K // 4, 4).sum(axis=2)
    lg_half = np.array([lgamma(c + 0.5) - lgamma(0.5) for c in range(top)]) / log(2.0)
    lg_two = np.array([lgamma(c + 2.0) - lgamma(2.0) for c in range(W + 1)]) / log(2.0)
    bits = lg_two[ctx].sum(axis=1) - lg_half[counts].sum(axis=1)
    n = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = bits / (2.0 * n)
    out[n == 0] = np.nan
    return out


# --------------------------------------------------------------------------- compute


class _Tables:
    """Lookup tables that depend only on the sequence length L (built once per length)."""

    def __init__(self, L):
        self.xlogx = _xlog2x(max(L, 1) + 1)
        t = np.arange(max(L, 1) + 2, dtype=np.float64)
        self.incr = np.zeros(t.size)
        self.incr[1:] = self.xlogx[1:t.size] - self.xlogx[0:t.size - 1]
        self.shannon = {w: _shannon_window_table(w) for w in SHANNON_WINDOWS if w <= L}
        self.gc = {w: _gc_window_table(w) for w in GC_WINDOWS if w <= L}
        self.palindrome = _rc_palindromes(PALINDROME_LENGTH)


def _compute_block(codes, tabs):
    """Descriptors of one block of equal-length sequences: float64 (m, 46)."""
    m, L = codes.shape
    layout = _layout()
    col = {name: j for j, (name, _, _) in enumerate(layout)}
    out = np.full((m, len(layout)), np.nan)
    if L == 0:
        return out
    kmax = max(max(KMER_ORDERS), max(CONDITIONAL_ORDERS) + 1, PALINDROME_LENGTH, REPEAT_K,
               COMPRESSION_ORDER + 1)
    keys = _kmer_keys(codes, kmax)
    xlogx = tabs.xlogx

    # base composition: Shannon, Rényi
    comp = _row_bincount(keys[1], 4)
    out[:, col["entropy_shannon_global"]] = _entropy_from_counts(comp, xlogx)
    n1 = comp.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = comp / n1[:, None]
        for label, a in RENYI_ALPHAS:
            if a == 0.0:
                v = np.log2((comp > 0).sum(axis=1).astype(np.float64))
            elif a == np.inf:
                v = -np.log2(p.max(axis=1))
            else:
                v = np.log2((np.where(p > 0, p, 0.0) ** a).sum(axis=1)) / (1.0 - a)
            out[:, col[f"entropy_renyi_entropy_alpha{label}"]] = np.where(n1 > 0, np.maximum(v, 0.0), np.nan)

    # k-mer entropies; conditional entropies from the (o+1)-mer counts and their own
    # o-base context marginals, so that H(X | o preceding bases) >= 0 exactly
    H = {}
    counts = {}
    for k in KMER_ORDERS:
        if keys[k].shape[1] == 0:
            H[k] = np.full(m, np.nan)
        elif k <= 4:
            counts[k] = _row_bincount(keys[k], 4 ** k)
            H[k] = _entropy_from_counts(counts[k], xlogx)
        else:
            H[k] = _entropy_sorted(keys[k], tabs.incr)
        out[:, col[f"entropy_kmer_{k}mer"]] = H[k]
    for o in CONDITIONAL_ORDERS:
        k = o + 1
        if keys[k].shape[1] == 0:
            continue
        joint = counts[k] if k in counts else _row_bincount(keys[k], 4 ** k)
        context = joint.reshape(m, 4 ** o, 4).sum(axis=2)
        hj = _entropy_from_counts(joint, xlogx)
        hc = _entropy_from_counts(context, xlogx)
        out[:, col[f"entropy_conditional_order{o}"]] = np.maximum(hj - hc, 0.0)   # clip rounding only

    # windowed Shannon and GC entropy
    for w in SHANNON_WINDOWS:
        if w in tabs.shannon:
            table, weights = tabs.shannon[w]
            st = _masked_stats(table[_window_codes(codes, w, weights)], ("mean", "max", "min", "std"))
            for stat, v in st.items():
                out[:, col[f"entropy_shannon_w{w}_{stat}"]] = v
    for w in GC_WINDOWS:
        if w in tabs.gc:
            table, weights = tabs.gc[w]
            st = _masked_stats(table[_window_codes(codes, w, weights)], ("mean", "max"))
            for stat, v in st.items():
                out[:, col[f"entropy_gc_entropy_w{w}_{stat}"]] = v

    # mutual information between bases d apart
    c = codes.astype(np.int64)
    for d in MI_DISTANCES:
        if L <= d:
            continue
        a, b = c[:, :-d], c[:, d:]
        pair = np.where((a < 4) & (b < 4), 4 * a + b, -1)
        joint = _row_bincount(pair, 16)
        j3 = joint.reshape(m, 4, 4)
        mi = (_entropy_from_counts(j3.sum(axis=2), xlogx) + _entropy_from_counts(j3.sum(axis=1), xlogx)
              - _entropy_from_counts(joint, xlogx))
        out[:, col[f"entropy_mutual_info_dist{d}"]] = np.maximum(mi, 0.0)

    # parse-based: Lempel-Ziv and linguistic complexity
    phrases, linguistic = _lz_and_linguistic(codes)
    lz = phrases * (np.log(L) / np.log(4.0)) / L if L >= 2 else np.full(m, np.nan)
    lz = np.where((codes < 4).any(axis=1), lz, np.nan)
    out[:, col["entropy_lempel_ziv_complexity"]] = lz
    out[:, col["entropy_linguistic_complexity"]] = linguistic

    # compression, runs, palindromes, repeats, tandem repeats
    kt = keys[COMPRESSION_ORDER + 1]
    out[:, col["entropy_compression_ratio"]] = _kt_ratio(kt, COMPRESSION_ORDER) if kt.shape[1] else np.nan
    out[:, col["entropy_run_length_entropy"]] = _run_length_entropy(codes, xlogx)
    k6 = keys[PALINDROME_LENGTH]
    if k6.shape[1]:
        ok = k6 >= 0
        n = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            dens = (tabs.palindrome[np.maximum(k6, 0)] & ok).sum(axis=1) / n
        out[:, col["entropy_palindrome_density"]] = np.where(n > 0, dens, np.nan)
    k8 = keys[REPEAT_K]
    if k8.shape[1]:
        s, new, _, ok = _sorted_groups(k8)
        last = np.ones_like(new)
        last[:, :-1] = new[:, 1:]
        dup = ~(new & last) & ok                       # not a group of one
        n = ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, col["entropy_repeat_density"]] = np.where(n > 0, dup.sum(axis=1) / n, np.nan)
    out[:, col["entropy_tandem_repeat_fraction"]] = _tandem_fraction(codes)
    return out


def compute(seqs, params=None, **options):
    """Entropy and complexity descriptors of ``seqs``.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase A/C/G/T/N sequences (lengths may differ).
    params : toolkit.features.params.Params, optional
        Unused (no parameter table); accepted for the family interface.

    Returns
    -------
    numpy.ndarray of float64, shape (n, 46)
        Columns in the order of :func:`descriptors`; NaN where a descriptor is
        undefined for a sequence (too short for a window or k-mer, or only N).
    """
    out = np.empty((len(seqs), len(_layout())), dtype=np.float64)
    for idx, codes in by_length(seqs):
        tabs = _Tables(codes.shape[1])
        for start in range(0, len(idx), BLOCK_ROWS):
            sl = slice(start, start + BLOCK_ROWS)
            out[idx[sl]] = _compute_block(codes[sl], tabs)
    return out
