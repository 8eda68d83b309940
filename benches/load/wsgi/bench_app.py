"""The WSGI application gunicorn serves in the load benchmark: what moss's
demo apps serve, written the way a gunicorn user would write it.

* ``/`` (any other path too): ``Hello, World!`` as ``text/plain``;
* ``/sleep?ms=N``: ``time.sleep(N / 1000)`` (cooperative under the gevent
  worker, which monkey-patches the standard library);
* with the environment variable ``UPSTREAM=HOST:PORT``, every request is
  forwarded there (path and query kept) with ``http.client``, a new
  connection each.
"""

import http.client
import os
import time
from urllib.parse import parse_qs

UPSTREAM = os.environ.get("UPSTREAM")
HELLO = b"Hello, World!"


def _reply(start_response, status, body):
    start_response(
        status,
        [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
    )
    return [body]


def application(environ, start_response):
    path = environ.get("PATH_INFO") or "/"
    query = environ.get("QUERY_STRING", "")
    if UPSTREAM:
        host, port = UPSTREAM.rsplit(":", 1)
        target = path + ("?" + query if query else "")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            conn.request(environ["REQUEST_METHOD"], target)
            answer = conn.getresponse()
            body = answer.read()
            status = "%d %s" % (answer.status, answer.reason)
        except Exception as error:  # noqa: BLE001 - reported to the client
            status, body = "502 Bad Gateway", ("upstream failed: %s\n" % error).encode()
        finally:
            conn.close()
        return _reply(start_response, status, body)
    if path == "/sleep":
        try:
            ms = int(parse_qs(query).get("ms", [""])[0])
        except ValueError:
            return _reply(start_response, "400 Bad Request", b"try /sleep?ms=N\n")
        time.sleep(ms / 1000.0)
        return _reply(start_response, "200 OK", b"slept %d ms\n" % ms)
    return _reply(start_response, "200 OK", HELLO)
