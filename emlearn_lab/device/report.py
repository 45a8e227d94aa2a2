"""DeployReport: what deploy() did and measured, as text (terminal) and HTML (notebook)."""
from dataclasses import dataclass, field

from .._kv_report import kv_html, kv_text

__all__ = ["DeployReport"]


@dataclass
class DeployReport:
    device: str
    target: str
    form: str
    name: str
    model: str
    files: list                       # (device path, bytes, sent this time?)
    runtime_ram_bytes: int            # gc.mem_alloc() growth from importing the runtime
    model_ram_bytes: int              # ... from loading the model
    load_us: int
    heap_free_bytes: int              # before loading
    native: bool
    notes: list = field(default_factory=list)
    n_rows: int = 0
    agreement: float | None = None    # fraction of rows where device == host reference
    n_disagreements: int = 0
    disagreements: list = field(default_factory=list)  # first 20: row, host, device scores
    us_per_predict_median: float | None = None
    us_per_predict_min: float | None = None
    us_per_predict_max: float | None = None   # the worst row's figure
    bench_rows: int = 0
    bench_repeats: int = 0
    verify_s: float = 0.0
    # Feature pipelines (deploy of Pipeline(extractor, model)): X are windows.
    features: str | None = None
    features_ram_bytes: int | None = None
    feature_check: object = None      # FeatureCheck of the verified windows
    sklearn_agreement: float | None = None  # device class == the host Pipeline.predict
    us_per_window_features: float | None = None   # median; the features part of the figures
    # A Pipeline's timing parts, microseconds per window as (median, min, worst window):
    # {"features": ..., "model predict": ...}; us_per_predict_* are their whole (see
    # set_pipeline_timing).
    timing_parts: dict | None = None
    # The device's clock counts instructions (emulated boards, qemu -icount): ticks_us x this
    # = instructions. None on boards whose clock is time.
    instructions_per_us: float | None = None
    # The model's scores are float32 (compared as bits), else integers.
    float_scores: bool = False

    def set_pipeline_timing(self, features: tuple, predict: tuple, whole: tuple) -> None:
        """A Pipeline's figures from one device loop over the same windows
        (emlfx.bench_pipeline), each (median, min, worst window) in microseconds: the
        features step, the model's predict on its output, and per window their sum. Every
        figure is a loop's clock difference (>= 0), and a part is at most the whole on every
        window, so at most the whole in median, min and worst too: the report cannot show
        a negative time or a part above the whole."""
        self.timing_parts = {"features": tuple(features), "model predict": tuple(predict)}
        self.us_per_window_features = features[0]
        self.us_per_predict_median, self.us_per_predict_min, self.us_per_predict_max = whole

    @property
    def _scores_compared(self) -> str:
        return ("float32 scores compared bit for bit" if self.float_scores
                else "integer scores compared")

    def instructions(self, us: float | None) -> float | None:
        """A device ``ticks_us`` figure as instructions (None where the clock is time)."""
        if us is None or self.instructions_per_us is None:
            return None
        return us * self.instructions_per_us

    @property
    def instructions_per_predict_median(self) -> float | None:
        """Median instructions per predict() call (features + predict for a Pipeline) on a
        device whose clock counts instructions, else None."""
        return self.instructions(self.us_per_predict_median)

    @property
    def instructions_per_predict_min(self) -> float | None:
        return self.instructions(self.us_per_predict_min)

    @property
    def instructions_per_predict_max(self) -> float | None:
        """The worst row's instructions per predict (emulated boards), else None."""
        return self.instructions(self.us_per_predict_max)

    def _clock(self, us: float, digits: int = 2) -> str:
        """A ticks_us figure in the device's unit: "11 035 instructions" or "12.34 µs"."""
        if self.instructions_per_us is None:
            return f"{us:.{digits}f} µs"
        return f"{_count(self.instructions(us))} instructions"

    def _timing_row(self, what: str, median: float, least: float, worst: float | None,
                    runs: str) -> tuple:
        """(label, value) of one timing figure: "predict on device", "12.34 µs median,
        ..." or, where the clock counts instructions, "instructions per predict", "11 035
        median, ..."."""
        row = "window" if self.features is not None else "row"
        if self.instructions_per_us is None:
            fmt, label = (lambda us: f"{us:.2f} µs"), f"{what} on device"
        else:
            fmt, label = (lambda us: _count(self.instructions(us))), f"instructions per {what}"
        tail = "" if worst is None else f", {fmt(worst)} worst {row}"
        return label, f"{fmt(median)} median, {fmt(least)} min{tail}{runs}"

    @property
    def bytes_sent(self) -> int:
        return sum(size for _, size, sent in self.files if sent)

    @property
    def bytes_on_device(self) -> int:
        return sum(size for _, size, _ in self.files)

    @property
    def ok(self) -> bool:
        """True when every verified row matched the host reference exactly."""
        return self.agreement is None or self.n_disagreements == 0

    def rows(self) -> list:
        """(label, value) pairs shown by str() and the notebook view."""
        out = [("device", f"{self.device} [{self.target}]"),
               ("model", self.model),
               ("form", self.form + ("" if self.native else " (bytecode kernels)")),
               ("bytes on device", f"{self.bytes_on_device} ({self.bytes_sent} sent now, "
                                   f"{len(self.files) - sum(s for *_, s in self.files)} "
                                   "files unchanged)"),
               ("RAM (gc.mem_alloc delta)", f"model {self.model_ram_bytes} B + runtime "
                                            f"{self.runtime_ram_bytes} B; heap free before "
                                            f"{self.heap_free_bytes} B"),
               ("load time", self._clock(self.load_us, 0))]
        if self.features is not None:
            out.append(("features", f"{self.features}; RAM {self.features_ram_bytes} B"))
        if self.feature_check is not None:
            out.append(("features device vs host", self.feature_check.rows()[1][1]))
        if self.agreement is not None:
            verdict = "EXACT" if self.ok else f"{self.n_disagreements} rows DIFFER"
            out.append(("agreement with host", f"{self.agreement:.2%} of {self.n_rows} rows "
                                               f"({verdict}; {self._scores_compared})"))
        if self.sklearn_agreement is not None:
            out.append(("agreement with sklearn", f"{self.sklearn_agreement:.2%} of windows "
                                                  "(the host Pipeline.predict)"))
        if self.us_per_predict_median is not None:
            runs = f"({self.bench_rows} {'windows' if self.features else 'rows'} x " \
                   f"{self.bench_repeats})"
            for what, (med, low, worst) in (self.timing_parts or {}).items():
                out.append(self._timing_row(what, med, low, worst, ""))
            what = "features + predict" if self.features is not None else "predict"
            out.append(self._timing_row(what, self.us_per_predict_median,
                                        self.us_per_predict_min, self.us_per_predict_max,
                                        " " + runs))
        if self.instructions_per_us is not None:
            out.append(("device clock", f"counts instructions (1 µs = "
                                        f"{self.instructions_per_us:g} instructions): an "
                                        "emulated core, no wait states or caches"))
        return out

    def _details(self) -> list:
        """The disagreeing rows (the first 20), one line each."""
        return [f"row {d['row']}: host {d['host']} device {d['device']}"
                for d in self.disagreements]

    def __str__(self) -> str:
        return kv_text(self.rows(), self._details(), self.notes)

    def _repr_html_(self) -> str:
        return kv_html(self.rows(), self._details(), self.notes)


def _count(n: float) -> str:
    """An instruction count grouped by thousands: 11 035."""
    return f"{n:,.0f}".replace(",", " ")
