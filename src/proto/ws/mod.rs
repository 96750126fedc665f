//! WebSocket (RFC 6455), sans-IO: handshake, frames, UTF-8, and the
//! connection state machine with its close handshake.

pub mod deflate;
pub mod frame;
pub mod handshake;
pub mod session;
pub mod utf8;
