"""Real Stable-Baselines3 algorithms on real Gymnasium environments, with tiny budgets."""

from __future__ import annotations

import glob
import json
import math
import re
import warnings

import bitsandbytes as bnb
import numpy as np
import pytest
import torch
from sb3_contrib import QRDQN, TQC, RecurrentPPO
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.env_util import make_vec_env

from rl_adaptive import AdaptiveOptimizer
from rl_adaptive.sb3 import AdaptiveCallback, adaptive_policy_kwargs, find_adaptive_optimizers

TINY = {
    PPO: ("CartPole-v1", dict(n_steps=256, batch_size=64, n_epochs=2), 1024),
    A2C: ("CartPole-v1", dict(n_steps=16), 1024),
    DQN: ("CartPole-v1", dict(learning_starts=100, train_freq=4, buffer_size=2000, target_update_interval=100), 1500),
    SAC: ("Pendulum-v1", dict(learning_starts=100, buffer_size=2000, batch_size=64), 600),
    TD3: ("Pendulum-v1", dict(learning_starts=100, buffer_size=2000, batch_size=64), 600),
    RecurrentPPO: ("CartPole-v1", dict(n_steps=128, batch_size=64, n_epochs=2), 512),
    TQC: (
        "Pendulum-v1",
        dict(learning_starts=100, buffer_size=2000, batch_size=64, top_quantiles_to_drop_per_net=2),
        400,
    ),
    QRDQN: ("CartPole-v1", dict(learning_starts=100, train_freq=4, buffer_size=2000, target_update_interval=100), 1000),
}
# Rules that surely move within the tiny budgets: PPO's few updates -> the KL rule (no warmup, KL far above 1e-6);
# A2C's one-batch loss is noisy -> the variance rule.
RULES = {
    PPO: {"lr_rule": "kl", "target_kl": 1e-6},
    RecurrentPPO: {"lr_rule": "kl", "target_kl": 1e-6},
    A2C: {"lr_rule": "variance"},
}
ROLES = {SAC: {"actor", "critic"}, TD3: {"actor", "critic"}, TQC: {"actor", "critic"}}


def tiny_ppo(policy_kwargs, env="CartPole-v1", cls=PPO, **settings):
    """PPO on CartPole-v1 with a tiny rollout; ``settings`` override the defaults."""
    settings = {"seed": 0, "device": "cpu", "n_steps": 256, "batch_size": 64, "n_epochs": 2, **settings}
    return cls("MlpPolicy", env, policy_kwargs=policy_kwargs, **settings)


def make(algo, seed=0, policy="MlpPolicy", **rules):
    env, kwargs, _ = TINY[algo]
    if algo is RecurrentPPO:
        policy = "MlpLstmPolicy"
    if not rules:
        rules = dict(RULES.get(algo, {"lr_rule": "trend"}), reward_rule="trend")
    return algo(policy, env, seed=seed, device="cpu", policy_kwargs=adaptive_policy_kwargs(algo, **rules), **kwargs)


@pytest.mark.parametrize("algo", list(TINY), ids=lambda a: a.__name__)
def test_each_algorithm_learns_with_the_callback(algo):
    model = make(algo)
    callback = AdaptiveCallback()
    model.learn(TINY[algo][2], callback=callback)
    optimizers = find_adaptive_optimizers(model)
    assert set(optimizers) == ROLES.get(algo, {"policy"})
    for opt in optimizers.values():
        assert opt.signals["loss"].count > 0, "losses were fed"
        assert opt.signals["reward"].count > 0, "episode returns were fed"
        assert opt.signals["loss"].skipped == 0
        assert any(f != 1.0 for f in opt.rule_factors().values()), "some rule moved"
    if algo in (SAC, TQC):  # the entropy optimizer stays SB3's plain Adam
        assert type(model.ent_coef_optimizer) is torch.optim.Adam


def test_hand_written_policy_kwargs_and_the_kl_channel():
    # The snippet: optimizer_class / optimizer_kwargs written by hand.
    hand_written = dict(
        optimizer_class=AdaptiveOptimizer,
        optimizer_kwargs=dict(base_optimizer=torch.optim.Adam, eps=1e-5, lr_rule="trend", reward_rule="trend"),
    )
    model = tiny_ppo(hand_written, seed=1, n_epochs=4)
    assert model.policy.optimizer.param_groups[0]["eps"] == 1e-5
    model = tiny_ppo(adaptive_policy_kwargs("ppo", lr_rule="kl", target_kl=1e-4), seed=1, n_epochs=4)
    model.learn(1024, callback=AdaptiveCallback())
    opt = model.policy.optimizer
    assert opt.signals["kl"].count == 3  # one per training phase, the last one is never fed
    assert opt.rule_factors()["lr_rule.kl"] < 1.0  # PPO's KL is far above 2e-4: the lr went down


