"""Electrostatic potential descriptors (``psi_*``): the 18 TileFormer targets.

TileFormer predicts 18 electrostatic potential (Ψ) features: the minimum, maximum and
mean of Ψ in "standard" and "enhanced" conditions (``STD_PSI_MIN`` ... ``ENH_PSI_MEAN``)
over three windows, ``w0`` the whole sequence, ``w1`` its first half and ``w2`` its
second half. This family computes them from a coarse-grained B-DNA and a screened
Coulomb potential, as follows.

Structure (one rigid frame per base pair)
    Every dinucleotide step gets the shift, slide, rise, tilt, roll and twist of the
    sign-corrected Olson et al. (1998) step means
    (``olson1998_pDNA_step_means_signcorrected.tsv``; tilt and shift negated for the
    complementary step, so a step and its reverse complement describe the same
    geometry read from the other strand). The base-pair frames are rebuilt with the
    standard 3DNA / El Hassan-Calladine scheme (El Hassan & Calladine 1995; Olson et
    al. 2001, "A standard reference frame ..."; Lu & Olson 2003): with bending angle
    Γ = sqrt(τ² + ρ²) and phase φ = atan2(τ, ρ),

        R_{i+1} = R_i · Rz(Ω/2 - φ) · Ry(Γ) · Rz(Ω/2 + φ)
        o_{i+1} = o_i + R_i · Rz(Ω/2 - φ) · Ry(Γ/2) · Rz(φ) · (Dx, Dy, Dz)

    (the middle-step frame carries the translation), starting from the identity at
    base pair 0. In the bp frame x points along the pseudo-dyad into the major groove,
    y towards strand I (the sequence as given) and z along the helix, 5'→3' of strand I.

Charges (one phosphate per nucleotide, both strands)
    Each nucleotide carries its 5' phosphate at the phosphorus position of the
    Arnott & Hukins (1972) B-DNA fiber model, cylindrical (r, φ, z) = (8.91 Å, 95.2°,
    2.08 Å) in the fiber's helical frame (dyad at φ = 0 pointing into the minor
    groove, z towards the 5' end of strand I). In the bp frame above this is
    P_I = (0.808, 8.873, -2.080) Å for the strand-I nucleotide and, by the pair's
    dyad symmetry (x, y, z) → (x, -y, -z), P_II = (0.808, -8.873, 2.080) Å for its
    partner. (Check: in ideal B-DNA, twist 36° and rise 3.38 Å, adjacent phosphates of
    one strand are 6.46 Å apart, and the phosphate between two pairs lies
    z = -0.39 Å from their middle frame, 3DNA's B-DNA Zp of about -0.4 Å (Lu,
    Shakked & Olson 2000).) The fiber's small x-displacement and inclination are
    neglected (a few tenths of an Å). Every phosphate carries the full charge
    q = -1 e: the potential is the linearised Poisson-Boltzmann (Debye-Hückel)
    potential of the bare phosphates, with counter-ions entering only through the
    screening. A Manning-reduced charge (1/ξ = b/l_B = 0.23 e for b = 1.69 Å) would
    multiply every value by the same salt-independent constant and put them an order of
    magnitude below Poisson-Boltzmann minor-groove potentials, while the bare charges
    give -3.2 kT/e at 0.15 M, the order of DelPhi's nonlinear PB minor-groove potential
    (the DNAshape EP table: mean -6.5 kT/e, which also has the low-dielectric interior
    that this model leaves out). The 5'-terminal phosphate of each strand is kept (one
    per nucleotide): a tile sits inside a longer construct.

Sample points (one per base pair, in the minor groove)
    S = (-5.86, 0, 0) Å in the bp frame: on the pseudo-dyad, on the minor-groove side,
    at the radius of the C1' atoms of the same fiber model (5.86 Å). The point is in
    the bp plane, so by the pair's dyad symmetry it is halfway between the two
    backbones that line the minor groove there (strand I above, strand II below),
    about 2 Å above the groove floor (the bases' N3/O2/C2 edge, x ≈ -2.3 Å, plus its
    van der Waals radius) and 3 Å below the groove's mouth (phosphates at 8.91 Å):
    where the spine of hydration, minor-groove binders and minor-groove arginines sit
    (Rohs et al. 2009, Nature 461:1248). The closest phosphate is ≈ 6 Å away.

Potential (Debye-Hückel, in kT/e)
    Ψ_j = Σ_i z_i · l_B · exp(-κ r_ij) / r_ij      (z_i = -1, r_ij in Å)

    which is q φ / (kT) with φ = Σ q_i exp(-κ r)/(4π ε0 εr r). l_B = e²/(4π ε0 εr kT)
    is the Bjerrum length and κ² = 2 N_A e² I / (ε0 εr kT) (I in mol/m³), at
    T = 310.15 K (37 °C, as the rest of descfeat) and εr = 74.15, the dielectric
    constant of water at 37 °C (Malmberg & Maryott 1956: 87.740 - 0.40008 t +
    9.398e-4 t² - 1.410e-6 t³, t in °C); constants CODATA 2018. This gives
    l_B = 7.266 Å and a Debye length 1/κ = 0.3016/sqrt(I) nm (the same formula at
    25 °C with εr = 78.5 gives the textbook 0.304/sqrt(I) nm).

Conditions ("standard" and "enhanced")
    standard: I = 0.15 M (physiological monovalent salt), 1/κ = 7.79 Å;
    enhanced: I = 0.01 M (low salt, 10 mM; the potential is enhanced by the weaker
    screening; also the standard condition of the SIDD descriptors of the
    ``advanced`` family), 1/κ = 30.16 Å.
    These two ionic strengths are the toolkit's choice.

Cut-off, sampled base pairs and closest approach
    A sample point at base pair j feels the phosphates of nucleotides j-K .. j+K on
    both strands, K = ceil(5 / κ / 3.38 Å): 12 bp (standard) and 45 bp (enhanced),
    i.e. the charges within five Debye lengths along the helix. Ψ is sampled only at
    the base pairs whose whole window lies inside the sequence, K <= j < L - K, so
    every sample sees the same 2(2K + 1) charges: near the end of a free fragment Ψ
    rises towards half its value, which would make the maximum a property of the
    fragment's ends (for a library with constant adapters, the same number for every
    sequence) instead of its structure. A sequence shorter than 2K + 1 (25 nt
    standard, 91 nt enhanced) has no sample: NaN. Against the full sum over every
    phosphate, the terms left out add an almost constant +0.006 kT/e (standard) and
    +0.009 kT/e (enhanced) to Ψ on real 230-nt sequences (at most 0.007 and 0.011;
    standard deviation over base pairs 0.0004 and 0.0011 kT/e, against 0.02-0.1 kT/e
    for the statistics over sequences). A distance below R_MIN = 3.0 Å (P-O bond plus
    the oxygen's van der Waals radius: the closest a probe can come to a phosphate's
    charge centre) is counted as 3.0 Å; no sample point comes that close to a
    phosphate in this geometry (closest 5.98 Å), so the guard never changes a value,
    and no sample point sits on a charge, so there is no self-term.

Statistics
    Minimum, maximum and mean of Ψ_j over the sampled A/C/G/T base pairs j of the
    window: ``w0`` the whole sequence, ``w1`` the first ceil(L/2) base pairs, ``w2``
    the last ceil(L/2) (an odd-length sequence's middle pair is in both halves). Ψ is
    negative: the minimum is the strongest potential (the most negative), the maximum
    the weakest.

N handling
    A step with N gets the mean of the 16 step rows (tilt and shift exactly 0), so the
    chain stays connected, and an N nucleotide keeps its phosphate (its charge does
    not depend on the base); but a base pair with N is not sampled: the statistics run
    over the A/C/G/T base pairs only, and a window without any (an all-N sequence or
    half, or a sequence too short for the cut-off) is NaN, never an invented value.

Strand symmetry
    The reverse complement rebuilds the same structure (the sign-corrected table and
    the symmetric middle-step construction; its frames are the original ones turned
    by 180° about x), the charge set, the sample points and the sampled base pairs are
    symmetric under that turn, so Ψ of the reverse complement is the reversed profile:
    ``w0`` statistics are strand-symmetric (to rounding, ~1e-13 kT/e) and ``w1`` and
    ``w2`` swap. The mean N step keeps this.

Computation: one compiled pass (numba) per sequence builds the frames, the 2L
charges and the L sample points, then adds the screened terms offset by offset
(d = -K .. K between sample point j and nucleotide j + d), each offset a long loop over
the sample points that the compiler vectorises; the distances are shared by the two
conditions and the exponential is the vectorisable polynomial of
:func:`toolkit.features.pwm._exp2` (relative error below 1e-14). About 30,000
sequences of 230 nt per second on one core.
"""

