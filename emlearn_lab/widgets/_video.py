"""A video file shown beside the label widget's plot, sent to the browser in chunks.

The browser gets the file's bytes through the widget's own messages (not a URL of the
Jupyter server, whose ``/files`` route only reaches files under its root directory and needs
the server's auth), so a video anywhere the kernel can read plays the same in JupyterLab,
classic Notebook, VS Code and on Binder. The view asks for one chunk at a time and builds a
blob URL from them; the file is read per chunk, never held whole in the kernel.
"""
from __future__ import annotations

import os
import pathlib

from ..exceptions import InputError

__all__ = ["CHUNK_BYTES", "MAX_VIDEO_BYTES", "VIDEO_TYPES", "describe", "read_chunk"]

CHUNK_BYTES = 2 * 1024 * 1024          # per message: well under any websocket frame limit
MAX_VIDEO_BYTES = 1024 * 1024 * 1024   # the browser keeps the whole file in memory
# What a browser may play. WebM (VP8/VP9) plays everywhere; H.264/AV1 MP4 and Theora Ogg
# depend on the build (Debian 12's chromium plays H.264 and AV1, not Theora): the view says
# when it cannot, with the remedy.
VIDEO_TYPES = {".webm": "video/webm", ".ogv": "video/ogg", ".ogg": "video/ogg",
               ".mp4": "video/mp4", ".m4v": "video/mp4"}
_REMEDY = "convert it with: ffmpeg -i IN -c:v libvpx-vp9 -b:v 1M OUT.webm"


def describe(path, serial: int) -> dict:
    """What the view needs to fetch and play ``path``: name, MIME type, size and chunking.

    ``serial`` tells one loaded file from the next, so chunks of a replaced video are ignored.

    Raises
    ------
    InputError
        The file is missing, empty, too large, or not a video type browsers play; the message
        says what to do instead, on one line.
    """
    p = pathlib.Path(os.fspath(path)).expanduser()
    if not p.is_file():
        raise InputError(f"no video file {str(path)!r} (looked in {p.resolve().parent}): "
                         f"give a path that exists, relative to the notebook's folder")
    mime = VIDEO_TYPES.get(p.suffix.lower())
    if mime is None:
        kind = p.suffix or "a file without an extension"
        raise InputError(f"video {p.name!r}: browsers cannot play {kind}; use .webm, .ogv or "
                         f".mp4 ({_REMEDY})")
    size_bytes = p.stat().st_size
    if size_bytes == 0 or size_bytes > MAX_VIDEO_BYTES:
        raise InputError(f"video {p.name!r} is {size_bytes} bytes: it must hold 1 byte to "
                         f"1 GiB; cut or shrink it ({_REMEDY.replace('1M', '500k')})")
    return {"name": p.name, "path": str(p.resolve()), "mime": mime, "size_bytes": size_bytes,
            "chunk_bytes": CHUNK_BYTES, "n_chunks": -(-size_bytes // CHUNK_BYTES),
            "serial": serial, "remedy": _REMEDY}


def read_chunk(info: dict, index: int) -> bytes:
    """Chunk ``index`` (0-based) of the described file, read from disk when asked."""
    if not 0 <= index < info["n_chunks"]:
        raise ValueError(f"chunk {index} outside 0..{info['n_chunks'] - 1}")
    with open(info["path"], "rb") as f:
        f.seek(index * info["chunk_bytes"])
        return f.read(info["chunk_bytes"])
