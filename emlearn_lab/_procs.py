"""Whether a process still runs: tells a dead writer's leftovers from a live writer's files."""
import os

__all__ = ["pid_alive"]


def pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists on this machine (also one of another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True          # it exists, owned by someone else
    except (OverflowError, OSError):
        return False
    return True
