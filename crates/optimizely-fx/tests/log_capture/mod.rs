//! Log capture shared by the integration tests: one capturing logger per test binary. Test
//! threads are named after their test, so a test can read only the lines logged on its own
//! thread; lines from background threads are read with the `*_anywhere` helpers.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::{Mutex, Once};

/// One captured log line.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub thread: Option<String>,
    pub level: log::Level,
    pub target: String,
    pub message: String,
}

static LINES: Mutex<Vec<LogLine>> = Mutex::new(Vec::new());

struct CapturingLogger;

impl log::Log for CapturingLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let line = LogLine {
            thread: std::thread::current().name().map(str::to_owned),
            level: record.level(),
            target: record.target().to_owned(),
            message: record.args().to_string(),
        };
        LINES.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per test binary).
pub fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CapturingLogger).expect("no other logger in this test binary");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Every line captured so far, from any thread.
pub fn all_log_lines() -> Vec<LogLine> {
    LINES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Lines logged so far on the calling thread.
pub fn my_log_lines() -> Vec<LogLine> {
    let me = std::thread::current().name().map(str::to_owned);
    all_log_lines()
        .into_iter()
        .filter(|line| line.thread == me)
        .collect()
}

/// Messages at `level` logged on the calling thread containing `needle`.
pub fn my_logged(level: log::Level, needle: &str) -> Vec<String> {
    my_log_lines()
        .into_iter()
        .filter(|line| line.level == level && line.message.contains(needle))
        .map(|line| line.message)
        .collect()
}

/// Messages at `level` logged on any thread containing `needle`.
pub fn logged_anywhere(level: log::Level, needle: &str) -> Vec<String> {
    all_log_lines()
        .into_iter()
        .filter(|line| line.level == level && line.message.contains(needle))
        .map(|line| line.message)
        .collect()
}

/// Lines at any level, on any thread, containing `needle`.
pub fn lines_containing(needle: &str) -> Vec<LogLine> {
    all_log_lines()
        .into_iter()
        .filter(|line| line.message.contains(needle))
        .collect()
}
