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

mod yaml;

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
mod flow_depth;

/// Go's float formatting where YAML numbers become JSON text.
mod go_float;