import math
import weakref

import numba
import numpy as np

from . import Descriptor
from .encode import by_length
from .pwm import _exp2

FAMILY = "psi"

# ---------------------------------------------------------------- physics constants (CODATA 2018)
ELEMENTARY_CHARGE = 1.602176634e-19     # C
VACUUM_PERMITTIVITY = 8.8541878128e-12  # F/m
BOLTZMANN = 1.380649e-23                # J/K
AVOGADRO = 6.02214076e23                # 1/mol

#: Temperature (K): 37 °C, as the thermo and advanced families.
TEMPERATURE_K = 310.15
#: The two conditions: (name tag, condition name, ionic strength in mol/L).
CONDITIONS = (("std", "standard", 0.15), ("enh", "enhanced", 0.01))
#: Charge of every phosphate (units of e).
PHOSPHATE_CHARGE = -1.0
#: Phosphorus of the Arnott & Hukins (1972) B-DNA fiber model: r (Å), φ (deg), z (Å).
P_CYLINDRICAL = (8.91, 95.2, 2.08)
#: Radius of the C1' atoms of the same model (Å): depth of the sample point.
C1_RADIUS = 5.86
#: Sample point in the base-pair frame (Å): the minor-groove pseudo-dyad at the C1' radius.
SAMPLE_POINT = (-C1_RADIUS, 0.0, 0.0)
#: Cut-off: charges within this many Debye lengths along the helix ...
CUTOFF_DEBYE_LENGTHS = 5.0
#: ... converted to base pairs with the B-DNA rise (Å).
IDEAL_RISE = 3.38
#: Closest approach of a probe to a phosphate's charge centre (Å).
R_MIN = 3.0

