"""Generate the CLI and configuration reference pages from the code (one source of truth).

Used two ways:

- as a mkdocs hook (``hooks: [docs/gen_reference.py]`` in mkdocs.yml): ``on_files`` adds the
  pages ``reference/cli.md`` and ``reference/config.md`` to the build, generated in memory,
  so no generated file is ever written into ``docs/`` or committed;
- as a script, ``python docs/gen_reference.py OUTDIR``, writing the two pages into OUTDIR
  (to read them without building the site).

Sources: the CLI reference walks the argparse parser that ``overlapflow.cli.build_parser``
builds (every sub-command, its usage, description and arguments with defaults). The
configuration reference reads the tables, keys and defaults of ``overlapflow.internal.config_schema``
(``_TABLES``, ``_REQUIRED``, ``ALL_MODES``, ``DTYPES``), the task kinds ``TASK_KINDS`` with
``task_parameters(kind)`` and each task class's docstring, the loss kinds and their
formulas from ``loss_from_outputs``'s docstring, and the nonlinearities of
``NONLINEARITIES``. The only text kept here is a one-line description per config key
(``KEY_HELP``); a key of the schema without one, or a description of a key that no longer
exists, is reported as a warning, which fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import logging
import re
import sys
from pathlib import Path

CLI_PAGE = "reference/cli.md"
CONFIG_PAGE = "reference/config.md"
API_PAGE = "reference/api.md"

log = logging.getLogger("mkdocs.plugins.overlapflow_reference")

# One line per key of overlapflow.internal.config_schema._TABLES (checked against it: see `config_problems`).
KEY_HELP = {
    "network.N": "number of neurons (θ-space modes; overlap-space modes do not depend on it)",
    "network.rank": "rank R of the connectivity W = U Vᵀ/N",
    "network.n_in": "number of inputs (columns of M)",
    "network.n_out": "number of outputs (columns of Z)",
    "network.phi": "nonlinearity φ, one of the names below",
    "network.dt": "time step (τ = 1)",
    "init.seed": "seed of the random unit-norm Gaussian initial vectors (or of the "
    "realisation of `sigma`)",
    "init.sigma": "path of a (P, P) `.npy` initial overlap matrix, order [M | U | V | Z]; "
    "relative to the config's folder",
    "init.balanced": "rank 1 only: the Σ of random vectors redrawn from `seed` until "
    "σ_zu ≈ σ_vm and σ_mu ≈ σ_zv (the paper's Figs 4, 8); exclusive with `sigma`",
    "init.vectors": "path of a network file of `overlapflow import` (net.npz): θ-space starts "
    "from exactly its vectors, the overlap modes from their Σ; [network] comes from the file",
    "task.kind": "task kind, one of the kinds below",
    "task.t_max": "trial duration in time units (T = round(t_max/dt) steps); optional for "
    "`arrays`, `decision_making` and `neurogym`",
    "task.seed": "seed of the per-epoch batches (`fold_in(PRNGKey(seed), epoch)`)",
    "loss.kind": "loss, one of the kinds below",
    "train.optimizer": "learning rule (docs/theory.md §9): `\"gd\"` (step N·η), `\"momentum\"`, "
    "`\"nesterov\"` (optax.sgd with momentum μ; overlap mode `exact` on the augmented Γ), "
    "`\"adam\"` (rate η; θ-space only) or `\"colnorm\"` (column-normalised gradient)",
    "train.eta": "learning rate η (overlap space); θ-space GD uses N·η",
    "train.epochs": "number of epochs (integer > 0)",
    "train.modes": "list of modes to run (see below)",
    "train.dtype": "floating-point precision",
    "train.flow_rtol": "relative tolerance of the adaptive solver of mode `flow`",
    "train.flow_atol": "absolute tolerance of the adaptive solver of mode `flow`",
    "train.limit_nodes": "mode `limit`: Gauss–Hermite points per drive direction (2–60)",
    "train.limit_check": "mode `limit`: also run a coarser rule and report the difference",
    "train.track_every": "modes `theta` and `limit`: Gaussianity statistics every k epochs "
    "(0: off)",
    "train.momentum": "μ in [0, 1) of `momentum` / `nesterov` (optax.sgd semantics)",
    "train.weight_decay": "λ ≥ 0: the penalty (λ/2N)‖X‖² = (λ/2) tr Σ added to the loss",
    "train.lr_scale": "inline table of learning-rate multipliers ≥ 0 per family (m, u, v, z) "
    "or column (u2); 0 freezes: `{u = 0.5, z = 0}`",
    "train.clip_norm": "clip the N-independent gradient norm √N‖g‖ = 2·sqrt(tr SΣS) at this "
    "value (weight decay included); absent: no clipping",
    "train.noise_temperature": "T ≥ 0: weight noise sqrt(2ηT)·ξ after each θ-space step; the "
    "overlap modes use its N → ∞ mean 2ηT·I; refused by mode `limit`",
    "train.noise_seed": "seed of the weight noise",
}

# What each mode of [train].modes computes (checked against ALL_MODES).
MODE_HELP = {
    "theta": "the full N-dimensional network: GD with step N·η, Adam, or any learning rule",
    "exact": "Σ ← (I − 2ηS) Σ (I − 2ηS), the exact image of θ-space GD (a learning rule: its "
    "exact map, docs/theory.md §9)",
    "flow": "dΣ/dt = −2η(SΣ + ΣS), adaptive solver, saved at integer epochs",
    "euler": "one Euler step of the flow per epoch (the paper's update)",
    "direct": "σ ← σ − η ∂L/∂σ on the distinct overlaps (the paper's wrong baseline)",
    "limit": "the N → ∞ network on Gaussian quadrature nodes (nonlinear networks)",
}


# ------------------------------------------------------------------------------ helpers


def _cell(text) -> str:
    """Text fit for one cell of a Markdown table."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _literal(value) -> str:
    """A default as the TOML a user would write (inside a code span)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_literal(v).strip("`") for v in value)
        return f"`[{inner}]`"
    return f"`{value!r}`"


def _docstring(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _markdown(doc: str) -> str:
    """A reST-flavoured docstring as Markdown: ``code`` spans, indented blocks kept apart."""
    lines = doc.replace("``", "`").splitlines()
    out = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):  # "> 0" wrapped to a line start is not a quote
            line = line.replace(">", "\\>", 1)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        indent = len(line) - len(line.lstrip())
        opens_block = nxt.strip() and len(nxt) - len(nxt.lstrip()) >= indent + 4
        if line.rstrip().endswith("::"):
            line = line.rstrip()[:-1]
        out.append(line)
        if line.rstrip().endswith(":") and opens_block:
            out.append("")  # the indented lines below render as a block, not a run-on line
    return "\n".join(out)


# ------------------------------------------------------------------------------ CLI


def _subcommands(parser: argparse.ArgumentParser):
    """(name, help, sub-parser) of every sub-command, in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage line without the 'usage: ' prefix, wrapped at 88 columns."""
    formatter = argparse.HelpFormatter(parser.prog, width=88)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups,
                        prefix="")
    return formatter.format_help().strip()


def _argument_rows(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            name = ", ".join(f"`{s}`" for s in action.option_strings)
            if action.nargs != 0:
                name = name[:-1] + f" {action.metavar or action.dest.upper()}`"
        else:
            name = f"`{action.metavar or action.dest}`"
        required = "required" if (action.required or not action.option_strings) else ""
        if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or action.default == []:
            default = ""
        else:
            default = f"`{action.default}`"
        if isinstance(action, argparse._AppendAction):
            default = "repeatable"
        help_text = formatter._expand_help(action) if action.help else ""
        rows.append(f"| {name} | {required or default} | {_cell(help_text)} |")
    return rows


def cli_reference() -> str:
    """The CLI reference page (Markdown) from `overlapflow.cli.build_parser()`."""
    from overlapflow.cli import build_parser

    parser = build_parser()
    parser.prog = "overlapflow"
    out = [
        "# CLI reference",
        "",
        "<!-- Generated by docs/gen_reference.py from overlapflow.cli.build_parser(); "
        "do not edit. -->",
        "",
        parser.description or "",
        "",
        "```text",
        parser.format_usage().strip(),
        "```",
        "",
        "Exit codes: 0 success, 1 a failed check (`run`, `import --probe`) or failed chunks "
        "(`sweep`), "
        "2 bad input (one line on stderr), 130 interrupted (what was computed is kept).",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    subs = list(_subcommands(parser))
    out += [f"| [`{name}`](#overlapflow-{name}) | {_cell(help_)} |" for name, help_, _ in subs]
    for name, help_, sub in subs:
        out += [
            "",
            f"## `overlapflow {name}` {{#overlapflow-{name}}}",
            "",
            f"*{_cell(help_)}*",
            "",
            sub.description or "",
            "",
            "```text",
            _usage(sub),
            "```",
            "",
            "| argument | default | meaning |",
            "|---|---|---|",
            *_argument_rows(sub),
            *(["", "```text", sub.epilog.strip("\n"), "```"] if sub.epilog else []),
        ]
    return "\n".join(out) + "\n"


def cli_commands() -> list[str]:
    """Names of the CLI's sub-commands, read from the parser."""
    from overlapflow.cli import build_parser

    return [name for name, _, _ in _subcommands(build_parser())]


