"""Checkpoint bytes: the optimizer packed on disk, the model a plain state_dict, old blobs still read."""

import io
import zipfile

import torch

from skipcore.data.synthetic import sine
from skipcore.models.telescope import TelescopeMLP
from skipcore.spec.data import Sine
from skipcore.spec.train import TrainParams
from skipcore.train import ListReporter, fit, seed_everything
from skipcore.train import checkpoint as ckpt

torch.set_num_threads(1)
DATA = sine(Sine(name="sine", n_train=64, n_val=16), seed=0)


def _model(depth=12, seed=0):
    seed_everything(seed)
    return TelescopeMLP(in_features=1, out_features=1, depth=depth, width=8)


def _tensors(node):
    if isinstance(node, torch.Tensor):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _tensors(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _tensors(v)


def _state(optimizer="adam"):
    rep = ListReporter()
    fit(_model(), DATA, TrainParams(epochs=2, batch_size=16, checkpoint_every=2, optimizer=optimizer),
        reporter=rep, seed=1)
    return ckpt.load(rep.checkpoints[2])


def _records(blob: bytes) -> int:
    return sum(1 for n in zipfile.ZipFile(io.BytesIO(blob)).namelist() if "/data/" in n)


def test_the_optimizer_is_written_as_one_buffer_per_dtype_and_read_back_as_it_was():
    state = _state()
    n_opt = sum(1 for _ in _tensors(state["optimizer"]))
    n_rest = sum(1 for k, v in state.items() if k != "optimizer" for _ in _tensors(v))
    assert n_opt == 3 * len(state["model"]) - 3  # Adam: step, exp_avg, exp_avg_sq per parameter (not the mask)
    blob = ckpt.save(state)
    assert _records(blob) <= n_rest + 2  # every optimizer tensor would be a record of its own unpacked
    back = ckpt.load(blob)
    assert back["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    assert back["optimizer"]["state"].keys() == state["optimizer"]["state"].keys()
    for k, per in state["optimizer"]["state"].items():
        for name, t in per.items():
            got = back["optimizer"]["state"][k][name]
            assert got.dtype == t.dtype and got.shape == t.shape and torch.equal(got, t), (k, name)


def test_the_model_is_a_plain_state_dict_that_torch_alone_loads():
    blob = ckpt.save(_state())
    plain = torch.load(io.BytesIO(blob), weights_only=True)
    fresh = _model(seed=9)
    fresh.load_state_dict(plain["model"])
    for (name, a), b in zip(fresh.state_dict().items(), ckpt.load(blob)["model"].values()):
        assert torch.equal(a, b), name


def test_a_format_1_blob_still_resumes_bit_identically():
    """A checkpoint written before the optimizer was packed (torch.save of the state as captured)."""
    straight = ListReporter()
    m1 = _model()
    train = TrainParams(epochs=4, batch_size=16, checkpoint_every=2, optimizer="sgd", lr=1e-4)
    fit(m1, DATA, train, reporter=straight, seed=1)
    state = ckpt.load(straight.checkpoints[2])
    buf = io.BytesIO()
    torch.save(dict(state, format=1), buf)  # every tensor its own record, as format 1 wrote it
    old = ckpt.load(buf.getvalue())
    assert old["format"] == 1
    again = ListReporter()
    m2 = _model(seed=99)
    fit(m2, DATA, train, reporter=again, seed=1, resume=old)
    assert again.history("train_loss") == straight.history("train_loss")[2:]
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
