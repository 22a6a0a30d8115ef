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


def encode_left(seqs):
    """Sequences as stored in a training cache: uint8 codes (n, W) left-aligned and N-padded
    to W, the longest of them, and each one's length (int32 (n,)); :func:`centre` turns them
    into :func:`encode`'s arrays for any length."""
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int32, count=len(seqs))
    W = int(lengths.max()) if len(seqs) else 0
    out = np.full((len(seqs), W), N_CODE, dtype=np.uint8)
    if len(seqs) and (lengths == W).all():
        buf = np.frombuffer("".join(seqs).encode("ascii", "replace"), dtype=np.uint8)
        return _CODE[buf].reshape(len(seqs), W), lengths
    for i, s in enumerate(seqs):
        out[i, :len(s)] = _CODE[np.frombuffer(s.encode("ascii", "replace"), dtype=np.uint8)]
    return out, lengths


def centre(raw, lengths, length):
    """Left-aligned codes (:func:`encode_left`) -> the central ``length`` bases of each row,
    N-padded on both sides (the extra N on the right), exactly as :func:`encode` gives them."""
    raw = np.asarray(raw, dtype=np.uint8)
    lengths = np.asarray(lengths, dtype=np.int64)
    m, W = raw.shape
    if W == length and bool((lengths == length).all()):
        return raw
    src0 = np.maximum((lengths - length) // 2, 0)[:, None]
    dst0 = np.maximum((length - lengths) // 2, 0)[:, None]
    cnt = np.minimum(lengths, length)[:, None]
    j = np.arange(length)[None, :]
    ok = (j >= dst0) & (j < dst0 + cnt)
    src = np.clip(j - dst0 + src0, 0, max(W - 1, 0))
    out = np.full((m, length), N_CODE, dtype=np.uint8)
    if W:
        got = np.take_along_axis(raw, src, axis=1)
        out[ok] = got[ok]
    return out


def decode_rows(raw, lengths):
    """Left-aligned codes back to the sequences they were encoded from (uppercase A/C/G/T/N)."""
    lut = np.frombuffer(b"ACGTN", dtype=np.uint8)
    return [lut[row[:n]].tobytes().decode("ascii") for row, n in zip(np.asarray(raw), np.asarray(lengths))]


class CachedRows:
    """One split of a training cache read on demand (the streamed mode of fit-cre and
    fit-physinformer): the same interface as the in-memory splits of toolkit.train.cre and
    toolkit.train.physinformer.

    ``prepare(get, names)`` turns stored datasets (``get(name)`` reads one for the rows
    at hand) into the fields ``names`` (numpy arrays); it is elementwise in the rows, so a
    batch read here equals the same rows of the in-memory arrays built by the same
    function. ``take(idx)`` reads rows by index (one positioned read per row and dataset),
    ``blocks(size)`` contiguous blocks in order, ``array(name)`` a whole field.
    """

    def __init__(self, reader, split, prepare, fields, optional=(), block=1 << 15):
        self.reader, self.split, self.prepare = reader, split, prepare
        self.block = block                    # rows per block of array() and load_rows()
        self.fields = tuple(fields)
        self.optional = set(optional)         # fields that are None for this run (e.g. no side inputs)
        self.n = reader.rows(split)

    def __len__(self):
        return self.n

    def _fields(self, names, getter):
        names = tuple(self.fields if names is None else names)
        want = [k for k in names if k not in self.optional]
        got = {}

        def get(name):
            if name not in got:
                got[name] = getter(name)
            return got[name]

        out = self.prepare(get, want) if want else {}
        return {k: out.get(k) for k in names}

    def take(self, idx, names=None):
        """Rows ``idx`` (tensor or array of ints) as tensors (None for an absent field)."""
        idx = np.asarray(idx, dtype=np.int64)
        out = self._fields(names, lambda name: self.reader.read(self.split, name, idx))
        return {k: None if v is None else torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}

    def blocks(self, size, names=None):
        """(start, {name: numpy array}) for consecutive blocks of ``size`` rows."""
        for a in range(0, self.n, size):
            b = min(a + size, self.n)
            yield a, self._fields(names, lambda name, a=a, b=b: self.reader.block(self.split, name, a, b))

    def array(self, name):
        """A whole field (e.g. the validation targets), read block by block."""
        parts = [blk[name] for _, blk in self.blocks(self.block, (name,))]
        if not parts or parts[0] is None:
            return None if name in self.optional else np.zeros((0,))
        return np.concatenate(parts)

    def groups_of(self, idx):
        """dgsplit group ids of rows ``idx`` (None when the input has none)."""
        if not self.reader.has(self.split, "groups"):
            return None
        return self.reader.read(self.split, "groups", np.asarray(idx, dtype=np.int64))

    def sequences(self, idx):
        """The rows' sequences as read (strings)."""
        idx = np.asarray(idx, dtype=np.int64)
        return decode_rows(self.reader.read(self.split, "codes", idx), self.reader.read(self.split, "lengths", idx))


def batches(split, perm, bs, start, steps, rows, names):
    """The batches ``start``..``steps - 1`` of an epoch's order ``perm`` as (b, idx, got):
    ``idx`` the batch's rows, ``got`` = ``split.take(rows(idx), names)``. A split read from a
    training cache (:class:`CachedRows`) is read one batch ahead in a thread, so the reading
    of batch b + 1 overlaps the step on batch b (the values are the same either way)."""

    def load(b):
        idx = perm[b * bs:(b + 1) * bs]
        return idx, split.take(rows(idx), names)

    if not isinstance(split, CachedRows) or steps - start < 2:
        for b in range(start, steps):
            yield (b, *load(b))
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="batch-reader") as pool:
        ahead = pool.submit(load, start)
        for b in range(start, steps):
            idx, got = ahead.result()
            if b + 1 < steps:
                ahead = pool.submit(load, b + 1)
            yield b, idx, got


def load_rows(reader, split, prepare, fields, optional=(), block=1 << 15):
    """Every field of a split of a training cache as whole numpy arrays (the in-memory mode),
    built block by block with the same ``prepare`` as :class:`CachedRows`."""
    rows = CachedRows(reader, split, prepare, fields, optional)
    parts = {k: [] for k in fields}
    for _, blk in rows.blocks(block):
        for k in fields:
            parts[k].append(blk[k])
    return {k: None if k in rows.optional else (np.concatenate(v) if v else None) for k, v in parts.items()}


def onehot(codes):
    """(B, L) uint8 codes -> (B, 4, L) float32 one-hot; N is all zeros."""
    return _ONEHOT.to(codes.device)[codes.long()].transpose(1, 2).contiguous()


def reverse_complement(codes):
    """Reverse complement of (B, L) code tensors (N stays N)."""
    return _COMPLEMENT.to(codes.device)[codes.long()].flip(-1)


def augment(codes, gen, rc_prob=0.5, shift=3, shift_prob=0.5, mask_prob=0.02):
    """Training augmentations of a batch of codes.

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
