"""fit-physinformer's run: descfeat's HDF5 file (or a table of descriptor columns) read in blocks
into the training cache, or a plain sequence table whose descriptors are computed here with
descfeat's library (and, on request, augmented train rows: mutated and dinucleotide-shuffled
copies and genome windows, none a near-copy of a val or test row); the descriptors chosen,
pruned and scaled on the train split, the splits the trainer reads, a frozen TileFormer, and
the resolved configuration.

No printing: messages go through the command's ``log`` object (``info``, ``warn``, ``detail``);
failures are toolkit.errors exceptions.
"""

from . import prepare as prep
from .presets import PHYSINFORMER_TRAIN_DEFAULTS as _DEFAULTS

SAME_DATA = "resume with the same input"
"""What to do when a resumed run's rows differ from those it started with."""

from .presets import PHYSINFORMER_DATA_DEFAULTS as DATA_DEFAULTS  # noqa: E402

# DATA_DEFAULTS: fit-physinformer's data settings (config.json ``data``) where neither a --config [data] table nor a flag
# sets them: ``augment`` training sequences added (also --augment); ``augment_mix`` the weights of mutated
# copies, dinucleotide shuffles and genome windows (genome only with --genome); ``mutate_fraction`` the share
# of positions a mutated copy changes; ``prune`` drop the descriptors that repeat an earlier one on the train
# rows; ``leak_*`` the grouping that keeps near-copies of val and test rows out (dgsplit's --near,
# --max-mismatch, --kmer-k, --kmer-threshold).


def fit(input, out_dir, group, log, dev, settings, *, fmt, seq_col, id_col, desc_spec, activities, arch,
        tileformer_dir, preset, length, grad_checkpoint, seed, resume, data_in_memory, train_flags,
        cell_type="HepG2", motifs_path=None, motifs_given=False, augment=None, genome=None, jobs=1):
    """Train PhysInformer (or TileFormer, ``arch``) into the model directory ``out_dir``: the
    training cache, config.json, normalization.json and the trainer's files; the cache is
    removed when the run finishes. ``tileformer_dir``: a TileFormer model directory frozen
    inside a new PhysInformer.

    ``group``: the process group (toolkit.train.dist); ``log``: the command's log object;
    ``settings``: the checked --config file; the keywords are fit-physinformer's options
    (None = not given), ``train_flags`` its training flags. For a sequence table without
    descriptor columns: ``cell_type`` / ``motifs_path`` choose the pwm motifs (descfeat's
    --cell-type / --motifs; ``motifs_given``: either was given), ``augment`` and ``genome``
    the augmentation (see :data:`DATA_DEFAULTS`), ``jobs`` the worker processes that compute
    the descriptors.
    """
    from ..io import traincache as TC
    from . import dist
    from . import modeldir as MD
    from . import physinformer as trainer

    config, norm = MD.open_run(out_dir, "physinformer", resume, lock=group.main)
    group.barrier()                     # every rank has checked out_dir before rank 0 writes into it
    if config is not None:
        arch = config["model"].get("arch", "physinformer")
    tile = load_tileformer(tileformer_dir) if config is None and tileformer_dir else None
    data_cfg = resolve_data(settings, augment, genome) if config is None else \
        config.get("data") or {**DATA_DEFAULTS, "augment": 0, "prune": False, "genome": None}
    if config is None and data_cfg["genome"] and not data_cfg["augment"]:
        log.warn("--genome is not used: no augmentation was asked for (--augment N)")
    labels = {"cell_type": cell_type, "motifs_path": motifs_path, "motifs_given": motifs_given, "jobs": jobs,
              "seed": seed if config is None else int(config["seed"])}
    cache = prep.training_cache(
        "fit-physinformer", "physinformer", group, log, out_dir, input, resume,
        lambda path: load(input, fmt, seq_col, id_col, desc_spec or ("psi_*" if arch == "tileformer" else None),
                          activities, length, config, norm, log, cache=path, labels=labels, data=data_cfg))
    data = open_data(cache, data_in_memory)
    if config is None:
        config = resolve_config(data, preset, dev, seed, train_flags, grad_checkpoint, arch, tile, settings)
        if group.main:
            prep.write_run(out_dir, config, data["normalization"])
    else:
        prep.check_same_data(config, data, SAME_DATA)
    dropped = config["dropped"]
    duplicate = dropped.get("duplicate", {})
    aug = config.get("augmentation")
    labelled = config.get("labels")
    if labelled:
        log.info(_labels_summary(labelled, aug))
    log.info(f"fit-physinformer: {data['n_train']:,} train"
             + (f" ({data['n_train'] - sum(aug['added'].values()):,} of the input, {sum(aug['added'].values()):,} "
                "augmented)" if aug else "")
             + f", {data['n_val']:,} val rows ({data['n_test']:,} test rows "
             f"not used); {len(config['descriptors'])} descriptors ("
             + ", ".join(f"{f} {config['families'].count(f)}" for f in dict.fromkeys(config["families"]))
             + f"); dropped: {len(dropped['zero_variance'])} constant on train, {len(duplicate)} duplicating an "
             f"earlier descriptor, {len(dropped['no_values'])} without "
             f"values, {len(dropped['categorical'])} categorical; ΔG derived for "
             f"{len(config['thermo_triples'])} thermo triple(s); {arch}, preset {config['preset']}, device {dev}"
             + (f"; frozen TileFormer from {config['tileformer']['dir']}" if config.get("tileformer") else "")
             + (f"; auxiliary heads for {', '.join(config['activities'])}" if config["activities"] else "")
             + (", resuming" if resume else "")
             + (f"; {group.world} processes (DistributedDataParallel)" if group.active else "")
             + ("; batches read from the training cache by index (--stream-data)" if data["mode"] == "stream" else
                "; train and val rows in memory"))
    if dropped["zero_variance"]:
        log.detail("constant on the train split: " + ", ".join(dropped["zero_variance"]))
    if duplicate:
        log.detail("duplicating an earlier descriptor on the train split: "
                   + ", ".join(f"{k} (= {v})" for k, v in duplicate.items()))
    n = data["normalization"]["descriptors"]
    try:
        result = trainer.train(config, data["train"], data["val"], out_dir, dev, (n["mean"], n["sd"]), log=log.info,
                               resume=resume, tileformer_state=tile["state"] if tile else None)
    finally:
        if data["reader"] is not None:
            data["reader"].close()
    best = result["best"]
    row = result["log"][best["epoch"] - 1]
    log.info(f"fit-physinformer: {result['epochs']} epochs; best epoch {best['epoch']} (median val NLL {row['val_nll_median']:.4f}, "
             f"median val Pearson {row['val_pearson_median']:.3f}, median R2 {row['val_r2_median']:.3f}); "
             f"model in {out_dir}")
    dist.teardown()
    if group.main:                      # a finished run is not resumed: the cache has done its work
        TC.remove(cache)


