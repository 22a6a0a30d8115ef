"""The ``advanced`` descriptor family: 55 structural and biophysical descriptors.

They fall in the groups below; 15 of them are the DNAshape propeller twist, roll,
helix twist (mean, variance, minimum, maximum) and electrostatic potential (mean,
variance, minimum) of the same pentamer table that gives the minor groove width.

Groups, each computed for all sequences of one length at once:

* G-quadruplex: G4Hunter (Bedrat, Lacroix & Mergny 2016, NAR 44:1746), window 25, for
  the mean and maximum score; Quadparser's pattern ``G3+N1-7G3+N1-7G3+N1-7G3+`` (Huppert &
  Balasubramanian 2005, NAR 33:2908; Todd et al. 2005, NAR 33:2901) on both strands for
  the count.
* Local melting: SantaLucia (1998, PNAS 95:1460) unified nearest-neighbour model on
  20-nt windows (stride 1), with initiation, symmetry and salt corrections, at 50 mM Na+
  and 50 nM total strand concentration; ΔG at 310.15 K (37 °C, the temperature of the thermo family).
* SIDD: Benham's stress-induced duplex destabilisation model (Benham 1992, JMB 225:835;
  Benham & Bi 2004, J Comput Biol 11:519; parameters of the SIST code, Zhabinskaya,
  Madden & Benham 2015, Bioinformatics 31:421) reduced to one open run per 20-bp window.
* DNAshape: MGW, ProT, EP per base and Roll, HelT per step from the pentamer table
  (Zhou et al. 2013, NAR 41:W56), combined the way DNAshapeR does (Chiu et al. 2016).
* Stacking energies (DiProDB 33, Šponer et al. 1997), nucleosome positioning
  (Satchwell, Drew & Travers 1986 trinucleotide scale as tabulated by Goodsell &
  Dickerson 1994; AA/TT/TA 10-bp periodicity, Segal et al. 2006), DNase I (Brukner et
  al. 1995), Z-DNA (Ho et al. 1986), A-tracts (Koo, Wu & Crothers 1986; Hud & Plavec
  2003), CpG (Gardiner-Garden & Frommer 1987).

N handling: every step, k-mer or window that contains an N is left out of the
statistics; a statistic with no valid value for a sequence (too short for its window,
only N, zero variance where it divides) is NaN.
"""

import re
from functools import lru_cache

import numpy as np

from . import Descriptor, written_columns
from .encode import by_length, kmer_index
from .params import TABLES

FAMILY = "advanced"

# ---------------------------------------------------------------- constants
T_KELVIN = 310.15           # 37 °C, as the thermo family
R_CAL = 1.987               # cal/(mol K), as SantaLucia 1998
RT_KCAL = R_CAL * T_KELVIN / 1000.0

# SantaLucia 1998, Table 2 (unified set): initiation per duplex end and symmetry correction,
# (ΔH kcal/mol, ΔS cal/(mol K)). Not in nn_thermo_16steps.tsv, which holds the 16 steps only.
INIT_GC = (0.1, -2.8)
INIT_AT = (2.3, 4.1)
SYMMETRY = (0.0, -1.4)
SALT_DS_PER_PHOSPHATE = 0.368   # ΔS(Na) = ΔS(1 M) + 0.368 N ln[Na+], N = phosphates / 2 = steps

MELT_WINDOW = 20            # nt
MELT_NA = 0.05              # M monovalent (Biopython Tm_NN / Primer3 default)
MELT_CT = 50e-9             # M total strand concentration (two strands of 25 nM)

G4_WINDOW = 25              # G4Hunter window (Bedrat et al. 2016)
_G4_PATTERN = re.compile(r"G{3,}[ACGT]{1,7}G{3,}[ACGT]{1,7}G{3,}[ACGT]{1,7}G{3,}")
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")

# Benham's SIDD energetics (values of the SIST code, Zhabinskaya, Madden & Benham 2015)
SIDD_WINDOW = 20            # bp opened together (one run)
SIDD_SIGMA = -0.055         # superhelical density
SIDD_DOMAIN = 5000          # bp in the topological domain (plasmid-sized)
SIDD_NA = 0.01              # M, Benham's standard condition
SIDD_NUCLEATION = 10.84     # kcal/mol, a
SIDD_K0 = 2220.0            # K = K0 RT / N (kcal/mol/turn^2)
SIDD_C = 3.6                # torsional stiffness of single strands
SIDD_A = 10.4               # bp per turn of B-DNA
SIDD_HOTSPOT_P = 1e-3       # opening probability above which a window is a hotspot

MGW_NARROW = 4.0            # Å
MGW_WIDE = 5.5              # Å

NUC_FOOTPRINT = 147         # bp
NUC_PERIOD = 10.2           # bp, helical repeat of nucleosomal DNA (Satchwell et al. 1986)
NUC_WW = ("AA", "TT", "TA")  # Segal et al. 2006

