"""The model server's process: llama-cpp-python's OpenAI-compatible app on a socket it is given.

Started by ``qa.local.server.ModelServer`` as a script (``python serve_model.py``), not as a
module of ``qa``: it imports only llama-cpp and uvicorn, so it starts in about a second.
Its configuration is one JSON object on the command line; the listening socket (127.0.0.1, a
port the parent chose) is inherited as a file descriptor, so no other process can take the
port between choosing and serving. It reports on standard output, a line each: ``runtime``
and llama.cpp's system info, ``self-test`` before its first real completion, ``ready`` once
that passed; and it exits when its standard input closes: the parent has gone, however it
went (kill -9 included).

The self-test is one completion on a prompt long enough for llama.cpp's batched kernels
(``SELF_TEST_TOKENS``): a runtime that crashes on this CPU (AMX kernels on some VMs) dies
here, at start, not on a user's question (qa/local/server.py then stops using it).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from typing import Any

SELF_TEST_TOKENS = 320  # > 256: short prompts take other kernels, and did not crash
_FILLER = (
    "Passage {n}: The survey of the northern river counted {n} bridges, {m} mills and the "
    "old ferry landing, and it noted where the spring floods reached in each decade."
)


def _exit_with_parent() -> None:
    while os.read(0, 4096):  # b"" at EOF: the parent closed the pipe, or died
        pass
    os._exit(0)


def self_test(llama: Any, system: str) -> None:
    """One real chat completion on at least ``SELF_TEST_TOKENS`` prompt tokens (one batch),
    one token out. Its prompt opens with ``system``, the answer prompt's fixed system message:
    llama.cpp keeps it in its cache, so the first question does not read it again."""
    filler, n = "", 0
    while len(llama.tokenize(f"{system}\n{filler}".encode(), special=False)) < SELF_TEST_TOKENS:
        n += 1
        filler += _FILLER.format(n=n, m=3 * n + 1) + " "
    messages = [{"role": "system", "content": system}, {"role": "user", "content": filler}]
    llama.create_chat_completion(messages, max_tokens=1, temperature=0.0)


def main() -> None:
    config = json.loads(sys.argv[1])
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()

    import llama_cpp
    import uvicorn
    from llama_cpp.server import app as server_app
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    server = ServerSettings(
        api_key=os.environ.get("QA_MODEL_SERVER_KEY") or None,
        # subtle: the default lets every new request cut the one streaming short; ours wait.
        interrupt_requests=False,
        disable_ping_events=True,
    )
    model = ModelSettings(
        model=config["model"],
        model_alias=config["alias"],
        n_ctx=config["n_ctx"],
        n_batch=config["n_batch"],
        n_threads=config["n_threads"],
        n_threads_batch=config["n_threads"],
        chat_format=config.get("chat_format"),
        verbose=False,
    )
    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    print("runtime", " ".join(info.split()), flush=True)
    app = create_app(server_settings=server, model_settings=[model])  # loads the model
    print("self-test", flush=True)
    # subtle: the proxy the app was just given (llama-cpp-python 0.3.36 keeps it in a global).
    self_test(server_app._llama_proxy(config["alias"]), config.get("system", ""))  # type: ignore[misc]
    print("ready", flush=True)
    listener = socket.socket(fileno=config["fd"])  # family and type read from the socket
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(
        sockets=[listener]
    )


if __name__ == "__main__":
    main()
