//! Every compute kernel: its WGSL source (embedded from `shaders/`), entry point and the
//! storage bindings it takes, plus the cache that builds each pipeline once.
//!
//! Binding convention of every kernel: `@group(0) @binding(0)` is the kernel's uniform
//! parameter struct (a slot of the per-submission uniform arena, bound with a dynamic
//! offset); bindings 1.. are storage buffers, read-only or read-write as listed here.

use downhill_core::{Error, Result};
use std::collections::HashMap;
use std::sync::Mutex;

/// How a kernel uses one storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Bound read-only (`var<storage, read>`).
    Read,
    /// Bound read-write (`var<storage, read_write>`): the kernel writes it.
    ReadWrite,
}

/// One entry point of one WGSL file.
#[derive(Debug)]
pub struct Kernel {
    /// Unique name: the pipeline cache's key and the wgpu debug label.
    pub name: &'static str,
    /// The WGSL source of the file the entry point is in (one of the `&str` constants here).
    pub source: &'static str,
    /// The `@compute` entry point's function name in `source`.
    pub entry: &'static str,
    /// How each storage binding is used, in order from `@binding(1)`.
    pub storage: &'static [Access],
}

use Access::{Read as R, ReadWrite as W};

/// A kernel file with `shaders/nonfinite.wgsl` appended (after it, so the file's own line
/// numbers stay those of error messages): the NaN-propagating helpers every kernel uses.
macro_rules! shader {
    ($file:literal) => {
        concat!(
            include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $file)),
            "\n",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/nonfinite.wgsl"
            ))
        )
    };
}

/// The shared helpers alone (validated on their own like every file).
pub const NONFINITE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/shaders/nonfinite.wgsl"
));

/// `elementwise.wgsl`: fill, accumulate, unary ops and their backward, broadcasting binary
/// ops and the strided copy.
pub const ELEMENTWISE: &str = shader!("elementwise.wgsl");
/// `matmul.wgsl`: the matrix products with a fused bias and activation epilogue.
pub const MATMUL: &str = shader!("matmul.wgsl");
/// `reduce.wgsl`: sum, mean and max reductions, max's backward and the linear layer's
/// epilogue backward.
pub const REDUCE: &str = shader!("reduce.wgsl");
/// `softmax.wgsl`: softmax and log-softmax along rows, and their backward.
pub const SOFTMAX: &str = shader!("softmax.wgsl");
/// `loss.wgsl`: the fused losses (batch mean), their gradients and accuracy counts.
pub const LOSS: &str = shader!("loss.wgsl");
/// `gather.wgsl`: gathering mini-batch rows on the device.
pub const GATHER: &str = shader!("gather.wgsl");
/// `optim/clip.wgsl`: gradient clipping by global norm and by value.
pub const CLIP: &str = shader!("optim/clip.wgsl");
/// `step_check.wgsl`: `fit`'s per-step loss sum and non-finite detection.
pub const STEP_CHECK: &str = shader!("step_check.wgsl");
/// `metrics.wgsl`: metric statistics accumulated over an epoch (confusion counts, top-k
/// hits, regression error sums).
pub const METRICS: &str = shader!("metrics.wgsl");
/// `index.wgsl`: the region copy (pad, narrow, concat), index_select / gather and their
/// scatter-add backward, argmax / argmin and where.
pub const INDEX: &str = shader!("index.wgsl");
/// `conv.wgsl`: 2-D convolution and its input and weight (and bias) gradients.
pub const CONV: &str = shader!("conv.wgsl");
/// `pool.wgsl`: max and average pooling and their backward passes.
pub const POOL: &str = shader!("pool.wgsl");
/// `norm.wgsl`: batch norm and layer norm forward and backward, and the running statistics.
pub const NORM: &str = shader!("norm.wgsl");
/// `dropout.wgsl`: inverted dropout with a Philox4x32-10 mask.
pub const DROPOUT_SOURCE: &str = shader!("dropout.wgsl");
/// `telemetry.wgsl`: `fit`'s gradient-health sums of squares per segment.
pub const TELEMETRY: &str = shader!("telemetry.wgsl");
/// `telemetry_units.wgsl`: `fit`'s gradient-health counts per activation unit.
pub const TELEMETRY_UNITS: &str = shader!("telemetry_units.wgsl");

