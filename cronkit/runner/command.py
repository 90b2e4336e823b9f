"""The child side of a command task's attempt: fork and exec `shell -c command`, wait, report its code.

Why the forked child stays and starts the shell itself, rather than exec'ing it in place or the
supervisor spawning it: everything the supervisor does is then the same for both kinds of task
(fork, own process group, output appended to the capture file, timeout and lease stops that
TERM then KILL the group, the orphan reaping). The child keeps what an exec would lose: its
lifeline thread, which takes the whole group down when the runner is killed with -9, and the
report pipe, so the exit code, a retry code or a signal reach the run policy as any attempt's
report does. The runner's "please stop" (a TERM to the child alone, a function's cancellation
flag) becomes a TERM to the command's process group here, as a terminal would send it.
"""

from __future__ import annotations

import os
import signal
import threading

from cronkit.plain import TYPE_CHECKING
from cronkit.registry.limits import Limits, killed_by
from cronkit.registry.limits import apply as apply_limits
from cronkit.runner.spec import AttemptSpec

if TYPE_CHECKING:
    from typing import Any

EXIT_NOT_FOUND = 127  # what a shell answers for a command it cannot run
RESTORED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGQUIT)


def run_command(spec: AttemptSpec, lifeline: Any) -> dict[str, Any]:
    """Run the task's command in this process group, wait for it, return the report."""
    call = spec.call
    command = call.task.command
    assert command is not None
    if command.cwd is not None and not os.path.isdir(command.cwd):
        return {"status": "failed", "error": f"cwd {command.cwd} is not a directory"}
    if not os.access(command.shell, os.X_OK):
        return {"status": "failed", "error": f"shell {command.shell} is not an executable file"}
    env = dict(os.environ)
    env.update(command.env)
    env.update({"CRONKIT_TASK": call.task.name, "CRONKIT_RUN_ID": str(call.run_id),
                "CRONKIT_ATTEMPT": str(spec.number)})
    if call.slot is not None:
        env["CRONKIT_SLOT"] = call.slot.isoformat()
    if call.date is not None:
        env["CRONKIT_DATE"] = call.date.isoformat()
    env.update({f"CRONKIT_PARAM_{name.upper()}": value for name, value in call.params.items()})
    threading.Thread(target=lifeline, daemon=True).start()
    stopping = threading.Event()

    def stop(_signum: int, _frame: Any) -> None:
        if not stopping.is_set():  # the TERM this sends to the group reaches this process too
            stopping.set()
            os.killpg(0, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    limits = call.task.limits
    pid = os.fork()
    if pid == 0:
        _exec(command.shell, command.command, command.cwd, env, limits)
    _, status = os.waitpid(pid, 0)
    return report(status, command.outcome, limits)


def _exec(shell: str, command: str, cwd: str | None, env: dict[str, str], limits: Limits) -> None:
    """Become `shell -c command` (in the grandchild, under the task's limits); on failure say why
    on stderr and exit 127."""
    try:
        if limits:
            apply_limits(limits)
        for sig in RESTORED_SIGNALS:  # exec keeps an ignored signal ignored: Python ignores SIGPIPE
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        if cwd is not None:
            os.chdir(cwd)
        os.execve(shell, [shell, "-c", command], env)
    except BaseException as exc:  # noqa: BLE001 - nothing may return from here
        try:
            os.write(2, f"cronkit: cannot run {shell}: {exc}\n".encode())
        finally:
            os._exit(EXIT_NOT_FOUND)


def report(status: int, outcome: Any, limits: Limits) -> dict[str, Any]:
    """Turn the command's wait status into the attempt's report (what an exit code means: `outcome`;
    a signal that stands for one of the task's limits is named as that limit)."""
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        limit = killed_by(limits, os.WTERMSIG(status)) if limits else None
        return {"status": "failed", "error": limit or f"the command was killed by {name}", "result": {"signal": name}}
    code = os.WEXITSTATUS(status)
    result = {"exit_code": code}
    # A shell reports a child a signal ended as 128 + the signal: a limit's signal is the limit.
    limit = killed_by(limits, code - 128) if limits and 128 < code < 128 + signal.NSIG else None
    if limit is not None:
        return {"status": "failed", "error": f"{limit} (the command exited with status {code})", "result": result}
    meaning = outcome(code)
    if meaning == "succeeded":
        return {"status": "succeeded", "result": result}
    kind = " (a retry code)" if meaning == "retry" else ""
    return {"status": "failed", "error": f"the command exited with status {code}{kind}", "result": result,
            "transient": meaning == "retry"}
