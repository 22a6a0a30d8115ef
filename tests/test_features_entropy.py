"""entropy family: information and complexity descriptors (toolkit.features.entropy)."""

import itertools
import math
from collections import Counter
from math import lgamma, log2

import numpy as np
import pytest

from conftest import random_seqs, DATA, read_tsv
from toolkit.features import entropy
from toolkit.seq import reverse_complement

# The document (section 5.2.1, item 5) announces "62 features" but its list, with the
# {..} patterns expanded, names 46: this list is what descfeat computes.
DOC_NAMES = (
    ["entropy_shannon_global"]
    + [f"entropy_shannon_w{w}_{s}" for s in ("mean", "max", "min", "std") for w in (5, 10, 15, 20)]
    + [f"entropy_kmer_{k}mer" for k in range(1, 7)]
    + [f"entropy_conditional_order{o}" for o in (1, 2, 3)]
    + [f"entropy_renyi_entropy_alpha{a}" for a in ("0.0", "0.5", "2.0", "inf")]
    + ["entropy_lempel_ziv_complexity"]
    + [f"entropy_mutual_info_dist{d}" for d in (1, 2, 3, 5, 10)]
    + [f"entropy_gc_entropy_w{w}_{s}" for s in ("mean", "max") for w in (5, 10)]
    + ["entropy_linguistic_complexity", "entropy_compression_ratio", "entropy_run_length_entropy",
       "entropy_palindrome_density", "entropy_repeat_density", "entropy_tandem_repeat_fraction"]
)
NOT_STRAND_SYMMETRIC = {"entropy_lempel_ziv_complexity", "entropy_compression_ratio",
                        "entropy_conditional_order1", "entropy_conditional_order2",
                        "entropy_conditional_order3"}
NAMES = [d.name for d in entropy.descriptors()]
REAL = read_tsv(DATA / "lentimpra_HepG2_400.tsv")["seq"].tolist()


def _row(seq):
    return dict(zip(NAMES, entropy.compute([seq])[0]))


def _random(n, rng, lengths=(7, 19, 40, 230), n_rate=0.0):
    return random_seqs(n, rng, lengths, n_rate)


def _de_bruijn(k, alphabet="ACGT"):
    """Linear de Bruijn sequence B(4, k): every k-mer exactly once (length 4^k + k - 1)."""
    n = len(alphabet)
    a = [0] * n * k
    seq = []

    def db(t, p):
        if t > k:
            if k % p == 0:
                seq.extend(a[1:p + 1])
        else:
            a[t] = a[t - p]
            db(t + 1, p)
            for j in range(a[t - p] + 1, n):
                a[t] = j
                db(t + 1, t)

    db(1, 1)
    s = "".join(alphabet[i] for i in seq)
    return s + s[:k - 1]


def _h(counter):
    n = sum(counter.values())
    return -sum(c / n * log2(c / n) for c in counter.values())


def _lz76(s):
    """Kaspar & Schuster (1987) LZ76 phrase count; N matches nothing."""
    n, c, i = len(s), 0, 0
    while i < n:
        ell = 0
        while i + ell < n:
            sub = s[i:i + ell + 1]
            if "N" in sub or s.find(sub, 0, i + ell) < 0:
                break
            ell += 1
        c += 1
        i += ell + 1
    return c


def test_names_match_the_document_list():
    assert NAMES == DOC_NAMES
    assert len(NAMES) == 46 and len(set(NAMES)) == len(NAMES)
    for d in entropy.descriptors():
        assert d.name.startswith("entropy_") and d.family == "entropy"
        assert d.unit and d.formula and d.source
    for name in NOT_STRAND_SYMMETRIC:
        assert "not strand-symmetric" in next(d.formula for d in entropy.descriptors() if d.name == name)


