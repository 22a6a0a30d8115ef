"""Thermodynamic descriptors (``thermo_*``): nearest-neighbour duplex stability per step.

Every dinucleotide step ``s[i]s[i+1]`` (i = 0 .. L-2) gets the SantaLucia (1998)
unified nearest-neighbour enthalpy ΔH (kcal/mol) and entropy ΔS (cal/mol/K) from
``share/params/nn_thermo_16steps.tsv`` (columns ``SL1998_dH``, ``SL1998_dS``), and

    ΔG = ΔH - T·ΔS / 1000   at T = 310.15 K (37 °C),

which reproduces the table's ``SL1998_dG37`` column to its three printed decimals
(310.15 K is 37 °C exactly). No initiation or symmetry terms are added: totals are
sums over the steps only.

Steps containing N are left out of every statistic; a statistic with no valid step
(a sequence shorter than 2, or only N) is NaN. Because the SantaLucia table gives a
step and its complement step the same values (AA = TT, CA = TG, ...), the step
values of the reverse complement are the reversed step values of the sequence, so
every ``thermo_*`` descriptor is strand-symmetric.

Statistics are computed from the counts of the 16 step types of each sequence,
which gives totals, moments, extremes and exact order statistics without sorting;
only the local-extrema and run descriptors look at the order of the steps. One
compiled pass (numba) per sequence gathers the counts, the extrema and the runs,
so nothing of size (sequences x steps) is held in memory; sums over the 16 step
types follow numpy's pairwise order, so the values equal numpy's to the last bit.
"""

import numba
import numpy as np

from . import Descriptor
from .encode import by_length

FAMILY = "thermo"

#: Temperature (K) at which ΔG is evaluated: 37 °C.
TEMPERATURE_K = 310.15
#: Monovalent cation concentration (mol/L) of the GC-adjusted Tm (Biopython's default Na = 50 mM).
NA_MOLAR = 0.05
#: Percentiles of the step distributions (linear interpolation between order statistics).
PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
#: A low-/high-energy run is at least this many consecutive steps (>= 4 bp).
RUN_MIN_STEPS = 3

_SOURCE = ("share/params/nn_thermo_16steps.tsv (SL1998_dH, SL1998_dS); SantaLucia J Jr (1998) "
           "PNAS 95:1460-1465, unified nearest-neighbour parameters")
_STAT_WORDS = {"total": "Sum", "mean": "Mean", "var": "Population variance (ddof 0)",
               "min": "Minimum", "max": "Maximum"}
_QUANT = {
    "dH": ("kcal/mol", "nearest-neighbour enthalpy ΔH"),
    "dS": ("cal/mol/K", "nearest-neighbour entropy ΔS"),
    "dG": ("kcal/mol", "free energy ΔG = ΔH - 310.15 K·ΔS/1000"),
}


def _layout():
    """(name, kind, quantity, argument) of every descriptor, in output order (43)."""
    out = [(f"thermo_{s}_dH", s, "dH", None) for s in ("total", "mean", "var")]
    out += [(f"thermo_{s}_dS", s, "dS", None) for s in ("total", "mean", "var", "min", "max")]
    out += [(f"thermo_{s}_dG", s, "dG", None) for s in ("total", "mean", "var", "min", "max")]
    for q in ("dG", "dH", "dS"):
        out += [(f"thermo_{q}_p{p}", "pct", q, p) for p in PERCENTILES]
    out += [(f"thermo_{q}_iqr", "iqr", q, None) for q in ("dG", "dH", "dS")]
    out += [("thermo_melting_temp_wallace", "wallace", None, None),
            ("thermo_melting_temp_gc_adjusted", "gc_tm", None, None),
            ("thermo_local_min_count", "local_min", "dG", None),
            ("thermo_local_max_count", "local_max", "dG", None),
            ("thermo_low_energy_runs", "low_runs", "dG", None),
            ("thermo_high_energy_runs", "high_runs", "dG", None)]
    return out


