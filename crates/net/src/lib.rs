//! berth's networking (in progress). The types in [`attach`] are the contract
//! with the runtime: the container's supervisor calls [`attach::attach`] after
//! the container's namespaces exist and before its payload runs. [`dnsdb`] is
//! the contract between the code that attaches containers and the DNS daemon.

pub mod attach;
pub mod dns;
pub mod dnsdb;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod ipam6;
pub mod leases;
pub mod netlink;
pub mod network;
pub mod ports;
