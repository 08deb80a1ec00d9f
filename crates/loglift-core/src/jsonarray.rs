//! Streaming reader of the elements of one top-level JSON array (a landing file such as
//! `[{…},{…}]`) from any `BufRead`, holding at most one element, capped.
//!
//! A tiny state machine over the bytes (inside a string, after a backslash, nesting depth of
//! `[]{}`) finds where each element starts and ends; the element's bytes are not validated (the
//! caller parses them, and serde_json says what is wrong). An element over the cap is skipped to
//! its end without being buffered and reported [`Element::TooLong`]. A structural problem (not an
//! array, a truncated array, garbage between elements or after the closing `]`) is one
//! [`Element::Malformed`], then the end.

use std::io::{self, BufRead};

use crate::compress::fill_buf_retrying;

/// One element of the array, or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element<'a> {
    /// The element's bytes (0-based `index`), without surrounding whitespace.
    Value { index: u64, bytes: &'a [u8] },
    /// An element longer than the cap, skipped; `bytes` is its full length.
    TooLong { index: u64, bytes: u64 },
    /// The input is not a well-formed array from here on: `index` is the element that could not
    /// be read. Nothing follows it.
    Malformed { index: u64, message: String },
}

/// Where the reader is between elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet: expecting `[`.
    Start,
    /// After `[`: a value or `]`.
    First,
    /// After `,`: a value.
    Next,
    /// After a value: `,` or `]`.
    After,
    /// After the closing `]`, a `Malformed`, or an I/O error.
    Done,
}

/// What one step produced; `Value`'s bytes are in the reader's buffer.
enum Step {
    Value { index: u64 },
    TooLong { index: u64, bytes: u64 },
    Malformed { index: u64, message: String },
    End,
}

/// How an element's bytes ended.
enum Scanned {
    /// Complete: `len` bytes, `too_long` when over the cap.
    Complete { len: u64, too_long: bool },
    /// The input ended inside a string or a nested value.
    Truncated,
}

/// Reads the elements of a top-level JSON array, at most `max_element` bytes each.
#[derive(Debug)]
pub struct ArrayReader<R> {
    reader: R,
    max_element: usize,
    buf: Vec<u8>,
    /// The next element's index.
    index: u64,
    /// Bytes consumed so far, for messages.
    offset: u64,
    state: State,
}

impl<R: BufRead> ArrayReader<R> {
    pub fn new(reader: R, max_element: usize) -> Self {
        ArrayReader {
            reader,
            max_element,
            buf: Vec::new(),
            index: 0,
            offset: 0,
            state: State::Start,
        }
    }

