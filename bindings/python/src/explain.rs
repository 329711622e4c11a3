//! The explain reports as Python objects: the core's structure (`weir::explain`), field for
//! field, as frozen classes whose lists are tuples. Each report's `to_dict()` is the core's
//! `to_json()` read back, and `str()` the core's readable report.

use pyo3::prelude::*;
use pyo3::types::{PyModule, PyTuple};

type Span = (usize, usize);

fn tuple_of<'py, T: pyo3::PyClass + Into<pyo3::PyClassInitializer<T>>>(
    py: Python<'py>,
    items: Vec<T>,
) -> PyResult<Py<PyTuple>> {
    let objects = items
        .into_iter()
        .map(|item| Py::new(py, item))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyTuple::new(py, objects)?.unbind())
}

fn loads<'py>(py: Python<'py>, json: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (json,))
}

/// Why one event did or did not match one pattern.
#[pyclass(frozen, module = "weir._weir")]
pub(crate) struct Explanation {
    /// Whether the event matches the pattern (the matcher's verdict).
    #[pyo3(get)]
    matched: bool,
    /// The pattern's text.
    #[pyo3(get)]
    pattern: String,
    /// The pattern as written: its fields and `$or`s (a `GroupReport`).
    #[pyo3(get)]
    group: Py<GroupReport>,
    json: String,
    text: String,
}

impl Explanation {
    pub(crate) fn from_core(py: Python<'_>, why: &weir::Explanation) -> PyResult<Explanation> {
        Ok(Explanation {
            matched: why.matched,
            pattern: why.pattern.clone(),
            group: Py::new(py, GroupReport::from_core(py, &why.group)?)?,
            json: why.to_json(),
            text: why.to_string(),
        })
    }
}

#[pymethods]
impl Explanation {
    /// The report as JSON text (the core's `to_json`).
    fn to_json(&self) -> &str {
        &self.json
    }

    /// The report as plain dicts and lists (spans as two-element lists).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.json)
    }

    fn __str__(&self) -> &str {
        &self.text
    }

    fn __repr__(&self) -> String {
        format!(
            "<weir.Explanation {}>",
            if self.matched { "match" } else { "no match" }
        )
    }
}

/// The fields and `$or`s of one object of a pattern, ANDed.
#[pyclass(frozen, get_all, module = "weir._weir")]
pub(crate) struct GroupReport {
    held: bool,
    term: Option<usize>,
    fields: Py<PyTuple>,
    ors: Py<PyTuple>,
    arrays: Py<PyTuple>,
}

