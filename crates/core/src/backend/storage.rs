//! `Storage`: a view of a backend's buffer, what every backend op takes and returns.

use crate::error::Result;
use std::any::Any;
use std::fmt;
use std::sync::{Arc, Weak};

/// A view of `len` elements starting at `offset` into a backend's buffer.
///
/// Parameters of a model are views into one flat buffer; every other tensor owns a
/// whole buffer (`offset == 0`).
#[derive(Clone)]
pub struct Storage {
    buffer: Arc<dyn Any + Send + Sync>,
    offset: usize,
    len: usize,
}

impl Storage {
    /// Wraps a whole backend buffer of `len` elements.
    pub fn new(buffer: Arc<dyn Any + Send + Sync>, len: usize) -> Self {
        Storage {
            buffer,
            offset: 0,
            len,
        }
    }

    /// A sub-view `[offset, offset + len)` of this view (offsets relative to it); a range
    /// past the end of this view is an error, so no view ever reaches outside its buffer.
    pub fn slice(&self, offset: usize, len: usize) -> Result<Storage> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(Storage {
                buffer: self.buffer.clone(),
                offset: self.offset + offset,
                len,
            }),
            _ => Err(crate::error::Error::shape(
                "slice",
                format!(
                    "elements {offset}..{} lie outside a view of {} elements",
                    offset as u128 + len as u128,
                    self.len
                ),
            )),
        }
    }

    /// Where the view starts in its buffer, in elements.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The number of elements in the view.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the view holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The backend's buffer object, for the backend to downcast.
    pub fn buffer(&self) -> &Arc<dyn Any + Send + Sync> {
        &self.buffer
    }

    /// Fails unless the view holds `len` elements (backends check the sizes they are told).
    pub fn expect_len(&self, op: &'static str, len: usize) -> crate::error::Result<()> {
        if self.len == len {
            Ok(())
        } else {
            Err(crate::error::Error::shape(
                op,
                format!("expected {len} elements, the storage holds {}", self.len),
            ))
        }
    }

    /// Whether two views share a buffer (so an in-place op must not alias them).
    pub fn same_buffer(&self, other: &Storage) -> bool {
        Arc::ptr_eq(&self.buffer, &other.buffer)
    }

    /// Whether two views are the same elements of the same buffer.
    pub fn same_view(&self, other: &Storage) -> bool {
        self.same_buffer(other) && self.offset == other.offset && self.len == other.len
    }

    /// How many views of this buffer exist (this one included).
    pub(crate) fn views_of_buffer(&self) -> usize {
        Arc::strong_count(&self.buffer)
    }

    /// A handle on this view that does not keep the buffer alive nor count as a view.
    pub(crate) fn downgrade(&self) -> WeakStorage {
        WeakStorage {
            buffer: Arc::downgrade(&self.buffer),
            offset: self.offset,
            len: self.len,
        }
    }
}

/// A [`Storage`] that does not keep its buffer alive (see [`Storage::downgrade`]).
#[derive(Clone)]
pub(crate) struct WeakStorage {
    buffer: Weak<dyn Any + Send + Sync>,
    offset: usize,
    len: usize,
}

impl WeakStorage {
    /// The view again, while its buffer lives.
    pub(crate) fn upgrade(&self) -> Option<Storage> {
        Some(Storage {
            buffer: self.buffer.upgrade()?,
            offset: self.offset,
            len: self.len,
        })
    }
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Storage[{}..{}]", self.offset, self.offset + self.len)
    }
}
