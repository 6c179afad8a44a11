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
    "_version": set(),
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
LAYERING_ALLOWED: dict[tuple[str, str], str] = {}


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
    assert "_version" in project_imports(_module_path("_support.io"))  # from .._version import


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
            if target == layer or target in MAY_IMPORT[layer] or target == "_version":
                continue  # `_version` holds only the version string: every layer may name it
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


# ------------------------------------------------------------------------------ theory citations

# Pages and code cite docs/theory.md by section number ("§3.5", "theory §8", "[theory §9.12]
# (theory.md#sec-9-forgetting)"). A number that no heading carries, a link whose anchor lands on
# another section, or a number next to the topic of another section is a stale citation.

THEORY = DOCS / "theory.md"
_HEADING = re.compile(r"^(#{2,4}) (\d+(?:\.\d+)*)\.? (.+?)\s*$", re.M)
_ANCHOR = re.compile(r'<a id="([^"]+)"></a>\s*\n(#{2,4}) (\d+(?:\.\d+)*)\.? ', re.M)
_CITE = re.compile(r"§\s?(\d+(?:\.\d+)*)")
_THEORY_LINK = re.compile(r"\[([^\]]*)\]\((?:[./]*|docs/)theory(?:\.md)?#([\w-]+)\)")
# Words of a heading that say nothing about its topic.
_TITLE_STOP = {"the", "and", "of", "its", "in", "a", "an", "to", "for", "from", "what", "which",
               "beyond", "paper", "paper's", "figure", "figures", "experiment", "made", "one",
               "other", "as", "with", "each", "does", "keep", "keeps", "no", "networks",
               "network", "overlaps", "overlap", "learning", "space", "rule", "rules"}


def theory_sections() -> dict[str, str]:
    """Section number → heading title of docs/theory.md ("3.5" → "Closed-form losses ...")."""
    text = THEORY.read_text(encoding="utf-8")
    return {m[2]: m[3] for m in _HEADING.finditer(text)}


def theory_anchors() -> dict[str, str]:
    """Anchor → section number: the `<a id>` placed before a heading, and the heading's own
    slug as mkdocs' toc makes it ("35-closed-form-losses-of-impulse-tasks-beyond-the-paper")."""
    from markdown.extensions.toc import slugify

    text = THEORY.read_text(encoding="utf-8")
    anchors = {m[1]: m[3] for m in _ANCHOR.finditer(text)}
    for number, title in theory_sections().items():
        anchors[slugify(f"{number} {title}", "-")] = number
    return anchors


def _topic_words(text: str) -> list[str]:
    words = [w.strip("'-") for w in re.findall(r"[a-zθσ∞'-]+", text.lower().replace("`", ""))]
    return [w for w in words if len(w) >= 3 and w not in _TITLE_STOP]


def _title_phrases(text: str) -> set[str]:
    """Runs of three consecutive topic words ("losses impulse tasks"), stop words skipped."""
    words = _topic_words(text)
    return {" ".join(words[i:i + 3]) for i in range(len(words) - 2)}


def distinctive_phrases() -> dict[str, str]:
    """Phrase → the one subsection (N.M) whose title alone contains it."""
    owners: dict[str, set[str]] = {}
    for number, title in theory_sections().items():
        if "." in number:
            for phrase in _title_phrases(title):
                owners.setdefault(phrase, set()).add(number)
    return {w: next(iter(s)) for w, s in owners.items() if len(s) == 1}


def _citing_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    for folder in ("src", "tests", "benchmarks", "examples"):
        files += sorted(p for p in (ROOT / folder).rglob("*")
                        if p.suffix in (".py", ".md", ".toml") and "egg-info" not in str(p))
    return [p for p in files if p.name != "test_docs.py"]


