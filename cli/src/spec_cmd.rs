//! `loglift spec …`: check a spec file, print the storage layout it implies.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use loglift_core::spec::Spec;
use loglift_core::storage::Layout;

#[derive(Debug, Subcommand)]
pub enum SpecCommand {
    /// Check a spec file; print each error with its line and field. Exit 1 if any.
    Check {
        /// The spec file (YAML).
        file: PathBuf,
    },
    /// Print, as JSON, the keys and S3 notification filters a spec implies for a lake bucket.
    Layout {
        /// The spec file (YAML).
        file: PathBuf,
        /// The lake bucket.
        #[arg(long, default_value = "loglift-lake")]
        bucket: String,
    },
}

pub fn run(cmd: SpecCommand) -> Result<ExitCode, String> {
    match cmd {
        SpecCommand::Check { file } => {
            let spec = match read(&file)? {
                Ok(spec) => spec,
                Err(errors) => {
                    for e in &errors {
                        eprintln!("{}: {e}", file.display());
                    }
                    eprintln!("{}: {} error(s)", file.display(), errors.len());
                    return Ok(ExitCode::FAILURE);
                }
            };
            println!(
                "{}: ok, version {}, {} pipeline(s): {}",
                file.display(),
                spec.version,
                spec.pipelines.len(),
                spec.pipelines
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(ExitCode::SUCCESS)
        }
        SpecCommand::Layout { file, bucket } => {
            let spec = read(&file)?.map_err(|errors| {
                format!(
                    "{} has {} error(s); run `loglift spec check`",
                    file.display(),
                    errors.len()
                )
            })?;
            let layout = Layout::single_bucket(&bucket);
            let out = serde_json::json!({
                "layout": layout,
                "notification_filters": layout.notification_filters(&spec),
                "firehose_prefix": layout.firehose_prefix(),
                "firehose_error_prefix": layout.firehose_error_prefix(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn read(file: &PathBuf) -> Result<Result<Spec, Vec<loglift_core::spec::SpecError>>, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    Ok(Spec::parse(&text))
}
