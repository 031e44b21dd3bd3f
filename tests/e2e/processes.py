"""Servers the browser tests start: a free port, `streamlit run app.py`, waiting until a URL answers, stopping."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def streamlit_command(port: int, *options: str) -> list[str]:
    """`streamlit run app.py` headless on 127.0.0.1:``port``, without file watching (plus ``options``)."""
    return [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
            "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--server.runOnSave", "false", *options]


def start(command, env, log_path: Path, ready_url: str, what: str, cwd: Path = ROOT,
          timeout: float = 90) -> subprocess.Popen:
    """Start ``command`` in its own process group (output to ``log_path``) and wait until ``ready_url``
    answers; the test fails with the log's end when it exits or does not answer within ``timeout`` s."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not answers(ready_url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            pytest.fail(f"{what} did not start ({ready_url}, exit code {process.returncode}):\n"
                        f"{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop the process group: SIGTERM, then SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