Z_WINDOW = 12               # bp (6 dinucleotides)
# Ho et al. 1986 (Z-Hunt) B->Z free energies, kcal/mol per dinucleotide, first base anti and
# second syn, rows/columns A C G T (as tabulated in the SIST code); syn-anti is the transpose.
Z_ANTI_SYN = np.array([[3.9, 4.6, 3.4, 5.9],
                       [1.3, 2.4, 0.7, 3.4],
                       [3.4, 4.0, 2.4, 4.6],
                       [2.5, 3.4, 1.3, 3.9]], dtype=np.float64)

A_TRACT_MIN = 4             # n + m >= 4 in A_n T_m
CPG_WINDOW = 200            # Gardiner-Garden & Frommer 1987
CPG_GC_MIN = 0.5
CPG_OE_MIN = 0.6

_SRC_NN = f"{TABLES['nn_thermo']} (SL1998_dH, SL1998_dS); SantaLucia 1998 PNAS 95:1460"
_SRC_SHAPE = f"{TABLES['dnashape']}; Zhou et al. 2013 NAR 41:W56 (DNAshape), Chiu et al. 2016 Bioinformatics 32:1211"
_SRC_TRI = f"{TABLES['trinucleotide']}"
_SRC_SIDD = (f"{TABLES['nn_thermo']}; Benham 1992 JMB 225:835, Benham & Bi 2004 J Comput Biol 11:519 "
             f"(parameters of SIST, Zhabinskaya et al. 2015 Bioinformatics 31:421)")


def _d(name, unit, formula, source):
    return Descriptor(f"{FAMILY}_{name}", FAMILY, unit, formula, source)


