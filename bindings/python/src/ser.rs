//! Python values -> JSON text, for events and patterns given as `dict`s.
//!
//! What JSON can carry is kept exactly: `int`s of any size as their digits, `float`s in the
//! form `repr()` (and so `json.dumps`) writes them, `decimal.Decimal`s as `Decimal.__str__`
//! writes them (never a subclass's `__str__`), dicts as they are when writing begins,
//! strings as UTF-8 with only `"`, `\` and control characters escaped. Anything else (sets,
//! bytes, NaN, infinities, non-`str` keys, lone surrogates, nesting deeper than weir reads) is
//! an error naming the place, e.g. `events[3].detail.tags`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};

/// The deepest nesting of arrays and objects written (weir reads no deeper).
pub(crate) const MAX_DEPTH: usize = weir::MAX_EVENT_DEPTH;

/// One step of the path to a bad value.
enum Step {
    Key(String),
    Index(usize),
}

/// A value that cannot be written as JSON, with the path to it (innermost step first).
pub(crate) struct SerError {
    type_error: bool,
    message: String,
    steps: Vec<Step>,
}

impl SerError {
    fn type_error(message: String) -> SerError {
        SerError {
            type_error: true,
            message,
            steps: Vec::new(),
        }
    }

    fn value_error(message: String) -> SerError {
        SerError {
            type_error: false,
            message,
            steps: Vec::new(),
        }
    }

    fn at(mut self, step: Step) -> SerError {
        self.steps.push(step);
        self
    }

    /// The path of the bad value below `root` (`events[3]`, `event`, `pattern`).
    pub(crate) fn path(&self, root: &str) -> String {
        let mut path = root.to_string();
        for step in self.steps.iter().rev() {
            match step {
                Step::Index(i) => path.push_str(&format!("[{i}]")),
                Step::Key(k) if is_plain_key(k) => {
                    path.push('.');
                    path.push_str(k);
                }
                Step::Key(k) => path.push_str(&format!("[{k:?}]")),
            }
        }
        path
    }

    /// The Python exception: `TypeError` for a type JSON has not, `ValueError` for a value
    /// it cannot hold; the message starts with the path.
    pub(crate) fn into_pyerr(self, root: &str) -> PyErr {
        let message = format!("{}: {}", self.path(root), self.message);
        if self.type_error {
            PyTypeError::new_err(message)
        } else {
            PyValueError::new_err(message)
        }
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$')
}

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Appends `value` as JSON to `out`. On error `out` holds a partial value.
pub(crate) fn write(value: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Result<(), SerError> {
    write_value(value, 0, out)
}

/// What a value is, by its exact type first (a pointer comparison), then by subclass.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Dict,
    List,
    Tuple,
    Float,
    Int,
    Bool,
    None,
    Other,
}

fn kind(value: &Bound<'_, PyAny>) -> Kind {
    let ty = value.get_type_ptr();
    // (Only the addresses of the interpreter's static type objects are taken.)
    let exact = [
        (std::ptr::addr_of_mut!(pyo3::ffi::PyUnicode_Type), Kind::Str),
        (std::ptr::addr_of_mut!(pyo3::ffi::PyFloat_Type), Kind::Float),
        (std::ptr::addr_of_mut!(pyo3::ffi::PyDict_Type), Kind::Dict),
        (std::ptr::addr_of_mut!(pyo3::ffi::PyList_Type), Kind::List),
        (std::ptr::addr_of_mut!(pyo3::ffi::PyLong_Type), Kind::Int),
        (std::ptr::addr_of_mut!(pyo3::ffi::PyBool_Type), Kind::Bool),
        (std::ptr::addr_of_mut!(pyo3::ffi::PyTuple_Type), Kind::Tuple),
    ];
    for (t, k) in exact {
        if ty == t {
            return k;
        }
    }
    if value.is_none() {
        Kind::None
    } else if value.is_instance_of::<PyString>() {
        Kind::Str
    } else if value.is_instance_of::<PyDict>() {
        Kind::Dict
    } else if value.is_instance_of::<PyList>() {
        Kind::List
    } else if value.is_instance_of::<PyBool>() {
        Kind::Bool
    } else if value.is_instance_of::<PyInt>() {
        Kind::Int
    } else if value.is_instance_of::<PyFloat>() {
        Kind::Float
    } else if value.is_instance_of::<PyTuple>() {
        Kind::Tuple
    } else {
        Kind::Other
    }
}

fn write_value(value: &Bound<'_, PyAny>, depth: usize, out: &mut Vec<u8>) -> Result<(), SerError> {
    // (Each cast below is of the kind just found: it cannot fail.)
    match kind(value) {
        Kind::Str => write_str(value.cast::<PyString>().expect("a str"), out),
        Kind::Dict => write_dict(value.cast::<PyDict>().expect("a dict"), depth + 1, out),
        Kind::List => {
            let l = value.cast::<PyList>().expect("a list");
            enter(depth + 1)?;
            out.push(b'[');
            // By index, so a list changed meanwhile cannot be read past its end
            // (`get_item` checks).
            let mut i = 0;
            while let Ok(item) = l.get_item(i) {
                if i > 0 {
                    out.push(b',');
                }
                write_value(&item, depth + 1, out).map_err(|e| e.at(Step::Index(i)))?;
                i += 1;
            }
            out.push(b']');
            Ok(())
        }
        Kind::Tuple => {
            let t = value.cast::<PyTuple>().expect("a tuple");
            enter(depth + 1)?;
            out.push(b'[');
            for (i, item) in t.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(&item, depth + 1, out).map_err(|e| e.at(Step::Index(i)))?;
            }
            out.push(b']');
            Ok(())
        }
        Kind::None => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Kind::Bool => {
            out.extend_from_slice(if value.is_truthy().unwrap_or(false) {
                b"true"
            } else {
                b"false"
            });
            Ok(())
        }
        Kind::Int => write_int(value.cast::<PyInt>().expect("an int"), out),
        Kind::Float => write_float(value.cast::<PyFloat>().expect("a float").value(), out),
        Kind::Other => {
            let py = value.py();
            if let Ok(decimal) = DECIMAL.import(py, "decimal", "Decimal") {
                if value.is_instance(decimal).unwrap_or(false) {
                    return write_decimal(value, out);
                }
            }
            Err(SerError::type_error(format!(
                "{} is not JSON (weir writes dict, list, tuple, str, int, float, \
                 decimal.Decimal, bool and None)",
                type_name(value)
            )))
        }
    }
}

