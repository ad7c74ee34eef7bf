"""End-to-end test harness: the real sluice binary, real sockets, real processes.

Reusable by every e2e suite (proxy, Redis, reload, admin):
  free_port()               a free TCP port on 127.0.0.1
  to_yaml(value)            YAML text from Python dicts/lists/scalars
  Sluice                    starts the binary with a config written into a temp dir,
                            waits for /healthz, stop() (SIGTERM -> exit code), reload()
  RedisServer               a private redis-server on a free port
  Client, RawConnection     HTTP over keep-alive http.client, and over a raw socket
  Metrics                   the Prometheus text format, parsed
  GatewayTestCase           a TestCase with a temp dir, an upstream, a gateway, and
                            every process stopped by PID in cleanup, even on failure
"""

import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from upstream import Upstream

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get('SLUICE_SOURCE_DIR') or os.path.normpath(
    os.path.join(HERE, '..', '..'))
SLUICE_BIN = os.path.abspath(os.environ.get('SLUICE_BIN') or
                             os.path.join(SOURCE_DIR, 'build', 'sluice'))
# The sanitizers the binary under test was built with (CMake's SLUICE_SANITIZE, set by
# ctest), e.g. "address,undefined"; empty for a plain build.
SANITIZERS = set(filter(None, os.environ.get('SLUICE_SANITIZE', '').split(',')))

START_TIMEOUT = 15.0
STOP_TIMEOUT = 20.0


_handed_out = set()


def free_port():
    """A port nothing listens on now, never one this process handed out before: the
    kernel may pick the same free port twice in a row, and Sluice's listeners bind with
    SO_REUSEPORT, so a gateway given one port for two of its listeners would share the
    connections between them (an admin request answered by the proxy)."""
    while True:
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_for(predicate, timeout=5.0, interval=0.02, message='condition'):
    """Polls `predicate` until it returns a truthy value, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + message)
        time.sleep(interval)


def port_accepts(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=0.5):
            return True
    except OSError:
        return False


# ---- configuration ---------------------------------------------------------------------

def _scalar(value):
    if value is True:
        return 'true'
    if value is False:
        return 'false'
    if value is None:
        return 'null'
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a double-quoted YAML scalar


def _is_flow(value):
    """True for scalars and for dicts/lists that hold only scalars."""
    if isinstance(value, dict):
        value = list(value.values())
    return not isinstance(value, list) or all(not isinstance(v, (dict, list)) for v in value)


def _flow(value):
    if isinstance(value, dict):
        return '{' + ', '.join('%s: %s' % (k, _flow(v)) for k, v in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_flow(v) for v in value) + ']'
    return _scalar(value)


def to_yaml(value, indent=0):
    """Block-style YAML for nested dicts; flat lists and dicts of scalars stay on one line."""
    pad = ' ' * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item and not _is_flow(item):
                lines.append('%s%s:' % (pad, key))
                lines.append(to_yaml(item, indent + 2))
            else:
                lines.append('%s%s: %s' % (pad, key, _flow(item)))
    elif isinstance(value, list):
        for item in value:
            lines.append('%s- %s' % (pad, _flow(item)))
    else:
        lines.append(pad + _scalar(value))
    return '\n'.join(lines)


def merge(base, override):
    """A copy of `base` with `override` merged in (nested dicts merge, the rest replaces)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


# A policy with one generous limit: tests that are not about limits are not limited.
OPEN_POLICY = {
    'limits': [{'name': 'per-ip', 'key': 'ip', 'rate': '100000/s', 'burst': 100000}],
}


def server_config(port, admin_port, upstream_url):
    """The config.yaml every test starts from (fast timeouts, no file watching)."""
    return {
        'listen': '127.0.0.1:%d' % port,
        'upstream': {
            'url': upstream_url,
            'connect_timeout': '1s',
            'timeout': '5s',
            'circuit_breaker': {'failures': 1000, 'cooldown': '1s'},
        },
        'server': {
            'threads': 2,
            'header_timeout': '5s',
            'idle_timeout': '10s',
            'drain_timeout': '5s',
            'access_log': 'stdout',
        },
        'admin': {'listen': '127.0.0.1:%d' % admin_port},
        'policies': 'policies.yaml',
        'reload': {'watch': False},
    }


