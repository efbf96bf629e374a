//! The guest's network configuration: which interface names it refers
//! to (ifupdown, systemd-networkd, ifcfg, NetworkManager, netplan), the one
//! most of it names, and the systemd `.link` file that keeps that name for
//! the virtio NIC.

use std::collections::BTreeMap;

/// Interface names the guest's network configuration refers to, one set
/// per configuration unit (an ifupdown stanza, or a file).
pub fn configured_interfaces(files: &BTreeMap<String, String>) -> Vec<(String, Vec<String>)> {
    let mut units = Vec::new();
    for (path, text) in files {
        if path == "/etc/network/interfaces" || path.starts_with("/etc/network/interfaces.d/") {
            units.extend(ifupdown_names(text).map(|n| (path.clone(), vec![n])));
            continue;
        }
        let names = if path.starts_with("/etc/systemd/network/") && path.ends_with(".network") {
            networkd_names(text)
        } else if path.contains("/ifcfg-") {
            ifcfg_names(path, text)
        } else if path.ends_with(".nmconnection") {
            networkmanager_names(text)
        } else if path.starts_with("/etc/netplan/") {
            netplan_names(text)
        } else {
            Vec::new()
        };
        if !names.is_empty() {
            units.push((path.clone(), names));
        }
    }
    units
}

/// A name that can be an interface's (not `lo`, not a pattern or path).
fn is_interface_name(n: &str) -> bool {
    n != "lo" && !n.is_empty() && !n.contains(['*', '?', '[', '!', '/', '=', ':'])
}

/// ifupdown (`/etc/network/interfaces`): the name of each `iface` stanza.
fn ifupdown_names(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines().filter_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        (w.len() >= 2 && w[0] == "iface" && is_interface_name(w[1])).then(|| w[1].to_string())
    })
}

/// systemd-networkd (`*.network`): the `Name=` of the `[Match]` section.
fn networkd_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_match = false;
    for l in text.lines() {
        let l = l.trim();
        if l.starts_with('[') {
            in_match = l == "[Match]";
        } else if in_match {
            if let Some(v) = l.strip_prefix("Name=") {
                names.extend(
                    v.split_whitespace()
                        .filter(|n| is_interface_name(n))
                        .map(String::from),
                );
            }
        }
    }
    names
}

/// Red Hat/SUSE `ifcfg-NAME`: its `DEVICE=`, else the NAME of the file.
fn ifcfg_names(path: &str, text: &str) -> Vec<String> {
    let dev = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("DEVICE="))
        .map(|v| v.trim_matches(['"', '\'']).to_string())
        .unwrap_or_else(|| path.rsplit("ifcfg-").next().unwrap_or("").to_string());
    if is_interface_name(&dev) {
        vec![dev]
    } else {
        Vec::new()
    }
}

/// NetworkManager keyfile (`*.nmconnection`): its `interface-name=`.
fn networkmanager_names(text: &str) -> Vec<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("interface-name="))
        .map(str::trim)
        .filter(|v| is_interface_name(v))
        .map(|v| vec![v.to_string()])
        .unwrap_or_default()
}

/// netplan (`/etc/netplan/*.yaml`): the keys one level below `ethernets:`
/// (their ids; a `match:` inside makes the id a mere label, still good
/// enough).
fn netplan_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    // The indent of `ethernets:` and of its children, while inside it.
    let mut eth: Option<(usize, Option<usize>)> = None;
    for l in text.lines() {
        let indent = l.len() - l.trim_start().len();
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t == "ethernets:" {
            eth = Some((indent, None));
            continue;
        }
        if let Some((base, child)) = eth {
            if indent <= base {
                eth = None;
                continue;
            }
            let child = child.unwrap_or(indent);
            eth = Some((base, Some(child)));
            if indent == child {
                if let Some(name) = t.strip_suffix(':') {
                    if is_interface_name(name) && !name.contains(' ') {
                        names.push(name.to_string());
                    }
                }
            }
        }
    }
    names
}

/// The name most configuration units accept (ties: first seen), and the
/// units it does not satisfy.
pub fn primary_interface(units: &[(String, Vec<String>)]) -> Option<(String, Vec<String>)> {
    let mut order: Vec<&str> = Vec::new();
    for (_, names) in units {
        for n in names {
            if !order.contains(&n.as_str()) {
                order.push(n);
            }
        }
    }
    let best = order
        .iter()
        .max_by_key(|n| {
            let count = units
                .iter()
                .filter(|(_, ns)| ns.iter().any(|x| x == *n))
                .count();
            // max_by_key keeps the last maximum: reverse the position.
            (
                count,
                usize::MAX - order.iter().position(|o| o == *n).unwrap(),
            )
        })?
        .to_string();
    let unmet = units
        .iter()
        .filter(|(_, ns)| !ns.contains(&best))
        .map(|(p, ns)| format!("{p} ({})", ns.join(" ")))
        .collect();
    Some((best, unmet))
}

