/**
 * The job server, run by `python3 -I -S -c`. It reads one JSON job per line on stdin, starts each with
 * posix_spawn (vfork: its cost does not grow with the parent's memory, unlike a fork of Node) in a
 * process group of its own, with stdout and stderr to the files the job names, and reports on fd 3, one
 * JSON line per event: `{"ready":1}` once; `{"id","pid"}` when a job started; `{"id","exit"}` or
 * `{"id","signal"}` when it ended (the raw wait status, so an exit status of 137 and a SIGKILL stay
 * apart); `{"id","error","at"}` when it could not start (errno name; at "cwd" or "exec").
 * Every signal is reset to its default and the mask cleared in the job, as Node's own spawn does.
 * When stdin closes (the orchestrator ended, or was killed) it stops what still runs: SIGTERM to each
 * job's group, SIGKILL after the grace period, then exits.
 */
export const JOB_SERVER_SCRIPT = String.raw`
import errno, json, os, selectors, signal, sys, time
def main():
    grace = float(sys.argv[1])
    os.set_inheritable(3, False)
    res = os.fdopen(3, "wb", buffering=0)
    def send(o):
        try:
            res.write((json.dumps(o) + "\n").encode())
        except OSError:
            pass
    base = os.environ.copy()
    defaults = [s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP)]
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda s, f: None)
    sel = selectors.DefaultSelector()
    sel.register(0, selectors.EVENT_READ, 0)
    sel.register(wake_r, selectors.EVENT_READ, 1)
    running = {}
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
        actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, j["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                   (os.POSIX_SPAWN_OPEN, 2, j["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)]
        try:
            pid = os.posix_spawn(j["file"], j["argv"], env, file_actions=actions, setpgroup=0,
                                 setsigdef=defaults, setsigmask=[])
        except OSError as e:
            send({"id": jid, "error": errno.errorcode.get(e.errno, "EIO"), "at": "exec"})
            return
        running[pid] = jid
        send({"id": jid, "pid": pid})
    def reap():
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            jid = running.pop(pid, None)
            if jid is None:
                continue
            if os.WIFSIGNALED(status):
                send({"id": jid, "signal": os.WTERMSIG(status)})
            else:
                send({"id": jid, "exit": os.waitstatus_to_exitcode(status)})
    buf = b""
    open_ = True
    deadline = None
    send({"ready": 1})
    while open_ or running:
        timeout = None if deadline is None else max(0, deadline - time.monotonic())
        for key, _ in sel.select(timeout):
            if key.data == 0:
                chunk = os.read(0, 65536)
                if not chunk:
                    open_ = False
                    sel.unregister(0)
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
                    start(json.loads(line))
            else:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
        reap()
        if deadline is not None and time.monotonic() >= deadline:
            for pid in list(running):
                try: os.killpg(pid, signal.SIGKILL)
                except OSError: pass
            deadline = time.monotonic() + 1
main()
`;
