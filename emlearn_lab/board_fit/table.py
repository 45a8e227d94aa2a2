"""The board table: boards.toml in this package, extendable by the user's own TOML files.

Every board carries its figures (bytes, MHz) and the source of each. A user file uses the same
schema; its boards are added to the table, or replace a packaged board of the same id.
"""
import difflib
import os
import tomllib
from dataclasses import dataclass, fields
from html import escape
from importlib import resources
from pathlib import Path

from ..runtime.build import ARCHS
from ..exceptions import InputError

__all__ = ["Board", "BoardTable", "boards", "get_board", "add_board", "load_board_file",
           "BOARDS_ENV"]

BOARDS_ENV = "EMLEARN_LAB_BOARDS"     # os.pathsep-separated extra board files
_FPUS = ("none", "sp", "dp")
# Figures whose source must be given (a URL, a citation, or "derived: ..." / "estimate: ...").
_SOURCED = ("clock_mhz", "flash_bytes", "ram_bytes", "heap_bytes", "fs_bytes",
            "fs_block_bytes", "coremark", "fpu", "arch", "native_code_in_heap")
_OPTIONAL = ("cpi",)


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    mcu: str
    core: str
    cores: int
    clock_mhz: float          # 0 for the virtual device (host speed)
    flash_bytes: int
    ram_bytes: int
    heap_bytes: int           # typical free MicroPython GC heap after boot
    fs_bytes: int             # MicroPython filesystem size
    fs_block_bytes: int       # files occupy whole blocks of this size
    coremark: float
    fpu: str
    arch: str                 # mpy-cross -march name, or "none": no native code
    port: str
    native_code_in_heap: bool # .mpy machine code is loaded into the GC heap on this port
    sources: dict
    # Optional: core cycles per instruction of MicroPython's code at clock_mhz (flash wait
    # states, caches); 0 = not given (the emulated core's default, see cores.py).
    cpi: float = 0.0

    @property
    def virtual(self) -> bool:
        return self.port == "unix"

    def fs_used_bytes(self, file_bytes) -> int:
        """Filesystem bytes taken by files of these sizes (each rounded up to whole blocks)."""
        block = self.fs_block_bytes
        return sum(-(-int(n) // block) * block for n in file_bytes)

    def row(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sources"}


_FIELDS = {f.name: f.type for f in fields(Board)}
# What a TOML value may be for each field type (an integer is a valid float).
_ACCEPT = {int: int, float: (int, float), str: str, bool: bool, dict: dict}


def _board_from_toml(board_id: str, entry, origin: str) -> Board:
    where = f"board '{board_id}' in {origin}"
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected a table of fields, got {type(entry).__name__}")
    required = [n for n in _FIELDS if n != "id" and n not in _OPTIONAL]
    missing = [n for n in required if n not in entry]
    if missing:
        raise InputError(f"{where}: missing field(s) {', '.join(missing)}. Every board needs "
                         f"{', '.join(required)} (see emlearn_lab/board_fit/boards.toml)")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(unknown)}; known fields: "
                         f"{', '.join(required)}")
    for name in required + [n for n in _OPTIONAL if n in entry]:
        kind, value = _FIELDS[name], entry[name]
        if not isinstance(value, _ACCEPT[kind]) or (kind is not bool and isinstance(value, bool)):
            raise InputError(f"{where}: field {name} = {value!r} should be {kind.__name__}")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise InputError(f"{where}: field {name} = {value!r} must not be negative")
    if entry["fpu"] not in _FPUS:
        raise InputError(f"{where}: fpu must be one of {_FPUS}, got {entry['fpu']!r}")
    if entry["arch"] not in ARCHS[1:] + ("none",):
        raise InputError(f"{where}: arch must be an mpy-cross -march name "
                         f"({', '.join(ARCHS[1:])}) or 'none' (no native code), got "
                         f"{entry['arch']!r}")
    if entry["fs_block_bytes"] <= 0:
        raise InputError(f"{where}: fs_block_bytes must be positive")
    if entry["heap_bytes"] <= 0:
        raise InputError(f"{where}: heap_bytes must be positive")
    unsourced = [n for n in _SOURCED + tuple(n for n in _OPTIONAL if n in entry)
                 if not str(entry["sources"].get(n, "")).strip()]
    if unsourced:
        raise InputError(f"{where}: no source given for {', '.join(unsourced)} (add them "
                         f"under [{board_id}.sources])")
    return Board(id=board_id, **entry)


def load_board_file(path) -> dict:
    """Boards in a TOML file, {id: Board}. Raises InputError naming the file and field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"board file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"board file {path} is not valid TOML: {e}") from None
    return {board_id: _board_from_toml(board_id, entry, str(path))
            for board_id, entry in data.items()}


class BoardTable:
    """Boards by id; renders as a table (text in terminals, HTML in notebooks)."""

    _COLUMNS = (("id", "board"), ("mcu", "MCU"), ("core", "core"), ("clock_mhz", "MHz"),
                ("flash_bytes", "flash"), ("ram_bytes", "RAM"), ("heap_bytes", "MP heap"),
                ("fs_bytes", "MP fs"), ("coremark", "CoreMark"), ("cpi", "CPI"), ("fpu", "FPU"),
                ("arch", "arch"))

    def __init__(self, boards: dict):
        self._boards = dict(boards)

    def __getitem__(self, board_id: str) -> Board:
        return self._lookup(board_id)

    def __iter__(self):
        return iter(self._boards.values())

    def __len__(self) -> int:
        return len(self._boards)

    def __contains__(self, board_id) -> bool:
        return board_id in self._boards

    @property
    def ids(self) -> list:
        return list(self._boards)

    def _lookup(self, board_id) -> Board:
        if isinstance(board_id, Board):
            return board_id
        key = str(board_id).strip().lower()
        if key in self._boards:
            return self._boards[key]
        if key.startswith("emulated:"):      # the emulated core itself (see cores.py)
            from .cores import emulated_board
            return emulated_board(key.split(":", 1)[1])
        close = difflib.get_close_matches(key, self._boards, n=4, cutoff=0.4)
        close += [b for b in self._boards if key and key in b and b not in close][:4]
        hint = f"did you mean {', '.join(close)}?" if close else \
            f"known boards: {', '.join(self._boards)}"
        raise InputError(f"unknown board {board_id!r}: {hint} Add your own with "
                         f"eml.add_board(...) or a TOML file in ${BOARDS_ENV}.")

    def to_rows(self) -> list:
        return [[_fmt(getattr(b, k)) for k, _ in self._COLUMNS] for b in self]

    def __str__(self) -> str:
        head = [title for _, title in self._COLUMNS]
        return _text_table(head, self.to_rows())

    def __repr__(self) -> str:
        return f"BoardTable({len(self)} boards)\n{self}"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(t)}</th>" for _, t in self._COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                       for row in self.to_rows())
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                "<p>Sources for every figure: <code>eml.get_board(id).sources</code></p>")


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and value >= 1024:
        return _bytes(value)
    if isinstance(value, float):
        return f"{value:g}" if value else "-"
    return str(value)


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


def _text_table(head: list, rows: list) -> str:
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
             for r in [head] + rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_PACKAGED: dict | None = None
_ADDED: dict = {}


def _packaged() -> dict:
    global _PACKAGED
    if _PACKAGED is None:
        with resources.as_file(resources.files("emlearn_lab.board_fit") / "boards.toml") as p:
            _PACKAGED = load_board_file(p)
    return _PACKAGED


def boards(*files) -> BoardTable:
    """The board table: packaged boards, then files in $EMLEARN_LAB_BOARDS, then ``files``,
    then boards added with add_board(); later entries replace earlier ones of the same id."""
    table = dict(_packaged())
    extra = [f for f in os.environ.get(BOARDS_ENV, "").split(os.pathsep) if f]
    for f in extra + list(files):
        table.update(load_board_file(f))
    table.update(_ADDED)
    return BoardTable(table)


def get_board(board, *files) -> Board:
    """A board by id (close matches are suggested for unknown ids), or a Board as is."""
    return boards(*files)[board]


def add_board(board_id: str, **fields_) -> Board:
    """Add (or replace) a board for this session; same fields as boards.toml."""
    board = _board_from_toml(board_id.strip().lower(), fields_, "add_board()")
    _ADDED[board.id] = board
    return board
