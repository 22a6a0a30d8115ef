"""Loading a model directory for prediction and attribution (used by ``predict``).

``load(model_dir, device)`` reads config.json, checks the kind and version, builds
the model and loads ``model.pt`` (tensors only, strict: unknown or missing keys are
refused). A predictor turns sequences (and side inputs) into outputs in the
targets' original units.
"""

import os

import numpy as np
import torch

from ..errors import InputError
from ..models import KINDS
from . import data as D
from . import modeldir as MD

# integrated-gradients steps (midpoint rule) by default: the median completeness error on the bundled
# lentiMPRA example is 0.9% (16 steps: 4.5%) (docs/guide.md, "Predicting and explaining (predict)")
IG_STEPS = 64


def load_weights(model, model_dir, device):
    """Load ``model_dir``/model.pt into ``model`` (strictly: a state dict of tensors that fits
    the architecture of config.json, else an InputError), move it to ``device``, eval mode."""
    path = os.path.join(model_dir, MD.WEIGHTS)
    state = MD.load_tensors(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("model.pt is not a state dict of tensors", file=path)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(f"model.pt does not fit config.json ({str(exc).splitlines()[0][:200]})", file=path,
                         hint="retrain") from None
    model.to(device).eval()
    return model

class Predictor:
    """What ``predict`` asks of a model directory's predictor, whatever the family (the
    serving protocol; each family's class below implements it).

    Attributes: ``config`` (config.json), ``targets`` (output names, in order), ``length``
    (input length), ``rc_trained`` (predictions average both strands by default),
    ``side_names`` (side inputs the model reads; empty for none).

    Methods:
    - ``side_inputs(seqs, table=None, h5=None)``: the side-input matrix for these rows, or None;
    - ``predict(seqs, side=None, batch_size=512, rc_average=None)``: float64 (n, len(targets)) in
      the targets' units;
    - ``explain(seqs, side, method, ...)``: attribution maps (or an InputError saying the family
      has none).
    Families may add their own (``baseline``, ``uncertainty``, ``score`` for pairs).
    """


class CREPredictor(Predictor):
    """A trained CRE model ready to predict.

    Attributes: config, targets, length, rc_trained (bool), side_names.
    """

    def __init__(self, model_dir, device):
        from ..models import cre as model_lib

        self.dir = model_dir
        self.config = MD.read_config(model_dir, kinds=KINDS)
        self.norm = MD.read_json(os.path.join(model_dir, MD.NORMALIZATION))
        self.targets = list(self.config["targets"])
        self.length = int(self.config["length"])
        self.device = device
        self.model = model_lib.build(self.config)
        load_weights(self.model, model_dir, device)
        self.rc_trained = self.config["train"].get("rc_prob", 0) > 0 or self.config["train"].get("rc_lambda", 0) > 0
        side = self.config.get("side") or {}
        self.side_names = (self.norm.get("side") or {}).get("names", [])
        self.motifs = None
        if side.get("motif_prior"):
            from ..features import motifs as M

            src = side["motif_prior"]["source"]
            copy = os.path.join(model_dir, "motifs.txt")
            self.motifs = M.read_motif_file(copy) if os.path.isfile(copy) else M.cell_type_motifs(src)
        self.features = side.get("features")
        from . import targets as TT

        self.task_types = list(self.config.get("task_types") or ["regression"] * len(self.targets))
        self._params = [TT.params_of(self.norm["targets"][t]) for t in self.targets]
        # attribution maps are in the units of the target after its nonlinear transforms
        # (a final z-score is undone; logits for binary, log rates for count tasks)
        self._sd = np.array([next((st["sd"] for st in reversed(p["steps"]) if st["name"] == "zscore"), 1.0)
                             for p in self._params])

    def baseline(self, seqs):
        """The k-mer ridge baseline fit-cre fitted on the same train rows (penalty on val),
        float64 (n, T): de-transformed for regression tasks; for binary and count tasks
        its linear score (a ranking of the rows on the label's or count's scale)."""
        from ..models.kmer_ridge import KmerRidge
        from . import targets as TT

        path = os.path.join(self.dir, "baseline.pt")
        if not os.path.isfile(path):
            raise InputError("this model directory has no k-mer baseline (trained with fit-cre --no-baseline)",
                             file=self.dir, hint="drop --baseline, or retrain with fit-cre without --no-baseline")
        if getattr(self, "_ridge", None) is None:
            self._ridge = KmerRidge.from_state({k: v.numpy() for k, v in MD.load_tensors(path).items()})
        z = self._ridge.predict(seqs)
        out = np.empty(z.shape, dtype=np.float64)
        for t, (kind, params) in enumerate(zip(self.task_types, self._params)):
            out[:, t] = TT.inverse(z[:, t], params) if kind == "regression" else z[:, t]
        return out

    def side_inputs(self, seqs, table=None, h5=None):
        """Standardised side-input matrix for these rows (None when the model has none)."""
        from . import side as S

        if not self.side_names:
            return None
        blocks = []
        if self.motifs is not None:
            blocks.append(S.motif_prior(seqs, self.motifs))
        side = self.config.get("side") or {}
        for spec in ([self.features] if self.features else []) + list(side.get("modality_specs", [])):
            names = spec["names"]
            if spec["spec"].endswith(".h5"):
                if h5 is None:
                    raise InputError("this model was trained with descfeat HDF5 inputs",
                                     file=os.path.join(self.dir, MD.CONFIG),
                                     hint="give the descriptors of these rows with --features FILE.h5")
                v, _ = S.h5_features(h5, list(table.ids()), names)
                blocks.append(v)
            else:
                if table is None:
                    raise InputError("this model needs input columns (features or modalities)", file=self.dir,
                                     hint="give a table with the columns, not FASTA")
                missing = [c for c in names if c not in table.df.columns]
                if missing:
                    raise InputError(f"input column(s) the model needs are missing: {', '.join(missing[:5])}",
                                     file=table.name, line=1, hint="compute them as for training (descfeat)")
                blocks.append(S.numeric_columns(table, names))
        if side.get("cell"):
            col = side["cell"]["column"]
            if table is None or col not in table.df.columns:
                raise InputError(f"this model needs the cell column '{col}'", file=getattr(table, "name", self.dir),
                                 line=1, hint="give a table with that column (unseen cell lines are allowed)")
            blocks.append(S.one_hot(table.df[col], side["cell"]["categories"]))
        raw = np.concatenate(blocks, axis=1)
        z, _ = S.apply_scaler(raw, self.norm["side"]["mean"], self.norm["side"]["sd"])
        bad = ~np.isfinite(raw)
        self.side_filled = (int(bad.sum()), int(bad.any(axis=1).sum()))  # (values, rows) set to the train mean
        return z

    def predict(self, seqs, side=None, batch_size=512, rc_average=None):
        """Predictions in original units, float64 (n, T): de-transformed values of
        regression tasks, probabilities of binary tasks, expected counts of count tasks
        (forward/RC averaging happens on the model's scale, before that)."""
        from . import targets as TT
        from .cre import predict_codes

        rc = self.rc_trained if rc_average is None else rc_average
        z = predict_codes(self.model, D.encode(seqs, self.length), side, self.device, batch_size, rc)
        out = np.empty(z.shape, dtype=np.float64)
        for t, (kind, params) in enumerate(zip(self.task_types, self._params)):
            out[:, t] = TT.to_output(z[:, t], kind, params)
        return out

    def explain(self, seqs, side, method, batch_size=64, steps=IG_STEPS, baseline="zero", seed=0, rc_average=None,
                ism_batch_size=512, path_rows=64):
        """Attribution maps of the function :meth:`predict` computes, and IG's completeness error.

        The function explained is the model output per task, averaged over the forward and
        reverse-complement strands when :meth:`predict` averages them (``rc_average``, default:
        where the model was trained with reverse complements), in original units for a
        z-scored target (the default), otherwise in the transformed units (after log1p, asinh
        or rank; logits of binary, log rates of count tasks). Side inputs are held fixed in
        saliency and IG.

        saliency: d output / d one-hot input of the forward strand (the reverse-complement
        branch's gradient is mapped back to forward coordinates by the chain rule).
        ig: integrated gradients from an all-zero (or, with ``baseline='shuffle'``, a
        position-shuffled copy of the sequence) baseline x0, (x - x0) * the mean gradient at
        the ``steps`` midpoints (k + 0.5) / steps of the straight path. ism: for every position
        and base, the prediction of that single mutant minus the reference prediction, both
        computed as :meth:`predict` computes them (0 at the reference base and at N; a model
        with a motif prior gets the mutant's own motif scores).

        Gradients are taken ``batch_size`` sequences at a time, with up to ``path_rows`` rows
        (sequences x IG path points) per forward pass.

        Returns
        -------
        (maps, extra) : float32 array (n, T, 4, L), and a dict of per-sequence float32 arrays
        (n, T): for ig ``ig_completeness_error``, |sum of the attributions - (f(x) - f(x0))| /
        |f(x) - f(x0)| (NaN where f(x) = f(x0)); empty for saliency and ism.
        """
        rc = self.rc_trained if rc_average is None else rc_average
        codes = D.encode(seqs, self.length)
        n, L, T = len(seqs), self.length, len(self.targets)
        out = np.zeros((n, T, 4, L), dtype=np.float32)
        if method == "ism":
            for i in range(n):
                out[i] = self._ism(seqs[i], codes[i], None if side is None else side[i], rc, ism_batch_size)
            return out, {}
        err = np.zeros((n, T), dtype=np.float32)
        sd = torch.as_tensor(self._sd, dtype=torch.float32, device=self.device)
        gen = torch.Generator().manual_seed(seed)
        self.model.eval()
        for a in range(0, n, batch_size):
            c = torch.as_tensor(codes[a:a + batch_size])
            s = None if side is None else torch.as_tensor(side[a:a + batch_size], dtype=torch.float32).to(self.device)
            x = D.onehot(c.to(self.device))
            if method == "saliency":
                alphas, x0 = [1.0], torch.zeros_like(x)
            else:
                if baseline == "shuffle":
                    perm = torch.stack([torch.randperm(L, generator=gen) for _ in range(len(c))])
                    x0 = D.onehot(c.gather(1, perm).to(self.device))
                else:
                    x0 = torch.zeros_like(x)
                alphas = [(i + 0.5) / steps for i in range(steps)]
            acc = torch.zeros((T, *x.shape), device=self.device)
            per = max(1, path_rows // len(c))                       # path points per forward pass
            for k in range(0, len(alphas), per):
                al = torch.tensor(alphas[k:k + per], dtype=x.dtype, device=self.device).view(-1, 1, 1, 1)
                xi = (x0 + al * (x - x0)).reshape(-1, 4, L).detach().requires_grad_(True)
                si = None if s is None else s.repeat(len(al), 1)
                y = self._f(xi, si, rc) * sd
                for t in range(T):
                    (g,) = torch.autograd.grad(y[:, t].sum(), xi, retain_graph=t < T - 1)
                    acc[t] += g.reshape(len(al), len(c), 4, L).sum(dim=0)
            acc /= len(alphas)
            res = acc if method == "saliency" else (x - x0) * acc
            out[a:a + len(c)] = res.transpose(0, 1).detach().cpu().numpy()
            if method == "ig":
                with torch.no_grad():
                    delta = ((self._f(x, s, rc) - self._f(x0, s, rc)) * sd).double().cpu().numpy()
                total = out[a:a + len(c)].sum(axis=(2, 3), dtype=np.float64)
                with np.errstate(divide="ignore", invalid="ignore"):
                    e = np.abs(total - delta) / np.abs(delta)
                err[a:a + len(c)] = np.where(delta == 0, np.nan, e)
        return out, ({"ig_completeness_error": err} if method == "ig" else {})

    def _f(self, x, s, rc):
        """Model outputs (B, T) for one-hot x (B, 4, L), averaged with those of the reverse
        complement (channels A C G T reversed is the complement; positions reversed) when rc."""
        y = self.model(x, s)
        return 0.5 * (y + self.model(x.flip(1, 2), s)) if rc else y

    def _ism(self, seq, code, side, rc, batch_size):
        """(T, 4, L) in-silico mutagenesis of one sequence: every single mutant and the
        reference predicted in one call of the function predict uses."""
        from .cre import predict_codes

        L, T = self.length, len(self.targets)
        res = np.zeros((T, 4, L), dtype=np.float32)
        pos = np.flatnonzero(code < 4)
        if not len(pos):
            return res
        alt = (code[pos][:, None] + np.arange(1, 4)[None, :]) % 4          # the three other bases
        at = np.repeat(pos, 3)
        mut = np.repeat(code[None], 1 + len(at), axis=0)
        mut[1 + np.arange(len(at)), at] = alt.ravel()
        ss = None
        if side is not None:
            ss = np.repeat(np.asarray(side, dtype=np.float32)[None], len(mut), axis=0)
            if self.motifs is not None:  # the motif prior is a function of the sequence: the mutant's own
                ss[:, :len(self.motifs)] = self._mutant_motif_prior(seq, at, alt.ravel())
        z = predict_codes(self.model, mut, ss, self.device, batch_size, rc).astype(np.float64)
        d = (z[1:] - z[0]) * self._sd                                      # (3P, T)
        res[:, alt.ravel(), at] = d.T
        return res

    def _mutant_motif_prior(self, seq, at, alt):
        """Standardised motif-prior block of the reference (row 0) and of each mutant (base
        ``alt`` at model-input position ``at``), computed on the whole sequence as
        :meth:`side_inputs` does."""
        from . import side as S

        off = (len(seq) - self.length) // 2 if len(seq) >= self.length else -((self.length - len(seq)) // 2)
        seqs = [seq] + [seq[:q] + "ACGT"[b] + seq[q + 1:] for q, b in zip((at + off).tolist(), alt.tolist())]
        K = len(self.motifs)
        z, _ = S.apply_scaler(S.motif_prior(seqs, self.motifs), self.norm["side"]["mean"][:K],
                              self.norm["side"]["sd"][:K])
        return z


class PhysInformerPredictor(Predictor):
    """A trained PhysInformer ready to predict every descriptor from sequences.

    Attributes: config, names and targets (the descriptor names, output order),
    families, length, rc_trained (False: descriptors are not all strand-symmetric,
    so the model is not trained on reverse complements), side_names (empty),
    has_uncertainty (True), thermo_triples (the (ΔH, ΔS, ΔG) name triples whose ΔG is
    derived), temperature_k, activities (the --activities columns of the auxiliary
    heads, served by :meth:`predict_activities`; empty without).
    """

    has_uncertainty = True

    def __init__(self, model_dir, device):
        from ..models import physinformer as model_lib

        self.dir = model_dir
        self.config = MD.read_config(model_dir, kinds=KINDS)
        self.norm = MD.read_json(os.path.join(model_dir, MD.NORMALIZATION))
        self.names = list(self.config["descriptors"])
        self.targets = self.names
        self.families = [model_lib.family_of(n) for n in self.names]
        self.length = int(self.config["length"])
        self.device = device
        self.rc_trained = False
        self.side_names = []
        self.model = model_lib.build(self.config)
        load_weights(self.model, model_dir, device)
        d = self.norm["descriptors"]
        if list(d["names"]) != self.names:
            raise InputError("normalization.json does not match config.json", file=model_dir, hint="retrain")
        self._mean = np.asarray(d["mean"], dtype=np.float64)
        self._sd = np.asarray(d["sd"], dtype=np.float64)
        self.triples = [list(t) for t in self.config.get("thermo_triples", [])]
        self.thermo_triples = [[self.names[i] for i in t] for t in self.triples]
        m = self.config["model"]
        self.temperature_k = float(m.get("temperature_k", model_lib.TEMPERATURE_K))
        self._coef = self.temperature_k * float(m.get("entropy_factor", model_lib.ENTROPY_FACTOR))
        self.activities = list(self.config.get("activities") or [])
        self._aux = None

    def predict_activities(self, seqs, descriptors, batch_size=512):
        """Auxiliary heads A (own sequence encoder + descriptors) and B (descriptors only)
        on new rows: measured activities from sequences and their real descriptors.

        The heads are those of the epoch model.pt holds (aux.pt). They were trained on
        the real, train-standardised descriptors, so give descfeat's values for these
        rows (predicted ones, from :meth:`predict`, make head B a sequence-only model).

        Parameters
        ----------
        seqs : list of str, length n
        descriptors : float array, shape (n, d)
            Original units, columns in the order of ``names``; NaN (undefined) is
            replaced by the train mean, as in training.
        batch_size : int

        Returns
        -------
        (a, b) : float64 arrays, shape (n, len(activities)) each, in the activities'
        original units.

        Raises
        ------
        ConfigError
            The model was trained without --activities.
        InputError
            aux.pt is missing (a model trained before it was written) or does not fit.
        ValueError
            ``descriptors`` is not (n, d).
        """
        from ..errors import ConfigError
        from .physinformer import Split, aux_predict

        if not self.activities:
            raise ConfigError("this model has no auxiliary heads", file=self.dir,
                              hint="train with fit-physinformer --activities COLS")
        x = np.asarray(descriptors, dtype=np.float64)
        if x.shape != (len(seqs), len(self.names)):
            raise ValueError(f"descriptors must be shaped ({len(seqs)}, {len(self.names)}) (rows, the model's "
                             f"descriptors in the order of .names), got {x.shape}")
        if self._aux is None:
            self._aux = self._load_aux()
        z = ((x - self._mean) / self._sd).astype(np.float32)
        z[~np.isfinite(z)] = np.nan
        a, b = aux_predict(self._aux, Split(D.encode(seqs, self.length), z), self.device, batch_size)
        norm = self.norm.get("activities") or {}
        mean = np.array([norm[c]["mean"] for c in self.activities], dtype=np.float64)
        sd = np.array([norm[c]["sd"] for c in self.activities], dtype=np.float64)
        return a.astype(np.float64) * sd + mean, b.astype(np.float64) * sd + mean

    def _load_aux(self):
        from ..models import physinformer as model_lib
        from .physinformer import AUX_WEIGHTS

        path = os.path.join(self.dir, AUX_WEIGHTS)
        if not os.path.isfile(path):
            raise InputError("no aux.pt: this model was trained before the auxiliary heads were saved with the "
                             "best epoch", file=self.dir, hint="retrain with fit-physinformer --activities")
        state = MD.load_tensors(path)
        aux = model_lib.build_aux(self.config)
        try:
            aux.load_state_dict(state, strict=True)
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise InputError(f"aux.pt does not fit config.json ({str(exc).splitlines()[0][:200]})", file=path,
                             hint="retrain") from None
        return aux.to(self.device).eval()

    def side_inputs(self, seqs, table=None, h5=None):
        """PhysInformer reads sequences only: always None."""
        return None

    def predict(self, seqs, side=None, batch_size=512, rc_average=None, uncertainty=False):
        """Descriptors in original units, float64 (n, d); with ``uncertainty`` also their
        predicted SD (n, d) in original units: returns (mean, sd).

        ΔG of each derived thermo triple is recomputed from the de-standardised ΔH and
        ΔS as ΔH - T·ΔS/1000, so the identity holds to float64 rounding. ``side`` is
        ignored; ``rc_average`` (default off) averages the strand predictions (means,
        and variances)."""
        from .physinformer import predict_codes

        rc = self.rc_trained if rc_average is None else rc_average
        z, lv = predict_codes(self.model, D.encode(seqs, self.length), self.device, batch_size, rc)
        mean = z.astype(np.float64) * self._sd + self._mean
        for h, s, g in self.triples:
            mean[:, g] = mean[:, h] - self._coef * mean[:, s]
        if not uncertainty:
            return mean
        return mean, np.exp(0.5 * lv.astype(np.float64)) * self._sd

    def uncertainty(self, seqs, batch_size=512, rc_average=None):
        """Predicted SD of every descriptor in original units, float64 (n, d)."""
        return self.predict(seqs, batch_size=batch_size, rc_average=rc_average, uncertainty=True)[1]

    def explain(self, seqs, side, method, **_):
        from ..errors import ConfigError

        raise ConfigError("--explain is not available for PhysInformer models", hint="predict without --explain")


class EPPredictor(Predictor):
    """A trained enhancer-promoter model ready to score pairs.

    Attributes: config, targets ([the label column]), cells (training cell lines),
    lengths (enhancer and promoter lengths), support_size (m; 256 in models trained now, 32 before), threshold
    (the validation-calibrated decision threshold, calibration.json), env (False when the
    saved epoch had the environment off: the curriculum), uses_distance (the model adds a
    function of the enhancer-promoter distance), layout settings in config["data"].
    EP models score pairs, not single sequences: ``score`` takes enhancers, promoters and
    their cell lines; ``predict`` and ``explain`` refuse.
    """

    kind = "ep"
    has_uncertainty = False
    rc_trained = False
    side_names = []

    def __init__(self, model_dir, device):
        from ..models import ep as model_lib

        self.dir = model_dir
        self.config = MD.read_config(model_dir, kinds=KINDS)
        self.targets = list(self.config["targets"])
        self.cells = list(self.config["cells"])
        self.lengths = dict(self.config["data"]["lengths"])
        self.support_size = int(self.config.get("support_size", 32))
        self.device = device
        self.model = model_lib.build(self.config)
        load_weights(self.model, model_dir, device)
        self.env = bool(float(self.model.env_active) > 0.5)
        self.uses_distance = self.model.distance is not None
        cal = MD.read_json(os.path.join(model_dir, "calibration.json"))
        self.threshold = float(cal["threshold"])

    def side_inputs(self, seqs, table=None, h5=None):
        return None

    def predict(self, seqs, side=None, **_):
        from ..errors import ConfigError

        raise ConfigError("an enhancer-promoter model scores pairs, not single sequences", file=self.dir,
                          hint="give a pair table (enhancer_seq/promoter_seq or coordinates with --genome, and cell)")

    def explain(self, seqs, side, method, **_):
        from ..errors import ConfigError

        raise ConfigError("--explain is not available for enhancer-promoter models", hint="predict without --explain")

    def score(self, enhancers, promoters, cells, support_size=None, seed=2025, batch_size=256, distances=None):
        """P(interaction) of every pair, each cell line's environment from a support set.

        Parameters
        ----------
        enhancers, promoters : list of str, one per pair
        cells : sequence of str, each pair's cell line (seen in training or not)
        support_size : int, m (default the model's, 256): per cell line, m of its pairs drawn
            without replacement by numpy's default_rng(seed + CRC32(cell name)) (all of them
            when it has fewer); their mean environment feature is the cell line's z_E. Labels
            are never used.
        seed : int
        distances : float (n,), the enhancer-promoter distances in bp (NaN where unknown), which
            a model with the distance term (``uses_distance``) reads; None: all unknown

        Returns
        -------
        prob : float64 (n,); support : bool (n,), the pairs drawn as support sets
        """
        from .ep import PairSplit, score_pairs, sigmoid, support_sets

        m = self.support_size if support_size is None else int(support_size)
        split = PairSplit(D.encode(enhancers, self.lengths["enhancer"]), D.encode(promoters, self.lengths["promoter"]),
                          np.zeros(len(enhancers)), cells, np.full(len(enhancers), -1), distances)
        groups = support_sets(split.cell_names, m, seed)
        logits, _, _, _ = score_pairs(self.model, split, groups, self.device, self.env, batch_size)
        support = np.zeros(len(enhancers), dtype=bool)
        for _, (_, s) in groups.items():
            support[s] = True
        return sigmoid(logits), support


def load(model_dir, device):
    """The predictor of a model directory, whatever its kind (see :class:`Predictor`): the
    family's model module (toolkit.models.KINDS) names its predictor class in ``PREDICTOR``."""
    import importlib

    config = MD.read_config(model_dir, kinds=KINDS)
    target = getattr(importlib.import_module(KINDS[config["kind"]]), "PREDICTOR", None)
    if target is None:
        raise InputError(f"model kind '{config['kind']}' cannot be served yet", file=model_dir)
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)(model_dir, device)