    /// The next element; `None` after the closing `]` (followed only by whitespace) or after a
    /// [`Element::Malformed`]. An I/O error ends the reading too.
    pub fn next_element(&mut self) -> io::Result<Option<Element<'_>>> {
        let step = match self.step() {
            Ok(step) => step,
            Err(e) => {
                self.state = State::Done;
                return Err(e);
            }
        };
        Ok(match step {
            Step::Value { index } => Some(Element::Value {
                index,
                bytes: &self.buf,
            }),
            Step::TooLong { index, bytes } => Some(Element::TooLong { index, bytes }),
            Step::Malformed { index, message } => {
                self.state = State::Done;
                Some(Element::Malformed { index, message })
            }
            Step::End => {
                self.state = State::Done;
                None
            }
        })
    }

    fn step(&mut self) -> io::Result<Step> {
        loop {
            match self.state {
                State::Done => return Ok(Step::End),
                State::Start => {
                    skip_bom(&mut self.reader, &mut self.offset)?;
                    match self.peek_after_whitespace()? {
                        Some(b'[') => {
                            self.consume(1);
                            self.state = State::First;
                        }
                        found => {
                            return Ok(self.malformed(format!("expected `[`, {}", describe(found))))
                        }
                    }
                }
                State::First => match self.peek_after_whitespace()? {
                    Some(b']') => {
                        self.consume(1);
                        return self.after_close();
                    }
                    None => return Ok(self.malformed("truncated: the input ends after `[`".into())),
                    Some(b',') => {
                        return Ok(
                            self.malformed("expected a value or `]` after `[`, found `,`".into())
                        )
                    }
                    Some(_) => return self.value(),
                },
                State::Next => match self.peek_after_whitespace()? {
                    found @ (Some(b']' | b',') | None) => {
                        return Ok(self
                            .malformed(format!("expected a value after `,`, {}", describe(found))))
                    }
                    Some(_) => return self.value(),
                },
                State::After => match self.peek_after_whitespace()? {
                    Some(b',') => {
                        self.consume(1);
                        self.state = State::Next;
                    }
                    Some(b']') => {
                        self.consume(1);
                        return self.after_close();
                    }
                    found => {
                        return Ok(self.malformed(format!(
                            "expected `,` or `]` after element {}, {}",
                            self.index.saturating_sub(1),
                            describe(found)
                        )))
                    }
                },
            }
        }
    }

    /// After the closing `]`: only whitespace may follow.
    fn after_close(&mut self) -> io::Result<Step> {
        self.state = State::Done;
        match self.peek_after_whitespace()? {
            None => Ok(Step::End),
            found => Ok(self.malformed(format!(
                "trailing data after the closing `]`: {}",
                describe(found)
            ))),
        }
    }

    /// Read one element; the next byte is its first.
    fn value(&mut self) -> io::Result<Step> {
        let index = self.index;
        match self.scan()? {
            Scanned::Complete { len, too_long } => {
                self.index += 1;
                self.state = State::After;
                Ok(if too_long {
                    Step::TooLong { index, bytes: len }
                } else {
                    Step::Value { index }
                })
            }
            Scanned::Truncated => {
                Ok(self.malformed(format!("truncated: the input ends inside element {index}")))
            }
        }
    }

    /// Copy the element's bytes into `buf` (up to the cap) until it ends: at the end of its
    /// string or its outermost `]`/`}` (included), or, for a scalar, before the `,`, `]` or
    /// whitespace that follows it.
    fn scan(&mut self) -> io::Result<Scanned> {
        let ArrayReader {
            reader,
            max_element,
            buf,
            offset,
            ..
        } = self;
        buf.clear();
        let mut len: u64 = 0;
        let mut too_long = false;
        let mut depth: u64 = 0;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let chunk = fill_buf_retrying(reader)?;
            if chunk.is_empty() {
                return Ok(if in_string || depth > 0 {
                    Scanned::Truncated
                } else {
                    // A scalar at the end of the input: complete; the missing `]` is reported next.
                    Scanned::Complete { len, too_long }
                });
            }
            let mut end = None;
            for (i, &b) in chunk.iter().enumerate() {
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' if depth > 0 => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    b']' | b',' | b' ' | b'\t' | b'\n' | b'\r' if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let n = end.unwrap_or(chunk.len());
            let part = chunk.get(..n).unwrap_or_default();
            len += n as u64;
            if !too_long {
                if buf.len() + n > *max_element {
                    too_long = true;
                    buf.clear();
                } else {
                    buf.extend_from_slice(part);
                }
            }
            reader.consume(n);
            *offset += n as u64;
            if end.is_some() {
                return Ok(Scanned::Complete { len, too_long });
            }
        }
    }

    /// Skip whitespace and peek at the next byte (`None` at the end of the input).
    fn peek_after_whitespace(&mut self) -> io::Result<Option<u8>> {
        skip_whitespace(&mut self.reader, &mut self.offset)
    }

    fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.offset += n as u64;
    }

    fn malformed(&mut self, message: String) -> Step {
        self.state = State::Done;
        Step::Malformed {
            index: self.index,
            message: format!("{message} (at byte {})", self.offset),
        }
    }
}