CATEGORICAL = ("pwm_best_tf",)
"""Descriptors that are category codes, not quantities: never regressed."""


HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(path):
    """Is this input an HDF5 file (a path, or standard input starting with the HDF5 signature)?"""
    import sys

    if path in (None, "-"):
        raw = sys.stdin.buffer
        if hasattr(raw, "peek"):
            return raw.peek(8)[:8] == HDF5_MAGIC
        if raw.seekable():
            pos = raw.tell()
            head = raw.read(8)
            raw.seek(pos)
            return head == HDF5_MAGIC
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_MAGIC
    except OSError:
        return False


def load(input, fmt, seq_col, id_col, desc_spec, activities, length, config, norm, log, cache=None, labels=None,
         data=None):
    """Read the train and val rows chunk by chunk into the training cache at ``cache`` (test and
    excluded rows are dropped and never enter it), then choose, prune and scale the descriptors
    from the cache (statistics over the train split in float64, block by block).

    A table without descriptor columns is labelled here: the descriptors of its train and val
    rows are computed chunk by chunk with descfeat's library (``labels``: cell_type,
    motifs_path, motifs_given, jobs, seed) and stored as descfeat's HDF5 file stores them
    (float32), and ``data["augment"]`` augmented train rows are added (see
    :func:`_augment`). ``data``: the resolved data settings (:func:`resolve_data`).

    Nothing is returned: :func:`open_data` opens the cache, whose ``meta`` holds what was
    derived (descriptors kept and dropped, normalisation, ΔG triples, length, data hash, and
    for computed descriptors what computed them and the augmentation's counts).
    """
    import os

    import numpy as np

    from ..errors import ConfigError, InputError
    from ..io import traincache as TC

    labels = labels or {"cell_type": "HepG2", "motifs_path": None, "motifs_given": False, "jobs": 1, "seed": 0}
    data = data or {**DATA_DEFAULTS, "genome": None}
    acts = ([a.strip() for a in activities.split(",") if a.strip()] if activities else []) if config is None \
        else list(config["activities"])
    tmp = None
    if _is_hdf5(input) and input in (None, "-"):       # h5py needs a file: standard input is copied first
        import shutil
        import sys
        import tempfile

        fd, tmp = tempfile.mkstemp(suffix=".h5")
        with os.fdopen(fd, "wb") as fh:
            shutil.copyfileobj(sys.stdin.buffer, fh)
    writer = labeller = None
    n_aug = int(data.get("augment") or 0)
    try:
        h5 = bool(tmp or _is_hdf5(input))
        source = _h5_chunks(tmp or input, acts, "<stdin>" if tmp else None) if h5 else \
            _table_chunks(input, fmt, seq_col, id_col, acts, held=n_aug > 0)
        head = next(source)
        name, have = head["name"], head["names"]
        compute = (not h5 and _needs_labels(have, desc_spec)) if config is None else bool(config.get("labels"))
        if not compute and labels["motifs_given"] and config is None:
            log.warn("--cell-type and --motifs are not used: the input has descriptor columns (they choose the "
                     "motifs when fit-physinformer computes the descriptors of a plain sequence table)")
        if not compute and n_aug:
            raise ConfigError("--augment needs a plain sequence table (the descriptors of the new sequences are "
                              "computed like those of its rows); this input has descriptor columns", file=name,
                              hint="give the table without descriptor columns (e.g. dgsplit's output), or drop "
                                   "--augment")
        if compute:
            labeller, have = _labeller(config, desc_spec, labels, name)
        if config is None:
            cand = _select(have, desc_spec, name)
            dropped = {"categorical": [c for c in cand if c in CATEGORICAL], "no_values": [], "zero_variance": [],
                       "duplicate": {}}
            cand = [c for c in cand if c not in CATEGORICAL]
        else:
            cand = list(config["descriptors"])
            missing = [c for c in cand if c not in have]
            if missing:
                raise InputError(f"descriptor(s) of the trained model missing: {', '.join(missing[:5])}", file=name)
            dropped = config["dropped"]
        pos = {c: i for i, c in enumerate(have)}
        cols = np.array([pos[c] for c in cand], dtype=np.int64)
        os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
        writer = TC.CacheWriter(cache, "physinformer", source=TC.fingerprint(input) if not tmp else None)
        max_len = 0
        held = []                   # val and test sequences, for the augmentation's leak guard
        from . import data as D

        for part in source:
            for k, rows in part["rows"].items():
                if k == "test" or (k == "val" and n_aug):      # (test: with the excluded rows)
                    held.extend(rows["seqs"])
                if k == "test" or not len(rows["seqs"]):
                    continue
                if not compute:
                    codes, lengths = D.encode_left(rows["seqs"])
                    if k == "train":
                        max_len = max(max_len, int(lengths.max()))
                    arrays = {"codes": codes, "lengths": lengths, "ids": np.asarray(rows["ids"], dtype=object),
                              "values": rows["values"](cols)}
                    if acts:
                        arrays["act"] = rows["act"]
                    writer.append(k, arrays)
                    continue
                step = labeller.block * max(1, labeller.jobs)      # labelled and written a block at a time
                for a in range(0, len(rows["seqs"]), step):
                    seqs = rows["seqs"][a:a + step]
                    codes, lengths = D.encode_left(seqs)
                    if k == "train":
                        max_len = max(max_len, int(lengths.max()))
                    arrays = {"codes": codes, "lengths": lengths,
                              "ids": np.asarray(rows["ids"][a:a + step], dtype=object),
                              "values": labeller.compute(seqs)[:, cols].astype(np.float32)}
                    if acts:
                        arrays["act"] = rows["act"][a:a + step]
                    if k == "train":
                        arrays["origin"] = np.zeros(len(codes), dtype=np.uint8)
                    writer.append(k, arrays)
                    log.status(f"fit-physinformer: descriptors of {labeller.rows:,} rows, "
                               f"{labeller.rows / max(labeller.seconds, 1e-9):,.0f}/s")
        log.status_done()
        if not writer.rows["train"]:
            raise InputError("no 'train' rows", file=name, column="split")
        if config is None and not writer.rows["val"]:
            raise ConfigError("no 'val' rows", file=name, hint="dgsplit writes train, val and test rows")
        extra = {}
        if compute:
            L = int(config["length"]) if config is not None else int(length or max_len)
            n_input = writer.rows["train"]
            aug = _augment(writer, labeller, cols, held, acts, data, L, labels["seed"], log) if n_aug else None
            log.info(f"fit-physinformer: descriptors of {labeller.rows:,} sequences computed in "
                     f"{labeller.seconds:.1f} s ({labeller.rows / max(labeller.seconds, 1e-9):,.0f}/s, "
                     f"{labeller.jobs} process{'es' if labeller.jobs > 1 else ''})")
            extra = {"labels": labeller.info, "augmentation": aug, "n_train_input": n_input,
                     "origin_codes": _origin_codes()}
        meta = _finish(writer, cand, dropped, acts, config, norm, length, max_len, log, name,
                       prune=bool(data.get("prune")) and config is None)
        meta.update({"n_test": head["n_test"]() if callable(head["n_test"]) else head["n_test"],
                     "input": name, "format": head["format"], "data": data, **extra})
        writer.finish(meta)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if labeller is not None:
            labeller.close()
        if tmp:
            os.unlink(tmp)