def test_acgt_repeat_has_two_bits():
    # ACGT x 10: each base has p = 1/4 -> H = -4 * (1/4) * log2(1/4) = 2 bits
    r = _row("ACGT" * 10)
    assert r["entropy_shannon_global"] == pytest.approx(2.0)
    assert r["entropy_kmer_1mer"] == pytest.approx(2.0)
    for a in ("0.0", "0.5", "2.0", "inf"):          # uniform: every Rényi order is log2 4
        assert r[f"entropy_renyi_entropy_alpha{a}"] == pytest.approx(2.0)
    # every 20-bp window holds 5 of each base: 2 bits, no spread
    assert r["entropy_shannon_w20_mean"] == pytest.approx(2.0) and r["entropy_shannon_w20_std"] == 0.0
    # 5-bp windows hold one base twice: -(2/5 log2 2/5 + 3 * 1/5 log2 1/5) = 1.921928
    assert r["entropy_shannon_w5_max"] == pytest.approx(-(0.4 * log2(0.4) + 0.6 * log2(0.2)))
    # the next base is determined by the previous one
    assert r["entropy_conditional_order1"] == pytest.approx(0.0, abs=1e-12)
    assert r["entropy_mutual_info_dist1"] > 1.99
    # 4 periods of ACGT-periodic sequence: the whole sequence is a tandem repeat
    assert r["entropy_tandem_repeat_fraction"] == 1.0
    # LZ76 parse A|C|G|T|ACGT...: c = 5; normalised 5 * log4(40) / 40
    assert r["entropy_lempel_ziv_complexity"] == pytest.approx(5 * math.log(40, 4) / 40)


def test_poly_a_is_zero_everywhere_it_should_be():
    r = _row("A" * 40)
    for k in range(1, 7):
        assert r[f"entropy_kmer_{k}mer"] == 0.0
    for name in ("entropy_shannon_global", "entropy_shannon_w10_max", "entropy_gc_entropy_w10_max",
                 "entropy_renyi_entropy_alpha0.0", "entropy_renyi_entropy_alphainf",
                 "entropy_conditional_order3", "entropy_mutual_info_dist5", "entropy_run_length_entropy",
                 "entropy_palindrome_density"):
        assert r[name] == 0.0, name
    assert r["entropy_repeat_density"] == 1.0 and r["entropy_tandem_repeat_fraction"] == 1.0
    # LZ76: A | AAA...A -> 2 phrases
    assert r["entropy_lempel_ziv_complexity"] == pytest.approx(2 * math.log(40, 4) / 40)
    # linguistic complexity: one distinct k-mer per k; maxima min(4^k, 41-k) = 4, 16, 38, 37, ..., 1
    den = sum(min(4 ** k, 41 - k) for k in range(1, 41))
    assert r["entropy_linguistic_complexity"] == pytest.approx(40 / den)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6])
def test_de_bruijn_sequence_has_maximal_kmer_entropy(k):
    s = _de_bruijn(k)
    assert len(s) == 4 ** k + k - 1 and len({s[i:i + k] for i in range(4 ** k)}) == 4 ** k
    # every k-mer once: p = 4^-k for all 4^k k-mers -> H = log2(4^k) = 2k bits
    assert _row(s)[f"entropy_kmer_{k}mer"] == pytest.approx(2.0 * k)


def test_lempel_ziv_matches_kaspar_schuster():
    # Kaspar & Schuster (1987): 0001101001000101 parses as 0|001|10|100|1000|101 -> c = 6
    s = "0001101001000101".translate(str.maketrans("01", "AC"))
    assert _lz76(s) == 6
    assert _row(s)["entropy_lempel_ziv_complexity"] == pytest.approx(6 * math.log(16, 4) / 16)
    rng = np.random.default_rng(3)
    seqs = _random(40, rng, lengths=(2, 13, 50, 120), n_rate=0.05)
    seqs += ["ACACACACGT" * 6, "AAAAAAAAAC", "NNNNACGT", "ACGTNNNN", "AN" * 10]
    col = NAMES.index("entropy_lempel_ziv_complexity")
    got = entropy.compute(seqs)[:, col]
    for s, g in zip(seqs, got):
        L = len(s)
        assert g == pytest.approx(_lz76(s) * math.log(L, 4) / L), s


def test_linguistic_complexity_matches_substring_counts():
    rng = np.random.default_rng(4)
    seqs = _random(20, rng, lengths=(6, 15, 33), n_rate=0.08) + ["ACGTNACGTTTT", "GGGGCGGGG"]
    col = NAMES.index("entropy_linguistic_complexity")
    got = entropy.compute(seqs)[:, col]
    for s, g in zip(seqs, got):
        num = den = 0
        for k in range(1, len(s) + 1):
            kmers = [s[i:i + k] for i in range(len(s) - k + 1) if "N" not in s[i:i + k]]
            num += len(set(kmers))
            den += min(4 ** k, len(kmers))
        assert g == pytest.approx(num / den) if den else np.isnan(g), s


