"""PhysInformer: sequence -> every biophysical descriptor of descfeat.

Architecture::

    codes (B, L) A0 C1 G2 T3 N4
      -> Embedding(5, embed)
      -> PWM convolution stem: Conv1d k = 11, 9, 7 (channels[0..2]) + BatchNorm + ReLU + Dropout
      -> 2 x SSMLayer: discretised state-space system, GELU, Linear, Dropout, residual, LayerNorm
      -> DualPathPyramid: local (Conv k5 + BN + ReLU, MaxPool 2, Conv k3 + BN + ReLU) and
         global (multi-head self-attention) paths, each pooled by mean and max over
         positions, fused by Linear + LayerNorm + ReLU + Dropout -> z (B, pyramid_hidden)
      -> PhysicsRouter: one head per family (pwm, bend, stiff, thermo, entropy, advanced,
         global), chosen by the descriptor name's prefix; each head sees z and the SSM
         feature map and returns a mean and a log-variance for each of its descriptors
      -> mean (B, d), log-variance (B, d), in train-standardised units

State-space layer. Per layer, with state size N and width d:
``x[k+1] = Ā x[k] + B̄ u[k]``, ``y[k] = C x[k] + D u[k]``, ``Ā = exp(ΔA)``,
``B̄ = (Ā - I) A⁻¹ B`` (zero-order hold), Δ = softplus(δ) > 0 learnable (initial 0.01).
With an unconstrained random A, exp(ΔA) may have eigenvalues above 1 in modulus and the
state can grow without bound over 230 steps, and A may be singular. Here A is
parametrised as ``A = -(M Mᵀ + εI) + (W - Wᵀ)`` (ε = 0.1): its symmetric part is
negative definite, so every eigenvalue has real part <= -ε (A is invertible,
||A⁻¹|| <= 1/ε) and ||exp(ΔA)||₂ <= exp(-εΔ) < 1 (the discretised system is a
contraction for every Δ > 0); the skew part W - Wᵀ adds rotations (oscillating modes).
The output sequence is computed in O(L log L) as a causal FFT convolution in state
space: with powers Āᵐ (m < L, by repeated squaring), ``x[k] = Σ_{j<k} Ā^{k-1-j} B̄ u[j]``;
:meth:`SSMLayer.recurrence` is the sequential O(L) reference. The SSM runs in float32
even under bf16 autocast.

Heads, each ending in a mean Linear and a bias-free, zero-initialised
log-variance Linear:

pwm       Conv1d(k7) over the SSM map + ReLU, max and mean pooled, with z -> Linear + ReLU
          (additional convolutions for motif refinement)
bend      Linear + SiLU + Dropout + Linear + SiLU (smooth activations)
stiff     Linear + GELU + symmetric Linear (weight (W + Wᵀ)/2, a self-adjoint map like a
          stiffness matrix) + GELU
thermo    Linear + GELU + Linear + GELU; for each (ΔH, ΔS, ΔG) triple it predicts ΔH and ΔS
          and derives ΔG = ΔH - T·ΔS·f in original units (T = 310.15 K, f = 1/1000 for ΔS in
          cal/mol/K and ΔH, ΔG in kcal/mol), so the identity holds exactly; other thermo
          descriptors are predicted directly
entropy   Linear + ReLU + Dropout, then 16 softmax distributions over 8 bins whose Shannon
          entropies join the hidden features (information-theoretic operations)
advanced  1x1 conv of the SSM map, average-pooled at scales 1, 5 and 25, each max and mean
          pooled, with z -> Linear + GELU (multi-scale extraction)
global    Linear + ReLU + Dropout + Linear + ReLU (descriptors of no known family)

Uncertainty. The log-variance of descriptor j for
sequence x is ``clamp(s_j + δ_j(x), -10, 10)``: s_j is a learnable per-descriptor
log-variance (``log_vars``; exp(-s_j) is the descriptor's learned weight in
the loss) and δ_j(x) the head's heteroscedastic term. The loss is the Gaussian negative
log-likelihood, 0.5·[log 2π + lv + (y - μ)² e^(-lv)], averaged over observed values.

Physics prior (``physics_prior``, :class:`PhysicsPrior`): a fixed ridge regression of every
descriptor on k-mer frequencies and motif site statistics, fitted once on the train rows; the
network's mean output is added to its prediction (docs/decisions/0004-physinformer-physics-prior.md).

Auxiliary heads, trained separately on detached inputs: :class:`AuxHeadA`
(an own CNN sequence encoder + the real descriptors) and :class:`AuxHeadB` (descriptors
only) predict measured activities.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PREDICTOR = "toolkit.train.serve:PhysInformerPredictor"
"""The class ``predict`` serves this family's model directories with (module:class; see
toolkit.train.serve.Predictor for what it offers)."""

FAMILIES = ("pwm", "bend", "stiff", "thermo", "entropy", "advanced", "global")
"""Router families, in head order; a name's prefix before the first '_' picks its head."""

THERMO_STATS = ("total", "mean")
"""Statistics for which descfeat's ΔG = ΔH - T·ΔS/1000 holds per sequence (sums and
means of the per-step values are linear; variances, minima, maxima and percentiles are not)."""

TEMPERATURE_K = 310.15
ENTROPY_FACTOR = 1e-3           # ΔS in cal/mol/K, ΔH and ΔG in kcal/mol
LOGVAR_RANGE = (-10.0, 10.0)

