"""The parameter tables descfeat computes from (``share/params``), with checksums.

Provenance of every table: ``share/PROVENANCE.md``.
"""

import hashlib
from functools import lru_cache

import numpy as np
import pandas as pd

from ..io.paths import share_dir

TABLES = {
    "nn_thermo": "nn_thermo_16steps.tsv",                        # SantaLucia 1998 / SantaLucia & Hicks 2004
    "olson_steps": "olson1998_pDNA_step_means_signcorrected.tsv",  # Olson et al. 1998 step means
    "olson_force": "olson1998_force_constants_emDNA_long.tsv",     # Olson et al. 1998 force constants
    "lankas_stiffness": "lankas2003_md_stiffness_long.tsv",        # Lankas et al. 2003 MD stiffness
    "lankas_equilibrium": "lankas2003_md_equilibrium.tsv",         # Lankas et al. 2003 equilibrium steps
    "stacking": "stacking_energy_diprodb33.tsv",                   # DiProDB 33 (Sponer et al. 1997)
    "trinucleotide": "trinucleotide_bendability_ftrCOOL.tsv",      # Brukner 1995 / Goodsell & Dickerson 1994
    "diprodb": "diprodb_125_properties.tsv",                       # DiProDB, Friedel et al. 2009
    "dnashape": "dnashape_pentamer_core_1024.tsv",                 # DNAshape pentamers, Zhou et al. 2013
}

DINUCLEOTIDES = tuple(a + b for a in "ACGT" for b in "ACGT")
CODE = {b: i for i, b in enumerate("ACGT")}


class Params:
    """The tables, read once from ``folder`` (default ``share/params``).

    ``params.table(key)`` returns the DataFrame of one table; ``params.checksums()``
    the SHA-256 of every file (written into descfeat's HDF5 attributes).
    """

    def __init__(self, folder=None):
        self.folder = share_dir() / "params" if folder is None else folder
        self._cache = {}

    def path(self, key):
        return self.folder / TABLES[key]

    def table(self, key):
        if key not in self._cache:
            self._cache[key] = pd.read_csv(self.path(key), sep="\t")
        return self._cache[key]

    def step_vector(self, key, column):
        """A per-dinucleotide parameter as float64 array (16,), indexed 4*code(a) + code(b)
        with A0 C1 G2 T3, from a table whose first column is the step (``AA``...)."""
        df = self.table(key)
        lookup = dict(zip(df.iloc[:, 0], df[column]))
        return np.array([lookup[d] for d in DINUCLEOTIDES], dtype=np.float64)

    def checksums(self):
        return {name: hashlib.sha256(self.path(key).read_bytes()).hexdigest() for key, name in TABLES.items()}


@lru_cache(maxsize=1)
def default_params():
    """The shared :class:`Params` of the installed toolkit."""
    return Params()
