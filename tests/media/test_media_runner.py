"""run_ffmpeg: errors carry the stderr tail; cancelling kills the process."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from vidflow.errors import FFmpegError
from vidflow.media.ffmpeg import ffmpeg_exe, run_ffmpeg

pytestmark = pytest.mark.ffmpeg


async def test_run_ffmpeg_raises_with_stderr_tail(tmp_path: Path):
    missing = tmp_path / "nope.png"
    with pytest.raises(FFmpegError) as info:
        await run_ffmpeg(["-i", str(missing), "-f", "null", "-"])
    err = info.value
    assert err.returncode != 0
    assert err.argv[0] == ffmpeg_exe() and str(missing) in err.argv
    assert "No such file" in err.stderr_tail
    assert "No such file" in str(err)


async def test_run_ffmpeg_returns_on_success(tmp_path: Path):
    out = tmp_path / "x.mp4"
    await run_ffmpeg(["-f", "lavfi", "-i", "testsrc=s=64x64:d=0.2", "-c:v", "libx264", str(out)])
    assert out.stat().st_size > 0


def _ffmpeg_children() -> list[int]:
    """PIDs of this process's children whose command line is ffmpeg (Linux /proc)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"ffmpeg" in cmd:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_cancel_kills_ffmpeg():
    assert _ffmpeg_children() == []
    # -re reads the source in real time: this would run for 60 s
    task = asyncio.create_task(
        run_ffmpeg(["-re", "-f", "lavfi", "-i", "testsrc=s=320x240:d=60", "-f", "null", "-"])
    )
    deadline = time.monotonic() + 60  # a guard against hanging only: ffmpeg starts far sooner
    pids = []
    while not pids and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        pids = _ffmpeg_children()
    assert len(pids) == 1, "ffmpeg did not start"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _alive(pids[0])  # killed and reaped: not even a zombie is left
    assert _ffmpeg_children() == []
