#!/usr/bin/env python3
"""Ranks where Sluice's instructions go per request, from a callgrind profile.

Usage:
    scripts/bench/callgrind_report.py <callgrind.out> <requests> [--top N]

compare.py --callgrind prints this report itself. Two lists, both in instructions
(Ir) per request: self cost grouped by area (Beast serializer, Asio reactor and
timers, allocations, the decision engine...), then the inclusive cost of the
functions that matter when deciding what to change. Needs callgrind_annotate.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess

# First match wins; the order matters (e.g. Beast's serializer before Beast's fields).
GROUPS = [
    ("Beast serializer (buffers_cat/prefix/suffix walk)",
     r"buffers_cat|buffers_suffix|buffers_prefix|mp_with_index|detail/variant|serializer|"
     r"field_range|chunk_crlf|buffer_size|buffers_ref|buffer_sequence_adapter|http/impl/write"),
    ("Beast parser", r"basic_parser|rfc7230|http/impl/parser|parser\.hpp"),
    ("Beast fields (set/erase/find/new_element)", r"fields\.hpp|field\.ipp|fields::|field\.hpp|beast/core/detail/string"),
    ("malloc/free", r"malloc|free|operator new|operator delete|arena\.c"),
    ("Asio scheduler, reactor, timers, mutexes",
     r"scheduler|epoll_reactor|timer_queue|reactive_socket|posix_mutex|conditionally_enabled|"
     r"pthread_mutex|socket_ops|intrusive|chrono_time_traits|basic_waitable|wait_op|expires_"),
    ("Asio executors, awaitable frames, handlers",
     r"any_executor|awaitable|coroutine|use_awaitable|as_tuple|compose\.hpp|async_base|"
     r"executor_function|executor_op|bind_handler|thread_info_base|recycling|handler_work|bind_front"),
    ("decision engine (gateway/limit, gateway/config, gateway/util)",
     r"gateway/(limit|config|util)|sluice::limit|append_json|ip_address|inet_ntop|printf|charconv"),
    ("metrics, access log (prometheus-cpp, gateway/telemetry)", r"prometheus|gateway/(telemetry|admin)"),
    ("session, forwarding, stores (gateway/http, gateway/store, gateway/runtime)",
     r"gateway/(http|store|runtime|process)|sluice::net|sluice::app"),
    ("libc memcpy/strlen/...", r"memmove|memcpy|memset|strlen|memchr|memcmp|strchr"),
    ("libstdc++ std::string", r"basic_string|char_traits"),
    ("syscall wrappers, clocks", r"sendmsg|recvmsg|recvfrom|epoll_wait|syscall|clock_gettime|vdso|timerfd|ioctl|writev|readv|_clock::now"),
]

FUNCTIONS = (
    r"sluice::|prometheus::|any_executor_base::any_executor_base|epoll_reactor::(cancel|schedule)_timer|"
    r"basic_stream::expires_after|basic_parser::put\(|basic_fields::set\(|basic_fields::new_element|"
    r"http::async_write|awaitable_frame_base::operator new"
)


def simplify(name: str) -> str:
    prev = None
    while prev != name:
        prev, name = name, re.sub(r"<[^<>]*>", "", name)
    name = re.sub(r"\[/[^\]]*\]", "", name)
    return re.sub(r"\(([^()]*)\)", "()", name).strip()


def annotate(path: str, inclusive: bool) -> list[tuple[int, str]]:
    argv = ["callgrind_annotate", "--threshold=100", "--auto=no"]
    if inclusive:
        argv.append("--inclusive=yes")
    out = subprocess.run(argv + [path], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)", line)
        if m:
            rows.append((int(m.group(1).replace(",", "")), m.group(2)))
    return rows


def report(path: str, requests: int, top: int = 25) -> str:
    n = max(requests, 1)
    rows = annotate(path, inclusive=False)
    total = next((ir for ir, name in rows if "PROGRAM TOTALS" in name), 0)
    groups: collections.Counter = collections.Counter()
    for ir, name in rows:
        if "PROGRAM TOTALS" in name:
            continue
        for group, rx in GROUPS:
            if re.search(rx, name):
                groups[group] += ir
                break
        else:
            groups["other"] += ir
    lines = [f"{total / n:,.0f} instructions per request ({requests} requests)", "", "Self cost by area:"]
    for group, ir in groups.most_common():
        lines.append(f"  {ir / n:8,.0f} Ir/req {100 * ir / max(total, 1):5.1f}%  {group}")
    inclusive: dict[str, int] = {}
    for ir, name in annotate(path, inclusive=True):
        fn = name.split(":", 1)[-1] if ":" in name else name
        if not re.search(FUNCTIONS, fn) or re.search(r"scheduler::run|do_run_one|pump\(\)", fn):
            continue
        key = simplify(fn)
        inclusive[key] = max(inclusive.get(key, 0), ir)
    lines += ["", f"Inclusive cost, top {top}:"]
    for key, ir in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {ir / n:8,.0f} Ir/req  {key[:150]}")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("profile")
    p.add_argument("requests", type=int)
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args()
    print(report(args.profile, args.requests, args.top), end="")


if __name__ == "__main__":
    main()
