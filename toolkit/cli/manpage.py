"""Generate the command reference from the click definitions: man pages (roff, section 1)
and Markdown pages (docs/commands/), both from one description of each command.

``python -m toolkit.cli.manpage`` rewrites ``man/man1/*.1`` and ``docs/commands/*.md``;
``python -m toolkit.cli.manpage --check`` exits 1 when a page is stale.
"""

import importlib
import re
import sys
from pathlib import Path

import click

from .. import __version__
from . import COMMANDS, load

MAN_DIR = Path(__file__).resolve().parents[2] / "man" / "man1"
DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "commands"

EXIT_STATUS = (
    "0 on success; 1 on bad data or a run-time failure, with one line "
    "'Error: <what, where (file, line, column)>; <what to do>' on standard error; "
    "2 on bad usage. A closed output pipe (e.g. '| head -1') ends the command quietly with 0."
)


INPUT_HELP = ("A path, '\u2011' or nothing for standard input. gzip is recognised by its magic bytes; "
              "TSV, CSV, FASTA and BED are told apart by their content").replace("\u2011", "-")


def _option_record(param):
    """(names and metavar, help with default) of an option, independent of click's own formatter,
    so that the pages do not change with the click version."""
    names = ", ".join(param.opts + param.secondary_opts)
    if not param.is_flag and not getattr(param, "count", False):
        if param.metavar:
            meta = param.metavar
        elif isinstance(param.type, click.Choice):
            meta = "[" + "|".join(map(str, param.type.choices)) + "]"
        elif isinstance(param.type, (click.types.IntParamType, click.IntRange)):
            meta = "INTEGER"
        elif isinstance(param.type, (click.types.FloatParamType, click.FloatRange)):
            meta = "FLOAT"
        else:
            meta = "TEXT"
        names = f"{names} {meta}"
    helptext = (param.help or "").strip()
    if param.show_default and param.default is not None and not param.is_flag:
        helptext = f"{helptext}  [default: {param.default}]"
    return names, helptext


def _esc(text):
    text = text.replace("\\", "\\e")
    text = re.sub(r"^([.'])", r"\\&\1", text, flags=re.M)
    return text.replace("-", "\\-")


def _split_doc(doc):
    """Docstring -> (summary line, description paragraphs, example lines)."""
    doc = click.unstyle(doc or "").strip("\n")
    lines = [ln.rstrip() for ln in doc.splitlines()]
    import textwrap

    body = textwrap.dedent("\n".join(lines[1:])).strip("\n")
    summary = lines[0].strip() if lines else ""
    desc, examples = [], []
    in_example = False
    for block in body.split("\n\n"):
        blines = block.splitlines()
        if blines and blines[0].strip() == "\b":
            in_example = True
            examples.extend(ln for ln in blines[1:] if ln.strip() and not ln.strip().endswith(":"))
        elif in_example and block.startswith("  "):
            examples.extend(blines)
        else:
            desc.append(" ".join(ln.strip() for ln in blines))
    return summary, desc, [e.strip() for e in examples]


CONFIG_INTRO = (
    "The settings --config FILE may hold: a TOML file with [train] and [model] tables (and [model.mm] for "
    "fit-cre's mm-transformer, [data] for fit-physinformer's training data), or a JSON file with the same objects. "
    "Each value overrides the preset's and is overridden by an option given on the command line; an unknown key or "
    "a value out of range is refused (exit 1). The resolved values are written to DIR/config.json under the same "
    "names.")


def describe(name):
    """Everything the pages say of command ``name``, as plain text (dict)."""
    cmd = load(name)
    summary, desc, examples = _split_doc(cmd.help)
    ctx = click.Context(cmd, info_name=name)
    forced = any("--format" in p.opts for p in cmd.params)
    options = [("INPUT", INPUT_HELP + (" (--format to force)." if forced else "."))]
    for param in cmd.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            options.append(_option_record(param))
    extra = getattr(importlib.import_module(COMMANDS[name]), "man_extra", None)
    from ..train.presets import KEYS, describe_keys

    return {"name": name, "summary": summary.rstrip("."), "description": desc, "options": options,
            "descriptors": list(extra()) if extra is not None else [],
            "config": list(describe_keys(name)) if name in KEYS else [], "examples": examples,
            "see_also": [c for c in COMMANDS if c != name]}


