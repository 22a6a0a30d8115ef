"""Information and complexity descriptors (``entropy_*``).

All entropies are in bits (log base 2) and computed from the sequence's own
counts (no pseudocounts). N handling:

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

Sequences are grouped by length (:func:`by_length`) and each group goes, in
blocks of :data:`BLOCK_ROWS` rows, through one compiled pass (numba) that computes
all 46 descriptors of a sequence before the next: sliding windows keep their base
counts in registers; k-mers up to 4 bp are counted in dense arrays, longer ones in
a scratch array cleared as it is read; the Lempel-Ziv parse, the linguistic
complexity and the repeat density all come from the longest previous factor of
every position, found level by level over only the positions whose prefix repeats.
Tables that depend only on the length are built once per length and cached. Sums
that the earlier numpy implementation took over dense arrays are taken in numpy's
pairwise order, so its values are reproduced to the last bit (the 5- and 6-mer
entropies to within a unit or two in the last place).
"""

from functools import lru_cache
from math import lgamma, log

import numba
import numpy as np

from . import Descriptor, written_columns
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
#: Rows handed to the compiled kernel at once (bounds the output block held in memory).
BLOCK_ROWS = 4096


def _layout():
    """(name, kind, argument) of every descriptor, in output order (46)."""
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
                "Shannon C (1948)")
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


def _all_descriptors(params=None, **options):
    """All 46 ``entropy_*`` statistics the kernel computes, in its order (RETIRED included).

    Returns
    -------
    list of toolkit.features.Descriptor
    """
    out = []
    for name, kind, arg in _layout():
        unit, formula, source = _describe(kind, arg)
        caveat = ""
        if kind == "renyi" and arg == 0:
            caveat = ("log2 of the number of distinct bases: 2 for nearly every natural sequence over a few "
                      "dozen bases.")
        out.append(Descriptor(name, FAMILY, unit, formula, source, caveat))
    return out


# --------------------------------------------------------------------------- tables


def _xlog2x(n):
    """Table t[c] = c·log2(c) for c = 0..n (t[0] = 0)."""
    c = np.arange(n + 1, dtype=np.float64)
    out = np.zeros(n + 1)
    out[1:] = c[1:] * np.log2(c[1:])
    return out


def _gc_window_values(w):
    """Binary entropy (bits) of the GC fraction of a w-bp window, indexed by its GC count 0..w."""
    p = np.arange(w + 1) / w
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.0 - (np.where(p > 0, p * np.log2(p), 0.0) + np.where(p < 1, (1 - p) * np.log2(1 - p), 0.0))


def _rc_palindromes(k):
    """bool (4^k,): k-mer index equal to the index of its reverse complement."""
    idx = np.arange(4 ** k)
    rc = np.zeros_like(idx)
    x = idx.copy()
    for _ in range(k):
        rc = rc * 4 + (3 - x % 4)
        x //= 4
    return rc == idx


def _columns():
    """Output columns of the kernel's statistics, from :func:`_layout` (int64 arrays).

    Returns a dict: ``shannon`` (len(SHANNON_WINDOWS), 4) for mean, max, min, std;
    ``gc`` (len(GC_WINDOWS), 2) for mean, max; ``kmer``, ``cond``, ``renyi``, ``mi`` in
    the order of their constants; ``single`` (8,) for shannon_global, lempel_ziv,
    linguistic, compression, run_length, palindrome, repeat and tandem.
    """
    col = {name: j for j, (name, _, _) in enumerate(_layout())}
    stats4 = ("mean", "max", "min", "std")
    single = ("shannon_global", "lempel_ziv_complexity", "linguistic_complexity", "compression_ratio",
              "run_length_entropy", "palindrome_density", "repeat_density", "tandem_repeat_fraction")
    a = lambda names: np.array([col[f"entropy_{n}"] for n in names], dtype=np.int64)  # noqa: E731
    return {
        "shannon": np.array([[col[f"entropy_shannon_w{w}_{s}"] for s in stats4] for w in SHANNON_WINDOWS],
                            dtype=np.int64).reshape(len(SHANNON_WINDOWS), 4),
        "gc": np.array([[col[f"entropy_gc_entropy_w{w}_{s}"] for s in ("mean", "max")] for w in GC_WINDOWS],
                       dtype=np.int64).reshape(len(GC_WINDOWS), 2),
        "kmer": a(f"kmer_{k}mer" for k in KMER_ORDERS),
        "cond": a(f"conditional_order{o}" for o in CONDITIONAL_ORDERS),
        "renyi": a(f"renyi_entropy_alpha{label}" for label, _ in RENYI_ALPHAS),
        "mi": a(f"mutual_info_dist{d}" for d in MI_DISTANCES),
        "single": a(single),
    }


