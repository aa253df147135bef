"""Run a fuzz target for a long time: atheris (coverage-guided) or hypothesis.

    python3 fuzzing/run.py frames_structured -atheris_runs=2000000   # atheris (libFuzzer flags)
    python3 fuzzing/run.py all --hypothesis --examples 20000          # no atheris needed

Targets: http_request, http_response, frames, frames_deflate, frames_structured (see
targets.py for the properties each checks).  A crash is saved by libFuzzer as
``crash-<sha1>``; replay it with ``python3 fuzzing/run.py TARGET crash-<sha1>``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]


def run_hypothesis(names: list[str], examples: int) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from fuzzing.targets import TARGETS

    for name in names:
        target = TARGETS[name]

        @settings(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.binary(max_size=4096))
        def check(data: bytes) -> None:
            target(data)  # noqa: B023 - called at once, inside the loop

        print(f"{name}: {examples} examples", flush=True)
        check()


def main() -> None:
    args = sys.argv[1:]
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return
    # Not imported yet: atheris instruments only what is imported inside its block.
    names = ("http_request", "http_response", "frames", "frames_deflate", "frames_structured")
    if not args or args[0] not in ("all", *names):
        sys.exit(__doc__)
    name, rest = args[0], args[1:]
    if "--hypothesis" in rest:
        examples = int(rest[rest.index("--examples") + 1]) if "--examples" in rest else 10000
        from fuzzing.targets import TARGETS

        run_hypothesis(list(TARGETS) if name == "all" else [name], examples)
        return
    import atheris

    with atheris.instrument_imports(include=["tether", "fuzzing"]):
        from fuzzing.targets import TARGETS
    target = TARGETS[name]
    atheris.Setup([sys.argv[0], *rest], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
