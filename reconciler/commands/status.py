"""`reconcile status PATH [--format text|json|html]`: the provider's business on one screen.

The reading, the document and its renderers live in reconciler.status (reading.py, model.py, text.py, page.py,
html.py; report.py puts them together); this module only prints and chooses the exit code.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import click

from reconciler.commands.outcome import EXIT_OK, handled
from reconciler.status.report import status_output


@handled
def run_status(path: Path, fmt: str, environ: Mapping[str, str] | None = None, state_dir: Path | None = None) -> int:
    click.echo(status_output(path, fmt, environ, state_dir), nl=False)
    return EXIT_OK
