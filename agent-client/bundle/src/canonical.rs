//! OPA-exact canonical bytes for hashing bundle files (`.signatures.json` `files[].hash`).
//!
//! OPA hashes raw bytes for most files, but *structured* files (basename `data.json`, `data.yaml`,
//! `signatures.json` or `.manifest`, see [`is_structured`]) are parsed and re-encoded first
//! (`opa:v1/bundle/verify.go` `VerifyBundleFile`, `opa:v1/bundle/hash.go` `walk`):
//!
//! 1. `util.Unmarshal` (`opa:v1/util/json.go`): strip a UTF-8 BOM; if the bytes are valid JSON,
//!    decode them with `UseNumber`, otherwise convert them from YAML (`sigs.k8s.io/yaml`, i.e.
//!    go-yaml v2 resolution) and decode the converted JSON.
//! 2. `walk`: compact JSON, object keys in byte-wise order, every scalar through a Go
//!    `json.Encoder` with HTML escaping off.
//!
//! Number literals from JSON text are kept as written (`1.0`, `1e3`, `-0`), duplicate keys keep the
//! last value, lone surrogate escapes and invalid UTF-8 become U+FFFD, and strings are escaped as Go
//! >= 1.22 does (`\b`, `\f`, `\u2028`, `\u2029`, `\u00XX` for other controls, `<>&` as is).
//!
//! Deliberate differences from OPA, all of which refuse input rather than hash it differently:
//! JSON nested deeper than [`MAX_DEPTH`] (Go allows 10000); YAML nested deeper than 128 levels
//! (`yaml_serde`'s limit) or whose flow nesting a linear pre-scan cannot bound (`flow_depth`);
//! YAML that is not UTF-8 (go-yaml also reads UTF-16); YAML local tags such as `!foo`; and
//! `!!int`/`!!bool` on YAML 1.1-only forms (`!!bool yes`), which `yaml_serde` refuses.
//!
//! Known YAML differences that still hash, because `yaml_serde` hides how a scalar was written
//! (plain scalars are told from quoted ones by where the borrowed text sits in the input):
//! a tag on the line before its plain scalar (`!!str` newline `yes`) is not seen, so the scalar is
//! resolved as if untagged; `!!binary` values are hashed as their base64 text (OPA decodes them,
//! its docs call them unsupported); hex, octal or binary integers above `u64::MAX` become floats
//! (go-yaml keeps them as strings); and when keys of different types convert to the same string
//! (`1` and `"1"`, `0.0` and `0`), the later one wins where Go's map order picks at random.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// Deepest JSON nesting (arrays plus objects) accepted before [`CanonicalError::TooDeep`].
pub const MAX_DEPTH: usize = 512;

const BOM: &[u8] = b"\xEF\xBB\xBF";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Why a structured file has no canonical form. Messages are lowercase and point at the input.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CanonicalError {
    /// `offset` is a byte offset into the file (BOM included); `column` counts characters.
    #[error("invalid JSON at line {line} column {column}: {kind}")]
    Json {
        kind: JsonSyntax,
        offset: usize,
        line: usize,
        column: usize,
    },
    #[error(
        "JSON nests deeper than {limit} levels at line {line} column {column}; flatten the document"
    )]
    TooDeep {
        limit: usize,
        offset: usize,
        line: usize,
        column: usize,
    },
    #[error("`{text}` is not a JSON number literal")]
    InvalidNumber { text: String },
    #[error("YAML is not valid UTF-8 (byte {offset}); save the file as UTF-8")]
    YamlNotUtf8 { offset: usize },
    #[error("invalid YAML: {detail}")]
    Yaml { detail: String },
    #[error(
        "YAML may nest flow collections deeper than {limit} levels at line {line} column {column}; flatten the document"
    )]
    YamlTooDeep {
        limit: usize,
        offset: usize,
        line: usize,
        column: usize,
    },
    #[error("YAML mapping key {key} has no JSON form; use a string, integer, float or boolean key")]
    YamlKey { key: String },
    #[error("YAML value `{value}` has no JSON form; quote it to make it a string")]
    YamlNonFinite { value: String },
    #[error("YAML tag `{tag}` is not supported; remove the tag")]
    YamlTag { tag: String },
    #[error("YAML merge key `<<` needs a mapping or a sequence of mappings as its value")]
    YamlMerge,
}

/// What is wrong at the reported JSON position.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonSyntax {
    #[error("unexpected end of input")]
    UnexpectedEnd,
    #[error("expected a value")]
    ExpectedValue,
    #[error("expected `\"` to start an object key")]
    ExpectedKey,
    #[error("expected `:` after the object key")]
    ExpectedColon,
    #[error("expected `,` or `}}`")]
    ExpectedCommaOrBrace,
    #[error("expected `,` or `]`")]
    ExpectedCommaOrBracket,
    #[error("trailing comma; remove the `,` before the closing bracket")]
    TrailingComma,
    #[error("invalid literal; expected `true`, `false` or `null`")]
    InvalidLiteral,
    #[error("leading zeros are not allowed in numbers")]
    LeadingZero,
    #[error("invalid number; expected a digit")]
    InvalidNumber,
    #[error("control character in string; escape it as `\\u00XX`")]
    ControlCharacter,
    #[error(
        "invalid escape; use one of `\\\"` `\\\\` `\\/` `\\b` `\\f` `\\n` `\\r` `\\t` `\\uXXXX`"
    )]
    InvalidEscape,
    #[error("`\\u` must be followed by four hex digits")]
    InvalidUnicodeEscape,
    #[error("unterminated string")]
    UnterminatedString,
    #[error("unexpected characters after the top-level value")]
    TrailingCharacters,
}

/// A JSON number literal kept exactly as written, like Go's `json.Number`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JsonNumber(String);

