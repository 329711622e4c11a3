//! Value helpers shared by validation and matching: numbers, IP addresses, wildcards (the
//! ignore-case comparisons are in `casemap`).

use std::net::Ipv6Addr;

use crate::error::{PatternError, PatternErrorKind};

/// A JSON number from a pattern or an event: its text, and its value when the text denotes a
/// double exactly (`300`, `3e2`, `0.1`; not `0.10000000000000001` or `1e400`).
///
/// # Example
/// ```
/// use weir::ir::Number;
/// assert_eq!(Number::new("3e2").value(), Some(300.0));
/// assert_eq!(Number::new("0.10000000000000001").value(), None);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    text: String,
    value: Option<f64>,
}

impl Number {
    /// Reads a JSON number's text.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::ir::Number::new("-0").value(), Some(0.0));
    /// ```
    pub fn new(text: &str) -> Number {
        Number {
            text: text.to_string(),
            value: exact_f64(text),
        }
    }

    /// The number as written.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::ir::Number::new("1.50").text(), "1.50");
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The number's value, when the text names a double exactly (see the type's docs).
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::ir::Number::new("1.50").value(), Some(1.5));
    /// ```
    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

/// The double a JSON number text names, when the text is the exact decimal value of the
/// double's shortest round-trip form; `-0` is `0`. Huge or over-precise texts give `None`.
///
/// # Example
/// ```
/// assert_eq!(weir::ir::exact_f64("1E+2"), Some(100.0));
/// assert_eq!(weir::ir::exact_f64("1e400"), None);
/// ```
pub fn exact_f64(text: &str) -> Option<f64> {
    let parsed = finite_f64(text)?;
    is_exact(text, parsed).then_some(parsed)
}

/// A number text in one spelling for text comparisons: the exponent marker as `e` with an
/// explicit sign (`1E400` and `1e400` -> `1e+400`), as serde_json prints kept number texts.
///
/// # Example
/// ```
/// assert_eq!(weir::ir::number_spelling("1E400"), "1e+400");
/// assert_eq!(weir::ir::number_spelling("2.5e-3"), "2.5e-3");
/// ```
pub fn number_spelling(text: &str) -> std::borrow::Cow<'_, str> {
    match text.find(['e', 'E']) {
        Some(i) if !text[i + 1..].starts_with(['+', '-']) => {
            format!("{}e+{}", &text[..i], &text[i + 1..]).into()
        }
        Some(i) if text.as_bytes()[i] == b'E' => {
            format!("{}e{}", &text[..i], &text[i + 1..]).into()
        }
        _ => text.into(),
    }
}

/// The double nearest to a JSON number text, if finite (`-0` as `0`); whether the text names
/// it exactly is [`is_exact`]'s question.
pub(crate) fn finite_f64(text: &str) -> Option<f64> {
    let parsed: f64 = text.parse().ok()?;
    if !parsed.is_finite() {
        return None;
    }
    Some(if parsed == 0.0 { 0.0 } else { parsed })
}

/// Whether `text` is exactly the decimal form Java prints for `parsed` (its nearest double):
/// the shortest round-trip form, except that Java never prints fewer than two significant
/// digits, and among two-digit forms picks the one nearest the double. The two agree except
/// for subnormals of low precision: `5e-324` names the double Java prints `4.9E-324`.
pub(crate) fn is_exact(text: &str, parsed: f64) -> bool {
    let bytes = text.as_bytes();
    if parsed != 0.0 && parsed.abs() < f64::MIN_POSITIVE {
        return is_exact_subnormal(bytes, parsed);
    }
    let digits = bytes.strip_prefix(b"-").unwrap_or(bytes);
    // Plain integers of up to 15 digits: always exact (DBL_DIG).
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        return true;
    }
    let mut buf = ryu::Buffer::new();
    let shortest = buf.format_finite(parsed);
    // Most texts in the wild are already the shortest form.
    if shortest.as_bytes() == bytes {
        return true;
    }
    let Some(wanted) = Decimal::read(bytes) else {
        return false;
    };
    // Zero, and up to 15 significant digits away from the subnormal and overflow ends,
    // always survive decimal -> double -> shortest decimal (DBL_DIG).
    if wanted.len == 0 || (wanted.len <= 15 && (1e-290..1e290).contains(&parsed.abs())) {
        return true;
    }
    Decimal::read(shortest.as_bytes()).is_some_and(|s| s == wanted)
}