def _origin_codes():
    from .augment import ORIGIN

    return dict(ORIGIN)


def _needs_labels(have, spec):
    """A table whose descriptors are to be computed: no column named like a descriptor
    (``<family>_...``), and no --descriptors pattern naming one of its columns."""
    import fnmatch

    from ..features import FAMILIES

    if any(c.split("_", 1)[0] in FAMILIES for c in have):
        return False
    pats = [x.strip() for x in spec.split(",") if x.strip()] if spec else []
    return not any(fnmatch.fnmatchcase(c, p) for c in have for p in pats)


def _labeller(config, desc_spec, labels, name):
    """The Labeller of a sequence table and the descriptor names it gives: on a new run the
    families of the descriptors --descriptors chooses (by default every family but psi, which
    is TileFormer's), on a resumed run those of config.json's ``labels``."""
    from ..features import FAMILIES
    from ..features.labeller import Labeller, descriptor_catalogue

    if config is None:
        catalogue = descriptor_catalogue(labels["cell_type"], labels["motifs_path"], FAMILIES)
        family = dict(catalogue)
        chosen = _select([n for n, _ in catalogue], desc_spec, name)
        fams = tuple(f for f in FAMILIES if any(family[c] == f for c in chosen))
        cell_type, motifs_path = labels["cell_type"], labels["motifs_path"]
    else:
        got = config["labels"]
        fams, motifs_path = tuple(got["families"]), got.get("motifs_file")
        cell_type = got.get("cell_type") or "HepG2"
    lab = Labeller(fams, cell_type, motifs_path, jobs=labels["jobs"])
    return lab, list(lab.names)


