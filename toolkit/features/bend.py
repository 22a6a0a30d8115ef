"""Bending descriptors (``bend_*``): intrinsic curvature and bendability profiles.

Two per-position profiles are computed for every sequence; the 44 descriptors are
statistics of them.

Bendability profile ``b`` (the "bending cost" of the column names)
    One value per trinucleotide ``s[k]s[k+1]s[k+2]`` (k = 0 .. L-3): the DNase I
    bendability of Brukner et al. (1995) on the 0-10 trinucleotide scale of Goodsell &
    Dickerson (1994), column ``Bendability-DNAse`` of
    ``share/params/trinucleotide_bendability_ftrCOOL.tsv``, summed with a stiffness
    constant kappa0 = 1 (E_bend = sum of the values * kappa0). It is a bendability
    scale (larger = more bendable towards the major groove; A-tracts lowest), not an
    energy in kT, whatever the column names ("bending energy", "bending cost")
    suggest.

Curvature profile ``kappa`` (wedge model)
    Every dinucleotide step i carries the roll rho_i, tilt tau_i and twist Omega_i
    of the sign-corrected Olson et al. (1998) step means
    (``olson1998_pDNA_step_means_signcorrected.tsv``). In the first-order wedge
    model (Ulanovsky & Trifonov 1987; Bolshoy et al. 1991; the BEND program of
    Goodsell & Dickerson 1994) a step bends the helix axis by the vector
    ``tau_i + i*rho_i`` in the plane of its base pairs, and that plane turns with
    the accumulated twist, so in a fixed frame the step's bend is the complex number

        z_i = (tau_i + i*rho_i) * exp(i*psi_i),   psi_i = Omega_0 + ... + Omega_{i-1} + Omega_i / 2.

    The curvature at position k is the magnitude of the vector sum over one helical
    turn of ``TURN_STEPS`` = 10 steps (11 bp):

        kappa_k = | z_k + z_{k+1} + ... + z_{k+9} |     (degrees per helical turn),

    k = 0 .. L-11 (the small-angle form of the curvature that BEND and the bend.it
    server report in degrees per helical turn). Phased roll adds up and gives large
    kappa; out-of-phase roll cancels. With the half-step phase convention the reverse
    complement (steps reversed, tilt negated by the sign-corrected table) has the
    reversed kappa profile (z of the reverse complement is -exp(i*T)*conj(z), T the
    total twist), so every curvature descriptor is strand-symmetric.

Windows of w = 5, 7, 9, 11 consecutive kappa values give the windowed RMS, variance
and maximum; the spectral descriptors are sliding-window periodograms of ``b``; the
attention bias is the span-wise Boltzmann factor exp(-(b_i + ... + b_j) / RT) of
``b``, with b read as kcal/mol and RT at 310.15 K (:data:`RT_KCAL`).

N handling: a trinucleotide or step containing N has no value; every window (helical
turn, w-window, spectral window, attention span) that contains one is left out of the
statistics, and a statistic with no valid value is NaN (e.g. sequences shorter than
11 nt have no curvature value, shorter than 23 nt no spectral window).

Every ``bend_*`` descriptor is strand-symmetric: the trinucleotide scale gives a
trinucleotide and its reverse complement the same value, and the curvature profile
of the reverse complement is the reversed profile (see above).
"""

import cmath
import math
import weakref

import numpy as np

from . import Descriptor, written_columns
from .encode import by_length_blocks, kmer_index

FAMILY = "bend"

#: Helical-turn window of the curvature (dinucleotide steps).
TURN_STEPS = 10
#: Windows (in curvature positions) of the windowed statistics.
WINDOWS = (5, 7, 9, 11)
#: Spectral frequencies (cycles/bp) and their name tags: 5-, 7- and 10-bp periods.
FREQUENCIES = ((1 / 5, "0p200"), (1 / 7, "0p143"), (1 / 10, "0p100"))
#: Sliding window (trinucleotide positions) of the periodogram: two helical turns.
SPECTRAL_WINDOW = 21
#: A hotspot is a curvature value more than this many standard deviations above the
#: sequence's mean curvature.
HOTSPOT_Z = 2.0
#: RT at 310.15 K (37 °C) in kcal/mol, the Boltzmann scale of the attention bias.
RT_KCAL = 1.987204e-3 * 310.15
#: Sequence positions per block of rows (rows = BLOCK_ELEMENTS // length): keeps each
#: complex work array under ~400 kB, inside a core's L2 cache, and lets the allocator
#: reuse it instead of mapping and zeroing fresh pages for every temporary (measured:
#: ~38,000 sequences/s at 24,000, ~22,000 at 48,000, ~20,000 with 1,024-row blocks).
BLOCK_ELEMENTS = 24_000
#: Values closer than this (in the profile's unit) are treated as equal (floating-point
#: noise of the running sums, ~1e-12, stays far below it).
TOL = 1e-9

