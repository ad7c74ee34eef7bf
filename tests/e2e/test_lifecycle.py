"""Connection and process lifecycle (SPEC 1, 2, 11): slow clients cut at
header_timeout while others are served, idle keep-alive connections closed, graceful
drain on SIGTERM/SIGINT, reload on SIGHUP."""

import select
import signal
import threading
import time
import unittest

from harness import Client, GatewayTestCase, admin_get, port_accepts, wait_for


class SlowClients(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice({'server': {'header_timeout': '1s', 'idle_timeout': '1s'}})

    def drip_until_closed(self, conn, limit_s=5.0):
        """Sends one header byte every 100 ms until the gateway closes the connection;
        returns how long that took."""
        started = time.monotonic()
        conn.send('GET /slow HTTP/1.1\r\nHost: x\r\n')
        while time.monotonic() - started < limit_s:
            try:
                conn.send('X')
                readable, _, _ = select.select([conn.sock], [], [], 0.1)
                if readable and not conn.sock.recv(1024):
                    return time.monotonic() - started
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
        self.fail('the slow client was never cut off')

    def test_slow_header_client_is_cut_while_others_are_served(self):
        slow = self.raw()
        latencies = []

        def others():
            with Client(self.sluice.port) as client:
                for _ in range(15):
                    started = time.monotonic()
                    self.assertEqual(client.get('/fast').status, 200)
                    latencies.append(time.monotonic() - started)
                    time.sleep(0.05)

        thread = threading.Thread(target=others)
        thread.start()
        cut_after = self.drip_until_closed(slow)
        thread.join(10)
        self.assertGreaterEqual(cut_after, 0.9)
        self.assertLess(cut_after, 2.0)
        self.assertEqual(len(latencies), 15)
        self.assertLess(max(latencies), 0.5)
        self.assertEqual([r.path for r in self.upstream.requests], ['/fast'] * 15)

    def test_many_slow_clients_do_not_block_the_gateway(self):
        slow = [self.raw() for _ in range(50)]
        for conn in slow[::2]:  # half send part of a head, half nothing at all
            conn.send('GET / HTTP/1.1\r\n')
        self.assertEqual(self.get('/fast').status, 200)
        for conn in slow:
            self.assertTrue(conn.is_closed(timeout=3))

    def test_idle_keep_alive_connection_is_closed(self):
        conn = self.raw()
        conn.send('GET /once HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertEqual(conn.read_response().status, 200)
        started = time.monotonic()
        self.assertTrue(conn.is_closed(timeout=3))
        self.assertGreaterEqual(time.monotonic() - started, 0.8)


class Drain(GatewayTestCase):
    def in_flight(self, n, path):
        """Starts n requests on their own connections; returns (threads, responses)
        once the upstream has received all of them."""
        responses = []
        target = self.upstream.count + n

        def send():
            try:
                with Client(self.sluice.port, timeout=15) as client:
                    responses.append(client.get(path))
            except OSError as e:  # cut off by drain_timeout
                responses.append(e)

        threads = [threading.Thread(target=send) for _ in range(n)]
        for t in threads:
            t.start()
        wait_for(lambda: self.upstream.count >= target, message='requests in flight')
        return threads, responses

    def test_in_flight_requests_complete_and_new_connections_are_refused(self):
        self.start_sluice({'server': {'drain_timeout': '5s'}})
        idle = self.raw()
        idle.send('GET /idle HTTP/1.1\r\nHost: x\r\n\r\n')
        idle.read_response()
        admin = Client(self.sluice.admin_port)
        self.addCleanup(admin.close)
        self.assertEqual(admin.get('/readyz').status, 200)
        threads, responses = self.in_flight(3, '/delay/1500')

        self.sluice.signal(signal.SIGTERM)
        wait_for(lambda: not port_accepts(self.sluice.port), timeout=1,
                 message='the listener to close')
        self.assertTrue(idle.is_closed(timeout=1), 'idle connections are closed at once')
        readyz = admin.get('/readyz')
        self.assertEqual(readyz.status, 503)
        self.assertEqual(readyz.json(), {'status': 'draining'})
        self.assertEqual(admin_get(self.sluice.admin_port, '/readyz').status, 503)

        for t in threads:
            t.join(10)
        self.assertEqual([getattr(r, 'status', r) for r in responses], [200, 200, 200],
                         self.sluice.stderr())
        for r in responses:
            self.assertEqual(r.header('Connection'), 'close')
        self.assertEqual(self.sluice.process.wait(10), 0)

    def test_drain_timeout_bounds_the_wait(self):
        self.start_sluice({'server': {'drain_timeout': '300ms'}})
        self.in_flight(1, '/delay/4000')
        started = time.monotonic()
        self.assertEqual(self.sluice.stop(), 0)
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertIn('drain_timeout reached', self.sluice.stderr())

    def test_sigint_drains_like_sigterm(self):
        self.start_sluice()
        self.assertEqual(self.get('/x').status, 200)
        self.sluice.signal(signal.SIGINT)
        self.assertEqual(self.sluice.process.wait(10), 0)

    def test_exit_code_zero_with_nothing_in_flight(self):
        self.start_sluice()
        self.assertEqual(self.sluice.stop(), 0)


class Reload(GatewayTestCase):
    POLICY = {'limits': [{'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 2}]}

    def test_sighup_applies_a_new_policy_and_a_bad_one_is_refused(self):
        self.start_sluice({}, self.POLICY)
        client = self.client()
        self.assertEqual(client.get('/r').header('X-RateLimit-Limit'), '2')

        self.sluice.write_config(policy={'limits': [
            {'name': 'per-ip', 'key': 'ip', 'rate': '1/1h', 'burst': 7}]})
        self.assertTrue(self.sluice.reload())
        self.assertEqual(client.get('/r').header('X-RateLimit-Limit'), '7')

        self.sluice.write_config(policy='limits: [{name: broken, rate: -1/s}]\n')
        self.assertFalse(self.sluice.reload())
        self.assertEqual(client.get('/r').header('X-RateLimit-Limit'), '7')
        self.assertIn('policies.yaml:1:', self.sluice.stderr())
        self.assertTrue(self.sluice.running())


if __name__ == '__main__':
    unittest.main()
