# TCP ping-pong on loopback, server thread on core 0 and client on core 1: back to back, then
# with 20 ms between messages (how sparse the demo's requests are). On a VM the second is
# dominated by waking the sleeping server thread. `python3 tools/latency/wakeup_pingpong.py`
import socket, threading, time, statistics, os
def server(l):
    c,_ = l.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(64)
        if not d: return
        c.sendall(d)
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
t = threading.Thread(target=lambda: (os.sched_setaffinity(0, {0}), server(l)), daemon=True); t.start()
os.sched_setaffinity(0, {1})
s = socket.create_connection(l.getsockname()); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for gap in [0, 0.02]:
    xs = []
    for i in range(200 if gap else 2000):
        if gap: time.sleep(gap)
        t0 = time.perf_counter_ns(); s.sendall(b"x"); s.recv(64); xs.append((time.perf_counter_ns() - t0) / 1000)
    xs.sort(); print(f"gap {gap*1000:.0f} ms: p50 {xs[len(xs)//2]:.1f} us p90 {xs[int(len(xs)*.9)]:.1f}")