def render(name, page=None):
    """The man page of command ``name`` as roff text."""
    d = page or describe(name)
    out = [f'.TH "{name.upper()}" "1" "" "regseq-toolkit {__version__}" "User Commands"',
           ".SH NAME", f"{_esc(name)} \\- {_esc(d['summary'])}",
           ".SH SYNOPSIS", f".B {_esc(name)}", "[OPTIONS] [INPUT]",
           ".SH DESCRIPTION"]
    for para in d["description"]:
        out += [".PP", _esc(para)]
    out.append(".SH OPTIONS")
    for i, (opts, helptext) in enumerate(d["options"]):
        out += [".TP", "\\fBINPUT\\fR" if i == 0 else f"\\fB{_esc(opts)}\\fR", _esc(helptext)]
    if d["descriptors"]:
        out.append(".SH DESCRIPTORS")
        for term, text in d["descriptors"]:
            out += [".TP", f"\\fB{_esc(term)}\\fR", _esc(text)]
    if d["config"]:
        out += [".SH CONFIGURATION KEYS", ".PP", _esc(CONFIG_INTRO)]
        for term, text in d["config"]:
            out += [".TP", f"\\fB{_esc(term)}\\fR", _esc(text)]
    if d["examples"]:
        out.append(".SH EXAMPLES")
        for ex in d["examples"]:
            out += [".PP", ".nf", f"\\f(CW{_esc(ex)}\\fR", ".fi"]
    out += [".SH EXIT STATUS", _esc(EXIT_STATUS),
            ".SH SEE ALSO", ", ".join(f"\\fB{_esc(c)}\\fR(1)" for c in d["see_also"])]
    return "\n".join(out) + "\n"


def _md(text):
    """Plain text for a Markdown paragraph or table cell (pipes and emphasis characters escaped)."""
    return re.sub(r"([|*_<>`\[\]])", r"\\\1", text)


def render_markdown(name, page=None):
    """The command's reference page in Markdown (docs/commands/<name>.md)."""
    d = page or describe(name)
    out = [f"# {name}", "", f"{_md(d['summary'])}.", "",
           "<!-- generated from the command's definition by python3 -m toolkit.cli.manpage; do not edit -->", "",
           "```", f"{name} [OPTIONS] [INPUT]", "```", "", "## Description", ""]
    for para in d["description"]:
        out += [_md(para), ""]
    out += ["## Options", "", "| option | what it does |", "|---|---|"]
    for opts, helptext in d["options"]:
        out.append(f"| `{opts}` | {_md(helptext)} |")
    out.append("")
    if d["descriptors"]:
        out += ["## Descriptors", "", "| descriptor | definition |", "|---|---|"]
        out += [f"| `{term}` | {_md(text)} |" for term, text in d["descriptors"]]
        out.append("")
    if d["config"]:
        out += ["## Configuration keys", "", _md(CONFIG_INTRO), "", "| key | meaning |", "|---|---|"]
        out += [f"| `{term}` | {_md(text)} |" for term, text in d["config"]]
        out.append("")
    if d["examples"]:
        out += ["## Examples", "", "```"] + d["examples"] + ["```", ""]
    from .worked import ORDER, WORKED

    if WORKED.get(name):
        before = [c for c in ORDER[:ORDER.index(name)] if WORKED.get(c)]
        out += ["## Worked examples on the bundled data", "",
                "From the repository root" + (", after the worked examples of " +
                                              ", ".join(f"[{c}]({c}.md)" for c in before) +
                                              " (these read the files they wrote):" if before else ":"), ""]
        for what, line in WORKED[name]:
            out += [_md(what), "", "```sh", line, "```", ""]
    out += ["## Exit status", "", _md(EXIT_STATUS), "", "## See also", "",
            ", ".join(f"[{c}]({c}.md)" for c in d["see_also"]), ""]
    return "\n".join(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    check = "--check" in argv
    stale = []
    for folder in (MAN_DIR, DOCS_DIR):
        if not check:
            folder.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        page = describe(name)
        for path, text in ((MAN_DIR / f"{name}.1", render(name, page)),
                           (DOCS_DIR / f"{name}.md", render_markdown(name, page))):
            if check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path))
            else:
                path.write_text(text)
    if stale:
        print("stale command pages (run: python -m toolkit.cli.manpage): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
