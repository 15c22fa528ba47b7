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
