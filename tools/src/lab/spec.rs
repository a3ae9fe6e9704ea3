//! The lab file's schema, as written (TOML, read with serde): `[underlay]`, `[[host]]`,
//! `[[network]]`, `[[vm]]`. Every value keeps its place in the file (`Spanned`), so
//! that the validation in [`super::topology`] can name the line of a bad value.
//! Unknown keys are errors (`deny_unknown_fields`).

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabFile {
    pub underlay: Spanned<UnderlaySpec>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<Spanned<HostSpec>>,
    #[serde(default, rename = "network")]
    pub networks: Vec<Spanned<NetworkSpec>>,
    #[serde(default, rename = "vm")]
    pub vms: Vec<Spanned<VmSpec>>,
}

/// The "physical" L2 segment joining the hosts' underlay (tunnel endpoint) addresses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnderlaySpec {
    pub cidr: Spanned<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Compute,
    Network,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    pub name: Spanned<String>,
    pub role: Spanned<Role>,
    pub underlay_ip: Spanned<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum NetType {
    Vlan,
    Vxlan,
    Gre,
}

impl NetType {
    pub fn as_str(self) -> &'static str {
        match self {
            NetType::Vlan => "vlan",
            NetType::Vxlan => "vxlan",
            NetType::Gre => "gre",
        }
    }

    pub fn is_tunnel(self) -> bool {
        self != NetType::Vlan
    }

    /// Valid segmentation ids: VLAN ids, VXLAN VNIs (24 bits), GRE keys (32 bits).
    pub fn seg_range(self) -> (u64, u64) {
        match self {
            NetType::Vlan => (1, 4094),
            NetType::Vxlan => (1, 16_777_215),
            NetType::Gre => (1, u32::MAX as u64),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<NetType>,
    pub segmentation_id: Spanned<i64>,
    pub cidr: Spanned<String>,
    pub gateway: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    pub name: Spanned<String>,
    pub host: Spanned<String>,
    pub network: Spanned<String>,
    pub ip: Spanned<String>,
    pub mac: Option<Spanned<String>>,
}