impl JsonNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for JsonNumber {
    type Err = CanonicalError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parser = JsonParser::starting_at(text.as_bytes(), 0);
        match parser.number() {
            Ok(number) if parser.pos == text.len() => Ok(number),
            _ => Err(CanonicalError::InvalidNumber {
                text: text.to_owned(),
            }),
        }
    }
}

impl From<i64> for JsonNumber {
    fn from(value: i64) -> Self {
        Self(value.to_string())
    }
}

impl From<u64> for JsonNumber {
    fn from(value: u64) -> Self {
        Self(value.to_string())
    }
}

impl fmt::Display for JsonNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed structured document as OPA sees it before hashing. Objects are ordered by the UTF-8
/// bytes of their keys, which is the canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CanonValue {
    Null,
    Bool(bool),
    Number(JsonNumber),
    String(String),
    Array(Vec<CanonValue>),
    Object(BTreeMap<String, CanonValue>),
}

impl CanonValue {
    /// Strict JSON (BOM allowed), as Go's decoder with `UseNumber` reads it.
    pub fn parse_json(bytes: &[u8]) -> Result<Self, CanonicalError> {
        JsonParser::new(bytes).document()
    }

    /// OPA's `util.Unmarshal`: JSON when the bytes are valid JSON, otherwise YAML converted to
    /// JSON. A failure reports the YAML error.
    pub fn parse_structured(bytes: &[u8]) -> Result<Self, CanonicalError> {
        parse_like_opa(bytes, Prefer::Yaml)
    }

