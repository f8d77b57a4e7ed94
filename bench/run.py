#!/usr/bin/env python3
"""Benchmark runner: PostgreSQL + gunicorn + wrk on loopback; writes bench/RESULTS.md.

For each scale it (re)creates and seeds the database when needed, starts gunicorn with production
settings (DEBUG off), logs in as the benchmark owner, checks every scenario answers 2xx, runs wrk
for a bounded time per scenario, counts the SQL queries of each scenario in-process, optionally
measures the peak RSS of a full CSV export, stops gunicorn and regenerates the Markdown table
from every stored result (bench/results/*.json). See bench/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
STATE = BENCH / ".state"
RESULTS_DIR = BENCH / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
PG = ["-h", "127.0.0.1", "-U", "postgres"]

SCALES = {
    # name: (customers, leads, deals)
    "10k": (10_000, 2_000, 1_000),
    "100k": (100_000, 20_000, 10_000),
    "1m": (1_000_000, 200_000, 100_000),
}
SCENARIOS = (
    "bare",
    "customers_list",
    "leads_search",
    "deals_by_stage",
    "customer_detail",
    "lead_create",
    "deal_move_stage",
    "deals_stats",
    "leads_stats",
)
LIST_SCENARIOS = ("customers_list", "leads_search", "deals_by_stage")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(cmd: list[str], env: dict | None = None, check: bool = True, **kwargs):
    return subprocess.run(cmd, env=env, check=check, text=True, capture_output=True, **kwargs)


def psql(sql: str, database: str = "postgres") -> str:
    return run(["psql", *PG, "-d", database, "-tAc", sql]).stdout.strip()


def index_statements() -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT))
    module = importlib.import_module("crmApp.migrations.0002_pg_search_indexes")
    return module.index_statements()


# --- database ----------------------------------------------------------------------------------


def database_name(args, scale: str) -> str:
    """One database per scale, so a 10k + 1M run reuses both seeds instead of reseeding."""
    return f"{args.database}_{scale}"


def prepare_database(args, scale: str, env: dict) -> dict:
    """Reuse the seeded database when it holds this scale, else recreate, migrate and seed."""
    STATE.mkdir(exist_ok=True)
    database = database_name(args, scale)
    info_file = STATE / f"{database}.json"
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'") == "1"
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    if exists and info.get("scale") == scale and not args.reseed:
        log(f"reusing database {database} seeded at {scale}")
        run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=ROOT)
        return info
    customers, leads, deals = SCALES[scale]
    log(f"creating {database} and seeding {customers} customers, {leads} leads, {deals} deals")
    psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{database}"')
    run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=ROOT)
    # Bulk loading is faster without the GIN indexes; build them once the rows are in.
    set_search_indexes(database, present=False)
    started = time.perf_counter()
    out = run(
        [
            PYTHON,
            "manage.py",
            "bench_seed",
            f"--customers={customers}",
            f"--leads={leads}",
            f"--deals={deals}",
            f"--info-file={info_file}",
        ],
        env=env,
        cwd=ROOT,
    ).stdout
    seeded = time.perf_counter() - started
    log(out.strip().splitlines()[-2])
    started = time.perf_counter()
    set_search_indexes(database, present=True)
    indexed = time.perf_counter() - started
    info = json.loads(info_file.read_text())
    info.update(scale=scale, seed_seconds=round(seeded, 1), index_seconds=round(indexed, 1))
    info_file.write_text(json.dumps(info, indent=2))
    log(f"seeded in {seeded:.0f}s, search indexes built in {indexed:.0f}s")
    return info


def set_search_indexes(database: str, *, present: bool) -> None:
    for name, statement in index_statements():
        psql(statement if present else f"DROP INDEX IF EXISTS {name}", database)
    if present:
        psql("ANALYZE customers; ANALYZE leads; ANALYZE deals;", database)


# --- server ------------------------------------------------------------------------------------


def bench_server_env(*, port: int, workers: int, **overrides: str) -> dict[str, str]:
    """The environment every benchmark's gunicorn runs with: production settings (DEBUG off),
    the bare comparison view installed, rate limits out of the way, no access log."""
    return {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789abcdef",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "false",
        "BENCH_ENDPOINTS": "true",  # installs crmBench: the bare view the ratios divide by
        "THROTTLE_USER_RATE": "100000000/min",
        "THROTTLE_ANON_RATE": "100000000/min",
        "DATABASE_CONN_MAX_AGE": "60",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_TIMEOUT": "600",
        "GUNICORN_ACCESS_LOG": "/dev/null",
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CELERY_BROKER_URL": "",
        **overrides,
    }


class Server:
    def __init__(self, env: dict, port: int):
        self.env, self.port = env, port
        self.process: subprocess.Popen | None = None
        self.log_path = STATE / "gunicorn.log"

    def __enter__(self) -> Server:
        log(f"starting gunicorn on 127.0.0.1:{self.port} ({self.env['WEB_CONCURRENCY']} workers)")
        self.process = subprocess.Popen(
            [GUNICORN, "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/api/health/", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise RuntimeError(f"gunicorn did not become healthy; see {self.log_path}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        log("gunicorn stopped")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_pids(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid:
                pids.append(int(entry.name))
        return pids


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def http(method: str, url: str, token: str | None = None, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def login(server: Server, info: dict) -> str:
    status, body = http(
        "POST",
        f"{server.base}/api/auth/login/",
        body={"email": info["email"], "password": info["password"]},
    )
    if status != 200:
        raise RuntimeError(f"login failed: {status} {body[:300]!r}")
    return json.loads(body)["tokens"]["access"]


# --- scenarios ---------------------------------------------------------------------------------


CUSTOMER_DETAIL_LUA = """
request = function()
  return wrk.format("GET", "/api/customers/" .. math.random(LO, HI) .. "/")
