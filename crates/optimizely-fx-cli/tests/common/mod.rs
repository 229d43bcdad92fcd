//! Helpers shared by the CLI tests: run the binary, read its output, find fixtures.
#![allow(dead_code)] // each test binary uses a different part

use std::path::PathBuf;
use std::process::{Command, Output};

use optimizely_fx_devserver::DevServerHandle;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datafiles"
);

/// Path of a fixture datafile.
pub fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

/// Runs `optimizely-fx` with `args`, without any access token from the environment.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_optimizely-fx"))
        .args(args)
        .env_remove("OPTIMIZELY_DATAFILE_ACCESS_TOKEN")
        .output()
        .expect("the binary runs")
}

/// Runs `optimizely-fx <command> --sdk-key <sdk_key> --datafile-url-template <server's> <extra>`.
pub fn run_against(
    server: &DevServerHandle,
    command: &str,
    sdk_key: &str,
    extra: &[&str],
) -> Output {
    let template = server.datafile_url_template();
    let mut args = vec![
        command,
        "--sdk-key",
        sdk_key,
        "--datafile-url-template",
        &template,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Each stdout line parsed as JSON.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each stdout line is JSON"))
        .collect()
}

/// Writes `text` to a file named `name` in a temporary directory of this test process.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ofx-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}