    /// The canonical encoding that OPA hashes.
    pub fn to_canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_canonical(&mut out);
        out
    }

    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(true) => out.extend_from_slice(b"true"),
            Self::Bool(false) => out.extend_from_slice(b"false"),
            Self::Number(number) => out.extend_from_slice(number.0.as_bytes()),
            Self::String(text) => encode_string(text, out),
            Self::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_canonical(out);
                }
                out.push(b']');
            }
            Self::Object(entries) => {
                out.push(b'{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    encode_string(key, out);
                    out.push(b':');
                    value.write_canonical(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// Whether OPA hashes the file at `path` canonically (`IsStructuredDoc`): its basename is exactly
/// `data.json`, `data.yaml`, `signatures.json` or `.manifest`. `data.yml` and `.signatures.json`
/// are not structured (the latter is never hashed).
pub fn is_structured(path: &str) -> bool {
    matches!(
        go_base(path),
        "data.json" | "data.yaml" | "signatures.json" | ".manifest"
    )
}

/// Canonical bytes of strict JSON (no YAML fallback).
pub fn canonical_json(bytes: &[u8]) -> Result<Vec<u8>, CanonicalError> {
    CanonValue::parse_json(bytes).map(|value| value.to_canonical_bytes())
}

/// Canonical bytes of a `data.yaml` exactly as OPA computes them: like [`CanonValue::parse_structured`],
/// valid JSON text is taken as JSON (keeping number literals), anything else as YAML.
pub fn canonical_yaml(bytes: &[u8]) -> Result<Vec<u8>, CanonicalError> {
    CanonValue::parse_structured(bytes).map(|value| value.to_canonical_bytes())
}

/// The bytes OPA hashes for the file at `path`: canonical for structured files, raw otherwise.
/// OPA reads every structured file with `util.Unmarshal`, so a `data.json` or `.manifest` that is
/// YAML hashes as YAML; when both parses fail the JSON error is reported, except for `data.yaml`.
pub fn canonical_bytes<'a>(path: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, CanonicalError> {
    if !is_structured(path) {
        return Ok(Cow::Borrowed(bytes));
    }
    let prefer = if go_base(path) == "data.yaml" {
        Prefer::Yaml
    } else {
        Prefer::Json
    };
    parse_like_opa(bytes, prefer).map(|value| Cow::Owned(value.to_canonical_bytes()))
}

/// Lowercase hex SHA-256 of [`canonical_bytes`]: the `hash` of a `SHA-256` `files` entry.
pub fn file_sha256_hex(path: &str, bytes: &[u8]) -> Result<String, CanonicalError> {
    let digest = Sha256::digest(canonical_bytes(path, bytes)?.as_ref());
    let mut hex = String::with_capacity(64);
    for &byte in digest.iter() {
        hex.push(char::from(hex_digit(byte >> 4)));
        hex.push(char::from(hex_digit(byte)));
    }
    Ok(hex)
}

/// Lowercase hex digit of the low four bits.
fn hex_digit(nibble: u8) -> u8 {
    HEX.get(usize::from(nibble & 0x0F)).copied().unwrap_or(b'0')
}

/// Go's `filepath.Base` on a slash-separated path.
fn go_base(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { "." } else { "/" };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefer {
    Json,
    Yaml,
}

fn parse_like_opa(bytes: &[u8], prefer: Prefer) -> Result<CanonValue, CanonicalError> {
    let json_error = match CanonValue::parse_json(bytes) {
        Ok(value) => return Ok(value),
        // Hostile depth is refused outright instead of being retried as YAML.
        Err(err @ CanonicalError::TooDeep { .. }) => return Err(err),
        Err(err) => err,
    };
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    match yaml::parse(body) {
        Ok(value) => Ok(value),
        Err(_) if prefer == Prefer::Json => Err(json_error),
        Err(yaml_error) => Err(yaml_error),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON: a strict recursive-descent parser with Go's decoding rules.

struct JsonParser<'a> {
    src: &'a [u8],
    pos: usize,
    /// Where the document starts (after a BOM); line and column are counted from here.
    start: usize,
    depth: usize,
}

impl<'a> JsonParser<'a> {
    fn new(src: &'a [u8]) -> Self {
        // `util.Unmarshal` strips the BOM only when more bytes follow (`len(bs) > 2`), which
        // holds for any input that starts with the three BOM bytes.
        let start = if src.starts_with(BOM) { BOM.len() } else { 0 };
        Self::starting_at(src, start)
    }

    fn starting_at(src: &'a [u8], start: usize) -> Self {
        Self {
            src,
            pos: start,
            start,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, at: usize) -> Option<u8> {
        self.src.get(at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn err_at(&self, at: usize, kind: JsonSyntax) -> CanonicalError {
        let (line, column) = line_column(self.src, self.start, at);
        CanonicalError::Json {
            kind,
            offset: at,
            line,
            column,
        }
    }

    fn err(&self, kind: JsonSyntax) -> CanonicalError {
        let kind = if self.peek().is_none() {
            JsonSyntax::UnexpectedEnd
        } else {
            kind
        };
        self.err_at(self.pos, kind)
    }

    fn document(mut self) -> Result<CanonValue, CanonicalError> {
        self.skip_ws();
        let value = self.value()?;
        self.skip_ws();
        if self.pos < self.src.len() {
            return Err(self.err(JsonSyntax::TrailingCharacters));
        }
        Ok(value)
    }

    fn value(&mut self) -> Result<CanonValue, CanonicalError> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(CanonValue::String),
            Some(b't') => self.literal(b"true", CanonValue::Bool(true)),
            Some(b'f') => self.literal(b"false", CanonValue::Bool(false)),
            Some(b'n') => self.literal(b"null", CanonValue::Null),
            Some(b'-' | b'0'..=b'9') => self.number().map(CanonValue::Number),
            _ => Err(self.err(JsonSyntax::ExpectedValue)),
        }
    }

    fn literal(&mut self, word: &[u8], value: CanonValue) -> Result<CanonValue, CanonicalError> {
        for (i, expected) in word.iter().enumerate() {
            if self.peek_at(self.pos + i) != Some(*expected) {
                self.pos += i;
                return Err(self.err(JsonSyntax::InvalidLiteral));
            }
        }
        self.pos += word.len();
        Ok(value)
    }

    fn enter(&mut self) -> Result<(), CanonicalError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let (line, column) = line_column(self.src, self.start, self.pos);
            return Err(CanonicalError::TooDeep {
                limit: MAX_DEPTH,
                offset: self.pos,
                line,
                column,
            });
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn object(&mut self) -> Result<CanonValue, CanonicalError> {
        self.enter()?;
        let mut entries = BTreeMap::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(CanonValue::Object(entries));
        }
        loop {
            match self.peek() {
                Some(b'"') => {}
                Some(b'}') if !entries.is_empty() => {
                    return Err(self.err(JsonSyntax::TrailingComma));
                }
                _ => return Err(self.err(JsonSyntax::ExpectedKey)),
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.err(JsonSyntax::ExpectedColon));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value()?;
            // Go decodes into a map: the last of duplicate keys wins.
            entries.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b'}') => break,
                _ => return Err(self.err(JsonSyntax::ExpectedCommaOrBrace)),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(CanonValue::Object(entries))
    }

    fn array(&mut self) -> Result<CanonValue, CanonicalError> {
        self.enter()?;
        let mut items = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(CanonValue::Array(items));
        }
        loop {
            if self.peek() == Some(b']') && !items.is_empty() {
                return Err(self.err(JsonSyntax::TrailingComma));
            }
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                Some(b']') => break,
                _ => return Err(self.err(JsonSyntax::ExpectedCommaOrBracket)),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(CanonValue::Array(items))
    }

    fn digits(&mut self) -> usize {
        let from = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - from
    }

    fn required_digits(&mut self) -> Result<(), CanonicalError> {
        if self.digits() == 0 {
            return Err(self.err(JsonSyntax::InvalidNumber));
        }
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, kept as text.
    fn number(&mut self) -> Result<JsonNumber, CanonicalError> {
        let from = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.err(JsonSyntax::LeadingZero));
                }
            }
            _ => self.required_digits()?,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.required_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.required_digits()?;
        }
        let literal = self.src.get(from..self.pos).unwrap_or_default();
        Ok(JsonNumber(
            literal.iter().copied().map(char::from).collect(),
        ))
    }

    fn string(&mut self) -> Result<String, CanonicalError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err_at(open, JsonSyntax::UnterminatedString)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(0x00..=0x1F) => return Err(self.err(JsonSyntax::ControlCharacter)),
                Some(byte @ 0x20..=0x7F) => {
                    out.push(char::from(byte));
                    self.pos += 1;
                }
                Some(_) => {
                    let (ch, width) = decode_go_rune(self.src.get(self.pos..).unwrap_or_default());
                    out.push(ch);
                    self.pos += width;
                }
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), CanonicalError> {
        let at = self.pos;
        let Some(kind) = self.peek_at(at + 1) else {
            self.pos += 1;
            return Err(self.err(JsonSyntax::UnterminatedString));
        };
        self.pos += 2;
        let ch = match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let Some(unit) = hex4(self.src, self.pos) else {
                    return Err(self.err_at(at, JsonSyntax::InvalidUnicodeEscape));
                };
                self.pos += 4;
                self.utf16_unit(unit)
            }
            _ => return Err(self.err_at(at, JsonSyntax::InvalidEscape)),
        };
        out.push(ch);
        Ok(())
    }

    /// Go's `unquote`: a high surrogate pairs with an immediately following `\u` low surrogate;
    /// any other surrogate becomes U+FFFD and the next escape is read on its own.
    fn utf16_unit(&mut self, unit: u32) -> char {
        if !(0xD800..0xE000).contains(&unit) {
            return char::from_u32(unit).unwrap_or('\u{FFFD}');
        }
        if unit < 0xDC00
            && self.peek() == Some(b'\\')
            && self.peek_at(self.pos + 1) == Some(b'u')
            && let Some(low @ 0xDC00..=0xDFFF) = hex4(self.src, self.pos + 2)
        {
            self.pos += 6;
            let scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            return char::from_u32(scalar).unwrap_or('\u{FFFD}');
        }
        '\u{FFFD}'
    }
}

