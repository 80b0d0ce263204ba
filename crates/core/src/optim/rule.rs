//! `UpdateRule`: one optimizer step's math with every per-step scalar already computed on
//! the host (bias corrections, decayed learning rates), so the device loop or kernel is a
//! bounds check and a few lines per element. The CPU reference loops are in `flat.rs`.

/// One step of an optimizer family, ready to apply to flat buffers.
///
/// `maximize` negates the gradient first, as PyTorch's `maximize=True` does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpdateRule {
    /// State: `[momentum_buffer]` when `momentum > 0`.
    Sgd {
        /// The learning rate of this step (the group's, after any schedule).
        lr: f32,
        /// Factor of the velocity `b ← momentum · b + (1 - dampening) · g`; 0: no buffer.
        momentum: f32,
        /// The gradient enters the velocity scaled by `1 - dampening` (after step 1).
        dampening: f32,
        /// Step along `g + momentum · b` instead of `b`.
        nesterov: bool,
        /// L2 penalty: `weight_decay · p` is added to the gradient.
        weight_decay: f32,
        /// Negate the gradient first (ascend).
        maximize: bool,
        /// On the first step the momentum buffer is set to the gradient (PyTorch).
        first_step: bool,
    },
    /// State: `[sum]`.
    Adagrad {
        /// `lr / (1 + (t - 1) · lr_decay)`: the decayed learning rate of step `t`.
        clr: f32,
        /// L2 penalty: `weight_decay · p` is added to the gradient.
        weight_decay: f32,
        /// Added to `sqrt(sum)` in the denominator.
        eps: f32,
        /// Negate the gradient first (ascend).
        maximize: bool,
    },
    /// State: `[square_avg]`, then `grad_avg` if centered, then `momentum_buffer` if
    /// momentum > 0.
    RmsProp {
        /// The learning rate of this step (the group's, after any schedule).
        lr: f32,
        /// Smoothing constant: `square_avg ← alpha · square_avg + (1 - alpha) · g²`.
        alpha: f32,
        /// Added to the RMS (after the square root) in the denominator.
        eps: f32,
        /// L2 penalty: `weight_decay · p` is added to the gradient.
        weight_decay: f32,
        /// Factor of the buffer `b ← momentum · b + g / rms`, stepped as `lr · b`; 0: no buffer.
        momentum: f32,
        /// Divide by `sqrt(square_avg - grad_avg²)` (`grad_avg`: running mean of `g`).
        centered: bool,
        /// Negate the gradient first (ascend).
        maximize: bool,
    },
    /// Adam and AdamW. State: `[exp_avg, exp_avg_sq]`, then `max_exp_avg_sq` if amsgrad.
    Adam {
        /// β1: decay of the gradient average `exp_avg`.
        beta1: f32,
        /// β2: decay of the squared-gradient average `exp_avg_sq`.
        beta2: f32,
        /// Added to `sqrt(exp_avg_sq) / sqrt(1 - β2^t)` in the denominator.
        eps: f32,
        /// L2 penalty added to the gradient (Adam); 0 for AdamW.
        weight_decay: f32,
        /// Decoupled decay factor `1 - lr · wd` applied to the parameter first (AdamW); 1 for
        /// Adam.
        decay_factor: f32,
        /// `lr / (1 - β1^t)`, PyTorch's `step_size`: the rate with the first-moment bias
        /// correction.
        step_size: f32,
        /// `sqrt(1 - β2^t)`: the second-moment bias correction of the denominator.
        bias_correction2_sqrt: f32,
        /// Use the running maximum `max_exp_avg_sq` of `exp_avg_sq` in the denominator.
        amsgrad: bool,
        /// Negate the gradient first (ascend).
        maximize: bool,
    },
    /// State: `[exp_avg, exp_inf]`.
    Adamax {
        /// `lr / (1 - β1^t)`: the rate with the first-moment bias correction.
        clr: f32,
        /// β1: decay of the gradient average `exp_avg`.
        beta1: f32,
        /// β2: decay of the infinity norm `exp_inf ← max(β2 · exp_inf, |g| + eps)`.
        beta2: f32,
        /// Added to `|g|` before the maximum, so `exp_inf > 0`.
        eps: f32,
        /// L2 penalty: `weight_decay · p` is added to the gradient.
        weight_decay: f32,
        /// Negate the gradient first (ascend).
        maximize: bool,
    },
    /// State: `[exp_avg, exp_avg_sq]`.
    NAdam {
        /// β1: decay of the gradient average `exp_avg` (the μ_t below derive from it).
        beta1: f32,
        /// β2: decay of the squared-gradient average `exp_avg_sq`.
        beta2: f32,
        /// Added to `sqrt(exp_avg_sq / (1 - β2^t))` in the denominator.
        eps: f32,
        /// L2 penalty added to the gradient; 0 with decoupled weight decay.
        weight_decay: f32,
        /// `1 - lr · wd` applied to the parameter first with decoupled weight decay; else 1.
        decay_factor: f32,
        /// `1 - β2^t`
        bias_correction2: f32,
        /// `lr · (1 - μ_t) / (1 - Πμ_t)`: the coefficient of `g / denom` (Π over steps 1..=t).
        grad_coef: f32,
        /// `lr · μ_{t+1} / (1 - Πμ_t · μ_{t+1})`: the coefficient of `exp_avg / denom`.
        avg_coef: f32,
        /// Negate the gradient first (ascend).
        maximize: bool,
    },
    /// State: `[square_avg, acc_delta]`.
    Adadelta {
        /// Scales the update `delta` (the group's rate, after any schedule).
        lr: f32,
        /// Decay of both running averages, of `g²` (`square_avg`) and `delta²` (`acc_delta`).
        rho: f32,
        /// Added inside both square roots:
        /// `delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) · g`.
        eps: f32,
        /// L2 penalty: `weight_decay · p` is added to the gradient.
        weight_decay: f32,
        /// Negate the gradient first (ascend).
        maximize: bool,
    },
}

