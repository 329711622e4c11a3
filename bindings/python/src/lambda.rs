//! `weir.FilterCriteria` and the verdicts of Lambda event filtering.
//!
//! A verdict is a `Verdict`: the singletons `weir.Delivered` and `weir.FilteredOut`, or a
//! `weir.Dropped` (a subclass) carrying the reason Lambda drops the record for.

use std::str::FromStr;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule, PyString};

use weir::lambda::{FilterCriteria, RecordVerdict, Source};

use crate::errors;
use crate::events::{event_bytes, object_only, text_bytes, Batch};
use crate::{pattern_text, PyPattern};

/// What Lambda does with one record: `kind` is "delivered", "filtered_out" or "dropped".
/// `weir.Delivered` and `weir.FilteredOut` are the two verdicts without a reason; a dropped
/// record's verdict is a `weir.Dropped`.
#[pyclass(frozen, subclass, module = "weir._weir")]
pub(crate) struct Verdict {
    #[pyo3(get)]
    kind: &'static str,
}

#[pymethods]
impl Verdict {
    #[new]
    fn new(kind: &str) -> PyResult<Verdict> {
        match kind {
            "delivered" => Ok(Verdict { kind: "delivered" }),
            "filtered_out" => Ok(Verdict {
                kind: "filtered_out",
            }),
            _ => Err(PyValueError::new_err(format!(
                "a Verdict is 'delivered' or 'filtered_out' (a dropped record's is a \
                 weir.Dropped), not {kind:?}"
            ))),
        }
    }

    /// Whether the record reaches the function.
    #[getter]
    fn delivered(&self) -> bool {
        self.kind == "delivered"
    }

    /// Equal verdicts: the same kind, and for `Dropped` the same reason, reason kind and
    /// filter; `NotImplemented` for what is not a verdict.
    fn __eq__<'py>(
        slf: &Bound<'py, Self>,
        other: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let Ok(other) = other.cast::<Verdict>() else {
            return Ok(py.NotImplemented().into_bound(py));
        };
        let same = slf.get().kind == other.get().kind
            && match (slf.cast::<Dropped>(), other.cast::<Dropped>()) {
                (Ok(a), Ok(b)) => {
                    let (a, b) = (a.get(), b.get());
                    (&a.reason, &a.reason_kind, a.filter_index)
                        == (&b.reason, &b.reason_kind, b.filter_index)
                }
                (Err(_), Err(_)) => true,
                _ => false,
            };
        Ok(pyo3::types::PyBool::new(py, same).to_owned().into_any())
    }

    fn __hash__(slf: &Bound<'_, Self>) -> PyResult<isize> {
        let dropped = slf.cast::<Dropped>().ok().map(|d| {
            let d = d.get();
            (d.reason.clone(), d.reason_kind.clone(), d.filter_index)
        });
        (slf.get().kind, dropped).into_pyobject(slf.py())?.hash()
    }

    fn __repr__(&self) -> &'static str {
        match self.kind {
            "delivered" => "weir.Delivered",
            _ => "weir.FilteredOut",
        }
    }

    /// `weir.Delivered` and `weir.FilteredOut` pickle as themselves (by name); another
    /// `Verdict(kind)` as a call of `Verdict`.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let kind = slf.get().kind;
        let single = if kind == "delivered" {
            (&DELIVERED, "Delivered")
        } else {
            (&FILTERED_OUT, "FilteredOut")
        };
        if single.0.get(py).is_some_and(|s| s.as_ptr() == slf.as_ptr()) {
            return Ok(PyString::new(py, single.1).into_any());
        }
        Ok((slf.get_type(), (kind,)).into_pyobject(py)?.into_any())
    }
}

/// A dropped record: Lambda neither delivers nor filters it (its data cannot be read as the
/// filters need). `reason` says why; `reason_kind` names the case (not_json,
/// not_an_object, body_not_a_string, data_not_a_string, invalid_base64,
/// plain_pattern_on_json, json_pattern_on_text, plain_pattern_not_allowed, metadata_part,
/// unreadable); `filter_index` the filter to blame, when one is.
#[pyclass(frozen, extends = Verdict, module = "weir._weir")]
pub(crate) struct Dropped {
    #[pyo3(get)]
    reason: String,
    #[pyo3(get)]
    reason_kind: String,
    #[pyo3(get)]
    filter_index: Option<usize>,
}

