"""Shared harness of bench/: a durable PostgreSQL, an SMTP sink and the whole
line (alctl up), plus the readings every benchmark reports (wall time, row
writes from pg_stat_database, CPU seconds and peak RSS of every process).

Standard library only; PostgreSQL is driven with psql. Services are started
with the project's own scripts/lib/services.sh, so the bench runs on a fresh
machine exactly as the tests do.
"""

import atexit
import json
import os
import shlex
import platform
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Debian's /usr/bin/psql is a Perl wrapper: a poll through it costs tens of
# milliseconds of CPU that the line under test would otherwise have.
PSQL = next((p for p in ("/usr/lib/postgresql/15/bin/psql",) if os.access(p, os.X_OK)), "psql")
TRASH = []  # run directories to delete when the bench ends (see Line.start)
BIN = os.environ.get("AL_BIN_DIR", os.path.join(ROOT, "build", "bin"))
WORK = os.environ.get("AL_BENCH_DIR", "/tmp/al-bench")


def shared_buffers_mb():
    """A quarter of the machine's memory, at most 4 GB: the usual sizing of a
    server that runs PostgreSQL for one application."""
    with open("/proc/meminfo") as f:
        total_kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return min(4096, total_kb // 4 // 1024)


# Server settings of every bench's PostgreSQL besides durability (always on),
# as on a server sized for jobs of a million records (README, "PostgreSQL for
# large jobs"): checkpoints spaced (with max_wal_size 1GB a 1 000 000-record
# job checkpoints every few seconds and writes two thirds of its 33 GB of WAL
# as full-page images) and a buffer cache that holds the job's working set
# (with initdb's 128 MB a 1 000 000-record job took 502 s, with 4 GB 365 s).
# AL_BENCH_PG_CONF replaces them ("" for initdb's defaults).
PG_CONF = os.environ.get("AL_BENCH_PG_CONF", "max_wal_size = '16GB'\ncheckpoint_timeout = '30min'\n"
                         f"shared_buffers = '{shared_buffers_mb()}MB'")


# Huge pages for the bench's servers (AL_BENCH_HUGE_PAGES=0: none). A
# backend maps each 4 kB page of the shared buffers and WAL buffers it
# touches with a page fault of its own, and with the line's 13 backends those
# faults were an eighth of PostgreSQL's CPU samples in a 10 000-record run
# (perf, 2026-12-02). With 2 MB pages: 2.36 s against 3.04 s, PostgreSQL CPU
# 3.1 s against 4.2 s (three alternated pairs). It is the setting the
# PostgreSQL manual recommends for a server with large shared_buffers
# (README, "PostgreSQL for large jobs"); initdb's default, huge_pages = try,
# takes them when the kernel has them free, so the peers' server gets them
# too when bench/peer reserves enough for both.
HUGE_PAGES = os.environ.get("AL_BENCH_HUGE_PAGES", "1") != "0"
_huge_pages_before = []  # the kernel's count before the bench raised it


def meminfo():
    with open("/proc/meminfo") as f:
        return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in f)}


def server_huge_pages_mb(shared_buffers_mb):
    """Shared memory of a server with these shared_buffers, rounded up: PostgreSQL
    15 with max_connections 200 asks for 2 109 pages of 2 MB at 4 096 MB and 74
    at initdb's 128 MB (`postgres -C shared_memory_size_in_huge_pages`)."""
    return shared_buffers_mb * 21 // 20 + 192


def reserve_huge_pages(mb):
    """Makes at least `mb` of huge pages free, raising vm.nr_hugepages if it
    must, and gives the kernel back its old count when the bench ends.
    Returns the MB of huge pages free afterwards; 0 when off or not allowed."""
    if not HUGE_PAGES:
        return 0
    info = meminfo()
    size_kb = info.get("Hugepagesize", 0)
    if not size_kb:
        return 0
    free = info["HugePages_Free"] - info["HugePages_Rsvd"]
    need = -(-mb * 1024 // size_kb)
    if free < need:
        try:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(info["HugePages_Total"] + need - free))
        except OSError as e:
            print(f"bench: cannot reserve {mb} MB of huge pages ({e.strerror}); the servers run on 4 kB pages",
                  file=sys.stderr)
            return free * size_kb // 1024
        if not _huge_pages_before:
            _huge_pages_before.append(info["HugePages_Total"])
        info = meminfo()
        free = info["HugePages_Free"] - info["HugePages_Rsvd"]
        if free < need:
            print(f"bench: the kernel found only {free} of {need} huge pages", file=sys.stderr)
    return free * size_kb // 1024


