"""fit-cre's run: the split table read chunk by chunk into the training cache, what is fitted on
the train split (target transforms, SE weight means, side-input scalers), the splits the trainer
reads, the resolved configuration, and the k-mer ridge baseline.

No printing: messages go through the command's ``log`` object (``info``, ``warn``, ``detail``);
failures are toolkit.errors exceptions.
"""

from . import prepare as prep
from .presets import CRE_MM_SIZES
from .presets import CRE_TRAIN_DEFAULTS as _DEFAULTS

BASELINE_WEIGHTS = "baseline.pt"
"""The k-mer ridge baseline's parameters in a model directory (``predict --baseline``)."""

SAME_DATA = "resume with the same input table"
"""What to do when a resumed run's rows differ from those it started with."""


def fit(input, out_dir, group, log, dev, settings, *, fmt, seq_col, id_col, targets, no_se, task_types,
        target_transforms, preset, arch, members, length, motif_prior, features, modalities, cell_col, seed,
        resume, data_in_memory, no_baseline, train_flags):
    """Train the CRE model on a split table into the model directory ``out_dir``: the training
    cache, config.json, normalization.json, the trainer's files, then (rank 0, unless
    ``no_baseline``) baseline.json and baseline.pt; the cache is removed when the run finishes.

    ``group``: the process group (toolkit.train.dist); ``log``: the command's log object;
    ``settings``: the checked --config file; the keywords are fit-cre's options (None = not
    given), ``train_flags`` its training flags.
    """
    import os

    from ..io import traincache as TC
    from . import cre as trainer
    from . import dist
    from . import modeldir as MD

    config, norm = MD.open_run(out_dir, "cre", resume, lock=group.main)
    group.barrier()                     # every rank has checked out_dir before rank 0 writes into it
    cache = prep.training_cache(
        "fit-cre", "cre", group, log, out_dir, input, resume,
        lambda path: load(input, fmt, seq_col, id_col, targets, no_se, length, motif_prior, features, config, norm,
                          log, task_types, target_transforms, modalities, cell_col, cache=path,
                          se_cap=settings["train"].get("se_cap")))
    data = open_data(cache, data_in_memory, log)
    if config is None:
        config = resolve_config(data, preset, arch, dev, seed, train_flags, input, motif_prior, features,
                                {"members": members}, settings)
        if group.main:
            os.makedirs(out_dir, exist_ok=True)
            if motif_prior and os.path.isfile(motif_prior):
                import shutil

                shutil.copyfile(motif_prior, os.path.join(out_dir, "motifs.txt"))
            prep.write_run(out_dir, config, data["normalization"])
    else:
        prep.check_same_data(config, data, SAME_DATA)
    log.info(f"fit-cre: {data['n_train']:,} train, {data['n_val']:,} val rows ({data['n_test']:,} test rows not read); "
             f"{len(config['targets'])} task(s): {', '.join(config['targets'])}; preset {config['preset']}, arch "
             f"{config['model']['arch']}, device {dev}" + (", resuming" if resume else "")
             + (f"; {group.world} processes (DistributedDataParallel)" if group.active else "")
             + ("; batches read from the training cache by index (--stream-data)" if data["mode"] == "stream" else
                "; train and val rows in memory"))
    try:
        result = trainer.train(config, data["train"], data["val"], out_dir, dev, log=log.info, resume=resume)
    finally:
        if data["reader"] is not None:
            data["reader"].close()
    best = result["best"]
    row = result["log"][best["epoch"] - 1]
    per = ", ".join(f"{t} r {row['val_pearson_' + t]:.3f}" if "val_pearson_" + t in row else
                    f"{t} AUROC {row['val_auroc_' + t]:.3f} AUPR {row['val_aupr_' + t]:.3f}" for t in config["targets"])
    log.info(f"fit-cre: {result['stopped']} after {result['epochs']} epochs; best epoch {best['epoch']}: "
             f"val {per} (mean score {best['score']:.4f}); model in {out_dir}")
    dist.teardown()
    if not no_baseline and group.main:
        _fit_baseline(data, config, out_dir, log)
    if group.main:                      # a finished run is not resumed: the cache has done its work
        TC.remove(cache)


