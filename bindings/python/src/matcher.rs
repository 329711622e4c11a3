//! `weir.Matcher`: many named rules compiled into one matcher.
//!
//! The core matcher sits behind a mutex that is held only to change it or to take a snapshot
//! (a clone: two reference counts, the rules are shared until changed). Every match works on a
//! snapshot with the mutex released, and batches also release the GIL: threads sharing one
//! `Matcher` match in parallel, and a rule added while a batch runs applies from the next call.

use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyKeyError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors;
use crate::events::{event_bytes, not_an_object, object_only, text_bytes, Batch};
use crate::explain::RuleExplanation;
use crate::{pattern_text, PyPattern};

/// Many named rules compiled into one matcher: `Matcher(rules={}, *, lambda_strict=False,
/// numbers_as_strings=False, lazy=False)`. Every pattern is read with the matcher's options,
/// a `Pattern` too (its text parsed again). Shared safely between threads.
#[pyclass(frozen, module = "weir._weir", name = "Matcher")]
pub(crate) struct PyMatcher {
    inner: Mutex<weir::Matcher>,
    lambda_strict: bool,
    numbers_as_strings: bool,
    lazy: bool,
}

/// What a batch does with an event that cannot be read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnError {
    Raise,
    Skip,
    Return,
}

fn on_error(errors: &str, allow_return: bool) -> PyResult<OnError> {
    match errors {
        "raise" => Ok(OnError::Raise),
        "skip" => Ok(OnError::Skip),
        "return" if allow_return => Ok(OnError::Return),
        _ => Err(PyValueError::new_err(format!(
            "errors must be {}, not {errors:?}",
            if allow_return {
                "'raise', 'skip' or 'return'"
            } else {
                "'raise' or 'skip'"
            }
        ))),
    }
}

/// The results of one batch call, with what is needed to report them.
struct Outcome<'py> {
    results: weir::BatchResults,
    /// Every bad event's error, by ascending index: events that could not be cut from a
    /// buffer or written as JSON, read as JSON, or that are not objects.
    errors: Vec<(usize, PyErr)>,
    /// The snapshot that matched (its rule ids name the results' rules).
    matcher: weir::Matcher,
    _batch: Option<Batch<'py>>,
}

impl Outcome<'_> {
    /// The error of event `i`, if any; `next` is the place in `errors` (calls go by
    /// ascending `i`).
    fn error(&self, py: Python<'_>, i: usize, next: &mut usize) -> Option<PyErr> {
        let (j, e) = self.errors.get(*next)?;
        if *j != i {
            return None;
        }
        *next += 1;
        Some(e.clone_ref(py))
    }
}

/// How a buffer was cut: JSONL lines (cut and matched in one pass), or the splitter's items
/// of any other layout.
enum Cut<'b> {
    Lines(Vec<weir::json::Event<'b>>),
    Items(Vec<Result<weir::json::Event<'b>, weir::json::SplitError>>),
}

/// The events of one buffer and their results. JSONL (as the splitter decides it on the
/// first event) is cut and matched in one pass (`match_jsonl_part`); any other layout is cut
/// first and then matched.
fn cut_and_match<'b>(m: &weir::Matcher, bytes: &'b [u8]) -> (Cut<'b>, weir::BatchResults) {
    use weir::json::{Checking, Layout, Splitter};
    let mut results = weir::BatchResults::new();
    let mut split = Splitter::new(bytes).checking(Checking::Boundaries);
    let first = split.next();
    if let Some(Ok(event)) = &first {
        if split.current_layout() == Layout::Jsonl {
            let mut events = Vec::new();
            m.match_jsonl_part(bytes, 0, usize::MAX, &mut events, &mut results);
            // (The same first event, as the JSONL cut gives the layout it decided.)
            if events.first() == Some(event) {
                return (Cut::Lines(events), results);
            }
        }
    }
    let cuts: Vec<_> = first.into_iter().chain(split).collect();
    m.match_batch(
        cuts.iter()
            .map(|c| c.as_ref().map_or(&b""[..], |e| e.bytes)),
        &mut results,
    );
    (Cut::Items(cuts), results)
}