def test_kmer_conditional_mutual_information_and_windows_match_direct_counts():
    rng = np.random.default_rng(5)
    seqs = _random(12, rng, lengths=(25, 60), n_rate=0.06)
    got = entropy.compute(seqs)
    for s, row in zip(seqs, got):
        r = dict(zip(NAMES, row))
        for k in range(1, 7):
            c = Counter(s[i:i + k] for i in range(len(s) - k + 1) if "N" not in s[i:i + k])
            assert r[f"entropy_kmer_{k}mer"] == pytest.approx(_h(c), abs=1e-12)
        for o in (1, 2, 3):
            joint = Counter(s[i:i + o + 1] for i in range(len(s) - o) if "N" not in s[i:i + o + 1])
            ctx = Counter()
            for kmer, c in joint.items():
                ctx[kmer[:o]] += c
            assert r[f"entropy_conditional_order{o}"] == pytest.approx(_h(joint) - _h(ctx), abs=1e-12)
        for d in (1, 2, 3, 5, 10):
            pairs = Counter((s[i], s[i + d]) for i in range(len(s) - d) if "N" not in s[i] + s[i + d])
            n = sum(pairs.values())
            pa, pb = Counter(), Counter()
            for (a, b), c in pairs.items():
                pa[a] += c
                pb[b] += c
            mi = sum(c / n * log2((c / n) / (pa[a] / n * pb[b] / n)) for (a, b), c in pairs.items())
            assert r[f"entropy_mutual_info_dist{d}"] == pytest.approx(mi, abs=1e-12)
        for w in (5, 10, 15, 20):
            hs = [_h(Counter(s[i:i + w])) for i in range(len(s) - w + 1) if "N" not in s[i:i + w]]
            if hs:
                assert r[f"entropy_shannon_w{w}_mean"] == pytest.approx(np.mean(hs), abs=1e-12)
                assert r[f"entropy_shannon_w{w}_std"] == pytest.approx(np.std(hs), abs=1e-12)
                assert r[f"entropy_shannon_w{w}_min"] == pytest.approx(min(hs), abs=1e-12)
            else:
                assert np.isnan(r[f"entropy_shannon_w{w}_mean"])
        for w in (5, 10):
            hs = []
            for i in range(len(s) - w + 1):
                if "N" not in s[i:i + w]:
                    p = sum(b in "GC" for b in s[i:i + w]) / w
                    hs.append(0.0 if p in (0, 1) else -(p * log2(p) + (1 - p) * log2(1 - p)))
            if hs:
                assert r[f"entropy_gc_entropy_w{w}_max"] == pytest.approx(max(hs), abs=1e-12)


def test_hand_worked_small_cases():
    # AACCCGT: composition A2 C3 G1 T1 (n = 7)
    #   Shannon = -(2/7 log2 2/7 + 3/7 log2 3/7 + 2 * 1/7 log2 1/7) = 1.842371
    #   Rényi-2 = -log2((4 + 9 + 1 + 1) / 49) = -log2(15/49) = 1.707819; Rényi-inf = -log2(3/7)
    #   runs A2 C3 G1 T1 -> run lengths {1: 2, 2: 1, 3: 1}: 1.5 bits
    r = _row("AACCCGT")
    assert r["entropy_shannon_global"] == pytest.approx(1.8423709931771088)
    assert r["entropy_renyi_entropy_alpha2.0"] == pytest.approx(-log2(15 / 49))
    assert r["entropy_renyi_entropy_alphainf"] == pytest.approx(-log2(3 / 7))
    assert r["entropy_renyi_entropy_alpha0.0"] == pytest.approx(2.0)
    assert r["entropy_run_length_entropy"] == pytest.approx(1.5)
    # GAATTCAAAA: 6-mers GAATTC (palindrome: rc GAATTC), AATTCA, ATTCAA, TTCAAA, TCAAAA -> 1/5
    assert _row("GAATTCAAAA")["entropy_palindrome_density"] == pytest.approx(0.2)
    # ACGTACGTAC: 8-mers ACGTACGT, CGTACGTA, GTACGTAC all distinct -> 0; ACGTACGTACGT: 1st = 5th -> 2/5
    assert _row("ACGTACGTAC")["entropy_repeat_density"] == 0.0
    assert _row("ACGTACGTACGT")["entropy_repeat_density"] == pytest.approx(2 / 5)
    # tandem repeats: A12 (12 bp) is one, A11 is not; (CAG)4 = 12 bp is one
    assert _row("A" * 12 + "CGTTGCA")["entropy_tandem_repeat_fraction"] == pytest.approx(12 / 19)
    assert _row("A" * 11 + "CGTTGCAC")["entropy_tandem_repeat_fraction"] == 0.0
    assert _row("GT" + "CAG" * 4 + "TT")["entropy_tandem_repeat_fraction"] == pytest.approx(12 / 16)


