"""`python -m olist_pipeline`: the Hydra entry point."""

from olist_pipeline.cli import main

if __name__ == "__main__":
    main()
