//! `--mac MAC:ip:ADDR[,GW[,LEN[,NS...]]]` on Linux guests: the guest's own
//! network configuration for the NIC with that MAC address, matched by the
//! address (so the name the NIC gets on virtio does not matter):
//! a NetworkManager keyfile when the guest has NetworkManager, else a
//! systemd-networkd `.network` file (networkd enabled).

use crate::guest::GuestFs;
use helper_common::customize::StaticIp;
use helper_common::{sh_quote, Failure, Result};
use v2v_meta::Change;

/// The configuration files written for a static address.
pub trait StaticIpFiles {
    /// systemd-networkd: `/etc/systemd/network/10-v2v-static-MAC.network`.
    fn networkd(&self) -> (String, String);
    /// NetworkManager keyfile:
    /// `/etc/NetworkManager/system-connections/v2v-static-MAC.nmconnection`
    /// (NetworkManager reads it only with mode 0600).
    fn keyfile(&self) -> (String, String);
}

/// The MAC without colons (file names).
fn tag(ip: &StaticIp) -> String {
    ip.mac.replace(':', "")
}

impl StaticIpFiles for StaticIp {
    fn networkd(&self) -> (String, String) {
        let mut t = format!(
            "# Written by helper-v2v-convert (virt-v2v --mac {}:ip:...)\n\
             [Match]\nMACAddress={}\n\n[Network]\nAddress={}/{}\n",
            self.mac, self.mac, self.addr, self.prefix
        );
        if let Some(g) = self.gateway {
            t.push_str(&format!("Gateway={g}\n"));
        }
        for n in &self.nameservers {
            t.push_str(&format!("DNS={n}\n"));
        }
        (
            format!("/etc/systemd/network/10-v2v-static-{}.network", tag(self)),
            t,
        )
    }

    fn keyfile(&self) -> (String, String) {
        let tag = tag(self);
        let uuid = format!(
            "6a1f2c3e-7b5d-4e0a-9c8b-{tag}",
            // a stable UUID per MAC: the last group is the MAC
        );
        let (on, off) = if self.addr.is_ipv4() {
            ("ipv4", "ipv6")
        } else {
            ("ipv6", "ipv4")
        };
        let mut addr = format!("{}/{}", self.addr, self.prefix);
        if let Some(g) = self.gateway {
            addr.push_str(&format!(",{g}"));
        }
        let mut t = format!(
            "# Written by helper-v2v-convert (virt-v2v --mac {}:ip:...)\n\
             [connection]\nid=v2v-static-{tag}\nuuid={uuid}\ntype=ethernet\nautoconnect=true\n\n\
             [ethernet]\nmac-address={}\n\n[{on}]\nmethod=manual\naddress1={addr}\n",
            self.mac, self.mac
        );
        if !self.nameservers.is_empty() {
            let dns: Vec<String> = self.nameservers.iter().map(|n| format!("{n};")).collect();
            t.push_str(&format!("dns={}\n", dns.concat()));
        }
        t.push_str(&format!(
            "\n[{off}]\nmethod={}\n",
            if off == "ipv6" { "ignore" } else { "disabled" }
        ));
        (
            format!("/etc/NetworkManager/system-connections/v2v-static-{tag}.nmconnection"),
            t,
        )
    }
}

/// How the guest configures its network, for [`apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    NetworkManager,
    Networkd,
}

/// NetworkManager when the guest has it, else systemd-networkd when it
/// has that; `None`: neither.
pub fn backend(g: &dyn GuestFs) -> Result<Option<Backend>> {
    for p in ["/usr/sbin/NetworkManager", "/usr/bin/NetworkManager"] {
        if g.exists(p)? {
            return Ok(Some(Backend::NetworkManager));
        }
    }
    for p in [
        "/usr/lib/systemd/systemd-networkd",
        "/lib/systemd/systemd-networkd",
    ] {
        if g.exists(p)? {
            return Ok(Some(Backend::Networkd));
        }
    }
    Ok(None)
}

/// systemd-networkd's units and the target each is wanted by (their
/// `[Install]` sections), enabled as `systemctl enable` would.
const NETWORKD_UNITS: &[(&str, &str)] = &[
    ("systemd-networkd.service", "multi-user.target"),
    ("systemd-networkd.socket", "sockets.target"),
    (
        "systemd-networkd-wait-online.service",
        "network-online.target",
    ),
];