@lru_cache(maxsize=16)
def _tables(L):
    """Lookup tables that depend only on the sequence length L (built once per length).

    Returns a tuple of arrays in the order :func:`_entropy_kernel` takes them:
    ``xlogx`` (c·log2 c), ``log2n`` (log2 c), ``lg_half`` (log2 Γ(c+1/2)/Γ(1/2)) and
    ``lg_two`` (log2 Γ(c+2)/Γ(2)) for c = 0..L+1; ``log2w`` (log2 of each Shannon
    window width); ``gc_values`` and ``gc_offsets`` (the binary entropies of every GC
    count of each GC window width, concatenated); ``palindrome`` (bool, 4^6); and the
    Lempel-Ziv normalisation log4(L) (float; NaN for L < 2). Arrays are read-only.
    """
    top = max(L, 1) + 1
    xlogx = _xlog2x(top)
    with np.errstate(divide="ignore"):
        log2n = np.log2(np.arange(top + 1, dtype=np.float64))
    lg_half = np.array([lgamma(c + 0.5) - lgamma(0.5) for c in range(top + 1)]) / log(2.0)
    lg_two = np.array([lgamma(c + 2.0) - lgamma(2.0) for c in range(top + 1)]) / log(2.0)
    log2w = np.array([np.log2(w) for w in SHANNON_WINDOWS], dtype=np.float64)
    gc_parts = [_gc_window_values(w) for w in GC_WINDOWS]
    gc_offsets = np.cumsum([0] + [p.size for p in gc_parts])[:-1].astype(np.int64)
    gc_values = np.concatenate(gc_parts)
    palindrome = _rc_palindromes(PALINDROME_LENGTH)
    arrays = (xlogx, log2n, lg_half, lg_two, log2w, gc_values, gc_offsets, palindrome)
    for a in arrays:
        a.setflags(write=False)
    return arrays + (float(np.log(L) / np.log(4.0)) if L >= 2 else np.nan,)


# --------------------------------------------------------------------------- compiled kernels
#
# Each helper works on one sequence ``c`` (uint8 codes, A0 C1 G2 T3, N 4) and writes its
# descriptors into ``row`` (float64, one output row, NaN on entry where undefined).
# Counts that the earlier numpy implementation summed over dense arrays (k-mers with
# k <= _DENSE_K, base pairs at a distance, run lengths, window values) are summed here in
# numpy's pairwise order, so those descriptors are the same to the last bit; the k-mer
# entropies with k > _DENSE_K differ by at most a unit or two in the last place.

#: k-mers up to this length are counted in dense arrays of 4^k cells.
_DENSE_K = 4
#: The longest-previous-factor search marks repeated k-mers directly up to this k.
_LPF_START = 6


