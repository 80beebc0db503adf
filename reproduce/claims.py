"""Every claim the report tests, in order: 1-4 in `claims_mlp`, 5, 6 and 8-11 here, 7 in `claims_l1`,
12-13 (real data from scikit-learn) in `claims_real`."""

from __future__ import annotations

from reproduce import claims_cnn as c
from reproduce.claims_l1 import CLAIMS as L1
from reproduce.claims_mlp import CLAIMS as MLP
from reproduce.claims_real import CLAIMS as REAL
from reproduce.verdict import Claim

GENERAL = ("seeds 003/004 state this for deep residual networks in general, not for CIFAR-10; the small "
           "scale measures it on learnable generated images, and the verdict holds for that task at that scale")

RESNET = dict(family="resnet_cnn", data="cifar10", optimizer="sgd", lr=0.1, batch_size=128)  # He et al. 2016's recipe


def _residual(number: int, seed: str, title: str, statement: str, specs: list[str], rule: str, evaluate) -> Claim:
    """A claim the seeds state for deep residual networks in general, run with He et al.'s recipe."""
    return Claim(number, seed, title, f"{statement} Note: {GENERAL}.", specs, rule, evaluate, seed_setup=RESNET)


S001 = dict(family="dense_skip_mlp", widths=["128, 256", "128, 256, 256"], activation="relu", optimizer="sgd")

CNN = [
    Claim(5, "001", "Dense-skip MLP vs vanilla, and skip* two-phase training (tables 1-3)",
          "On EMNIST letters and CIFAR-10, dense skip connections do not improve 3- and 4-layer MLPs "
          "significantly, and skip* (train vanilla, then switch the skips on) is at least as good as vanilla.",
          [b for _, t, s in c.TABLES for b in (t, s)],
          "val accuracy (fraction) of the final epoch. Conditions, for each of the four networks: the paired "
          "difference skip − vanilla lies within ±0.02; skip* − vanilla > −0.02.", c.claim5, stand_in=c.IMAGES,
          seed_setup={**S001, "data": "emnist_letters; cifar10"}),
    Claim(6, "001", "Skip CNN vs vanilla vs widened vanilla (tables 4, 5)",
          "The concatenative skip CNN beats the vanilla CNN; a widened vanilla CNN slightly beats the skip CNN "
          "at about twice the training time.",
          c.CNNS,
          "Conditions: val acc skip − vanilla > 0; widened − skip > 0; training time widened / skip (paired by "
          "seed; each run's sum of its `step_time` metric: the training steps alone, no validation pass, "
          "database, checkpoint or probe time) within [1.5, 2.5]; stated beside it: the analytic multiply-add ratio of the "
          "two networks (≈ 1.51).", c.claim6, stand_in=c.IMAGES,
          seed_setup=dict(family="vanilla_cnn; skip_cnn; widened_cnn", data="cifar10")),
    _residual(8, "003/004", "Degradation: plain deep nets train worse; residual ones do not",
              "Plain (no-shortcut) deep networks reach a higher training loss than shallower plain ones; their "
              "residual versions do not degrade.",
              ["he2016_degradation_plain", "he2016_degradation_residual"],
              "Δ = (final train loss of the deepest − the shallowest depth of the sweep) / the shallowest's, paired "
              "by seed. Conditions: Δplain > 0; Δresidual no worse than the 5% margin (whole CI < 0.05; the margin "
              "style of every \"no difference\" condition); Δplain − Δresidual > 0.", c.claim8),
    _residual(9, "003/004", "Loss landscapes are smoother with skips (Li et al. 2018)",
              "The 2-D filter-normalised loss surface around the trained weights is smoother with skip connections "
              "than without.",
              ["li2018_landscape_plain", "li2018_landscape_residual"],
              "Two roughness numbers from the loss_landscape probe over its grid: the fraction of interior points "
              "whose Hessian has a negative eigenvalue (non-convex fraction) and the mean |Laplacian of log loss| "
              "divided by the log-loss range. Conditions: for each, plain − residual > 0 (paired by seed).", c.claim9),
    _residual(10, "004", "Residual blocks are near-identity; deleting one barely hurts",
              "Residual blocks with small learned branches are near-identity (identity ratio ‖F(x)‖/‖x‖ small) and "
              "deleting single blocks barely hurts (lesion).",
              ["he2016_degradation_residual", "he2016_degradation_plain"],
              "At the deepest depth of the sweep, over non-downsampling blocks: identity ratio; relative loss "
              "increase = mean Δloss of single-block deletions / base loss; both probes also on the run's model at "
              "initialisation (`at_init`). Conditions: identity ratio after training < 0.5; after − at init < 0 "
              "(training, not the init, made the blocks near-identity; paired by seed); relative increase (residual) "
              "< 0.25; plain − residual relative increase > 0.", c.claim10),
    _residual(11, "004", "Stochastic depth and residual scaling",
              "Stochastic depth improves generalisation and reduces training time; scaling the residual branch "
              "(x + aF(x), a < 1) keeps blocks closer to the identity.",
              ["huang2016_stochastic_depth", "residual_scaling"],
              "Stochastic depth drops whole blocks per mini-batch (a dropped branch is not computed); residual "
              "scaling scales each branch's last layer at initialisation. Training time = sum of `step_time` "
              "(the training steps alone: no validation pass, database writes or checkpoints). Conditions: val acc (p_L=0.5) − val acc (p_L=1) > 0; "
              "training time ratio p_L=0.5 / p_L=1 < 1 (≈ 0.75 of the block compute expected); mean identity ratio "
              "after training at the smallest scale − at scale 1 < 0 (all paired by seed); at-init ratios shown.", c.claim11),
]

CLAIMS: list[Claim] = sorted(MLP + L1 + CNN + REAL, key=lambda cl: cl.number)
BY_NUMBER = {cl.number: cl for cl in CLAIMS}
