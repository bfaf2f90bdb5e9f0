"""The TD-closure probe and rule: rho against an independent computation (a toy regression, and one real gradient
step of DQN, SAC and TD3 with the targets their own loss saw), which steps it measures, and the rule on real SB3
training."""

from __future__ import annotations

import warnings

import pytest
import torch
from stable_baselines3 import A2C, DQN, SAC, TD3

from rl_adaptive import AdaptiveOptimizer, ClosureRule
from rl_adaptive.sb3 import TD_LOSSES, AdaptiveCallback, adaptive_policy_kwargs
from rl_adaptive.sb3.closure import ClosureProbe


def _toy(lr=0.1, loss_scale=0.5, maximize=False):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = AdaptiveOptimizer(torch.optim.SGD(net.parameters(), lr=lr, maximize=maximize), preset="none")
    x, y = torch.randn(64, 3), torch.randn(64, 1)

    def step():
        q = net(x)
        loss = loss_scale * torch.nn.functional.mse_loss(q, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return net, opt, x, y, step


def _true_rho(before, after, delta):
    return float(((after - before) * delta).sum() / delta.pow(2).sum())


@pytest.mark.parametrize(("loss_scale", "slope"), [(0.5, 1.0), (1.0, 2.0)])
def test_rho_is_the_share_of_the_batchs_error_the_step_closed(loss_scale, slope):
    net, opt, x, y, step = _toy(loss_scale=loss_scale)
    fed = []
    ClosureProbe(net, opt, fed.append, every=1, slope=slope)
    for _ in range(5):
        with torch.no_grad():
            before = net(x)
        step()
        with torch.no_grad():
            after = net(x)
        assert float(fed[-1]) == pytest.approx(_true_rho(before, after, y - before), rel=1e-5)
        assert 0.0 < float(fed[-1]) < 1.0
    assert len(fed) == 5


def test_rho_follows_the_lr_and_a_wrong_way_step_counts_zero():
    sizes = []
    for lr in (0.001, 0.01):
        net, opt, _, _, step = _toy(lr=lr)
        fed = []
        ClosureProbe(net, opt, fed.append, every=1)
        step()
        sizes.append(float(fed[0]))
    assert sizes[1] == pytest.approx(10 * sizes[0], rel=0.05)  # a small step: proportional to the lr
    net, opt, _, _, step = _toy(maximize=True)  # the step climbs the loss: it closed none of the error
    fed = []
    ClosureProbe(net, opt, fed.append, every=1)
    step()
    assert float(fed[0]) == 0.0


def test_only_every_kth_step_is_measured_and_remove_takes_the_hooks_off():
    net, opt, _, _, step = _toy()
    fed = []
    probe = ClosureProbe(net, opt, lambda r: fed.append(opt.step_count), every=3)
    for _ in range(7):
        step()
    assert fed == [1, 4, 7]  # the steps counted 0, 3 and 6: the count after each
    assert probe.measured == 3
    probe.remove()
    step()
    step()
    assert len(fed) == 3


def test_a_forward_pass_without_a_graph_is_not_a_batch():
    net, opt, x, _, step = _toy()
    fed = []
    ClosureProbe(net, opt, fed.append, every=1)
    with torch.no_grad():
        net(x)  # acting, evaluating: no graph, nothing to measure
    opt.step()  # a step with no captured batch (no gradient either): not measured
    assert fed == []
    step()
    assert len(fed) == 1


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_bad_arguments_name_themselves(value):
    net, opt, _, _, _ = _toy()
    with pytest.raises(ValueError, match="every"):
        ClosureProbe(net, opt, print, every=value)
    if not isinstance(value, bool) and value > 0:
        return
    with pytest.raises(ValueError, match="slope"):
        ClosureProbe(net, opt, print, slope=value)


# -- one real gradient step: the probe against the targets SB3's own loss saw ---------------------------------------
_ONE_STEP = {
    DQN: ("CartPole-v1", "smooth_l1_loss", {"learning_starts": 50, "train_freq": 1, "gradient_steps": 1}),
    SAC: ("Pendulum-v1", "mse_loss", {"learning_starts": 50}),
    TD3: ("Pendulum-v1", "mse_loss", {"learning_starts": 50}),
}


def _small(algo, learning_rate):
    env, _, kwargs = _ONE_STEP[algo]
    policy_kwargs = adaptive_policy_kwargs(algo, policy_kwargs={"net_arch": [32]}, lr_rule="td_closure")
    return algo(
        "MlpPolicy",
        env,
        seed=0,
        device="cpu",
        batch_size=32,
        learning_rate=learning_rate,
        policy_kwargs=policy_kwargs,
        **kwargs,
    )


@pytest.mark.parametrize("algo", list(_ONE_STEP), ids=lambda a: a.__name__)
def test_rho_on_one_real_gradient_step_matches_the_targets_the_loss_saw(algo, monkeypatch):
    _, loss_name, _ = _ONE_STEP[algo]
    model = _small(algo, learning_rate=3e-3)
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    loss = getattr(torch.nn.functional, loss_name)

    def recording(prediction, target, *args, **kw):
        seen.append((prediction.detach().clone(), target.detach().clone()))
        return loss(prediction, target, *args, **kw)

    monkeypatch.setattr(torch.nn.functional, loss_name, recording)
    sampled = []
    sample = model.replay_buffer.sample
    model.replay_buffer.sample = lambda *a, **k: sampled.append(sample(*a, **k)) or sampled[-1]
    role, _, _ = TD_LOSSES[algo.__name__]
    callback = AdaptiveCallback(closure_every=1)
    model.learn(51, callback=callback)  # one step past learning_starts: one gradient step
    assert len(sampled) == 1 and callback.closures == []  # removed at the end of learn()
    batch = sampled[0]
    with torch.no_grad():
        if algo is DQN:
            after = model.q_net(batch.observations).gather(1, batch.actions.long())
            ((before, target),) = seen
            delta = (target - before).clamp(-1.0, 1.0)  # the Huber loss's error, clipped to its unit band
        else:
            heads = model.critic(batch.observations, batch.actions)
            pairs = seen[: len(heads)]  # the critic loss, one mse per head (later calls: none in one step)
            before = torch.cat([p for p, _ in pairs], dim=1)
            delta = torch.cat([t - p for p, t in pairs], dim=1)
            after = torch.cat(heads, dim=1)
    optimizer = callback.optimizers[role]
    stats = optimizer.read_signals()["update"]  # a tensor signal waits on its device until read
    assert stats.count == 1
    assert stats.last == pytest.approx(max(0.0, _true_rho(before, after, delta)), rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("algo", [SAC, TD3, DQN], ids=lambda a: a.__name__)
def test_the_rule_moves_the_lr_of_every_optimizer_that_has_it_together(algo):
    model = _small(algo, learning_rate=1e-5)  # far too small: each step closes a sliver, and the rule grows the lr
    callback = AdaptiveCallback(closure_every=2)
    model.learn(250, callback=callback)
    factors = {role: opt.factors()["lr"] for role, opt in callback.optimizers.items()}
    assert all(f > 2.0 for f in factors.values()), factors
    assert len(set(factors.values())) == 1  # the actor is fed its critic's rho: one trajectory
    assert all(isinstance(opt.rules[0], ClosureRule) for opt in callback.optimizers.values())


def test_an_algorithm_without_a_td_loss_warns_and_the_rule_stays_at_one():
    model = A2C(
        "MlpPolicy",
        "CartPole-v1",
        seed=0,
        device="cpu",
        n_steps=8,
        policy_kwargs=adaptive_policy_kwargs(A2C, lr_rule="td_closure"),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.learn(64, callback=AdaptiveCallback())
    assert any("no TD-closure probe for A2C" in str(w.message) for w in caught)
    assert model.policy.optimizer.factors()["lr"] == 1.0


def _rule_opt(**kwargs):
    rule = ClosureRule(**kwargs)
    model = torch.nn.Linear(2, 1)
    return AdaptiveOptimizer(torch.optim.SGD(model.parameters(), lr=1.0), lr_rule=rule, signal_sync_every=1), rule


def test_growth_stops_where_shrinking_began_and_the_cap_survives_a_checkpoint():
    opt, rule = _rule_opt()
    for _ in range(10):
        opt.step_update(0.01)  # a stall: grow
    grown = opt.lr
    assert grown > 3.0
    for _ in range(5):
        opt.step_update(0.9)  # far too much of the error closed: shrink
    cap = opt.lr
    assert cap < grown and rule.state_dict()["growth_cap"] == cap
    for _ in range(40):
        opt.step_update(0.001)  # a stall again: at a too-high lr, TD errors that run away look like this
    assert opt.lr <= cap  # it does not grow back past where it had to shrink
    copy, _ = _rule_opt()
    copy.load_state_dict(opt.state_dict())
    assert copy.rules[0].state_dict() == rule.state_dict()
    unbounded, _ = _rule_opt(ceiling=False)  # the first screen's rule: grows back whenever rho is low
    for value in [0.01] * 10 + [0.9] * 5 + [0.001] * 40:
        unbounded.step_update(value)
    assert unbounded.lr == 10.0
    with pytest.raises(TypeError, match="ceiling: expected True or False"):
        ClosureRule(ceiling="yes")
