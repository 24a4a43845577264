"""Terminal output shared by the CLI commands: results to stdout, errors to stderr."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int) -> typer.Exit:
    """Print `error: message` to stderr; raise the returned Exit to leave with `code`."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)
