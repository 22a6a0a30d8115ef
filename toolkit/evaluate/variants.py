"""Variant effects: a model's predictions of the reference and alternative windows of each
variant, their difference, and (cell-line targets) MinGap specificity of both alleles."""

import numpy as np

from .specificity import min_gap


def score_alleles(pred, ref, alt, groups, batch_size=512, rc_average=None):
    """Predictions of the reference and alternative sequences of variants.

    Both windows of a variant go through one forward pass: they are interleaved (ref, alt,
    ref, alt, ...) and the batch size is rounded up to an even number. Variants are predicted
    group by group (``groups``, e.g. the input record's index // a block size), so that a
    variant meets the same batches whichever chunk or shard it is read in.

    Parameters
    ----------
    pred : a predictor of :func:`toolkit.train.serve.load` (``predict``, ``side_inputs``)
    ref, alt : list of str, length n
    groups : array of int, shape (n,), non-decreasing
    batch_size : int, sequences per forward pass (rounded up to even)
    rc_average : bool or None, as for ``pred.predict``

    Returns
    -------
    (ref_pred, alt_pred) : float64 arrays, shape (n, len(pred.targets))
    """
    n, T = len(ref), len(pred.targets)
    out_ref = np.zeros((n, T), dtype=np.float64)
    out_alt = np.zeros((n, T), dtype=np.float64)
    bs = batch_size + batch_size % 2
    groups = np.asarray(groups)
    if n == 0:
        return out_ref, out_alt
    cuts = np.flatnonzero(np.diff(groups)) + 1
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, n]):
        seqs = [s for pair in zip(ref[a:b], alt[a:b]) for s in pair]
        side = pred.side_inputs(seqs)
        y = pred.predict(seqs, side, batch_size=bs, rc_average=rc_average)
        out_ref[a:b] = y[0::2]
        out_alt[a:b] = y[1::2]
    return out_ref, out_alt


def mingap_effects(ref_pred, alt_pred):
    """MinGap of both alleles for the reference allele's top cell.

    Parameters
    ----------
    ref_pred, alt_pred : float arrays, shape (n, k), k >= 2 cells

    Returns
    -------
    dict of arrays, shape (n,): ``cell`` (int, index of the top cell of ``ref_pred``),
    ``ref``, ``alt`` (MinGap of each allele for that cell) and ``delta`` (alt - ref).
    """
    cell = np.argmax(np.asarray(ref_pred), axis=1)
    r = min_gap(ref_pred, cell)
    a = min_gap(alt_pred, cell)
    return {"cell": cell, "ref": r, "alt": a, "delta": a - r}
