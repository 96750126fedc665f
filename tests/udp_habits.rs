//! nc/socat habits on `netkit udp`: choosing the multicast interface of
//! `udp send` (`--multicast-if`, as socat's ip-multicast-if), on loopback.

mod common;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use common::*;

/// A receiver joined to `group` on the loopback interface.
fn joined_v4(group: Ipv4Addr) -> Result<UdpSocket, String> {
    let rx = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    rx.set_reuse_address(true).unwrap();
    rx.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())
        .map_err(|e| format!("bind: {e}"))?;
    rx.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST)
        .map_err(|e| format!("join {group} on 127.0.0.1: {e}"))?;
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    Ok(UdpSocket::from(rx))
}

/// Whether the kernel loops multicast back on `lo` here (std sockets only).
fn loopback_multicast_works(group: Ipv4Addr) -> Result<(), String> {
    let rx = joined_v4(group)?;
    let port = rx.local_addr().unwrap().port();
    let tx = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    tx.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    tx.send_to(b"probe", &SocketAddr::from((group, port)).into())
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = [0u8; 16];
    rx.recv_from(&mut buf)
        .map(|_| ())
        .map_err(|e| format!("no loopback: {e}"))
}

#[test]
fn send_multicast_if_picks_the_interface() {
    let group = Ipv4Addr::new(239, 255, 0, 77);
    if let Err(why) = loopback_multicast_works(group) {
        eprintln!("skipping: IPv4 multicast on lo does not work here: {why}");
        return;
    }
    let rx = joined_v4(group).unwrap();
    let port = rx.local_addr().unwrap().port().to_string();
    let (code, _, err) = run(
        &[
            "udp",
            "send",
            "--multicast-if",
            "127.0.0.1",
            "--ttl",
            "1",
            "239.255.0.77",
            &port,
            "to the group",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "{err}");
    let mut buf = [0u8; 64];
    let (n, from) = rx.recv_from(&mut buf).expect("the datagram on lo");
    assert_eq!(&buf[..n], b"to the group");
    assert!(from.ip().is_loopback(), "{from}");
}

#[test]
fn send_multicast_if_misuse_is_a_usage_error() {
    for (iface, dest) in [("lo", "239.255.0.78"), ("no-such-if0", "ff02::1:3")] {
        let (code, _, err) = run(
            &["udp", "send", "--multicast-if", iface, dest, "9", "x"],
            Stdio::null(),
        );
        assert_eq!(code, 2, "{iface} {dest}: {err}");
        assert_one_error_line(&err);
        assert!(err.contains("--multicast-if"), "{err}");
    }
}
