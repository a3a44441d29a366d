//! The client's address as far as it can be trusted: the TCP peer, unless
//! the peer is one of the operator's reverse proxies (`TRUSTED_PROXIES`),
//! in which case the forwarding header those proxies append is walked from
//! the right, past every trusted hop, to the first address nobody we trust
//! could have forged.
//!
//! Rocket's own `ip_header` (`X-Real-IP` by default) believes any client,
//! so the services turn it off and read the address from here. Without a
//! trusted proxy no header is read at all. With one, exactly one header is
//! read, the one the operator names (`CLIENT_ADDRESS_HEADER`):
//! `X-Forwarded-For` by default, or RFC 7239 `Forwarded`. The other is
//! never looked at: a proxy appends to the header it knows and passes the
//! other through untouched, so any fallback or preference between the two
//! would let a client write the header that wins.
//!
//! A value a trusted proxy passed that cannot be parsed (`unknown`, an
//! obfuscated `_node`, garbage) ends the walk at the peer: what lies left of
//! it was written by someone no trusted hop vouched for.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// The one forwarding header that trusted proxies set
/// (`CLIENT_ADDRESS_HEADER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardingHeader {
    /// `X-Forwarded-For`: what nginx, Envoy and most load balancers append to.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded`, its `for=` parameters.
    Forwarded,
}

impl ForwardingHeader {
    /// `x-forwarded-for` or `forwarded`, in any case; the error is one line
    /// for the start-up failure.
    pub fn parse(value: &str) -> Result<ForwardingHeader, String> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("x-forwarded-for") {
            Ok(ForwardingHeader::XForwardedFor)
        } else if value.eq_ignore_ascii_case("forwarded") {
            Ok(ForwardingHeader::Forwarded)
        } else {
            Err(format!(
                "{value:?} is not a forwarding header this service reads: x-forwarded-for or forwarded"
            ))
        }
    }

    /// The header's name, as requests carry it.
    pub fn name(self) -> &'static str {
        match self {
            ForwardingHeader::XForwardedFor => "X-Forwarded-For",
            ForwardingHeader::Forwarded => "Forwarded",
        }
    }
}

/// The CIDRs of the reverse proxies whose forwarding header is believed,
/// and which header that is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardingHeader,
}

impl TrustedProxies {
    /// Comma-separated CIDRs (a bare address is its own /32 or /128), whose
    /// `X-Forwarded-For` is read ([`TrustedProxies::reading`] picks another).
    /// The error says which entry is wrong, for a one-line start-up failure.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let net = IpNet::from_str(entry)
                .or_else(|_| IpAddr::from_str(entry).map(IpNet::from))
                .map_err(|_| format!("{entry:?} is not a CIDR such as 10.0.0.0/8 or fd00::/8"))?;
            nets.push(net.trunc());
        }
        Ok(TrustedProxies {
            nets,
            header: ForwardingHeader::default(),
        })
    }

    /// The same proxies, believed in `header` only.
    pub fn reading(self, header: ForwardingHeader) -> TrustedProxies {
        TrustedProxies { header, ..self }
    }

    /// The header read from trusted proxies.
    pub fn header(&self) -> ForwardingHeader {
        self.header
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.nets.iter().any(|net| net.contains(&address))
    }

    /// The client address of a request from `peer` whose
    /// [`TrustedProxies::header`] has these values, in the order they
    /// arrived. Any other forwarding header the request carries is no input.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        header_values: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let elements = header_values
            .into_iter()
            .flat_map(split_list)
            .filter(|element| !element.is_empty());
        let hops: Vec<Option<IpAddr>> = match self.header {
            ForwardingHeader::XForwardedFor => elements.map(parse_node).collect(),
            ForwardingHeader::Forwarded => elements.map(forwarded_for).collect(),
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                None => return peer,
                Some(address) if self.contains(address) => client = address,
                Some(address) => return address,
            }
        }
        // Every hop is one of ours: the request began inside; the furthest
        // hop is the best we know.
        client
    }
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's view of IPv4) as IPv4.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Splits a header's list on `,`. Quoted strings are not honoured: no
/// address contains a comma, and an unbalanced quote from a client must not
/// swallow the elements a trusted proxy appended after it.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim)
}