def _release_huge_pages():
    if _huge_pages_before:
        try:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(_huge_pages_before[0]))
        except OSError:
            pass


atexit.register(_release_huge_pages)


def sh(script, capture=True):
    """Runs bash with scripts/lib/services.sh sourced."""
    full = f'source "{ROOT}/scripts/lib/services.sh"; set -euo pipefail; {script}'
    return subprocess.run(["bash", "-c", full], check=True, text=True,
                          stdout=subprocess.PIPE if capture else None).stdout


class Session:
    """One psql process kept open for polling. Each query is its own short
    transaction: polling neither forks a psql and a backend every few ms nor,
    as one long server-side loop would, holds back the xmin horizon (then
    nothing could be pruned or vacuumed for the whole run)."""

    END = "__al_bench_end__"

    def __init__(self, url):
        self.proc = subprocess.Popen([PSQL, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def query(self, sql):
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo " + self.END + "\n")
        self.proc.stdin.flush()
        lines = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == self.END:
                return "\n".join(lines)
            lines.append(line)
        raise SystemExit(f"bench: psql ended while running: {sql}")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


class Line:
    def __init__(self, name, env=None, smtp=False, pg_conf=""):
        self.pg_conf = "\n".join(c for c in (PG_CONF.replace("\\n", "\n"), pg_conf,
                                             "" if HUGE_PAGES else "huge_pages = off") if c)
        self.name = name
        self.dir = os.path.join(WORK, name)
        # The harness's own settings are not the line's: alctl would warn
        # about each AL_ variable that names no parameter.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AL_BENCH_") and k != "AL_BIN_DIR"}
        self.env.update(env or {})
        self.smtp = smtp
        self.proc = None

    def shared_buffers_mb(self):
        """shared_buffers of this line's server in MB (the last setting wins, as in PostgreSQL)."""
        mb = 128
        for line in self.pg_conf.splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "shared_buffers":
                value = value.strip().strip("'").upper()
                units = {"KB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024 * 1024}
                unit = next((u for u in units if value.endswith(u)), None)
                mb = int(float(value[:-2]) * units[unit]) if unit else int(value) * 8 // 1024
        return mb

    def uses_huge_pages(self):
        """Whether this line's postmaster has its shared memory on huge pages."""
        with open(f"{self.dir}/pg/postmaster.pid") as f:
            postmaster = int(f.readline())
        with open(f"/proc/{postmaster}/maps") as f:
            return any("anon_hugepage" in line for line in f)

    def psql(self, sql, db=None):
        out = subprocess.run([PSQL, "-X", "-qAt", "-v", "ON_ERROR_STOP=1", db or self.url, "-c", sql],
                             check=True, text=True, stdout=subprocess.PIPE)
        return out.stdout.strip()

    def start(self, with_line=True):
        """Starts PostgreSQL (and, unless with_line is False, the whole line)."""
        # Each run gets a directory of its own under WORK/runs, and WORK/<name>
        # points at the latest. The last run's directory is not deleted now
        # but when the bench ends (see spread_new_directories for why).
        runs = os.path.join(WORK, "runs")
        os.makedirs(runs, exist_ok=True)
        spread_new_directories(runs)
        self.dir = os.path.join(runs, f"{self.name}-{time.time_ns()}")
        os.makedirs(self.dir)
        latest = os.path.join(WORK, self.name)
        if os.path.islink(latest):
            TRASH.append(os.path.realpath(latest))
        elif os.path.exists(latest):  # a real directory, from an older bench
            aside = os.path.join(runs, f"{self.name}-old-{time.time_ns()}")
            os.rename(latest, aside)
            TRASH.append(aside)
        os.symlink(self.dir, latest + ".new")
        os.replace(latest + ".new", latest)
        for d in (WORK, runs, self.dir):
            os.chmod(d, 0o755)
        reserve_huge_pages(server_huge_pages_mb(self.shared_buffers_mb()))
        # Durable: fsync and synchronous_commit on (the library's default for "on").
        port = sh(f'AL_PG_EXTRA_CONF={shlex.quote(self.pg_conf)} al_pg_start "{self.dir}/pg" auto on >&2; '
                  'echo $AL_PG_PORT').strip()
        self.pg_port = port
        admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self.psql("CREATE DATABASE bench", db=admin)
        self.url = f"postgresql://postgres@127.0.0.1:{port}/bench"
        self.env.update({
            "AL_DATABASE_URL": self.url,
            "AL_BUS_ENDPOINT": "tcp://127.0.0.1:%d" % free_port(),
            "AL_STORAGE_ARCHIVE_DIR": f"{self.dir}/archive",
            "AL_STORAGE_OUTBOX_DIR": f"{self.dir}/outbox",
            "AL_STORAGE_SPOOL_DIR": f"{self.dir}/spool",
            "AL_LOG_LEVEL": self.env.get("AL_LOG_LEVEL", "warn"),
        })
        if self.smtp:
            smtp_port = sh(f'al_smtp_start "{self.dir}/mail" auto "{self.dir}/smtp.log" "{self.dir}/smtp.pid" detach >&2; '
                          'echo $AL_SMTP_PORT').strip()
            self.env["AL_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
        subprocess.run([f"{BIN}/alctl", "db", "migrate"], env=self.env, check=True, stdout=subprocess.DEVNULL)
        if os.environ.get("AL_BENCH_EXTRA_SQL"):  # an experiment's storage settings (README, bench/)
            self.psql(os.environ["AL_BENCH_EXTRA_SQL"])
        if not with_line:
            return self
        self.log = open(f"{self.dir}/line.log", "w")
        self.proc = subprocess.Popen([f"{BIN}/alctl", "up"], env=self.env, stdout=self.log, stderr=self.log,
                                     start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.psql("SELECT count(DISTINCT stage) FROM al.workers") == "7":
                return self
            time.sleep(0.2)
        raise SystemExit(f"bench: the line did not come up; see {self.dir}/line.log")

    def wait_for_job(self, job, status="999", timeout_s=7200, poll_s=0.01, session=None):
        """Polls every `poll_s` through one psql session (`session`, else a
        new one) until the job reaches `status`. The times reported come from
        the database's clock (job_timings), not from when a poll saw the job,
        so a long job can be polled less often: each poll costs the machine
        the line runs on a query and a psql round trip."""
        own = session is None
        session = session or Session(self.url)
        try:
            deadline = time.time() + timeout_s
            while session.query(f"SELECT jobstatus FROM al.jobs WHERE job_id = {job}") != str(status):
                if time.time() > deadline:
                    raise SystemExit(f"bench: job {job} not at {status} after {timeout_s} s; see {self.dir}/line.log")
                time.sleep(poll_s)
        finally:
            if own:
                session.close()

    def job_timings(self, job):
        """(insert -> first ack, insert -> 999) in seconds, from the database's own clock."""
        row = self.psql(
            "SELECT extract(epoch FROM (SELECT min(changed_at) FROM al.status_history h "
            f"  WHERE h.object = 'JOBS' AND h.id = j.job_id AND h.new_status = 131) - j.created_at), "
            "extract(epoch FROM (SELECT max(changed_at) FROM al.status_history h "
            f"  WHERE h.object = 'JOBS' AND h.id = j.job_id AND h.new_status = 999) - j.created_at) "
            f"FROM al.jobs j WHERE j.job_id = {job}")
        ack, done = row.split("|")
        return float(ack), float(done)

    def processes(self):
        """pid → program name of every process of the line."""
        out = subprocess.run(["pgrep", "-s", str(self.proc.pid), "-a"], text=True, stdout=subprocess.PIPE).stdout
        procs = {}
        for line in out.splitlines():
            pid, cmd = line.split(" ", 1)
            procs[int(pid)] = os.path.basename(cmd.split()[0])
        return procs

    def stop_line(self):
        """Stops the line's processes and leaves PostgreSQL running: backends
        report their statistics when they exit, so counts read after this are
        exact."""
        if self.proc:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc = None

    def table_writes(self):
        """Rows inserted, updated (and of those, HOT: no index touched) and deleted
        per table of schema al; exact after stop_line."""
        time.sleep(0.5)  # the last backends' exit reports
        rows = self.psql("SELECT json_object_agg(relname, json_build_array(n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd)) "
                         "FROM pg_stat_user_tables WHERE schemaname = 'al' AND n_tup_ins + n_tup_upd + n_tup_del > 0")
        return {name: dict(zip(("inserted", "updated", "deleted", "hot_updated"), v)) for name, v in json.loads(rows or "{}").items()}

    def wal(self):
        """WAL written so far: records, full-page images, bytes (pg_stat_wal)."""
        row = self.psql("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
        return dict(zip(("records", "full_page_images", "bytes"), (int(x) for x in row.split("|"))))

    def stop(self):
        self.stop_line()
        if self.smtp:
            sh(f'al_smtp_stop "{self.dir}/smtp.pid" || true', capture=False)
        sh(f'al_pg_stop "{self.dir}/pg" || true', capture=False)

    def postgres_cpu_s(self):
        """CPU seconds used so far by this run's PostgreSQL: the postmaster,
        its live children (backends, WAL writer, checkpointer) and the
        children it has reaped. The difference over a run is the database's
        share of the work, which wall time on a busy 2-core machine hides."""
        ticks = os.sysconf("SC_CLK_TCK")
        with open(f"{self.dir}/pg/postmaster.pid") as f:
            postmaster = int(f.readline())

        def stat(pid):
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()

        fields = stat(postmaster)
        total = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = stat(entry)
                if int(fields[1]) == postmaster:
                    total += sum(int(x) for x in fields[11:15])
            except (OSError, IndexError):
                pass
        return total / ticks


def spread_new_directories(parent):
    """Marks parent as a top of a directory tree (chattr +T) so ext4 puts
    each run directory made in it into a random block group, not next to
    the last run's. On an ext4 without a journal, as on the development VM,
    creating a file skips every inode of its group deleted in the last one
    to five minutes, one inode-table lookup each: a run that follows the
    deletion of another run's 20 000 files spent 5 s of archiver CPU on it
    (perf: recently_deleted under ext4_tmpfile). Other file systems ignore
    the flag or refuse it; either is fine."""
    subprocess.run(["chattr", "+T", parent], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _delete_trash():
    for path in TRASH:
        subprocess.run(["rm", "-rf", path], check=False)


atexit.register(_delete_trash)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def process_readings(pids):
    """CPU seconds and peak RSS (MB) per process, read from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    readings = {}
    for pid, name in pids.items():
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / ticks
            with open(f"/proc/{pid}/status") as f:
                hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
            readings[f"{name}[{pid}]"] = {"cpu_s": round(cpu, 2), "peak_rss_mb": round(hwm / 1024, 1)}
        except (OSError, StopIteration):
            pass
    return readings


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem, 1), "kernel": platform.release()}


def median_run(runs):
    """The run with the median wall time, whole (its figures belong together)."""
    return sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]


def write_result(kind, result):
    # The server settings the run had besides durability, for whoever compares.
    result.setdefault("postgres_conf", [l for l in PG_CONF.replace("\\n", "\n").splitlines() if l])
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = os.path.join(ROOT, "bench", "results", f"{kind}-{stamp}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    return path


def load_harness(name):
    """Imports one of the bench/ scripts (which have no .py suffix) as a module,
    so another harness can call its functions and measure exactly as it does."""
    import importlib.machinery
    import importlib.util
    path = os.path.join(ROOT, "bench", name)
    loader = importlib.machinery.SourceFileLoader(f"bench_{name}", path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def peak_rss_by_program(readings):
    """{"al-scheduler[123]": {...}} -> {"al-scheduler": peak MB}; a program that
    runs in several processes keeps its largest."""
    peaks = {}
    for key, r in readings.items():
        name = key.rsplit("[", 1)[0]
        peaks[name] = max(peaks.get(name, 0), r["peak_rss_mb"])
    return peaks


def load_average():
    """1-, 5- and 15-minute load averages, to tell a busy machine's figures apart."""
    return [round(x, 2) for x in os.getloadavg()]