PRESETS = {
    # the full-size model, for a GPU
    "full": {"embed": 64, "channels": [128, 192, 256], "kernels": [11, 9, 7], "d_state": 16, "ssm_layers": 2,
             "pyramid_hidden": 128, "attn_heads": 8, "head_hidden": 256, "dropout": 0.1,
             "aux_embed": 64, "aux_channels": [128, 256], "aux_hidden": 256,
             "batch_size": 32, "epochs": 50, "lr": 1e-4, "physics_prior": True, "prior_kmax": 5, "prior_tracks": True, "attn_dropout": 0.1},
    # minutes on a CPU for a few thousand sequences
    "cpu": {"embed": 16, "channels": [32, 48, 64], "kernels": [11, 9, 7], "d_state": 8, "ssm_layers": 2,
            "pyramid_hidden": 64, "attn_heads": 4, "head_hidden": 64, "dropout": 0.1,
            "aux_embed": 16, "aux_channels": [32, 64], "aux_hidden": 64,
            "batch_size": 64, "epochs": 8, "lr": 3e-4, "physics_prior": True, "prior_kmax": 5, "prior_tracks": True, "attn_dropout": 0.0},
}


def family_of(name):
    """Router family of a descriptor name: its prefix before '_' if known, else 'global'."""
    head = name.split("_", 1)[0].lower()
    return head if head in FAMILIES else "global"


def route(names):
    """Indices of the descriptors each head predicts.

    Parameters
    ----------
    names : list of str, length d

    Returns
    -------
    dict family -> list of int (only families with descriptors, in FAMILIES order);
    every index 0..d-1 appears exactly once.
    """
    out = {f: [] for f in FAMILIES}
    for i, n in enumerate(names):
        out[family_of(n)].append(i)
    return {f: ix for f, ix in out.items() if ix}


def thermo_triples(names):
    """The (ΔH, ΔS, ΔG) descriptor triples the thermo head derives ΔG for.

    descfeat's thermo family computes per step ΔG = ΔH - 310.15·ΔS/1000; the identity
    carries over to ``thermo_total_*`` and ``thermo_mean_*`` (linear statistics), and only
    to those. A triple is used when all three names are present.

    Returns
    -------
    list of [i_dH, i_dS, i_dG] (indices into ``names``)
    """
    pos = {n: i for i, n in enumerate(names)}
    out = []
    for s in THERMO_STATS:
        trio = [f"thermo_{s}_dH", f"thermo_{s}_dS", f"thermo_{s}_dG"]
        if all(t in pos for t in trio):
            out.append([pos[t] for t in trio])
    return out


# ---------------------------------------------------------------------- trunk