/// Every WGSL file but the optimizers' ([`all_sources`] has all): (file name, source).
pub const ALL_SOURCES: &[(&str, &str)] = &[
    ("nonfinite.wgsl", NONFINITE),
    ("elementwise.wgsl", ELEMENTWISE),
    ("matmul.wgsl", MATMUL),
    ("reduce.wgsl", REDUCE),
    ("softmax.wgsl", SOFTMAX),
    ("loss.wgsl", LOSS),
    ("gather.wgsl", GATHER),
    ("optim/clip.wgsl", CLIP),
    ("step_check.wgsl", STEP_CHECK),
    ("metrics.wgsl", METRICS),
    ("index.wgsl", INDEX),
    ("conv.wgsl", CONV),
    ("pool.wgsl", POOL),
    ("norm.wgsl", NORM),
    ("dropout.wgsl", DROPOUT_SOURCE),
    ("telemetry.wgsl", TELEMETRY),
    ("telemetry_units.wgsl", TELEMETRY_UNITS),
];

const fn k(
    name: &'static str,
    source: &'static str,
    entry: &'static str,
    storage: &'static [Access],
) -> Kernel {
    Kernel {
        name,
        source,
        entry,
        storage,
    }
}

/// Sets every element of a buffer to one value.
pub const FILL: Kernel = k("fill", ELEMENTWISE, "fill", &[W]);
/// `dst += value · src`, elementwise (gradient accumulation).
pub const ACCUMULATE: Kernel = k("accumulate", ELEMENTWISE, "accumulate", &[W, R]);
/// `y = f(x)` for one unary op (relu, exp, tanh, …), elementwise.
pub const UNARY: Kernel = k("unary", ELEMENTWISE, "unary", &[R, W]);
/// A unary op's backward: `x, y, dy → dx`.
pub const UNARY_BACKWARD: Kernel = k(
    "unary_backward",
    ELEMENTWISE,
    "unary_backward",
    &[R, R, R, W],
);
/// A binary op (add, mul, pow, …) with broadcasting through per-axis strides.
pub const BINARY: Kernel = k("binary", ELEMENTWISE, "binary", &[R, R, W]);
/// `out[i] = in[offset(i)]`: the copy behind expand (broadcast) and permute.
pub const STRIDED_COPY: Kernel = k("strided_copy", ELEMENTWISE, "strided_copy", &[R, W]);
/// Matrix product through 64×64 workgroup-memory tiles, for real GPUs.
pub const MATMUL_TILED: Kernel = k("matmul_tiled", MATMUL, "matmul_tiled", &[R, R, R, W]);
/// Matrix product with 4×4 outputs per invocation in registers and no workgroup memory, for
/// CPU adapters such as lavapipe; any shape.
pub const MATMUL_REGISTER: Kernel = k("matmul_register", MATMUL, "matmul_register", &[R, R, R, W]);
/// Register matrix product with 4×8 outputs per invocation and vec4 loads of B (B not
/// transposed, `n` a multiple of 8).
pub const MATMUL_REGISTER_VEC4: Kernel = k(
    "matmul_register_vec4",
    MATMUL,
    "matmul_register_vec4",
    &[R, R, R, W],
);
/// Register matrix product with 4×16 outputs per invocation (vec4 loads of B, `n` a
/// multiple of 16).
pub const MATMUL_REGISTER_VEC4_4X16: Kernel = k(
    "matmul_register_vec4_4x16",
    MATMUL,
    "matmul_register_vec4_4x16",
    &[R, R, R, W],
);
/// Sum, mean or max over any set of axes, one workgroup per output element.
pub const REDUCE_STRIDED: Kernel = k("reduce", REDUCE, "reduce", &[R, W]);
/// A linear layer's epilogue backward in one pass: `dz = act'(y)·dy` and the bias gradient
/// `db[col] = Σ_rows dz`.
pub const LINEAR_EPILOGUE_BACKWARD: Kernel = k(
    "linear_epilogue_backward",
    REDUCE,
    "linear_epilogue_backward",
    &[R, R, W, W],
);
/// Max's backward along an axis: `dy` goes to the first position holding the maximum.
pub const MAX_BACKWARD: Kernel = k("max_backward", REDUCE, "max_backward", &[R, R, R, W]);
/// Softmax or log-softmax along the rows of `[rows, cols]`, one workgroup per row.
pub const SOFTMAX_FORWARD: Kernel = k("softmax", SOFTMAX, "softmax", &[R, W]);
/// The backward of softmax or log-softmax: `y, dy → dx`.
pub const SOFTMAX_BACKWARD: Kernel = k("softmax_backward", SOFTMAX, "softmax_backward", &[R, R, W]);
// The loss forward, one entry point per kind (see loss.wgsl for why not one kernel).
/// Mean squared error over the batch (one workgroup).
pub const LOSS_MSE: Kernel = k("loss_mse", LOSS, "loss_mse", &[R, R, W]);
/// Binary cross-entropy of probabilities (clamped to `[eps, 1 − eps]`), batch mean.
pub const LOSS_BCE: Kernel = k("loss_bce", LOSS, "loss_bce", &[R, R, W]);
/// Binary cross-entropy of logits (`BCEWithLogitsLoss`), batch mean.
pub const LOSS_BCE_LOGITS: Kernel = k("loss_bce_logits", LOSS, "loss_bce_logits", &[R, R, W]);
/// Softmax cross-entropy of logits against integer labels, batch mean.
pub const LOSS_CROSS_ENTROPY: Kernel =
    k("loss_cross_entropy", LOSS, "loss_cross_entropy", &[R, R, W]);