def _all_descriptors(params=None, **options):
    """The 55 descriptors of the family, in output order.

    Parameters
    ----------
    params : toolkit.features.params.Params, optional
        Unused (the list does not depend on the tables); accepted for the family interface.

    Returns
    -------
    list of Descriptor, length 55.
    """
    g4h = "G4Hunter (Bedrat et al. 2016 NAR 44:1746), window 25"
    out = [
        _d("gquad_score_mean", "-", "Mean over 25-nt windows of the absolute G4Hunter score (per base: G in a run "
           "of k scores min(k,4), C scores -min(k,4), A/T 0; window score = mean), so both strands count.", g4h),
        _d("gquad_score_max", "-", "Maximum over 25-nt windows of the absolute G4Hunter score (>= 1.2 is G4-prone).",
           g4h),
        _d("gquad_count", "count", "Non-overlapping matches of G{3,}[ACGT]{1,7}G{3,}[ACGT]{1,7}G{3,}[ACGT]{1,7}G{3,} "
           "on the sequence plus on its reverse complement (leftmost-greedy, Python re).",
           "Quadparser pattern: Huppert & Balasubramanian 2005 NAR 33:2908; Todd et al. 2005 NAR 33:2901"),
    ]
    melt = [("temp", "degC", "Tm = 1000 dH / (dS + R ln(CT/x)) - 273.15, x = 4 (1 for a self-complementary window)"),
            ("dH", "kcal/mol", "dH = sum of the 19 step dH + initiation per end (A/T 2.3, G/C 0.1)"),
            ("dS", "cal/(mol*K)", "dS = sum of the 19 step dS + initiation per end (A/T 4.1, G/C -2.8) + symmetry "
             "(-1.4, self-complementary windows) + 0.368 * 19 * ln[Na+]"),
            ("dG", "kcal/mol", "dG = dH - 310.15 K * dS")]
    stats = {"temp": ("mean", "var", "min", "max"), "dH": ("mean", "var"), "dS": ("mean", "var"),
             "dG": ("mean", "var", "min", "max")}
    words = {"mean": "Mean", "var": "Variance (population)", "min": "Minimum", "max": "Maximum"}
    for key, unit, how in melt:
        for st in stats[key]:
            u = f"({unit})^2" if st == "var" else unit
            out.append(_d(f"melting_{st}_melting_{key}", u,
                          f"{words[st]} over {MELT_WINDOW}-nt windows (stride 1, windows with N left out) of the "
                          f"window duplex {how}, at {MELT_NA * 1000:g} mM Na+ and {MELT_CT * 1e9:g} nM total "
                          f"strands.", _SRC_NN + ", Table 2 initiation, symmetry and salt terms"))
    sidd_g = (f"G(w) = a + sum of per-bp opening energies (mean of the two adjacent steps' -dG at 310.15 K, "
              f"{SIDD_NA * 1000:g} mM Na+) - [Gres(0) - Gres({SIDD_WINDOW})], Gres(n) = 2pi^2 C K (alpha + n/A)^2 / "
              f"(4pi^2 C + K n), a = 10.84 kcal/mol, K = 2220 RT/N, C = 3.6, A = 10.4, alpha = sigma N / A, "
              f"sigma = {SIDD_SIGMA}, N = {SIDD_DOMAIN} bp")
    out += [
        _d("sidd_mean_opening_prob", "-", f"Mean over {SIDD_WINDOW}-bp windows of the two-state opening probability "
           f"1/(1 + exp(G/RT)), {sidd_g}.", _SRC_SIDD),
        _d("sidd_max_opening_prob", "-", f"Maximum over {SIDD_WINDOW}-bp windows of the two-state opening "
           "probability 1/(1 + exp(G/RT)) of Benham's single-run model (as in sidd_mean_opening_prob).", _SRC_SIDD),
        _d("sidd_total_opening_energy", "kcal/mol", f"Sum over the sequence's valid steps of the step opening energy "
           f"-dG(310.15 K, {SIDD_NA * 1000:g} mM Na+) = -(dH - T(dS + 0.368 ln[Na+]))/1000.", _SRC_SIDD),
        _d("sidd_opening_hotspots", "count", f"Number of maximal runs of consecutive {SIDD_WINDOW}-bp windows whose "
           f"single-run opening probability exceeds {SIDD_HOTSPOT_P:g} (G < RT ln(1/p - 1) = "
           f"{RT_KCAL * np.log(1 / SIDD_HOTSPOT_P - 1):.2f} kcal/mol).", _SRC_SIDD),
    ]
    mgw = "MGW per base from the pentamer centred on it (bases 3..L-2, pentamers with N left out)"
    out += [
        _d("mgw_mean_width", "Angstrom", f"Mean of {mgw}.", _SRC_SHAPE),
        _d("mgw_var_width", "Angstrom^2", f"Variance (population) of {mgw}.", _SRC_SHAPE),
        _d("mgw_min_width", "Angstrom", f"Minimum of {mgw}.", _SRC_SHAPE),
        _d("mgw_max_width", "Angstrom", f"Maximum of {mgw}.", _SRC_SHAPE),
        _d("mgw_narrow_regions", "count", f"Number of maximal runs of consecutive bases with MGW < {MGW_NARROW} "
           "Angstrom.", _SRC_SHAPE),
        _d("mgw_wide_regions", "count", f"Number of maximal runs of consecutive bases with MGW > {MGW_WIDE} "
           "Angstrom.", _SRC_SHAPE),
    ]
    src_st = f"{TABLES['stacking']}; DiProDB property 33 (Sponer et al. 1997)"
    per = "the stacking energy of each dinucleotide step (steps with N left out)"
    out += [
        _d("stacking_mean_stacking_energy", "kcal/mol", f"Mean of {per}.", src_st),
        _d("stacking_var_stacking_energy", "(kcal/mol)^2", f"Variance (population) of {per}.", src_st),
        _d("stacking_min_stacking_energy", "kcal/mol", f"Minimum of {per} (most stable step).", src_st),
        _d("stacking_max_stacking_energy", "kcal/mol", f"Maximum of {per} (least stable step).", src_st),
        _d("stacking_total_stacking_energy", "kcal/mol", f"Sum of {per}.", src_st),
    ]
    np_src = (f"{_SRC_TRI} column 'Nucleosome positioning' (Satchwell, Drew & Travers 1986 JMB 191:659, "
              f"as tabulated by Goodsell & Dickerson 1994 NAR 22:5497)")
    out += [
        _d("nucleosome_dyad_score", "-", f"Maximum over dyads with a whole {NUC_FOOTPRINT}-bp footprint of "
           f"(1/145) sum_j s(d+j) (cos(2 pi j/{NUC_PERIOD}) - mean cos), j = -72..72, s the trinucleotide "
           "positioning preference centred at d+j (GC-rich preferred where the minor groove faces out, i.e. at "
           "the dyad).", np_src),
        _d("nucleosome_occupancy", "-", "Mean trinucleotide nucleosome-positioning preference over the sequence "
           "(intrinsic affinity proxy: high for G+C-rich, lowest for AAA/AAT, Tillo & Hughes 2009).", np_src),
        _d("nucleosome_positioning_signal", "-", "Normalised periodogram of the AA/TT/TA step indicator at period "
           f"{NUC_PERIOD} bp: |sum_t y_t exp(-2 pi i t/{NUC_PERIOD})|^2 / sum_t y_t^2, y the indicator minus its "
           "mean (about 1 without periodicity).", "Segal et al. 2006 Nature 442:772 (AA/TT/TA ~10-bp periodicity)"),
        _d("dnase_sensitivity_score", "-", "Mean over trinucleotides of the Brukner DNase I-derived bendability "
           "(ftrCOOL 0-10 scale; high = cut readily, bent towards the major groove).",
           f"{_SRC_TRI} column 'Bendability-DNAse' (Brukner et al. 1995 EMBO J 14:1812)"),
        _d("z_dna_formation_potential", "kcal/mol", f"Minus the lowest B-to-Z free energy per step over "
           f"{Z_WINDOW}-bp windows, each window in its better strict anti/syn alternation (Ho 1986 dinucleotide "
           "energies, CG 0.7, CA/TG 1.3, TA 2.5); larger = more Z-prone.",
           "Ho et al. 1986 EMBO J 5:2737 (Z-Hunt) energies as tabulated in SIST (Zhabinskaya & Benham 2011 "
           "PLoS Comput Biol 7:e1001051)"),
        _d("a_tract_count", "count", f"Number of maximal TpA-free A_nT_m runs with n + m >= {A_TRACT_MIN}.",
           "Koo, Wu & Crothers 1986 Nature 320:501; Hud & Plavec 2003 Biopolymers 69:144"),
        _d("a_tract_max_length", "bp", "Length of the longest TpA-free A_nT_m run (an A-tract when >= 4; 0 when the "
           "sequence has no A or T).", "Koo, Wu & Crothers 1986 Nature 320:501; Hud & Plavec 2003 Biopolymers "
           "69:144"),
        _d("cpg_island_score", "-", f"Fraction of {CPG_WINDOW}-bp windows (stride 1, no N) meeting the "
           f"Gardiner-Garden & Frommer criteria G+C > {CPG_GC_MIN} and CpG o/e > {CPG_OE_MIN}.",
           "Gardiner-Garden & Frommer 1987 JMB 196:261"),
        _d("cpg_observed_expected", "-", "CpG observed/expected ratio: n(CpG) * n(bases) / (n(C) * n(G)), "
           "N bases and steps left out.", "Gardiner-Garden & Frommer 1987 JMB 196:261"),
        _d("methylation_potential", "per 100 bp", "CpG density: CpG dinucleotides (the methylatable sites) per 100 "
           "valid steps.", "CpG as the DNA methylation target (Bird 1986 Nature 321:209)"),
    ]
    shape_base = "per base from the pentamer centred on it"
    shape_step = ("per step, the mean of the two overlapping pentamers' values (one at the ends), as DNAshapeR "
                  "does")
    for key, col, unit, how, stats_ in (("prot", "ProT", "deg", shape_base, ("mean", "var", "min", "max")),
                                        ("roll", "Roll", "deg", shape_step, ("mean", "var", "min", "max")),
                                        ("helt", "HelT", "deg", shape_step, ("mean", "var", "min", "max")),
                                        ("ep", "EP", "kT/e", shape_base, ("mean", "var", "min"))):
        what = {"prot": "twist", "roll": "angle", "helt": "twist", "ep": "potential"}[key]
        for st in stats_:
            u = f"({unit})^2" if st == "var" else unit
            note = "; the most negative minor-groove potential" if key == "ep" and st == "min" else ""
            src = _SRC_SHAPE + (", EP: Chiu et al. 2017 NAR 45:12565" if key == "ep" else "")
            out.append(_d(f"{key}_{st}_{what}", u, f"{words[st]} of DNAshape {col} {how} (pentamers with N left "
                          f"out){note}.", src))
    return out


