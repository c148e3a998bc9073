"""torchrun entry point for the DDP tests: the CLI, with every run-folder write logged with the writer's rank."""

import os
import sys

from depthutils import run_folder


def _logged(name):
    original = getattr(run_folder.RunFolder, name)

    def write(self, *a, **k):
        with open(os.environ["DDP_WRITE_LOG"], "a") as f:
            f.write(f"{os.environ.get('RANK')} {name}\n")
        return original(self, *a, **k)

    return write


for _name in ("save_checkpoint", "write_history", "write_config", "write_results", "remove_stale_temp", "lock"):
    setattr(run_folder.RunFolder, _name, _logged(_name))

from depthutils.cli import main  # noqa: E402

sys.exit(main(sys.argv[1:]))
