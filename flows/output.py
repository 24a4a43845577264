"""Terminal output shared by the CLI commands: results to stdout, errors to stderr."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

console = Console()
# soft_wrap: an error names paths and URLs; hard-wrapping at 80 columns (stderr not a terminal:
# logs, journald) would split them mid-word.
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int) -> typer.Exit:
    """Print `error: message` to stderr; raise the returned Exit to leave with `code`."""
    # Text, not markup: a message quoting a feed title or URL may contain "[...]".
    errors.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False)
    return typer.Exit(code)
