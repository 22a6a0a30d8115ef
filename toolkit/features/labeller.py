"""descfeat's descriptors for a command that needs them as values: the motif list that
``--cell-type`` / ``--motifs`` choose (one definition for descfeat and fit-physinformer), and
a :class:`Labeller` that computes the descriptors of blocks of sequences, in worker
processes when asked, with exactly descfeat's arithmetic (toolkit.features.compute).
"""

import numpy as np


def load_motifs(cell_type, motifs_path, families):
    """The motifs of the pwm family and what to record about them.

    ``motifs_path`` (a MEME or JASPAR file) wins over ``cell_type``'s JASPAR list; without
    ``pwm`` among ``families`` no motif is loaded. Returns (motifs or None, attrs: motif_source,
    motif_release; empty without pwm)."""
    if "pwm" not in families:
        return None, {}
    from . import motifs as motif_lib

    if motifs_path:
        found = motif_lib.read_motif_file(motifs_path)
        return found, {"motif_source": str(motifs_path), "motif_release": "user file"}
    found = motif_lib.cell_type_motifs(cell_type)
    return found, {"motif_source": f"JASPAR CORE via pyjaspar, {cell_type} list",
                   "motif_release": "JASPAR2024"}


def descriptor_catalogue(cell_type, motifs_path, families):
    """(name, family) of every descriptor the ``families`` give with this motif choice, in
    descfeat's column order."""
    from .compute import DescriptorSet
    from .params import default_params

    motifs, _ = load_motifs(cell_type, motifs_path, families)
    return [(d.name, d.family) for d in DescriptorSet(families, default_params(), motifs=motifs).descriptors]


_WORKER = {}


def _init_worker(families, motifs):
    import signal

    from .compute import DescriptorSet
    from .params import default_params

    signal.signal(signal.SIGINT, signal.SIG_IGN)     # Ctrl-C is the parent's to answer
    _WORKER["set"] = DescriptorSet(families, default_params(), motifs=motifs)


def _compute(seqs):
    return _WORKER["set"].compute(seqs)


class Labeller:
    """The descriptors of ``families`` (descfeat's computation) for blocks of sequences.

    Parameters
    ----------
    families : sequence of str, in toolkit.features.FAMILIES order
    cell_type, motifs_path : the motif choice (see :func:`load_motifs`)
    jobs : int, worker processes (forked; 1 = in this process)
    block : int, rows a worker computes at a time

    Attributes: ``names`` (descriptor columns, descfeat's order), ``info`` (what computed
    them: families, cell type, motif source and release, parameter table checksums; the
    attributes descfeat writes into its HDF5 file), ``rows`` and ``seconds`` (work done).
    A block's values do not depend on how the rows are split among workers.
    """

    def __init__(self, families, cell_type="HepG2", motifs_path=None, jobs=1, block=2000):
        from .compute import DescriptorSet
        from .params import default_params

        self.families = tuple(families)
        motifs, attrs = load_motifs(cell_type, motifs_path, self.families)
        params = default_params()
        self.set = DescriptorSet(self.families, params, motifs=motifs)
        self.names = list(self.set.names)
        self.info = {"families": list(self.families), "cell_type": cell_type if motifs_path is None else "",
                     "motifs_file": str(motifs_path) if motifs_path else None,
                     "parameter_checksums": params.checksums(), **attrs}
        self.jobs, self.block = int(jobs), int(block)
        self.rows, self.seconds = 0, 0.0
        self._motifs = motifs
        self._pool = None

    def compute(self, seqs):
        """float64 (len(seqs), len(names)), NaN where undefined (descfeat's values)."""
        import time

        t0 = time.time()
        seqs = list(seqs)
        if not seqs:
            return np.zeros((0, len(self.names)))
        if self.jobs > 1 and len(seqs) > self.block // 4:
            step = max(1, min(self.block, -(-len(seqs) // self.jobs)))
            parts = [seqs[a:a + step] for a in range(0, len(seqs), step)]
            out = np.concatenate(self._workers().map(_compute, parts, chunksize=1))
        else:
            out = self.set.compute(seqs)
        self.rows += len(seqs)
        self.seconds += time.time() - t0
        return out

    def _workers(self):
        if self._pool is None:
            import multiprocessing as mp
            import signal

            try:                                    # workers are born ignoring Ctrl-C
                previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            except ValueError:                      # not the main thread: nothing to change
                previous = None
            try:
                self._pool = mp.get_context("fork").Pool(self.jobs, initializer=_init_worker,
                                                         initargs=(self.families, self._motifs))
            finally:
                if previous is not None:
                    signal.signal(signal.SIGINT, previous)
        return self._pool

    def close(self):
        """Stop the worker processes (if any were started)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
