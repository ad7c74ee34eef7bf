"""Helpers for the Redis end-to-end suites (test_redis.py, test_redis_failures.py):
a small RESP client to read Redis state, gateways that share one redis-server, and
concurrent traffic across several gateways."""

import os
import signal
import socket
import struct
import threading
import time

from harness import (Client, GatewayTestCase, RedisServer, Sluice, admin_get, free_port, merge,
                     request, run_threads, wait_for)

import shutil
import subprocess


class FastUpstream:
    """A minimal keep-alive upstream that answers every request with 200 "ok" in
    one write, TCP_NODELAY set: latency measurements see the gateway, not the
    upstream (upstream.Upstream's responses wait ~40 ms on delayed ACKs). Request
    bodies are not supported (GET/HEAD only)."""

    RESPONSE = b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok'

    def __init__(self):
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self.count = 0
        self.lock = threading.Lock()
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buffer = b''
        try:
            while True:
                while b'\r\n\r\n' not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                _, buffer = buffer.split(b'\r\n\r\n', 1)
                with self.lock:
                    self.count += 1
                conn.sendall(self.RESPONSE)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self):
        self.listener.close()
        with self.lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def cluster_port(taken=()):
    """A free loopback port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535 or port in taken or port + 10000 in taken:
            continue
        try:
            with socket.socket() as bus:
                bus.bind(('127.0.0.1', port + 10000))
        except OSError:
            continue
        return port
    raise AssertionError('no free port pair (port, port + 10000) on 127.0.0.1')


class RedisCluster:
    """A Redis Cluster of `masters` masters (at least 3) with `replicas` replicas each,
    every node a redis-server on a free loopback port with its own directory (nodes.conf,
    log) under `workdir`, created with redis-cli --cluster create and stopped by PID.

      nodes            [RedisServer], masters first as created (ports, process.pid)
      ports, pids      the nodes' ports and PIDs, in that order
      addresses        ['127.0.0.1:port', ...] (the seeds of a storage.redis cluster config)
      master_ports()   the ports of the current masters (asked of the cluster: after a
                       failover a promoted replica is one)
      replica_ports()  the current replicas' ports
      slot_owner(slot) the port of the master that owns `slot` (CLUSTER SLOTS)
      key_port(key)    the port of the master that owns `key`'s slot (CLUSTER KEYSLOT)
      kill(port)       SIGKILL that node (a master's replica is promoted after
                       node_timeout_ms; wait_ok() waits for it)
      wait_ok()        until every running node reports cluster_state:ok, agrees on the
                       masters, and no slot is owned by a killed node
      stop()           every node by PID
    """

    def __init__(self, workdir, masters=3, replicas=0, node_timeout_ms=1000, extra_args=()):
        if masters < 3:
            raise ValueError('redis-cli --cluster create needs at least 3 masters')
        self.workdir = workdir
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.extra_args = list(extra_args)
        self.nodes = []

    @property
    def ports(self):
        return [n.port for n in self.nodes]

    @property
    def pids(self):
        return [n.process.pid for n in self.nodes]

    @property
    def addresses(self):
        return [n.address for n in self.nodes]

    def node(self, port):
        return next(n for n in self.nodes if n.port == port)

    def start(self, timeout=30.0):
        taken = set()
        try:
            for _ in range(self.masters * (1 + self.replicas)):
                port = cluster_port(taken)
                taken.update((port, port + 10000))
                directory = os.path.join(self.workdir, 'cluster-%d' % port)
                os.makedirs(directory, exist_ok=True)
                node = RedisServer(directory, port=port, extra_args=[
                    '--cluster-enabled', 'yes',
                    '--cluster-config-file', os.path.join(directory, 'nodes.conf'),
                    '--cluster-node-timeout', str(self.node_timeout_ms)] + self.extra_args)
                self.nodes.append(node)
                node.start()
            cli = shutil.which('redis-cli') or '/usr/bin/redis-cli'
            created = subprocess.run(
                [cli, '--cluster', 'create'] + self.addresses +
                ['--cluster-replicas', str(self.replicas), '--cluster-yes'],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
            if created.returncode != 0:
                raise AssertionError('redis-cli --cluster create failed:\n' +
                                     created.stdout.decode(errors='replace'))
            self.wait_ok(timeout)
            if self.replicas:
                wait_for(self._replicas_synced, timeout=timeout, interval=0.05,
                         message='cluster replicas to sync')
        except BaseException:
            self.stop()
            raise
        return self

    def _call(self, port, *args):
        try:
            return redis_call(port, *args)
        except OSError:
            return None

    def cluster_info(self, port):
        text = self._call(port, 'CLUSTER', 'INFO')
        if not isinstance(text, str):
            return {}
        return dict(line.split(':', 1) for line in text.splitlines() if ':' in line)

    def slots(self, port=None):
        """[(first, last, master_port)] from CLUSTER SLOTS of `port` (default: any
        running node)."""
        for candidate in ([port] if port else [n.port for n in self.nodes if n.running()]):
            reply = self._call(candidate, 'CLUSTER', 'SLOTS')
            if isinstance(reply, list):
                return sorted((int(r[0]), int(r[1]), int(r[2][1])) for r in reply)
        return []

    def master_ports(self):
        return sorted({owner for _, _, owner in self.slots()})

    def replica_ports(self):
        masters = set(self.master_ports())
        return [n.port for n in self.nodes if n.running() and n.port not in masters]

    def slot_owner(self, slot):
        for first, last, owner in self.slots():
            if first <= slot <= last:
                return owner
        return None

    def key_port(self, key):
        running = next(n.port for n in self.nodes if n.running())
        return self.slot_owner(int(redis_call(running, 'CLUSTER', 'KEYSLOT', key)))

    def _agreed(self):
        views = []
        for n in self.nodes:
            if not n.running():
                continue
            if self.cluster_info(n.port).get('cluster_state') != 'ok':
                return False
            view = self.slots(n.port)
            if sum(last - first + 1 for first, last, _ in view) != 16384:
                return False
            if any(not self.node(owner).running() for _, _, owner in view):
                return False  # a killed master not failed over yet
            views.append(view)
        return bool(views) and all(v == views[0] for v in views)

    def _replicas_synced(self):
        for port in self.replica_ports():
            info = self._call(port, 'INFO', 'replication')
            if not isinstance(info, str) or 'master_link_status:up' not in info:
                return False
        return True

    def wait_ok(self, timeout=15.0):
        wait_for(self._agreed, timeout=timeout, interval=0.05,
                 message='cluster_state:ok on every node')
        return self

    def kill(self, port):
        node = self.node(port)
        if node.running():
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(5)

    def stop(self):
        for node in self.nodes:
            node.stop()


def start_cluster(workdir, masters=3, replicas=0, node_timeout_ms=1000, extra_args=()):
    """A started RedisCluster (see there); the caller stops it (RedisCase.start_cluster
    registers that cleanup)."""
    return RedisCluster(workdir, masters, replicas, node_timeout_ms, extra_args).start()


class RedisSentinels:
    """A Redis watched by Sentinel: one master, `replicas` replicas (--replicaof) and
    `count` sentinels (redis-server <sentinel.conf> --sentinel) monitoring it as `name`
    with `quorum`, each a redis-server on a free loopback port with its own directory
    under `workdir`, stopped by PID. No package beyond redis-server is needed.

      master, replicas      RedisServer (as started; after a failover see master_port())
      sentinels             [RedisServer] in sentinel mode
      sentinel_addresses    ['127.0.0.1:port', ...] (storage.redis.address, sentinel mode)
      storage_config(...)   a storage block for gateways in sentinel mode
      master_port()         the master's port as the first answering sentinel names it
      wait_failover(old)    until every running sentinel names a master other than port
                            `old`, and that server says it is a master (ROLE)
      kill(server)          SIGKILL by PID
      stop()                every process by PID
    """

    def __init__(self, workdir, replicas=1, count=3, quorum=2, name='mymaster',
                 down_after_ms=1000, failover_timeout_ms=5000):
        self.workdir = workdir
        self.replica_count = replicas
        self.count = count
        self.quorum = quorum
        self.name = name
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.master = None
        self.replicas = []
        self.sentinels = []

    @property
    def sentinel_addresses(self):
        return [s.address for s in self.sentinels]

    def _dir(self, kind, port):
        directory = os.path.join(self.workdir, '%s-%d' % (kind, port))
        os.makedirs(directory, exist_ok=True)
        return directory

    def start(self, timeout=20.0):
        try:
            port = free_port()
            self.master = RedisServer(self._dir('master', port), port=port).start()
            for _ in range(self.replica_count):
                port = free_port()
                self.replicas.append(RedisServer(
                    self._dir('replica', port), port=port,
                    extra_args=['--replicaof', '127.0.0.1', str(self.master.port)]).start())
            wait_for(self._replicas_synced, timeout=timeout, interval=0.05,
                     message='replicas to sync')
            for _ in range(self.count):
                self.start_sentinel()
            wait_for(self._sentinels_ready, timeout=timeout, interval=0.1,
                     message='sentinels to know the replicas and each other')
        except BaseException:
            self.stop()
            raise
        return self

    def start_sentinel(self, port=None):
        """One more sentinel (or one on `port`, e.g. after none ran there)."""
        port = port or free_port()
        directory = self._dir('sentinel', port)
        config = os.path.join(directory, 'sentinel.conf')  # sentinels rewrite it
        with open(config, 'w') as f:
            f.write('sentinel monitor %s 127.0.0.1 %d %d\n' % (self.name, self.master.port,
                                                             self.quorum))
            f.write('sentinel down-after-milliseconds %s %d\n' % (self.name, self.down_after_ms))
            f.write('sentinel failover-timeout %s %d\n' % (self.name, self.failover_timeout_ms))
        sentinel = RedisServer(directory, port=port, config_file=config, extra_args=['--sentinel'])
        self.sentinels.append(sentinel)
        return sentinel.start()

    @staticmethod
    def _call(port, *args):
        try:
            return redis_call(port, *args)
        except (OSError, EOFError):
            return None

    def _replicas_synced(self):
        for r in self.replicas:
            info = self._call(r.port, 'INFO', 'replication')
            if not isinstance(info, str) or 'master_link_status:up' not in info:
                return False
        return True

    def _sentinels_ready(self):
        for s in self.sentinels:
            flat = self._call(s.port, 'SENTINEL', 'MASTER', self.name)
            if not isinstance(flat, list):
                return False
            fields = dict(zip(flat[0::2], flat[1::2]))
            if (fields.get('num-slaves') != str(self.replica_count) or
                    fields.get('num-other-sentinels') != str(self.count - 1)):
                return False
        return True

    def master_port(self, sentinel=None):
        for s in [sentinel] if sentinel else [s for s in self.sentinels if s.running()]:
            reply = self._call(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', self.name)
            if isinstance(reply, list) and len(reply) == 2:
                return int(reply[1])
        return None

    def wait_failover(self, old_port, timeout=30.0):
        def moved():
            ports = {self.master_port(s) for s in self.sentinels if s.running()}
            if len(ports) != 1:
                return None
            port = ports.pop()
            if port in (None, old_port):
                return None
            role = self._call(port, 'ROLE')
            return port if isinstance(role, list) and role[0] == 'master' else None
        return wait_for(moved, timeout=timeout, interval=0.05, message='the sentinels\' failover')

    def server(self, port):
        return next(s for s in [self.master] + self.replicas if s.port == port)

    def storage_config(self, on_error='local', timeout='100ms', prefix='sluice:'):
        return {'storage': {
            'backend': 'redis',
            'redis': {'mode': 'sentinel', 'address': self.sentinel_addresses,
                      'sentinel': {'master': self.name}, 'timeout': timeout,
                      'connections': 2, 'key_prefix': prefix},
            'on_error': on_error,
        }}

    @staticmethod
    def kill(server):
        if server.running():
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(5)

    def stop(self):
        for server in self.sentinels + self.replicas + ([self.master] if self.master else []):
            server.stop()


class RespError(Exception):
    pass


class Resp:
    """One RESP2 connection to Redis; call() returns str, int, None, a list, or a
    RespError instance for an error reply (returned, not raised)."""

    def __init__(self, port, timeout=2.0):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.reader = self.sock.makefile('rb')

    def call(self, *args):
        self._send(args)
        return self._read()

    def call_bytes(self, *args):
        """Like call(), with bulk strings as bytes (binary values such as packed state)."""
        self._send(args)
        return self._read(raw=True)

    def _send(self, args):
        payload = b'*%d\r\n' % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            payload += b'$%d\r\n%s\r\n' % (len(a), a)
        self.sock.sendall(payload)

    def _read(self, raw=False):
        line = self.reader.readline()
        if not line:
            raise EOFError('redis closed the connection')
        kind, rest = line[:1], line[1:-2].decode()
        if kind == b'+':
            return rest
        if kind == b'-':
            return RespError(rest)
        if kind == b':':
            return int(rest)
        if kind == b'$':
            n = int(rest)
            if n < 0:
                return None
            data = self.reader.read(n + 2)[:-2]
            return data if raw else data.decode('utf-8', errors='replace')
        if kind == b'*':
            n = int(rest)
            return None if n < 0 else [self._read(raw) for _ in range(n)]
        raise AssertionError('not RESP: %r' % line)

    def close(self):
        self.reader.close()
        self.sock.close()


def redis_call(port, *args):
    r = Resp(port)
    try:
        return r.call(*args)
    finally:
        r.close()


def commandstats(port):
    """{command: calls} from INFO commandstats."""
    out = {}
    for line in redis_call(port, 'INFO', 'commandstats').splitlines():
        if line.startswith('cmdstat_'):
            name, _, fields = line[len('cmdstat_'):].partition(':')
            values = dict(f.split('=') for f in fields.split(','))
            out[name] = int(values['calls'])
    return out


PACKED_STATE_TAGS = {1: 'tb', 2: 'lb', 3: 'fw', 4: 'sw'}


def state_text(value):
    """The state a limit keeps in a Redis string, as text: gateway/redis/decide.lua packs
    a tag byte (1 tb, 2 lb, 3 fw, 4 sw) and little-endian int64s, read here as
    'fw <window_start> <count>' (the text earlier versions stored; the last integer,
    the expiry the state records, is left out); other bytes as they are."""
    tag = PACKED_STATE_TAGS.get(value[0]) if value else None
    if tag and len(value) == (33 if tag == 'sw' else 25):
        fields = struct.unpack('<%dq' % ((len(value) - 1) // 8), value[1:])[:-1]
        return ' '.join([tag] + [str(f) for f in fields])
    return value.decode('utf-8', errors='replace')


def redis_state(port, pattern='sluice:*'):
    """{key: (type, value)} for every key matching `pattern`: strings by value (bucket
    and window state as state_text()), sorted sets as [(member, score)], with the key's
    PTTL."""
    r = Resp(port)
    try:
        state = {}
        for key in r.call('KEYS', pattern):
            kind = r.call('TYPE', key)
            if kind == 'string':
                value = state_text(r.call_bytes('GET', key))
            elif kind == 'zset':
                flat = r.call('ZRANGE', key, '0', '-1', 'WITHSCORES')
                value = list(zip(flat[0::2], flat[1::2]))
            elif kind == 'hash':
                flat = r.call('HGETALL', key)
                value = dict(zip(flat[0::2], flat[1::2]))
            else:
                value = None
            state[key] = (kind, value, r.call('PTTL', key))
        return state
    finally:
        r.close()


def storage_config(redis, on_error='local', prefix='sluice:', timeout='25ms'):
    return {'storage': {
        'backend': 'redis',
        'redis': {'address': redis.address, 'timeout': timeout, 'connections': 2,
                  'key_prefix': prefix},
        'on_error': on_error,
    }}


class RedisCase(GatewayTestCase):
    """A GatewayTestCase whose gateways keep their limits in a shared redis-server;
    each gateway gets its own directory (config, stdout, stderr)."""

    def setUp(self):
        super().setUp()
        self.gateways = 0

    def start_fast_upstream(self):
        upstream = FastUpstream()
        self.addCleanup(upstream.stop)
        return upstream

    def start_gateway(self, redis, policy, on_error='local', overrides=None, prefix='sluice:',
                      upstream_url=None):
        self.gateways += 1
        workdir = os.path.join(self.workdir, 'gw%d' % self.gateways)
        os.makedirs(workdir)
        config = self.make_config(merge(storage_config(redis, on_error, prefix), overrides or {}),
                                  upstream_url)
        gateway = Sluice(workdir, config, policy)
        self.addCleanup(self._stop_gateway, gateway)
        gateway.start()
        # Served from the first request on: the client connects in the background,
        # so wait until the gateway reports Redis reachable (not part of any test).
        wait_for(lambda: stats(gateway)['storage']['reachable'], timeout=5,
                 message='gateway %d to reach redis' % self.gateways)
        return gateway

    def start_cluster(self, masters=3, replicas=0, node_timeout_ms=1000, extra_args=()):
        """A Redis Cluster (RedisCluster) under this test's directory, every node stopped by
        PID in cleanup, even when the test fails."""
        cluster = RedisCluster(self.workdir, masters, replicas, node_timeout_ms, extra_args)
        self.addCleanup(cluster.stop)
        return cluster.start()

    def start_sentinels(self, **kw):
        """A master, its replicas and sentinels (RedisSentinels) under this test's
        directory, every process stopped by PID in cleanup, even when the test fails."""
        sentinels = RedisSentinels(self.workdir, **kw)
        self.addCleanup(sentinels.stop)
        return sentinels.start()

    def restart_redis(self, redis):
        """A new redis-server on the same port (empty: no persistence)."""
        again = RedisServer(self.workdir, port=redis.port)
        self.addCleanup(again.stop)
        # The old socket may linger briefly in TIME_WAIT; redis sets SO_REUSEADDR.
        return again.start()

    def kill_redis(self, redis):
        redis.process.send_signal(signal.SIGKILL)
        redis.process.wait(5)


def stats(gateway):
    return admin_get(gateway.admin_port, '/admin/stats').json()


def code_loads(gateway, kind):
    """rate_limit_redis_code_loads_total{kind}: 'function' (FUNCTION LOAD created the
    library) or 'script' (EVAL after NOSCRIPT)."""
    return gateway.metrics().value('rate_limit_redis_code_loads_total', kind=kind)


def storage_metrics(gateway):
    m = gateway.metrics()
    return (m.total('rate_limit_storage_errors_total', backend='redis'),
            m.value('rate_limit_storage_degraded'))


def timed_requests(port, threads, per_thread, path, headers_of=None):
    """Requests from `threads` keep-alive connections; returns [(status, seconds,
    response)] in completion order. headers_of(thread, i) gives each request's headers."""
    results = []
    lock = threading.Lock()
    errors = []

    def run(n):
        try:
            with Client(port, timeout=10) as client:
                for i in range(per_thread):
                    headers = headers_of(n, i) if headers_of else None
                    started = time.monotonic()
                    r = client.get(path, headers)
                    elapsed = time.monotonic() - started
                    with lock:
                        results.append((r.status, elapsed, r))
        except Exception as e:
            errors.append(e)

    run_threads(run, [(n,) for n in range(threads)], errors)
    return results


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def rate_limit_headers(response):
    return [(k, v) for k, v in response.headers
            if k.lower().startswith(('x-ratelimit', 'ratelimit')) or k.lower() == 'retry-after']


__all__ = ['FastUpstream', 'Resp', 'RespError', 'redis_call', 'RedisCluster', 'start_cluster', 'commandstats', 'redis_state', 'storage_config',
           'RedisCase', 'stats', 'storage_metrics', 'hammer', 'timed_requests', 'percentile',
           'rate_limit_headers', 'request', 'wait_for']
