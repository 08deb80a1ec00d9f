//! What the CLI's integration tests share: running the built `loglift` binary.

use std::process::Command;

/// Run `loglift ARGS` (errors-only logs, no spec or data dir from the environment): exit code,
/// stdout, stderr.
pub fn loglift(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_loglift"))
        .args(args)
        .env("RUST_LOG", "error")
        .env_remove("LOGLIFT_SPEC")
        .env_remove("LOGLIFT_DATA_DIR")
        .output()
        .expect("run loglift");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
