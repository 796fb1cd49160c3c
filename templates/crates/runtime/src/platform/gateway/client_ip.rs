//! Who a request comes from, for rate limits: the socket's address, unless that address is a
//! trusted proxy (an ingress controller, a load balancer: `trusted-proxies`, a comma-separated
//! list of addresses and CIDR ranges). Then `X-Forwarded-For` is read from the right, skipping
//! trusted addresses, and the first other one is the client. Without trusted proxies the header
//! is never believed: a client cannot pick its own identity, and behind an ingress every
//! anonymous caller no longer shares the ingress's one bucket once it is listed.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// An address range (`10.0.0.0/8`, `fd00::/8`) or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d`, `a.b.c.d/n`, an IPv6 address or `addr/n`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{text}` is not an address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> (u128, u32) {
            match ip {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v)) => match v.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
            _ => ip,
        };
        let ((net, width), (addr, _)) = (bits(self.addr), bits(ip));
        let shift = width - u32::from(self.prefix);
        shift >= width || (net >> shift) == (addr >> shift)
    }
}

/// The ranges of a `trusted-proxies` setting; a wrong entry is reported and left out.
pub fn parse_list(text: &str) -> Vec<Cidr> {
    text.split(',')
        .filter(|t| !t.trim().is_empty())
        .filter_map(|t| {
            Cidr::parse(t)
                .map_err(|e| tracing::warn!(error = %e, "trusted-proxies entry ignored"))
                .ok()
        })
        .collect()
}

/// The client's address (see the module doc).
pub fn client_ip(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let peer = peer?.ip();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !is_trusted(*ip))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn the_header_is_believed_only_from_trusted_proxies() {
        let ingress: SocketAddr = "10.1.2.3:40000".parse().unwrap();
        let trusted = parse_list("10.0.0.0/8, 192.168.1.7");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // Behind the ingress: the client it saw, not a value the client prepended.
        assert_eq!(
            client_ip(Some(ingress), &headers("6.6.6.6, 203.0.113.9"), &trusted),
            Some(ip("203.0.113.9"))
        );
        // Proxies in a chain are skipped.
        assert_eq!(
            client_ip(
                Some(ingress),
                &headers("203.0.113.9, 192.168.1.7"),
                &trusted
            ),
            Some(ip("203.0.113.9"))
        );
        // A client connecting directly cannot choose its identity.
        let direct: SocketAddr = "198.51.100.4:5000".parse().unwrap();
        assert_eq!(
            client_ip(Some(direct), &headers("1.2.3.4"), &trusted),
            Some(ip("198.51.100.4"))
        );
        // No trusted proxies: the header is never read.
        assert_eq!(
            client_ip(Some(ingress), &headers("1.2.3.4"), &[]),
            Some(ip("10.1.2.3"))
        );
    }

    #[test]
    fn ranges_parse_and_match() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.255.0.1".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(
            net.contains("::ffff:10.0.0.1".parse().unwrap()),
            "v4-mapped"
        );
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(
            Cidr::parse("fd00::/8")
                .unwrap()
                .contains("fd12::1".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("ingress").is_err());
        assert_eq!(parse_list("10.0.0.1, bogus, ").len(), 1);
    }
}