/// The gradient of the MSE and binary cross-entropy losses, one invocation per element.
pub const LOSS_BACKWARD: Kernel = k("loss_backward", LOSS, "loss_backward", &[R, R, R, W]);
/// The gradient of softmax cross-entropy, one workgroup per row.
pub const CROSS_ENTROPY_BACKWARD: Kernel = k(
    "cross_entropy_backward",
    LOSS,
    "cross_entropy_backward",
    &[R, R, R, W],
);
// The loss and its gradient in one dispatch, one entry point per kind (batch-sized inputs).
/// MSE and its gradient (one workgroup).
pub const LOSS_MSE_GRAD: Kernel = k("loss_mse_grad", LOSS, "loss_mse_grad", &[R, R, W, W]);
/// Binary cross-entropy of probabilities and its gradient (one workgroup).
pub const LOSS_BCE_GRAD: Kernel = k("loss_bce_grad", LOSS, "loss_bce_grad", &[R, R, W, W]);
/// Binary cross-entropy of logits and its gradient (one workgroup).
pub const LOSS_BCE_LOGITS_GRAD: Kernel = k(
    "loss_bce_logits_grad",
    LOSS,
    "loss_bce_logits_grad",
    &[R, R, W, W],
);
/// Softmax cross-entropy and its gradient, one invocation per row (one workgroup).
pub const LOSS_CROSS_ENTROPY_GRAD: Kernel = k(
    "loss_cross_entropy_grad",
    LOSS,
    "loss_cross_entropy_grad",
    &[R, R, W, W],
);
/// The number of correct predictions in a batch (binary or categorical accuracy).
pub const CORRECT_COUNT: Kernel = k("correct_count", LOSS, "correct_count", &[R, R, W]);
/// Mini-batch gathering: output row `r` is source row `indices[start + r]`.
pub const GATHER_ROWS: Kernel = k("gather_rows", GATHER, "gather_rows", &[R, R, W]);
/// Two matrices' rows `indices[start + r]` in one dispatch (a batch's inputs and targets).
pub const GATHER_ROWS_PAIR: Kernel = k(
    "gather_rows_pair",
    GATHER,
    "gather_rows_pair",
    &[R, R, W, R, W],
);
/// Global-norm clipping, first pass: writes `min(1, max_norm / (‖g‖ + 1e-6))` to a
/// one-element buffer (one workgroup).
pub const CLIP_NORM_COEF: Kernel = k("clip_norm_coef", CLIP, "clip_norm_coef", &[R, W]);
/// Global-norm clipping, second pass: scales every gradient by the factor `CLIP_NORM_COEF`
/// wrote.
pub const CLIP_SCALE: Kernel = k("clip_scale", CLIP, "clip_scale", &[W, R]);
/// Clipping by value: clamps every gradient component to `[-limit, limit]` (NaN stays NaN).
pub const CLIP_VALUE: Kernel = k("clip_value", CLIP, "clip_value", &[W]);
/// Confusion-matrix counts `[label][argmax]` of categorical predictions against integer
/// labels.
pub const CONFUSION_CATEGORICAL: Kernel = k(
    "confusion_categorical",
    METRICS,
    "confusion_categorical",
    &[R, R, W],
);
/// 2×2 confusion counts `[target > 0.5][prediction > threshold]` of binary predictions.
pub const CONFUSION_BINARY: Kernel = k("confusion_binary", METRICS, "confusion_binary", &[R, R, W]);
/// Top-k accuracy hits: rows whose label is among the `k` largest scores.
pub const TOP_K: Kernel = k("top_k", METRICS, "top_k", &[R, R, W]);
/// Regression error sums per output column (rows, target mean and M2, `Σ|e|`, `Σe²`), for MAE
/// and R².
pub const ERRORS: Kernel = k("errors", METRICS, "errors", &[R, R, W]);
/// `fit`'s per-step bookkeeping: adds the batch loss to the epoch sum and records the first
/// step whose loss or any gradient is NaN or ±inf.
pub const TRACK_STEP: Kernel = k("track_step", STEP_CHECK, "track_step", &[W, R, R]);
/// A strided region copy with a fill value: pad, narrow (a crop), their backward, and
/// one part of a concat written into its place in the result.
pub const REGION_COPY: Kernel = k("region_copy", INDEX, "region_copy", &[R, W]);
/// index_select and gather: `out[o, j, i] = x[o, index(o, j, i), i]`, NaN for an invalid
/// index.
pub const INDEX_GATHER: Kernel = k("index_gather", INDEX, "index_gather", &[R, R, W]);
/// The backward of index_select and gather: a scatter-add, one invocation per `(outer,
/// inner)` column adding in index order (deterministic, no atomics).
pub const INDEX_SCATTER_ADD: Kernel =
    k("index_scatter_add", INDEX, "index_scatter_add", &[R, R, W]);
