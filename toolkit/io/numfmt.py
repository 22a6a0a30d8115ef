"""Tab-separated text of float arrays, byte for byte what Python's formatting writes.

:func:`format_rows` writes every value as ``format(v, ".6g")`` does (any precision
1-15), in one compiled pass over the array instead of one Python call per value:

1. the decimal exponent ``e`` of ``|v|``: ``floor((b - 1) log10 2)`` for the binary
   exponent b of ``|v|`` (``2**(b-1) <= |v| < 2**b``), which is e or one less, raised by
   one where step 2 finds the scaled value at or above ``10**digits``;
2. the ``digits`` significant digits, ``m = round(|v| * 10**(digits - 1 - e))``: the
   scaling is one correctly rounded multiplication or division by an exact power of
   ten (``10**k`` is exact in float64 for ``|k| <= 22``), so the computed product is
   within half an ulp of the exact one, and rounds as the exact one does unless that
   lies within ``margin`` of a rounding tie (x.5);
3. the text: fixed notation for ``-4 <= e < digits``, else ``d.ddddde+XX``, trailing
   zeros and a bare point removed, as the ``g`` format does.

The values step 2 cannot vouch for (within the margin of a tie, subnormal, or
further than ``10**(+-22)`` from ``10**(digits - 1)``) are formatted by Python
itself, so every value is exactly Python's text.
"""

import math

import numba
import numpy as np

_POW10 = 10.0 ** np.arange(23)   # exact in float64
_TINY = 2.2250738585072014e-308  # smallest normal float64