_TRI_COLUMN = "Bendability-DNAse"
_SRC_BEND = ("share/params/trinucleotide_bendability_ftrCOOL.tsv, column Bendability-DNAse: DNase I "
             "trinucleotide bendability, Brukner I, Sanchez R, Suck D, Pongor S (1995) EMBO J 14:1812-1818, "
             "on the 0-10 scale of Goodsell DS, Dickerson RE (1994) NAR 22:5497-5503 (via ftrCOOL); "
             "kappa0 = 1 (unit stiffness)")
_SRC_CURV = ("share/params/olson1998_pDNA_step_means_signcorrected.tsv (roll, tilt, twist): Olson WK et al. "
             "(1998) PNAS 95:11163-11168; first-order wedge model: Ulanovsky LE, Trifonov EN (1987) Nature "
             "326:720-722, Bolshoy A et al. (1991) PNAS 88:2312-2316, Goodsell DS, Dickerson RE (1994) NAR "
             "22:5497-5503")
_SRC_SPEC = _SRC_BEND + "; sliding-window periodogram (Schuster 1898 periodogram, |DFT|^2 / n)"
_SRC_ATT = (_SRC_BEND + "; span-wise Boltzmann factor exp(-sum b / RT), an attention bias over spans "
            "(no published source)")
_KAPPA_WORDS = ("the wedge-model curvature kappa (magnitude of the vector sum of Olson roll/tilt, "
                "rotated by the accumulated twist, over one helical turn of 10 steps)")


def _layout():
    """(name, kind, argument) of the 44 descriptors, in output order."""
    out = [("bend_total_bending_energy", "b_total", None),
           ("bend_mean_bending_cost", "b_mean", None),
           ("bend_max_bending_cost", "b_max", None),
           ("bend_bending_energy_variance", "b_var", None)]
    for stat in ("rms", "var"):
        base = "rms_curvature" if stat == "rms" else "curvature_var"
        for agg in ("mean", "max"):
            out += [(f"bend_{base}_w{w}_{agg}", f"{stat}_{agg}", w) for w in WINDOWS]
    out += [("bend_curvature_gradient_mean", "grad_mean", None),
            ("bend_curvature_gradient_max", "grad_max", None)]
    for agg in ("mean", "global_max", "fraction_at_global_max"):
        out += [(f"bend_max_bend_w{w}_{agg}", f"wmax_{agg}", w) for w in WINDOWS]
    out += [("bend_hotspot_count", "hot_count", None), ("bend_hotspot_density", "hot_density", None)]
    for agg in ("mean", "max"):
        out += [(f"bend_spectral_f{tag}_{agg}_power", f"spec_{agg}", f) for f, tag in FREQUENCIES]
    out += [("bend_attention_bias_mean", "att_mean", None), ("bend_attention_bias_min", "att_min", None)]
    return out