# ---------------------------------------------------------------- tables
@lru_cache(maxsize=4)
def _tables(params):
    """Parameter vectors from ``params``, built once per Params object."""
    t = {}
    dh = params.step_vector("nn_thermo", "SL1998_dH")
    ds = params.step_vector("nn_thermo", "SL1998_dS")
    t["dH"], t["dS"] = dh, ds
    t["stack"] = params.step_vector("stacking", "stacking_energy_kcal_per_mol")
    # SIDD step opening energy: -dG(310.15 K) at SIDD_NA
    t["open"] = -(dh - T_KELVIN * (ds + SALT_DS_PER_PHOSPHATE * np.log(SIDD_NA)) / 1000.0)
    tri = params.table("trinucleotide").set_index("trinucleotide")
    order = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT"]
    t["np"] = tri.loc[order, "Nucleosome positioning"].to_numpy(np.float64)
    t["dnase"] = tri.loc[order, "Bendability-DNAse"].to_numpy(np.float64)
    shape = params.table("dnashape").set_index("pentamer")
    pent = [a + b + c + d + e for a in "ACGT" for b in "ACGT" for c in "ACGT" for d in "ACGT" for e in "ACGT"]
    shape = shape.loc[pent]
    for col in ("MGW", "ProT", "EP", "Roll_step1", "Roll_step2", "HelT_step1", "HelT_step2"):
        t[col] = shape[col].to_numpy(np.float64)
    ww = np.zeros(16)
    for d in NUC_WW:
        ww[4 * "ACGT".index(d[0]) + "ACGT".index(d[1])] = 1.0
    t["ww"] = ww
    t["z_as"] = Z_ANTI_SYN.ravel()
    t["z_sa"] = Z_ANTI_SYN.T.ravel()
    return t


def _gres(n):
    """Benham's residual superhelical free energy (kcal/mol) with n open bp, K and alpha of the domain."""
    K = SIDD_K0 * RT_KCAL / SIDD_DOMAIN
    alpha = SIDD_SIGMA * SIDD_DOMAIN / SIDD_A
    if n == 0:
        return 0.5 * K * alpha ** 2
    return 2 * np.pi ** 2 * SIDD_C * K * (alpha + n / SIDD_A) ** 2 / (4 * np.pi ** 2 * SIDD_C + K * n)


SIDD_RELIEF = _gres(0) - _gres(SIDD_WINDOW)   # kcal/mol released by opening one window