def format_rows(values, digits=6, nan="NaN", prefix=None):
    """TSV text of a 2-D float array: one line per row, fields joined by tabs.

    Parameters
    ----------
    values : array_like, shape (n, d), d >= 1
        Converted to float64.
    digits : int, 1-15
        Significant digits: each field is ``format(v, f".{digits}g")``.
    nan : str
        The field written for NaN (ASCII, without tabs or line breaks).
    prefix : bytes, optional
        n lines, each ending in ``\\n`` (the first fields of each row, e.g. ids): line i of
        the result is line i of ``prefix``, a tab, then the values of row i.

    Returns
    -------
    bytes
        ASCII after the prefix lines (copied as they are), every row (also the last)
        ending in ``\\n``; empty for n = 0.
    """
    if not 1 <= digits <= 15:
        raise ValueError(f"digits must be 1-15, got {digits}")
    a = np.ascontiguousarray(values, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 1:
        raise ValueError(f"values must be a 2-D array with at least one column, got shape {a.shape}")
    nan_b = np.frombuffer(nan.encode("ascii"), dtype=np.uint8)
    if np.isin(nan_b, (9, 10, 13)).any():
        raise ValueError("the NaN text must not hold a tab or line break")
    n, d = a.shape
    if prefix is None:
        pre = np.zeros(0, dtype=np.uint8)
    else:
        if prefix.count(b"\n") != n or (n and not prefix.endswith(b"\n")):
            raise ValueError(f"prefix must hold {n} lines, each ending in a line feed")
        pre = np.frombuffer(prefix, dtype=np.uint8)
    if n == 0:
        return b""
    flat = a.ravel()
    margin = 10.0 ** digits * 2.0 ** -51   # 4 x the largest rounding error of the scaling (half an ulp)
    width = max(digits + 7, len(nan_b)) + 1   # longest field (-1.23457e-100) and its separator
    out = np.empty(flat.size * width + pre.size, dtype=np.uint8)
    i = pos = ppos = 0
    while True:
        i, pos, ppos = _format_kernel(flat, i, pos, pre, ppos, d, digits, _POW10, margin, nan_b, out)
        if i == flat.size:
            return out[:pos].tobytes()
        # a value the kernel leaves to Python (see the module docstring), then on from the next
        text = format(float(flat[i]), f".{digits}g").encode("ascii")
        out[pos:pos + len(text)] = np.frombuffer(text, dtype=np.uint8)
        pos += len(text)
        out[pos] = 10 if (i + 1) % d == 0 else 9
        pos += 1
        i += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _scaled(x, digits, pow10):
    """``(s, e)``: the decimal exponent e of x (normal, > 0) and ``s = x * 10**(digits - 1 - e)``
    in ``[10**(digits - 1), 10**digits)``, in one rounding; e = 9999 where the power of ten
    is not exact (|digits - 1 - e| > 22)."""
    lo = pow10[digits - 1]
    hi = pow10[digits]
    # 2**(b - 1) <= x < 2**b: e is floor((b - 1) log10 2) or one more
    e = int(math.floor((math.frexp(x)[1] - 1) * 0.30102999566398120))
    for _ in range(2):
        k = digits - 1 - e
        if k > 22 or k < -22:
            return 0.0, 9999
        s = x * pow10[k] if k >= 0 else x / pow10[-k]
        if s >= hi:
            e += 1
        elif s < lo:   # (not expected: the rounding of s at most reaches lo)
            e -= 1
        else:
            return s, e
    return 0.0, 9999


@numba.njit(cache=True, nogil=True)
def _format_kernel(flat, i0, pos, pre, ppos, d, digits, pow10, margin, nan_b, out):
    """Write the fields of ``flat[i0:]`` (row-major, d per row) into ``out`` from ``pos``,
    each row after its line of ``pre`` (read from ``ppos``; none when ``pre`` is empty) and a tab.

    Returns ``(i, pos, ppos)``: i = flat.size when done, else the index of a value left to
    Python (near a rounding tie, subnormal, or beyond the exact powers of ten), whose field
    belongs at ``out[pos]`` (its row's prefix written).
    """
    dig = np.empty(digits, dtype=np.uint8)
    hi = np.uint64(pow10[digits])
    col = i0 % d
    for i in range(i0, flat.size):
        if col == 0 and pre.size:
            while pre[ppos] != 10:
                out[pos] = pre[ppos]
                pos += 1
                ppos += 1
            ppos += 1
            out[pos] = 9
            pos += 1
        v = flat[i]
        if v != v:
            for b in range(nan_b.size):
                out[pos + b] = nan_b[b]
            pos += nan_b.size
        else:
            x = abs(v)
            if x == 0.0 or math.isinf(x):
                if v < 0.0 or (v == 0.0 and math.copysign(1.0, v) < 0.0):
                    out[pos] = 45   # '-'
                    pos += 1
                if x == 0.0:
                    out[pos] = 48
                    pos += 1
                else:
                    out[pos] = 105   # 'inf'
                    out[pos + 1] = 110
                    out[pos + 2] = 102
                    pos += 3
            else:
                if x < _TINY:
                    return i, pos, ppos
                s, e = _scaled(x, digits, pow10)
                if e == 9999:
                    return i, pos, ppos
                f = math.floor(s)
                r = s - f
                if abs(r - 0.5) <= margin:
                    return i, pos, ppos
                m = np.uint64(f) + np.uint64(1 if r > 0.5 else 0)
                if m >= hi:   # rounded up to 10**digits: one more decimal place
                    m = m // np.uint64(10)
                    e += 1
                for j in range(digits - 1, -1, -1):
                    q = m // np.uint64(10)
                    dig[j] = np.uint8(48 + (m - q * np.uint64(10)))
                    m = q
                t = digits   # significant digits left once trailing zeros go
                while t > 1 and dig[t - 1] == 48:
                    t -= 1
                if v < 0.0:
                    out[pos] = 45
                    pos += 1
                if -4 <= e < digits:
                    if e >= 0:
                        for j in range(e + 1):
                            out[pos + j] = dig[j]
                        pos += e + 1
                        if t > e + 1:
                            out[pos] = 46   # '.'
                            pos += 1
                            for j in range(e + 1, t):
                                out[pos] = dig[j]
                                pos += 1
                    else:
                        out[pos] = 48
                        out[pos + 1] = 46
                        pos += 2
                        for j in range(-e - 1):
                            out[pos] = 48
                            pos += 1
                        for j in range(t):
                            out[pos] = dig[j]
                            pos += 1
                else:
                    out[pos] = dig[0]
                    pos += 1
                    if t > 1:
                        out[pos] = 46
                        pos += 1
                        for j in range(1, t):
                            out[pos] = dig[j]
                            pos += 1
                    out[pos] = 101   # 'e'
                    out[pos + 1] = 45 if e < 0 else 43
                    pos += 2
                    ae = abs(e)
                    if ae >= 100:
                        out[pos] = 48 + ae // 100
                        pos += 1
                    out[pos] = 48 + (ae // 10) % 10
                    out[pos + 1] = 48 + ae % 10
                    pos += 2
        col += 1
        if col == d:
            out[pos] = 10
            col = 0
        else:
            out[pos] = 9
        pos += 1
    return flat.size, pos, ppos
