"""One model of a live comparison: deployed once, its host reference, one batch on the device.

The device side is ``device_src/emlab_stream.py``; its output per item is the layout that
deploy's verification reads (predict index, scores) plus the microseconds that predict took,
and the host compares it exactly as deploy does: scores bit for bit, class index equal.
"""
from __future__ import annotations

import binascii
import re

import numpy as np

from ..conversion import convert
from ..device import budget
from ..device.session import agreement, ensure_loaded, result_dtype, row_bytes, scores_of
from ..exceptions import DeviceError, InputError
from ..features.pipeline import check_fitted, split_pipeline
from ..runtime.artifacts import module_artifact

X_PATH = "_emlab_live_x.bin"
OUT_PATH = "_emlab_live_out.bin"
# Items up to this size travel inside the exec that runs them, and outputs up to
# OUTPUT_MAX_BYTES come back in its printout: one round trip per batch (about 5x faster than
# file transfers), and at most ~14 KiB of transient heap on the device. Larger ones go by file
# in 1 KiB chunks, which any board's heap takes.
INLINE_MAX_BYTES = 6144
OUTPUT_MAX_BYTES = 4096
# What the device prints instead of running a batch when the model is not loaded (it was
# reset behind the host's back: dev.reset() in the notebook, a board's reset button).
_NOT_LOADED = "emlab: not loaded"


class ModelNotLoaded(DeviceError):
    """The device has the model's files but not the model in memory: load it and run again."""


def device_names(labels) -> dict:
    """label -> device name: the label itself when it is a Python identifier (it names device
    files), else a distinct identifier made from it."""
    names, taken = {}, set()
    for label in labels:
        name = label if label.isidentifier() else "live_" + re.sub(r"\W", "_", label)
        base, i = name, 2
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        names[label] = name
        taken.add(name)
    return names


def push_stream_module(dev) -> None:
    """emlab_stream on the device, compiled for it; a changed file is imported afresh."""
    art = module_artifact("emlab_stream", dev.target, False, [])
    if dev.write_file(art.path, art.data):
        dev.exec("import sys\nsys.modules.pop('emlab_stream', None)")


