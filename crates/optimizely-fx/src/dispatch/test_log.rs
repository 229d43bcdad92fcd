//! A `log` backend for tests of this crate's library code: records every line so tests can
//! check what was logged (and that secrets were not). One per test binary.

use std::sync::{Mutex, OnceLock};

struct CapturingLogger;

static LINES: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = record.args().to_string();
        LINES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((record.level(), line));
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per test binary) at every level.
pub(crate) fn capture_logs() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        log::set_logger(&CapturingLogger).expect("no other logger in the library test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Captured lines at `level` that contain `marker`.
pub(crate) fn logged(level: log::Level, marker: &str) -> Vec<String> {
    all_lines()
        .into_iter()
        .filter(|(at, line)| *at == level && line.contains(marker))
        .map(|(_, line)| line)
        .collect()
}

/// Every captured line, any level.
pub(crate) fn all_lines() -> Vec<(log::Level, String)> {
    LINES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}