class PWMConvStem(nn.Module):
    """Embedding of A/C/G/T/N and three Conv1d + BatchNorm + ReLU + Dropout blocks.

    Input codes (B, L) long/uint8; output (B, channels[-1], L).
    """

    def __init__(self, embed=64, channels=(128, 192, 256), kernels=(11, 9, 7), dropout=0.1):
        super().__init__()
        self.embedding = nn.Embedding(5, embed)
        blocks, cin = [], embed
        for cout, k in zip(channels, kernels):
            blocks.append(nn.Sequential(nn.Conv1d(cin, cout, k, padding=(k - 1) // 2), nn.BatchNorm1d(cout),
                                        nn.ReLU(), nn.Dropout(dropout)))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.out_dim = cin

    def forward(self, codes):
        return self.blocks(self.embedding(codes.long()).transpose(1, 2))


class SSMLayer(nn.Module):
    """Discretised linear state-space layer with GELU, projection, residual and LayerNorm.

    Parameters
    ----------
    d_model : int
        Width d of the input and output (B, L, d).
    d_state : int
        State size N.
    dropout : float
    delta_init : float
        Initial step Δ.
    eps : float
        Lower bound of -Re(eig A): keeps A invertible and exp(ΔA) contracting.
    """

    def __init__(self, d_model, d_state=16, dropout=0.1, delta_init=0.01, eps=0.1):
        super().__init__()
        N = d_state
        self.eps = eps
        self.M = nn.Parameter(torch.randn(N, N) / math.sqrt(N))
        self.W = nn.Parameter(torch.randn(N, N) / math.sqrt(N))
        self.B = nn.Parameter(torch.randn(N, d_model) / math.sqrt(d_model))
        self.C = nn.Parameter(torch.randn(d_model, N) / math.sqrt(N))
        self.D = nn.Parameter(torch.randn(d_model, d_model) / d_model)
        self.delta_raw = nn.Parameter(torch.tensor([math.log(math.expm1(delta_init))]))
        self.output_projection = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def A(self):
        """The continuous-time state matrix (N, N): -(M Mᵀ + εI) + (W - Wᵀ)."""
        N = self.M.shape[0]
        eye = torch.eye(N, dtype=self.M.dtype, device=self.M.device)
        return -(self.M @ self.M.T + self.eps * eye) + (self.W - self.W.T)

    def discretise(self):
        """(Ā, B̄): Ā = exp(ΔA) (N, N), B̄ = (Ā - I) A⁻¹ B (N, d)."""
        A = self.A()
        delta = F.softplus(self.delta_raw)
        Abar = torch.linalg.matrix_exp(delta * A)
        eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
        Bbar = (Abar - eye) @ torch.linalg.solve(A, self.B)
        return Abar, Bbar

    def ssm(self, u):
        """y = SSM(u) by causal FFT convolution in state space; u (B, L, d) -> (B, L, d)."""
        Bn, L, _ = u.shape
        Abar, Bbar = self.discretise()
        N = Abar.shape[0]
        v = u @ Bbar.T                                           # (B, L, N): B̄ u[j]
        # powers Ā^m, m = 0..L-1, by repeated squaring
        P = torch.eye(N, dtype=Abar.dtype, device=Abar.device)[None]
        Ak = Abar
        while P.shape[0] < L:
            P = torch.cat([P, P @ Ak])
            Ak = Ak @ Ak
        # kernel K[0] = 0, K[m] = Ā^(m-1): x[k] = Σ_m K[m] v[k-m]
        K = torch.cat([torch.zeros_like(P[:1]), P[:L - 1]]) if L > 1 else torch.zeros_like(P[:1])
        n = 2 * L
        Kf = torch.fft.rfft(K, n=n, dim=0)                        # (F, N, N)
        vf = torch.fft.rfft(v, n=n, dim=1)                        # (B, F, N)
        x = torch.fft.irfft(torch.einsum("fij,bfj->bfi", Kf, vf), n=n, dim=1)[:, :L]
        return x @ self.C.T + u @ self.D.T

    def recurrence(self, u):
        """The same output by the sequential recurrence (reference, O(L) Python steps)."""
        Abar, Bbar = self.discretise()
        x = torch.zeros(u.shape[0], Abar.shape[0], dtype=u.dtype, device=u.device)
        ys = []
        for k in range(u.shape[1]):
            ys.append(x @ self.C.T + u[:, k] @ self.D.T)
            x = x @ Abar.T + u[:, k] @ Bbar.T
        return torch.stack(ys, dim=1)

    def forward(self, h):
        """h (B, L, d) -> LayerNorm(h + Dropout(Linear(GELU(SSM(h))))), (B, L, d)."""
        with torch.autocast(h.device.type, enabled=False):
            y = self.ssm(h.float())
        y = self.dropout(self.output_projection(F.gelu(y)))
        return self.norm(h + y.to(h.dtype))


class DualPathPyramid(nn.Module):
    """Local conv/pool path and global attention path, pooled and fused.

    Input (B, L, d_input); output (B, d_hidden).
    """

    def __init__(self, d_input, d_hidden=128, heads=8, dropout=0.1, attn_dropout=None):
        super().__init__()
        self.local_path = nn.Sequential(
            nn.Conv1d(d_input, d_hidden, 5, padding=2), nn.BatchNorm1d(d_hidden), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(d_hidden, d_hidden, 3, padding=1), nn.BatchNorm1d(d_hidden), nn.ReLU())
        # dropout on the attention weights (B·heads·L² random numbers a step) also rules out the fused
        # attention kernels on a CPU, hence a separate ``attn_dropout`` (0 in the cpu preset)
        self.global_path = nn.MultiheadAttention(d_input, heads, dropout=dropout if attn_dropout is None else attn_dropout,
                                                 batch_first=True)
        self.fusion = nn.Sequential(nn.Linear(2 * (d_input + d_hidden), d_hidden), nn.LayerNorm(d_hidden), nn.ReLU(),
                                    nn.Dropout(dropout))
        self.out_dim = d_hidden

    def forward(self, h):
        loc = self.local_path(h.transpose(1, 2))                          # (B, d_hidden, L/2)
        glo, _ = self.global_path(h, h, h, need_weights=False)            # (B, L, d_input)
        pooled = [loc.mean(-1), loc.amax(-1), glo.mean(1), glo.amax(1)]
        return self.fusion(torch.cat(pooled, dim=1))


# ---------------------------------------------------------------------- heads

class SymmetricLinear(nn.Module):
    """Square Linear layer whose weight is symmetric: (W + Wᵀ)/2."""

    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d, d))
        self.bias = nn.Parameter(torch.zeros(d))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x):
        return F.linear(x, 0.5 * (self.weight + self.weight.T), self.bias)


