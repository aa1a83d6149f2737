"""`python -m olist_pipeline`: the Hydra entry point (app/cli.py), run through the speed package's
program runner (the resident runner when one is up; `OLIST_SPEED=off`: a plain process)."""

import sys

from olist_pipeline import speed

if __name__ == "__main__":

    def main() -> None:
        from olist_pipeline.app.cli import main as cli_main

        cli_main()

    speed.run_program(main, sys.argv)