# ---------------------------------------------------------------- helpers
class _Group:
    """Encodings of one batch of equal-length sequences, shared by the descriptor groups.

    Attributes
    ----------
    codes : uint8 (m, L), A0 C1 G2 T3 N4
    strings : list of str, length m
    k[k] : int64 (m, L-k+1), k-mer index clamped to 0 where the k-mer has N (k = 2, 3, 5)
    v[k] : _Mask over (m, L-k+1), True where the k-mer has no N
    """

    def __init__(self, codes, strings):
        self.codes = codes
        self.strings = strings
        self.m, self.L = codes.shape
        self.k, self.v = {}, {}
        for k in (2, 3, 5):
            idx = kmer_index(codes, k)
            valid = idx >= 0
            self.v[k] = _Mask(valid)
            self.k[k] = idx if self.v[k].all else np.where(valid, idx, 0)

    def values(self, table, k):
        """``table`` at every k-mer, float64 (m, L-k+1); entries where the k-mer has N are arbitrary."""
        return np.take(table, self.k[k])


class _Mask:
    """A validity mask with its ``all`` precomputed (the common no-N case takes fast paths)."""

    def __init__(self, mask):
        self.mask = mask
        self.all = bool(mask.all())

    @classmethod
    def ones(cls, shape):
        return cls(np.ones(shape, dtype=bool))


def _stats(x, valid, which=("mean", "var", "min", "max")):
    """Row statistics over the valid entries; NaN for rows without any.

    Parameters
    ----------
    x : float64 array (m, W)
    valid : _Mask over (m, W)
    which : names among mean, var (population), min, max, total

    Returns
    -------
    list of float64 arrays (m,), one per name.
    """
    m, W = x.shape
    if W == 0:
        return [np.full(m, np.nan) for _ in which]
    if valid.all:
        fast = {"mean": lambda: x.mean(axis=1), "var": lambda: x.var(axis=1), "min": lambda: x.min(axis=1),
                "max": lambda: x.max(axis=1), "total": lambda: x.sum(axis=1)}
        return [fast[w]() for w in which]
    mask = valid.mask
    cnt = mask.sum(axis=1)
    none = cnt == 0
    xs = np.where(mask, x, 0.0)
    out = []
    with np.errstate(invalid="ignore", divide="ignore"):
        total = xs.sum(axis=1)
        mean = total / cnt
        for w in which:
            if w == "mean":
                v = mean.copy()
            elif w == "total":
                v = total.copy()
            elif w == "var":
                dev = np.where(mask, x - mean[:, None], 0.0)
                v = (dev * dev).sum(axis=1) / cnt
            elif w == "min":
                v = np.where(mask, x, np.inf).min(axis=1)
            elif w == "max":
                v = np.where(mask, x, -np.inf).max(axis=1)
            else:
                raise ValueError(w)
            v[none] = np.nan
            out.append(v)
    return out


def _window_sum(x, valid, w):
    """Sums over every run of ``w`` consecutive entries, and which runs are all valid.

    Parameters
    ----------
    x : float64 (m, W); valid : _Mask over (m, W); w : int

    Returns
    -------
    sums : float64 (m, W-w+1) (zero columns when W < w)
    ok : _Mask over (m, W-w+1)
    """
    m, W = x.shape
    n = W - w + 1
    if n <= 0 or w <= 0:
        return np.zeros((m, 0)), _Mask.ones((m, 0))
    c = np.cumsum(x if valid.all else np.where(valid.mask, x, 0.0), axis=1)
    s = c[:, w - 1:].copy()
    s[:, 1:] -= c[:, :n - 1]
    if valid.all:
        return s, _Mask.ones((m, n))
    bad = np.cumsum(~valid.mask, axis=1, dtype=np.int32)
    nbad = bad[:, w - 1:].copy()
    nbad[:, 1:] -= bad[:, :n - 1]
    return s, _Mask(nbad == 0)


def _count_runs(cond):
    """Number of maximal runs of True along each row of a bool array (m, W), as float64 (m,)."""
    if cond.shape[1] == 0:
        return np.zeros(cond.shape[0])
    starts = cond.copy()
    starts[:, 1:] &= ~cond[:, :-1]
    return starts.sum(axis=1).astype(np.float64)


def _segment_lengths(start):
    """Length of the segment each entry belongs to, segments starting where ``start`` is True.

    start : bool (m, W) with start[:, 0] True. Returns int64 (m, W).
    """
    m, W = start.shape
    rid = np.cumsum(start.ravel()) - 1
    return np.bincount(rid)[rid].reshape(m, W)


def _nan_where(v, undefined):
    v = np.asarray(v, dtype=np.float64)
    v[undefined] = np.nan
    return v


def _count_matches(strings, rows):
    """Quadparser matches in ``strings[i]`` for i in ``rows`` (one joined scan), float64 (len(rows),)."""
    out = np.zeros(len(rows))
    if not len(rows):
        return out
    parts = [strings[i] for i in rows]
    ends = np.cumsum([len(s) + 1 for s in parts])   # '|' separates; the pattern cannot cross it
    starts = [mt.start() for mt in _G4_PATTERN.finditer("|".join(parts))]
    if starts:
        np.add.at(out, np.searchsorted(ends, starts, side="right"), 1.0)
    return out