fn enter(depth: usize) -> Result<(), SerError> {
    if depth > MAX_DEPTH {
        return Err(SerError::value_error(format!(
            "nesting deeper than {MAX_DEPTH} levels (or a container that holds itself)"
        )));
    }
    Ok(())
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "this value".to_string())
}

fn write_dict(d: &Bound<'_, PyDict>, depth: usize, out: &mut Vec<u8>) -> Result<(), SerError> {
    enter(depth)?;
    out.push(b'{');
    let mut first = true;
    // A copy is iterated: Python code run while writing (an `int` subclass's `__int__`)
    // may change the dict, and the copy cannot change.
    let snapshot = d.copy().map_err(cannot_read)?;
    for (key, item) in snapshot.iter() {
        let Ok(k) = key.cast::<PyString>() else {
            let shown = key
                .repr()
                .map(|r| r.to_string())
                .unwrap_or_else(|_| "?".to_string());
            return Err(SerError::type_error(format!(
                "key {shown} ({}) is not a str: JSON object keys are strings",
                type_name(&key)
            )));
        };
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(k, out)?;
        out.push(b':');
        write_value(&item, depth, out).map_err(|e| {
            let name = k.to_string_lossy().into_owned();
            e.at(Step::Key(name))
        })?;
    }
    out.push(b'}');
    Ok(())
}

fn write_str(s: &Bound<'_, PyString>, out: &mut Vec<u8>) -> Result<(), SerError> {
    let text = crate::utf8::bytes(s).map_err(|_| {
        SerError::value_error(
            "the string holds a lone surrogate, which is not Unicode text (JSON is UTF-8)"
                .to_string(),
        )
    })?;
    escape_into(&text, out);
    Ok(())
}

/// `bytes` (UTF-8) as a JSON string, quotes included.
pub(crate) fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_int(i: &Bound<'_, PyInt>, out: &mut Vec<u8>) -> Result<(), SerError> {
    if let Ok(n) = i.extract::<i64>() {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        return Ok(());
    }
    // Beyond 64 bits: the exact int's decimal digits (also for subclasses, whose `str` may
    // say something else). Python refuses more than `sys.get_int_max_str_digits()` digits.
    let py = i.py();
    let digits = py
        .get_type::<PyInt>()
        .call1((i,))
        .and_then(|exact| exact.str())
        .map_err(|e| SerError::value_error(format!("this int cannot be written in digits: {e}")))?;
    out.extend_from_slice(digits.to_cow().map_err(cannot_read)?.as_bytes());
    Ok(())
}

fn cannot_read(e: PyErr) -> SerError {
    SerError::value_error(format!("cannot read the value: {e}"))
}

