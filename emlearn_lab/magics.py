"""IPython magics: ``%load_ext emlearn_lab``, then ``%%emlearn_deploy``, ``%emlearn_boards`` and
``%emlearn_device``.

Each magic parses its line, calls the library (``eml.estimate``, ``dev.deploy``, ``eml.boards``,
``eml.fit_table``, ``eml.connect``, ``emlearn_lab.live.live``) and displays what it returns. A
user mistake or any :class:`~emlearn_lab.exceptions.EmlearnLabError` becomes a one-line
``UsageError`` (no traceback). Settings are traitlets of :class:`EmlearnLab`::

    %config EmlearnLab.device = "/dev/ttyACM0"   # default device: "virtual", "auto" or a port
    %config EmlearnLab.form = "loadable"         # default deploy form
    %config EmlearnLab.live = False              # no live comparison after %%emlearn_deploy
    %config EmlearnLab.repeats = 50              # predict() calls per timed row

The kernel keeps one device, connected on first use and reused by every cell.
"""
import contextlib

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Bool, Enum, Int, TraitError, Unicode, validate

from . import boards, connect, estimate, fit_table, get_board, list_serial_ports
from .exceptions import DeviceError, EmlearnLabError
from .runtime.plan import DEVICE_FORMS as _FORMS
from .verdict import DeployVerdict

__all__ = ["EmlearnLab", "load_ipython_extension"]


def _show(obj) -> None:
    """Display HTML in notebooks and the object's str() (not a dataclass repr) in terminals."""
    if hasattr(obj, "_repr_html_"):
        display({"text/plain": str(obj), "text/html": obj._repr_html_()}, raw=True)
    else:
        display(obj)


