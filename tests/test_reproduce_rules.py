"""The reproduction report's rules on synthetic numbers: verdicts carry their scale, claim 3 compares
pre-declared depth groups, equivalence conditions use one margin style, the seed scale's specs,
the set-up table, the analytic FLOP ratio and the figure rules (data in, properties out)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from reproduce import figs, plan, setup
from reproduce.claims import BY_NUMBER, CLAIMS
from reproduce.claims_mlp import depth_groups, group_means
from reproduce.flops import cnn_macs, macs_ratio
from reproduce.runner import load_spec, level
from reproduce.stats import FAIL, MARGIN_REL, PASS, UNCLEAR, Stat, equivalent, greater, no_worse, stat
from reproduce.verdict import (INCONCLUSIVE, NOT_DECIDED, NOT_REPRODUCED, REDUCED, REPRODUCED, SEEDS_SCALE, STAND_IN,
                               Outcome, claim_scale, decide)


@dataclass
class FakeStudy:
    spec: dict
    level: str = "seed"
    exp: object = field(default=None)


def _studies(claim, data: str, lvl: str) -> dict:
    return {b: FakeStudy({"data": {"name": data}}, lvl) for b in claim.specs}


def _passing() -> Outcome:
    out = Outcome()
    out.check("a", greater(stat([1.0, 1.1, 0.9]), 0))
    return out


def test_reproduced_is_given_only_at_the_seeds_scale_and_a_reduced_run_is_not_decided_with_its_lean():
    cl = BY_NUMBER[1]
    seeds = claim_scale(cl, _studies(cl, "sine", "seed"))
    reduced = claim_scale(cl, _studies(cl, "sine", "reduced"))
    assert seeds == (SEEDS_SCALE, "sin(x), generated") and reduced[0] == REDUCED
    assert decide(cl, _passing(), [], seeds)[0] == REPRODUCED
    v, why = decide(cl, _passing(), [], reduced)
    assert v == NOT_DECIDED and "leaned reproduced" in why


def test_stand_in_images_make_a_claim_not_decided_and_the_data_column_says_so():
    cl = BY_NUMBER[5]
    sc = claim_scale(cl, _studies(cl, "fake_images", "reduced"))
    assert sc[0] == STAND_IN and "stand-in" in sc[1]
    out = Outcome()
    out.check("worse", greater(stat([-1.0, -1.1, -0.9]), 0))
    v, why = decide(cl, out, [], sc)
    assert v == NOT_DECIDED and "leaned not reproduced" in why and "would be not reproduced" in why


def test_digits_is_named_as_not_emnist_in_the_data_column():
    cl = BY_NUMBER[12]
    assert "not EMNIST" in claim_scale(cl, _studies(cl, "digits", "seed"))[1]


def test_an_unclear_condition_leans_by_where_its_mean_falls():
    out = Outcome()
    out.check("x", greater(Stat(0.3, -0.1, 0.7, 5), 0))
    assert out.conditions[0][1] == UNCLEAR and out.leaned() == REPRODUCED
    assert decide(BY_NUMBER[1], out, [], (SEEDS_SCALE, ""))[0] == INCONCLUSIVE


def _sweep(value_of_depth) -> dict[int, dict[int, float]]:
    depths = [2, 3, 4, 5, 6, 8, 10, 12, 13, 16, 20, 25, 30, 40, 50]
    return {d: {s: value_of_depth(d) + 0.001 * s for s in range(5)} for d in depths}


def test_claim3_compares_the_predeclared_groups_paired_by_seed_even_when_the_argmin_is_outside_the_band():
    # depth 6 (in no group) is the single best depth: an argmin-then-test reading fails the claim;
    # the seed's band still beats the shallow and the deep group on every seed
    err = _sweep(lambda d: 0.001 if d == 6 else 0.3 if d <= 4 else 0.01 if 8 <= d <= 13 else 0.5 if d >= 40 else 0.1)
    long_ = _sweep(lambda d: 0.01)
    assert group_means(err, (8, 13)) == pytest.approx({s: 0.01 + 0.001 * s for s in range(5)})
    out = Outcome()
    depth_groups(out, err, long_, (100, 1000))
    states = dict(out.conditions)
    assert list(states.values()) == [PASS, PASS, PASS, PASS]
    assert any("8-13" in c for c in states)


def test_claim3_group_means_use_only_seeds_that_have_every_depth_of_the_group():
    err = {8: {0: 1.0, 1: 2.0}, 10: {0: 3.0}, 20: {0: 9.0, 1: 9.0}}
    assert group_means(err, (8, 13)) == {0: 2.0}
    assert group_means(err, (40, 50)) == {}


def test_no_difference_needs_the_whole_ci_inside_the_margin_not_just_a_ci_that_includes_zero():
    wide = Stat(0.08, -0.02, 0.18, 5)  # includes 0, reaches far past the margin
    assert no_worse(wide, MARGIN_REL) == UNCLEAR
    assert no_worse(Stat(0.0, -0.02, 0.03, 5), MARGIN_REL) == PASS
    assert no_worse(Stat(0.2, 0.1, 0.3, 5), MARGIN_REL) == FAIL
    assert equivalent(Stat(0.0, -0.03, 0.03, 5), 0.02) == UNCLEAR
    assert equivalent(Stat(0.0, -0.01, 0.01, 5), 0.02) == PASS
    assert "5% margin" in BY_NUMBER[8].rule and "±0.02" in BY_NUMBER[5].rule


def test_seed_scale_runs_the_seeds_sizes_on_in_package_data_with_five_seeds_and_keeps_cnns_reduced():
    fig4 = load_spec("000_fig4_depth_error", "seed")
    assert fig4["sweep"]["model.depth"] == list(range(2, 51)) and fig4["train"]["epochs"] == 100
    assert fig4["sweep"]["model.init"][0] == "default" and len(fig4["seeds"]) >= 5
    tel = load_spec("000_fig1_telescope_skip_ablation", "seed")
    assert (tel["model"]["depth"], tel["model"]["width"], tel["train"]["epochs"]) == (50, 64, 2000)
    v2 = load_spec("000_fig3_resnet_v2_weight_magnitude", "seed")
    assert v2["model"]["block"] == "activation_then_add" and v2["train"]["epochs"] == 2000
    assert level("002_diabetes_skip_layer", "seed") == "seed" and level("001_digits_mlp_3layer", "seed") == "seed"
    assert level("seed001_cifar10_skip_cnn", "seed") == "reduced"
    assert load_spec("seed001_cifar10_skip_cnn", "seed")["data"]["name"] == "fake_images"


def test_no_network_is_trained_twice_for_two_claims_at_seed_scale():
    bases = list(dict.fromkeys(b for cl in CLAIMS for b in cl.specs))
    trained = [json.dumps({k: load_spec(b, "seed")[k] for k in ("model", "data", "train")}, sort_keys=True)
               for b in bases]
    assert len(trained) == len(set(trained))
    assert BY_NUMBER[1].specs[0] in BY_NUMBER[2].specs  # claims 1 and 2: one telescope experiment


def test_the_setup_table_marks_same_differs_further_arms_and_unstated():
    spec = load_spec("000_fig4_depth_error", "seed")
    rows = {a: (seed, ours, d) for a, seed, ours, d in setup.rows(BY_NUMBER[3].seed_setup, [spec])}
    assert rows["depth"][2] == "same" and rows["epochs"][2] == "same"
    assert rows["init"][2] == "the seed's, plus further arms"
    assert rows["lr"][2].startswith("the seed does not say")
    small = {a: d for a, _, _, d in setup.rows(BY_NUMBER[3].seed_setup, [load_spec("000_fig4_depth_error", "small")])}
    assert small["depth"] == "differs"


def test_the_widened_cnn_costs_about_one_and_a_half_times_the_skip_cnn_in_multiply_adds():
    assert macs_ratio("widened_cnn", "skip_cnn") == pytest.approx(1.51, abs=0.01)
    assert macs_ratio("widened_cnn", "skip_cnn", image_size=16) == pytest.approx(1.51, abs=0.01)


@pytest.mark.parametrize("family", ["vanilla_cnn", "skip_cnn", "widened_cnn"])
def test_analytic_multiply_adds_match_the_built_model(family):
    import torch

    from skipcore.models.cnn import SeedCNN, seed_widths

    model = SeedCNN(in_channels=3, n_classes=10, widths=seed_widths(family), skips=family == "skip_cnn").eval()
    macs = []

    def hook(m, inp, out):
        if isinstance(m, torch.nn.Conv2d):
            macs.append(out.shape[2] * out.shape[3] * m.out_channels * m.in_channels * 9)
        else:
            macs.append(m.in_features * m.out_features)

    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32))
    assert sum(macs) == cnn_macs(family)


def test_a_log_axis_is_refused_under_a_ci_that_reaches_zero_and_every_legend_states_n():
    crossing = {"a": ([1, 2, 3], [Stat(0.1, -0.05, 0.25, 5), Stat(0.2, 0.1, 0.3, 5), Stat(0.3, 0.2, 0.4, 5)])}
    positive = {"a": ([1, 2, 3], [Stat(0.1, 0.05, 0.15, 5), Stat(0.2, 0.1, 0.3, 5), Stat(0.3, 0.2, 0.4, 5)])}
    f1 = figs.lines_figure("t", crossing, "hidden layer (1 = first)", "mean |W|", logy=True)
    f2 = figs.lines_figure("t", positive, "hidden layer (1 = first)", "mean |W|", logy=True)
    assert f1.axes[0].get_yscale() == "linear" and f2.axes[0].get_yscale() == "log"
    labels = [t.get_text() for t in f2.axes[0].get_legend().get_texts()]
    assert labels == ["a (n=5)"]
    assert figs.with_n("b (n=3)", [Stat(1, 0, 2, 5)]) == "b (n=3)"
    assert figs.with_n("b", [Stat(1, 0, 2, 3), Stat(1, 0, 2, 5)]) == "b (n=3-5)"


def test_the_timing_spec_cuts_epochs_and_init_arms_but_keeps_the_sweep_and_the_ensembled_seeds():
    spec = load_spec("000_fig4_depth_error", "seed")
    t = plan.timing_spec(spec, ensemble=True)
    assert t["train"]["epochs"] == plan.TIMING_EPOCHS and "model.init" not in t["sweep"]
    assert t["sweep"]["model.depth"] == list(range(2, 51)) and t["seeds"] == spec["seeds"]
    cnn = plan.timing_spec(load_spec("seed001_cifar10_skip_cnn", "seed"), ensemble=True)
    assert len(cnn["seeds"]) == 1


def test_the_plan_names_what_does_not_fit_the_budget_costliest_first():
    rows = [{"study": "a", "planned_s": 3600.0}, {"study": "b", "planned_s": 36000.0}, {"study": "c", "planned_s": 7200.0}]
    p = {"rows": rows, "concurrency": 2, "ensemble_on_cpu": True, "sequential_s": 46800.0, "planned_s": 23400.0}
    assert plan.over_budget(p, budget_s=9000.0) == ["b"]
    assert plan.over_budget(p, budget_s=2000.0) == ["b", "c"]  # 23400 - 18000 - 3600 = 1800 left
    assert plan.verdict_lines(p, 30000.0)[0].endswith("fits.")
    assert "without b" in plan.verdict_lines(p, 9000.0)[0]


def test_the_plan_counts_an_ensemble_and_a_lone_seed_of_one_point_as_two_jobs_not_five_lone_runs():
    # timing at 3 epochs: four seeds trained as one ensemble (2.0 s an ensemble epoch, each seed's
    # timer a little different), the fifth alone on the other worker process (0.5 s an epoch)
    lone = [0.7, 0.5, 0.5]
    timed = [([2.5, 2.0, 2.0], 0.0, 7.0, 4), ([2.4, 1.9, 2.1], 0.0, 7.0, 4), ([2.5, 2.0, 2.0], 0.0, 7.0, 4),
             ([2.5, 2.1, 1.9], 0.0, 7.0, 4), (lone, 0.0, 2.5, 1)]
    epoch, planned, stacked = plan.jobs_plan(timed, 100)
    assert stacked and epoch == 2.0
    assert planned == pytest.approx((7.0 - 6.0 + 200.0) + (2.5 - 1.5 + 50.0))


def test_the_plan_of_lone_seeds_claimed_together_takes_the_shortest_fixed_cost():
    # three seeds trained one after another from one claim: they share the start time
    h = [0.4, 0.3, 0.3]
    timed = [(h, 0.0, 1.0, 1), (h[:2] + [0.31], 0.0, 2.0, 1), (h[:1] + [0.32, 0.3], 0.0, 3.0, 1)]
    epoch, planned, stacked = plan.jobs_plan(timed, 10)
    assert not stacked
    assert planned == pytest.approx(3 * (1.0 - 0.9) + 10 * (0.3 + 0.305 + 0.31))  # medians after epoch 1


def test_the_served_concurrency_default_is_the_services_own(monkeypatch):
    """`reproduce --serve` without --concurrency starts (and plans for) what the service's `auto`
    gives a CPU worker; an explicit SKIPCORE_WORKER_CONCURRENCY is kept, a bad one is refused."""
    from persistence.settings import Settings
    from reproduce.main import default_concurrency

    monkeypatch.setenv("SKIPCORE_DEVICE", "cpu")
    monkeypatch.delenv("SKIPCORE_WORKER_CONCURRENCY", raising=False)
    assert default_concurrency("auto") == Settings().worker_concurrency
    assert default_concurrency(" 3 ") == 3
    with pytest.raises(SystemExit, match="SKIPCORE_WORKER_CONCURRENCY must be 'auto'"):
        default_concurrency("0")
