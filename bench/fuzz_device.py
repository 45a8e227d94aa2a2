"""Fuzz every file kind the device loads, on the device itself (issue 17's target).

    python3 bench/fuzz_device.py                          # virtual device, 10 000 cases
    python3 bench/fuzz_device.py --device emulated:cortex-m3 --cases 600
    python3 bench/fuzz_device.py --device qemu:cortex-m3 --cases 600     # starts qemu itself
    python3 bench/fuzz_device.py --device /dev/ttyACM0 --seed 3
    python3 bench/fuzz_device.py --only "tree tiny float32 sparse" --case 123   # one case again
                                   (same --seed and --cases as the run that found it)

Base files: tree model files (.eml) in every layout (tiny/small/large/packed) and feature form
(float32, int16, learned int16) with sparse and dense (compressed) leaves, a regressor, a tie
file (.ties), float32 and int8 network files (.emn) and feature files (.fx, JSON). Each is
sent to the device once; the mutations travel as compact splice descriptors generated here
from the seed, and the device-side harness (fuzz_harness.py, sent as emlab_fuzz.mpy) applies
them in RAM, loads the result with the real loader, predicts a few rows and prints one line
per case. Mutations: bit flips, byte sets, truncation at and around every section boundary,
trailing bytes, hostile header values, targeted fields (children, features, roots, leaf
offsets/classes/values, quantiser, layer table, shifts, constants, tables), and for feature
files hostile JSON values and structure.

A case passes when it loads and every result is bounded (a class in range, probabilities in
[0, 1], finite values, the right number of scores or features) or when it raises ValueError.
Anything else is reported with its job, case number and mutation: another exception type, an
unbounded result, a hang (no output for --idle-s seconds: the device is reset and the run
resumes after the case) or a crash (the process or the link died).
"""
import argparse
import json
import sys
import time
from pathlib import Path

from fuzz_cases import Base, Case, base_files, cases, mutated  # noqa: F401 (re-exported)

HERE = Path(__file__).resolve().parent
OUTCOMES = ("loaded", "ValueError", "other", "unbounded", "hang", "crash")
_CODE = {"L": "loaded", "V": "ValueError", "E": "other", "U": "unbounded"}


# -- the device ------------------------------------------------------------------------------
def runtime_files(target, walkers) -> list:
    """(device path, bytes) of every runtime module (with these tree walkers) and the harness
    for this target."""
    from emlearn_lab.runtime.artifacts import module_artifact
    from emlearn_lab.runtime.kernels import kernels_source
    notes = []
    native = target.arch is not None
    files = [module_artifact(m, target, False, notes)
             for m in ("emlab_common", "emlab_f64", "emltrees", "emltrees_pure", "emlnet",
                       "emlnet_float", "emlnet_int8", "emlnet_pure", "emlfx", "emlgauss",
                       "emlknn")]
    if native:
        files.append(module_artifact("emltrees_kernels", target, True, notes,
                                     source=kernels_source(walkers, target.arch)))
        files += [module_artifact(m, target, True, notes)
                  for m in ("emlab_quant", "emlnet_kernels", "emlfx_core", "emlfx_time",
                            "emlfx_iir", "emlfx_spectral", "emlknn_kernels")]
    files.append(module_artifact("emlab_fuzz", target, False, notes,
                                 source=(HERE / "fuzz_harness.py").read_text()))
    return [(a.path, a.data) for a in files]


class _Qemu:
    """`qemu:BOARD`: an emulated board started here with ../shared/qemu/start-board, restarted
    after a hang (its Ctrl-C does not interrupt running code). For runs where eml.connect has
    no emulated device spec yet."""

    def __init__(self, board: str):
        self.board, self.pid = board, None

    def start(self) -> str:
        import subprocess
        self.stop()
        script = HERE.parents[1] / "shared" / "qemu" / "start-board"
        out = subprocess.run([str(script), self.board], capture_output=True, text=True,
                             check=True, timeout=60).stdout.split()
        self.pid = int(out[1])
        return out[0]

    def stop(self):
        import os
        import signal
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.pid = None