class LiveModel:
    """A labelled host model in a live comparison and its twin on the device."""

    def __init__(self, label: str, host, name: str):
        from sklearn.pipeline import Pipeline
        self.label, self.host, self.name = label, host, name
        self.is_pipeline = isinstance(host, Pipeline)
        self.model = None          # TreeModel / NetModel: what runs on the device
        self.extractors = None     # pipelines: the eml.features extractors
        self.deployed = None

    # -- host side --------------------------------------------------------------------------
    def convert(self, dev) -> None:
        """The host reference, without touching the device: the deployed twin's when
        ``dev.deployments[name]`` holds this very host object, else converted here (raises
        NotFittedError / UnsupportedModelError before anything is sent)."""
        known = dev.deployments.get(self.name)
        if known is not None and known.source is self.host and \
                (known.features is not None) == self.is_pipeline:
            self.model, self.extractors = known.model, known.features
            return
        if self.is_pipeline:
            extractors, estimator = split_pipeline(self.host)
            check_fitted(extractors)
            self.model, self.extractors = convert(estimator), extractors
        else:
            self.model = convert(self.host)

    @property
    def classifier(self) -> bool:
        return self.model.kind == "classifier"

    @property
    def detector(self) -> bool:
        """An anomaly detector: a two-class classifier whose plot is its score over time."""
        return getattr(self.model, "task", None) == "anomaly"

    @property
    def classes(self) -> list:
        return [str(c) for c in self.model.classes_] if self.classifier else []

    def class_indices(self, labels, n: int) -> np.ndarray:
        """Each of n labels' index in this classifier's classes; -1 for a label it does not
        know, for no labels (None) and for regressors."""
        out = np.full(n, -1, dtype=np.int64)
        if labels is None or not self.classifier:
            return out
        index = {c: i for i, c in enumerate(self.classes)}
        for k, label in enumerate(labels):
            out[k] = index.get(str(label), -1)
        return out

    def check(self, X) -> np.ndarray:
        """Items as the device reads them: validated rows, or windows for a pipeline."""
        try:
            if self.is_pipeline:
                return self.extractors[0].check_windows(X)
            return self.model.check_X(X)
        except InputError as e:
            raise InputError(f"model {self.label!r}: {e}") from None

    def reference(self, items: np.ndarray) -> tuple:
        """Host (scores, class index or -1) for validated items."""
        rows = items
        if self.is_pipeline:
            rows = np.hstack([e.transform(items) for e in self.extractors])
        scores = self.model.scores(rows)
        if self.classifier:
            return scores, np.asarray(self.model.predict_index(rows), dtype=np.int64)
        return scores, np.full(len(items), -1, dtype=np.int64)

    def predictions(self, scores: np.ndarray, klass: np.ndarray) -> np.ndarray:
        """What model.predict returns, from scores and class indices."""
        if self.classifier:
            # An index the device got wrong may be out of range: clipped for display only,
            # the item is a disagreement anyway (the index is compared as it came).
            klass = np.clip(klass, 0, len(self.model.classes_) - 1)
        return self.model.decode(klass, scores)

    # -- device side ------------------------------------------------------------------------
    def deploy(self, dev) -> bool:
        """Deploy without verification unless the device has this host object under this
        name already. Returns True if something was deployed."""
        known = dev.deployments.get(self.name)
        if known is not None and known.source is self.host:
            self.deployed = known
            return False
        dev.deploy(self.host, None, name=self.name, verify=False)
        self.deployed = dev.deployments[self.name]
        self.model, self.extractors = self.deployed.model, self.deployed.features
        return True

    def load(self, dev) -> None:
        """Load the model (and extractors) on the device unless loaded: after a reset or a
        reconnect the device has the files but nothing in memory. Also notes the free
        filesystem, which bounds the items sent at once."""
        ensure_loaded(dev, self.deployed, f"loading model {self.label!r}")
        self.fs_free_bytes = dev.fs_free_bytes()

    fs_free_bytes = None
    holds_all = False    # after run(): X_PATH holds all of the items it was given

    def run(self, dev, items: np.ndarray, data: bytes | None) -> tuple:
        """(device scores, class index, microseconds per item) for validated items, whose
        bytes ``data`` are sent first (None: X_PATH holds them already). One round trip
        when the items and the output are small (see emlab_stream.batch); more when the
        model's speed on this device is not known yet (one item first, its timeout
        generous), when the items would take long (pieces of a few seconds of device time)
        or would crowd the device's filesystem (pieces of what fits)."""
        row = result_dtype(self.model, timed=True)
        n = len(items)
        size = items[0].nbytes
        fit = budget.items_that_fit(size + row.itemsize, self.fs_free_bytes)
        whole = data is None or n <= fit     # X_PATH can hold every item at once
        if data is not None and whole and len(data) > INLINE_MAX_BYTES:
            dev.put_data(X_PATH, data)
            data = None
        self.holds_all = whole
        outs = []

        def piece(start, stop, timeout_s):
            nonlocal data
            if whole:
                send, first = data, start
                data = None                  # sent with the first piece
            else:
                dev.put_data(X_PATH, row_bytes(items[start:stop]))
                send, first = None, 0
            out, us = self._run_piece(dev, send, first, stop - start, row, timeout_s)
            outs.append(out)
            return us

        self.deployed.us_per_row = budget.run_batches(
            n, size + row.itemsize, self.deployed.us_per_row, piece, self.fs_free_bytes)
        out = np.frombuffer(b"".join(outs), dtype=row, count=n)
        scores = scores_of(out)
        klass = out["index"].astype(np.int64) if self.classifier else \
            np.full(n, -1, dtype=np.int64)
        return scores, klass, out["us"].astype(np.float64)

    def _run_piece(self, dev, data, start, count, row, timeout_s) -> tuple:
        """(output bytes, device microseconds) of items start..start+count of X_PATH, after
        writing ``data`` (bytes, inline in the exec) there if given."""
        inline = None if data is None else binascii.b2a_base64(data, newline=False).decode()
        fx = f", features=_emlab_fx[{self.name!r}]" if self.is_pipeline else ""
        loaded = f"{self.name!r} in globals().get('_emlab_models', ())"
        if self.is_pipeline:
            loaded += f" and {self.name!r} in globals().get('_emlab_fx', ())"
        text = dev.exec(f"if {loaded}:\n"
                        f" __import__('emlab_stream').batch(_emlab_models[{self.name!r}], "
                        f"{X_PATH!r}, {OUT_PATH!r}, {inline!r}{fx}, "
                        f"send_max={OUTPUT_MAX_BYTES}, start={start}, count={count})\n"
                        f"else:\n print({_NOT_LOADED!r})",
                        timeout_s=timeout_s,
                        what=f"items {start}-{start + count - 1} of a batch of model "
                             f"{self.label!r}")
        if text.strip() == _NOT_LOADED:
            raise ModelNotLoaded(f"model {self.label!r} is not loaded on the device")
        lines = text.split()
        try:
            n, us = int(lines[0]), float(lines[1])
        except (IndexError, ValueError):
            raise DeviceError(f"model {self.label!r}: unexpected output from the device: "
                              f"{text[:200]!r}") from None
        if n != count:
            raise DeviceError(f"model {self.label!r}: the device processed {n} of "
                              f"{count} items")
        try:
            out = binascii.a2b_base64("".join(lines[2:])) if len(lines) > 2 else \
                dev.read_file(OUT_PATH)
        except binascii.Error:
            out = b""
        if len(out) != row.itemsize * n:
            raise DeviceError(f"model {self.label!r}: the device sent {len(out)} bytes for "
                              f"{n} items, expected {row.itemsize * n}")
        return out, us

    def agree(self, host: tuple, device: tuple) -> np.ndarray:
        """Item by item: device scores bit-for-bit equal to the host's, same class index."""
        return agreement(self.model, host, device)

