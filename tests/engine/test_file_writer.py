"""The run's file writer (run/writer.py): whole files or none, the OS's reasons, and no write
lost when its helper process dies."""

from __future__ import annotations

import asyncio
import errno
import os

import pytest

from vidflow.run.writer import ProcessWriter, ThreadWriter, open_file_writer


def _temp_files(root) -> list[str]:
    return [p.name for p in root.rglob("*") if ".tmp-" in p.name]


async def _write_all(writer, items):
    return await asyncio.gather(*(writer.write(str(p), data) for p, data in items), return_exceptions=True)


@pytest.mark.parametrize("kind", [ProcessWriter, ThreadWriter])
def test_files_are_written_whole_in_new_folders(tmp_path, kind):
    items = [(tmp_path / "actions" / f"{i:04d}.json", (f'{{"n": {i}}}' * (i * 50 + 1)).encode()) for i in range(200)]

    async def main():
        writer = kind(asyncio.get_running_loop())
        try:
            return await _write_all(writer, items)
        finally:
            writer.close()

    assert asyncio.run(main()) == [None] * len(items)
    for p, data in items:
        assert p.read_bytes() == data
    assert not _temp_files(tmp_path)


def test_a_large_write_goes_through_a_full_pipe(tmp_path):
    big = os.urandom(3 << 20)  # more than a pipe holds: the loop waits for the helper to take it

    async def main():
        writer = ProcessWriter(asyncio.get_running_loop())
        try:
            await writer.write(str(tmp_path / "big.bin"), big)
            await writer.write(str(tmp_path / "small.json"), b"{}")
        finally:
            writer.close()

    asyncio.run(main())
    assert (tmp_path / "big.bin").read_bytes() == big
    assert (tmp_path / "small.json").read_bytes() == b"{}"


def test_a_pipes_worth_of_writes_reaches_the_helper_before_the_loop_turn_ends(tmp_path):
    """A turn of the loop that queues thousands of writes hands them on as they pile up, so the
    helper writes while the loop goes on (it used to get nothing until the turn ended)."""
    import time

    async def main():
        writer = ProcessWriter(asyncio.get_running_loop())
        try:
            futures = [writer.write(str(tmp_path / f"{i}.bin"), b"x" * 4096) for i in range(20)]  # 80 KiB in this turn
            deadline = time.monotonic() + 30
            while not (tmp_path / "0.bin").exists() and time.monotonic() < deadline:
                time.sleep(0.01)  # (the loop is held here: only the helper can write the file)
            written_meanwhile = (tmp_path / "0.bin").exists()
            assert await asyncio.gather(*futures) == [None] * 20
            return written_meanwhile
        finally:
            writer.close()

    assert asyncio.run(main())


def test_a_refused_write_fails_with_the_os_reason_and_the_next_ones_still_land(tmp_path):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-folder.json").mkdir()

    async def main():
        writer = ProcessWriter(asyncio.get_running_loop())
        try:
            return await _write_all(writer, [
                (tmp_path / "a-file" / "under.json", b"1"),  # a file stands where a folder must be
                (tmp_path / "a-folder.json", b"2"),  # a folder stands where the file goes
                (tmp_path / "fine.json", b"3"),
            ])
        finally:
            writer.close()

    under, folder, fine = asyncio.run(main())
    assert isinstance(under, OSError) and under.errno == errno.ENOTDIR and under.filename.endswith("under.json")
    assert isinstance(folder, OSError) and folder.errno == errno.EISDIR
    assert fine is None and (tmp_path / "fine.json").read_bytes() == b"3"
    assert (tmp_path / "a-folder.json").is_dir() and not _temp_files(tmp_path)


def test_when_the_helper_dies_its_unconfirmed_writes_and_the_rest_are_made_on_a_thread(tmp_path):
    async def main():
        writer = ProcessWriter(asyncio.get_running_loop())
        try:
            await writer.write(str(tmp_path / "before.json"), b"before")
            proc = writer._proc
            proc.kill()  # the OS ends it (out of memory, a stray kill)
            proc.wait()
            pending = [writer.write(str(tmp_path / f"after-{i}.json"), b"after") for i in range(20)]
            await asyncio.gather(*pending)
            await writer.write(str(tmp_path / "later.json"), b"later")
            return proc
        finally:
            writer.close()

    proc = asyncio.run(main())
    assert proc.returncode is not None
    assert (tmp_path / "before.json").read_bytes() == b"before"
    assert all((tmp_path / f"after-{i}.json").read_bytes() == b"after" for i in range(20))
    assert (tmp_path / "later.json").read_bytes() == b"later"


def test_closing_ends_the_helper_and_no_interpreter_means_a_thread(tmp_path, monkeypatch):
    async def main():
        writer = open_file_writer(asyncio.get_running_loop())
        await writer.write(str(tmp_path / "x.json"), b"x")
        writer.close()
        writer.close()  # idempotent
        return writer

    writer = asyncio.run(main())
    if os.name == "posix":
        assert isinstance(writer, ProcessWriter) and writer._proc is None
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-python"))

    async def fallback():
        w = open_file_writer(asyncio.get_running_loop())
        try:
            await w.write(str(tmp_path / "y.json"), b"y")
        finally:
            w.close()
        return w

    assert isinstance(asyncio.run(fallback()), ThreadWriter)
    assert (tmp_path / "y.json").read_bytes() == b"y"
