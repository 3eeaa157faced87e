//! Python exception types for the core's typed errors.

use pyo3::create_exception;
use pyo3::prelude::*;

// Each type's module is the one Python imports it from, so that tracebacks and pickling name
// `dataplane._core` (a bare `_core` is not importable).
create_exception!(
    dataplane._core,
    CoreError,
    pyo3::exceptions::PyException,
    "Base class of every error raised by the native core."
);
create_exception!(
    dataplane._core,
    RouterError,
    CoreError,
    "A route cannot be compiled."
);
create_exception!(
    dataplane._core,
    StoreError,
    CoreError,
    "The LMDB environment cannot be opened or read."
);
create_exception!(
    dataplane._core,
    HttpHeadError,
    CoreError,
    "An HTTP head that cannot be parsed."
);
create_exception!(
    dataplane._core,
    RequestRefused,
    CoreError,
    "A client request head refused: args are (status, reason), the status Kong answers it with."
);
create_exception!(
    dataplane._core,
    SharedMemoryError,
    CoreError,
    "A node-wide shared memory table cannot be opened or used (full, a stuck slot, a stray file)."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("CoreError", py.get_type::<CoreError>())?;
    m.add("RouterError", py.get_type::<RouterError>())?;
    m.add("StoreError", py.get_type::<StoreError>())?;
    m.add("HttpHeadError", py.get_type::<HttpHeadError>())?;
    m.add("RequestRefused", py.get_type::<RequestRefused>())?;
    m.add("SharedMemoryError", py.get_type::<SharedMemoryError>())?;
    Ok(())
}
