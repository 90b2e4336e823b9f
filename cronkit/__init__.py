"""cronkit: run a backend's scheduled work with the host's own cron."""

from cronkit.context import TaskContext
from cronkit.errors import Cancelled, TransientError
from cronkit.registry import Registry, Task
from cronkit.registry.params import Param

__version__ = "0.3.0"
__all__ = ["Cancelled", "Param", "Registry", "Task", "TaskContext", "TransientError", "__version__"]