/// Every bad event's error in index order: `failed` (sorted) first, then the matcher's
/// errors, then events that are not objects. `lines`: each event's line in a buffer.
fn batch_errors(
    py: Python<'_>,
    results: &weir::BatchResults,
    events: &[&[u8]],
    failed: Vec<(usize, PyErr)>,
    lines: Option<&[usize]>,
) -> Vec<(usize, PyErr)> {
    let mut failed = failed.into_iter().peekable();
    let mut out = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let line = lines.map(|l| l[i]);
        if let Some((_, e)) = failed.next_if(|(j, _)| *j == i) {
            out.push((i, e));
            continue;
        }
        match results.get(i) {
            Err(e) => out.push((i, errors::event_error(py, e, Some(i), line))),
            Ok(_) => {
                if let Some((found, at)) = not_an_object(event) {
                    out.push((
                        i,
                        errors::not_an_object(py, found, event, at, Some(i), line),
                    ));
                }
            }
        }
    }
    out
}

impl PyMatcher {
    fn lock(&self) -> MutexGuard<'_, weir::Matcher> {
        // Nothing panics while holding the lock; a poisoned lock still holds a whole matcher.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self) -> weir::Matcher {
        self.lock().clone()
    }

    /// Adds `pattern` (a `Pattern`, text, a dict, or a list/tuple of those) under `name`.
    fn add_any(&self, py: Python<'_>, name: &str, pattern: &Bound<'_, PyAny>) -> PyResult<()> {
        if pattern.is_instance_of::<PyList>() || pattern.is_instance_of::<PyTuple>() {
            if pattern.len()? == 0 {
                return Err(PyValueError::new_err(format!(
                    "rules[{name:?}] is an empty list: a rule needs at least one pattern"
                )));
            }
            // Validate all first: a bad pattern adds none of them.
            let mut parsed = Vec::new();
            for (i, p) in pattern.try_iter()?.enumerate() {
                parsed.push(self.parse_one(py, name, &p?, &format!("rules[{name:?}][{i}]"))?);
            }
            let mut m = self.lock();
            for p in parsed {
                m.add_pattern(name, p);
            }
            return Ok(());
        }
        let p = self.parse_one(py, name, pattern, &format!("rules[{name:?}]"))?;
        self.lock().add_pattern(name, p);
        Ok(())
    }

    fn parse_one(
        &self,
        py: Python<'_>,
        name: &str,
        pattern: &Bound<'_, PyAny>,
        root: &str,
    ) -> PyResult<weir::Pattern> {
        // A `Pattern` is read again with this matcher's options, as its text is (and as a
        // pickled matcher's rules are): what a rule matches never depends on how its
        // `Pattern` was made.
        let text = match pattern.cast::<PyPattern>() {
            Ok(p) => p.get().pattern.text().to_string(),
            Err(_) => pattern_text(pattern, root)?,
        };
        let options = crate::options(self.lambda_strict, self.numbers_as_strings);
        weir::Pattern::parse_with(&text, &options).map_err(|_| {
            // Again through a scratch matcher, whose error names the rule.
            let mut scratch = weir::Matcher::with_options(options);
            match scratch.add_rule(name, &text) {
                Err(e) => errors::pattern_error(py, &e),
                Ok(_) => PyValueError::new_err("the pattern was refused"),
            }
        })
    }

    /// Matches a batch: one buffer, or an iterable of events.
    fn run<'py>(&self, events: &Bound<'py, PyAny>) -> PyResult<Outcome<'py>> {
        let py = events.py();
        if events.is_instance_of::<PyDict>() {
            return Err(PyTypeError::new_err(
                "events is a dict: pass an iterable of events ([event]) or one str/bytes buffer",
            ));
        }
        if let Some(buffer) = text_bytes(events)? {
            // One value, a JSON array of events, JSONL or a stream of values, as the CLI
            // reads them.
            let m = self.snapshot();
            let bytes = buffer.as_bytes();
            let (cut, results) = py.detach(|| cut_and_match(&m, bytes));
            let mut failed = Vec::new();
            let (lines, slices): (Vec<usize>, Vec<&[u8]>) = match &cut {
                Cut::Lines(events) => events.iter().map(|e| (e.line, e.bytes)).unzip(),
                Cut::Items(cuts) => cuts
                    .iter()
                    .enumerate()
                    .map(|(i, cut)| match cut {
                        Ok(e) => (e.line, e.bytes),
                        Err(e) => {
                            failed.push((i, errors::split_error(py, e, bytes, i)));
                            (e.event_line(), &b""[..])
                        }
                    })
                    .unzip(),
            };
            let errors = batch_errors(py, &results, &slices, failed, Some(&lines));
            return Ok(Outcome {
                results,
                errors,
                matcher: m,
                _batch: None,
            });
        }
        // The events are read first (a generator may call back into weir, this matcher
        // included), then matched on a snapshot of the rules as they are then.
        let mut batch = Batch::collect(events, "events")?;
        let m = self.snapshot();
        let failed = std::mem::take(&mut batch.failed);
        let slices = batch.slices();
        let results = py.detach(|| {
            let mut r = weir::BatchResults::new();
            m.match_batch(slices.iter().copied(), &mut r);
            r
        });
        let errors = batch_errors(py, &results, &slices, failed, None);
        drop(slices);
        Ok(Outcome {
            results,
            errors,
            matcher: m,
            _batch: Some(batch),
        })
    }
}