class _TrainSources:
    """The input's train rows of a cache being written, read back by index (the sources of
    mutated and shuffled copies): ``n`` rows; calling it with indices gives (sequences, ids)."""

    def __init__(self, writer, n):
        self.writer, self.n = writer, int(n)

    def __call__(self, idx):
        import numpy as np

        from . import data as D

        uniq, inv = np.unique(np.asarray(idx, dtype=np.int64), return_inverse=True)
        codes = self.writer.dataset("train", "codes")[uniq]
        lengths = self.writer.dataset("train", "lengths")[uniq]
        ids = self.writer.dataset("train", "ids").asstr()[uniq]
        seqs = D.decode_rows(codes, lengths)
        return [seqs[i] for i in inv], [ids[i] for i in inv]


GUARD_BLOCK = 16384
"""Augmented candidates grouped with the val and test rows at a time (each block is grouped with
all of them: the larger the block, the fewer passes over them)."""


def _augment(writer, labeller, cols, held, acts, data, length, seed, log):
    """Append ``data["augment"]`` candidate train rows (toolkit.train.augment) to the cache, less
    those grouped with a val or test row; returns their counts per kind."""
    import numpy as np

    from ..errors import ConfigError
    from . import augment as A
    from . import data as D

    n = int(data["augment"])
    try:
        counts = A.kind_counts(n, data["augment_mix"], genome=bool(data.get("genome")))
    except ValueError as exc:
        raise ConfigError(f"data.augment_mix: {exc}", hint="give mutate or shuffle a weight, or --genome") from None
    genome = A.GenomeWindows(data["genome"], length) if counts["genome"] else None
    guard = A.LeakGuard(held, near=data["leak_near"], max_mismatch=data["leak_max_mismatch"],
                        kmer_k=data["leak_kmer_k"], kmer_threshold=data["leak_kmer_threshold"])
    sources = _TrainSources(writer, writer.rows["train"])
    dropped, added = dict.fromkeys(A.KINDS, 0), dict.fromkeys(A.KINDS, 0)
    try:
        for seqs, kinds, ids in A.candidates(counts, sources, seed, float(data["mutate_fraction"]), genome,
                                             block=GUARD_BLOCK):
            kind = kinds[0]
            leak = guard.leaks(seqs)
            dropped[kind] += int(leak.sum())
            keep = np.flatnonzero(~leak)
            if not len(keep):
                continue
            seqs = [seqs[i] for i in keep]
            ids = [ids[i] for i in keep]
            step = labeller.block * max(1, labeller.jobs)
            for a in range(0, len(seqs), step):
                part = seqs[a:a + step]
                codes, lengths = D.encode_left(part)
                arrays = {"codes": codes, "lengths": lengths, "ids": np.asarray(ids[a:a + step], dtype=object),
                          "values": labeller.compute(part)[:, cols].astype(np.float32),
                          "origin": np.full(len(part), A.ORIGIN[kind], dtype=np.uint8)}
                if acts:                            # no measured activity: masked in the auxiliary heads' loss
                    arrays["act"] = np.full((len(part), len(acts)), np.nan)
                writer.append("train", arrays)
            added[kind] += len(seqs)
            log.status(f"fit-physinformer: {sum(added.values()) + sum(dropped.values()):,} of {n:,} augmented "
                       "sequences")
    finally:
        if genome is not None:
            genome.close()
    log.status_done()
    return {"requested": n, "candidates": counts, "dropped_near_val_test": dropped, "added": added,
            "leak_rule": guard.describe(), "genome": data.get("genome")}


def _labels_summary(labelled, aug):
    """The run summary's line about computed descriptors and augmentation."""
    src = labelled.get("motif_source")
    text = (f"fit-physinformer: descriptors computed with descfeat's library ({', '.join(labelled['families'])}"
            + (f"; motifs: {src}" if src else "") + ")")
    if aug:
        made = ", ".join(f"{k} {v:,}" for k, v in aug["candidates"].items() if v)
        gone = aug["dropped_near_val_test"]
        which = ", ".join(f"{k} {v:,}" for k, v in gone.items() if v) or "none"
        text += (f"; augmentation: {aug['requested']:,} requested ({made}), {sum(gone.values()):,} dropped as "
                 f"near-copies of val or test rows ({which}; {aug['leak_rule']}), {sum(aug['added'].values()):,} "
                 "added to the train rows")
    return text