/// The first maximum's position along an axis (NaN counts as the maximum).
pub const ARGMAX: Kernel = k("argmax", INDEX, "argmax", &[R, W]);
/// The first minimum's position along an axis (NaN counts as the minimum).
pub const ARGMIN: Kernel = k("argmin", INDEX, "argmin", &[R, W]);
/// `torch.where(cond, a, b)` with broadcasting.
pub const WHERE_COND: Kernel = k("where_cond", INDEX, "where_cond", &[R, R, R, W]);
/// 2-D convolution plus bias, one invocation per output element.
pub const CONV2D_FORWARD: Kernel = k("conv2d_forward", CONV, "conv2d_forward", &[R, R, R, R, W]);
/// The convolution's input gradient, one invocation per input element (a gather).
pub const CONV2D_BACKWARD_INPUT: Kernel = k(
    "conv2d_backward_input",
    CONV,
    "conv2d_backward_input",
    &[R, R, R, W],
);
/// The convolution's weight and bias gradients, one workgroup per element.
pub const CONV2D_BACKWARD_WEIGHT: Kernel = k(
    "conv2d_backward_weight",
    CONV,
    "conv2d_backward_weight",
    &[R, R, R, W, W],
);
/// Max pooling, one invocation per output element.
pub const MAX_POOL2D: Kernel = k("max_pool2d", POOL, "max_pool2d", &[R, R, W]);
/// Max pooling's backward, one invocation per input element (a gather).
pub const MAX_POOL2D_BACKWARD: Kernel = k(
    "max_pool2d_backward",
    POOL,
    "max_pool2d_backward",
    &[R, R, R, W],
);
/// Average pooling, one invocation per output element.
pub const AVG_POOL2D: Kernel = k("avg_pool2d", POOL, "avg_pool2d", &[R, R, W]);
/// Average pooling's backward, one invocation per input element (a gather).
pub const AVG_POOL2D_BACKWARD: Kernel = k(
    "avg_pool2d_backward",
    POOL,
    "avg_pool2d_backward",
    &[R, R, W],
);
/// Normalisation forward, one workgroup per channel: statistics and `x̂·γ + β`.
pub const NORM_FORWARD: Kernel = k("norm_forward", NORM, "norm_forward", &[R, R, R, W, W, W]);
/// Normalisation backward, one workgroup per channel: `dx`, and `dγ`, `dβ` per channel.
pub const NORM_BACKWARD: Kernel = k(
    "norm_backward",
    NORM,
    "norm_backward",
    &[R, R, R, R, R, W, W, W],
);
/// `dγ`, `dβ` of parameters per inner position (layer norm), one workgroup per position.
pub const NORM_AFFINE_BACKWARD: Kernel = k(
    "norm_affine_backward",
    NORM,
    "norm_affine_backward",
    &[R, R, R, R, W, W],
);
/// Batch norm's running statistics and batch count, updated in place (one workgroup).
pub const NORM_UPDATE_RUNNING: Kernel = k(
    "norm_update_running",
    NORM,
    "norm_update_running",
    &[R, R, W, W, W],
);
/// [`NORM_FORWARD`] for short channels: one invocation per channel, no barriers.
pub const NORM_FORWARD_SERIAL: Kernel = k(
    "norm_forward_serial",
    NORM,
    "norm_forward_serial",
    &[R, R, R, W, W, W],
);
/// [`NORM_BACKWARD`] for short channels: one invocation per channel.
pub const NORM_BACKWARD_SERIAL: Kernel = k(
    "norm_backward_serial",
    NORM,
    "norm_backward_serial",
    &[R, R, R, R, R, W, W, W],
);
/// [`NORM_AFFINE_BACKWARD`] over few rows: one invocation per inner position.
pub const NORM_AFFINE_BACKWARD_SERIAL: Kernel = k(
    "norm_affine_backward_serial",
    NORM,
    "norm_affine_backward_serial",
    &[R, R, R, R, W, W],
);
/// Inverted dropout with a Philox4x32-10 mask (its own backward).
pub const DROPOUT: Kernel = k("dropout", DROPOUT_SOURCE, "dropout", &[R, W]);