def _all_descriptors(params=None, **options):
    """The 44 ``bend_*`` descriptors, in output order.

    Returns
    -------
    list of toolkit.features.Descriptor
    """
    b_words = "the DNase I trinucleotide bendability b over the trinucleotides without N"
    out = []
    for name, kind, arg in _layout():
        src = _SRC_CURV
        caveat = ""
        if kind == "b_total":
            unit, src = "-", _SRC_BEND
            formula = f"Sum of {b_words} (a bending energy with kappa0 = 1; a bendability scale, not kT)."
        elif kind == "b_mean":
            unit, src = "-", _SRC_BEND
            formula = f"Mean of {b_words}."
        elif kind == "b_max":
            unit, src = "-", _SRC_BEND
            formula = f"Maximum of {b_words}."
        elif kind == "b_var":
            unit, src = "-", _SRC_BEND
            formula = f"Population variance (ddof 0) of {b_words}."
        elif kind.startswith("rms_"):
            unit = "deg/turn"
            agg = "Mean" if kind.endswith("mean") else "Maximum"
            formula = (f"{agg} over windows of {arg} consecutive curvature values of the root mean square "
                       f"of {_KAPPA_WORDS} in the window.")
        elif kind.startswith("var_"):
            unit = "(deg/turn)^2"
            agg = "Mean" if kind.endswith("mean") else "Maximum"
            formula = (f"{agg} over windows of {arg} consecutive curvature values of the population variance "
                       f"of {_KAPPA_WORDS} in the window.")
        elif kind == "grad_mean":
            unit = "deg/turn/bp"
            formula = f"Mean absolute difference between adjacent values of {_KAPPA_WORDS}."
        elif kind == "grad_max":
            unit = "deg/turn/bp"
            formula = f"Maximum absolute difference between adjacent values of {_KAPPA_WORDS}."
        elif kind == "wmax_mean":
            unit = "deg/turn"
            formula = (f"Mean over windows of {arg} consecutive curvature values of the window maximum of "
                       f"{_KAPPA_WORDS}.")
        elif kind == "wmax_global_max":
            unit = "deg/turn"
            formula = (f"Largest window maximum over windows of {arg} consecutive values of {_KAPPA_WORDS}: "
                       "the largest curvature of the sequence (the same for every window width, so only w5 "
                       "is written).")
        elif kind == "wmax_fraction_at_global_max":
            unit = "fraction"
            formula = (f"Fraction of the windows of {arg} consecutive curvature values whose maximum equals "
                       f"the largest window maximum (within {TOL:g}) of {_KAPPA_WORDS}.")
            caveat = (f"When the largest curvature is reached once, at least {arg - 1} positions from the ends, "
                      f"this is {arg} / (number of windows): a function of the length alone, constant over "
                      "sequences of one length.")
        elif kind == "hot_count":
            unit = "count"
            formula = (f"Number of positions where {_KAPPA_WORDS} exceeds the sequence's own mean curvature "
                       f"by more than {HOTSPOT_Z:g} population standard deviations.")
        elif kind == "hot_density":
            unit = "fraction"
            formula = ("Curvature hotspots (as bend_hotspot_count) divided by the number of curvature "
                       "positions without N.")
        elif kind.startswith("spec_"):
            unit, src = "-", _SRC_SPEC
            agg = "Mean" if kind.endswith("mean") else "Maximum"
            formula = (f"{agg} over sliding windows of {SPECTRAL_WINDOW} trinucleotides of the periodogram "
                       f"|sum_t (b_t - window mean) exp(-2 pi i f t)|^2 / {SPECTRAL_WINDOW} of the DNase I "
                       f"bendability b at f = {arg:.4f} cycles/bp (period {1 / arg:.0f} bp).")
        elif kind == "att_mean":
            unit, src = "-", _SRC_ATT
            formula = ("Mean over pairs of trinucleotide positions i < j (span without N) of "
                       f"exp(-(b_i + ... + b_j) / RT), RT = {RT_KCAL:.4f} kcal/mol at 310.15 K, with the "
                       "DNase I bendability b read as kcal/mol.")
        else:
            unit, src = "-", _SRC_ATT
            formula = ("Minimum over the same pairs of exp(-(b_i + ... + b_j) / RT), reached at the longest "
                       "N-free span (not written: see RETIRED).")
        out.append(Descriptor(name, FAMILY, unit, formula, src, caveat))
    return out


# --------------------------------------------------------------------------- tables

_TABLES = weakref.WeakKeyDictionary()


