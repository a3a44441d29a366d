//! Where a server may send a request on a stranger's word. A URL that a
//! self-registered client gives (its `jwks_uri`, its
//! `backchannel_logout_uri`) must not make the server reach a loopback,
//! private, link-local or otherwise internal address: checking the URL's
//! text at registration is not enough, since a public name can resolve to
//! an internal address later (DNS rebinding). [`is_internal`] judges one
//! address; [`PublicAddressesOnly`] (feature `reqwest`) is a resolver that
//! drops every internal address a name resolves to, so the check holds at
//! the moment of connecting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `address` is one no stranger's URL may make the server reach.
pub fn is_internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        // 0.0.0.0/8 ("this network") and 100.64.0.0/10 (carrier-grade NAT).
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        // 192.0.0.0/24 (IETF protocol assignments), 198.18.0.0/15 (benchmarking).
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address written as IPv6 (::ffff:a.b.c.d, ::a.b.c.d) or behind
    // NAT64 (64:ff9b::/96) is judged as that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    let segments = ip.segments();
    if segments[..6] == [0, 0, 0, 0, 0, 0] && !ip.is_unspecified() && !ip.is_loopback() {
        return is_internal_v4(Ipv4Addr::from_bits(ip.to_bits() as u32));
    }
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_internal_v4(Ipv4Addr::from_bits(ip.to_bits() as u32));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        // fec0::/10, the deprecated site-local addresses.
        || (segments[0] & 0xffc0) == 0xfec0
        // 2001:db8::/32, documentation.
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)
}

/// Whether `url` names an internal address literally (`http://10.0.0.1/`,
/// `http://[::1]/`): such a host is connected to without any resolver.
#[cfg(feature = "reqwest")]
pub fn names_internal_address(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => is_internal_v4(v4),
        Some(url::Host::Ipv6(v6)) => is_internal_v6(v6),
        _ => false,
    }
}

/// A reqwest resolver that answers only the public addresses of a name
/// (the system's resolver asked), and an error when it has none, so that
/// no connection to an internal address is ever attempted. A URL with an
/// address for its host meets no resolver: see [`names_internal_address`].
#[cfg(feature = "reqwest")]
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicAddressesOnly;

#[cfg(feature = "reqwest")]
impl reqwest::dns::Resolve for PublicAddressesOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<std::net::SocketAddr> = resolved
                .filter(|address| !is_internal(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn internal_and_public_addresses() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "198.18.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in [
            "93.184.216.34",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[cfg(feature = "reqwest")]
    #[tokio::test]
    async fn a_name_with_only_internal_addresses_resolves_to_nothing() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let refused = PublicAddressesOnly.resolve(name).await;
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(message, "localhost resolves to no public address");
    }
}
