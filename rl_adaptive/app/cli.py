"""The ``rl-adaptive`` command: train an example agent, or compare it fixed against adaptive over several seeds.

rl-adaptive train CartPole-v1 --algo ppo --timesteps 100000 --seed 0 --out runs/ppo-cartpole
rl-adaptive compare CartPole-v1 --algo ppo --timesteps 100000 --seeds 4 --out runs/compare-cartpole
rl-adaptive list
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["EXTRA", "main"]

#: The extra that brings what every command needs (the README and docs/agents.md name it).
EXTRA = "examples"
# Packages of that extra (and their import names): a missing one is a one-line error, not a traceback.
_OPTIONAL = frozenset(
    {"stable_baselines3", "gymnasium", "rl_zoo3", "yaml", "matplotlib", "scipy", "tensorboard", "tqdm", "rich", "Box2D"}
)


class _Parser(argparse.ArgumentParser):
    """argparse, but every usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"rl-adaptive: error: {message}\n")


def _fail(message: str) -> NoReturn:
    sys.stderr.write(f"rl-adaptive: error: {message}\n")
    raise SystemExit(2)


def _build_parser() -> _Parser:
    from .agents import ALGOS
    from .parallel import BACKENDS

    parser = _Parser(prog="rl-adaptive", description="Train and compare the rl_adaptive example agents.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("env", help="environment id, e.g. CartPole-v1 or LunarLander-v3")
        p.add_argument("--algo", default="ppo", choices=ALGOS, help="algorithm (default: ppo)")
        p.add_argument("--timesteps", type=int, help="training budget (default: the agent's)")
        p.add_argument("--out", type=Path, required=True, help="output folder")
        p.add_argument("--preset", help="adaptive preset (default: the agent's own); see `rl-adaptive list`")

    train = sub.add_parser("train", help="train one agent and write its model, metrics, logs and plot")
    common(train)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--no-adapt", action="store_true", help="the fixed base optimizer, no adaptation")
    train.add_argument("--eval-every", type=int, help="evaluate every N steps (default: a tenth of the budget)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--quiet", action="store_true", help="no progress bar; print only the outcome")

    compare = sub.add_parser("compare", help="fixed vs adaptive over several seeds, in parallel processes")
    common(compare)
    compare.add_argument("--seeds", type=int, default=4, help="seeds per variant (default 4)")
    compare.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: cores)")
    compare.add_argument("--backend", choices=BACKENDS, default="local", help="process pool (default) or Ray tasks")
    compare.add_argument("--address", help="Ray cluster address, e.g. auto (default: a local Ray with --workers CPUs)")
    compare.add_argument("--quiet", action="store_true", help="no line per finished run; print only the summary")

    sub.add_parser("list", help="the agents and presets available")
    return parser


