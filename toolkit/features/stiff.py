"""Stiffness descriptors (``stiff_*``): deformation energy of every base-pair step.

Model
    Each dinucleotide step s has an intrinsic geometry theta_s (tilt, roll, twist in
    degrees; shift, slide, rise in Angstrom) and a 6x6 stiffness matrix K_s (kT/deg^2,
    kT/(deg*A), kT/A^2), both from the molecular-dynamics parametrisation of Lankas,
    Sponer, Langowski & Cheatham (2003) (``lankas2003_md_equilibrium.tsv``,
    ``lankas2003_md_stiffness_long.tsv``, column ``K_kT_deg_A``). The harmonic energy
    ``E = 1/2 dtheta^T K dtheta`` (Olson et al. 1998) needs a target geometry: here
    ideal B-DNA, twist 36 deg, tilt = roll = 0, shift = slide = 0, rise 3.4 A. So the
    **relative energy** of a step is the energy to hold it in ideal straight B-DNA
    instead of its own equilibrium,

        E_s = 1/2 (theta_s - theta_B)^T K_s (theta_s - theta_B)     (kT),

    with the full matrix (couplings included), and the energy of one mode p (twist,
    tilt, roll, shift, slide, rise) is its diagonal term 1/2 K_s[p,p] (theta_s[p] -
    theta_B[p])^2. The mode energies do not add up to E_s: the couplings are only in E_s.
    Lankas et al. give equilibrium and stiffness from the same simulations, so the pair
    is self-consistent; a mix of Olson (1998) crystal means with other stiffness rows
    is not used (the Olson step means drive the ``bend`` family's curvature instead),
    nor are the Olson force constants (``olson1998_force_constants_emDNA_long.tsv``),
    whose units are unverified. The table's K of a step and of its complement agree up
    to rounding of the unit conversion (1e-12); they are averaged (with tilt and shift negated,
    which is what reading the other strand does) so that every energy is exactly the
    same for a step and its complement. Relative energies run from 0.20 kT (AA/TT) to
    2.17 kT (AT); steps above kT are AC/GT (1.15) and AT.

Statistics (per sequence, over its steps without N)
    Totals, means, population variances, extrema (with 16 step types, the extrema are
    the same for nearly every natural sequence of 200 nt, which contains AT, AA and
    the other extreme steps; they are written anyway). The PCA is that of the
    sequence's own 6-parameter step profile, each parameter divided by its spread over
    the 16 steps of the table; the z-scores compare with the fixed reference of a
    uniform random sequence, whose exact moments follow from the table (adjacent steps
    share a base and covary). Every statistic is computed from the sequence alone and
    the fixed tables, so results never depend on the other sequences of a batch. Then
    high-energy steps (> 1 kT) and the spread, correlations, autocorrelation, gradient,
    smoothness and periodicity of the energy profile E_i along the sequence.
    Order-free statistics are computed from the counts of the 16 step types (one
    ``bincount`` per block of sequences).

Columns: 62, 48 for the statistics above plus 14 for the translational modes, which
the 6-D energy includes: ``stiff_{shift,slide,rise}_{total,mean,var,max,min}_energy`` (15)
less ``stiff_shift_min_energy``, which is 0 for every sequence that contains one of
the self-complementary steps AT, CG, GC, TA (shift 0 by symmetry), i.e. constant.
(``stiff_tilt_min_energy`` is constant for the same reason but is kept.)

N handling: steps containing N are left out; the profile keeps its positions (lags,
gradients and phases are measured in true positions, pairs across an N are left out).
A statistic without a valid value (or with a zero denominator, such as the correlation
of a constant profile) is NaN.

Strand symmetry: the reverse complement has the same multiset of step energies and the
reversed energy profile, so every ``stiff_*`` descriptor is strand-symmetric (the PCA
profile changes only by the sign of tilt and shift, which leaves the eigenvalues alone).
"""

import math
import weakref

import numpy as np

from . import Descriptor, written_columns
from .encode import by_length_blocks, kmer_index

