//! Network mapping: `-n/--network [IN:]OUT`, `-b/--bridge [IN:]OUT`,
//! `--mac MAC:network|bridge:OUT`, applied to the guest's NICs as
//! virt-v2v's `Networks` module does: a `--mac` mapping first (it may turn
//! a network into a bridge or back), else the named mapping for the NIC's
//! network (or bridge), else the default one, else no change.

use std::collections::BTreeMap;
use v2v_meta::NetworkKind;

/// The mappings given on the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkMap {
    /// By lower-case MAC address.
    pub macs: BTreeMap<String, (NetworkKind, String)>,
    pub networks: BTreeMap<String, String>,
    pub default_network: Option<String>,
    pub bridges: BTreeMap<String, String>,
    pub default_bridge: Option<String>,
}

/// A bad mapping argument (a usage error): the message names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MapError(pub String);

impl NetworkMap {
    /// Add one `-n/--network` argument: `IN:OUT`, or `OUT` (the default
    /// for every other network).  Split at the first `:`; an empty side
    /// makes the other the default, as virt-v2v does.
    pub fn add_network(&mut self, arg: &str) -> Result<(), MapError> {
        add(
            arg,
            "-n/--network",
            "network",
            &mut self.networks,
            &mut self.default_network,
        )
    }

    /// Add one `-b/--bridge` argument (see [`NetworkMap::add_network`]).
    pub fn add_bridge(&mut self, arg: &str) -> Result<(), MapError> {
        add(
            arg,
            "-b/--bridge",
            "bridge",
            &mut self.bridges,
            &mut self.default_bridge,
        )
    }

    /// Add one `--mac MAC:network:OUT` or `--mac MAC:bridge:OUT` argument.
    /// `MAC:ip:...` (a static IP for the converted guest) is no network
    /// mapping: helper-v2v-convert writes it into the guest (and checks
    /// it); it is skipped here.
    pub fn add_mac(&mut self, arg: &str) -> Result<(), MapError> {
        let bad = || MapError(format!("cannot parse --mac \"{arg}\" parameter"));
        let mac = arg.get(..17).ok_or_else(bad)?;
        let octets_ok = mac.split(':').count() == 6
            && mac
                .split(':')
                .all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()));
        let rest = arg[17..].strip_prefix(':').ok_or_else(bad)?;
        if !octets_ok {
            return Err(bad());
        }
        let (kind, out) = rest.split_once(':').ok_or_else(bad)?;
        let kind = match kind {
            "network" => NetworkKind::Network,
            "bridge" => NetworkKind::Bridge,
            "ip" => return Ok(()),
            _ => return Err(bad()),
        };
        let mac = mac.to_ascii_lowercase();
        if self.macs.contains_key(&mac) {
            return Err(MapError(format!(
                "duplicate --mac parameter.  Duplicate mappings specified for MAC address {mac}."
            )));
        }
        self.macs.insert(mac, (kind, out.into()));
        Ok(())
    }

    /// Map one NIC: its kind and network after mapping.  `network` is the
    /// source's name (`None`: the source named none).
    pub fn map(
        &self,
        mac: Option<&str>,
        kind: NetworkKind,
        network: Option<&str>,
    ) -> (NetworkKind, Option<String>) {
        if let Some(m) = mac.and_then(|m| self.macs.get(&m.to_ascii_lowercase())) {
            return (m.0, Some(m.1.clone()));
        }
        let (named, default) = match kind {
            NetworkKind::Network => (&self.networks, &self.default_network),
            NetworkKind::Bridge => (&self.bridges, &self.default_bridge),
        };
        let mapped = network
            .and_then(|n| named.get(n))
            .or(default.as_ref())
            .cloned();
        (kind, mapped.or_else(|| network.map(str::to_string)))
    }

    /// `--mac` addresses that match none of `macs` (the guest's), for the
    /// warning virt-v2v gives.
    pub fn unknown_macs<'a>(&'a self, macs: &[Option<String>]) -> Vec<&'a str> {
        self.macs
            .keys()
            .filter(|m| {
                !macs
                    .iter()
                    .flatten()
                    .any(|g| g.eq_ignore_ascii_case(m.as_str()))
            })
            .map(String::as_str)
            .collect()
    }
}

