"""All descriptor families together: the list of descriptors and their values for a batch."""

import importlib

import numpy as np

from ..errors import ConfigError
from . import FAMILIES


def family_module(name):
    """The module of family ``name`` (``toolkit.features.<name>``)."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown descriptor family '{name}'", hint=f"families are: {', '.join(FAMILIES)}")
    return importlib.import_module(f"{__package__}.{name}")


def parse_families(text):
    """``"thermo,entropy"`` or ``"all"`` -> tuple of family names in canonical order."""
    if text in (None, "", "all"):
        return FAMILIES
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise ConfigError(f"unknown descriptor famil{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)}",
                          hint=f"choose from {', '.join(FAMILIES)} or all")
    return tuple(f for f in FAMILIES if f in names)


class DescriptorSet:
    """The descriptors of the chosen families, with the options each family needs.

    Parameters
    ----------
    families : sequence of str
    params : toolkit.features.params.Params
    motifs : list, optional
        Motifs for the ``pwm`` family.
    """

    def __init__(self, families, params, motifs=None):
        self.families = tuple(families)
        self.params = params
        self.motifs = motifs
        self.modules = [family_module(f) for f in self.families]
        self.descriptors = []
        self.spans = []
        for mod in self.modules:
            ds = mod.descriptors(params, **self._options(mod))
            self.spans.append((len(self.descriptors), len(self.descriptors) + len(ds)))
            self.descriptors.extend(ds)
        names = [d.name for d in self.descriptors]
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ConfigError(f"duplicate descriptor names: {', '.join(dup[:5])}")
        self.names = names

    def _options(self, mod):
        return {"motifs": self.motifs} if mod.FAMILY == "pwm" else {}

    def __len__(self):
        return len(self.descriptors)

    def compute(self, seqs):
        """Descriptors of ``seqs`` (list of uppercase str).

        Returns
        -------
        numpy.ndarray of float64, shape (len(seqs), len(self)); NaN where undefined.
        """
        out = np.empty((len(seqs), len(self)), dtype=np.float64)
        for mod, (a, b) in zip(self.modules, self.spans):
            vals = np.asarray(mod.compute(seqs, self.params, **self._options(mod)), dtype=np.float64)
            if vals.shape != (len(seqs), b - a):
                raise RuntimeError(f"family {mod.FAMILY} returned shape {vals.shape}, expected {(len(seqs), b - a)}")
            out[:, a:b] = vals
        return out
