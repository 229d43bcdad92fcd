//! [`UserContext`]: one user (id, attributes, ODP segments, forced decisions) bound to a
//! client, and everything decided or tracked for that user.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use optimizely_fx_core::decide::{AttributeValue, Attributes, ForcedDecisionKey, UserData};

use crate::client::Client;
use crate::client_events::{EventTags, TrackError};
use crate::decision::{DecideOption, Decision, Decisions};
use crate::odp::segments::{FetchSegmentsError, FetchSegmentsFuture, SegmentOption};

/// Which decision a forced decision applies to: a whole flag, or one rule of a flag.
///
/// ```
/// use optimizely_fx::DecisionContext;
///
/// let whole_flag = DecisionContext::flag("checkout");
/// let one_rule = DecisionContext::rule("checkout", "spring_sale");
/// assert_eq!(one_rule.rule_key.as_deref(), Some("spring_sale"));
/// # let _ = whole_flag;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DecisionContext {
    /// The flag key.
    pub flag_key: String,
    /// The rule (experiment or delivery rule) key; `None` for the flag as a whole.
    pub rule_key: Option<String>,
}

impl DecisionContext {
    /// The whole flag.
    pub fn flag(flag_key: impl Into<String>) -> Self {
        DecisionContext {
            flag_key: flag_key.into(),
            rule_key: None,
        }
    }

    /// One rule of a flag.
    pub fn rule(flag_key: impl Into<String>, rule_key: impl Into<String>) -> Self {
        DecisionContext {
            flag_key: flag_key.into(),
            rule_key: Some(rule_key.into()),
        }
    }
}

/// The variation a forced decision imposes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ForcedDecision {
    /// The key of the variation to decide.
    pub variation_key: String,
}

impl ForcedDecision {
    /// Forces `variation_key`.
    pub fn new(variation_key: impl Into<String>) -> Self {
        ForcedDecision {
            variation_key: variation_key.into(),
        }
    }
}

/// A user of a [`Client`]: id, attributes, qualified ODP segments and forced decisions, and
/// the calls that decide flags and track events for that user.
///
/// Create one with [`Client::create_user_context`]. A context owns its data (it holds a
/// clone of the client, which keeps the client alive) and is cheap to clone: clones share
/// their data until one of them changes it, so changing a clone never changes the original.
/// Each decide call works on such a copy, which the returned [`Decision`] carries.
///
/// ```
/// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/go-decide-test-datafile.json"));
/// use optimizely_fx::{Client, DecideOption, DecisionContext, ForcedDecision};
///
/// let client = Client::builder().datafile(datafile).build()?;
/// let mut user = client.create_user_context("user-1", [("testvar", "abc")]);
/// user.set_attribute("plan", "gold");
/// user.set_forced_decision(&DecisionContext::flag("feature_1"), &ForcedDecision::new("b"));
///
/// let decision = user.decide("feature_1", &[]);
/// assert_eq!(decision.variation_key.as_deref(), Some("b"));
/// let all = user.decide_all(&[DecideOption::EnabledFlagsOnly]);
/// assert!(all.iter().all(|d| d.enabled));
/// # client.close(std::time::Duration::from_millis(10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct UserContext {
    client: Client,
    user: Arc<UserData>,
}

impl UserContext {
    pub(crate) fn new(client: Client, user: UserData) -> Self {
        UserContext {
            client,
            user: Arc::new(user),
        }
    }

    pub(crate) fn data(&self) -> &UserData {
        &self.user
    }

    fn data_mut(&mut self) -> &mut UserData {
        Arc::make_mut(&mut self.user)
    }

    /// The client this context decides with.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The user id.
    pub fn user_id(&self) -> &str {
        &self.user.user_id
    }

    /// The attributes, in the order they were first set.
    pub fn attributes(&self) -> &Attributes {
        &self.user.attributes
    }