class PropertyHead(nn.Module):
    """A family head: ``features(z, H)`` (B, f), then mean and log-variance Linears.

    Parameters
    ----------
    family : str, one of FAMILIES
    d_in : int, width of the fused vector z
    c_map : int, channels of the SSM feature map H (B, c_map, L)
    n_out : int, descriptors of this head
    hidden : int
    dropout : float
    """

    def __init__(self, family, d_in, c_map, n_out, hidden=256, dropout=0.1):
        super().__init__()
        self.family = family
        h = hidden
        if family == "pwm":
            self.conv = nn.Sequential(nn.Conv1d(c_map, h, 7, padding=3), nn.ReLU())
            self.mlp = nn.Sequential(nn.Linear(2 * h + d_in, h), nn.ReLU(), nn.Dropout(dropout))
            f = h
        elif family == "bend":
            self.mlp = nn.Sequential(nn.Linear(d_in, h), nn.SiLU(), nn.Dropout(dropout), nn.Linear(h, h), nn.SiLU())
            f = h
        elif family == "stiff":
            self.mlp = nn.Sequential(nn.Linear(d_in, h), nn.GELU(), nn.Dropout(dropout), SymmetricLinear(h), nn.GELU())
            f = h
        elif family == "thermo":
            self.mlp = nn.Sequential(nn.Linear(d_in, h), nn.GELU(), nn.Dropout(dropout), nn.Linear(h, h), nn.GELU())
            f = h
        elif family == "entropy":
            self.groups, self.bins = 16, 8
            self.mlp = nn.Sequential(nn.Linear(d_in, h), nn.ReLU(), nn.Dropout(dropout))
            self.logits = nn.Linear(h, self.groups * self.bins)
            f = h + self.groups
        elif family == "advanced":
            hc = max(8, h // 2)
            self.scales = (1, 5, 25)
            self.reduce = nn.Sequential(nn.Conv1d(c_map, hc, 1), nn.ReLU())
            self.mlp = nn.Sequential(nn.Linear(2 * hc * len(self.scales) + d_in, h), nn.GELU(), nn.Dropout(dropout))
            f = h
        else:
            self.mlp = nn.Sequential(nn.Linear(d_in, h), nn.ReLU(), nn.Dropout(dropout), nn.Linear(h, h), nn.ReLU())
            f = h
        self.mean = nn.Linear(f, n_out)
        self.logvar = nn.Linear(f, n_out, bias=False)
        nn.init.zeros_(self.logvar.weight)

    def features(self, z, H):
        """z (B, d_in), H (B, c_map, L) -> (B, f)."""
        fam = self.family
        if fam == "pwm":
            c = self.conv(H)
            return self.mlp(torch.cat([c.amax(-1), c.mean(-1), z], dim=1))
        if fam == "entropy":
            h = self.mlp(z)
            logp = F.log_softmax(self.logits(h).float().view(-1, self.groups, self.bins), dim=-1)
            ent = -(logp.exp() * logp).sum(-1)                                # (B, groups), nats
            return torch.cat([h, ent.to(h.dtype)], dim=1)
        if fam == "advanced":
            r = self.reduce(H)
            parts = []
            for s in self.scales:
                p = F.avg_pool1d(r, s, stride=s, ceil_mode=True) if s > 1 and r.shape[-1] >= s else r
                parts += [p.amax(-1), p.mean(-1)]
            return self.mlp(torch.cat(parts + [z], dim=1))
        return self.mlp(z)

    def forward(self, z, H, base=None):
        """Returns (mean, log-variance offset), each (B, n_out), standardised units; ``base``
        (B, n_out), the physics prior's prediction, is added to the mean."""
        f = self.features(z, H)
        mu = self.mean(f)
        return (mu if base is None else mu.float() + base), self.logvar(f)


class ThermoHead(PropertyHead):
    """The thermo head with ΔG derived from predicted ΔH and ΔS.

    For each triple (local indices h, s, g) the mean outputs at h and s are the
    standardised ΔH and ΔS; ΔG in original units is ΔH - T·f·ΔS, standardised with the
    ΔG scaler. The train scalers of the triples are buffers (saved in model.pt), set by
    :meth:`set_scalers`. Log-variances are predicted for all outputs, ΔG included.
    """

    def __init__(self, d_in, c_map, n_out, triples, hidden=256, dropout=0.1, temperature=TEMPERATURE_K,
                 entropy_factor=ENTROPY_FACTOR):
        super().__init__("thermo", d_in, c_map, n_out, hidden, dropout)
        self.coef = float(temperature) * float(entropy_factor)
        k = len(triples)
        self.register_buffer("triples", torch.as_tensor(triples, dtype=torch.long).reshape(k, 3))
        self.register_buffer("tri_mean", torch.zeros(k, 3))
        self.register_buffer("tri_sd", torch.ones(k, 3))

    def set_scalers(self, mean, sd):
        """mean, sd : array-likes (k, 3), original-unit train mean and SD of (ΔH, ΔS, ΔG)."""
        with torch.no_grad():
            self.tri_mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(self.tri_mean.shape))
            self.tri_sd.copy_(torch.as_tensor(sd, dtype=torch.float32).reshape(self.tri_sd.shape))

    def forward(self, z, H, base=None):
        """As PropertyHead.forward; ΔG is derived after ``base`` is added to ΔH and ΔS."""
        f = self.features(z, H)
        mu, lv = self.mean(f), self.logvar(f)
        if base is not None:
            mu = mu.float() + base
        if self.triples.shape[0]:
            mu = mu.float()
            h, s, g = self.triples[:, 0], self.triples[:, 1], self.triples[:, 2]
            dH = mu[:, h] * self.tri_sd[:, 0] + self.tri_mean[:, 0]
            dS = mu[:, s] * self.tri_sd[:, 1] + self.tri_mean[:, 1]
            zG = (dH - self.coef * dS - self.tri_mean[:, 2]) / self.tri_sd[:, 2]
            mu = mu.index_copy(1, g, zG)
        return mu, lv


# ---------------------------------------------------------------------- physics prior

PWM_STATS = ("max", "mean", "var", "count", "weight", "log2_weight", "entropy", "top_mean")
"""Per-motif site statistics :class:`PhysicsPrior` computes (the quantities of descfeat's pwm
family: best site, mean and variance of the site scores, sites at p < 1e-4, Z = sum 2^s,
log2 Z, the Boltzmann entropy of binding over sites, mean of the ``top_k`` best sites)."""