@numba.njit(cache=True, nogil=True)
def _clip0(h):
    """max(h, 0), NaN kept."""
    return h if not h < 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def _block_sum(a, lo, n):
    """Sum of a[lo:lo+n], n <= 128, in numpy's order: 8 partial sums, then a tree."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(a, n, stack, partial):
    """Sum of a[:n] in numpy's pairwise order (halves rounded down to multiples of 8,
    blocks of at most 128), as ``numpy.sum`` adds a contiguous row.

    The recursion is unrolled on the work arrays ``stack`` (int64 (3, 128)) and
    ``partial`` (float64 (128,)): numba's on-disk cache does not keep recursive functions.
    """
    if n <= 128:
        return _block_sum(a, 0, n)
    top = 0
    stack[0, 0] = 0          # start
    stack[1, 0] = n          # length
    stack[2, 0] = 0          # 0: halves not yet pushed, 1: halves summed
    nv = 0
    while top >= 0:
        lo = stack[0, top]
        m = stack[1, top]
        if m <= 128:
            partial[nv] = _block_sum(a, lo, m)
            nv += 1
            top -= 1
        elif stack[2, top] == 0:
            stack[2, top] = 1
            n2 = m // 2
            n2 -= n2 % 8
            stack[0, top + 1] = lo + n2          # right half, summed second
            stack[1, top + 1] = m - n2
            stack[2, top + 1] = 0
            stack[0, top + 2] = lo               # left half, summed first
            stack[1, top + 2] = n2
            stack[2, top + 2] = 0
            top += 2
        else:
            partial[nv - 2] = partial[nv - 2] + partial[nv - 1]
            nv -= 1
            top -= 1
    return partial[0]


@numba.njit(cache=True, nogil=True)
def _table_sum(table, counts, lo, K, tmp, stack, partial):
    """Σ_j table[counts[lo + j]] for j < K, in numpy's pairwise order."""
    for j in range(K):
        tmp[j] = table[counts[lo + j]]
    return _pairwise_sum(tmp, K, stack, partial)


@numba.njit(cache=True, nogil=True)
def _dense_entropy(counts, lo, K, xlogx, log2n, tmp, stack, partial):
    """Shannon entropy (bits) of the count vector counts[lo:lo+K] and its total;
    NaN for a zero total. Σ c·log2 c is added in numpy's pairwise order."""
    n = 0
    for j in range(K):
        cj = counts[lo + j]
        n += cj
        tmp[j] = xlogx[cj]
    if n == 0:
        return np.nan, 0
    s = _pairwise_sum(tmp, K, stack, partial)
    return _clip0(log2n[n] - s / n), n


@numba.njit(cache=True, nogil=True)
def _keys_entropy(keys, W, shift, scratch, xlogx, log2n):
    """Shannon entropy (bits) of the multiset {keys[i] >> shift : i < W, keys[i] >= 0} and
    its size; NaN for none. ``scratch`` (int32, longer than the largest key) is all zero
    on entry and on return."""
    n = 0
    for i in range(W):
        k = keys[i]
        if k >= 0:
            scratch[k >> shift] += 1
            n += 1
    if n == 0:
        return np.nan, 0
    s = 0.0
    for i in range(W):
        k = keys[i]
        if k >= 0:
            q = k >> shift
            cq = scratch[q]
            if cq > 0:                 # first item of its kind: add c·log2 c once, clear
                s += xlogx[cq]
                scratch[q] = 0
    return _clip0(log2n[n] - s / n), n


@numba.njit(cache=True, nogil=True)
def _kmer_keys(c, kmax, keys):
    """keys[k, i] = index Σ_j 4^(k-1-j)·c[i+j] of the k-mer at i (k = 1..kmax), -1 with N.

    Row k holds L-k+1 meaningful entries."""
    L = c.shape[0]
    for i in range(L):
        keys[1, i] = c[i] if c[i] < 4 else -1
    for k in range(2, kmax + 1):
        for i in range(L - k + 1):
            p = keys[k - 1, i]
            b = c[i + k - 1]
            keys[k, i] = p * 4 + b if (p >= 0 and b < 4) else -1


@numba.njit(cache=True, nogil=True)
def _composition(c, renyi_alpha, col_global, col_renyi, xlogx, log2n, tmp, stack, partial, row):
    """Shannon entropy and Rényi entropies of the A/C/G/T composition."""
    comp = np.zeros(4, dtype=np.int64)
    for i in range(c.shape[0]):
        if c[i] < 4:
            comp[c[i]] += 1
    h, n = _dense_entropy(comp, 0, 4, xlogx, log2n, tmp, stack, partial)
    if n == 0:
        return
    row[col_global] = h
    for t in range(renyi_alpha.shape[0]):
        a = renyi_alpha[t]
        present = 0
        pmax = 0.0
        s = 0.0
        for b in range(4):
            if comp[b] > 0:
                p = comp[b] / n
                present += 1
                pmax = max(pmax, p)
                if a == 0.5:
                    s += np.sqrt(p)
                elif a == 2.0:
                    s += p * p
                else:
                    s += p ** a
        if a == 0.0:
            v = log2n[present]
        elif a == np.inf:
            v = -np.log2(pmax)
        else:
            v = np.log2(s) / (1.0 - a)
        row[col_renyi[t]] = _clip0(v)


