"""`python -m pipeline`: the same as the `handlingsplan` command."""

from pipeline.cli import app

if __name__ == "__main__":
    app()