/// [`is_exact`] for a subnormal double: its shortest form, or, when that has one significant
/// digit, the nearest two-digit form.
fn is_exact_subnormal(text: &[u8], parsed: f64) -> bool {
    let Some(wanted) = Decimal::read(text) else {
        return false;
    };
    let mut buf = ryu::Buffer::new();
    let shortest = Decimal::read(buf.format_finite(parsed).as_bytes());
    match shortest {
        Some(s) if s.len >= 2 => s == wanted,
        _ => Decimal::read(format!("{parsed:.1e}").as_bytes()).is_some_and(|s| s == wanted),
    }
}

/// A decimal as (sign, significant digits, exponent of the last digit), digits without
/// leading or trailing zeros; at most 24 significant digits (more cannot name a double
/// exactly).
#[derive(PartialEq, Eq)]
struct Decimal {
    neg: bool,
    digits: [u8; 24],
    len: usize,
    exp: i64,
}

impl Decimal {
    fn read(text: &[u8]) -> Option<Decimal> {
        let (neg, rest) = match text.split_first() {
            Some((b'-', r)) => (true, r),
            _ => (false, text),
        };
        let mut d = Decimal {
            neg,
            digits: [0; 24],
            len: 0,
            exp: 0,
        };
        let mut pending_zeros = 0usize;
        let mut frac_len = 0i64;
        let mut in_frac = false;
        let mut i = 0;
        while i < rest.len() {
            let c = rest[i];
            match c {
                b'0'..=b'9' => {
                    if in_frac {
                        frac_len += 1;
                    }
                    if c == b'0' {
                        if d.len > 0 {
                            pending_zeros += 1;
                        }
                    } else {
                        if d.len + pending_zeros + 1 > d.digits.len() {
                            return None;
                        }
                        d.len += pending_zeros;
                        pending_zeros = 0;
                        d.digits[d.len] = c;
                        d.len += 1;
                    }
                }
                b'.' if !in_frac => in_frac = true,
                b'e' | b'E' => break,
                _ => return None,
            }
            i += 1;
        }
        let mut exp: i64 = 0;
        if i < rest.len() {
            let e = &rest[i + 1..];
            let (eneg, digits) = match e.split_first() {
                Some((b'-', r)) => (true, r),
                Some((b'+', r)) => (false, r),
                _ => (false, e),
            };
            if digits.is_empty() {
                return None;
            }
            for &c in digits {
                if !c.is_ascii_digit() {
                    return None;
                }
                exp = (exp * 10 + i64::from(c - b'0')).min(1 << 40);
            }
            if eneg {
                exp = -exp;
            }
        }
        if d.len == 0 {
            d.neg = false;
            return Some(d);
        }
        d.exp = exp - frac_len + pending_zeros as i64;
        Some(d)
    }
}

/// Parses an IP address the way event-ruler does: dotted IPv4 (leading zeros allowed, each
/// part at most 255) or any standard IPv6 form (hex in either case). Returns the 16-byte
/// IPv6 form (IPv4 mapped).
///
/// # Example
/// ```
/// assert_eq!(weir::ir::parse_ip("010.000.000.001"), weir::ir::parse_ip("10.0.0.1"));
/// assert_eq!(weir::ir::parse_ip("2001:DB8::1"), weir::ir::parse_ip("2001:db8:0:0::1"));
/// assert_eq!(weir::ir::parse_ip("10.0.0"), None);
/// ```
pub fn parse_ip(text: &str) -> Option<[u8; 16]> {
    if let Some(v4) = parse_ipv4(text) {
        let mut out = [0u8; 16];
        out[10] = 0xff;
        out[11] = 0xff;
        out[12..].copy_from_slice(&v4);
        return Some(out);
    }
    if text.contains(':') {
        return text.parse::<Ipv6Addr>().ok().map(|a| a.octets());
    }
    None
}

