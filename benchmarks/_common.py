"""What the benchmark scripts share: copying an example, running `charter run`, describing the
machine, and rewriting one section of benchmarks/RESULTS.md while keeping the others.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
RESULTS = REPO / "benchmarks" / "RESULTS.md"
CHARTER = Path(sys.executable).with_name("charter")


def copy_example(name: str, into: Path, *, budget_seconds: float | None = None) -> Path:
    """A copy of examples/<name> (without its .charter/ ledger) in `into`; returns the folder.

    With `budget_seconds`, the copy's `model.budget.seconds` is set to it; everything else
    in the charter stays as written.
    """
    source = EXAMPLES / name
    target = into / name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".charter"))
    if budget_seconds is not None:
        path = target / "charter.yaml"
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(r"(budget:\s*\{\s*seconds:\s*)\d+(?:\.\d+)?")
        new, count = pattern.subn(rf"\g<1>{budget_seconds:g}", text)
        if count != 1:
            raise SystemExit(
                f"examples/{name}/charter.yaml must hold exactly one "
                f"'budget: {{seconds: N}}' (model.budget); found {count}."
            )
        path.write_text(new, encoding="utf-8")
    return target


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all processes, all cores)."""
    try:
        fields = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return 0.0
    ticks = [int(f) for f in fields[:8]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    """Wall and CPU seconds of one child process, and how busy the rest of the machine was."""

    wall_seconds: float
    cpu_seconds: float
    others_cores: float  # the average number of cores other processes kept busy meanwhile


def measure(command: list[str], **kwargs: Any) -> tuple[subprocess.CompletedProcess[str], Measured]:
    """Run `command` (output captured as text) and measure it; see Measured."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy = busy_cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    wall = time.perf_counter() - start
    busy = busy_cpu_seconds() - busy
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, Measured(wall, cpu, max(0.0, busy - cpu) / wall if wall > 0 else 0.0)


def contention_note(values: list[float]) -> str:
    """A sentence on how busy the machine was besides the benchmark."""
    worst = max(values, default=0.0)
    if worst < 0.25:
        return (
            f"Other processes kept at most {worst:.2f} of a core busy during any measurement: "
            "a quiet machine."
        )
    return (
        f"**The machine was shared**: other processes kept up to {worst:.2f} cores busy "
        "during a measurement (column 'others'); those figures are noisier and likely slower."
    )


@dataclass(frozen=True)
class CharterRun:
    """One `charter run --json` as a benchmark saw it."""

    returncode: int
    wall_seconds: float
    cpu_seconds: float
    others_cores: float
    outcome: dict[str, Any]
    stderr: str

    def stage_seconds(self) -> dict[str, float]:
        return {s["stage"]: float(s["seconds"]) for s in self.outcome.get("stages", [])}


def run_charter(folder: Path) -> CharterRun:
    """`charter run --json` in `folder`: wall and CPU seconds (user + system) of the process.

    Exit code 1 (a failed gate or a blocking finding) is an outcome, not an error; any other
    non-zero code stops the benchmark with charter's output.
    """
    done, measured = measure([str(CHARTER), "run", "--json", "--charter", str(folder)], cwd=folder)
    if done.returncode not in (0, 1):
        raise SystemExit(
            f"`charter run` in {folder} exited {done.returncode}:\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
        )
    try:
        outcome = json.loads(done.stdout)
    except json.JSONDecodeError as error:
        raise SystemExit(
            f"`charter run --json` printed no JSON ({error}):\n{done.stdout[-4000:]}\n"
            f"{done.stderr[-4000:]}"
        ) from None
    return CharterRun(
        done.returncode,
        measured.wall_seconds,
        measured.cpu_seconds,
        measured.others_cores,
        outcome,
        done.stderr,
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def versions(*packages: str) -> str:
    """'name version' for each installed package, comma-separated."""
    found = []
    for package in packages:
        try:
            found.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            found.append(f"{package} (not installed)")
    return ", ".join(found)


def machine_line() -> str:
    memory = memory_gib()
    size = f"{memory:.0f} GiB memory" if memory is not None else "memory unknown"
    return (
        f"Machine: {cores()} cores ({cpu_model()}), {size}, {platform.machine()}, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}."
    )


def code_version() -> str:
    """The charter code measured: its git commit, and whether the work tree had changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "charter code: not a git checkout."
    return f"charter code: commit {head}" + (" with uncommitted changes in src/." if dirty else ".")


def failed_gates(outcome: dict[str, Any]) -> str:
    """Why a run exited 1: what stopped it, else the gate verdicts that failed."""
    if outcome.get("stopped_by"):
        return f"stopped by: {outcome['stopped_by']}"
    failed = [v["reason"] for v in outcome.get("verdicts", []) if not v.get("passed")]
    if failed:
        return "failed gate KPIs (the model is still registered): " + " ".join(failed)
    return "exit 1 without a stop or a failed verdict in the JSON outcome"


def command_line(script: str) -> str:
    """The command that produced a section, as a reader would type it from the repo root."""
    return " ".join(["python", f"benchmarks/{script}", *sys.argv[1:]])


def write_section(marker: str, section: str) -> None:
    """Replace the section of RESULTS.md that starts with `marker` (or append it).

    Several benchmark scripts may finish at once: the read-modify-write holds a lock, and
    the new text replaces the file in one rename.
    """
    import fcntl

    lock_path = REPO / "benchmarks" / ".cache" / "results.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    ignore = lock_path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Created by the benchmarks: nothing here is tracked.\n*\n")
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        text = (
            RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n\n"
        )
        if marker in text:
            head, _, rest = text.partition(marker)
            tail = rest.split("\n## ", 1)
            text = head + section + ("\n## " + tail[1] if len(tail) > 1 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        staged = lock_path.parent / "RESULTS.md.tmp"
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, RESULTS)
    print(f"wrote {RESULTS.relative_to(REPO)}")