fn hex4(src: &[u8], at: usize) -> Option<u32> {
    let digits = src.get(at..at.checked_add(4)?)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &b| Some(acc * 16 + char::from(b).to_digit(16)?))
}

/// Go's `utf8.DecodeRune`: one valid scalar, or U+FFFD consuming a single byte.
fn decode_go_rune(bytes: &[u8]) -> (char, usize) {
    let width = match bytes.first() {
        Some(0x00..=0x7F) => 1,
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => return ('\u{FFFD}', 1),
    };
    bytes
        .get(..width)
        .and_then(|seq| std::str::from_utf8(seq).ok())
        .and_then(|seq| seq.chars().next())
        .map_or(('\u{FFFD}', 1), |ch| (ch, width))
}

/// 1-based line and character column of byte `at`, counted from `start` (after a BOM).
fn line_column(src: &[u8], start: usize, at: usize) -> (usize, usize) {
    let before = src.get(start..at.min(src.len())).unwrap_or_default();
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = 1 + before
        .get(line_start..)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count();
    (line, column)
}

/// Go's `encodeState.string` with `escapeHTML == false` (Go >= 1.22 writes `\b` and `\f`).
fn encode_string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for ch in text.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\u{2028}' => out.extend_from_slice(b"\\u2028"),
            '\u{2029}' => out.extend_from_slice(b"\\u2029"),
            '\u{0}'..='\u{1f}' => {
                let code = u8::try_from(ch).unwrap_or(0);
                out.extend_from_slice(b"\\u00");
                out.push(hex_digit(code >> 4));
                out.push(hex_digit(code));
            }
            _ => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

// ---------------------------------------------------------------------------------------------
// YAML: `yaml_serde` events, resolved the way go-yaml v2 and `sigs.k8s.io/yaml` do.

mod yaml {
    use super::{
        BTreeMap, CanonValue, CanonicalError, Cell, DeserializeSeed, EnumAccess, JsonNumber,
        MapAccess, SeqAccess, Visitor, de, flow_depth, fmt, go_float,
    };

    pub(super) fn parse(bytes: &[u8]) -> Result<CanonValue, CanonicalError> {
        let text = std::str::from_utf8(bytes).map_err(|err| CanonicalError::YamlNotUtf8 {
            offset: err.valid_up_to(),
        })?;
        flow_depth::check(bytes)?;
        let failure = Cell::new(None);
        let seed = NodeSeed {
            input: text,
            failure: &failure,
        };
        // go-yaml v2's `Unmarshal` reads the first document and ignores the rest.
        let Some(document) = yaml_serde::Deserializer::from_str(text).next() else {
            return Ok(CanonValue::Null);
        };
        match seed.deserialize(document) {
            Ok(node) => node.into_value().map_err(|poison| poison.err),
            Err(err) => Err(failure.take().unwrap_or_else(|| CanonicalError::Yaml {
                detail: err.to_string(),
            })),
        }
    }

    /// A YAML node after go-yaml resolution, before it becomes a JSON value or key.
    enum Node {
        Null,
        Bool(bool),
        Int(i64),
        /// Above `i64::MAX`: go-yaml yields `uint64`, which `sigs.k8s.io/yaml` rejects as a key.
        Uint(u64),
        Float(f64),
        Str(String),
        /// A plain, untagged `<<`.
        Merge,
        Collection(CanonValue),
        Poisoned(Poison),
    }

    /// An error `sigs.k8s.io/yaml` only meets after go-yaml decoded the document, so it vanishes
    /// with its value when a later equal key replaces that value in go-yaml's map. A bad key
    /// fails `convertToJSONableObject` (`at_convert`); a non-finite float fails only the final
    /// `json.Marshal`, so it also vanishes when a key of another type maps to the same string.
    struct Poison {
        err: CanonicalError,
        at_convert: bool,
    }

    /// Keeps the poison that fails first in Go: conversion before marshalling.
    fn worse(current: Option<Poison>, new: Poison) -> Option<Poison> {
        match current {
            Some(old) if old.at_convert || !new.at_convert => Some(old),
            _ => Some(new),
        }
    }

    /// Go's equality of decoded map keys (`map[interface{}]interface{}`): typed, `-0 == 0`,
    /// and no NaN equals another.
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum KeyId {
        Null,
        Bool(bool),
        Int(i64),
        Uint(u64),
        Float(u64),
        Nan(usize),
        Str(String),
    }

    impl Node {
        fn into_value(self) -> Result<CanonValue, Poison> {
            Ok(match self {
                Self::Null => CanonValue::Null,
                Self::Bool(b) => CanonValue::Bool(b),
                Self::Int(i) => CanonValue::Number(JsonNumber::from(i)),
                Self::Uint(u) => CanonValue::Number(JsonNumber::from(u)),
                Self::Float(f) if f.is_finite() => {
                    CanonValue::Number(JsonNumber(go_float::json(f)))
                }
                Self::Float(f) => {
                    return Err(Poison {
                        err: CanonicalError::YamlNonFinite {
                            value: go_float::yaml_special(f).to_owned(),
                        },
                        at_convert: false,
                    });
                }
                Self::Str(s) => CanonValue::String(s),
                Self::Merge => CanonValue::String("<<".to_owned()),
                Self::Collection(value) => value,
                Self::Poisoned(poison) => return Err(poison),
            })
        }

