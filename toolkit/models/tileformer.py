"""TileFormer: sequence -> electrostatic-potential descriptors.

Architecture::

    codes (B, L) A0 C1 G2 T3 N4
      -> Embedding(5, d_model) x sqrt(d_model) + sinusoidal positional encoding
      -> n_layers pre-norm Transformer encoder blocks (n_heads, d_ff, GELU, dropout)
      -> LayerNorm, average pooling over positions
      -> mean head: Linear + GELU + Dropout + Linear  (d outputs)
         uncertainty head: Linear (zero-initialised, no bias) + a learnable
         per-descriptor log-variance, clamped to [-10, 10]
      -> mean (B, d), log-variance (B, d), train-standardised

The ``full`` preset (d_model 256, 8 heads, 6 layers, d_ff 1024) is sized for a GPU;
``cpu`` is small enough to train in minutes. The targets are descfeat's 18 ``psi_*``
descriptors (toolkit.features.psi): minimum, maximum and mean of the
Debye-Hückel potential in the minor groove at two ionic strengths, over the whole
sequence and each half. The model has PhysInformer's interface (``names``,
``forward(codes) -> (mean, logvar)``, ``set_scalers``), so fit-physinformer trains it
with the same Gaussian NLL, schedule, metrics and resume, and ``predict`` serves it.

A trained TileFormer can be frozen inside a PhysInformer
(``PhysInformer(tileformer=...)``), whose heads then also see its 18 predictions.

The positional encoding is computed for the input's length, so any L works; padding
N bases are ordinary tokens (code 4), as in PhysInformer.
"""

import math

import torch
from torch import nn

LOGVAR_RANGE = (-10.0, 10.0)

PRESETS = {
    # the full-size model, for a GPU
    "full": {"d_model": 256, "n_heads": 8, "n_layers": 6, "d_ff": 1024, "dropout": 0.1,
             "batch_size": 32, "epochs": 50, "lr": 1e-4,
             "physics_prior": True, "prior_kmax": 0, "prior_tracks": True},
    # minutes on a CPU for a few thousand sequences
    "cpu": {"d_model": 64, "n_heads": 4, "n_layers": 2, "d_ff": 128, "dropout": 0.1,
            "batch_size": 64, "epochs": 8, "lr": 3e-4,
            "physics_prior": True, "prior_kmax": 0, "prior_tracks": True},
}


def sinusoidal(length, d_model, device=None):
    """Sinusoidal positional encoding (Vaswani et al. 2017), (length, d_model) float32."""
    pos = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(length, d_model, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[:d_model // 2])
    return pe


class TileFormer(nn.Module):
    """Sequence -> (mean, log-variance) of each target (psi_* descriptors), standardised.

    Parameters
    ----------
    names : list of str
        Output names, in order.
    d_model, n_heads, n_layers, d_ff, dropout
        Sizes (:data:`PRESETS`).
    prior : dict or None
        The physics prior's config (``kmax``, ``tracks``; see
        toolkit.models.physinformer.PhysicsPrior): its ridge output is added to the mean
        head's (which starts at zero) and its standardised features reach the head
        through a Linear + GELU.
    """

    def __init__(self, names, d_model=256, n_heads=8, n_layers=6, d_ff=1024, dropout=0.1, prior=None):
        super().__init__()
        self.names = list(names)
        self.d_model = d_model
        self.embedding = nn.Embedding(5, d_model)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        d = len(self.names)
        self.prior = None
        d_z = d_model
        if prior is not None:
            from .physinformer import PhysicsPrior

            self.prior = PhysicsPrior.from_config(prior, d)
            self.prior_proj = nn.Sequential(nn.Linear(self.prior.n_features, d_model), nn.GELU())
            d_z += d_model
        self.mean_head = nn.Sequential(nn.Linear(d_z, d_model), nn.GELU(), nn.Dropout(dropout),
                                       nn.Linear(d_model, d))
        if prior is not None:
            nn.init.zeros_(self.mean_head[-1].weight)
            nn.init.zeros_(self.mean_head[-1].bias)
        self.logvar_head = nn.Linear(d_z, d, bias=False)
        nn.init.zeros_(self.logvar_head.weight)
        self.log_var_base = nn.Parameter(torch.zeros(d))
        self._pe = None

    def set_scalers(self, mean, sd):
        """Nothing to set (no derived outputs); PhysInformer's interface."""

    def _pos(self, length, device):
        if self._pe is None or self._pe.shape[0] < length or self._pe.device != device:
            self._pe = sinusoidal(max(length, 256), self.d_model, device)
        return self._pe[:length]

    def embed(self, codes):
        """The pooled sequence representation (B, d_model)."""
        x = self.embedding(codes.long()) * math.sqrt(self.d_model) + self._pos(codes.shape[1], codes.device)
        return self.norm(self.encoder(x)).mean(dim=1)

    def forward(self, codes):
        """codes (B, L) uint8/long, A0 C1 G2 T3 N4 -> (mean, logvar), each float32 (B, d)."""
        z = self.embed(codes)
        base = None
        if self.prior is not None:
            with torch.autocast(codes.device.type, enabled=False):
                phi, base = self.prior(codes)
            z = torch.cat([z, self.prior_proj(phi).to(z.dtype)], dim=1)
        mu = self.mean_head(z).float()
        if base is not None:
            mu = mu + base
        lv = torch.clamp(self.logvar_head(z).float() + self.log_var_base, *LOGVAR_RANGE)
        return mu, lv


def build(config):
    """The (untrained) TileFormer a resolved fit-physinformer config (arch tileformer) describes."""
    m = config["model"]
    return TileFormer(config["descriptors"], d_model=m["d_model"], n_heads=m["n_heads"], n_layers=m["n_layers"],
                      d_ff=m["d_ff"], dropout=m["dropout"], prior=m.get("prior"))