/// Add `[IN:]OUT` (split at the first `:`) of `flag` to `named` or
/// `default`, refusing duplicates in virt-v2v's words.
fn add(
    arg: &str,
    flag: &str,
    what: &str,
    named: &mut BTreeMap<String, String>,
    default: &mut Option<String>,
) -> Result<(), MapError> {
    match arg.split_once(':').unwrap_or((arg, "")) {
        ("", "") => Err(MapError(format!("invalid {flag} parameter"))),
        (out, "") | ("", out) => {
            if default.is_some() {
                return Err(MapError(format!(
                    "duplicate {flag} parameter.  Only one default mapping is allowed."
                )));
            }
            *default = Some(out.into());
            Ok(())
        }
        (i, o) => {
            if named.insert(i.into(), o.into()).is_some() {
                return Err(MapError(format!(
                    "duplicate {flag} parameter.  Duplicate mappings specified for {what} {i}."
                )));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_like_virt_v2v() {
        let mut m = NetworkMap::default();
        m.add_network("VM Network:default").unwrap();
        m.add_network("ovirtmgmt").unwrap();
        m.add_bridge("br-in:br0").unwrap();
        m.add_bridge(":br1").unwrap();
        m.add_mac("52:54:00:AA:bb:01:bridge:br9").unwrap();
        m.add_mac("52:54:00:aa:bb:02:network:net:with:colons")
            .unwrap();
        assert_eq!(m.networks["VM Network"], "default");
        assert_eq!(m.default_network.as_deref(), Some("ovirtmgmt"));
        assert_eq!(m.bridges["br-in"], "br0");
        assert_eq!(m.default_bridge.as_deref(), Some("br1"));
        assert_eq!(
            m.macs["52:54:00:aa:bb:01"],
            (NetworkKind::Bridge, "br9".into())
        );
        assert_eq!(
            m.macs["52:54:00:aa:bb:02"],
            (NetworkKind::Network, "net:with:colons".into())
        );
        for (r, want) in [
            (m.clone().add_network(":"), "invalid -n/--network parameter"),
            (m.clone().add_bridge(":"), "invalid -b/--bridge parameter"),
            (m.clone().add_network("x"), "Only one default mapping"),
            (
                m.clone().add_bridge("br-in:x"),
                "specified for bridge br-in",
            ),
            (
                m.clone().add_network("VM Network:x"),
                "for network VM Network",
            ),
            (
                m.clone().add_mac("52:54:00:aa:BB:01:network:x"),
                "for MAC address 52:54:00:aa:bb:01",
            ),
            (
                m.clone().add_mac("52:54:00:aa:bb:0g:network:x"),
                "cannot parse --mac",
            ),
            (m.clone().add_mac("52:54:00:aa:bb:03:lan:x"), "cannot parse"),
            (m.clone().add_mac("52:54:00:aa:bb"), "cannot parse"),
        ] {
            assert!(r.unwrap_err().0.contains(want), "want {want}");
        }
    }

    #[test]
    fn static_ip_macs_are_not_mappings() {
        let mut m = NetworkMap::default();
        m.add_mac("52:54:00:aa:bb:03:ip:10.0.0.2,10.0.0.1,24")
            .unwrap();
        assert!(m.unknown_macs(&[]).is_empty());
    }

    #[test]
    fn map_order_mac_named_default() {
        let mut m = NetworkMap::default();
        m.add_network("a:A").unwrap();
        m.add_network("D").unwrap();
        m.add_bridge("b:B").unwrap();
        m.add_mac("52:54:00:00:00:01:bridge:M").unwrap();
        let net = NetworkKind::Network;
        let br = NetworkKind::Bridge;
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            m.map(Some("52:54:00:00:00:01"), net, Some("a")),
            (br, s("M"))
        );
        assert_eq!(
            m.map(Some("52:54:00:00:00:02"), net, Some("a")),
            (net, s("A"))
        );
        assert_eq!(m.map(None, net, Some("z")), (net, s("D")));
        assert_eq!(m.map(None, net, None), (net, s("D")));
        assert_eq!(m.map(None, br, Some("b")), (br, s("B")));
        // No default bridge: unchanged.
        assert_eq!(m.map(None, br, Some("c")), (br, s("c")));
        assert_eq!(m.map(None, br, None), (br, None));
        assert_eq!(
            m.unknown_macs(&[s("52:54:00:00:00:02")]),
            ["52:54:00:00:00:01"]
        );
        assert!(m.unknown_macs(&[s("52:54:00:00:00:01")]).is_empty());
    }
}