        fn identity(&self, position: usize) -> KeyId {
            match self {
                Self::Null => KeyId::Null,
                Self::Bool(b) => KeyId::Bool(*b),
                Self::Int(i) => KeyId::Int(*i),
                Self::Uint(u) => KeyId::Uint(*u),
                Self::Float(f) if f.is_nan() => KeyId::Nan(position),
                Self::Float(f) => KeyId::Float(if *f == 0.0 { 0.0f64 } else { *f }.to_bits()),
                Self::Str(s) => KeyId::Str(s.clone()),
                // Never a key here: merges are applied and the others are refused eagerly.
                Self::Merge | Self::Collection(_) | Self::Poisoned(_) => KeyId::Nan(position),
            }
        }

        /// `convertToJSONableObject`'s key conversion.
        fn into_key(self) -> Result<String, CanonicalError> {
            let reject = |key: &str| {
                Err(CanonicalError::YamlKey {
                    key: key.to_owned(),
                })
            };
            match self {
                Self::Str(s) => Ok(s),
                Self::Merge => Ok("<<".to_owned()),
                Self::Int(i) => Ok(i.to_string()),
                Self::Float(f) => Ok(go_float::key(f)),
                Self::Bool(b) => Ok(b.to_string()),
                Self::Uint(u) => reject(&format!("`{u}` (integers above 9223372036854775807)")),
                Self::Null => reject("`null`"),
                Self::Collection(_) | Self::Poisoned(_) => reject("that is a collection"),
            }
        }
    }

    #[derive(Clone, Copy)]
    struct NodeSeed<'a, 'de> {
        /// The whole document, to tell plain scalars from quoted or tagged ones.
        input: &'de str,
        /// The typed error behind a `custom` serde error, if we raised it.
        failure: &'a Cell<Option<CanonicalError>>,
    }

    impl NodeSeed<'_, '_> {
        fn fail<E: de::Error>(&self, err: CanonicalError) -> E {
            let message = err.to_string();
            let first = self.failure.take().unwrap_or(err);
            self.failure.set(Some(first));
            E::custom(message)
        }
    }

    impl<'de> DeserializeSeed<'de> for NodeSeed<'_, 'de> {
        type Value = Node;

        fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
            deserializer.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for NodeSeed<'_, 'de> {
        type Value = Node;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any YAML node")
        }

        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
            Ok(Node::Bool(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
            Ok(Node::Int(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
            Ok(i64::try_from(v).map_or(Node::Uint(v), Node::Int))
        }

        // Beyond 64 bits go-yaml falls back to `ParseFloat`.
        #[expect(
            clippy::cast_precision_loss,
            reason = "go-yaml rounds to float64 here too"
        )]
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
            Ok(Node::Float(v as f64))
        }

