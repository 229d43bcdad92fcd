//! Forwards the core's log lines (decide steps, event building warnings) to the `log` facade.

use std::fmt;

use optimizely_fx_core::diagnostics::{LogLevel, LogSink};

/// A [`LogSink`] writing to the `log` facade at the line's level. Lines of levels the logger
/// does not want are never formatted.
pub(crate) struct LogForward;

fn level(level: LogLevel) -> log::Level {
    match level {
        LogLevel::Error => log::Level::Error,
        LogLevel::Warn => log::Level::Warn,
        LogLevel::Info => log::Level::Info,
        LogLevel::Debug => log::Level::Debug,
    }
}

impl LogSink for LogForward {
    fn enabled(&self, wanted: LogLevel) -> bool {
        log::log_enabled!(level(wanted))
    }

    fn log(&mut self, at: LogLevel, message: fmt::Arguments<'_>) {
        log::log!(level(at), "{message}");
    }

    fn max_level(&self) -> Option<LogLevel> {
        match log::max_level() {
            log::LevelFilter::Off => None,
            log::LevelFilter::Error => Some(LogLevel::Error),
            log::LevelFilter::Warn => Some(LogLevel::Warn),
            log::LevelFilter::Info => Some(LogLevel::Info),
            log::LevelFilter::Debug | log::LevelFilter::Trace => Some(LogLevel::Debug),
        }
    }
}