#[pymethods]
impl PyMatcher {
    #[new]
    #[pyo3(signature = (rules = None, *, lambda_strict = false, numbers_as_strings = false, lazy = false))]
    fn new(
        py: Python<'_>,
        rules: Option<&Bound<'_, PyAny>>,
        lambda_strict: bool,
        numbers_as_strings: bool,
        lazy: bool,
    ) -> PyResult<PyMatcher> {
        let mut m = weir::Matcher::with_options(crate::options(lambda_strict, numbers_as_strings));
        if lazy {
            m.set_reading(weir::EventReading::Lazy);
        }
        let this = PyMatcher {
            inner: Mutex::new(m),
            lambda_strict,
            numbers_as_strings,
            lazy,
        };
        if let Some(rules) = rules {
            let items = rules.call_method0("items").map_err(|_| {
                PyTypeError::new_err("rules must be a mapping of rule names to patterns")
            })?;
            for item in items.try_iter()? {
                let (name, pattern): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
                let name = name
                    .cast::<PyString>()
                    .map_err(|_| PyTypeError::new_err("rule names must be str"))?;
                this.add_any(py, &name.to_cow()?, &pattern)?;
            }
        }
        Ok(this)
    }

    /// Adds `pattern` (a `Pattern`, text, a dict, or a non-empty list of those, each read with
    /// the matcher's options) under `name`; a rule with several patterns matches when any
    /// does.
    fn add(&self, py: Python<'_>, name: &str, pattern: &Bound<'_, PyAny>) -> PyResult<()> {
        self.add_any(py, name, pattern)
    }

    /// Removes rule `name` (all its patterns). Raises `KeyError` when there is none.
    fn remove(&self, name: &str) -> PyResult<()> {
        if self.lock().remove_rule(name) {
            Ok(())
        } else {
            Err(PyKeyError::new_err(name.to_string()))
        }
    }

    /// Removes rule `name` if it exists; returns whether it did.
    fn discard(&self, name: &str) -> bool {
        self.lock().remove_rule(name)
    }

    fn __len__(&self) -> usize {
        self.lock().rule_count()
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(name) = name.cast::<PyString>() else {
            return Ok(false);
        };
        Ok(self.lock().rule_id(&name.to_cow()?).is_some())
    }

    /// The rule names, in the order the rules were added.
    fn names(&self) -> Vec<String> {
        self.lock().rule_names().map(String::from).collect()
    }

    /// The pattern texts of rule `name`. Raises `KeyError` when there is none.
    fn patterns(&self, name: &str) -> PyResult<Vec<String>> {
        let m = self.lock();
        let texts: Option<Vec<String>> =
            m.rule_patterns(name).map(|p| p.map(String::from).collect());
        texts.ok_or_else(|| PyKeyError::new_err(name.to_string()))
    }

    #[getter]
    fn lambda_strict(&self) -> bool {
        self.lambda_strict
    }

    #[getter]
    fn numbers_as_strings(&self) -> bool {
        self.numbers_as_strings
    }

    #[getter]
    fn lazy(&self) -> bool {
        self.lazy
    }

    /// The names of the rules `event` matches, in the order the rules were added.
    fn matching_rules(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
        let bytes = event_bytes(event, "event")?;
        let m = self.snapshot();
        let names = m
            .matching_rules(bytes.as_bytes())
            .map_err(|e| errors::event_error(py, &e, None, None))?;
        object_only(py, bytes.as_bytes())?;
        Ok(names.into_iter().map(String::from).collect())
    }

