//! A small pattern and a small event generated as structures (keys from a tiny vocabulary,
//! every operator, tricky literals), rendered to JSON text and checked compiled vs reference.
//! `cargo fuzz fmt structured_match <input>` prints the structure; a failure message prints
//! the rendered texts as a JSON line ready to save under
//! tests/data/fuzz-regressions/structured_match/.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

/// Deepest object nesting rendered; deeper parts are cut.
const MAX_DEPTH: usize = 4;
/// Most entries rendered per object or array.
const MAX_WIDTH: usize = 4;

#[derive(Arbitrary, Debug)]
struct Input {
    pattern: PatObj,
    event: EvObj,
    numbers_as_strings: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Key {
    A,
    B,
    C,
    ADotB,
    BDotC,
    Dollar,
}

impl Key {
    fn text(self) -> &'static str {
        match self {
            Key::A => "a",
            Key::B => "b",
            Key::C => "c",
            Key::ADotB => "a.b",
            Key::BDotC => "b.c",
            Key::Dollar => "$or",
        }
    }
}

#[derive(Arbitrary, Debug)]
struct PatObj {
    fields: Vec<PatField>,
}

#[derive(Arbitrary, Debug)]
enum PatField {
    Leaf(Key, Vec<Cond>),
    Nested(Key, PatObj),
    Or(Vec<PatObj>),
}

#[derive(Arbitrary, Debug)]
enum Str {
    Empty,
    A,
    UpperA,
    Ab,
    UpperAb,
    Png,
    UpperPng,
    Dotted,
    Ip4,
    Ip4Padded,
    Ip4Other,
    Ip4Bad,
    Ip6,
    Ip6Upper,
    Ip6Long,
    Ip6Mapped,
    EAcute,
    UpperEAcute,
    Sigma,
    FinalSigma,
    SharpS,
    Star,
    Backslash,
    Three,
    Null,
    True,
    Free(String),
}

impl Str {
    fn text(&self) -> String {
        let s = match self {
            Str::Empty => "",
            Str::A => "a",
            Str::UpperA => "A",
            Str::Ab => "ab",
            Str::UpperAb => "aB",
            Str::Png => "x.png",
            Str::UpperPng => "X.PNG",
            Str::Dotted => "a.b",
            Str::Ip4 => "10.0.0.1",
            Str::Ip4Padded => "010.000.000.001",
            Str::Ip4Other => "10.0.1.255",
            Str::Ip4Bad => "10.0.0.256",
            Str::Ip6 => "2001:db8::1",
            Str::Ip6Upper => "2001:DB8::1",
            Str::Ip6Long => "2001:0db8:0000:0000:0000:0000:0000:0001",
            Str::Ip6Mapped => "::ffff:10.0.0.1",
            Str::EAcute => "é",
            Str::UpperEAcute => "É",
            Str::Sigma => "Σ",
            Str::FinalSigma => "ς",
            Str::SharpS => "ß",
            Str::Star => "*",
            Str::Backslash => "\\",
            Str::Three => "3",
            Str::Null => "null",
            Str::True => "true",
            Str::Free(s) => return s.chars().take(6).collect(),
        };
        s.to_string()
    }

    fn json(&self) -> String {
        serde_json::Value::String(self.text()).to_string()
    }
}

#[derive(Arbitrary, Debug)]
enum Num {
    Zero,
    NegZero,
    One,
    OneDotZero,
    OneE0,
    Three,
    Hundred,
    OneE2,
    Tenth,
    TenthInexact,
    TwoPow53Plus1,
    Max,
    Tiny,
    Huge,
    Neg,
    Half,
    Int(i16),
    Decimal(i16, u8),
    Exp(i8, i16),
}

impl Num {
    fn text(&self) -> String {
        let s = match self {
            Num::Zero => "0",
            Num::NegZero => "-0",
            Num::One => "1",
            Num::OneDotZero => "1.0",
            Num::OneE0 => "1e0",
            Num::Three => "3",
            Num::Hundred => "100",
            Num::OneE2 => "1E+2",
            Num::Tenth => "0.1",
            Num::TenthInexact => "0.10000000000000001",
            Num::TwoPow53Plus1 => "9007199254740993",
            Num::Max => "1.7976931348623157e308",
            Num::Tiny => "5e-324",
            Num::Huge => "1e400",
            Num::Neg => "-5",
            Num::Half => "-0.5",
            Num::Int(i) => return i.to_string(),
            Num::Decimal(i, f) => return format!("{i}.{f}"),
            Num::Exp(m, e) => return format!("{m}e{}", e % 400),
        };
        s.to_string()
    }
}