end
"""
LEAD_CREATE_LUA = """
request = function()
  counter = counter + 1
  local tag = tid .. "-" .. counter .. "-" .. math.random(1, 1000000000)
  local body = '{"organization": ORG, "name": "Bench Lead ' .. tag .. '", "email": "lead'
    .. tag .. '@bench.example.com", "source": "event"}'
  return wrk.format("POST", "/api/leads/", nil, body)
end
"""
MOVE_STAGE_LUA = """
request = function()
  local body = '{"stage_id": ' .. stages[math.random(1, #stages)] .. '}'
  return wrk.format("POST", "/api/deals/" .. math.random(LO, HI) .. "/move_stage/", nil, body)
end
"""


def scenario_scripts(info: dict, token: str) -> dict[str, dict]:
    """Per scenario: a sample request (method, path, body) and the wrk Lua script."""
    org = info["organization"]
    c_lo, c_hi = info["customer_ids"]
    d_lo, d_hi = info["open_deal_ids"]
    stages = info["stages"]
    stage = stages[2]
    search = info["search"]
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"\n'
    auth += 'wrk.headers["Content-Type"] = "application/json"\n'
    seed = (
        "local counter, started = 0, 0\n"
        "function setup(thread) started = started + 1; thread:set('tid', started) end\n"
        "function init(args) math.randomseed(os.time() * 100 + tid) end\n"
    )

    def get(path: str) -> dict:
        return {"sample": ("GET", path, None), "lua": auth + f'wrk.path = "{path}"\n'}

    lua_stages = "{" + ", ".join(str(s) for s in stages[:4]) + "}"
    return {
        "bare": get(f"/api/bench/customers/?organization={org}&page_size=50"),
        "customers_list": get("/api/customers/?page_size=50"),
        "leads_search": get(f"/api/leads/?search={search}&page_size=50"),
        "deals_by_stage": get(f"/api/deals/?stage={stage}&page_size=50"),
        "customer_detail": {
            "sample": ("GET", f"/api/customers/{c_lo}/", None),
            "lua": auth
            + seed
            + CUSTOMER_DETAIL_LUA.replace("LO", str(c_lo)).replace("HI", str(c_hi)),
        },
        "lead_create": {
            "sample": (
                "POST",
                "/api/leads/",
                {"organization": org, "name": "Sample Lead", "email": "sample@bench.example.com"},
            ),
            "lua": auth + seed + LEAD_CREATE_LUA.replace("ORG", str(org)),
        },
        "deal_move_stage": {
            "sample": ("POST", f"/api/deals/{d_lo}/move_stage/", {"stage_id": stages[1]}),
            "lua": auth
            + seed
            + f"local stages = {lua_stages}\n"
            + MOVE_STAGE_LUA.replace("LO", str(d_lo)).replace("HI", str(d_hi)),
        },
        "deals_stats": get("/api/deals/stats/"),
        "leads_stats": get("/api/leads/stats/"),
    }


UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(match.group(1)) * UNIT[match.group(2)]


def parse_wrk(output: str) -> dict:
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.M)
        result[f"p{pct}"] = parse_duration(match.group(1)) if match else None
    result["requests"] = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    result["errors"] = int(non2xx.group(1)) if non2xx else 0
    socket = re.search(r"Socket errors: (.*)", output)
    result["socket_errors"] = socket.group(1).strip() if socket else ""
    return result


def run_wrk(args, server: Server, name: str, script: str) -> dict:
    path = STATE / f"{name}.lua"
    path.write_text(script)
    base = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        "--timeout",
        "10s",
        "-s",
        str(path),
    ]
    if args.warmup > 0:
        run([*base, f"-d{args.warmup}s", server.base], check=False)
    out = run([*base, "--latency", f"-d{args.duration}s", server.base]).stdout
    (STATE / f"{name}.wrk.txt").write_text(out)
    return parse_wrk(out)


def query_counts(env: dict, info: dict, token: str, samples: dict) -> dict:
    payload = {name: scenario["sample"] for name, scenario in samples.items()}
    out = run(
        [PYTHON, str(BENCH / "querycount.py")],
        env={**env, "BENCH_TOKEN": token, "BENCH_SAMPLES": json.dumps(payload)},
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def export_rss(server: Server, token: str) -> dict:
    """Stream the full customers export once, sampling the gunicorn workers' RSS meanwhile."""
    workers = server.worker_pids()
    baseline = {pid: rss_kib(pid) for pid in workers}
    peak = dict(baseline)
    done = threading.Event()
    received = {"bytes": 0, "status": None}

    def download() -> None:
        request = urllib.request.Request(f"{server.base}/api/customers/export_csv/")
        request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                received["status"] = response.status
                while chunk := response.read(1 << 16):
                    received["bytes"] += len(chunk)
        except urllib.error.HTTPError as error:
            received["status"] = error.code
        finally:
            done.set()

    started = time.perf_counter()
    thread = threading.Thread(target=download)
    thread.start()
    while not done.is_set():
        for pid in workers:
            peak[pid] = max(peak[pid], rss_kib(pid))
        time.sleep(0.05)
    thread.join()
    seconds = time.perf_counter() - started
    pid = max(workers, key=lambda p: peak[p] - baseline[p])
    return {
        "status": received["status"],
        "bytes": received["bytes"],
        "seconds": round(seconds, 1),
        "baseline_rss_mib": round(baseline[pid] / 1024, 1),
        "peak_rss_mib": round(peak[pid] / 1024, 1),
    }


# --- report ------------------------------------------------------------------------------------


def fmt_ms(value) -> str:
    return "–" if value is None else (f"{value:.1f}" if value >= 10 else f"{value:.2f}")


def write_results(path: Path) -> None:
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS_DIR.glob("*.json"))]
    runs.sort(key=lambda r: (r.get("order", 99), list(SCALES).index(r["scale"]), r["finished"]))
    lines = [
        "# Benchmark results",
        "",
        "Generated by `bench/run.py` (`make bench`); how to read and reproduce them: "
        "[README](README.md). req/s and latency from wrk on loopback; *ratio* = scenario req/s "
        "÷ the bare `.values()` + `JsonResponse` view's req/s in the same run (the better of "
        "its two runs, first and last of the scale, where a run has both); *queries* = SQL "
        "queries of one request (warm), counted in-process on the same database.",
        "",
    ]
    summary = BENCH / "SUMMARY.md"  # hand-written notes on the measured changes, kept on rewrite
    if summary.exists():
        lines += [summary.read_text().rstrip(), ""]
    for result in runs:
        machine = result["machine"]
        lines += [
            f"## {result['label']} — {result['scale']} "
            f"({result['rows']['customers']:,} customers, {result['rows']['leads']:,} leads, "
            f"{result['rows']['deals']:,} deals in the benchmark organization)",
            "",
            f"{result['finished']}; {machine}; gunicorn {result['workers']} sync workers; "
            f"wrk -t{result['threads']} -c{result['connections']} -d{result['duration']}s "
            f"(after a {result['warmup']}s warm-up); {result['settings']}.",
            "",
            "| scenario | req/s | p50 ms | p90 ms | p99 ms | ratio to bare | non-2xx | queries "
            "| load before |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        bare = max(
            result["scenarios"].get(name, {}).get("rps") or 0 for name in ("bare", "bare_again")
        )
        for name in [*SCENARIOS, "bare_again"]:
            row = result["scenarios"].get(name)
            if row is None:
                continue
            ratio = f"{row['rps'] / bare:.2f}" if bare else "–"
            queries = result.get("queries", {}).get(name, {})
            count = queries.get("warm", "–")
            lines.append(
                f"| {name} | {row['rps']:.0f} | {fmt_ms(row['p50'])} | {fmt_ms(row['p90'])} | "
                f"{fmt_ms(row['p99'])} | {ratio} | {row['errors']} | {count} | "
                f"{row.get('load', '–')} |"
            )
        pages = result.get("queries", {}).get("_page_sizes")
        if pages:
            lines += [
                "",
                "Queries of `GET /api/customers/` by page size (warm / first request of a "
                "process, which also pays the count): "
                + ", ".join(f"page_size={k}: {v['warm']} / {v['cold']}" for k, v in pages.items())
                + ".",
            ]
        export = result.get("export")
        if export:
            lines += [
                "",
                f"Full export `GET /api/customers/export_csv/`: HTTP {export['status']}, "
                f"{export['bytes'] / 1e6:.0f} MB in {export['seconds']}s; gunicorn worker RSS "
                f"{export['baseline_rss_mib']} MiB before, peak {export['peak_rss_mib']} MiB "
                "during the stream.",
            ]
        lines.append("")
    path.write_text("\n".join(lines))
    log(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


# --- main --------------------------------------------------------------------------------------


def machine() -> str:
    cpus = os.cpu_count()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = psql("SHOW server_version")
    return f"{cpus} CPUs ({model}), PostgreSQL {version}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="10k,1m", help=f"comma list of {', '.join(SCALES)}")
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database", default="crm_bench", help="prefix; one database per scale")
    parser.add_argument("--reseed", action="store_true", help="recreate the database")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--label", default="current", help="names this run in RESULTS.md")
    parser.add_argument("--order", type=int, default=50, help="position of the label")
    parser.add_argument("--export", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--conn-max-age", type=int, default=60, help="0 = new connection each")
    parser.add_argument("--exact-count", action="store_true", help="COUNT(*) on every page")
    parser.add_argument("--without-indexes", action="store_true", help="drop 0002's indexes")
    parser.add_argument("--results", default=str(BENCH / "RESULTS.md"))
    parser.add_argument("--seed-only", action="store_true", help="prepare the databases, stop")
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379/14",
        help="CELERY_BROKER_URL of the served app, as in production; '' runs tasks in the "
        "request's process after the commit (the zero-setup mode), which adds the outbox "
        "dispatch's queries to every write",
    )
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (make bench installs it: apt-get install -y wrk)")
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    RESULTS_DIR.mkdir(exist_ok=True)
    STATE.mkdir(exist_ok=True)
    server_env = bench_server_env(
        port=args.port,
        workers=args.workers,
        DATABASE_CONN_MAX_AGE=str(args.conn_max_age),
        PAGINATION_EXACT_COUNT_LIMIT="0" if args.exact_count else "10000",
        CELERY_BROKER_URL=args.broker,
    )
    settings_note = (
        f"CONN_MAX_AGE={args.conn_max_age}, "
        + ("exact COUNT(*) per page" if args.exact_count else "capped/cached count")
        + (", without 0002 indexes" if args.without_indexes else ", with 0002 indexes")
        + (f", tasks published to {args.broker}" if args.broker else ", tasks run in-process")
    )
    for scale in [s.strip() for s in args.scales.split(",") if s.strip()]:
        scale_started = time.perf_counter()
        database = database_name(args, scale)
        url = f"postgres://postgres@127.0.0.1:5432/{database}"
        server_env["DATABASE_URL"] = url
        # BENCH_ENDPOINTS installs crmBench, the app that has the bench_seed command.
        seed_env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true", "BENCH_ENDPOINTS": "true"}
        info = prepare_database(args, scale, seed_env)
        if args.seed_only:
            continue
        set_search_indexes(database, present=not args.without_indexes)
        # A checkpoint still flushing the seed's half a gigabyte made commits wait on the disk
        # (lead creates stalled for a second, both workers at once); measure from a clean one.
        psql("CHECKPOINT", database)
        result = {
            "label": args.label,
            "order": args.order,
            "scale": scale,
            "rows": dict(zip(("customers", "leads", "deals"), SCALES[scale], strict=True)),
            "machine": machine(),
            "workers": args.workers,
            "threads": args.threads,
            "connections": args.connections,
            "duration": args.duration,
            "warmup": args.warmup,
            "settings": settings_note,
            "scenarios": {},
        }
        with Server(server_env, args.port) as server:
            token = login(server, info)
            scripts = scenario_scripts(info, token)
            for name in scenarios:
                method, path, body = scripts[name]["sample"]
                status, content = http(method, server.base + path, token, body)
                if status >= 300:
                    raise RuntimeError(f"{name}: {method} {path} -> {status} {content[:300]!r}")
            for name in scenarios:
                log(f"{scale} {name}: wrk {args.duration}s")
                load = os.getloadavg()[0]
                result["scenarios"][name] = run_wrk(args, server, name, scripts[name]["lua"])
                row = result["scenarios"][name]
                row["load"] = round(load, 2)
                log(
                    f"  {row['rps']:.0f} req/s p50 {fmt_ms(row['p50'])} ms "
                    f"p99 {fmt_ms(row['p99'])} ms non-2xx {row['errors']}"
                )
            if "bare" in scenarios and len(scenarios) > 1:
                # Again at the end: the first run of a fresh server can be slow (caches, CPU
                # frequency); ratios divide by the better of the two.
                log(f"{scale} bare_again: wrk {args.duration}s")
                row = result["scenarios"]["bare_again"] = run_wrk(
                    args, server, "bare_again", scripts["bare"]["lua"]
                )
                log(f"  {row['rps']:.0f} req/s p50 {fmt_ms(row['p50'])} ms")
            log("counting queries")
            result["queries"] = query_counts(
                {**server_env, "DATABASE_CONN_MAX_AGE": "0"}, info, token, scripts
            )
            if args.export == "yes" or (args.export == "auto" and scale == "1m"):
                log("measuring the full export's RSS")
                result["export"] = export_rss(server, token)
                log(f"  {result['export']}")
        result["finished"] = time.strftime("%Y-%m-%d %H:%M")
        result["seconds"] = round(time.perf_counter() - scale_started)
        slug = re.sub(r"[^a-z0-9]+", "-", args.label.lower()).strip("-")[:60]
        out = RESULTS_DIR / f"{slug}-{scale}.json"
        out.write_text(json.dumps(result, indent=2))
        log(f"{scale} done in {result['seconds']}s")
        write_results(Path(args.results))
        if args.without_indexes:
            set_search_indexes(database, present=True)
        purge_broker(args.broker)


def purge_broker(url: str) -> None:
    """Drop the task messages the scenarios queued: no worker runs during a benchmark, and the
    broker database is the benchmark's own."""
    if not url.startswith("redis://"):
        return
    import redis

    try:
        redis.Redis.from_url(url).flushdb()
    except redis.RedisError as exc:
        log(f"could not purge the broker {url}: {exc}")


if __name__ == "__main__":
    main()
