//! The three sides compared, each loaded from a datafile string and deciding one flag.

use std::collections::BTreeMap;
use std::fmt;
use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use optimizely_fx::{Attributes, DecideOption};
use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::decide::{DecideOptions, UserData, decide};

/// Histogram label of a decision without a variation.
pub const NO_VARIATION: &str = "(no variation)";

/// Which implementation decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The unofficial `optimizely` 0.5 crate.
    Optimizely05,
    /// The optimizely-fx SDK: a user context per user, then `decide`.
    FxSdk,
    /// The optimizely-fx core engine: `decide` on a parsed `ProjectConfig`.
    FxCore,
}

impl Side {
    /// Every side, in report order.
    pub const ALL: [Side; 3] = [Side::Optimizely05, Side::FxSdk, Side::FxCore];

    /// The command-line name.
    pub fn arg(self) -> &'static str {
        match self {
            Side::Optimizely05 => "optimizely05",
            Side::FxSdk => "fx-sdk",
            Side::FxCore => "fx-core",
        }
    }

    /// The name in reports.
    pub fn label(self) -> &'static str {
        match self {
            Side::Optimizely05 => "`optimizely` 0.5",
            Side::FxSdk => "optimizely-fx SDK",
            Side::FxCore => "optimizely-fx-core",
        }
    }
}

impl FromStr for Side {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Side::ALL
            .into_iter()
            .find(|side| side.arg() == text)
            .ok_or_else(|| format!("unknown side {text:?}"))
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How many decisions gave each variation key.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Histogram(pub BTreeMap<String, u64>);

impl Histogram {
    /// Counts one decision (`None`: no variation). Allocates only for a key seen first.
    pub fn count(&mut self, variation_key: Option<&str>) {
        let key = variation_key.unwrap_or(NO_VARIATION);
        match self.0.get_mut(key) {
            Some(count) => *count += 1,
            None => {
                self.0.insert(key.to_owned(), 1);
            }
        }
    }
}

/// The user id of user number `i`.
pub fn user_id(i: u64) -> String {
    format!("user{i}")
}

/// A side loaded with a datafile, ready to decide.
pub enum Loaded {
    /// `optimizely` 0.5 with decision events off by default (built without its `online`
    /// feature, so it has no event dispatcher at all).
    Optimizely05(optimizely::Client),
    /// The optimizely-fx SDK client (no SDK key: no polling).
    FxSdk(optimizely_fx::Client),
    /// The parsed and indexed config (boxed like the SDK's behind its `Arc`).
    FxCore(Box<ProjectConfig>),
}

impl Loaded {
    /// Parses `datafile` the way each side's users would: `Client::from_string(..).initialize()`,
    /// `Client::builder().datafile(..).build()`, `ProjectConfig::parse_owned(..)` (the text is
    /// moved into the config, as the SDK does).
    pub fn load(side: Side, datafile: String) -> Result<Self, String> {
        match side {
            Side::Optimizely05 => load_optimizely05(datafile).map(Loaded::Optimizely05),
            Side::FxSdk => load_fx_sdk(datafile).map(Loaded::FxSdk),
            Side::FxCore => load_fx_core(datafile).map(Loaded::FxCore),
        }
    }

    /// Decides `flag` for users `user<first>` .. `user<end - 1>`, counting variations. Each user
    /// id is formatted, its context created (SDK, `optimizely` 0.5) and the decision dropped
    /// inside the loop on every side.
    pub fn decide_users(&self, flag: &str, first: u64, end: u64, histogram: &mut Histogram) {
        match self {
            Loaded::Optimizely05(client) => {
                decide_users_optimizely05(client, flag, first, end, histogram)
            }
            Loaded::FxSdk(client) => decide_users_fx_sdk(client, flag, first, end, histogram),
            Loaded::FxCore(config) => decide_users_fx_core(config, flag, first, end, histogram),
        }
    }

    /// The variation key `user_id` gets for `flag` (`None`: no variation).
    pub fn variation(&self, flag: &str, user_id: &str) -> Option<String> {
        match self {
            Loaded::Optimizely05(client) => {
                let decision = client.create_user_context(user_id).decide(flag);
                theirs_variation(&decision).map(str::to_owned)
            }
            Loaded::FxSdk(client) => {
                let user = client.create_user_context(user_id, Attributes::new());
                user.decide(flag, &[DecideOption::DisableDecisionEvent])
                    .variation_key
            }
            Loaded::FxCore(config) => {
                let user = UserData::new(user_id);
                let options = DecideOptions::DISABLE_DECISION_EVENT;
                decide(config, &user, flag, options, None).variation_key
            }
        }
    }

    /// Releases the side (closes the SDK client, which has nothing queued with events off).
    pub fn close(self) {
        if let Loaded::FxSdk(client) = &self {
            close_fx_sdk(client);
        }
    }
}

/// What the 1,000,000-user child needs of a side: [`Loaded`] holds any of the three (one
/// binary for all sides), [`Optimizely05Only`], [`FxSdkOnly`] and [`FxCoreOnly`] one each, so
/// that a binary built around one of them links that side's code alone
/// (`src/bin/decide-child-*.rs`).
pub trait Decides: Sized {
    /// See [`Loaded::load`]; a one-side type refuses other sides.
    fn load(side: Side, datafile: String) -> Result<Self, String>;
    /// See [`Loaded::decide_users`].
    fn decide_users(&self, flag: &str, first: u64, end: u64, histogram: &mut Histogram);
    /// See [`Loaded::close`].
    fn close(self);
}

impl Decides for Loaded {
    fn load(side: Side, datafile: String) -> Result<Self, String> {
        Loaded::load(side, datafile)
    }