def _fit_baseline(data, config, out_dir, log):
    """The k-mer ridge fitted on the run's train rows, its penalty chosen on val: baseline.json, baseline.pt."""
    import os

    import torch

    from ..models.kmer_ridge import KmerRidge
    from . import modeldir as MD

    rows = _baseline_rows(data, config["seed"])
    ridge = KmerRidge().fit(rows["train"][0], rows["train"][1], rows["val"][0], rows["val"][1])
    base = {"model": "k-mer (k = 1-6, both strands) ridge regression, penalty chosen on val",
            "val_pearson": {t: float(ridge.val_r[j]) for j, t in enumerate(config["targets"])},
            "alpha": {t: float(ridge.alpha[j]) for j, t in enumerate(config["targets"])}}
    base["val_mean_pearson"] = float(sum(base["val_pearson"].values()) / len(config["targets"]))
    MD.write_json(os.path.join(out_dir, "baseline.json"), base)
    MD.save_tensors(os.path.join(out_dir, BASELINE_WEIGHTS),
                    {k: torch.as_tensor(v) for k, v in ridge.state().items()})
    per = ", ".join(f"{t} {v:.3f}" for t, v in base["val_pearson"].items())
    log.info(f"fit-cre: baseline k-mer ridge val Pearson {per} (mean {base['val_mean_pearson']:.4f}; "
             "its penalty was chosen on val, so it is if anything optimistic)")


def load(input, fmt, seq_col, id_col, targets, no_se, length, motif_prior, features, config, norm, log,
          task_types=(), target_transforms=(), modalities=(), cell_col=None, cache=None, se_cap=None):
    """Read the train and val rows chunk by chunk into the training cache at ``cache`` (test and
    excluded rows are dropped unparsed and never enter it), then fit what is fitted on the
    train split (target transforms, SE weight means, side-input scalers) from the cache.

    Nothing is returned: :func:`open_data` opens the cache. The cache's ``meta`` holds
    everything the command derived (targets, SE columns, length, normalisation, side
    inputs, row counts, data hash). Memory: one input chunk, one chunk per cache dataset, and
    one train target column at a time (8 bytes a row) while the transforms are fitted.
    """
    import os

    import numpy as np

    from ..errors import ConfigError, InputError
    from ..io import traincache as TC
    from ..io.tables import SeqTable, check_split, iter_table, se_columns, target_columns
    from . import targets as TT

    hint = "run dgsplit first (seqqc lib.csv | dgsplit | fit-cre ...)"
    plan = writer = first = None
    n_test = 0
    try:
        for chunk in iter_table(input, fmt=fmt, seq_col=seq_col, id_col=id_col):
            if first is None:
                from types import SimpleNamespace

                first = SimpleNamespace(name=chunk.name)     # not the chunk: it is not held past its turn
                if "split" not in chunk.df.columns:
                    raise InputError("no 'split' column", file=chunk.name, line=1, hint=hint)
                cols = list(chunk.df.columns)
                if config is None:
                    tnames = target_columns(cols, targets)
                    if not tnames:
                        raise ConfigError("no target columns found", file=chunk.name,
                                          hint="name them with --targets (numeric columns, e.g. HepG2_l2fc)")
                    se = {} if no_se else se_columns(cols, tnames)
                else:
                    tnames, se = config["targets"], config["se_columns"]
                    missing = [c for c in list(tnames) + list(se.values()) if c not in cols]
                    if missing:
                        raise InputError(f"column(s) of the trained model missing: {', '.join(missing)}",
                                         file=chunk.name)
                plan = _Plan(chunk, tnames, se, config, motif_prior, features, modalities, cell_col)
                if config is None:
                    plan.kinds = TT.parse_assignments(task_types, "--task-type", TT.TASK_TYPES, tnames)
                    plan.chains = TT.parse_assignments(target_transforms, "--target-transform", TT.TRANSFORMS,
                                                       tnames, True)
                    for t, chain in plan.chains.items():
                        if plan.kinds.get(t, "regression") != "regression" and chain != ["none"]:
                            raise ConfigError(f"--target-transform {t}: only regression targets are transformed",
                                              hint=f"drop it, or use --task-type {t}=regression")
                os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
                writer = TC.CacheWriter(cache, "cre", source=TC.fingerprint(input))
            split = check_split(chunk.df["split"].tolist(), chunk.name, chunk.lines)
            n_test += int((split == "test").sum())
            ids = chunk.ids()
            for k in TC.SPLITS:
                m = split == k
                if m.any():
                    sub = SeqTable(chunk.df.loc[m].reset_index(drop=True), chunk.seq_col, chunk.id_col,
                                   chunk.lines[m], chunk.name, chunk.fmt, ids=np.asarray(ids, dtype=object)[m])
                    writer.append(k, plan.rows(sub, k))
            del chunk
        for name in TC.SPLITS:
            if not writer.rows[name]:
                raise InputError(f"no '{name}' rows", file=first.name, column="split",
                                 hint="dgsplit writes train, val and test rows: check its --fractions, "
                                      "or the chromosomes or values held out")
        meta = _finish(writer, plan, first, config, norm, length, log, n_test, se_cap)
        writer.finish(meta)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if plan is not None:
            plan.close()


