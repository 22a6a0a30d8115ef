"""The command layer: the only code that reads arguments, prints or exits.

``COMMANDS`` lists every registered command and its module; setup.cfg's
console scripts, the man pages and the shared tests all follow it.
"""

COMMANDS = {
    "seqqc": "toolkit.cli.seqqc",
    "dgsplit": "toolkit.cli.dgsplit",
    "descfeat": "toolkit.cli.descfeat",
    "fit-cre": "toolkit.cli.fit_cre",
    "fit-physinformer": "toolkit.cli.fit_physinformer",
    "fit-ep": "toolkit.cli.fit_ep",
    "predict": "toolkit.cli.predict",
    "evalboot": "toolkit.cli.evalboot",
}


def load(name):
    """The click command object of a registered command."""
    import importlib

    return importlib.import_module(COMMANDS[name]).cli
