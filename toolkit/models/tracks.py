"""Statistics of biophysical parameter tracks along a sequence, as a fixed feature layer.

A *track* gives every k-mer window of a sequence the value of a published per-k-mer
parameter (a nearest-neighbour ΔH of a dinucleotide step, a DNAshape minor-groove width
of a pentamer, a trinucleotide bendability, ...). Most descfeat descriptors outside the
motif family are statistics of such tracks: totals and means, spreads, percentiles,
extrema of windowed means, autocorrelations, gradients. :class:`TrackStats` computes a
fixed, generous set of these statistics for every track, plus three derived profiles
(wedge-model curvature over a helical turn, the periodicity of one track, the Shannon
entropy of base composition in sliding windows), so that a linear model on them, the
physics prior of PhysInformer, gets those descriptors nearly exactly.

Windows holding N (also the N padding of a shorter sequence in a batch) are left out of
every statistic; a statistic with no valid value is 0. Nothing here is trained.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

QUANTILES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
"""Percentiles of every track (linear interpolation, as numpy's default)."""
SMOOTH = (5, 11, 21)
"""Windows (positions) of the moving averages whose minimum, maximum and spread are taken."""
LAGS = (1, 2, 3, 5, 10)
"""Autocorrelation lags (positions)."""
TURN = 10
"""Dinucleotide steps per helical turn: the curvature window."""
CURVATURE_WINDOWS = (5, 7, 9, 11)
"""Windows of consecutive curvature values: RMS, variance and maximum in each."""
PERIODS = (5, 7, 10)
"""Periods (positions) at which the periodic track's sliding-window power is measured."""
PERIOD_WINDOW = 20
"""Window (positions) of that periodogram."""
ENTROPY_WINDOWS = (5, 10, 15, 20)
"""Windows (bases) of the base-composition Shannon entropy."""

TRACK_STATS = ("mean", "sd", "min", "max") + tuple(f"p{round(q * 100)}" for q in QUANTILES) + \
    tuple(f"acf{k}" for k in LAGS) + ("grad_abs", "grad_sd") + \
    tuple(f"w{w}_{s}" for w in SMOOTH for s in ("min", "max", "sd"))
"""The statistics of every track, in feature order."""
CURVATURE_STATS = ("mean", "sd", "min", "max") + tuple(f"p{round(q * 100)}" for q in QUANTILES) + \
    tuple(f"w{w}_{s}" for w in CURVATURE_WINDOWS for s in ("rms_mean", "rms_max", "var_mean", "var_max", "max_mean"))
PERIOD_STATS = tuple(f"period{p}_{s}" for p in PERIODS for s in ("mean", "max"))
ENTROPY_STATS = tuple(f"entropy_w{w}_{s}" for w in ENTROPY_WINDOWS for s in ("mean", "min", "max", "sd"))


def _masked_moments(x, m):
    """x, m (B, S) -> count (B,), mean (B,), population variance (B,) over m."""
    mf = m.to(x.dtype)
    n = mf.sum(1)
    mean = (x * mf).sum(1) / n.clamp(min=1)
    var = (((x - mean[:, None]) ** 2) * mf).sum(1) / n.clamp(min=1)
    return n, mean, var


def _masked_extrema(x, m, n):
    inf = torch.finfo(x.dtype).max
    lo = torch.where(m, x, inf).amin(1) if x.shape[1] else x.new_zeros(x.shape[0])
    hi = torch.where(m, x, -inf).amax(1) if x.shape[1] else x.new_zeros(x.shape[0])
    has = n > 0
    return torch.where(has, lo, 0.0), torch.where(has, hi, 0.0)


def _masked_quantiles(x, m, n, qs):
    """(B, len(qs)) percentiles over the valid values of each row (0 without any)."""
    B = x.shape[0]
    if x.shape[1] == 0:
        return x.new_zeros(B, len(qs))
    xs = torch.where(m, x, torch.finfo(x.dtype).max).sort(dim=1).values
    q = torch.as_tensor(qs, dtype=x.dtype, device=x.device)
    pos = q[None, :] * (n[:, None] - 1).clamp(min=0)
    lo = pos.floor().long()
    hi = torch.minimum(lo + 1, (n[:, None] - 1).clamp(min=0).long())
    frac = pos - lo.to(x.dtype)
    v = xs.gather(1, lo) * (1 - frac) + xs.gather(1, hi) * frac
    return torch.where(n[:, None] > 0, v, 0.0)


def _windows(x, m, w):
    """Moving average over w positions: (mean (B, S-w+1), valid (B, S-w+1)), a window valid
    when all its positions are."""
    mean = F.avg_pool1d((x * m.to(x.dtype))[:, None], w, 1)[:, 0]
    valid = F.avg_pool1d(m.to(x.dtype)[:, None], w, 1)[:, 0] > 1 - 1e-6
    return mean, valid


def _lag_pairs(x, m, lag):
    """Products of centred pairs lag apart: (Σ d_i d_{i+lag} / pairs) and pairs (B,)."""
    if x.shape[1] <= lag:
        z = x.new_zeros(x.shape[0])
        return z, z
    pm = (m[:, lag:] & m[:, :-lag]).to(x.dtype)
    return (x[:, lag:] * x[:, :-lag] * pm).sum(1) / pm.sum(1).clamp(min=1), pm.sum(1)


def track_statistics(x, m):
    """Statistics :data:`TRACK_STATS` of a track x (B, S) with valid positions m (B, S) -> (B, 27)."""
    n, mean, var = _masked_moments(x, m)
    lo, hi = _masked_extrema(x, m, n)
    out = [mean, var.sqrt(), lo, hi, _masked_quantiles(x, m, n, QUANTILES)]
    d = (x - mean[:, None]) * m.to(x.dtype)
    acf = []
    for lag in LAGS:
        c, pairs = _lag_pairs(d, m, lag)
        acf.append(torch.where((var > 1e-12) & (pairs > 0), c / var.clamp(min=1e-12), 0.0))
    out.append(torch.stack(acf, 1))
    if x.shape[1] > 1:
        g, gm = x[:, 1:] - x[:, :-1], m[:, 1:] & m[:, :-1]
        gn, _, gvar = _masked_moments(g, gm)
        gabs = (g.abs() * gm.to(x.dtype)).sum(1) / gn.clamp(min=1)
        out.append(torch.stack([gabs, gvar.sqrt()], 1))
    else:
        out.append(x.new_zeros(x.shape[0], 2))
    for w in SMOOTH:
        if x.shape[1] >= w:
            s, sm = _windows(x, m, w)
            sn, _, svar = _masked_moments(s, sm)
            slo, shi = _masked_extrema(s, sm, sn)
            out.append(torch.stack([slo, shi, svar.sqrt()], 1))
        else:
            out.append(x.new_zeros(x.shape[0], 3))
    return torch.cat([o if o.dim() == 2 else o[:, None] for o in out], dim=1)


class TrackStats(nn.Module):
    """Codes (B, L) -> track statistics (B, n_features), float32.

    Parameters
    ----------
    tables : list of (name, k, values)
        ``values`` (4**k,) the parameter of every k-mer, indexed with the first base most
        significant (A0 C1 G2 T3).
    curvature : dict or None
        ``roll``, ``tilt``, ``twist`` (16,) step parameters in degrees: the wedge-model
        curvature |Σ (tilt_i + i·roll_i)·exp(i·ψ_i)| over :data:`TURN` steps, ψ_i the
        accumulated twist (to the middle of step i).
    periodic : str or None
        Name of the track (in ``tables``) whose sliding-window power at :data:`PERIODS` is taken.
    entropy : bool
        Add the windowed Shannon entropy of base composition.
    electrostatics : dict or None
        The arguments of :class:`Electrostatics`: add the minor-groove potential profile
        at each ionic strength (its :data:`TRACK_STATS` and the minimum, maximum and mean
        over the whole sequence and each half).
    """

    def __init__(self, tables, curvature=None, periodic=None, entropy=True, electrostatics=None):
        super().__init__()
        self.names = [t[0] for t in tables]
        self.ks = [int(t[1]) for t in tables]
        for i, (_, k, v) in enumerate(tables):
            v = torch.as_tensor(v, dtype=torch.float32)
            if v.shape != (4 ** int(k),):
                raise ValueError(f"track {tables[i][0]!r}: {tuple(v.shape)} values for k = {k}, expected {4 ** int(k)}")
            self.register_buffer(f"track{i}", v, persistent=False)
        self.curvature = curvature is not None
        if self.curvature:
            for key in ("roll", "tilt", "twist"):
                self.register_buffer(f"curv_{key}", torch.as_tensor(curvature[key], dtype=torch.float64),
                                     persistent=False)
        self.periodic = self.names.index(periodic) if periodic is not None else None
        if self.periodic is not None:
            t = torch.arange(PERIOD_WINDOW, dtype=torch.float32)
            ker = torch.cat([torch.stack([torch.cos(2 * math.pi * t / p), torch.sin(2 * math.pi * t / p)])
                             for p in PERIODS])
            self.register_buffer("period_kernel", ker[:, None, :], persistent=False)
        self.entropy = bool(entropy)
        self.feature_names = [f"{n}_{s}" for n in self.names for s in TRACK_STATS]
        if self.curvature:
            self.feature_names += [f"curvature_{s}" for s in CURVATURE_STATS]
        if self.periodic is not None:
            self.feature_names += [f"{self.names[self.periodic]}_{s}" for s in PERIOD_STATS]
        if self.entropy:
            self.feature_names += list(ENTROPY_STATS)
        self.electrostatics = Electrostatics(**electrostatics) if electrostatics else None
        if self.electrostatics is not None:
            self.feature_names += self.electrostatics.feature_names
        self.n_features = len(self.feature_names)

    def _kmer_index(self, c, k):
        """Index (B, L-k+1) of the k-mer at every start and whether it has no N."""
        B, L = c.shape
        if L < k:
            return c.new_zeros(B, 0), torch.zeros(B, 0, dtype=torch.bool, device=c.device)
        idx = c.new_zeros(B, L - k + 1)
        ok = torch.ones(B, L - k + 1, dtype=torch.bool, device=c.device)
        for j in range(k):
            idx = idx * 4 + c[:, j:L - k + 1 + j].clamp(max=3)
            ok = ok & (c[:, j:L - k + 1 + j] < 4)
        return idx, ok

    def forward(self, codes):
        c = codes.long().clamp(max=4)
        B = c.shape[0]
        index = {k: self._kmer_index(c, k) for k in sorted(set(self.ks))}
        out = []
        tracks = []
        for i, k in enumerate(self.ks):
            idx, ok = index[k]
            x = getattr(self, f"track{i}")[idx]
            tracks.append((x, ok))
            out.append(track_statistics(x, ok))
        if self.curvature:
            out.append(self._curvature(*index[2]))
        if self.periodic is not None:
            out.append(self._periodicity(*tracks[self.periodic]))
        if self.entropy:
            out.append(self._entropy(c))
        if self.electrostatics is not None:
            out.append(self.electrostatics(c))
        return torch.cat(out, dim=1) if out else c.new_zeros(B, 0, dtype=torch.float32)

    def _curvature(self, idx, ok):
        B = idx.shape[0]
        if idx.shape[1] < TURN:
            return torch.zeros(B, len(CURVATURE_STATS), device=idx.device)
        okd = ok.to(torch.float64)
        om = torch.deg2rad(self.curv_twist[idx]) * okd
        psi = torch.cumsum(om, 1) - om / 2
        z = torch.complex(self.curv_tilt[idx] * okd, self.curv_roll[idx] * okd) * torch.exp(1j * psi)
        cz = torch.cat([z.new_zeros(B, 1), torch.cumsum(z, 1)], 1)
        kap = (cz[:, TURN:] - cz[:, :-TURN]).abs().float()                   # (B, S - TURN + 1)
        _, km = _windows(ok.float(), ok, TURN)
        n, mean, var = _masked_moments(kap, km)
        lo, hi = _masked_extrema(kap, km, n)
        out = [torch.stack([mean, var.sqrt(), lo, hi], 1), _masked_quantiles(kap, km, n, QUANTILES)]
        for w in CURVATURE_WINDOWS:
            if kap.shape[1] < w:
                out.append(kap.new_zeros(B, 5))
                continue
            m1, wm = _windows(kap, km, w)
            m2, _ = _windows(kap * kap, km, w)
            rms, v = m2.clamp(min=0).sqrt(), (m2 - m1 * m1).clamp(min=0)
            mx = F.max_pool1d(torch.where(km, kap, 0.0)[:, None], w, 1)[:, 0]
            wn, rms_mean, _ = _masked_moments(rms, wm)
            _, rms_max = _masked_extrema(rms, wm, wn)
            _, v_mean, _ = _masked_moments(v, wm)
            _, v_max = _masked_extrema(v, wm, wn)
            _, mx_mean, _ = _masked_moments(mx, wm)
            out.append(torch.stack([rms_mean, rms_max, v_mean, v_max, mx_mean], 1))
        return torch.cat(out, 1)

    def _periodicity(self, x, ok):
        B = x.shape[0]
        if x.shape[1] < PERIOD_WINDOW:
            return x.new_zeros(B, len(PERIOD_STATS))
        _, mean, _ = _masked_moments(x, ok)
        d = (x - mean[:, None]) * ok.to(x.dtype)
        o = F.conv1d(d[:, None], self.period_kernel)                        # (B, 2P, S - W + 1)
        _, wm = _windows(x, ok, PERIOD_WINDOW)
        out = []
        for j in range(len(PERIODS)):
            power = (o[:, 2 * j] ** 2 + o[:, 2 * j + 1] ** 2) / PERIOD_WINDOW
            n, pm, _ = _masked_moments(power, wm)
            _, px = _masked_extrema(power, wm, n)
            out += [pm, px]
        return torch.stack(out, 1)

    def _entropy(self, c):
        B, L = c.shape
        oh = F.one_hot(c, 5)[..., :4].transpose(1, 2).float()              # (B, 4, L), N = 0
        out = []
        for w in ENTROPY_WINDOWS:
            if L < w:
                out.append(oh.new_zeros(B, 4))
                continue
            p = F.avg_pool1d(oh, w, 1)
            ok = p.sum(1) > 1 - 1e-6
            H = -(p * torch.log2(p.clamp(min=1e-12))).sum(1)
            n, mean, var = _masked_moments(H, ok)
            lo, hi = _masked_extrema(H, ok, n)
            out.append(torch.stack([mean, lo, hi, var.sqrt()], 1))
        return torch.cat(out, 1)


class Electrostatics(nn.Module):
    """The screened-Coulomb potential of the phosphates in the minor groove of a coarse-grained
    B-DNA, base pair by base pair (descfeat's psi family, computed here in torch).

    Base-pair frames are rebuilt step by step (R_{j+1} = R_j·rot_s, o_{j+1} = o_j + R_j·shift_s,
    s the step of bases j, j+1; a step with N uses row 16). Every base pair carries two
    charges, at ``p1`` and ``p2`` of its frame; the potential at the sample point ``point``
    of base pair j is Ψ_j = scale · Σ_{|d| <= K} Σ exp(-κ r)/r over the two charges of base
    pair j + d (r at least ``r_min``), for each condition (κ, K, scale). Ψ_j is defined for
    K <= j < L' - K with base j in A/C/G/T, L' the sequence's length (its trailing N are
    taken to be padding).

    Parameters
    ----------
    rot : (17, 9) row-major step rotations; shift : (17, 3) step translations (Å)
    p1, p2, point : (3,) positions in the base-pair frame (Å)
    kappa : list of float, inverse Debye lengths (1/Å); cutoff : list of int, K (bp);
    scale : list of float, charge × Bjerrum length (kT/e · Å); r_min : float (Å)
    """

    def __init__(self, rot, shift, p1, p2, point, kappa, cutoff, scale, r_min):
        super().__init__()
        self.register_buffer("rot", torch.as_tensor(rot, dtype=torch.float64).reshape(17, 3, 3), persistent=False)
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float64), persistent=False)
        self.register_buffer("points", torch.as_tensor([point, p1, p2], dtype=torch.float64), persistent=False)
        self.kappa, self.cutoff, self.scale = [float(k) for k in kappa], [int(k) for k in cutoff], \
            [float(v) for v in scale]
        self.r_min = float(r_min)
        self.feature_names = []
        for c in range(len(self.kappa)):
            self.feature_names += [f"psi{c}_{s}" for s in TRACK_STATS]
            self.feature_names += [f"psi{c}_{w}_{s}" for w in ("w0", "w1", "w2") for s in ("min", "max", "mean")]

    def frames(self, c):
        """codes (B, L) -> positions (B, L, 3, 3) of the sample point and the two charges, float64."""
        B, L = c.shape
        step = torch.where((c[:, :-1] > 3) | (c[:, 1:] > 3), 16, c[:, :-1].clamp(max=3) * 4 + c[:, 1:].clamp(max=3))
        R = torch.eye(3, dtype=torch.float64, device=c.device).expand(B, 3, 3)
        o = torch.zeros(B, 3, dtype=torch.float64, device=c.device)
        Rs, os_ = [R], [o]
        rot, shift = self.rot[step], self.shift[step]                       # (B, L-1, 3, 3), (B, L-1, 3)
        for j in range(L - 1):
            o = o + (R @ shift[:, j, :, None])[..., 0]
            R = R @ rot[:, j]
            Rs.append(R)
            os_.append(o)
        R, o = torch.stack(Rs, 1), torch.stack(os_, 1)                      # (B, L, 3, 3), (B, L, 3)
        return o[:, :, None, :] + torch.einsum("blik,qk->blqi", R, self.points)

    def profiles(self, c):
        """codes (B, L) -> Ψ (C, B, L) float64 and its validity (C, B, L) bool."""
        c = c.long().clamp(max=4)
        B, L = c.shape
        base = c < 4
        idx = torch.arange(L, device=c.device)
        length = torch.where(base, idx + 1, 0).amax(1)                     # last A/C/G/T + 1
        out, ok = [], []
        pos = self.frames(c) if L > 1 else None
        for kappa, K, scale in zip(self.kappa, self.cutoff, self.scale):
            prof = torch.zeros(B, L, dtype=torch.float64, device=c.device)
            valid = base & (idx >= K) & (idx < length[:, None] - K)
            n = L - 2 * K
            if n > 0 and pos is not None:
                s = pos[:, K:K + n, 0]
                acc = torch.zeros(B, n, dtype=torch.float64, device=c.device)
                for d in range(-K, K + 1):
                    for q in (1, 2):
                        r = (pos[:, K + d:K + d + n, q] - s).norm(dim=-1).clamp(min=self.r_min)
                        acc = acc + torch.exp(-kappa * r) / r
                prof[:, K:K + n] = scale * acc
            out.append(prof)
            ok.append(valid)
        return torch.stack(out), torch.stack(ok)

    def forward(self, codes):
        prof, ok = self.profiles(codes)
        B, L = codes.shape
        idx = torch.arange(L, device=codes.device)
        length = torch.where(codes.long() < 4, idx + 1, 0).amax(1)
        half = [idx[None, :] < (length[:, None] + 1) // 2, idx[None, :] >= length[:, None] // 2]
        out = []
        for x, m in zip(prof.float(), ok):
            out.append(track_statistics(x, m))
            for w in (m, m & half[0], m & half[1]):
                n, mean, _ = _masked_moments(x, w)
                lo, hi = _masked_extrema(x, w, n)
                out.append(torch.stack([lo, hi, mean], 1))
        return torch.cat(out, 1)