def _connect(spec: str, qemu):
    import emlearn_lab as eml
    return eml.connect(qemu.start()) if qemu else eml.connect(spec)


class Runner:
    """Runs cases on one device spec, surviving hangs and crashes (reset, then resume)."""

    def __init__(self, spec: str, idle_s: float, chunk: int, walkers, log=print):
        self.spec, self.idle_s, self.chunk, self.log = spec, idle_s, chunk, log
        self.qemu = _Qemu(spec.split(":", 1)[1]) if spec.startswith("qemu:") else None
        self.dev = _connect(spec, self.qemu)
        self.files = runtime_files(self.dev.target, walkers)
        self.native = self.dev.target.arch is not None
        self.resets = 0
        self.harness_error = ""
        self.link_error = ""
        self._sent = set()
        self._ensure()

    def close(self):
        self.dev.close()
        if self.qemu:
            self.qemu.stop()

    def _ensure(self):
        for path, data in self.files:
            self.dev.write_file(path, data)
        self._sent = set()

    def _restart(self):
        """After a hang or crash: restart the device, make sure its files are there."""
        self.resets += 1
        try:
            if self.qemu:
                raise RuntimeError("restart qemu")
            self.dev.reset()
        except Exception:       # noqa: BLE001 - a board that no longer answers: reconnect
            try:
                self.dev.close()
            except Exception:   # noqa: BLE001
                pass
            self.dev = _connect(self.spec, self.qemu)
        # A board's or qemu's RAM filesystem may be gone (the virtual device keeps its files:
        # then this only compares hashes).
        self._ensure()

    def _put(self, path: str, data: bytes):
        key = (path, hash(data))
        if key not in self._sent:
            self.dev.write_file(path, data)
            self._sent.add(key)

    def _stream(self, code: str, on_line) -> str:
        """exec code, calling on_line per printed line as it arrives. Returns 'ok', 'hang',
        'crash', 'glitch' (the link failed, the device lives) or 'harness' (the harness
        failed between cases)."""
        from mpremote.transport import TransportError
        buf = bytearray()

        def consume(b):
            buf.extend(b)
            while b"\n" in buf:
                i = buf.index(b"\n")
                line = bytes(buf[:i]).decode(errors="replace").strip()
                del buf[:i + 1]
                on_line(line)

        dev = self.dev
        with dev.lock:
            try:
                dev.ensure_connected()
                # mpremote's follow timeout is between characters: no output for idle_s.
                out, err = dev._transport.exec_raw(code, timeout=self.idle_s,
                                                   data_consumer=consume)
            except TransportError as e:
                self.link_error = f"{type(e).__name__}: {e}"
                if dev.virtual is not None and not dev.virtual.alive:
                    return "crash"
                return "hang"
            except OSError as e:
                self.link_error = f"{type(e).__name__}: {e}"
                # The link failed but the virtual device's process lives: a glitch of the
                # pty relay (seen right after a restart), not something the case did.
                alive = dev.virtual is not None and dev.virtual.alive
                return "glitch" if alive else "crash"
        if dev.virtual is not None and not dev.virtual.alive:
            return "crash"
        if err:
            # The harness itself failed between cases (e.g. out of heap on a small board):
            # the case in progress is reported with that error.
            text = err.decode(errors="replace").strip().splitlines()
            self.harness_error = text[-1] if text else "?"
            return "harness"
        return "ok"

    def _put_base(self, base: Base):
        self._put("_fz_base.bin", base.data)
        if base.extra:
            self._put("_fz_extra.bin", base.extra)

    def run_job(self, base: Base, runtime: str, job_cases: list, on_result):
        """Run job_cases; on_result(case, outcome, detail) for each."""
        self._put_base(base)
        extra = ", extra_path='_fz_extra.bin'" if base.extra else ""
        code = (f"import emlab_fuzz\nemlab_fuzz.runtime({int(runtime == 'native')})\n"
                f"emlab_fuzz.run({base.kind!r}, '_fz_base.bin', '_fz_cases.bin', "
                f"{base.name!r}{extra})\n")
        todo = list(job_cases)
        glitches, isolate = 0, False
        while todo:
            # One case alone after a crash: a process that dies can take the last lines it
            # printed with it, so the first case without a line is only a suspect until it
            # crashes on its own.
            batch = todo[:1] if isolate else todo[:self.chunk]
            self.dev.write_file("_fz_cases.bin", b"".join(c.encode() for c in batch),
                                skip_unchanged=False)
            by_number = {c.number: c for c in batch}
            done = set()

            def on_line(line):
                parts = line.split(" ", 2)
                if len(parts) >= 2 and parts[0].isdigit() and int(parts[0]) in by_number:
                    n = int(parts[0])
                    done.add(n)
                    on_result(by_number[n], _CODE.get(parts[1], "other"),
                              parts[2] if len(parts) > 2 else "")

            state = self._stream(code, on_line)
            rest = [c for c in batch if c.number not in done]
            todo = rest + todo[len(batch):]
            if state == "ok" or not rest:
                if state != "ok":
                    self._restart()
                    self._put_base(base)
                glitches, isolate = 0, False
                continue
            self._restart()
            self._put_base(base)
            if state == "glitch" and glitches < 5:
                glitches += 1               # run the same cases again on a fresh link
                time.sleep(0.5 * glitches)
                continue
            if state in ("crash", "glitch") and not isolate:
                isolate = True
                continue
            # The first case without a line is the one that hung or crashed the device.
            if state == "harness":
                on_result(rest[0], "other", "harness: " + self.harness_error)
            else:
                on_result(rest[0], "crash" if state == "glitch" else state, "")
            todo = todo[1:]
            glitches, isolate = 0, False