def _h5_chunks(path, acts, shown=None, block=1 << 15):
    """A descfeat HDF5 file in blocks of rows: first {"name", "names", "format", "n_test"}, then
    {"rows": {split: {"seqs", "ids", "values"(cols) -> array, "act"}}} per block (train and val rows only)."""
    import numpy as np

    from ..errors import InputError
    from ..io.h5 import open_h5
    from ..io.tables import check_split

    name = shown or path
    with open_h5(path, shown=name) as h5:
        if "split" not in h5["columns"]:
            raise InputError("no 'split' column in the HDF5 file", file=name,
                             hint="run dgsplit before descfeat (seqqc lib.tsv | dgsplit | descfeat -o d.h5)")
        columns = list(h5["columns"])
        missing = [a for a in acts if a not in columns]
        if missing:
            raise InputError(f"activity column(s) not in the file: {', '.join(missing)}", file=name,
                             hint=f"its columns are: {', '.join(columns)}")
        names = _Names(x.decode() if isinstance(x, bytes) else x for x in h5["descriptor_names"][()])
        n = h5["descriptors"].shape[0]
        counted = {"test": 0}
        yield {"name": name, "names": names, "format": "hdf5", "n_test": lambda: counted["test"]}
        for a in range(0, n, block):
            b = min(a + block, n)
            split = check_split(h5["columns"]["split"].asstr()[a:b], name)
            counted["test"] += int((split == "test").sum())
            out = {}
            for k in ("train", "val"):
                rows = np.flatnonzero(split == k)
                if not len(rows):
                    continue
                ids = np.asarray(h5["ids"].asstr()[a:b], dtype=object)[rows]
                seqs = [s.strip().upper() for s in np.asarray(h5["sequences"].asstr()[a:b], dtype=object)[rows]]
                vals = h5["descriptors"][a:b][rows]
                act = np.column_stack([_numbers(np.asarray(h5["columns"][c].asstr()[a:b], dtype=object)[rows].tolist(),
                                                name, c, ids=list(ids)) for c in acts]) if acts else None
                out[k] = {"seqs": seqs, "ids": ids, "values": lambda cols, v=vals: v[:, cols], "act": act}
            yield {"rows": out}


def _table_chunks(input, fmt, seq_col, id_col, acts, held=False):
    """A table with descriptor columns in chunks (see :func:`_h5_chunks`); only the chosen columns of
    train and val rows are parsed. With ``held`` each chunk's test rows, and those dgsplit
    excluded from every split, come too, as ``{"test": {"seqs"}}`` (their sequences only: the
    augmentation's leak guard)."""
    import numpy as np

    from ..errors import InputError
    from ..io.tables import SeqTable, check_split, clean_sequences, iter_table

    head = None
    counted = {"test": 0}
    for chunk in iter_table(input, fmt=fmt, seq_col=seq_col, id_col=id_col):
        if head is None:
            if "split" not in chunk.df.columns:
                raise InputError("no 'split' column", file=chunk.name, line=1,
                                 hint="run dgsplit first (seqqc lib.tsv | dgsplit | descfeat | fit-physinformer ...)")
            cols = list(chunk.df.columns)
            exclude = {"id", chunk.seq_col, "split", "group_id", *(acts or [])}
            names = [c for c in cols if c not in exclude]
            missing = [a for a in acts if a not in cols]
            if missing:
                raise InputError(f"activity column(s) not in the input: {', '.join(missing)}", file=chunk.name,
                                 line=1)
            head = {"name": chunk.name, "names": names, "format": "table", "n_test": lambda: counted["test"]}
            yield head
        split = check_split(chunk.df["split"].tolist(), chunk.name, chunk.lines)
        counted["test"] += int((split == "test").sum())
        ids = np.asarray(chunk.ids(), dtype=object)
        out = {}
        for k in ("train", "val"):
            m = split == k
            if not m.any():
                continue
            sub = SeqTable(chunk.df.loc[m].reset_index(drop=True), chunk.seq_col, chunk.id_col, chunk.lines[m],
                           chunk.name, chunk.fmt, ids=ids[m])

            def values(cols, sub=sub):
                chosen = [names[j] for j in cols]
                if not chosen:
                    return np.zeros((len(sub.df), 0))
                return np.column_stack([_numbers(sub.df[c].tolist(), sub.name, c, sub.lines) for c in chosen])

            act = np.column_stack([_numbers(sub.df[a].tolist(), sub.name, a, sub.lines) for a in acts]) if acts \
                else None
            out[k] = {"seqs": clean_sequences(sub), "ids": ids[m], "values": values, "act": act}
        if held and np.isin(split, ("test", "excluded")).any():
            m = np.isin(split, ("test", "excluded"))
            out["test"] = {"seqs": clean_sequences(SeqTable(chunk.df.loc[m].reset_index(drop=True), chunk.seq_col,
                                                            chunk.id_col, chunk.lines[m], chunk.name, chunk.fmt,
                                                            ids=ids[m]))}
        yield {"rows": out}


def _column_stats(writer, name, n, cols=None):
    """Per column over the train rows of a cache dataset: finite count, mean and SD (NaN and
    inf skipped; float64, two passes over blocks)."""
    import numpy as np

    from ..io import traincache as TC

    def blocks():
        ds = writer.dataset("train", name)
        step = TC.block_rows(8 * int(np.prod(ds.shape[1:])))
        for a in range(0, n, step):
            x = ds[a:a + step].astype(np.float64)
            yield x if cols is None else x[:, cols]

    return TC.column_moments(blocks)


def varying_columns(cand, finite, sd, dropped):
    """Indices of the candidate descriptors a model can learn: at least 3 finite train values and
    a train SD above 1e-8; the others are appended to ``dropped["no_values"]`` or
    ``dropped["zero_variance"]`` (names).

    cand : list of str; finite, sd : arrays (len(cand),), train counts of finite values and SDs.
    """
    keep = []
    for j, c in enumerate(cand):
        if finite[j] < 3:
            dropped["no_values"].append(c)
        elif not sd[j] > 1e-8:
            dropped["zero_variance"].append(c)
        else:
            keep.append(j)
    return keep


