//! Memory figures of this process from `/proc/self/status` (Linux).

/// A `kB` field of `/proc/self/status` (`VmHWM` = peak resident set, `VmRSS` = current), or
/// `None` where the file or the field does not exist.
pub fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// Peak resident set size of this process so far, in kB.
pub fn peak_rss_kb() -> Option<u64> {
    status_kb("VmHWM")
}

/// Current resident set size of this process, in kB.
pub fn rss_kb() -> Option<u64> {
    status_kb("VmRSS")
}

/// Time the main thread (where the measurements run) has spent on a CPU so far, in ns, from
/// `/proc/self/schedstat`: unlike wall time, it leaves out the time spent waiting for a CPU
/// on a busy machine.
pub fn main_thread_on_cpu_ns() -> Option<u64> {
    let schedstat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    schedstat.split_whitespace().next()?.parse().ok()
}