@pytest.mark.parametrize(
    ("algo", "expected"),
    [
        (PPO, {"type": torch.optim.Adam, "eps": 1e-5}),
        (A2C, {"type": torch.optim.RMSprop, "eps": 1e-5, "alpha": 0.99, "weight_decay": 0.0}),
        (DQN, {"type": torch.optim.Adam, "eps": 1e-8}),
        (SAC, {"type": torch.optim.Adam, "eps": 1e-8}),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_helper_keeps_sb3_base_optimizer_defaults(algo, expected):
    # the helper applies SB3's own rule: eps=1e-5 for Adam in actor-critic policies, A2C's RMSprop settings
    env, kwargs, _ = TINY[algo]
    plain = algo("MlpPolicy", env, device="cpu", **kwargs)
    adaptive = make(algo)
    plain_opt = plain.policy.optimizer if hasattr(plain.policy, "optimizer") else plain.actor.optimizer
    adaptive_opt = next(iter(find_adaptive_optimizers(adaptive).values()))
    assert type(plain_opt) is expected["type"] and type(adaptive_opt.optimizer) is expected["type"]
    group, plain_group = adaptive_opt.param_groups[0], plain_opt.param_groups[0]
    for key in set(plain_group) - {"params", "initial_lr"}:
        assert group[key] == plain_group[key], key
    for key, value in expected.items():
        if key != "type":
            assert group[key] == value


def test_helper_mirrors_sb3_when_base_keywords_are_given():
    # SB3 adds eps=1e-5 only when optimizer_kwargs is None: with weight_decay given, neither does the helper
    kwargs = adaptive_policy_kwargs("ppo", weight_decay=1e-4, lr_rule="kl")["optimizer_kwargs"]
    assert "eps" not in kwargs and kwargs["weight_decay"] == 1e-4
    assert adaptive_policy_kwargs("ppo", lr_rule="kl")["optimizer_kwargs"]["eps"] == 1e-5
    with pytest.raises(ValueError, match="policy_kwargs: 'optimizer_class' is set by this helper"):
        adaptive_policy_kwargs("ppo", policy_kwargs={"optimizer_class": torch.optim.SGD})
    kept = adaptive_policy_kwargs("sac", policy_kwargs={"net_arch": [32, 32]})
    # SAC's row of ALGORITHMS has no default rule: the bare optimizer, said as a preset
    assert kept["net_arch"] == [32, 32] and kept["optimizer_kwargs"] == {
        "base_optimizer": torch.optim.Adam,
        "preset": "none",
    }


def test_effective_lr_is_sb3_schedule_times_factor_at_every_update():
    def schedule(progress_remaining):
        return 1e-3 * progress_remaining  # linear to 0

    model = tiny_ppo(
        adaptive_policy_kwargs("ppo", lr_rule="kl", target_kl=1e-4),
        n_steps=128,
        learning_rate=schedule,
    )
    opt = model.policy.optimizer
    checks = []

    def check(base_opt, args, kwargs):
        expected = schedule(model._current_progress_remaining) * opt.factors()["lr"]
        checks.append((base_opt.param_groups[0]["lr"], expected, opt.factors()["lr"]))

    opt.optimizer.register_step_pre_hook(check)
    model.learn(128 * 8, callback=AdaptiveCallback())
    assert len(checks) == 8 * 2 * 2  # updates x epochs x minibatches
    for applied, expected, _ in checks:
        assert applied == pytest.approx(expected, rel=1e-12)
    assert any(f != 1.0 for _, _, f in checks)  # the factor moved and survived SB3's rewrite


@pytest.mark.parametrize("algo", [PPO, SAC, TD3], ids=lambda a: a.__name__)
def test_save_load_resume(algo, tmp_path):
    model = make(algo, lr_rule="trend+variance", reward_rule="trend")
    model.learn(TINY[algo][2], callback=AdaptiveCallback())
    before = {role: opt.state_dict()["adaptive"] for role, opt in find_adaptive_optimizers(model).items()}
    model.save(tmp_path / "model.zip")
    loaded = algo.load(tmp_path / "model.zip", env=make_vec_env(TINY[algo][0], n_envs=1, seed=1), device="cpu")
    loaded_opts = find_adaptive_optimizers(loaded)
    assert set(loaded_opts) == set(before)
    for role, opt in loaded_opts.items():
        assert isinstance(opt, AdaptiveOptimizer)
        assert opt.state_dict()["adaptive"] == before[role]
    counts = {role: opt.signals["loss"].count for role, opt in loaded_opts.items()}
    loaded.learn(TINY[algo][2], callback=AdaptiveCallback(), reset_num_timesteps=False)
    for role, opt in find_adaptive_optimizers(loaded).items():
        assert opt.signals["loss"].count > counts[role]  # continued from the saved controller


def _scalars(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for path in glob.glob(f"{log_dir}/**/events.out.tfevents.*", recursive=True):
        acc = EventAccumulator(path)
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    return tags


def test_tensorboard_scalars_under_adaptive(tmp_path):
    model = tiny_ppo(
        adaptive_policy_kwargs("ppo", lr_rule="kl", reward_rule="trend"),
        n_steps=128,
        tensorboard_log=str(tmp_path / "ppo"),
    )
    model.learn(128 * 6, callback=AdaptiveCallback())
    tags = _scalars(tmp_path / "ppo")
    assert {
        "adaptive/lr",
        "adaptive/beta1",
        "adaptive/beta2",
        "adaptive/wd",
        "adaptive/factor/lr_rule.kl",
        "adaptive/factor/reward_rule.trend",
        "adaptive/signal/loss",
        "adaptive/signal/kl",
        "adaptive/signal/reward",
    } <= tags
    sac = make(SAC)
    sac.tensorboard_log = str(tmp_path / "sac")
    sac.learn(400, callback=AdaptiveCallback(), log_interval=1)
    tags = _scalars(tmp_path / "sac")
    assert {
        "adaptive/actor/lr",
        "adaptive/critic/lr",
        "adaptive/signal/loss/critic",
        "adaptive/signal/loss/actor",
    } <= tags


def test_clear_error_without_an_adaptive_optimizer():
    model = PPO("MlpPolicy", "CartPole-v1", device="cpu", n_steps=64, batch_size=64)
    with pytest.raises(ValueError, match="PPO has no AdaptiveOptimizer") as info:
        model.learn(64, callback=AdaptiveCallback())
    assert "adaptive_policy_kwargs('ppo'" in str(info.value) and "optimizer_class=AdaptiveOptimizer" in str(info.value)


def test_bad_rule_name_fails_at_construction():
    with pytest.raises(ValueError, match="lr_rule: unknown rule 'bogus'; choose from trend, variance"):
        PPO("MlpPolicy", "CartPole-v1", device="cpu", policy_kwargs=adaptive_policy_kwargs("ppo", lr_rule="bogus"))


def test_bad_callback_arguments():
    with pytest.raises(ValueError, match="reward_aggregate: unknown aggregate 'avg'; choose from mean"):
        AdaptiveCallback(reward_aggregate="avg")
    model = make(PPO)
    with pytest.raises(ValueError, match="loss_keys: no adaptive optimizer 'critic' in PPO; its adaptive optimizers"):
        model.learn(256, callback=AdaptiveCallback(loss_keys={"critic": "train/value_loss"}))


def test_unrecorded_loss_key_warns_once_naming_the_recorded_ones():
    model = make(PPO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.learn(256 * 6, callback=AdaptiveCallback(loss_keys={"policy": "train/bogus_loss"}))
    messages = [str(w.message) for w in caught if "did not record" in str(w.message)]
    assert len(messages) == 1
    assert "train/bogus_loss" in messages[0] and "train/value_loss" in messages[0]


class DivergingPPO(PPO):
    """PPO whose recorded value loss is NaN, as in a diverging run."""

    def train(self) -> None:
        super().train()
        self.logger.record("train/value_loss", float("nan"))


def test_nan_losses_are_skipped_and_training_goes_on():
    model = tiny_ppo(
        adaptive_policy_kwargs("ppo", lr_rule="trend"),
        cls=DivergingPPO,
    )
    with pytest.warns(RuntimeWarning, match="skipped a loss value of nan"):
        model.learn(1024, callback=AdaptiveCallback())
    opt = model.policy.optimizer
    assert model.num_timesteps >= 1024
    assert opt.signals["loss"].skipped == 3  # one NaN per phase read (the 4th is read by no later rollout)
    assert math.isfinite(opt.lr) and all(torch.isfinite(p).all() for p in model.policy.parameters())


def test_ppo_with_an_8bit_base_optimizer():
    model = tiny_ppo(
        adaptive_policy_kwargs("ppo", base_optimizer=bnb.optim.AdamW8bit, lr_rule="kl", reward_rule="trend"),
    )
    opt = model.policy.optimizer
    assert isinstance(opt.optimizer, bnb.optim.AdamW8bit)
    model.learn(1024, callback=AdaptiveCallback())
    assert any(
        state.get("state1") is not None and state["state1"].dtype == torch.uint8 for state in opt.state.values()
    )  # the 8-bit path ran
    assert opt.signals["kl"].count > 0 and opt.rule_factors()["lr_rule.kl"] != 1.0


def test_reward_channel_aggregates_finished_episodes_of_all_envs():
    fed = []

    class Spy(AdaptiveCallback):
        def _on_rollout_end(self):
            fed.append(list(self._returns))
            super()._on_rollout_end()

    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = tiny_ppo(
        adaptive_policy_kwargs("ppo", reward_rule="trend"),
        env=env,
        n_steps=8,
        batch_size=16,
        n_epochs=1,
    )
    model.learn(8 * 2 * 30, callback=Spy(reward_aggregate="median"))
    opt = model.policy.optimizer
    with_episodes = [r for r in fed if r]
    assert len(with_episodes) < len(fed)  # some rollouts finished no episode...
    assert len(with_episodes) == opt.signals["reward"].count  # ... and fed nothing
    assert max(len(r) for r in fed) > 1  # episodes of several envs in one rollout
    assert opt.signals["reward"].last == pytest.approx(float(np.median(with_episodes[-1])))


class _ConstantKL(BaseCallback):
    """Sets the recorded KL to 0.0 after every phase, before AdaptiveCallback reads it: a genuine repeat."""

    def _on_rollout_start(self) -> None:
        if "train/approx_kl" in self.model.logger.name_to_value:
            self.model.logger.name_to_value["train/approx_kl"] = 0.0

    def _on_step(self) -> bool:
        return True


def test_a_repeated_value_is_fed_again_and_phases_come_from_the_optimizers_step_counts():
    model = tiny_ppo(adaptive_policy_kwargs("ppo", lr_rule="kl"))
    callback = AdaptiveCallback()
    model.learn(256 * 5, callback=CallbackList([_ConstantKL(), callback]))
    opt = model.policy.optimizer
    assert opt.signals["kl"].count == 4 and opt.signals["kl"].last == 0.0  # 5 phases, the last one read by none
    assert opt.signals["loss"].count == 4
    assert opt.lr == pytest.approx(3e-4 * 1.5**4)  # every 0.0 below target_kl / 2 raised the lr


def test_adaptive_scalars_reach_every_sb3_logger_format_and_a_custom_writer(tmp_path):
    # W&B's and MLflow's SB3 integrations are KVWriters; the callback only uses SB3's logger, so every writer gets it.
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import KVWriter, Logger, make_output_format

    class Collect(KVWriter):
        def __init__(self):
            self.rows = []

        def write(self, key_values, key_excluded, step=0):
            self.rows.append(dict(key_values))

    collect = Collect()
    formats = [make_output_format(f, str(tmp_path)) for f in ("stdout", "csv", "json", "log", "tensorboard")]
    model = PPO(
        "MlpPolicy",
        "CartPole-v1",
        n_steps=64,
        batch_size=64,
        n_epochs=1,
        seed=0,
        policy_kwargs=adaptive_policy_kwargs("ppo"),
    )
    model.set_logger(Logger(str(tmp_path), [*formats, collect]))
    model.learn(192, callback=AdaptiveCallback())
    for f in formats:
        f.close()
    assert any("adaptive/lr" in row and "adaptive/signal/reward" in row for row in collect.rows)
    assert "adaptive/lr" in (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert "adaptive/lr" in (tmp_path / "progress.json").read_text()
    text = (tmp_path / "log.txt").read_text()  # the human format groups keys: "| adaptive/ |" then "|    lr |"
    assert "| adaptive/ " in text and re.search(r"\|    lr +\| ", text)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = tmp_path.glob("events.out.tfevents.*")
    acc = EventAccumulator(str(events))
    acc.Reload()
    assert "adaptive/lr" in acc.Tags()["scalars"]


def test_train_agent_gives_torch_back_the_callers_thread_count():
    from rl_adaptive.app.agents import load_agent
    from rl_adaptive.app.training import train_agent

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        result = train_agent(load_agent("ppo", "CartPole-v1"), timesteps=256, final_episodes=1, tensorboard=False)
        assert result["trained_timesteps"] >= 256
        assert torch.get_num_threads() == 2  # it trained on one thread, and gave the caller's two back
    finally:
        torch.set_num_threads(before)


def test_train_agent_records_a_diverged_run_as_a_result(tmp_path):
    """A base optimizer that blows the weights up is an outcome to report, not a crash: PPO's categorical refuses
    non-finite logits inside learn(), DQN's argmax acts on them silently; both come back marked diverged."""
    from stable_baselines3.common.callbacks import BaseCallback

    from rl_adaptive.app.agents import load_agent
    from rl_adaptive.app.report import summarize
    from rl_adaptive.app.training import train_agent

    ppo = train_agent(
        load_agent("ppo", "CartPole-v1"),
        variant="fixed",
        learning_rate=1e30,
        timesteps=1024,
        final_episodes=1,
        tensorboard=False,
        out_dir=tmp_path / "ppo",
    )
    assert ppo["diverged"]["step"] < 1024 and ppo["diverged"]["error"]  # torch's refusal, first line
    assert ppo["final"] == {} and not ppo["interrupted"]
    assert json.loads((tmp_path / "ppo" / "metrics.json").read_text())["diverged"] == ppo["diverged"]
    dqn = train_agent(
        load_agent("dqn", "CartPole-v1"),
        variant="fixed",
        learning_rate=1e30,
        timesteps=1400,  # past rl-zoo's learning_starts (1000) and one train_freq (256)
        final_episodes=1,
        tensorboard=False,
    )
    assert dqn["diverged"] == {
        "step": dqn["trained_timesteps"],
        "error": "non-finite policy weights or outputs after training",
    }
    fine = train_agent(
        load_agent("ppo", "CartPole-v1"), variant="fixed", timesteps=256, final_episodes=1, tensorboard=False
    )
    assert fine["diverged"] is None and len(fine["final"]["returns"]) == 1
    table = summarize([fine, {**ppo, "variant": "fixed", "seed": 1}], tmp_path / "cmp", "PPO")["table"]
    assert "| fixed | 1 |" in table and f"| {int(fine['final']['mean'] >= 475)}/2 |" in table
    assert "fixed: 1 of 2 runs diverged (non-finite weights); they count as not solved" in table
    assert json.loads((tmp_path / "cmp" / "results.json").read_text())["runs"][1]["diverged"] == ppo["diverged"]

    class Broken(BaseCallback):  # a ValueError with finite weights is a bug, and stays one
        def _on_step(self) -> bool:
            raise ValueError("not a divergence")

    with pytest.raises(ValueError, match="not a divergence"):
        train_agent(load_agent("ppo", "CartPole-v1"), timesteps=64, tensorboard=False, extra_callbacks=[Broken()])


def test_train_agent_scales_the_agents_lr_schedule_and_refuses_a_bad_scale():
    from rl_adaptive.app.agents import LinearSchedule, load_agent
    from rl_adaptive.app.training import train_agent

    agent = load_agent("ppo", "CartPole-v1")
    assert isinstance(agent.model_kwargs["learning_rate"], LinearSchedule)  # rl-zoo's lin_1e-3
    tuned = agent.model_kwargs["learning_rate"].initial
    result = train_agent(agent, lr_scale=0.1, timesteps=256, final_episodes=1, tensorboard=False)
    assert result["initial_lr"] == pytest.approx(tuned * 0.1) and result["lr_scale"] == 0.1
    assert result["learning_rate"] == repr(LinearSchedule(tuned * 0.1))  # still a schedule, from a tenth
    a2c = load_agent("a2c", "CartPole-v1")
    constant = train_agent(a2c, variant="fixed", lr_scale=3, timesteps=64, final_episodes=1, tensorboard=False)
    assert "learning_rate" not in a2c.model_kwargs  # SB3's own default, 7e-4, is the one scaled
    assert constant["initial_lr"] == pytest.approx(3 * 7e-4)
    for bad in (0, -1.0, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(ValueError, match=rf"lr_scale: expected a positive finite number, got {bad!r}"):
            train_agent(agent, lr_scale=bad, timesteps=64)
