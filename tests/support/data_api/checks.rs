//! Redshift's rules, checked before PostgreSQL runs anything (the module docs' second table).

use super::*;

// ---------------------------------------------------------------------------------------------
// Redshift's rules, checked before PostgreSQL runs anything (the module docs' second table).

/// What a statement needs at run time besides its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Checked {
    /// A MERGE: a query counting the target rows more than one source row matches.
    pub(super) merge_duplicates: Option<String>,
}

/// A refusal shaped like Redshift's error (`ERROR: …`), then what the test server checked.
pub(super) fn refuse(redshift: &str, detail: &str) -> String {
    format!("ERROR: {redshift}\n  Detail: {detail} (Data API test server check)")
}

/// The statement kinds Redshift refuses inside a transaction block (a whole
/// BatchExecuteStatement is one).
pub(super) fn no_transaction_block(sig: &[&Tok]) -> Option<&'static str> {
    let w = |i: usize, word: &str| sig.get(i).is_some_and(|t| t.is_word(word));
    if w(0, "VACUUM") {
        Some("VACUUM")
    } else if w(0, "CREATE") && w(1, "DATABASE") {
        Some("CREATE DATABASE")
    } else if w(0, "DROP") && w(1, "DATABASE") {
        Some("DROP DATABASE")
    } else if w(0, "CREATE") && w(1, "EXTERNAL") && w(2, "TABLE") {
        Some("CREATE EXTERNAL TABLE")
    } else if w(0, "ALTER") && w(1, "TABLE") {
        let rest = || sig.iter().skip(3);
        if rest().any(|t| t.is_word("APPEND")) {
            Some("ALTER TABLE APPEND")
        } else if rest().any(|t| t.is_word("ALTER")) && rest().any(|t| t.is_word("TYPE")) {
            Some("ALTER TABLE ALTER COLUMN")
        } else {
            None
        }
    } else {
        None
    }
}

/// Check `sql` (as sent) against Redshift's rules; `translated` is the PostgreSQL text (none
/// for a COPY from S3, checked by [`parse_copy`]). `in_batch`: inside BatchExecuteStatement.
pub(super) fn check_statement(
    sql: &str,
    translated: Option<&str>,
    in_batch: bool,
) -> Result<Checked, String> {
    let toks = tokenize(sql);
    let sig: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t, Tok::Space(_)))
        .collect();
    if let Some(what) = no_transaction_block(&sig) {
        return Err(if in_batch {
            refuse(
                &format!("{what} cannot run inside a transaction block"),
                "BatchExecuteStatement runs its statements as one transaction",
            )
        } else {
            format!("ERROR: {what} is not covered by the Data API test server")
        });
    }
    if sig.first().is_some_and(|t| t.is_word("LOCK")) {
        // LOCK [ TABLE ] table_name [, ...]: always ACCESS EXCLUSIVE, no mode, no NOWAIT.
        if let Some(bad) = sig.iter().skip(1).find(|t| {
            ["IN", "MODE", "NOWAIT", "ONLY"]
                .iter()
                .any(|w| t.is_word(w))
        }) {
            return Err(refuse(
                &format!("syntax error at or near \"{}\"", bad.text()),
                "Redshift's LOCK takes table names only (always ACCESS EXCLUSIVE)",
            ));
        }
        return Ok(Checked::default());
    }
    for pair in sig.windows(2) {
        if let [a, b] = pair {
            if a.is_word("DISTINCT") && b.is_word("ON") {
                return Err(refuse(
                    "syntax error at or near \"ON\"",
                    "Redshift has no SELECT DISTINCT ON",
                ));
            }
        }
    }
    match translated {
        Some(text) => check_parsed(text),
        None => Ok(Checked::default()),
    }
}

