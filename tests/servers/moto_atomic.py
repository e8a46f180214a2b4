"""moto's S3 server with each request handled under one lock.

moto checks If-Match / If-None-Match and then writes, without a lock, in a
threaded server: two racing conditional PUTs can both succeed. Real S3 makes
the check and the write atomic. Serialising requests (Python's GIL already
serialises most of the work) gives moto S3's semantics, so the race tests
test our code, not moto's.

usage: python moto_atomic.py HOST PORT
"""
import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

app = DomainDispatcherApplication(create_backend_app)
lock = threading.Lock()


def serialised(environ, start_response):
    with lock:
        # Produce the whole response inside the lock.
        return list(app(environ, start_response))


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)