def _finish(writer, cand, dropped, acts, config, norm, length, max_len, log, name, prune=False):
    """Choose and scale the descriptors from the cache being written; returns its meta. With
    ``prune`` a descriptor that repeats an earlier kept one on the train rows (descfeat
    --prune's rule, toolkit.features.prune.ColumnPruner) is dropped too, into
    ``dropped["duplicate"]`` (name -> the descriptor it repeats)."""
    import hashlib

    import numpy as np

    from ..errors import InputError
    from ..io import traincache as TC
    from ..models.physinformer import ENTROPY_FACTOR, TEMPERATURE_K, family_of, thermo_triples
    from . import data as D

    rows = dict(writer.rows)
    B = TC.block_rows(8 * len(cand))
    if config is None:
        finite, _, sd = _column_stats(writer, "values", rows["train"])
        keep = varying_columns(cand, finite, sd, dropped)
        if not keep:
            raise InputError("no descriptor varies on the train split", file=name,
                             hint="check the input (descfeat output with a split column) or --descriptors")
        if prune:
            keep = _drop_duplicates(writer, rows["train"], cand, keep, dropped)
        names = [cand[j] for j in keep]
        _, mean, sdv = _column_stats(writer, "values", rows["train"], np.asarray(keep))
        norm = {"descriptors": {"names": names, "mean": mean.tolist(), "sd": sdv.tolist()}, "activities": {}}
        triples, residual = [], {}
        for t in thermo_triples(names):
            worst, rmax, seen = -np.inf, 0.0, False
            ds = writer.dataset("train", "values")
            for a in range(0, rows["train"], B):
                x = ds[a:a + B].astype(np.float64)
                x[~np.isfinite(x)] = np.nan
                h, s, g = (x[:, keep[i]] for i in t)
                r = np.abs(g - (h - TEMPERATURE_K * ENTROPY_FACTOR * s))
                scale = np.abs(h) + TEMPERATURE_K * ENTROPY_FACTOR * np.abs(s) + np.abs(g) + 1e-12
                ok = np.isfinite(r)
                if ok.any():
                    seen = True
                    worst = max(worst, float((r[ok] - (2e-5 * scale[ok] + 1e-6)).max()))
                    rmax = max(rmax, float(r[ok].max()))
            if seen and worst <= 0:
                triples.append(t)
                residual[names[t[2]]] = rmax
            else:
                log.warn(f"{names[t[2]]} is not {names[t[0]]} - {TEMPERATURE_K} K x {names[t[1]]}/1000 on the train "
                         "rows; it is predicted directly")
        if acts:
            count, am, asd = _column_stats(writer, "act", rows["train"])
            for j, c in enumerate(acts):
                if count[j] < 3 or not asd[j] > 0:
                    raise InputError(f"activity '{c}' has fewer than 3 values or no variance in the train split",
                                     file=name, column=c, hint="drop it from --activities")
                norm["activities"][c] = {"mean": float(am[j]), "sd": float(asd[j])}
        L = length or max_len
    else:
        names, keep = cand, list(range(len(cand)))
        triples, residual = config["thermo_triples"], config.get("thermo_identity_max_residual", {})
        L = int(config["length"])
    meta = {"names": names, "keep": keep, "families": [family_of(c) for c in names], "triples": triples,
            "residual": residual, "dropped": dropped, "activities": acts, "length": int(L), "normalization": norm,
            "n_train": rows["train"], "n_val": rows["val"]}
    prepare = _prepare(meta)
    h = hashlib.sha1()
    for k in TC.SPLITS:
        for a in range(0, rows[k], TC.BLOCK_ROWS):
            ds = writer.dataset(k, "codes")
            h.update(D.centre(ds[a:a + TC.BLOCK_ROWS], writer.dataset(k, "lengths")[a:a + TC.BLOCK_ROWS], L).tobytes())
        for a in range(0, rows[k], B):
            v = writer.dataset(k, "values")[a:a + B][:, keep].astype(np.float64)
            v[~np.isfinite(v)] = np.nan
            h.update(np.nan_to_num(v, nan=-9e99).tobytes())
        if acts:
            for a in range(0, rows[k], TC.BLOCK_ROWS):
                got = prepare(lambda nm: writer.dataset(k, nm)[a:a + TC.BLOCK_ROWS], ("act",))["act"]
                h.update(np.nan_to_num(got.astype(np.float64), nan=-9e99).tobytes())
    meta["data_sha1"] = h.hexdigest()
    return meta


def _drop_duplicates(writer, n, cand, keep, dropped):
    """The columns ``keep`` (indices into ``cand``) less those that repeat an earlier one on the
    first ``n`` train rows of the cache (NaN in the same rows and |Pearson r| above
    toolkit.features.prune.R_DUPLICATE: an identical, affine or negated copy); each one
    dropped is recorded in ``dropped["duplicate"]`` as name -> the kept column it repeats."""
    import numpy as np

    from ..features.prune import ColumnPruner
    from ..io import traincache as TC

    pruner = ColumnPruner([cand[j] for j in keep])
    ds = writer.dataset("train", "values")
    step = TC.block_rows(8 * len(cand))
    cols = np.asarray(keep, dtype=np.int64)
    for a in range(0, n, step):
        x = ds[a:a + step].astype(np.float64)[:, cols]
        x[~np.isfinite(x)] = np.nan
        pruner.update(x)
    for d in pruner.dropped():
        if d["reason"] == "duplicate":          # (a constant column is already out: keep has none)
            dropped.setdefault("duplicate", {})[d["column"]] = d["of"]
    return [keep[i] for i in pruner.keep()]