#[pymethods]
impl Dropped {
    #[new]
    #[pyo3(signature = (reason, reason_kind = "dropped".to_string(), filter_index = None))]
    fn new(
        reason: String,
        reason_kind: String,
        filter_index: Option<usize>,
    ) -> PyClassInitializer<Dropped> {
        PyClassInitializer::from(Verdict { kind: "dropped" }).add_subclass(Dropped {
            reason,
            reason_kind,
            filter_index,
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "weir.Dropped({})",
            PyString::new(py, &self.reason).repr()?
        ))
    }

    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (String, String, Option<usize>))> {
        let d = slf.get();
        Ok((
            slf.get_type().into_any(),
            (d.reason.clone(), d.reason_kind.clone(), d.filter_index),
        ))
    }
}

static DELIVERED: PyOnceLock<Py<Verdict>> = PyOnceLock::new();
static FILTERED_OUT: PyOnceLock<Py<Verdict>> = PyOnceLock::new();

fn verdict(py: Python<'_>, v: &RecordVerdict) -> PyResult<Py<PyAny>> {
    Ok(match v {
        RecordVerdict::Delivered => DELIVERED
            .get(py)
            .expect("registered")
            .clone_ref(py)
            .into_any(),
        RecordVerdict::Dropped { reason } => Py::new(
            py,
            Dropped::new(
                reason.to_string(),
                reason.kind().to_string(),
                reason.filter(),
            ),
        )?
        .into_any(),
        _ => FILTERED_OUT
            .get(py)
            .expect("registered")
            .clone_ref(py)
            .into_any(),
    })
}

