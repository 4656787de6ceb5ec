"""CLI start-up benchmark: how long `orch` takes as a whole process, this tree beside a baseline revision.

    python bench/cli_bench.py [--runs 20] [--baseline REV] [--candidate-patch FILE]

Both builds are installed the way users install orch, so the only difference between them is orch's own code:
each tree is built into a wheel (`pip wheel --no-deps`) and installed with `--no-deps` into a throwaway venv
whose dependencies come from the running interpreter's site-packages (a .pth file). The candidate is this
checkout's working tree (tracked and untracked, not ignored, files); the baseline is a git revision, by default
the commit this work started from, whose `orch` CLI imported everything before parsing. Each build gets its
own ORCH_HOME with 1,000 tasks, created by that build's own code (`Services.tasks.create`).

Every command runs `--runs` times as a whole process, round-robin over builds and commands so that a change in
the machine's load hits all alike: `python -c pass` (the interpreter of that venv), `orch --help`,
`orch version`, `orch task list`, `orch task show 500`, `orch task list --json`. The table shows the median wall
time, its ratio to `python -c pass` of the same build, and the median CPU time (user + system) of the process,
which moves less than wall time on a shared machine. The target: `orch task list` and `orch --help` within
8x of `python -c pass`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The last commit before the CLI was split into modules that import only what their command uses.
BASELINE = "622b462"
TASKS = 1000
TARGET_RATIO = 8.0
# (label, program in the build's venv, arguments). The second line is no orch command: it is the floor under any
# command that reads the store, which is asyncio's (the services are async, over aiosqlite).
COMMANDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("python -c pass", "python", ("-c", "pass")),
    ("python: import asyncio, aiosqlite", "python", ("-c", "import asyncio, aiosqlite")),
    ("orch --help", "orch", ("--help",)),
    ("orch version", "orch", ("version",)),
    ("orch task list", "orch", ("task", "list")),
    ("orch task show 500", "orch", ("task", "show", "500")),
    ("orch task list --json", "orch", ("task", "list", "--json")),
)
TARGETS = ("orch --help", "orch task list")
POPULATE = f"""
import asyncio
from orch.core.home import OrchHome
from orch.core.services import Services

async def populate() -> None:
    services = await Services.open(OrchHome.from_env())
    try:
        for number in range(1, {TASKS} + 1):
            await services.tasks.create(f"task number {{number}}: make the thing better", "a body\\nof two lines",
                                        labels=["agent:shell"])
    finally:
        await services.close()

asyncio.run(populate())
"""


@dataclass
class Build:
    name: str
    venv: Path
    home: Path
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)

    def argv(self, program: str, args: tuple[str, ...]) -> list[str]:
        return [str(self.venv / "bin" / program), *args]


def source_tree(revision: str | None, into: Path, patch: Path | None) -> Path:
    """A copy of this checkout's working tree, or of `revision`, to build from without touching the checkout."""
    into.mkdir(parents=True)
    if revision is None:
        listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"], check=True,
                                capture_output=True).stdout.decode().split("\0")
        for name in filter(None, listed):
            if (ROOT / name).is_file():
                (into / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, into / name)
    else:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    if patch is not None:
        subprocess.run(["git", "apply", str(patch.resolve())], cwd=into, check=True)
    return into


def install(name: str, slug: str, source: Path, work: Path) -> Build:
    wheels = work / f"{slug}-wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(source)],
                   stdout=subprocess.DEVNULL, check=True)
    venv = work / f"{slug}-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = Path(subprocess.run([str(venv / "bin" / "python"), "-c",
                                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies of the running interpreter, without running its .pth files (the editable checkout's).
    (site_packages / "_bench_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    [wheel] = wheels.glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", str(wheel)], stdout=subprocess.DEVNULL, check=True)
    home = work / f"{slug}-home"
    subprocess.run([str(venv / "bin" / "python"), "-c", POPULATE], env={**os.environ, "ORCH_HOME": str(home)},
                   cwd=work, check=True)
    return Build(name, venv, home)


def measure(builds: list[Build], runs: int) -> None:
    for _ in range(runs):
        for build in builds:
            env = {**os.environ, "ORCH_HOME": str(build.home)}
            for label, program, args in COMMANDS:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter()
                subprocess.run(build.argv(program, args), env=env, stdout=subprocess.DEVNULL, check=True)
                wall = time.perf_counter() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                build.wall.setdefault(label, []).append(wall * 1000)
                build.cpu.setdefault(label, []).append(cpu * 1000)


def report(builds: list[Build], runs: int) -> bool:
    header = f"{'command':<34}" + "".join(f"  {b.name + ' wall ms':>22}  {'x pass':>6}  {'cpu ms':>6}" for b in builds)
    print(f"{TASKS} tasks in each home, {runs} runs of each command; medians")
    print(header)
    print("-" * len(header))
    met = True
    for label, _, _ in COMMANDS:
        cells = ""
        for build in builds:
            wall = statistics.median(build.wall[label])
            ratio = wall / statistics.median(build.wall["python -c pass"])
            cells += f"  {wall:>22.1f}  {ratio:>6.1f}  {statistics.median(build.cpu[label]):>6.1f}"
            if build is builds[0] and label in TARGETS and ratio > TARGET_RATIO:
                met = False
        print(f"{label:<34}{cells}")
    verdict = "met" if met else "NOT met"
    print(f"target {verdict}: {' and '.join(TARGETS)} within {TARGET_RATIO:.0f}x of python -c pass ({builds[0].name})")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command per build (default 20)")
    parser.add_argument("--baseline", default=BASELINE, help=f"git revision to compare with (default {BASELINE})")
    parser.add_argument("--candidate-patch", type=Path, help="apply this patch to the candidate's copy first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orch-cli-bench-") as folder:
        work = Path(folder)
        print("building and installing both trees, creating the homes…", file=sys.stderr)
        candidate = source_tree(None, work / "candidate-src", args.candidate_patch)
        baseline = source_tree(args.baseline, work / "baseline-src", None)
        builds = [install("this tree", "candidate", candidate, work),
                  install(f"baseline {args.baseline}", "baseline", baseline, work)]
        measure(builds, args.runs)
        return 0 if report(builds, args.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