        #[expect(
            clippy::cast_precision_loss,
            reason = "go-yaml rounds to float64 here too"
        )]
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
            Ok(Node::Float(v as f64))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
            Ok(Node::Float(v))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
            Ok(Node::Null)
        }

        fn visit_none<E: de::Error>(self) -> Result<Node, E> {
            Ok(Node::Null)
        }

        fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
            deserializer.deserialize_any(self)
        }

        /// Owned strings come from quoted, block or multi-line scalars: never resolved.
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
            Ok(Node::Str(v.to_owned()))
        }

        /// `yaml_serde` resolves plain scalars by YAML 1.2 rules; go-yaml v2 by YAML 1.1 rules,
        /// which also turn `yes`, `off`, `017`, `1_000`, `0X1F` ... into booleans and numbers.
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node, E> {
            if !is_plain_untagged(self.input, v) {
                return Ok(Node::Str(v.to_owned()));
            }
            if v == "<<" {
                return Ok(Node::Merge);
            }
            Ok(resolve_plain(v))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
            let mut items = Vec::new();
            let mut poison = None;
            while let Some(node) = seq.next_element_seed(self)? {
                match node.into_value() {
                    Ok(value) => items.push(value),
                    Err(new) => poison = worse(poison, new),
                }
            }
            Ok(poison.map_or(Node::Collection(CanonValue::Array(items)), Node::Poisoned))
        }

        /// go-yaml decodes into a Go map, where the last of equal keys wins, before
        /// `sigs.k8s.io/yaml` turns keys into strings; keys of different types that become the
        /// same string are resolved here in document order (Go: map order, i.e. random).
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
            let mut slots: Vec<Option<(Node, Node)>> = Vec::new();
            let mut index = BTreeMap::new();
            let mut poison = None;
            let mut set = |slots: &mut Vec<Option<(Node, Node)>>, key: Node, value: Node| {
                let id = key.identity(slots.len());
                if let Some(old) = index.insert(id, slots.len()).and_then(|i| slots.get_mut(i)) {
                    *old = None;
                }
                slots.push(Some((key, value)));
            };
            while let Some(key) = map.next_key_seed(self)? {
                let value = map.next_value_seed(self)?;
                match key {
                    Node::Merge => match merge_sources(value).map_err(|err| self.fail(err))? {
                        Ok(sources) => {
                            for (k, v) in sources {
                                set(&mut slots, Node::Str(k), Node::Collection(v));
                            }
                        }
                        Err(new) => poison = worse(poison, new),
                    },
                    // go-yaml itself refuses these while decoding.
                    Node::Collection(collection) => {
                        let kind = match collection {
                            CanonValue::Array(_) => "that is a sequence",
                            _ => "that is a mapping",
                        };
                        return Err(self.fail(CanonicalError::YamlKey {
                            key: kind.to_owned(),
                        }));
                    }
                    key => set(&mut slots, key, value),
                }
            }
            let mut converted = BTreeMap::new();
            for (key, value) in slots.into_iter().flatten() {
                match (key.into_key(), value.into_value()) {
                    (Err(err), _) => {
                        poison = worse(
                            poison,
                            Poison {
                                err,
                                at_convert: true,
                            },
                        )
                    }
                    (Ok(_), Err(new)) if new.at_convert => poison = worse(poison, new),
                    (Ok(key), value) => {
                        converted.insert(key, value);
                    }
                }
            }
            let mut entries = BTreeMap::new();
            for (key, value) in converted {
                match value {
                    Ok(value) => {
                        entries.insert(key, value);
                    }
                    Err(new) => poison = worse(poison, new),
                }
            }
            Ok(poison.map_or(
                Node::Collection(CanonValue::Object(entries)),
                Node::Poisoned,
            ))
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node, A::Error> {
            let (tag, _) = data.variant::<String>()?;
            let tag = if tag.starts_with('!') {
                tag
            } else {
                format!("!{tag}")
            };
            Err(self.fail(CanonicalError::YamlTag { tag }))
        }
    }

    /// go-yaml v2 `merge`: the entries of a mapping, or of a sequence of mappings where earlier
    /// ones win, in the order to apply them; they override keys set before the `<<` and are
    /// overridden by keys after it. The outer error is go-yaml's own (eager); the inner one a
    /// poisoned source, which fails the mapping unless the mapping itself is replaced.
    fn merge_sources(
        value: Node,
    ) -> Result<Result<Vec<(String, CanonValue)>, Poison>, CanonicalError> {
        match value {
            Node::Collection(CanonValue::Object(merged)) => Ok(Ok(merged.into_iter().collect())),
            Node::Collection(CanonValue::Array(items)) => {
                let mut entries = Vec::new();
                for item in items.into_iter().rev() {
                    let CanonValue::Object(merged) = item else {
                        return Err(CanonicalError::YamlMerge);
                    };
                    entries.extend(merged);
                }
                Ok(Ok(entries))
            }
            Node::Poisoned(poison) => Ok(Err(poison)),
            _ => Err(CanonicalError::YamlMerge),
        }
    }

    /// Whether the borrowed scalar `v` (a slice of `input`) was written plain and untagged.
    /// `yaml_serde` borrows plain and quoted scalars alike; a quoted one sits right after its
    /// quote. A tag (or an anchor then a tag) is looked for earlier on the same line only.
    fn is_plain_untagged(input: &str, v: &str) -> bool {
        let Some(offset) = (v.as_ptr() as usize).checked_sub(input.as_ptr() as usize) else {
            return false;
        };
        let Some(before) = input.as_bytes().get(..offset) else {
            return false;
        };
        if offset + v.len() > input.len() || matches!(before.last(), Some(b'"' | b'\'')) {
            return false;
        }
        let mut end = before.len();
        for _ in 0..2 {
            while end > 0 && matches!(before.get(end - 1), Some(b' ' | b'\t')) {
                end -= 1;
            }
            let token_start = before
                .get(..end)
                .unwrap_or_default()
                .iter()
                .rposition(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b','))
                .map_or(0, |i| i + 1);
            match before.get(token_start) {
                Some(b'!') if token_start < end => return false,
                Some(b'&') if token_start < end => end = token_start,
                _ => break,
            }
        }
        true
    }

    /// go-yaml v2 `resolve` for a plain untagged scalar that YAML 1.2 left a string.
    fn resolve_plain(v: &str) -> Node {
        match v {
            "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
                return Node::Bool(true);
            }
            "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False"
            | "FALSE" => return Node::Bool(false),
            "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
            ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
                return Node::Float(f64::INFINITY);
            }
            "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
            _ => {}
        }
        match v.as_bytes().first() {
            Some(b'.') => go_parse_float(v).map_or_else(|| Node::Str(v.to_owned()), Node::Float),
            Some(b'+' | b'-' | b'0'..=b'9') => {
                // Timestamps (`2001-12-14`) stay strings when decoded into `interface{}`, and
                // none of them parses as a number, so they need no check of their own.
                let plain = v.replace('_', "");
                if let Some(i) = go_parse_int(&plain) {
                    Node::Int(i)
                } else if let Some(u) = go_parse_uint(&plain) {
                    Node::Uint(u)
                } else if let Some(f) = go_parse_float(&plain) {
                    Node::Float(f)
                } else {
                    Node::Str(v.to_owned())
                }
            }
            _ => Node::Str(v.to_owned()),
        }
    }

    /// `strconv.ParseUint(s, 0, 64)`: `0x`, `0o`, `0b` prefixes (any case) and `0` for octal.
    fn go_parse_uint(s: &str) -> Option<u64> {
        let bytes = s.as_bytes();
        let (radix, digits) = match (bytes.first(), bytes.get(1).map(u8::to_ascii_lowercase)) {
            (None, _) => return None,
            (Some(b'0'), Some(b'b')) if bytes.len() >= 3 => (2, s.get(2..)?),
            (Some(b'0'), Some(b'o')) if bytes.len() >= 3 => (8, s.get(2..)?),
            (Some(b'0'), Some(b'x')) if bytes.len() >= 3 => (16, s.get(2..)?),
            (Some(b'0'), _) => (8, s.get(1..)?),
            _ => (10, s),
        };
        digits.chars().try_fold(0u64, |acc, c| {
            acc.checked_mul(u64::from(radix))?
                .checked_add(u64::from(c.to_digit(radix)?))
        })
    }

    /// `strconv.ParseInt(s, 0, 64)`.
    fn go_parse_int(s: &str) -> Option<i64> {
        match s.as_bytes().first() {
            Some(b'-') => 0i64.checked_sub_unsigned(go_parse_uint(s.get(1..)?)?),
            Some(b'+') => i64::try_from(go_parse_uint(s.get(1..)?)?).ok(),
            _ => i64::try_from(go_parse_uint(s)?).ok(),
        }
    }

    /// `strconv.ParseFloat(s, 64)` for decimal text: out of range is an error, underflow is 0.
    fn go_parse_float(s: &str) -> Option<f64> {
        if !is_yaml_style_float(s) {
            return None;
        }
        s.parse::<f64>().ok().filter(|f| f.is_finite())
    }

    /// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
    fn is_yaml_style_float(s: &str) -> bool {
        let b = s.as_bytes();
        let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
        let digits = |i: &mut usize| {
            let from = *i;
            while matches!(b.get(*i), Some(b'0'..=b'9')) {
                *i += 1;
            }
            *i - from
        };
        if b.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                return false;
            }
        } else {
            if digits(&mut i) == 0 {
                return false;
            }
            if b.get(i) == Some(&b'.') {
                i += 1;
                digits(&mut i);
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return false;
            }
        }
        i == b.len()
    }
}

