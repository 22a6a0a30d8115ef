"""Thermodynamic descriptors (``thermo_*``): nearest-neighbour duplex stability per step.

Every dinucleotide step ``s[i]s[i+1]`` (i = 0 .. L-2) gets the SantaLucia (1998)
unified nearest-neighbour enthalpy ΔH (kcal/mol) and entropy ΔS (cal/mol/K) from
``share/params/nn_thermo_16steps.tsv`` (columns ``SL1998_dH``, ``SL1998_dS``), and

    ΔG = ΔH - T·ΔS / 1000   at T = 310.15 K (37 °C),

which reproduces the table's ``SL1998_dG37`` column to its three printed decimals
(the design document writes "310 K"; 310.15 K is 37 °C exactly). No initiation or
symmetry terms are added: totals are sums over the steps only, as the document
defines them.

Steps containing N are left out of every statistic; a statistic with no valid step
(a sequence shorter than 2, or only N) is NaN. Because the SantaLucia table gives a
step and its complement step the same values (AA = TT, CA = TG, ...), the step
values of the reverse complement are the reversed step values of the sequence, so
every ``thermo_*`` descriptor is strand-symmetric.

Statistics are computed from the counts of the 16 step types of each sequence
(one ``bincount``), which gives totals, moments, extremes and exact order
statistics without sorting; only the local-extrema and run descriptors look at
the order of the steps.
"""

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
            formula = ("Wallace rule 2·(A+T) + 4·(G+C) over the A/C/G/T bases (calibrated for oligos "
                       "under ~20 nt; reported as the document lists it).")
            src = "Thein SL, Wallace RB (1986) in Human Genetic Diseases: A Practical Approach, IRL Press"
        elif kind == "gc_tm":
            unit = "degC"
            formula = ("81.5 + 16.6·log10([Na+] = 0.05 M) + 0.41·(%GC) - 675/N, with %GC and N over "
                       "the A/C/G/T bases.")
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
        out.append(Descriptor(name, FAMILY, unit, formula, src))
    return out


def _percentile_from_counts(cum, sorted_vals, q):
    """Percentile ``q`` (linear interpolation, numpy's default) of each row's multiset.

    cum : int array (m, K), cumulative counts of the K values in ascending order;
    sorted_vals : float array (K,). Returns float64 (m,), NaN where a row is empty.
    """
    n = cum[:, -1]
    pos = q / 100.0 * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
    v_lo = sorted_vals[np.minimum((cum <= lo[:, None]).sum(axis=1), len(sorted_vals) - 1)]
    v_hi = sorted_vals[np.minimum((cum <= hi[:, None]).sum(axis=1), len(sorted_vals) - 1)]
    out = v_lo + frac * (v_hi - v_lo)
    out[n == 0] = np.nan
    return out


def _extrema_counts(profile):
    """Plateau-aware local minima and maxima of each row of a step profile.

    profile : float array (m, S) with NaN at invalid steps. A maximum is a run of
    equal values whose nearest different valid neighbours on both sides (within the
    same N-free stretch) are lower; likewise for minima. Returns two int arrays (m,).
    """
    m, S = profile.shape
    if S < 3:
        z = np.zeros(m, dtype=np.int64)
        return z, z.copy()
    d = profile[:, 1:] - profile[:, :-1]           # (m, S-1), NaN where a step is invalid
    # slope signs in row-major order, flat steps dropped, breaks (N) kept as 2 so that no
    # extremum is counted across them; an extremum is a +1 then -1 (or -1 then +1) pair
    key = np.sign(d).astype(np.int8)
    key[np.isnan(d)] = 2
    rows, cols = np.nonzero(key)
    vals = key[rows, cols]
    same = rows[1:] == rows[:-1]
    up_down = same & (vals[:-1] == 1) & (vals[1:] == -1)
    down_up = same & (vals[:-1] == -1) & (vals[1:] == 1)
    maxima = np.bincount(rows[1:][up_down], minlength=m)
    minima = np.bincount(rows[1:][down_up], minlength=m)
    return minima, maxima


