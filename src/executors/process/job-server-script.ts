/**
 * The job server, run by `python3 -I -S -c`. It reads one JSON job per line on stdin, starts each with
 * posix_spawn (vfork: its cost does not grow with the parent's memory, unlike a fork of Node) in a
 * process group of its own, with stdout and stderr on pipes it drains (see below for where to), and
 * reports on fd 3, one JSON line per event: `{"ready":1}` once; `{"id","pid"}` when a job started;
 * `{"id","exit"}` or `{"id","signal"}` when it ended (the raw wait status, so an exit status of 137 and a
 * SIGKILL stay apart), with `out` and `err`, the bytes each stream had, `o` and `e`, what each stream
 * kept when that fits in INLINE_BYTES (as latin-1 text: one character per byte), and `spool` when a
 * file could not be written (errno name); `{"id","error","at"}` when it could not start (errno name; at
 * "cwd" or "exec").
 *
 * A stream keeps its first `max(keep, TAIL)` bytes and, after them, its last TAIL bytes: what a value
 * (stdout up to `keep`) and a failure report (the tail) need, and never more, however much the job
 * writes (a step logging without end must not fill the disk). They go to the file the job names only
 * past INLINE_BYTES: the file is made then. The pipes are read to their end when the leader has exited
 * (bounded: a grandchild still writing does not hold the job); what such a grandchild writes later is
 * read and dropped, so that it does not die of SIGPIPE.
 * Every signal is reset to its default and the mask cleared in the job, as Node's own spawn does.
 * When stdin closes (the orchestrator ended, or was killed) it stops what still runs: SIGTERM to each
 * job's group, SIGKILL after the grace period; then, as the reaper does (reaper.ts), it kills every
 * process that carries the owner's mark in its environment (one that left its job's group), and exits.
 */
import { STEP_OWNER_ENV } from "./reaper.js";

/**
 * What a stream keeps in the server's memory before it goes to its file: a job whose streams stay within
 * it (most do) has them sent in its end message, and no file is made, read or deleted for it.
 */
export const INLINE_BYTES = 64 * 1024;

/** In a server's own environment only (not its jobs'): the servers' sweeps spare each other. */
export const SERVER_MARK = "TRIBUTARY_JOB_SERVER";

