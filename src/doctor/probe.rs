//! [`Probe`]: a [`Backend`] that forwards every call to another one, counting the calls per
//! method (and the optimizer kernels run), so the doctor can show that its checks reached
//! every method of the trait; and, for testing the doctor itself, one that returns a wrong
//! result from one chosen method.
//!
//! The list of methods ([`Probe::methods`]) is generated from the same macro invocations
//! as the forwarding impls, so the compiler keeps it complete: a required method added to
//! the trait does not compile here until it is forwarded, and then it is listed.

use crate::backend::conv::{Conv2dDims, ConvOps, Pool2dDims};
use crate::backend::index::{ArgReduceOp, IndexOps};
use crate::backend::norm::{Affine, AffineAxis, NormBackward, NormDims, NormForward, NormOps};
use crate::backend::optim_ops::OptimOps;
use crate::backend::telemetry_ops::{TelemetryOps, UnitProbe};
use crate::optim::tensorwise::{SegmentTable, TensorwiseRule};
use crate::{
    AccuracyKind, Backend, BackendKind, BinaryOp, DeviceStats, GradClip, LossKind, MatmulDims,
    MetricStats, ReduceDims, ReduceOp, Result, Shape, Storage, UnaryOp, UpdateRule,
};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Forwards every call to `inner`, counting calls per method name; with a target, makes
/// that method's result wrong (one element of its output moved by about a quarter of its
/// magnitude), as a broken kernel would.
pub struct Probe {
    inner: Arc<dyn Backend>,
    perturb: Option<String>,
    calls: Mutex<BTreeMap<&'static str, u64>>,
    kernels: Mutex<BTreeMap<String, u64>>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Probe({:?})", self.inner)
    }
}

/// A result the probe can make wrong.
trait Outcome: Sized {
    fn perturbed(self, probe: &Probe) -> Result<Self>;
}

impl Outcome for Storage {
    fn perturbed(self, probe: &Probe) -> Result<Self> {
        probe.bump(&self)?;
        Ok(self)
    }
}

impl Outcome for (Storage, Storage) {
    fn perturbed(self, probe: &Probe) -> Result<Self> {
        probe.bump(&self.0)?;
        Ok(self)
    }
}

impl Outcome for (Storage, Option<Storage>) {
    fn perturbed(self, probe: &Probe) -> Result<Self> {
        probe.bump(&self.0)?;
        Ok(self)
    }
}

impl Outcome for NormForward {
    fn perturbed(self, probe: &Probe) -> Result<Self> {
        probe.bump(&self.y)?;
        Ok(self)
    }
}

impl Outcome for NormBackward {
    fn perturbed(self, probe: &Probe) -> Result<Self> {
        probe.bump(&self.dx)?;
        Ok(self)
    }
}

impl Outcome for Vec<f32> {
    fn perturbed(mut self, _: &Probe) -> Result<Self> {
        bump_values(&mut self);
        Ok(self)
    }
}

impl Outcome for () {
    // Methods returning nothing name the buffer they write (`=> target` below).
    fn perturbed(self, _: &Probe) -> Result<Self> {
        Ok(self)
    }
}

/// Moves the middle element (or the first finite one after it; a NaN becomes 0.5).
fn bump_values(v: &mut [f32]) {
    if v.is_empty() {
        return;
    }
    let start = v.len() / 2;
    let i = (start..v.len())
        .chain(0..start)
        .find(|&i| v[i].is_finite())
        .unwrap_or(start);
    v[i] = if v[i].is_finite() {
        v[i] + 0.25 * v[i].abs().max(1.0)
    } else {
        0.5
    };
}

impl Probe {
    /// Forwards to `inner`, counting.
    pub fn new(inner: Arc<dyn Backend>) -> Probe {
        Probe {
            inner,
            perturb: None,
            calls: Mutex::new(BTreeMap::new()),
            kernels: Mutex::new(BTreeMap::new()),
        }
    }

