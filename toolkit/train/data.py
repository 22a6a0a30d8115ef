"""Sequences as uint8 code tensors, one-hot on the fly, and the training augmentations.

Codes: A0 C1 G2 T3, N (and padding) 4. A table of n sequences is held as one
uint8 array (n, L): 230 bytes a sequence, built once; one-hot float tensors exist
only per batch.
"""

import numpy as np
import torch

from ..features.encode import _CODE

N_CODE = 4
_ONEHOT = torch.cat([torch.eye(4), torch.zeros(1, 4)])    # code 4 -> all-zero column
_COMPLEMENT = torch.tensor([3, 2, 1, 0, 4], dtype=torch.uint8)


def encode(seqs, length):
    """Encode sequences to a fixed length, centred.

    Shorter sequences are padded with N on both sides (the extra base on the right);
    longer ones are cut to their central ``length`` bases.

    Parameters
    ----------
    seqs : list of str (uppercase A/C/G/T/N)
    length : int

    Returns
    -------
    numpy.ndarray uint8, shape (n, length)
    """
    out = np.full((len(seqs), length), N_CODE, dtype=np.uint8)
    for i, s in enumerate(seqs):
        b = _CODE[np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8)]
        if len(b) >= length:
            a = (len(b) - length) // 2
            out[i] = b[a:a + length]
        else:
            a = (length - len(b)) // 2
            out[i, a:a + len(b)] = b
    return out


def onehot(codes):
    """(B, L) uint8 codes -> (B, 4, L) float32 one-hot; N is all zeros."""
    return _ONEHOT.to(codes.device)[codes.long()].transpose(1, 2).contiguous()


def reverse_complement(codes):
    """Reverse complement of (B, L) code tensors (N stays N)."""
    return _COMPLEMENT.to(codes.device)[codes.long()].flip(-1)


def augment(codes, gen, rc_prob=0.5, shift=3, shift_prob=0.5, mask_prob=0.02):
    """Training augmentations of a batch of codes (design 001 METHOD item 6).

    Each sequence is replaced by its reverse complement with probability ``rc_prob``;
    shifted by a uniform offset in [-shift, shift] (0 excluded) with probability
    ``shift_prob``, the vacated positions filled with N (not circular); and each
    base masked to N with probability ``mask_prob``.

    Parameters
    ----------
    codes : uint8 tensor (B, L), on the CPU
    gen : torch.Generator
        The only source of randomness, so that an epoch's augmentations are fixed by its seed.

    Returns
    -------
    uint8 tensor (B, L)
    """
    B, L = codes.shape
    out = codes
    if rc_prob > 0:
        flip = torch.rand(B, generator=gen) < rc_prob
        if flip.any():
            out = out.clone()
            out[flip] = reverse_complement(out[flip])
    if shift > 0 and shift_prob > 0:
        k = torch.randint(1, shift + 1, (B,), generator=gen) * (torch.randint(0, 2, (B,), generator=gen) * 2 - 1)
        k = torch.where(torch.rand(B, generator=gen) < shift_prob, k, torch.zeros_like(k))
        src = torch.arange(L)[None, :] - k[:, None]             # output position p reads input p - k
        ok = (src >= 0) & (src < L)
        out = torch.where(ok, out.gather(1, src.clamp(0, L - 1)), torch.full_like(out, N_CODE))
    if mask_prob > 0:
        out = torch.where(torch.rand(B, L, generator=gen) < mask_prob, torch.full_like(out, N_CODE), out)
    return out
