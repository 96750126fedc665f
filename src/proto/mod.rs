//! Sans-IO protocol code: bytes in, bytes and events out.
//!
//! Nothing under `proto/` may import `mio` or `std::net`, or read the clock;
//! a test (`tests/architecture.rs`) enforces it. That keeps every codec
//! testable whole and one byte at a time, without sockets.

pub mod chat;
pub mod hex;
pub mod http;
pub mod http_client;
pub mod http_request;
pub mod lines;
pub mod proxy;
pub mod resp;
pub mod ws;
