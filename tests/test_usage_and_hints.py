"""Usage errors are decided before any input is read (exit 2), degenerate splits are not
written silently, and every option a message names exists on the command that prints it."""

import ast
import pickle
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from conftest import DATA, REPO, TinyModel, read_tsv, run_cli
from toolkit.cli import COMMANDS, load

LENTI = DATA / "lentimpra_HepG2_400.tsv"
GOSAI = DATA / "gosai_table_s2_10rows.tsv"


def one_error_line(res):
    """exit 1 with exactly one ``Error:`` line on standard error, no traceback."""
    assert res.exit_code == 1, (res.exit_code, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    return lines[0]


# ----------------------------------------------------------------------------- dgsplit: empty splits

def test_dgsplit_flanks_longer_than_the_sequences_is_an_error(tmp_path):
    """--flanks 300,300 on 230-nt sequences leaves every core empty: one group, nothing for val."""
    n = len(read_tsv(LENTI))
    assert read_tsv(LENTI)["seq"].str.len().max() < 600
    out = tmp_path / "split.tsv"
    res = run_cli("dgsplit", [LENTI, "--flanks", "300,300", "-o", out])
    line = one_error_line(res)
    assert "val split is empty" in line and f"all {n} rows fell in one group" in line
    assert "--flanks" in line and "--allow-empty" in line
    assert not out.exists()


def test_dgsplit_test_chromosomes_absent_from_the_input(tmp_path):
    chroms = set(read_tsv(GOSAI)["chr"])
    assert "22" not in chroms and "1" in chroms        # the test chromosome is absent, val's is there
    out = tmp_path / "split.tsv"
    res = run_cli("dgsplit", [GOSAI, "--holdout-chrom", "--test-chroms", "chr22", "--val-chroms", "1", "-o", out])
    line = one_error_line(res)
    assert "test split is empty" in line and "chr22" in line and "--test-chroms" in line
    assert not out.exists()


def test_dgsplit_one_row_is_an_error_and_allow_empty_writes_it(tmp_path):
    src = read_tsv(LENTI).head(1)
    path = tmp_path / "one.tsv"
    src.to_csv(path, sep="\t", index=False)
    res = run_cli("dgsplit", [path, "-o", tmp_path / "a.tsv"])
    line = one_error_line(res)
    assert "val split is empty" in line and "1 row in 1 group" in line
    res = run_cli("dgsplit", [path, "--allow-empty", "-o", tmp_path / "b.tsv"])
    assert res.exit_code == 0, res.stderr
    warnings = [w for w in res.stderr.splitlines() if w.startswith("Warning:")]
    assert any("val split is empty" in w for w in warnings) and any("test split is empty" in w for w in warnings)
    out = read_tsv(tmp_path / "b.tsv")
    assert out["id"].tolist() == src["seq_id"].tolist() and out["split"].tolist() == ["train"]
    quiet = run_cli("dgsplit", [path, "--allow-empty", "-q", "-o", tmp_path / "c.tsv"])
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_dgsplit_a_zero_fraction_is_not_an_empty_split(tmp_path):
    """A split asked to be empty (fraction 0) is no error; 400 rows in 200 pairs fill the other two."""
    out = tmp_path / "split.tsv"
    res = run_cli("dgsplit", [LENTI, "--fractions", "0.9,0.1,0", "-o", out])
    assert res.exit_code == 0, res.stderr
    assert "empty" not in res.stderr
    counts = read_tsv(out)["split"].value_counts().to_dict()
    assert counts == {"train": 360, "val": 40}


# ----------------------------------------------------------------------------- usage errors: exit 2

USAGE = [
    ("seqqc", ["--se-bounds", "5,0"], "--se-bounds"),
    ("seqqc", ["--se-bounds", "nan,5"], "--se-bounds"),
    ("seqqc", ["--winsorize", "99,1"], "--winsorize"),
    ("seqqc", ["--winsorize", "1,101"], "--winsorize"),
    ("descfeat", ["--families", "bogus"], "--families"),
    ("descfeat", ["--families", ","], "--families"),
    ("fit-cre", ["-o", "{d}/m", "--task-type", "X=ordinal"], "--task-type"),
    ("fit-cre", ["-o", "{d}/m", "--task-type", "X"], "--task-type"),
    ("fit-cre", ["-o", "{d}/m", "--target-transform", "X=log1p,bogus"], "--target-transform"),
    ("fit-cre", ["-o", "{d}/m", "--modality", "nothing"], "--modality"),
    ("fit-cre", ["-o", "{d}/m", "--motif-prior", "{d}/no_such_motifs.meme"], "--motif-prior"),
    ("dgsplit", ["--holdout-chrom", "--val-chroms", "chr7", "--test-chroms", "7,13"], "--test-chroms"),
    ("dgsplit", ["--holdout", "target_cell=HepG2", "--fractions", "0,0,1"], "--fractions"),
    ("predict", ["-m", "{d}/model", "--explain", "ism", "-e", "{d}/maps.txt"], "--explain-output"),
]


@pytest.mark.parametrize("name,args,flag", USAGE, ids=[f"{n}{' '.join(a)}" for n, a, _ in USAGE])
def test_option_values_are_usage_errors_before_any_input(name, args, flag, tmp_path):
    """The INPUT does not exist: a check made after reading would say so (exit 1) instead."""
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    res = run_cli(name, [tmp_path / "absent.tsv", *args])
    assert res.exit_code == 2, (res.exit_code, res.stderr)
    assert f"Error: Invalid value for '{flag}'" in res.stderr or \
        f"Error: Invalid value for '-e' / '{flag}'" in res.stderr, res.stderr
    assert "absent.tsv" not in res.stderr and not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def model_dir():
    return Path(str(TinyModel()))


@pytest.mark.parametrize("kind", ["pickle", "truncated"])
def test_a_model_pt_that_is_not_a_torch_state_file_is_bad_data(model_dir, tmp_path, kind):
    """model.pt written with pickle (a state dict of tensors, but not by torch.save) or cut short:
    exit 1, one Error line naming the file; no advice to load it with weights_only=False."""
    import torch

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    weights = bad / "model.pt"
    if kind == "pickle":
        weights.write_bytes(pickle.dumps(dict(torch.load(model_dir / "model.pt", weights_only=True))))
    else:
        weights.write_bytes((model_dir / "model.pt").read_bytes()[:2000])
    res = run_cli("predict", ["-m", bad, LENTI, "-o", tmp_path / "p.tsv"])
    line = one_error_line(res)
    assert str(weights) in line
    assert "weights_only" not in line and "False" not in line


# ----------------------------------------------------------------------------- hints name real options

def test_fit_cre_without_val_rows_names_options_that_exist(tmp_path):
    df = read_tsv(LENTI).head(60)
    df["split"] = ["train"] * 50 + ["test"] * 10       # no val rows
    path = tmp_path / "noval.tsv"
    df.to_csv(path, sep="\t", index=False)
    res = run_cli("fit-cre", [path, "-o", tmp_path / "m", "--targets", "mean_value", "--preset", "cpu",
                              "--epochs", "1", "--no-baseline", "-q"])
    line = one_error_line(res)
    assert "no 'val' rows" in line and "--val-fraction" not in line
    dgsplit_opts = _options("dgsplit")
    assert "--fractions" in line and "--fractions" in dgsplit_opts


def _bed(tmp_path):
    path = tmp_path / "regions.bed"
    path.write_text("chr1\t100\t330\tr1\t0\t+\nchr1\t500\t730\tr2\t0\t-\n")
    return path


@pytest.mark.parametrize("name", ["dgsplit", "descfeat", "predict"])
def test_bed_without_a_genome_names_what_to_do(name, tmp_path, model_dir):
    """A command without --genome was told to add --genome; now the hint is seqqc's, and true."""
    args = ["-m", model_dir] if name == "predict" else []
    res = run_cli(name, [_bed(tmp_path), *args, "-o", tmp_path / "out.tsv"])
    line = one_error_line(res)
    assert "BED input needs a genome" in line
    for flag in re.findall(r"--[a-z][a-z-]*", line):
        assert flag in _options("seqqc"), (flag, line)
    assert "seqqc regions.bed --genome" in line


def test_predict_genome_with_a_sequence_model_says_what_to_do(tmp_path, model_dir):
    """predict --genome on a BED file with a CRE model: --genome is for pair tables, and the hint
    (seqqc windows of the model's length) is one that works."""
    import json

    fa = tmp_path / "g.fa"
    fa.write_text(">chr1\n" + "ACGT" * 300 + "\n")
    res = run_cli("predict", ["-m", model_dir, _bed(tmp_path), "--genome", fa, "-o", tmp_path / "p.tsv"])
    line = one_error_line(res)
    length = json.loads((model_dir / "config.json").read_text())["length"]
    assert "--genome is read only for enhancer-promoter models" in line
    assert f"seqqc regions.bed --genome genome.fa --length {length}" in line
    # and the hint works: seqqc windows of that length, then predict
    qc = run_cli("seqqc", [_bed(tmp_path), "--genome", fa, "--length", length, "-o", tmp_path / "w.tsv"])
    assert qc.exit_code == 0, qc.stderr
    res = run_cli("predict", ["-m", model_dir, tmp_path / "w.tsv", "-o", tmp_path / "p.tsv", "-q"])
    assert res.exit_code == 0, res.stderr
    assert len(read_tsv(tmp_path / "p.tsv")) == 2


# The mechanical check. Every string in toolkit/ (messages, hints, warnings; docstrings and
# click help texts aside) is searched for --options. An option in a clause that names a command
# before it ("run dgsplit first (dgsplit --holdout ...)") must be that command's. Otherwise, in a
# command's own module it must be that command's; in a library module, an option of at least one
# command that imports the module (directly or through others; imports inside a function count
# where that function's name is used by the command's modules).

COMMAND_WORD = re.compile(r"(?<![\w-])(seqqc|dgsplit|descfeat|fit-cre|fit-physinformer|fit-ep|predict|evalboot)"
                          r"(?![\w-])")
OPTION_WORD = re.compile(r"(?<![\w-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
CLAUSE_END = re.compile(r";|\||\)|, or | or ")
EVERY_COMMAND = {"--help", "--version"}        # click's own
EXCEPTIONS = {
    # (module, option): why the option may be named there
}
PKG = REPO / "toolkit"


def _options(cmd):
    return {o for p in load(cmd).params for o in (*p.opts, *p.secondary_opts) if o.startswith("--")} | EVERY_COMMAND


def _module_name(path):
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _resolve(module, node):
    """The toolkit modules an import statement in ``module`` loads (with their packages)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
        for alias in node.names:
            for cand in (f"{base}.{alias.name}", base):
                if cand in MODULES:
                    found.add(cand)
                    break
    else:
        found.update(a.name for a in node.names if a.name in MODULES)
    for m in list(found):
        parts = m.split(".")
        found.update(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in MODULES)
    return found


def _module_facts(module):
    """(imports at module level, {function: imports inside it}, names the module uses)."""
    tree = ast.parse(MODULES[module].read_text())
    top, local = set(), {}

    def visit(node, fn):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, fn or child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                (local.setdefault(fn, set()) if fn else top).update(_resolve(module, child))
            else:
                visit(child, fn)

    visit(tree, None)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return top, local, used


def _reach(start, facts):
    """Modules a command's module loads: module-level imports, and a function's own imports
    where that function's name is used by a module already reached."""
    seen, todo = set(), [start]
    while todo:
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo += facts[m][0]
        used = set().union(*(facts[m][2] for m in seen))
        todo = [d for m in seen for fn, deps in facts[m][1].items() if fn in used or m == start
                for d in deps if d not in seen]
    return seen


def _message_strings(tree):
    """(line, text) of every string literal that is not a docstring or a click.option argument;
    an f-string's text has {} for each field."""
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "option":
            skip.update(id(sub) for sub in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _named_command(text, start):
    """The command a clause names before position ``start``, if any."""
    clause = CLAUSE_END.split(text[:start])[-1]
    found = COMMAND_WORD.findall(clause)
    return found[-1] if found else None


def _option_findings():
    facts = {m: _module_facts(m) for m in MODULES}
    options = {cmd: _options(cmd) for cmd in COMMANDS}
    emitters = {}
    for cmd, module in COMMANDS.items():
        for m in _reach(module, facts):
            emitters.setdefault(m, set()).add(cmd)
    own = {module: cmd for cmd, module in COMMANDS.items()}
    findings, checked = [], 0
    for module, path in sorted(MODULES.items()):
        if module not in emitters:            # no command loads it (the man page generator)
            continue
        for line, text in _message_strings(ast.parse(path.read_text())):
            for mo in OPTION_WORD.finditer(text):
                flag = mo.group()
                if (module, flag) in EXCEPTIONS:
                    continue
                checked += 1
                named = _named_command(text, mo.start())
                if named:
                    ok, who = flag in options[named], [named]
                elif module in own:
                    ok, who = flag in options[own[module]], [own[module]]
                else:
                    who = sorted(emitters.get(module, ()))
                    ok = any(flag in options[c] for c in who)
                if not ok:
                    findings.append(f"{path.relative_to(REPO)}:{line}: {flag} is not an option of "
                                    f"{' or '.join(who) or 'any command'}: {text[:100]!r}")
    return findings, checked


def test_every_option_a_message_names_exists():
    findings, checked = _option_findings()
    assert checked > 150                      # the scan does see the messages
    assert not findings, "\n".join(findings)


def test_the_option_scan_catches_a_made_up_option(tmp_path, monkeypatch):
    """The check itself: a hint naming an option its command lacks is found."""
    fake = PKG / "cli" / "dgsplit.py"
    text = fake.read_text() + '\n\ndef _probe():\n    raise ValueError("x", "add --val-fraction 0.1")\n'
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: text if self == fake else
                        Path.read_bytes(self).decode())
    findings, _ = _option_findings()
    assert any("--val-fraction" in f and "dgsplit" in f for f in findings), findings
