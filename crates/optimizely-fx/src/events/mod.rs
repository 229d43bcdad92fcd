//! Impression and conversion event delivery: the second user of the generic batching worker
//! (see [`crate::dispatch`]), posting event batches to logx (or the configured endpoint).

mod manager;
mod sink;

pub(crate) use manager::{EventManager, EventSettings, EventTarget};