/// Write the static addresses into the guest's network configuration.
pub fn apply(g: &dyn GuestFs, ips: &[StaticIp]) -> Result<Vec<Change>> {
    if ips.is_empty() {
        return Ok(Vec::new());
    }
    let what = |ip: &StaticIp| format!("--mac {}:ip:{}", ip.mac, ip.addr);
    let Some(b) = backend(g)? else {
        return Err(Failure::unsupported(format!(
            "{}: the guest has neither NetworkManager nor systemd-networkd, the network \
             configurations this build writes",
            what(&ips[0])
        )));
    };
    let mut changes = Vec::new();
    for ip in ips {
        let (path, text) = match b {
            Backend::NetworkManager => ip.keyfile(),
            Backend::Networkd => ip.networkd(),
        };
        let dir = &path[..path.rfind('/').unwrap_or(0)];
        g.mkdir_p(dir).map_err(|e| e.context(what(ip)))?;
        g.write(&path, text.as_bytes())
            .map_err(|e| e.context(what(ip)))?;
        if b == Backend::NetworkManager {
            g.sh(&format!("chmod 0600 {}", sh_quote(&path)))
                .map_err(|e| e.context(what(ip)))?;
        }
        helper_common::message!("{}: wrote {path}", what(ip));
        changes.push(Change {
            kind: "customize".into(),
            target: path,
            detail: format!("{}: static address {}/{}", what(ip), ip.addr, ip.prefix),
            seconds: None,
        });
    }
    if b == Backend::Networkd {
        changes.extend(enable_networkd(g)?);
    }
    Ok(changes)
}

/// Enable systemd-networkd (the symlinks `systemctl enable` makes).
fn enable_networkd(g: &dyn GuestFs) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    for (unit, target) in NETWORKD_UNITS {
        let Some(file) = ["/usr/lib/systemd/system", "/lib/systemd/system"]
            .iter()
            .map(|d| format!("{d}/{unit}"))
            .find(|p| g.exists(p).unwrap_or(false))
        else {
            continue;
        };
        let wants = format!("/etc/systemd/system/{target}.wants");
        let link = format!("{wants}/{unit}");
        if g.exists(&link)? {
            continue;
        }
        g.mkdir_p(&wants)?;
        g.sh(&format!("ln -sf {} {}", sh_quote(&file), sh_quote(&link)))
            .map_err(|e| e.context("enabling systemd-networkd"))?;
        changes.push(Change {
            kind: "customize".into(),
            target: link,
            detail: format!("enabled {unit} (for --mac ...:ip:)"),
            seconds: None,
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::DirGuest;

    #[test]
    fn generated_files() {
        let ip = StaticIp::parse("52:54:00:12:34:56:ip:10.0.2.77,10.0.2.2,24,10.0.2.3").unwrap();
        let (p, t) = ip.networkd();
        assert_eq!(p, "/etc/systemd/network/10-v2v-static-525400123456.network");
        assert!(t.ends_with(
            "[Match]\nMACAddress=52:54:00:12:34:56\n\n[Network]\nAddress=10.0.2.77/24\n\
             Gateway=10.0.2.2\nDNS=10.0.2.3\n"
        ));
        let (p, t) = ip.keyfile();
        assert_eq!(
            p,
            "/etc/NetworkManager/system-connections/v2v-static-525400123456.nmconnection"
        );
        assert!(t.contains("uuid=6a1f2c3e-7b5d-4e0a-9c8b-525400123456\n"));
        assert!(t.contains(
            "[ethernet]\nmac-address=52:54:00:12:34:56\n\n[ipv4]\nmethod=manual\n\
             address1=10.0.2.77/24,10.0.2.2\ndns=10.0.2.3;\n\n[ipv6]\nmethod=ignore\n"
        ));
    }

    #[test]
    fn networkd_is_written_and_enabled() {
        let t = tempfile::tempdir().unwrap();
        let g = DirGuest::new(t.path());
        let ip = StaticIp::parse("52:54:00:12:34:56:ip:10.0.2.77").unwrap();
        assert!(apply(&g, std::slice::from_ref(&ip))
            .unwrap_err()
            .message
            .contains("neither NetworkManager nor systemd-networkd"));
        g.put("/lib/systemd/systemd-networkd", "");
        g.put("/lib/systemd/system/systemd-networkd.service", "");
        let changes = apply(&g, &[ip]).unwrap();
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(g
            .read_string("/etc/systemd/network/10-v2v-static-525400123456.network")
            .unwrap()
            .unwrap()
            .contains("Address=10.0.2.77/24\n"));
        assert_eq!(
            g.commands(),
            ["ln -sf /lib/systemd/system/systemd-networkd.service \
              /etc/systemd/system/multi-user.target.wants/systemd-networkd.service"]
        );
    }
}