class PhysicsPrior(nn.Module):
    """The part of the descriptors that follows from the sequence in closed form, as a
    fixed layer: features of the sequence that the biophysics names, and a ridge
    regression of every descriptor on them, fitted once on the train rows.

    Features Φ(x), per sequence (windows holding N, e.g. the N padding of a shorter
    sequence, are left out of every statistic):

    * strand-summed k-mer frequencies, k = 1..kmax (each k-mer and its reverse
      complement one feature): every descriptor that is a sum or mean of per-step
      nearest-neighbour parameters (thermodynamic totals and means, mean twist, roll,
      stacking energy, ...) is exactly linear in the dinucleotide frequencies;
    * for each motif (log-odds matrix in bits, both strands), the statistics of its
      site scores s_i named in :data:`PWM_STATS`;
    * with ``tracks``, the statistics of biophysical parameter tracks along the sequence
      (:class:`toolkit.models.tracks.TrackStats`: spreads, percentiles, windowed extrema,
      autocorrelations, curvature, periodicity, windowed entropy), which most descriptors
      outside the motif family are statistics of.

    Output: ``coef`` · standardise(Φ(x)) + ``bias`` (B, n_out) in the model's
    (train-standardised) descriptor units; the network adds what is left.
    ``coef``, ``bias`` and the feature scalers are buffers set by :meth:`set_ridge`
    (saved in model.pt, never trained). Φ is also returned, standardised, for the
    heads to use non-linearly.

    Parameters
    ----------
    n_out : int
        Descriptors predicted.
    kmax : int
        Longest k-mer counted (0: none).
    motifs : list of (lod, threshold)
        ``lod`` (width, 4) log-odds matrix in bits (A C G T), ``threshold`` the score at
        and above which a site counts as high-affinity (inf: never).
    top_k : int
        Sites averaged by the ``top_mean`` statistic.
    tracks : dict or None
        ``tables`` (list of [name, k, values (4**k,)]), ``curvature`` (dict of roll, tilt,
        twist (16,) in degrees, or None), ``periodic`` (a table name or None), ``entropy``
        (bool, default true) and ``electrostatics`` (dict or None): the arguments of
        :class:`toolkit.models.tracks.TrackStats`.
    """

    def __init__(self, n_out, kmax=5, motifs=(), top_k=5, tracks=None):
        super().__init__()
        from .tracks import TrackStats

        self.tracks = None if not tracks else TrackStats(
            [tuple(t) for t in tracks["tables"]], tracks.get("curvature"), tracks.get("periodic"),
            entropy=tracks.get("entropy", True), electrostatics=tracks.get("electrostatics"))
        self.kmax, self.top_k = int(kmax), int(top_k)
        self.n_motifs = len(motifs)
        self._canon = []
        for k in range(1, self.kmax + 1):
            codes = np.arange(4 ** k)
            digits = (codes[:, None] // 4 ** np.arange(k - 1, -1, -1)[None, :]) % 4
            rc = ((3 - digits)[:, ::-1] * 4 ** np.arange(k - 1, -1, -1)[None, :]).sum(axis=1)
            canon = np.minimum(codes, rc)
            _, col = np.unique(canon, return_inverse=True)       # k-mer -> its pair's column
            self.register_buffer(f"pair{k}", torch.as_tensor(col, dtype=torch.long), persistent=False)
            self._canon.append(int(col.max()) + 1)
        width = max((np.asarray(m[0]).shape[0] for m in motifs), default=1)
        w = np.zeros((2 * self.n_motifs, 4, width), dtype=np.float32)
        lens = np.zeros(self.n_motifs, dtype=np.int64)
        thr = np.zeros(self.n_motifs, dtype=np.float32)
        for k, (lod, t) in enumerate(motifs):
            lod = np.asarray(lod, dtype=np.float64)
            lens[k] = lod.shape[0]
            w[k, :, :lod.shape[0]] = lod.T
            w[self.n_motifs + k, :, :lod.shape[0]] = lod[::-1, ::-1].T    # reverse-complement matrix
            thr[k] = t if np.isfinite(t) else np.float32(3e38)
        self.register_buffer("pwm", torch.as_tensor(w), persistent=False)
        self.register_buffer("pwm_len", torch.as_tensor(lens), persistent=False)
        self.register_buffer("pwm_thr", torch.as_tensor(thr), persistent=False)
        self.n_features = sum(self._canon) + len(PWM_STATS) * self.n_motifs + \
            (self.tracks.n_features if self.tracks is not None else 0)
        self.register_buffer("feat_mean", torch.zeros(self.n_features))
        self.register_buffer("feat_sd", torch.ones(self.n_features))
        self.register_buffer("coef", torch.zeros(self.n_features, n_out))
        self.register_buffer("bias", torch.zeros(n_out))

    @classmethod
    def from_config(cls, prior, n_out):
        """The prior a config's ``model.prior`` entry describes (``kmax``, ``top_k``,
        ``motifs`` as [{lod, threshold}] with threshold None for never, ``tracks``)."""
        motifs = [(m["lod"], float("inf") if m["threshold"] is None else m["threshold"])
                  for m in prior.get("motifs", [])]
        return cls(n_out, int(prior.get("kmax", 5)), motifs, int(prior.get("top_k", 5)), prior.get("tracks"))

    def set_ridge(self, feat_mean, feat_sd, coef, bias):
        """Feature scalers (F,), ridge weights (F, n_out) on standardised features, bias (n_out,)."""
        with torch.no_grad():
            for name, v in (("feat_mean", feat_mean), ("feat_sd", feat_sd), ("coef", coef), ("bias", bias)):
                getattr(self, name).copy_(torch.as_tensor(np.asarray(v), dtype=torch.float32))

    def features(self, codes):
        """codes (B, L) A0 C1 G2 T3 N4 -> raw features Φ (B, F) float32 (see the class)."""
        c = codes.long().clamp(max=4)
        B, L = c.shape
        base = c < 4                                                   # A/C/G/T, not N
        out = []
        idx = torch.zeros_like(c)
        ok = torch.ones_like(base)
        for k in range(1, self.kmax + 1):
            if k > L:
                out.append(torch.zeros(B, self._canon[k - 1], device=c.device))
                continue
            # index of the k-mer starting at each position (first base most significant), and
            # whether its k bases are all A/C/G/T
            idx = idx[:, :L - k + 1] * 4 + c[:, k - 1:].clamp(max=3)
            ok = ok[:, :L - k + 1] & base[:, k - 1:]
            pair = getattr(self, f"pair{k}")[idx] + torch.arange(B, device=c.device)[:, None] * self._canon[k - 1]
            counts = torch.zeros(B * self._canon[k - 1], device=c.device).index_add_(
                0, pair[ok], torch.ones(int(ok.sum()), device=c.device))
            n_win = ok.sum(dim=1).clamp(min=1).float()[:, None]       # windows without N
            out.append(counts.view(B, -1) / n_win)
        if self.n_motifs:
            x = F.one_hot(c, 5)[..., :4].transpose(1, 2).float()      # (B, 4, L), N = 0
            out.append(self._pwm_stats(x))
        if self.tracks is not None:
            out.append(self.tracks(c))
        return torch.cat(out, dim=1)

    def _pwm_stats(self, x):
        K, W = self.n_motifs, self.pwm.shape[-1]
        B, _, L = x.shape
        x = F.pad(x, (0, W - 1))                                       # every start 0..L-1 gets a window
        s = F.conv1d(x, self.pwm)                                      # (B, 2K, L)
        # a window is valid when its len_k bases are all A/C/G/T (so also inside the sequence)
        base = F.pad(x.sum(dim=1, keepdim=True), (0, 1))               # 1 at A/C/G/T, 0 at N and beyond
        run = torch.cumsum(F.pad(base, (1, 0)), dim=-1)                # run[i] = bases before i
        start = torch.arange(s.shape[-1], device=x.device)
        ends = start[None, :] + self.pwm_len[:, None]                  # (K, S)
        n_ok = run[:, 0][:, ends] - run[:, 0][:, start][:, None, :]    # (B, K, S)
        valid = (n_ok == self.pwm_len[None, :, None].to(n_ok.dtype)).repeat(1, 2, 1)   # (B, 2K, S)
        s = s.reshape(B, 2, K, -1).transpose(1, 2).reshape(B, K, -1)  # both strands of motif k side by side
        ok = valid.reshape(B, 2, K, -1).transpose(1, 2).reshape(B, K, -1)
        n = ok.sum(dim=-1).clamp(min=1).float()
        okf = ok.float()
        neg = torch.finfo(s.dtype).min
        smax = torch.where(ok, s, neg).amax(dim=-1)
        mean = (s * okf).sum(-1) / n
        var = (((s - mean[..., None]) ** 2) * okf).sum(-1) / n
        count = ((s >= self.pwm_thr[None, :, None]) & ok).float().sum(-1)
        ln2 = math.log(2.0)
        lse = torch.logsumexp(torch.where(ok, s * ln2, neg), dim=-1)   # ln Z
        weight = torch.exp(lse)
        p = torch.exp(torch.where(ok, s * ln2, neg) - lse[..., None])
        entropy = lse / ln2 - (p * torch.where(ok, s, 0.0)).sum(-1)
        k = min(self.top_k, s.shape[-1])
        top = torch.where(ok, s, neg).topk(k, dim=-1).values
        top_mean = torch.where(top > neg / 2, top, 0.0).sum(-1) / (top > neg / 2).sum(-1).clamp(min=1)
        any_ok = ok.any(dim=-1)
        stats = torch.stack([smax, mean, var, count, weight, lse / ln2, entropy, top_mean], dim=-1)   # (B, K, 8)
        stats = torch.where(any_ok[..., None], stats, torch.zeros_like(stats))
        return stats.reshape(B, -1)

    def forward(self, codes):
        """codes (B, L) -> (standardised Φ (B, F), prior (B, n_out)), float32."""
        phi = (self.features(codes) - self.feat_mean) / self.feat_sd
        return phi, phi @ self.coef + self.bias


# ---------------------------------------------------------------------- model

class PhysInformer(nn.Module):
    """Sequence -> (mean, log-variance) of every descriptor, train-standardised.

    Parameters
    ----------
    names : list of str
        Descriptor names (outputs, in this order); routed by :func:`family_of`.
    triples : list of [i_dH, i_dS, i_dG]
        Indices into ``names`` whose ΔG the thermo head derives (:func:`thermo_triples`).
    embed, channels, kernels, d_state, ssm_layers, pyramid_hidden, attn_heads, head_hidden, dropout
        Sizes (:data:`PRESETS`).
    temperature, entropy_factor : float
        ΔG = ΔH - temperature·entropy_factor·ΔS.
    grad_checkpoint : bool
        Recompute the stem and SSM activations in the backward pass (training only).
    tileformer : TileFormer or None
        A trained TileFormer, frozen (never trained, always in eval
        mode): its predictions (standardised) are concatenated to the pooled
        representation z that every head sees.
    prior : dict or None
        A :class:`PhysicsPrior` (``kmax``, ``motifs``: list of {"lod", "threshold"},
        ``top_k``): its prediction is added to every head's mean (the heads learn the
        rest, their mean layers start at zero) and its standardised features, through
        a Linear + GELU of width ``pyramid_hidden``, join z.
    """

    def __init__(self, names, triples=(), embed=64, channels=(128, 192, 256), kernels=(11, 9, 7), d_state=16,
                 ssm_layers=2, pyramid_hidden=128, attn_heads=8, head_hidden=256, dropout=0.1,
                 temperature=TEMPERATURE_K, entropy_factor=ENTROPY_FACTOR, grad_checkpoint=False, tileformer=None,
                 prior=None, attn_dropout=None):
        super().__init__()
        self.names = list(names)
        self.grad_checkpoint = grad_checkpoint
        self.stem = PWMConvStem(embed, channels, kernels, dropout)
        c = self.stem.out_dim
        self.ssm = nn.ModuleList(SSMLayer(c, d_state, dropout) for _ in range(ssm_layers))
        self.pyramid = DualPathPyramid(c, pyramid_hidden, attn_heads, dropout, attn_dropout)
        self.routes = route(self.names)
        fam_of = {i: f for f, ix in self.routes.items() for i in ix}
        local = {f: {i: j for j, i in enumerate(ix)} for f, ix in self.routes.items()}
        self.triples = [list(t) for t in triples]
        for t in self.triples:
            if any(fam_of[i] != "thermo" for i in t):
                raise ValueError("a ΔH/ΔS/ΔG triple must name thermo descriptors")
        self.tileformer = tileformer
        if tileformer is not None:
            tileformer.requires_grad_(False)
            tileformer.eval()
        d_z = pyramid_hidden + (len(tileformer.names) if tileformer is not None else 0)
        self.prior = None
        if prior is not None:
            self.prior = PhysicsPrior.from_config(prior, len(self.names))
            self.prior_proj = nn.Sequential(nn.Linear(self.prior.n_features, pyramid_hidden), nn.GELU())
            d_z += pyramid_hidden
        self.heads = nn.ModuleDict()
        for f, ix in self.routes.items():
            if f == "thermo":
                tri = [[local[f][i] for i in t] for t in self.triples]
                self.heads[f] = ThermoHead(d_z, c, len(ix), tri, head_hidden, dropout, temperature, entropy_factor)
            else:
                self.heads[f] = PropertyHead(f, d_z, c, len(ix), head_hidden, dropout)
            self.register_buffer(f"index_{f}", torch.as_tensor(ix, dtype=torch.long), persistent=False)
            if prior is not None:
                nn.init.zeros_(self.heads[f].mean.weight)
                nn.init.zeros_(self.heads[f].mean.bias)
        self.log_var_base = nn.Parameter(torch.zeros(len(self.names)))

    def set_scalers(self, mean, sd):
        """Give the thermo head the train scalers of its triples (mean, sd: (d,) original units)."""
        if "thermo" in self.heads and self.triples:
            self.heads["thermo"].set_scalers([[mean[i] for i in t] for t in self.triples],
                                             [[sd[i] for i in t] for t in self.triples])

    def train(self, mode=True):
        """Train/eval mode; a frozen TileFormer stays in eval mode."""
        super().train(mode)
        if self.tileformer is not None:
            self.tileformer.eval()
        return self

    def _trunk(self, codes):
        h = self.stem(codes).transpose(1, 2)                                # (B, L, C)
        for layer in self.ssm:
            h = layer(h)
        return h

    def forward(self, codes):
        """codes (B, L) uint8/long, A0 C1 G2 T3 N4 -> (mean, logvar), each float32 (B, d).

        logvar is clamped to [-10, 10]."""
        if self.grad_checkpoint and self.training and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            h = self.stem.embedding(codes.long()).transpose(1, 2)
            h = checkpoint(self.stem.blocks, h, use_reentrant=False).transpose(1, 2)
            for layer in self.ssm:
                h = checkpoint(layer, h, use_reentrant=False)
        else:
            h = self._trunk(codes)
        z = self.pyramid(h)
        if self.tileformer is not None:
            with torch.no_grad():
                psi, _ = self.tileformer(codes)
            z = torch.cat([z, psi.to(z.dtype)], dim=1)
        base = None
        if self.prior is not None:
            with torch.autocast(codes.device.type, enabled=False):      # site statistics need float32
                phi, base = self.prior(codes)
            z = torch.cat([z, self.prior_proj(phi).to(z.dtype)], dim=1)
        H = h.transpose(1, 2)
        B = codes.shape[0]
        mu = torch.zeros(B, len(self.names), device=codes.device)
        lv = torch.zeros(B, len(self.names), device=codes.device)
        for f, head in self.heads.items():
            ix = getattr(self, f"index_{f}")
            m, v = head(z, H, None if base is None else base[:, ix])
            mu = mu.index_copy(1, ix, m.float())
            lv = lv.index_copy(1, ix, v.float())
        lv = torch.clamp(lv + self.log_var_base, *LOGVAR_RANGE)
        return mu, lv


def gaussian_nll(mu, logvar, y, beta=0.0):
    """Mean Gaussian negative log-likelihood over the finite entries of y.

    0.5·[log 2π + lv + (y - μ)² e^(-lv)]; NaN targets are masked. All (B, d).

    ``beta`` > 0 gives the β-NLL of Seitzer et al. (2022, ICLR): each entry's NLL is
    weighted by σ^(2β) = e^(β·lv), held constant in the gradient. With β = 0 (the plain
    NLL) the mean of a descriptor the model already predicts well (small σ) gets a
    gradient 1/σ² times larger than a hard one's, so the easy descriptors take the shared
    layers; with β = 1 every descriptor's mean gets the squared-error gradient while the
    variances are still learned.

    Returns (loss scalar (β-weighted), per-descriptor NLL sum (d,) (plain), per-descriptor
    count (d,), per-descriptor squared-error sum (d,)); the last three detached.
    """
    mask = torch.isfinite(y)
    y0 = torch.where(mask, y, torch.zeros_like(y))
    r2 = (y0 - mu) ** 2
    nll = 0.5 * (math.log(2 * math.pi) + logvar + r2 * torch.exp(-logvar))
    m = mask.float()
    w = m if not beta else m * torch.exp(float(beta) * logvar.detach())
    loss = (nll * w).sum() / m.sum().clamp(min=1)
    return loss, (nll * m).sum(0).detach(), m.sum(0).detach(), (r2 * m).sum(0).detach()


# ---------------------------------------------------------------------- auxiliary heads

class AuxHeadA(nn.Module):
    """Head A: an own sequence encoder + the descriptors -> activities.

    Encoder: Embedding(5, embed), Conv1d(k11) + ReLU + MaxPool 2, Conv1d(k7) + ReLU,
    global average. Descriptors: Linear + ReLU + Dropout. Predictor: Linear + ReLU +
    Dropout + Linear + ReLU + Linear. Inputs codes (B, L), feats (B, d_feat).
    """

    def __init__(self, d_feat, n_out, embed=64, channels=(128, 256), hidden=256, dropout=0.1):
        super().__init__()
        c1, c2 = channels
        self.embedding = nn.Embedding(5, embed)
        self.encoder = nn.Sequential(nn.Conv1d(embed, c1, 11, padding=5), nn.ReLU(), nn.MaxPool1d(2),
                                     nn.Conv1d(c1, c2, 7, padding=3), nn.ReLU(), nn.AdaptiveAvgPool1d(1))
        self.features = nn.Sequential(nn.Linear(d_feat, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.predictor = nn.Sequential(nn.Linear(c2 + hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                       nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, n_out))

    def forward(self, codes, feats):
        s = self.encoder(self.embedding(codes.long()).transpose(1, 2)).squeeze(-1)
        return self.predictor(torch.cat([s, self.features(feats)], dim=1))


class AuxHeadB(nn.Module):
    """Head B: descriptors only -> activities (MLP with BatchNorm)."""

    def __init__(self, d_feat, n_out, hidden=256, dropout=0.1):
        super().__init__()
        self.stack = nn.Sequential(
            nn.Linear(d_feat, hidden), nn.ReLU(), nn.Dropout(dropout), nn.BatchNorm1d(hidden),
            nn.Linear(hidden, hidden // 2), nn.ReLU(), nn.Dropout(dropout), nn.BatchNorm1d(hidden // 2),
            nn.Linear(hidden // 2, max(1, hidden // 4)), nn.ReLU(), nn.Linear(max(1, hidden // 4), n_out))

    def forward(self, feats):
        return self.stack(feats)


class AuxHeads(nn.Module):
    """Heads A and B together; forward returns (pred_a, pred_b), each (B, n_out)."""

    def __init__(self, d_feat, n_out, embed=64, channels=(128, 256), hidden=256, dropout=0.1):
        super().__init__()
        self.a = AuxHeadA(d_feat, n_out, embed, channels, hidden, dropout)
        self.b = AuxHeadB(d_feat, n_out, hidden, dropout)

    def forward(self, codes, feats):
        return self.a(codes, feats), self.b(feats)


# ---------------------------------------------------------------------- build

def build(config):
    """The (untrained) model a resolved fit-physinformer config describes: a PhysInformer
    (with the frozen TileFormer of ``config["tileformer"]`` when present), or a TileFormer
    when ``model.arch`` is ``tileformer``."""
    from . import tileformer as tf

    m = config["model"]
    if m.get("arch") == "tileformer":
        return tf.build(config)
    inner = tf.build(config["tileformer"]["config"]) if config.get("tileformer") else None
    return PhysInformer(config["descriptors"], config.get("thermo_triples", []), embed=m["embed"],
                        channels=m["channels"], kernels=m["kernels"], d_state=m["d_state"],
                        ssm_layers=m["ssm_layers"], pyramid_hidden=m["pyramid_hidden"], attn_heads=m["attn_heads"],
                        head_hidden=m["head_hidden"], dropout=m["dropout"],
                        temperature=m.get("temperature_k", TEMPERATURE_K),
                        entropy_factor=m.get("entropy_factor", ENTROPY_FACTOR),
                        grad_checkpoint=bool(m.get("grad_checkpoint", False)), tileformer=inner,
                        prior=m.get("prior"), attn_dropout=m.get("attn_dropout"))


def build_aux(config):
    """The auxiliary heads of a config with activities (None without)."""
    acts = config.get("activities") or []
    if not acts:
        return None
    m = config["model"]
    return AuxHeads(len(config["descriptors"]), len(acts), m["aux_embed"], m["aux_channels"], m["aux_hidden"],
                    m["dropout"])


def no_decay(name, param):
    """Parameters AdamW must not decay: biases, norm parameters, per-descriptor log-variances."""
    return param.ndim <= 1 or name.endswith(".bias")


def masked_mse(pred, y):
    """Mean squared error of pred against y (same shape) over the finite entries of y (0 when none)."""
    mask = torch.isfinite(y)
    y0 = torch.where(mask, y, torch.zeros_like(y))
    m = mask.float()
    return (((pred - y0) ** 2) * m).sum() / m.sum().clamp(min=1)