# ------------------------------------------------------------------------------ config


def config_problems() -> list[str]:
    """Keys of the schema without a description here, and descriptions of removed keys."""
    from overlapflow.internal import config_schema as _config

    keys = {f"{t}.{k}" for t, table in _config._TABLES.items() for k in table}
    problems = [f"config key {k} has no description in docs/gen_reference.py KEY_HELP"
                for k in sorted(keys - set(KEY_HELP))]
    problems += [f"KEY_HELP describes {k}, which is not a config key any more"
                 for k in sorted(set(KEY_HELP) - keys)]
    problems += [f"mode {m} has no description in docs/gen_reference.py MODE_HELP"
                 for m in _config.ALL_MODES if m not in MODE_HELP]
    problems += [f"MODE_HELP describes {m}, which is not a mode any more"
                 for m in MODE_HELP if m not in _config.ALL_MODES]
    return problems


def _loss_formulas() -> dict[str, str]:
    from overlapflow import loss_from_outputs

    found = re.findall(r'^\s*-\s*"(\w+)":\s*(.+)$', _docstring(loss_from_outputs), re.M)
    return {kind: text.strip() for kind, text in found}


def _task_section(kind: str) -> list[str]:
    from overlapflow import task_parameters
    from overlapflow.internal import task_class

    params = dict(task_parameters(kind))
    out = [f"### `{kind}`", ""]
    if kind == "arrays":
        # The config reads the arrays from a file (see _config.config_from_dict).
        params = {"file": None, "target_noise": params.get("target_noise", 0.0)}
        out += ['In a config: `file = "data.npz"` holding `x`, `y` and optionally `mask` '
                "(relative paths resolve against the config's folder).", ""]
    out += ["| parameter | default |", "|---|---|"]
    out += [f"| `{name}` | {_cell(_literal(default))} |" for name, default in params.items()]
    out += ["", _markdown(_docstring(task_class(kind))), ""]
    return out


