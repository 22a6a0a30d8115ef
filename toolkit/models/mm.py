"""The multi-modal accessibility transformer (sequence plus accessibility tracks), as a fit-cre network.

Architecture::

    one-hot (B, 4, L)
      -> k-mer patches: Conv1d(4 -> d_model, kernel = stride = ``patch``) + sinusoidal positions
      -> sequence encoder: ``seq_layers`` (4) pre-norm Transformer blocks, ``seq_heads`` (4)
    each numeric modality (a slice of the side vector: histone-mark or TF signal
    summaries, descfeat descriptors, a one-hot cell label):
      ``mlp``  Linear(dim -> ``mlp_hidden`` 128) + ReLU + Dropout + Linear(-> d_model)
      ``cnn``  the vector as a 1-channel track: 3 blocks of Conv1d(k5, ``cnn_filters`` 64) +
               BatchNorm + ReLU (+ MaxPool 2 while the track is long enough), global
               average, Linear(-> d_model)
      -> one token per modality, plus a learned modality-type embedding
    cross-modal fusion: the sequence tokens attend to the modality tokens
      (multi-head attention, residual, LayerNorm); then sequence and modality tokens
      together pass a ``fusion_layers`` (6) Transformer encoder (d_model 128, 8 heads,
      dropout 0.1)
    -> mean pooling over all tokens -> per task Linear(128 -> 64) + ReLU + Dropout + Linear(64 -> 1)

Its forward has the signature of the other fit-cre networks (one-hot, side vector),
so the fit-cre training loop (task types, masks, ensembles, collapse guard) applies
unchanged. Without modalities it is a sequence-only transformer.

A network of this kind can collapse to near-constant predictions; fit-cre guards against
it: it standardises every modality on the train split, z-scores regression targets, logs
the SD of validation predictions against the targets' SD each epoch and stops a collapsed
run (toolkit.train.cre, collapse guard).
"""

import torch
from torch import nn

from .tileformer import sinusoidal


class _MLPBranch(nn.Module):
    def __init__(self, dim, d_model, hidden, dropout):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, d_model))

    def forward(self, v):
        return self.net(v)


class _CNNBranch(nn.Module):
    def __init__(self, dim, d_model, filters, dropout):
        super().__init__()
        layers, cin, length = [], 1, dim
        for _ in range(3):
            layers += [nn.Conv1d(cin, filters, 5, padding=2), nn.BatchNorm1d(filters), nn.ReLU(), nn.Dropout(dropout)]
            if length >= 8:
                layers.append(nn.MaxPool1d(2))
                length //= 2
            cin = filters
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool1d(1))
        self.out = nn.Linear(filters, d_model)

    def forward(self, v):
        return self.out(self.net(v[:, None, :]).squeeze(-1))


class MMNet(nn.Module):
    """The multi-modal network: sequence transformer + modality branches + fusion + heads.

    Parameters
    ----------
    n_tasks : int
    modalities : list of dict
        ``{"name", "start", "end", "branch"}``: each modality's slice of the side vector
        and its branch (``mlp`` or ``cnn``).
    """

    def __init__(self, n_tasks, modalities=(), d_model=128, patch=6, seq_layers=4, seq_heads=4, fusion_layers=6,
                 fusion_heads=8, dropout=0.1, mlp_hidden=128, cnn_filters=64, head_hidden=64):
        super().__init__()
        self.d_model = d_model
        self.modalities = [dict(m) for m in modalities]
        self.patch = nn.Conv1d(4, d_model, patch, stride=patch)

        def encoder(n, heads):
            layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout, activation="gelu",
                                               batch_first=True, norm_first=True)
            return nn.TransformerEncoder(layer, n, enable_nested_tensor=False)

        self.seq_encoder = encoder(seq_layers, seq_heads)
        self.branches = nn.ModuleList(
            _CNNBranch(m["end"] - m["start"], d_model, cnn_filters, dropout) if m.get("branch") == "cnn"
            else _MLPBranch(m["end"] - m["start"], d_model, mlp_hidden, dropout) for m in self.modalities)
        self.type_embedding = nn.Parameter(torch.zeros(len(self.modalities) + 1, d_model))
        nn.init.normal_(self.type_embedding, std=0.02)
        if self.modalities:
            self.cross = nn.MultiheadAttention(d_model, fusion_heads, dropout=dropout, batch_first=True)
            self.cross_norm = nn.LayerNorm(d_model)
        self.fusion = encoder(fusion_layers, fusion_heads)
        self.norm = nn.LayerNorm(d_model)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(d_model, head_hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(head_hidden, 1))
            for _ in range(n_tasks))

    def forward(self, x, side=None):
        """x (B, 4, L) one-hot, side (B, S) standardised modalities -> (B, n_tasks)."""
        tok = self.patch(x).transpose(1, 2)                                   # (B, L // patch, d)
        tok = tok + sinusoidal(tok.shape[1], self.d_model, tok.device).to(tok.dtype) + self.type_embedding[0]
        tok = self.seq_encoder(tok)
        if self.modalities:
            mods = torch.stack([br(side[:, m["start"]:m["end"]]) for br, m in zip(self.branches, self.modalities)],
                               dim=1) + self.type_embedding[1:]
            att, _ = self.cross(tok, mods, mods, need_weights=False)
            tok = torch.cat([self.cross_norm(tok + att), mods], dim=1)
        z = self.norm(self.fusion(tok)).mean(dim=1)
        return torch.cat([head(z) for head in self.heads], dim=1)
