"""The examples of docs/webhooks.md work as written: the secret one-liner makes a secret the
`standardwebhooks` library accepts, and the documented receiver verifies and records every
event of a `vidflow run --notify` run."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import threading
from http.server import HTTPServer

from tests.conftest import REPO
from tests.engine.util import write
from vidflow.cli import main
from vidflow.notify import Outbox

DOC = (REPO / "docs" / "webhooks.md").read_text()
RECIPE = """
vidflow: 1
name: docs-hooks
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.fake}
  voice: {kind: speech.fake}
steps:
  script: {uses: writer, output: dialogue, lines: 2, prompt: "Explain {{ topic }} with {{ characters | names }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
"""


def _block(first_line: str) -> str:
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", DOC, re.S):
        if body.startswith(first_line):
            return body
    raise AssertionError(f"docs/webhooks.md has no block starting {first_line!r}")


def test_the_documented_secret_and_receiver_work(project, registry, monkeypatch, capsys):
    import vidflow.api as api

    line = next(l for l in DOC.splitlines() if l.startswith("python3 -c "))
    argv = shlex.split(line)
    secret = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, check=True).stdout.strip()
    assert secret.startswith("whsec_")
    monkeypatch.setenv("VIDFLOW_WEBHOOK_SECRET", secret)
    monkeypatch.setattr(api, "default_registry", lambda: registry)

    receiver: dict = {"__name__": "docs_receiver"}
    exec(compile(_block("# receiver.py"), "docs/webhooks.md#receiver.py", "exec"), receiver)
    server = HTTPServer(("127.0.0.1", 0), receiver["Handler"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    write(project, RECIPE)
    try:
        assert main(["run", "recipe.yaml", "--notify", url, "--plain"]) == 0
        assert main(["notify", "--flush"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    sent = Outbox(str(project / "runs")).delivered()
    assert sent and receiver["seen"] == {r.id for r in sent}  # every event verified by the documented code
    printed = capsys.readouterr().out.splitlines()
    assert "run.completed " in printed and "topic.completed why-is-the-sky-blue" in printed


def test_commands_do_not_import_an_http_client_when_nothing_waits(tmp_path):
    """The next-command flush costs one directory listing when the outbox is empty."""
    probe = "import sys; from vidflow.cli import main; main(['status', '--runs-dir', sys.argv[1]]); print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "runs")], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr
