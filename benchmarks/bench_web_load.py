"""Web app under load: 30 simulated reviewers working their blinded queues at once, on loopback.

For SQLite and for PostgreSQL (when a server is reachable), in one run:

1. a study is set up: a synthetic cohort (640x480 photographs) ingested through the pipeline,
   30 reviewer accounts, three reviewers assigned to every image;
2. the app runs as `dermset serve` would (uvicorn, one process, a separate process from the
   load generator so the two do not share a GIL);
3. 30 reviewers sign in (timed separately: argon2 is slow on purpose), then, for a bounded
   time, each over its own connection opens the queue, opens the next image, loads the image,
   looks at it (think time, 2 s on average: a fast reader; real reviewers take 10-60 s), and
   saves a review (save-and-next); every page's latency is recorded;
4. afterwards the registry must hold exactly one review per successful save, none lost and
   none doubled; then 20 identical saves are raced in pairs (a double click, two tabs): each
   pair must give one saved review and one refusal.

Reports p50/p95/p99 per page and overall, throughput and errors; targets: p95 < 150 ms on
SQLite and < 100 ms on PostgreSQL, zero errors, zero lost or doubled reviews.
Run: `python benchmarks/bench_web_load.py [--seconds 30] [--reviewers 30] [--think 2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import func, select

from _common import PG_URL, save
from dermset.ingest.mapping_files import load_mapping
from dermset.ingest.pipeline import ingest_paths
from dermset.protocol import SOP, Protocol, Threshold
from dermset.registry.project import Project
from dermset.registry.tables import Image, Review
from dermset.registry.user_tables import WebUser
from dermset.synthetic import generate_cohort
from dermset.verification import assign_reviewers
from dermset.web.accounts import hash_password

PASSWORD = "bench-password-123"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TARGET_P95 = {"sqlite": 150.0, "postgresql": 100.0}
RACERS = ["racer-a", "racer-b", "racer-c"]


def protocol() -> Protocol:
    checks = dict(SOP().checks)
    checks["resolution_mp"] = Threshold(warn=0.2, fail=0.05)
    return Protocol(sop=SOP(checks=checks))


def set_up(
    root: Path, cohort: Path, url: str | None, reviewers: int, race_pairs: int
) -> tuple[Project, int]:
    project = Project.init(root, protocol(), database_url=url)
    ingest_paths(
        project,
        [cohort / "images"],
        metadata=cohort / "metadata.csv",
        mapping=load_mapping("isic"),
        workers=2,
        actor="bench",
    )
    names = [f"rev{i:02d}" for i in range(reviewers)]
    stored = hash_password(PASSWORD)  # one hash for all: setting up is not what is measured
    with project.db.session() as s:
        s.add_all(WebUser(name=n, role="reviewer", password_hash=stored) for n in [*names, *RACERS])
        active = list(
            s.execute(select(Image).where(Image.status == "active").order_by(Image.id)).scalars()
        )
        # the race has images of its own, so that the load cannot use them up first
        assign_reviewers(s, project, RACERS, actor="bench", images=active[-race_pairs:])
        assign_reviewers(s, project, names, actor="bench", images=active[:-race_pairs])
    return project, len(active) - race_pairs


def start_server(project: Project, url: str | None, port: int, workers: int) -> subprocess.Popen:
    env = dict(os.environ, DERMSET_PROJECT=str(project.root))
    if url:
        env["DERMSET_DATABASE_URL"] = url
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "dermset.web.app:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--timeout-keep-alive",
            "75",  # as `dermset serve`: browsers keep connections open between clicks
            "--workers",
            str(workers),
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the web app did not start")


class Stats:
    def __init__(self):
        self.ms: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self.saved: list[tuple[str, str]] = []

    async def timed(self, kind: str, coro):
        t0 = time.perf_counter()
        try:
            r = await coro
        except httpx.HTTPError as exc:
            self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        self.ms[kind].append((time.perf_counter() - t0) * 1000)
        return r


async def sign_in(client: httpx.AsyncClient, name: str, stats: Stats) -> str:
    page = await client.get("/login")
    nonce = CSRF.search(page.text).group(1)
    r = await stats.timed(
        "sign-in",
        client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": nonce}),
    )
    if r is None or r.status_code != 303:
        stats.errors.append(f"sign-in {name}: {getattr(r, 'status_code', None)}")
        return ""
    home = await client.get("/review")
    return CSRF.search(home.text).group(1)


class Start:
    """All reviewers sign in first; the measured window opens when the last one is in."""

    def __init__(self, n: int, seconds: float):
        self.waiting, self.seconds = n, seconds
        self.event = asyncio.Event()
        self.until = 0.0
        self.opened = 0.0

    async def signed_in(self) -> float:
        self.waiting -= 1
        if self.waiting == 0:
            self.opened = time.monotonic()
            self.until = self.opened + self.seconds
            self.event.set()
        await self.event.wait()
        return self.until


async def reviewer(base: str, name: str, start: Start, think: float, codes, stats: Stats):
    rng = random.Random(name)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        csrf = await sign_in(client, name, stats)
        until = await start.signed_in()
        if not csrf:
            return
        await asyncio.sleep(rng.uniform(0, think))  # reviewers do not all click at once
        while time.monotonic() < until:
            r = await stats.timed("queue", client.get("/review"))
            if r is None or r.status_code != 200:
                stats.errors.append(f"queue {name}: {getattr(r, 'status_code', None)}")
                return
            r = await stats.timed("next", client.get("/review/next"))
            if r is None:
                return
            target = r.headers.get("location", "")
            if target == "/review":
                return  # queue done
            r = await stats.timed("item", client.get(target))
            if r is None or r.status_code != 200:
                stats.errors.append(f"item {name}: {getattr(r, 'status_code', None)}")
                return
            image_id = target.rsplit("/", 1)[1]
            r = await stats.timed("image", client.get(f"/images/{image_id}"))
            if r is None or r.status_code != 200:
                stats.errors.append(f"image {name}: {getattr(r, 'status_code', None)}")
                return
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
            data = {
                "csrf_token": csrf,
                "diagnosis": rng.choice(codes),
                "confidence": str(rng.randint(1, 5)),
                "structure": ["pigment_network"] if rng.random() < 0.5 else [],
            }
            r = await stats.timed("save", client.post(target, data=data))
            if r is None or r.status_code != 303:
                stats.errors.append(f"save {name} {image_id}: {getattr(r, 'status_code', None)}")
                return
            stats.saved.append((image_id, name))


async def sequential(base: str, project: Project, codes, cycles: int = 15) -> dict:
    """The same pages for one reviewer alone (no think time): what the app costs unloaded."""
    stats = Stats()
    name = RACERS[1]
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        csrf = await sign_in(client, name, stats)
        for _ in range(cycles):
            await stats.timed("queue", client.get("/review"))
            r = await stats.timed("next", client.get("/review/next"))
            target = r.headers.get("location", "/review") if r is not None else "/review"
            if target == "/review":
                break
            await stats.timed("item", client.get(target))
            await stats.timed("image", client.get(f"/images/{target.rsplit('/', 1)[1]}"))
            await stats.timed(
                "save",
                client.post(
                    target, data={"csrf_token": csrf, "diagnosis": codes[0], "confidence": "3"}
                ),
            )
    out = summarise(stats, 1.0)
    out["all_pages"].pop("requests_per_s")
    out.pop("sign-in", None)
    return out


async def race(base: str, project: Project, pairs: int) -> dict[str, int]:
    """Two identical saves at once for *pairs* open (image, reviewer) assignments."""
    from dermset.verification.gate import open_assignments

    with project.db.read() as s:
        todo = [
            (img, RACERS[0]) for img, names in open_assignments(s).items() if RACERS[0] in names
        ][:pairs]
    outcome = {"pairs": len(todo), "one_saved_one_refused": 0, "reviews_after": 0}
    for image_id, name in todo:
        async with (
            httpx.AsyncClient(base_url=base, timeout=30) as a,
            httpx.AsyncClient(base_url=base, timeout=30) as b,
        ):
            stats = Stats()
            csrf_a = await sign_in(a, name, stats)
            csrf_b = await sign_in(b, name, stats)
            url = f"/review/{image_id}"
            ra, rb = await asyncio.gather(
                a.post(url, data={"csrf_token": csrf_a, "diagnosis": "NV", "confidence": "3"}),
                b.post(url, data={"csrf_token": csrf_b, "diagnosis": "NV", "confidence": "3"}),
            )
            if sorted([ra.status_code, rb.status_code]) == [303, 409]:
                outcome["one_saved_one_refused"] += 1
        with project.db.read() as s:
            outcome["reviews_after"] += int(
                s.execute(
                    select(func.count())
                    .select_from(Review)
                    .join(Image, Image.id == Review.image_id)
                    .where(Image.image_id == image_id, Review.reviewer == name)
                ).scalar()
                or 0
            )
    return outcome


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, 100 * q)) if values else float("nan")


def summarise(stats: Stats, seconds: float) -> dict:
    pages = [k for k in stats.ms if k != "sign-in"]
    every = [v for k in pages for v in stats.ms[k]]
    out = {
        k: {
            "n": len(v),
            "p50_ms": round(pct(v, 0.5), 1),
            "p95_ms": round(pct(v, 0.95), 1),
            "p99_ms": round(pct(v, 0.99), 1),
        }
        for k, v in sorted(stats.ms.items())
    }
    out["all_pages"] = {
        "n": len(every),
        "p50_ms": round(pct(every, 0.5), 1),
        "p95_ms": round(pct(every, 0.95), 1),
        "p99_ms": round(pct(every, 0.99), 1),
        "mean_ms": round(statistics.fmean(every), 1) if every else None,
        "requests_per_s": round(len(every) / seconds, 1),
    }
    return out


def run_backend(kind: str, url: str | None, cohort: Path, args, workers: int = 1) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"dermset-webload-{kind}-")) / "study"
    t0 = time.perf_counter()
    project, n_images = set_up(root, cohort, url, args.reviewers, args.race_pairs)
    setup_s = time.perf_counter() - t0
    codes = [c.code for c in project.protocol.categories]
    port = 18000 + random.randint(0, 999)
    server = start_server(project, url, port, workers)
    base = f"http://127.0.0.1:{port}"
    stats = Stats()
    try:
        baseline = asyncio.run(sequential(base, project, codes))
        load_before = os.getloadavg()[0]
        start = Start(args.reviewers, args.seconds)

        async def main():
            await asyncio.gather(
                *(
                    reviewer(base, f"rev{i:02d}", start, args.think, codes, stats)
                    for i in range(args.reviewers)
                )
            )

        asyncio.run(main())
        elapsed = time.monotonic() - start.opened
        load_after = os.getloadavg()[0]
        with project.db.read() as s:
            in_registry = set(
                s.execute(
                    select(Image.image_id, Review.reviewer)
                    .join(Image, Image.id == Review.image_id)
                    .where(Review.reviewer.not_in(RACERS))  # the load's reviewers only
                ).all()
            )
        saved = set(stats.saved)
        racing = asyncio.run(race(base, project, args.race_pairs))
    finally:
        server.terminate()
        server.wait(timeout=30)
        project.close()
    p95 = summarise(stats, elapsed)["all_pages"]["p95_ms"]
    result = {
        "backend": kind,
        "server_workers": workers,
        "images": n_images,
        "reviewers": args.reviewers,
        "seconds": round(elapsed, 1),
        "think_s_mean": args.think,
        "setup_s": round(setup_s, 1),
        "latency": summarise(stats, elapsed),
        "one_reviewer_alone": baseline,
        "p95_over_alone_p50": round(
            summarise(stats, elapsed)["all_pages"]["p95_ms"] / baseline["all_pages"]["p50_ms"], 1
        ),
        "machine_load_average": {
            "before": round(load_before, 2),
            "after": round(load_after, 2),
            "cores": os.cpu_count(),
        },
        "errors": len(stats.errors),
        "first_errors": stats.errors[:5],
        "reviews_saved": len(stats.saved),
        "lost_reviews": len(saved - in_registry),
        "doubled_reviews": len(stats.saved) - len(saved),
        "unexpected_reviews": len(in_registry - saved),
        "race": racing,
        "target_p95_ms": TARGET_P95[kind],
    }
    result["meets_targets"] = (
        p95 < TARGET_P95[kind]
        and not stats.errors
        and result["lost_reviews"] == 0
        and result["doubled_reviews"] == 0
        and result["unexpected_reviews"] == 0
        and racing["pairs"] == args.race_pairs
        and racing["one_saved_one_refused"] == racing["pairs"]
        and racing["reviews_after"] == racing["pairs"]
    )
    return result


def postgres_database() -> str | None:
    """A fresh database on the PostgreSQL server of the tests, or None when there is none."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        name = f"dermset_webload_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    except Exception as exc:
        print(f"PostgreSQL not measured: {type(exc).__name__}: {exc}")
        return None


