"""Drained reads (README, "Reads after a write"; net/drained_read.hpp): after a read that
came back short, the gateway's next read on that socket waits for epoll instead of
trying at once (the system call that found nothing). These tests drive the reads that
follow a write through the real gateway on one worker, every way they can end: the
peer's bytes already there, not there yet, late and in pieces, the peer gone, a pooled
upstream connection closed meanwhile. TLS records go through the same transport
(http/tcp_transport.hpp; not drained, see README "TLS against nginx"): a record late and
cut in pieces, concurrent keep-alive clients. (tests/net/drained_read_test.cpp and
tests/http/peer_stream_test.cpp count the system calls.)"""

import json
import socket
import ssl
import threading
import time
import unittest

import test_smuggling
import test_tls
from harness import Client, GatewayTestCase, run_threads


class DrainedReads(GatewayTestCase):
    def setUp(self):
        super().setUp()
        self.start_sluice({'server': {'threads': 1}})

    def test_concurrent_keep_alive_clients_each_get_their_own_answers(self):
        errors = []
        lock = threading.Lock()
        answered = []

        def run(n):
            try:
                with Client(self.sluice.port, timeout=30) as client:
                    for i in range(40):
                        path = '/rb/%d/%d' % (n, i)
                        response = client.get(path)
                        if response.status != 200 or response.json()['path'] != path:
                            raise AssertionError('%s answered with %r' % (path, response))
                with lock:
                    answered.append(n)
            except Exception as e:  # reported by run_threads
                errors.append(e)

        run_threads(run, [(n,) for n in range(8)], errors)
        self.assertEqual(sorted(answered), list(range(8)))
        self.assertEqual(len(self.upstream.requests), 8 * 40)

    def test_a_request_that_comes_later_and_in_pieces_is_read_when_it_arrives(self):
        conn = self.raw()
        for i in range(5):
            time.sleep(0.05)  # the gateway's read after the answer waits for epoll
            conn.send('GET /later/%d HTTP/1.1\r\nHo' % i)
            time.sleep(0.05)
            conn.send('st: x\r\n\r\n')
            response = conn.read_response()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.json()['path'], '/later/%d' % i)

    def test_requests_written_before_their_answers_are_answered_in_order(self):
        conn = self.raw()
        for i in range(3):
            conn.send('GET /early/%d HTTP/1.1\r\nHost: x\r\n\r\n' % i)
            time.sleep(0.03)  # each one in a segment of its own, before any answer is read
        for i in range(3):
            self.assertEqual(conn.read_response().json()['path'], '/early/%d' % i)

    def test_clients_that_leave_after_their_answer_leave_the_worker_serving(self):
        for i in range(20):
            conn = self.raw()
            conn.send('GET /leave/%d HTTP/1.1\r\nHost: x\r\n\r\n' % i)
            self.assertEqual(conn.read_response().status, 200)
            conn.close()  # while the gateway reads for the next request
        client = self.client()
        for i in range(5):
            self.assertEqual(client.get('/stay/%d' % i).status, 200)
        self.assertTrue(self.sluice.running())
        self.assertNotIn('exception', self.sluice.stderr().lower())

    def test_a_pooled_connection_the_upstream_closed_is_replaced(self):
        for i in range(3):
            self.assertEqual(self.get('/linger-close').status, 200)
            time.sleep(0.2)  # the upstream has closed its idle side meanwhile
            self.assertEqual(self.get('/after-close/%d' % i).status, 200)
            self.assertEqual(self.request('POST', '/after-close', body=b'abc').status, 200)


class DrainedReadsAgainstARawUpstream(test_smuggling.SmugglingTestCase):
    def test_an_upstream_answer_that_comes_late_and_in_pieces_is_read_when_it_arrives(self):
        client = self.client()
        for i in range(4):
            # Each answer on the one pooled connection: its read waits for epoll after
            # the last answer's short read, and again between the pieces.
            response = client.get('/late-pieces/%d' % i)
            self.assertEqual(response.status, 200)
            self.assertEqual(response.header('X-Answer-To'), '/late-pieces/%d' % i)
            self.assertEqual(response.body, b'late')
        self.assert_upstream_parsed(['/late-pieces/%d' % i for i in range(4)])


class TlsRecordsInPieces:
    """A TLS client on a raw socket (ssl.MemoryBIO), so that the test decides how the
    bytes of each record are cut and when they go."""

    def __init__(self, port, context):
        self.raw = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname='localhost')
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.raw.sendall(self.outgoing.read())
                self._receive()
        self.raw.sendall(self.outgoing.read())

    def _receive(self):
        data = self.raw.recv(65536)
        if not data:
            raise ConnectionError('the gateway closed the connection')
        self.incoming.write(data)

    def send_in_pieces(self, request, pieces, pause):
        """The request as one TLS record, written in `pieces` parts `pause` apart."""
        self.tls.write(request.encode())
        record = self.outgoing.read()
        step = -(-len(record) // pieces)
        for at in range(0, len(record), step):
            time.sleep(pause)
            self.raw.sendall(record[at:at + step])

    def read_response(self):
        """(status, JSON body) of one answer with a Content-Length."""
        data = b''
        while True:
            head, sep, body = data.partition(b'\r\n\r\n')
            if sep:
                fields = dict(line.split(b':', 1) for line in head.split(b'\r\n')[1:])
                length = int({k.strip().lower(): v for k, v in fields.items()}[b'content-length'])
                if len(body) >= length:
                    return int(head.split()[1]), json.loads(body[:length])
            try:
                data += self.tls.read(65536)
            except ssl.SSLWantReadError:
                self._receive()

    def close(self):
        self.raw.close()


class TlsRecordReads(test_tls.TlsCase):
    def setUp(self):
        super().setUp()
        self.start_tls(server={'threads': 1})

    def test_a_request_record_that_comes_later_and_in_pieces_is_read_when_it_arrives(self):
        conn = TlsRecordsInPieces(self.tls_port, self.context())
        self.addCleanup(conn.close)
        for i in range(4):
            # After each answer, and between the pieces of the record (which TLS cannot
            # decrypt before it has them all), the gateway's read waits for epoll.
            conn.send_in_pieces('GET /tls-later/%d HTTP/1.1\r\nHost: x\r\n\r\n' % i, 3, 0.05)
            status, body = conn.read_response()
            self.assertEqual(status, 200)
            self.assertEqual(body['path'], '/tls-later/%d' % i)

    def test_concurrent_keep_alive_tls_clients_each_get_their_own_answers(self):
        errors = []

        def run(n):
            try:
                with socket.create_connection(('127.0.0.1', self.tls_port), timeout=30) as raw:
                    with self.context().wrap_socket(raw, server_hostname='localhost') as s:
                        for i in range(25):
                            path = '/tls-rb/%d/%d' % (n, i)
                            status, _, body = self._exchange(s, path, close=False)
                            if status != 200 or json.loads(body)['path'] != path:
                                raise AssertionError('%s answered %d %r' % (path, status, body))
            except Exception as e:  # reported by run_threads
                errors.append(e)

        run_threads(run, [(n,) for n in range(6)], errors)
        self.assertEqual(len(self.upstream.requests), 6 * 25)


if __name__ == '__main__':
    unittest.main()
