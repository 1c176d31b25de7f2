"""run.py, the waitress entry point: its log filter for waitress's queue-depth warnings, and
the server it starts kept up under idle, slow and oversized requests (a process of its own,
measured from /proc: VmHWM is the peak resident memory)."""
import logging
import select
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import run

from .serving import Server, init_db, read_all, status_of


def warning(n):
    return logging.LogRecord("waitress.queue", logging.WARNING, __file__, 1,
                             "Task queue depth is %d", (n,), None)


def test_one_queue_warning_a_minute_then_the_count_held_back(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(run.time, "monotonic", lambda: clock[0])
    once = run.OncePerMinute()
    assert once.filter(warning(1))
    assert [once.filter(warning(n)) for n in range(2, 6)] == [False] * 4
    clock[0] += 61
    record = warning(9)
    assert once.filter(record)
    assert record.getMessage() == "Task queue depth is 9 (4 more such warnings in the last minute)"
    assert not once.filter(warning(10))


# --- the server as run.py starts it, under abuse ------------------------------------------

MIB = 1024 * 1024
BUDGET_MIB = 120


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """run.py on a migrated database (SQLite: the database does not matter here)."""
    running = Server(init_db(tmp_path_factory.mktemp("server") / "karusaku.db"))
    yield running
    running.stop()


def drip(sockets, line):
    """Send line on each socket; the number still open."""
    alive = 0
    for sock in sockets:
        try:
            sock.sendall(line)
            alive += 1
        except OSError:
            pass
    return alive


def test_a_visitor_gets_the_login_page_while_200_idle_and_150_slowloris_sockets_are_open(server):
    idle = [server.connect() for _ in range(200)]
    slow = [server.connect() for _ in range(150)]
    try:
        drip(slow, b"GET /login HTTP/1.1\r\nHost: localhost\r\n")
        waits = []
        for header in range(5):  # a header line every 2 s on each slow socket, for 10 s
            time.sleep(2)
            still_slow = drip(slow, b"X-Slow-%d: x\r\n" % header)
            status, answer, seconds = server.get("/login")
            assert status == 200 and 'name="password"' in answer.decode(), answer[:300]
            waits.append(seconds)
        held = server.open_files()
        print(f"\nidle 200, slowloris {still_slow} open, server fds {held}, "
              f"/login waited {min(waits):.3f}-{max(waits):.3f} s, "
              f"peak {server.peak_mib():.1f} MiB")
        assert still_slow == 150 and held > 350  # the server really held every socket
        assert max(waits) < 5
        assert server.peak_mib() < BUDGET_MIB
    finally:
        for sock in idle + slow:
            sock.close()


def test_past_1024_open_files_a_visitor_still_gets_the_login_page(tmp_path):
    """600 uploads that stall halfway hold a socket and a temporary file each (a body past 32
    KiB waits on disk). Debian's soft limit of open files is 1024 and select() cannot watch a
    descriptor above 1023: run.py raises the limit and polls."""
    server = Server(init_db(tmp_path / "karusaku.db"), open_files=1024)
    stalled = []
    try:
        for _ in range(600):
            sock = server.connect()
            sock.sendall(post_head(100_000).replace(b"Connection: close\r\n", b"")
                         + b"a=" + b"1" * 40_000)
            stalled.append(sock)
        deadline = time.monotonic() + 20
        while server.open_files() <= 1100 and time.monotonic() < deadline:
            time.sleep(0.2)
        held = server.open_files()
        status, _, seconds = server.get("/login")
        print(f"\n600 stalled uploads: server fds {held}, /login in {seconds:.3f} s, "
              f"peak {server.peak_mib():.1f} MiB")
        assert held > 1100 and status == 200
        assert server.peak_mib() < BUDGET_MIB
    finally:
        for sock in stalled:
            sock.close()
        server.stop()


def push(server, head, piece, total):
    """Send head, then piece after piece (up to total bytes) while the server has not answered;
    (status, answer, bytes of body sent)."""
    sent = 0
    with server.connect(timeout=30) as sock:
        sock.sendall(head)
        while sent < total and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(piece)
            except OSError:  # the server answered and closed
                break
            sent += len(piece)
        answer = read_all(sock)
    return status_of(answer), answer, sent


def post_head(length=None, kind="application/x-www-form-urlencoded"):
    framing = f"Content-Length: {length}" if length else "Transfer-Encoding: chunked"
    return (f"POST /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            f"Content-Type: {kind}\r\n{framing}\r\n\r\n").encode()


def big_post(server):
    """200 MB of form announced by Content-Length: refused before its body."""
    return push(server, post_head(200 * MIB), b"a" * 65536, 200 * MIB)


def big_chunked_post(server):
    """200 MB of form in chunks, with no Content-Length."""
    chunk = b"10000\r\n" + b"a" * 65536 + b"\r\n"
    return push(server, post_head(), chunk, 200 * MIB)


def many_fields(server, kind):
    """A body inside the limit, made of tens of thousands of one-byte fields."""
    if kind == "multipart":
        part = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        body = part * (900 * 1024 // len(part)) + b"--b--\r\n"
        head = post_head(len(body), "multipart/form-data; boundary=b")
    else:
        body = b"a=1&" * (900 * 1024 // 4)
        head = post_head(len(body))
    return push(server, head + body, b"", 0)


def refused_in_japanese(result):
    status, answer, sent = result
    assert status == 413, answer[:300]
    assert "大きすぎます" in answer.decode("utf-8", "replace")
    return sent


def test_a_huge_form_is_refused_with_413_before_its_body_is_read(server):
    """The answer comes to the announcement alone: no byte of the body was sent."""
    assert refused_in_japanese(push(server, post_head(200 * MIB), b"", 0)) == 0
    assert server.peak_mib() < BUDGET_MIB


def test_whatever_is_posted_the_server_stays_inside_its_memory_budget(server):
    with ThreadPoolExecutor(8) as pool:
        at_once = list(pool.map(lambda _: big_post(server), range(8)))
        chunked = list(pool.map(lambda _: big_chunked_post(server), range(8)))
    fields = [many_fields(server, "multipart"), many_fields(server, "urlencoded")]
    sent = [refused_in_japanese(result) for result in at_once + chunked + fields]
    print(f"\nbody bytes sent before the 413: {max(sent[:8])} (Content-Length), "
          f"{max(sent[8:16])} (chunked); peak {server.peak_mib():.1f} MiB")
    assert max(sent[8:16]) < 32 * MIB  # chunked: read up to the limit, not 200 MB
    assert server.peak_mib() < BUDGET_MIB
    status, answer, _ = server.get("/login")
    assert status == 200
