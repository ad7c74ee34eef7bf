"""Descriptors and connections (SPEC 13, issue 8 item 9): Sluice raises its soft
open-file limit to the hard one at start, server.max_connections bounds client
connections (at the limit the longest-idle keep-alive connection makes room; with
none idle, new connections wait in the listen backlog), and running out of
descriptors at accept is logged once per episode without spinning."""

import os
import socket
import time
import unittest

from harness import Client, GatewayTestCase, RawConnection, port_accepts, wait_for


def soft_nofile(pid):
    with open('/proc/%d/limits' % pid) as f:
        for line in f:
            if line.startswith('Max open files'):
                return int(line.split()[3])
    raise AssertionError('no open-file limit for %d' % pid)


def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


class OpenFileLimit(GatewayTestCase):
    def test_soft_limit_is_raised_to_the_hard_one_and_logged(self):
        self.start_sluice(nofile=(256, 1024))
        self.assertEqual(soft_nofile(self.sluice.pid), 1024)
        # (1024 - 64 reserved - 256 idle upstream connections) / 2
        self.assertIn('sluice: max_connections 352 (derived from the open-file limit); '
                      'open files 1024 (soft limit raised from 256)\n', self.sluice.stderr())
        self.assertEqual(self.metrics().value('gateway_max_connections'), 352)
        self.assertEqual(self.get('/x').status, 200)

    def test_a_configured_limit_above_what_the_descriptors_carry_is_reported(self):
        self.start_sluice({'server': {'max_connections': 5000}}, nofile=(1024, 1024))
        self.assertIn('sluice: max_connections 5000; open files 1024; more than the open-file '
                      'limit carries (about 352): accepts beyond that fail with EMFILE\n',
                      self.sluice.stderr())
        self.assertEqual(self.metrics().value('gateway_max_connections'), 5000)

    def test_a_reload_applies_a_new_limit(self):
        self.start_sluice({'server': {'max_connections': 50}})
        self.assertEqual(self.metrics().value('gateway_max_connections'), 50)
        self.sluice.write_config(dict(self.sluice.config,
                                      server=dict(self.sluice.config['server'],
                                                  max_connections=60)))
        self.assertTrue(self.sluice.reload())
        self.assertEqual(self.metrics().value('gateway_max_connections'), 60)
        self.assertIn('sluice: max_connections 60\n', self.sluice.stderr())


class ConnectionLimit(GatewayTestCase):
    LIMIT = 50

    def open_idle(self, count):
        """`count` keep-alive connections that each completed one request and now idle."""
        clients = []
        for _ in range(count):
            c = Client(self.sluice.port, timeout=10)
            self.addCleanup(c.close)
            self.assertEqual(c.get('/idle').status, 200)
            clients.append(c)
        return clients

    def test_idle_keep_alive_connections_make_room_for_new_clients(self):
        self.start_sluice({'server': {'max_connections': self.LIMIT, 'idle_timeout': '60s'}})
        idle = self.open_idle(200)  # every one was served: each evicted an older idle one
        with Client(self.sluice.port, timeout=5) as client:
            started = time.monotonic()
            self.assertEqual(client.get('/well-behaved').status, 200)
            self.assertLess(time.monotonic() - started, 1.0)
        m = self.metrics()
        self.assertLessEqual(m.value('gateway_active_connections'), self.LIMIT)
        self.assertGreaterEqual(m.value('gateway_connections_evicted_total'), 200 + 1 - self.LIMIT)
        # The oldest went first; the newest are still open.
        closed = 0
        for c in idle[:100]:
            c.conn.sock.settimeout(2)
            try:
                closed += c.conn.sock.recv(1) == b''
            except ConnectionResetError:
                closed += 1
        self.assertEqual(closed, 100)
        self.assertEqual(idle[-1].get('/still-open').status, 200)
        stderr = self.sluice.stderr()
        self.assertEqual(stderr.count('server.max_connections (50) reached'), 1, stderr)
        self.assertTrue(self.sluice.running())

    def test_connections_that_never_send_a_request_make_room_too(self):
        # A connection waiting for its first request is as idle as a keep-alive one
        # (nginx reuses those too): a new client is served at once, not after
        # header_timeout.
        self.start_sluice({'server': {'max_connections': 20, 'header_timeout': '10s'}})
        silent = []
        for _ in range(60):
            s = socket.create_connection(('127.0.0.1', self.sluice.port), timeout=10)
            self.addCleanup(s.close)
            silent.append(s)
        wait_for(lambda: self.metrics().value('gateway_active_connections') >= 20,
                 message='20 connections held')
        time.sleep(0.3)
        # Two threads may admit at once: the bound holds to within one per thread.
        self.assertLessEqual(self.metrics().value('gateway_active_connections'), 22)
        started = time.monotonic()
        with Client(self.sluice.port, timeout=15) as client:
            self.assertEqual(client.get('/patient').status, 200)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertTrue(self.sluice.running())
        self.assertGreater(self.metrics().value('gateway_connections_evicted_total'), 0)


