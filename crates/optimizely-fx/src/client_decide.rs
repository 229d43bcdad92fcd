//! Decide on the [`Client`]: user contexts, default decide options, the user profile service,
//! and what happens around each decision (impression events, decision notifications).

use std::fmt;
use std::sync::Arc;

use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::{self, AttributeValue, DecideOptions, Decider, UserData};
use optimizely_fx_core::event::impression_event;
use optimizely_fx_core::odp::OdpEvent;

use crate::client::{Client, ClientBuilder};
use crate::client_events::{event_timestamp, event_uuid};
use crate::decision::{DecideOption, Decision, Decisions};
use crate::log_forward::LogForward;
use crate::notification::{DecisionNotification, FlagDecisionInfo, ListenerId, NotificationType};
use crate::user_context::UserContext;
use crate::user_profile::{UserProfileService, load_profile, save_profile};

/// Identifier key of the user id in ODP events.
const FS_USER_ID: &str = "fs_user_id";

/// Decide settings of a client: default options and the user profile service.
#[derive(Clone, Default)]
pub(crate) struct DecideSettings {
    pub(crate) default_options: DecideOptions,
    pub(crate) user_profile_service: Option<Arc<dyn UserProfileService>>,
}

impl fmt::Debug for DecideSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecideSettings")
            .field("default_options", &self.default_options)
            .field(
                "user_profile_service",
                &self.user_profile_service.as_ref().map(|_| "set"),
            )
            .finish()
    }
}

impl ClientBuilder {
    /// Options added to the options of every decide call, e.g.
    /// `&[DecideOption::DisableDecisionEvent]` to send no impression events at all.
    /// Replaces earlier defaults. Default: none.
    pub fn default_decide_options(mut self, options: &[DecideOption]) -> Self {
        self.decide.default_options = DecideOption::union(options);
        self
    }

    /// Remembers per user which variation of each experiment the user got (sticky
    /// bucketing); see [`UserProfileService`]. Default: none.
    pub fn user_profile_service(mut self, service: Arc<dyn UserProfileService>) -> Self {
        self.decide.user_profile_service = Some(service);
        self
    }
}