#: Output order: window-major (per window w0, w1, w2).
WINDOWS = (("w0", "the whole sequence"),
           ("w1", "the first half (0-based base pairs j < ceil(L/2))"),
           ("w2", "the second half (j >= floor(L/2), the last ceil(L/2) base pairs)"))
STATS = ("min", "max", "mean")

_OLSON_COLUMNS = ("shift_A", "slide_A", "rise_A", "tilt_deg", "roll_deg", "twist_deg")
_FAST = {"reassoc", "contract", "nsz", "arcp"}
_LOG2E = 1.0 / math.log(2.0)


def water_permittivity(temperature_k):
    """Relative permittivity of water (Malmberg & Maryott 1956, J Res NBS 56:1), 0-100 °C."""
    t = temperature_k - 273.15
    return 87.740 - 0.40008 * t + 9.398e-4 * t * t - 1.410e-6 * t ** 3


def bjerrum_length(temperature_k=TEMPERATURE_K, eps_r=None):
    """Bjerrum length l_B = e² / (4π ε0 εr kT) in Å (εr of water at that temperature by default)."""
    eps_r = water_permittivity(temperature_k) if eps_r is None else eps_r
    return ELEMENTARY_CHARGE ** 2 / (4 * math.pi * VACUUM_PERMITTIVITY * eps_r * BOLTZMANN * temperature_k) * 1e10