// What it imports is on every run's critical path (a run's first steps wait for a server to start):
// json, selectors and signal pull in re, enum and collections, 10 ms of a 23 ms start here. So it uses
// the C modules under them instead: _json's scanner and string quoting, select.poll and _signal.
export const JOB_SERVER_SCRIPT = String.raw`
import errno, fcntl, os, select, sys, time
import _signal as signal
from _json import encode_basestring_ascii as quote, make_scanner
class JsonOptions:
    """What json.JSONDecoder gives the C scanner: plain JSON, nothing hooked."""
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = None
    memo = {}
scan = make_scanner(JsonOptions())
def loads(line):
    return scan(line, 0)[0]
def dumps(o):
    """A message: an object of strings and integers."""
    return "{" + ",".join(quote(k) + ":" + (quote(v) if type(v) is str else str(v)) for k, v in o.items()) + "}"
TAIL = 16384
INLINE = ${INLINE_BYTES}
CHUNK = 1 << 20
DRAIN = 4 << 20
class Capture:
    def __init__(self, path, keep):
        self.path = path
        self.fd = None
        self.head = max(keep, TAIL)
        self.size = 0
        self.early = bytearray()
        self.tail = bytearray()
        self.error = None
    def add(self, b):
        n = len(b)
        if self.size < self.head:
            self.write(b[:self.head - self.size])
        self.size += n
        past = self.size - self.head
        if past > 0:
            self.tail += b[max(0, n - past):][-TAIL:]
            if len(self.tail) > 4 * TAIL:
                del self.tail[:-TAIL]
    def write(self, b):
        if self.fd is None:
            if len(self.early) + len(b) <= INLINE:
                self.early += b
                return
            try:
                self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            except OSError as e:
                self.error = errno.errorcode.get(e.errno, "EIO")
                self.fd = -1
            early, self.early = bytes(self.early), bytearray()
            self.write_fd(early)
        self.write_fd(b)
    def write_fd(self, b):
        view = memoryview(b)
        while view and self.error is None:
            try:
                view = view[os.write(self.fd, view):]
            except OSError as e:
                self.error = errno.errorcode.get(e.errno, "EIO")
    def close(self):
        """The bytes kept, when they fit in the end message; None when they are in the file."""
        rest = bytes(self.tail[-TAIL:])
        if self.fd is None and len(self.early) + len(rest) <= INLINE:
            return bytes(self.early) + rest
        self.write(rest)
        if self.fd >= 0:
            os.close(self.fd)
        return None
def main():
    grace = float(sys.argv[1])
    os.set_inheritable(3, False)
    res = os.fdopen(3, "wb", buffering=0)
    def send(o):
        try:
            res.write((dumps(o) + "\n").encode())
        except OSError:
            pass
    base = os.environ.copy()
    base.pop("${SERVER_MARK}", None)
    defaults = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    poller = select.poll()
    watched = {}
    def watch(fd, data):
        watched[fd] = data
        poller.register(fd, select.POLLIN)
    def unwatch(fd):
        poller.unregister(fd)
        del watched[fd]
    watch(0, 0)
    watch(wake_r, 1)
    running = {}
    class Pipe:
        """One stream of a job, drained into its capture; after the job, into nothing."""
        def __init__(self, fd, cap):
            self.fd = fd
            self.cap = cap
            self.open = True
            os.set_blocking(fd, False)
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, CHUNK)
            except (AttributeError, OSError):
                pass
            watch(fd, self)
        def read(self):
            """Bytes read; 0 when nothing is there now; -1 at the end (then closed)."""
            try:
                b = os.read(self.fd, CHUNK)
            except BlockingIOError:
                return 0
            except OSError:
                b = b""
            if not b:
                unwatch(self.fd)
                os.close(self.fd)
                self.open = False
                return -1
            if self.cap is not None:
                self.cap.add(b)
            return len(b)
    def start(j):
        jid = j["id"]
        try:
            os.chdir(j["cwd"])
        except OSError as e:
            send({"id": jid, "error": errno.errorcode.get(e.errno, "EIO"), "at": "cwd"})
            return
        env = base
        if j.get("env"):
            env = dict(base)
            env.update(j["env"])
        caps = [Capture(j["out"], j["keep"]), Capture(j["err"], 0)]
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out_w, 1),
                   (os.POSIX_SPAWN_DUP2, err_w, 2)]
        try:
            pid = os.posix_spawn(j["file"], j["argv"], env, file_actions=actions, setpgroup=0,
                                 setsigdef=defaults, setsigmask=[])
        except OSError as e:
            for fd in (out_r, err_r):
                os.close(fd)
            send({"id": jid, "error": errno.errorcode.get(e.errno, "EIO"), "at": "exec"})
            return
        finally:
            os.close(out_w)
            os.close(err_w)
        running[pid] = (jid, caps, (Pipe(out_r, caps[0]), Pipe(err_r, caps[1])))
        send({"id": jid, "pid": pid})
    def finish(jid, caps, pipes, end):
        for p in pipes:
            left = DRAIN
            while p.open and left > 0:
                n = p.read()
                if n <= 0:
                    break
                left -= n
            p.cap = None
        end["id"] = jid
        for cap, name in zip(caps, ("o", "e")):
            kept = cap.close()
            if kept is not None:
                end[name] = kept.decode("latin-1")
        end["out"] = caps[0].size
        end["err"] = caps[1].size
        spool = caps[0].error or caps[1].error
        if spool:
            end["spool"] = spool
        send(end)
    def reap():
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = running.pop(pid, None)
            if job is None:
                continue
            if os.WIFSIGNALED(status):
                finish(*job, {"signal": os.WTERMSIG(status)})
            else:
                finish(*job, {"exit": os.waitstatus_to_exitcode(status)})
    buf = b""
    open_ = True
    deadline = None
    send({"ready": 1})
    while open_ or running:
        timeout = None if deadline is None else max(0, deadline - time.monotonic()) * 1000
        for fd, _ in poller.poll(timeout):
            # Gone since: a pipe this round already read to its end (a reused number finds a new pipe,
            # which reads nothing yet, harmlessly).
            data = watched.get(fd)
            if data is None:
                continue
            if data == 0:
                chunk = os.read(0, 65536)
                if not chunk:
                    open_ = False
                    unwatch(0)
                    for pid in list(running):
                        try: os.killpg(pid, signal.SIGTERM)
                        except OSError: pass
                    deadline = time.monotonic() + grace
                    continue
                buf += chunk
                while True:
                    nl = buf.find(b"\n")
                    if nl < 0:
                        break
                    line, buf = buf[:nl], buf[nl + 1:]
                    start(loads(line.decode()))
            elif data == 1:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
            else:
                data.read()
        reap()
        if deadline is not None and time.monotonic() >= deadline:
            for pid in list(running):
                try: os.killpg(pid, signal.SIGKILL)
                except OSError: pass
            deadline = time.monotonic() + 1
    sweep_owner()
def sweep_owner():
    # The owner is gone or done: what carries its mark and escaped its job's group goes too (reaper.ts).
    token = os.environ.get("${STEP_OWNER_ENV}")
    if not token or not os.path.exists("/proc/self/environ"):
        return
    mark = ("${STEP_OWNER_ENV}=" + token).encode()
    # The owner's other servers are spared: two servers sweeping at once would kill each other before
    # either reached the processes that matter. Each one sweeps on its own way out.
    server = b"${SERVER_MARK}=1"
    me = os.getpid()
    for round in range(2):
        if round:
            time.sleep(0.1)  # a process may have forked while the first sweep ran
        for e in os.listdir("/proc"):
            if not e.isdigit() or int(e) == me:
                continue
            try:
                with open("/proc/" + e + "/environ", "rb") as f:
                    env = f.read().split(b"\0")
                    if mark in env and server not in env:
                        os.kill(int(e), signal.SIGKILL)
            except OSError:
                pass
main()
`;