    /// Sets an attribute (replacing its value if it exists; it keeps its position). Only this
    /// context changes.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Into<AttributeValue>) {
        self.data_mut().attributes.insert(key, value);
    }

    /// The value of an attribute, if set.
    pub fn get_attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.user.attributes.get(key)
    }

    /// Forces `decision` for `context` (a flag, or one rule of it) in this context's
    /// decisions, replacing an earlier one. Returns `true`.
    ///
    /// A forced variation key that is not a variation of the flag is ignored at decide time
    /// (with a reason).
    pub fn set_forced_decision(
        &mut self,
        context: &DecisionContext,
        decision: &ForcedDecision,
    ) -> bool {
        let key = ForcedDecisionKey {
            flag_key: context.flag_key.clone(),
            rule_key: context.rule_key.clone(),
        };
        self.data_mut()
            .forced_decisions
            .set(key, decision.variation_key.clone());
        true
    }

    /// The forced decision of `context`, if one is set.
    pub fn get_forced_decision(&self, context: &DecisionContext) -> Option<ForcedDecision> {
        self.user
            .forced_decisions
            .get(&context.flag_key, context.rule_key.as_deref())
            .map(ForcedDecision::new)
    }

    /// Removes the forced decision of `context`; `true` if there was one.
    pub fn remove_forced_decision(&mut self, context: &DecisionContext) -> bool {
        if self.get_forced_decision(context).is_none() {
            return false;
        }
        self.data_mut()
            .forced_decisions
            .remove(&context.flag_key, context.rule_key.as_deref())
    }

    /// Removes every forced decision. Returns `true`.
    pub fn remove_all_forced_decisions(&mut self) -> bool {
        if !self.user.forced_decisions.is_empty() {
            self.data_mut().forced_decisions.clear();
        }
        true
    }

    /// The ODP segments the user qualifies for: `None` when never set or fetched, or when the
    /// last fetch failed (then no `qualified` audience condition matches).
    pub fn qualified_segments(&self) -> Option<Vec<String>> {
        self.user.qualified_segments.clone()
    }

    /// Sets the qualified segments (`None`: unknown).
    pub fn set_qualified_segments(&mut self, segments: Option<Vec<String>>) {
        self.data_mut().qualified_segments = segments;
    }

    /// Whether `segment` is among the qualified segments (exact, case-sensitive match;
    /// `false` when they are unknown).
    pub fn is_qualified_for(&self, segment: &str) -> bool {
        self.user.is_qualified_for(segment)
    }

    /// Fetches the user's qualified segments from ODP (see
    /// [`Client::fetch_qualified_segments`], which this calls with the user id) and stores
    /// them in this context. Blocks until ODP answers unless the answer is cached; use
    /// [`fetch_qualified_segments_async`](Self::fetch_qualified_segments_async) in async code.
    ///
    /// # Errors
    ///
    /// Those of [`Client::fetch_qualified_segments`]; the context's segments are then `None`.
    /// A failed fetch never fails a decision.
    pub fn fetch_qualified_segments(
        &mut self,
        options: &[SegmentOption],
    ) -> Result<(), FetchSegmentsError> {
        let result = self
            .client
            .fetch_qualified_segments(&self.user.user_id, options);
        self.store_segments(result)
    }

    /// The async counterpart of [`fetch_qualified_segments`](Self::fetch_qualified_segments):
    /// works with any executor and never blocks the thread polling it.
    ///
    /// ```no_run
    /// # async fn run(mut user: optimizely_fx::UserContext) -> Result<(), optimizely_fx::FetchSegmentsError> {
    /// user.fetch_qualified_segments_async(&[]).await?;
    /// let decision = user.decide("checkout", &[]);
    /// # let _ = decision; Ok(()) }
    /// ```
    pub fn fetch_qualified_segments_async(
        &mut self,
        options: &[SegmentOption],
    ) -> UserSegmentsFuture<'_> {
        let fetch = self
            .client
            .fetch_qualified_segments_async(&self.user.user_id, options);
        UserSegmentsFuture { user: self, fetch }
    }

    fn store_segments(
        &mut self,
        result: Result<Vec<String>, FetchSegmentsError>,
    ) -> Result<(), FetchSegmentsError> {
        match result {
            Ok(segments) => {
                self.set_qualified_segments(Some(segments));
                Ok(())
            }
            Err(error) => {
                self.set_qualified_segments(None);
                Err(error)
            }
        }
    }

    /// Decides one flag for this user. The options are added to the client's default options;
    /// [`EnabledFlagsOnly`](DecideOption::EnabledFlagsOnly) is ignored here.
    ///
    /// Sends an impression event when the decision calls for one (unless
    /// [`DisableDecisionEvent`](DecideOption::DisableDecisionEvent)) and notifies decision
    /// listeners. Never fails: see [`Decision`] for error decisions.
    pub fn decide(&self, flag_key: &str, options: &[DecideOption]) -> Decision {
        self.client.decide_one(self, flag_key, options)
    }

    /// Decides several flags, in the order of `keys` (each key once). An unknown key gets an
    /// error decision. Empty before the client has a datafile.
    pub fn decide_for_keys<K: AsRef<str>>(
        &self,
        keys: &[K],
        options: &[DecideOption],
    ) -> Decisions {
        self.client.decide_keys(self, keys, options)
    }

    /// Decides every flag of the datafile, in datafile order. Empty before the client has a
    /// datafile.
    pub fn decide_all(&self, options: &[DecideOption]) -> Decisions {
        self.client.decide_every_flag(self, options)
    }

    /// Tracks a conversion event for this user with this context's attributes; the same as
    /// [`Client::track_event`].
    ///
    /// # Errors
    ///
    /// See [`TrackError`]; every refusal is also logged.
    pub fn track_event(
        &self,
        event_key: &str,
        tags: impl Into<EventTags>,
    ) -> Result<(), TrackError> {
        self.client.track_for(
            &self.user.user_id,
            &self.user.attributes,
            event_key,
            tags.into(),
        )
    }
}

impl fmt::Debug for UserContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserContext")
            .field("user_id", &self.user.user_id)
            .field("attributes", &self.user.attributes)
            .field("qualified_segments", &self.user.qualified_segments)
            .field("forced_decisions", &self.user.forced_decisions)
            .finish_non_exhaustive()
    }
}

/// The future of [`UserContext::fetch_qualified_segments_async`]: resolves once the segments
/// are fetched and stored in the context (or the fetch failed and they are `None`).
#[must_use = "futures do nothing unless awaited"]
pub struct UserSegmentsFuture<'a> {
    user: &'a mut UserContext,
    fetch: FetchSegmentsFuture,
}

impl Future for UserSegmentsFuture<'_> {
    type Output = Result<(), FetchSegmentsError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.fetch).poll(cx) {
            Poll::Ready(result) => Poll::Ready(this.user.store_segments(result)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for UserSegmentsFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSegmentsFuture")
            .field("user_id", &self.user.user_id())
            .field("fetch", &self.fetch)
            .finish()
    }
}
