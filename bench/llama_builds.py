"""Builds of llama.cpp side by side: the local model's prompt and generation speed on this CPU.

Each build is a folder holding an installed llama-cpp-python (``pip install --target DIR``).
In rounds (A, B, C, A, B, C, ...) each build gets a fresh process with PYTHONPATH=DIR, so that
its ``llama_cpp`` is the one imported (checked), which loads the bundled model as the chat's
server does (2 threads, n_ctx 4096, n_batch 512, OMP_WAIT_POLICY=PASSIVE), then, after one
warm-up, a few times: evaluates a fresh ~750-token prompt (the cache emptied and the prompt's
first line changed, so nothing is reused) and writes 64 tokens greedily (temperature 0, on
past an end-of-text). Prints each build's ``llama_print_system_info()`` as loaded here and a
table of prompt and generated tokens/s: medians, then every run.

    python -m bench.llama_builds --builds A=/tmp/lcp-builds/A B=/tmp/lcp-builds/B \
        [--rounds 3] [--reps 2] [--threads 2] [--model FILE]

A build of all CPU variants (``GGML_BACKEND_DL``: ``libggml-cpu-*.so`` in ``llama_cpp/lib``, or
in the ``bin/`` beside it where ggml installs them) is loaded as llama-cpp-python cannot: each
variant's score on this CPU is read and the best one without AMX goes to ``ggml_backend_load``
before the model (the variant and the scores are reported).

Measured: llama.cpp's own speed here, Python's per-token sampling call included. Not measured:
build times, our server, queue, retrieval or HTTP (bench/llm_speed.py), other thread counts or
prompt lengths, and other CPUs: the AMX hosts that crash are not this one, so a build's
safety there is not tested here, only what it chose on this CPU.
"""

from __future__ import annotations

import _ctypes
import argparse
import ctypes
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED_TEXT = ROOT / "seeds" / "us-strikes-strategic-mineral-deals-in-asia.txt"
INSTRUCTION = (
    "You answer questions using only the numbered passages the user gives you. "
    "Answer in 1 to 3 sentences and cite the passage numbers in square brackets.\n\n"
)
# The only CPU variant built with AMX (GGML_CPU_ALL_VARIANTS, ggml/src/CMakeLists.txt).
AMX_VARIANT = "sapphirerapids"
# One timed prompt: prompt and generated tokens per second of wall time, then per second of
# this process's CPU time (all threads). With OMP_WAIT_POLICY=PASSIVE a waiting thread sleeps
# rather than spins, so the CPU figures hold when other work shares the cores; the wall ones
# are what a user waits, and drop with every other process on the machine.
Run = tuple[float, float, float, float]
QUESTION = "\n\nQuestion: Which countries signed agreements with the U.S., and on what?\nAnswer:"


def prompt_tokens(llm: Any, run: str, n: int) -> list[int]:
    """``n`` tokens of a passage-and-question prompt whose first line names the run."""
    passage = SEED_TEXT.read_text(encoding="utf-8")
    text = f"Run {run}. {INSTRUCTION}[1] {passage}\n[2] {passage}"
    head = llm.tokenize(text.encode(), add_bos=True)
    tail = llm.tokenize(QUESTION.encode(), add_bos=False)
    if len(head) + len(tail) < n:
        raise SystemExit(f"the prompt text gives fewer than {n} tokens")
    return head[: n - len(tail)] + tail


def timed_run(llm: Any, tokens: list[int], new: int) -> tuple[Run, list[int]]:
    """The speeds of one prompt (see ``Run``), and the tokens written."""
    llm.reset()  # n_tokens 0: eval() drops the whole KV cache, so all of the prompt is computed
    clocks = [(time.perf_counter(), time.process_time())]
    llm.eval(tokens)
    clocks.append((time.perf_counter(), time.process_time()))
    written: list[int] = []
    for _ in range(new):  # on past an end-of-text: every build writes exactly `new` tokens
        token = llm.sample(temp=0.0, repeat_penalty=1.0)
        written.append(token)
        llm.eval([token])
    clocks.append((time.perf_counter(), time.process_time()))
    (wall0, cpu0), (wall1, cpu1), (wall2, cpu2) = clocks
    n = len(tokens)
    return (
        n / (wall1 - wall0),
        new / (wall2 - wall1),
        n / (cpu1 - cpu0),
        new / (cpu2 - cpu1),
    ), written