def step_tables(params):
    """ΔH, ΔS and ΔG per dinucleotide step.

    Parameters
    ----------
    params : toolkit.features.params.Params

    Returns
    -------
    dict of str -> numpy.ndarray of float64, shape (16,)
        Keys ``dH`` (kcal/mol), ``dS`` (cal/mol/K), ``dG`` (kcal/mol at 310.15 K),
        indexed ``4*code(a) + code(b)`` with A0 C1 G2 T3.
    """
    dH = params.step_vector("nn_thermo", "SL1998_dH")
    dS = params.step_vector("nn_thermo", "SL1998_dS")
    return {"dH": dH, "dS": dS, "dG": dH - TEMPERATURE_K * dS / 1000.0}


def _energy_classes(dG):
    """Steps counted as low-energy (most stable quartile of the 16-step ΔG table) and
    high-energy (least stable quartile): with SantaLucia 1998 these are GC, CG, CC, GG
    and AA, TT, AT, TA. Returns two bool arrays of shape (16,)."""
    lo, hi = np.percentile(dG, [25, 75])
    return dG <= lo, dG >= hi


def descriptors(params, **options):
    """The 43 ``thermo_*`` descriptors, in output order.

    Returns
    -------
    list of toolkit.features.Descriptor
    """
    dG = step_tables(params)["dG"]
    low, high = _energy_classes(dG)
    steps = [a + b for a in "ACGT" for b in "ACGT"]
    low_steps = ", ".join(s for s, f in zip(steps, low) if f)
    high_steps = ", ".join(s for s, f in zip(steps, high) if f)
    out = []
    for name, kind, q, arg in _layout():
        caveat = ""
        if q is not None and kind in _STAT_WORDS:
            unit, what = _QUANT[q]
            if kind == "var":
                unit = f"({unit})^2"
            formula = f"{_STAT_WORDS[kind]} of the {what} over the dinucleotide steps without N."
            src = _SOURCE
        elif kind == "pct":
            unit, what = _QUANT[q]
            formula = (f"{arg}th percentile (linear interpolation) of the {what} over the dinucleotide "
                       "steps without N.")
            src = _SOURCE
        elif kind == "iqr":
            unit, what = _QUANT[q]
            formula = f"75th minus 25th percentile of the {what} over the dinucleotide steps without N."
            src = _SOURCE
        elif kind == "wallace":
            unit = "degC"
            formula = "Wallace rule 2·(A+T) + 4·(G+C) over the A/C/G/T bases."
            caveat = ("Valid only for oligonucleotides under ~20 nt (hybridisation probes, 1 M Na+); it grows "
                      "by 2-4 degC per base, so longer sequences get impossible values (~600-800 at 230 nt): "
                      "there it is a linear function of length and G+C count, not a melting temperature.")
            src = "Thein SL, Wallace RB (1986) in Human Genetic Diseases: A Practical Approach, IRL Press"
        elif kind == "gc_tm":
            unit = "degC"
            formula = ("81.5 + 16.6·log10([Na+] = 0.05 M) + 0.41·(%GC) - 675/N, with %GC and N over "
                       "the A/C/G/T bases.")
            caveat = ("Empirical rule for duplexes of a few dozen bp at 50 mM Na+; it ignores sequence order "
                      "(at one length a linear function of G+C content) and is meaningless below ~14 nt.")
            src = ("Schildkraut C, Lifson S (1965) Biopolymers 3:195-208; as Biopython "
                   "MeltingTemp.Tm_GC (Na = 50 mM)")
        elif kind in ("local_min", "local_max"):
            unit = "count"
            which = "minima" if kind == "local_min" else "maxima"
            formula = (f"Number of strict local {which} of the ΔG step profile (a plateau counts once; "
                       "sequence ends and steps next to N are never extrema).")
            src = _SOURCE
        else:
            unit = "count"
            cls = low_steps if kind == "low_runs" else high_steps
            label = "most" if kind == "low_runs" else "least"
            formula = (f"Number of maximal runs of at least {RUN_MIN_STEPS} consecutive steps from the "
                       f"{label} stable ΔG quartile of the 16-step table ({cls}).")
            src = _SOURCE
        out.append(Descriptor(name, FAMILY, unit, formula, src, caveat))
    return out


# Raw statistics of the kernel, in this order: for each quantity (dH, dS, dG) the 13
# statistics of _RAW_STATS, then the six sequence-level counts of _RAW_EXTRA.
_QUANTITIES = ("dH", "dS", "dG")
_RAW_STATS = ("total", "mean", "var", "min", "max") + tuple(f"p{p}" for p in PERCENTILES) + ("iqr",)
_RAW_EXTRA = ("wallace", "gc_tm", "local_min", "local_max", "low_runs", "high_runs")