/// The `for=` node of one `Forwarded` element (RFC 7239 §4), if it names
/// an address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in element.split(';') {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None;
            }
            let value = value.trim();
            let value = match value.strip_prefix('"') {
                Some(rest) => rest.strip_suffix('"')?,
                None => value,
            };
            found = Some(parse_node(value)?);
        }
    }
    found
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(address) = IpAddr::from_str(node) {
        return Some(canonical(address));
    }
    if let Ok(socket) = SocketAddr::from_str(node) {
        return Some(canonical(socket.ip()));
    }
    let inner = node.strip_prefix('[')?.strip_suffix(']')?;
    std::net::Ipv6Addr::from_str(inner)
        .ok()
        .map(|v6| canonical(IpAddr::V6(v6)))
}

mod guard {
    use std::convert::Infallible;
    use std::net::IpAddr;

    use rocket::Request;
    use rocket::request::{FromRequest, Outcome};

    use super::TrustedProxies;

    /// The request's client address (see the module doc), `None` only when
    /// Rocket has no peer (its local test client). Reads the
    /// [`TrustedProxies`] the service manages; none managed means none trusted.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ClientAddr(pub Option<IpAddr>);

    impl ClientAddr {
        /// Computed once per request and cached, for the handlers and the
        /// request log alike.
        pub fn of(request: &Request<'_>) -> ClientAddr {
            *request.local_cache(|| {
                let Some(peer) = request.remote().map(|socket| socket.ip()) else {
                    return ClientAddr(None);
                };
                let address = match request.rocket().state::<TrustedProxies>() {
                    Some(trusted) => {
                        trusted.client_address(peer, request.headers().get(trusted.header().name()))
                    }
                    None => super::canonical(peer),
                };
                ClientAddr(Some(address))
            })
        }
    }

    #[rocket::async_trait]
    impl<'r> FromRequest<'r> for ClientAddr {
        type Error = Infallible;

        async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
            Outcome::Success(ClientAddr::of(request))
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]
        use rocket::http::Header;
        use rocket::local::asynchronous::Client;
        use rocket::{get, routes};

        use super::ClientAddr;
        use crate::client_addr::{ForwardingHeader, TrustedProxies};

        #[get("/")]
        fn seen_as(client: ClientAddr) -> String {
            client.0.map(|a| a.to_string()).unwrap_or_default()
        }

        /// The address a request from the proxy 10.0.0.5 is seen from.
        async fn seen(header: ForwardingHeader, headers: &[(&str, &str)]) -> String {
            let config = rocket::Config {
                log_level: rocket::config::LogLevel::Off,
                ..rocket::Config::debug_default()
            };
            let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap().reading(header);
            let rocket = rocket::custom(config)
                .manage(trusted)
                .mount("/", routes![seen_as]);
            let client = Client::untracked(rocket).await.unwrap();
            let mut request = client.get("/").remote("10.0.0.5:4711".parse().unwrap());
            for (name, value) in headers {
                request = request.header(Header::new(name.to_string(), value.to_string()));
            }
            request.dispatch().await.into_string().await.unwrap()
        }

        #[rocket::async_test]
        async fn only_the_named_header_is_read() {
            use ForwardingHeader::{Forwarded, XForwardedFor};
            let both = [
                ("X-Forwarded-For", "203.0.113.7"),
                ("Forwarded", "for=198.51.100.9"),
            ];
            assert_eq!(seen(XForwardedFor, &both).await, "203.0.113.7");
            assert_eq!(seen(Forwarded, &both).await, "198.51.100.9");
            // The other header alone leaves the peer as the client.
            assert_eq!(seen(XForwardedFor, &both[1..]).await, "10.0.0.5");
            assert_eq!(seen(Forwarded, &both[..1]).await, "10.0.0.5");
            // Names are case-insensitive; X-Real-IP is never read.
            let lower = [
                ("x-forwarded-for", "203.0.113.8"),
                ("X-Real-IP", "192.0.2.1"),
            ];
            assert_eq!(seen(XForwardedFor, &lower).await, "203.0.113.8");
            assert_eq!(
                seen(Forwarded, &[("X-Real-IP", "192.0.2.1")]).await,
                "10.0.0.5"
            );
        }
    }
}