@numba.njit(cache=True, nogil=True)
def _kmer_family(c, keys, kmer_orders, cond_orders, kt_order, pal_k, pal_table, dense, ctx, scratch,
                 xlogx, log2n, lg_half, lg_two, tmp, stack, partial, col_kmer, col_cond, col_single, row):
    """k-mer entropies, conditional entropies, KT code length and palindrome density.

    k-mers with k <= _DENSE_K are counted in ``dense`` (int64, Σ_k 4^k cells, the block of
    k starting at (4^k - 4)/3); longer ones through ``scratch`` (see _keys_entropy).
    Conditional entropy and the KT model need (order+1) <= _DENSE_K (checked by compute).
    """
    L = c.shape[0]
    dense[:] = 0
    for k in range(1, min(_DENSE_K, L) + 1):
        off = (4 ** k - 4) // 3
        for i in range(L - k + 1):
            q = keys[k, i]
            if q >= 0:
                dense[off + q] += 1
    hk = np.full(_DENSE_K + 1, np.nan)          # entropy of the k-mers, k <= _DENSE_K
    for k in range(1, min(_DENSE_K, L) + 1):
        hk[k] = _dense_entropy(dense, (4 ** k - 4) // 3, 4 ** k, xlogx, log2n, tmp, stack, partial)[0]
    for t in range(kmer_orders.shape[0]):
        k = kmer_orders[t]
        if L - k + 1 <= 0:
            continue
        if k <= _DENSE_K:
            row[col_kmer[t]] = hk[k]
        else:
            row[col_kmer[t]] = _keys_entropy(keys[k], L - k + 1, 0, scratch, xlogx, log2n)[0]
    # H(k-mer) - H(its first k-1 bases): the context counts are the k-mer counts summed over the last base
    for t in range(cond_orders.shape[0]):
        o = cond_orders[t]
        if L - o <= 0 or np.isnan(hk[o + 1]):
            continue
        off = (4 ** (o + 1) - 4) // 3
        for j in range(4 ** o):
            ctx[j] = dense[off + 4 * j] + dense[off + 4 * j + 1] + dense[off + 4 * j + 2] + dense[off + 4 * j + 3]
        hc = _dense_entropy(ctx, 0, 4 ** o, xlogx, log2n, tmp, stack, partial)[0]
        row[col_cond[t]] = _clip0(hk[o + 1] - hc)
    # adaptive order-kt_order model: KT code length from the final counts
    k = kt_order + 1
    if L - k + 1 > 0:
        off = (4 ** k - 4) // 3
        n = 0
        for j in range(4 ** k):
            n += dense[off + j]
        if n > 0:
            for j in range(4 ** kt_order):
                ctx[j] = dense[off + 4 * j] + dense[off + 4 * j + 1] + dense[off + 4 * j + 2] + dense[off + 4 * j + 3]
            bits = (_table_sum(lg_two, ctx, 0, 4 ** kt_order, tmp, stack, partial)
                    - _table_sum(lg_half, dense, off, 4 ** k, tmp, stack, partial))
            row[col_single[3]] = bits / (2.0 * n)
    # reverse-complement palindromes of length pal_k
    W = L - pal_k + 1
    if W > 0:
        n = 0
        hits = 0
        for i in range(W):
            q = keys[pal_k, i]
            if q >= 0:
                n += 1
                hits += pal_table[q]
        if n > 0:
            row[col_single[5]] = hits / n


@numba.njit(cache=True, nogil=True)
def _windows(c, shannon_w, log2w, gc_w, gc_values, gc_offsets, xlogx, col_shannon, col_gc,
             buf, dev, ok, stack, partial, row):
    """Shannon entropy of the base composition and binary entropy of the GC fraction of
    every sliding window (step 1; windows with N left out), summarised per width: mean,
    max, min and population standard deviation (Shannon), mean and max (GC).

    The window's base counts are kept in registers and updated as it slides. Sums run
    over all windows with 0 for those left out, in numpy's pairwise order, as the numpy
    implementation's masked row sums did. buf, dev (float64) and ok (bool) are work
    arrays of length L; stack and partial: see _pairwise_sum.
    """
    L = c.shape[0]
    ns = shannon_w.shape[0]
    for t in range(ns + gc_w.shape[0]):
        shannon = t < ns
        w = shannon_w[t] if shannon else gc_w[t - ns]
        if w > L:
            continue
        cA = 0
        cC = 0
        cG = 0
        cT = 0
        cN = 0
        for i in range(w - 1):
            b = c[i]
            cA += b == 0
            cC += b == 1
            cG += b == 2
            cT += b == 3
            cN += b > 3
        n = 0
        W = L - w + 1
        mx = -np.inf
        mn = np.inf
        gc_off = 0 if shannon else gc_offsets[t - ns]
        lw = log2w[t] if shannon else 0.0
        for i in range(W):
            b = c[i + w - 1]
            cA += b == 0
            cC += b == 1
            cG += b == 2
            cT += b == 3
            cN += b > 3
            good = cN == 0
            ok[i] = good
            v = 0.0
            if good:
                if shannon:
                    v = max(lw - (xlogx[cA] + xlogx[cC] + xlogx[cG] + xlogx[cT]) / w, 0.0)
                else:
                    v = gc_values[gc_off + cC + cG]
                mx = max(mx, v)
                mn = min(mn, v)
                n += 1
            buf[i] = v
            b = c[i]
            cA -= b == 0
            cC -= b == 1
            cG -= b == 2
            cT -= b == 3
            cN -= b > 3
        if n == 0:
            continue
        mean = _pairwise_sum(buf, W, stack, partial) / n
        cols = col_shannon[t] if shannon else col_gc[t - ns]
        row[cols[0]] = mean
        row[cols[1]] = mx
        if shannon:
            row[cols[2]] = mn
            for i in range(W):
                d = buf[i] - mean
                dev[i] = d * d if ok[i] else 0.0
            row[cols[3]] = np.sqrt(_pairwise_sum(dev, W, stack, partial) / n)


@numba.njit(cache=True, nogil=True)
def _mutual_info(c, distances, xlogx, log2n, tmp, stack, partial, col_mi, row):
    """Mutual information H(left) + H(right) - H(pair) between the bases d apart, over the
    pairs without N."""
    L = c.shape[0]
    joint = np.zeros(16, dtype=np.int64)
    left = np.zeros(4, dtype=np.int64)
    right = np.zeros(4, dtype=np.int64)
    for t in range(distances.shape[0]):
        d = distances[t]
        if L <= d:
            continue
        joint[:] = 0
        for i in range(L - d):
            a = c[i]
            b = c[i + d]
            if a < 4 and b < 4:
                joint[4 * a + b] += 1
        for a in range(4):
            left[a] = joint[4 * a] + joint[4 * a + 1] + joint[4 * a + 2] + joint[4 * a + 3]
            right[a] = joint[a] + joint[4 + a] + joint[8 + a] + joint[12 + a]
        hl, n = _dense_entropy(left, 0, 4, xlogx, log2n, tmp, stack, partial)
        if n == 0:
            continue
        hr = _dense_entropy(right, 0, 4, xlogx, log2n, tmp, stack, partial)[0]
        hj = _dense_entropy(joint, 0, 16, xlogx, log2n, tmp, stack, partial)[0]
        row[col_mi[t]] = _clip0(hl + hr - hj)


@numba.njit(cache=True, nogil=True)
def _longest_previous_factor(c, keys, kmax, rep_k, lpf, rank, act, nxt, scratch, table, size, key_of):
    """Longest previous factor of every position, N matching nothing; and the number of
    rep_k-mers (N-free) whose rep_k-mer occurs more than once, which the same counts give.

    lpf[i] = the largest l such that c[i:i+l] (N-free) also starts at some j < i.
    Lengths l <= _LPF_START: one pass over the l-mer keys, counting each key as it is
    met (a key met before means lpf[i] >= l). Longer: level by level, only positions
    whose l-mer occurs at least twice ("active") take part; each gets the dense rank of
    its (l+1)-mer from a table keyed by rank·4 + next base, visited in increasing
    order, so a key already in the table was first met at an earlier position and
    lpf[i] = l+1 there. A position whose l-mer is unique leaves, since its longer
    factors are unique too.

    Every occurrence of a repeated l-mer is active, so the counts of the (l+1)-mer
    ranks are the true counts of the repeated (l+1)-mers; repeats of length rep_k are
    read from them (none if the loop ends before).

    Work arrays: rank, act, nxt int64 (L,); size, key_of int64 (L+1,); scratch (int32)
    and table (int64) of _entropy_kernel, all zero on entry and on return.
    Returns the repeat count.
    """
    L = c.shape[0]
    for i in range(L):
        lpf[i] = 0
    k0 = min(_LPF_START, kmax, L)
    na = 0
    dup = 0
    for level in range(1, k0 + 1):
        ks = keys[level]
        W = L - level + 1
        for i in range(W):
            q = ks[i]
            if q >= 0:
                s = scratch[q]
                lpf[i] += min(s, 1)
                scratch[q] = s + 1
        if level == rep_k:
            for i in range(W):
                q = ks[i]
                if q >= 0 and scratch[q] >= 2:
                    dup += 1
        if level == k0:
            for i in range(W):
                q = ks[i]
                if q >= 0 and scratch[q] >= 2:
                    act[na] = i
                    na += 1
                    rank[i] = q
        for i in range(W):
            q = ks[i]
            if q >= 0:
                scratch[q] = 0
    level = k0
    while na > 0:
        nr = 0
        ne = 0
        for t in range(na):
            i = act[t]
            j = i + level
            if j < L and c[j] < 4:
                key = rank[i] * 4 + c[j]
                q = table[key]
                if q == 0:
                    nr += 1
                    table[key] = nr
                    key_of[nr] = key
                    size[nr] = 1
                    q = nr
                else:
                    size[q] += 1
                    lpf[i] = level + 1
                rank[i] = q - 1
                nxt[ne] = i
                ne += 1
        for q in range(1, nr + 1):
            table[key_of[q]] = 0
            if level + 1 == rep_k and size[q] >= 2:
                dup += size[q]
        na = 0
        for t in range(ne):
            i = nxt[t]
            if size[rank[i] + 1] >= 2:
                act[na] = i
                na += 1
        level += 1
    return dup


@numba.njit(cache=True, nogil=True)
def _lz_and_linguistic(c, lz_norm, lpf, col_single, row):
    """Lempel-Ziv (1976) complexity and linguistic complexity from the longest previous factors.

    LZ76: each phrase is the longest previous factor at its start plus one new symbol;
    c phrases, normalised as c·log4(L)/L. Linguistic complexity: the k-mer at i (N-free,
    i.e. k <= F[i], the length of the N-free stretch from i) is the first of its kind
    exactly when lpf[i] < k, so Σ_k distinct_k = Σ_i (F[i] - lpf[i]); the maximum is
    Σ_k min(4^k, number of N-free k-mers), summed in closed form once 4^k reaches it.
    Both sums are integers, so the ratio is exact.
    """
    L = c.shape[0]
    nvalid = 0
    for i in range(L):
        if c[i] < 4:
            nvalid += 1
    if nvalid == 0:
        return
    if L >= 2:
        phrases = 0
        at = 0
        while at < L:
            phrases += 1
            at += lpf[at] + 1
        row[col_single[1]] = phrases * lz_norm / L
    num = 0
    run = 0
    for i in range(L - 1, -1, -1):
        run = run + 1 if c[i] < 4 else 0
        num += run - lpf[i]
    den = 0
    k = 1
    p4 = 4
    while True:
        nk = 0                       # N-free k-mers: Σ over N-free stretches S of max(S-k+1, 0)
        tail = 0                     # Σ_{k' >= k} of the same: Σ x(x+1)/2, x = max(S-k+1, 0)
        run = 0
        for i in range(L + 1):
            if i < L and c[i] < 4:
                run += 1
            else:
                x = run - k + 1
                if x > 0:
                    nk += x
                    tail += x * (x + 1) // 2
                run = 0
        if p4 >= nk:
            den += tail
            break
        den += p4
        k += 1
        p4 *= 4
    row[col_single[2]] = num / den


@numba.njit(cache=True, nogil=True)
def _run_length_entropy(c, scratch, xlogx, log2n, tmp, stack, partial, col_single, row):
    """Shannon entropy of the lengths of the maximal homopolymer runs (runs of N left out),
    from the dense histogram of lengths 0..L in scratch[:L+1] (zero again on return)."""
    L = c.shape[0]
    n = 0
    start = 0
    for i in range(1, L + 1):
        if i == L or c[i] != c[start]:
            if c[start] < 4:
                scratch[i - start] += 1
                n += 1
            start = i
    if n > 0:
        s = _table_sum(xlogx, scratch, 0, L + 1, tmp, stack, partial)
        row[col_single[4]] = _clip0(log2n[n] - s / n)
    for j in range(L + 1):
        scratch[j] = 0


@numba.njit(cache=True, nogil=True)
def _tandem_fraction(c, periods, min_length, covered, col_single, row):
    """Fraction of the A/C/G/T bases inside a perfect tandem repeat.

    For a period p, a maximal run of R positions j with c[j] == c[j+p] (no N) is a
    p-periodic stretch of R + p bases; it is a tandem repeat when R + p >= min_length.
    """
    L = c.shape[0]
    n = 0
    for i in range(L):
        covered[i] = False
        n += c[i] < 4
    if n == 0:
        return
    for t in range(periods.shape[0]):
        p = periods[t]
        if p >= min_length or p >= L:
            continue
        need = min_length - p
        start = 0                    # first j of the current run of c[j] == c[j+p]
        for j in range(L - p + 1):
            brk = True
            if j < L - p:
                brk = (c[j] != c[j + p]) | (c[j] > 3)
            if brk & (j - start >= need):
                for x in range(start, j + p):
                    covered[x] = True
            start = j + 1 if brk else start
    cov = 0
    for i in range(L):
        cov += covered[i]
    row[col_single[7]] = cov / n


@numba.njit(cache=True, nogil=True)
def _entropy_kernel(codes, out, xlogx, log2n, lg_half, lg_two, log2w, gc_values, gc_offsets, pal_table,
                    lz_norm, shannon_w, gc_w, kmer_orders, cond_orders, renyi_alpha, distances, periods,
                    kt_order, pal_k, rep_k, tandem_min, col_shannon, col_gc, col_kmer, col_cond,
                    col_renyi, col_mi, col_single):
    """Every ``entropy_*`` descriptor of a block of equal-length sequences, row by row.

    codes : uint8 (m, L); out : float64 (m, 46), NaN on entry, written where defined.
    The tables come from :func:`_tables`, the settings from the module constants and
    the column indices from :func:`_columns`. Work arrays are allocated once per call.
    """
    m, L = codes.shape
    if L == 0:
        return
    kmax = max(kmer_orders.max(), cond_orders.max() + 1, kt_order + 1, pal_k, rep_k, _LPF_START)
    keys = np.empty((kmax + 1, L), dtype=np.int64)
    scratch = np.zeros(max(4 ** max(kmer_orders.max(), _LPF_START), L + 2), dtype=np.int32)
    dense = np.zeros((4 ** (_DENSE_K + 1) - 4) // 3, dtype=np.int64)
    ctx = np.zeros(4 ** (_DENSE_K - 1), dtype=np.int64)
    tmp = np.empty(max(4 ** _DENSE_K, L + 1))
    stack = np.empty((3, 128), dtype=np.int64)
    partial = np.empty(128)
    buf = np.empty(L)
    dev = np.empty(L)
    ok = np.empty(L, dtype=np.bool_)
    lpf = np.empty(L, dtype=np.int64)
    rank = np.empty(L, dtype=np.int64)
    act = np.empty(L, dtype=np.int64)
    nxt = np.empty(L, dtype=np.int64)
    table = np.zeros(max(4 ** (_LPF_START + 1), 4 * L + 16), dtype=np.int64)
    size = np.empty(L + 1, dtype=np.int64)
    key_of = np.empty(L + 1, dtype=np.int64)
    covered = np.empty(L, dtype=np.bool_)
    for r in range(m):
        c = codes[r]
        row = out[r]
        _kmer_keys(c, kmax, keys)
        _composition(c, renyi_alpha, col_single[0], col_renyi, xlogx, log2n, tmp, stack, partial, row)
        _kmer_family(c, keys, kmer_orders, cond_orders, kt_order, pal_k, pal_table, dense, ctx, scratch,
                     xlogx, log2n, lg_half, lg_two, tmp, stack, partial, col_kmer, col_cond, col_single, row)
        _windows(c, shannon_w, log2w, gc_w, gc_values, gc_offsets, xlogx, col_shannon, col_gc,
                 buf, dev, ok, stack, partial, row)
        _mutual_info(c, distances, xlogx, log2n, tmp, stack, partial, col_mi, row)
        dup = _longest_previous_factor(c, keys, kmax, rep_k, lpf, rank, act, nxt, scratch, table, size, key_of)
        n = 0
        for i in range(L - rep_k + 1):
            n += keys[rep_k, i] >= 0
        if n > 0:
            row[col_single[6]] = dup / n     # direct repeats: rep_k-mers occurring more than once
        _lz_and_linguistic(c, lz_norm, lpf, col_single, row)
        _run_length_entropy(c, scratch, xlogx, log2n, tmp, stack, partial, col_single, row)
        _tandem_fraction(c, periods, tandem_min, covered, col_single, row)


# --------------------------------------------------------------------------- compute


def _compute_all(seqs, params=None, **options):
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
    if max(CONDITIONAL_ORDERS) + 1 > _DENSE_K or COMPRESSION_ORDER + 1 > _DENSE_K:
        raise ValueError(f"conditional and compression orders above {_DENSE_K - 1} are not supported")
    ncol = len(_layout())
    out = np.full((len(seqs), ncol), np.nan)
    cols = _columns()
    settings = (np.array(SHANNON_WINDOWS, dtype=np.int64), np.array(GC_WINDOWS, dtype=np.int64),
                np.array(KMER_ORDERS, dtype=np.int64), np.array(CONDITIONAL_ORDERS, dtype=np.int64),
                np.array([a for _, a in RENYI_ALPHAS], dtype=np.float64),
                np.array(MI_DISTANCES, dtype=np.int64), np.array(TANDEM_PERIODS, dtype=np.int64),
                COMPRESSION_ORDER, PALINDROME_LENGTH, REPEAT_K, TANDEM_MIN_LENGTH)
    for idx, codes in by_length(seqs):
        L = codes.shape[1]
        if L == 0:
            continue
        xlogx, log2n, lg_half, lg_two, log2w, gc_values, gc_offsets, palindrome, lz_norm = _tables(L)
        for start in range(0, len(idx), BLOCK_ROWS):
            block = np.full((min(BLOCK_ROWS, len(idx) - start), ncol), np.nan)
            _entropy_kernel(codes[start:start + BLOCK_ROWS], block, xlogx, log2n, lg_half, lg_two, log2w,
                            gc_values, gc_offsets, palindrome, lz_norm, *settings,
                            cols["shannon"], cols["gc"], cols["kmer"], cols["cond"], cols["renyi"],
                            cols["mi"], cols["single"])
            out[idx[start:start + BLOCK_ROWS]] = block
    return out


#: Statistics computed on the way but not written, each another column under a second
#: name (an identical or affine copy): name -> why.
RETIRED = {
    'entropy_kmer_1mer':
        'the entropy of the 1-mer frequencies is entropy_shannon_global',
}


descriptors, compute = written_columns(_all_descriptors, _compute_all, RETIRED, "entropy")