class DescriptorExhaustion(GatewayTestCase):
    def test_emfile_at_accept_is_logged_once_and_does_not_spin(self):
        # max_connections above what 64 descriptors carry: accept itself runs out.
        self.start_sluice({'server': {'max_connections': 1000, 'header_timeout': '30s'}},
                          nofile=(64, 64))
        socks = []
        for _ in range(120):
            s = socket.create_connection(('127.0.0.1', self.sluice.port), timeout=5)
            socks.append(s)
        try:
            wait_for(lambda: 'sluice: accept: Too many open files' in self.sluice.stderr(),
                     timeout=5, message='the EMFILE line')
            before = cpu_seconds(self.sluice.pid)
            time.sleep(1.0)
            self.assertLess(cpu_seconds(self.sluice.pid) - before, 0.3, 'accept loop spins')
        finally:
            for s in socks:
                s.close()
        # The episode ends at the first accept a quiet second after the last failure.
        wait_for(lambda: port_accepts(self.sluice.port) and
                 'sluice: accepting again (' in self.sluice.stderr(), timeout=10, interval=0.2,
                 message='the recovery line')
        stderr = self.sluice.stderr()
        self.assertEqual(stderr.count('sluice: accept: Too many open files'), 1, stderr)
        wait_for(lambda: port_accepts(self.sluice.admin_port), message='the admin listener')
        self.sluice.wait_healthy()
        self.assertEqual(self.get('/after').status, 200)
        self.assertTrue(self.sluice.running())


class UpstreamDescriptorExhaustion(GatewayTestCase):
    def test_no_descriptor_for_the_upstream_is_503_overloaded_not_an_upstream_failure(self):
        # One worker thread and a one-failure circuit breaker: were running out of
        # descriptors counted against the upstream, the next request would get 503
        # upstream_unavailable.
        self.start_sluice({'server': {'threads': 1, 'max_connections': 1000,
                                      'header_timeout': '30s'},
                           'upstream': {'circuit_breaker': {'failures': 1, 'cooldown': '30s'}}},
                          nofile=(64, 64))
        fd_dir = '/proc/%d/fd' % self.sluice.pid
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        # Connect until the gateway holds every descriptor: the next connection then
        # waits in the listen backlog. (First the start-up health check's admin
        # connection closes: the count must only grow with ours.)
        time.sleep(0.3)
        for _ in range(80):
            if len(os.listdir(fd_dir)) >= 64:
                break
            before = len(os.listdir(fd_dir))
            socks.append(socket.create_connection(('127.0.0.1', self.sluice.port), timeout=10))
            wait_for(lambda: len(os.listdir(fd_dir)) > before, timeout=2)
        pending = None
        if len(os.listdir(fd_dir)) >= 64:
            pending = socket.create_connection(('127.0.0.1', self.sluice.port), timeout=10)
            socks.append(pending)
        self.assertIsNotNone(pending, 'the descriptors never ran out')
        # Free one descriptor: the pending connection takes it, and its request finds
        # none left for the upstream connection.
        socks[0].close()
        pending.sendall(b'GET /x HTTP/1.1\r\nHost: x\r\n\r\n')
        conn = RawConnection.__new__(RawConnection)
        conn.sock, conn.buffer = pending, b''
        response = conn.read_response()
        self.assertErrorBody(response, 503, 'overloaded')
        self.assertEqual(response.header('Retry-After'), '1')
        for s in socks[1:]:
            s.close()
        wait_for(lambda: port_accepts(self.sluice.admin_port), message='the admin listener')
        self.sluice.wait_healthy()
        self.assertEqual(self.get('/after').status, 200)  # the breaker did not open
        metrics = self.metrics()
        self.assertEqual(metrics.total('gateway_upstream_errors_total'), 0)
        self.assertEqual(metrics.value('gateway_http_errors_total', code='503'), 1)


if __name__ == '__main__':
    unittest.main()
