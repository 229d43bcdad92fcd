//! ODP event delivery and segment fetching.

mod event_manager;
mod event_sink;
pub(crate) mod segments;

pub(crate) use event_manager::{OdpEventManager, OdpEventSettings};
