"""`python -m olist_pipeline`: the Hydra entry point, run by the resident runner when one is up
(olist_pipeline/speed/resident.py), in this process otherwise."""

import sys

from olist_pipeline.speed import resident

if __name__ == "__main__":
    resident.hold_gc()  # until the run's long-lived objects exist (resident.settle_gc)
    code = None if resident.IN_CHILD else resident.try_run(sys.argv)
    if code is not None:
        sys.exit(code)
    from olist_pipeline.app.cli import main

    if resident.IN_CHILD:  # the runner's child ends itself the same way
        main()
    else:
        resident.exit_without_teardown(main)
