//! Schedule-free AdamW and SGD (`AdamWScheduleFree`, `SgdScheduleFree`) against a reference
//! written here in f64 from the reference code (Defazio et al. 2024, "The Road Less
//! Scheduled", arXiv:2405.15682; `schedulefree/adamw_schedulefree.py` and
//! `sgd_schedulefree.py` of facebookresearch/schedule_free), per group with `k` from 0:
//!
//! ```text
//! sched = (k+1)/warmup_steps if k < warmup_steps else 1;  lr = group_lr·sched
//! lr_max = max(lr, lr_max);  weight = (k+1)^r · lr_max^weight_lr_power
//! weight_sum += weight;  ckp1 = weight/weight_sum (0 if the sum is 0)
//! z = clone(y) at the first step
//! AdamW: v = β2·v + (1−β2)·g²;  u = g / (sqrt(v/(1−β2^(k+1))) + eps)
//!        (inner momentum μ: m = μ·m + (1−μ)·g;  u = m/(1−μ^(k+1)) / (…))
//! SGD:   u = g
//! u += wd·y;  y = lerp(y, z, ckp1);  y += lr·(β·(1−ckp1) − 1)·u;  z −= lr·u
//! eval: y → lerp(y, z, 1 − 1/β);  train: x → lerp(x, z, 1 − β)
//! ```
//!
//! (β = β1 for AdamW, momentum for SGD). Then the swap's values bit for bit, CPU-vs-GPU
//! parity (finite and non-finite gradients), typed errors, checkpoints (mode and carried
//! `lr_max`/`weight_sum` included) and `fit` (validation at `x`, exact continuation).
//!
//! Reference set-up (as `tests/lion.rs`): three parameters of sizes 1, 7 and 3x5,
//! `loss = Σ sum(c ⊙ p²)/2 + sum(d ⊙ p)`, so `∇ = c ⊙ p + d`, `c ∈ [0.5, 1.5)`,
//! `|d| ∈ [0.5, 1)`; the reference recomputes the gradient from its own `y`.
//!
//! Tolerance (reference): `|lib − ref| ≤ 2e-6 + 2e-5·|ref|` for `y`, `z`, `exp_avg_sq`,
//! `exp_avg` and the swapped `x`. Each step rounds every value a handful of times in f32
//! (the gradient: 3; AdamW's `v`: 3; `u`: a sqrt, two divisions, an add; `y`: the lerp's 3
//! and the step's 2; `z`: 2): at most 10 roundings of magnitudes ≤ 2, 1.2e-6 per step,
//! 1.4e-5 over 12 steps as long as the errors do not grow (the gradient feeds them back
//! by `1 + lr·c·|∂u/∂g| ≤ 1.15` per step at the rates used, which the margin absorbs over
//! the few steps where it acts); components are O(1), hence rtol 2e-5, and atol 2e-6 for
//! components near 0. Runs show at most 4% of the allowance (printed per case); every
//! option is asserted to move the end state by > 1e-3, far outside it.

mod common;

#[path = "schedule_free/fit.rs"]
mod fit;
#[path = "schedule_free/parity.rs"]
mod parity;
#[path = "schedule_free/reference.rs"]
mod reference;
#[path = "schedule_free/state.rs"]
mod state;