# ---------------------------------------------------------------- groups
def _gquad(g):
    """G4Hunter mean/max of |window score| and Quadparser count on both strands; 3 columns."""
    codes, m, L = g.codes, g.m, g.L
    valid = _Mask(codes < 4)
    if L:
        start = np.ones((m, L), dtype=bool)
        start[:, 1:] = codes[:, 1:] != codes[:, :-1]
        run = np.minimum(_segment_lengths(start), 4).astype(np.float64)
        score = np.where(codes == 2, run, 0.0) - np.where(codes == 1, run, 0.0)
    else:
        score = np.zeros((m, 0))
    sums, ok = _window_sum(score, valid, G4_WINDOW)
    mean, mx = _stats(np.abs(sums) * (1.0 / G4_WINDOW), ok, ("mean", "max"))
    # a match needs four disjoint G{3,} blocks, hence >= 4 GGG starts: scan only those strands
    count = np.zeros(m)
    if L >= 3:
        k3 = g.k[3]                                 # N-containing trinucleotides read as AAA here
        need_g = np.flatnonzero((k3 == 42).sum(axis=1) >= 4)   # GGG = 2*16+2*4+2
        need_c = np.flatnonzero((k3 == 21).sum(axis=1) >= 4)   # CCC = 16+4+1
        count[need_g] += _count_matches(g.strings, need_g)
        rc = {i: g.strings[i].translate(_COMPLEMENT)[::-1] for i in need_c}
        count[need_c] += _count_matches(rc, need_c)
    count[~(codes < 4).any(axis=1)] = np.nan
    return [mean, mx, count]