@magics_class
class EmlearnLab(Magics):
    """The emlearn_lab magics and their settings (``%config EmlearnLab``)."""

    device = Unicode("virtual", help="Device used when a magic gets no --device: 'virtual' "
                                     "(the MicroPython unix port), 'auto' (first USB board, "
                                     "else virtual) or a serial port path.").tag(config=True)
    form = Enum(_FORMS, default_value="auto",
                help="Default deploy form (auto, loadable or inline).").tag(config=True)
    live = Bool(True, help="Show the live host-vs-device comparison after "
                           "%%emlearn_deploy.").tag(config=True)
    repeats = Int(200, help="predict() calls per timed row in %%emlearn_deploy.").tag(config=True)

    def __init__(self, shell=None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.dev = None            # the kernel's Device, connected on first use
        self.dev_spec = None       # the --device / EmlearnLab.device it was connected with
        self.last_error = None     # full text of the last device error shown in one line
        self.live_widget = None    # the last live comparison (its .comparison has results)

    @validate("repeats")
    def _check_repeats(self, proposal):
        if proposal["value"] < 1:
            raise TraitError(f"EmlearnLab.repeats must be at least 1, got {proposal['value']}")
        return proposal["value"]

    # -- shared --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _user_errors(self, magic: str):
        """Library errors -> one-line UsageError; a multi-line device error is kept in full
        for ``%emlearn_device output``."""
        from sklearn.exceptions import NotFittedError as SklearnNotFitted
        try:
            yield
        except (EmlearnLabError, SklearnNotFitted) as e:
            lines = str(e).strip().splitlines() or [type(e).__name__]
            more = ""
            if isinstance(e, DeviceError) and len(lines) > 1:
                self.last_error = str(e)
                more = " (full device output: %emlearn_device output)"
            raise UsageError(f"{magic}: {lines[0]}{more}") from None

    def _connect(self, spec: str | None = None):
        """The kernel's device; (re)connected when the requested one differs."""
        spec = spec or self.device
        if self.dev is not None and spec == self.dev_spec:
            return self.dev
        self._close()
        self.dev = connect(spec)
        self.dev_spec = spec
        return self.dev

    def _stop_live(self) -> None:
        """A running comparison must not outlive the device, nor stream against a model that
        a new deploy replaced under the same name."""
        if self.live_widget is not None:
            self.live_widget.stop()
            self.live_widget = None

    def _close(self) -> bool:
        self._stop_live()
        had = self.dev is not None
        if had:
            self.dev.close()
        self.dev, self.dev_spec = None, None
        return had

    def _variable(self, name: str, what: str):
        value = self.shell.user_ns.get(name)
        if value is None:
            raise UsageError(f"%%emlearn_deploy: the cell did not assign `{name}` ({what}). "
                             "Nothing was sent.")
        return value

    # -- %%emlearn_deploy ----------------------------------------------------------------
    @magic_arguments()
    @argument("--board", help="check the model fits this board (eml.boards() ids) first")
    @argument("--device", help="'virtual', 'auto' or a serial port (default: "
                               "EmlearnLab.device)")
    @argument("--form", choices=_FORMS, help="deploy form (default: EmlearnLab.form)")
    @argument("--name", default="model", help="device name of the model (default 'model')")
    @argument("--compare", nargs="+", default=[], metavar="VAR",
              help="also deploy these variables' models, each under its variable name")
    @argument("--labels", metavar="VAR", help="a variable holding X's true labels: the live "
                                               "view adds a ground-truth row (default: X.y "
                                               "of an eml.windows() result)")
    @argument("--app", action="store_true", help="install the cell's `app` (an "
                                                  "eml.DeviceApp) to run on its own, and check "
                                                  "it on the cell's `recording`")
    @argument("--no-live", action="store_true", help="skip the live comparison")
    @argument("--repeats", type=int, help="predict() calls per timed row (default: "
                                          "EmlearnLab.repeats)")
    @cell_magic
    def emlearn_deploy(self, line, cell):
        """Run the cell, then deploy its ``model`` to the device and verify it on ``X``.

        The cell assigns ``model`` (a fitted estimator, TreeModel/NetModel or a fitted
        Pipeline of an eml.features extractor and a model) and ``X`` (rows, or windows for a
        Pipeline, to verify and stream). With ``--board`` nothing is sent unless every model
        fits that board. Shows the deploy report of each model and, unless ``--no-live``, the
        live host-vs-device comparison.
        """
        args = parse_argstring(self.emlearn_deploy, line)
        form = args.form or self.form
        repeats = self.repeats if args.repeats is None else args.repeats
        if repeats < 1:
            raise UsageError(f"%%emlearn_deploy: --repeats must be at least 1, got {repeats}")
        if args.board:
            with self._user_errors("%%emlearn_deploy"):
                get_board(args.board)          # an unknown id fails before the cell runs
        result = self.shell.run_cell(cell, store_history=False)
        if not result.success:
            raise UsageError("%%emlearn_deploy: the cell raised an error (above); nothing "
                             "was sent.")
        if args.app:
            self._install_app(args.device)
            return
        models = {args.name: self._variable("model", "what to deploy: a fitted estimator, "
                                                     "TreeModel/NetModel or fitted Pipeline")}
        X = self._variable("X", "rows to verify on the device and stream")
        for var in args.compare:
            if var in models or var == "model":
                raise UsageError(f"%%emlearn_deploy: --compare {var}: that name is the "
                                 "deployed model's; compare other variables")
            models[var] = self._variable(var, "a model named by --compare")
        y = None if args.labels is None else self._variable(args.labels, "the true labels "
                                                                         "named by --labels")
        if y is not None and len(y) != len(X):
            raise UsageError(f"%%emlearn_deploy: --labels {args.labels} has {len(y)} labels "
                             f"for {len(X)} items of X: pass one per row. Nothing was sent.")

        with self._user_errors("%%emlearn_deploy"):
            estimates = self._board_estimates(args.board, models, form, X)
            dev = self._connect(args.device)
            self._stop_live()
            for name, model in models.items():
                est = estimates.get(name)
                # "auto" was resolved for the board: the device runs the form estimated
                report = dev.deploy(model, X, form=form if est is None else est.form,
                                    name=name, repeats=repeats)
                _show(DeployVerdict(name, report, est, on_board=dev.virtual is None))
        if args.no_live or not self.live:
            return
        with self._user_errors("%%emlearn_deploy"):
            from .live import live
            self.live_widget = live(dev, models, X, y=y)
        display(self.live_widget)

    def _install_app(self, device) -> None:
        """%%emlearn_deploy --app: install ``app``, play ``recording`` through it, show
        whether the board's events are the simulated ones, and the events against the
        labels (``labels``, when the cell assigns it)."""
        from .app import DeviceApp
        app = self._variable("app", "an eml.DeviceApp to install")
        if not isinstance(app, DeviceApp):
            raise UsageError(f"%%emlearn_deploy --app: `app` is a {type(app).__name__}, not an "
                             "eml.DeviceApp. Nothing was sent.")
        recording = self._variable("recording", "the recording to check the app on")
        labels = self.shell.user_ns.get("labels")
        with self._user_errors("%%emlearn_deploy"):
            dev = self._connect(device)
            self._stop_live()
            dev.playback(recording)
            installed = dev.install(app, recording)
            check = dev.check_app(app, recording)
        _show(check)
        boot = ("it starts at boot" if installed["starts_at_boot"] else
                "this port does not run main.py at boot: dev.app_output(seconds) runs it")
        print(f"installed as {installed['config']['generation']}: {boot}")
        if hasattr(check.simulated, "plot"):
            check.simulated.plot(labels=labels, recording=recording)

    @staticmethod
    def _board_estimates(board, models: dict, form: str, X) -> dict:
        """name -> Estimate on `board` (empty without one); a model that does not fit stops
        the deploy before anything is sent."""
        if not board:
            return {}
        out = {}
        for name, model in models.items():
            est = estimate(model, board, form, X, name=name)
            if est.verdict == "does not fit":
                raise UsageError(f"%%emlearn_deploy: '{name}' does not fit board '{board}': "
                                 f"{est.remedy}. Nothing was sent.")
            out[name] = est
        return out

    # -- %emlearn_boards -----------------------------------------------------------------
    @magic_arguments()
    @argument("var", nargs="?", help="a variable holding a model: show its fit on every board")
    @argument("--form", choices=_FORMS, help="deploy form for the fit (default: "
                                             "EmlearnLab.form)")
    @line_magic
    def emlearn_boards(self, line):
        """The board table, or with a model variable, the model's fit on every board."""
        args = parse_argstring(self.emlearn_boards, line)
        with self._user_errors("%emlearn_boards"):
            if args.var is None:
                _show(boards())
                return
            if args.var not in self.shell.user_ns:
                raise UsageError(f"%emlearn_boards: no variable `{args.var}` in the notebook")
            _show(fit_table(self.shell.user_ns[args.var], form=args.form or self.form))

    # -- %emlearn_device -----------------------------------------------------------------
    @magic_arguments()
    @argument("command", nargs="?", default="info",
              choices=["list", "connect", "browser", "info", "ls", "reset", "output", "close"])
    @argument("arg", nargs="?", help="connect: the port ('virtual', 'auto', 'browser' or a "
                                     "serial port); ls: the directory")
    @line_magic
    def emlearn_device(self, line):
        """The kernel's device: ``list`` ports, ``connect [PORT]`` (returns the Device),
        ``browser`` (the board on the computer the notebook page runs on, through the page's
        Web Serial port: ``connect browser``),
        ``info`` (default), ``ls [PATH]``, ``reset``, ``output`` (the full text of the last
        device error), ``close``."""
        args = parse_argstring(self.emlearn_device, line)
        if args.arg is not None and args.command not in ("connect", "ls"):
            raise UsageError(f"%emlearn_device {args.command} takes no argument, got "
                             f"{args.arg!r}")
        with self._user_errors(f"%emlearn_device {args.command}"):
            return getattr(self, f"_device_{args.command}")(args.arg)

    def _device_list(self, _):
        here = self.dev_spec
        rows = [("virtual", "MicroPython unix port on this computer (built in)"),
                ("browser", "the board on the computer this page runs on, through its Web "
                            "Serial port (Chrome, Edge, Opera): %emlearn_device browser")]
        rows += list_serial_ports()
        for port, description in rows:
            print(f"{port:<16}  {description}{'  [connected]' if port == here else ''}")
        if len(rows) == 2:
            print("(no USB board that commonly runs MicroPython is plugged in here)")

    def _device_connect(self, port):
        if port is not None and port == self.dev_spec:
            self._close()                      # an explicit connect reconnects
        return self._connect(port)

    def _device_browser(self, _):
        return self._device_connect("browser")

    def _device_info(self, _):
        info = self._connect(self.dev_spec).info
        print(f"{self.dev!r}")
        for key in ("target", "platform", "version", "machine", "heap_free_bytes",
                    "heap_used_bytes"):
            print(f"  {key:<16} {info[key]}")

    def _device_ls(self, path):
        files = self._connect(self.dev_spec).listdir(path or "")
        for name, size in sorted(files):
            print(f"{size:>10}  {name}")
        if not files:
            print(f"(no files in {path or 'the device root'})")

    def _device_reset(self, _):
        self._connect(self.dev_spec).reset()
        print(f"{self.dev!r} restarted: models must be deployed again (files are kept)")

    def _device_output(self, _):
        if self.last_error is not None:
            print(self.last_error)
            return
        print("no device output kept: the transport hands what the device prints to the call "
              "that ran the code (dev.exec returns it); the full text of a device error that a "
              "magic reported in one line shows here")

    def _device_close(self, _):
        print("closed the device" if self._close() else "no device was connected")


def load_ipython_extension(ipython) -> None:
    """``%load_ext emlearn_lab``: register the magics (a reload closes the previous device)."""
    old = ipython.magics_manager.registry.get("EmlearnLab")
    if old is not None:
        old._close()
        with contextlib.suppress(ValueError):
            ipython.configurables.remove(old)
    ipython.register_magics(EmlearnLab(shell=ipython))
