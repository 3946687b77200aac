"""Run a command in a real pseudo-terminal of a given size and return what the user sees (ANSI stripped)."""
from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def run_in_pty(argv: Sequence[str], cols: int = 80, rows: int = 40, env: Optional[Dict[str, str]] = None,
               cwd: Optional[Path] = None, timeout: float = 120,
               stamps: Optional[List[Tuple[float, str]]] = None,
               reply: Optional[Tuple[str, bytes]] = None) -> Tuple[int, str]:
    """(exit code, screen text with \\r\\n made \\n). stdin, stdout and stderr are the terminal, as in a
    user's shell. `stamps` collects (seconds since start, chunk) as output arrives, to check progress.
    `reply`: (text, keys): once `text` is on the screen, the keys are typed (an answer, a paste, Ctrl-D)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    full_env = dict(os.environ)
    full_env.update({"COLUMNS": str(cols), "LINES": str(rows), "TERM": "xterm-256color"})
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    started = time.monotonic()
    proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=full_env, cwd=cwd,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    chunks: List[bytes] = []
    try:
        while True:
            if time.monotonic() - started > timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                raise TimeoutError(f"{argv} ran over {timeout}s; output so far:\n{b''.join(chunks).decode()}")
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child side closed
                    break
                if not data:
                    break
                chunks.append(data)
                if reply is not None and reply[0] in ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")):
                    os.write(master, reply[1])
                    reply = None
                if stamps is not None:
                    stamps.append((time.monotonic() - started, ANSI.sub("", data.decode("utf-8", "replace"))))
            elif proc.poll() is not None:
                # drain what is left, then stop
                while select.select([master], [], [], 0.05)[0]:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        data = b""
                    if not data:
                        break
                    chunks.append(data)
                break
    finally:
        os.close(master)
    code = proc.wait(timeout=30)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")).replace("\r\n", "\n").replace("\r", "\n")
    return code, text


def whole_on_a_line(text: str, needle: str) -> bool:
    """`needle` appears unbroken within one line (not cut by a wrap or a table border)."""
    return any(needle in line for line in text.splitlines())
