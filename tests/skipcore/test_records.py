"""What is recorded during training comes from the probes' own RECORDS declarations: the loop names
no probe, merges the declarations of the run's probes, and hands what it recorded to the probes
through FitResult.records (never through an attribute on the model)."""

from __future__ import annotations

from pathlib import Path

import torch

import skipcore.train
from skipcore.data.synthetic import sine
from skipcore.models.telescope import TelescopeMLP
from skipcore.spec import PROBE_NAMES as PROBES
from skipcore.spec.data import Sine
from skipcore.spec.probes import GradientFlow, SkipAblation, WeightMagnitude
from skipcore.spec.train import TrainParams
from skipcore.train import fit, seed_everything
from skipcore.train.records import RecordPlan, declaration, records_for, run_probe
from skipcore.train.reporter import ListReporter

DATA = Sine(name="sine", n_train=64, n_val=16)


def _model() -> TelescopeMLP:
    seed_everything(0)
    return TelescopeMLP(in_features=1, out_features=1, depth=3, width=8)


def test_the_training_package_names_no_probe():
    for path in Path(skipcore.train.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert not [name for name in PROBES if name in text], path.name


def test_records_for_merges_the_declarations_of_the_runs_probes():
    plan = records_for([WeightMagnitude(name="weight_magnitude", every=3), SkipAblation(name="skip_ablation"),
                        GradientFlow(name="gradient_flow", first_k=4, every=5)])
    assert plan == RecordPlan(init=True, layers_every=(3, 5), first_updates=4, grad_norm_every=(5,))
    assert records_for([SkipAblation(name="skip_ablation")]) == RecordPlan()
    assert declaration("skip_ablation") is None and declaration("gradient_flow").first_updates == "first_k"


def test_a_run_whose_probes_record_nothing_has_no_epoch_0_record_and_no_records():
    rep = ListReporter()
    res = fit(_model(), sine(DATA, seed=0), TrainParams(epochs=2, batch_size=16), probes=[SkipAblation(name="skip_ablation")],
              reporter=rep, seed=0)
    assert [e for e, _, _ in rep.records] == [1, 2]
    assert res.records == {"first_updates": [], "every": []}


def test_a_recording_probe_reads_what_fit_returned_not_the_model():
    data = sine(DATA, seed=0)
    gf = GradientFlow(name="gradient_flow", first_k=3, every=1)
    m = _model()
    res = fit(m, data, TrainParams(epochs=2, batch_size=16), probes=[gf], seed=0)
    assert not hasattr(m, "_skipcore_records")
    out = run_probe(gf, m, data, res.records, lambda: None)
    assert out["first_updates"] == res.records["first_updates"][:3] and len(out["first_updates"]) == 3
    assert [e["epoch"] for e in out["every"]] == [1, 2]
    alone = run_probe(gf, m, data, None, lambda: None)  # a model trained elsewhere: no records, final still there
    assert alone["first_updates"] == [] and len(alone["final"]) == len(out["final"])
    assert torch.allclose(torch.tensor(alone["final"]), torch.tensor(out["final"]))