/// A linear pre-scan that bounds YAML flow nesting before `yaml_serde` sees the text: libyaml's
/// scanner spends time proportional to the flow depth on every token, so `[[[[...` in 100 KB
/// takes seconds (12 s in release for 100 KB).
///
/// The estimate never falls below the real flow depth: every `[` and `{` counts, wherever it is;
/// a `]` or `}` lowers the count only outside text that libyaml might read as a scalar, comment or
/// tag. Inside such regions (quoted scalars, comments, tags, block scalars, recognised liberally)
/// closers only undo openers of the same region and a surplus of openers is carried on, so a
/// misread region can overcount but never hide depth. `yaml_serde` refuses more than 128 levels
/// of any nesting, so the limit leaves 128 levels for such surplus: a document is refused here
/// only if its strings and comments hold that many unmatched `[` or `{` beyond its real nesting.
mod flow_depth {
    use super::{CanonicalError, line_column};

    /// Worst case, every token pays for this many levels in libyaml (about 2.5 ns each).
    pub(super) const LIMIT: usize = 256;

    pub(super) fn check(text: &[u8]) -> Result<(), CanonicalError> {
        let mut scan = Scan {
            text,
            depth: 0,
            line_start: 0,
        };
        let mut i = 0;
        while let Some(&c) = text.get(i) {
            let region_end = match c {
                b'\n' => {
                    scan.line_start = i + 1;
                    None
                }
                b'[' | b'{' => {
                    scan.depth += 1;
                    scan.limit(i)?;
                    None
                }
                b']' | b'}' => {
                    scan.depth = scan.depth.saturating_sub(1);
                    None
                }
                b'"' | b'\'' if scan.at_node_start(i) => Some(scan.quoted_end(i, c)),
                b'#' | b'!'
                    if i == 0
                        || matches!(
                            text.get(i - 1),
                            Some(b' ' | b'\t' | b'\r' | b'\n' | b'[' | b'{' | b',')
                        ) =>
                {
                    Some(scan.token_end(i, c == b'#'))
                }
                b'|' | b'>' if scan.at_node_start(i) => Some(scan.block_scalar_end(i)),
                _ => None,
            };
            match region_end {
                Some(end) => {
                    scan.region(i, end)?;
                    i = end;
                }
                None => i += 1,
            }
        }
        Ok(())
    }

    struct Scan<'a> {
        text: &'a [u8],
        depth: usize,
        line_start: usize,
    }

    impl Scan<'_> {
        fn limit(&self, at: usize) -> Result<(), CanonicalError> {
            if self.depth <= LIMIT {
                return Ok(());
            }
            let (line, column) = line_column(self.text, 0, at);
            Err(CanonicalError::YamlTooDeep {
                limit: LIMIT,
                offset: at,
                line,
                column,
            })
        }

        /// Counts `text[from..to]` as a region and keeps line tracking right across it.
        fn region(&mut self, from: usize, to: usize) -> Result<(), CanonicalError> {
            let base = self.depth;
            for (at, &c) in self
                .text
                .get(from..to)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                match c {
                    b'[' | b'{' => {
                        self.depth += 1;
                        self.limit(from + at)?;
                    }
                    b']' | b'}' if self.depth > base => self.depth -= 1,
                    b'\n' => self.line_start = from + at + 1,
                    _ => {}
                }
            }
            Ok(())
        }

        fn byte(&self, at: usize) -> u8 {
            self.text.get(at).copied().unwrap_or(b'\n')
        }

        fn indent(&self, line_start: usize) -> usize {
            let rest = self.text.get(line_start..).unwrap_or_default();
            rest.iter().take_while(|&&b| b == b' ').count()
        }

        /// Where libyaml may start a node: at the start of a line or the document, after an
        /// indicator (`[ { , : - ?`), or after a tag or anchor. Liberal on purpose.
        fn at_node_start(&self, at: usize) -> bool {
            let mut j = at;
            while j > 0 && matches!(self.byte(j - 1), b' ' | b'\t' | b'\r') {
                j -= 1;
            }
            if j <= self.line_start {
                return true;
            }
            let mut k = j;
            while k > 0 && matches!(self.byte(k - 1), b' ' | b'\t' | b'\r' | b'\n') {
                k -= 1;
            }
            if k == 0 || matches!(self.byte(k - 1), b'[' | b'{' | b',' | b':' | b'-' | b'?') {
                return true;
            }
            // The previous token, if short enough to look at, may be a tag or an anchor.
            let token_start = (j.saturating_sub(256)..j).rev().find(|&t| {
                t == 0 || matches!(self.byte(t - 1), b' ' | b'\t' | b'\n' | b'[' | b'{' | b',')
            });
            token_start.is_none_or(|t| matches!(self.byte(t), b'!' | b'&'))
        }

        fn quoted_end(&self, open: usize, quote: u8) -> usize {
            let mut i = open + 1;
            while i < self.text.len() {
                let c = self.byte(i);
                // `\x` in double quotes and `''` in single quotes do not close the scalar.
                let escaped = if quote == b'"' {
                    c == b'\\'
                } else {
                    c == b'\'' && self.byte(i + 1) == b'\''
                };
                if escaped {
                    i += 2;
                } else if c == quote {
                    return i + 1;
                } else {
                    i += 1;
                }
            }
            self.text.len()
        }

        /// A comment runs to the end of the line, a tag to the next blank.
        fn token_end(&self, from: usize, comment: bool) -> usize {
            let rest = self.text.get(from..).unwrap_or_default();
            let len = rest
                .iter()
                .position(|&b| b == b'\n' || (!comment && matches!(b, b' ' | b'\t' | b'\r')))
                .unwrap_or(rest.len());
            from + len
        }

        /// A block scalar's header line plus every following blank line or line indented deeper
        /// than the header line (its content is always deeper than that).
        fn block_scalar_end(&self, from: usize) -> usize {
            let indent = self.indent(self.line_start);
            let mut end = self.token_end(from, true);
            while end < self.text.len() {
                let next = end + 1;
                let line_end = self.token_end(next, true);
                let line = self.text.get(next..line_end).unwrap_or_default();
                let blank = line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'));
                if !blank && self.indent(next) <= indent {
                    break;
                }
                end = line_end;
            }
            end
        }
    }
}

