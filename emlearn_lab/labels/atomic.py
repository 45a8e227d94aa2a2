"""Replace a file's contents all at once, so a crash or a full disk never leaves half a file."""
from __future__ import annotations

import errno
import os
import stat
import tempfile
import time

from .._procs import pid_alive

__all__ = ["atomic_write_text", "remove_stale_temp_files"]

# A temp file of a writer that may still be alive is removed only when older than this (a
# write takes milliseconds): a concurrent writer's file is never removed under it.
STALE_TEMP_S = 600.0


def atomic_write_text(path, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` so that readers see either the old file or the new one.

    The text goes to a temporary file in the same directory (``os.replace`` is only atomic
    within one file system), which is flushed and ``fsync``-ed before it replaces ``path``;
    the directory is then ``fsync``-ed where the platform allows, so the rename itself
    survives a power cut. On any failure the temporary file is removed and ``path`` is
    untouched.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write. A symbolic link is written through (its target is replaced).
    text : str
        The whole new contents. Line endings are written as given (no translation).
    encoding : str
        Text encoding, UTF-8 by default.

    The temporary file is named ``.<name>.<pid>.<random>.tmp``: if the writer is killed before
    the rename, :func:`remove_stale_temp_files` can tell it is a dead writer's.

    Raises
    ------
    PermissionError
        ``path`` exists and is read-only (no write permission bit, as after ``chmod 0444``):
        the rename would replace it regardless, so it is refused (also for root).
    OSError
        The directory does not exist or is not writable, or the disk is full; ``path`` keeps
        its old contents.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> atomic_write_text(p, "start_s,end_s,label\\n")
    >>> p.read_text()
    'start_s,end_s,label\\n'
    """
    target = os.path.realpath(os.fspath(path))
    directory, name = os.path.split(target)
    _check_writable(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; give it the mode a plain open() would have given.
        os.chmod(tmp, _mode_for(target))
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def remove_stale_temp_files(path, *, max_age_s: float = STALE_TEMP_S) -> int:
    """Remove the temporary files that writers of ``path`` killed mid-write left behind.

    A temp file goes if its writer's pid (in its name) is not running, or if it is older than
    ``max_age_s``; a live writer's recent file stays. Errors are ignored (a read-only
    directory, a file removed meanwhile). Returns the number removed.
    """
    directory, name = os.path.split(os.path.realpath(os.fspath(path)))
    prefix = f".{name}."
    try:
        names = [n for n in os.listdir(directory or ".")
                 if n.startswith(prefix) and n.endswith(".tmp")]
    except OSError:
        return 0
    removed, now_s = 0, time.time()
    for n in names:
        tmp = os.path.join(directory, n)
        pid = n[len(prefix):].split(".", 1)[0]
        try:
            dead = pid.isdigit() and "." in n[len(prefix):-len(".tmp")] and \
                not pid_alive(int(pid))
            if dead or now_s - os.lstat(tmp).st_mtime > max_age_s:
                os.unlink(tmp)
                removed += 1
        except OSError:
            pass
    return removed


def _check_writable(target: str) -> None:
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        return
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) or \
            not os.access(target, os.W_OK):
        raise PermissionError(
            errno.EACCES, f"{target} is read-only (mode {stat.S_IMODE(st.st_mode):04o}): "
            "it is not replaced; make it writable (chmod u+w) or save to another path")


def _mode_for(target: str) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory: str) -> None:
    # Directories cannot be opened on Windows, and some file systems refuse fsync on them;
    # the data is already safe in the file, only the rename's durability is best effort.
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