pub(crate) fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = text.split('.');
    for slot in &mut out {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u16 = part.parse().ok()?;
        *slot = u8::try_from(v).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// An IP network from a `cidr` operator.
///
/// # Example
/// ```
/// let net = weir::ir::Cidr::parse("10.0.0.0/24").unwrap();
/// assert!(net.contains("10.0.0.255"));
/// assert!(!net.contains("10.0.1.0"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cidr {
    text: String,
    net: [u8; 16],
    /// Prefix length in the 128-bit space.
    bits: u32,
    v4: bool,
}

impl Cidr {
    /// Parses `ADDRESS/BITS`. The error is a [`PatternError`] of kind
    /// [`Invalid`](PatternErrorKind::Invalid) with AWS's reason text and no place (the
    /// pattern parser places it at the operand).
    ///
    /// # Example
    /// ```
    /// let err = weir::ir::Cidr::parse("bad-filter").unwrap_err();
    /// assert_eq!(err.kind(), weir::PatternErrorKind::Invalid);
    /// assert_eq!(err.reason(), "Malformed CIDR, one '/' required");
    /// assert_eq!(err.span(), None);
    /// ```
    pub fn parse(text: &str) -> Result<Cidr, PatternError> {
        let invalid = |reason: String| PatternError::bare(PatternErrorKind::Invalid, reason);
        let mut parts = text.split('/');
        let (Some(addr), Some(bits), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(invalid("Malformed CIDR, one '/' required".into()));
        };
        let bits: u32 = bits
            .parse()
            .map_err(|_| invalid("Malformed CIDR, mask bits must be an integer".into()))?;
        let v4 = parse_ipv4(addr).is_some();
        let net =
            parse_ip(addr).ok_or_else(|| invalid(format!("Nonstandard IP address: {addr}")))?;
        let max = if v4 { 32 } else { 128 };
        if bits >= max {
            return Err(invalid(format!(
                "Malformed CIDR, mask bits must be less than {max}"
            )));
        }
        let bits = if v4 { bits + 96 } else { bits };
        Ok(Cidr {
            text: text.to_string(),
            net: mask(net, bits),
            bits,
            v4,
        })
    }

    /// Whether the string is an IP address inside this network.
    ///
    /// # Example
    /// ```
    /// let net = weir::ir::Cidr::parse("2001:db8::/32").unwrap();
    /// assert!(net.contains("2001:DB8:ffff::1"));
    /// assert!(!net.contains("not an ip"));
    /// ```
    pub fn contains(&self, value: &str) -> bool {
        if self.v4 && parse_ipv4(value).is_none() {
            return false;
        }
        match parse_ip(value) {
            Some(ip) => mask(ip, self.bits) == self.net,
            None => false,
        }
    }

    /// The CIDR as written.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::ir::Cidr::parse("10.0.0.0/8").unwrap().text(), "10.0.0.0/8");
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn mask(ip: [u8; 16], bits: u32) -> [u8; 16] {
    let v = u128::from_be_bytes(ip);
    let m = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    (v & m).to_be_bytes()
}

/// One piece of a wildcard pattern.
///
/// # Example
/// ```
/// use weir::ir::{Wildcard, WildcardPiece};
/// let w = Wildcard::parse(r"a\**").unwrap();
/// assert_eq!(w.pieces(), &[WildcardPiece::Literal("a*".into()), WildcardPiece::Star]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WildcardPiece {
    /// Characters that must appear as they are.
    Literal(String),
    /// `*`: zero or more characters.
    Star,
}

