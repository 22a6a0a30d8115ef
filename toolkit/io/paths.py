"""Where the toolkit's run-time data (``share/``) lives, in a checkout or installed."""

import os
import site
import sys
from pathlib import Path

SHARE_NAME = "regseq-toolkit"


def share_dir():
    """The folder holding the toolkit's shared data.

    Looks, in order, at ``$REGSEQ_TOOLKIT_SHARE``, the checkout's ``share/``
    (running from a clone or an editable install), and ``<prefix>/share/regseq-toolkit``
    for the interpreter's prefix and the user base (``pip install .`` / ``--user``).
    """
    candidates = []
    env = os.environ.get("REGSEQ_TOOLKIT_SHARE")
    if env:
        candidates.append(Path(env))
    here = Path(__file__).resolve().parents[2]
    candidates.append(here / "share")
    for prefix in (sys.prefix, sys.exec_prefix, getattr(site, "USER_BASE", None) or ""):
        if prefix:
            candidates.append(Path(prefix) / "share" / SHARE_NAME)
    for c in candidates:
        if (c / "examples").is_dir():
            return c
    raise FileNotFoundError(
        "the toolkit's share/ folder was not found (looked in: "
        + ", ".join(str(c) for c in candidates) + "); reinstall with 'pip install .' or set REGSEQ_TOOLKIT_SHARE")


def example(name):
    """Path of a bundled example file, e.g. ``example('lentimpra_joint_3cell.csv.gz')``."""
    return share_dir() / "examples" / name
