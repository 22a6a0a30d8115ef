"""Training and serving, shared by the fit-* commands and predict.

- ``loop``: what every trainer shares (epoch generators, schedules, checkpoints, early
  stopping, precision); ``step``: one guarded optimiser step; ``signals``: SIGTERM during
  training; ``dist``: torchrun groups.
- ``cre``, ``physinformer``, ``ep``: each family's training (batches, losses, validation).
- ``prepare`` (shared), ``cre_data``, ``physinformer_data``, ``ep_data``, ``ep_loco``: reading
  a table into the training cache, the resolved configuration, and the run a command starts.
- ``presets``: defaults and ``--config`` keys (no torch); ``targets``: task types and target
  transforms; ``side``: side inputs; ``data``: sequence tensors and augmentation.
- ``modeldir``: model directories; ``serve``: predictors for ``predict``.
"""
