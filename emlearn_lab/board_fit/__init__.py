"""Board table and fit estimates: will a model fit a board, and how fast will it run."""
from .estimate import Estimate, estimate
from .fit import FitTable, fit_table
from .table import Board, BoardTable, add_board, boards, get_board

__all__ = ["Board", "BoardTable", "boards", "get_board", "add_board", "Estimate", "estimate",
           "FitTable", "fit_table"]
