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
    # written: the document's list less entropy_kmer_1mer (the entropy of the 1-mer
    # frequencies, i.e. entropy_shannon_global under a second name)
    assert set(entropy.RETIRED) == {"entropy_kmer_1mer"}
    assert NAMES == [n for n in DOC_NAMES if n not in entropy.RETIRED]
    assert len(NAMES) == 45 and len(set(NAMES)) == len(NAMES)
    for d in entropy.descriptors():
        assert d.name.startswith("entropy_") and d.family == "entropy"
        assert d.unit and d.formula and d.source
    for name in NOT_STRAND_SYMMETRIC:
        assert "not strand-symmetric" in next(d.formula for d in entropy.descriptors() if d.name == name)


def test_acgt_repeat_has_two_bits():
    # ACGT x 10: each base has p = 1/4 -> H = -4 * (1/4) * log2(1/4) = 2 bits
    r = _row("ACGT" * 10)
    assert r["entropy_shannon_global"] == pytest.approx(2.0)
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
    for k in range(2, 7):
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
    name = "entropy_shannon_global" if k == 1 else f"entropy_kmer_{k}mer"    # 1-mers: the composition
    assert _row(s)[name] == pytest.approx(2.0 * k)


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
            name = "entropy_shannon_global" if k == 1 else f"entropy_kmer_{k}mer"
            assert r[name] == pytest.approx(_h(c), abs=1e-12)
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
    for k in range(2, 7):
        assert (r[f"entropy_kmer_{k}mer"] <= 2 * k + 1e-12).all()
    assert ((r["entropy_linguistic_complexity"] > 0) & (r["entropy_linguistic_complexity"] <= 1)).all()
    assert (r["entropy_lempel_ziv_complexity"] > 0.5).all()
    for name in itertools.chain(("entropy_palindrome_density", "entropy_repeat_density",
                                 "entropy_tandem_repeat_fraction"),):
        assert ((r[name] >= 0) & (r[name] <= 1)).all()


def _reference_set():
    """220 real lentiMPRA sequences: every other row of the fixture, plus 20 rows with a
    block of 1-4 N written in at a different place each."""
    seqs = REAL[::2]
    for i, s in enumerate(REAL[1::20]):
        a = 7 + 11 * i
        seqs.append(s[:a] + "N" * (1 + i % 4) + s[a + 1 + i % 4:])
    return seqs


# Column sums and (row number)-weighted column sums of the 220 x 46 values that the
# numpy implementation (before the compiled kernel) gave on _reference_set(). The
# kernel reproduces them to the last bit except the 5- and 6-mer entropies (summation
# order; a unit in the last place).
PINNED = {
    'entropy_shannon_global': (434.38922812808676, 48004.727176198416),
    'entropy_shannon_w5_mean': (314.8794634929667, 34717.53683499297),
    'entropy_shannon_w10_mean': (376.0160987735739, 41484.05574652274),
    'entropy_shannon_w15_mean': (395.7927826348995, 43671.95765732685),
    'entropy_shannon_w20_mean': (405.1879902119412, 44709.364554852524),
    'entropy_shannon_w5_max': (422.8241808752174, 46722.071986711795),
    'entropy_shannon_w10_max': (433.60913078002835, 47913.808951192994),
    'entropy_shannon_w15_max': (437.7775810021447, 48374.422700736824),
    'entropy_shannon_w20_max': (438.95422140036754, 48500.11310331443),
    'entropy_shannon_w5_min': (67.13931282452455, 6698.048864364947),
    'entropy_shannon_w10_min': (196.21350267252217, 21370.952101332823),
    'entropy_shannon_w15_min': (261.7989987433022, 28610.231170623174),
    'entropy_shannon_w20_min': (304.3746239154874, 33334.438897019565),
    'entropy_shannon_w5_std': (79.23006307571683, 8826.577496576581),
    'entropy_shannon_w10_std': (51.747936220953974, 5798.052820002038),
    'entropy_shannon_w15_std': (37.075001011721916, 4169.243245115654),
    'entropy_shannon_w20_std': (28.320896116105537, 3198.6810250366993),
    'entropy_kmer_1mer': (434.38922812808676, 48004.727176198416),
    'entropy_kmer_2mer': (852.2053743447366, 94176.80879215436),
    'entropy_kmer_3mer': (1239.9454127220097, 136989.72823652902),
    'entropy_kmer_4mer': (1520.5515976418635, 167993.25909045132),
    'entropy_kmer_5mer': (1651.992843075314, 182513.04725861),
    'entropy_kmer_6mer': (1695.6114551642627, 187334.66657557324),
    'entropy_conditional_order1': (417.8407106161574, 46175.53976896255),
    'entropy_conditional_order2': (387.74782655236936, 42814.66712190019),
    'entropy_conditional_order3': (283.2649259071859, 31300.826234337474),
    'entropy_renyi_entropy_alpha0.0': (440.0, 48620.0),
    'entropy_renyi_entropy_alpha0.5': (437.1510719299503, 48307.96791432891),
    'entropy_renyi_entropy_alpha2.0': (429.19766291849214, 47432.982112940226),
    'entropy_renyi_entropy_alphainf': (376.45549228864394, 41562.13813379324),
    'entropy_lempel_ziv_complexity': (216.79135660337866, 24008.61515518159),
    'entropy_mutual_info_dist1': (16.53347648549499, 1827.795729562815),
    'entropy_mutual_info_dist2': (7.662540236355927, 867.699051175296),
    'entropy_mutual_info_dist3': (7.168507093355075, 779.641685346902),
    'entropy_mutual_info_dist5': (7.045762090231435, 790.0056566945842),
    'entropy_mutual_info_dist10': (7.10891488106129, 779.0639521322324),
    'entropy_gc_entropy_w5_mean': (187.46924912592007, 20693.35394862673),
    'entropy_gc_entropy_w10_mean': (202.66752915625753, 22381.288268299926),
    'entropy_gc_entropy_w5_max': (213.6091307800276, 23603.808951192994),
    'entropy_gc_entropy_w10_max': (220.0, 24310.0),
    'entropy_linguistic_complexity': (218.69764591612199, 24161.074482049484),
    'entropy_compression_ratio': (234.22087854453503, 25871.8230001395),
    'entropy_run_length_entropy': (254.063458333454, 28192.80743105841),
    'entropy_palindrome_density': (2.2460981165984273, 256.47524180651584),
    'entropy_repeat_density': (3.0684674852387754, 291.02575958190084),
    'entropy_tandem_repeat_fraction': (2.3333303654921895, 265.1618135452087),
}


