"""Memory of a report download as the app's download route does it:
`requests.get(url).content` (chunks in a list, then joined).

    .venv/bin/python measure/requests_download.py 75     # MB

Serves MB megabytes from a loopback socket in this process and prints the
RSS high-water mark above the start (reset through /proc/self/clear_refs).
Measured 2026-11-30: 75 MB -> 2.01x, 20 MB -> 2.02x. Linux only.
"""
import os, sys, socket, threading, gc
def rss():
    d = {}
    for l in open('/proc/self/status'):
        k, v = l.split(':', 1)
        if v.strip().endswith('kB'): d[k] = int(v.split()[0]) / 1024
    return d['VmRSS'], d['VmHWM']
mb = int(sys.argv[1])
payload = b'x' * (mb << 20)
def serve(srv):
    while True:
        c, _ = srv.accept()
        f = c.makefile('rb')
        while f.readline() not in (b'\r\n', b''): pass
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(payload))
        v = memoryview(payload)
        for i in range(0, len(v), 1 << 16): c.sendall(v[i:i + (1 << 16)])
        c.close()
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(4)
threading.Thread(target=serve, args=(srv,), daemon=True).start()
import requests
url = f'http://127.0.0.1:{srv.getsockname()[1]}/r.pdf'
requests.get(url, timeout=30).content  # warm up
gc.collect()
open('/proc/self/clear_refs', 'w').write('5')
r0, _ = rss()
out = []
def go():
    out.append(requests.get(url, timeout=30).content)
t = threading.Thread(target=go); t.start(); t.join()
r1, h1 = rss()
del out[:]
r2, _ = rss()
print(f"{mb} MB requests .content: rss before {r0:.1f}, HWM +{h1-r0:.1f} ({(h1-r0)/mb:.2f}x), holding the body {r1-r0:+.1f}, after dropping it {r2-r0:+.1f}")
