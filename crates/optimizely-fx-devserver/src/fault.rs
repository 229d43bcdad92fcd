use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::ParseEndpointError;

/// One of the service endpoints the dev server plays. Requests are recorded and faults are
/// injected per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /datafiles/{sdk_key}.json` and `GET /datafiles/auth/{sdk_key}.json`.
    Datafile,
    /// `POST /v1/events` (impression and conversion batches).
    Events,
    /// `POST /v3/events` (ODP Events API).
    OdpEvents,
    /// `POST /v3/graphql` (ODP segments).
    OdpGraphql,
}

impl Endpoint {
    /// All endpoints.
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Datafile,
        Endpoint::Events,
        Endpoint::OdpEvents,
        Endpoint::OdpGraphql,
    ];

    /// The name used by the HTTP control routes: `datafile`, `events`, `odp_events`,
    /// `odp_graphql`.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Datafile => "datafile",
            Endpoint::Events => "events",
            Endpoint::OdpEvents => "odp_events",
            Endpoint::OdpGraphql => "odp_graphql",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Endpoint::Datafile => 0,
            Endpoint::Events => 1,
            Endpoint::OdpEvents => 2,
            Endpoint::OdpGraphql => 3,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Endpoint {
    type Err = ParseEndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::ALL
            .into_iter()
            .find(|endpoint| endpoint.as_str() == s)
            .ok_or_else(|| ParseEndpointError(s.to_owned()))
    }
}

/// A misbehaviour to apply to the next requests of an [`Endpoint`].
///
/// Faults queued for one endpoint are used in order: the first one applies to its next `times`
/// requests, then the next one, and so on. `times: u32::MAX` means "until cleared". Each request
/// claims its fault on arrival, so concurrent requests each get their own (a latency fault
/// delays each request independently, not one after the other).
///
/// Every faulted request is still recorded (see
/// [`DevServerHandle::requests`](crate::DevServerHandle::requests)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with `status` instead of handling the request (nothing is stored). `body`
    /// defaults to a small JSON error; `retry_after` adds a `Retry-After: <seconds>` header.
    /// Only statuses 200-599 are accepted.
    Status {
        /// HTTP status to answer.
        status: u16,
        /// How many requests to answer this way.
        times: u32,
        /// Value of a `Retry-After` header, in seconds.
        retry_after: Option<u32>,
        /// Response body instead of the default.
        body: Option<String>,
    },
    /// Wait `delay` before handling the request normally.
    Latency {
        /// How long to wait.
        delay: Duration,
        /// How many requests to delay.
        times: u32,
    },
    /// Close the connection without any response (nothing is stored).
    DropConnection {
        /// How many requests to drop.
        times: u32,
    },
    /// Answer `200` with a body that is not valid JSON (nothing is stored).
    MalformedBody {
        /// How many requests to answer this way.
        times: u32,
    },
    /// Never answer; the connection stays open until the server shuts down.
    Hang {
        /// How many requests to leave hanging.
        times: u32,
    },
}

impl Fault {
    fn times(&self) -> u32 {
        match self {
            Fault::Status { times, .. }
            | Fault::Latency { times, .. }
            | Fault::DropConnection { times }
            | Fault::MalformedBody { times }
            | Fault::Hang { times } => *times,
        }
    }

    /// Why this fault cannot be applied, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        match self {
            Fault::Status { status, .. } if !(200..=599).contains(status) => {
                Some(format!("fault status {status} is not in 200..=599"))
            }
            _ => None,
        }
    }
}

const UNLIMITED: u32 = u32::MAX;

struct QueuedFault {
    fault: Fault,
    remaining: u32,
}

/// Per-endpoint queues of pending faults.
#[derive(Default)]
pub(crate) struct FaultBook {
    queues: [VecDeque<QueuedFault>; 4],
}

impl FaultBook {
    pub(crate) fn push(&mut self, endpoint: Endpoint, fault: Fault) {
        let remaining = fault.times();
        if remaining > 0 {
            self.queues[endpoint.index()].push_back(QueuedFault { fault, remaining });
        }
    }

    /// Claims the fault for one request on `endpoint`, if any is pending.
    pub(crate) fn take(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let queue = &mut self.queues[endpoint.index()];
        let front = queue.front_mut()?;
        let fault = front.fault.clone();
        if front.remaining != UNLIMITED {
            front.remaining -= 1;
            if front.remaining == 0 {
                queue.pop_front();
            }
        }
        Some(fault)
    }

    pub(crate) fn clear(&mut self) {
        self.queues.iter_mut().for_each(VecDeque::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_in_order_and_expire() {
        let mut book = FaultBook::default();
        book.push(Endpoint::Events, Fault::DropConnection { times: 2 });
        book.push(Endpoint::Events, Fault::Hang { times: 1 });
        book.push(Endpoint::Events, Fault::MalformedBody { times: 0 });
        assert_eq!(book.take(Endpoint::OdpEvents), None);
        assert_eq!(
            book.take(Endpoint::Events),
            Some(Fault::DropConnection { times: 2 })
        );
        assert_eq!(
            book.take(Endpoint::Events),
            Some(Fault::DropConnection { times: 2 })
        );
        assert_eq!(book.take(Endpoint::Events), Some(Fault::Hang { times: 1 }));
        assert_eq!(book.take(Endpoint::Events), None);
    }

    #[test]
    fn unlimited_fault_stays_until_cleared() {
        let mut book = FaultBook::default();
        book.push(Endpoint::Datafile, Fault::MalformedBody { times: u32::MAX });
        for _ in 0..5 {
            assert!(book.take(Endpoint::Datafile).is_some());
        }
        book.clear();
        assert_eq!(book.take(Endpoint::Datafile), None);
    }

    #[test]
    fn endpoint_names_round_trip() {
        for endpoint in Endpoint::ALL {
            assert_eq!(endpoint.as_str().parse::<Endpoint>(), Ok(endpoint));
        }
        assert!("nope".parse::<Endpoint>().is_err());
    }
}