class _Plan:
    """What the first chunk decides (targets, SE columns, side inputs) and the encoding of a chunk's rows."""

    def __init__(self, first, tnames, se, config, motif_prior, features, modalities, cell_col):
        from ..errors import ConfigError
        from ..io.h5 import H5Rows
        from . import side as S

        self.name, self.tnames, self.se = first.name, list(tnames), dict(se)
        self.cols = list(first.df.columns)
        self.kinds, self.chains = {}, {}
        self.max_len = {"train": 0, "val": 0}
        self.infinite = {}              # (split, target) -> values beyond float64 (1e400, inf) read as missing
        self.h5 = []
        self.blocks = []                # (kind, payload) in side order: motifs, features, modalities
        self.names, self.slices = [], []
        side_cfg = None if config is None else config.get("side")
        if config is None and (motif_prior or features or modalities or cell_col):
            side_cfg = {}
        self.side_cfg = side_cfg
        self.cell = None
        self.cell_codes = {}
        self.train_labels = set()
        self.n_raw = 0
        if side_cfg is None:
            return
        exclude = {"id", first.seq_col, "split", "group_id", *self.tnames, *self.se.values()}
        mp = motif_prior if config is None else (side_cfg.get("motif_prior") or {}).get("source")
        if mp:
            motifs = _motifs(mp)
            self.blocks.append(("motifs", motifs))
            self.names += [f"motif:{m.matrix_id}" for m in motifs]
            side_cfg["motif_prior"] = {"source": mp, "motifs": [m.matrix_id for m in motifs]}
            self.slices.append({"name": "motifs", "branch": "mlp", "end": len(self.names)})
        ft = features if config is None else (side_cfg.get("features") or {}).get("spec")
        if ft:
            if ft.endswith(".h5"):
                rows = H5Rows(ft, None if config is None else side_cfg["features"]["names"])
                self.h5.append(rows)
                fnames = rows.names
                self.blocks.append(("h5", rows))
            else:
                fnames = S.select_columns(self.cols, ft, exclude) if config is None else side_cfg["features"]["names"]
                self.blocks.append(("columns", fnames))
            self.names += fnames
            side_cfg["features"] = {"spec": ft, "names": fnames}
            self.slices.append({"name": "features", "branch": "mlp", "end": len(self.names)})
        specs = [modality(m) for m in modalities] if config is None else \
            [m for m in side_cfg.get("modality_specs", [])]
        for m in specs:
            if m["spec"].endswith(".h5"):
                rows = H5Rows(m["spec"], m.get("names"))
                self.h5.append(rows)
                mnames = rows.names
                self.blocks.append(("h5", rows))
            else:
                mnames = m.get("names") or S.select_columns(self.cols, m["spec"], exclude)
                self.blocks.append(("columns", mnames))
            m["names"] = list(mnames)
            self.names += [f"{m['name']}:{c}" for c in mnames]
            self.slices.append({"name": m["name"], "branch": m["branch"], "end": len(self.names)})
        side_cfg["modality_specs"] = specs
        cell = {"column": cell_col} if config is None and cell_col else side_cfg.get("cell")
        if cell:
            if cell["column"] not in self.cols:
                raise ConfigError(f"--cell-col '{cell['column']}' is not a column", file=first.name, line=1)
            self.cell = cell
        self.n_raw = len(self.names)

    def rows(self, sub, split):
        """The cache arrays of a chunk's rows of one split."""
        import numpy as np

        from ..io.tables import clean_sequences, parse_numeric, target_cell_name
        from . import data as D
        from . import side as S

        seqs = clean_sequences(sub)
        codes, lengths = D.encode_left(seqs)
        self.max_len[split] = max(self.max_len[split], int(lengths.max()))
        m, T = len(seqs), len(self.tnames)
        y = np.column_stack([parse_numeric(sub, c) for c in self.tnames])
        for j in np.flatnonzero(np.isinf(y).any(axis=0)):
            key = (split, self.tnames[j])
            self.infinite[key] = self.infinite.get(key, 0) + int(np.isinf(y[:, j]).sum())
        y[~np.isfinite(y)] = np.nan
        out = {"codes": codes, "lengths": lengths, "ids": np.asarray(sub.ids(), dtype=object), "y": y}
        if self.se:
            se = np.full((m, T), np.nan)
            for j, t in enumerate(self.tnames):
                if t in self.se:
                    se[:, j] = parse_numeric(sub, self.se[t])
            out["se"] = se
        if self.side_cfg is not None:
            blocks = []
            for kind, payload in self.blocks:
                if kind == "motifs":
                    blocks.append(S.motif_prior(seqs, payload))
                elif kind == "h5":
                    blocks.append(payload.values(list(sub.ids())))
                else:
                    blocks.append(S.numeric_columns(sub, payload))
            out["side"] = np.concatenate(blocks, axis=1).astype(np.float32) if blocks else \
                np.zeros((m, 0), np.float32)
            if self.cell:
                labels = [str(v).strip() for v in sub.df[self.cell["column"]]]
                codes_ = np.empty(m, dtype=np.int32)
                for i, v in enumerate(labels):
                    c = self.cell_codes.get(v)
                    if c is None:
                        c = self.cell_codes[v] = len(self.cell_codes)
                    codes_[i] = c
                if split == "train":
                    self.train_labels.update(labels)
                out["cell"] = codes_
            if not out["side"].shape[1]:
                del out["side"]
        if "target_cell" in sub.df.columns:
            cells = [target_cell_name(c) or c for c in self.tnames]
            lut = {c: j for j, c in enumerate(cells)}
            out["target_idx"] = np.array([lut.get(v.strip(), -1) for v in sub.df["target_cell"]], dtype=np.int64)
        if "group_id" in sub.df.columns:
            out["groups"] = sub.df["group_id"].to_numpy(dtype=object)
        return out

    def close(self):
        for h in self.h5:
            h.close()


