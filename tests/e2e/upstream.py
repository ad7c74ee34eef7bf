"""A programmable HTTP/1.1 upstream that end-to-end tests start in-process.

Every request is recorded (so a test can assert that a rejected request never
reached the upstream). What the upstream answers depends on the path:

  /status/<code>          that status; a small body unless 1xx/204/304 or HEAD
  /delay/<ms>             waits, then echoes
  /usage/<n>              JSON {"usage": {"total_tokens": n}, ...}
  /usage-stream/<n>       text/event-stream, chunked: a few data events, then one with
                          {"usage": {"total_tokens": n}}, then "data: [DONE]"
  /usage-trailer/<n>      chunked body with the trailer X-Usage-Tokens: n
  /hold                   waits until the test calls open_gate() (at most 10 s), then echoes;
                          `held` counts the requests waiting there now
  /bytes/<n>              n pattern bytes with Content-Length, streamed in pieces
  /chunked/<n>            n pattern bytes, Transfer-Encoding: chunked
  /eof-body/<n>           n pattern bytes delimited by closing the connection
  /truncated/<n>          announces n bytes, sends half, closes
  /endless                chunked body that never ends (until the peer leaves)
  /garbage                bytes that are not HTTP, then close
  /close                  closes without answering
  /connection-close       echoes with "Connection: close", then closes
  /linger-close           echoes (keep-alive), then closes the idle connection 50 ms later
  /early-hints            a 103 interim response, then the echo
  anything else           echo: JSON with method, path, query, headers, body size and
                          sha256 (request bodies with Content-Length or chunked)

The query parameter `set-header=Name:Value` (repeatable) adds response headers.
Setting `Upstream.slowdown_ms` makes every request wait that long first (a slow
upstream on command; 0 = back to normal).
"""

import hashlib
import http.server
import json
import socket
import socketserver
import threading
import time
import urllib.parse