FAMILY = "stiff"

#: Step parameters in table order (degrees for the first three, Angstrom for the rest).
PARAMETERS = ("tilt", "roll", "twist", "shift", "slide", "rise")
#: Ideal B-DNA target geometry.
B_DNA = {"tilt": 0.0, "roll": 0.0, "twist": 36.0, "shift": 0.0, "slide": 0.0, "rise": 3.4}
#: A step is "high-energy" when its relative energy exceeds the thermal energy kT.
HIGH_ENERGY_KT = 1.0
#: Autocorrelation lags (steps).
LAGS = (1, 2, 3, 5, 10)
#: Periodicity scores at these periods (bp).
PERIODS = (3, 10)
#: Sequence positions per block of rows (rows = BLOCK_ELEMENTS // length): keeps the
#: work arrays small enough to stay in cache and be reused by the allocator.
BLOCK_ELEMENTS = 96_000

_STEPS = tuple(a + b for a in "ACGT" for b in "ACGT")
_COMP = dict(zip("ACGT", "TGCA"))
_RC_STEP = np.array([_STEPS.index(_COMP[s[1]] + _COMP[s[0]]) for s in _STEPS])
_STRAND_SIGN = np.array([-1.0, 1.0, 1.0, -1.0, 1.0, 1.0])     # tilt and shift change sign

_SRC = ("share/params/lankas2003_md_stiffness_long.tsv (K_kT_deg_A) and lankas2003_md_equilibrium.tsv: "
        "Lankas F, Sponer J, Langowski J, Cheatham TE (2003) Biophys J 85:2872-2883; harmonic energy "
        "1/2 dtheta^T K dtheta as Olson WK et al. (1998) PNAS 95:11163-11168, relative to ideal "
        "B-DNA (twist 36 deg, rise 3.4 A, others 0)")
_SRC_PCA = _SRC.split(";")[0] + "; principal component analysis of the sequence's own step-parameter profile"
_SRC_Z = _SRC + "; reference: uniform random sequence (i.i.d. bases), exact moments from the 16-step table"
_SRC_ACF = _SRC + "; sample autocorrelation r_k = c_k / c_0 (Box GEP, Jenkins GM 1970, Time Series Analysis)"
_SRC_VN = _SRC + "; von Neumann J (1941) Ann Math Stat 12:367-395 (mean square successive difference)"
_SRC_PER = _SRC + "; periodogram share at one frequency (Parseval normalisation)"
_E_WORDS = "the relative energy E_i (Lankas 2003 stiffness, ideal B-DNA target) of the steps without N"


def _layout():
    """(name, kind, argument) of the 62 descriptors, in output order."""
    out = [(f"stiff_{s}_relative_energy", f"E_{s}", "total") for s in ("total", "mean", "var", "max", "min")]
    for mode in ("twist", "tilt", "roll"):
        out += [(f"stiff_{mode}_{s}_energy", f"E_{s}", mode) for s in ("total", "mean", "var", "max", "min")]
    out += [(f"stiff_pca_component_{k}", "pca_value", k) for k in (1, 2, 3)]
    out += [(f"stiff_pca_explained_var_{k}", "pca_ratio", k) for k in (1, 2, 3)]
    out += [(f"stiff_pca_cumulative_var_{k}", "pca_cum", k) for k in (1, 2, 3)]
    out += [("stiff_total_deformation_zscore", "z_total", None),
            ("stiff_mean_deformation_zscore", "z_mean", None),
            ("stiff_max_deformation_zscore", "z_max", None),
            ("stiff_high_energy_regions_count", "high_regions", None),
            ("stiff_high_energy_fraction", "high_fraction", None),
            ("stiff_energy_distribution_entropy", "entropy", None),
            ("stiff_energy_gc_correlation", "corr_gc", None),
            ("stiff_energy_at_correlation", "corr_at", None)]
    out += [(f"stiff_energy_autocorr_lag{k}", "acf", k) for k in LAGS]
    out += [("stiff_energy_gradient_mean", "grad_mean", None),
            ("stiff_energy_gradient_max", "grad_max", None),
            ("stiff_energy_gradient_std", "grad_std", None),
            ("stiff_smoothness_score", "smooth", None)]
    out += [(f"stiff_periodicity_score_{p}", "period", p) for p in PERIODS]
    # The 14 translational-mode columns (see the module docstring).
    for mode in ("shift", "slide", "rise"):
        stats = ("total", "mean", "var", "max") if mode == "shift" else ("total", "mean", "var", "max", "min")
        out += [(f"stiff_{mode}_{s}_energy", f"E_{s}", mode) for s in stats]
    return out