def config_reference() -> str:
    """The configuration reference page (Markdown) from `overlapflow.internal.config_schema` and the tasks."""
    from overlapflow import LOSS_KINDS, NONLINEARITIES, TASK_KINDS, TrainConfig, task_parameters
    from overlapflow.internal import config_schema as _config

    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by docs/gen_reference.py from overlapflow.internal.config_schema and "
        "overlapflow.make_task; do not edit. -->",
        "",
        "`compare`, `inspect`, `sweep` and `scaling` read one TOML file with the tables below. "
        "Unknown tables or keys are an error that lists the valid ones; relative paths "
        "resolve against the config file's folder. Keys marked *required* have no default.",
        "",
    ]
    for table, keys in _config._TABLES.items():
        required = set(_config._REQUIRED.get(table, ()))
        out += [f"## `[{table}]`", "", "| key | default | meaning |", "|---|---|---|"]
        for key, default in keys.items():
            shown = "*required*" if key in required else _literal(default)
            if table == "task" and key == "t_max" and default is None:
                shown = "—"
            help_ = KEY_HELP.get(f"{table}.{key}", "(undocumented)")
            out.append(f"| `{key}` | {_cell(shown)} | {_cell(help_)} |")
        if table == "task":
            out += ["", "Every other key of `[task]` is a parameter of its kind "
                    "(see [Task kinds](#task-kinds))."]
        out.append("")

    out += ["## Choices", "", "### Nonlinearities (`network.phi`)", "",
            "| name | Gaussian gain g(Δ) | odd |", "|---|---|---|"]
    for name, nl in NONLINEARITIES.items():
        gain = "closed form" if nl.closed_form else "quadrature"
        out.append(f"| `\"{name}\"` | {gain} | {'yes' if nl.odd else 'no'} |")
    out += ["", "From Python any JAX-differentiable φ works: "
            "`NetworkSpec(phi=Nonlinearity.from_function(f, name=\"f\"))`.", ""]

    formulas = _loss_formulas()
    out += ["### Loss kinds (`loss.kind`)", "", "| kind | loss |", "|---|---|"]
    for kind in LOSS_KINDS:
        out.append(f"| `\"{kind}\"` | {_cell(formulas.get(kind, '(undocumented)'))} |")

    out += ["", "### Modes (`train.modes`)", "", "| mode | what it computes |", "|---|---|"]
    for mode in _config.ALL_MODES:
        out.append(f"| `\"{mode}\"` | {_cell(MODE_HELP.get(mode, '(undocumented)'))} |")
    train_fields = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    dtypes = ", ".join(_literal(d) for d in _config.DTYPES)
    out += ["", f"`train.dtype` is one of {dtypes}; the Python default of `TrainConfig.modes` "
            f"is {_literal(train_fields['modes'])}.", ""]

    out += ["## Task kinds {#task-kinds}", "",
            f"{len(TASK_KINDS)} kinds: " + ", ".join(f"`{k}`" for k in TASK_KINDS) + ". "
            "Every kind also takes `target_noise` (default 0): the sd of Gaussian noise added "
            "to the targets, drawn afresh every epoch. Batched kinds draw a new batch every "
            "epoch from `fold_in(PRNGKey(task.seed), epoch)`, so θ-space and overlap-space "
            "runs see the same batches.", ""]
    for kind in TASK_KINDS:
        task_parameters(kind)  # raises for a kind without a class: fail loudly
        out += _task_section(kind)
    return "\n".join(out) + "\n"