PIECE = 64 * 1024
_PATTERN = bytes(range(251)) * (PIECE // 251 + 2)


def pattern_bytes(n, offset=0):
    """The deterministic body /bytes/<n> and /chunked/<n> send (a 251-byte cycle)."""
    out = bytearray()
    while len(out) < n:
        start = (offset + len(out)) % 251
        out += _PATTERN[start:start + min(PIECE, n - len(out))]
    return bytes(out)


def pattern_sha256(n):
    digest = hashlib.sha256()
    for offset in range(0, n, PIECE):
        digest.update(pattern_bytes(min(PIECE, n - offset), offset))
    return digest.hexdigest()


class RecordedRequest:
    def __init__(self, method, target, headers, body_length, body_sha256, peer_port):
        self.method = method
        self.target = target
        self.path, _, self.query = target.partition('?')
        self.headers = headers  # list of (name, value) in arrival order
        self.body_length = body_length
        self.body_sha256 = body_sha256
        self.peer_port = peer_port  # distinguishes upstream connections

    def header(self, name):
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'e2e-upstream'
    sys_version = ''

    def log_message(self, format, *args):  # quiet: tests read the recorded requests
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, ValueError):
            # The gateway gave up on this exchange (cut body, bad framing).
            self.close_connection = True

    # Every method goes through one dispatcher.
    def __getattr__(self, name):
        if name.startswith('do_'):
            return self._dispatch
        raise AttributeError(name)

    def _read_body(self):
        """Reads the request body (chunked or Content-Length); returns its size and
        sha256 without keeping it."""
        digest = hashlib.sha256()
        if 'chunked' not in (self.headers.get('Transfer-Encoding') or '').lower():
            return self._read_into(digest, int(self.headers.get('Content-Length') or 0)), \
                digest.hexdigest()
        length = 0
        while True:
            size = int(self.rfile.readline(1024).split(b';')[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b'\r\n', b'\n', b''):
                    pass  # trailers
                return length, digest.hexdigest()
            length += self._read_into(digest, size)
            self.rfile.readline(16)

    def _read_into(self, digest, n):
        remaining = n
        while remaining:
            piece = self.rfile.read(min(PIECE, remaining))
            if not piece:
                raise ConnectionResetError('request body cut short')
            digest.update(piece)
            remaining -= len(piece)
        return n

    def _dispatch(self):
        length, sha = self._read_body()
        record = RecordedRequest(self.command, self.path, list(self.headers.items()), length,
                                 sha, self.client_address[1])
        self.server.upstream.record(record)
        self.record = record
        if self.server.upstream.slowdown_ms:
            time.sleep(self.server.upstream.slowdown_ms / 1000)
        parts = record.path.strip('/').split('/')
        action = getattr(self, '_on_' + parts[0].replace('-', '_'), None)
        arg = parts[1] if len(parts) > 1 else None
        if action is None:
            self._echo(record)
        else:
            action(record, arg)

    def _extra_headers(self, record):
        for value in urllib.parse.parse_qs(record.query).get('set-header', []):
            name, _, v = value.partition(':')
            self.send_header(name.strip(), v.strip())

    def _send(self, status, body=b'', content_type='text/plain', headers=()):
        self.send_response(status)
        self._extra_headers(self.record)
        for name, value in headers:
            self.send_header(name, value)
        if status >= 200 and status not in (204, 304):
            self.send_header('Content-Type', content_type)
            self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        if self.command != 'HEAD' and status >= 200 and status not in (204, 304):
            self.wfile.write(body)

    def _echo(self, record, headers=()):
        echo = {
            'method': record.method,
            'path': record.path,
            'query': record.query,
            'headers': record.headers,
            'body_length': record.body_length,
            'body_sha256': record.body_sha256,
        }
        self._send(200, json.dumps(echo).encode(), 'application/json', headers)

    def _on_status(self, record, code):
        self._send(int(code), b'status %s\n' % code.encode())

    def _on_usage(self, record, n):
        body = json.dumps({'id': 'cmpl-1', 'choices': [{'text': 'hi'}],
                           'usage': {'prompt_tokens': 1, 'total_tokens': int(n)}})
        self._send(200, body.encode(), 'application/json')

    def _chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))

    def _on_usage_stream(self, record, n):
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        for word in ('Hel', 'lo'):
            self._chunk(b'data: {"choices":[{"delta":"%s"}]}\n\n' % word.encode())
        self._chunk(b'data: {"choices":[],"usage":{"total_tokens":%d}}\n\n' % int(n))
        self._chunk(b'data: [DONE]\n\n')
        self.wfile.write(b'0\r\n\r\n')

    def _on_usage_trailer(self, record, n):
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Transfer-Encoding', 'chunked')
        self.send_header('Trailer', 'X-Usage-Tokens')
        self.end_headers()
        self._chunk(b'some text')
        self.wfile.write(b'0\r\nX-Usage-Tokens: %d\r\n\r\n' % int(n))

    def _on_hold(self, record, arg):
        upstream = self.server.upstream
        with upstream._lock:
            upstream.held += 1
        try:
            upstream._gate.wait(10)
        finally:
            with upstream._lock:
                upstream.held -= 1
        self._echo(record)

    def _on_delay(self, record, ms):
        time.sleep(int(ms) / 1000)
        self._echo(record)

    def _on_bytes(self, record, n):
        n = int(n)
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Length', str(n))
        self.end_headers()
        if self.command == 'HEAD':
            return
        for offset in range(0, n, PIECE):
            self.wfile.write(pattern_bytes(min(PIECE, n - offset), offset))

    def _on_chunked(self, record, n):
        n = int(n)
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        if self.command == 'HEAD':
            return
        for offset in range(0, n, PIECE):
            piece = pattern_bytes(min(PIECE, n - offset), offset)
            self.wfile.write(b'%x\r\n%s\r\n' % (len(piece), piece))
        self.wfile.write(b'0\r\n\r\n')

    def _on_eof_body(self, record, n):
        n = int(n)
        self.send_response(200)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(pattern_bytes(n))
        self.close_connection = True

    def _on_truncated(self, record, n):
        n = int(n)
        self.send_response(200)
        self.send_header('Content-Length', str(n))
        self.end_headers()
        self.wfile.write(pattern_bytes(n // 2))
        self.wfile.flush()
        self.close_connection = True

    def _on_endless(self, record, arg):
        self.send_response(200)
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        piece = pattern_bytes(PIECE)
        chunk = b'%x\r\n%s\r\n' % (len(piece), piece)
        deadline = time.monotonic() + 30  # never outlive a test run
        while time.monotonic() < deadline:
            self.wfile.write(chunk)  # raises once the gateway gives up
        self.close_connection = True

    def _on_garbage(self, record, arg):
        self.wfile.write(b'this is not HTTP at all\r\n\r\n')
        self.close_connection = True

    def _on_close(self, record, arg):
        self.close_connection = True

    def _on_linger_close(self, record, arg):
        self._echo(record)
        self.wfile.flush()
        time.sleep(0.05)
        self.close_connection = True

    def _on_early_hints(self, record, arg):
        self.wfile.write(b'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n')
        self._echo(record)

    def _on_connection_close(self, record, arg):
        self.close_connection = True
        self._echo(record, headers=[('Connection', 'close')])


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class Upstream:
    """The upstream on 127.0.0.1:<port>, serving from a background thread; over TLS
    with `tls`, an ssl.SSLContext (server side) to wrap the listening socket in."""

    def __init__(self, port=0, tls=None):
        self._server = _Server(('127.0.0.1', port), _Handler)
        if tls is not None:
            # Handshakes run as connections are accepted; a failed one is dropped by
            # socketserver (an OSError from get_request) and the server goes on.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._server.upstream = self
        self.port = self._server.server_address[1]
        self.url = '%s://127.0.0.1:%d' % ('https' if tls is not None else 'http', self.port)
        self._lock = threading.Lock()
        self.requests = []
        self.slowdown_ms = 0
        self.held = 0  # requests waiting at /hold
        self._gate = threading.Event()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={'poll_interval': 0.05}, daemon=True)
        self._thread.start()

    def record(self, request):
        with self._lock:
            self.requests.append(request)

    @property
    def count(self):
        with self._lock:
            return len(self.requests)

    def last(self):
        with self._lock:
            return self.requests[-1]

    def open_gate(self):
        """Lets every request waiting at /hold (and every later one) through."""
        self._gate.set()

    def close_gate(self):
        self._gate.clear()

    def reset(self):
        with self._lock:
            self.requests.clear()

    def stop(self):
        self._gate.set()  # no handler thread waits on at exit
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