def _finish(writer, plan, first, config, norm, length, log, n_test, se_cap):
    """Fit what is fitted on the train split from the cache being written; returns its meta."""
    import hashlib

    import numpy as np

    from ..errors import InputError
    from ..io import traincache as TC
    from . import data as D
    from . import targets as TT
    tnames, se = plan.tnames, plan.se
    for (split, t), n in sorted(plan.infinite.items()):
        log.warn(f"target '{t}': {n} {split} value(s) beyond the floating-point range (such as 1e400 or inf) "
                 "treated as missing labels")
    rows = dict(writer.rows)
    L = length if config is None else config["length"]
    if L is None:
        L = plan.max_len["train"]

    def column(split, name, j):
        ds = writer.dataset(split, name)
        return np.concatenate([ds[a:a + TC.BLOCK_ROWS, j] for a in range(0, rows[split], TC.BLOCK_ROWS)])

    cap = (se_cap or _DEFAULTS["se_cap"]) if config is None else config["train"]["se_cap"]
    if config is None:
        norm = {"targets": {}, "se_weight_mean": {}}
        for j, t in enumerate(tnames):
            kind = plan.kinds.get(t, "regression")
            chain = [c for c in plan.chains.get(t, TT.DEFAULT_TRANSFORM[kind]) if c != "none"]
            ytr = column("train", "y", j)
            for msg in TT.check(ytr, t, kind, chain, t in plan.kinds, file=first.name):
                log.warn(msg)
            for k in TC.SPLITS:
                yk = ytr if k == "train" else column(k, "y", j)
                bad = TT.bad_for_chain(yk, chain)
                if bad.size:
                    bad_id = writer.dataset(k, "ids").asstr()[int(bad[0])]
                    raise InputError(f"target '{t}' has {bad.size} value(s) <= -1, where log1p is undefined (e.g. "
                                     f"{yk[bad[0]]:g} at id {bad_id})", file=first.name, column=t,
                                     hint=f"use --target-transform {t}=asinh,zscore")
            norm["targets"][t] = {"type": kind, "transform": TT.fit(ytr, chain)}
            del ytr
        for j, t in enumerate(tnames):
            if t in se:
                params = TT.params_of(norm["targets"][t])
                total, count = 0.0, 0
                for a in range(0, rows["train"], TC.BLOCK_ROWS):
                    y = writer.dataset("train", "y")[a:a + TC.BLOCK_ROWS, j]
                    s = writer.dataset("train", "se")[a:a + TC.BLOCK_ROWS, j]
                    w = np.minimum(1.0 / (np.nan_to_num(s, nan=np.inf) ** 2 + 1e-6), cap).astype(np.float32)
                    ok = np.isfinite(TT.forward(y, params).astype(np.float32))
                    total += float(w[ok].sum(dtype=np.float64))
                    count += int(ok.sum())
                norm["se_weight_mean"][t] = total / count if count else 1.0
    side_cfg = plan.side_cfg
    n_side = 0
    meta_side = {}
    if side_cfg is not None:
        names, slices = list(plan.names), [dict(s) for s in plan.slices]
        cell = plan.cell
        labels = [None] * len(plan.cell_codes)
        for v, c in plan.cell_codes.items():
            labels[c] = v
        if cell:
            if "categories" not in cell:
                cell["categories"] = sorted(plan.train_labels)
            names += [f"cell:{c}" for c in cell["categories"]]
            slices.append({"name": "cell", "branch": "mlp", "end": len(names)})
            side_cfg["cell"] = cell
        start = 0
        for sl in slices:
            sl["start"], start = start, sl["end"]
        side_cfg["modalities"] = slices
        meta_side = {"n_raw": plan.n_raw, "cell_labels": labels,
                     "categories": cell["categories"] if cell else None}
        n_side = len(names)
        if config is None:
            norm["side"] = {"names": names}
            m_, s_ = _side_scaler(writer, rows["train"], meta_side)
            norm["side"].update({"mean": m_, "sd": s_})
        nan_total = 0
        for k in TC.SPLITS:
            for a in range(0, rows[k], TC.BLOCK_ROWS):
                raw = _side_raw(lambda name: writer.dataset(k, name)[a:a + TC.BLOCK_ROWS], meta_side)
                z = (raw - np.asarray(norm["side"]["mean"], dtype=np.float32)) / \
                    np.asarray(norm["side"]["sd"], dtype=np.float32)
                nan_total += int((~np.isfinite(z)).sum())
        if nan_total:
            log.warn(f"{nan_total} missing side-feature value(s) set to the train mean")
    h = hashlib.sha1()
    for k in TC.SPLITS:
        for a in range(0, rows[k], TC.BLOCK_ROWS):
            raw = writer.dataset(k, "codes")[a:a + TC.BLOCK_ROWS]
            h.update(D.centre(raw, writer.dataset(k, "lengths")[a:a + TC.BLOCK_ROWS], L).tobytes())
        for a in range(0, rows[k], TC.BLOCK_ROWS):
            h.update(np.nan_to_num(writer.dataset(k, "y")[a:a + TC.BLOCK_ROWS], nan=-9e99).tobytes())
    has = {name: writer.dataset("train", name) is not None for name in ("se", "side", "cell", "target_idx", "groups")}
    return {"task_types": [norm["targets"][t].get("type", "regression") for t in tnames], "targets": tnames,
            "se": se, "length": int(L), "normalization": norm, "side": side_cfg, "n_side": n_side,
            "side_layout": meta_side, "se_cap": cap, "data_sha1": h.hexdigest(), "input": first.name,
            "n_train": rows["train"], "n_val": rows["val"], "n_test": n_test, "has": has}