def _resolve(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Load the agent and the adaptive keywords; bad names exit with a one-line error."""
    from ..presets import PRESETS
    from .agents import load_agent

    try:
        agent = load_agent(args.algo, args.env)
    except ValueError as e:
        _fail(str(e))
    if args.preset is not None and args.preset not in PRESETS:
        _fail(f"unknown preset {args.preset!r}; choose from {', '.join(PRESETS)}")
    if args.timesteps is not None and args.timesteps <= 0:
        _fail(f"--timesteps must be positive, got {args.timesteps}")
    adaptive = {"preset": args.preset} if args.preset is not None else dict(agent.adaptive)
    return agent, adaptive


def _train(args: argparse.Namespace) -> int:
    from .training import train_agent

    agent, adaptive = _resolve(args)
    if args.no_adapt and args.preset is not None:
        _fail("--no-adapt and --preset exclude each other")
    timesteps = args.timesteps or agent.n_timesteps
    variant = "fixed" if args.no_adapt else (args.preset or "adaptive")
    result = train_agent(
        agent,
        variant=variant,
        adaptive_kwargs=adaptive,
        timesteps=timesteps,
        seed=args.seed,
        out_dir=args.out,
        eval_every=args.eval_every or max(1, timesteps // 10),
        # SB3's bar redraws in place: on a terminal only, so a log file or CI gets no stream of redraws
        progress_bar=not (args.no_progress or args.quiet) and sys.stdout.isatty(),
    )
    if result["interrupted"]:
        print(f"interrupted at {result['trained_timesteps']} steps; model, metrics and plot written to {args.out}")
        return 130
    if result["diverged"]:
        step, error = result["diverged"]["step"], result["diverged"]["error"]
        print(f"diverged at step {step}: the policy's weights or outputs became non-finite ({error})")
        print(f"model, metrics and plot written to {args.out}; try a lower learning rate")
        return 1
    final = result["final"]
    solved = result["solved_threshold"]
    verdict = "" if solved is None else (" (solved)" if final["mean"] >= solved else f" (not solved: < {solved:g})")
    print(f"final evaluation: {final['mean']:.1f} +/- {final['std']:.1f} over {final['episodes']} episodes{verdict}")
    print(f"files in {args.out}: model.zip, metrics.json, metrics.csv, plot.png, tb/ (TensorBoard)")
    return 0


def _job(job: tuple[Any, ...]) -> dict[str, Any]:
    agent, variant, adaptive, timesteps, seed, out = job
    warnings.simplefilter("ignore")
    from .training import train_agent

    return train_agent(
        agent,
        variant=variant,
        adaptive_kwargs=adaptive,
        timesteps=timesteps,
        seed=seed,
        out_dir=out,
        eval_every=max(1, timesteps // 10),
        tensorboard=False,
    )


def _compare(args: argparse.Namespace) -> int:
    from .parallel import imap_jobs
    from .report import summarize
    from .training import outcome

    agent, adaptive = _resolve(args)
    if args.seeds < 1:
        _fail(f"--seeds must be at least 1, got {args.seeds}")
    if args.address is not None and args.backend != "ray":
        _fail("--address needs --backend ray")
    timesteps = args.timesteps or agent.n_timesteps
    jobs = [
        (agent, variant, adaptive, timesteps, seed, args.out / variant / f"seed{seed}")
        for seed in range(args.seeds)
        for variant in ("fixed", "adaptive")
    ]
    results: list[dict[str, Any]] = []
    interrupted = False
    start = time.time()
    try:
        with contextlib.closing(imap_jobs(_job, jobs, args.workers, args.backend, args.address)) as finished:
            for i, result in enumerate(finished, 1):
                results.append(result)
                elapsed = time.time() - start
                eta = elapsed / i * (len(jobs) - i)
                if not args.quiet:
                    print(
                        f"[{i}/{len(jobs)}] {result['variant']} seed {result['seed']}: {outcome(result)} "
                        f"({elapsed:.0f} s, about {eta:.0f} s left)",
                        flush=True,
                    )
    except KeyboardInterrupt:
        interrupted = True
    if not results:
        print("interrupted before any run finished; nothing to summarize")
        return 130
    summary = summarize(results, args.out, title=f"{agent.algo.upper()} {agent.env_id}, {timesteps} steps")
    print(summary["table"])
    print(f"files in {args.out}: compare.png, results.json, results.md, and one folder per run")
    return 130 if interrupted else 0


def _list() -> int:
    from ..presets import DEFAULT_PRESET, PRESETS
    from .agents import available_agents

    for algo, envs in available_agents().items():
        print(f"{algo}: {', '.join(envs)}")
    for name, kwargs in PRESETS.items():
        marker = " (default)" if name == DEFAULT_PRESET else ""
        print(f"preset {name}{marker}: {kwargs or 'no rules'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "compare":
            return _compare(args)
        return _list()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as e:
        package = (e.name or "").split(".")[0]
        if package not in _OPTIONAL and package != "ray":
            raise
        extra = "ray" if package == "ray" else EXTRA
        _fail(f"{args.command} needs {package}, which is not installed: pip install 'rl-adaptive[{extra}]'")


if __name__ == "__main__":
    raise SystemExit(main())
