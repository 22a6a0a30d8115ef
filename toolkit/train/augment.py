"""Extra training sequences for a model that learns computed labels (fit-physinformer
--augment): mutated and dinucleotide-shuffled copies of train sequences and windows of a
genome, and the guard that keeps any of them that is a near-copy of a validation or test
sequence out of training.

Pure: sequences in, sequences out; the caller labels them and writes them. Every draw
comes from a generator seeded with the run's seed and the kind, so a run is reproducible
and the candidates of one kind do not depend on how many of another are drawn.
"""

import numpy as np

KINDS = ("mutate", "shuffle", "genome")
"""The kinds of augmented sequences, in the order they are made."""

ORIGIN = {"original": 0, "mutate": 1, "shuffle": 2, "genome": 3}
"""The code of each row's origin in the training cache's ``train/origin`` dataset."""

_BASES = np.frombuffer(b"ACGTN", dtype=np.uint8)
_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate(b"ACGT"):
    _CODE[_b] = _i
_NOT_ACGT = str.maketrans("", "", "ACGT")     # s.translate(_NOT_ACGT) is empty when s holds only A, C, G, T


def kind_counts(n, mix, genome=False):
    """How many sequences of each kind make ``n``: ``mix`` (kind -> weight >= 0) normalised over
    the kinds available (``genome`` only when a genome is given), rounded by largest remainder
    (ties to the earlier kind) so that the counts sum to ``n`` exactly.

    Returns dict kind -> int over :data:`KINDS`; ValueError (the reason) when no available
    kind has a positive weight and ``n`` > 0."""
    kinds = [k for k in KINDS if k != "genome" or genome]
    w = np.array([float(mix.get(k, 0.0)) for k in kinds])
    out = dict.fromkeys(KINDS, 0)
    if n <= 0:
        return out
    if not (w > 0).any():
        raise ValueError("no kind of augmentation has a positive weight"
                         + ("" if genome else " (genome windows need a genome)"))
    share = n * w / w.sum()
    base = np.floor(share).astype(np.int64)
    rest = int(n - base.sum())
    order = sorted(range(len(kinds)), key=lambda i: (-(share[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    out.update({k: int(c) for k, c in zip(kinds, base)})
    return out


def rng_for(seed, kind):
    """The generator of one kind's draws (independent of the other kinds')."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0xA06, KINDS.index(kind)]))


def mutate(seq, fraction, rng):
    """A copy of ``seq`` with round(fraction x length) positions, drawn without replacement,
    each replaced by a different base (uniform among the other three; an N becomes any of
    A, C, G, T)."""
    L = len(seq)
    k = int(np.floor(fraction * L + 0.5))
    if not k:
        return seq
    codes = _CODE[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)].copy()
    pos = rng.choice(L, size=k, replace=False)
    step = rng.integers(1, 4, size=k)
    anew = rng.integers(0, 4, size=k)
    old = codes[pos]
    codes[pos] = np.where(old < 4, (old + step) % 4, anew)
    return _BASES[codes].tobytes().decode("ascii")


class GenomeWindows:
    """Windows of ``length`` bases of a FASTA genome (plain or bgzip with its .fai/.gzi, read
    with pyfaidx) that hold only A, C, G and T, drawn uniformly over every start position of
    every sequence at least ``length`` long, on either strand with probability 1/2.

    Raises InputError (naming the file) for a genome that cannot be opened or has no
    sequence of ``length`` bases."""

    def __init__(self, path, length):
        from ..errors import InputError
        from ..io.genome import open_genome

        self.path, self.length = str(path), int(length)
        self.fa = open_genome(self.path)
        names = list(self.fa.keys())
        sizes = np.array([len(self.fa[c]) for c in names], dtype=np.int64)
        ok = sizes >= self.length
        if not ok.any():
            raise InputError(f"no sequence of the genome is {self.length} bases long (the model length)",
                             file=self.path, hint="give a larger genome, or a shorter --length")
        self.names = [c for c, k in zip(names, ok) if k]
        self.starts = sizes[ok] - self.length + 1          # start positions per sequence
        self.cum = np.cumsum(self.starts)

    def draw(self, n, rng):
        """``n`` windows: (sequences, ids ``chrom:start-end(strand)``, 0-based, end exclusive).
        InputError when windows free of N are too rare to find (fewer than 1 in 100 draws)."""
        from ..errors import InputError
        from ..seq import reverse_complement

        seqs, ids = [], []
        tries, limit = 0, 100 * n + 1000
        while len(seqs) < n:
            if tries >= limit:
                raise InputError(f"found only {len(seqs)} of {n} windows of {self.length} bases free of N in "
                                 f"{tries} draws", file=self.path,
                                 hint="give a genome with fewer N, or lower data.augment_mix.genome")
            tries += 1
            at = int(rng.integers(self.cum[-1]))
            i = int(np.searchsorted(self.cum, at, side="right"))
            start = at - (int(self.cum[i - 1]) if i else 0)
            minus = bool(rng.random() < 0.5)
            s = str(self.fa[self.names[i]][start:start + self.length]).upper()
            if len(s) != self.length or s.translate(_NOT_ACGT):
                continue
            seqs.append(reverse_complement(s) if minus else s)
            ids.append(f"{self.names[i]}:{start}-{start + self.length}({'-' if minus else '+'})")
        return seqs, ids

    def close(self):
        try:
            self.fa.close()
        except Exception:  # noqa: BLE001  (a reader that is already gone)
            pass


def candidates(counts, sources, seed, fraction, genome=None, block=4096):
    """The augmented candidates, block by block: (sequences, kinds, ids) per block, all of
    one kind, mutate first, then shuffle, then genome.

    Parameters
    ----------
    counts : dict kind -> int (see :func:`kind_counts`)
    sources : callable(idx) -> (list of str, list of ids): the train rows at indices
        ``idx`` (int array); with ``sources.n`` the number of train rows to draw from
        (uniformly, with replacement)
    seed : int, the run's seed
    fraction : float, the share of positions a mutated copy changes
    genome : :class:`GenomeWindows` or None
    """
    from ..seq.shuffle import dinucleotide_shuffle

    for kind in KINDS:
        n = int(counts.get(kind, 0))
        if not n:
            continue
        rng = rng_for(seed, kind)
        made = 0
        while made < n:
            m = min(block, n - made)
            if kind == "genome":
                seqs, ids = genome.draw(m, rng)
            else:
                idx = rng.integers(sources.n, size=m)
                src, src_ids = sources(idx)
                if kind == "mutate":
                    seqs = [mutate(s, fraction, rng) for s in src]
                else:
                    seqs = [dinucleotide_shuffle(s, rng) for s in src]
                ids = [f"{kind}{made + j + 1}:{i}" for j, i in enumerate(src_ids)]
            made += m
            yield seqs, [kind] * m, ids


class LeakGuard:
    """Which candidate sequences dgsplit's grouping would put with a held-out row (val, test, or
    one dgsplit excluded from every split).

    The candidates of a block are grouped together with every held-out row by
    toolkit.split.group.group_rows, exactly as dgsplit groups rows: identical or reverse
    complement cores, and near-duplicates by ``near`` (``hamming``: equal-length cores within
    ``max_mismatch`` substitutions on either strand; ``kmer``: canonical k-mer Jaccard >=
    ``kmer_threshold``), cores being the sequences without the flanks that every held-out
    row shares (adapters; dgsplit's shared_flanks). A candidate is a leak when its group
    holds a held-out row (directly or through a chain of related sequences, as a group
    does). ``none`` for ``near`` checks identity and reverse complements only.
    """

    def __init__(self, held_out, near="hamming", max_mismatch=2, kmer_k=12, kmer_threshold=0.5):
        from ..split.group import shared_flanks

        self.held = list(held_out)
        self.near, self.max_mismatch = near, int(max_mismatch)
        self.kmer_k, self.kmer_threshold = int(kmer_k), float(kmer_threshold)
        self.flanks = shared_flanks(self.held) if len(self.held) >= 2 else (0, 0)

    def leaks(self, seqs):
        """bool (len(seqs),): the candidates grouped with a held-out row."""
        from ..split.group import group_rows

        seqs = list(seqs)
        if not self.held or not seqs:
            return np.zeros(len(seqs), dtype=bool)
        labels, _ = group_rows(self.held + seqs, grouping="rc", flanks=self.flanks, near=self.near,
                               max_mismatch=self.max_mismatch, kmer_k=self.kmer_k,
                               kmer_threshold=self.kmer_threshold)
        H = len(self.held)
        return np.isin(labels[H:], labels[:H])

    def describe(self):
        """The rule in words (for the run summary and config.json)."""
        rule = {"hamming": f"within {self.max_mismatch} substitutions", "none": "identical",
                "kmer": f"canonical {self.kmer_k}-mer Jaccard >= {self.kmer_threshold:g}"}[self.near]
        return (f"{rule} (either strand, flanks {self.flanks[0]}+{self.flanks[1]} nt shared by the held-out rows "
                f"removed) of a val, test or excluded sequence, as dgsplit groups rows")
