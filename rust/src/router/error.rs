//! The router's typed compile error.

use std::fmt;

/// A route that cannot be compiled: names the route and the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterError {
    /// The route's name when it has one, else its id.
    pub route: String,
    /// The route field at fault (`paths`, `hosts`, ...).
    pub field: &'static str,
    /// What is wrong with the field.
    pub message: String,
}

impl RouterError {
    pub(crate) fn new(route: &crate::entities::Route, field: &'static str, message: String) -> Self {
        let route = match &route.name {
            Some(name) => format!("{} ({})", route.id, name),
            None => route.id.clone(),
        };
        RouterError { route, field, message }
    }
}

impl fmt::Display for RouterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "route {}: {}: {}", self.route, self.field, self.message)
    }
}

impl std::error::Error for RouterError {}
