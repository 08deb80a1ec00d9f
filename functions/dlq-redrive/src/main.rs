//! The dlq-redrive Lambda: wiring only (being built).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    loglift_stages::obs::init_tracing();
    Err("not built yet".into())
}
