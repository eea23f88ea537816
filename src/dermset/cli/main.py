"""`dermset`: the command-line entry point and its error boundary."""

from __future__ import annotations

import os
import sys

import typer

from dermset.cli import (
    audit_cmd,
    backup_cmd,
    demo_cmd,
    duplicates_cmd,
    evaluate_cmd,
    ingest_cmd,
    labels_cmd,
    metadata_cmd,
    project_cmd,
    release_cmd,
    web_cmd,
)
from dermset.cli.common import CliError, err_console

app = typer.Typer(
    name="dermset",
    help="Build clinically verified dermoscopy datasets.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

project_cmd.register(app)
metadata_cmd.register(app)
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(labels_cmd.app, name="labels")
backup_cmd.register(app)
evaluate_cmd.register(app)
ingest_cmd.register(app)
duplicates_cmd.register(app)
demo_cmd.register(app)
release_cmd.register(app)
web_cmd.register(app)


def _known_errors() -> tuple[type[BaseException], ...]:
    from dermset.ingest.mapping_files import MappingError
    from dermset.protocol import ProtocolError
    from dermset.registry.project import NotAProject

    return (
        CliError,
        NotAProject,
        ProtocolError,
        MappingError,
        FileExistsError,
        FileNotFoundError,
        PermissionError,
    )


def run() -> None:
    """Console-script entry: user errors become one red line, never a traceback."""
    try:
        app(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        err_console.print(
            "[yellow]interrupted[/]: nothing was half-written (each step is one transaction)"
        )
        sys.exit(130)
    except _known_errors() as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    except Exception as exc:  # the boundary: report, do not dump a traceback on a clinician
        if os.environ.get("DERMSET_DEBUG"):
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
            "Set DERMSET_DEBUG=1 to see the traceback, and please report it."
        )
        sys.exit(3)


if __name__ == "__main__":
    run()
