//! `ParamSet`: every trainable parameter of a model in ONE flat device buffer.
//!
//! Each parameter tensor becomes a view into the buffer; gradients and optimizer state use
//! the same layout, so an optimizer step is a single pass over flat memory (one kernel on
//! the GPU). Backward writes each parameter's gradient into its place in the set's flat
//! gradient buffer (see `autodiff::slots`), so the step reads gradients where they lie. Segments start on 64-element (256-byte) boundaries, the storage-buffer offset
//! alignment GPUs require, so each parameter can be bound on its own.

use crate::backend::Storage;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::shape::Shape;
use crate::tensor::Tensor;
use std::sync::atomic::{AtomicU64, Ordering};

/// Elements between segment starts are rounded up to this (256 bytes of f32).
pub const SEGMENT_ALIGN: usize = 64;

/// Where one parameter lives in the flat buffer.
#[derive(Clone, Debug)]
pub struct Segment {
    /// Index of the parameter's first element in the flat buffer; a multiple of
    /// [`SEGMENT_ALIGN`].
    pub offset: usize,
    /// The parameter's number of elements (padding excluded).
    pub len: usize,
}

/// A group of parameters sharing one flat buffer.
pub struct ParamSet {
    id: u64,
    device: Device,
    flat: Storage,
    /// The gradients, in the same layout: the only strong holder of this buffer but for
    /// the gradients backward hands out in it.
    grads: Storage,
    params: Vec<Tensor>,
    /// `segments[i]` is where `params[i]` lives.
    segments: Vec<Segment>,
    /// The parameters' indices in the order of their segments in the buffer.
    layout: Vec<usize>,
}

impl ParamSet {
    /// Moves `params` into one new flat buffer (their values are copied; the tensors keep
    /// their identity and now read from the buffer). The same tensor may not appear twice.
    /// Aliases made earlier with `.detach()` or `.reshape()` keep the old storage and do not
    /// see later updates: make them after building the optimizer.
    pub fn new(params: &[&Tensor]) -> Result<ParamSet> {
        let order: Vec<usize> = (0..params.len()).collect();
        ParamSet::with_layout(params, &order)
    }

    /// [`ParamSet::new`] with the segments placed in the buffer in the order `layout` (a
    /// permutation of the parameters' indices) instead of the given one: an optimizer with
    /// parameter groups places each group's segments together, so a step is one pass per
    /// group, while [`ParamSet::params`] keeps the order given.
    pub fn with_layout(params: &[&Tensor], layout: &[usize]) -> Result<ParamSet> {
        let first = params
            .first()
            .ok_or_else(|| Error::EmptyData("an optimizer needs at least one parameter".into()))?;
        let mut seen = vec![false; params.len()];
        let is_order = layout.len() == params.len()
            && layout
                .iter()
                .all(|&i| i < params.len() && !std::mem::replace(&mut seen[i], true));
        if !is_order {
            return Err(Error::Config(format!(
                "the layout {layout:?} is not an order of {} parameters",
                params.len()
            )));
        }
        let device = first.device().clone();
        for (i, p) in params.iter().enumerate() {
            first.check_device("optimizer parameters", p)?;
            if !p.requires_grad() || p.node().is_some() {
                return Err(Error::Config(format!(
                    "parameter {i} ({:?}) is not a trainable leaf: create it with .param()",
                    p
                )));
            }
            if params[..i].iter().any(|q| q.id() == p.id()) {
                return Err(Error::Config(format!("parameter {i} is listed twice")));
            }
        }
        let mut segments = vec![Segment { offset: 0, len: 0 }; params.len()];
        let mut total: usize = 0;
        for &i in layout {
            let len = params[i].numel();
            segments[i] = Segment { offset: total, len };
            total = len
                .checked_next_multiple_of(SEGMENT_ALIGN)
                .and_then(|padded| total.checked_add(padded))
                .unwrap_or(usize::MAX);
        }
        let total = device.check_new("optimizer parameters", &Shape::new([total.max(1)]))?;
        let backend = device.backend();
        let flat = backend.full(total, 0.0)?;
        let grads = backend.full(total, 0.0)?;
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        // Copy everything first, rebind after: a failed copy leaves every tensor where it was.
        let views = segments
            .iter()
            .map(|seg| {
                Ok((
                    flat.slice(seg.offset, seg.len)?,
                    grads.slice(seg.offset, seg.len)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        for (p, (view, _)) in params.iter().zip(&views) {
            backend.copy(&p.storage(), view)?;
        }
        for (p, (view, grad_slot)) in params.iter().zip(views) {
            p.rebind(view, id, &grad_slot);
        }
        Ok(ParamSet {
            id,
            device,
            flat,
            grads,
            params: params.iter().map(|p| (*p).clone()).collect(),
            segments,
            layout: layout.to_vec(),
        })
    }

    /// The device the flat buffer (and every parameter) is on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The whole flat buffer (padding between segments included).
    pub fn flat(&self) -> &Storage {
        &self.flat
    }

    /// The flat gradient buffer, in the parameters' layout: where backward writes their
    /// gradients and the optimizer step reads them.
    pub fn flat_grads(&self) -> &Storage {
        &self.grads
    }

    /// Length of the flat buffer in elements.
    pub fn flat_len(&self) -> usize {
        self.flat.len()
    }

    /// Number of trainable scalars (padding excluded).
    pub fn num_scalars(&self) -> usize {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// The parameters in the order given (not [`ParamSet::layout`]'s), each now a view into
    /// the flat buffer.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Where each parameter lives, in [`ParamSet::params`]' order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The parameters' indices in the order their segments lie in the buffer (ascending
    /// offsets); `0, 1, 2, ...` unless built [`ParamSet::with_layout`].
    pub fn layout(&self) -> &[usize] {
        &self.layout
    }

    /// Fails if a parameter was since moved into another set (this set would update a
    /// buffer nobody reads).
    pub fn check_owned(&self) -> Result<()> {
        match self.params.iter().position(|p| p.owner() != self.id) {
            None => Ok(()),
            Some(i) => Err(Error::StaleParameters(format!(
                "parameter {i} now belongs to another optimizer; build a new optimizer \
                 for these parameters or keep using the newer one"
            ))),
        }
    }

    /// Whether this set holds exactly `params`, in order (so it can be reused).
    pub fn holds_exactly(&self, params: &[&Tensor]) -> bool {
        self.params.len() == params.len()
            && self
                .params
                .iter()
                .zip(params)
                .all(|(a, b)| a.id() == b.id() && a.owner() == self.id)
    }
}
