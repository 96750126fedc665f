//! Batched datagram receive: `recvmmsg(2)` with the kernel's drop counter.
//!
//! One syscall takes up to [`SLOTS`] datagrams, each with its source address
//! and, once `SO_RXQ_OVFL` is enabled on the socket, the socket's running
//! count of datagrams dropped for lack of receive buffer. Slots are 64 KiB so
//! no datagram is ever truncated; the buffer is allocated zeroed and pages
//! the kernel never writes stay untouched, so small datagrams cost little
//! resident memory.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::RawFd;

/// Datagrams per syscall.
pub const SLOTS: usize = 32;
/// Bytes per slot: larger than any UDP payload.
const SLOT_SIZE: usize = 64 * 1024;
/// Room for one `SO_RXQ_OVFL` control message (a u32), aligned.
const CMSG_ROOM: usize = 64;

/// Asks the kernel to report receive-queue drops with each datagram.
pub fn enable_drop_counter(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid int option for a valid fd.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RXQ_OVFL,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reusable storage for one `recvmmsg` call.
pub struct RecvBatch {
    data: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<[u8; CMSG_ROOM]>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    filled: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch {
            data: vec![0; SLOTS * SLOT_SIZE],
            // SAFETY: sockaddr_storage and mmsghdr are plain C structs for
            // which all-zero bytes are a valid value.
            names: vec![unsafe { mem::zeroed() }; SLOTS],
            controls: vec![[0; CMSG_ROOM]; SLOTS],
            iovecs: Vec::with_capacity(SLOTS),
            headers: Vec::with_capacity(SLOTS),
            filled: 0,
        }
    }

    /// Receives up to [`SLOTS`] datagrams without blocking; returns how many
    /// (an error of kind `WouldBlock` when none is waiting).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.iovecs.clear();
        self.headers.clear();
        for i in 0..SLOTS {
            self.iovecs.push(libc::iovec {
                iov_base: self.data[i * SLOT_SIZE..].as_mut_ptr().cast(),
                iov_len: SLOT_SIZE,
            });
        }
        for i in 0..SLOTS {
            // SAFETY: all-zero is a valid msghdr; the fields set below point
            // into buffers owned by `self` that outlive the call.
            let mut hdr: libc::msghdr = unsafe { mem::zeroed() };
            hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovecs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = self.controls[i].as_mut_ptr().cast();
            hdr.msg_controllen = CMSG_ROOM as _;
            self.headers.push(libc::mmsghdr {
                msg_hdr: hdr,
                msg_len: 0,
            });
        }
        loop {
            // SAFETY: `headers` holds SLOTS initialised entries whose
            // pointers are valid for the duration of the call.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.headers.as_mut_ptr(),
                    SLOTS as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                self.filled = n as usize;
                return Ok(self.filled);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                self.filled = 0;
                return Err(e);
            }
        }
    }

    /// Datagram `i` of the last batch: source, payload, and the socket's drop
    /// count (`None` until the kernel has dropped something: it sends the counter
    /// only once it is non-zero).
    pub fn get(&self, i: usize) -> Option<(SocketAddr, &[u8], Option<u32>)> {
        if i >= self.filled {
            return None;
        }
        let hdr = &self.headers[i];
        let len = (hdr.msg_len as usize).min(SLOT_SIZE);
        let payload = &self.data[i * SLOT_SIZE..i * SLOT_SIZE + len];
        let from = to_socket_addr(&self.names[i])?;
        Some((from, payload, drops_in(&hdr.msg_hdr)))
    }
}

/// A kernel-filled `sockaddr_storage` as a std address.
fn to_socket_addr(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::new(ip.into(), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let addr = SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            );
            Some(crate::net::canonical(SocketAddr::V6(addr)))
        }
        _ => None,
    }
}

/// The `SO_RXQ_OVFL` counter in a received message's control data.
fn drops_in(hdr: &libc::msghdr) -> Option<u32> {
    // SAFETY: CMSG_* walk the control buffer the kernel filled, within
    // `msg_controllen`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SO_RXQ_OVFL {
                let data = libc::CMSG_DATA(cmsg).cast::<u32>();
                return Some(data.read_unaligned());
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn receives_a_batch_with_sources_and_drop_counter() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        enable_drop_counter(rx.as_raw_fd()).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 3], to).unwrap();
        }
        tx.send_to(&vec![9u8; 60_000], to).unwrap();
        let mut batch = RecvBatch::new();
        let mut got = Vec::new();
        while got.len() < 6 {
            match batch.recv(rx.as_raw_fd()) {
                Ok(n) => {
                    for i in 0..n {
                        let (from, payload, drops) = batch.get(i).unwrap();
                        assert_eq!(from, tx.local_addr().unwrap());
                        // The kernel attaches the counter once it is non-zero.
                        assert_eq!(drops.unwrap_or(0), 0);
                        got.push(payload.to_vec());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got[0], vec![0; 3]);
        assert_eq!(got[4], vec![4; 3]);
        assert_eq!(got[5].len(), 60_000);
        assert!(batch.get(6).is_none());
    }
}
