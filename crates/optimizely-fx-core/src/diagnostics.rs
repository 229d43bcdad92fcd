//! Log lines as data. The core never logs; it hands lines to a [`LogSink`] chosen by the
//! caller, and formats a line only when the sink wants its level.

use std::fmt;

/// Severity of a log line, as the official SDKs use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Something is wrong (e.g. an unknown flag key).
    Error,
    /// Something is odd (e.g. an audience condition of an unknown type).
    Warn,
    /// A decision step (e.g. `User u is in variation v of experiment e.`).
    Info,
    /// Detail (e.g. why a condition evaluated to unknown).
    Debug,
}

/// Receives log lines from the core.
///
/// The SDK forwards them to the `log` facade; tests collect them in a `Vec<LogLine>`; `()`
/// drops everything without formatting anything.
pub trait LogSink {
    /// Whether lines of `level` are wanted. Lines of unwanted levels are never formatted.
    fn enabled(&self, level: LogLevel) -> bool;
    /// One line.
    fn log(&mut self, level: LogLevel, message: fmt::Arguments<'_>);
    /// The most detailed level wanted, `None` for none. Asked once per decision, so that
    /// unwanted lines cost no call at all; the default asks [`enabled`](Self::enabled).
    fn max_level(&self) -> Option<LogLevel> {
        [
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ]
        .into_iter()
        .find(|&level| self.enabled(level))
    }
}

impl LogSink for () {
    fn enabled(&self, _level: LogLevel) -> bool {
        false
    }

    fn max_level(&self) -> Option<LogLevel> {
        None
    }

    fn log(&mut self, _level: LogLevel, _message: fmt::Arguments<'_>) {}
}

/// A formatted log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its severity.
    pub level: LogLevel,
    /// Its text.
    pub message: String,
}

impl LogSink for Vec<LogLine> {
    fn enabled(&self, _level: LogLevel) -> bool {
        true
    }

    fn log(&mut self, level: LogLevel, message: fmt::Arguments<'_>) {
        self.push(LogLine {
            level,
            message: message.to_string(),
        });
    }
}

/// `trace.reason(level, format_args!(...))`, with the arguments built only when something
/// is recorded (on hot paths, building them unconditionally costs more than the check).
macro_rules! trace_reason {
    ($trace:expr, $level:expr, $($format:tt)+) => {
        if !$trace.is_silent() {
            $trace.reason($level, format_args!($($format)+));
        }
    };
}
pub(crate) use trace_reason;

/// `trace.log(level, format_args!(...))`, with the arguments built only when a log sink
/// wants lines.
macro_rules! trace_log {
    ($trace:expr, $level:expr, $($format:tt)+) => {
        if $trace.logs() {
            $trace.log($level, format_args!($($format)+));
        }
    };
}
pub(crate) use trace_log;

/// Where decide writes: the decision's reasons (only when requested) and the log sink.
pub(crate) struct Trace<'a> {
    reasons: Option<&'a mut Vec<String>>,
    sink: &'a mut dyn LogSink,
    sink_level: Option<LogLevel>,
}

impl<'a> Trace<'a> {
    pub(crate) fn new(reasons: Option<&'a mut Vec<String>>, sink: &'a mut dyn LogSink) -> Self {
        let sink_level = sink.max_level();
        Self {
            reasons,
            sink,
            sink_level,
        }
    }

    /// A trace that writes no log line (`nowhere` receives nothing).
    pub(crate) fn unlogged(reasons: Option<&'a mut Vec<String>>, nowhere: &'a mut ()) -> Self {
        Self {
            reasons,
            sink: nowhere,
            sink_level: None,
        }
    }

    /// Whether nothing is recorded at all (no reasons wanted, no log level wanted), so that
    /// callers can skip work done only for the record.
    #[inline]
    pub(crate) fn is_silent(&self) -> bool {
        self.reasons.is_none() && self.sink_level.is_none()
    }

    /// Whether a log sink wants any line.
    #[inline]
    pub(crate) fn logs(&self) -> bool {
        self.sink_level.is_some()
    }

    fn sink_wants(&self, level: LogLevel) -> bool {
        self.sink_level.is_some_and(|max| level <= max) && self.sink.enabled(level)
    }

    /// A line that is also a decide reason.
    #[inline]
    pub(crate) fn reason(&mut self, level: LogLevel, message: fmt::Arguments<'_>) {
        if self.reasons.is_some() || self.sink_level.is_some() {
            self.record_reason(level, message);
        }
    }

    #[cold]
    fn record_reason(&mut self, level: LogLevel, message: fmt::Arguments<'_>) {
        let wanted_by_sink = self.sink_wants(level);
        match self.reasons.as_deref_mut() {
            Some(reasons) => {
                let text = message.to_string();
                if wanted_by_sink {
                    self.sink.log(level, format_args!("{text}"));
                }
                reasons.push(text);
            }
            None if wanted_by_sink => self.sink.log(level, message),
            None => {}
        }
    }

    /// A line for the log only.
    #[inline]
    pub(crate) fn log(&mut self, level: LogLevel, message: fmt::Arguments<'_>) {
        if self.sink_level.is_some() {
            self.record_log(level, message);
        }
    }

    #[cold]
    fn record_log(&mut self, level: LogLevel, message: fmt::Arguments<'_>) {
        if self.sink_wants(level) {
            self.sink.log(level, message);
        }
    }
}