def test_compression_ratio_is_the_sequential_kt_code_length():
    rng = np.random.default_rng(6)
    seqs = _random(10, rng, lengths=(20, 90), n_rate=0.05)
    col = NAMES.index("entropy_compression_ratio")
    got = entropy.compute(seqs)[:, col]
    for s, g in zip(seqs, got):
        counts, bits, n = Counter(), 0.0, 0
        for i in range(2, len(s)):
            ctx, b = s[i - 2:i], s[i]
            if "N" in ctx + b:
                continue
            c_ctx = sum(counts[ctx + x] for x in "ACGT")
            bits -= log2((counts[ctx + b] + 0.5) / (c_ctx + 2.0))
            counts[ctx + b] += 1
            n += 1
        assert g == pytest.approx(bits / (2 * n))
    # closed form agrees with the gamma-function form for one context: 'AAA' + 'A' * 8 -> counts AA->A: 9
    assert _row("A" * 11)["entropy_compression_ratio"] == pytest.approx(
        ((lgamma(11) - lgamma(2)) - (lgamma(9.5) - lgamma(0.5))) / math.log(2) / 18)


def test_nan_only_where_undefined():
    x = entropy.compute(["N" * 30, "", "ACGTAC", "A"])
    assert np.isnan(x[0]).all() and np.isnan(x[1]).all()
    r = dict(zip(NAMES, x[2]))
    assert np.isnan(r["entropy_shannon_w10_mean"]) and np.isnan(r["entropy_mutual_info_dist10"])
    assert np.isnan(r["entropy_repeat_density"])            # no 8-mer in 6 bases
    assert r["entropy_kmer_6mer"] == 0.0 and r["entropy_palindrome_density"] == 0.0
    assert r["entropy_mutual_info_dist5"] == 0.0            # one pair: no information
    r = dict(zip(NAMES, x[3]))
    assert r["entropy_shannon_global"] == 0.0 and np.isnan(r["entropy_kmer_2mer"])
    assert not np.isnan(entropy.compute(REAL)).any()


def test_reverse_complement_gives_the_same_values():
    rng = np.random.default_rng(7)
    seqs = _random(40, rng, lengths=(12, 31, 230), n_rate=0.04) + REAL[:20]
    a = entropy.compute(seqs)
    b = entropy.compute([reverse_complement(s) for s in seqs])
    sym = [j for j, n in enumerate(NAMES) if n not in NOT_STRAND_SYMMETRIC]
    np.testing.assert_allclose(a[:, sym], b[:, sym], rtol=1e-12, atol=1e-12, equal_nan=True)


def test_row_permutation_and_batching_do_not_change_values(monkeypatch):
    rng = np.random.default_rng(8)
    seqs = _random(60, rng, lengths=(1, 5, 30, 31, 230), n_rate=0.03) + ["N" * 5, "", "ACGT" * 60]
    whole = entropy.compute(seqs)
    perm = rng.permutation(len(seqs))
    np.testing.assert_array_equal(entropy.compute([seqs[i] for i in perm]), whole[perm])
    single = np.vstack([entropy.compute([s]) for s in seqs])
    np.testing.assert_array_equal(single, whole)
    monkeypatch.setattr(entropy, "BLOCK_ROWS", 3)
    np.testing.assert_array_equal(entropy.compute(seqs), whole)


def test_real_sequences_are_in_range():
    x = entropy.compute(REAL)
    r = {n: x[:, j] for j, n in enumerate(NAMES)}
    assert ((r["entropy_shannon_global"] > 0) & (r["entropy_shannon_global"] <= 2)).all()
    for k in range(1, 7):
        assert (r[f"entropy_kmer_{k}mer"] <= 2 * k + 1e-12).all()
    assert ((r["entropy_linguistic_complexity"] > 0) & (r["entropy_linguistic_complexity"] <= 1)).all()
    assert (r["entropy_lempel_ziv_complexity"] > 0.5).all()
    for name in itertools.chain(("entropy_palindrome_density", "entropy_repeat_density",
                                 "entropy_tandem_repeat_fraction"),):
        assert ((r[name] >= 0) & (r[name] <= 1)).all()