pub use guard::ClientAddr;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rand::Rng;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    const PROXY: &str = "10.0.0.5";
    const CLIENT: &str = "203.0.113.7";

    #[test]
    fn parses_cidrs_and_bare_addresses_and_names_the_bad_entry() {
        let list = trusted(" 10.0.0.0/8, 192.168.1.1 ,fd00::/8,,");
        assert!(list.contains(ip("10.200.0.1")));
        assert!(list.contains(ip("192.168.1.1")));
        assert!(!list.contains(ip("192.168.1.2")));
        assert!(list.contains(ip("fd12::1")));
        assert!(list.contains(ip("::ffff:10.1.1.1")), "mapped IPv4");
        assert!(trusted("").is_empty());
        for bad in ["10.0.0.0/33", "example.com", "10.0.0.0/8;", "1.2.3"] {
            let error = TrustedProxies::parse(&format!("10.0.0.0/8,{bad}")).unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }

    #[test]
    fn the_header_setting_is_one_of_two_names() {
        for (text, want) in [
            ("x-forwarded-for", ForwardingHeader::XForwardedFor),
            (" X-Forwarded-For ", ForwardingHeader::XForwardedFor),
            ("forwarded", ForwardingHeader::Forwarded),
            ("FORWARDED", ForwardingHeader::Forwarded),
        ] {
            assert_eq!(ForwardingHeader::parse(text).unwrap(), want, "{text}");
        }
        for bad in [
            "",
            "x-real-ip",
            "x-forwarded-for,forwarded",
            "forwarded-for",
        ] {
            let error = ForwardingHeader::parse(bad).unwrap_err();
            assert!(error.contains("x-forwarded-for or forwarded"), "{error}");
        }
        assert_eq!(ForwardingHeader::default(), ForwardingHeader::XForwardedFor);
        assert_eq!(
            trusted("10.0.0.0/8").header(),
            ForwardingHeader::XForwardedFor
        );
        assert_eq!(
            trusted("10.0.0.0/8")
                .reading(ForwardingHeader::Forwarded)
                .header()
                .name(),
            "Forwarded"
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        for list in ["", "10.0.0.0/8"] {
            for header in [ForwardingHeader::XForwardedFor, ForwardingHeader::Forwarded] {
                let list = trusted(list).reading(header);
                let got = list.client_address(ip("198.51.100.9"), [CLIENT, "for=192.0.2.1"]);
                assert_eq!(got, ip("198.51.100.9"));
            }
        }
        assert_eq!(
            trusted("").client_address(ip("::ffff:198.51.100.9"), []),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn x_forwarded_for_rightmost_untrusted_hop() {
        let list = trusted("10.0.0.0/8");
        let cases: &[(&[&str], &str)] = &[
            (&[CLIENT], CLIENT),
            (&["192.0.2.1, 203.0.113.7"], CLIENT),
            (&["192.0.2.1,203.0.113.7, 10.1.1.1,10.2.2.2"], CLIENT),
            (&["192.0.2.1", "203.0.113.7", "10.1.1.1"], CLIENT),
            (&["203.0.113.7:4711"], CLIENT),
            (&["[2001:db8::1]:443"], "2001:db8::1"),
            (&["2001:db8::1"], "2001:db8::1"),
            (&["::ffff:203.0.113.7"], CLIENT),
            (&["10.1.1.1, 10.2.2.2"], "10.1.1.1"),
            (&[], PROXY),
            (&[""], PROXY),
            (&["garbage, 203.0.113.7"], CLIENT),
            (&["203.0.113.7, garbage"], PROXY),
            (&["203.0.113.7, unknown, 10.1.1.1"], PROXY),
            (&["203.0.113.7,, 10.1.1.1"], CLIENT),
            // A Forwarded element is not an X-Forwarded-For hop.
            (&["for=203.0.113.7"], PROXY),
        ];
        for (headers, want) in cases {
            let got = list.client_address(ip(PROXY), headers.iter().copied());
            assert_eq!(got, ip(want), "{headers:?}");
        }
    }

    #[test]
    fn forwarded_forms() {
        let list = trusted("10.0.0.0/8").reading(ForwardingHeader::Forwarded);
        let cases: &[(&[&str], &str)] = &[
            (&["for=203.0.113.7"], CLIENT),
            (&["For=\"203.0.113.7:4711\";proto=https"], CLIENT),
            (&["for=\"[2001:db8:cafe::17]:4711\""], "2001:db8:cafe::17"),
            (&["for=\"[2001:db8:cafe::17]\""], "2001:db8:cafe::17"),
            (
                &["for=192.0.2.1, for=203.0.113.7;by=10.0.0.1, for=10.1.1.1"],
                CLIENT,
            ),
            (&["for=192.0.2.1", "for=203.0.113.7"], CLIENT),
            (&["proto=https;for=203.0.113.7;host=example.com"], CLIENT),
            (&["for=unknown"], PROXY),
            (&["for=203.0.113.7, for=_hidden"], PROXY),
            (&["for=\"2001:db8::1\""], "2001:db8::1"),
            (&["for=\"a,b\", for=203.0.113.7"], CLIENT),
            (&["proto=https"], PROXY),
            (&["for=203.0.113.7;for=192.0.2.1"], PROXY),
            (&["for=\"203.0.113.7"], PROXY),
            (&[], PROXY),
            // An X-Forwarded-For hop is not a Forwarded element.
            (&["203.0.113.7"], PROXY),
        ];
        for (headers, want) in cases {
            let got = list.client_address(ip(PROXY), headers.iter().copied());
            assert_eq!(got, ip(want), "{headers:?}");
        }
    }

    /// Bounded random chains: whatever a client prepends, the answer is the
    /// address the first trusted proxy saw, and nothing panics on noise.
    #[test]
    fn random_chains_never_let_the_client_choose() {
        let list = trusted("10.0.0.0/8,fd00::/8");
        let mut rng = rand::rng();
        let noise = [
            "",
            " ",
            ",",
            "\"",
            "[",
            "]:",
            "for=",
            ";",
            "unknown",
            "::",
            "999.1.1.1",
            "é",
            "\\\"",
            "for=\"[::1",
            "1.2.3.4:99999",
        ];
        for _ in 0..2_000 {
            let mut forged: Vec<String> = Vec::new();
            for _ in 0..rng.random_range(0..4) {
                forged.push(if rng.random_bool(0.5) {
                    format!("192.0.2.{}", rng.random_range(0..=255))
                } else {
                    noise[rng.random_range(0..noise.len())].to_owned()
                });
            }
            let client: IpAddr = if rng.random_bool(0.5) {
                IpAddr::from([198, 51, 100, rng.random_range(0..=255u8)])
            } else {
                IpAddr::from([
                    0x2001,
                    0xdb8,
                    0,
                    0,
                    0,
                    0,
                    0,
                    rng.random_range(1..=0xffffu16),
                ])
            };
            let proxies: Vec<IpAddr> = (0..rng.random_range(0..3))
                .map(|_| IpAddr::from([10, 0, rng.random_range(0..=255u8), 1]))
                .collect();
            // The first trusted proxy appends the client; later ones append
            // the proxy before them; the peer is the last proxy.
            let mut chain = forged.clone();
            chain.push(client.to_string());
            chain.extend(proxies.iter().map(IpAddr::to_string));
            let xff = chain.join(", ");
            let got = list.client_address(ip(PROXY), [xff.as_str()]);
            assert_eq!(got, client, "{xff:?}");

            let forwarded = chain
                .iter()
                .map(|hop| match hop.parse::<IpAddr>() {
                    Ok(IpAddr::V6(v6)) => {
                        format!("for=\"[{v6}]:{}\"", rng.random_range(1..=65535u16))
                    }
                    _ => format!("for={hop}"),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let got = list
                .clone()
                .reading(ForwardingHeader::Forwarded)
                .client_address(ip(PROXY), [forwarded.as_str()]);
            assert_eq!(got, client, "{forwarded:?}");

            // Pure noise from a trusted peer never panics, and an untrusted
            // peer is never replaced.
            let raw: String = forged.concat();
            for header in [ForwardingHeader::XForwardedFor, ForwardingHeader::Forwarded] {
                let list = list.clone().reading(header);
                let _ = list.client_address(ip(PROXY), [raw.as_str()]);
                let outsider = ip("198.51.100.200");
                assert_eq!(list.client_address(outsider, [raw.as_str()]), outsider);
            }
        }
    }
}