impl Client {
    /// A context for the user `user_id` with `attributes`, to decide flags and track events
    /// for. Any string is a valid user id (the empty string too). Sends nothing.
    ///
    /// Attributes are pairs of a key and anything convertible to an [`AttributeValue`]
    /// (`&str`, `String`, `i64`, `i32`, `f64`, `bool`, `Option<_>` of those with `None` as
    /// null); a key given twice keeps the last value.
    ///
    /// ```
    /// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/rs-sandbox.json"));
    /// use optimizely_fx::{AttributeValue, Attributes, Client};
    ///
    /// let client = Client::builder().datafile(datafile).build()?;
    /// let user = client.create_user_context("user-1", [("plan", "gold"), ("country", "nl")]);
    /// let mixed = client.create_user_context(
    ///     "user-2",
    ///     [("age", AttributeValue::from(42)), ("beta", AttributeValue::from(true))],
    /// );
    /// let anonymous = client.create_user_context("user-3", Attributes::new());
    /// assert_eq!(user.get_attribute("plan"), Some(&AttributeValue::from("gold")));
    /// # let _ = (mixed, anonymous);
    /// # client.close(std::time::Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_user_context<K, V>(
        &self,
        user_id: impl Into<String>,
        attributes: impl IntoIterator<Item = (K, V)>,
    ) -> UserContext
    where
        K: Into<String>,
        V: Into<AttributeValue>,
    {
        let user = UserData::with_attributes(user_id, attributes.into_iter().collect());
        UserContext::new(self.clone(), user)
    }

    /// Like [`create_user_context`](Self::create_user_context), for a user also known by
    /// other identifiers (e.g. `("email", "u@example.com")`, `("vuid", "...")`).
    ///
    /// When the user has at least two non-empty identifiers — the user id counts as
    /// `fs_user_id` — an `identified` ODP event (type `fullstack`) carrying them is queued, so
    /// ODP links them to one customer. Nothing is sent otherwise, or when ODP is disabled or
    /// not integrated (logged at DEBUG only). Decide calls never identify.
    ///
    /// ```
    /// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/go-odp-test-datafile.json"));
    /// use optimizely_fx::{Attributes, Client};
    ///
    /// let client = Client::builder().datafile(datafile).build()?;
    /// let user = client.create_user_context_with_identifiers(
    ///     "user-1",
    ///     Attributes::new(),
    ///     [("email", "user-1@example.com")],
    /// );
    /// assert_eq!(user.user_id(), "user-1");
    /// # client.close(std::time::Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_user_context_with_identifiers<K, V, IK, IV>(
        &self,
        user_id: impl Into<String>,
        attributes: impl IntoIterator<Item = (K, V)>,
        identifiers: impl IntoIterator<Item = (IK, IV)>,
    ) -> UserContext
    where
        K: Into<String>,
        V: Into<AttributeValue>,
        IK: Into<String>,
        IV: Into<String>,
    {
        let user = self.create_user_context(user_id, attributes);
        let identifiers = identifiers
            .into_iter()
            .map(|(key, value)| (key.into(), value.into()));
        self.identify(user.user_id(), identifiers);
        user
    }

    fn identify(&self, user_id: &str, extra: impl Iterator<Item = (String, String)>) {
        let identifiers = identify_identifiers(user_id, extra);
        if identifiers.len() < 2 {
            log::debug!("ODP identify event is not dispatched (fewer than 2 valid identifiers).");
            return;
        }
        let event = OdpEvent::new("identified")
            .event_type("fullstack")
            .identifiers(identifiers);
        if let Err(error) = self.try_send_odp_event(event) {
            log::debug!("ODP identify event for user {user_id} is not dispatched ({error}).");
        }
    }

    /// Calls `listener` for each flag decided by `decide`, `decide_for_keys` or `decide_all`
    /// (not for error decisions), on the deciding thread, after the impression event (if any)
    /// was queued. Keep it short. A panicking listener is logged and does not affect the
    /// others or the decision.
    ///
    /// ```
    /// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/rs-sandbox.json"));
    /// use optimizely_fx::Client;
    ///
    /// let client = Client::builder().datafile(datafile).build()?;
    /// client.add_decision_listener(|notification| {
    ///     let info = &notification.decision_info;
    ///     println!("{} got {:?} of {}", notification.user_id, info.variation_key, info.flag_key);
    /// });
    /// # client.close(std::time::Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_decision_listener(
        &self,
        listener: impl Fn(&DecisionNotification) + Send + Sync + 'static,
    ) -> ListenerId {
        self.store().notifications().add_decision_listener(listener)
    }

    pub(crate) fn decide_one(
        &self,
        user: &UserContext,
        flag_key: &str,
        options: &[DecideOption],
    ) -> Decision {
        let config = self.store().borrow_current();
        let Some(run) = DecideRun::new(self, config.get(), user, options, "decide") else {
            return Decision::from_core(decide::Decision::sdk_not_ready(flag_key), user.clone());
        };
        let decision = run.execute(|decider| decider.decide(flag_key));
        run.finish(decision)
    }

    pub(crate) fn decide_keys<K: AsRef<str>>(
        &self,
        user: &UserContext,
        keys: &[K],
        options: &[DecideOption],
    ) -> Decisions {
        let config = self.store().borrow_current();
        match DecideRun::new(self, config.get(), user, options, "decide_for_keys") {
            Some(run) => run.finish_all(run.execute(|decider| decider.decide_for_keys(keys))),
            None => Decisions::default(),
        }
    }

    pub(crate) fn decide_every_flag(
        &self,
        user: &UserContext,
        options: &[DecideOption],
    ) -> Decisions {
        let config = self.store().borrow_current();
        match DecideRun::new(self, config.get(), user, options, "decide_all") {
            Some(run) => run.finish_all(run.execute(|decider| decider.decide_all())),
            None => Decisions::default(),
        }
    }
}

/// The identifiers of an `identified` event: `fs_user_id` (the user id) first, then the
/// others; empty values are left out, and a later value of a key replaces an earlier one.
fn identify_identifiers(
    user_id: &str,
    extra: impl Iterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut identifiers: Vec<(String, String)> = Vec::new();
    let first = std::iter::once((FS_USER_ID.to_owned(), user_id.to_owned()));
    for (key, value) in first.chain(extra) {
        if value.is_empty() {
            continue;
        }
        let key = if is_fs_user_id(&key) {
            FS_USER_ID.to_owned()
        } else {
            key
        };
        identifiers.retain(|(known, _)| *known != key);
        identifiers.push((key, value));
    }
    identifiers
}

fn is_fs_user_id(key: &str) -> bool {
    key.eq_ignore_ascii_case("fs_user_id") || key.eq_ignore_ascii_case("fs-user-id")
}

/// One decide call: the config snapshot (borrowed from the store for the call), the options,
/// the user, and what follows each decision.
struct DecideRun<'a> {
    client: &'a Client,
    user: &'a UserContext,
    config: &'a Arc<ProjectConfig>,
    options: DecideOptions,
}

