"""TLS termination (SPEC 15, issue 12): HTTPS listeners next to plain ones, SNI among
several certificates, client certificates (mTLS) and the client_cert key part,
certificates refused at load, certificate reload under traffic, handshake bounds and
metrics. Real tools against the real binary: curl, Python's ssl module, openssl
s_client, a CA the test makes with the openssl CLI (tls_support.TestCA)."""

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import unittest

from harness import SLUICE_BIN, GatewayTestCase, Sluice, free_port, wait_for
from tls_support import TestCA

LIMITED = {
    'routes': [{'name': 'limited', 'match': '/limited/**'},
               {'name': 'per-certificate', 'match': '/certs/**'}],
    'limits': [
        {'name': 'per-ip', 'key': 'ip', 'rate': '100000/s', 'burst': 100000},
        {'name': 'tight', 'key': 'ip', 'rate': '3/1h', 'burst': 3, 'routes': ['limited']},
        {'name': 'per-cert', 'key': 'client_cert', 'rate': '2/1h', 'burst': 2,
         'routes': ['per-certificate']},
    ],
}


def peer_common_name(der):
    """The subject CN of a DER certificate (openssl x509 reads it)."""
    out = subprocess.run(['openssl', 'x509', '-inform', 'DER', '-noout', '-subject',
                          '-nameopt', 'multiline'], input=der, capture_output=True, timeout=10)
    for line in out.stdout.decode().splitlines():
        if 'commonName' in line:
            return line.split('=', 1)[1].strip()
    return ''


class TlsCase(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.ca = TestCA(os.path.join(self.workdir, 'pki'))
        self.cert, self.key = self.ca.issue('server', 'localhost', 'DNS:localhost,IP:127.0.0.1')

    def start_tls(self, tls=None, policy=None, server=None, wait=True, extra_listen=()):
        """A gateway with a plain listener and a TLS one (self.tls_port)."""
        self.tls_port = free_port()
        config = self.make_config({'server': server or {}})
        entry = {'address': '127.0.0.1:%d' % self.tls_port,
                 'tls': tls or {'cert': self.cert, 'key': self.key}}
        config['listen'] = [config['listen'], entry, *extra_listen]
        gateway = Sluice(self.workdir, config, policy or LIMITED)
        self.addCleanup(self._stop_gateway, gateway)
        gateway.start(wait)
        self.sluice = gateway
        return gateway

    def context(self, cert=None, key=None, cafile=None):
        ctx = ssl.create_default_context(cafile=cafile or self.ca.ca)
        if cert:
            ctx.load_cert_chain(cert, key)
        return ctx

    def https(self, path, ctx=None, server_hostname='localhost', headers=None):
        """One request on a new TLS connection: (status, headers dict, body)."""
        with socket.create_connection(('127.0.0.1', self.tls_port), timeout=10) as raw:
            with (ctx or self.context()).wrap_socket(raw, server_hostname=server_hostname) as s:
                return self._exchange(s, path, headers)

    @staticmethod
    def _exchange(s, path, headers=None, close=True):
        lines = ['GET %s HTTP/1.1' % path, 'Host: localhost']
        lines += ['%s: %s' % kv for kv in (headers or {}).items()]
        if close:
            lines.append('Connection: close')
        s.sendall(('\r\n'.join(lines) + '\r\n\r\n').encode())
        data = b''
        while b'\r\n\r\n' not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError('closed before the head: %r' % data)
            data += chunk
        head, _, body = data.partition(b'\r\n\r\n')
        status_line, *fields = head.decode().split('\r\n')
        got = {}
        for f in fields:
            name, _, value = f.partition(':')
            got[name.strip().lower()] = value.strip()
        length = int(got.get('content-length', '0'))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(status_line.split()[1]), got, body

    def handshakes(self, result):
        return self.sluice.metrics().value('gateway_tls_handshakes_total', result=result)


class Termination(TlsCase):
    def test_curl_over_tls_and_plain_side_by_side(self):
        self.start_tls()
        out = subprocess.run(['curl', '-sS', '--cacert', self.ca.ca, '-o', '-', '-w', '\n%{http_code} %{ssl_verify_result}',
                              'https://localhost:%d/hello' % self.tls_port],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.endswith('\n200 0'), out.stdout)
        self.assertEqual(self.upstream.last().path, '/hello')
        self.assertEqual(self.upstream.last().header('X-Forwarded-Proto'), 'https')
        self.assertEqual(self.get('/plain').status, 200)
        self.assertEqual(self.upstream.last().header('X-Forwarded-Proto'), 'http')
        self.assertEqual(self.handshakes('ok'), 1)

    def test_python_keep_alive_and_rate_limits_over_tls(self):
        self.start_tls()
        with socket.create_connection(('127.0.0.1', self.tls_port), timeout=10) as raw:
            with self.context().wrap_socket(raw, server_hostname='localhost') as s:
                self.assertEqual(s.version(), 'TLSv1.3')
                self.assertEqual(s.selected_alpn_protocol(), None)  # none offered
                statuses = []
                for _ in range(5):
                    status, headers, _ = self._exchange(s, '/limited/x', close=False)
                    statuses.append(status)
                self.assertEqual(statuses, [200, 200, 200, 429, 429])
                self.assertEqual(headers['x-ratelimit-limit'], '3')
                self.assertIn('retry-after', headers)
        self.assertEqual(self.handshakes('ok'), 1)  # five requests, one handshake

    def test_sni_picks_the_certificate_that_names_the_host(self):
        a = self.ca.issue('a', 'a.test', 'DNS:a.test')
        b = self.ca.issue('b', 'b.test', 'DNS:b.test')
        self.start_tls({'certificates': [{'cert': a[0], 'key': a[1]},
                                         {'cert': b[0], 'key': b[1]}]})
        for name, expected in (('a.test', 'a.test'), ('b.test', 'b.test'),
                               ('unknown.test', 'a.test')):
            ctx = self.context()
            ctx.check_hostname = False
            with socket.create_connection(('127.0.0.1', self.tls_port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=name) as s:
                    self.assertEqual(peer_common_name(s.getpeercert(binary_form=True)), expected)
        # Checking the name it asked for, a client refuses the default certificate.
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.https('/', server_hostname='unknown.test')

    def test_openssl_s_client_shows_tls13_alpn_and_the_version_floor(self):
        self.start_tls()

        def s_client(*flags):
            return subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % self.tls_port,
                                   '-servername', 'localhost', '-CAfile', self.ca.ca, *flags],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=30)
        modern = s_client('-alpn', 'http/1.1')
        self.assertIn('New, TLSv1.3', modern.stdout)
        self.assertIn('ALPN protocol: http/1.1', modern.stdout)
        self.assertIn('Verify return code: 0 (ok)', modern.stdout)
        self.assertIn('New, TLSv1.2', s_client('-tls1_2').stdout)
        old = s_client('-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0')
        self.assertNotIn('New, TLSv1', old.stdout)
        only_h2 = s_client('-alpn', 'h2')
        self.assertNotIn('ALPN protocol: h2', only_h2.stdout)
        self.assertEqual(self.get('/still-serving').status, 200)


