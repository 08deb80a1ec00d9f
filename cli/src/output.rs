//! How a command prints its result: pretty JSON for machines (`--json`), else the report's own
//! text.

use std::fmt::Display;

use serde::Serialize;

pub fn print<T: Serialize + Display>(report: &T, json: bool) -> Result<(), String> {
    if json {
        let text = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{report}");
    }
    Ok(())
}
