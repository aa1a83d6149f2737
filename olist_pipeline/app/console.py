"""How the app speaks to the user on the terminal: one red `error:` line for a problem a user can fix."""

from __future__ import annotations


def fail(message: str) -> None:
    """Print `error: <message>` on stderr (rich is imported here only: an error path, never a run's)."""
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {message}")
