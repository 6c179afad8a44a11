"""The documentation cannot rot: executable tutorials, generated references, layer rules.

- Every `sh` and `python` code block of the tutorial pages (docs/tutorials/*.md and
  docs/getting-started.md) runs, in order, in one temporary folder per page; a `toml` block
  with `title="NAME"` is written to the file NAME first. `console` and `text` blocks are
  only shown (full-size commands, sample output).
- The generated CLI and configuration references (docs/gen_reference.py, a mkdocs hook)
  mention every sub-command and option of the parser, every config table and key, and every
  task kind with its parameters.
- The import rules drawn in docs/architecture.md hold: core and learning modules never import
  workflows, plots, the report, the experiments or the CLI (parsed with ast, including
  imports inside functions), and the finer layering holds up to an explicit allow-list.

`mkdocs build --strict` itself (broken links, missing pages) runs in `make test` and
`make docs`, not here.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "overlapflow"
BLOCK_TIMEOUT_S = 600  # per code block; the slowest tutorial block takes ~1 min on 2 cores

TUTORIAL_PAGES = sorted((DOCS / "tutorials").glob("*.md")) + [DOCS / "getting-started.md"]


# ------------------------------------------------------------------------------ tutorials

_FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ ]*$",
                    re.S | re.M)


def code_blocks(page: Path) -> list[tuple[str, str, str]]:
    """(language, title, code) of every fenced block of a Markdown page, in order."""
    blocks = []
    for m in _FENCE.finditer(page.read_text(encoding="utf-8")):
        info = m["info"].strip()
        lang = info.split()[0] if info else ""
        title = re.search(r'title="([^"]+)"', info)
        body = "\n".join(line[len(m["indent"]):] for line in m["body"].splitlines())
        blocks.append((lang, title[1] if title else "", body + "\n"))
    return blocks


def test_code_block_parser():
    page = DOCS / "tutorials" / "compare.md"
    kinds = [(lang, title) for lang, title, _ in code_blocks(page)]
    assert ("toml", "quick.toml") in kinds and ("sh", "") in kinds and ("python", "") in kinds


def test_tutorial_pages_exist_and_have_runnable_blocks():
    names = {p.stem for p in TUTORIAL_PAGES}
    assert {"compare", "inspect", "sweep", "scaling", "run", "getting-started"} <= names
    for page in TUTORIAL_PAGES:
        langs = [lang for lang, _, _ in code_blocks(page)]
        assert {"sh", "python"} & set(langs), f"{page.name} has no executable block"
        unknown = set(langs) - {"sh", "python", "toml", "console", "text"}
        assert not unknown, f"{page.name}: code blocks of unknown language {unknown}"


def _run_block(lang: str, code: str, cwd: Path, env: dict, where: str) -> None:
    if lang == "sh":
        cmd = ["bash", "-euo", "pipefail", "-c", code]
    else:
        script = cwd / "_block.py"
        script.write_text(code, encoding="utf-8")
        cmd = [sys.executable, str(script)]
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{where} ran past {BLOCK_TIMEOUT_S} s:\n{code}")
    if proc.returncode != 0:
        pytest.fail(f"{where} failed (exit {proc.returncode}):\n{code}\n--- stdout\n"
                    f"{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}")


@pytest.mark.slow
@pytest.mark.parametrize("page", TUTORIAL_PAGES, ids=lambda p: p.stem)
def test_tutorial_blocks_run(page: Path, tmp_path: Path):
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)  # the venv's `overlapflow` script
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    env.setdefault("JAX_PLATFORMS", "cpu")
    for i, (lang, title, code) in enumerate(code_blocks(page), start=1):
        where = f"{page.relative_to(ROOT)} block {i} ({lang})"
        if lang == "toml" and title:
            (tmp_path / title).write_text(code, encoding="utf-8")
        elif lang in ("sh", "python"):
            _run_block(lang, code, tmp_path, env, where)


# ------------------------------------------------------------------------------ references


def _gen_reference():
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_covers_every_command_and_option():
    import argparse

    from overlapflow.cli import build_parser

    gen = _gen_reference()
    text = gen.cli_reference()
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(gen.cli_commands()) == set(subparsers.choices)
    assert {"compare", "inspect", "sweep", "scaling", "run"} <= set(subparsers.choices)
    for name, sub in subparsers.choices.items():
        assert f"## `overlapflow {name}`" in text, name
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in text, f"{name} {option}"


def test_config_reference_covers_every_key_and_task_kind():
    from overlapflow import LOSS_KINDS, NONLINEARITIES, TASK_KINDS, task_parameters
    from overlapflow.internal import ALL_MODES

    gen = _gen_reference()
    assert gen.config_problems() == []  # every key and mode described, no stale description
    text = gen.config_reference()
    cover = gen.config_coverage()
    for table in cover["tables"]:
        assert f"## `[{table}]`" in text, table
    for key in cover["keys"]:
        assert f"| `{key}` |" in text, key
    assert set(cover["task_kinds"]) == set(TASK_KINDS)
    for kind in TASK_KINDS:
        assert f"### `{kind}`" in text, kind
        section = text.split(f"### `{kind}`", 1)[1].split("\n### ", 1)[0]
        params = ["file", "target_noise"] if kind == "arrays" else task_parameters(kind)
        for param in params:
            assert f"| `{param}` |" in section, f"{kind}.{param}"
    for name in (*LOSS_KINDS, *NONLINEARITIES, *ALL_MODES):
        assert f'`"{name}"`' in text, name


def test_generated_pages_are_not_committed_copies():
    gen = _gen_reference()
    for path in gen.pages():
        assert not (DOCS / path).exists(), f"docs/{path} is generated at build time; remove it"


def test_gallery_lists_every_experiment():
    from overlapflow.experiments import EXPERIMENT_NAMES

    text = (DOCS / "gallery.md").read_text(encoding="utf-8")
    for name in EXPERIMENT_NAMES:
        assert f"overlapflow run {name}" in text, name


# ------------------------------------------------------------------------------ layers

# Layers are the subpackages of overlapflow (docs/architecture.md). Each may import itself and
# the layers listed here; "core" is everything below workflows.
MAY_IMPORT = {
    "_support": set(),
    "_model": {"_support"},
    "_closed_form": {"_support", "_model"},
    "_analysis": {"_support", "_model"},
    "_learn": {"_support", "_model", "_closed_form"},
    "_limit": {"_support", "_model", "_closed_form", "_learn", "_analysis"},
    "_interop": {"_support", "_model"},
    "_inference": {"_support", "_model", "_closed_form", "_learn", "_limit", "_analysis"},
    "_plots": {"_support", "_model", "_analysis"},
    "_workflows": {"_support", "_model", "_closed_form", "_learn", "_limit", "_analysis",
                   "_interop", "_inference", "_plots"},
    "internal": {"_support", "_model", "_closed_form", "_learn", "_limit", "_analysis",
                 "_interop", "_inference", "_plots", "_workflows"},
    # The experiments use what a user would: the public API and the named internals.
    "experiments": {"__init__", "internal"},
    "_cli": {"_support", "_model", "_closed_form", "_learn", "_limit", "_analysis", "_interop",
             "_inference", "_plots", "_workflows", "experiments", "__init__"},
    "cli": {"_cli"},
}
CORE = ("_support", "_model", "_closed_form", "_analysis", "_learn", "_limit", "_interop",
        "_inference")
# Never imported by the core (prefix match on module names).
FORBIDDEN_PREFIXES = ("_workflows", "_plots", "_cli", "experiments", "internal", "cli", "__init__")

# Known exceptions to the layering: (importer, imported): why. Each is listed in
# docs/architecture.md; an entry no longer needed fails the test.
LAYERING_ALLOWED: dict[tuple[str, str], str] = {
    # `overlapflow.__version__` for provenance records and --version.
    ("_support.io", "__init__"): "support → package version",
    ("_plots.report", "__init__"): "the report page names the package version",
}


def project_imports(path: Path) -> set[str]:
    """Project modules a file imports, anywhere in it, as names relative to overlapflow
    (`_model.network`, `experiments.fig1`; the package itself is `__init__`)."""
    rel = path.relative_to(PACKAGE).with_suffix("")
    package = list(rel.parts[:-1])  # the file's package, relative to overlapflow
    found = set()

    def add(parts: list[str]) -> None:
        found.add(".".join(parts) if parts else "__init__")

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "overlapflow" or alias.name.startswith("overlapflow."):
                    add(alias.name.split(".")[1:])
        elif isinstance(node, ast.ImportFrom):
            module = node.module.split(".") if node.module else []
            if node.level:
                parts = package[: len(package) - (node.level - 1)] + module
            elif module[:1] == ["overlapflow"]:
                parts = module[1:]
            else:
                continue
            if node.module and not (module == ["overlapflow"] and not node.level):
                add(parts)
            else:  # from . import _x, _y: modules (or names of the package)
                for alias in node.names:
                    sub = PACKAGE.joinpath(*parts, alias.name)
                    is_module = sub.with_suffix(".py").is_file() or sub.is_dir()
                    add(parts + [alias.name] if is_module else parts)
    return found


def _module_path(name: str) -> Path:
    return PACKAGE.joinpath(*name.split(".")).with_suffix(".py")


def _modules() -> list[str]:
    """Every module of the package, dotted relative to overlapflow (packages by __init__)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts == ["__init__"] or parts == ["__main__"]:
            continue
        names.append(".".join(parts))
    return names


