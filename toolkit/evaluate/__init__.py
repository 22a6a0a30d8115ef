"""Evaluation of predictions against measurements (the library behind ``evalboot``).

- :mod:`~toolkit.evaluate.metrics`: regression and binary metrics, computed for many
  bootstrap resamples at once from resampling weights;
- :mod:`~toolkit.evaluate.bootstrap`: row and cluster resampling, percentile intervals,
  paired p-values, the Fisher z test of two dependent correlations, Holm-Bonferroni;
- :mod:`~toolkit.evaluate.specificity`: MinGap (Gosai et al. 2024) and top-cell agreement;
- :mod:`~toolkit.evaluate.report`: :func:`~toolkit.evaluate.report.evaluate`, which puts them
  together into records;
- :mod:`~toolkit.evaluate.descriptors`: many tasks at once (PhysInformer's descriptors): per-task
  metrics and their distribution overall and per family, best and worst, with intervals;
- :mod:`~toolkit.evaluate.plots`: scatter and residual figures (matplotlib, imported on use);
- :mod:`~toolkit.evaluate.motifs`: motifs from attribution maps (TF-MoDISco seqlet clusters matched
  to JASPAR with Tomtom), written as MEME, TSV and logo files.

Everything here is pure: no printing, no exits, and no files except those
:func:`~toolkit.evaluate.motifs.write_motifs` and :func:`~toolkit.evaluate.motifs.motifs_from_maps`
are asked to write.
"""

from .report import COLUMNS, Evaluation, Record, Task, evaluate, infer_kind

__all__ = ["COLUMNS", "Evaluation", "Record", "Task", "evaluate", "infer_kind"]
