//! Translation: a small tokenizer and the mapping table of the module docs, and the COPY statement's options.

use super::*;

// ---------------------------------------------------------------------------------------------
// Translation: a small tokenizer and the mapping table of the module docs.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Word(String),
    /// A string literal, quotes included.
    Str(String),
    /// A quoted identifier, quotes included.
    Ident(String),
    /// Whitespace and comments.
    Space(String),
    /// `:name`, without the colon.
    Param(String),
    Punct(String),
}

impl Tok {
    pub(super) fn text(&self) -> String {
        match self {
            Tok::Word(s) | Tok::Str(s) | Tok::Ident(s) | Tok::Space(s) | Tok::Punct(s) => s.clone(),
            Tok::Param(name) => format!(":{name}"),
        }
    }

    pub(super) fn is_word(&self, word: &str) -> bool {
        matches!(self, Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self, Tok::Punct(x) if x == p)
    }
}

pub(super) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

pub(super) fn tokenize(sql: &str) -> Vec<Tok> {
    let chars: Vec<char> = sql.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = i;
        let tok = if c.is_whitespace() {
            while at(i).is_some_and(char::is_whitespace) {
                i += 1;
            }
            Tok::Space(chars_text(&chars, start, i))
        } else if c == '-' && at(i + 1) == Some('-') {
            while at(i).is_some_and(|c| c != '\n') {
                i += 1;
            }
            Tok::Space(chars_text(&chars, start, i))
        } else if c == '/' && at(i + 1) == Some('*') {
            i += 2;
            while at(i).is_some() && !(at(i) == Some('*') && at(i + 1) == Some('/')) {
                i += 1;
            }
            i = (i + 2).min(chars.len());
            Tok::Space(chars_text(&chars, start, i))
        } else if c == '\'' || c == '"' {
            i += 1;
            loop {
                match at(i) {
                    None => break,
                    Some(q) if q == c => {
                        i += 1;
                        if at(i) == Some(c) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    Some(_) => i += 1,
                }
            }
            let text = chars_text(&chars, start, i);
            if c == '\'' {
                Tok::Str(text)
            } else {
                Tok::Ident(text)
            }
        } else if c == ':' && at(i + 1) == Some(':') {
            i += 2;
            Tok::Punct("::".to_owned())
        } else if c == ':' && at(i + 1).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            i += 1;
            while at(i).is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                i += 1;
            }
            Tok::Param(chars_text(&chars, start + 1, i))
        } else if is_word_char(c) {
            while at(i).is_some_and(is_word_char) {
                i += 1;
            }
            Tok::Word(chars_text(&chars, start, i))
        } else {
            i += 1;
            Tok::Punct(c.to_string())
        };
        toks.push(tok);
    }
    toks
}

pub(super) fn chars_text(chars: &[char], from: usize, to: usize) -> String {
    chars
        .iter()
        .skip(from)
        .take(to.saturating_sub(from))
        .collect()
}

/// The index of the next token after `i` that is not space.
pub(super) fn next_sig(toks: &[Tok], i: usize) -> Option<usize> {
    (i + 1..toks.len()).find(|&j| !matches!(toks.get(j), Some(Tok::Space(_))))
}

