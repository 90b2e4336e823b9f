"""cronkit: run a backend's scheduled work with the host's own cron."""

from .context import TaskContext
from .errors import Cancelled, TransientError
from .params import Param
from .registry import Registry, Task

__version__ = "0.3.0"
__all__ = ["Cancelled", "Param", "Registry", "Task", "TaskContext", "TransientError", "__version__"]
