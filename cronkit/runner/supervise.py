"""Process supervision of one attempt: fork, watch, stop the process group, reap what it left.

The runner never runs task code itself: each attempt is a forked child in its own process group,
so a timeout or a signal can stop the task with everything it started, even when it is blocked in
C code, and the runner stays free to record what happened. The Supervisor gets a plain
AttemptSpec per attempt; it knows nothing of locks, slots, retries or the run log.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import time
from collections.abc import Callable
from types import TracebackType

from cronkit.errors import EXIT_FAILED, EXIT_SIGINT, EXIT_SIGTERM, EXIT_TIMEOUT, EXIT_UNAVAILABLE
from cronkit.host import children_of
from cronkit.plain import TYPE_CHECKING, replace
from cronkit.runlog.status import RunStatus
from cronkit.runner.child import child_main, decode_report
from cronkit.runner.duties import Duties
from cronkit.runner.spec import AttemptResult, AttemptSpec, Usage

if TYPE_CHECKING:
    from typing import Any

PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


class SignalWatch:
    """Catch TERM, INT and HUP for the length of a run, and wake the supervision loop when one comes."""

    WATCHED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None  # SIGINT or SIGTERM (a HUP counts as TERM)
        self.wake_r = -1
        self._wake_w = -1
        self._previous: dict[int, Any] = {}
        self._old_wakeup = -1

    def __enter__(self) -> SignalWatch:
        self._previous = {s: signal.getsignal(s) for s in self.WATCHED}
        self.wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self.wake_r, False)
        self._old_wakeup = signal.set_wakeup_fd(self._wake_w)
        for sig in self._previous:
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a child's exit wakes the loop too
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        signal.set_wakeup_fd(self._old_wakeup)
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self.wake_r)
        os.close(self._wake_w)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if self.received is None:
            self.received = signal.SIGINT if signum == signal.SIGINT else signal.SIGTERM

    def interrupted(self) -> AttemptResult | None:
        """Return the result of a run a signal interrupted, or None while none came."""
        if self.received is None:
            return None
        code = EXIT_SIGINT if self.received == signal.SIGINT else EXIT_SIGTERM
        name = signal.Signals(self.received).name
        return AttemptResult(RunStatus.INTERRUPTED, error=f"interrupted by {name}", exit_code=code)

    def wait(self, fds: list[int], timeout: float) -> list[int]:
        """Wait up to `timeout` for one of `fds` to be readable or a signal to come; return the readable."""
        try:
            ready, _, _ = select.select([self.wake_r, *fds], [], [], timeout)
        except InterruptedError:
            return []
        if self.wake_r in ready:
            _drain(self.wake_r)
        return ready


class _Child:
    """One forked attempt as the supervision loop sees it."""

    def __init__(self, pid: int, result_r: int) -> None:
        self.pid = pid
        self.result_r = result_r
        self.chunks: list[bytes] = []
        self.status: int | None = None  # its wait status, once reaped
        self.usage: Usage | None = None  # its process tree's resources, once reaped
        self.pipe_open = True
        self.stopping: AttemptResult | None = None  # the outcome the runner decided when it began to stop it
        self.kill_at: float | None = None  # when to SIGKILL its group

    def stop(self, outcome: AttemptResult, *, group: bool, kill_at: float) -> None:
        """Ask the task to stop (SIGTERM) and decide the attempt's outcome, whatever the task says."""
        self.stopping = outcome
        _send(self.pid, signal.SIGTERM, group=group)
        self.kill_at = kill_at

    def read(self, ready: list[int]) -> None:
        if self.result_r in ready:
            data = os.read(self.result_r, 65536)
            if data:
                self.chunks.append(data)
            else:
                self.pipe_open = False

    def read_rest(self) -> None:
        """Read what the child wrote before it went."""
        if not self.pipe_open:
            return
        os.set_blocking(self.result_r, False)
        try:
            while data := os.read(self.result_r, 65536):
                self.chunks.append(data)
        except BlockingIOError:
            pass


