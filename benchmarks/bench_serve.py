"""Serving benchmark: HTTP load on loopback (wrk) + event-to-visible latency + offline ranker on/off.

1. offline: the bundled sample; each user's last purchase held out; sources fitted on the rest; the
   LightGBM LambdaMART ranker trained on half of the users, NDCG@10 of the candidate ranking measured on
   the other half with the ranker on (LightGBM) vs off (rule-based).
2. a 100k-item catalog: the sample's 4,379 items replicated with new ids ("<id>-r<k>", title + " v<k>")
   and its 20,326 purchases replicated per copy with new user ids; every model fitted on it with the
   MiniLM text encoder (queries through its ONNX path; `--encoder hashing` for quick smoke runs only:
   no language model, so /search costs less than a shop would see), the ranker from (1).
3. the app served on 127.0.0.1 (`--workers` processes); wrk at concurrency 16 on /recommend (known
   and unknown users) and /search (queries built from catalog titles); p50/p99/QPS/errors.
4. event-to-visible: POST a click for a fresh shopper, then GET /recommend until an item explained by
   that click appears; the time from the POST to that response.

    .venv/bin/python benchmarks/bench_serve.py [--items 100000] [--duration 20] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
RESULTS = REPO / "benchmarks" / "results" / "serve.md"


def settings_for(data_dir: Path, **extra):
    # ingest chunk_size 5000: the store's in-chunk duplicate-id check is quadratic in the chunk size, and the
    # default 50k-row chunk takes many minutes on a 100k-item file (reported to the store's owner)
    from shopsense.settings import load_settings

    return load_settings(data_dir=str(data_dir), pseudonym_key="bench-key-0123456789abcdef",
                         text={"encoder": os.environ.get("BENCH_ENCODER", "minilm")}, ingest={"progress": False, "chunk_size": 5000}, **extra)


def ingest(settings, items_csv: Path, events_csv: Path) -> None:
    from shopsense.cli.ingest import cmd_ingest

    cmd_ingest(argparse.Namespace(items=[str(items_csv)], events=[str(events_csv)], format=None), settings)


def replicate(out: Path, n_items: int) -> tuple[Path, Path]:
    items = list(csv.DictReader(open(SAMPLE / "items.csv")))
    events = list(csv.DictReader(open(SAMPLE / "events.csv")))
    copies = -(-n_items // len(items))
    ip, ep = out / "items.csv", out / "events.csv"
    with open(ip, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(items[0]))
        w.writeheader()
        n = 0
        for k in range(copies):
            for it in items:
                if n == n_items:
                    break
                w.writerow({**it, "item_id": f"{it['item_id']}-r{k}", "title": f"{it['title']} v{k}"})
                n += 1
    kept = n_items - (copies - 1) * len(items)
    last_ids = {it["item_id"] for it in items[:kept]}
    with open(ep, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(events[0]))
        w.writeheader()
        for k in range(copies):
            for e in events:
                if k == copies - 1 and e["item_id"] not in last_ids:
                    continue
                w.writerow({**e, "user_id": f"{e['user_id']}-r{k}", "item_id": f"{e['item_id']}-r{k}"})
    return ip, ep


def offline(work: Path) -> tuple[dict, object]:
    from shopsense.rank.train import train_ranker
    from shopsense.store import open_store

    s = settings_for(work / "sample")
    ingest(s, SAMPLE / "items.csv", SAMPLE / "events.csv")
    st = open_store(s.resolved_store_url())
    ds = st.load_dataset()
    st.close()
    ranker, rep = train_ranker(s, ds)
    return rep, ranker


def parse_ms(tok: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)", tok)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v if u == "ms" else v * 1000 if u == "s" else v * 60_000


def connection_split(port: int) -> list[int]:
    """How many established connections each server process holds on `port` now (from `ss`), most
    first; [] when `ss` is missing."""
    try:
        out = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    pids = re.findall(r"pid=(\d+)", out)
    return sorted(Counter(pids).values(), reverse=True)


def wrk(url: str, paths: list[str], duration: int, conc: int, work: Path, name: str, rate: float | None = None,
        resp_ms: float = 2.0) -> dict:
    """wrk on random paths. `rate=None`: closed loop (each connection sends as soon as it has its answer:
    saturation throughput). `rate=R`: each connection waits a random (exponential) think time before each
    request, with a mean chosen so the offered load is about R requests/s in all — the load a shop at R
    QPS puts on the server; wrk's latency clock starts when a request is sent, so think time is not in it.
    `resp_ms`: the expected response time (an unloaded request), taken off the think time."""
    lua = work / f"{name}.lua"
    body = ",\n".join(json.dumps(p) for p in paths)
    pacing = ""
    if rate:
        mean_ms = max(0.0, conc * 1000.0 / rate - resp_ms)
        pacing = f"delay = function() return -math.log(1 - math.random()) * {mean_ms:.3f} end\n"
    lua.write_text(f"local paths = {{\n{body}\n}}\nmath.randomseed(7)\n"
                   "request = function() return wrk.format('GET', paths[math.random(#paths)]) end\n" + pacing)
    cmd = ["wrk", "-t2", f"-c{conc}", f"-d{duration}s", "--latency", "--timeout", "5s", "-s", str(lua), url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(duration * 0.75)
    split = connection_split(int(url.rsplit(":", 1)[1]))
    try:
        out = proc.communicate(timeout=duration + 60)[0]
    except subprocess.TimeoutExpired:
        proc.kill()  # as subprocess.run(timeout=) did: no wrk left running into the next measurement
        raise
    res = {"raw": out, "connections_per_worker": split}
    for q in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M)
        if m:
            res[f"p{q}_ms"] = round(parse_ms(m.group(1)), 2)
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["qps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errs += sum(int(x) for x in m.groups())
    res["errors"] = errs
    return res


def event_to_visible(base: str, items: list[str], trials: int) -> dict:
    """POST a click for a fresh shopper, then poll. Two clocks: until the shopper's profile (served by
    whichever worker answers) holds the click, and until /recommend shows an item the click explains
    ("because" = the clicked item). A miss on the second is looked into: does the item have similar
    items at all?"""
    import httpx

    prof_ms, rec_ms, misses = [], [], []
    rnd = random.Random(0)  # the same clicked items in every run
    # no keep-alive: every call is a new connection, so with several workers the reads land on any of
    # them, not only on the one that took the POST
    with httpx.Client(base_url=base, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as c:
        for t in range(trials):
            user, item = f"e2v-{t}-{rnd.random()}", rnd.choice(items)
            t0 = time.perf_counter()
            c.post("/events", json={"events": [{"user_id": user, "item_id": item, "type": "click"}]}).raise_for_status()
            got_prof = got_rec = False
            for _ in range(50):
                if not got_prof and c.get(f"/users/{user}/profile").status_code == 200:
                    prof_ms.append((time.perf_counter() - t0) * 1000)
                    got_prof = True
                if not got_rec:
                    rec = c.get(f"/recommend/{user}", params={"n": 10}).json()["results"]
                    if any(r["breakdown"]["sources"].get("similar", {}).get("because") == item for r in rec):
                        rec_ms.append((time.perf_counter() - t0) * 1000)
                        got_rec = True
                if got_prof and got_rec:
                    break
            if not got_rec:
                sim = c.get(f"/items/{item}/similar", params={"n": 10}).json()["results"]
                misses.append("the item has no similar items" if not sim else
                              "similar items exist but none ranked in the top 10")
    return {"profile_ms": prof_ms, "recommend_ms": rec_ms, "misses": misses}


def cpu_per_request(data_dir: Path, n: int = 300) -> dict:
    """In-process, one request at a time: wall and CPU ms per engine call (robust to other jobs' load;
    1000 / cpu_ms is what one core could serve, HTTP overhead aside)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from shopsense.rank.build import current_folder, load_engine
    from shopsense.rank.profile import ProfileBook
    from shopsense.store import open_store

    threadpool_limits(1, user_api="blas")
    s = settings_for(data_dir)
    st = open_store(s.resolved_store_url())
    ds = st.load_dataset()
    st.close()
    eng = load_engine(s, current_folder(s.path("serving")))
    book = ProfileBook(s.rank.event_weights, s.rank.profile_recent)
    book.load_dataset(ds, eng.items.get)
    rng = random.Random(1)
    users = rng.sample(ds.user_vocab.ids, n)
    queries = [" ".join(re.findall(r"[A-Za-z]{3,}", it.title)[:2]) for it in rng.sample(ds.items, n)]
    calls = {"recommend": lambda i: eng.recommend(users[i], book.get(users[i]), 10),
             "search": lambda i: eng.search(queries[i] or "tape", None, 10)}
    out = {}
    for name, fn in calls.items():
        for i in range(20):
            fn(i)
        wall, cpu = [], []
        for i in range(n):
            t, c = time.perf_counter(), time.process_time()
            fn(i)
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        out[name] = {"wall_p50_ms": round(float(np.median(wall)), 2), "wall_p99_ms": round(float(np.percentile(wall, 99)), 2),
                     "cpu_mean_ms": round(float(np.mean(cpu)), 2)}
    out["ranker"] = eng.ranker.name
    out["loadavg"] = os.getloadavg()
    return out