def _layer_of(name: str) -> str:
    return name.split(".")[0] if name != "__init__" else "__init__"


def test_every_module_is_in_a_layer():
    loose = [m for m in _modules() if _layer_of(m) not in MAY_IMPORT]
    assert not loose, f"modules outside every layer (add a subpackage to MAY_IMPORT): {loose}"


#: The surfaces code outside the package may import (docs/architecture.md, "Public surfaces").
PUBLIC_SURFACES = ("overlapflow", "overlapflow.cli", "overlapflow.experiments",
                   "overlapflow.internal")
_PRIVATE_PATH = re.compile(r"overlapflow(?:\.\w+)*\._[a-z]\w*")


def _outside_files() -> list[Path]:
    return sorted(p for folder in ("tests", "benchmarks", "docs") for p in (ROOT / folder).rglob("*.py"))


def test_tests_benchmarks_and_docs_import_only_public_surfaces():
    """No private module path (`overlapflow.` then `_x`) (in an import or in code run by a subprocess) and no `_name`
    imported from a surface; experiment modules (`overlapflow.experiments.twins`) are public."""
    found = []
    for path in _outside_files():
        text = path.read_text(encoding="utf-8")
        found += [f"{path.relative_to(ROOT)}: {m}" for m in _PRIVATE_PATH.findall(text)]
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("overlapflow"):
                found += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, "private names used outside the package:\n" + "\n".join(found)


