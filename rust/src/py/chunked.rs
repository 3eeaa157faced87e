//! `ChunkedDecoder`: a chunked body decoded one upstream read at a time
//! (see `crate::http::chunked`).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyType};

use super::errors::CoreError;
use crate::http::{ChunkedDecoder, ChunkedError, ChunkedLimits};

/// `ChunkedBodyError`, a `CoreError` and a `ValueError`: made by calling `type`, since the
/// exception macro takes one base only.
static CHUNKED_BODY_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn chunked_body_error(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    let class = CHUNKED_BODY_ERROR.get_or_try_init(py, || {
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "dataplane._core")?;
        namespace.set_item(
            "__doc__",
            "A malformed chunked body; the message says what is wrong.",
        )?;
        let bases = (py.get_type::<CoreError>(), py.get_type::<PyValueError>());
        let made = py.get_type::<PyType>().call1(("ChunkedBodyError", bases, namespace))?;
        Ok::<_, PyErr>(made.cast_into::<PyType>()?.unbind())
    })?;
    Ok(class.bind(py))
}

fn raise(py: Python<'_>, error: ChunkedError) -> PyErr {
    match chunked_body_error(py) {
        Ok(class) => PyErr::from_type(class.clone(), error.to_string()),
        Err(failed) => failed,
    }
}

#[pyclass(name = "ChunkedDecoder", module = "dataplane._core")]
pub struct PyChunkedDecoder {
    decoder: ChunkedDecoder,
}

#[pymethods]
impl PyChunkedDecoder {
    #[new]
    #[pyo3(signature = (max_line = 4096, max_trailers = 16384))]
    fn new(max_line: usize, max_trailers: usize) -> Self {
        PyChunkedDecoder { decoder: ChunkedDecoder::new(ChunkedLimits { max_line, max_trailers }) }
    }

    /// `(payload, end)`: the chunk data in `data`, joined, and the offset in `data` just past
    /// the message's end, -1 while it is not complete.
    fn feed<'py>(&mut self, py: Python<'py>, data: &[u8]) -> PyResult<(Bound<'py, PyBytes>, isize)> {
        let feed = self.decoder.feed(data).map_err(|error| raise(py, error))?;
        // one bytes object per call, filled in place: no Python object per chunk
        let payload = match feed.data.as_slice() {
            [] => PyBytes::new(py, b""),
            [span] => PyBytes::new(py, &data[span.clone()]),
            spans => PyBytes::new_with(py, feed.payload_len(), |buffer| {
                let mut at = 0;
                for span in spans {
                    buffer[at..at + span.len()].copy_from_slice(&data[span.clone()]);
                    at += span.len();
                }
                Ok(())
            })?,
        };
        let end = feed.end.map_or(-1, |end| end as isize);
        Ok((payload, end))
    }

    #[getter]
    fn done(&self) -> bool {
        self.decoder.is_done()
    }

    #[getter]
    fn trailers<'py>(&self, py: Python<'py>) -> Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        self.decoder
            .trailers()
            .map(|(name, value)| (PyBytes::new(py, name), PyBytes::new(py, value)))
            .collect()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ChunkedBodyError", chunked_body_error(m.py())?)?;
    m.add_class::<PyChunkedDecoder>()
}
