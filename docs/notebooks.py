"""mkdocs hook: the notebooks of examples/notebooks/ as pages of the site, under notebooks/.

The notebooks live with the examples, where users open them and tests/test_notebooks.py runs
them. This hook adds them to the site's files from there, without a copy in docs/, so that
mkdocs-jupyter renders and runs each one in its own folder (the Figure-1 notebook reads
../fig1.toml).
"""

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

NOTEBOOKS = Path(__file__).resolve().parents[1] / "examples" / "notebooks"


@event_priority(100)  # before mkdocs-jupyter's on_files, which makes the .ipynb files pages
def on_files(files, config):
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        files.append(File(f"{NOTEBOOKS.name}/{path.name}", src_dir=str(NOTEBOOKS.parent),
                          dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def on_serve(server, config, builder):
    server.watch(str(NOTEBOOKS))
    return server
