//! The UTF-8 bytes of a Python `str` without copying them, where the running interpreter lets
//! an abi3 module ask for them.
//!
//! `PyUnicode_AsUTF8AndSize` (the str's own cached UTF-8, no copy) is in the stable ABI from
//! Python 3.10 on; the module is built for 3.9's stable ABI, whose only way is
//! `PyUnicode_AsUTF8String` (a new `bytes` object, then a copy: two allocations a string). So
//! the function is declared here and called only when the interpreter running the module is
//! 3.10 or later; on 3.9 the copy is made.

use std::borrow::Cow;
use std::ffi::c_char;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyString;

extern "C" {
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut ffi::PyObject,
        size: *mut ffi::Py_ssize_t,
    ) -> *const c_char;
}

static IN_STABLE_ABI: PyOnceLock<bool> = PyOnceLock::new();

/// Whether the running interpreter has `PyUnicode_AsUTF8AndSize` in its stable ABI (3.10+).
fn borrowable(py: Python<'_>) -> bool {
    *IN_STABLE_ABI.get_or_init(py, || py.version_info() >= (3, 10))
}

/// The UTF-8 bytes of `s`: borrowed from the string itself on Python 3.10+, copied on 3.9.
/// A string holding a lone surrogate (not Unicode text) is an error (`UnicodeEncodeError`).
pub(crate) fn bytes<'a>(s: &'a Bound<'_, PyString>) -> PyResult<Cow<'a, [u8]>> {
    let py = s.py();
    if !borrowable(py) {
        return Ok(Cow::Owned(s.to_cow()?.into_owned().into_bytes()));
    }
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live `str` (borrowed for 'a) and this thread is attached to the
    // interpreter (`Bound`); the function is in the running interpreter's stable ABI (3.10+,
    // checked above) with this signature. It returns NULL with an exception set, or a pointer
    // to `size` bytes of UTF-8 that the string object owns and keeps, unchanged (a `str` is
    // immutable), for as long as it lives, so for 'a.
    let data = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if data.is_null() {
        return Err(PyErr::fetch(py));
    }
    let len = usize::try_from(size).unwrap_or(0);
    // SAFETY: `data` points to `len` initialised bytes living for 'a (see above).
    Ok(Cow::Borrowed(unsafe {
        std::slice::from_raw_parts(data.cast::<u8>(), len)
    }))
}