def _melting(g, t):
    """Windowed SantaLucia 1998 Tm, dH, dS, dG statistics; 12 columns."""
    codes, m = g.codes, g.m
    w = MELT_WINDOW
    dh_sum, ok = _window_sum(g.values(t["dH"], 2), g.v[2], w - 1)
    ds_sum, _ = _window_sum(g.values(t["dS"], 2), g.v[2], w - 1)
    n = dh_sum.shape[1]
    if n:
        at = (codes == 0) | (codes == 3)
        at_ends = at[:, :n].astype(np.float64) + at[:, w - 1:w - 1 + n]
        dh = dh_sum + (2 * INIT_GC[0]) + at_ends * (INIT_AT[0] - INIT_GC[0])
        ds = (ds_sum + (2 * INIT_GC[1] + SALT_DS_PER_PHOSPHATE * (w - 1) * np.log(MELT_NA))
              + at_ends * (INIT_AT[1] - INIT_GC[1]))
        pal = (codes[:, :n] + codes[:, w - 1:w - 1 + n]) == 3
        for j in range(1, w // 2):
            pal &= (codes[:, j:j + n] + codes[:, w - 1 - j:w - 1 - j + n]) == 3
        conc = np.full((m, n), R_CAL * np.log(MELT_CT / 4.0))
        if pal.any():
            dh += pal * SYMMETRY[0]
            ds += pal * SYMMETRY[1]
            conc[pal] = R_CAL * np.log(MELT_CT)
        dg = dh - (T_KELVIN / 1000.0) * ds
        tm = 1000.0 * dh / (ds + conc) - 273.15
    else:
        dh = ds = dg = tm = np.zeros((m, 0))
    return (_stats(tm, ok) + _stats(dh, ok, ("mean", "var")) + _stats(ds, ok, ("mean", "var"))
            + _stats(dg, ok))


def _sidd(g, t):
    """Benham single-run SIDD on fixed windows; 4 columns."""
    m = g.m
    step = g.values(t["open"], 2)                   # (m, L-1) step opening energies
    (total,) = _stats(step, g.v[2], ("total",))
    if step.shape[1] >= 2:
        bp = 0.5 * (step[:, :-1] + step[:, 1:])     # bases 1..L-2
        bp_ok = _Mask.ones(bp.shape) if g.v[2].all else _Mask(g.v[2].mask[:, :-1] & g.v[2].mask[:, 1:])
    else:
        bp, bp_ok = np.zeros((m, 0)), _Mask.ones((m, 0))
    sums, ok = _window_sum(bp, bp_ok, SIDD_WINDOW)
    G = sums + (SIDD_NUCLEATION - SIDD_RELIEF)
    with np.errstate(over="ignore"):
        p = 1.0 / (1.0 + np.exp(G * (1.0 / RT_KCAL)))
    mean, mx = _stats(p, ok, ("mean", "max"))
    hot_cond = p > SIDD_HOTSPOT_P if ok.all else ok.mask & (p > SIDD_HOTSPOT_P)
    none = np.zeros(m, dtype=bool) if ok.all else ~ok.mask.any(axis=1)
    if G.shape[1] == 0:
        none[:] = True
    hot = _nan_where(_count_runs(hot_cond), none)
    return [mean, mx, total, hot]


def _shape(g, t):
    """DNAshape MGW (6), ProT (4), Roll (4), HelT (4), EP (3) statistics."""
    m, valid = g.m, g.v[5]
    P = g.k[5].shape[1]
    mgw = g.values(t["MGW"], 5)
    none = np.zeros(m, dtype=bool) if valid.all else ~valid.mask.any(axis=1)
    if P == 0:
        none[:] = True
    narrow = mgw < MGW_NARROW
    wide = mgw > MGW_WIDE
    if not valid.all:
        narrow &= valid.mask
        wide &= valid.mask
    mgw_cols = _stats(mgw, valid) + [_nan_where(_count_runs(narrow), none), _nan_where(_count_runs(wide), none)]
    prot = _stats(g.values(t["ProT"], 5), valid)
    ep = _stats(g.values(t["EP"], 5), valid, ("mean", "var", "min"))
    steps = []
    for name in ("Roll", "HelT"):
        if P == 0:
            steps.append([np.full(m, np.nan) for _ in range(4)])
            continue
        # steps 1..L-3 (step j joins bases j and j+1): step1 of the pentamer starting at j-1 and
        # step2 of the pentamer starting at j-2, averaged where both exist (DNAshapeR)
        s1 = g.values(t[name + "_step1"], 5)        # pentamer p: step p+1
        s2 = g.values(t[name + "_step2"], 5)        # pentamer p: step p+2
        if valid.all:
            v = np.empty((m, P + 1))
            v[:, 0] = s1[:, 0]
            v[:, P] = s2[:, P - 1]
            v[:, 1:P] = 0.5 * (s1[:, 1:] + s2[:, :-1])
            steps.append(_stats(v, _Mask.ones(v.shape)))
        else:
            a = np.zeros((m, P + 1))
            b = np.zeros((m, P + 1))
            na = np.zeros((m, P + 1))
            nb = np.zeros((m, P + 1))
            a[:, :P] = np.where(valid.mask, s1, 0.0)
            na[:, :P] = valid.mask
            b[:, 1:] = np.where(valid.mask, s2, 0.0)
            nb[:, 1:] = valid.mask
            cnt = na + nb
            with np.errstate(invalid="ignore", divide="ignore"):
                v = (a + b) / cnt
            steps.append(_stats(v, _Mask(cnt > 0)))
    return mgw_cols, prot, steps[0], steps[1], ep


def _nucleosome(g, t):
    """Dyad score, occupancy proxy, AA/TT/TA positioning signal, DNase I score; 4 columns."""
    m, L = g.m, g.L
    valid3 = g.v[3]
    T3 = g.k[3].shape[1]
    s = g.values(t["np"], 3)
    (occupancy,) = _stats(s, valid3, ("mean",))
    (dnase,) = _stats(g.values(t["dnase"], 3), valid3, ("mean",))
    if L - NUC_FOOTPRINT + 1 > 0:
        sv = s if valid3.all else np.where(valid3.mask, s, 0.0)
        score = sv @ _dyad_matrix(L)                # (m, L-146)
        _, dyad_ok = _window_sum(np.zeros((m, T3)), valid3, NUC_FOOTPRINT - 2)
        (dyad,) = _stats(score, dyad_ok, ("max",))
    else:
        dyad = np.full(m, np.nan)
    # AA/TT/TA periodicity
    S = g.k[2].shape[1]
    if S:
        x = g.values(t["ww"], 2)
        (xbar,) = _stats(x, g.v[2], ("mean",))
        y = x - xbar[:, None]
        if not g.v[2].all:
            y = np.where(g.v[2].mask, y, 0.0)
        cs = _periodic_basis(S)
        proj = y @ cs                                # (m, 2)
        den = np.einsum("ij,ij->i", y, y)
        with np.errstate(invalid="ignore", divide="ignore"):
            signal = (proj * proj).sum(axis=1) / den
        signal[~(den > 1e-12)] = np.nan
    else:
        signal = np.full(m, np.nan)
    return [dyad, occupancy, signal, dnase]


@lru_cache(maxsize=64)
def _periodic_basis(S):
    """cos and sin of 2 pi t / NUC_PERIOD for t = 0..S-1, float64 (S, 2)."""
    tt = np.arange(S) * (2 * np.pi / NUC_PERIOD)
    out = np.column_stack([np.cos(tt), np.sin(tt)])
    out.setflags(write=False)
    return out


@lru_cache(maxsize=64)
def _dyad_matrix(L):
    """Banded matrix (L-2, L-146) mapping trinucleotide values (by start) to dyad scores."""
    half = (NUC_FOOTPRINT - 3) // 2                 # 72: trinucleotide centres d-72..d+72
    j = np.arange(-half, half + 1)
    k = np.cos(2 * np.pi * j / NUC_PERIOD)
    k = (k - k.mean()) / len(j)
    D = L - NUC_FOOTPRINT + 1
    M = np.zeros((L - 2, D))
    for col in range(D):
        d = col + (NUC_FOOTPRINT - 1) // 2          # dyad base 73 + col
        M[d + j - 1, col] = k                       # trinucleotide starting at d+j-1 is centred at d+j
    M.setflags(write=False)
    return M


def _z_dna(g, t):
    """Z-DNA formation potential (Ho 1986 energies, strict alternation, 12-bp windows); 1 column."""
    S = g.k[2].shape[1]
    e_as, e_sa = g.values(t["z_as"], 2), g.values(t["z_sa"], 2)
    even = (np.arange(S) % 2 == 0)[None, :]
    u = np.where(even, e_as, e_sa)                  # even steps anti-syn
    v = np.where(even, e_sa, e_as)                  # even steps syn-anti
    su, ok = _window_sum(u, g.v[2], Z_WINDOW - 1)
    sv, _ = _window_sum(v, g.v[2], Z_WINDOW - 1)
    (mn,) = _stats(np.minimum(su, sv), ok, ("min",))
    return [-mn / (Z_WINDOW - 1)]


def _a_tracts(g):
    """A-tract count (n+m >= 4, no TpA) and longest TpA-free A_nT_m run; 2 columns."""
    codes, m, L = g.codes, g.m, g.L
    if L == 0:
        return [np.full(m, np.nan), np.full(m, np.nan)]
    w = (codes == 0) | (codes == 3)
    start = np.ones((m, L), dtype=bool)
    start[:, 1:] = ~w[:, :-1] | ~w[:, 1:] | ((codes[:, :-1] == 3) & (codes[:, 1:] == 0))
    seg = _segment_lengths(start)
    count = (start & w & (seg >= A_TRACT_MIN)).sum(axis=1).astype(np.float64)
    longest = np.where(w, seg, 0).max(axis=1).astype(np.float64)
    none = ~(codes < 4).any(axis=1)
    return [_nan_where(count, none), _nan_where(longest, none)]


def _cpg(g):
    """CpG island window score, CpG o/e, CpG density; 3 columns."""
    codes, m = g.codes, g.m
    is_c = (codes == 1).astype(np.float64)
    is_g = (codes == 2).astype(np.float64)
    cpg = (g.k[2] == 6) & g.v[2].mask               # C=1, G=2 -> 4*1+2
    n_c, n_g = is_c.sum(axis=1), is_g.sum(axis=1)
    n_b = (codes < 4).sum(axis=1).astype(np.float64)
    n_cpg = cpg.sum(axis=1).astype(np.float64)
    n_s = g.v[2].mask.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        oe = n_cpg * n_b / (n_c * n_g)
        density = 100.0 * n_cpg / n_s
    oe[(n_c * n_g) == 0] = np.nan
    density[n_s == 0] = np.nan
    # 200-bp windows: bases i..i+199 and the 199 steps inside them
    w = CPG_WINDOW
    validb = _Mask(codes < 4)
    c_sum, ok = _window_sum(is_c, validb, w)
    g_sum, _ = _window_sum(is_g, validb, w)
    n = c_sum.shape[1]
    if n:
        cg_sum, _ = _window_sum(cpg.astype(np.float64), _Mask.ones(cpg.shape), w - 1)
        prod = c_sum * g_sum
        island = ((c_sum + g_sum) > CPG_GC_MIN * w) & (cg_sum * w > CPG_OE_MIN * prod) & (prod > 0)
        (score,) = _stats(island.astype(np.float64), ok, ("mean",))
    else:
        score = np.full(m, np.nan)
    return [score, oe, density]


# ---------------------------------------------------------------- entry point
def _compute_all(seqs, params, **options):
    """Compute the 55 advanced descriptors.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase A/C/G/T/N sequences; lengths may differ.
    params : toolkit.features.params.Params

    Returns
    -------
    numpy.ndarray of float64, shape (n, 55); NaN where a descriptor is undefined
    (sequence shorter than a window, or no valid step/window because of N).
    """
    t = _tables(params)
    out = np.full((len(seqs), 55), np.nan)
    for idx, codes in by_length(seqs):
        g = _Group(codes, [seqs[i] for i in idx])
        stack = _stats(g.values(t["stack"], 2), g.v[2], ("mean", "var", "min", "max", "total"))
        mgw, prot, roll, helt, ep = _shape(g, t)
        cols = (_gquad(g) + _melting(g, t) + _sidd(g, t) + mgw + stack + _nucleosome(g, t) + _z_dna(g, t)
                + _a_tracts(g) + _cpg(g) + prot + roll + helt + ep)
        out[idx] = np.column_stack(cols)
    return out


#: Statistics computed on the way but not written, each another column under a second
#: name (an identical or affine copy): name -> why.
RETIRED = {
    'advanced_sidd_total_opening_energy':
        'the sum of -ΔG(step) is minus thermo_total_dG plus a salt term per step',
    'advanced_dnase_sensitivity_score':
        'the mean DNase I bendability is bend_mean_bending_cost',
}


descriptors, compute = written_columns(_all_descriptors, _compute_all, RETIRED, "advanced")
