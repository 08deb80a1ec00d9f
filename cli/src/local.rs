//! `loglift invoke`, `loglift local …` and `--local`: argument parsing and printing over
//! [`loglift_runtime::local`], which runs the handlers on local adapters.

use std::path::{Path, PathBuf};

use loglift_core::spec::Spec;
pub use loglift_runtime::local::{read_event, run, Local, LOADER_QUEUE, TRANSFORM_QUEUE};

#[derive(Debug, clap::Args)]
pub struct LocalOpts {
    /// Where local mode keeps its lake, queues and warehouse.
    #[arg(long, default_value = ".loglift", env = "LOGLIFT_DATA_DIR")]
    pub data_dir: PathBuf,
    /// The pipeline spec (default: the shipped spec/pipelines.yaml, built in).
    #[arg(long, env = "LOGLIFT_SPEC")]
    pub spec: Option<PathBuf>,
}

/// The functions `loglift invoke` can run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Function {
    /// Kinesis event-source or Firehose transformation events.
    Ingest,
    /// SQS events carrying S3 event notifications.
    Transform,
    /// SQS events carrying loader messages (loads into `<data dir>/warehouse.db`).
    DedupeLoader,
}

impl From<Function> for loglift_runtime::local::Function {
    fn from(f: Function) -> Self {
        match f {
            Function::Ingest => Self::Ingest,
            Function::Transform => Self::Transform,
            Function::DedupeLoader => Self::DedupeLoader,
        }
    }
}

/// Local mode as the options say.
pub fn open(opts: &LocalOpts) -> Result<Local, String> {
    Local::open(&opts.data_dir, load_spec(opts.spec.as_deref())?)
}

/// The spec from a file, or the shipped one.
pub fn load_spec(path: Option<&Path>) -> Result<Spec, String> {
    loglift_runtime::local::load_spec(path)
}

/// `loglift warehouse ddl`.
pub fn print_ddl(dialect: &str, spec: Option<&Path>) -> Result<std::process::ExitCode, String> {
    let d = loglift_core::sql::Dialect::parse(dialect)
        .ok_or_else(|| format!("unknown dialect {dialect}: use redshift, postgres or sqlite"))?;
    let spec = load_spec(spec)?;
    print!(
        "{}",
        loglift_core::sql::ddl::ddl_script(d, &spec).map_err(|e| e.to_string())?
    );
    Ok(std::process::ExitCode::SUCCESS)
}

/// `loglift local query`: the result as an aligned text table.
pub async fn query(local: &Local, sql: &str) -> Result<String, String> {
    let (columns, rows) = local
        .load
        .warehouse
        .query(sql)
        .await
        .map_err(|e| e.to_string())?;
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        parts.join(" | ").trim_end().to_owned() + "\n"
    };
    let mut out = line(&columns);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&rule.join("-+-"));
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row));
    }
    out.push_str(&format!(
        "({} row{})\n",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    ));
    Ok(out)
}
