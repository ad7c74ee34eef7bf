"""HTTPS upstreams (SPEC 15, issue 12): Sluice verifies the upstream's certificate
against upstream.tls.ca and the name it expects, presents a client certificate when
configured, and reuses its TLS connections like plain ones. A real Python ssl upstream
with a CA the test makes; Sluice's failures are 502 with the JSON error shape."""

import os
import ssl
import subprocess
import unittest

from harness import SLUICE_BIN, GatewayTestCase, Client
from tls_support import TestCA
from upstream import Upstream


class HttpsUpstream(GatewayTestCase):

    def setUp(self):
        super().setUp()
        self.ca = TestCA(os.path.join(self.workdir, 'pki'))
        self.server_cert = self.ca.issue('upstream', 'localhost', 'DNS:localhost,IP:127.0.0.1')

    def tls_upstream(self, client_ca=None):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*self.server_cert)
        if client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(client_ca)
        upstream = Upstream(tls=context)
        self.addCleanup(upstream.stop)
        self.upstream = upstream
        return upstream

    def gateway(self, upstream, tls, host='localhost'):
        return self.start_sluice(
            {'upstream': {'tls': tls}},
            upstream_url='https://%s:%d' % (host, upstream.port))

    def assert_bad_gateway(self, response):
        self.assertEqual(response.status, 502)
        self.assertEqual(response.json()['error']['code'], 'bad_gateway')

    def test_a_verified_upstream_is_served_over_reused_tls_connections(self):
        upstream = self.tls_upstream()
        self.gateway(upstream, {'ca': self.ca.ca})
        client = self.client()
        for _ in range(5):
            response = client.get('/verified')
            self.assertEqual(response.status, 200)
            self.assertEqual(response.json()['path'], '/verified')
        self.assertEqual(upstream.count, 5)
        # One client connection stays on one worker, whose pool keeps one TLS connection.
        self.assertEqual(len({r.peer_port for r in upstream.requests}), 1)

    def test_a_certificate_for_another_name_is_refused(self):
        upstream = self.tls_upstream()
        self.gateway(upstream, {'ca': self.ca.ca, 'server_name': 'other.test'})
        self.assert_bad_gateway(self.get('/x'))
        self.assertEqual(upstream.count, 0)

    def test_a_certificate_from_another_ca_is_refused(self):
        upstream = self.tls_upstream()
        other = TestCA(os.path.join(self.workdir, 'other'), name='Other CA')
        self.gateway(upstream, {'ca': other.ca})
        self.assert_bad_gateway(self.get('/x'))
        self.assertEqual(upstream.count, 0)

    def test_an_ip_address_is_checked_against_the_certificates_ip_entries(self):
        upstream = self.tls_upstream()
        self.gateway(upstream, {'ca': self.ca.ca}, host='127.0.0.1')
        self.assertEqual(self.get('/by-ip').status, 200)

    def test_insecure_skip_verify_is_explicit_and_warned(self):
        upstream = self.tls_upstream()
        gateway = self.gateway(upstream, {'insecure_skip_verify': True})
        self.assertEqual(self.get('/unverified').status, 200)
        self.assertIn('WARNING: upstream.tls.insecure_skip_verify is true', gateway.stderr())

    def test_a_client_certificate_for_an_upstream_that_requires_one(self):
        upstream = self.tls_upstream(client_ca=self.ca.ca)
        cert, key = self.ca.issue('gateway', 'sluice-gateway')
        self.gateway(upstream, {'ca': self.ca.ca, 'cert': cert, 'key': key})
        self.assertEqual(self.get('/with-cert').status, 200)

    def test_without_the_client_certificate_it_requires_the_upstream_is_a_502(self):
        upstream = self.tls_upstream(client_ca=self.ca.ca)
        self.gateway(upstream, {'ca': self.ca.ca})
        self.assert_bad_gateway(self.get('/without-cert'))
        self.assertEqual(upstream.count, 0)

    def test_an_unusable_client_key_is_a_config_error(self):
        cert, _ = self.ca.issue('gateway', 'sluice-gateway')
        gateway = self.start_sluice(
            {'upstream': {'tls': {'ca': self.ca.ca, 'cert': cert, 'key': self.ca.path('ca.key')}}},
            upstream_url='https://localhost:1', wait=False)
        self.assertNotEqual(gateway.process.wait(timeout=10), 0)
        self.assertIn('upstream.tls: %s: private key does not match certificate %s'
                      % (self.ca.path('ca.key'), cert), gateway.stderr())
        check = subprocess.run([SLUICE_BIN, '--check-config', gateway.config_path],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(check.returncode, 1)
        self.assertRegex(check.stderr, r'config\.yaml:\d+:\d+: upstream\.tls: .*private key does '
                                       r'not match certificate')


if __name__ == '__main__':
    unittest.main()
