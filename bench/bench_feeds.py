"""Benchmark `publisher build-feeds` on synthetic scraped seeds.

    .venv/bin/python bench/bench_feeds.py [--sizes 10000,100000] [--repeat 3] [--keep DIR]

For each size N: generate N seeds in the scraped format, then time (each as a real
`publisher build-feeds` subprocess): a cold build, a no-change rebuild, and a rebuild after one
new seed (saved a minute before the build: older than schedule.settle_seconds, so the build takes
it at once). The memory of each build is sampled every 100 ms as the memory of the build and
all its worker processes together (proportional set sizes: shared pages count once). Then time rendering every Atom feed of the smallest build
against a plain lxml writer of the same documents (bench/feeds_vs_lxml.py), in the same run, and
print the ratios to the targets.

Before each fresh copy the previous run's files are written back and dropped from the page
cache (they stay on disk): left there, three runs at 100,000 seeds filled this machine's 24 GB
and later builds paid for reclaiming that memory (a 10,000-seed build: 3.8 s of CPU on an empty
page cache, 5.4 s on a full one).

Each timing is taken `--repeat` times (a cold build on a fresh copy of the seeds each time) and
the median is compared with the target: this shared 2-core machine runs the same work up to
twice as slow from one period to the next. The CPU seconds of each build (its own and its
workers') are printed next to its wall time, and a fixed piece of the build's work (parsing
1,000 seeds in one process) is timed first, which shows when the machine itself was slow.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from disk import evict, wait_for_disk  # noqa: E402
from feeds_vs_lxml import compare  # noqa: E402

from publisher import pipeline  # noqa: E402
from publisher.config import load_settings  # noqa: E402
from publisher.store import articles as article_store  # noqa: E402
from publisher.store import open_database  # noqa: E402

TARGETS = {"cold_10000": 3.0, "nochange_10000": 0.5, "one_new_10000": 1.0, "render_ratio": 1.5,
           "peak_mb": 400.0,  # the largest single process of any build
           "cold_100000": 30.0, "nochange_100000": 0.5, "one_new_100000": 1.0,
           "peak_all_mb_100000": 500.0}  # every process of the cold build together
SAMPLE_SECONDS = 0.1
WORDS = ("workers strike union police border migrants capital state struggle wage party "
         "movement rights protest government crisis solidarity revolution democracy").split()
CATEGORIES = ["Latin America", "Labor", "Europe", "Politics", "Culture", "Ideas", "Feminism",
              "Africa", "Asia", "Ecology", "Palestine", "Education", "Health", "Housing", "Youth",
              "Immigration", "History", "Science", "Media", "Sports"]
AUTHORS = [f"{first} {last}" for first in ("Ana", "Ben", "Chloé", "Dario", "Eva", "Farid", "Gus",
                                            "Hana", "Ivo", "Júlia")
           for last in ("Ortiz", "Smith", "Nguyen", "Fors", "Flakin", "Wood", "Lee", "Kaya",
                        "Moreau", "Silva", "Brown", "Dahl", "Ibáñez", "Khan", "Novak", "Rossi",
                        "Tanaka", "Urbina", "Varga", "Weiss")]  # 200 authors


def sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def seed_text(i: int, rng: random.Random) -> str:
    day = date(2015, 1, 1) + timedelta(days=rng.randrange(4000))
    authors = rng.sample(AUTHORS, rng.choice((1, 1, 1, 2)))
    author_line = " and ".join(authors)
    body = []
    for p in range(9):
        if p in (3, 6):
            body.append(f"Section {p} of the story {i}")
        body.append(" ".join(sentence(rng, 18) for _ in range(4)))
    teasers = []
    for t in range(3):
        teasers += [f"Related story {i}-{t} about the {rng.choice(WORDS)}", sentence(rng, 20),
                    rng.choice(AUTHORS), (day - timedelta(days=t + 1)).strftime("%B %-d, %Y")]
    lines = ["Facebook Instagram Twitter YouTube", f"Synthetic article {i}: the {rng.choice(WORDS)} "
             f"and the {rng.choice(WORDS)}", sentence(rng, 30), author_line,
             day.strftime("%B %-d, %Y") + "\nFacebook Twitter Share", *body,
             "Facebook Twitter Share", authors[0], "Militant journalism, revolutionary politics.",
             rng.choice(CATEGORIES), *teasers]
    return "\n\n".join(lines) + "\n"


def make_project(root: Path, n: int) -> Path:
    """N seeds, all saved an hour ago, so a cold build takes every one at once: saved just
    now, the last of them could still be within `schedule.settle_seconds` when the first cold
    build starts (the copy keeps their times), and the build would wait for them to settle."""
    seeds = root / "seeds"
    seeds.mkdir(parents=True)
    rng = random.Random(n)
    saved = time.time() - 3600
    for i in range(n):
        path = seeds / f"{i:06d}.txt"
        path.write_text(seed_text(i, rng), encoding="utf-8")
        os.utime(path, (saved, saved))
    (root / "config.toml").write_text(
        '[site]\ntitle = "Left Voice"\nbase_url = "https://www.leftvoice.org"\n'
        'description = "Militant journalism, revolutionary politics."\n')
    return root


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_rss(root: int) -> int:
    """Bytes of memory of process `root` and all its descendants together: the sum of their
    proportional set sizes (/proc/PID/smaps_rollup Pss), so pages a forked worker shares with
    its parent count once, not once per process. Descendants are found through each thread's
    /proc/PID/task/TID/children (reading every process's stat to find them cost 1.6 ms of
    the 5.4 ms a sample took, every 100 ms, on the same two cores as the build)."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/smaps_rollup") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("Pss:")) * 1024
        except (OSError, ValueError, IndexError, StopIteration):
            pass
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    todo += [int(child) for child in fh.read().split()]
            except (OSError, ValueError):
                pass
    return total


