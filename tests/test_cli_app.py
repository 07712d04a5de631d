"""``vtrial app`` serves the classroom app on 127.0.0.1 (the pages are driven in test_app_browser)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from vtrial.app import free_port

CLI = [sys.executable, "-c", "import sys; from vtrial.cli import main; sys.exit(main())"]


def test_vtrial_app_serves_the_pages():
    port = free_port()
    proc = subprocess.Popen([*CLI, "app", "--no-browser", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())  # fmt: skip
    try:
        body = ""
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"vtrial app exited: {proc.stderr.read()}")
                time.sleep(0.5)
        assert "One trial" in body and "Power and sample size" in body
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out


@pytest.mark.parametrize("port", ["80", "70000", "x"])
def test_vtrial_app_bad_port(port):
    r = subprocess.run([*CLI, "app", "--no-browser", "--port", port], capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--port" in lines[0] and "Traceback" not in r.stderr
