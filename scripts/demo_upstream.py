#!/usr/bin/env python3
"""The demo API behind Sluice (scripts/run.sh starts it): answers every request with a
JSON echo of what it received, so the headers Sluice adds are visible.

Usage: scripts/demo_upstream.py [--host 127.0.0.1] [--port 8000]
"""

import argparse
import http.server
import json
import sys


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'  # keep-alive, as Sluice's upstream pool expects
    server_version = 'sluice-demo-upstream'
    sys_version = ''

    def log_message(self, format, *args):
        pass  # Sluice's access log already shows every request

    def _read_body(self):
        if 'chunked' in (self.headers.get('Transfer-Encoding') or '').lower():
            body = b''
            while True:
                size = int(self.rfile.readline().split(b';')[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b'\r\n', b'\n', b''):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get('Content-Length') or 0))

    def _echo(self):
        body = self._read_body()
        path, _, query = self.path.partition('?')
        echo = {
            'method': self.command,
            'path': path,
            'query': query,
            'headers': dict(self.headers.items()),
            'body': body.decode('utf-8', errors='replace')[:1000],
            'body_bytes': len(body),
        }
        payload = (json.dumps(echo, indent=2) + '\n').encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(payload)))
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _echo


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8000)
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer((args.host, args.port), EchoHandler)
    server.daemon_threads = True
    print('demo upstream on http://%s:%d' % (args.host, args.port), file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == '__main__':
    main()