_STAT_WORDS = {"total": "Sum", "mean": "Mean", "var": "Population variance (ddof 0)",
               "max": "Maximum", "min": "Minimum"}


def _all_descriptors(params=None, **options):
    """The 62 ``stiff_*`` descriptors, in output order.

    Returns
    -------
    list of toolkit.features.Descriptor
    """
    out = []
    for name, kind, arg in _layout():
        src = _SRC
        if kind.startswith("E_"):
            stat = kind[2:]
            unit = "kT^2" if stat == "var" else "kT"
            if arg == "total":
                what = ("relative energy 1/2 (theta - theta_B)^T K (theta - theta_B) of each step, full 6x6 "
                        "Lankas 2003 stiffness K, Lankas equilibrium theta, ideal B-DNA theta_B")
            else:
                u = "deg" if arg in ("tilt", "roll", "twist") else "A"
                what = (f"{arg} energy 1/2 K[{arg},{arg}] ({arg} - {arg}_B)^2 of each step ({arg}_B = "
                        f"{B_DNA[arg]:g} {u}; diagonal term only, Lankas 2003)")
            formula = f"{_STAT_WORDS[stat]} over the steps without N of the {what}."
        elif kind == "pca_value":
            unit, src = "-", _SRC_PCA
            formula = (f"Eigenvalue {arg} (descending) of the covariance matrix (ddof 0) of the sequence's "
                       "6-parameter Lankas equilibrium step profile, each parameter divided by its standard "
                       "deviation over the 16 steps of the table: the variance along principal axis "
                       f"{arg}.")
        elif kind == "pca_ratio":
            unit, src = "fraction", _SRC_PCA
            formula = (f"Eigenvalue {arg} divided by the sum of the 6 eigenvalues of the same covariance "
                       "(NaN when the profile is constant).")
        elif kind == "pca_cum":
            unit, src = "fraction", _SRC_PCA
            formula = (f"Sum of the first {arg} eigenvalues divided by the sum of all 6 of the same covariance "
                       "(NaN when the profile is constant).")
        elif kind == "z_total":
            unit, src = "-", _SRC_Z
            formula = (f"(sum of E_i - n * mu) / sqrt(n * sigma^2 + 2 * a * c1) for {_E_WORDS}: mu, sigma^2 the "
                       "mean and variance over the 16 steps, c1 the covariance of adjacent steps of a uniform "
                       "random sequence, n steps and a adjacent step pairs.")
        elif kind == "z_mean":
            unit, src = "-", _SRC_Z
            formula = f"(mean of E_i - mu) / sigma for {_E_WORDS}; mu, sigma over the 16 steps of the table."
        elif kind == "z_max":
            unit, src = "-", _SRC_Z
            formula = f"(max of E_i - mu) / sigma for {_E_WORDS}; mu, sigma over the 16 steps of the table."
        elif kind == "high_regions":
            unit = "count"
            formula = (f"Number of maximal runs of consecutive steps with E_i > {HIGH_ENERGY_KT:g} kT "
                       "(thermal energy), for " + _E_WORDS + ".")
        elif kind == "high_fraction":
            unit = "fraction"
            formula = f"Fraction of the steps without N with E_i > {HIGH_ENERGY_KT:g} kT."
        elif kind == "entropy":
            unit = "bits"
            formula = ("Shannon entropy -sum p_i log2 p_i of the share p_i = E_i / sum E of each step in the "
                       f"total, for {_E_WORDS} (log2 of the step count when evenly spread).")
        elif kind == "corr_gc":
            unit = "-"
            formula = (f"Pearson correlation over the steps between {_E_WORDS} and the step's G+C fraction "
                       "(0, 0.5, 1).")
        elif kind == "corr_at":
            unit = "-"
            formula = ("Pearson correlation over the steps between E_i and the step's A+T fraction; A+T = 1 - "
                       "G+C, so it equals minus stiff_energy_gc_correlation (both kept: each is in the descriptor set).")
        elif kind == "acf":
            unit, src = "-", _SRC_ACF
            formula = (f"Autocorrelation at lag {arg}: sum over step pairs (i, i+{arg}) without N of "
                       f"(E_i - m)(E_(i+{arg}) - m) divided by sum over steps of (E_i - m)^2, m the mean, for "
                       f"{_E_WORDS}.")
        elif kind == "grad_mean":
            unit = "kT/bp"
            formula = f"Mean of |E_(i+1) - E_i| over adjacent steps without N, for {_E_WORDS}."
        elif kind == "grad_max":
            unit = "kT/bp"
            formula = f"Maximum of |E_(i+1) - E_i| over adjacent steps without N, for {_E_WORDS}."
        elif kind == "grad_std":
            unit = "kT/bp"
            formula = "Population standard deviation of E_(i+1) - E_i over adjacent steps without N."
        elif kind == "smooth":
            unit, src = "-", _SRC_VN
            formula = ("1 - d2 / (2 s2): d2 the mean squared difference of adjacent steps, s2 the population "
                       f"variance, for {_E_WORDS} (1 smooth, about 0 for uncorrelated, up to -1 alternating).")
        else:
            unit, src = "fraction", _SRC_PER
            formula = (f"|sum_i (E_i - m) exp(-2 pi i t_i / {arg})|^2 / (n * sum_i (E_i - m)^2) over the n steps "
                       f"without N at positions t_i: the share of the profile's variance at period {arg} bp "
                       f"(about 1/n for noise, 1/2 for a pure period-{arg} wave), for {_E_WORDS}.")
        out.append(Descriptor(name, FAMILY, unit, formula, src))
    return out