/// The index of the `)` closing the `(` at `open`.
pub(super) fn closing_paren(toks: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, tok) in toks.iter().enumerate().skip(open) {
        if tok.is_punct("(") {
            depth += 1;
        } else if tok.is_punct(")") {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Translated {
    Sql { text: String, first_word: String },
    Copy(CopySpec),
}

/// The index of the last token before `i` that is not space.
pub(super) fn prev_sig(toks: &[Tok], i: usize) -> Option<usize> {
    (0..i)
        .rev()
        .find(|&j| !matches!(toks.get(j), Some(Tok::Space(_))))
}

/// The name of the CHECK constraint standing for `VARCHAR(n)`'s byte limit on `column`
/// (PostgreSQL's `VARCHAR(n)` counts characters; Redshift's counts bytes).
pub(super) fn varchar_constraint(n: u32, column: &str) -> String {
    let column: String = column
        .trim_matches('"')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let name = format!("{VARCHAR_CHECK}{n}_{column}");
    name.chars().take(63).collect()
}

/// The prefix of [`varchar_constraint`] names.
pub(super) const VARCHAR_CHECK: &str = "rs_varchar_";

/// Drop the constraint clause starting at `toks[i]` (`UNIQUE`, `PRIMARY KEY`, `FOREIGN KEY`,
/// `REFERENCES`, with their column lists and a `CONSTRAINT name` before them); returns the index
/// of its last token. A table constraint also takes the comma before it out of `out`.
pub(super) fn drop_constraint(toks: &[Tok], i: usize, out: &mut Vec<Tok>) -> usize {
    let mut end = i;
    let skip_list = |from: usize| -> usize {
        match next_sig(toks, from) {
            Some(open) if toks.get(open).is_some_and(|t| t.is_punct("(")) => {
                closing_paren(toks, open).unwrap_or(open)
            }
            _ => from,
        }
    };
    let tok = toks.get(i);
    if tok.is_some_and(|t| t.is_word("PRIMARY") || t.is_word("FOREIGN")) {
        end = next_sig(toks, end).unwrap_or(end); // KEY
    }
    let table_level = next_sig(toks, end)
        .and_then(|j| toks.get(j))
        .is_some_and(|t| t.is_punct("("))
        && !tok.is_some_and(|t| t.is_word("REFERENCES"));
    if tok.is_some_and(|t| t.is_word("REFERENCES")) {
        end = next_sig(toks, end).unwrap_or(end); // the table
    }
    end = skip_list(end);
    if tok.is_some_and(|t| t.is_word("FOREIGN")) {
        // REFERENCES table [(cols)]
        if let Some(r) =
            next_sig(toks, end).filter(|&j| toks.get(j).is_some_and(|t| t.is_word("REFERENCES")))
        {
            end = next_sig(toks, r).unwrap_or(r);
            end = skip_list(end);
        }
    }
    // `CONSTRAINT name` before it, then (table level) the comma.
    let trim = |out: &mut Vec<Tok>| {
        while matches!(out.last(), Some(Tok::Space(_))) {
            out.pop();
        }
    };
    trim(out);
    if matches!(out.last(), Some(Tok::Word(_) | Tok::Ident(_))) {
        let name = out.len().saturating_sub(1);
        if prev_sig(out, name)
            .and_then(|j| out.get(j))
            .is_some_and(|t| t.is_word("CONSTRAINT"))
        {
            let keep = prev_sig(out, name).unwrap_or(name);
            out.truncate(keep);
            trim(out);
        }
    }
    if table_level && out.last().is_some_and(|t| t.is_punct(",")) {
        out.pop();
    }
    out.push(Tok::Space(" ".to_owned()));
    end
}

pub(super) fn translate(sql: &str, params: &[(String, String)]) -> Result<Translated, String> {
    let toks = tokenize(sql);
    let sig: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t, Tok::Space(_)))
        .collect();
    let first_word = match sig.first() {
        Some(Tok::Word(w)) => w.clone(),
        _ => String::new(),
    };
    if first_word.eq_ignore_ascii_case("COPY") {
        if let Some(spec) = parse_copy(&toks)? {
            return Ok(Translated::Copy(spec));
        }
    }
    // Table DDL: CREATE [TEMP] TABLE, ALTER TABLE.
    let table_ddl = (first_word.eq_ignore_ascii_case("CREATE")
        || first_word.eq_ignore_ascii_case("ALTER"))
        && sig.iter().take(4).any(|t| t.is_word("TABLE"));
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    let mut i = 0;
    while let Some(tok) = toks.get(i) {
        let next = next_sig(&toks, i);
        let next_tok = next.and_then(|j| toks.get(j));
        let word = |w: &str| tok.is_word(w);
        if word("SUPER") {
            out.push(Tok::Word("JSONB".to_owned()));
        } else if word("GETDATE") {
            out.push(Tok::Word("now".to_owned()));
        } else if word("svv_columns") {
            out.push(Tok::Word("information_schema.columns".to_owned()));
        } else if word("SYSDATE") {
            out.push(Tok::Word("now()".to_owned()));
        } else if ((word("DISTSTYLE") || word("ENCODE")) && matches!(next_tok, Some(Tok::Word(_))))
            || (word("BACKUP") && next_tok.is_some_and(|t| t.is_word("YES") || t.is_word("NO")))
        {
            // The keyword and its argument are dropped.
            i = next.unwrap_or(i);
        } else if (word("COMPOUND") || word("INTERLEAVED"))
            && next_tok.is_some_and(|t| t.is_word("SORTKEY"))
        {
            // dropped; SORTKEY follows
        } else if word("SORTKEY") || word("DISTKEY") {
            if let Some(open) = next.filter(|_| next_tok.is_some_and(|t| t.is_punct("("))) {
                i = closing_paren(&toks, open).unwrap_or(open);
            }
        } else if table_ddl
            && (word("UNIQUE")
                || word("REFERENCES")
                || (word("PRIMARY") && next_tok.is_some_and(|t| t.is_word("KEY")))
                || (word("FOREIGN") && next_tok.is_some_and(|t| t.is_word("KEY"))))
        {
            // Redshift accepts these and enforces none of them: neither does the translation.
            i = drop_constraint(&toks, i, &mut out);
        } else if word("VARCHAR") && next_tok.is_some_and(|t| t.is_punct("(")) {
            let open = next.unwrap_or(i);
            let close = closing_paren(&toks, open).unwrap_or(open);
            let inner: Vec<&Tok> = toks
                .iter()
                .take(close)
                .skip(open + 1)
                .filter(|t| !matches!(t, Tok::Space(_)))
                .collect();
            let n: Option<u32> = match inner.as_slice() {
                [t] if t.is_word("MAX") => Some(65_535),
                [Tok::Word(w)] => w.parse().ok(),
                _ => None,
            };
            let Some(n) = n else {
                return Err(format!(
                    "ERROR: syntax error at or near \"{}\"",
                    inner.first().map_or(String::new(), |t| t.text())
                ));
            };
            if !(1..=65_535).contains(&n) {
                return Err(format!(
                    "ERROR: length for type varchar cannot exceed 65535\n  Detail: VARCHAR({n})"
                ));
            }
            out.push(Tok::Word(format!("VARCHAR({n})")));
            // A column definition: `( name VARCHAR(n)`, `, name VARCHAR(n)`, `COLUMN name …`.
            let name = prev_sig(&toks, i).filter(|_| table_ddl);
            let before = name
                .and_then(|j| prev_sig(&toks, j))
                .and_then(|j| toks.get(j));
            if let Some(column @ (Tok::Ident(_) | Tok::Word(_))) = name.and_then(|j| toks.get(j)) {
                if before.is_some_and(|t| {
                    t.is_punct("(") || t.is_punct(",") || t.is_word("COLUMN") || t.is_word("ADD")
                }) {
                    out.push(Tok::Space(" ".to_owned()));
                    out.push(Tok::Word(format!(
                        "CONSTRAINT \"{}\" CHECK (octet_length({}) <= {n})",
                        varchar_constraint(n, &column.text()),
                        column.text()
                    )));
                }
            }
            i = close;
        } else if let Tok::Param(name) = tok {
            match params.iter().find(|(n, _)| n == name) {
                Some((_, value)) => out.push(Tok::Str(quote_literal(value))),
                None => out.push(tok.clone()),
            }
        } else {
            out.push(tok.clone());
        }
        i += 1;
    }
    Ok(Translated::Sql {
        text: out.iter().map(Tok::text).collect(),
        first_word,
    })
}

