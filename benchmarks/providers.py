"""Bedrock and Vertex paths: imagegen vs litellm per call against the project's strict fakes.

What differs from the OpenAI path is the credential work on every call: SigV4 signing (Bedrock)
and the cached OAuth token of a service account (Vertex; the first call exchanges a JWT, the
warm-up absorbs it). The fakes are the threaded test servers, slower than the benchmark's own
fake: compare the clients with each other, not with the OpenAI section.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import environment
from environment import BENCHMARKS, Interpreter
from report import Section
from sdk import Client, interleaved, latency_table

PREFIX = {"bedrock": "bedrock", "vertex": "vertex_ai"}  # the same in imagegen and LiteLLM
LITELLM_ENDPOINT_SETTING = {"bedrock": "aws_bedrock_runtime_endpoint"}
LITELLM_CANNOT = {
    "vertex": "LiteLLM sends no credentials at all when `api_base` is set (its Imagen config's "
    "`validate_environment` skips them), so its token path cannot be pointed at a fake; a row would time an "
    "unauthenticated call",
}


def measure(litellm: Interpreter, rounds: int, calls: int) -> Section:
    section = Section(f"Bedrock and Vertex paths ({rounds} interleaved rounds × {calls} calls per client)")
    project = environment.project()
    fakes = subprocess.Popen(
        [str(project.python), str(BENCHMARKS / "provider_fakes.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=project.env(),
    )  # fmt: skip
    logs = Path(tempfile.mkdtemp(prefix="imagegen-bench-providers-"))
    try:
        assert fakes.stdout is not None
        line = fakes.stdout.readline()
        if not line:
            assert fakes.stderr is not None
            section.skipped = f"the provider fakes did not start: {fakes.stderr.read().strip()[-300:]}"
            return section
        for provider, fake in json.loads(line).items():
            if "missing" in fake:
                section.notes.append(f"{provider}: skipped: {fake['missing']}")
                continue
            if not environment.has_module(f"imagegen_{provider}"):
                section.notes.append(f"{provider}: skipped: imagegen-{provider} is not installed in the project venv")
                continue
            model = f"{PREFIX[provider]}/{fake['model']}"
            clients = [_client("imagegen", project, model, {**fake["kwargs"], "api_base": fake["endpoint"]})]
            if provider in LITELLM_CANNOT:
                section.notes.append(f"litellm on {provider}: skipped: {LITELLM_CANNOT[provider]}")
            elif litellm.python is not None:
                litellm_kwargs = {**fake["kwargs"], LITELLM_ENDPOINT_SETTING[provider]: fake["endpoint"]}
                clients.append(_client("litellm", litellm, model, litellm_kwargs))
            for mode in ("sync", "async"):
                workers, failures = interleaved(clients, mode, rounds, calls, logs)
                caption = f"{provider} `{fake['model']}`, {mode}"
                section.tables.append(latency_table(workers, failures, caption, baseline=None))
    finally:
        if fakes.stdin is not None:
            fakes.stdin.close()
        fakes.wait(timeout=30)
        for stream in (fakes.stdout, fakes.stderr):
            if stream is not None:
                stream.close()
    section.notes.append(f"worker logs: {logs}")
    return section


def _client(library: str, interpreter: Interpreter, model: str, kwargs: dict[str, Any]) -> Client:
    return Client(library, library, interpreter, ["--model", model, "--kwargs", json.dumps(kwargs)])