# --------------------------------------------------------------------------- tables

_TABLES = weakref.WeakKeyDictionary()


def stiff_tables(params):
    """Per-step energies and parameters of the family (cached per ``params``).

    Parameters
    ----------
    params : toolkit.features.params.Params

    Returns
    -------
    dict
        ``theta`` (16, 6) Lankas equilibrium (deg, A), ``K`` (16, 6, 6) stiffness
        (kT/deg^2, kT/(deg*A), kT/A^2), both strand-averaged; ``E`` (16,) relative
        energy (kT); ``mode`` dict name -> (16,) diagonal mode energies (kT);
        ``gc`` (16,) G+C fraction; ``pca_x`` (16, 6) parameters divided by their
        standard deviation over the 16 steps; ``E_log2E`` (16,) E*log2(E);
        ``ref`` dict with the uniform-random-sequence reference ``mu``, ``var``, ``c1``.
        Step index 4*code(a) + code(b), A0 C1 G2 T3.
    """
    try:
        return _TABLES[params]
    except (KeyError, TypeError):
        pass
    eq = params.table("lankas_equilibrium").set_index("step")
    cols = {"tilt": "tilt_deg", "roll": "roll_deg", "twist": "twist_deg",
            "shift": "shift_A", "slide": "slide_A", "rise": "rise_A"}
    theta = np.array([[float(eq.loc[s, cols[p]]) for p in PARAMETERS] for s in _STEPS])
    long = params.table("lankas_stiffness")
    K = np.zeros((16, 6, 6))
    pos = {p: i for i, p in enumerate(PARAMETERS)}
    step_pos = {s: i for i, s in enumerate(_STEPS)}
    for s, p1, p2, v in zip(long["step"], long["p1"], long["p2"], long["K_kT_deg_A"]):
        K[step_pos[s], pos[p1], pos[p2]] = float(v)
    K = 0.5 * (K + np.transpose(K, (0, 2, 1)))
    sign = np.outer(_STRAND_SIGN, _STRAND_SIGN)
    K = 0.5 * (K + K[_RC_STEP] * sign)
    theta = 0.5 * (theta + theta[_RC_STEP] * _STRAND_SIGN)
    delta = theta - np.array([B_DNA[p] for p in PARAMETERS])
    E = np.array([0.5 * float(delta[s] @ K[s] @ delta[s]) for s in range(16)])
    E = 0.5 * (E + E[_RC_STEP])                 # a + b == b + a: exactly equal for complements
    mode = {}
    for j, p in enumerate(PARAMETERS):
        v = 0.5 * K[:, j, j] * delta[:, j] ** 2
        mode[p] = 0.5 * (v + v[_RC_STEP])
    gc = np.array([sum(c in "GC" for c in s) / 2.0 for s in _STEPS])
    pca_x = theta / theta.std(axis=0)
    # Uniform random sequence: steps are uniform over the 16; adjacent steps share a base.
    mu = E.mean()
    var = ((E - mu) ** 2).mean()
    dev = (E - mu).reshape(4, 4)                # [first base, second base]
    c1 = float((dev.mean(axis=0) * dev.mean(axis=1)).mean())   # E[(E_ab - mu)(E_bc - mu)]
    E_log2E = np.array([e * math.log2(e) if e > 0 else 0.0 for e in E])
    out = {"theta": theta, "K": K, "E": E, "mode": mode, "gc": gc, "pca_x": pca_x, "E_log2E": E_log2E,
           "ref": {"mu": mu, "var": var, "c1": c1}}
    try:
        _TABLES[params] = out
    except TypeError:
        pass
    return out


# --------------------------------------------------------------------------- helpers

def _weighted(counts, values):
    """sum_s counts[:, s] * values[s] with a fixed summation order (no BLAS, whose
    blocking could change the last bits with the batch size). counts (m, 16); values
    (16,) or (16, ...). Returns (m,) or (m, ...)."""
    values = np.asarray(values)
    out = np.zeros((counts.shape[0],) + values.shape[1:])
    shape = (-1,) + (1,) * (values.ndim - 1)
    for s in range(16):
        out += counts[:, s].reshape(shape) * values[s]
    return out


def _constant(counts, values):
    """True where every step of the row has the same value (exact: max == min)."""
    present = counts > 0
    return np.where(present, values, -np.inf).max(axis=1) == np.where(present, values, np.inf).min(axis=1)


def _count_stats(counts, n, values):
    """Total, mean, population variance, max and min of the per-step ``values`` (16,)
    over each row's steps, from the step counts (m, 16) and step numbers n (m,).

    The mean is sum_s (c_s / n) v_s, which is exactly v for a row of one step type, and
    the variance of a row whose steps all have the same value is exactly 0."""
    present = counts > 0
    total = _weighted(counts, values)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / n[:, None]
    mean = _weighted(p, values)
    var = (p * (values[None, :] - mean[:, None]) ** 2).sum(axis=1)
    mx = np.where(present, values, -np.inf).max(axis=1)
    mn = np.where(present, values, np.inf).min(axis=1)
    var[mx == mn] = 0.0
    empty = n == 0
    for a in (total, mean, var, mx, mn):
        a[empty] = np.nan
    return {"total": total, "mean": mean, "var": var, "max": mx, "min": mn}