def config_coverage() -> dict[str, list[str]]:
    """What the configuration page must mention: tables, keys, task kinds and parameters."""
    from overlapflow import TASK_KINDS, task_parameters
    from overlapflow.internal import config_schema as _config

    return {
        "tables": list(_config._TABLES),
        "keys": [k for table in _config._TABLES.values() for k in table],
        "task_kinds": list(TASK_KINDS),
        "task_parameters": sorted({p for k in TASK_KINDS for p in task_parameters(k)
                                   if k != "arrays"}),
    }


# ------------------------------------------------------------------------------ API

# Section order of the API page: the layers of docs/architecture.md. A module not listed
# here still gets its section, at the end.
API_MODULE_ORDER = (
    "_model.network", "_model.overlaps", "_model.nonlinearity", "_model.effective",
    "_model.tasks", "_model.tasks.neurogym_env", "_model.losses",
    "_learn.theta", "_learn.overlap", "_learn.rules", "_learn.loop", "_limit",
    "_closed_form.impulse",
    "_analysis.visibility", "_analysis.invariants", "_analysis.report", "_analysis.metric", "_analysis.rules",
    "_analysis.twins", "_analysis.gaussianity",
    "_interop.networks", "_inference.observations", "_inference.model", "_inference.fit",
    "_inference.reveal",
    "_workflows.config", "_workflows.compare", "_workflows.sweep", "_workflows.scaling",
    "_workflows.reveal", "_support.errors", "_support.precision",
)


