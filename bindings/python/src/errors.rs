//! `weir.PatternError` and `weir.EventError`: `ValueError` subclasses whose attributes are
//! read from their `args` (so they pickle and copy as any exception does). They are defined
//! in Python (an abi3 module cannot subclass a built-in exception in Rust) when the module is
//! loaded, and raised from here.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

const SOURCE: &std::ffi::CStr = cr#"
class PatternError(ValueError):
    """An invalid pattern or FilterCriteria document: AWS's reason and where it is.

    ``str()`` is the reason followed by the place, drawn with carets under the pattern's
    line. ``line``, ``column`` (1-based, in characters) and ``offset`` (bytes) are ``None``
    when the error has no place; ``path`` is the JSON path of the offending node (``""`` for
    the root); ``filter_index`` names the filter of a FilterCriteria and ``rule`` the rule of
    a Matcher the error was met in.
    """

    def __init__(self, message, reason, kind="invalid", line=None, column=None, offset=None,
                 path="", filter_index=None, rule=None):
        super().__init__(message, reason, kind, line, column, offset, path, filter_index, rule)

    def __str__(self):
        return self.args[0]

    @property
    def message(self):
        """The whole message: the reason, then the place with carets."""
        return self.args[0]

    @property
    def reason(self):
        """The reason, in AWS's words where AWS has them."""
        return self.args[1]

    @property
    def kind(self):
        """syntax, invalid, limit, unsupported or filter_criteria."""
        return self.args[2]

    @property
    def line(self):
        """1-based line of the problem in the pattern text, or None."""
        return self.args[3]

    @property
    def column(self):
        """1-based column (in characters) of the problem, or None."""
        return self.args[4]

    @property
    def offset(self):
        """Byte offset of the problem in the pattern text, or None."""
        return self.args[5]

    @property
    def path(self):
        """JSON path of the offending node, such as detail.state[0]; empty for the root."""
        return self.args[6]

    @property
    def filter_index(self):
        """For an error inside a FilterCriteria, the 0-based index of the filter."""
        return self.args[7]

    @property
    def rule(self):
        """For an error met while adding a rule to a Matcher, the rule's name."""
        return self.args[8]

    @property
    def aws_message(self):
        """The message AWS EventBridge would give."""
        return "Event pattern is not valid. Reason: " + self.args[1]


class EventError(ValueError):
    """An event that is not valid JSON, not a JSON object, or too deeply nested: the reason
    and where.

    ``offset`` is a byte offset in the event's JSON text, ``line``/``column`` are 1-based.
    In a batch, ``index`` is the event's index; for a str/bytes buffer ``buffer_line`` is the
    1-based line of the buffer the event starts on.
    """

    def __init__(self, message, reason, kind="syntax", line=1, column=1, offset=0, index=None,
                 buffer_line=None):
        super().__init__(message, reason, kind, line, column, offset, index, buffer_line)

    def __str__(self):
        return self.args[0]

    @property
    def message(self):
        """The whole message: the reason, then the place with a caret."""
        return self.args[0]

    @property
    def reason(self):
        """What is wrong, e.g. "expected ',' or '}' in an object"."""
        return self.args[1]

    @property
    def kind(self):
        """syntax, unexpected_end, invalid_utf8, invalid_escape, control_character, too_deep,
        trailing_content, not_an_object or missing_field."""
        return self.args[2]

    @property
    def line(self):
        """1-based line in the event's text."""
        return self.args[3]

    @property
    def column(self):
        """1-based column (in characters) in the event's text."""
        return self.args[4]

    @property
    def offset(self):
        """Byte offset in the event's text."""
        return self.args[5]

    @property
    def index(self):
        """In a batch, the event's 0-based index; else None."""
        return self.args[6]

    @property
    def buffer_line(self):
        """For an event of a str/bytes buffer, the 1-based line it starts on; else None."""
        return self.args[7]
"#;

static PATTERN_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static EVENT_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Defines the exception classes and adds them to `module`.
pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let code = PyModule::from_code(py, SOURCE, c"weir/_errors.py", c"weir._weir")?;
    for (name, cell) in [
        ("PatternError", &PATTERN_ERROR),
        ("EventError", &EVENT_ERROR),
    ] {
        let class = code.getattr(name)?.cast_into::<PyType>()?;
        class.setattr("__module__", "weir._weir")?;
        module.add(name, &class)?;
        let _ = cell.set(py, class.unbind());
    }
    Ok(())
}

