"""Progress bars for long work (uploads, verification and timing on the device, recording,
compression sweeps, the CLI's live comparison): tqdm bars on stderr, shown only when stderr
is a terminal, so that piped output, test runs, CI logs and notebooks (whose stderr is not a
terminal) stay as they are. Bars vanish when done (``leave=False``): the results printed on
stdout are what stays on screen."""
import os
import sys

__all__ = ["shown", "bar"]


def shown() -> bool:
    """True when progress goes somewhere a person watches: stderr is a terminal."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):        # no stderr, or a closed one
        return False


def bar(total: float | None, desc: str, unit: str = "it", **kwargs):
    """A tqdm bar of ``total`` ``unit`` on stderr (a disabled one, which writes nothing,
    when stderr is not a terminal). Use it as a context manager and call ``update(n)``;
    every update is drawn (the callers update per file, batch, block or setting: a few
    hundred times at most), so the last state is always shown."""
    from tqdm import tqdm
    on = shown()
    # A terminal that reports no size (a pty nobody sized) would get an empty bar, hidden.
    sized = on and _sized()
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=not on,
                leave=False, dynamic_ncols=sized, ncols=None if sized else 80,
                nrows=None if sized else 24, mininterval=0, **kwargs)


def _sized() -> bool:
    """True when the terminal stderr is reports its width and height."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return size.columns > 0 and size.lines > 0