/// A parsed `wildcard` operand.
///
/// # Example
/// ```
/// let w = weir::ir::Wildcard::parse("dir/*.png").unwrap();
/// assert!(w.matches("dir/a.png"));
/// assert!(!w.matches("dir/a.jpg"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wildcard {
    text: String,
    pieces: Vec<WildcardPiece>,
}

/// AWS's reason for a pattern whose wildcards are too complex (see
/// [`Options::max_complexity`](crate::Options::max_complexity)).
///
/// # Example
/// ```
/// let err = weir::Pattern::parse(r#"{"a": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}"#).unwrap_err();
/// assert_eq!(err.reason(), weir::ir::TOO_COMPLEX);
/// ```
pub const TOO_COMPLEX: &str = "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character";

impl Wildcard {
    /// Parses a wildcard operand. The error is a [`PatternError`] with AWS's reason text and
    /// no place (the pattern parser places it at the operand), of kind
    /// [`Invalid`](PatternErrorKind::Invalid). Whether wildcards are too complex is a question
    /// about the whole pattern, which [`crate::Pattern::parse`] answers.
    ///
    /// # Example
    /// ```
    /// use weir::{ir::Wildcard, PatternErrorKind};
    /// let err = Wildcard::parse("a**").unwrap_err();
    /// assert_eq!(err.kind(), PatternErrorKind::Invalid);
    /// assert_eq!(err.reason(), "Consecutive wildcard characters at pos 2");
    /// assert!(Wildcard::parse("*:*:*:*:*:event-bus/*").is_ok());
    /// ```
    pub fn parse(text: &str) -> Result<Wildcard, PatternError> {
        let invalid = |reason: String| PatternError::bare(PatternErrorKind::Invalid, reason);
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().enumerate().peekable();
        let mut last_was_star = false;
        while let Some((pos, c)) = chars.next() {
            match c {
                '*' => {
                    if last_was_star {
                        return Err(invalid(format!(
                            "Consecutive wildcard characters at pos {pos}"
                        )));
                    }
                    if !literal.is_empty() {
                        pieces.push(WildcardPiece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(WildcardPiece::Star);
                    last_was_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('*' | '\\'))) => literal.push(e),
                    _ => return Err(invalid(format!("Invalid escape character at pos {pos}"))),
                },
                other => literal.push(other),
            }
            last_was_star = false;
        }
        if !literal.is_empty() {
            pieces.push(WildcardPiece::Literal(literal));
        }
        Ok(Wildcard {
            text: text.to_string(),
            pieces,
        })
    }

    /// The operand as written.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::ir::Wildcard::parse("a*").unwrap().text(), "a*");
    /// ```
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The pieces: literals and stars.
    ///
    /// # Example
    /// ```
    /// assert_eq!(weir::ir::Wildcard::parse("*").unwrap().pieces().len(), 1);
    /// ```
    pub fn pieces(&self) -> &[WildcardPiece] {
        &self.pieces
    }

