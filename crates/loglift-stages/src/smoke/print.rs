//! The report as a person reads it.

use super::*;

// ---------------------------------------------------------------------------------------------
// Printing.

impl std::fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run { "would send" } else { "sent" };
        writeln!(
            f,
            "smoke run {} ({}): {verb} {} event(s) through {} send(s){}",
            self.run_id,
            self.started_at.format("%Y-%m-%d %H:%M:%SZ"),
            self.events.len(),
            self.sends.len(),
            if self.dry_run {
                String::new()
            } else {
                format!(
                    ", waited {} s of {} s",
                    self.waited_seconds, self.timeout_seconds
                )
            }
        )?;
        writeln!(
            f,
            "  {:<62} {:<20} {:<30} {:>6} {:>6}  result",
            "entry", "pipeline", "table", "events", "once"
        )?;
        for send in &self.sends {
            let entry = send.entry.to_string();
            let mine: Vec<&EventReport> = self
                .events
                .iter()
                .filter(|e| e.entry == entry && e.pipeline == send.pipeline)
                .collect();
            let once = mine
                .iter()
                .filter(|e| e.status == EventStatus::Loaded)
                .count();
            let result = match &send.error {
                Some(e) => format!("SEND FAILED: {e}"),
                None if self.dry_run => send.payload.clone(),
                None if once == mine.len() => "ok".to_owned(),
                None => "FAILED".to_owned(),
            };
            writeln!(
                f,
                "  {:<62} {:<20} {:<30} {:>6} {:>6}  {result}",
                entry,
                send.pipeline,
                send.table,
                send.events,
                if self.dry_run {
                    "-".to_owned()
                } else {
                    once.to_string()
                }
            )?;
        }
        writeln!(f, "events")?;
        for e in &self.events {
            let status = match e.status {
                EventStatus::Planned => "planned".to_owned(),
                EventStatus::NotSent => "not sent".to_owned(),
                EventStatus::Loaded => match e.seconds_to_table {
                    Some(s) => format!("loaded once ({s} s)"),
                    None => "loaded once".to_owned(),
                },
                EventStatus::Missing => "MISSING".to_owned(),
                EventStatus::Doubled => format!("DOUBLED ({} rows)", e.rows),
            };
            writeln!(f, "  {:<40} {:<30} {status}", e.event_id, e.table)?;
        }
        if !self.audits.is_empty() {
            writeln!(f, "audit ({:?})", self.audit_mode)?;
            for a in &self.audits {
                writeln!(
                    f,
                    "  {:<20} {}: in {}, loaded {}, rejected {}, in DLQ {}, unexplained {}",
                    a.pipeline,
                    if a.balanced {
                        "balanced"
                    } else {
                        "DOES NOT BALANCE"
                    },
                    a.totals.events_in,
                    a.totals.loaded,
                    a.totals.rejected,
                    a.totals.in_dlq,
                    a.totals.unexplained
                )?;
            }
        }
        if let Some(c) = &self.cleanup {
            let rows: u64 = c.rows_deleted.values().sum();
            writeln!(
                f,
                "cleanup: {rows} row(s) deleted from {} table(s), {} landing file(s) deleted",
                c.rows_deleted.len(),
                c.objects_deleted.len()
            )?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        for failure in &self.failures {
            writeln!(f, "FAILED: {failure}")?;
        }
        if self.dry_run {
            writeln!(f, "dry run: nothing was sent")?;
        } else if self.passed {
            writeln!(
                f,
                "PASSED: every event reached its table exactly once{}",
                if self.audit_mode == AuditMode::Check {
                    " and every audit balances"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}