/// The checks on sqlparser's Redshift-dialect parse of the translated text (which differs from
/// what was sent only by the mapping table: same statement shape).
pub(super) fn check_parsed(text: &str) -> Result<Checked, String> {
    let statements = Parser::parse_sql(&RedshiftSqlDialect {}, text).map_err(|e| {
        refuse(
            &format!("syntax error: {e}"),
            "sqlparser's Redshift dialect cannot read the statement, so nothing of it is checked or run",
        )
    })?;
    let statement = match statements.as_slice() {
        [one] => one,
        _ => {
            return Err(format!(
                "ERROR: {} statements in one SQL text are not covered by the Data API test server",
                statements.len()
            ))
        }
    };
    let returning = || {
        Err(refuse(
            "syntax error at or near \"RETURNING\"",
            "Redshift has no RETURNING",
        ))
    };
    match statement {
        Parsed::Insert(insert) => {
            if insert.on.is_some() {
                return Err(refuse(
                    "syntax error at or near \"ON\"",
                    "Redshift has no INSERT … ON CONFLICT (and enforces no unique key to conflict on)",
                ));
            }
            if insert.returning.is_some() {
                return returning();
            }
        }
        Parsed::Update {
            returning: Some(_), ..
        } => return returning(),
        Parsed::Delete(delete) if delete.returning.is_some() => return returning(),
        Parsed::CreateIndex(_) => {
            return Err(refuse(
                "syntax error at or near \"INDEX\"",
                "Redshift has no indexes (sort and distribution keys instead)",
            ))
        }
        Parsed::Merge {
            table,
            source,
            on,
            clauses,
            ..
        } => return check_merge(table, source, on, clauses),
        _ => {}
    }
    Ok(Checked::default())
}

pub(super) fn is_column(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => is_column(inner),
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        _ => false,
    }
}

/// Whether `e` is `col = col [AND col = col …]`.
pub(super) fn equality_predicates(e: &Expr) -> bool {
    match e {
        Expr::Nested(inner) => equality_predicates(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => equality_predicates(left) && equality_predicates(right),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => is_column(left) && is_column(right),
        _ => false,
    }
}

/// Redshift's MERGE: `MERGE INTO target USING source [[AS] alias] ON match_condition WHEN
/// MATCHED THEN {UPDATE SET … | DELETE} WHEN NOT MATCHED THEN INSERT …` (*MERGE*): the target
/// takes no alias, the source is a table, the match condition is equality predicates between
/// source and target columns, both clauses without extra conditions; and a target row may not be
/// matched by more than one source row (checked when it runs, by the query returned).
pub(super) fn check_merge(
    table: &TableFactor,
    source: &TableFactor,
    on: &Expr,
    clauses: &[MergeClause],
) -> Result<Checked, String> {
    let target = match table {
        TableFactor::Table {
            name, alias: None, ..
        } => name,
        TableFactor::Table {
            alias: Some(alias), ..
        } => {
            return Err(refuse(
                &format!("syntax error at or near \"{}\"", alias.name),
                "Redshift's MERGE target table takes no alias",
            ))
        }
        _ => {
            return Err(refuse(
                "syntax error at or near \"(\"",
                "Redshift's MERGE target is a table",
            ))
        }
    };
    let source = match source {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => match alias {
            Some(alias) => format!("{name} AS {alias}"),
            None => name.to_string(),
        },
        _ => {
            return Err(refuse(
                "syntax error at or near \"(\"",
                "Redshift's MERGE source_table can't be a view or a subquery",
            ))
        }
    };
    if !equality_predicates(on) {
        return Err(refuse(
            &format!("MERGE match condition {on} is not supported"),
            "Redshift's match_condition is equality predicates between source and target columns",
        ));
    }
    let shape_ok = match clauses {
        [matched, not_matched] => {
            matched.clause_kind == MergeClauseKind::Matched
                && matched.predicate.is_none()
                && matches!(
                    matched.action,
                    MergeAction::Update { .. } | MergeAction::Delete
                )
                && not_matched.clause_kind == MergeClauseKind::NotMatched
                && not_matched.predicate.is_none()
                && matches!(not_matched.action, MergeAction::Insert(_))
        }
        _ => false,
    };
    if !shape_ok {
        let redshift = if clauses.len() == 1 {
            "MERGE statement with a single WHEN clause is not enabled.".to_owned()
        } else {
            "syntax error at or near \"WHEN\"".to_owned()
        };
        return Err(refuse(
            &redshift,
            "Redshift's MERGE takes WHEN MATCHED THEN UPDATE|DELETE then WHEN NOT MATCHED THEN INSERT, without AND conditions",
        ));
    }
    Ok(Checked {
        merge_duplicates: Some(format!(
            "SELECT count(*) FROM (SELECT 1 FROM {target} JOIN {source} ON {on} GROUP BY {target}.ctid HAVING count(*) > 1) AS loglift_duplicate_matches"
        )),
    })
}