def _run_counts(flag, min_len):
    """Number of maximal runs of True of length >= ``min_len`` in each row of ``flag`` (m, S)."""
    m, S = flag.shape
    if S < min_len:
        return np.zeros(m, dtype=np.int64)
    # a run of >= min_len ends at j where flag[j-min_len+1 .. j] are all True and flag[j+1] is False
    c = np.zeros((m, S + 1), dtype=np.int32)
    np.cumsum(flag, axis=1, out=c[:, 1:])
    full = (c[:, min_len:] - c[:, :-min_len]) == min_len      # (m, S-min_len+1): window ending at j
    nxt = np.zeros((m, S - min_len + 1), dtype=bool)
    nxt[:, :-1] = flag[:, min_len:]
    return (full & ~nxt).sum(axis=1)


def _compute_group(codes, tabs, low, high):
    """Descriptors of one group of equal-length sequences.

    codes : uint8 array (m, L). Returns float64 array (m, 43).
    """
    m, L = codes.shape
    layout = _layout()
    out = np.full((m, len(layout)), np.nan)
    valid_base = codes < 4
    n_acgt = valid_base.sum(axis=1)
    gc = ((codes == 1) | (codes == 2)).sum(axis=1)

    if L >= 2:
        a, b = codes[:, :-1], codes[:, 1:]
        ok = (a < 4) & (b < 4)
        step = np.where(ok, 4 * a.astype(np.int64) + b, 16)               # 16 = invalid
        counts = np.bincount((step + 17 * np.arange(m)[:, None]).ravel(), minlength=17 * m)
        counts = counts.reshape(m, 17)[:, :16].astype(np.float64)
    else:
        ok = np.zeros((m, 0), dtype=bool)
        step = np.zeros((m, 0), dtype=np.int64)
        counts = np.zeros((m, 16))
    n = counts.sum(axis=1)
    has = n > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        moments = {}
        for q, v in tabs.items():
            total = (counts * v).sum(axis=1)       # row-wise, so independent of batching
            mean = total / n
            var = (counts * (v[None, :] - mean[:, None]) ** 2).sum(axis=1) / n
            present = counts > 0
            mn = np.where(present, v[None, :], np.inf).min(axis=1)
            mx = np.where(present, v[None, :], -np.inf).max(axis=1)
            order = np.argsort(v, kind="stable")
            cum = np.cumsum(counts[:, order], axis=1)
            sv = v[order]
            pct = {p: _percentile_from_counts(cum, sv, p) for p in PERCENTILES}
            moments[q] = {"total": total, "mean": mean, "var": var, "min": mn, "max": mx, "pct": pct}
        padded = {q: np.append(v, np.nan) for q, v in tabs.items()}
        profile = padded["dG"][step]                                      # (m, L-1), NaN at N steps
        minima, maxima = _extrema_counts(profile)
        low_flag = np.append(low, False)[step]
        high_flag = np.append(high, False)[step]
        low_runs = _run_counts(low_flag, RUN_MIN_STEPS)
        high_runs = _run_counts(high_flag, RUN_MIN_STEPS)
        wallace = 2.0 * (n_acgt - gc) + 4.0 * gc
        gc_tm = 81.5 + 16.6 * np.log10(NA_MOLAR) + 0.41 * (100.0 * gc / n_acgt) - 675.0 / n_acgt

    for j, (name, kind, q, arg) in enumerate(layout):
        if kind in _STAT_WORDS:
            col = moments[q][kind]
        elif kind == "pct":
            col = moments[q]["pct"][arg]
        elif kind == "iqr":
            col = moments[q]["pct"][75] - moments[q]["pct"][25]
        elif kind == "wallace":
            out[:, j] = np.where(n_acgt > 0, wallace, np.nan)
            continue
        elif kind == "gc_tm":
            out[:, j] = np.where(n_acgt > 0, gc_tm, np.nan)
            continue
        else:
            col = {"local_min": minima, "local_max": maxima,
                   "low_runs": low_runs, "high_runs": high_runs}[kind]
        out[:, j] = np.where(has, col, np.nan)
    return out


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
    out = np.empty((len(seqs), len(_layout())), dtype=np.float64)
    for idx, codes in by_length(seqs):
        out[idx] = _compute_group(codes, tabs, low, high)
    return out
