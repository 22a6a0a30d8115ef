"""Shuffles of a sequence that keep its dinucleotide counts exactly (Altschul and Erickson's
Eulerian-path shuffle).

The letters of a sequence are the vertices of a directed multigraph and each of its n - 1
dinucleotides an edge; a sequence with the same dinucleotide counts is an Eulerian path of
that graph. :func:`dinucleotide_shuffle` draws one uniformly among all of them:

1. the start: the first letter when the path is open (first letter != last letter: the
   counts force both ends); when it is closed (first == last) every letter with outgoing
   edges can start it, and the number of sequences starting at a letter is proportional
   to its out-degree (BEST theorem), so the start is drawn with that weight;
2. the last edge out of every vertex but the end: a uniformly drawn spanning
   arborescence directed to the end vertex, each parallel edge counted apart (Wilson's
   loop-erased random walk, which follows each vertex's edges with equal probability);
3. the other edges out of each vertex in a uniformly random order, the last edge after
   them; the path then takes, at each visit of a vertex, its next edge in that order.

Each (arborescence, orders) pair gives exactly one path of labelled edges and every such
path arises once (Kandel et al. 1996), and every sequence is the same number of labelled
paths (the product of the factorials of the counts), so every sequence with the counts
is equally likely. In the closed case the letter counts of the result can differ from
the input's by one letter (the end letter is counted twice), as they differ among the
sequences with those dinucleotide counts.
"""

from collections import Counter


def dinucleotide_counts(seq):
    """Counter of the overlapping dinucleotides of ``seq`` (``"ACGA"`` -> AC, CG, GA once each)."""
    return Counter(seq[i:i + 2] for i in range(len(seq) - 1))


def dinucleotide_shuffle(seq, rng):
    """A sequence drawn uniformly among all sequences with the dinucleotide counts of ``seq``.

    Parameters
    ----------
    seq : str
        Any letters (N is a letter like the others).
    rng : numpy.random.Generator

    Returns
    -------
    str of the same length (``seq`` itself when it has fewer than 3 letters: it is then the
    only sequence with its counts).
    """
    n = len(seq)
    if n < 3:
        return seq
    out = {}
    for a, b in zip(seq, seq[1:]):
        out.setdefault(a, []).append(b)
    if seq[0] == seq[-1]:
        letters = sorted(out)
        r = int(rng.integers(n - 1))          # a dinucleotide drawn uniformly: its first letter ∝ out-degree
        for start in letters:
            r -= len(out[start])
            if r < 0:
                break
        end = start
    else:
        start, end = seq[0], seq[-1]
    # Wilson's algorithm: a uniform arborescence (labelled edges) directed to `end`
    last = {}
    in_tree = {end}
    for u in sorted(out):
        cur = u
        while cur not in in_tree:
            last[cur] = int(rng.integers(len(out[cur])))
            cur = out[cur][last[cur]]
        cur = u
        while cur not in in_tree:
            in_tree.add(cur)
            cur = out[cur][last[cur]]
    order = {}
    for u in sorted(out):
        edges = out[u]
        if u in last:
            rest = edges[:last[u]] + edges[last[u] + 1:]
            order[u] = [rest[i] for i in rng.permutation(len(rest))] + [edges[last[u]]]
        else:
            order[u] = [edges[i] for i in rng.permutation(len(edges))]
    pos = dict.fromkeys(order, 0)
    path = [start]
    cur = start
    for _ in range(n - 1):
        nxt = order[cur][pos[cur]]
        pos[cur] += 1
        path.append(nxt)
        cur = nxt
    return "".join(path)