def _pca(counts, n, x):
    """Descending eigenvalues (m, 6) of the covariance (ddof 0) of each row's profile of
    the 6-vectors x (16, 6), from the step counts; NaN rows where n == 0."""
    m = counts.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / n[:, None]
    mu = _weighted(p, x)                                           # (m, 6)
    cov = np.zeros((m, 6, 6))
    for s in range(16):
        d = x[s][None, :] - mu                                    # (m, 6)
        cov += p[:, s, None, None] * (d[:, :, None] * d[:, None, :])
    ok = n > 0
    lam = np.full((m, 6), np.nan)
    if ok.any():
        lam[ok] = np.maximum(np.linalg.eigvalsh(cov[ok])[:, ::-1], 0.0)
    trace = np.trace(cov, axis1=1, axis2=2)
    return lam, trace


def _block(codes, tab, layout):
    """Descriptors of one block of equal-length sequences: codes (m, L) -> (m, 62)."""
    m = codes.shape[0]
    res = {}
    idx = kmer_index(codes, 2)                                    # (m, S)
    S = idx.shape[1]
    valid = idx >= 0
    counts = np.zeros((m, 16))
    if S:
        flat = (np.arange(m)[:, None] * 17 + (idx + 1)).ravel()
        counts = np.bincount(flat, minlength=17 * m).reshape(m, 17)[:, 1:].astype(np.float64)
    n = counts.sum(axis=1)
    E16 = tab["E"]

    # order-free statistics of the energies
    for name, vals in [("total", E16)] + list(tab["mode"].items()):
        st = _count_stats(counts, n, vals)
        for stat, v in st.items():
            res[(f"E_{stat}", name)] = v
    e_stats = {k: res[(f"E_{k}", "total")] for k in ("total", "mean", "max")}

    # PCA of the standardised step-parameter profile
    lam, trace = _pca(counts, n, tab["pca_x"])
    lam_sum = lam.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = lam / lam_sum[:, None]
    ratio[~(trace > 0)] = np.nan
    cum = np.cumsum(ratio, axis=1)
    for k in (1, 2, 3):
        res[("pca_value", k)] = lam[:, k - 1]
        res[("pca_ratio", k)] = ratio[:, k - 1]
        res[("pca_cum", k)] = cum[:, k - 1]

    # z-scores against the uniform random sequence
    ref = tab["ref"]
    adj = (valid[:, 1:] & valid[:, :-1]).sum(axis=1) if S > 1 else np.zeros(m)
    sd = math.sqrt(ref["var"])
    with np.errstate(invalid="ignore", divide="ignore"):
        res[("z_total", None)] = (e_stats["total"] - n * ref["mu"]) / np.sqrt(n * ref["var"] + 2.0 * adj * ref["c1"])
        res[("z_mean", None)] = (e_stats["mean"] - ref["mu"]) / sd
        res[("z_max", None)] = (e_stats["max"] - ref["mu"]) / sd

    # the energy profile along the sequence
    prof = E16[np.maximum(idx, 0)]
    prof[~valid] = 0.0
    high = valid & (prof > HIGH_ENERGY_KT)
    starts = high.copy()
    starts[:, 1:] &= ~high[:, :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        res[("high_regions", None)] = np.where(n > 0, starts.sum(axis=1), np.nan)
        res[("high_fraction", None)] = high.sum(axis=1) / n
        T = e_stats["total"]
        H = np.log2(T) - _weighted(counts, tab["E_log2E"]) / T
    res[("entropy", None)] = np.where(T > 0, H, np.nan)

    # correlation with the G+C (and A+T) fraction of the step
    gc = tab["gc"]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / n[:, None]
        mean_gc = _weighted(p, gc)
        mean_e = e_stats["mean"]
        cov = (p * (E16[None, :] - mean_e[:, None]) * (gc[None, :] - mean_gc[:, None])).sum(axis=1)
        var_e = res[("E_var", "total")]
        var_gc = (p * (gc[None, :] - mean_gc[:, None]) ** 2).sum(axis=1)
        r = cov / np.sqrt(var_e * var_gc)
    flat_e = _constant(counts, E16)
    r[flat_e | _constant(counts, gc) | (n == 0)] = np.nan
    res[("corr_gc", None)] = r
    res[("corr_at", None)] = -r

    # autocorrelation, gradient, smoothness, periodicity of the profile
    x = np.where(valid, prof - mean_e[:, None], 0.0)
    c0 = (x * x).sum(axis=1)
    undefined = flat_e | (n == 0)
    for k in LAGS:
        if S > k:
            ck = (x[:, :-k] * x[:, k:]).sum(axis=1)
            pairs = (valid[:, :-k] & valid[:, k:]).sum(axis=1)
        else:
            ck = np.zeros(m)
            pairs = np.zeros(m)
        with np.errstate(invalid="ignore", divide="ignore"):
            a = ck / c0
        a[undefined | (pairs == 0)] = np.nan
        res[("acf", k)] = a
    if S > 1:
        pair_ok = valid[:, 1:] & valid[:, :-1]
        d = np.where(pair_ok, prof[:, 1:] - prof[:, :-1], 0.0)
        ad = np.abs(d)
        npair = pair_ok.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            g_mean = ad.sum(axis=1) / npair
            g_max = np.where(pair_ok, ad, -np.inf).max(axis=1)
            d_mean = d.sum(axis=1) / npair
            g_std = np.sqrt((np.where(pair_ok, d - d_mean[:, None], 0.0) ** 2).sum(axis=1) / npair)
            msd = (d * d).sum(axis=1) / npair
            smooth = 1.0 - msd / (2.0 * var_e)
    else:
        npair = np.zeros(m)
        g_mean = g_max = g_std = smooth = np.full(m, np.nan)
    nopair = npair == 0
    for arr in (g_mean, g_max, g_std, smooth):
        arr[nopair] = np.nan
    smooth[undefined] = np.nan
    res[("grad_mean", None)], res[("grad_max", None)] = g_mean, g_max
    res[("grad_std", None)], res[("smooth", None)] = g_std, smooth
    for period in PERIODS:
        cos, sin = _fourier(S, period)
        re = (x * cos).sum(axis=1)
        im = (x * sin).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            score = (re * re + im * im) / (n * c0)
        score[undefined] = np.nan
        res[("period", period)] = score

    out = np.empty((m, len(layout)))
    for j, (_, kind, arg) in enumerate(layout):
        out[:, j] = res[(kind, arg)]
    return out


_FOURIER = {}


def _fourier(S, period):
    """cos and sin of 2 pi t / period for t = 0 .. S-1 (scalar libm, cached)."""
    key = (S, period)
    if key not in _FOURIER:
        ang = [2.0 * math.pi * t / period for t in range(S)]
        _FOURIER[key] = (np.array([math.cos(a) for a in ang]), np.array([math.sin(a) for a in ang]))
    return _FOURIER[key]


def _compute_all(seqs, params, **options):
    """``stiff_*`` descriptors of ``seqs``.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase A/C/G/T/N sequences; lengths may differ.
    params : toolkit.features.params.Params

    Returns
    -------
    numpy.ndarray of float64, shape (n, 62); NaN where a descriptor is undefined.
    """
    layout = _layout()
    tab = stiff_tables(params)
    out = np.full((len(seqs), len(layout)), np.nan)
    for idx, codes in by_length_blocks(seqs, BLOCK_ELEMENTS):
        out[idx] = _block(codes, tab, layout)
    return out


#: Statistics computed on the way but not written, each another column under a second
#: name (an identical or affine copy): name -> why.
RETIRED = {
    'stiff_pca_cumulative_var_1':
        'the cumulative share of the first eigenvalue is stiff_pca_explained_var_1',
    'stiff_mean_deformation_zscore':
        '(stiff_mean_relative_energy - mu) / sigma with table constants mu, sigma: an affine copy',
    'stiff_max_deformation_zscore':
        '(stiff_max_relative_energy - mu) / sigma with table constants mu, sigma: an affine copy',
    'stiff_energy_at_correlation':
        'A+T = 1 - G+C, so it is minus stiff_energy_gc_correlation',
}


descriptors, compute = written_columns(_all_descriptors, _compute_all, RETIRED, "stiff")
