"""Memory of a report upload as the app does it: the Cloudinary SDK's
`cloudinary.uploader.upload(bytes, resource_type="raw")` (urllib3 multipart).

    .venv/bin/python measure/sdk_upload.py 75 thread     # MB, main|thread
    PREFIX=http://127.0.0.1:PORT .venv/bin/python measure/sdk_upload.py 75 thread

Uploads to a loopback sink in this process, or to a running mock-cloudinary
given as PREFIX, and prints the RSS high-water mark above the start.
Measured 2026-11-30: 75 MB -> 1.04x (sink), 1.01x (mock-cloudinary).
"""
import os, sys, socket, threading, json, gc, ctypes
def rss():
    d = {}
    for l in open('/proc/self/status'):
        k, v = l.split(':', 1)
        d[k] = int(v.split()[0]) / 1024 if v.strip().endswith('kB') else v
    return d['VmRSS'], d['VmHWM']
def sink(srv):
    while True:
        c, _ = srv.accept()
        f = c.makefile('rb')
        n = 0
        while True:
            l = f.readline()
            if l.lower().startswith(b'content-length'): n = int(l.split(b':')[1])
            if l in (b'\r\n', b''): break
        while n > 0:
            b = f.read(min(n, 1 << 20)); n -= len(b)
        body = json.dumps({"secure_url": "http://x/y", "public_id": "y"}).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        c.close()
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen(4)
threading.Thread(target=sink, args=(srv,), daemon=True).start()
port = srv.getsockname()[1]
os.environ['CLOUDINARY_URL'] = 'cloudinary://oomlab-key:oomlab-secret@oomlab'
import cloudinary, cloudinary.uploader
cloudinary.config(upload_prefix=os.environ.get('PREFIX') or f'http://127.0.0.1:{port}')
mb = int(sys.argv[1])
data = os.urandom(mb << 20)
where = sys.argv[2] if len(sys.argv) > 2 else 'main'
def go():
    global r
    r = cloudinary.uploader.upload(data, resource_type='raw', public_id='reports/x.pdf', filename='x.pdf')
gc.collect()
open('/proc/self/clear_refs', 'w').write('5')
r0, h0 = rss()
if where == 'thread':
    t = threading.Thread(target=go); t.start(); t.join()
else:
    go()
r1, h1 = rss()
print(f"{mb} MB upload ({where}): rss before {r0:.1f}, HWM during {h1:.1f} (+{h1-r0:.1f} = {(h1-r0)/mb:.2f}x), after {r1:.1f}")
print(r.get('secure_url') if isinstance(r, dict) else r)