impl<'a> DecideRun<'a> {
    /// `None` (logged) when the client has no config yet.
    #[inline]
    fn new(
        client: &'a Client,
        config: Option<&'a Arc<ProjectConfig>>,
        user: &'a UserContext,
        options: &[DecideOption],
        call: &str,
    ) -> Option<Self> {
        let Some(config) = config else {
            log::error!("No project config available. Failing {call}.");
            return None;
        };
        Some(DecideRun {
            client,
            user,
            config,
            options: client.decide_settings().default_options | DecideOption::union(options),
        })
    }

    /// Runs `decide` with the options, the user's profile (looked up once, saved once if it
    /// changed) and the log.
    #[inline]
    fn execute<T>(&self, decide: impl FnOnce(Decider<'_>) -> T) -> T {
        let mut log = LogForward;
        let decider = Decider::new(self.config, self.user.data())
            .options(self.options)
            .log(&mut log);
        let Some(service) = self.profile_service() else {
            return decide(decider);
        };
        let mut profile = load_profile(service, &self.user.data().user_id);
        let decisions = decide(decider.profile(Some(&mut profile)));
        save_profile(service, &mut profile);
        decisions
    }

    fn finish_all(&self, decisions: Vec<decide::Decision>) -> Decisions {
        Decisions::new(
            decisions
                .into_iter()
                .map(|decision| self.finish(decision))
                .collect(),
        )
    }

    fn profile_service(&self) -> Option<&'a Arc<dyn UserProfileService>> {
        if self
            .options
            .contains(DecideOptions::IGNORE_USER_PROFILE_SERVICE)
        {
            return None;
        }
        self.client.decide_settings().user_profile_service.as_ref()
    }

    /// Sends the impression and the notification a decision calls for, and wraps it.
    #[inline]
    fn finish(&self, decision: decide::Decision) -> Decision {
        if !decision.is_error() {
            let dispatched = decision.send_impression && self.send_impression(&decision);
            self.notify(&decision, dispatched);
        }
        // Cloned first so that the decision's fields move straight into place (measurably
        // fewer instructions than cloning in the argument list).
        let user_context = self.user.clone();
        Decision::from_core(decision, user_context)
    }

    fn send_impression(&self, decision: &decide::Decision) -> bool {
        let events = self.client.events();
        let target = events.target_for(self.config);
        let event = impression_event(
            self.config,
            &target.context,
            self.user.data(),
            decision,
            &event_uuid(),
            event_timestamp(),
            &mut LogForward,
        );
        match events.enqueue(target, event.visitor) {
            Ok(()) => true,
            Err(error) => {
                log::debug!(
                    "Impression event for flag {} not queued: {error}",
                    decision.flag_key
                );
                false
            }
        }
    }

    #[inline]
    fn notify(&self, decision: &decide::Decision, dispatched: bool) {
        let notifications = self.client.store().notifications();
        if notifications.has_listeners(NotificationType::Decision) {
            self.notify_listeners(decision, dispatched);
        }
    }

    #[cold]
    fn notify_listeners(&self, decision: &decide::Decision, dispatched: bool) {
        let notifications = self.client.store().notifications();
        let user = self.user.data();
        let config = self.config;
        notifications.notify_decision(&DecisionNotification {
            decision_type: "flag",
            user_id: user.user_id.clone(),
            attributes: user.attributes.clone(),
            decision_info: FlagDecisionInfo {
                flag_key: decision.flag_key.clone(),
                enabled: decision.enabled,
                variation_key: decision.variation_key.clone(),
                rule_key: decision.rule_key.clone(),
                variables: decision.variables.clone(),
                reasons: decision.reasons.clone(),
                decision_event_dispatched: dispatched,
                experiment_id: decision.experiment_id(config).map(str::to_owned),
                variation_id: decision.variation_id(config).map(str::to_owned),
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn identify_puts_the_user_id_first_and_drops_empty_values() {
        let extra = pairs(&[("email", "a@b.c"), ("vuid", ""), ("phone", "1")]);
        assert_eq!(
            identify_identifiers("u1", extra.into_iter()),
            pairs(&[("fs_user_id", "u1"), ("email", "a@b.c"), ("phone", "1")])
        );
    }

    #[test]
    fn identify_counts_an_explicit_fs_user_id_once() {
        let extra = pairs(&[("FS-USER-ID", "other"), ("fs_user_id", "")]);
        assert_eq!(
            identify_identifiers("u1", extra.into_iter()),
            pairs(&[("fs_user_id", "other")])
        );
        assert_eq!(
            identify_identifiers("", pairs(&[("email", "e")]).into_iter()),
            pairs(&[("email", "e")])
        );
    }
}
