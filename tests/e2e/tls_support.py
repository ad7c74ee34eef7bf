"""Certificates for the TLS end-to-end tests, made by the test with the openssl command
line tool (the real thing, no canned keys): a CA in a directory, and leaf certificates
it signs on demand (EC P-256)."""

import os
import subprocess


class TestCA:
    """ca.pem / ca.key in `directory`; issue() signs <name>.pem / <name>.key there."""

    def __init__(self, directory, name='Sluice e2e CA'):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self._run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                  'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=' + name,
                  '-keyout', 'ca.key', '-out', 'ca.pem')
        self.ca = self.path('ca.pem')

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, common_name, san='', days=1):
        """Signs <name>.pem and <name>.key for CN `common_name` with subjectAltName `san`
        (e.g. 'DNS:localhost,IP:127.0.0.1'); returns (cert path, key path)."""
        self._run('openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                  '-nodes', '-subj', '/CN=' + common_name, '-keyout', name + '.key', '-out',
                  name + '.csr')
        extension = []
        if san:
            with open(self.path(name + '.ext'), 'w') as f:
                f.write('subjectAltName=%s\n' % san)
            extension = ['-extfile', name + '.ext']
        self._run('openssl', 'x509', '-req', '-in', name + '.csr', '-CA', 'ca.pem', '-CAkey',
                  'ca.key', '-CAcreateserial', '-days', str(days), '-out', name + '.pem',
                  *extension)
        return self.path(name + '.pem'), self.path(name + '.key')

    def _run(self, *command):
        subprocess.run(command, cwd=self.dir, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30)
