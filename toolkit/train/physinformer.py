"""Training loop of PhysInformer, pure: arrays in,
a model directory's files out; the CLI does the reading and the messages.

Loss. Descriptors are standardised with the train split's mean and SD; the main
loss is the Gaussian negative log-likelihood of the model's (mean, clamped
log-variance) over the observed (finite) values (toolkit.models.physinformer).

Optimisation. AdamW (weight decay 0.01; none on biases, norms and the per-descriptor
log-variances) under the one-cycle schedule of torch's OneCycleLR, computed per step
by :func:`onecycle_lr` so that it resumes exactly: peak ``lr_mult`` (10) x the base
rate, ``pct_start`` (10%) warm-up from peak/``div_factor`` (25), cosine annealing to
peak/25/``final_div_factor`` (1e4); gradient norm clipped at ``clip`` (1.0); autocast
as the ``precision`` setting says (by default bf16 on a CUDA device that supports it).

Auxiliary heads. With activities, heads A and B are trained on the real,
standardised descriptors (and, for A, the sequence), inputs the main model never sees
in its graph, with their own AdamW at ``aux_lr_mult`` (0.1) x the main schedule's
current rate and MSE on train-standardised activities (missing values masked). They
are built, and run, inside a forked RNG seeded from the run seed and step, so the main
model's initialisation, dropout masks and batches are the same with or without them:
the main weights are identical (tested).

Selection. After every epoch the validation split is predicted; per descriptor:
Pearson, Spearman, R², MSE and MAE (standardised units); their mean, median and
quartiles overall and per family; the 5 best and 5 worst descriptors by Pearson; the
auxiliary heads' Pearson per activity. ``model.pt`` holds the weights of the epoch
with the lowest median over descriptors of the per-descriptor validation NLL (not the
mean over all values, which is logged as val_nll: a few heavy-tailed descriptors, such
as pwm_*_total_weight with val values hundreds of train SDs out, dominate it and make
it erratic); the ``best_k`` best
epochs are kept as checkpoint-best-<epoch>.pt; val_descriptors.tsv has the best
epoch's per-descriptor metrics and, with activities, aux.pt the auxiliary heads of that
same epoch (PhysInformerPredictor.predict_activities serves them).

Processes (torchrun). Every rank builds the same model and draws the same batch order;
rank r takes rows r, r + W, ... of each global batch and DDP averages the gradients;
the auxiliary heads are small and not wrapped: every rank trains them on the whole
global batch, identically; BatchNorm buffers of rank 0 are broadcast before validation
so that every rank takes the same decisions; only rank 0 writes files.

Determinism. Each epoch seeds its own generators (order, dropout) from the seed and
the epoch number, so a run resumed from checkpoint-last.pt makes exactly the same
steps as one that was never interrupted.

Data. A split is a :class:`Split` (tensors in memory) or a toolkit.train.data.CachedRows
(rows read from the training cache by index), with the same ``take``/``blocks``/``array``
interface and values; validation is predicted block by block.
"""

import math

import numpy as np
import torch

from ..evaluate.descriptors import descriptor_metrics, flat_pearson, summary  # noqa: F401  (moved there; names kept)
from ..models import physinformer as model_lib
from . import data as D
from . import dist
from . import loop as L
from . import modeldir as MD
from .loop import write_log  # a module attribute: tests intercept it
from .step import guarded_step

from .presets import PHYSINFORMER_TRAIN_DEFAULTS as TRAIN_DEFAULTS  # noqa: E402  (torch-free, for --help)
METRICS = ("pearson", "spearman", "r2", "mse", "mae")
AUX_WEIGHTS = "aux.pt"
"""The auxiliary heads' weights (a state dict of tensors) of the epoch model.pt holds."""