def bend_tables(params):
    """Per-step and per-trinucleotide tables of the family (cached per ``params``).

    Parameters
    ----------
    params : toolkit.features.params.Params

    Returns
    -------
    dict
        ``wedge`` complex (16,): (tau + i*rho) * exp(i*Omega/2) per step (degrees,
        radians for the phase); ``turn`` complex (16,): exp(i*Omega);
        ``bendability`` float (64,): DNase I bendability per trinucleotide, indexed by
        :func:`toolkit.features.encode.kmer_index` code (16*a + 4*b + c);
        ``boltzmann`` float (64,): exp(-bendability / RT).
    """
    try:
        return _TABLES[params]
    except (KeyError, TypeError):
        pass
    tilt = params.step_vector("olson_steps", "tilt_deg")
    roll = params.step_vector("olson_steps", "roll_deg")
    twist = params.step_vector("olson_steps", "twist_deg")
    # Scalar libm (cmath/math) for the 16/64 table entries: the same bits on every call.
    wedge = np.array([complex(t, r) * cmath.exp(0.5j * math.radians(w)) for t, r, w in zip(tilt, roll, twist)])
    turn = np.array([cmath.exp(1j * math.radians(w)) for w in twist])
    tri = params.table("trinucleotide")
    lookup = dict(zip(tri.iloc[:, 0], tri[_TRI_COLUMN].astype(float)))
    trinucs = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT"]
    bendability = np.array([lookup[t] for t in trinucs], dtype=np.float64)
    if (bendability < 0).any():
        raise ValueError(f"{_TRI_COLUMN} has negative values; the attention-bias minimum assumes b >= 0")
    boltzmann = np.array([math.exp(-v / RT_KCAL) for v in bendability])
    out = {"wedge": wedge, "turn": turn, "bendability": bendability, "boltzmann": boltzmann}
    try:
        _TABLES[params] = out
    except TypeError:
        pass
    return out


# --------------------------------------------------------------------------- profiles

