"""Local models through ``text.litellm``: Ollama's ``/api/chat`` and an OpenAI-compatible server
(llama.cpp, vLLM) on loopback, with litellm's real client code, no API key, and the example
recipe ``recipes/local-llm.yaml`` exactly as shipped except for its server address."""

from __future__ import annotations

from pathlib import Path

from tests.engine.util import project_settings, run_recipe, write
from tests.servers.dialogue import dialogue_responder
from tests.servers.ollama_server import OllamaServer
from tests.servers.openai_server import OpenAIServer
from vidflow.api import load_recipe_file
from vidflow.providers.registry import default_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "recipes" / "local-llm.yaml"


class LocalOpenAIServer(OpenAIServer):
    """llama.cpp's and vLLM's servers speak OpenAI's protocol and, by default, ask for no key."""

    def check_auth(self, rec):
        return None


def _example(project, *, base: str, writer: str = "writer") -> Path:
    text = EXAMPLE.read_text()
    text = text.replace('"http://localhost:11434"', f'"{base}"').replace('"http://localhost:8080/v1"', f'"{base}/v1"')
    text = text.replace("    uses: writer\n", f"    uses: {writer}\n")
    return write(project, text, name="local-llm.yaml")


def _script_only(path: Path):
    loaded = load_recipe_file(path, registry=default_registry()).until("script")
    return loaded.with_topics(loaded.topics[:1])


def _run(loaded, project):
    import asyncio

    from vidflow.api import run

    settings = project_settings(project, env={})  # no key of any vendor
    return asyncio.run(run(loaded, settings=settings, output_root=str(project)))


def test_the_example_recipe_writes_its_script_with_ollama(project):
    with OllamaServer(models=("llama3.2",), responder=dialogue_responder) as server:
        loaded = _script_only(_example(project, base=server.url))
        result = _run(loaded, project)
        chats = [r for r in server.requests if r.path == "/api/chat"]
    assert result.exit_code == 0, result.summary.failures
    script = result.outputs("script")["why-is-the-sky-blue"]
    assert len(script["lines"]) == 6 and {l["speaker"] for l in script["lines"]} <= {"Nova", "Pip"}
    [chat] = chats
    assert chat.json["model"] == "llama3.2" and chat.json["stream"] is False
    assert chat.json["format"]["properties"]["lines"]  # structured output: the dialogue's schema
    assert "authorization" not in chat.headers  # nothing to send, nothing sent
    assert result.summary.cost_usd == 0.0
    # cached: the next run asks the model nothing
    with OllamaServer(responder=dialogue_responder) as server:
        again = _run(_script_only(_example(project, base=server.url)), project)
        assert again.exit_code == 0 and server.requests == []


def test_the_example_recipe_with_an_openai_compatible_local_server(project):
    with LocalOpenAIServer(responder=dialogue_responder) as server:
        loaded = _script_only(_example(project, base=server.url, writer="local_openai"))
        result = _run(loaded, project)
    assert result.exit_code == 0, result.summary.failures
    assert len(result.outputs("script")["why-is-the-sky-blue"]["lines"]) == 6
    [chat] = [r for r in server.requests if r.path == "/v1/chat/completions"]
    assert chat.json["model"] == "qwen2.5-7b-instruct" and chat.json["response_format"]["type"] == "json_schema"


def test_a_model_the_server_does_not_have_is_a_clear_failure(project):
    with OllamaServer(models=("llama3.2",)) as server:
        recipe = write(project, f"""
            vidflow: 1
            name: local-missing-model
            topics: ["one"]
            providers:
              writer: {{kind: text.litellm, model: ollama_chat/mistral, api_base: "{server.url}", retry: {{attempts: 1}}}}
            steps:
              answer: {{uses: writer, prompt: "Say hi"}}
            """)
        result = run_recipe(recipe, default_registry(), project, settings=project_settings(project, env={}))
    err = result.outcomes["one/answer"].error
    assert result.outcomes["one/answer"].status == "failed" and "mistral" in err and "not found" in err