class Split:
    """One split held as tensors.

    codes : uint8 (n, L); y : float32 (n, d) standardised descriptors, NaN = missing;
    act : float32 (n, A) standardised activities (NaN = missing) or None.
    ``feats`` (the aux heads' input) is y with NaN set to 0 (the train mean).
    """

    def __init__(self, codes, y, act=None):
        self.codes = torch.as_tensor(codes, dtype=torch.uint8)
        self.y = torch.as_tensor(y, dtype=torch.float32)
        self.feats = torch.nan_to_num(self.y, nan=0.0, posinf=0.0, neginf=0.0)
        self.act = None if act is None else torch.as_tensor(act, dtype=torch.float32)

    def __len__(self):
        return self.codes.shape[0]

    FIELDS = ("codes", "y", "feats", "act")

    def take(self, idx, names=None):
        """Rows ``idx`` as tensors, {field: tensor or None} (the interface of data.CachedRows)."""
        return {k: None if getattr(self, k) is None else getattr(self, k)[idx] for k in (names or self.FIELDS)}

    def blocks(self, size, names=None):
        """(start, {field: numpy array or None}) for consecutive blocks of ``size`` rows."""
        for a in range(0, len(self), size):
            yield a, {k: None if getattr(self, k) is None else getattr(self, k)[a:a + size].numpy()
                      for k in (names or self.FIELDS)}

    def array(self, name):
        v = getattr(self, name)
        return None if v is None else v.numpy()


onecycle_lr = L.one_cycle


def predict_codes(model, codes, device, batch_size=512, rc_average=False):
    """Model outputs (mean, logvar), standardised units, float32 numpy (n, d) each; eval mode.

    With ``rc_average`` the means of the sequence and its reverse complement are
    averaged, and so are the variances."""
    from . import data as D

    was = model.training
    model.eval()
    mus, lvs = [], []
    amp = L.precision_dtype("auto", device)         # bf16 on a GPU that supports it
    with torch.no_grad():
        for a in range(0, codes.shape[0], batch_size):
            c = torch.as_tensor(codes[a:a + batch_size]).to(device)
            with L.autocast(device, amp):
                mu, lv = model(c)
                if rc_average:
                    mu2, lv2 = model(D.reverse_complement(c))
                    mu = 0.5 * (mu + mu2)
                    lv = torch.log(0.5 * (lv.exp() + lv2.exp()))
            mus.append(mu.float().cpu().numpy())
            lvs.append(lv.float().cpu().numpy())
    model.train(was)
    d = len(model.names)
    empty = np.zeros((0, d), dtype=np.float32)
    return (np.concatenate(mus) if mus else empty), (np.concatenate(lvs) if lvs else empty)


def predict_split(model, split, device, batch_size=512, rc_average=False):
    """:func:`predict_codes` over a split (in memory or read from a training cache), one block
    of ``batch_size`` rows at a time."""
    mus, lvs = [], []
    for _, blk in split.blocks(batch_size, ("codes",)):
        mu, lv = predict_codes(model, blk["codes"], device, batch_size, rc_average)
        mus.append(mu)
        lvs.append(lv)
    if not mus:
        return predict_codes(model, np.zeros((0, 1), dtype=np.uint8), device)
    return np.concatenate(mus), np.concatenate(lvs)


def _param_groups(model, weight_decay):
    # a frozen TileFormer inside PhysInformer is not optimised
    return L.param_groups(model, weight_decay, model_lib.no_decay, trainable_only=True)


_masked_mse = model_lib.masked_mse  # the auxiliary heads' loss lives with the model


def _aux_seed(seed, epoch, step):
    return (seed * 2_654_435_761 + epoch * 1_000_003 + step * 7919 + 17) % (2 ** 63)


def _forked(device):
    return torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else [])


def train(config, train_split, val_split, out_dir, device, scaler, log=None, resume=False, tileformer_state=None):
    """Train PhysInformer; write model.pt, train_log.tsv, val_descriptors.tsv, checkpoints and,
    with activities, aux.pt.

    Parameters
    ----------
    config : dict
        Resolved configuration (``model`` and ``train`` sections, ``descriptors``,
        ``families``, ``thermo_triples``, ``activities``, ``seed``).
    train_split, val_split : Split
    out_dir : str, existing directory (config.json and normalization.json are the caller's)
    device : torch.device
    scaler : (mean, sd)
        Original-unit train mean and SD of each descriptor (sequences of length d).
    log : callable(str) or None
        Receives the summary lines of each epoch.
    resume : bool
        Continue from out_dir/checkpoint-last.pt.
    tileformer_state : state dict or None
        Weights of the frozen TileFormer named by ``config["tileformer"]`` (new runs;
        a resumed run finds them in its checkpoint).

    Returns
    -------
    dict: best epoch record, epochs run, the log rows.
    """
    cfg = {**TRAIN_DEFAULTS, **config["train"]}
    acts = list(config.get("activities") or [])
    seed = int(config["seed"])
    torch.manual_seed(seed)
    model = model_lib.build(config)
    if tileformer_state is not None and not resume:
        model.tileformer.load_state_dict(tileformer_state)
    model.set_scalers(*scaler)
    model.to(device)
    if getattr(model, "prior", None) is not None and not resume:   # deterministic: a resumed run finds it in its checkpoint
        fit_prior(model.prior, train_split, device, seed, int(cfg.get("prior_folds", 5)), log)
    opt = torch.optim.AdamW(_param_groups(model, cfg["weight_decay"]), lr=cfg["lr"], betas=tuple(cfg["betas"]))
    aux = aux_opt = None
    if acts:
        with _forked(device):
            torch.manual_seed(_aux_seed(seed, -1, 0))
            aux = model_lib.build_aux(config).to(device)
        aux_opt = torch.optim.AdamW(_param_groups(aux, cfg["weight_decay"]), lr=cfg["lr"] * cfg["aux_lr_mult"],
                                    betas=tuple(cfg["betas"]))
    n = len(train_split)
    bs = int(cfg["batch_size"])
    steps_per_epoch = L.steps_per_epoch(n, bs, cfg.get("steps_per_epoch") or 0)
    total = steps_per_epoch * int(cfg["epochs"])
    max_lr = cfg["lr"] * cfg["lr_mult"]
    state = {"epoch": 0, "step": 0, "best": None, "best_k": [], "log": []}
    amp = L.precision_dtype(cfg.get("precision", "auto"), device)
    scaler, aux_scaler = L.grad_scaler(device, amp), L.grad_scaler(device, amp) if aux is not None else None

    ckpt = L.Checkpoints(out_dir, model, opt, parts={"aux": aux, "aux_optimizer": aux_opt, "scaler": scaler,
                                                    "aux_scaler": aux_scaler})
    if resume:
        state = ckpt.restore()
    fam = PhysInformerFamily(model, opt, aux, aux_opt, cfg, config, train_split, val_split, device, ckpt,
                             scaler, aux_scaler, amp, steps_per_epoch, total, max_lr)
    L.run(fam, state, ckpt, log)
    out = {"best": state["best"], "epochs": state["epoch"], "log": state["log"]}
    if cfg.get("baseline", True) and dist.group().main:
        out["baseline"] = kmer_baseline(train_split, val_split, config["descriptors"], config["families"], device)
        MD.write_json(ckpt.path(BASELINE), out["baseline"])
        if log is not None:
            log(baseline_message(out["baseline"], state["best"], state["log"]))
    return out


BASELINE = "baseline.json"
"""The k-mer ridge baseline's validation figures, beside the model's, in a model directory."""
BASELINE_KMAX = 5