def test_values_are_those_of_the_numpy_implementation():
    x = entropy.compute(_reference_set())
    assert x.shape == (220, 45) and not np.isnan(x).any()
    w = np.arange(1, 221, dtype=np.float64)
    got = np.array([x.sum(axis=0), (w[:, None] * x).sum(axis=0)]).T
    want = np.array([PINNED[n] for n in NAMES])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def _n_free_kmers(s, k):
    return [s[i:i + k] for i in range(len(s) - k + 1) if "N" not in s[i:i + k]]


@pytest.mark.parametrize("repeat_k", [4, 6, 8, 10])
def test_repeat_density_matches_kmer_counts(monkeypatch, repeat_k):
    # k <= 6 is read from the direct k-mer counts, k > 6 from the ranks of the longer factors
    monkeypatch.setattr(entropy, "REPEAT_K", repeat_k)
    rng = np.random.default_rng(9)
    seqs = _random(30, rng, lengths=(9, 40, 230), n_rate=0.05) + REAL[:10]
    seqs += ["ACGTTACG" * 12, "AAAAAAAAAAAN" * 5, "GATTACA" * 3 + "N" + "GATTACA" * 3, "ACGT"]
    col = NAMES.index("entropy_repeat_density")
    got = entropy.compute(seqs)[:, col]
    for s, g in zip(seqs, got):
        c = Counter(_n_free_kmers(s, repeat_k))
        n = sum(c.values())
        if n == 0:
            assert np.isnan(g), s
        else:
            assert g == sum(v for v in c.values() if v > 1) / n, s


def test_complexity_of_long_sequences_matches_direct_parse():
    # sequences longer than 4^5 bp (the maximum min(4^k, #k-mers) is then 4^5 at k = 5),
    # long repeats (the factor search runs to high levels) and N blocks
    rng = np.random.default_rng(10)
    seqs = ["".join(rng.choice(list("ACGT"), size=1500)), "".join(rng.choice(list("ACGTN"), size=1200))]
    unit = "".join(rng.choice(list("ACGT"), size=37))
    seqs += [unit * 8, unit * 3 + "N" * 4 + unit * 3 + "TTGCA", "A" * 300, "AC" * 90 + "NN" + "AC" * 40]
    got = entropy.compute(seqs)
    lz, lc = NAMES.index("entropy_lempel_ziv_complexity"), NAMES.index("entropy_linguistic_complexity")
    for s, row in zip(seqs, got):
        L = len(s)
        assert row[lz] == pytest.approx(_lz76(s) * math.log(L, 4) / L, rel=1e-12), s[:20]
        segments = [len(x) for x in s.split("N") if x]
        num = den = 0
        for k in range(1, L + 1):
            kmers = _n_free_kmers(s, k)
            if not kmers:
                break
            distinct = len(set(kmers))
            num += distinct
            den += min(4 ** k, len(kmers))
            if distinct == len(kmers):
                # every longer k-mer is distinct too, and fewer than 4^k: both sums add the count
                rest = sum(max(S - kk + 1, 0) for S in segments for kk in range(k + 1, S + 1))
                num += rest
                den += rest
                break
        assert row[lc] == num / den, s[:20]


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 16, 100, 128, 129, 200, 226, 241, 256, 257, 1000, 4097])
def test_compiled_sums_follow_numpy_order(n):
    # the kernel's sums reproduce numpy's pairwise summation bit for bit
    x = np.random.default_rng(n).standard_normal(n) * 10.0 ** np.random.default_rng(n + 1).integers(-8, 8, n)
    stack, partial = np.empty((3, 128), dtype=np.int64), np.empty(128)
    assert entropy._pairwise_sum(x, n, stack, partial) == np.sum(x)
