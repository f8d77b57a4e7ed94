"""A real HTTP receiver for webhook tests: http.server in a thread on a free 127.0.0.1 port."""

import contextlib
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.readme import readme_snippet


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers each POST with the next step of `script` (a status code, or ("sleep", seconds,
    status), or ("redirect", location)); 200 once the script is used up."""

    def __init__(self, script=()):
        self.script = list(script)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    step = receiver.script.pop(0) if receiver.script else 200
                headers = {}
                if isinstance(step, tuple) and step[0] == "sleep":
                    time.sleep(step[1])
                    step = step[2]
                elif isinstance(step, tuple) and step[0] == "redirect":
                    headers["Location"] = step[1]
                    step = 302
                try:
                    self.send_response(step)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def receiver(script=()):
    with Receiver(script) as running:
        yield running


def verify_signature_from_readme():
    namespace: dict = {}
    exec(compile(readme_snippet("webhook-verify"), "README.md", "exec"), namespace)
    return namespace["verify_signature"]