    fn decide_users(&self, flag: &str, first: u64, end: u64, histogram: &mut Histogram) {
        Loaded::decide_users(self, flag, first, end, histogram)
    }

    fn close(self) {
        Loaded::close(self)
    }
}

/// `optimizely` 0.5 alone.
pub struct Optimizely05Only(optimizely::Client);

/// The optimizely-fx SDK alone.
pub struct FxSdkOnly(optimizely_fx::Client);

/// The optimizely-fx core engine alone.
pub struct FxCoreOnly(Box<ProjectConfig>);

fn only(side: Side, expected: Side) -> Result<(), String> {
    match side == expected {
        true => Ok(()),
        false => Err(format!(
            "this binary decides with {expected} only, not {side}"
        )),
    }
}

impl Decides for Optimizely05Only {
    fn load(side: Side, datafile: String) -> Result<Self, String> {
        only(side, Side::Optimizely05)?;
        load_optimizely05(datafile).map(Self)
    }

    fn decide_users(&self, flag: &str, first: u64, end: u64, histogram: &mut Histogram) {
        decide_users_optimizely05(&self.0, flag, first, end, histogram)
    }

    fn close(self) {}
}

impl Decides for FxSdkOnly {
    fn load(side: Side, datafile: String) -> Result<Self, String> {
        only(side, Side::FxSdk)?;
        load_fx_sdk(datafile).map(Self)
    }

    fn decide_users(&self, flag: &str, first: u64, end: u64, histogram: &mut Histogram) {
        decide_users_fx_sdk(&self.0, flag, first, end, histogram)
    }

    fn close(self) {
        close_fx_sdk(&self.0)
    }
}

impl Decides for FxCoreOnly {
    fn load(side: Side, datafile: String) -> Result<Self, String> {
        only(side, Side::FxCore)?;
        load_fx_core(datafile).map(Self)
    }

    fn decide_users(&self, flag: &str, first: u64, end: u64, histogram: &mut Histogram) {
        decide_users_fx_core(&self.0, flag, first, end, histogram)
    }

    fn close(self) {}
}

/// `optimizely` 0.5 with decision events off by default (built without its `online` feature,
/// so it has no event dispatcher at all).
fn load_optimizely05(datafile: String) -> Result<optimizely::Client, String> {
    let options = optimizely::DecideOptions {
        disable_decision_event: true,
        ..optimizely::DecideOptions::default()
    };
    optimizely::Client::from_string(&datafile)
        .map(|client| client.with_default_decide_options(options).initialize())
        .map_err(|report| {
            // The innermost cause (serde's message) without the backtrace.
            let cause = report
                .frames()
                .find_map(|frame| frame.downcast_ref::<serde_json::Error>());
            match cause {
                Some(error) => format!("{}: {error}", report.current_context()),
                None => report.current_context().to_string(),
            }
        })
}

/// The SDK client without an SDK key (no polling).
fn load_fx_sdk(datafile: String) -> Result<optimizely_fx::Client, String> {
    optimizely_fx::Client::builder()
        .datafile(datafile)
        .build()
        .map_err(|error| error.to_string())
}

/// The parsed and indexed config, boxed like the SDK's behind its `Arc`.
fn load_fx_core(datafile: String) -> Result<Box<ProjectConfig>, String> {
    ProjectConfig::parse_owned(datafile)
        .map(Box::new)
        .map_err(|error| error.to_string())
}

fn decide_users_optimizely05(
    client: &optimizely::Client,
    flag: &str,
    first: u64,
    end: u64,
    histogram: &mut Histogram,
) {
    for i in first..end {
        let id = user_id(i);
        let decision = client.create_user_context(&id).decide(flag);
        histogram.count(theirs_variation(&decision));
    }
}

fn decide_users_fx_sdk(
    client: &optimizely_fx::Client,
    flag: &str,
    first: u64,
    end: u64,
    histogram: &mut Histogram,
) {
    for i in first..end {
        let user = client.create_user_context(user_id(i), Attributes::new());
        let decision = user.decide(flag, &[DecideOption::DisableDecisionEvent]);
        histogram.count(decision.variation_key.as_deref());
    }
}

fn decide_users_fx_core(
    config: &ProjectConfig,
    flag: &str,
    first: u64,
    end: u64,
    histogram: &mut Histogram,
) {
    for i in first..end {
        let user = UserData::new(user_id(i));
        let options = DecideOptions::DISABLE_DECISION_EVENT;
        let decision = decide(config, &user, flag, options, None);
        histogram.count(decision.variation_key.as_deref());
    }
}

fn close_fx_sdk(client: &optimizely_fx::Client) {
    black_box(client.close(Duration::from_millis(100)));
}

/// `optimizely` 0.5 answers "off" with an empty variation id when nothing decided.
fn theirs_variation(decision: &optimizely::Decision) -> Option<&str> {
    (!decision.variation_id().is_empty()).then(|| decision.variation_key())
}