def kmer_baseline(train_split, val_split, names, families, device, block=2048):
    """The simple baseline every PhysInformer figure is shown next to: ridge regression of
    each descriptor on strand-summed k-mer frequencies (k = 1..BASELINE_KMAX), fitted on the
    train rows, each descriptor's penalty chosen by its validation Pearson r (the
    standardised descriptors; missing values count as the train mean).

    Returns a JSON-able dict: ``kmax``; ``descriptors`` [{name, family, val_pearson,
    alpha}]; ``val_pearson`` {mean, median, q1, q3, flat} overall and ``by_family``.
    """
    from ..models.ridge import FoldSums, ridge_holdout

    feats = model_lib.PhysicsPrior(len(names), BASELINE_KMAX).to(device)
    sums = None
    with torch.no_grad():
        for k, split in enumerate((train_split, val_split)):
            for _, blk in split.blocks(block, ("codes", "y")):
                phi = feats.features(torch.as_tensor(blk["codes"]).to(device)).double().cpu().numpy()
                y = np.nan_to_num(np.asarray(blk["y"], dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
                if sums is None:
                    sums = FoldSums(phi.shape[1], y.shape[1], 2)
                sums.add(phi, y, np.full(len(y), k))
    res = ridge_holdout(sums, 1)
    fams = np.asarray(families)
    # the per-family flattened r needs predictions: the val rows are few, predict them
    pred, truth = [], []
    with torch.no_grad():
        for _, blk in val_split.blocks(block, ("codes", "y")):
            phi = feats.features(torch.as_tensor(blk["codes"]).to(device)).double().cpu().numpy()
            pred.append((phi - res["mean"]) / res["sd"] @ res["coef"] + res["intercept"])
            truth.append(np.asarray(blk["y"], dtype=np.float64))
    pred, truth = np.concatenate(pred), np.concatenate(truth)
    r = descriptor_metrics(pred, truth)["pearson"]

    def num(x):                                         # JSON has no NaN
        return float(x) if np.isfinite(x) else None

    def summ(sel):
        got = {**summary(r[sel]), "flat": flat_pearson(pred[:, sel], truth[:, sel], 0.0, 1.0)}
        return {k: num(v) for k, v in got.items()}

    return {"kmax": BASELINE_KMAX, "rows": {"train": int(sums.n[0]), "val": int(sums.n[1])},
            "val_pearson": summ(np.ones(len(names), bool)),
            "by_family": {f: summ(fams == f) for f in dict.fromkeys(families)},
            "descriptors": [{"name": n, "family": f, "val_pearson": num(r[j]), "alpha": float(res["alpha"][j])}
                            for j, (n, f) in enumerate(zip(names, families))]}


def baseline_message(base, best, rows):
    """One line: the best epoch's validation Pearson (mean, median, flattened) beside the k-mer ridge's."""
    def f3(x):
        return "NaN" if x is None or not math.isfinite(x) else f"{x:.3f}"

    b = base["val_pearson"]
    row = next((x for x in rows if best and x["epoch"] == best["epoch"]), None)
    model = "" if row is None else (f"model (epoch {row['epoch']}) mean {f3(row['val_pearson_mean'])} median "
                                   f"{f3(row['val_pearson_median'])} flattened {f3(row['val_pearson_flat'])}; ")
    return (f"val Pearson: {model}k-mer ridge (k = 1-{base['kmax']}, same rows) mean {f3(b['mean'])} median "
            f"{f3(b['median'])} flattened {f3(b['flat'])}")


def fit_prior(prior, train_split, device, seed, folds=5, log=None, block=2048):
    """Fit the physics prior's ridge regression on the train rows (toolkit.models.ridge:
    every descriptor's penalty by ``folds``-fold cross-validation over rows dealt at
    random from ``seed``; missing descriptor values count as the train mean, 0).

    prior : toolkit.models.physinformer.PhysicsPrior (on ``device``)
    train_split : Split or CachedRows with ``codes`` (n, L) and standardised ``y`` (n, d)

    Returns the dict of toolkit.models.ridge.ridge_cv (``cv_r``: out-of-fold r per descriptor).
    """
    from ..models.ridge import FoldSums, ridge_cv

    n = len(train_split)
    fold = np.random.default_rng([seed, 7]).permutation(n) % max(2, min(folds, n))
    sums = None
    with torch.no_grad():
        for a, blk in train_split.blocks(block, ("codes", "y")):
            phi = prior.features(torch.as_tensor(blk["codes"]).to(device)).double().cpu().numpy()
            y = np.nan_to_num(np.asarray(blk["y"], dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            if sums is None:
                sums = FoldSums(phi.shape[1], y.shape[1], int(fold.max()) + 1)
            sums.add(phi, y, fold[a:a + len(y)])
    res = ridge_cv(sums)
    prior.set_ridge(res["mean"], res["sd"], res["coef"], res["intercept"])
    if log is not None:
        r = res["cv_r"]
        tr = f", {prior.tracks.n_features} track statistics" if prior.tracks is not None else ""
        log(f"physics prior: {prior.n_features} features ({prior.kmax}-mers and below, {prior.n_motifs} motifs{tr}), "
            f"ridge fitted on {n:,} train rows; cross-validated r per descriptor: median {np.nanmedian(r):.3f}, "
            f"mean {np.nanmean(r):.3f}")
    return res


def track_tables(params=None):
    """The ``tracks`` entry of the physics prior's config: the parameter tables descfeat
    computes its descriptors from (``share/params``), as per-k-mer values
    (toolkit.models.tracks.TrackStats): SantaLucia (1998) nearest-neighbour ΔH, ΔS, ΔG37;
    the Olson et al. (1998) step geometry; the DiProDB stacking energy; three trinucleotide
    scales (DNase I bendability, consensus bendability, nucleosome positioning); the DNAshape
    pentamer tables; the Lankas et al. (2003) relative deformation energy of every step
    and of each of its six modes; G+C. Curvature from the Olson roll, tilt and twist;
    the periodicity of the DNase I bendability."""
    from ..features.params import default_params
    from ..features.stiff import stiff_tables

    P = params if params is not None else default_params()

    def keys(k):
        return ["".join("ACGT"[(i >> (2 * (k - 1 - j))) & 3] for j in range(k)) for i in range(4 ** k)]

    tables = [[f"nn_{c}", 2, P.step_vector("nn_thermo", c).tolist()] for c in ("SL1998_dH", "SL1998_dS", "SL1998_dG37")]
    tables += [[f"olson_{c}", 2, P.step_vector("olson_steps", c).tolist()]
               for c in ("tilt_deg", "roll_deg", "twist_deg", "shift_A", "slide_A", "rise_A")]
    tables.append(["stacking", 2, P.step_vector("stacking", "stacking_energy_kcal_per_mol").tolist()])
    tri = P.table("trinucleotide").set_index("trinucleotide")
    for c, name in (("Bendability-DNAse", "bendability_dnase"), ("Bendability-consensus", "bendability_consensus"),
                    ("Nucleosome positioning", "nucleosome_positioning")):
        tables.append([name, 3, tri.loc[keys(3), c].astype(float).tolist()])
    shape = P.table("dnashape").set_index("pentamer")
    for c in ("MGW", "ProT", "EP", "Roll_step1", "HelT_step1"):
        tables.append([f"shape_{c}", 5, shape.loc[keys(5), c].astype(float).tolist()])
    st = stiff_tables(P)
    tables.append(["stiff_relative_energy", 2, [float(v) for v in st["E"]]])
    tables += [[f"stiff_{m}_energy", 2, [float(v) for v in st["mode"][m]]] for m in st["mode"]]
    tables.append(["gc", 1, [0.0, 1.0, 1.0, 0.0]])
    curv = {k: P.step_vector("olson_steps", f"{k}_deg").tolist() for k in ("roll", "tilt", "twist")}
    return {"tables": tables, "curvature": curv, "periodic": "bendability_dnase"}


def electrostatics_tables(params=None):
    """The ``electrostatics`` entry of a track config (toolkit.models.tracks.Electrostatics):
    the geometry, charges and conditions of descfeat's psi family (toolkit.features.psi)."""
    from ..features import psi
    from ..features.params import default_params

    tabs = psi.psi_tables(params if params is not None else default_params())
    p1, p2 = psi.phosphate_positions()
    conds = [ionic for _, _, ionic in psi.CONDITIONS]
    return {"rot": tabs["rot"].tolist(), "shift": tabs["shift"].tolist(), "p1": p1.tolist(), "p2": p2.tolist(),
            "point": list(psi.SAMPLE_POINT), "kappa": [1.0 / psi.debye_length(i) for i in conds],
            "cutoff": [psi.cutoff_bp(i) for i in conds],
            "scale": [psi.PHOSPHATE_CHARGE * psi.bjerrum_length() for _ in conds], "r_min": float(psi.R_MIN)}


def prior_config(names, kmax, motifs=None, top_k=5, tracks=True):
    """The ``model.prior`` entry of a config: ``kmax`` and, when ``names`` hold per-motif pwm
    descriptors, the motifs that made them (log-odds in bits and high-affinity threshold,
    as descfeat's pwm family computes them; ``top_k`` as its top_k_mean).

    ``motifs``: the motif list descfeat was given, or None to recognise a cell type's
    list (toolkit.features.motifs.CELL_TYPES) from the pwm column names. No motifs are used when
    there are no pwm columns or no list matches (the prior then holds k-mers only).
    ``tracks``: add the parameter tracks of :func:`track_tables`, and the electrostatic
    potential (:func:`electrostatics_tables`) when there are psi_* descriptors; for psi_*
    descriptors alone (TileFormer's targets), the potential only.
    Returns (dict, note): the note says which motifs were used, for the run summary.
    """
    from ..features import pwm
    from ..features.motifs import CELL_TYPES, cell_type_motifs

    wanted = {n[len("pwm_"):n.rindex("_" + m)] for n in names if n.startswith("pwm_")
              for m in pwm.WRITTEN_METRICS if n.endswith("_" + m)}
    wanted -= set(pwm.AGGREGATES)
    chosen, note = None, "no pwm descriptors"
    if wanted:
        candidates = [("the given motifs", motifs)] if motifs is not None else \
            [(f"the {ct} motifs", None) for ct in CELL_TYPES]
        note = "no motif list matches the pwm columns: k-mers only"
        for what, ms in candidates:
            if ms is None:
                try:
                    ms = cell_type_motifs(what.split()[1])
                except Exception:       # noqa: BLE001  (a list that cannot be loaded cannot match)
                    continue
            if wanted <= set(pwm.column_labels(ms)):
                chosen, note = ms, what
                break
    out = {"kmax": int(kmax), "top_k": int(top_k), "motifs": [], "tracks": track_tables() if tracks else None}
    if tracks and names and all(n.startswith("psi_") for n in names):
        # electrostatic targets only (TileFormer's): the potential profile is all the prior needs
        out["tracks"] = {"tables": [], "entropy": False, "electrostatics": electrostatics_tables()}
    elif tracks and any(n.startswith("psi_") for n in names):
        out["tracks"]["electrostatics"] = electrostatics_tables()
    if chosen is not None:
        sc = pwm._scorer(chosen, None, pwm.PSEUDOCOUNT, pwm.P_THRESHOLD)
        for m, lab, lod, thr in zip(chosen, pwm.column_labels(chosen), sc.lods, sc.thresholds):
            out["motifs"].append({"id": m.matrix_id, "label": lab, "lod": np.round(lod, 10).tolist(),
                                  "threshold": float(thr) if np.isfinite(thr) else None})
    return out, note


class PhysInformerFamily(L.Family):
    """PhysInformer's part of toolkit.train.loop.run: its batches, the NLL and the auxiliary
    heads' steps, validation per descriptor, the best epoch's aux.pt and val_descriptors.tsv."""

    def __init__(self, model, opt, aux, aux_opt, cfg, config, train_split, val_split, device, ckpt, scaler,
                 aux_scaler, amp, steps_per_epoch, total, max_lr):
        self.model, self.opt, self.aux, self.aux_opt, self.cfg, self.device, self.ckpt = \
            model, opt, aux, aux_opt, cfg, device, ckpt
        self.scaler, self.aux_scaler, self.amp = scaler, aux_scaler, amp
        self.train_split, self.val_split = train_split, val_split
        self.names = list(config["descriptors"])
        self.fams = [model_lib.family_of(n) for n in self.names]
        self.acts = list(config.get("activities") or [])
        self.seed = int(config["seed"])
        self.epochs = cfg["epochs"]
        self.n, self.bs = len(train_split), int(cfg["batch_size"])
        self.steps_per_epoch, self.total, self.max_lr = steps_per_epoch, total, max_lr
        self.val_y = val_split.array("y")
        self.net = dist.group().wrap(model, device)     # DistributedDataParallel under torchrun

    def begin_epoch(self, state, gen):
        perm = torch.randperm(self.n, generator=gen)
        self.model.train()
        if self.aux is not None:
            self.aux.train()
        return {"state": state, "epoch": state["epoch"], "perm": perm,
                "sums": {"nll": 0.0, "mse": 0.0, "aux_a": 0.0, "aux_b": 0.0}, "cnt": 0.0,
                "n_steps": self.steps_per_epoch, "rows": min(self.n, self.steps_per_epoch * self.bs)}

    def resume_epoch(self, ep, mid):
        ep["sums"], ep["cnt"] = dict(mid["sums"]), mid["cnt"]

    def mid(self, ep):
        return {"sums": dict(ep["sums"]), "cnt": ep["cnt"]}

    def steps(self, ep, start):
        cfg, G, device, state, aux = self.cfg, dist.group(), self.device, ep["state"], self.aux
        epoch, sums = ep["epoch"], ep["sums"]
        # each rank reads only its rows of a global batch, but the auxiliary heads train on the whole
        # global batch on every rank
        if aux is not None:
            mine, fields = (lambda i: i), ("codes", "y", "feats", "act")
        else:
            mine, fields = (lambda i: i[G.part(len(i))]), ("codes", "y")
        for b, idx, batch in D.batches(self.train_split, ep["perm"], self.bs, start, self.steps_per_epoch, mine,
                                       fields):
            part = G.part(len(idx))
            got = {k: batch[k][part] for k in ("codes", "y")} if aux is not None else batch
            codes = got["codes"].to(device)
            y = got["y"].to(device)
            lr = onecycle_lr(state["step"], self.total, self.max_lr, cfg["pct_start"], cfg["div_factor"],
                             cfg["final_div_factor"])
            ep["lr"] = lr
            for g in self.opt.param_groups:
                g["lr"] = lr
            with L.autocast(device, self.amp):
                mu, lv = self.net(codes)
            loss, nll_sum, c, se = model_lib.gaussian_nll(mu.float(), lv.float(), y, cfg.get("nll_beta", 0.0))
            if G.active and G.any(not bool(torch.isfinite(loss))):
                loss = loss * float("nan")          # every rank stops at the same step
            guarded_step(loss, self.model, self.opt, cfg["clip"], epoch, b, "the descriptors", scaler=self.scaler)
            sums["nll"] += float(G.mean((nll_sum.sum() / c.sum().clamp(min=1)).cpu()))   # the plain NLL
            sums["mse"] += float(G.mean((se.sum() / c.sum().clamp(min=1)).detach().cpu()))
            if aux is not None:
                la, lb = _aux_step(aux, self.aux_opt, batch, device, lr * cfg["aux_lr_mult"], cfg["clip"],
                                   _aux_seed(self.seed, epoch, state["step"]), self.amp, self.aux_scaler)
                sums["aux_a"] += la
                sums["aux_b"] += lb
            ep["cnt"] += 1
            state["step"] += 1
            yield b + 1

    def validate(self, ep):
        names, fams, acts, val_y, sums, cnt = self.names, self.fams, self.acts, self.val_y, ep["sums"], ep["cnt"]
        dist.group().broadcast_buffers(self.model)   # every rank validates rank 0's model: the same decisions
        vmu, vlv = predict_split(self.model, self.val_split, self.device)
        with torch.no_grad():
            vloss, vsum, vcnt, _ = model_lib.gaussian_nll(torch.as_tensor(vmu), torch.as_tensor(vlv),
                                                          torch.as_tensor(val_y))
        vper = (vsum / vcnt.clamp(min=1)).numpy()[vcnt.numpy() > 0]
        vmed = float(np.median(vper)) if len(vper) else float("nan")
        met = descriptor_metrics(vmu, val_y)
        row = {"epoch": ep["epoch"] + 1, "lr": ep["lr"], "train_nll": sums["nll"] / cnt,
               "train_mse": sums["mse"] / cnt, "val_nll": float(vloss), "val_nll_median": vmed}
        for k in METRICS:
            for s, v in summary(met[k]).items():
                row[f"val_{k}_{s}"] = v
        row["val_pearson_flat"] = flat_pearson(vmu, val_y, 0.0, 1.0)      # both in train-standardised units
        for f in model_lib.FAMILIES:
            sel = np.array([x == f for x in fams])
            if sel.any():
                for s, v in summary(met["pearson"][sel]).items():
                    row[f"val_pearson_{f}_{s}"] = v
                row[f"val_pearson_{f}_flat"] = flat_pearson(vmu[:, sel], val_y[:, sel], 0.0, 1.0)
        if self.aux is not None:
            pa, pb = aux_predict(self.aux, self.val_split, self.device)
            val_act = self.val_split.array("act")
            ra = descriptor_metrics(pa, val_act)["pearson"]
            rb = descriptor_metrics(pb, val_act)["pearson"]
            for j, a in enumerate(acts):
                row[f"val_aux_a_pearson_{a}"] = float(ra[j])
                row[f"val_aux_b_pearson_{a}"] = float(rb[j])
            row["train_aux_a_mse"] = sums["aux_a"] / cnt
            row["train_aux_b_mse"] = sums["aux_b"] / cnt
        w = torch.exp(-self.model.log_var_base.detach().float()).cpu().numpy()
        row["descriptor_weight_min"] = float(w.min())
        row["descriptor_weight_max"] = float(w.max())
        r = met["pearson"]
        order = [j for j in np.argsort(-np.nan_to_num(r, nan=-np.inf)) if np.isfinite(r[j])]
        row["val_best5"] = ";".join(f"{names[j]}:{r[j]:.3f}" for j in order[:5])
        row["val_worst5"] = ";".join(f"{names[j]}:{r[j]:.3f}" for j in order[::-1][:5])
        ep.update(met=met, vmed=vmed)
        return row, {"epoch": ep["epoch"] + 1, "score": vmed if math.isfinite(vmed) else math.inf}

    def better(self, rec, best):
        return best is None or rec["score"] < best["score"]

    def save_best(self, ep, rec):
        self.ckpt.save(self.ckpt.path(MD.WEIGHTS), self.model.state_dict())
        if self.aux is not None:                         # heads A and B of the same epoch
            self.ckpt.save(self.ckpt.path(AUX_WEIGHTS), self.aux.state_dict())
        if dist.group().main:
            _write_descriptor_metrics(self.ckpt.path("val_descriptors.tsv"), self.names, self.fams, ep["met"])

    def select(self, state, rec, improved):
        self.ckpt.keep_best(state, rec, self.cfg["best_k"], lambda x: (x["score"], x["epoch"]))

    def write_log(self, path, rows):
        write_log(path, rows)           # the module's: tests intercept it

    def messages(self, row, ep, note):
        fam = " ".join(f"{f} {row[f'val_pearson_{f}_median']:.3f}" for f in model_lib.FAMILIES
                       if f"val_pearson_{f}_median" in row)
        msg = (f"epoch {ep['epoch'] + 1}/{self.cfg['epochs']}: train NLL {row['train_nll']:.4f} "
               f"val NLL {row['val_nll']:.4f} (median over descriptors {ep['vmed']:.4f}) "
               f"val Pearson mean {row['val_pearson_mean']:.3f} median {row['val_pearson_median']:.3f} "
               f"flattened {row['val_pearson_flat']:.3f} "
               f"(IQR {row['val_pearson_q1']:.3f}-{row['val_pearson_q3']:.3f}) R2 median "
               f"{row['val_r2_median']:.3f}; by family: {fam}")
        if self.aux is not None:
            msg += "; aux Pearson " + " ".join(
                f"{a} A {row[f'val_aux_a_pearson_{a}']:.3f} B {row[f'val_aux_b_pearson_{a}']:.3f}" for a in self.acts)
        msg += f"; lr {ep['lr']:.2e} {row['seconds']:.1f}s {row['samples_per_s']:.0f} seq/s{note}"
        return [msg, f"  best: {row['val_best5'].replace(';', ', ')}",
                f"  worst: {row['val_worst5'].replace(';', ', ')}"]


def _aux_step(aux, aux_opt, batch, device, lr, clip, seed, amp, scaler=None):
    """One step of the auxiliary heads on detached inputs (``batch``: the global batch's
    codes, feats and act tensors), in a forked RNG."""
    codes = batch["codes"].to(device)
    feats = batch["feats"].to(device).detach()
    act = batch["act"].to(device)
    for g in aux_opt.param_groups:
        g["lr"] = lr
    with _forked(device):
        torch.manual_seed(seed)
        with L.autocast(device, amp):
            pa, pb = aux(codes, feats)
        la = _masked_mse(pa.float(), act)
        lb = _masked_mse(pb.float(), act)
        aux_opt.zero_grad(set_to_none=True)
        if scaler is None:
            (la + lb).backward()
            torch.nn.utils.clip_grad_norm_(aux.parameters(), clip)
            aux_opt.step()
        else:                                   # fp16
            scaler.scale(la + lb).backward()
            scaler.unscale_(aux_opt)
            torch.nn.utils.clip_grad_norm_(aux.parameters(), clip)
            scaler.step(aux_opt)
            scaler.update()
    return la.item(), lb.item()


def aux_predict(aux, split, device, batch_size=512):
    """Heads A and B on a split (standardised activities), numpy (n, A) each; eval mode."""
    was = aux.training
    aux.eval()
    pa, pb = [], []
    with torch.no_grad():
        for _, blk in split.blocks(batch_size, ("codes", "feats")):
            x, f = torch.as_tensor(blk["codes"]).to(device), torch.as_tensor(blk["feats"]).to(device)
            ya, yb = aux(x, f)
            pa.append(ya.float().cpu().numpy())
            pb.append(yb.float().cpu().numpy())
    aux.train(was)
    return np.concatenate(pa), np.concatenate(pb)


def _write_descriptor_metrics(path, names, fams, met):
    lines = ["descriptor\tfamily\t" + "\t".join(METRICS)]
    for j, n in enumerate(names):
        lines.append("\t".join([n, fams[j]] + [MD.fmt_value(float(met[k][j])) for k in METRICS]))
    MD.atomic_write(path, lambda fh: fh.write(("\n".join(lines) + "\n").encode()))