    /// Whether `s` matches: literals in order, stars spanning anything. Linear-time greedy
    /// matching (each star extends to the leftmost next literal).
    ///
    /// # Example
    /// ```
    /// let w = weir::ir::Wildcard::parse("*a*b").unwrap();
    /// assert!(w.matches("xaxb") && w.matches("ab") && !w.matches("ba"));
    /// ```
    pub fn matches(&self, s: &str) -> bool {
        let mut rest = s;
        let mut pieces = self.pieces.as_slice();
        // Leading literal must be a prefix.
        if let Some(WildcardPiece::Literal(l)) = pieces.first() {
            match rest.strip_prefix(l.as_str()) {
                Some(r) => rest = r,
                None => return false,
            }
            pieces = &pieces[1..];
        }
        if pieces.is_empty() {
            return rest.is_empty();
        }
        // Trailing literal must be a suffix (after a star).
        let tail = match pieces.last() {
            Some(WildcardPiece::Literal(l)) => {
                if rest.len() < l.len() || !rest.ends_with(l.as_str()) {
                    return false;
                }
                rest = &rest[..rest.len() - l.len()];
                pieces = &pieces[..pieces.len() - 1];
                true
            }
            _ => false,
        };
        let _ = tail;
        // Middle literals: leftmost occurrence, in order.
        for piece in pieces {
            if let WildcardPiece::Literal(l) = piece {
                match rest.find(l.as_str()) {
                    Some(i) => rest = &rest[i + l.len()..],
                    None => return false,
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactness() {
        assert_eq!(exact_f64("300"), Some(300.0));
        assert_eq!(exact_f64("300.000"), Some(300.0));
        assert_eq!(exact_f64("3.0e2"), Some(300.0));
        assert_eq!(exact_f64("0.1"), Some(0.1));
        assert_eq!(exact_f64("-0.0"), Some(0.0));
        assert_eq!(exact_f64("0e999999999999999999999"), Some(0.0));
        assert_eq!(exact_f64("0.10000000000000001"), None);
        assert_eq!(exact_f64("9007199254740993"), None);
        assert_eq!(exact_f64("9007199254740992"), Some(9007199254740992.0));
        assert_eq!(exact_f64("1e-400"), None);
        assert_eq!(exact_f64("1e99999999999999999999"), None);
        assert_eq!(exact_f64("1.7976931348623157e308"), Some(f64::MAX));
        // Java prints the smallest doubles with two digits: 4.9E-324, 9.9E-324.
        assert_eq!(exact_f64("5e-324"), None);
        assert_eq!(exact_f64("-5E-324"), None);
        assert_eq!(exact_f64("4.9e-324"), Some(5e-324));
        assert_eq!(exact_f64("1e-323"), None);
        assert_eq!(exact_f64("9.9e-324"), Some(1e-323));
        assert_eq!(
            exact_f64("2.225073858507201e-308"),
            Some(2.225073858507201e-308)
        );
        assert_eq!(exact_f64("1E-325"), None);
        assert_eq!(exact_f64("0.30000000000000001"), None);
        assert_eq!(exact_f64("12345678901234567890"), None);
        assert_eq!(exact_f64("1.00000000000000001"), None);
    }

    #[test]
    fn cidr_rules() {
        assert!(Cidr::parse("10.0.0.0/32").is_err());
        assert!(Cidr::parse("::/128").is_err());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("255.1.2.3"));
        assert!(!Cidr::parse("0.0.0.0/0").unwrap().contains("::1"));
        assert_eq!(
            Cidr::parse("xx.11.xx/8").unwrap_err().reason(),
            "Nonstandard IP address: xx.11.xx"
        );
        assert_eq!(
            Cidr::parse("bad-/64filter").unwrap_err().reason(),
            "Malformed CIDR, mask bits must be an integer"
        );
        let e = Cidr::parse("10.0.0.0/33").unwrap_err();
        assert_eq!(e.kind(), PatternErrorKind::Invalid);
        assert_eq!(e.reason(), "Malformed CIDR, mask bits must be less than 32");
        assert_eq!(
            (e.span(), e.path(), e.to_string().as_str()),
            (None, "", e.reason())
        );
    }

    #[test]
    fn wildcard_edges() {
        let w = Wildcard::parse("").unwrap();
        assert!(w.matches("") && !w.matches("a"));
        let w = Wildcard::parse("a*a").unwrap();
        assert!(w.matches("aa") && !w.matches("a") && w.matches("aba"));
        let w = Wildcard::parse(r"\\*").unwrap();
        assert!(w.matches("\\") && w.matches("\\x") && !w.matches("x"));
        let e = Wildcard::parse(r"\a").unwrap_err();
        assert_eq!(e.kind(), PatternErrorKind::Invalid);
        assert_eq!(e.reason(), "Invalid escape character at pos 0");
        // Complexity is the pattern's question (see `complexity`), not the operand's.
        assert!(Wildcard::parse("*:*:*:*:*:event-bus/*").is_ok());
    }
}