def public_names() -> dict[str, list[str]]:
    """{private module: public names it gives}, read from the re-exports of overlapflow's
    `__init__.py` (`from ._x import name as name`), in file order."""
    import ast

    import overlapflow

    tree = ast.parse(Path(overlapflow.__file__).read_text(encoding="utf-8"))
    by_module: dict[str, list[str]] = {}
    for node in ast.walk(tree):  # the re-exports sit in the `if TYPE_CHECKING:` block
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                name = alias.asname or alias.name
                if not name.startswith("_"):
                    by_module.setdefault(node.module, []).append(name)
    return by_module


def api_reference() -> str:
    """The API reference page: a mkdocstrings block per public name, grouped by module."""
    import importlib

    by_module = public_names()
    order = [m for m in API_MODULE_ORDER if m in by_module]
    order += sorted(m for m in by_module if m not in order)
    out = [
        "# API reference",
        "",
        "<!-- Generated by docs/gen_reference.py from the re-exports of "
        "overlapflow/__init__.py; do not edit. -->",
        "",
        "Every public name of `overlapflow`, rendered from its docstring (shapes, equations "
        "and the section of the [theory](../theory.md) it implements), grouped by the module "
        "that defines it. Import them from the package, `import overlapflow as of`; the "
        "private modules they live in may change.",
        "",
    ]
    for module in order:
        mod = importlib.import_module(f"overlapflow.{module}")
        summary = _docstring(mod).split("\n\n", 1)[0].replace("\n", " ")
        title = re.split(r" \(docs/theory|: ", summary, maxsplit=1)[0].rstrip(".")
        out += [f"## {title}", "", f"*`{module}`: {summary}*", "", "Names: " + ", ".join(
            f"[`{n}`](#overlapflow.{n})" for n in by_module[module]) + ".", ""]
        out += [f"::: overlapflow.{name}\n" for name in by_module[module]]
    out += ["## The command line as functions", "",
            "*`overlapflow.cli`: `main(argv)` runs one `overlapflow` command in this process and "
            "returns its exit status; `build_parser()` is the parser the "
            "[CLI reference](cli.md) is generated from.*", "",
            "::: overlapflow.cli.main\n", "::: overlapflow.cli.build_parser\n",
            "`overlapflow.internal` names the further parts that the tests, the benchmarks and "
            "the experiments use (see [Architecture](../architecture.md#public-surfaces)); it "
            "carries no stability promise and is not rendered here.", ""]
    return "\n".join(out) + "\n"


def pages() -> dict[str, str]:
    """Every generated page: {path relative to docs/: Markdown}."""
    return {CLI_PAGE: cli_reference(), CONFIG_PAGE: config_reference(), API_PAGE: api_reference()}


# ------------------------------------------------------------------------------ mkdocs hook

_UNRESOLVED = re.compile(r"Could not find cross-reference target '([^']*)'")


class _ProseBrackets(logging.Filter):
    """Drop autorefs' warning for `[a b][a b]` written as prose (e.g. block names [M U]).

    mkdocstrings' autorefs reads every `[text][id]` as a possible cross-reference to a Python
    object and warns when it cannot resolve it; the text is rendered unchanged. An identifier
    with whitespace in it is never a Python path, so only those warnings are dropped: a broken
    reference to an API object still fails the strict build.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        match = _UNRESOLVED.search(record.getMessage())
        return not (match and re.search(r"\s", match[1]))


def on_config(config):
    """mkdocs hook: install the filter above on the autorefs loggers."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("mkdocs.plugins.mkdocs_autorefs"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _ProseBrackets) for f in logger.filters):
                logger.addFilter(_ProseBrackets())
    return config



def on_files(files, config):
    """mkdocs hook: add the generated reference pages to the build (nothing on disk)."""
    from mkdocs.structure.files import File

    for problem in config_problems():
        log.warning(problem)
    for path, text in pages().items():
        existing = files.get_file_from_path(path)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, path, content=text))
    return files


# ------------------------------------------------------------------------------ script


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python docs/gen_reference.py OUTDIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    for problem in config_problems():
        print(f"warning: {problem}", file=sys.stderr)
    for path, text in pages().items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
