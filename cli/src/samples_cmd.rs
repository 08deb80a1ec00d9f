//! `loglift samples generate`: synthetic Lambda events and landing files from
//! `loglift-samplegen`, written under one directory with the manifest that counts them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use loglift_samplegen::{
    generate_with_progress, FileKind, GenOptions, Generated, FIREHOSE_BATCH_BYTES,
    KINESIS_BATCH_BYTES, MAX_BATCH_RECORDS,
};

#[derive(Debug, Subcommand)]
pub enum SamplesCommand {
    /// Generate synthetic inputs, deterministically for a seed: Kinesis and Firehose Lambda
    /// events (kinesis/*.json, firehose/*.json), landing files (landing/hit_data/*.tsv,
    /// landing/partner_catalog/*.jsonl) and manifest.json, which counts what they hold: unique
    /// valid events per pipeline, duplicates, bad records by the reason they must be rejected
    /// with, and what `loglift local run OUT/kinesis OUT/firehose --json` must report.
    ///
    /// An existing output directory is replaced only if it holds a manifest.json (an earlier
    /// generation); a directory with other content is refused.
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Unique valid events (rows) over all pipelines.
    #[arg(long, default_value_t = 10_000)]
    events: u64,
    /// Probability (0..1) that a valid event is sent twice (same invocation, a later one, or
    /// both Kinesis and Firehose).
    #[arg(long, default_value_t = 0.02)]
    dup_rate: f64,
    /// Bad records per valid event (0..1): bad base64, truncated gzip, invalid UTF-8, not JSON,
    /// no identity, unknown pipeline, and events transform must reject.
    #[arg(long, default_value_t = 0.01)]
    bad_rate: f64,
    /// The seed: the same options and seed give the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The output directory.
    #[arg(long, default_value = ".loglift/generated")]
    out: PathBuf,
    /// Most records per Kinesis or Firehose invocation.
    #[arg(long, default_value_t = MAX_BATCH_RECORDS)]
    records_per_batch: usize,
    /// Most bytes per Kinesis event-source event.
    #[arg(long, default_value_t = KINESIS_BATCH_BYTES)]
    kinesis_batch_bytes: usize,
    /// Most bytes per Firehose transformation event.
    #[arg(long, default_value_t = FIREHOSE_BATCH_BYTES)]
    firehose_batch_bytes: usize,
    /// Most rows per landing file.
    #[arg(long, default_value_t = 10_000)]
    landing_rows_per_file: usize,
    /// Share (0..1) of user_events records sent through Firehose instead of straight from
    /// Kinesis.
    #[arg(long, default_value_t = 0.3)]
    firehose_share: f64,
}

pub fn run(cmd: SamplesCommand) -> Result<ExitCode, String> {
    match cmd {
        SamplesCommand::Generate(args) => generate(args),
    }
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn generate(args: GenerateArgs) -> Result<ExitCode, String> {
    let opts = GenOptions {
        events: args.events,
        dup_rate: args.dup_rate,
        bad_rate: args.bad_rate,
        seed: args.seed,
        kinesis_batch_bytes: args.kinesis_batch_bytes,
        firehose_batch_bytes: args.firehose_batch_bytes,
        records_per_batch: args.records_per_batch,
        landing_rows_per_file: args.landing_rows_per_file,
        firehose_share: args.firehose_share,
        ..GenOptions::default()
    };
    opts.check().map_err(|e| e.to_string())?;
    prepare(&args.out)?;

    let progress = bar(
        opts.events,
        "{spinner} generating [{bar:30}] {pos}/{len} events",
    );
    let generated = generate_with_progress(&opts, &mut |done| progress.set_position(done))
        .map_err(|e| e.to_string())?;
    progress.finish_and_clear();

    let total: u64 = generated.files.iter().map(|f| f.body.len() as u64).sum();
    let progress = bar(
        total,
        "{spinner} writing [{bar:30}] {bytes}/{total_bytes} {wide_msg}",
    );
    for file in &generated.files {
        progress.set_message(file.path.clone());
        write(&args.out.join(&file.path), &file.body)?;
        progress.inc(file.body.len() as u64);
    }
    write(
        &args.out.join("manifest.json"),
        format!("{}\n", generated.manifest_json()).as_bytes(),
    )?;
    progress.finish_and_clear();
    print!("{}", report(&generated, &args.out, total));
    Ok(ExitCode::SUCCESS)
}

/// Make `out` ready: created, or emptied of an earlier generation; never another directory's
/// content.
fn prepare(out: &Path) -> Result<(), String> {
    let shown = out.display();
    match std::fs::read_dir(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
        Ok(mut entries) => {
            let manifest = out.join("manifest.json");
            if entries.next().is_some() && !manifest.is_file() {
                return Err(format!(
                    "{shown} is not empty and holds no manifest.json of an earlier generation; choose another --out"
                ));
            }
            for sub in ["kinesis", "firehose", "landing"] {
                let dir = out.join(sub);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)
                        .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
                }
            }
            if manifest.is_file() {
                std::fs::remove_file(&manifest)
                    .map_err(|e| format!("cannot remove {}: {e}", manifest.display()))?;
            }
        }
    }
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {shown}: {e}"))
}

fn write(path: &Path, body: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(path, body).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn report(generated: &Generated, out: &Path, total: u64) -> String {
    use std::fmt::Write as _;
    let m = &generated.manifest;
    let count = |kind| generated.of_kind(kind).count();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "wrote {} file(s), {:.1} MB, to {}: {} Kinesis event(s), {} Firehose event(s), {} landing file(s)",
        generated.files.len(),
        total as f64 / 1e6,
        out.display(),
        count(FileKind::Kinesis),
        count(FileKind::Firehose),
        count(FileKind::Landing),
    );
    let _ = writeln!(
        s,
        "{:<16} {:>8} {:>11} {:>16} {:>14}",
        "pipeline", "unique", "duplicates", "transform bad", "ingest bad"
    );
    for (name, c) in &m.pipelines {
        let _ = writeln!(
            s,
            "{name:<16} {:>8} {:>11} {:>16} {:>14}",
            c.unique,
            c.duplicates.total,
            c.transform_rejects.values().sum::<u64>(),
            c.ingest_rejects.values().sum::<u64>(),
        );
    }
    let unrouted: u64 = m.unrouted_ingest_rejects.values().sum();
    let _ = writeln!(
        s,
        "{:<16} {:>8} {:>11} {:>16} {:>14}",
        "(no pipeline)", "-", "-", "-", unrouted
    );
    let _ = writeln!(
        s,
        "control messages: {}; manifest: {}",
        m.control_messages,
        out.join("manifest.json").display()
    );
    let _ = writeln!(
        s,
        "next: loglift local run {} {}",
        out.join("kinesis").display(),
        out.join("firehose").display()
    );
    s
}