    /// Whether `event` matches any rule.
    fn is_match(&self, py: Python<'_>, event: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = event_bytes(event, "event")?;
        let m = self.snapshot();
        let hit = m
            .is_match(bytes.as_bytes())
            .map_err(|e| errors::event_error(py, &e, None, None))?;
        object_only(py, bytes.as_bytes())?;
        Ok(hit)
    }

    /// Why `event` does or does not match rule `name`. Raises `KeyError` for an unknown rule.
    fn explain(
        &self,
        py: Python<'_>,
        name: &str,
        event: &Bound<'_, PyAny>,
    ) -> PyResult<RuleExplanation> {
        let bytes = event_bytes(event, "event")?;
        let m = self.snapshot();
        let why = m.explain(name, bytes.as_bytes());
        if why.is_ok() {
            object_only(py, bytes.as_bytes())?;
        }
        match why {
            Ok(Some(why)) => RuleExplanation::from_core(py, &why),
            Ok(None) => Err(PyKeyError::new_err(name.to_string())),
            Err(e) => Err(errors::event_error(py, &e, None, None)),
        }
    }

    /// The indices of the events that match at least one rule. `events`: an iterable of
    /// events (dict, str, bytes) or one str/bytes buffer (one event, a JSON array of events,
    /// JSONL or a stream of values). An event that is not a JSON object is a bad event
    /// (`EventError` of kind `not_an_object`). `errors`: "raise" (the first bad event's error, naming its index) or "skip"
    /// (a bad event matches nothing).
    #[pyo3(signature = (events, *, errors = "raise"))]
    fn filter(&self, events: &Bound<'_, PyAny>, errors: &str) -> PyResult<Vec<usize>> {
        let py = events.py();
        let mode = on_error(errors, false)?;
        let outcome = self.run(events)?;
        let mut next = 0;
        let mut out = Vec::new();
        for i in 0..outcome.results.len() {
            if let Some(e) = outcome.error(py, i, &mut next) {
                if mode == OnError::Raise {
                    return Err(e);
                }
            } else if outcome.results.get(i).is_ok_and(|ids| !ids.is_empty()) {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// For each event, the names of the rules it matches (see `filter` for `events`).
    /// `errors`: "raise", "skip" (a bad event matches nothing: `[]`) or "return" (the
    /// exception object in the event's place).
    #[pyo3(signature = (events, *, errors = "raise"))]
    fn match_many<'py>(
        &self,
        events: &Bound<'py, PyAny>,
        errors: &str,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = events.py();
        let mode = on_error(errors, true)?;
        let outcome = self.run(events)?;
        let m = &outcome.matcher;
        let mut names: Vec<Option<Bound<'py, PyString>>> = Vec::new();
        let out = PyList::empty(py);
        let mut next = 0;
        for i in 0..outcome.results.len() {
            if let Some(e) = outcome.error(py, i, &mut next) {
                match mode {
                    OnError::Raise => return Err(e),
                    OnError::Skip => out.append(PyList::empty(py))?,
                    OnError::Return => out.append(e.into_value(py))?,
                }
                continue;
            }
            let ids = outcome.results.get(i).unwrap_or(&[]);
            let list = PyList::empty(py);
            for id in ids {
                let k = id.index();
                if names.len() <= k {
                    names.resize(k + 1, None);
                }
                if names[k].is_none() {
                    let name = m.rule_name(*id).unwrap_or("");
                    names[k] = Some(PyString::new(py, name));
                }
                list.append(names[k].as_ref().expect("just set"))?;
            }
            out.append(list)?;
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        let m = self.lock();
        format!("<weir.Matcher with {} rules>", m.rule_count())
    }

    fn __getnewargs_ex__<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let rules = PyDict::new(py);
        {
            let m = self.lock();
            for name in m.rule_names() {
                let texts: Vec<&str> = m.rule_patterns(name).into_iter().flatten().collect();
                rules.set_item(name, texts)?;
            }
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("lambda_strict", self.lambda_strict)?;
        kwargs.set_item("numbers_as_strings", self.numbers_as_strings)?;
        kwargs.set_item("lazy", self.lazy)?;
        Ok((PyTuple::new(py, [rules])?, kwargs))
    }
}