def debye_length(ionic_strength, temperature_k=TEMPERATURE_K, eps_r=None):
    """Debye length 1/κ = sqrt(ε0 εr kT / (2 N_A e² I)) in Å, I in mol/L."""
    eps_r = water_permittivity(temperature_k) if eps_r is None else eps_r
    if ionic_strength <= 0:
        raise ValueError("ionic strength must be positive")
    return math.sqrt(VACUUM_PERMITTIVITY * eps_r * BOLTZMANN * temperature_k
                     / (2 * AVOGADRO * ELEMENTARY_CHARGE ** 2 * ionic_strength * 1000.0)) * 1e10


def cutoff_bp(ionic_strength):
    """Neighbouring base pairs (each side) whose phosphates a sample point feels."""
    return int(math.ceil(CUTOFF_DEBYE_LENGTHS * debye_length(ionic_strength) / IDEAL_RISE - 1e-9))


def phosphate_positions():
    """(P_I, P_II): the two phosphates of a base pair in its frame (Å), float64 (3,) each."""
    r, phi, z = P_CYLINDRICAL
    phi = math.radians(phi)
    # fiber frame -> bp frame: x' = -x (dyad into the major groove), y' = y, z' = -z
    p1 = np.array([-r * math.cos(phi), r * math.sin(phi), -z])
    return p1, p1 * np.array([1.0, -1.0, -1.0])


def _rz(t):
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _ry(t):
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def step_transform(shift, slide, rise, tilt, roll, twist):
    """3DNA rebuild of one step (Å and degrees): rotation (3, 3) and translation (3,) of
    base pair i+1 in the frame of base pair i (El Hassan & Calladine 1995; Olson et al. 2001)."""
    tau, rho, omega = math.radians(tilt), math.radians(roll), math.radians(twist)
    gamma = math.hypot(tau, rho)
    phi = math.atan2(tau, rho) if gamma > 0 else 0.0
    rot = _rz(omega / 2 - phi) @ _ry(gamma) @ _rz(omega / 2 + phi)
    mid = _rz(omega / 2 - phi) @ _ry(gamma / 2) @ _rz(phi)
    return rot, mid @ np.array([shift, slide, rise])


_TABLES = weakref.WeakKeyDictionary()


def psi_tables(params):
    """Step transforms of the 16 steps plus the N step (cached per ``params``).

    Returns
    -------
    dict
        ``rot`` float64 (17, 9): row-major rotation of each step, index 4*code(a) +
        code(b) (A0 C1 G2 T3), row 16 the N step (mean step parameters);
        ``shift`` float64 (17, 3): translation; ``step_params`` float64 (17, 6).
    """
    try:
        return _TABLES[params]
    except (KeyError, TypeError):
        pass
    pars = np.stack([params.step_vector("olson_steps", c) for c in _OLSON_COLUMNS], axis=1)
    mean = pars.mean(axis=0)
    for k in (0, 3):                    # shift and tilt: the sign-corrected table averages to 0
        if abs(mean[k]) > 1e-9:
            raise ValueError(f"{_OLSON_COLUMNS[k]} of the Olson table does not average to 0; "
                             "is it the sign-corrected table?")
        mean[k] = 0.0
    pars = np.vstack([pars, mean])
    rot = np.empty((17, 9))
    shift = np.empty((17, 3))
    for k in range(17):
        r, v = step_transform(*pars[k])
        rot[k] = r.ravel()
        shift[k] = v
    out = {"rot": rot, "shift": shift, "step_params": pars}
    try:
        _TABLES[params] = out
    except TypeError:
        pass
    return out


# ---------------------------------------------------------------- descriptors

_SOURCE = ("share/params/olson1998_pDNA_step_means_signcorrected.tsv (shift, slide, rise, tilt, roll, twist): "
           "Olson WK et al. (1998) PNAS 95:11163-11168; base-pair frames by the 3DNA rebuild: El Hassan MA, "
           "Calladine CR (1995) J Mol Biol 251:648-664, Olson WK et al. (2001) J Mol Biol 313:229-237, "
           "Lu XJ, Olson WK (2003) Nucleic Acids Res 31:5108-5121; phosphorus position of the B-DNA fiber "
           "model: Arnott S, Hukins DWL (1972) Biochem Biophys Res Commun 47:1504-1509; screened Coulomb "
           "potential: Debye P, Hückel E (1923) Phys Z 24:185-206; water permittivity: Malmberg CG, Maryott "
           "AA (1956) J Res Natl Bur Stand 56:1-8")