impl UpdateRule {
    /// How many flat state buffers (each as long as the parameter buffer) the rule uses.
    pub fn state_buffers(&self) -> usize {
        match *self {
            UpdateRule::Sgd { momentum, .. } => usize::from(momentum != 0.0),
            UpdateRule::Adagrad { .. } => 1,
            UpdateRule::RmsProp {
                momentum, centered, ..
            } => 1 + usize::from(centered) + usize::from(momentum > 0.0),
            UpdateRule::Adam { amsgrad, .. } => 2 + usize::from(amsgrad),
            UpdateRule::Adamax { .. } | UpdateRule::NAdam { .. } | UpdateRule::Adadelta { .. } => 2,
        }
    }

    /// The name of each of the [`UpdateRule::state_buffers`], in order: PyTorch's key in
    /// `optimizer.state[p]` (`exp_avg`, `momentum_buffer`, ...), as checkpoints name them.
    pub fn state_names(&self) -> Vec<&'static str> {
        match *self {
            UpdateRule::Sgd { momentum, .. } if momentum != 0.0 => vec!["momentum_buffer"],
            UpdateRule::Sgd { .. } => vec![],
            UpdateRule::Adagrad { .. } => vec!["sum"],
            UpdateRule::RmsProp {
                momentum, centered, ..
            } => std::iter::once("square_avg")
                .chain(centered.then_some("grad_avg"))
                .chain((momentum > 0.0).then_some("momentum_buffer"))
                .collect(),
            UpdateRule::Adam { amsgrad, .. } => std::iter::once("exp_avg")
                .chain(std::iter::once("exp_avg_sq"))
                .chain(amsgrad.then_some("max_exp_avg_sq"))
                .collect(),
            UpdateRule::Adamax { .. } => vec!["exp_avg", "exp_inf"],
            UpdateRule::NAdam { .. } => vec!["exp_avg", "exp_avg_sq"],
            UpdateRule::Adadelta { .. } => vec!["square_avg", "acc_delta"],
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::optim::{
        Adadelta, Adagrad, Adam, AdamW, Adamax, NAdam, OptimizerConfig, RmsProp, Sgd, StepContext,
    };

    #[test]
    fn every_state_buffer_has_one_name() {
        let configs: Vec<Box<dyn OptimizerConfig>> = vec![
            Box::new(Sgd::new(0.1)),
            Box::new(Sgd::new(0.1).momentum(0.9)),
            Box::new(Adagrad::new(0.1)),
            Box::new(RmsProp::new(0.1)),
            Box::new(RmsProp::new(0.1).centered(true).momentum(0.5)),
            Box::new(RmsProp::new(0.1).momentum(0.5)),
            Box::new(Adam::new(0.1)),
            Box::new(Adam::new(0.1).amsgrad(true)),
            Box::new(AdamW::new(0.1)),
            Box::new(Adamax::new(0.1)),
            Box::new(NAdam::new(0.1)),
            Box::new(Adadelta::new(0.1)),
        ];
        for config in configs {
            let rule = config.rule(&mut StepContext {
                step: 1,
                mu_product: 1.0,
            });
            let names = rule.state_names();
            assert_eq!(names.len(), rule.state_buffers(), "{config:?}");
            let mut unique = names.clone();
            unique.dedup();
            assert_eq!(unique, names, "{config:?}");
        }
    }
}
