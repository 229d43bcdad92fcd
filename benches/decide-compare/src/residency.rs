//! Where the resident memory of this process is (Linux): resident kB per mapping from
//! `/proc/self/smaps`, and which pages of this program's own file are resident, from the
//! present bit of `/proc/self/pagemap` (readable without privileges).
//!
//! The kernel maps file-backed pages in pieces larger than the page touched (fault-around:
//! up to 64 KiB around it), so the resident pages of the program show which of its code and
//! data a side reached, at that granularity. To name them, turn a file offset into an
//! address with the program's `LOAD` segments (`readelf -lW`: address = offset - segment
//! offset + segment address) and look the address up with `nm -S -C` or `addr2line -f -C`.

use std::fs::File;
use std::os::unix::fs::FileExt;

use serde_json::{Value, json};

const PAGE: u64 = 4096;

/// One mapping of `/proc/self/smaps`.
struct Mapping {
    start: u64,
    end: u64,
    perms: String,
    offset: u64,
    path: String,
    rss_kb: u64,
}

fn mappings() -> Vec<Mapping> {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Vec::new();
    };
    let mut list: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        if let Some(rss) = line.strip_prefix("Rss:") {
            if let Some(last) = list.last_mut() {
                last.rss_kb = rss
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
            }
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms), Some(offset)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let hex = |text: &str| u64::from_str_radix(text, 16).ok();
        let (Some(start), Some(end), Some(offset)) = (hex(start), hex(end), hex(offset)) else {
            continue;
        };
        let path = fields.nth(2).unwrap_or("").to_owned();
        list.push(Mapping {
            start,
            end,
            perms: perms.to_owned(),
            offset,
            path,
            rss_kb: 0,
        });
    }
    list
}

/// Resident kB per mapping (`perms path`, anonymous ones as `[anon]`) and, for the mappings
/// of this program's file, the file offsets of its resident pages.
pub fn snapshot() -> Value {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let pagemap = File::open("/proc/self/pagemap").ok();
    let mut regions = Vec::new();
    let mut exe_pages = Vec::new();
    for mapping in mappings() {
        let name = match mapping.path.as_str() {
            "" => "[anon]",
            path => path.rsplit('/').next().unwrap_or(path),
        };
        regions.push(json!([format!("{} {name}", mapping.perms), mapping.rss_kb]));
        if mapping.path == exe
            && let Some(pagemap) = &pagemap
        {
            exe_pages.extend(resident_offsets(pagemap, &mapping));
        }
    }
    json!({"mappings": regions, "exe_resident_offsets": exe_pages})
}

/// File offsets of the resident pages of `mapping` (present bit 63 of each pagemap entry).
fn resident_offsets(pagemap: &File, mapping: &Mapping) -> Vec<u64> {
    let pages = (mapping.end - mapping.start) / PAGE;
    let mut entries = vec![0u8; pages as usize * 8];
    if pagemap
        .read_exact_at(&mut entries, mapping.start / PAGE * 8)
        .is_err()
    {
        return Vec::new();
    }
    entries
        .chunks_exact(8)
        .enumerate()
        .filter(|(_, entry)| entry[7] & 0x80 != 0)
        .map(|(page, _)| mapping.offset + page as u64 * PAGE)
        .collect()
}