def _layout():
    """(name, window index, condition index, stat) of the 18 descriptors, in output order."""
    return [(f"psi_{tag}_{stat}_{w}", wi, ci, stat)
            for wi, (w, _) in enumerate(WINDOWS)
            for ci, (tag, _, _) in enumerate(CONDITIONS)
            for stat in STATS]


def descriptors(params=None, **options):
    """The 18 ``psi_*`` descriptors, in output order.

    Returns
    -------
    list of toolkit.features.Descriptor
    """
    lb = bjerrum_length()
    out = []
    for name, wi, ci, stat in _layout():
        tag, cond, ionic = CONDITIONS[ci]
        lam = debye_length(ionic)
        what = {"min": "Minimum (most negative)", "max": "Maximum (least negative)", "mean": "Mean"}[stat]
        K = cutoff_bp(ionic)
        formula = (f"{what} over the A/C/G/T base pairs j of {WINDOWS[wi][1]} with {K} <= j < L - {K} (whole "
                   "cut-off window inside the sequence) of the minor-groove electrostatic "
                   f"potential in {cond} conditions: "
                   f"Psi_j = sum_i -l_B exp(-kappa r_ij) / r_ij over the phosphates (-1 e, one per nucleotide "
                   f"on both strands, at the Arnott B-DNA phosphorus position, r = 8.91 Å) of nucleotides "
                   f"j-{K} .. j+{K}, at the point (-5.86, 0, 0) Å of base pair j's "
                   "frame (minor-groove pseudo-dyad), frames rebuilt from the Olson step means (3DNA scheme; a "
                   f"step with N gets the mean step); Debye-Hückel with I = {ionic:g} M, 1/kappa = {lam:.2f} Å, "
                   f"l_B = {lb:.3f} Å (water, eps_r = {water_permittivity(TEMPERATURE_K):.2f} at 310.15 K), "
                   f"r >= {R_MIN:g} Å; NaN when there is no such base pair (e.g. sequences under {2 * K + 1} nt).")
        out.append(Descriptor(name, FAMILY, "kT/e", formula, _SOURCE))
    return out


# ---------------------------------------------------------------- kernel

