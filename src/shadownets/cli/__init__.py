"""``shadownets`` command line: a thin typer skin over the public API.

Each sub-module registers its commands; none of them does maths of its own.
"""

from __future__ import annotations

import typer

from shadownets.cli import audit, invert, reproduce, reverse, theory, train, tying

__all__ = ["app", "main"]

app = typer.Typer(
    name="shadownets",
    help="Why are deep nets reversible? Random-like generative models, shadow nets, "
    "audits of trained nets and training with shadow data (Arora, Liang & Ma 2015).\n\n"
    "Errors are one line on stderr (exit 2); set SHADOWNETS_DEBUG=1 in the environment to "
    "see the full traceback instead.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _module in (theory, reverse, train, audit, invert, tying, reproduce):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