def fuzz(spec: str = "virtual", n_cases: int = 10000, seed: int = 0, idle_s: float = 30.0,
         chunk: int = 400, only: str | None = None, case: int | None = None,
         runtimes=("native", "bytecode"), log=print) -> dict:
    """Run the fuzzer; returns {"rows": {(label, runtime): counts}, "findings": [...],
    "cases": total, "seconds": s, "resets": n}."""
    every = base_files(seed)
    bases = [b for b in every if only is None or b.label == only]
    if not bases:
        raise SystemExit(f"no base file is labelled {only!r}: one of "
                         + ", ".join(repr(b.label) for b in every))
    t0 = time.monotonic()               # the whole run: sending the runtime included
    from emlearn_lab.trees.modelfile import file_kernel_name
    walkers = sorted({file_kernel_name(b.data) for b in every if b.kind == "tree"})
    runner = Runner(spec, idle_s, chunk, walkers, log)
    try:
        def jobs_of(bs):
            return [(b, r) for b in bs for r in b.runtimes
                    if r in runtimes and (r == "bytecode" or runner.native)]
        # Cases per job from the whole run, so that --only/--case regenerate the same cases.
        per_job = max(1, -(-n_cases // len(jobs_of(every))))
        jobs = jobs_of(bases)
        rows, findings = {}, []
        for b, r in jobs:
            counts = rows.setdefault((b.label, r), dict.fromkeys(OUTCOMES, 0))
            job_cases = cases(b, per_job, seed)
            if case is not None:
                if case >= len(job_cases):
                    raise SystemExit(f"case {case} is not in a run of {n_cases} cases")
                job_cases = job_cases[case:case + 1]
                log(f"{b.label} [{r}] case {case}: {job_cases[0].what}")

            def on_result(c, outcome, detail, b=b, r=r, counts=counts):
                counts[outcome] += 1
                if outcome not in ("loaded", "ValueError"):
                    f = {"kind": b.label, "runtime": r, "case": c.number, "mutation": c.what,
                         "outcome": outcome, "detail": detail, "seed": seed,
                         "file_hex": mutated(b, c).hex() if len(b.data) < 2048 else ""}
                    findings.append(f)
                    log(f"  {outcome}: {b.label} [{r}] case {c.number}: {c.what} {detail}")

            runner.run_job(b, r, job_cases, on_result)
            log(f"{b.label:34s} {r:8s} " + " ".join(f"{k}={v}" for k, v in counts.items() if v))
        return {"rows": rows, "findings": findings, "cases": sum(
            sum(c.values()) for c in rows.values()), "seconds": time.monotonic() - t0,
            "resets": runner.resets, "device": spec, "seed": seed, "requested": n_cases,
            "target": str(runner.dev.target)}
    finally:
        runner.close()


def table(result: dict) -> str:
    head = "| file kind | runtime | cases | " + " | ".join(
        ("loaded+bounded" if o == "loaded" else o) for o in OUTCOMES) + " |"
    lines = [head, "|" + "---|" * (3 + len(OUTCOMES))]
    total = dict.fromkeys(OUTCOMES, 0)
    for (label, runtime), c in result["rows"].items():
        lines.append(f"| {label} | {runtime} | {sum(c.values())} | "
                     + " | ".join(str(c[o]) for o in OUTCOMES) + " |")
        for o in OUTCOMES:
            total[o] += c[o]
    lines.append(f"| **all** | | **{sum(total.values())}** | "
                 + " | ".join(f"**{total[o]}**" for o in OUTCOMES) + " |")
    return "\n".join(lines)


def report(result: dict) -> str:
    md = [f"# Device fuzzer: {result['cases']} cases on `{result['device']}` "
          f"({result['target']}), seed {result['seed']}", "",
          f"`python3 bench/fuzz_device.py --device {result['device']} --seed {result['seed']} "
          f"--cases {result['requested']}`"
          f" — {result['seconds']:.0f} s, {result['resets']} device restarts.", "",
          table(result), ""]
    if result["findings"]:
        md += [f"## Findings (one again: `python3 bench/fuzz_device.py --device "
               f"{result['device']} --seed {result['seed']} --cases {result['requested']} "
               "--only KIND --case N`)", "",
               "| file kind | runtime | case | outcome | mutation | detail |",
               "|---|---|---|---|---|---|"]
        for f in result["findings"][:200]:
            md.append(f"| {f['kind']} | {f['runtime']} | {f['case']} | {f['outcome']} | "
                      f"{f['mutation'][:80]} | {f['detail'][:80]} |")
    return "\n".join(md) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="virtual")
    p.add_argument("--cases", type=int, default=10000, help="total cases (split over jobs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--idle-s", type=float, default=None,
                   help="no output for this long = a hang (default 30 s; 180 s emulated)")
    p.add_argument("--chunk", type=int, default=None, help="cases per device exec")
    p.add_argument("--only", help="one file kind (a label of the table)")
    p.add_argument("--case", type=int, help="with --only: run this case number alone")
    p.add_argument("--out", default=str(HERE / "results" / "fuzz.md"))
    a = p.parse_args(argv)
    slow = a.device.startswith(("emulated", "qemu", "/dev/tty"))
    idle = a.idle_s or (180.0 if slow else 30.0)
    chunk = a.chunk or (60 if slow else 400)
    result = fuzz(a.device, a.cases, a.seed, idle, chunk, a.only, a.case)
    text = report(result)
    print(table(result))
    if a.case is None:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text)
        Path(a.out).with_suffix(".json").write_text(json.dumps(
            {k: v for k, v in result.items() if k != "rows"} | {"rows": [
                {"kind": k[0], "runtime": k[1], **v} for k, v in result["rows"].items()]},
            indent=1))
        print(f"wrote {a.out}")
    bad = sum(c[o] for c in result["rows"].values() for o in OUTCOMES[2:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