def serve_main(data_dir: str, port: int, workers: int = 1, balance: bool = True) -> None:
    import uvicorn

    if workers > 1:  # what `shopsense serve` does with serve.workers > 1: settings through the environment
        os.environ.update({"SHOPSENSE_DATA_DIR": str(Path(data_dir).resolve()),
                           "SHOPSENSE_PSEUDONYM_KEY": "bench-key-0123456789abcdef",
                           "SHOPSENSE_TEXT__ENCODER": os.environ.get("BENCH_ENCODER", "minilm"), "SHOPSENSE_INGEST__PROGRESS": "false"})
        from shopsense.serve.workers import run_workers

        run_workers("shopsense.serve.app:create_app_from_env", "127.0.0.1", port, workers, balance=balance)
        return
    from shopsense.serve.app import create_app

    uvicorn.run(create_app(settings_for(Path(data_dir))), host="127.0.0.1", port=port, log_level="warning")


def machine() -> dict:
    cpu = "?"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except Exception:  # noqa: BLE001
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "loadavg": os.getloadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (serve.workers)")
    ap.add_argument("--no-balance", action="store_true",
                    help="serve.balance_connections = false: keep-alive connections stay where the kernel put them")
    ap.add_argument("--rate", type=float, default=210.0, help="offered load of the paced runs (requests/s)")
    ap.add_argument("--search-rates", default="",
                    help="extra paced /search runs at these offered rates, comma-separated (e.g. 100,150)")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--query-cache", type=int, default=0,
                    help="search.query_cache of the server (0: every query is encoded, the worst case)")
    ap.add_argument("--encoder", choices=["minilm", "hashing"], default=os.environ.get("BENCH_ENCODER", "minilm"),
                    help="text encoder of every model (hashing: smoke runs only, no language model)")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--skip-offline", action="store_true")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--cpu-only", help="re-measure in-process CPU per request on a kept work folder, rewrite the md")
    ap.add_argument("--keep", help="work folder to keep (default: a temp folder, removed)")
    ap.add_argument("--reuse", action="store_true", help="with --keep: reuse the 100k store + saved models from a "
                                                         "previous run there (serving code/config changes only)")
    a = ap.parse_args()
    os.environ["BENCH_ENCODER"] = a.encoder  # settings_for() here and in the server subprocess read it
    os.environ["SHOPSENSE_SEARCH__QUERY_CACHE"] = str(a.query_cache)
    if a.serve:
        serve_main(a.serve, a.port, a.workers, balance=not a.no_balance)
        return
    if a.cpu_only:
        rep_p = Path(a.cpu_only) / "report.json"
        report = json.loads(rep_p.read_text())
        report["inprocess"] = cpu_per_request(Path(a.cpu_only) / "big")
        rep_p.write_text(json.dumps(report, indent=1, default=str))
        write_md(report)
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    work = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_serve_"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"machine_start": machine(), "config": vars(a)}
    ranker = None
    if not a.skip_offline:
        t = time.perf_counter()
        report["offline"], ranker = offline(work)
        report["offline"]["wall_s"] = round(time.perf_counter() - t, 1)
        print("offline:", report["offline"], flush=True)

    from shopsense.store import open_store

    big = work / "big"
    s = settings_for(big, rank={"ranker": "lgbm" if ranker is not None else "rules"})
    if a.reuse and (work / "report.json").exists():
        prev = json.loads((work / "report.json").read_text())
        if prev["config"].get("encoder", "hashing") != a.encoder:
            sys.exit(f"{work} was built with the {prev['config'].get('encoder', 'hashing')} encoder: pass that "
                     "--encoder, or drop --reuse to rebuild")
        report["catalog"] = {**prev["catalog"], "reused_from": prev["machine_start"]["date"]}
        if "offline" not in report and "offline" in prev:
            report["offline"] = {**prev["offline"], "from_run": prev["machine_start"]["date"]}
        st = open_store(s.resolved_store_url())
        ds = st.load_dataset()
        st.close()
        if ranker is not None:  # the freshly trained ranker replaces the saved one
            from shopsense.rank.build import current_folder

            ranker.save(current_folder(s.path("serving")) / "ranker")
    else:
        ds = build_big(a, work, s, ranker, report)
    measure(a, work, big, ds, report)