def _side_raw(get, side):
    """The side inputs of a block before scaling: the stored columns, then the cell label one-hot
    over the train categories (a label unseen in train is all zeros)."""
    import numpy as np

    parts = []
    if side.get("n_raw"):
        parts.append(get("side"))
    cats = side.get("categories")
    if cats is not None:
        pos = {c: j for j, c in enumerate(cats)}
        lut = np.array([pos.get(v, -1) for v in side["cell_labels"]], dtype=np.int64)
        col = lut[np.asarray(get("cell"), dtype=np.int64)]
        oh = np.zeros((len(col), len(cats)), dtype=np.float32)
        r = np.flatnonzero(col >= 0)
        oh[r, col[r]] = 1.0
        parts.append(oh)
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _side_scaler(writer, n, side):
    """Train mean and SD of each side input (NaN skipped; SD 1 where constant or empty), in
    float64 over blocks of the cache: two passes, as a streamed table needs."""
    import numpy as np

    from ..io import traincache as TC

    def blocks():
        for a in range(0, n, TC.BLOCK_ROWS):
            yield _side_raw(lambda name: writer.dataset("train", name)[a:a + TC.BLOCK_ROWS], side).astype(np.float64)

    _, mean, sd = TC.column_moments(blocks)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    return mean.tolist(), sd.tolist()