@numba.njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _profile(pos, kl, kcut, scale, rmin, prof, work):
    """Psi at every sample point whose cut-off window lies inside the sequence.

    pos : (9, L) from :func:`_build`; kl, kcut, scale : (C,) kappa * log2(e), cut-off
    K (bp) and l_B * charge of each condition; prof : (C, L), written:
    prof[c, j] = scale[c] * sum over |d| <= K of exp(-kappa r)/r for the two phosphates
    of nucleotide j + d seen from sample point j, for K <= j < L - K; NaN elsewhere.
    work : (4, L) work space. The sum runs over the offset d in the outer loop and the
    sample points in the inner one (long, vectorisable loops; each point's terms are
    added in the order of d).
    """
    C = kl.shape[0]
    L = pos.shape[1]
    r1, r2, i1, i2 = work[0], work[1], work[2], work[3]
    kmax = 0
    for c in range(C):
        kmax = max(kmax, kcut[c])
        for j in range(L):
            prof[c, j] = 0.0 if kcut[c] <= j < L - kcut[c] else np.nan
    sx, sy, sz = pos[0], pos[1], pos[2]
    ax, ay, az, bx, by, bz = pos[3], pos[4], pos[5], pos[6], pos[7], pos[8]
    for d in range(-kmax, kmax + 1):
        lo = L                          # sample points of the conditions that reach offset d
        for c in range(C):
            if abs(d) <= kcut[c]:
                lo = min(lo, kcut[c])
        n = L - 2 * lo                  # points j in [lo, lo + n), nucleotides j + d (inside)
        if n <= 0:
            continue
        px, py, pz = sx[lo:lo + n], sy[lo:lo + n], sz[lo:lo + n]
        qx, qy, qz = ax[lo + d:lo + d + n], ay[lo + d:lo + d + n], az[lo + d:lo + d + n]
        ux, uy, uz = bx[lo + d:lo + d + n], by[lo + d:lo + d + n], bz[lo + d:lo + d + n]
        for t in range(n):
            dx = qx[t] - px[t]
            dy = qy[t] - py[t]
            dz = qz[t] - pz[t]
            r = max(math.sqrt(dx * dx + dy * dy + dz * dz), rmin)
            r1[t] = r
            i1[t] = 1.0 / r
            dx = ux[t] - px[t]
            dy = uy[t] - py[t]
            dz = uz[t] - pz[t]
            r = max(math.sqrt(dx * dx + dy * dy + dz * dz), rmin)
            r2[t] = r
            i2[t] = 1.0 / r
        for c in range(C):
            K = kcut[c]
            if abs(d) > K or L - 2 * K <= 0:
                continue
            k = kl[c]
            m = L - 2 * K
            off = K - lo
            pc = prof[c, K:K + m]
            s1, s2, j1, j2 = r1[off:off + m], r2[off:off + m], i1[off:off + m], i2[off:off + m]
            for t in range(m):
                pc[t] += _exp2(-k * s1[t]) * j1[t] + _exp2(-k * s2[t]) * j2[t]
    for c in range(C):
        for j in range(L):
            prof[c, j] *= scale[c]


@numba.njit(cache=True, nogil=True)
def _build(code, rot, shift, p1, p2, smp, pos):
    """Frames of one sequence -> pos (9, L): sample point, P_I, P_II (x, y, z each)."""
    L = code.shape[0]
    r0, r1, r2, r3, r4, r5, r6, r7, r8 = 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0
    ox, oy, oz = 0.0, 0.0, 0.0
    for j in range(L):
        if j > 0:
            a = code[j - 1]
            b = code[j]
            k = 16 if (a > 3 or b > 3) else 4 * a + b
            vx, vy, vz = shift[k, 0], shift[k, 1], shift[k, 2]
            ox += r0 * vx + r1 * vy + r2 * vz
            oy += r3 * vx + r4 * vy + r5 * vz
            oz += r6 * vx + r7 * vy + r8 * vz
            t = rot[k]
            n0 = r0 * t[0] + r1 * t[3] + r2 * t[6]
            n1 = r0 * t[1] + r1 * t[4] + r2 * t[7]
            n2 = r0 * t[2] + r1 * t[5] + r2 * t[8]
            n3 = r3 * t[0] + r4 * t[3] + r5 * t[6]
            n4 = r3 * t[1] + r4 * t[4] + r5 * t[7]
            n5 = r3 * t[2] + r4 * t[5] + r5 * t[8]
            n6 = r6 * t[0] + r7 * t[3] + r8 * t[6]
            n7 = r6 * t[1] + r7 * t[4] + r8 * t[7]
            n8 = r6 * t[2] + r7 * t[5] + r8 * t[8]
            r0, r1, r2, r3, r4, r5, r6, r7, r8 = n0, n1, n2, n3, n4, n5, n6, n7, n8
        for q in range(3):
            if q == 0:
                px, py, pz = smp[0], smp[1], smp[2]
            elif q == 1:
                px, py, pz = p1[0], p1[1], p1[2]
            else:
                px, py, pz = p2[0], p2[1], p2[2]
            pos[3 * q, j] = ox + r0 * px + r1 * py + r2 * pz
            pos[3 * q + 1, j] = oy + r3 * px + r4 * py + r5 * pz
            pos[3 * q + 2, j] = oz + r6 * px + r7 * py + r8 * pz


