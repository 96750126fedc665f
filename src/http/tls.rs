//! Moved to [`crate::net::tls`]; re-exported so `http::tls::...` paths keep working.

pub use crate::net::tls::*;