/// A convolution's columns `[C_in·KH·KW, N·OH·OW]` (taps first), zero padded.
pub const IM2COL_TAPS: Kernel = k("im2col_taps", CONV, "im2col_taps", &[R, R, W]);
/// A convolution's columns `[N·OH·OW, C_in·KH·KW]` (pixels first), zero padded.
pub const IM2COL_ROWS: Kernel = k("im2col_rows", CONV, "im2col_rows", &[R, R, W]);
/// The input gradient from the taps-first columns' gradient (a gather).
pub const COL2IM: Kernel = k("col2im", CONV, "col2im", &[R, R, W]);
/// `[C_out, N·OH·OW]` plus the bias into the NCHW output.
pub const CONV_OUTPUT: Kernel = k("conv_output", CONV, "conv_output", &[R, R, R, W]);
/// NCHW `dy` into `[C_out, N·OH·OW]`.
pub const CHANNEL_ROWS: Kernel = k("channel_rows", CONV, "channel_rows", &[R, R, W]);
/// `acc[s] += scale · Σ x²` over each segment (one workgroup per segment).
pub const SEGMENT_SQUARES: Kernel = k(
    "segment_squares",
    TELEMETRY,
    "segment_squares",
    &[R, R, R, W],
);
/// `acc[s] += scale · Σ (x − minus)²` over each segment.
pub const SEGMENT_DIFF_SQUARES: Kernel = k(
    "segment_diff_squares",
    TELEMETRY,
    "segment_diff_squares",
    &[R, R, R, W],
);
/// `acc[c] += scale · #{r : y[r, c] > 0}` (alive ReLU units).
pub const COLUMN_POSITIVE: Kernel = k(
    "column_positive",
    TELEMETRY_UNITS,
    "column_positive",
    &[R, W],
);
/// `acc[c] += scale · #{r : y[r, c] in a sigmoid's flat tails}`.
pub const COLUMN_SIGMOID_SATURATED: Kernel = k(
    "column_sigmoid_saturated",
    TELEMETRY_UNITS,
    "column_sigmoid_saturated",
    &[R, W],
);
/// `acc[c] += scale · #{r : y[r, c] in a tanh's flat tails}`.
pub const COLUMN_TANH_SATURATED: Kernel = k(
    "column_tanh_saturated",
    TELEMETRY_UNITS,
    "column_tanh_saturated",
    &[R, W],
);