def test_experiments_import_only_the_public_api_and_internal():
    bad = []
    for name in _modules():
        if _layer_of(name) != "experiments":
            continue
        for imported in project_imports(_module_path(name)):
            if _layer_of(imported) not in ("experiments", "__init__", "internal"):
                bad.append(f"{name} imports {imported}")
    assert not bad, "\n".join(bad)


def test_import_parser_sees_local_imports():
    assert "_model.overlaps" in project_imports(_module_path("_model.tasks.teacher"))
    assert "experiments" in project_imports(_module_path("_cli.run"))
    assert "__init__" in project_imports(_module_path("_support.io"))  # from .. import __version__


def test_core_never_imports_workflows_plots_or_cli():
    violations = []
    for name in _modules():
        if _layer_of(name) not in CORE:
            continue
        for imported in sorted(project_imports(_module_path(name))):
            if imported.startswith(FORBIDDEN_PREFIXES) and (name, imported) not in LAYERING_ALLOWED:
                violations.append(f"{name} imports {imported}")
    assert not violations, "layer rule broken (docs/architecture.md):\n" + "\n".join(violations)


def test_layers_import_only_what_they_may():
    violations, used = [], set()
    for name in _modules():
        layer = _layer_of(name)
        for imported in sorted(project_imports(_module_path(name))):
            target = _layer_of(imported)
            if target == layer or target in MAY_IMPORT[layer]:
                continue
            if (name, imported) in LAYERING_ALLOWED:
                used.add((name, imported))
                continue
            violations.append(f"{name} ({layer}) imports {imported}")
    assert not violations, "layering broken (docs/architecture.md):\n" + "\n".join(violations)
    stale = set(LAYERING_ALLOWED) - used
    assert not stale, f"allow-list entries no longer needed (remove them and their docs): {stale}"


def test_architecture_page_names_every_module():
    """Every subpackage, and every module by its name, appears on docs/architecture.md."""
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for name in _modules():
        parts = [p for p in name.split(".") if p != "__init__"]
        for part in parts:
            if not re.search(rf"(?<![\w]){re.escape(part)}(?![\w])", text):
                missing.append(name)
                break
    assert not missing, f"docs/architecture.md does not place these modules: {missing}"
