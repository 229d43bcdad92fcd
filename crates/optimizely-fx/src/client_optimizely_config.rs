//! `OptimizelyConfig` on the [`Client`]: a read-only view of the current datafile (flags with
//! their rules and variables, experiments, attributes, audiences, events), built when first
//! asked for and kept until the datafile changes.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use optimizely_fx_core::ProjectConfig;
use optimizely_fx_core::optimizely_config::OptimizelyConfig;

use crate::client::Client;

/// The view of the config it was last built for.
#[derive(Default)]
pub(crate) struct OptimizelyConfigCache {
    cached: ArcSwapOption<Cached>,
}

struct Cached {
    config: Arc<ProjectConfig>,
    view: Arc<OptimizelyConfig>,
}

impl OptimizelyConfigCache {
    fn view_of(&self, config: Arc<ProjectConfig>) -> Arc<OptimizelyConfig> {
        if let Some(cached) = self.cached.load().as_ref()
            && Arc::ptr_eq(&cached.config, &config)
        {
            return Arc::clone(&cached.view);
        }
        let view = Arc::new(OptimizelyConfig::new(&config));
        self.cached.store(Some(Arc::new(Cached {
            config,
            view: Arc::clone(&view),
        })));
        view
    }
}

impl Client {
    /// The `OptimizelyConfig` view of the current datafile (`getOptimizelyConfig()` in the
    /// other Optimizely SDKs), or `None` before the client is ready. Built on first use and
    /// reused until a datafile with a new revision arrives. It serializes (serde) to the
    /// official field names (`experimentsMap`, `featuresMap`, ...). The datafile text itself
    /// is [`ProjectConfig::datafile`] of [`config`](Self::config).
    ///
    /// ```
    /// # let datafile = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datafiles/go-decide-test-datafile.json"));
    /// use optimizely_fx::Client;
    ///
    /// let client = Client::builder().datafile(datafile).build()?;
    /// let view = client.optimizely_config().expect("ready");
    /// let flag = &view.features_map["feature_1"];
    /// assert_eq!(flag.experiment_rules[0].key, "exp_with_audience");
    /// println!("{}", serde_json::to_string_pretty(&*view)?);
    /// # client.close(std::time::Duration::from_millis(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn optimizely_config(&self) -> Option<Arc<OptimizelyConfig>> {
        let config = self.config()?;
        Some(self.optimizely_config_cache().view_of(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(revision: &str) -> Arc<ProjectConfig> {
        let json =
            format!(r#"{{"version":"4","accountId":"a","projectId":"p","revision":"{revision}"}}"#);
        Arc::new(ProjectConfig::parse(&json).unwrap())
    }

    #[test]
    fn the_view_is_built_once_per_config() {
        let cache = OptimizelyConfigCache::default();
        let first = config("1");
        let a = cache.view_of(Arc::clone(&first));
        let b = cache.view_of(Arc::clone(&first));
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache.view_of(config("2"));
        assert_eq!(c.revision, "2");
        assert_eq!(a.revision, "1");
    }
}