def build_big(a, work: Path, s, ranker, report: dict):
    from shopsense.rank.build import build_engine, save_engine
    from shopsense.store import open_store

    big = work / "big"
    t = time.perf_counter()
    ip, ep = replicate(work, a.items)
    ingest(s, ip, ep)
    st = open_store(s.resolved_store_url())
    ds = st.load_dataset()
    st.close()
    report["catalog"] = {"items": ds.n_items, "users": ds.n_users, "events": len(ds.events),
                         "ingest_s": round(time.perf_counter() - t, 1)}
    t = time.perf_counter()
    eng = build_engine(s, ds, train_ranker=False)
    eng.learned = ranker
    save_engine(eng, s.path("serving"))
    report["catalog"].update(build_s=round(time.perf_counter() - t, 1), build=eng.info, ranker=eng.ranker.name)
    print("catalog:", report["catalog"], flush=True)
    return ds


def measure(a, work: Path, big: Path, ds, report: dict) -> None:
    base = f"http://127.0.0.1:{a.port}"
    srv = subprocess.Popen([sys.executable, __file__, "--serve", str(big), "--port", str(a.port),
                            "--workers", str(a.workers)] + (["--no-balance"] if a.no_balance else []))
    try:
        import httpx

        pids: set = set()
        for _ in range(1200):  # until every worker process answers (each loads the models itself)
            try:
                r = httpx.get(base + "/health", timeout=2)
                if r.status_code == 200:
                    pids.add(r.json().get("process"))
                    if len(pids) >= a.workers:
                        break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        rng = random.Random(0)
        # many distinct shoppers (4,000 known + 1,000 new), so per-user caches cannot carry the result
        users = rng.sample(ds.user_vocab.ids, min(4000, ds.n_users)) + [f"new-visitor-{i}" for i in range(1000)]
        rec_paths = [f"/recommend/{u}?n=10" for u in users]
        # 20,000 distinct two-word queries from catalog titles: a run sends fewer requests than that, so
        # most queries are new to the server (its query-vector cache is off unless --query-cache)
        queries: dict[str, None] = {}
        for it in rng.sample(ds.items, min(len(ds.items), 60_000)):
            w = [x for x in re.findall(r"[A-Za-z]{3,}", it.title)][:6]
            if len(w) >= 2:
                queries[" ".join(rng.sample(w, 2))] = None
            if len(queries) >= 20_000:
                break
        search_paths = [f"/search?q={q.replace(' ', '+')}&n=10" for q in queries]
        rng.shuffle(search_paths)
        # warm-up without keep-alive, so the calls spread over every worker; the unloaded response time
        # of each endpoint is what the paced runs take off their think time
        unloaded: dict[str, list[float]] = {"recommend": [], "search": []}
        with httpx.Client(base_url=base, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            for key, paths in (("recommend", rec_paths[-50 * a.workers:]), ("search", search_paths[-50 * a.workers:])):
                for p in paths:
                    t = time.perf_counter()
                    c.get(p)
                    unloaded[key].append((time.perf_counter() - t) * 1000)
        resp = {k: float(sorted(v)[len(v) // 2]) for k, v in unloaded.items()}
        report["unloaded_ms"] = {k: round(v, 2) for k, v in resp.items()}
        report["load_before_wrk"] = os.getloadavg()
        for key, paths in (("recommend", rec_paths), ("search", search_paths)):
            report[key] = wrk(base, paths, a.duration, a.concurrency, work, key, rate=a.rate, resp_ms=resp[key])
            print(key, f"paced ~{a.rate} QPS:", {k: v for k, v in report[key].items() if k != "raw"}, flush=True)
            report[key + "_closed"] = wrk(base, paths, a.duration, a.concurrency, work, key)
            print(key, "closed loop:", {k: v for k, v in report[key + "_closed"].items() if k != "raw"}, flush=True)
        report["search_more"] = []
        for rate in [float(x) for x in a.search_rates.split(",") if x.strip()]:
            res = wrk(base, search_paths, a.duration, a.concurrency, work, "search", rate=rate, resp_ms=resp["search"])
            res["rate"] = rate
            report["search_more"].append(res)
            print("search", f"paced ~{rate} QPS:", {k: v for k, v in res.items() if k != "raw"}, flush=True)
        e2v = event_to_visible(base, rng.sample(ds.item_vocab.ids, 200), a.trials)
        report["event_to_visible_ms"] = sorted(round(x, 1) for x in e2v["recommend_ms"])
        report["event_to_visible_found"] = f"{len(e2v['recommend_ms'])}/{a.trials}"
        report["event_to_profile_ms"] = sorted(round(x, 1) for x in e2v["profile_ms"])
        report["event_to_visible_misses"] = e2v["misses"]
        m = httpx.get(base + "/metrics").json()
        report["server_metrics"] = m["routes"]
        report["query_batching_one_worker"] = m.get("query_batching")
    finally:
        srv.terminate()
        srv.wait(20)
    report["inprocess"] = cpu_per_request(big)
    report["machine_end"] = machine()
    (work / "report.json").write_text(json.dumps(report, indent=1, default=str))
    write_md(report)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


def _split(res: dict) -> str:
    """"9/7": the connections each server process held three quarters into a wrk run."""
    return "/".join(map(str, res.get("connections_per_worker") or [])) or "?"


def write_md(r: dict) -> None:
    import numpy as np

    rec, srch = r["recommend"], r["search"]
    e2v = r["event_to_visible_ms"]
    ok_rec = rec.get("p99_ms", 1e9) < 30 and rec["qps"] >= 200 and rec["errors"] == 0
    ok_s = srch.get("p99_ms", 1e9) < 50 and srch["errors"] == 0
    m0, m1 = r["machine_start"], r["machine_end"]
    lines = [
        "# Serving benchmark (issue 5)", "",
        f"Run {m0['date']} on {m0['cpu']}, {m0['cores']} cores, Python {m0['python']}; "
        f"load average at start {tuple(round(x, 1) for x in m0['loadavg'])}, before wrk "
        f"{tuple(round(x, 1) for x in r['load_before_wrk'])}, at end {tuple(round(x, 1) for x in m1['loadavg'])} "
        "(the benchmark's own processes included; nothing else ran).", "",
        f"Catalog: {r['catalog']['items']:,} items (sample replicated with new ids), {r['catalog']['users']:,} users, "
        f"{r['catalog']['events']:,} events; ingest {r['catalog']['ingest_s']} s, build {r['catalog']['build_s']} s "
        f"({r['config'].get('encoder', 'hashing')} text encoder{'; store and models from the run of ' + r['catalog']['reused_from'] + ', reused' if r['catalog'].get('reused_from') else ''}), "
        f"ranker `{r['catalog']['ranker']}`. {r['config'].get('workers', 1)} uvicorn worker process(es) "
        f"(connection balancing {'off' if r['config'].get('no_balance') else 'on'}), wrk -t2 "
        f"-c{r['config']['concurrency']} -d{r['config']['duration']}s on 127.0.0.1, random paths over 4,000 known and "
        f"1,000 new shoppers / 20,000 distinct two-word title queries (server query-vector cache "
        f"{r['config'].get('query_cache', 'on') or 'off: every query encoded'}). Unloaded response "
        f"{r.get('unloaded_ms')} ms. Paced: every connection waits an exponential think time "
        "before each request (offered load about the rate given); closed loop: no think time (saturation).", "",
        "| endpoint | load | p50 ms | p90 ms | p99 ms | QPS | requests | errors | connections per worker | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| /recommend/{{user}} | paced, ~{r['config'].get('rate')} offered | {rec.get('p50_ms')} | {rec.get('p90_ms')} | "
        f"{rec.get('p99_ms')} | {rec['qps']:.0f} | {rec['requests']} | {rec['errors']} | {_split(rec)} | p99 < 30 ms at >= 200 QPS, 0 errors | "
        f"{'yes' if ok_rec else 'no'} |",
        f"| /search | paced, ~{r['config'].get('rate')} offered | {srch.get('p50_ms')} | {srch.get('p90_ms')} | "
        f"{srch.get('p99_ms')} | {srch['qps']:.0f} | {srch['requests']} | {srch['errors']} | {_split(srch)} | p99 < 50 ms, 0 errors | "
        f"{'yes' if ok_s else 'no'} |",
    ]
    for v in r.get("search_more", []):
        lines.append(f"| /search | paced, ~{v['rate']:g} offered | {v.get('p50_ms')} | {v.get('p90_ms')} | {v.get('p99_ms')} | "
                     f"{v['qps']:.0f} | {v['requests']} | {v['errors']} | {_split(v)} | p99 < 50 ms, 0 errors | "
                     f"{'yes' if v.get('p99_ms', 1e9) < 50 and v['errors'] == 0 else 'no'} |")
    for key, label in (("recommend_closed", "/recommend/{user}"), ("search_closed", "/search")):
        v = r.get(key)
        if v:
            lines.append(f"| {label} | closed loop (saturation) | {v.get('p50_ms')} | {v.get('p90_ms')} | {v.get('p99_ms')} | "
                         f"{v['qps']:.0f} | {v['requests']} | {v['errors']} | {_split(v)} | (capacity) | |")
    lines += [
        "",
        f"Event-to-visible (POST /events, then GET /recommend shows an item explained by that event): "
        f"found {r['event_to_visible_found']}; p50 {np.median(e2v):.1f} ms, max {max(e2v):.1f} ms (target < 1 s)."
        if e2v else "Event-to-visible: not measured.", "",
    ]
    prof = r.get("event_to_profile_ms")
    if prof:
        from collections import Counter

        why = Counter(r.get("event_to_visible_misses", []))
        lines += [f"Event in the shopper's profile (GET /users/{{id}}/profile, whichever worker answers): {len(prof)}/"
                  f"{r['config']['trials']}; p50 {np.median(prof):.1f} ms, max {max(prof):.1f} ms. Recommendation misses: "
                  + (", ".join(f"{n}x {w}" for w, n in why.items()) or "none") + ".", ""]
    ip = r.get("inprocess")
    if ip:
        lines += ["## In-process cost per request (one at a time, same engine, no HTTP)", "",
                  "| call | wall p50 ms | wall p99 ms | CPU ms (mean) | one-core capacity (1000 / CPU ms) |",
                  "|---|---|---|---|---|"]
        for k in ("recommend", "search"):
            v = ip[k]
            lines.append(f"| {k} | {v['wall_p50_ms']} | {v['wall_p99_ms']} | {v['cpu_mean_ms']} | "
                         f"{1000 / max(v['cpu_mean_ms'], 1e-6):.0f} req/s |")
        lines += ["", f"Load average during this step: {tuple(round(x, 1) for x in ip['loadavg'])}. Ranker `{ip['ranker']}`.", ""]
    off = r.get("offline")
    if off:
        lines += ["## Offline: ranker on vs off (bundled sample, per-user last purchase held out)", "",
                  "| ranker | NDCG@10 |", "|---|---|",
                  f"| off (rule-based) | {off.get('ndcg10_rules')} |", f"| on (LightGBM LambdaMART) | {off.get('ndcg10_lgbm')} |", "",
                  f"{off.get('train_queries')} training queries (users whose held-out item was among the candidates), "
                  f"{off.get('eval_queries')} evaluation users; candidate recall {off.get('eval_recall')} "
                  "(the ceiling of both). Wall time "
                  f"{off.get('wall_s')} s" + (f" (from the run of {off['from_run']})." if off.get("from_run") else "."), ""]
    c = r["config"]["concurrency"]
    lines += ["## Reading the figures", "",
              f"In the closed-loop rows {c} connections each wait for their answer and send again at once, so mean "
              f"latency = {c} / QPS (Little's law); they show capacity, not the latency a shop at a given traffic "
              "sees. The paced rows offer a fixed load and are the ones the targets are read from.", ""]
    lines += ["Server-side latency histograms (/metrics) are in the JSON report the script prints; "
              "re-run: `.venv/bin/python benchmarks/bench_serve.py`.", ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # hand-written notes (from the first "## Notes" heading on) survive a re-run; the raw report of the
    # run the tables show goes beside them
    old = RESULTS.read_text() if RESULTS.exists() else ""
    notes = old[old.index("\n## Notes"):] if "\n## Notes" in old else ""
    RESULTS.write_text("\n".join(lines) + notes)
    (RESULTS.parent / "serve_report.json").write_text(json.dumps(r, indent=1, default=str))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