fn write_decimal(d: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> Result<(), SerError> {
    // `decimal.Decimal.__str__` itself: a subclass's `__str__` may write anything.
    let decimal = DECIMAL
        .import(d.py(), "decimal", "Decimal")
        .map_err(cannot_read)?;
    let text = decimal
        .call_method1("__str__", (d,))
        .map_err(cannot_read)?
        .cast_into::<PyString>()
        .map_err(|e| cannot_read(e.into()))?;
    let text = text.to_cow().map_err(cannot_read)?;
    if !is_json_number(text.as_bytes()) {
        return Err(SerError::value_error(format!(
            "Decimal {text} is not a JSON number"
        )));
    }
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// Whether `t` is a JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(t: &[u8]) -> bool {
    let digits = |t: &[u8], i: &mut usize| {
        let start = *i;
        while t.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    let mut i = usize::from(t.first() == Some(&b'-'));
    match t.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(t, &mut i);
        }
        _ => return false,
    }
    if t.get(i) == Some(&b'.') {
        i += 1;
        if !digits(t, &mut i) {
            return false;
        }
    }
    if matches!(t.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(t.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(t, &mut i) {
            return false;
        }
    }
    i == t.len()
}

/// Writes a finite float as Python's `repr` does (`1e+16`, `1e-05`, `0.0001`, `1.0`); NaN and
/// infinities are errors (JSON has no such numbers).
pub(crate) fn write_float(x: f64, out: &mut Vec<u8>) -> Result<(), SerError> {
    if !x.is_finite() {
        return Err(SerError::value_error(format!(
            "{} is not a JSON number",
            if x.is_nan() {
                "NaN"
            } else if x > 0.0 {
                "inf"
            } else {
                "-inf"
            }
        )));
    }
    float_repr(x, out);
    Ok(())
}

/// Python's `float.__repr__` for a finite `x`: the shortest digits that read back as `x`
/// (ryu finds the same digits), written in fixed notation when the decimal exponent is in
/// -4..16, else as `d.ddde±XX`.
fn float_repr(x: f64, out: &mut Vec<u8>) {
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(x).as_bytes();
    // Read ryu's text as sign, digits and a power of ten: value = digits * 10^exp.
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (mantissa, mut exp) = match text.iter().position(|&b| b == b'e' || b == b'E') {
        Some(e) => {
            let exp_text = std::str::from_utf8(&text[e + 1..]).unwrap_or("0");
            (&text[..e], exp_text.parse::<i32>().unwrap_or(0))
        }
        None => (text, 0),
    };
    // At most 17 significant digits, plus the zeros ryu writes around them (`0.001`).
    let mut all = [0u8; 32];
    let mut n_all = 0;
    let mut after_point = false;
    for &b in mantissa {
        match b {
            b'.' => after_point = true,
            b'0'..=b'9' if n_all < all.len() => {
                all[n_all] = b;
                n_all += 1;
                if after_point {
                    exp -= 1;
                }
            }
            _ => {}
        }
    }
    let mut digits = &all[..n_all];
    while let [b'0', rest @ ..] = digits {
        digits = rest;
    }
    while let [rest @ .., b'0'] = digits {
        digits = rest;
        exp += 1;
    }
    if negative {
        out.push(b'-');
    }
    if digits.is_empty() {
        out.extend_from_slice(b"0.0");
        return;
    }
    // value = 0.DIGITS * 10^point
    let n = digits.len() as i32;
    let point = n + exp;
    if (-3..=16).contains(&point) {
        if point <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-point) as usize));
            out.extend_from_slice(digits);
        } else if point >= n {
            out.extend_from_slice(digits);
            out.extend(std::iter::repeat_n(b'0', (point - n) as usize));
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..point as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[point as usize..]);
        }
    } else {
        out.push(digits[0]);
        if n > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let e = point - 1;
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        let e = e.unsigned_abs();
        if e < 10 {
            out.push(b'0');
        }
        out.extend_from_slice(itoa::Buffer::new().format(e).as_bytes());
    }
}

/// `float_repr` as a string, for the tests' comparison with `repr()`.
#[pyfunction]
pub(crate) fn _float_repr(x: f64) -> PyResult<String> {
    let mut out = Vec::new();
    write_float(x, &mut out).map_err(|e| e.into_pyerr("value"))?;
    Ok(String::from_utf8(out).expect("ASCII"))
}

/// The JSON text weir matches for a Python value (what a `dict` event or pattern becomes).
///
/// Raises `TypeError` or `ValueError`, naming the path of the value that JSON cannot hold.
#[pyfunction]
pub(crate) fn to_json(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut out = Vec::new();
    write(value, &mut out).map_err(|e| e.into_pyerr("value"))?;
    Ok(String::from_utf8(out).expect("written from str and ASCII"))
}
