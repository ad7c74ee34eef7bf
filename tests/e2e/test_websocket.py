"""WebSocket pass-through (issue 12): a handshake is identified and decided like any
request (rate-limit headers, a 429 once the limit is spent), forwarded with its Upgrade,
and after the upstream's 101 the connection is a byte tunnel until either side closes,
neither sends anything for server.idle_timeout, or a draining gateway reaches
drain_timeout. A real WebSocket upstream and client (python3-websockets); raw sockets
for the bytes Sluice must (not) pass on."""

import asyncio
import base64
import os
import socket
import ssl
import struct
import subprocess
import time
import unittest

import websockets

from chromium import Chromium, find_chromium
from harness import GatewayTestCase, RawConnection, Sluice, free_port, wait_for
from tls_support import TestCA
from ws_upstream import WebSocketUpstream

POLICY = {
    'routes': [{'name': 'limited', 'match': '/limited/**'}],
    'limits': [
        {'name': 'per-ip', 'key': 'ip', 'rate': '100000/s', 'burst': 100000},
        {'name': 'handshakes', 'key': 'ip', 'rate': '2/1h', 'burst': 2, 'routes': ['limited']},
    ],
}


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))


def connect(port, path='/echo', **kwargs):
    return websockets.connect('ws://127.0.0.1:%d%s' % (port, path), max_size=None,
                              ping_interval=None, open_timeout=10, **kwargs)


def handshake(path='/echo', extra=''):
    key = base64.b64encode(os.urandom(16)).decode()
    return ('GET %s HTTP/1.1\r\nHost: example.test\r\nConnection: Upgrade\r\n'
            'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n'
            '%s\r\n' % (path, key, extra))


def client_frame(text):
    """One masked text frame (a client's frames are masked), payload < 126 bytes."""
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def read_server_frame(conn):
    """One unmasked frame from the server, payload < 126 bytes: (opcode, payload)."""
    first, length = conn._read_exact(2)
    return first & 0x0F, conn._read_exact(length & 0x7F)