/// An optimizer's kernel: entry point `$name` of `shaders/optim/$name.wgsl`, bound as
/// uniform (the rule struct), parameters (read-write), gradients (read), then one
/// read-write buffer per state binding (`$state` of them).
macro_rules! optimizer {
    ($name:literal, $state:literal) => {
        k(
            $name,
            concat!(
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/shaders/optim/",
                    $name,
                    ".wgsl"
                )),
                "\n",
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/shaders/nonfinite.wgsl"
                ))
            ),
            $name,
            OPTIMIZER_STORAGE.split_at(2 + $state).0,
        )
    };
}

/// Parameters, gradients, then state buffers: the first `2 + state` of these.
const OPTIMIZER_STORAGE: &[Access] = &[W, R, W, W, W, W, W, W, W, W];

/// The optimizer kernel table: one line per optimizer (its name, as its rule's
/// `RuleLayout::kernel` says, and its number of state bindings). The GPU backend looks a
/// rule's kernel up here by name ([`optimizer`]).
pub const OPTIMIZERS: &[Kernel] = &[
    optimizer!("sgd", 1),
    optimizer!("adagrad", 1),
    optimizer!("rmsprop", 3),
    optimizer!("adam", 3),
    optimizer!("adamax", 2),
    optimizer!("nadam", 2),
    optimizer!("adadelta", 2),
    optimizer!("lion", 1),
    optimizer!("adamw_schedule_free", 3),
    optimizer!("sgd_schedule_free", 1),
    optimizer!("schedule_free_swap", 1),
    optimizer!("radam", 2),
    optimizer!("rprop", 2),
    optimizer!("asgd", 1),
    optimizer!("adan", 4),
];

/// The optimizer kernel named `name` (a rule's `RuleLayout::kernel`).
pub fn optimizer(name: &str) -> Option<&'static Kernel> {
    OPTIMIZERS.iter().find(|k| k.name == name)
}