/// Parse `COPY table [(cols)] FROM 's3://…' options`; `None` when the source is not S3.
pub(super) fn parse_copy(toks: &[Tok]) -> Result<Option<CopySpec>, String> {
    let sig: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t, Tok::Space(_)))
        .collect();
    let mut it = sig.iter().skip(1).peekable();
    let mut table = String::new();
    while let Some(tok) = it.peek() {
        if tok.is_word("FROM") || tok.is_punct("(") {
            break;
        }
        table.push_str(&tok.text());
        it.next();
    }
    let mut columns = None;
    if it.peek().is_some_and(|t| t.is_punct("(")) {
        it.next();
        let mut list = Vec::new();
        for tok in it.by_ref() {
            match tok {
                Tok::Punct(p) if p == ")" => break,
                Tok::Punct(p) if p == "," => {}
                Tok::Word(w) => list.push(w.to_lowercase()),
                Tok::Ident(q) => list.push(q.trim_matches('"').replace("\"\"", "\"")),
                other => return Err(format!("ERROR: syntax error at or near {}", other.text())),
            }
        }
        columns = Some(list);
    }
    if !it.next().is_some_and(|t| t.is_word("FROM")) {
        return Err("ERROR: syntax error: COPY without FROM".to_owned());
    }
    let source = match it.next() {
        Some(Tok::Str(s)) if s.starts_with("'s3://") => s.trim_matches('\'').replace("''", "'"),
        _ => return Ok(None),
    };
    let mut spec = CopySpec {
        table,
        columns,
        source,
        manifest: false,
        gzip: false,
        ignore_case: false,
        parquet: false,
    };
    let mut json = false;
    let mut seen: Vec<String> = Vec::new();
    while let Some(tok) = it.next() {
        let Tok::Word(word) = tok else {
            if tok.is_punct(";") {
                continue;
            }
            return Err(format!(
                "ERROR: COPY option {} is not covered by the Data API test server",
                tok.text()
            ));
        };
        let upper = word.to_ascii_uppercase();
        // `FORMAT AS JSON`: FORMAT and AS are noise words before the format.
        if !matches!(upper.as_str(), "FORMAT" | "AS") {
            if seen.contains(&upper) {
                return Err(refuse(
                    "conflicting or redundant options",
                    &format!("COPY option {upper} is given twice"),
                ));
            }
            seen.push(upper.clone());
        }
        match upper.as_str() {
            "MANIFEST" => spec.manifest = true,
            "GZIP" => spec.gzip = true,
            "PARQUET" => spec.parquet = true,
            "FORMAT" | "AS" => {}
            "JSON" => {
                json = true;
                if let Some(Tok::Str(arg)) = it.peek() {
                    let arg = arg.trim_matches('\'').to_ascii_lowercase();
                    match arg.as_str() {
                        "auto" => {}
                        "auto ignorecase" => spec.ignore_case = true,
                        other => {
                            return Err(format!(
                                "ERROR: COPY JSON '{other}' (JSONPaths) is not covered by the Data API test server"
                            ))
                        }
                    }
                    it.next();
                }
            }
            "IAM_ROLE" | "CREDENTIALS" | "ACCESS_KEY_ID" | "SECRET_ACCESS_KEY"
            | "SESSION_TOKEN" | "REGION" | "TIMEFORMAT" | "DATEFORMAT" => {
                if it.peek().is_some_and(|t| t.is_word("AS")) {
                    it.next();
                }
                it.next();
            }
            "ACCEPTINVCHARS" => {
                if it.peek().is_some_and(|t| t.is_word("AS")) {
                    it.next();
                }
                if matches!(it.peek(), Some(Tok::Str(_))) {
                    it.next();
                }
            }
            "BLANKSASNULL" | "EMPTYASNULL" | "ACCEPTANYDATE" => {}
            "COMPUPDATE" | "STATUPDATE" => {
                if it.peek().is_some_and(|t| {
                    ["ON", "OFF", "TRUE", "FALSE", "PRESET"]
                        .iter()
                        .any(|w| t.is_word(w))
                }) {
                    it.next();
                }
            }
            "MAXERROR" => {
                if it.peek().is_some_and(|t| t.is_word("AS")) {
                    it.next();
                }
                if !it.next().is_some_and(|t| t.is_word("0")) {
                    return Err(
                        "ERROR: COPY MAXERROR above 0 is not covered by the Data API test server"
                            .to_owned(),
                    );
                }
            }
            _ => {
                return Err(format!(
                    "ERROR: COPY option {word} is not covered by the Data API test server"
                ))
            }
        }
    }
    if spec.parquet {
        // *COPY from columnar data formats*: only FROM, IAM_ROLE, CREDENTIALS, STATUPDATE,
        // MANIFEST and the key parameters; columns map by position (no column list).
        let allowed = [
            "PARQUET",
            "MANIFEST",
            "IAM_ROLE",
            "CREDENTIALS",
            "ACCESS_KEY_ID",
            "SECRET_ACCESS_KEY",
            "SESSION_TOKEN",
            "STATUPDATE",
        ];
        if let Some(other) = seen.iter().find(|o| !allowed.contains(&o.as_str())) {
            return Err(refuse(
                &format!("COPY option {other} is not supported with FORMAT AS PARQUET"),
                "columnar COPY takes only FROM, IAM_ROLE, CREDENTIALS, STATUPDATE, MANIFEST and key parameters",
            ));
        }
        if spec.columns.is_some() {
            return Err(
                "ERROR: a column list with FORMAT AS PARQUET is not covered by the Data API test server (columnar COPY maps columns by position)"
                    .to_owned(),
            );
        }
    } else if !json {
        return Err(
            "ERROR: COPY without FORMAT AS JSON or PARQUET is not covered by the Data API test server"
                .to_owned(),
        );
    }
    check_copy_authorization(&seen)?;
    Ok(Some(spec))
}