def _prepare(meta):
    """The fields a PhysInformer split reads from the cache (toolkit.train.data.CachedRows):
    codes (central ``length`` bases), y (descriptors kept, (x - mean) / SD as float32, NaN
    where missing), feats (y with NaN as 0, the auxiliary heads' input), act (activities,
    standardised)."""
    import numpy as np

    from . import data as D

    L, keep = meta["length"], np.asarray(meta["keep"], dtype=np.int64)
    norm = meta["normalization"]
    mean = np.asarray(norm["descriptors"]["mean"])
    sd = np.asarray(norm["descriptors"]["sd"])
    acts = meta["activities"]
    am = np.array([norm["activities"][c]["mean"] for c in acts]) if acts else None
    asd = np.array([norm["activities"][c]["sd"] for c in acts]) if acts else None

    def prepare(get, names):
        out = {}
        if "y" in names or "feats" in names:
            v = get("values")[:, keep].astype(np.float64)
            v[~np.isfinite(v)] = np.nan
            y = ((v - mean) / sd).astype(np.float32)
            if "y" in names:
                out["y"] = y
            if "feats" in names:
                out["feats"] = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
        if "codes" in names:
            out["codes"] = D.centre(get("codes"), get("lengths"), L)
        if "act" in names:
            out["act"] = ((get("act") - am) / asd).astype(np.float32)
        return out

    return prepare


def open_data(cache, in_memory):
    """The training cache as the command's data: the splits (in memory or read batch by batch)
    and the loader's meta."""
    from ..io import traincache as TC
    from . import data as D
    from .physinformer import Split

    reader = TC.CacheReader(cache, "physinformer")
    meta = reader.meta
    d, A = len(meta["names"]), len(meta["activities"])
    row_bytes = meta["length"] + 8 * d + 4 * A
    mode = TC.choose_mode(in_memory, {"train": meta["n_train"], "val": meta["n_val"]}, row_bytes)
    prepare = _prepare(meta)
    fields = ("codes", "y", "feats", "act")
    optional = () if A else ("act",)
    block = TC.block_rows(8 * (len(meta["keep"]) + d))
    splits = {}
    for k in TC.SPLITS:
        if mode == "memory":
            a = D.load_rows(reader, k, prepare, ("codes", "y", "act"), optional, block)
            splits[k] = Split(a["codes"], a["y"], a["act"])
        else:
            splits[k] = D.CachedRows(reader, k, prepare, fields, optional, block)
    if mode == "memory":
        reader.close()
        reader = None
    return {**meta, "train": splits["train"], "val": splits["val"], "reader": reader, "mode": mode, "cache": cache}


def _select(have, spec, name):
    from ..errors import InputError
    from ..models.physinformer import family_of
    from .side import select_columns

    if spec:
        import fnmatch

        from ..errors import ConfigError

        for pat in (x.strip() for x in spec.split(",") if x.strip()):
            if not any(fnmatch.fnmatchcase(c, pat) for c in have):
                raise ConfigError(f"--descriptors: nothing matches '{pat}'", file=name,
                                  hint="name descriptors of the input, e.g. 'thermo_*,bend_*' (descfeat --list)")
        return select_columns(have, spec)
    # psi_* (electrostatics) are TileFormer's targets and reach PhysInformer as its inputs (--tileformer)
    out = [c for c in have if family_of(c) != "global"] if not _from_h5(have) else \
        [c for c in have if not c.startswith("psi_")]
    if not out:
        raise InputError("no descriptor columns (pwm_*, bend_*, stiff_*, thermo_*, entropy_*, advanced_*)", file=name,
                         hint="run descfeat first, or name the columns with --descriptors")
    return out


def _from_h5(have):
    return getattr(have, "from_h5", False)


class _Names(list):
    from_h5 = True


def _numbers(texts, name, column, lines=None, ids=None):
    from ..io.tables import parse_numeric_values

    return parse_numeric_values(texts, lines, name, column, hint="fix the value or leave it empty", ids=ids)


def load_tileformer(path):
    """The TileFormer of a model directory: {"dir", "config" (what builds it), "state"}. That
    ``path`` is not given with --arch tileformer is the command's usage check."""
    import os

    from ..errors import InputError
    from ..models import KINDS
    from . import modeldir as MD

    cfg = MD.read_config(path, kinds=KINDS)
    if cfg["kind"] != "physinformer" or cfg["model"].get("arch") != "tileformer":
        raise InputError("not a TileFormer model directory", file=path,
                         hint="train one with fit-physinformer --arch tileformer")
    state = MD.load_tensors(os.path.join(path, MD.WEIGHTS))
    return {"dir": os.path.abspath(path), "state": state,
            "config": {"model": cfg["model"], "descriptors": cfg["descriptors"]}}


def check_model_keys(settings, arch):
    """A --config [model] key of the other architecture is refused (ConfigError), before any input is read."""
    from ..errors import ConfigError
    from .presets import PHYSINFORMER_ONLY, TILEFORMER_ONLY

    other = PHYSINFORMER_ONLY if arch == "tileformer" else TILEFORMER_ONLY
    for key in settings["model"]:
        if key in other:
            raise ConfigError(f"model key '{key}' is a setting of --arch "
                              f"{'physinformer' if arch == 'tileformer' else 'tileformer'}, not of {arch}",
                              file=settings["file"], hint="drop it, or choose that --arch")