/// Skip leading whitespace and a UTF-8 byte order mark, then tell whether the next byte is `[`
/// (without consuming it). `false` at the end of the input.
///
/// A BOM split over several `fill_buf` calls is still skipped; bytes that start like a BOM but
/// are not one are consumed only in that split case (such input is not JSON either way).
pub fn first_byte_is_array<R: BufRead>(reader: &mut R) -> io::Result<bool> {
    let mut offset = 0;
    skip_bom(reader, &mut offset)?;
    Ok(skip_whitespace(reader, &mut offset)? == Some(b'['))
}

const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

fn skip_bom<R: BufRead>(reader: &mut R, offset: &mut u64) -> io::Result<()> {
    let chunk = fill_buf_retrying(reader)?;
    if chunk.starts_with(&BOM) {
        reader.consume(BOM.len());
        *offset += BOM.len() as u64;
        return Ok(());
    }
    if chunk.len() >= BOM.len() || !BOM.starts_with(chunk) || chunk.is_empty() {
        return Ok(());
    }
    // The first buffer is a strict prefix of the BOM: take it byte by byte.
    for expected in BOM {
        match fill_buf_retrying(reader)?.first() {
            Some(&b) if b == expected => {
                reader.consume(1);
                *offset += 1;
            }
            _ => break,
        }
    }
    Ok(())
}