def _prepare(meta):
    """The fields a training split reads from the cache: ``prepare(get, names)`` (see
    toolkit.train.data.CachedRows). codes: the central ``length`` bases; y: the fitted target
    transforms (float32, NaN = missing); w: SE weights min(1/(SE^2 + 1e-6), se_cap) over their
    train mean (1 without an SE column); side: standardised side inputs, NaN set to 0;
    target_idx: each row's target-cell task or -1."""
    import numpy as np

    from . import data as D
    from . import side as S
    from . import targets as TT

    tnames, se, L, norm = meta["targets"], meta["se"], meta["length"], meta["normalization"]
    params = [TT.params_of(norm["targets"][t]) for t in tnames]
    cap = meta["se_cap"]
    side = meta.get("side_layout") or {}

    def prepare(get, names):
        out = {}
        for name in names:
            if name == "codes":
                out[name] = D.centre(get("codes"), get("lengths"), L)
            elif name == "y":
                y = get("y")
                z = np.empty(y.shape, dtype=np.float32)
                for j in range(len(tnames)):
                    z[:, j] = TT.forward(y[:, j], params[j])
                out[name] = z
            elif name == "w":
                w = np.ones((len(get("lengths")), len(tnames)), dtype=np.float32)
                for j, t in enumerate(tnames):
                    if t in se:
                        s = get("se")[:, j]
                        w[:, j] = np.minimum(1.0 / (np.nan_to_num(s, nan=np.inf) ** 2 + 1e-6), cap)
                        w[:, j] /= norm["se_weight_mean"][t]
                out[name] = w
            elif name == "side":
                out[name] = S.apply_scaler(_side_raw(get, side), norm["side"]["mean"], norm["side"]["sd"])[0]
            elif name == "target_idx":
                out[name] = get("target_idx") if meta["has"]["target_idx"] else \
                    np.full(len(get("lengths")), -1, dtype=np.int64)
        return out

    return prepare


ROW_BYTES_EXTRA = 8
"""Bytes a row takes in memory besides its codes, targets, weights and side inputs (target_idx)."""


def open_data(cache, in_memory, log):
    """The training cache at ``cache`` as the command's data: the splits (in memory, or read
    batch by batch, :func:`toolkit.io.traincache.choose_mode`) and what the loader derived."""

    from ..io import traincache as TC
    from . import data as D
    from .cre import Split

    reader = TC.CacheReader(cache, "cre")
    meta = reader.meta
    T = len(meta["targets"])
    row_bytes = meta["length"] + 8 * T + 4 * meta["n_side"] + ROW_BYTES_EXTRA
    mode = TC.choose_mode(in_memory, {"train": meta["n_train"], "val": meta["n_val"]}, row_bytes)
    prepare = _prepare(meta)
    fields = ("codes", "y", "w", "side", "target_idx")
    optional = () if meta["n_side"] else ("side",)
    splits = {}
    for k in TC.SPLITS:
        if mode == "memory":
            a = D.load_rows(reader, k, prepare, fields, optional)
            groups = reader.block(k, "groups", 0, reader.rows(k)) if meta["has"]["groups"] else None
            splits[k] = Split(a["codes"], a["y"], a["w"], a["side"], a["target_idx"], groups)
        else:
            splits[k] = D.CachedRows(reader, k, prepare, fields, optional)
    if mode == "memory":
        reader.close()
        reader = None
    return {**meta, "train": splits["train"], "val": splits["val"], "reader": reader, "mode": mode,
            "cache": cache, "row_bytes": row_bytes}


def _baseline_rows(data, seed):
    """Sequences (as read) and transformed targets of the rows the k-mer ridge baseline is fitted on
    (train) and scored on (val): all of a split up to toolkit.train.cre.KMER_MAX_ROWS, else a sample."""
    import numpy as np

    from ..io import traincache as TC
    from . import data as D
    from .cre import kmer_rows

    out = {}
    with TC.CacheReader(data["cache"], "cre") as reader:
        prepare = _prepare(reader.meta)
        for k, salt in (("train", 0), ("val", 1)):
            rows = D.CachedRows(reader, k, prepare, ("y",))
            pick = kmer_rows(len(rows), seed + salt)
            pick = np.arange(len(rows)) if pick is None else pick
            out[k] = (rows.sequences(pick), rows.take(pick, ("y",))["y"].numpy())
    return out


