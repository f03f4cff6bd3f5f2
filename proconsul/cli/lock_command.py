"""``proconsul lock``: run a child command while holding a lock (or a semaphore slot)."""

from __future__ import annotations

import signal
import subprocess
import threading

from proconsul.api import ClientError, Lock, LockOptions, Semaphore, SemaphoreOptions
from proconsul.api.lock import LockError
from proconsul.api.semaphore import LOCK_KEY
from proconsul.cli.child_process import spawn
from proconsul.cli.command import Command, Context

KILL_GRACE_PERIOD = 5.0
MONITOR_RETRY_TIME = 1.0


class _Shutdown:
    """SIGINT and SIGTERM end the command. While the lock is being acquired they interrupt
    that (KeyboardInterrupt); once it is held they only mark the shutdown, so the child is
    killed and the lock released in order, never cut off half way. SIGINT is caught even
    when the command was started with it ignored, as Go's signal.Notify does."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.interrupting = True
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        self.requested.set()
        if self.interrupting:
            raise KeyboardInterrupt


def _holder(ctx: Context, client, prefix: str, name: str):
    oneshot = ctx["timeout"] > 0
    if ctx["n"] == 1:
        key = f"{prefix.rstrip('/')}/{LOCK_KEY}" if prefix else LOCK_KEY
        if ctx["verbose"]:
            ctx.info(f"Setting up lock at path: {key}")
        opts = LockOptions(key, session_name=name, monitor_retries=ctx["monitor-retry"],
                           monitor_retry_time=MONITOR_RETRY_TIME)
        if oneshot:
            opts.lock_try_once, opts.lock_wait_time = True, ctx["timeout"]
        lock = Lock(client, opts)
        return lock.lock, lock.unlock, lock.destroy
    if ctx["verbose"]:
        ctx.info(f"Setting up semaphore (limit {ctx['n']}) at prefix: {prefix}")
    sem_opts = SemaphoreOptions(prefix, ctx["n"], session_name=name,
                                monitor_retries=ctx["monitor-retry"],
                                monitor_retry_time=MONITOR_RETRY_TIME)
    if oneshot:
        sem_opts.semaphore_try_once, sem_opts.semaphore_wait_time = True, ctx["timeout"]
    semaphore = Semaphore(client, sem_opts)
    return semaphore.acquire, semaphore.release, semaphore.destroy


def _kill(ctx: Context, child: subprocess.Popen) -> None:
    if ctx["verbose"]:
        ctx.info(f"Terminating child pid {child.pid}")
    child.terminate()
    try:
        child.wait(KILL_GRACE_PERIOD)
    except subprocess.TimeoutExpired:
        if ctx["verbose"]:
            ctx.info(f"Killing child pid {child.pid}")
        child.kill()
        child.wait()


def lock(ctx: Context) -> int:
    if ctx["n"] <= 0:
        ctx.error("Lock holder limit must be positive")
        return 1
    if len(ctx.args) < 2:
        ctx.error("Key prefix and child command must be specified")
        return 1
    prefix, child_args = ctx.args[0].lstrip("/"), ctx.args[1:]
    if ctx["timeout"] < 0:
        ctx.error("Timeout must be positive")
        return 1
    if ctx["monitor-retry"] < 0:
        ctx.error("Number for 'monitor-retry' must be >= 0")
        return 1
    name = ctx["name"] or f"Consul lock for '{' '.join(child_args)}' at '{prefix}'"
    client = ctx.client()
    try:
        client.agent().node_name()
    except ClientError as err:
        ctx.error(f"Error querying Consul agent: {err}")
        return 1
    shutdown = _Shutdown()
    acquire, release, cleanup = _holder(ctx, client, prefix, name)
    if ctx["verbose"]:
        ctx.info("Attempting lock acquisition")
    try:
        lost = acquire()
    except KeyboardInterrupt:
        lost = None
    except (ClientError, LockError) as err:
        shutdown.interrupting = False
        ctx.error(f"Lock acquisition failed: {err}")
        return 1
    shutdown.interrupting = False
    if lost is None or shutdown.requested.is_set():
        try:  # interrupted just as it was acquired: let it go
            release()
        except (ClientError, LockError):
            pass
        ctx.error("Shutdown triggered or timeout during lock acquisition")
        return 1
    child_code = _run_child(ctx, child_args, lost, shutdown.requested)
    try:
        release()
    except (ClientError, LockError) as err:
        ctx.error(f"Lock release failed: {err}")
        return 1
    try:
        cleanup()
        if ctx["verbose"]:
            ctx.info("Cleanup succeeded")
    except LockError as err:
        if "in use" not in str(err):
            ctx.error(f"Lock cleanup failed: {err}")
            return 1
        if ctx["verbose"]:
            ctx.info("Cleanup aborted, lock in use")
    except ClientError as err:
        ctx.error(f"Lock cleanup failed: {err}")
        return 1
    return child_code if ctx["child-exit-code"] else 0


def _run_child(ctx: Context, args: list[str], lost: threading.Event,
               shutdown: threading.Event) -> int:
    """Run the child until it exits, the lock is lost, or we are interrupted; 2 if it failed."""
    if ctx["verbose"]:
        ctx.info("Starting handler")
    try:
        child = spawn(args, ctx["shell"], {"CONSUL_LOCK_HELD": "true"},
                      stdin=None if ctx["pass-stdin"] else subprocess.DEVNULL)
    except OSError as err:
        ctx.error(f"Error starting handler: {err}")
        return 2
    wake = threading.Event()
    threading.Thread(target=lambda: (child.wait(), wake.set()), daemon=True).start()
    threading.Thread(target=lambda: (lost.wait(), wake.set()), daemon=True).start()
    threading.Thread(target=lambda: (shutdown.wait(), wake.set()), daemon=True).start()
    wake.wait()
    if shutdown.is_set():
        if ctx["verbose"]:
            ctx.info("Shutdown triggered, killing child")
        _kill(ctx, child)
        return 0
    if child.poll() is not None:
        if ctx["verbose"]:
            ctx.info("Child terminated, releasing lock")
        if child.returncode != 0:
            ctx.error(f"Error running handler: exit status {child.returncode}")
            return 2
        return 0
    if ctx["verbose"]:
        ctx.info("Lock lost, killing child")
    _kill(ctx, child)
    return 0


def _flags(fs) -> None:
    fs.boolean("child-exit-code", False, "Exit 2 if the child process exited with an error if "
               "this is true, otherwise this doesn't propagate an error from the child. The "
               "default value is false.")
    fs.integer("n", 1, "Optional limit on the number of concurrent lock holders. The "
               "underlying implementation switches from a lock to a semaphore when the value "
               "is greater than 1. The default value is 1.")
    fs.integer("monitor-retry", 3, "Number of times to retry if Consul returns a 500 error "
               "while monitoring the lock. The default value is 3, with a 1s wait between "
               "retries. Set this value to 0 to disable retires.")
    fs.string("name", "", "Optional name to associate with the lock session. It not "
              "provided, one is generated based on the provided child command.")
    fs.boolean("pass-stdin", False, "Pass stdin to the child process.")
    fs.boolean("shell", True, "Use a shell to run the command (can set a custom shell via the "
               "SHELL environment variable).")
    fs.duration("timeout", 0.0, "Maximum amount of time to wait to acquire the lock, "
                "specified as a duration like \"1s\" or \"3h\". The default value is 0.")
    fs.boolean("verbose", False, "Enable verbose (debugging) output.")
    fs.duration("try", 0.0, "DEPRECATED. Use -timeout instead.")


def _run(ctx: Context) -> int:
    if "try" in ctx.given and "timeout" not in ctx.given:
        ctx.values["timeout"] = ctx["try"]
    return lock(ctx)


LOCK = Command("""
Usage: proconsul lock [options] prefix child...

  Acquires a lock or semaphore at a given path, and invokes a child process
  when successful. The child process can assume the lock is held while it
  executes. If the lock is lost or communication is disrupted the child
  process will be sent a SIGTERM signal and given time to gracefully exit.
  After the grace period expires the process will be hard terminated.

  When -n=1, only a single lock holder or leader exists providing mutual
  exclusion. Setting a higher value switches to a semaphore allowing multiple
  holders to coordinate.

  The prefix provided must have write privileges.
""", "Execute a command holding a lock", _run, _flags)
