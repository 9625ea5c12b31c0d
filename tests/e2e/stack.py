"""The dev stack as a child process, for the end-to-end tests."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack import REPO_ROOT
from devstack.dynamodb import free_port

START_TIMEOUT = 90
STOP_TIMEOUT = 20


class DevStack:
    def __init__(self, state_dir: Path, api_port: int, dynamodb_port: int, log: Path,
                 frontend_port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.state_dir, self.api_port, self.dynamodb_port, self.log = state_dir, api_port, dynamodb_port, log
        self.env = {**os.environ, **(env or {})}  # e.g. a test configuration's MF_API_RATE_LIMIT
        # a free port unless given: stacks of parallel tests must not share the default 8080
        self.frontend_port = free_port() if frontend_port is None else frontend_port
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def start(self) -> DevStack:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack", "--api-port", str(self.api_port),
                 "--dynamodb-port", str(self.dynamodb_port), "--frontend-port", str(self.frontend_port),
                 "--state-dir", str(self.state_dir)],
                cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        dev_json = self.state_dir / "dev.json"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"devstack exited with {self.process.returncode}:\n{self.output()}")
            if dev_json.exists():
                try:
                    if requests.get(f"http://127.0.0.1:{self.api_port}/health", timeout=2).ok:
                        self.info = json.loads(dev_json.read_text())
                        return self
                except requests.RequestException:
                    pass
            time.sleep(0.2)
        pytest.fail(f"devstack not healthy within {START_TIMEOUT}s:\n{self.output()}")

    def stop(self, signum: int = signal.SIGINT) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"devstack still running {STOP_TIMEOUT}s after {signum!r}:\n{self.output()}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""

    @property
    def url(self) -> str:
        return str(self.info["api_url"])

    @property
    def frontend_url(self) -> str:
        return str(self.info["frontend_url"])