class Supervisor:
    """The runner's side of a run's attempts: its signals, its duties, and the orphans it adopts."""

    def __init__(self, signals: SignalWatch, duties: Duties, note: Callable[[str], None],
                 *, adopting: bool = False) -> None:
        self.signals = signals
        self.duties = duties
        self.note = note  # a line of cronkit's own in the run's output
        self.adopting = adopting  # this process reaps the task's orphans (see become_subreaper)

    def attempt(self, spec: AttemptSpec) -> AttemptResult:
        """Run one attempt in a forked child in its own process group; supervise it to its end."""
        early = self.signals.interrupted() or self._lease_lost(time.monotonic())
        if early is None and time.monotonic() >= spec.deadline:
            early = _timed_out(spec)
        if early is not None:
            return early
        try:
            result_r, result_w, life_r, life_w, pid = _fork()
        except OSError as exc:  # no descriptor or process left (ulimit -n, -u): a failed attempt, recorded
            return AttemptResult(RunStatus.FAILED, error=f"cannot start the task process: {exc.strerror or exc}",
                                 exit_code=EXIT_FAILED)
        if pid == 0:  # the child: never returns
            os.close(result_r)
            os.close(life_w)
            for fd in spec.inherited_fds:
                os.close(fd)
            child_main(spec, result_w, life_r)
        try:  # also here, so that a TERM to the group cannot race the child's own setpgid
            os.setpgid(pid, pid)
        except OSError:
            pass
        os.close(result_w)
        os.close(life_r)
        try:
            return self._watch(_Child(pid, result_r), spec)
        finally:
            os.close(result_r)
            os.close(life_w)

    def pause(self, seconds: float) -> AttemptResult | None:
        """Sleep between attempts, keeping up the duties; return the result that cut it short, if any."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            cut = self.signals.interrupted() or self._lease_lost(now)
            if cut is not None:
                return cut
            if now >= end:
                return None
            self.duties.maintain(now)
            self.signals.wait([], max(0.0, min(end, self.duties.next_due(now)) - now))

    def _watch(self, child: _Child, spec: AttemptSpec) -> AttemptResult:
        """Loop until the child is reaped: stop it when due, keep up the duties, read its report."""
        while child.status is None:
            now = time.monotonic()
            self._steer(child, spec, now)
            self.duties.maintain(now)
            waits = [self.duties.next_due(now) - now, 1.0]
            if child.stopping is None:
                waits.append(spec.deadline - now)
            if child.kill_at is not None:
                waits.append(child.kill_at - now)
            ready = self.signals.wait([child.result_r] if child.pipe_open else [], max(0.0, min(waits)))
            child.read(ready)
            # wait4, not waitpid: the kernel hands over the resources of the attempt's process and
            # of every descendant that was waited for, which is what the attempt used.
            done, code, rusage = os.wait4(child.pid, os.WNOHANG)
            if done:
                child.status, child.usage = code, Usage.of(rusage)
        child.read_rest()
        _send(child.pid, signal.SIGKILL, group=True)  # nothing the task started outlives the attempt
        if self.adopting:  # nor what it detached from its group (setsid, a daemon's double fork)
            left, used = stop_adopted()
            child.usage = used.plus(child.usage) if used is not None else child.usage
            if left:
                self.note(f"killed {left} process(es) the task left running outside its process group")
        if child.stopping is not None:  # the runner decided the outcome, whatever the task said
            return replace(child.stopping, usage=child.usage)
        result = decode_report(b"".join(child.chunks), child.status, spec.call.task.limits)
        result.usage = child.usage
        return result

    def _steer(self, child: _Child, spec: AttemptSpec, now: float) -> None:
        """Begin to stop the child on a signal, at the timeout or for the lease; KILL it after the grace."""
        if child.stopping is None:
            interrupted = self.signals.interrupted()
            if interrupted is not None:
                child.stop(interrupted, group=False, kill_at=now + spec.grace)  # the task's cancellation flag
            elif now >= spec.deadline:
                child.stop(_timed_out(spec), group=True, kill_at=now + spec.grace)
            elif (lost := self._lease_lost(now)) is not None:
                assert self.duties.lease is not None
                # Dead before the lease can expire, even when the grace period is longer than that.
                child.stop(lost, group=True, kill_at=self.duties.lease.kill_by(now))
        elif child.kill_at is not None and now >= child.kill_at:
            _send(child.pid, signal.SIGKILL, group=True)
            child.kill_at = None

    def _lease_lost(self, now: float) -> AttemptResult | None:
        """Return the result of a run stopped for its lease once the lease requires it, else None."""
        stop_at = self.duties.stop_at
        if stop_at is None or now < stop_at:
            return None
        replaced = self.duties.replaced_by
        if replaced is not None:  # concurrency="replace": another run takes over, as after a timeout
            return AttemptResult(RunStatus.INTERRUPTED, exit_code=EXIT_SIGTERM,
                                 error=f"replaced by run {replaced.get('by')} on {replaced.get('host')}")
        return AttemptResult(
            RunStatus.FAILED, exit_code=EXIT_UNAVAILABLE,
            error=f"{self.duties.lease_trouble}; stopped the task before its lease could expire, so that no"
            " other host runs it at the same time",
        )


def _fork() -> tuple[int, int, int, int, int]:
    """Make the report and lifeline pipes and fork; on failure close what was opened and raise OSError."""
    opened: list[int] = []
    try:
        opened += os.pipe()
        opened += os.pipe()
        pid = os.fork()
    except OSError:
        for fd in opened:
            os.close(fd)
        raise
    return opened[0], opened[1], opened[2], opened[3], pid


def _timed_out(spec: AttemptSpec) -> AttemptResult:
    return AttemptResult(RunStatus.TIMED_OUT, error=f"timed out after {spec.call.task.timeout:g}s",
                         exit_code=EXIT_TIMEOUT)


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); True if it now is.

    A process the task detaches (setsid, a daemon's double fork) leaves the attempt's process
    group, so killing the group misses it; as a subreaper, the runner gets it as a child when its
    parent dies, and stop_adopted finds it there. Only for a process that owns all its children:
    stop_adopted reaps any child it finds.
    """
    try:
        return int(ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):  # not Linux, or no prctl
        return False


def stop_adopted(limit: float = 5.0) -> tuple[int, Usage | None]:
    """SIGKILL and reap the processes an attempt left behind, adopted by this process; return how
    many were killed, and the resources of every process reaped (None when none was).

    A killed process's own children are adopted in turn and go in the next round. Gives up after
    `limit` seconds (a process stuck in the kernel cannot be reaped), leaving the rest to init.
    """
    me = os.getpid()
    killed: set[int] = set()
    used: Usage | None = None
    deadline = time.monotonic() + limit
    while True:
        try:
            pid, _, rusage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:  # no children left
            return len(killed), used
        if pid:
            used = Usage.of(rusage).plus(used)
            continue
        if time.monotonic() >= deadline:
            return len(killed), used
        for child in children_of(me):
            _send(child, signal.SIGKILL, group=False)
            killed.add(child)
        time.sleep(0.005)


def _send(pid: int, sig: int, group: bool) -> None:
    """Send `sig` to a process (or its group); one that is gone already is no error."""
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
