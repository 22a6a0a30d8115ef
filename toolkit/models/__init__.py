"""Sequence models (PyTorch modules), one module per model family.

``KINDS`` maps the ``kind`` recorded in a model directory's config.json to the
module that builds it, so ``predict`` can serve every kind the fit-* commands write:
each family module names its predictor class in ``PREDICTOR`` and keeps its losses.
"""

KINDS = {
    "cre": "toolkit.models.cre",
    "physinformer": "toolkit.models.physinformer",
    "ep": "toolkit.models.ep",
}
