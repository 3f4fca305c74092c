"""The model server's process: llama-cpp-python's OpenAI-compatible app on a socket it is given.

Started by ``qa.local.server.ModelServer`` as a script (``python serve_model.py``), not as a
module of ``qa``: it imports only llama-cpp and uvicorn, so it starts in about a second.
Its configuration is one JSON object on the command line; the listening socket (127.0.0.1, a
port the parent chose) is inherited as a file descriptor, so no other process can take the
port between choosing and serving. It prints ``ready`` once the model is loaded, and exits
when its standard input closes: the parent has gone, however it went (kill -9 included).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading


def _exit_with_parent() -> None:
    while os.read(0, 4096):  # b"" at EOF: the parent closed the pipe, or died
        pass
    os._exit(0)


def main() -> None:
    config = json.loads(sys.argv[1])
    threading.Thread(target=_exit_with_parent, name="parent-watch", daemon=True).start()

    import uvicorn
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
    app = create_app(server_settings=server, model_settings=[model])  # loads the model
    print("ready", flush=True)
    listener = socket.socket(fileno=config["fd"])  # family and type read from the socket
    uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(
        sockets=[listener]
    )


if __name__ == "__main__":
    main()