class _Dyadic:
    """Sums (``np.add``) or maxima (``np.maximum``) of w consecutive columns of x, for
    several w, from cached block reductions over 1, 2, 4, 8, ... columns.

    A window sum adds the blocks of the binary decomposition of w (a few additions of
    short terms: cheaper than a running sum, and without its cancellation); a window
    maximum takes two overlapping blocks of the largest power of two <= w.

    x : array (m, n); op : ``np.add``, ``np.maximum`` or ``np.logical_or`` (the last two
    idempotent). ``get(w)`` returns an array (m, n - w + 1) for 1 <= w <= n.
    """

    def __init__(self, x, op):
        self.op = op
        self.levels = {1: x}

    def _level(self, p):
        if p not in self.levels:
            half = self._level(p // 2)
            self.levels[p] = self.op(half[:, :-(p // 2)], half[:, p // 2:])
        return self.levels[p]

    def get(self, w):
        n = self.levels[1].shape[1]
        k = n - w + 1
        top = 1 << (w.bit_length() - 1)
        if self.op is np.maximum or self.op is np.logical_or:      # idempotent: blocks may overlap
            blk = self._level(top)
            return self.op(blk[:, :k], blk[:, w - top:w - top + k])
        out = None
        off = 0
        p = top
        while p >= 1:
            if w & p:
                part = self._level(p)[:, off:off + k]
                out = part.copy() if out is None else self.op(out, part)
                off += p
            p //= 2
        return out


def _turn_sums(wedge, turn, w):
    """Wedge vectors summed over w consecutive steps, in the frame of each window's first step.

    For a window of steps k .. k+w-1 the sum is
    sum_m wedge_{k+m} * turn_k * ... * turn_{k+m-1}, i.e. each step's half-twist-rotated
    wedge turned by the twist accumulated since the window start (the magnitude does
    not depend on the frame). Windows are built from dyadic blocks with the associative
    rule (S, R)_{AB} = (S_A + R_A S_B, R_A R_B), so a window's value depends only on its
    own steps: equal windows give bit-identical curvature.

    wedge, turn : complex arrays (m, S); returns complex (m, S - w + 1).
    """
    levels = {1: (wedge, turn)}
    p = 1
    while 2 * p <= w:
        S, R = levels[p]
        levels[2 * p] = (S[:, :-p] + R[:, :-p] * S[:, p:], R[:, :-p] * R[:, p:])
        p *= 2
    k = wedge.shape[1] - w + 1
    out_s = out_r = None
    off = 0
    while p >= 1:
        if w & p:
            S, R = levels[p]
            s_p, r_p = S[:, off:off + k], R[:, off:off + k]
            if out_s is None:
                out_s, out_r = s_p, r_p
            else:
                out_s = out_s + out_r * s_p
                out_r = out_r * r_p
            off += p
        p //= 2
    return out_s


def curvature_profile(codes, tables):
    """Wedge-model curvature over one helical turn.

    Parameters
    ----------
    codes : uint8 array, shape (m, L)
    tables : dict from :func:`bend_tables`

    Returns
    -------
    float64 array, shape (m, max(L - TURN_STEPS, 0))
        kappa_k (degrees per helical turn) for the turn of steps k .. k+9; NaN where
        one of its steps contains N.
    """
    m, L = codes.shape
    n_out = L - TURN_STEPS
    if n_out <= 0:
        return np.zeros((m, 0))
    idx = kmer_index(codes, 2)                      # (m, L-1)
    bad = idx < 0
    safe = np.maximum(idx, 0)
    turn = tables["turn"][safe]
    turn[bad] = 1.0                                 # turns with an N are dropped below
    wedge = tables["wedge"][safe]
    wedge[bad] = 0.0
    s = _turn_sums(wedge, turn, TURN_STEPS)
    kappa = np.sqrt(s.real * s.real + s.imag * s.imag)
    if bad.any():
        kappa[_Dyadic(bad, np.logical_or).get(TURN_STEPS)] = np.nan
    return kappa


def bendability_profile(codes, tables):
    """DNase I bendability per trinucleotide.

    Parameters
    ----------
    codes : uint8 array, shape (m, L)

    Returns
    -------
    float64 array, shape (m, max(L - 2, 0)); NaN where the trinucleotide contains N.
    """
    idx = kmer_index(codes, 3)
    out = tables["bendability"][np.maximum(idx, 0)]
    out[idx < 0] = np.nan
    return out


# --------------------------------------------------------------------------- statistics
#
# ``ok`` masks mark the valid entries; ``ok=None`` means "all valid" (a block without N),
# which skips the masking but gives bit-identical results for such rows: np.where(ok, x, 0)
# of an all-valid row is the row itself and the sums run in the same order.

def _masked_mean(x, ok):
    """Row means of x over ``ok``; NaN for rows without any. x, ok: (m, n)."""
    if ok is None:
        n = np.full(x.shape[0], x.shape[1])
        s = x.sum(axis=1)
    else:
        n = ok.sum(axis=1)
        s = np.where(ok, x, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = s / n
    out[n == 0] = np.nan
    return out


def _masked_max(x, ok):
    """Row maxima of x over ``ok``; NaN for rows without any."""
    if x.shape[1] == 0:
        return np.full(x.shape[0], np.nan)
    if ok is None:
        return x.max(axis=1)
    out = np.where(ok, x, -np.inf).max(axis=1)
    out[~ok.any(axis=1)] = np.nan
    return out


def _window_ok(bad, w):
    """Windows of w columns without a bad entry: bad (m, n) bool -> (m, n - w + 1) bool;
    None when ``bad`` is None (nothing bad)."""
    if bad is None:
        return None
    return ~bad.get(w)


def _first_valid(x, ok):
    """Each row's first valid value (0 for rows without any): x, ok (m, n) -> (m, 1)."""
    if x.shape[1] == 0:
        return np.zeros((x.shape[0], 1))
    first = ok.argmax(axis=1)
    c = np.take_along_axis(x, first[:, None], axis=1)
    return np.where(np.take_along_axis(ok, first[:, None], axis=1), c, 0.0)


def _bendability_stats(b):
    """Total, mean, max and population variance of each row's valid values. b: (m, n).

    The variance is computed from b - (first valid value): the same number, but exactly
    0 for a constant row."""
    ok = ~np.isnan(b)
    n = ok.sum(axis=1)
    b0 = np.where(ok, b, 0.0)
    total = b0.sum(axis=1)
    y = np.where(ok, b - _first_valid(b, ok), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
        ym = y.sum(axis=1) / n
        var = (np.where(ok, y - ym[:, None], 0.0) ** 2).sum(axis=1) / n
    total = np.where(n > 0, total, np.nan)
    return total, mean, _masked_max(b, ok), var


def _curvature_stats(kappa, res):
    """Fill the curvature descriptors of ``res`` ((kind, arg) -> (m,) array).

    kappa : float64 array (m, n), NaN where undefined.
    """
    m, n = kappa.shape
    nan_ok = ~np.isnan(kappa)
    any_bad = not nan_ok.all()
    ok = nan_ok if any_bad else None
    k0 = np.where(nan_ok, kappa, 0.0) if any_bad else kappa
    kneg = np.where(nan_ok, kappa, -np.inf) if any_bad else kappa
    # Window moments of kappa - c, c the row's first valid value: shifting leaves the
    # variance alone, keeps the sums small (less cancellation) and makes the variance
    # of a constant stretch exactly 0.
    c = _first_valid(k0, nan_ok)
    y = np.where(nan_ok, kappa - c, 0.0) if any_bad else kappa - c
    s1 = _Dyadic(y, np.add)
    s2 = _Dyadic(y * y, np.add)
    smax = _Dyadic(kneg, np.maximum)
    bad = _Dyadic(~nan_ok, np.logical_or) if any_bad else None
    for w in WINDOWS:
        if n < w:
            for key in ("rms_mean", "rms_max", "var_mean", "var_max", "wmax_mean", "wmax_global_max",
                        "wmax_fraction_at_global_max"):
                res[(key, w)] = np.full(m, np.nan)
            continue
        wok = _window_ok(bad, w)
        mu = s1.get(w) / w
        var = np.maximum(s2.get(w) / w - mu * mu, 0.0)
        mu += c
        rms = np.sqrt(var + mu * mu)
        wmax = smax.get(w)
        res[("rms_mean", w)] = _masked_mean(rms, wok)
        res[("rms_max", w)] = _masked_max(rms, wok)
        res[("var_mean", w)] = _masked_mean(var, wok)
        res[("var_max", w)] = _masked_max(var, wok)
        res[("wmax_mean", w)] = _masked_mean(wmax, wok)
        gmax = _masked_max(wmax, wok)
        res[("wmax_global_max", w)] = gmax
        at = np.abs(wmax - gmax[:, None]) <= TOL
        res[("wmax_fraction_at_global_max", w)] = _masked_mean(at.astype(np.float64), wok)
    if n >= 2:
        grad = np.abs(kappa[:, 1:] - kappa[:, :-1])
        gok = (nan_ok[:, 1:] & nan_ok[:, :-1]) if any_bad else None
        res[("grad_mean", None)] = _masked_mean(grad, gok)
        res[("grad_max", None)] = _masked_max(grad, gok)
    else:
        res[("grad_mean", None)] = np.full(m, np.nan)
        res[("grad_max", None)] = np.full(m, np.nan)
    mean = _masked_mean(k0, ok)
    sd = np.sqrt(_masked_mean((k0 - mean[:, None]) ** 2, ok))
    with np.errstate(invalid="ignore"):
        hot = kappa > (mean + HOTSPOT_Z * sd + TOL)[:, None]     # NaN compares False
    count = hot.sum(axis=1).astype(np.float64)
    cnt = nan_ok.sum(axis=1)
    count[cnt == 0] = np.nan
    res[("hot_count", None)] = count
    with np.errstate(invalid="ignore", divide="ignore"):
        res[("hot_density", None)] = count / cnt


_DFT = {}


def _dft_factors(n, f):
    """exp(-2 pi i f s) for s = 0 .. n-1, from scalar libm (identical bits on every call), cached."""
    key = (n, f)
    if key not in _DFT:
        _DFT[key] = np.array([cmath.exp(-2j * math.pi * f * s) for s in range(n)])
    return _DFT[key]


def _spectral_stats(b, res):
    """Sliding-window periodogram of the bendability profile at the three frequencies.

    b : float64 array (m, n), NaN where undefined.
    """
    m, n = b.shape
    W = SPECTRAL_WINDOW
    if n < W:
        for f, _ in FREQUENCIES:
            res[("spec_mean", f)] = np.full(m, np.nan)
            res[("spec_max", f)] = np.full(m, np.nan)
        return
    nan_ok = ~np.isnan(b)
    any_bad = not nan_ok.all()
    # The periodogram of mean-centred windows does not change when b is shifted; shifting
    # by the row's first valid value makes a constant stretch exactly 0.
    c = _first_valid(b, nan_ok)
    b0 = np.where(nan_ok, b - c, 0.0) if any_bad else b - c
    wok = _window_ok(_Dyadic(~nan_ok, np.logical_or), W) if any_bad else None
    wmean = _Dyadic(b0, np.add).get(W) / W
    k = n - W + 1
    for f, _ in FREQUENCIES:
        e = _dft_factors(n, f)
        g = e[:W].sum()                              # sum_t exp(-2 pi i f t)
        d = _Dyadic(b0 * e, np.add).get(W) - wmean * (g * e[:k])
        power = (d.real * d.real + d.imag * d.imag) / W
        res[("spec_mean", f)] = _masked_mean(power, wok)
        res[("spec_max", f)] = _masked_max(power, wok)


def _attention_stats(b, boltz):
    """Mean and minimum of exp(-(b_i + ... + b_j)/RT) over pairs i < j of each row.

    The pair sum uses the recursion F_j = e_j (1 + F_{j-1}) for
    F_j = sum_{i <= j} prod_{k=i..j} e_k (e = exp(-b/RT), from the table), which never
    over- or underflows before the result does: the pair sum is sum_j e_j F_{j-1}. A
    position with N has e = 0, which resets the recursion, so spans across N are left
    out. The bendability scale is non-negative, so the largest span sum (which gives
    the minimum) is the largest sum of an N-free stretch of at least two positions.

    b, boltz : float arrays (m, n), NaN / anything at positions with N.
    Returns two float64 arrays (m,): mean and minimum, NaN for rows without a pair.
    """
    m, n = b.shape
    nan_ok = ~np.isnan(b)
    e = np.where(nan_ok, boltz, 0.0)
    b0 = np.where(nan_ok, b, 0.0)
    et = np.ascontiguousarray(e.T)                  # (n, m): one contiguous row per position
    F = np.zeros(m)
    pair_sum = np.zeros(m)
    for j in range(n):
        pair_sum += et[j] * F
        F += 1.0
        F *= et[j]
    csum = np.cumsum(b0, axis=1)
    if nan_ok.all():
        pairs = np.full(m, n * (n - 1) / 2.0)
        span_max = csum[:, -1] if n >= 2 else np.full(m, -np.inf)
    else:
        cols = np.arange(n)
        last_bad = np.maximum.accumulate(np.where(nan_ok, -1, cols), axis=1)       # last N at or before j
        run = cols - last_bad                                                       # valid stretch ending at j
        run[~nan_ok] = 0
        pairs = np.where(nan_ok, run - 1, 0).sum(axis=1).astype(np.float64)
        before = np.where(last_bad >= 0, np.take_along_axis(csum, np.maximum(last_bad, 0), axis=1), 0.0)
        span = csum - before
        span_max = np.where(nan_ok & (run >= 2), span, -np.inf).max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = pair_sum / pairs
        mn = np.exp(-span_max / RT_KCAL)
    mean[pairs == 0] = np.nan
    mn[pairs == 0] = np.nan
    return mean, mn


def _compute_all(seqs, params, **options):
    """``bend_*`` descriptors of ``seqs``.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase A/C/G/T/N sequences; lengths may differ.
    params : toolkit.features.params.Params

    Returns
    -------
    numpy.ndarray of float64, shape (n, 44); NaN where a descriptor is undefined.
    """
    layout = _layout()
    tables = bend_tables(params)
    out = np.full((len(seqs), len(layout)), np.nan)
    for idx, codes in by_length_blocks(seqs, BLOCK_ELEMENTS):
        out[idx] = _compute_block(codes, tables, layout)
    return out


def _compute_block(codes, tables, layout):
    """Descriptors of one block of equal-length sequences: codes (m, L) -> (m, 44)."""
    m = codes.shape[0]
    res = {}
    tri = kmer_index(codes, 3)
    b = tables["bendability"][np.maximum(tri, 0)]
    b[tri < 0] = np.nan
    total, mean, mx, var = _bendability_stats(b)
    res.update({("b_total", None): total, ("b_mean", None): mean, ("b_max", None): mx,
                ("b_var", None): var})
    _curvature_stats(curvature_profile(codes, tables), res)
    _spectral_stats(b, res)
    boltz = tables["boltzmann"][np.maximum(tri, 0)]
    res[("att_mean", None)], res[("att_min", None)] = _attention_stats(b, boltz)
    out = np.empty((m, len(layout)))
    for j, (_, kind, arg) in enumerate(layout):
        out[:, j] = res[(kind, arg)]
    return out


#: Statistics computed on the way but not written, each another column under a second
#: name (an identical or affine copy): name -> why.
RETIRED = {
    'bend_max_bend_w7_global_max':
        'the largest curvature, as bend_max_bend_w5_global_max (every window width covers the same largest value)',
    'bend_max_bend_w9_global_max':
        'the largest curvature, as bend_max_bend_w5_global_max (every window width covers the same largest value)',
    'bend_max_bend_w11_global_max':
        'the largest curvature, as bend_max_bend_w5_global_max (every window width covers the same largest value)',
    'bend_attention_bias_min':
        'exp(-sum b / RT) over the longest N-free span: underflows to 0 beyond ~80 nt, and its logarithm is -bend_total_bending_energy / RT',
}


descriptors, compute = written_columns(_all_descriptors, _compute_all, RETIRED, "bend")