fn source(name: &str) -> PyResult<Source> {
    Source::from_str(name).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A Lambda event source mapping's FilterCriteria: `FilterCriteria(criteria, *,
/// lambda_strict=True, max_filters=5)`. `criteria` is the document (`{"Filters": [{"Pattern":
/// "..."}]}`) as text or a dict, where a dict's `Pattern` may itself be a dict; a list of
/// patterns (each text, a dict or a `Pattern`) is that document with one filter each (read
/// with the same options, `max_filters` included).
#[pyclass(frozen, module = "weir._weir", name = "FilterCriteria")]
pub(crate) struct PyFilterCriteria {
    inner: FilterCriteria,
    lambda_strict: bool,
}

/// A criteria dict with each `Pattern` that is not a string written as JSON text.
fn criteria_text(criteria: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = criteria.py();
    let Ok(doc) = criteria.cast::<PyDict>() else {
        return pattern_text(criteria, "criteria");
    };
    let copy = doc.copy()?;
    if let Some(filters) = doc.get_item("Filters")? {
        if let Ok(list) = filters.cast::<pyo3::types::PyList>() {
            let new_filters = pyo3::types::PyList::empty(py);
            for (i, f) in list.iter().enumerate() {
                match f.cast::<PyDict>() {
                    Ok(fd) => {
                        let fcopy = fd.copy()?;
                        if let Some(p) = fd.get_item("Pattern")? {
                            if !p.is_instance_of::<PyString>() {
                                let text = match p.cast::<PyPattern>() {
                                    Ok(pp) => pp.get().pattern.text().to_string(),
                                    Err(_) => {
                                        pattern_text(&p, &format!("criteria.Filters[{i}].Pattern"))?
                                    }
                                };
                                fcopy.set_item("Pattern", text)?;
                            }
                        }
                        new_filters.append(fcopy)?;
                    }
                    Err(_) => new_filters.append(f)?,
                }
            }
            copy.set_item("Filters", new_filters)?;
        }
    }
    pattern_text(copy.as_any(), "criteria")
}

#[pymethods]
impl PyFilterCriteria {
    #[new]
    #[pyo3(signature = (criteria, *, lambda_strict = true, max_filters = weir::lambda::DEFAULT_MAX_FILTERS))]
    fn new(
        criteria: &Bound<'_, PyAny>,
        lambda_strict: bool,
        max_filters: usize,
    ) -> PyResult<PyFilterCriteria> {
        let py = criteria.py();
        let options = crate::options(lambda_strict, false);
        // A list of patterns is the document with one filter each: read with the same
        // options and limits, refused with the same errors.
        let document;
        let criteria = if criteria.is_instance_of::<pyo3::types::PyList>()
            || criteria.is_instance_of::<pyo3::types::PyTuple>()
        {
            let filters = pyo3::types::PyList::empty(py);
            for p in criteria.try_iter()? {
                let filter = PyDict::new(py);
                filter.set_item("Pattern", p?)?;
                filters.append(filter)?;
            }
            let doc = PyDict::new(py);
            doc.set_item("Filters", filters)?;
            document = doc.into_any();
            &document
        } else {
            criteria
        };
        let text = criteria_text(criteria)?;
        let inner = FilterCriteria::parse_with(&text, &options, max_filters)
            .map_err(|e| errors::pattern_error(py, &e))?;
        Ok(PyFilterCriteria {
            inner,
            lambda_strict,
        })
    }

    /// Whether a plain JSON event (no source decoding) matches any filter; with no filters,
    /// True.
    fn matches(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = event_bytes(event, "event")?;
        let hit = self
            .inner
            .matches(bytes.as_bytes())
            .map_err(|e| errors::event_error(py, &e, None, None))?;
        object_only(py, bytes.as_bytes())?;
        Ok(hit)
    }

    /// Raises `PatternError` when AWS refuses these criteria for `source` (Kinesis and
    /// DynamoDB refuse a plain-string filter on their data field).
    fn check_for(&self, py: Python<'_>, source: &str) -> PyResult<()> {
        self.inner
            .check_for(self::source(source)?)
            .map_err(|e| errors::pattern_error(py, &e))
    }

    /// One verdict per record of `source` ("sqs", "kinesis", "dynamodb", "kafka", "mq").
    /// `records`: an iterable of records (dict, str, bytes), a Lambda event dict with
    /// "Records", or one str/bytes buffer (one record, a JSON array of records, JSONL or a
    /// stream of values). Runs `check_for(source)` first.
    #[pyo3(signature = (records, source = "sqs"))]
    fn evaluate(
        &self,
        py: Python<'_>,
        records: &Bound<'_, PyAny>,
        source: &str,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let src = self::source(source)?;
        self.inner
            .check_for(src)
            .map_err(|e| errors::pattern_error(py, &e))?;
        let mut out = Vec::new();
        let fc = &self.inner;
        if let Some(buffer) = text_bytes(records)? {
            let bytes = buffer.as_bytes();
            py.detach(|| {
                // One record, a JSON array of records, JSONL or a stream of values, as the
                // CLI reads them; a record that cannot be cut is Lambda's "not JSON".
                let records = weir::json::Splitter::new(bytes)
                    .checking(weir::json::Checking::Boundaries)
                    .map(|r| r.map_or(&b""[..], |e| e.bytes));
                fc.evaluate_batch(src, records, &mut out)
            });
        } else {
            let records = match records.cast::<PyDict>() {
                Ok(d) => d.get_item("Records")?.ok_or_else(|| {
                    PyTypeError::new_err(
                        "records is a dict without \"Records\": pass an iterable of records",
                    )
                })?,
                Err(_) => records.clone(),
            };
            let mut batch = Batch::collect(&records, "records")?;
            if let Some((_, e)) = batch.failed.drain(..).next() {
                return Err(e);
            }
            let slices = batch.slices();
            py.detach(|| fc.evaluate_batch(src, slices.iter().copied(), &mut out));
        }
        out.iter().map(|v| verdict(py, v)).collect()
    }

    /// The filters' pattern texts.
    fn patterns(&self) -> Vec<String> {
        self.inner
            .patterns()
            .iter()
            .map(|p| p.text().to_string())
            .collect()
    }

    #[getter]
    fn lambda_strict(&self) -> bool {
        self.lambda_strict
    }

    fn __len__(&self) -> usize {
        self.inner.patterns().len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<weir.FilterCriteria with {} filters>",
            self.inner.patterns().len()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<Verdict>()?;
    m.add_class::<Dropped>()?;
    m.add_class::<PyFilterCriteria>()?;
    let delivered = DELIVERED.get_or_try_init(py, || Py::new(py, Verdict { kind: "delivered" }))?;
    let filtered = FILTERED_OUT.get_or_try_init(py, || {
        Py::new(
            py,
            Verdict {
                kind: "filtered_out",
            },
        )
    })?;
    m.add("Delivered", delivered.clone_ref(py))?;
    m.add("FilteredOut", filtered.clone_ref(py))?;
    Ok(())
}