def timed_build(root: Path) -> tuple[float, float, str, float]:
    """(wall seconds, CPU seconds of the build and its workers, its summary, peak MB of all its
    processes together)."""
    env = {**os.environ, "PUBLISHER_CONFIG": str(root / "config.toml")}
    cpu = children_cpu()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "publisher", "build-feeds"], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(SAMPLE_SECONDS)
    stdout, stderr = proc.communicate()
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"build-feeds failed ({proc.returncode}):\n{stderr[-3000:]}")
    return elapsed, children_cpu() - cpu, stdout.strip().replace("\n", " | "), peak / 2**20


def fresh_copy(seeded: Path, root: Path, earlier: Path | None = None,
               uncached: bool = False) -> Path:
    """A project with the same seeds and config and nothing built yet.

    Always a new folder, and nothing is deleted until the end of the run: on ext4 without a
    journal (this machine's disk), creating a file scans past every inode freed in the last
    30 s or so, which made a build right after deleting the previous one twice as slow.
    `earlier`: the previous run's project, whose files are dropped from the page cache first
    (`disk.evict`), so every build starts with the memory the first one had. `uncached`: the
    new seeds are dropped from the page cache too, so the cold build reads them from the disk,
    as the first build after a reboot does.
    """
    if earlier is not None:
        evict(earlier)
    root.mkdir(parents=True)
    shutil.copytree(seeded / "seeds", root / "seeds")
    shutil.copy2(seeded / "config.toml", root / "config.toml")
    os.sync()  # seeds land before a build, not during it: no writeback in the timing
    if uncached:
        evict(root / "seeds")
    return root


def machine_speed(seeded: Path, count: int = 1000) -> float:
    """CPU microseconds per seed to read and parse `count` seeds in this process, best of 3:
    a fixed piece of the build's own work, to tell a slow machine from a slow build (seen on
    this VM: 234 us in its fast periods, 467 in its slow ones, on the same seeds)."""
    settings = load_settings(seeded / "config.toml", environ={})
    seeds_dir = settings.seeds_dir
    jobs = [(str(path), seeds_dir, settings.site_record, settings.feeds.max_seed_bytes)
            for path in sorted(seeds_dir.iterdir())[:count]]
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for job in jobs:
            pipeline._parse_one(job)
        best = min(best, time.process_time() - start)
    return best / len(jobs) * 1e6


