//! The README's lab command must keep working: build the default Neutron-style lab
//! (three xvsd hosts, VLAN tenant networks, a router namespace), run its traffic checks
//! (pings within and across networks and hosts, ARP anti-spoofing, a generated burst)
//! and tear it down.

#[test]
fn default_lab_passes_its_checks() {
    xvs_tools::lab::run_default(1, false).unwrap();
}