def variant_folder(package: Path) -> Path | None:
    """Where a GGML_BACKEND_DL build keeps its CPU variants (``libggml-cpu-*.so``), if it is one.

    ggml installs them to ``bin/`` beside the package, and llama-cpp-python 0.3.36 does not
    move them into ``llama_cpp/lib`` (it copies only the targets it names, variants not among
    them); a build made with CMAKE_INSTALL_BINDIR=llama_cpp/lib has them there.
    """
    for folder in (package / "lib", package.parent / "bin"):
        if any(folder.glob("libggml-cpu-*.so")):
            return folder
    return None


def load_cpu_variant(package: Path) -> tuple[dict[str, int], str | None]:
    """Each CPU variant's score on this CPU, and the one loaded: the best without AMX.

    llama-cpp-python loads only libllama (and libggml through it), and llama_backend_init's
    ggml_backend_load_all() looks beside the executable and in the working directory, never
    in the package: without this the model finds no backend. ggml's own choice would be the
    best score; the AMX variant, whose kernels crash on some VMs, is left out here instead, so
    that the file need not be deleted. A build with one ggml-cpu library needs none of this.
    """
    folder = variant_folder(package)
    if folder is None:
        return {}, None
    scores: dict[Path, int] = {}
    for path in sorted(folder.glob("libggml-cpu-*.so")):
        # The score function is built without the variant's instructions: safe on any CPU.
        variant = ctypes.CDLL(str(path))
        scores[path] = variant.ggml_backend_score()
        _ctypes.dlclose(variant._handle)
    allowed = {p: s for p, s in scores.items() if s > 0 and AMX_VARIANT not in p.name}
    if not allowed:
        raise SystemExit(f"no CPU variant in {folder} runs on this CPU")
    best = max(allowed, key=lambda p: allowed[p])
    ggml = _loaded_ggml()
    ggml.ggml_backend_load.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load.restype = ctypes.c_void_p
    if not ggml.ggml_backend_load(str(best).encode()):
        raise SystemExit(f"ggml_backend_load({best}) failed")
    return {_variant_name(p): s for p, s in scores.items()}, _variant_name(best)


def _loaded_ggml() -> ctypes.CDLL:
    """The libggml that libllama loaded, whose registry llama.cpp reads.

    The wheel holds libggml.so, .so.0 and .so.0.x as copies, not links: opening another of
    them would start a second ggml with its own registry, and the model would see no backend.
    """
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = Path(line.split()[-1])
        if path.name.startswith("libggml.so"):
            return ctypes.CDLL(str(path))
    raise SystemExit("libggml is not loaded: import llama_cpp first")


def _variant_name(path: Path) -> str:
    return path.name.removeprefix("libggml-cpu-").removesuffix(".so")


def worker(folder: Path, model: Path, args: argparse.Namespace) -> dict[str, Any]:
    """In the build's own process: load it and the model, then time ``args.reps`` runs."""
    import llama_cpp

    package = Path(llama_cpp.__file__).resolve().parent
    if not package.is_relative_to(folder.resolve()):
        raise SystemExit(f"imported {package}, not the build in {folder}")
    scores, variant = load_cpu_variant(package)
    started = time.perf_counter()
    llm = llama_cpp.Llama(
        str(model),
        n_threads=args.threads,
        n_threads_batch=args.threads,
        n_ctx=4096,
        n_batch=512,
        verbose=False,
    )
    loaded = time.perf_counter() - started
    timed_run(llm, prompt_tokens(llm, "warm-up", 32), 4)  # pages the weights in, starts threads
    runs: list[Run] = []
    outputs = set()
    for rep in range(args.reps):
        tokens = prompt_tokens(llm, f"{args.round}.{rep}", args.prompt_tokens)
        run, written = timed_run(llm, tokens, args.new_tokens)
        runs.append(run)
        outputs.add(llm.detokenize(written[:16]).decode(errors="replace"))
    return {
        "module": llama_cpp.__file__,
        "system_info": llama_cpp.llama_print_system_info().decode(errors="replace").strip(),
        "variant_scores": scores,
        "variant": variant,
        "load_s": loaded,
        "runs": runs,
        # Greedy output differs between builds only by rounding: a digest to compare them.
        "output": hashlib.sha256("\n".join(sorted(outputs)).encode()).hexdigest()[:8],
    }