def measure(label: str, n: int, runs: list[tuple[float, float, str, float]]) -> float:
    """Print every run and return the median wall time."""
    for k, (wall, cpu, summary, peak) in enumerate(runs, 1):
        print(f"{n:>6} seeds  {label:<17} {wall:6.2f} s  (CPU {cpu:5.2f} s, all processes "
              f"{peak:4.0f} MB)  run {k}/{len(runs)}   {summary if k == 1 else ''}".rstrip(),
              flush=True)
    return statistics.median(wall for wall, _, _, _ in runs)


def render_ratio(root: Path) -> tuple[float, float, int]:
    settings = load_settings(root / "config.toml", environ={})
    engine = open_database(settings.database_path)
    site = settings.site_record
    with engine.begin() as conn:
        index = article_store.feed_index(conn)
        specs = pipeline.select_feeds(index, site, settings.feeds.max_entries)
        records = article_store.get_articles(conn, sorted({i for _, ids in specs for i in ids}),
                                             site.timezone)
    full = [spec.__class__(**{**spec.__dict__, "articles": tuple(records[i] for i in ids)})
            for spec, ids in specs]

    ours, base = compare(full, site, settings.feeds_url)
    return ours, base, len(full)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="seed counts to build, comma-separated (default 10000,100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (median)")
    parser.add_argument("--keep", metavar="DIR", help="build in a new folder in DIR and keep it")
    parser.add_argument("--uncached-seeds", action="store_true",
                        help="cold builds read the seeds from the disk, not the page cache")
    args = parser.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="publisher-bench-", dir=args.keep))
    results: dict[str, float] = {}
    first: Path | None = None
    earlier: Path | None = None  # the last run's project: out of the page cache before the next
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            seeded = make_project(base / f"seeds{n}", n)
            wait_for_disk(base / f"settle{n}", size=4000)
            print(f"{n:>6} seeds  machine speed now: {machine_speed(seeded):.0f} us of CPU to read "
                  f"and parse a seed (the same work in every run)", flush=True)
            cold_runs, nochange_runs, one_new_runs = [], [], []
            for k in range(args.repeat):
                root = fresh_copy(seeded, base / f"n{n}-{k + 1}", earlier, args.uncached_seeds)
                earlier = root
                cold_runs.append(timed_build(root))
                nochange_runs.append(timed_build(root))
                new = root / "seeds" / "new.txt"
                new.write_text(seed_text(n + 1, random.Random(0)))
                saved = time.time() - 60  # saved a minute ago: settled, taken at once
                os.utime(new, (saved, saved))
                one_new_runs.append(timed_build(root))
            results[f"cold_{n}"] = measure("cold build", n, cold_runs)
            results[f"nochange_{n}"] = measure("no-change rebuild", n, nochange_runs)
            results[f"one_new_{n}"] = measure("one new seed", n, one_new_runs)
            results[f"peak_all_mb_{n}"] = max(peak for *_, peak in cold_runs)
            first = first or root
        ours, lxml_time, count = render_ratio(first)
        results["render_ratio"] = ours / lxml_time
        print(f"render {count} Atom feeds (CPU, each feed's best of 7): publisher {ours:.3f} s, "
              f"plain lxml {lxml_time:.3f} s")
        results["peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak memory of a build: {results['peak_mb']:.0f} MB")
        print(f"\nmeasure (median of {args.repeat})  value   target  ratio to target")
        for key, target in TARGETS.items():
            if key in results:
                print(f"{key:<22} {results[key]:7.2f} {target:8.2f}  {results[key] / target:6.2f}"
                      f"  {'ok' if results[key] <= target else 'MISSED'}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