#[derive(Arbitrary, Debug)]
enum WildPiece {
    Star,
    EscapedStar,
    EscapedBackslash,
    Lit(Str),
}

#[derive(Arbitrary, Debug)]
struct Wild(Vec<WildPiece>);

impl Wild {
    fn json(&self) -> String {
        let mut s = String::new();
        for piece in self.0.iter().take(MAX_WIDTH) {
            match piece {
                WildPiece::Star => s.push('*'),
                WildPiece::EscapedStar => s.push_str("\\*"),
                WildPiece::EscapedBackslash => s.push_str("\\\\"),
                WildPiece::Lit(l) => s.push_str(&l.text()),
            }
        }
        serde_json::Value::String(s).to_string()
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum NumOp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl NumOp {
    fn text(self) -> &'static str {
        match self {
            NumOp::Eq => "\"=\"",
            NumOp::Lt => "\"<\"",
            NumOp::Le => "\"<=\"",
            NumOp::Gt => "\">\"",
            NumOp::Ge => "\">=\"",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum CidrV {
    V4Slash24,
    V4Slash8,
    V4Slash0,
    V4Slash31,
    V4Slash32,
    V4HostBits,
    V4Bad,
    V6Slash32,
    V6Upper,
    V6Slash0,
    V6Slash127,
    V6Slash128,
    V6Mapped,
}

impl CidrV {
    fn text(&self) -> &'static str {
        match self {
            CidrV::V4Slash24 => "10.0.0.0/24",
            CidrV::V4Slash8 => "10.0.0.0/8",
            CidrV::V4Slash0 => "0.0.0.0/0",
            CidrV::V4Slash31 => "10.0.0.0/31",
            CidrV::V4Slash32 => "10.0.0.1/32",
            CidrV::V4HostBits => "10.0.0.1/24",
            CidrV::V4Bad => "10.0.0/24",
            CidrV::V6Slash32 => "2001:db8::/32",
            CidrV::V6Upper => "2001:DB8::/32",
            CidrV::V6Slash0 => "::/0",
            CidrV::V6Slash127 => "::/127",
            CidrV::V6Slash128 => "::1/128",
            CidrV::V6Mapped => "::ffff:10.0.0.0/120",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Cond {
    Str(Str),
    Num(Num),
    Null,
    Bool(bool),
    Exactly(Str),
    Prefix(Str),
    PrefixIgnoreCase(Str),
    Suffix(Str),
    SuffixIgnoreCase(Str),
    EqualsIgnoreCase(Str),
    Wildcard(Wild),
    AnythingButStr(Str),
    AnythingButNum(Num),
    AnythingButStrs(Vec<Str>),
    AnythingButNums(Vec<Num>),
    AnythingButPrefix(Str),
    AnythingButSuffix(Vec<Str>),
    AnythingButIgnoreCase(Vec<Str>),
    AnythingButWildcard(Wild),
    AnythingButWildcards(Vec<Wild>),
    Numeric(NumOp, Num),
    Range(NumOp, Num, NumOp, Num),
    Cidr(CidrV),
    Exists(bool),
}

fn list<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    let parts: Vec<String> = items.iter().take(MAX_WIDTH).map(f).collect();
    format!("[{}]", parts.join(", "))
}

impl Cond {
    fn json(&self) -> String {
        match self {
            Cond::Str(s) => s.json(),
            Cond::Num(n) => n.text(),
            Cond::Null => "null".into(),
            Cond::Bool(b) => b.to_string(),
            Cond::Exactly(s) => format!("{{\"exactly\": {}}}", s.json()),
            Cond::Prefix(s) => format!("{{\"prefix\": {}}}", s.json()),
            Cond::PrefixIgnoreCase(s) => {
                format!("{{\"prefix\": {{\"equals-ignore-case\": {}}}}}", s.json())
            }
            Cond::Suffix(s) => format!("{{\"suffix\": {}}}", s.json()),
            Cond::SuffixIgnoreCase(s) => {
                format!("{{\"suffix\": {{\"equals-ignore-case\": {}}}}}", s.json())
            }
            Cond::EqualsIgnoreCase(s) => format!("{{\"equals-ignore-case\": {}}}", s.json()),
            Cond::Wildcard(w) => format!("{{\"wildcard\": {}}}", w.json()),
            Cond::AnythingButStr(s) => format!("{{\"anything-but\": {}}}", s.json()),
            Cond::AnythingButNum(n) => format!("{{\"anything-but\": {}}}", n.text()),
            Cond::AnythingButStrs(v) => format!("{{\"anything-but\": {}}}", list(v, Str::json)),
            Cond::AnythingButNums(v) => format!("{{\"anything-but\": {}}}", list(v, Num::text)),
            Cond::AnythingButPrefix(s) => {
                format!("{{\"anything-but\": {{\"prefix\": {}}}}}", s.json())
            }
            Cond::AnythingButSuffix(v) => {
                format!(
                    "{{\"anything-but\": {{\"suffix\": {}}}}}",
                    list(v, Str::json)
                )
            }
            Cond::AnythingButIgnoreCase(v) => {
                format!(
                    "{{\"anything-but\": {{\"equals-ignore-case\": {}}}}}",
                    list(v, Str::json)
                )
            }
            Cond::AnythingButWildcard(w) => {
                format!("{{\"anything-but\": {{\"wildcard\": {}}}}}", w.json())
            }
            Cond::AnythingButWildcards(v) => {
                format!(
                    "{{\"anything-but\": {{\"wildcard\": {}}}}}",
                    list(v, Wild::json)
                )
            }
            Cond::Numeric(op, n) => format!("{{\"numeric\": [{}, {}]}}", op.text(), n.text()),
            Cond::Range(lo, a, hi, b) => format!(
                "{{\"numeric\": [{}, {}, {}, {}]}}",
                lo.text(),
                a.text(),
                hi.text(),
                b.text()
            ),
            Cond::Cidr(c) => format!("{{\"cidr\": \"{}\"}}", c.text()),
            Cond::Exists(b) => format!("{{\"exists\": {b}}}"),
        }
    }
}

impl PatObj {
    fn json(&self, depth: usize) -> String {
        let mut parts = Vec::new();
        for field in self.fields.iter().take(MAX_WIDTH) {
            parts.push(match field {
                PatField::Leaf(k, conds) => {
                    let k = serde_json::Value::String(k.text().into());
                    format!("{k}: {}", list(conds, Cond::json))
                }
                PatField::Nested(k, obj) if depth < MAX_DEPTH => {
                    let k = serde_json::Value::String(k.text().into());
                    format!("{k}: {}", obj.json(depth + 1))
                }
                PatField::Nested(k, _) => {
                    let k = serde_json::Value::String(k.text().into());
                    format!("{k}: [{{\"exists\": true}}]")
                }
                PatField::Or(alts) => {
                    let d = depth + 1;
                    format!("\"$or\": {}", list(alts, |o| o.json(d.min(MAX_DEPTH))))
                }
            });
        }
        format!("{{{}}}", parts.join(", "))
    }
}

#[derive(Arbitrary, Debug)]
struct EvObj {
    fields: Vec<(Key, EvVal)>,
}

#[derive(Arbitrary, Debug)]
enum EvVal {
    Null,
    Bool(bool),
    Num(Num),
    Str(Str),
    Arr(Vec<EvVal>),
    Obj(EvObj),
}

impl EvVal {
    fn json(&self, depth: usize) -> String {
        match self {
            EvVal::Null => "null".into(),
            EvVal::Bool(b) => b.to_string(),
            EvVal::Num(n) => n.text(),
            EvVal::Str(s) => s.json(),
            EvVal::Arr(_) | EvVal::Obj(_) if depth >= MAX_DEPTH => "null".into(),
            EvVal::Arr(items) => list(items, |v| v.json(depth + 1)),
            EvVal::Obj(o) => o.json(depth + 1),
        }
    }
}

impl EvObj {
    fn json(&self, depth: usize) -> String {
        let parts: Vec<String> = self
            .fields
            .iter()
            .take(MAX_WIDTH)
            .map(|(k, v)| {
                format!(
                    "{}: {}",
                    serde_json::Value::String(k.text().into()),
                    v.json(depth)
                )
            })
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// Set `WEIR_FUZZ_SHOW=1` to print every input as a replayable JSON line with its outcome
/// (`true`/`false` matched, `null` pattern invalid), e.g. over a corpus directory.
static SHOW: OnceLock<bool> = OnceLock::new();

fuzz_target!(|input: Input| {
    let pattern = input.pattern.json(0);
    let event = input.event.json(0);
    let nas = input.numbers_as_strings;
    let outcome = checks::check_pattern_on_event(&pattern, &event, nas);
    if *SHOW.get_or_init(|| std::env::var_os("WEIR_FUZZ_SHOW").is_some()) {
        let line = serde_json::json!({
            "pattern": pattern, "event": event, "numbers_as_strings": nas, "outcome": outcome,
        });
        eprintln!("{line}");
    }
});