# ---- traffic ---------------------------------------------------------------------------

def avoid_window_edge(window_s, needed_s=10):
    """Sleeps into the next epoch-aligned window when fewer than `needed_s` seconds
    of the current one are left, so a test's requests fall into one window."""
    left = window_s - time.time() % window_s
    if left < needed_s:
        time.sleep(left + 0.05)


def run_threads(target, arguments, errors):
    """Runs target(*args) on a thread of its own for each args in `arguments`, waits for
    them (60 s each at most) and raises the first of `errors` (what they recorded), if any."""
    threads = [threading.Thread(target=target, args=args) for args in arguments]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]


def hammer(ports, connections, per_connection, path='/c', headers=None, headers_of=None):
    """`connections` keep-alive connections per port, released together, each sending
    `per_connection` requests; returns every response status. headers_of(n), when given,
    gives the n-th connection's headers (n counts over all ports) instead of `headers`."""
    statuses = []
    lock = threading.Lock()
    barrier = threading.Barrier(connections * len(ports))
    errors = []

    def run(port, n):
        mine_headers = headers_of(n) if headers_of else headers
        try:
            with Client(port, timeout=30) as client:
                barrier.wait()
                mine = [client.get(path, mine_headers).status for _ in range(per_connection)]
            with lock:
                statuses.extend(mine)
        except Exception as e:  # reported by the caller
            errors.append(e)

    starts = [p for p in ports for _ in range(connections)]
    run_threads(run, [(p, n) for n, p in enumerate(starts)], errors)
    return statuses


# ---- processes ---------------------------------------------------------------------------

def plain_port(listen):
    """The port of the first plain HTTP entry of a `listen` value (one address, or a list
    of addresses and {address, tls} maps)."""
    entries = listen if isinstance(listen, list) else [listen]
    for entry in entries:
        if isinstance(entry, str):
            return int(entry.rsplit(':', 1)[1])
    raise ValueError('no plain HTTP listen entry in %r' % (listen,))