    /// Forwards to `inner`, counting, but every call of `method` (a name of
    /// [`Probe::methods`]) gives a wrong result: a self-test of a parity check. (`flush`
    /// has no result to make wrong: perturbing it changes nothing.)
    pub fn perturbing(inner: Arc<dyn Backend>, method: &str) -> Probe {
        Probe {
            perturb: Some(method.to_string()),
            ..Probe::new(inner)
        }
    }

    /// Every method of [`Backend`] and its supertraits that returns a result (not the
    /// descriptive ones: `name`, `kind`, `describe`, `max_tensor_bytes`,
    /// `uses_host_memory`, `stats`).
    pub fn methods() -> Vec<&'static str> {
        [
            BACKEND_METHODS,
            INDEX_METHODS,
            CONV_METHODS,
            NORM_METHODS,
            OPTIM_METHODS,
            TELEMETRY_METHODS,
            // Written out by hand below (they also count kernels).
            &["gather_rows_pair", "optimizer_step", "tensorwise_step"],
        ]
        .concat()
    }

    /// Calls so far, per method name.
    pub fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Optimizer kernels run so far (the [`crate::RuleLayout::kernel`] of each
    /// `optimizer_step` and `tensorwise_step`), with their counts.
    pub fn kernels(&self) -> BTreeMap<String, u64> {
        self.kernels.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn count(&self, name: &'static str) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(name).or_default() += 1;
        }
    }

    fn count_kernel(&self, kernel: &str) {
        if let Ok(mut k) = self.kernels.lock() {
            *k.entry(kernel.to_string()).or_default() += 1;
        }
    }

    /// Moves one element of `s` in place (through the inner backend, uncounted).
    fn bump(&self, s: &Storage) -> Result<()> {
        let mut v = self.inner.download(s)?;
        if v.is_empty() {
            return Ok(());
        }
        bump_values(&mut v);
        let tmp = self.inner.upload(&v)?;
        self.inner.copy(&tmp, s)
    }

    fn after<T: Outcome>(
        &self,
        name: &'static str,
        r: Result<T>,
        target: Option<&Storage>,
    ) -> Result<T> {
        self.count(name);
        if self.perturb.as_deref() != Some(name) {
            return r;
        }
        let v = r?;
        match target {
            Some(t) => {
                self.bump(t)?;
                Ok(v)
            }
            None => v.perturbed(self),
        }
    }
}

/// `impl $trait for Probe` forwarding each listed method through [`Probe::after`], and the
/// const `$list` of their names. `=> arg` names the buffer an in-place method writes.
macro_rules! forward {
    ($trait:ident, $list:ident, {
        $( fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty $(=> $target:ident)? ; )*
    } $($extra:item)*) => {
        const $list: &[&str] = &[$(stringify!($name)),*];
        impl $trait for Probe {
            $(
                fn $name(&self $(, $arg: $ty)*) -> $ret {
                    let r = self.inner.$name($($arg),*);
                    let target: Option<&Storage> = None $(.or(Some($target)))?;
                    self.after(stringify!($name), r, target)
                }
            )*
            $($extra)*
        }
    };
}

