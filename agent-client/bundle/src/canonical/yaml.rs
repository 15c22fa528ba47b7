use super::{
    BTreeMap, CanonValue, CanonicalError, Cell, DeserializeSeed, EnumAccess, JsonNumber, MapAccess,
    SeqAccess, Visitor, de, flow_depth, fmt, go_float,
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
            Self::Float(f) if f.is_finite() => CanonValue::Number(JsonNumber(go_float::json(f))),
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
fn merge_sources(value: Node) -> Result<Result<Vec<(String, CanonValue)>, Poison>, CanonicalError> {
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
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Node::Bool(false);
        }
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