/// The systemd `.link` file that gives the virtio NIC (matched by its
/// driver) its old name.  It is copied into the initramfs too (Debian's
/// udev hook, dracut's), so the name holds from the first boot.
pub fn link_file(name: &str) -> String {
    format!(
        "# Written by helper-v2v-convert: the guest's network configuration names\n\
         # this interface {name}; on KVM it is a virtio NIC, which would get another\n\
         # name.  Keep the old one.\n\
         [Match]\nDriver=virtio_net\n\n[Link]\nName={name}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(files: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
        let files: BTreeMap<String, String> = files
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        configured_interfaces(&files)
    }

    fn unit(path: &str, names: &[&str]) -> (String, Vec<String>) {
        (
            path.to_string(),
            names.iter().map(|n| n.to_string()).collect(),
        )
    }

    #[test]
    fn each_format_names_its_interfaces() {
        assert_eq!(
            units(&[(
                "/etc/network/interfaces.d/eth",
                "auto lo\niface lo inet loopback\niface eth0 inet dhcp\niface eth1 inet6 auto\n"
            )]),
            vec![
                unit("/etc/network/interfaces.d/eth", &["eth0"]),
                unit("/etc/network/interfaces.d/eth", &["eth1"])
            ]
        );
        assert_eq!(
            units(&[(
                "/etc/systemd/network/10-a.network",
                "[Match]\nName=en* ens3 eth0\n[Network]\nName=notthis\n"
            )]),
            vec![unit("/etc/systemd/network/10-a.network", &["ens3", "eth0"])]
        );
        assert_eq!(
            units(&[
                (
                    "/etc/sysconfig/network-scripts/ifcfg-a",
                    "DEVICE=\"ens192\"\n"
                ),
                ("/etc/sysconfig/network/ifcfg-eth1", "BOOTPROTO='dhcp'\n"),
                ("/etc/sysconfig/network/ifcfg-lo", "BOOTPROTO=static\n"),
            ]),
            vec![
                unit("/etc/sysconfig/network-scripts/ifcfg-a", &["ens192"]),
                unit("/etc/sysconfig/network/ifcfg-eth1", &["eth1"]),
            ]
        );
        assert_eq!(
            units(&[
                (
                    "/etc/NetworkManager/system-connections/a.nmconnection",
                    "[connection]\ninterface-name= ens33 \n"
                ),
                (
                    "/etc/NetworkManager/system-connections/b.nmconnection",
                    "[connection]\ntype=wifi\n"
                ),
            ]),
            vec![unit(
                "/etc/NetworkManager/system-connections/a.nmconnection",
                &["ens33"]
            )]
        );
        assert_eq!(
            units(&[(
                "/etc/netplan/01.yaml",
                "network:\n  ethernets:\n    # comment\n    ens3:\n      dhcp4: true\n      \
                 match:\n        name: x\n    id0:\n      match: {macaddress: aa}\n  \
                 bridges:\n    br0:\n      interfaces: [ens3]\n"
            )]),
            vec![unit("/etc/netplan/01.yaml", &["ens3", "id0"])]
        );
        // Other files name no interface.
        assert!(units(&[("/etc/fstab", "iface eth0 inet dhcp\n")]).is_empty());
    }

    #[test]
    fn the_primary_interface_is_named_by_most_units() {
        let u = vec![
            unit("a", &["eth0"]),
            unit("b", &["ens3", "eth0"]),
            unit("c", &["ens3"]),
            unit("d", &["ens3"]),
        ];
        assert_eq!(
            primary_interface(&u),
            Some(("ens3".to_string(), vec!["a (eth0)".to_string()]))
        );
        // A tie: the first seen.
        let u = vec![unit("a", &["eth0"]), unit("b", &["ens3"])];
        assert_eq!(primary_interface(&u).unwrap().0, "eth0");
        assert_eq!(primary_interface(&[]), None);
        assert!(link_file("ens3").contains("[Match]\nDriver=virtio_net\n\n[Link]\nName=ens3\n"));
    }
}