fn skip_whitespace<R: BufRead>(reader: &mut R, offset: &mut u64) -> io::Result<Option<u8>> {
    loop {
        let chunk = fill_buf_retrying(reader)?;
        if chunk.is_empty() {
            return Ok(None);
        }
        match chunk.iter().position(|b| !is_whitespace(*b)) {
            Some(i) => {
                let next = chunk.get(i).copied();
                reader.consume(i);
                *offset += i as u64;
                return Ok(next);
            }
            None => {
                let n = chunk.len();
                reader.consume(n);
                *offset += n as u64;
            }
        }
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn describe(found: Option<u8>) -> String {
    match found {
        None => "found the end of the input".into(),
        Some(b) if b.is_ascii_graphic() => format!("found `{}`", char::from(b)),
        Some(b) => format!("found byte 0x{b:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;
    use std::io::BufReader;

    /// Every element as owned data, chunks of `capacity` bytes at a time.
    fn read_all(input: &[u8], max: usize, capacity: usize) -> Vec<Owned> {
        let mut reader = ArrayReader::new(BufReader::with_capacity(capacity, input), max);
        let mut out = Vec::new();
        while let Some(element) = reader.next_element().unwrap() {
            out.push(Owned::from(element));
            assert!(out.len() < 10_000, "runaway reader");
        }
        // The end stays the end.
        assert_eq!(reader.next_element().unwrap(), None);
        out
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Owned {
        Value(u64, String),
        TooLong(u64, u64),
        Malformed(u64, String),
    }

    impl From<Element<'_>> for Owned {
        fn from(element: Element<'_>) -> Self {
            match element {
                Element::Value { index, bytes } => {
                    Owned::Value(index, String::from_utf8_lossy(bytes).into_owned())
                }
                Element::TooLong { index, bytes } => Owned::TooLong(index, bytes),
                Element::Malformed { index, message } => Owned::Malformed(index, message),
            }
        }
    }

    fn v(index: u64, text: &str) -> Owned {
        Owned::Value(index, text.into())
    }

    /// The elements, with each `Malformed` message cut to the part before " (at byte".
    fn shape(input: &str, max: usize) -> Vec<Owned> {
        let mut last = None;
        for capacity in [1, 2, 3, 7, 64, 8192] {
            let got: Vec<Owned> = read_all(input.as_bytes(), max, capacity)
                .into_iter()
                .map(|e| match e {
                    Owned::Malformed(i, m) => {
                        Owned::Malformed(i, m.split(" (at byte").next().unwrap().to_owned())
                    }
                    other => other,
                })
                .collect();
            if let Some(previous) = &last {
                assert_eq!(
                    &got, previous,
                    "{input:?}: capacity {capacity} reads differently"
                );
            }
            last = Some(got);
        }
        last.unwrap()
    }

    fn malformed(index: u64, message: &str) -> Owned {
        Owned::Malformed(index, message.into())
    }

    #[test]
    fn reads_elements_of_every_kind() {
        let cases: Vec<(&str, Vec<Owned>)> = vec![
            ("[]", vec![]),
            ("[ ]", vec![]),
            (" \n\t[\r\n]\n ", vec![]),
            ("\u{feff}[1]", vec![v(0, "1")]),
            ("[1,2 , 3]", vec![v(0, "1"), v(1, "2"), v(2, "3")]),
            (
                r#"[{"a":"]}[{,\"x"},"s\\",true,null,-1.5e3]"#,
                vec![
                    v(0, r#"{"a":"]}[{,\"x"}"#),
                    v(1, r#""s\\""#),
                    v(2, "true"),
                    v(3, "null"),
                    v(4, "-1.5e3"),
                ],
            ),
            (
                "[[1,[2,[]]], [] ,{}, {\"k\": [ {} ]}]",
                vec![
                    v(0, "[1,[2,[]]]"),
                    v(1, "[]"),
                    v(2, "{}"),
                    v(3, "{\"k\": [ {} ]}"),
                ],
            ),
            (
                "[\"é😀\", {\"ü\":\"\\u00fc\"}]",
                vec![v(0, "\"é😀\""), v(1, "{\"ü\":\"\\u00fc\"}")],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(shape(input, 1 << 20), want, "input {input:?}");
        }
    }

    #[test]
    fn too_long_elements_are_skipped_and_the_rest_read() {
        let input = r#"[{"a":1}, {"long":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}, "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy", 123456789012345678901234567890, [1], 2]"#;
        assert_eq!(
            shape(input, 16),
            vec![
                v(0, r#"{"a":1}"#),
                Owned::TooLong(1, 43),
                Owned::TooLong(2, 33),
                Owned::TooLong(3, 30),
                v(4, "[1]"),
                v(5, "2"),
            ]
        );
        // Exactly at the cap is fine.
        assert_eq!(
            shape("[1234, 12345]", 4),
            vec![v(0, "1234"), Owned::TooLong(1, 5)]
        );
        assert_eq!(shape("[\"ab\"]", 0), vec![Owned::TooLong(0, 4)]);
    }

    #[test]
    fn structural_problems_are_one_malformed() {
        let cases: Vec<(&str, Vec<Owned>)> = vec![
            (
                "",
                vec![malformed(0, "expected `[`, found the end of the input")],
            ),
            (
                "   \n",
                vec![malformed(0, "expected `[`, found the end of the input")],
            ),
            ("{\"a\":1}", vec![malformed(0, "expected `[`, found `{`")]),
            ("\u{feff}x", vec![malformed(0, "expected `[`, found `x`")]),
            (
                "[",
                vec![malformed(0, "truncated: the input ends after `[`")],
            ),
            (
                "[1,",
                vec![
                    v(0, "1"),
                    malformed(1, "expected a value after `,`, found the end of the input"),
                ],
            ),
            (
                "[1",
                vec![
                    v(0, "1"),
                    malformed(
                        1,
                        "expected `,` or `]` after element 0, found the end of the input",
                    ),
                ],
            ),
            (
                "[{\"a\":[1,2]",
                vec![malformed(0, "truncated: the input ends inside element 0")],
            ),
            (
                "[\"abc",
                vec![malformed(0, "truncated: the input ends inside element 0")],
            ),
            (
                "[,1]",
                vec![malformed(0, "expected a value or `]` after `[`, found `,`")],
            ),
            (
                "[1,]",
                vec![
                    v(0, "1"),
                    malformed(1, "expected a value after `,`, found `]`"),
                ],
            ),
            (
                "[1 2]",
                vec![
                    v(0, "1"),
                    malformed(1, "expected `,` or `]` after element 0, found `2`"),
                ],
            ),
            (
                "[{} {}]",
                vec![
                    v(0, "{}"),
                    malformed(1, "expected `,` or `]` after element 0, found `{`"),
                ],
            ),
            (
                "[1] x",
                vec![
                    v(0, "1"),
                    malformed(1, "trailing data after the closing `]`: found `x`"),
                ],
            ),
            (
                "[] []",
                vec![malformed(
                    0,
                    "trailing data after the closing `]`: found `[`",
                )],
            ),
            (
                "[1]\u{0}",
                vec![
                    v(0, "1"),
                    malformed(1, "trailing data after the closing `]`: found byte 0x00"),
                ],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(shape(input, 1 << 20), want, "input {input:?}");
        }
    }

    #[test]
    fn malformed_messages_say_where() {
        let got = read_all(b"[1, 2] oops", 100, 4);
        assert_eq!(
            got.last(),
            Some(&malformed(
                2,
                "trailing data after the closing `]`: found `o` (at byte 7)"
            ))
        );
    }

    #[test]
    fn first_byte_is_array_skips_whitespace_and_bom() {
        let cases: &[(&[u8], bool, &[u8])] = &[
            (b"[1]", true, b"[1]"),
            (b"  \r\n\t[1]", true, b"[1]"),
            (b"\xef\xbb\xbf [", true, b"["),
            (b"{\"a\":1}\n", false, b"{\"a\":1}\n"),
            (b"\xef\xbb\xbf{}", false, b"{}"),
            (b"", false, b""),
            (b"   ", false, b""),
            (b"\xef\xbbx", false, b"\xef\xbbx"),
        ];
        for (input, want, rest) in cases {
            for capacity in [3, 64] {
                let mut reader = BufReader::with_capacity(capacity, *input);
                assert_eq!(
                    first_byte_is_array(&mut reader).unwrap(),
                    *want,
                    "input {input:02x?}"
                );
                let mut left = Vec::new();
                std::io::Read::read_to_end(&mut reader, &mut left).unwrap();
                assert_eq!(&left[..], *rest, "input {input:02x?}, capacity {capacity}");
            }
        }
        // A BOM split over 1-byte buffers is still skipped.
        let mut reader = BufReader::with_capacity(1, &b"\xef\xbb\xbf[]"[..]);
        assert!(first_byte_is_array(&mut reader).unwrap());
    }

    #[test]
    fn io_errors_end_the_reading() {
        struct Failing;
        impl std::io::Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::ConnectionReset.into())
            }
        }
        let mut reader = ArrayReader::new(
            BufReader::new(std::io::Read::chain(&b"[1,"[..], Failing)),
            10,
        );
        assert_eq!(
            reader.next_element().unwrap(),
            Some(Element::Value {
                index: 0,
                bytes: b"1"
            })
        );
        assert_eq!(
            reader.next_element().map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
        assert_eq!(reader.next_element().unwrap(), None);
    }

    #[test]
    fn many_elements_stream_through_a_small_buffer() {
        // Throughput sanity, no timing: 20,000 objects through an 8 KiB buffer.
        let mut input = b"[".to_vec();
        for i in 0..20_000 {
            if i > 0 {
                input.extend_from_slice(b",\n");
            }
            input.extend_from_slice(
                format!(r#"{{"id":{i},"name":"event \"{i}\" [x]"}}"#).as_bytes(),
            );
        }
        input.push(b']');
        let mut reader = ArrayReader::new(BufReader::with_capacity(8192, &input[..]), 1024);
        let mut count = 0u64;
        while let Some(element) = reader.next_element().unwrap() {
            let Element::Value { index, bytes } = element else {
                panic!("{element:?}")
            };
            let value: Value = serde_json::from_slice(bytes).unwrap();
            assert_eq!(value["id"], Value::from(index));
            count += 1;
        }
        assert_eq!(count, 20_000);
    }

    // ---- property: any array of JSON values, with any whitespace, reads back element by element

    fn json_string() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z\"\\\\\\[\\]{},: \u{e9}\u{1F600}\n\t\u{0}]{0,12}",
            any::<String>(),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            (-4000i32..4000).prop_map(|n| Value::from(f64::from(n) / 4.0)),
            json_string().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((json_string(), inner), 0..6)
                    .prop_map(|entries| Value::Object(entries.into_iter().collect())),
            ]
        })
    }

    /// Serialises with whitespace drawn from `ws` between every token.
    struct Spacer<'a> {
        ws: &'a [u8],
        at: usize,
        out: Vec<u8>,
    }

    impl Spacer<'_> {
        fn space(&mut self) {
            let n = self.ws.get(self.at).copied().unwrap_or(0) as usize % 4;
            self.at += 1;
            for i in 0..n {
                self.out
                    .push([b' ', b'\n', b'\t', b'\r'][(self.at + i) % 4]);
            }
        }

        fn value(&mut self, value: &Value) {
            match value {
                Value::Array(items) => {
                    self.out.push(b'[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            self.out.push(b',');
                        }
                        self.space();
                        self.value(item);
                        self.space();
                    }
                    self.out.push(b']');
                }
                Value::Object(entries) => {
                    self.out.push(b'{');
                    for (i, (key, item)) in entries.iter().enumerate() {
                        if i > 0 {
                            self.out.push(b',');
                        }
                        self.space();
                        self.out.extend(serde_json::to_vec(key).unwrap());
                        self.space();
                        self.out.push(b':');
                        self.space();
                        self.value(item);
                        self.space();
                    }
                    self.out.push(b'}');
                }
                scalar => self.out.extend(serde_json::to_vec(scalar).unwrap()),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arrays_read_back_element_by_element(
            elements in proptest::collection::vec(json_value(), 0..8),
            ws in proptest::collection::vec(any::<u8>(), 0..512),
            capacity in 1usize..40,
            max in 1usize..200,
        ) {
            let mut spacer = Spacer { ws: &ws, at: 0, out: Vec::new() };
            spacer.space();
            spacer.out.push(b'[');
            let mut lengths = Vec::new();
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    spacer.out.push(b',');
                }
                spacer.space();
                let start = spacer.out.len();
                spacer.value(element);
                lengths.push((spacer.out.len() - start) as u64);
                spacer.space();
            }
            spacer.out.push(b']');
            spacer.space();
            let input = spacer.out;

            // Uncapped: every element parses back equal.
            let got = read_all(&input, usize::MAX, capacity);
            prop_assert_eq!(got.len(), elements.len(), "{}", String::from_utf8_lossy(&input));
            for (i, (owned, element)) in got.iter().zip(&elements).enumerate() {
                let Owned::Value(index, text) = owned else {
                    return Err(TestCaseError::fail(format!("element {i}: {owned:?}")));
                };
                prop_assert_eq!(*index, i as u64);
                let parsed: Value = serde_json::from_str(text)
                    .map_err(|e| TestCaseError::fail(format!("element {i} {text:?}: {e}")))?;
                prop_assert_eq!(&parsed, element);
            }

            // Capped: exactly the elements longer than the cap are TooLong, with their length.
            let got = read_all(&input, max, capacity);
            prop_assert_eq!(got.len(), elements.len());
            for (i, (owned, len)) in got.iter().zip(&lengths).enumerate() {
                match owned {
                    Owned::Value(index, text) => {
                        prop_assert_eq!(*index, i as u64);
                        prop_assert!(*len <= max as u64);
                        prop_assert_eq!(text.len() as u64, *len);
                    }
                    Owned::TooLong(index, bytes) => {
                        prop_assert_eq!(*index, i as u64);
                        prop_assert!(*len > max as u64);
                        prop_assert_eq!(bytes, len);
                    }
                    Owned::Malformed(..) => {
                        return Err(TestCaseError::fail(format!("element {i}: {owned:?}")));
                    }
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_end(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            capacity in 1usize..16,
        ) {
            let mut reader = ArrayReader::new(BufReader::with_capacity(capacity, &bytes[..]), 32);
            let mut steps = 0;
            while let Some(element) = reader.next_element().unwrap() {
                steps += 1;
                prop_assert!(steps <= bytes.len() + 1);
                if let Element::Value { bytes: b, .. } = element {
                    prop_assert!(!b.is_empty() && b.len() <= 32);
                }
            }
        }
    }
}
