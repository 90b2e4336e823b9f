"""cronkit: run a backend's scheduled work with the host's own cron."""

import gc

# Importing cronkit makes objects that live as long as the process (modules, classes, functions):
# a collection among them frees nothing, and a cron tick of `cronkit run` spent about a tenth of
# its CPU in them. The collector pauses for these imports (and the runner's) and resumes as it was.
_collecting = gc.isenabled()
gc.disable()
try:
    from cronkit.context import TaskContext
    from cronkit.errors import Cancelled, TransientError
    from cronkit.registry import Registry, Task
    from cronkit.registry.params import Param
    from cronkit.version import __version__
finally:
    gc.freeze()  # what the imports made lives as long as the process: no collection looks at it again
    if _collecting:
        gc.enable()

__all__ = ["Cancelled", "Param", "Registry", "Task", "TaskContext", "TransientError", "__version__"]
