//! `weir._weir`, the extension module of the Python package `weir`: AWS EventBridge and
//! Lambda event-filter patterns with AWS's exact semantics, matched by the Rust library.
//!
//! The module is a thin layer over the `weir` crate: it turns Python values into the JSON
//! bytes the crate reads (`ser`, `events`), calls the crate (releasing the GIL for batches),
//! and turns the crate's answers and errors into Python objects. It matches nothing itself.
//! Its Python API is documented in `python/weir/_weir.pyi` and the package README.

mod errors;
mod events;
mod explain;
mod lambda;
mod matcher;
mod ser;
mod utf8;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::events::{event_bytes, text_bytes};

/// Reads a pattern given as text (`str`/`bytes`) or as a Python value written as JSON.
pub(crate) fn pattern_text(source: &Bound<'_, PyAny>, root: &str) -> PyResult<String> {
    let py = source.py();
    if let Some(bytes) = text_bytes(source)? {
        return match std::str::from_utf8(bytes.as_bytes()) {
            Ok(t) => Ok(t.to_string()),
            Err(e) => Err(errors::pattern_error_at(
                py,
                "the pattern is not UTF-8 text",
                bytes.as_bytes(),
                e.valid_up_to(),
            )),
        };
    }
    let mut out = Vec::new();
    ser::write(source, &mut out).map_err(|e| e.into_pyerr(root))?;
    Ok(String::from_utf8(out).expect("written from str and ASCII"))
}

pub(crate) fn options(lambda_strict: bool, numbers_as_strings: bool) -> weir::Options {
    weir::Options::new()
        .lambda_strict(lambda_strict)
        .numbers_as_strings(numbers_as_strings)
}

/// An EventBridge event pattern, parsed and validated: `Pattern(source, *,
/// lambda_strict=False, numbers_as_strings=False)`. `source` is the pattern's JSON text
/// (`str` or UTF-8 `bytes`) or a `dict` (written as JSON). Raises `PatternError`.
#[pyclass(frozen, module = "weir._weir", name = "Pattern")]
pub(crate) struct PyPattern {
    pub(crate) pattern: weir::Pattern,
    /// The pattern as a one-rule matcher, compiled once.
    matcher: weir::Matcher,
    pub(crate) lambda_strict: bool,
    pub(crate) numbers_as_strings: bool,
}

impl PyPattern {
    pub(crate) fn parse(
        py: Python<'_>,
        text: &str,
        lambda_strict: bool,
        numbers_as_strings: bool,
    ) -> PyResult<PyPattern> {
        let pattern = weir::Pattern::parse_with(text, &options(lambda_strict, numbers_as_strings))
            .map_err(|e| errors::pattern_error(py, &e))?;
        let mut matcher = weir::Matcher::new();
        matcher.add_pattern("", pattern.clone());
        Ok(PyPattern {
            pattern,
            matcher,
            lambda_strict,
            numbers_as_strings,
        })
    }
}

#[pymethods]
impl PyPattern {
    #[new]
    #[pyo3(signature = (source, *, lambda_strict = false, numbers_as_strings = false))]
    fn new(
        source: &Bound<'_, PyAny>,
        lambda_strict: bool,
        numbers_as_strings: bool,
    ) -> PyResult<PyPattern> {
        let text = pattern_text(source, "pattern")?;
        PyPattern::parse(source.py(), &text, lambda_strict, numbers_as_strings)
    }

    /// Whether `event` (a dict, or JSON text as str/bytes) matches. Raises `EventError` for
    /// text that is not JSON, `TypeError`/`ValueError` for a value JSON cannot hold.
    fn matches(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = event_bytes(event, "event")?;
        let hit = self
            .matcher
            .is_match(bytes.as_bytes())
            .map_err(|e| errors::event_error(py, &e, None, None))?;
        events::object_only(py, bytes.as_bytes())?;
        Ok(hit)
    }

    /// Why `event` does or does not match: a `weir.Explanation`.
    fn explain(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<explain::Explanation> {
        let bytes = event_bytes(event, "event")?;
        let why = self
            .pattern
            .explain(bytes.as_bytes())
            .map_err(|e| errors::event_error(py, &e, None, None))?;
        events::object_only(py, bytes.as_bytes())?;
        explain::Explanation::from_core(py, &why)
    }

    /// The pattern's text (as given, or as a dict was written).
    #[getter]
    fn text(&self) -> &str {
        self.pattern.text()
    }

    #[getter]
    fn lambda_strict(&self) -> bool {
        self.lambda_strict
    }

    #[getter]
    fn numbers_as_strings(&self) -> bool {
        self.numbers_as_strings
    }

    /// The field paths the pattern reads (keys joined with `.`), in text order.
    fn paths(&self) -> Vec<String> {
        self.pattern.paths().into_iter().map(String::from).collect()
    }

    fn __str__(&self) -> &str {
        self.pattern.text()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let text = pyo3::types::PyString::new(py, self.pattern.text()).repr()?;
        let mut flags = String::new();
        if self.lambda_strict {
            flags.push_str(", lambda_strict=True");
        }
        if self.numbers_as_strings {
            flags.push_str(", numbers_as_strings=True");
        }
        Ok(format!("Pattern({text}{flags})"))
    }

    fn __eq__(&self, other: PyRef<'_, PyPattern>) -> bool {
        self.pattern.text() == other.pattern.text()
            && self.lambda_strict == other.lambda_strict
            && self.numbers_as_strings == other.numbers_as_strings
    }

    fn __hash__(&self) -> u64 {
        let mut h = DefaultHasher::new();
        (
            self.pattern.text(),
            self.lambda_strict,
            self.numbers_as_strings,
        )
            .hash(&mut h);
        // (Python turns a hash of -1 into -2 itself.)
        h.finish()
    }

    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let args = PyTuple::new(py, [self.pattern.text()])?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("lambda_strict", self.lambda_strict)?;
        kwargs.set_item("numbers_as_strings", self.numbers_as_strings)?;
        Ok((args, kwargs))
    }
}

/// Raises `EventError` unless `event` is what EventBridge's `TestEventPattern` accepts: a JSON
/// object carrying the envelope fields (id, source, detail-type, account, region, time).
#[pyfunction]
fn check_envelope(py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<()> {
    let bytes = event_bytes(event, "event")?;
    weir::check_envelope(bytes.as_bytes()).map_err(|e| errors::event_error(py, &e, None, None))
}

/// The extension module.
#[pymodule]
fn _weir(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<PyPattern>()?;
    m.add_class::<matcher::PyMatcher>()?;
    explain::register(m)?;
    lambda::register(m)?;
    m.add_function(wrap_pyfunction!(ser::to_json, m)?)?;
    m.add_function(wrap_pyfunction!(check_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(ser::_float_repr, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_EVENT_DEPTH", ser::MAX_DEPTH)?;
    Ok(())
}
