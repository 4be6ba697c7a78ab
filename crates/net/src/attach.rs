//! Wiring a container's network namespace to its networks.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// One interface of a container on one berth network, fully decided by the
/// caller (addresses come from IPAM before the container starts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Network name, e.g. `myapp_default`.
    pub network: String,
    /// Host bridge the host end is enslaved to, e.g. `br-1a2b3c4d5e6f`.
    pub bridge: String,
    /// Name of the host end of the veth pair (≤ 15 bytes).
    pub host_ifname: String,
    /// Name inside the container: `eth0`, `eth1`, …
    pub ifname: String,
    /// MAC address (`aa:bb:cc:dd:ee:ff`); generated when `None`.
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// Addresses with prefix length.
    pub addresses: Vec<(IpAddr, u8)>,
    /// Gateways (IPv4 and/or IPv6) for the default route.
    pub gateways: Vec<IpAddr>,
    /// Whether this interface carries the default route (first non-internal network).
    pub default_route: bool,
}

/// Errors while wiring a container's network.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("network attachment is not implemented yet")]
    NotImplemented,
}

/// Creates, for each attachment, a veth pair whose peer is born inside the
/// network namespace of `pid` under its final name, and configures addresses,
/// routes and loopback inside. With no attachments it only brings `lo` up.
pub fn attach(_pid: i32, _attachments: &[Attachment]) -> Result<(), AttachError> {
    Err(AttachError::NotImplemented)
}