/// A tensorwise rule's two kernels (core's `optim::tensorwise`): `<name>_segments` (one
/// workgroup per segment) and `<name>` (elementwise), in one file.
#[derive(Debug)]
pub struct TensorwiseKernels {
    /// `<name>_segments`: the per-segment reductions.
    pub segments: Kernel,
    /// `<name>`: the elementwise update.
    pub elementwise: Kernel,
}

/// Both kernels of `shaders/optim/$name.wgsl`, bound as uniform, parameters
/// (read-write), gradients (read), `$state` state buffers (read-write), the segment
/// table (read) and the per-segment numbers (read-write).
macro_rules! tensorwise {
    ($name:literal, $state:literal) => {{
        const SOURCE: &str = concat!(
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/optim/",
                $name,
                ".wgsl"
            )),
            "\n",
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/shaders/nonfinite.wgsl"
            ))
        );
        TensorwiseKernels {
            segments: k(
                concat!($name, "_segments"),
                SOURCE,
                concat!($name, "_segments"),
                TENSORWISE_STORAGE[$state],
            ),
            elementwise: k($name, SOURCE, $name, TENSORWISE_STORAGE[$state]),
        }
    }};
}

/// The bindings of a tensorwise kernel pair by its number of state buffers.
const TENSORWISE_STORAGE: [&[Access]; 5] = [
    &[W, R, R, W],
    &[W, R, W, R, W],
    &[W, R, W, W, R, W],
    &[W, R, W, W, W, R, W],
    &[W, R, W, W, W, W, R, W],
];

/// The tensorwise kernel table: one line per tensorwise rule (its kernel name and number
/// of state bindings).
pub const TENSORWISE: &[TensorwiseKernels] = &[tensorwise!("lamb", 2), tensorwise!("adafactor", 3)];

/// The tensorwise kernel pair named `name` (a rule's `TensorwiseLayout::kernel`).
pub fn tensorwise(name: &str) -> Option<&'static TensorwiseKernels> {
    TENSORWISE.iter().find(|k| k.elementwise.name == name)
}

/// Every kernel, the optimizers' included.
pub fn all_kernels() -> impl Iterator<Item = &'static Kernel> {
    ALL_KERNELS.iter().copied().chain(OPTIMIZERS).chain(
        TENSORWISE
            .iter()
            .flat_map(|t| [&t.segments, &t.elementwise]),
    )
}

/// Every WGSL file, the optimizers' included: (file name, source).
pub fn all_sources() -> impl Iterator<Item = (String, &'static str)> {
    ALL_SOURCES.iter().map(|&(n, s)| (n.to_string(), s)).chain(
        OPTIMIZERS
            .iter()
            .chain(TENSORWISE.iter().map(|t| &t.elementwise))
            .map(|k| (format!("optim/{}.wgsl", k.name), k.source)),
    )
}

