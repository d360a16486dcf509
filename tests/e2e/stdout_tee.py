"""Byte-exact tee of an MCP stdio server's stdout (helper of test_notes_stdio.py).

Usage: python stdout_tee.py RAW_LOG STATUS_FILE -- SERVER_COMMAND [ARGS...]

The MCP SDK's stdio client launches this script instead of the server. It
starts the server with the same stdin and stderr (inherited file descriptors,
so the SDK's stdin close reaches the server directly) and a pipe for stdout.
Every byte the server writes to stdout is appended to RAW_LOG *before* it is
forwarded to the client, so RAW_LOG is a superset of what the client received.
When the server exits, its exit status is written to STATUS_FILE and this
script exits with the same status.

Both processes share the process group the SDK creates (start_new_session),
so the SDK's shutdown escalation (SIGTERM/SIGKILL to the group) reaches the
server too. Only the standard library is used, to keep start-up fast.
"""

import os
import subprocess
import sys


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: stdout_tee.py RAW_LOG STATUS_FILE -- COMMAND [ARGS...]\n")
        return 2
    raw_log_path, status_path, command = argv[0], argv[1], argv[3:]

    with open(raw_log_path, "ab", buffering=0) as raw_log:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, bufsize=0)
        assert child.stdout is not None
        child_fd = child.stdout.fileno()
        out_fd = sys.stdout.fileno()
        client_gone = False
        while True:
            chunk = os.read(child_fd, 65536)
            if not chunk:
                break
            raw_log.write(chunk)
            if not client_gone:
                try:
                    _write_all(out_fd, chunk)
                except (BrokenPipeError, OSError):
                    # The client closed its end; keep draining (and recording)
                    # so the server never blocks on a full pipe.
                    client_gone = True
        returncode = child.wait()

    with open(status_path, "w", encoding="utf-8") as status:
        status.write(f"{returncode}\n")
    return returncode if returncode >= 0 else 128 - returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
