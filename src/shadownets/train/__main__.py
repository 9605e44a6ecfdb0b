"""``python -m shadownets.train [OPTIONS]`` = ``shadownets train``; the torchrun entry point::

    torchrun --nproc_per_node=2 -m shadownets.train --dataset digits --out runs/ddp
"""

from __future__ import annotations


def main() -> None:
    """Run the ``shadownets train`` command with the process's arguments."""
    import typer

    from shadownets.cli.train import train_command

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(train_command)
    app()


if __name__ == "__main__":
    main()