forward!(Backend, BACKEND_METHODS, {
    fn upload(&self, data: &[f32]) -> Result<Storage>;
    fn upload_indices(&self, data: &[u32]) -> Result<Storage>;
    fn download(&self, x: &Storage) -> Result<Vec<f32>>;
    fn full(&self, len: usize, value: f32) -> Result<Storage>;
    fn fill(&self, dst: &Storage, value: f32) -> Result<()> => dst;
    fn copy(&self, src: &Storage, dst: &Storage) -> Result<()> => dst;
    fn accumulate(&self, acc: &Storage, x: &Storage, scale: f32) -> Result<()> => acc;
    fn linear(&self, a: &Storage, b: &Storage, bias: Option<&Storage>, dims: MatmulDims,
        activation: Option<UnaryOp>) -> Result<Storage>;
    fn linear_epilogue_backward(&self, activation: Option<UnaryOp>, y: &Storage, dy: &Storage,
        rows: usize, cols: usize) -> Result<(Storage, Storage)>;
    fn matmul(&self, a: &Storage, b: &Storage, dims: MatmulDims) -> Result<Storage>;
    fn unary(&self, op: UnaryOp, x: &Storage) -> Result<Storage>;
    fn unary_backward(&self, op: UnaryOp, x: &Storage, y: &Storage, dy: &Storage)
        -> Result<Storage>;
    fn binary(&self, op: BinaryOp, a: &Storage, a_shape: &Shape, b: &Storage, b_shape: &Shape,
        out: &Shape) -> Result<Storage>;
    fn sum_to(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage>;
    fn expand(&self, x: &Storage, from: &Shape, to: &Shape) -> Result<Storage>;
    fn reduce(&self, op: ReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage>;
    fn max_backward(&self, x: &Storage, y: &Storage, dy: &Storage, dims: ReduceDims)
        -> Result<Storage>;
    fn permute(&self, x: &Storage, shape: &Shape, perm: &[usize]) -> Result<Storage>;
    fn softmax(&self, x: &Storage, rows: usize, cols: usize, log: bool) -> Result<Storage>;
    fn softmax_backward(&self, y: &Storage, dy: &Storage, rows: usize, cols: usize, log: bool)
        -> Result<Storage>;
    fn loss(&self, kind: LossKind, pred: &Storage, target: &Storage, rows: usize, cols: usize)
        -> Result<Storage>;
    fn loss_backward(&self, kind: LossKind, pred: &Storage, target: &Storage, dloss: &Storage,
        rows: usize, cols: usize) -> Result<Storage>;
    fn loss_with_gradient(&self, kind: LossKind, pred: &Storage, target: &Storage, rows: usize,
        cols: usize) -> Result<(Storage, Storage)>;
    fn accumulate_correct(&self, kind: AccuracyKind, pred: &Storage, target: &Storage,
        rows: usize, cols: usize, acc: &Storage) -> Result<()> => acc;
    fn accumulate_stats(&self, stats: MetricStats, pred: &Storage, target: &Storage,
        rows: usize, cols: usize, acc: &Storage) -> Result<()> => acc;
    fn track_step(&self, sums: &Storage, loss: &Storage, scale: f32, grads: &Storage, step: u32)
        -> Result<()> => sums;
    fn gather_rows(&self, src: &Storage, cols: usize, indices: &Storage, start: usize,
        count: usize) -> Result<Storage>;
    fn clip_gradients(&self, grads: &Storage, clip: GradClip) -> Result<()> => grads;
    fn flush(&self) -> Result<()>;
}

    fn name(&self) -> String {
        self.inner.name()
    }
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn max_tensor_bytes(&self) -> u64 {
        self.inner.max_tensor_bytes()
    }
    fn uses_host_memory(&self) -> bool {
        self.inner.uses_host_memory()
    }
    fn stats(&self) -> DeviceStats {
        self.inner.stats()
    }
    fn gather_rows_pair(
        &self,
        a: (&Storage, usize),
        b: (&Storage, usize),
        indices: &Storage,
        start: usize,
        count: usize,
    ) -> Result<(Storage, Storage)> {
        let r = self.inner.gather_rows_pair(a, b, indices, start, count);
        self.after("gather_rows_pair", r, None)
    }
    fn optimizer_step(
        &self,
        rule: &dyn UpdateRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
    ) -> Result<()> {
        self.count_kernel(rule.layout().kernel);
        let r = self.inner.optimizer_step(rule, params, grads, state);
        self.after("optimizer_step", r, Some(params))
    }
);

forward!(IndexOps, INDEX_METHODS, {
    fn pad(
        &self,
        x: &Storage,
        shape: &Shape,
        padding: &[(i64, i64)],
        value: f32,
    ) -> Result<Storage>;
    fn concat(
        &self,
        parts: &[&Storage],
        outer: usize,
        lens: &[usize],
        inner: usize,
    ) -> Result<Storage>;
    fn index_select(&self, x: &Storage, dims: ReduceDims, indices: &Storage) -> Result<Storage>;
    fn index_select_backward(
        &self,
        dy: &Storage,
        dims: ReduceDims,
        indices: &Storage,
        skip: Option<usize>,
    ) -> Result<Storage>;
    fn gather(&self, x: &Storage, dims: ReduceDims, index: &Storage, k: usize) -> Result<Storage>;
    fn gather_backward(
        &self,
        dy: &Storage,
        dims: ReduceDims,
        index: &Storage,
        k: usize,
    ) -> Result<Storage>;
    fn arg_reduce(&self, op: ArgReduceOp, x: &Storage, dims: ReduceDims) -> Result<Storage>;
    fn where_cond(
        &self,
        cond: &Storage,
        cond_shape: &Shape,
        a: &Storage,
        a_shape: &Shape,
        b: &Storage,
        b_shape: &Shape,
        out: &Shape,
    ) -> Result<Storage>;
});

forward!(ConvOps, CONV_METHODS, {
    fn conv2d(
        &self,
        x: &Storage,
        w: &Storage,
        bias: Option<&Storage>,
        dims: &Conv2dDims,
    ) -> Result<Storage>;
    fn conv2d_backward_input(
        &self,
        dy: &Storage,
        w: &Storage,
        dims: &Conv2dDims,
    ) -> Result<Storage>;
    fn conv2d_backward_weight(
        &self,
        x: &Storage,
        dy: &Storage,
        dims: &Conv2dDims,
        bias: bool,
    ) -> Result<(Storage, Option<Storage>)>;
    fn max_pool2d(&self, x: &Storage, dims: &Pool2dDims) -> Result<Storage>;
    fn max_pool2d_backward(&self, x: &Storage, dy: &Storage, dims: &Pool2dDims) -> Result<Storage>;
    fn avg_pool2d(&self, x: &Storage, dims: &Pool2dDims) -> Result<Storage>;
    fn avg_pool2d_backward(&self, dy: &Storage, dims: &Pool2dDims) -> Result<Storage>;
});

forward!(NormOps, NORM_METHODS, {
    fn norm_forward(&self, x: &Storage, dims: NormDims, affine: Option<Affine<'_>>, eps: f32)
        -> Result<NormForward>;
    fn norm_backward(&self, x: &Storage, mean: &Storage, rstd: &Storage, dy: &Storage,
        dims: NormDims, affine: Option<(&Storage, AffineAxis)>) -> Result<NormBackward>;
    fn norm_update_running(&self, running_mean: &Storage, running_var: &Storage,
        num_batches_tracked: &Storage, mean: &Storage, rstd: &Storage, count: usize,
        momentum: Option<f32>, eps: f32) -> Result<()> => running_mean;
    fn dropout(&self, x: &Storage, p: f32, seed: u64, offset: u64) -> Result<Storage>;
});

forward!(OptimOps, OPTIM_METHODS, {}
    fn tensorwise_step(
        &self,
        rule: &dyn TensorwiseRule,
        params: &Storage,
        grads: &Storage,
        state: &[Storage],
        segments: &SegmentTable,
    ) -> Result<()> {
        self.count_kernel(rule.layout().kernel);
        let r = self.inner.tensorwise_step(rule, params, grads, state, segments);
        self.after("tensorwise_step", r, Some(params))
    }
);

forward!(TelemetryOps, TELEMETRY_METHODS, {
    fn accumulate_segment_squares(&self, x: &Storage, minus: Option<&Storage>,
        segments: &SegmentTable, acc: &Storage, scale: f32) -> Result<()> => acc;
    fn accumulate_column_counts(&self, probe: UnitProbe, x: &Storage, shape: (usize, usize),
        acc: &Storage, scale: f32) -> Result<()> => acc;
});