/// Go's float formatting where YAML numbers become JSON text.
mod go_float {
    /// Shortest round-trip decimal digits of a finite, non-zero float and the power of ten of the
    /// first digit, read from Rust's `{:e}` output (also shortest round-trip, like Go's).
    struct Decimal {
        negative: bool,
        digits: Vec<u8>,
        exponent: i32,
    }

    fn decimal(formatted: &str) -> Decimal {
        let mut d = Decimal {
            negative: false,
            digits: Vec::new(),
            exponent: 0,
        };
        let (mut in_exponent, mut exponent_negative) = (false, false);
        for c in formatted.bytes() {
            match c {
                b'-' if in_exponent => exponent_negative = true,
                b'-' => d.negative = true,
                b'e' => in_exponent = true,
                b'0'..=b'9' if in_exponent => {
                    d.exponent = d
                        .exponent
                        .saturating_mul(10)
                        .saturating_add(i32::from(c - b'0'));
                }
                b'0'..=b'9' => d.digits.push(c),
                _ => {}
            }
        }
        if exponent_negative {
            d.exponent = -d.exponent;
        }
        d
    }

    /// `%e` with all digits; `min_exp_digits` is 2 for Go's `%e`, 1 after `encoding/json`
    /// trims `e-07` to `e-7` (positive JSON exponents are always >= 21).
    fn exponential(d: &Decimal, min_exp_digits: usize) -> String {
        let mut out = String::new();
        if d.negative {
            out.push('-');
        }
        let mut digits = d.digits.iter().map(|&c| char::from(c));
        out.extend(digits.next());
        if d.digits.len() > 1 {
            out.push('.');
            out.extend(digits);
        }
        out.push('e');
        out.push(if d.exponent < 0 { '-' } else { '+' });
        out.push_str(&format!("{:0min_exp_digits$}", d.exponent.unsigned_abs()));
        out
    }

    /// `%f` with exactly the significant digits.
    fn fixed(d: &Decimal) -> String {
        let mut out = String::new();
        if d.negative {
            out.push('-');
        }
        let digits: String = d.digits.iter().map(|&c| char::from(c)).collect();
        match usize::try_from(d.exponent) {
            Ok(int_len) if int_len + 1 >= digits.len() => {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len + 1 - digits.len()));
            }
            Ok(int_len) => {
                let (int_part, frac_part) = digits.split_at(int_len + 1);
                out.push_str(int_part);
                out.push('.');
                out.push_str(frac_part);
            }
            Err(_) => {
                out.push_str("0.");
                let zeros = usize::try_from(-i64::from(d.exponent) - 1).unwrap_or(0);
                out.extend(std::iter::repeat_n('0', zeros));
                out.push_str(&digits);
            }
        }
        out
    }

    /// `json.Marshal(float64)`: `%f` unless |f| < 1e-6 or |f| >= 1e21, then trimmed `%e`.
    pub(super) fn json(f: f64) -> String {
        if f == 0.0 {
            return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
        }
        let d = decimal(&format!("{f:e}"));
        let abs = f.abs();
        if !(1e-6..1e21).contains(&abs) {
            exponential(&d, 1)
        } else {
            fixed(&d)
        }
    }

    /// `sigs.k8s.io/yaml` float keys: `strconv.FormatFloat(f, 'g', -1, 32)` with go-yaml's
    /// spelling of infinities and NaN.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "Go converts the key to float32 too"
    )]
    pub(super) fn key(f: f64) -> String {
        let f = f as f32;
        if !f.is_finite() {
            return yaml_special(f64::from(f)).to_owned();
        }
        if f == 0.0 {
            return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
        }
        let d = decimal(&format!("{f:e}"));
        if d.exponent < -4 || d.exponent >= 6 {
            exponential(&d, 2)
        } else {
            fixed(&d)
        }
    }

    /// go-yaml's names for the non-finite floats.
    pub(super) fn yaml_special(f: f64) -> &'static str {
        if f.is_nan() {
            ".nan"
        } else if f.is_sign_negative() {
            "-.inf"
        } else {
            ".inf"
        }
    }
}