class Refusals(TlsCase):
    def test_plain_http_to_the_tls_port_is_closed_and_counted(self):
        self.start_tls()
        with socket.create_connection(('127.0.0.1', self.tls_port), timeout=10) as s:
            s.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
            data = b''
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
        self.assertNotIn(b'HTTP/1.1', data)  # never an HTTP answer before a handshake
        wait_for(lambda: self.handshakes('failed') == 1, timeout=5, message='the failed count')
        self.assertEqual(self.https('/after')[0], 200)

    def test_a_silent_client_is_closed_at_header_timeout(self):
        self.start_tls(server={'header_timeout': '1s'})
        with socket.create_connection(('127.0.0.1', self.tls_port), timeout=10) as s:
            started = time.monotonic()
            self.assertEqual(s.recv(1), b'')  # closed by the gateway
            waited = time.monotonic() - started
        self.assertGreaterEqual(waited, 0.9)
        self.assertLess(waited, 5)
        wait_for(lambda: self.handshakes('timeout') == 1, timeout=5, message='the timeout count')

    def test_an_expired_certificate_is_refused_at_start_and_by_check_config(self):
        expired = self.ca.issue('expired', 'localhost', 'DNS:localhost', days=0)
        time.sleep(1.1)  # notAfter is the second it was signed
        gateway = self.start_tls({'cert': expired[0], 'key': expired[1]}, wait=False)
        self.assertNotEqual(gateway.process.wait(timeout=10), 0)
        self.assertRegex(gateway.stderr(), r'config\.yaml:\d+:\d+: listen\[1\]\.tls: %s: '
                         r'certificate expired on ' % expired[0].replace('.', r'\.'))
        check = subprocess.run([SLUICE_BIN, '--check-config', gateway.config_path],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(check.returncode, 1)
        self.assertIn('listen[1].tls: %s: certificate expired on' % expired[0], check.stderr)


class ClientCertificates(TlsCase):
    def start_mtls(self):
        return self.start_tls({'cert': self.cert, 'key': self.key, 'client_ca': self.ca.ca})

    def test_a_certificate_from_the_ca_is_required(self):
        self.start_mtls()
        alice = self.ca.issue('alice', 'alice')
        self.assertEqual(self.https('/mtls', self.context(*alice))[0], 200)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.https('/mtls')  # no certificate
        other = TestCA(os.path.join(self.workdir, 'other'), name='Other CA')
        stranger = other.issue('stranger', 'stranger')
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            self.https('/mtls', self.context(*stranger))
        wait_for(lambda: self.handshakes('failed') == 2, timeout=5, message='two failed')
        self.assertEqual(self.get('/plain-still').status, 200)

    def test_client_cert_keys_a_limit_per_certificate(self):
        self.start_mtls()
        alice = self.context(*self.ca.issue('alice', 'alice'))
        bob = self.context(*self.ca.issue('bob', 'bob'))
        self.assertEqual([self.https('/certs/a', alice)[0] for _ in range(3)], [200, 200, 429])
        self.assertEqual([self.https('/certs/b', bob)[0] for _ in range(3)], [200, 200, 429])
        status, headers, _ = self.https('/certs/a', alice)
        self.assertEqual((status, headers['x-ratelimit-limit']), (429, '2'))
        # Without a client certificate (the plain listener) the limit does not apply.
        self.assertEqual([self.get('/certs/c').status for _ in range(4)], [200] * 4)


class CertificateReload(TlsCase):
    def replace_certificate(self, name, common_name):
        cert, key = self.ca.issue(name, common_name, 'DNS:localhost,IP:127.0.0.1')
        shutil.copy(cert, self.cert)
        shutil.copy(key, self.key)

    def served_name(self):
        with socket.create_connection(('127.0.0.1', self.tls_port), timeout=10) as raw:
            with self.context().wrap_socket(raw, server_hostname='localhost') as s:
                return peer_common_name(s.getpeercert(binary_form=True))

    def test_reload_under_traffic_drops_nothing_and_a_bad_certificate_is_refused(self):
        gateway = self.start_tls()
        self.assertEqual(self.served_name(), 'localhost')
        failures, done = [], threading.Event()
        counts = {'new': 0, 'kept': 0}

        def new_connections():
            while not done.is_set():
                try:
                    if self.https('/reload')[0] != 200:
                        failures.append('status')
                    counts['new'] += 1
                except Exception as e:  # any failed request fails the test
                    failures.append(repr(e))

        def kept_connection():
            with socket.create_connection(('127.0.0.1', self.tls_port), timeout=10) as raw:
                with self.context().wrap_socket(raw, server_hostname='localhost') as s:
                    while not done.is_set():
                        try:
                            if self._exchange(s, '/kept', close=False)[0] != 200:
                                failures.append('kept status')
                            counts['kept'] += 1
                        except Exception as e:
                            failures.append('kept: ' + repr(e))
                            return

        threads = [threading.Thread(target=new_connections),
                   threading.Thread(target=kept_connection)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            self.replace_certificate('renewed', 'renewed')
            self.assertTrue(gateway.reload())
            wait_for(lambda: self.served_name() == 'renewed', timeout=5,
                     message='the renewed certificate')
            time.sleep(0.3)
        finally:
            done.set()
            for t in threads:
                t.join(timeout=30)
        self.assertEqual(failures, [])
        self.assertGreater(counts['new'], 5)
        self.assertGreater(counts['kept'], 5)

        # A key that does not match: the reload fails and the renewed one stays.
        shutil.copy(self.ca.path('ca.key'), self.key)
        self.assertFalse(gateway.reload())
        self.assertIn('private key does not match certificate', gateway.stderr())
        self.assertEqual(self.served_name(), 'renewed')

    def test_a_certificate_renewed_in_place_is_picked_up_by_the_file_watch(self):
        gateway = self.start_tls(extra_listen=())
        config = dict(gateway.config, reload={'watch': True})
        gateway.write_config(config)
        self.assertTrue(gateway.reload())  # now watching
        self.replace_certificate('watched', 'watched')
        wait_for(lambda: self.served_name() == 'watched', timeout=10,
                 message='the certificate picked up by the watch')


if __name__ == '__main__':
    unittest.main()