def resolve_data(settings, augment=None, genome=None):
    """The data settings of a new run (config.json ``data``): :data:`DATA_DEFAULTS` < the --config
    file's ``data`` table (when it has one) < the flags ``augment`` and ``genome`` (None = not
    given). ConfigError for a value out of range; InputError for a genome file that is not there."""
    import os

    from ..errors import ConfigError
    from .augment import KINDS

    given = dict((settings or {}).get("data") or {})
    where = (settings or {}).get("file")
    out = {**DATA_DEFAULTS, **given, "augment_mix": {**DATA_DEFAULTS["augment_mix"], **given.get("augment_mix", {})}}
    if augment is not None:
        out["augment"] = int(augment)
    out["genome"] = os.path.abspath(str(genome)) if genome else None
    if genome and not os.path.isfile(out["genome"]):          # before hours of labelling, not after
        from ..errors import InputError

        raise InputError("no such genome FASTA", file=str(genome), hint="check the --genome path")
    bad = [k for k in out["augment_mix"] if k not in KINDS]
    if bad:
        raise ConfigError(f"data.augment_mix: unknown kind '{bad[0]}'", file=where,
                          hint=f"the kinds are {', '.join(KINDS)}")
    if any(not float(v) >= 0 for v in out["augment_mix"].values()):
        raise ConfigError("data.augment_mix: a weight is negative", file=where, hint="give weights >= 0")
    if not 0 < float(out["mutate_fraction"]) <= 1:
        raise ConfigError(f"data.mutate_fraction {out['mutate_fraction']} is not in (0, 1]", file=where,
                          hint="the share of positions a mutated copy changes, e.g. 0.1")
    if int(out["augment"]) < 0:
        raise ConfigError("data.augment is negative", file=where, hint="give the number of sequences to add, or 0")
    if out["leak_near"] not in ("none", "hamming", "kmer"):
        raise ConfigError(f"data.leak_near '{out['leak_near']}' is not none, hamming or kmer", file=where,
                          hint="dgsplit's --near methods")
    return out


def resolve_config(data, preset, dev, seed, flags, grad_checkpoint, arch="physinformer", tile=None, settings=None):
    """The resolved configuration: defaults < preset < the --config file's ``settings`` < the flags."""
    from .. import __version__
    from ..models import tileformer as TF
    from ..models.physinformer import ENTROPY_FACTOR, PRESETS, TEMPERATURE_K

    settings = settings or {"train": {}, "model": {}}
    if preset == "auto":
        preset = "full" if dev.type == "cuda" else "cpu"
    p = PRESETS[preset]
    sizes = TF.PRESETS[preset] if arch == "tileformer" else p
    train = dict(_DEFAULTS)
    for key in ("batch_size", "epochs", "lr"):
        train[key] = sizes[key]
    train.update(settings["train"])
    train.update({k: v for k, v in flags.items() if v is not None})
    if arch == "tileformer":
        model = {k: sizes[k] for k in ("d_model", "n_heads", "n_layers", "d_ff", "dropout")}
        model.update({k: p[k] for k in ("aux_embed", "aux_channels", "aux_hidden")})
    else:
        model = {k: p[k] for k in ("embed", "channels", "kernels", "d_state", "ssm_layers", "pyramid_hidden",
                                   "attn_heads", "head_hidden", "dropout", "attn_dropout", "aux_embed", "aux_channels",
                                   "aux_hidden")}
    file_model = dict(settings["model"])
    grad_checkpoint = bool(grad_checkpoint or file_model.pop("grad_checkpoint", False))
    model.update(file_model)
    model.update({"arch": arch, "temperature_k": TEMPERATURE_K, "entropy_factor": ENTROPY_FACTOR,
                  "grad_checkpoint": grad_checkpoint})
    names = data["names"]
    from .physinformer import prior_config

    on = bool(model.pop("physics_prior", sizes["physics_prior"]))
    kmax = int(model.pop("prior_kmax", sizes["prior_kmax"]))
    tracks = bool(model.pop("prior_tracks", sizes["prior_tracks"]))
    motifs = None                           # a table labelled here: the motifs it was labelled with
    lab = data.get("labels") or {}
    if arch != "tileformer" and (lab.get("motifs_file") or lab.get("cell_type")):
        from ..features.labeller import load_motifs

        motifs = load_motifs(lab.get("cell_type") or "HepG2", lab.get("motifs_file"), ("pwm",))[0]
    model["prior"] = prior_config(names, kmax, motifs, tracks=tracks)[0] if on else None
    return {"tileformer": {k: tile[k] for k in ("dir", "config")} if tile else None,"kind": "physinformer", "toolkit_version": __version__, "targets": names, "descriptors": names,
            "families": data["families"], "thermo_triples": data["triples"],
            "thermo_triple_names": [[names[i] for i in t] for t in data["triples"]],
            "thermo_identity_max_residual": data["residual"], "activities": data["activities"],
            "length": data["length"], "preset": preset, "seed": seed, "model": model, "train": train,
            "dropped": data["dropped"], "input": data["input"], "input_format": data["format"],
            "data_sha1": data["data_sha1"], "data": data.get("data"), "labels": data.get("labels"),
            "augmentation": data.get("augmentation"),
            "rows": {"train": data["n_train"], "val": data["n_val"], "test_not_used": data["n_test"]}}