fn class<'a, 'py>(py: Python<'py>, cell: &'a PyOnceLock<Py<PyType>>) -> &'a Bound<'py, PyType> {
    cell.get(py)
        .expect("weir._weir registers its exceptions when loaded")
        .bind(py)
}

fn raise<'py>(class: &Bound<'py, PyType>, args: impl pyo3::call::PyCallArgs<'py>) -> PyErr {
    match class.call1(args) {
        Ok(value) => PyErr::from_value(value),
        Err(e) => e,
    }
}

/// A core pattern error as `weir.PatternError`.
pub(crate) fn pattern_error(py: Python<'_>, e: &weir::PatternError) -> PyErr {
    let start = e.span().map(|s| s.start);
    raise(
        class(py, &PATTERN_ERROR),
        (
            e.to_string(),
            e.reason(),
            e.kind().name(),
            start.map(|p| p.line),
            start.map(|p| p.column),
            start.map(|p| p.offset),
            e.path(),
            e.filter(),
            e.rule(),
        ),
    )
}

/// A `weir.PatternError` made here (text that is not UTF-8), at byte `offset` of `text`.
pub(crate) fn pattern_error_at(py: Python<'_>, reason: &str, text: &[u8], offset: usize) -> PyErr {
    let at = weir::Position::at_bytes(text, offset);
    let snippet = weir::Snippet::from_bytes(text, offset..offset + 1);
    raise(
        class(py, &PATTERN_ERROR),
        (
            format!("{reason}\n{snippet}"),
            reason,
            "syntax",
            Some(at.line),
            Some(at.column),
            Some(at.offset),
            "",
            None::<usize>,
            None::<String>,
        ),
    )
}

/// A core event error as `weir.EventError`; `index` and `line` place it in a batch.
pub(crate) fn event_error(
    py: Python<'_>,
    e: &weir::EventError,
    index: Option<usize>,
    buffer_line: Option<usize>,
) -> PyErr {
    let message = match (index, buffer_line) {
        (Some(i), Some(l)) => format!("event {i} (line {l} of the buffer): {e}"),
        (Some(i), None) => format!("event {i}: {e}"),
        _ => e.to_string(),
    };
    raise(
        class(py, &EVENT_ERROR),
        (
            message,
            e.reason(),
            e.kind().name(),
            e.line(),
            e.column(),
            e.offset(),
            index,
            buffer_line,
        ),
    )
}

/// A `weir.EventError` made here: `reason` (of `kind`) at byte `offset` of the event `bytes`;
/// `index` and `buffer_line` place it in a batch.
fn event_error_at(
    py: Python<'_>,
    (reason, kind): (&str, &str),
    bytes: &[u8],
    offset: usize,
    index: Option<usize>,
    buffer_line: Option<usize>,
) -> PyErr {
    let at = weir::Position::at_bytes(bytes, offset);
    let snippet = weir::Snippet::from_bytes(bytes, at.offset..at.offset + 1);
    let text = format!("invalid event: {reason}\n{snippet}");
    let message = match (index, buffer_line) {
        (Some(i), Some(l)) => format!("event {i} (line {l} of the buffer): {text}"),
        (Some(i), None) => format!("event {i}: {text}"),
        _ => text,
    };
    raise(
        class(py, &EVENT_ERROR),
        (
            message,
            reason,
            kind,
            at.line,
            at.column,
            at.offset,
            index,
            buffer_line,
        ),
    )
}

/// Event `index` of the buffer `buffer`, which the splitter could not cut (`e`): placed in
/// the event's own text, as the matcher's errors are.
pub(crate) fn split_error(
    py: Python<'_>,
    e: &weir::json::SplitError,
    buffer: &[u8],
    index: usize,
) -> PyErr {
    let start = e.event_offset().min(buffer.len());
    event_error_at(
        py,
        (e.reason(), e.kind().name()),
        &buffer[start..],
        e.offset().saturating_sub(start),
        Some(index),
        Some(e.event_line()),
    )
}

/// The `weir.EventError` of a JSON event that is not an object (`found` says what it is, at
/// byte `offset` of `bytes`). AWS requires an object, as the CLI and the WASM build do.
pub(crate) fn not_an_object(
    py: Python<'_>,
    found: &str,
    bytes: &[u8],
    offset: usize,
    index: Option<usize>,
    buffer_line: Option<usize>,
) -> PyErr {
    let reason = format!("an event must be a JSON object, not {found}");
    event_error_at(
        py,
        (&reason, weir::EventErrorKind::NotAnObject.name()),
        bytes,
        offset,
        index,
        buffer_line,
    )
}