/// Every kernel but the optimizers' ([`all_kernels`] has all), so a device can build all
/// pipelines up front.
pub const ALL_KERNELS: &[&Kernel] = &[
    &FILL,
    &ACCUMULATE,
    &UNARY,
    &UNARY_BACKWARD,
    &BINARY,
    &STRIDED_COPY,
    &MATMUL_TILED,
    &MATMUL_REGISTER,
    &MATMUL_REGISTER_VEC4,
    &MATMUL_REGISTER_VEC4_4X16,
    &REDUCE_STRIDED,
    &LINEAR_EPILOGUE_BACKWARD,
    &MAX_BACKWARD,
    &SOFTMAX_FORWARD,
    &SOFTMAX_BACKWARD,
    &LOSS_MSE,
    &LOSS_BCE,
    &LOSS_BCE_LOGITS,
    &LOSS_CROSS_ENTROPY,
    &LOSS_BACKWARD,
    &CROSS_ENTROPY_BACKWARD,
    &LOSS_MSE_GRAD,
    &LOSS_BCE_GRAD,
    &LOSS_BCE_LOGITS_GRAD,
    &LOSS_CROSS_ENTROPY_GRAD,
    &CORRECT_COUNT,
    &GATHER_ROWS,
    &GATHER_ROWS_PAIR,
    &CLIP_NORM_COEF,
    &CLIP_SCALE,
    &CLIP_VALUE,
    &TRACK_STEP,
    &CONFUSION_CATEGORICAL,
    &CONFUSION_BINARY,
    &TOP_K,
    &ERRORS,
    &REGION_COPY,
    &INDEX_GATHER,
    &INDEX_SCATTER_ADD,
    &ARGMAX,
    &ARGMIN,
    &WHERE_COND,
    &CONV2D_FORWARD,
    &CONV2D_BACKWARD_INPUT,
    &CONV2D_BACKWARD_WEIGHT,
    &MAX_POOL2D,
    &MAX_POOL2D_BACKWARD,
    &AVG_POOL2D,
    &AVG_POOL2D_BACKWARD,
    &NORM_FORWARD,
    &NORM_BACKWARD,
    &NORM_AFFINE_BACKWARD,
    &NORM_UPDATE_RUNNING,
    &DROPOUT,
    &NORM_FORWARD_SERIAL,
    &NORM_BACKWARD_SERIAL,
    &NORM_AFFINE_BACKWARD_SERIAL,
    &IM2COL_TAPS,
    &IM2COL_ROWS,
    &COL2IM,
    &CONV_OUTPUT,
    &CHANNEL_ROWS,
    &SEGMENT_SQUARES,
    &SEGMENT_DIFF_SQUARES,
    &COLUMN_POSITIVE,
    &COLUMN_SIGMOID_SATURATED,
    &COLUMN_TANH_SATURATED,
];

/// A built pipeline and the layout its bind groups follow.
pub struct Pipeline {
    /// The compute pipeline of one kernel.
    pub pipeline: wgpu::ComputePipeline,
    /// The bind group layout its bind groups must follow (uniform slot, then the storage
    /// bindings).
    pub layout: wgpu::BindGroupLayout,
}

/// Builds each kernel's pipeline on first use; shader modules are shared per source file.
#[derive(Default)]
pub struct PipelineCache {
    modules: Mutex<HashMap<usize, wgpu::ShaderModule>>,
    pipelines: Mutex<HashMap<&'static str, std::sync::Arc<Pipeline>>>,
}

/// Every uniform slot is bound with this size (the arena's slot stride).
pub const UNIFORM_SLOT: u64 = 256;

impl PipelineCache {
    /// Builds every kernel's pipeline now, so no training step pays for shader
    /// compilation (on lavapipe each pipeline is an LLVM compile).
    pub fn warm_up(&self, device: &wgpu::Device) -> Result<()> {
        for kernel in all_kernels() {
            self.get(device, kernel)?;
        }
        Ok(())
    }

    /// The pipeline of `kernel`, built on first use and cached by its name.
    pub fn get(&self, device: &wgpu::Device, kernel: &Kernel) -> Result<std::sync::Arc<Pipeline>> {
        let poisoned = || Error::backend("gpu", "pipeline cache poisoned");
        if let Some(p) = self
            .pipelines
            .lock()
            .map_err(|_| poisoned())?
            .get(kernel.name)
        {
            return Ok(p.clone());
        }
        let module = {
            let mut modules = self.modules.lock().map_err(|_| poisoned())?;
            modules
                .entry(kernel.source.as_ptr() as usize)
                .or_insert_with(|| {
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.name),
                        source: wgpu::ShaderSource::Wgsl(kernel.source.into()),
                    })
                })
                .clone()
        };
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, access) in kernel.storage.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *access == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(kernel.name),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(kernel.name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.name),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(kernel.entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let built = std::sync::Arc::new(Pipeline { pipeline, layout });
        self.pipelines
            .lock()
            .map_err(|_| poisoned())?
            .insert(kernel.name, built.clone());
        Ok(built)
    }
}