/// COPY's authorization (*Authorization parameters*): an IAM role (`IAM_ROLE`), or key-based
/// credentials (`ACCESS_KEY_ID` with `SECRET_ACCESS_KEY`, `SESSION_TOKEN` only with them), or
/// the `CREDENTIALS` string; exactly one of the three.
pub(super) fn check_copy_authorization(seen: &[String]) -> Result<(), String> {
    let has = |o: &str| seen.iter().any(|s| s == o);
    let kinds = [
        has("IAM_ROLE"),
        has("ACCESS_KEY_ID") || has("SECRET_ACCESS_KEY") || has("SESSION_TOKEN"),
        has("CREDENTIALS"),
    ];
    let given = kinds.iter().filter(|k| **k).count();
    if given == 0 {
        return Err(refuse(
            "COPY needs an IAM_ROLE, CREDENTIALS or ACCESS_KEY_ID and SECRET_ACCESS_KEY",
            "COPY without authorization",
        ));
    }
    if given > 1 {
        return Err(refuse(
            "conflicting or redundant options",
            "COPY takes one kind of authorization: IAM_ROLE, CREDENTIALS, or ACCESS_KEY_ID and SECRET_ACCESS_KEY",
        ));
    }
    if (has("ACCESS_KEY_ID") || has("SECRET_ACCESS_KEY") || has("SESSION_TOKEN"))
        && !(has("ACCESS_KEY_ID") && has("SECRET_ACCESS_KEY"))
    {
        return Err(refuse(
            "ACCESS_KEY_ID and SECRET_ACCESS_KEY go together",
            "COPY with half a key pair",
        ));
    }
    Ok(())
}
