"""What the three fit-* runs share before and around training: the training cache
(DIR/train_cache.h5) written once by rank 0, the first files of a new model directory,
and the check that a resumed run reads the rows it started with.

No printing: messages go through the ``log`` object the command passes (``info``,
``warn``, ``detail``); failures are toolkit.errors exceptions.
"""

import os


def training_cache(name, kind, group, log, out_dir, input, resume, load):
    """The training cache of a fit-* run (DIR/train_cache.h5): rank 0 writes it by calling
    ``load(cache_path)``, or keeps the one a ``--resume`` left if it holds the rows of the
    same input (``kind`` is the model family the cache was written for); every rank then
    waits for it. Returns the cache's path."""
    import time

    from ..io import traincache as TC

    cache = TC.path_in(out_dir)
    if group.main:                      # rank 0 writes the training cache; every rank reads it
        if resume and TC.reusable(cache, input, kind):
            log.info(f"{name}: rows from the training cache {cache} (the input is not read again)")
        else:
            if resume:
                TC.check_source(cache, input)
            t0 = time.time()
            load(cache)
            log.info(f"{name}: training cache {cache} written in {time.time() - t0:.1f} s "
                     f"({os.path.getsize(cache) / 1e6:,.1f} MB)")
    group.barrier()
    return cache


def write_run(out_dir, config, normalization):
    """A new run's config.json and normalization.json in ``out_dir`` (created if needed); rank 0 only."""
    from . import modeldir as MD

    os.makedirs(out_dir, exist_ok=True)
    MD.write_json(os.path.join(out_dir, MD.CONFIG), config)
    MD.write_json(os.path.join(out_dir, MD.NORMALIZATION), normalization)


def check_same_data(config, data, hint):
    """On --resume: refuse (InputError) train/val rows whose hash differs from the run's config.json."""
    from ..errors import InputError

    if data["data_sha1"] != config["data_sha1"]:
        raise InputError("the train/val rows differ from those the run started with", file=data["input"],
                         hint=hint)
