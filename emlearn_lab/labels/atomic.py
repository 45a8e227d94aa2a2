"""Replace a file's contents all at once, so a crash or a full disk never leaves half a file."""
from __future__ import annotations

import os
import stat
import tempfile

__all__ = ["atomic_write_text"]


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

    Raises
    ------
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
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
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
