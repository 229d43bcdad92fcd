//! The demo project: a datafile and segment rules that tell the Real-Time Segments story.
//!
//! Flags: `new_checkout` (an A/B test for premium customers in the US, with variables),
//! `vip_banner` (a delivery rule targeting the ODP segment `frequent_buyers`) and `dark_mode`
//! (a 50% rollout to app versions 2.0.0 and later). The segment `frequent_buyers` holds users
//! with at least 3 `purchased` ODP events in the last 30 days.
//!
//! ```
//! use optimizely_fx_devserver::{DevServer, DevServerConfig, demo};
//! let server = DevServer::start(DevServerConfig::demo())?;
//! let url = server.datafile_url_template().replace("{sdk_key}", demo::SDK_KEY);
//! # let _ = url;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::{DevServerConfig, SegmentDefinition};

/// SDK key the demo datafile is served under.
pub const SDK_KEY: &str = "demo-sdk-key";
/// The demo project's datafile (its ODP integration is pointed at the serving dev server).
pub const DATAFILE: &str = include_str!("../assets/demo-datafile.json");
/// The demo project's segment rules, in the segments-file TOML format.
pub const SEGMENTS_TOML: &str = include_str!("../assets/demo-segments.toml");

/// The demo project's segment rules.
pub fn segments() -> Vec<SegmentDefinition> {
    // The file ships with the crate and a test checks it parses.
    SegmentDefinition::from_toml(SEGMENTS_TOML).unwrap_or_default()
}

impl DevServerConfig {
    /// The default configuration serving the [demo project](crate::demo): its datafile under
    /// [`SDK_KEY`] and its segment rules.
    pub fn demo() -> Self {
        DevServerConfig::default()
            .datafile(SDK_KEY, DATAFILE)
            .segment_rules(segments())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_files_parse() {
        assert!(SegmentDefinition::from_toml(SEGMENTS_TOML).is_ok());
        assert_eq!(segments().len(), 1);
        let datafile: serde_json::Value = serde_json::from_str(DATAFILE).unwrap();
        assert_eq!(datafile["featureFlags"].as_array().map(Vec::len), Some(3));
    }
}