impl GroupReport {
    fn from_core(py: Python<'_>, g: &weir::explain::GroupReport) -> PyResult<GroupReport> {
        let fields = g
            .fields
            .iter()
            .map(|f| FieldReport::from_core(py, f))
            .collect::<PyResult<Vec<_>>>()?;
        let ors = g
            .ors
            .iter()
            .map(|or| {
                let alternatives = or
                    .alternatives
                    .iter()
                    .map(|a| GroupReport::from_core(py, a))
                    .collect::<PyResult<Vec<_>>>()?;
                Ok(OrReport {
                    held: or.held,
                    used: or.used,
                    alternatives: tuple_of(py, alternatives)?,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let arrays = g
            .arrays
            .iter()
            .map(|a| {
                let elements = a
                    .elements
                    .iter()
                    .map(|e| ElementReport {
                        index: e.index,
                        span: e.span,
                        lacks: e.lacks.clone(),
                        unwanted: e.unwanted.clone(),
                    })
                    .collect();
                Ok(ArrayReport {
                    path: a.path.clone(),
                    span: a.span,
                    fields: a.fields.clone(),
                    satisfied_by: a.satisfied_by,
                    judged_first: a.judged_first.clone(),
                    elements: tuple_of(py, elements)?,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(GroupReport {
            held: g.held,
            term: g.term,
            fields: tuple_of(py, fields)?,
            ors: tuple_of(py, ors)?,
            arrays: tuple_of(py, arrays)?,
        })
    }
}

#[pymethods]
impl GroupReport {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<weir.GroupReport held={} fields={} ors={}>",
            if self.held { "True" } else { "False" },
            self.fields.bind(py).len(),
            self.ors.bind(py).len()
        )
    }
}

/// One `$or` of a pattern.
#[pyclass(frozen, get_all, module = "weir._weir")]
pub(crate) struct OrReport {
    held: bool,
    used: Option<usize>,
    alternatives: Py<PyTuple>,
}

#[pymethods]
impl OrReport {
    fn __repr__(&self) -> String {
        format!(
            "<weir.OrReport held={} used={:?}>",
            if self.held { "True" } else { "False" },
            self.used
        )
    }
}

/// One field of a pattern: the event's values on its path and what each condition made of
/// them.
#[pyclass(frozen, get_all, module = "weir._weir")]
pub(crate) struct FieldReport {
    path: String,
    pattern_span: Span,
    held: bool,
    values: Py<PyTuple>,
    conditions: Py<PyTuple>,
    used: Option<usize>,
    overridden_by: Vec<Span>,
}

impl FieldReport {
    fn from_core(py: Python<'_>, f: &weir::explain::FieldReport) -> PyResult<FieldReport> {
        let values = f
            .values
            .iter()
            .map(|v| EventValue {
                text: v.text.clone(),
                span: v.span,
            })
            .collect();
        let conditions = f
            .conditions
            .iter()
            .map(|c| ConditionReport {
                condition: c.condition.clone(),
                held: c.held,
                held_for: c.held_for.clone(),
            })
            .collect();
        Ok(FieldReport {
            path: f.path.clone(),
            pattern_span: f.pattern_span,
            held: f.held,
            values: tuple_of(py, values)?,
            conditions: tuple_of(py, conditions)?,
            used: f.used,
            overridden_by: f.overridden_by.clone(),
        })
    }
}

#[pymethods]
impl FieldReport {
    fn __repr__(&self) -> String {
        format!(
            "<weir.FieldReport {} held={}>",
            self.path,
            if self.held { "True" } else { "False" }
        )
    }
}

/// A scalar of the event: its text as written and its byte span.
#[pyclass(frozen, get_all, module = "weir._weir")]
pub(crate) struct EventValue {
    text: String,
    span: Span,
}

#[pymethods]
impl EventValue {
    fn __repr__(&self) -> String {
        format!(
            "<weir.EventValue {} at {}..{}>",
            self.text, self.span.0, self.span.1
        )
    }
}

/// One condition of a field.
#[pyclass(frozen, get_all, module = "weir._weir")]
pub(crate) struct ConditionReport {
    condition: String,
    held: bool,
    held_for: Vec<usize>,
}

#[pymethods]
impl ConditionReport {
    fn __repr__(&self) -> String {
        format!(
            "<weir.ConditionReport {} held={}>",
            self.condition,
            if self.held { "True" } else { "False" }
        )
    }
}

/// An array of the event where array consistency decided.
#[pyclass(frozen, get_all, module = "weir._weir")]
pub(crate) struct ArrayReport {
    path: Option<String>,
    span: Span,
    fields: Vec<String>,
    satisfied_by: Option<usize>,
    judged_first: Vec<String>,
    elements: Py<PyTuple>,
}

#[pymethods]
impl ArrayReport {
    fn __repr__(&self) -> String {
        format!(
            "<weir.ArrayReport {} satisfied_by={:?}>",
            self.path.as_deref().unwrap_or("(top)"),
            self.satisfied_by
        )
    }
}

/// One element of an `ArrayReport`.
#[pyclass(frozen, get_all, module = "weir._weir")]
pub(crate) struct ElementReport {
    index: usize,
    span: Span,
    lacks: Vec<String>,
    unwanted: Vec<String>,
}

#[pymethods]
impl ElementReport {
    fn __repr__(&self) -> String {
        format!("<weir.ElementReport {} lacks={:?}>", self.index, self.lacks)
    }
}

/// Why one event did or did not match a rule of a `Matcher`: one `Explanation` per pattern.
#[pyclass(frozen, module = "weir._weir")]
pub(crate) struct RuleExplanation {
    #[pyo3(get)]
    rule: String,
    #[pyo3(get)]
    matched: bool,
    #[pyo3(get)]
    patterns: Py<PyTuple>,
    json: String,
    text: String,
}

impl RuleExplanation {
    pub(crate) fn from_core(
        py: Python<'_>,
        why: &weir::RuleExplanation,
    ) -> PyResult<RuleExplanation> {
        let patterns = why
            .patterns
            .iter()
            .map(|p| Explanation::from_core(py, p))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(RuleExplanation {
            rule: why.rule.clone(),
            matched: why.matched,
            patterns: tuple_of(py, patterns)?,
            json: why.to_json(),
            text: why.to_string(),
        })
    }
}

#[pymethods]
impl RuleExplanation {
    /// The report as JSON text.
    fn to_json(&self) -> &str {
        &self.json
    }

    /// The report as plain dicts and lists.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        loads(py, &self.json)
    }

    fn __str__(&self) -> &str {
        &self.text
    }

    fn __repr__(&self) -> String {
        format!(
            "<weir.RuleExplanation {:?} {}>",
            self.rule,
            if self.matched { "match" } else { "no match" }
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Explanation>()?;
    m.add_class::<RuleExplanation>()?;
    m.add_class::<GroupReport>()?;
    m.add_class::<OrReport>()?;
    m.add_class::<FieldReport>()?;
    m.add_class::<EventValue>()?;
    m.add_class::<ConditionReport>()?;
    m.add_class::<ArrayReport>()?;
    m.add_class::<ElementReport>()?;
    Ok(())
}