def measure(folder: Path, model: Path, args: argparse.Namespace, round_: int) -> dict[str, Any]:
    """Runs one build's worker in a fresh process that imports that build's llama_cpp."""
    env = {**os.environ, "PYTHONPATH": str(folder), "OMP_WAIT_POLICY": "PASSIVE"}
    command = [sys.executable, "-m", "bench.llama_builds", "--worker", str(folder)]
    command += ["--model", str(model), "--round", str(round_), "--reps", str(args.reps)]
    command += ["--threads", str(args.threads), "--prompt-tokens", str(args.prompt_tokens)]
    command += ["--new-tokens", str(args.new_tokens)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # a build that crashes on this CPU (a signal: negative) is a result
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def default_model() -> Path:
    """The bundled model file, as ``python -m qa model`` names it (assembled if missing)."""
    from qa import Settings
    from qa.local import model_path

    settings = Settings()
    return model_path(settings.local_model, settings.cache_dir)


def report_build(name: str, result: dict[str, Any]) -> None:
    if "error" in result:
        print(f"{name}: FAILED {result['error']}")
        return
    print(f"{name}: {result['module']}")
    print(f"  {result['system_info']}")
    if result["variant"]:
        scores = ", ".join(f"{name} {score}" for name, score in result["variant_scores"].items())
        print(f"  CPU variant loaded: {result['variant']} (scores here: {scores})")
    print(f"  model loaded in {result['load_s']:.2f} s; output digest {result['output']}")


def table(results: dict[str, list[dict[str, Any]]]) -> None:
    """Medians of every run of each build, then the runs, round by round."""
    print(f"\n{'':<8}{'per second of wall time':>24}{'per second of CPU time':>26}")
    print(f"{'build':<8}{'prompt':>12}{'gen':>12}{'prompt':>13}{'gen':>13}{'runs':>6}  failed")
    for name, rounds in results.items():
        runs = [run for r in rounds for run in r.get("runs", [])]
        failed = sum("error" in r for r in rounds)
        medians = [statistics.median(run[i] for run in runs) for i in range(4)] if runs else []
        cells = "".join(f"{m:>12.2f}" if i < 2 else f"{m:>13.2f}" for i, m in enumerate(medians))
        print(f"{name:<8}{cells or '-':<50}{len(runs):>6}  {failed}")
    for title, first in (("wall time", 0), ("CPU time", 2)):
        print(f"\nevery run, prompt/gen tokens per second of {title}, round by round:")
        for name, rounds in results.items():
            cells = [_pairs(r["runs"], first) if "runs" in r else "FAILED" for r in rounds]
            print(f"{name:<8}" + " | ".join(cells))


def _pairs(runs: list[Run], first: int) -> str:
    return " ".join(f"{run[first]:.1f}/{run[first + 1]:.2f}" for run in runs)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--builds", nargs="+", default=[], metavar="NAME=DIR")
    parser.add_argument("--rounds", type=int, default=3, help="times each build is started")
    parser.add_argument("--reps", type=int, default=2, help="timed runs per start")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=750)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--model", type=Path, help="GGUF file (default: the bundled model)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--round", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.worker and not args.builds:
        parser.error("--builds NAME=DIR ... is required")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, args)))
        return
    builds = dict(item.split("=", 1) for item in args.builds)
    model = args.model or default_model()
    print(
        f"model {model.name}, {args.threads} threads, {args.prompt_tokens}-token prompts, "
        f"{args.new_tokens} tokens written; {args.rounds} rounds x {args.reps} runs a build\n"
    )
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in builds}
    for round_ in range(args.rounds):
        # Side by side: every build once per round, so drift in the machine's speed hits all.
        for name, folder in builds.items():
            result = measure(Path(folder), model, args, round_)
            results[name].append(result)
            if round_ == 0 or "error" in result:
                report_build(name, result)
            runs = result.get("runs")
            shown = f"{_pairs(runs, 0)} wall, {_pairs(runs, 2)} CPU" if runs else "failed"
            # Other work on the machine slows every build: its load is printed to judge that.
            load = os.getloadavg()[0]
            print(f"  round {round_ + 1} {name}: {shown} (load {load:.1f})", flush=True)
    table(results)


if __name__ == "__main__":
    main()
