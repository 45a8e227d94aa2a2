"""DeployReport: what deploy() did and measured, as text (terminal) and HTML (notebook)."""
from dataclasses import dataclass, field
from html import escape

from ..glossary import terms_html

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
    us_per_window_features: float | None = None
    # The device's clock counts instructions (emulated boards, qemu -icount): ticks_us x this
    # = instructions. None on boards whose clock is time.
    instructions_per_us: float | None = None

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
                                               f"({verdict}; integer scores compared)"))
        if self.sklearn_agreement is not None:
            out.append(("agreement with sklearn", f"{self.sklearn_agreement:.2%} of windows "
                                                  "(the host Pipeline.predict)"))
        if self.us_per_window_features is not None:
            out.append(("features on device", f"{self._clock(self.us_per_window_features)} "
                                               "median per window"))
        if self.us_per_predict_median is not None:
            what = "features + predict" if self.features is not None else "predict"
            runs = f"({self.bench_rows} rows x {self.bench_repeats})"
            if self.instructions_per_us is None:
                worst = ("" if self.us_per_predict_max is None
                         else f", {self.us_per_predict_max:.2f} µs worst row")
                out.append((f"{what} on device", f"{self.us_per_predict_median:.2f} µs median, "
                                                 f"{self.us_per_predict_min:.2f} µs min{worst} "
                                                 f"{runs}"))
            else:
                worst = ("" if self.us_per_predict_max is None
                         else f", {_count(self.instructions_per_predict_max)} worst row")
                out.append((f"instructions per {what}",
                            f"{_count(self.instructions_per_predict_median)} median, "
                            f"{_count(self.instructions_per_predict_min)} min{worst} {runs}"))
        if self.instructions_per_us is not None:
            out.append(("device clock", f"counts instructions (1 µs = "
                                        f"{self.instructions_per_us:g} instructions): an "
                                        "emulated core, no wait states or caches"))
        return out

    def __str__(self) -> str:
        width = max(len(k) for k, _ in self.rows())
        lines = [f"{k:<{width}}  {v}" for k, v in self.rows()]
        for d in self.disagreements:
            lines.append(f"  row {d['row']}: host {d['host']} device {d['device']}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th>"
                       f"<td style='text-align:left'>{terms_html(v)}</td></tr>" for k, v in self.rows())
        extra = "".join(f"<li>row {d['row']}: host {d['host']} device {d['device']}</li>"
                        for d in self.disagreements)
        notes = "".join(f"<li>{terms_html(n)}</li>" for n in self.notes)
        return (f"<table>{body}</table>" + (f"<ul>{extra}</ul>" if extra else "")
                + (f"<ul>{notes}</ul>" if notes else ""))


def _count(n: float) -> str:
    """An instruction count grouped by thousands: 11 035."""
    return f"{n:,.0f}".replace(",", " ")