class WebSocketThroughSluice(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.ws_upstream = WebSocketUpstream()
        self.addCleanup(self.ws_upstream.stop)

    def start(self, server=None):
        return self.start_sluice({'server': server or {}}, POLICY, upstream_url=self.ws_upstream.url)

    def test_echo_text_binary_large_and_fragmented(self):
        gateway = self.start()
        big = os.urandom(3 * 1024 * 1024 + 17)

        async def session():
            async with connect(gateway.port) as ws:
                await ws.send('hello')
                self.assertEqual(await ws.recv(), 'hello')
                await ws.send(b'\x00\x01binary')
                self.assertEqual(await ws.recv(), b'\x00\x01binary')
                await ws.send(big)
                self.assertEqual(await ws.recv(), big)
                await ws.send(iter(['frag', 'men', 'ted']))  # one message, three frames
                self.assertEqual(await ws.recv(), 'fragmented')
                await ws.send(iter([big[:100000], big[100000:]]))
                self.assertEqual(await ws.recv(), big)
        run(session())
        # The upstream saw the handshake as a forwarded request.
        headers = self.ws_upstream.handshakes[-1]
        self.assertEqual(headers['Upgrade'], 'websocket')
        self.assertIn('127.0.0.1', headers['X-Forwarded-For'])
        self.assertIn('1.1 sluice', headers['Via'])
        wait_for(lambda: self.ws_upstream.closes == [1000], message='upstream saw close 1000')

    def test_echo_over_a_tls_listener(self):
        ca = TestCA(os.path.join(self.workdir, 'pki'))
        cert, key = ca.issue('server', 'localhost', 'DNS:localhost')
        tls_port = free_port()
        config = self.make_config(
            {'server': {}}, upstream_url=self.ws_upstream.url)
        config['listen'] = [config['listen'],
                            {'address': '127.0.0.1:%d' % tls_port,
                             'tls': {'cert': cert, 'key': key}}]
        gateway = Sluice(self.workdir, config, POLICY)
        self.addCleanup(self._stop_gateway, gateway)
        gateway.start()
        context = ssl.create_default_context(cafile=ca.ca)
        big = os.urandom(1024 * 1024 + 3)

        async def session():
            async with websockets.connect('wss://localhost:%d/echo' % tls_port, ssl=context,
                                          max_size=None, ping_interval=None,
                                          open_timeout=10) as ws:
                await ws.send('over tls')
                self.assertEqual(await ws.recv(), 'over tls')
                await ws.send(big)
                self.assertEqual(await ws.recv(), big)
            return ws.close_code

        self.assertEqual(run(session()), 1000)
        handshake_seen = self.ws_upstream.handshakes[-1]
        self.assertEqual(handshake_seen.get('X-Forwarded-Proto'), 'https')

    def test_handshake_is_rate_limited_with_headers(self):
        gateway = self.start()

        async def open_and_close():
            async with connect(gateway.port, '/limited/chat') as ws:
                await ws.send('x')
                await ws.recv()
                return ws.response_headers
        first = run(open_and_close())
        second = run(open_and_close())
        self.assertEqual(first['X-RateLimit-Limit'], '2')
        self.assertEqual(first['X-RateLimit-Remaining'], '1')
        self.assertEqual(second['X-RateLimit-Remaining'], '0')
        with self.assertRaises(websockets.InvalidStatusCode) as refused:
            run(open_and_close())
        self.assertEqual(refused.exception.status_code, 429)
        self.assertIn('Retry-After', refused.exception.headers)
        self.assertEqual(len(self.ws_upstream.handshakes), 2, 'a 429 reached the upstream')
        log = gateway.access_log(wait_for_lines=3)
        # A tunnel's line is written when the tunnel ends, which for the second one may
        # come after the third handshake's 429 (seen on a busy machine): compare as a set.
        self.assertEqual(sorted(line['status'] for line in log[-3:]), [101, 101, 429])

    def test_upstream_closing_reaches_the_client(self):
        gateway = self.start()

        async def session():
            async with connect(gateway.port) as ws:
                await ws.send('close:4000')
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return ws.close_code
        self.assertEqual(run(session()), 4000)

    def test_client_closing_reaches_the_upstream(self):
        gateway = self.start()

        async def session():
            ws = await connect(gateway.port)
            await ws.send('hi')
            await ws.recv()
            await ws.close(4001, 'client done')
        run(session())
        wait_for(lambda: self.ws_upstream.closes == [4001], message='upstream saw close 4001')

    def test_tunnels_are_counted(self):
        gateway = self.start()

        async def session():
            async with connect(gateway.port) as ws:
                await ws.send('x')
                await ws.recv()
                metrics = gateway.metrics()
                self.assertEqual(metrics.value('gateway_websocket_tunnels'), 1)
                self.assertEqual(metrics.value('gateway_websocket_tunnels_total'), 1)
                self.assertGreaterEqual(metrics.value('gateway_active_connections'), 1)
        run(session())
        wait_for(lambda: gateway.metrics().value('gateway_websocket_tunnels') == 0,
                 message='tunnel gauge back to 0')
        self.assertEqual(gateway.metrics().value('gateway_websocket_tunnels_total'), 1)

    def test_idle_tunnel_is_closed_and_a_busy_one_is_not(self):
        gateway = self.start({'idle_timeout': '1s'})

        async def session():
            async with connect(gateway.port) as busy, connect(gateway.port) as idle:
                opened = time.monotonic()
                for _ in range(8):  # 2 s of traffic, a message every 250 ms
                    await busy.send('tick')
                    self.assertEqual(await busy.recv(), 'tick')
                    await asyncio.sleep(0.25)
                with self.assertRaises(websockets.ConnectionClosed):
                    await idle.recv()
                closed_after = time.monotonic() - opened
                await busy.send('still here')
                self.assertEqual(await busy.recv(), 'still here')
                return closed_after
        closed_after = run(session())
        self.assertLess(closed_after, 4.0)

    def test_draining_gateway_closes_tunnels_after_drain_timeout(self):
        gateway = self.start({'drain_timeout': '1s'})

        async def session():
            async with connect(gateway.port) as ws:
                await ws.send('x')
                await ws.recv()
                started = time.monotonic()
                gateway.signal(15)
                await ws.send('during drain')  # the tunnel still works while draining
                self.assertEqual(await ws.recv(), 'during drain')
                with self.assertRaises(websockets.ConnectionClosed):
                    await ws.recv()
                return time.monotonic() - started
        self.assertLess(run(session()), 5.0)
        self.assertEqual(gateway.process.wait(10), 0)

    def test_message_limit_paces_the_clients_messages(self):
        gateway = self.start({'websocket_messages': {'rate': '20/s', 'burst': 5}})

        async def session():
            async with connect(gateway.port) as ws:
                started = time.monotonic()
                for i in range(25):
                    await ws.send('m%d' % i)
                echoed = [await ws.recv() for _ in range(25)]
                return time.monotonic() - started, echoed
        elapsed, echoed = run(session())
        self.assertEqual(echoed, ['m%d' % i for i in range(25)])  # all of them, in order
        # 20 messages past the burst of 5, at 20 per second: held one second in all.
        self.assertGreaterEqual(elapsed, 0.95)
        self.assertLess(elapsed, 5)
        wait_for(lambda: 20 <= gateway.metrics().value(
            'gateway_websocket_messages_delayed_total') <= 25, message='delayed messages counted')

    def test_frames_sent_with_the_handshake_go_through_first(self):
        gateway = self.start()
        with RawConnection(gateway.port) as conn:
            # A client that does not wait for the 101: its frame is behind the head.
            conn.send(handshake().encode() + client_frame('early'))
            version, status, _, headers = conn.read_head()
            self.assertEqual(status, 101)
            names = {name.lower(): value for name, value in headers}
            self.assertEqual(names['upgrade'].lower(), 'websocket')
            self.assertEqual(names['connection'].lower(), 'upgrade')
            self.assertIn('sec-websocket-accept', names)
            self.assertIn('x-ratelimit-limit', names)
            self.assertEqual(read_server_frame(conn), (1, b'early'))

    def test_other_answers_keep_the_connection_http(self):
        gateway = self.start()
        with RawConnection(gateway.port) as conn:
            conn.send(handshake('/refuse'))
            self.assertEqual(conn.read_response().status, 403)
            conn.send('GET /plain HTTP/1.1\r\nHost: example.test\r\n\r\n')
            response = conn.read_response()
            self.assertEqual((response.status, response.body), (200, b'plain'))


class WebSocketFromChromium(GatewayTestCase):
    """A real browser's handshake (with its permessage-deflate offer) and frames."""

    def browser_echo(self, url, ws_upstream, extra_flags=()):
        """Headless Chromium opens `url`, sends a short and a 200,000-character message,
        and checks both come back; then what the upstream saw of the browser."""
        binary = find_chromium()
        if not binary:
            raise unittest.SkipTest('chromium is not installed: run scripts/install-deps.sh')
        browser = Chromium(binary, os.path.join(self.workdir, 'chromium-profile'),
                           os.path.join(self.workdir, 'chromium.log'), extra_flags)
        self.addCleanup(browser.close)
        browser.open_page()
        echoed = browser.evaluate('''new Promise((resolve, reject) => {
            const ws = new WebSocket('%s');
            const big = 'x'.repeat(200000);
            const got = [];
            ws.onopen = () => { ws.send('from chromium'); ws.send(big); };
            ws.onmessage = (e) => {
              got.push(e.data.length > 100 ? 'big:' + (e.data === big) : e.data);
              if (got.length === 2) { ws.close(1000); resolve(got); }
            };
            ws.onerror = () => reject('WebSocket error');
        })''' % url, await_promise=True, timeout=20)
        self.assertEqual(echoed, ['from chromium', 'big:true'])
        handshake = ws_upstream.handshakes[-1]
        self.assertIn('Chrome', handshake['User-Agent'])
        # The browser's compression offer reached the upstream, which took it: the
        # compressed frames went through the tunnel unchanged.
        self.assertIn('permessage-deflate', handshake['Sec-WebSocket-Extensions'])
        wait_for(lambda: ws_upstream.closes == [1000], message='upstream saw close 1000')
        return handshake

    def test_browser_echo_through_sluice(self):
        ws_upstream = WebSocketUpstream()
        self.addCleanup(ws_upstream.stop)
        gateway = self.start_sluice({}, POLICY, upstream_url=ws_upstream.url)
        self.browser_echo('ws://127.0.0.1:%d/echo' % gateway.port, ws_upstream)

    def test_browser_echo_through_sluice_over_tls(self):
        ws_upstream = WebSocketUpstream()
        self.addCleanup(ws_upstream.stop)
        ca = TestCA(os.path.join(self.workdir, 'pki'))
        cert, key = ca.issue('server', '127.0.0.1', 'IP:127.0.0.1')
        tls_port = free_port()
        config = self.make_config({}, upstream_url=ws_upstream.url)
        config['listen'] = [config['listen'], {'address': '127.0.0.1:%d' % tls_port,
                                               'tls': {'cert': cert, 'key': key}}]
        gateway = Sluice(self.workdir, config, POLICY)
        self.addCleanup(self._stop_gateway, gateway)
        gateway.start()
        # Chromium trusts this one certificate by its public key's hash (it has no way to
        # take a CA file); everything else about the certificate it still checks.
        spki = subprocess.run(
            'openssl x509 -pubkey -noout -in "%s" | openssl pkey -pubin -outform der '
            '| openssl dgst -sha256 -binary | base64' % cert,
            shell=True, capture_output=True, text=True, check=True, timeout=30).stdout.strip()
        handshake = self.browser_echo(
            'wss://127.0.0.1:%d/echo' % tls_port, ws_upstream,
            ['--ignore-certificate-errors-spki-list=' + spki])
        self.assertEqual(handshake['X-Forwarded-Proto'], 'https')
        self.assertEqual(gateway.metrics().value('gateway_tls_handshakes_total', result='ok'), 1)


class UpgradeHeadersReachingTheUpstream(GatewayTestCase):
    """What a plain HTTP upstream receives (it records every request it parsed)."""

    def sent(self, request):
        gateway = self.sluice or self.start_sluice(policy=POLICY)
        with RawConnection(gateway.port) as conn:
            conn.send(request)
            response = conn.read_response()
            self.assertEqual(response.status, 200, response)
            return self.upstream.last()

    def test_websocket_handshake_keeps_upgrade(self):
        got = self.sent(handshake())
        self.assertEqual(got.header_values('Upgrade'), ['websocket'])
        self.assertEqual(got.header_values('Connection'), ['Upgrade'])

    def test_other_upgrades_are_stripped(self):
        for request in (
                # h2c would carry further requests inside the tunnel, past the limits.
                'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n'
                'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
                # A handshake with a body, two Upgrade lines, HTTP/1.0, no Connection: upgrade.
                handshake(extra='Content-Length: 5\r\n') + 'hello',
                handshake(extra='Upgrade: websocket\r\n'),
                handshake().replace('HTTP/1.1', 'HTTP/1.0', 1),
                handshake().replace('Connection: Upgrade', 'Connection: keep-alive'),
        ):
            with self.subTest(request=request[:60]):
                got = self.sent(request)
                self.assertEqual(got.header_values('Upgrade'), [])
                self.assertEqual(got.header_values('HTTP2-Settings'), [])
                self.assertEqual(got.header_values('Connection'), [])


if __name__ == '__main__':
    unittest.main()