def _related(a: str, b: str) -> bool:
    """Same section, or one contains the other."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def citation_problems(text: str, where: str) -> list[str]:
    sections, anchors, phrases = theory_sections(), theory_anchors(), distinctive_phrases()
    problems = []
    for m in _CITE.finditer(text):
        number = m[1].rstrip(".")
        if number not in sections:
            problems.append(f"{where}: §{number} is no section of docs/theory.md")
            continue
        if "." not in number:
            continue  # a whole chapter covers many topics
        # The topic named just before the citation, in the same line and clause.
        line_start = text.rfind("\n", 0, m.start()) + 1
        before = text[line_start:m.start()]
        before = re.split(r"[.;:!?]\s|§\s?\d", before)[-1][-60:]
        found = {phrases[w] for w in _title_phrases(before) if w in phrases}
        if found and not any(_related(s, number) for s in found):
            problems.append(f"{where}: '{before.strip()} §{number}' names the topic of "
                            f"§{', §'.join(sorted(found))}, not of §{number} "
                            f"({sections[number]})")
    for m in _THEORY_LINK.finditer(text):
        label, anchor = m[1], m[2]
        if anchor not in anchors:
            if anchor != "glossary" and anchor != "contents":
                problems.append(f"{where}: theory.md#{anchor} is no anchor of docs/theory.md")
            continue
        cited = [c.rstrip(".") for c in _CITE.findall(label)]
        if cited and cited[-1] != anchors[anchor]:
            problems.append(f"{where}: [{label}] links to #{anchor}, which is "
                            f"§{anchors[anchor]} ({sections[anchors[anchor]]})")
    return problems


def test_theory_citation_checker_catches_stale_citations():
    assert theory_sections()["3.5"].startswith("Closed-form losses")
    assert theory_anchors()["sec-3-closed-form"] == "3.5"
    assert citation_problems("losses of impulse tasks (docs/theory.md §3.5)", "ok") == []
    assert citation_problems("[theory §3.5](theory.md#sec-3-closed-form)", "ok") == []
    assert citation_problems("see §8 and §9.12", "ok") == []
    stale = ["T-independent losses of impulse tasks (docs/theory.md §4.4)",  # topic of §3.5
             "see docs/theory.md §12.3",                                     # no such section
             "[theory §4.4](theory.md#sec-3-closed-form)",                   # anchor is §3.5
             "[theory §7](theory.md#no-such-anchor)"]
    for text in stale:
        assert len(citation_problems(text, "stale")) == 1, text


def test_theory_citations_name_existing_sections_of_the_right_topic():
    problems = []
    for path in _citing_files():
        problems += citation_problems(path.read_text(encoding="utf-8"),
                                      str(path.relative_to(ROOT)))
    assert not problems, "stale citations of docs/theory.md:\n" + "\n".join(problems)


# ------------------------------------------------------------------------------ measured times

# Every measured time is on docs/performance.md, with how it was measured; the README and the
# other pages link there. A duration anywhere else is a copy that goes stale on its own.
TIMES_PAGE = DOCS / "performance.md"
_DURATION = re.compile(
    r"(?<![\w.^/·-])(?:~\s?)?\d+(?:[.,]\d+)?(?:\s?[–-]\s?\d+(?:\.\d+)?)?\s?"
    r"(?:s|sec|seconds?|min|minutes?|ms|µs|us|h|hours?)(?![\w/])"
    r"|\b(?:an?|half an|one|two|few) (?:hour|minute)s?\b"
    r"|\b\d+\s?CPU-(?:minutes|hours)\b")
# Durations that are not measurements: simulated time of the tasks (seconds of the model's
# clock), the neurogym unit conversion and a fixed timeout. (page, text around the match).
NOT_MEASURED = {
    ("README.md", "onsets 6.5–12.5 s apart"),
    ("README.md", "20 ms / 100 ms"),
    ("README.md", "reached within 5 s"),
    ("docs/theory.md", "pulse 0.5 s, first pulse at 0.5 s, window 2 s, waits 4–10 s"),
    ("docs/theory.md", "onsets are 6.5–12.5 s apart"),
    ("docs/theory.md", "to 2.5 s after it"),
    ("docs/theory.md", "waits 1–2 s"),
    ("docs/theory.md", "(defaults 1, 9, 1, 9 s;"),
    ("docs/theory.md", "(waits 4–10 s, amplitude 1)"),
    ("docs/theory.md", "T = 20 s"),
    ("docs/theory.md", "T = 200 s"),
}


# Times of §10.6 (docs/theory.md), already on docs/performance.md#reveal, that the section still
# repeats; each entry fails the test once its text is gone.


def _duration_pages() -> list[Path]:
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [p for p in pages if p != TIMES_PAGE]


def duration_problems(text: str, where: str, allowed: set[str]) -> tuple[list[str], set[str]]:
    """Durations in `text` not covered by an `allowed` snippet; and the snippets used."""
    spans = []
    for snippet in allowed:
        start = text.find(snippet)
        while start >= 0:
            spans.append((start, start + len(snippet), snippet))
            start = text.find(snippet, start + 1)
    problems, used = [], set()
    for m in _DURATION.finditer(text):
        covering = [s for a, b, s in spans if a <= m.start() and m.end() <= b]
        if covering:
            used.update(covering)
            continue
        line = text.count("\n", 0, m.start()) + 1
        problems.append(f"{where}:{line}: '{m[0]}' ({text[max(0, m.start() - 40):m.end() + 20]!r})")
    return problems, used


def test_duration_finder_catches_times():
    found, _ = duration_problems("make demo takes 31 s; the study 66 min and 4.6 µs per epoch, "
                                 "about half an hour, 49 CPU-minutes", "x", set())
    assert len(found) == 5, found
    assert duration_problems("rank 1, σ_zz = 2.05, 10⁻⁴ s.d., 1e-3, η·E = 3, 12 epochs", "x",
                             set())[0] == []
    assert duration_problems("waits 4–10 s apart", "x", {"waits 4–10 s"})[0] == []


def test_measured_times_live_on_one_page():
    problems, used = [], set()
    for page in _duration_pages():
        rel = str(page.relative_to(ROOT))
        allowed = {s for p, s in NOT_MEASURED if p == rel}
        found, hits = duration_problems(page.read_text(encoding="utf-8"), rel, allowed)
        problems += found
        used |= {(rel, s) for s in hits}
    assert not problems, ("times stated outside docs/performance.md (move them there, with how "
                          "they were measured, and link to it):\n" + "\n".join(problems))
    stale = (NOT_MEASURED) - used
    assert not stale, f"allow-list entries no longer needed: {stale}"
    text = TIMES_PAGE.read_text(encoding="utf-8")
    assert duration_problems(text, "performance.md", set())[0], "the times page holds no time"
    for page in (ROOT / "README.md", DOCS / "index.md"):
        assert "performance.md" in page.read_text(encoding="utf-8"), page.name


# ------------------------------------------------------------------------------ float64

_FLOAT64_ON_IMPORT = re.compile(
    r"import(?:ing)?\s+overlapflow\s+(?:turns|switches)\s+on\s+(?:JAX\s+)?(?:float64|64-bit)"
    r"|float64\s+is\s+(?:switched|turned)\s+on\s+when\s+overlapflow\s+is\s+imported", re.I)


def test_float64_is_what_the_docs_say():
    """Importing overlapflow leaves JAX in float32; asking for float64 then raises an error
    that names `of.enable_float64()`; no page or docstring says otherwise."""
    code = (
        "import jax, overlapflow as of\n"
        "assert not jax.config.jax_enable_x64, 'importing overlapflow turned on float64'\n"
        "spec = of.NetworkSpec(N=20, rank=1, n_in=1, n_out=1, phi='linear', dt=0.1)\n"
        "try:\n"
        "    of.random_vectors(spec, seed=0)\n"
        "except of.ConfigError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    raise SystemExit('float64 computed with the 64-bit mode off')\n"
        "of.enable_float64()\n"
        "assert of.random_vectors(spec, seed=0).dtype == 'float64'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    env.setdefault("JAX_PLATFORMS", "cpu")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "of.enable_float64()" in proc.stdout, proc.stdout
    claims = []
    for path in [ROOT / "README.md", *DOCS.rglob("*.md"), *PACKAGE.rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        claims += [f"{path.relative_to(ROOT)}: {m[0]}" for m in _FLOAT64_ON_IMPORT.finditer(text)]
    assert not claims, "pages say importing overlapflow turns on float64:\n" + "\n".join(claims)


# ------------------------------------------------------------------------------ cited paths

_REPO_PATH = re.compile(r"(?<![\w/.-])((?:src/overlapflow|tests|examples|benchmarks|docs)/[\w./*-]+)")
_MODULE_NAME = re.compile(r"`(_[a-z][a-z_]*(?:\.[A-Za-z_0-9]+)+)`")  # layer.module[.name]


def cited_path_problems(text: str, where: str) -> list[str]:
    """Repository paths (`src/overlapflow/_model/effective.py`, `examples/limit/*.toml`) and
    private module names (`_model.effective`, `_learn.loop.run_epochs`) that do not exist."""
    problems = []
    for m in _REPO_PATH.finditer(text):
        path = m[1].rstrip(".,:;)")
        exists = any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()
        if not exists:
            problems.append(f"{where}: {path}")
    for m in _MODULE_NAME.finditer(text):
        parts = m[1].split(".")
        if not any(PACKAGE.joinpath(*parts[:k]).with_suffix(".py").is_file()
                   or PACKAGE.joinpath(*parts[:k]).is_dir() for k in range(1, len(parts) + 1)):
            problems.append(f"{where}: `{m[1]}`")
    return problems


def test_cited_path_checker_catches_missing_files():
    assert cited_path_problems("`_model.effective` is src/overlapflow/_model/effective.py", "") == []
    assert len(cited_path_problems("`_model.effective` means src/overlapflow/_effective.py", "")) == 1
    assert len(cited_path_problems("see `_modle.effective` and examples/limit/*.tmol", "")) == 2


def test_cited_paths_exist():
    files = [ROOT / "README.md", *sorted(DOCS.rglob("*.md")), *sorted(PACKAGE.rglob("*.py")),
             *sorted((ROOT / "examples").rglob("*.toml")), *sorted((ROOT / "benchmarks").rglob("*.py"))]
    problems = []
    for path in files:
        problems += cited_path_problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert not problems, "paths and modules named that do not exist:\n" + "\n".join(problems)


# ------------------------------------------------------------------------------ home page figure

_HERO_PANEL = re.compile(
    r'<a class="hero-panel[^"]*" href="fig1_compare.png" style="--w: (\d+); aspect-ratio: (\d+) / '
    r'(\d+)"[^>]*><img src="fig1_compare.png"\s+style="width: ([\d.]+)%; left: (-?[\d.]+)%?; '
    r'top: (-?[\d.]+)%"', re.S)


def test_home_page_panels_cut_the_figure_between_its_panels():
    """The home page shows docs/fig1_compare.png panel by panel (docs/index.md): each window must
    span the whole image width between blank columns, so a regenerated figure with another
    layout fails here instead of showing cut panels."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(DOCS / "fig1_compare.png").convert("L"))
    height, width = pixels.shape
    panels = _HERO_PANEL.findall((DOCS / "index.md").read_text(encoding="utf-8"))
    assert len(panels) == 3
    edges = []
    for w, aw, ah, scale, left, top in panels:
        w, aw, ah = int(w), int(aw), int(ah)
        assert aw == w
        x0 = round(-float(left) * w / 100)
        y0 = height - ah
        assert abs(float(scale) * w / 100 - width) < 0.5, "window scale does not match the image"
        assert abs(-float(top) * ah / 100 - y0) < 0.5, "window top does not match its height"
        edges.append((x0, x0 + w))

        window = pixels[y0:, x0:x0 + w]
        assert window.min() < 128, "an empty window"
        for x in (x0, x0 + w - 1):
            if 0 < x < width - 1:
                assert pixels[y0:, x].min() >= 245, f"the cut at x = {x} goes through a drawing"
    assert edges[0][0] == 0 and edges[-1][1] == width
    assert all(a[1] == b[0] for a, b in zip(edges, edges[1:])), edges
