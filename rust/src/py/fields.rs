//! `RequestFields`: the header fields of a head the fast lane read, kept as the head's bytes
//! and the fields' spans in them. Python objects for a field are made only when one is looked
//! up or the fields are iterated (most requests never are, or only for two or three names).

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyIterator, PyList, PyTuple};

#[pyclass(frozen, name = "RequestFields", module = "dataplane._core")]
pub struct PyRequestFields {
    head: Vec<u8>,
    /// (name start, name end, value start, value end) in `head`, in order of arrival.
    spans: Vec<[u32; 4]>,
}

impl PyRequestFields {
    /// `fields` are slices of `head`.
    pub fn new(head: &[u8], fields: &[(&[u8], &[u8])]) -> Self {
        let at = |slice: &[u8]| (slice.as_ptr() as usize - head.as_ptr() as usize) as u32;
        let spans = fields
            .iter()
            .map(|(name, value)| {
                let (n, v) = (at(name), at(value));
                [n, n + name.len() as u32, v, v + value.len() as u32]
            })
            .collect();
        PyRequestFields { head: head.to_vec(), spans }
    }

    fn name(&self, span: &[u32; 4]) -> &[u8] {
        &self.head[span[0] as usize..span[1] as usize]
    }

    fn value_of(&self, span: &[u32; 4]) -> &[u8] {
        &self.head[span[2] as usize..span[3] as usize]
    }

    fn matching<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.spans.iter().filter(move |s| self.name(s).eq_ignore_ascii_case(name)).map(|s| self.value_of(s))
    }
}

#[pymethods]
impl PyRequestFields {
    /// The first value of the field `name` (any case), or None.
    fn value<'py>(&self, py: Python<'py>, name: &[u8]) -> Option<Bound<'py, PyBytes>> {
        self.matching(name).next().map(|value| PyBytes::new(py, value))
    }

    /// Every value of the field `name` joined with ", ", or None.
    fn values<'py>(&self, py: Python<'py>, name: &[u8]) -> Option<Bound<'py, PyBytes>> {
        let mut found = self.matching(name);
        let mut joined = found.next()?.to_vec();
        for value in found {
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(value);
        }
        Some(PyBytes::new(py, &joined))
    }

    /// `(name, value)` pairs, names as received.
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyIterator>> {
        let pairs = self
            .spans
            .iter()
            .map(|s| {
                PyTuple::new(
                    py,
                    [PyBytes::new(py, self.name(s)), PyBytes::new(py, self.value_of(s))],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, pairs)?.try_iter()
    }

    fn __len__(&self) -> usize {
        self.spans.len()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRequestFields>()
}