class Sluice:
    """One sluice process with its config in `workdir`; stdout (the access log) and
    stderr go to files there."""

    def __init__(self, workdir, config, policy, binary=SLUICE_BIN, nofile=None):
        self.workdir = workdir
        self.binary = binary
        self.nofile = nofile  # (soft, hard) RLIMIT_NOFILE for the process, or None
        self.config = config
        self.port = plain_port(config['listen'])
        self.admin_port = int(config['admin']['listen'].rsplit(':', 1)[1])
        self.config_path = os.path.join(workdir, 'config.yaml')
        self.stdout_path = os.path.join(workdir, 'sluice.stdout')
        self.stderr_path = os.path.join(workdir, 'sluice.stderr')
        self.process = None
        self.write_config(config, policy)

    def write_config(self, config=None, policy=None):
        """Rewrites config.yaml and/or the policy file (dicts, or YAML text)."""
        if config is not None:
            self.config = config
            self._write(self.config_path, config)
        if policy is not None:
            self._write(os.path.join(self.workdir, self.config['policies']), policy)

    @staticmethod
    def _write(path, content):
        text = content if isinstance(content, str) else to_yaml(content) + '\n'
        with open(path, 'w') as f:
            f.write(text)

    def start(self, wait=True):
        with open(self.stdout_path, 'ab') as out, open(self.stderr_path, 'ab') as err:
            self.process = subprocess.Popen([self.binary, '--config', self.config_path],
                                            stdout=out, stderr=err, cwd=self.workdir,
                                            preexec_fn=self._limit_files if self.nofile else None)
        if wait:
            self.wait_healthy()
        return self

    def _limit_files(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)

    def wait_healthy(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError('sluice exited with %d:\n%s' % (self.process.returncode,
                                                                   self.stderr()))
            try:
                if admin_get(self.admin_port, '/healthz', timeout=0.5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError('sluice did not become healthy:\n' + self.stderr())

    @property
    def pid(self):
        return self.process.pid

    def running(self):
        return self.process is not None and self.process.poll() is None

    def signal(self, signum):
        self.process.send_signal(signum)

    def reload(self, wait=True):
        """SIGHUP; with `wait`, returns True or False once the reload succeeded or
        failed (read from gateway_config_reloads_total)."""
        before = self.metrics() if wait else None
        self.signal(signal.SIGHUP)
        if not wait:
            return None

        def outcome():
            m = self.metrics()
            for result, ok in (('success', True), ('error', False)):
                if m.delta(before, 'gateway_config_reloads_total', result=result):
                    return (ok,)
            return None
        return wait_for(outcome, timeout=10, message='the reload')[0]

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM (graceful drain); returns the exit code."""
        if not self.running():
            return None if self.process is None else self.process.returncode
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError('sluice did not exit within %ss of SIGTERM' % timeout)

    def kill(self):
        if self.running():
            self.process.kill()
            self.process.wait(5)

    def stderr(self):
        with open(self.stderr_path, errors='replace') as f:
            return f.read()

    def access_log(self, wait_for_lines=0, timeout=3.0):
        """The JSON access-log lines written so far (the log is flushed every 250 ms)."""
        def lines():
            with open(self.stdout_path, errors='replace') as f:
                entries = [json.loads(line) for line in f if line.strip()]
            return entries if len(entries) >= wait_for_lines else None
        if wait_for_lines:
            return wait_for(lines, timeout, message='%d access-log lines' % wait_for_lines)
        return lines()

    def metrics(self):
        return Metrics(admin_get(self.admin_port, '/metrics').text)


class RedisServer:
    """redis-server on a free port, without persistence, stopped by its PID.
    `config_file` (written by the caller) goes first on the command line, e.g. a
    sentinel's, with extra_args=['--sentinel']."""

    def __init__(self, workdir, port=None, extra_args=(), config_file=None):
        self.port = port or free_port()
        self.workdir = workdir
        self.log_path = os.path.join(workdir, 'redis-%d.log' % self.port)
        self.process = None
        self.extra_args = list(extra_args)
        self.config_file = config_file

    @property
    def address(self):
        return '127.0.0.1:%d' % self.port

    def start(self):
        binary = shutil.which('redis-server') or '/usr/bin/redis-server'
        with open(self.log_path, 'ab') as log:
            self.process = subprocess.Popen(
                [binary] + ([self.config_file] if self.config_file else []) +
                ['--port', str(self.port), '--bind', '127.0.0.1', '--save', '',
                 '--appendonly', 'no', '--dir', self.workdir] + self.extra_args,
                stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: self.ping(), timeout=10, message='redis-server on %d' % self.port)
        return self

    def command(self, *args, timeout=2.0):
        """Sends one command (RESP) and returns the raw reply bytes."""
        payload = b'*%d\r\n' % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            payload += b'$%d\r\n%s\r\n' % (len(a), a)
        with socket.create_connection(('127.0.0.1', self.port), timeout=timeout) as s:
            s.sendall(payload)
            return s.recv(65536)

    def ping(self):
        try:
            return self.command('PING', timeout=0.5).startswith(b'+PONG')
        except OSError:
            return False

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# ---- HTTP ------------------------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) in wire order
        self.body = body

    def header(self, name):
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def has_header(self, name):
        return bool(self.header_values(name))

    @property
    def text(self):
        return self.body.decode('utf-8', errors='replace')

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return 'Response(%d, %r, %r)' % (self.status, self.headers, self.body[:200])


class Client:
    """A keep-alive HTTP/1.1 client connection (http.client) to 127.0.0.1:<port>."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, chunked=False):
        self.conn.request(method, path, body=body, headers=headers or {},
                          encode_chunked=chunked)
        r = self.conn.getresponse()
        return Response(r.status, r.reason, r.getheaders(), r.read())

    def get(self, path, headers=None):
        return self.request('GET', path, headers=headers)

    @property
    def local_port(self):
        return self.conn.sock.getsockname()[1] if self.conn.sock else None

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request(port, method, path, body=None, headers=None, timeout=10.0, chunked=False):
    """One request on a fresh connection."""
    with Client(port, timeout) as c:
        return c.request(method, path, body, headers, chunked)


def admin_get(port, path, timeout=5.0):
    return request(port, 'GET', path, timeout=timeout)


class RawConnection:
    """A raw client socket for requests http.client will not send: malformed,
    slow, pipelined. read_response() parses one response (Content-Length, chunked
    or close-delimited), keeping any further bytes for the next call."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.buffer = b''

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode('latin-1'))

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError('connection closed')
        self.buffer += data

    def _read_line(self):
        while b'\r\n' not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b'\r\n', 1)
        return line

    def _read_exact(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_head(self):
        """Status line and headers of the next response (interim ones included)."""
        status_line = self._read_line().decode('latin-1')
        version, status, reason = (status_line.split(' ', 2) + [''])[:3]
        if version not in ('HTTP/1.0', 'HTTP/1.1') or not status.isdigit():
            raise AssertionError('not a status line: %r' % status_line[:200])
        headers = []
        while True:
            line = self._read_line()
            if not line:
                break
            name, _, value = line.decode('latin-1').partition(':')
            headers.append((name.strip(), value.strip()))
        return version, int(status), reason, headers

    def read_response(self, head_request=False):
        version, status, reason, headers = self.read_head()
        while 100 <= status < 200:
            version, status, reason, headers = self.read_head()
        response = Response(status, reason, headers, b'')
        response.version = version
        if head_request or status in (204, 304):
            return response
        te = (response.header('Transfer-Encoding') or '').lower()
        if 'chunked' in te:
            response.body = self._read_chunked()
        elif response.has_header('Content-Length'):
            response.body = self._read_exact(int(response.header('Content-Length')))
        else:
            response.body = self.read_until_close()
        return response

    def _read_chunked(self):
        body = b''
        while True:
            size = int(self._read_line().split(b';')[0], 16)
            if size == 0:
                while self._read_line():
                    pass
                return body
            body += self._read_exact(size)
            self._read_line()

    def read_until_close(self):
        """Everything until the peer closes (raises socket.timeout if it does not)."""
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b''
            if not data:
                out, self.buffer = self.buffer, b''
                return out
            self.buffer += data

    def is_closed(self, timeout=2.0):
        """True when the peer closes the connection within `timeout` (after any
        unread bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buffer += data
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- metrics ------------------------------------------------------------------------------

class Metrics:
    """Samples of a Prometheus text exposition: value(name, **labels) for one series,
    total(name, **labels) summed over every series whose labels include those given."""

    def __init__(self, text):
        self.text = text
        self.samples = []  # (name, {label: value}, float)
        for line in text.splitlines():
            if not line or line.startswith('#'):
                continue
            self.samples.append(self._parse(line))

    @staticmethod
    def _parse(line):
        labels = {}
        if '{' in line:
            name, rest = line.split('{', 1)
            label_text, value_text = rest.rsplit('}', 1)
            i = 0
            while i < len(label_text):
                eq = label_text.index('=', i)
                key = label_text[i:eq].strip().lstrip(',').strip()
                j = eq + 2  # past ="
                value = ''
                while label_text[j] != '"':
                    if label_text[j] == '\\':
                        j += 1
                        value += {'n': '\n'}.get(label_text[j], label_text[j])
                    else:
                        value += label_text[j]
                    j += 1
                labels[key] = value
                i = j + 1
        else:
            name, value_text = line.split(' ', 1)
        return name.strip(), labels, float(value_text.split()[0])

    def series(self, name, **labels):
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(w) for k, w in labels.items())]

    def total(self, name, **labels):
        return sum(v for _, v in self.series(name, **labels))

    def value(self, name, **labels):
        """The one series with exactly these labels (0 when it is not exported)."""
        matches = [v for l, v in self.series(name, **labels) if len(l) == len(labels)]
        if len(matches) > 1:
            raise AssertionError('%s%r matches %d series' % (name, labels, len(matches)))
        return matches[0] if matches else 0.0

    def delta(self, earlier, name, **labels):
        return self.total(name, **labels) - earlier.total(name, **labels)


# ---- test case ---------------------------------------------------------------------------

class GatewayTestCase(unittest.TestCase):
    """A temp dir per test and helpers that start an upstream, a gateway and Redis;
    everything started is stopped in cleanup (by PID), even when the test fails."""

    def setUp(self):
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix='sluice-e2e-')
        self.addCleanup(self._remove_workdir)
        self.upstream = None
        self.sluice = None

    def _remove_workdir(self):
        if os.environ.get('SLUICE_E2E_KEEP'):
            print('kept', self.workdir)
            return
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start_upstream(self):
        upstream = Upstream()
        self.addCleanup(upstream.stop)
        if self.upstream is None:
            self.upstream = upstream
        return upstream

    def make_config(self, overrides=None, upstream_url=None):
        if upstream_url is None:
            upstream_url = (self.upstream or self.start_upstream()).url
        config = server_config(free_port(), free_port(), upstream_url)
        return merge(config, overrides or {})

    def start_sluice(self, overrides=None, policy=None, upstream_url=None, wait=True, nofile=None):
        """Starts a gateway (and the upstream, if none runs yet) with the base config
        merged with `overrides` and `policy` (default: OPEN_POLICY); `nofile` is a
        (soft, hard) open-file limit to start it with."""
        config = self.make_config(overrides, upstream_url)
        gateway = Sluice(self.workdir, config, policy if policy is not None else OPEN_POLICY,
                         nofile=nofile)
        self.addCleanup(self._stop_gateway, gateway)
        gateway.start(wait)
        if self.sluice is None:
            self.sluice = gateway
        return gateway

    def _stop_gateway(self, gateway):
        # A gateway still running at the end of its test must drain and exit 0 on
        # SIGTERM: under ASan a leak or a use-after-free at exit makes that fail here.
        # (One that already exited was stopped by the test itself, which checks how.)
        was_running = gateway.running()
        try:
            code = gateway.stop(timeout=10)
        except AssertionError:
            code = None  # killed after the timeout: the test reports what went wrong
        finally:
            gateway.kill()
        if was_running and code is not None and code != 0:
            raise AssertionError('sluice exited with %d after SIGTERM:\n%s'
                                 % (code, gateway.stderr()[-4000:]))

    def start_redis(self, extra_args=()):
        redis = RedisServer(self.workdir, extra_args=extra_args)
        self.addCleanup(redis.stop)
        return redis.start()

    # Requests against the gateway this test started first.
    def request(self, method, path, body=None, headers=None, **kw):
        return request(self.sluice.port, method, path, body, headers, **kw)

    def get(self, path, headers=None):
        return self.request('GET', path, headers=headers)

    def client(self):
        c = Client(self.sluice.port)
        self.addCleanup(c.close)
        return c

    def raw(self, timeout=10.0):
        c = RawConnection(self.sluice.port, timeout)
        self.addCleanup(c.close)
        return c

    def exchange(self, raw_request):
        """Sends raw request bytes on a new connection; returns (connection, response)."""
        conn = self.raw()
        conn.send(raw_request)
        return conn, conn.read_response()

    def metrics(self):
        return self.sluice.metrics()

    def assertErrorBody(self, response, status, code, message_part=None):
        """SPEC 5: {"error":{"code":...,"message":...}} with application/json."""
        self.assertEqual(response.status, status, response)
        self.assertEqual(response.header('Content-Type'), 'application/json')
        body = response.json()
        self.assertEqual(set(body), {'error'})
        self.assertEqual(body['error']['code'], code)
        self.assertIsInstance(body['error']['message'], str)
        self.assertTrue(body['error']['message'])
        if message_part is not None:
            self.assertIn(message_part, body['error']['message'])
        return body['error']
