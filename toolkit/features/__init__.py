"""descfeat's descriptor families: one module per family, each pure and vectorised.

Every family module (``pwm``, ``bend``, ``stiff``, ``thermo``, ``entropy``, ``advanced``,
``psi``) exposes the same interface:

``FAMILY``
    The family name; every descriptor name starts with ``FAMILY + "_"`` so that
    PhysInformer's router can group descriptors by prefix.
``descriptors(params, **options) -> list[Descriptor]``
    The descriptors the family computes, in output order.
``compute(seqs, params, **options) -> numpy.ndarray``
    float64 array of shape (n, len(descriptors(...))) for a list of n uppercase
    A/C/G/T/N sequences (lengths may differ). A descriptor that is undefined for
    a sequence (e.g. too short for a window, or only N bases) is NaN there, never
    an invented number; the command reports such values.

``params`` is a :class:`toolkit.features.params.Params` (the parameter tables
of ``share/params``, loaded once).
"""

from dataclasses import dataclass

FAMILIES = ("pwm", "bend", "stiff", "thermo", "entropy", "advanced", "psi")


@dataclass(frozen=True)
class Descriptor:
    """One output column of descfeat.

    Attributes
    ----------
    name : str
        Column name, ``<family>_<what>``.
    family : str
    unit : str
        Physical unit, or ``-`` for dimensionless, ``count``, ``bits``, ...
    formula : str
        The formula in words (what ``descfeat --list`` prints).
    source : str
        Parameter table and publication it rests on.
    caveat : str
        Where the formula is not to be trusted as its name suggests (the range it was
        calibrated for, a value that the data nearly always fix); empty if none.
    """

    name: str
    family: str
    unit: str
    formula: str
    source: str
    caveat: str = ""


def written_columns(all_descriptors, compute_all, retired, family):
    """A family's public ``descriptors(params, **options)`` and ``compute(seqs, params, **options)``:
    everything ``all_descriptors``/``compute_all`` give except the columns named in ``retired``
    (computed on the way but not written, see :func:`without_retired`).

    ``compute`` returns float64 (n, len(descriptors(params))), NaN where undefined.
    """

    def descriptors(params=None, **options):
        return without_retired(all_descriptors(params, **options), retired)[0]

    def compute(seqs, params=None, **options):
        keep = without_retired(all_descriptors(params, **options), retired)[1]
        return compute_all(seqs, params, **options)[:, keep]

    descriptors.__doc__ = (f"The ``{family}_*`` descriptors descfeat writes, in output order (RETIRED left out): "
                           "a list of toolkit.features.Descriptor.")
    compute.__doc__ = (f"``{family}_*`` descriptors of ``seqs`` (uppercase A/C/G/T/N, any lengths), the columns "
                       "of descriptors(): float64 (n, len(descriptors(params))), NaN where undefined.")
    return descriptors, compute


def without_retired(descriptors, retired):
    """``descriptors`` less the names in ``retired``; and the column indices kept.

    A family computes some statistics on the way that it does not write, because they
    are another column under a second name (see each family's ``RETIRED``).

    Returns
    -------
    (list of Descriptor, numpy.ndarray of int)
    """
    import numpy as np

    keep = [i for i, d in enumerate(descriptors) if d.name not in retired]
    return [descriptors[i] for i in keep], np.asarray(keep, dtype=np.intp)