@numba.njit(cache=True, nogil=True)
def _window_stats(prof, code, lo, hi, out, col):
    """min, max, mean of prof[lo:hi] over the A/C/G/T base pairs with a value (not NaN)
    -> out[col:col+3]; NaN if there is none."""
    n = 0
    s = 0.0
    mn = np.inf
    mx = -np.inf
    for j in range(lo, hi):
        v = prof[j]
        if code[j] > 3 or v != v:
            continue
        n += 1
        s += v
        if v < mn:
            mn = v
        if v > mx:
            mx = v
    if n == 0:
        out[col] = np.nan
        out[col + 1] = np.nan
        out[col + 2] = np.nan
    else:
        out[col] = mn
        out[col + 1] = mx
        out[col + 2] = s / n


@numba.njit(cache=True, nogil=True)
def _psi_kernel(codes, rot, shift, p1, p2, smp, kl, kcut, scale, rmin, out):
    """Descriptors of a block of equal-length sequences.

    codes : uint8 (m, L); kl : float64 (C,) kappa*log2(e) per condition (1/Å);
    kcut : int64 (C,) cut-off in bp; scale : float64 (C,) l_B * charge (Å);
    out : float64 (m, 3 * C * 3), written in the order of :func:`_layout`.
    """
    m, L = codes.shape
    C = kl.shape[0]
    pos = np.empty((9, L))
    prof = np.empty((C, L))
    work = np.empty((4, L))
    h = (L + 1) // 2
    for row in range(m):
        code = codes[row]
        _build(code, rot, shift, p1, p2, smp, pos)
        _profile(pos, kl, kcut, scale, rmin, prof, work)
        for c in range(C):
            _window_stats(prof[c], code, 0, L, out[row], 3 * c)
            _window_stats(prof[c], code, 0, h, out[row], 3 * C + 3 * c)
            _window_stats(prof[c], code, L - h, L, out[row], 6 * C + 3 * c)


def _kernel_args(params):
    tabs = psi_tables(params)
    p1, p2 = phosphate_positions()
    lb = bjerrum_length()
    kl = np.array([_LOG2E / debye_length(i) for _, _, i in CONDITIONS])
    kcut = np.array([cutoff_bp(i) for _, _, i in CONDITIONS], dtype=np.int64)
    scale = np.full(len(CONDITIONS), PHOSPHATE_CHARGE * lb)
    return tabs["rot"], tabs["shift"], p1, p2, np.array(SAMPLE_POINT), kl, kcut, scale, float(R_MIN)


def profiles(seq, params):
    """Ψ per base pair of one sequence, for inspection and tests.

    Returns
    -------
    dict
        ``psi`` float64 (C, L) in kT/e (C conditions, order of :data:`CONDITIONS`;
        base pairs with N included), ``sample`` (L, 3), ``p1`` (L, 3), ``p2`` (L, 3)
        positions in Å.
    """
    _, codes = next(by_length([seq]))
    rot, shift, p1, p2, smp, kl, kcut, scale, rmin = _kernel_args(params)
    L = codes.shape[1]
    pos = np.empty((9, L))
    _build(codes[0], rot, shift, p1, p2, smp, pos)
    psi = np.empty((len(CONDITIONS), L))
    _profile(pos, kl, kcut, scale, rmin, psi, np.empty((4, L)))
    return {"psi": psi, "sample": pos[0:3].T.copy(), "p1": pos[3:6].T.copy(), "p2": pos[6:9].T.copy()}


def compute(seqs, params, **options):
    """``psi_*`` descriptors of ``seqs``.

    Parameters
    ----------
    seqs : list of str, length n
        Uppercase A/C/G/T/N sequences; lengths may differ.
    params : toolkit.features.params.Params

    Returns
    -------
    numpy.ndarray of float64, shape (n, 18); NaN where a window has no A/C/G/T base pair.
    """
    args = _kernel_args(params)
    out = np.full((len(seqs), len(_layout())), np.nan)
    for idx, codes in by_length(seqs):
        if codes.shape[1] == 0:
            continue
        block = np.empty((len(idx), out.shape[1]))
        _psi_kernel(np.ascontiguousarray(codes), *args, block)
        out[idx] = block
    return out
