"""A raw-socket HTTP/1.1 upstream that records exactly what it parsed, for the
smuggling and desync tests (tests/e2e/test_smuggling.py).

It parses requests the way a lenient origin server does — Transfer-Encoding chunked
wins over Content-Length, one request after another on a keep-alive connection — and
records every request it parsed (connection number, method, target, headers, body) or
the bytes it could not parse. A smuggled request therefore shows up as a request the
gateway never answered, and a desynchronised connection as a parse error or an
answer that reaches the wrong client.

Every answer names the request it answers (X-Answer-To: <target>), so a client can
tell its own response from another's. What it answers depends on the path:

  /empty-chunked        200 with an empty chunked body ("0\\r\\n\\r\\n")
  /stray                a complete 200 (Content-Length: 2), then 80 ms later a second,
                        unsolicited response on the same connection
  /big-trailer          a chunked 200 whose trailer holds a 70,000-byte field
  /interim              "100 Continue" every 0.5 s, never a final response
  /switch               an unsolicited "101 Switching Protocols"
  /connection-cl        200 with "Connection: Content-Length" and a Content-Length body
  anything else         200, Content-Length, body "<method> <target> <body length>"
"""

import socket
import threading
import time


class RawRequest:
    def __init__(self, connection, method, target, headers, body):
        self.connection = connection  # 1, 2, ... in accept order
        self.method = method
        self.target = target
        self.headers = headers  # [(name, value)] in arrival order
        self.body = body

    def header_values(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return 'RawRequest(conn=%d, %s %s, body=%r)' % (self.connection, self.method,
                                                        self.target, self.body[:60])


class _ParseError(Exception):
    pass


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buffer = b''

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError()
        self.buffer += data

    def line(self):
        while b'\r\n' not in self.buffer:
            if len(self.buffer) > 1 << 20:
                raise _ParseError('line too long')
            self.fill()
        line, self.buffer = self.buffer.split(b'\r\n', 1)
        return line

    def exact(self, n):
        while len(self.buffer) < n:
            self.fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data


class RawUpstream:
    def __init__(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self._lock = threading.Lock()
        self.requests = []      # RawRequest, in parse order
        self.parse_errors = []  # (connection, message, unparsed bytes)
        self.connections = 0
        self._stopping = False
        self._threads = []
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._accept_thread.start()

    # ---- what the tests read -----------------------------------------------------------

    def targets(self):
        with self._lock:
            return [r.target for r in self.requests]

    def snapshot(self):
        with self._lock:
            return list(self.requests), list(self.parse_errors)

    def reset(self):
        with self._lock:
            self.requests.clear()
            self.parse_errors.clear()

    def stop(self):
        self._stopping = True
        self._accept_thread.join(timeout=5)
        self._listener.close()

    # ---- the server --------------------------------------------------------------------

    def _accept_loop(self):
        while not self._stopping:
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                number = self.connections
            t = threading.Thread(target=self._serve, args=(sock, number), daemon=True)
            t.start()

    def _serve(self, sock, number):
        sock.settimeout(30)
        reader = _Reader(sock)
        try:
            while not self._stopping:
                try:
                    request = self._parse(reader, number)
                except _ParseError as e:
                    with self._lock:
                        self.parse_errors.append((number, str(e), reader.buffer[:200]))
                    sock.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\n'
                                 b'X-Answer-To: parse-error\r\n\r\nparse error')
                    return
                with self._lock:
                    self.requests.append(request)
                if not self._answer(sock, request):
                    return
        except (EOFError, OSError):
            pass
        finally:
            sock.close()

    def _parse(self, reader, number):
        line = reader.line()
        while line == b'':  # tolerated between requests, as many servers do
            line = reader.line()
        parts = line.split(b' ')
        if len(parts) != 3 or not parts[2].startswith(b'HTTP/1.'):
            raise _ParseError('bad request line %r' % line[:80])
        method, target = parts[0].decode('latin-1'), parts[1].decode('latin-1')
        headers = []
        while True:
            h = reader.line()
            if not h:
                break
            name, sep, value = h.partition(b':')
            if not sep:
                raise _ParseError('bad header line %r' % h[:80])
            headers.append((name.decode('latin-1').strip(), value.decode('latin-1').strip()))
        fields = {k.lower(): v for k, v in headers}
        if 'chunked' in fields.get('transfer-encoding', '').lower():
            body = b''
            while True:
                size_line = reader.line()
                try:
                    size = int(size_line.split(b';')[0].strip(), 16)
                except ValueError:
                    raise _ParseError('bad chunk size %r' % size_line[:40])
                if size == 0:
                    while reader.line():  # trailers
                        pass
                    break
                body += reader.exact(size)
                if reader.line() != b'':
                    raise _ParseError('chunk without CRLF')
        else:
            try:
                length = int(fields.get('content-length', '0'))
            except ValueError:
                raise _ParseError('bad content-length')
            body = reader.exact(length)
        return RawRequest(number, method, target, headers, body)

    def _answer(self, sock, request):
        """Answers `request`; False closes the connection."""
        path = request.target.split('?')[0]
        tag = b'X-Answer-To: ' + request.target.encode('latin-1') + b'\r\n'
        if path == '/empty-chunked':
            sock.sendall(b'HTTP/1.1 200 OK\r\n' + tag + b'Transfer-Encoding: chunked\r\n\r\n'
                         b'0\r\n\r\n')
            return True
        if path == '/stray':
            sock.sendall(b'HTTP/1.1 200 OK\r\n' + tag + b'Content-Length: 2\r\n\r\nok')
            time.sleep(0.08)
            sock.sendall(b'HTTP/1.1 200 OK\r\nX-Answer-To: stray\r\nContent-Length: 5\r\n\r\n'
                         b'stray')
            return True
        if path.startswith('/late-pieces'):
            time.sleep(0.05)
            sock.sendall(b'HTTP/1.1 200 OK\r\n' + tag + b'Content-Le')
            time.sleep(0.05)
            sock.sendall(b'ngth: 4\r\n\r\nla')
            time.sleep(0.05)
            sock.sendall(b'te')
            return True
        if path == '/big-trailer':
            sock.sendall(b'HTTP/1.1 200 OK\r\n' + tag + b'Transfer-Encoding: chunked\r\n\r\n'
                         b'2\r\nok\r\n0\r\nX-Big: ' + b'a' * 70000 + b'\r\n\r\n')
            return True
        if path == '/interim':
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                sock.sendall(b'HTTP/1.1 100 Continue\r\n\r\n')
                time.sleep(0.5)
            return False
        if path == '/switch':
            sock.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
                         b'Connection: Upgrade\r\n\r\n')
            return False
        if path == '/connection-cl':
            sock.sendall(b'HTTP/1.1 200 OK\r\n' + tag + b'Connection: Content-Length\r\n'
                         b'Content-Length: 5\r\n\r\nhello')
            return True
        body = ('%s %s %d' % (request.method, request.target, len(request.body))).encode()
        sock.sendall(b'HTTP/1.1 200 OK\r\n' + tag + b'Content-Length: %d\r\n\r\n' % len(body) +
                     body)
        return True