def _raw_columns():
    """int64 (45,): output column of each raw kernel statistic, -1 for one not in the layout."""
    where = {}
    for j, (name, kind, q, arg) in enumerate(_layout()):
        if kind in _STAT_WORDS:
            where[(q, kind)] = j
        elif kind == "pct":
            where[(q, f"p{arg}")] = j
        elif kind == "iqr":
            where[(q, "iqr")] = j
        else:
            where[(None, kind)] = j
    raw = [(q, k) for q in _QUANTITIES for k in _RAW_STATS] + [(None, k) for k in _RAW_EXTRA]
    return np.array([where.get(key, -1) for key in raw], dtype=np.int64)


@numba.njit(cache=True, nogil=True)
def _sum16(x):
    """Sum of 16 float64 in numpy's pairwise order (8 partial sums, then a tree), so that
    totals equal ``numpy.sum`` over a row of 16 to the last bit."""
    r0 = x[0] + x[8]
    r1 = x[1] + x[9]
    r2 = x[2] + x[10]
    r3 = x[3] + x[11]
    r4 = x[4] + x[12]
    r5 = x[5] + x[13]
    r6 = x[6] + x[14]
    r7 = x[7] + x[15]
    return ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))


@numba.njit(cache=True, nogil=True)
def _thermo_kernel(codes, vals, order, low, high, pct, tm_const, run_min, cols, out):
    """Every ``thermo_*`` statistic of a block of equal-length sequences, one pass per row.

    Parameters
    ----------
    codes : uint8 array, shape (m, L)
        A0 C1 G2 T3, N 4.
    vals : float64 array, shape (3, 16)
        dH, dS, dG of each step (index 4*a + b).
    order : int64 array, shape (3, 16)
        Stable ascending argsort of each row of ``vals``.
    low, high : bool arrays, shape (16,)
        Steps of the most / least stable ΔG quartile.
    pct : float64 array, shape (P,)
        Percentiles in ascending order; ``iqr`` takes the entries equal to 25 and 75.
    tm_const : float
        81.5 + 16.6·log10([Na+]) of the GC-adjusted Tm.
    run_min : int
        Shortest run of low-/high-energy steps that counts.
    cols : int64 array, shape (45,)
        Output column of each raw statistic (see _raw_columns), -1 to skip.
    out : float64 array, shape (m, n_out)
        Written where defined; entries left alone stay as the caller set them (NaN).

    Counts of the 16 step types give totals, moments, extremes and exact order
    statistics; one scan of the steps counts the extrema of the ΔG profile (slope
    sign changes, flat stretches skipped, N breaking the profile) and the runs.
    """
    m, L = codes.shape
    P = pct.shape[0]
    nraw = 13
    counts = np.zeros(16, dtype=np.int64)
    buf = np.empty(16)
    cum = np.empty(16)
    res = np.empty(3 * nraw + 6)
    i25 = -1
    i75 = -1
    for k in range(P):
        if pct[k] == 25.0:
            i25 = k
        if pct[k] == 75.0:
            i75 = k
    for r in range(m):
        counts[:] = 0
        n_acgt = 0
        gc = 0
        last = 0            # last nonzero slope key: 1 up, -1 down, 2 break (N), 0 none
        have_prev = False   # the previous step is valid
        prev_g = 0.0
        minima = 0
        maxima = 0
        low_len = 0
        high_len = 0
        low_runs = 0
        high_runs = 0
        for i in range(L):
            b = codes[r, i]
            n_acgt += b < 4
            gc += (b == 1) | (b == 2)
            if i == 0:
                continue
            a = codes[r, i - 1]
            key = 2 if i >= 2 else 0
            lo_f = False
            hi_f = False
            if a < 4 and b < 4:
                s = 4 * a + b
                counts[s] += 1
                g = vals[2, s]
                if have_prev:
                    d = g - prev_g
                    key = (d > 0) - (d < 0)
                prev_g = g
                have_prev = True
                lo_f = low[s]
                hi_f = high[s]
            else:
                have_prev = False
            # an extremum is an up-slope followed by a down-slope (or the reverse), flat
            # stretches skipped, a break (N) in between resetting
            maxima += (last == 1) & (key == -1)
            minima += (last == -1) & (key == 1)
            last = key if key != 0 else last
            low_runs += (not lo_f) & (low_len >= run_min)
            high_runs += (not hi_f) & (high_len >= run_min)
            low_len = low_len + 1 if lo_f else 0
            high_len = high_len + 1 if hi_f else 0
        low_runs += low_len >= run_min
        high_runs += high_len >= run_min

        res[:] = np.nan
        n = 0
        for s in range(16):
            n += counts[s]
        if n > 0:
            nf = float(n)
            for q in range(3):
                v = vals[q]
                for s in range(16):
                    buf[s] = counts[s] * v[s]
                total = _sum16(buf)
                mean = total / nf
                for s in range(16):
                    dv = v[s] - mean
                    buf[s] = counts[s] * (dv * dv)
                var = _sum16(buf) / nf
                mn = np.inf
                mx = -np.inf
                for s in range(16):
                    if counts[s] > 0:
                        if v[s] < mn:
                            mn = v[s]
                        if v[s] > mx:
                            mx = v[s]
                base = q * nraw
                res[base] = total
                res[base + 1] = mean
                res[base + 2] = var
                res[base + 3] = mn
                res[base + 4] = mx
                c = 0.0
                for s in range(16):
                    c += counts[order[q, s]]
                    cum[s] = c
                top = nf - 1.0
                j_lo = 0
                j_hi = 0
                for k in range(P):
                    # numpy.percentile's default: linear interpolation between order statistics;
                    # pct ascending, so both pointers only move forward
                    pos = pct[k] / 100.0 * top
                    lo = np.floor(pos)
                    frac = pos - lo
                    hi = min(lo + 1.0, top)
                    while j_lo < 15 and cum[j_lo] <= lo:
                        j_lo += 1
                    while j_hi < 15 and cum[j_hi] <= hi:
                        j_hi += 1
                    v_lo = v[order[q, j_lo]]
                    v_hi = v[order[q, j_hi]]
                    res[base + 5 + k] = v_lo + frac * (v_hi - v_lo)
                if i25 >= 0 and i75 >= 0:
                    res[base + 5 + P] = res[base + 5 + i75] - res[base + 5 + i25]
            e = 3 * nraw
            res[e + 2] = minima
            res[e + 3] = maxima
            res[e + 4] = low_runs
            res[e + 5] = high_runs
        if n_acgt > 0:
            e = 3 * nraw
            res[e] = 2.0 * (n_acgt - gc) + 4.0 * gc
            res[e + 1] = tm_const + 0.41 * (100.0 * gc / n_acgt) - 675.0 / n_acgt
        for k in range(res.shape[0]):
            if cols[k] >= 0:
                out[r, cols[k]] = res[k]