def drop(url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--reviewers", type=int, default=30)
    ap.add_argument(
        "--think", type=float, default=2.0, help="mean seconds a reviewer looks at an image"
    )
    ap.add_argument("--images", type=int, default=200, help="records in the synthetic cohort")
    ap.add_argument("--race-pairs", type=int, default=20)
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    ap.add_argument(
        "--pg-workers",
        type=lambda t: [int(x) for x in t.split(",")],
        default=[1, 2],
        help="server processes for the PostgreSQL runs (one run each), e.g. 1,2",
    )
    args = ap.parse_args()
    cohort = Path(tempfile.mkdtemp(prefix="dermset-webload-cohort-")) / "cohort"
    generate_cohort(cohort, size=args.images, seed=11, image_size=(640, 480), workers=2)
    results = []
    if args.only in (None, "sqlite"):
        results.append(run_backend("sqlite", None, cohort, args))
    if args.only in (None, "postgresql"):
        for workers in args.pg_workers:
            url = postgres_database()
            if not url:
                break
            try:
                results.append(run_backend("postgresql", url, cohort, args, workers))
            finally:
                drop(url)
    save("web_load", {"runs": results})
    for r in results:
        lat = r["latency"]["all_pages"]
        print(
            f"{r['backend']:>10} x{r['server_workers']}: p50 {lat['p50_ms']} ms, "
            f"p95 {lat['p95_ms']} ms "
            f"(target < {r['target_p95_ms']:.0f}), p99 {lat['p99_ms']} ms, "
            f"{lat['requests_per_s']} req/s, {r['errors']} errors, "
            f"{r['reviews_saved']} reviews saved, lost {r['lost_reviews']}, "
            f"doubled {r['doubled_reviews']}; race {r['race']['one_saved_one_refused']}/"
            f"{r['race']['pairs']} -> {'OK' if r['meets_targets'] else 'MISSED'}"
        )
    return 0 if results and all(r["meets_targets"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
