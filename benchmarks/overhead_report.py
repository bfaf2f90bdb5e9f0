"""The overhead section of BENCHMARKS.md, from ``benchmarks/results/overhead.json`` (``benchmarks.overhead``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks._common import replace_section

VARIANTS = ("bare", "default", "every_rule")
#: The cost issue's targets, fixed before measuring: added share of the bare time (ratios), the largest model's added
#: time against the smallest's (flat), and the traced growth over 90,000 steps (memory).
TARGETS = {"default": 0.02, "every_rule": 0.05, "ppo": 0.01, "off_policy": 0.05, "flat": 2.0, "memory_bytes": 4096}


def _interval(entry: dict[str, Any]) -> tuple[float, float, float]:
    return entry["median_ratio"] - 1.0, entry["ci95"][0] - 1.0, entry["ci95"][1] - 1.0


def _verdict(added: float, hi: float, target: float) -> str:
    if hi <= target:
        return "**met**"
    return "met at the median, not over the whole interval" if added <= target else "**not met**"


def write_section(payload: dict[str, Any]) -> None:
    """The overhead section of BENCHMARKS.md, from ``overhead.json``."""
    results, iters = payload["results"], payload["iters_per_round"]
    lines = [
        f"Measured at commit `{payload['commit']}` on {payload['machine']['processor']}, "
        f"{payload['machine']['cpus']} CPUs, torch {payload['machine']['torch']} (1 thread), in "
        f"{payload.get('wall_s', 0) / 60:.0f} min.",
        "",
        *[
            f"Measured again alone: `{part}` at commit `{p['commit']}` ({p['finished']})."
            for part, p in payload.get("provenance", {}).items()
        ],
        "",
        "**Targets** (ratio = wrapper / bare, median over interleaved rounds, bootstrap 95% CI):",
    ]
    checks = [
        (
            "default preset, the seed's loop, optimizer alone, 64x64 policy",
            results["sb3_64x64/optimizer"]["default"],
            "default",
        ),
        (
            "every rule on, the seed's loop, optimizer alone, 64x64 policy",
            results["sb3_64x64/optimizer"]["every_rule"],
            "every_rule",
        ),
    ]
    if "ppo" in payload:
        checks.append(
            (
                "default preset and AdaptiveCallback, a PPO iteration (CartPole-v1, rl-zoo)",
                payload["ppo"]["default"],
                "ppo",
            )
        )
    if "off_policy" in payload:
        o = payload["off_policy"]
        checks.append(
            (
                f"`{o['adaptive']}` and AdaptiveCallback, a {o['algo'].upper()} iteration ({o['env']}, rl-zoo)",
                o["default"],
                "off_policy",
            )
        )
    for text, entry, key in checks:
        added, lo, hi = _interval(entry)
        lines.append(
            f"- {text}: {added:+.1%} [{lo:+.1%}, {hi:+.1%}], target at most {TARGETS[key]:.0%}: "
            f"{_verdict(added, hi, TARGETS[key])}."
        )
    if "curve" in payload:
        rows = list(payload["curve"].values())
        for v in VARIANTS[1:]:
            per_size = [r[v]["added_us"] for r in rows]
            ratio = max(per_size[-1], 0.0) / max(per_size[0], 1e-9)
            met = "**met**" if per_size[-1] <= TARGETS["flat"] * max(per_size[0], 0.0) + 1.0 else "**not met**"
            lines.append(
                f"- {v.replace('_', ' ')}, added time flat in the parameter count: {per_size[0]:.1f} µs at "
                f"{rows[0]['params']:,} parameters, {per_size[-1]:.1f} µs at {rows[-1]['params']:,} ({ratio:.2f}x), "
                "target "
                f"at most {TARGETS['flat']:g}x (+1 µs): {met}."
            )
    if "memory" in payload:
        m = payload["memory"]
        met = (
            "**met**"
            if m["growth_bytes"] <= TARGETS["memory_bytes"] and m["state_numbers"] == m["state_numbers_at_start"]
            else "**not met**"
        )
        lines.append(
            f"- memory, every rule on, {m['steps'] - m['warm_steps']:,} steps after {m['warm_steps']:,}: "
            f"{m['growth_bytes']:+,} bytes traced, state {m['state_numbers_at_start']} numbers at the start and "
            f"{m['state_numbers']} at the end; target no growth (at most {TARGETS['memory_bytes']:,} bytes): {met}."
        )
    lines += [
        "",
        f"**The seed's loop**: {payload['rounds']} interleaved rounds of {iters} iterations "
        f"({int(iters * 0.2)} for mlp_1m).",
        "",
        "| model | timed | bare AdamW (µs) | default preset | every rule on |",
        "|---|---|---:|---:|---:|",
    ]
    for key, entry in results.items():
        model_name, what = key.split("/")
        cells = [
            f"{entry[v]['median_ratio']:.3f} [{entry[v]['ci95'][0]:.3f}, {entry[v]['ci95'][1]:.3f}]"
            for v in VARIANTS[1:]
        ]
        lines.append(f"| {model_name} | {what} | {entry['bare_us']:.1f} | {cells[0]} | {cells[1]} |")
    if "ppo" in payload:
        p = payload["ppo"]
        lines += [
            "",
            f"**PPO**: an iteration ({p['env_steps']} environment steps, then the training phase) takes "
            f"{p['bare_us'] / 1000:.1f} ms with the bare optimizer and {p['default']['median_us'] / 1000:.1f} ms with "
            f"the default preset and `AdaptiveCallback`: ratio {p['default']['median_ratio']:.3f} "
            f"[{p['default']['ci95'][0]:.3f}, {p['default']['ci95'][1]:.3f}].",
        ]
    if "off_policy" in payload:
        o = payload["off_policy"]
        lines += [
            "",
            f"**{o['algo'].upper()}**: an iteration (one environment step, then one gradient step of each network) "
            f"takes {o['bare_us'] / 1000:.2f} ms with the bare optimizer and {o['default']['median_us'] / 1000:.2f} ms "
            f"with `{o['adaptive']}` and `AdaptiveCallback` (the TD-closure probe: one extra critic forward pass "
            f"every 10 critic steps): ratio {o['default']['median_ratio']:.3f} [{o['default']['ci95'][0]:.3f}, "
            f"{o['default']['ci95'][1]:.3f}].",
        ]
    if "curve" in payload:
        lines += [
            "",
            "**Parameter count**: the time the wrapper adds per step of the seed's loop (median of the per-step "
            "difference, timed around the call and inside the base step, minus the bare optimizer's; 95% CI).",
            "",
            "| model | parameters | bare AdamW step (µs) | default preset: added µs | every rule on: added µs |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, r in payload["curve"].items():
            cells = [f"{r[v]['added_us']:.1f} [{r[v]['ci95'][0]:.1f}, {r[v]['ci95'][1]:.1f}]" for v in VARIANTS[1:]]
            lines.append(f"| {name} | {r['params']:,} | {r['bare_step_us']:,.0f} | {cells[0]} | {cells[1]} |")
    if "cold_cache" in payload:
        lines += [
            "",
            "**Cold caches**: the same O(1) wrapper call, `step_reward(1.0)`, timed right after a base step and again "
            "at once (median µs):",
            "",
            "| model | right after a base step | again, warm |",
            "|---|---:|---:|",
        ]
        for name, c in payload["cold_cache"].items():
            lines.append(f"| {name} | {c['cold_us']:.1f} | {c['warm_us']:.1f} |")
    if "memory" in payload:
        m = payload["memory"]
        per_rule = ", ".join(f"`{k}` {n}" for k, n in m["numbers_per_rule"].items())
        lines += [
            "",
            f"**Controller state** (every rule on): {m['state_numbers']} numbers, {m['state_bytes']:,} bytes pickled; "
            f"{m['numbers_per_channel']} per signal channel, and per rule: {per_rule}.",
        ]
    if "probe" in payload:
        lines += [
            "",
            "**Update-size probe**, share of each run's wall time at rl-zoo's settings (`update_sizes` suite):",
            "",
        ]
        lines += ["| algorithm | runs | share: median (min, max) | commits |", "|---|---:|---|---|"]
        for algo, e in payload["probe"].items():
            s = np.array(e["shares"])
            lines.append(
                f"| {algo.upper()} | {len(s)} | {np.median(s):.2%} ({s.min():.2%}, {s.max():.2%}) | "
                f"{', '.join(f'`{c}`' for c in e['commits'])} |"
            )
    for label, prof in payload.get("profiles", {}).items():
        lines += [
            "",
            f"**cProfile, {label}** (code at `{prof['code_commit']}`; the seed's loop, default preset, 64x64 policy, "
            f"{prof['steps']} steps; {prof['total_us_per_step']:.0f} µs per step under the profiler, of which "
            f"{prof['rl_adaptive_us_per_step']:.1f} µs in rl_adaptive's own frames and "
            f"{prof['machinery_us_per_step']:.1f} µs in torch's step machinery). The wrapper's frames and torch's "
            "step machinery, by own time (the base optimizer's math left out):",
            "",
            "| frame | calls per step | own µs per step | total µs per step |",
            "|---|---:|---:|---:|",
        ]
        for f in prof["frames"]:
            lines.append(
                f"| `{f['frame']}` | {f['calls_per_step']:g} | {f['own_us_per_step']:.1f} "
                f"| {f['total_us_per_step']:.1f} |"
            )
    replace_section("overhead", "\n".join(lines))
