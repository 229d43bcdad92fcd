//! Where the examples find the Optimizely backend: a running dev server named by the
//! environment (`OPTIMIZELY_SDK_KEY` and `OPTIMIZELY_DATAFILE_URL_TEMPLATE`, optionally
//! `OPTIMIZELY_EVENT_ENDPOINT`), or a dev server started in-process with the demo project.

use std::error::Error;

use optimizely_fx::{Client, ClientBuilder};
use optimizely_fx_devserver::{DevServer, DevServerConfig, DevServerHandle, demo};

/// A client builder pointed at the backend, and the in-process dev server if one was started
/// (it stops when dropped, so keep it alive as long as the client).
pub fn backend() -> Result<(ClientBuilder, Option<DevServerHandle>), Box<dyn Error + Send + Sync>> {
    let sdk_key = std::env::var("OPTIMIZELY_SDK_KEY").ok();
    let template = std::env::var("OPTIMIZELY_DATAFILE_URL_TEMPLATE").ok();
    match (sdk_key, template) {
        (Some(sdk_key), Some(template)) => {
            let events = match std::env::var("OPTIMIZELY_EVENT_ENDPOINT") {
                Ok(url) => url,
                Err(_) => event_endpoint_beside(&template)?,
            };
            let builder = Client::builder()
                .sdk_key(sdk_key)
                .datafile_url_template(template)
                .event_endpoint(events);
            Ok((builder, None))
        }
        (None, None) => {
            let server = DevServer::start(DevServerConfig::demo())?;
            let builder = Client::builder()
                .sdk_key(demo::SDK_KEY)
                .datafile_url_template(server.datafile_url_template())
                .event_endpoint(server.event_endpoint());
            Ok((builder, Some(server)))
        }
        _ => Err(
            "set both OPTIMIZELY_SDK_KEY and OPTIMIZELY_DATAFILE_URL_TEMPLATE, or neither".into(),
        ),
    }
}

/// `http://host:port/v1/events` for a dev server whose datafiles are at
/// `http://host:port/datafiles/{sdk_key}.json`.
fn event_endpoint_beside(template: &str) -> Result<String, String> {
    template
        .split_once("/datafiles/")
        .map(|(origin, _)| format!("{origin}/v1/events"))
        .ok_or_else(|| {
            format!("set OPTIMIZELY_EVENT_ENDPOINT: no /datafiles/ in the template {template:?}")
        })
}