def compute(seqs, params, **options):
    """Thermodynamic descriptors of ``seqs``.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase A/C/G/T/N sequences (lengths may differ).
    params : toolkit.features.params.Params

    Returns
    -------
    numpy.ndarray of float64, shape (n, 43)
        Columns in the order of :func:`descriptors`; NaN where a sequence has no
        step without N (or, for the two Tm columns, no A/C/G/T base).
    """
    tabs = step_tables(params)
    low, high = _energy_classes(tabs["dG"])
    vals = np.stack([tabs[q] for q in _QUANTITIES])
    order = np.stack([np.argsort(v, kind="stable") for v in vals]).astype(np.int64)
    pct = np.array(PERCENTILES, dtype=np.float64)
    if np.any(np.diff(pct) <= 0):
        raise ValueError("PERCENTILES must be in ascending order")
    tm_const = 81.5 + 16.6 * np.log10(NA_MOLAR)
    out = np.full((len(seqs), len(_layout())), np.nan)
    cols = _raw_columns()
    for idx, codes in by_length(seqs):
        block = np.full((len(idx), out.shape[1]), np.nan)
        _thermo_kernel(codes, vals, order, low, high, pct, float(tm_const), RUN_MIN_STEPS, cols, block)
        out[idx] = block
    return out