#: cell types with a bundled motif list (--motif-prior CELL)
MOTIF_CELLS = ("HepG2", "K562", "WTC11", "S2")


def modality(text):
    """--modality NAME=COLS|FILE.h5[:mlp|cnn] -> {"name", "spec", "branch"}."""
    from ..errors import ConfigError

    name, eq, spec = text.partition("=")
    branch = "mlp"
    for b in ("mlp", "cnn"):
        if spec.endswith(":" + b):
            spec, branch = spec[:-len(b) - 1], b
    if not eq or not name.strip() or not spec.strip() or name.strip() in ("motifs", "features", "cell"):
        raise ConfigError(f"--modality '{text}' is not NAME=COLS, NAME=FILE.h5 or either with :mlp / :cnn",
                          hint="e.g. --modality histone='H3K27ac_*,H3K4me3_*':cnn (names motifs, features and cell "
                               "are taken)")
    return {"name": name.strip(), "spec": spec.strip(), "branch": branch}


def _motifs(source):
    import os

    from ..features import motifs as M

    if os.path.isfile(source):
        return M.read_motif_file(source)
    cells = MOTIF_CELLS
    if source not in cells:
        from ..errors import ConfigError

        raise ConfigError(f"--motif-prior '{source}' is neither a file nor a cell type",
                          hint=f"use one of {', '.join(cells)} or a MEME/JASPAR motif file")
    return M.cell_type_motifs(source)


def resolve_config(data, preset, arch, dev, seed, flags, input, motif_prior, features, model_flags=None, settings=None):
    """The resolved configuration: defaults < preset < the --config file's ``settings`` < the flags
    (``flags``: training flags, ``arch`` and ``model_flags``; None = not given)."""
    from .. import __version__
    from ..errors import ConfigError
    from ..models.cre import PRESETS

    settings = settings or {"train": {}, "model": {}}
    file_train, file_model = settings["train"], dict(settings["model"])
    file_mm = file_model.pop("mm", None)
    given_model = {**file_model, **{k: v for k, v in (model_flags or {}).items() if v is not None}}
    if arch is not None:
        given_model["arch"] = arch
    if preset == "auto":
        preset = "malinois" if dev.type == "cuda" else "cpu"
    p = PRESETS[preset]
    train = dict(_DEFAULTS)
    for key in ("batch_size", "epochs", "min_epochs", "patience", "warmup_epochs", "lr", "mask_prob"):
        train[key] = p[key]
    train.update(file_train)
    train.update({k: v for k, v in flags.items() if v is not None})
    model = {"arch": p["arch"], "stem": p["stem"], "width": p["width"], "wide": p["wide"],
             "res_blocks": p["res_blocks"], "head_hidden": list(p["head_hidden"]), "n_side": data["n_side"],
             "side_dropout": 0.3}
    for key in ("norm", "head_dropout", "kmer_prior", "members"):
        model[key] = p[key]
    model.update(given_model)
    if model["arch"] == "mm-transformer":
        # the transformer's own sizes; its own defaults where the CNN presets' do not fit a transformer
        model["mm"] = {**MM_SIZES, **(file_mm or {})}
        for key, value in (("kmer_prior", False), ("members", 1)):
            if key not in given_model:
                model[key] = value
        if "lr" not in file_train and flags.get("lr") is None:
            train["lr"] = 5e-4
    elif file_mm:
        raise ConfigError(f"[model.mm] sets the mm-transformer's sizes, but the network is {model['arch']}",
                          file=settings.get("file"), hint="add --arch mm-transformer, or drop [model.mm]")
    return {"kind": "cre", "toolkit_version": __version__, "targets": data["targets"], "se_columns": data["se"],
            "task_types": data["task_types"],
            "length": data["length"], "preset": preset, "seed": seed, "model": model, "train": train,
            "side": data["side"], "input": data["input"], "data_sha1": data["data_sha1"],
            "rows": {"train": data["n_train"], "val": data["n_val"], "test_not_read": data["n_test"]}}


MM_SIZES = CRE_MM_SIZES
"""The mm-transformer's sizes (patch width, layers, heads)."""
