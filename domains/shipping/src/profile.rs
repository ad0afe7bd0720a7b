//! The `ShippingProfile` aggregate: the shop's zones and their options.

use std::collections::BTreeMap;

use agora_kernel::{Decider, Principal};
use serde::{Deserialize, Serialize};

use crate::rates::{ShippingOption, Zone, ZoneArea};
use crate::{ShippingError, MAX_AREAS, MAX_OPTIONS_PER_ZONE, MAX_ZONES};

/// Commands on a shipping profile (stream id: the profile, `default` for the shop's own). Each
/// variant name is also the NATS endpoint name (`agora.shipping.<name>`).
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames,
)]
#[strum(serialize_all = "snake_case")]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ShippingCommand {
    /// Creates zone `zone_id` or replaces its name and areas (its options stay).
    SaveZone {
        zone_id: String,
        name: String,
        areas: Vec<ZoneArea>,
    },
    /// Removes a zone with its options.
    RemoveZone {
        zone_id: String,
    },
    /// Creates or replaces option `option.id` of a zone.
    SaveOption {
        zone_id: String,
        option: ShippingOption,
    },
    RemoveOption {
        zone_id: String,
        option_id: String,
    },
}

/// Facts about a shipping profile. A published contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShippingEvent {
    ShippingZoneSaved {
        zone_id: String,
        name: String,
        areas: Vec<ZoneArea>,
    },
    ShippingZoneRemoved {
        zone_id: String,
    },
    ShippingOptionSaved {
        zone_id: String,
        option: ShippingOption,
    },
    ShippingOptionRemoved {
        zone_id: String,
        option_id: String,
    },
}

/// The shop's shipping settings, folded from their events.
///
/// Invariants (enforced by [`ShippingProfile::decide`]): every area and option is valid and
/// normalized; one area (after normalization) belongs to at most one zone, so the most
/// specific zone for a destination is unique; at most [`MAX_ZONES`] zones of at most
/// [`MAX_AREAS`] areas and [`MAX_OPTIONS_PER_ZONE`] options each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingProfile {
    zones: BTreeMap<String, Zone>,
}

/// What staff see of a profile: its zones in id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingProfileView {
    pub id: String,
    pub version: u64,
    pub zones: Vec<Zone>,
}

/// Staff and admins change any profile; a vendor's users change their vendor's own (the
/// profile whose id is the vendor's), and nothing else.
fn may_write(id: &str, by: &Principal) -> Result<(), ShippingError> {
    match by {
        Principal::System { .. } => Ok(()),
        Principal::Staff { role, .. } if role == "admin" || role == "staff" => Ok(()),
        Principal::Vendor { vendor, .. } if vendor == id && id != crate::DEFAULT_PROFILE => Ok(()),
        _ => Err(ShippingError::Forbidden),
    }
}

impl ShippingProfile {
    /// The zones, in id order: what [`crate::quote`] takes.
    pub fn zones(&self) -> Vec<Zone> {
        self.zones.values().cloned().collect()
    }

    /// Whether any zone is configured: a shop without zones charges its one configured rate.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    fn save_zone(
        &self,
        zone_id: &str,
        name: &str,
        areas: &[ZoneArea],
    ) -> Result<Vec<ShippingEvent>, ShippingError> {
        if !crate::is_id(zone_id) || !crate::is_name(name) {
            return Err(ShippingError::InvalidName);
        }
        if areas.is_empty() || areas.len() > MAX_AREAS {
            return Err(ShippingError::AreaCount);
        }
        let mut normalized = areas
            .iter()
            .map(ZoneArea::normalized)
            .collect::<Result<Vec<_>, _>>()?;
        normalized.sort();
        if normalized.windows(2).any(|w| w[0] == w[1]) {
            return Err(ShippingError::AreaCount);
        }
        // Areas are stored normalized, so a taken one compares equal.
        let taken = self
            .zones
            .values()
            .filter(|z| z.id != zone_id)
            .find_map(|z| {
                z.areas
                    .iter()
                    .find(|a| normalized.contains(a))
                    .map(|a| (a, z))
            });
        if let Some((area, owner)) = taken {
            return Err(ShippingError::AreaTaken {
                area: area.label(),
                zone: owner.id.clone(),
            });
        }
        let name = name.trim();
        match self.zones.get(zone_id) {
            Some(zone) if zone.name == name && zone.areas == normalized => return Ok(vec![]),
            None if self.zones.len() >= MAX_ZONES => return Err(ShippingError::TooMany),
            _ => {}
        }
        Ok(vec![ShippingEvent::ShippingZoneSaved {
            zone_id: zone_id.to_string(),
            name: name.to_string(),
            areas: normalized,
        }])
    }

    fn save_option(
        &self,
        zone_id: &str,
        option: &ShippingOption,
    ) -> Result<Vec<ShippingEvent>, ShippingError> {
        let zone = self.zones.get(zone_id).ok_or(ShippingError::ZoneNotFound)?;
        let option = option.checked()?;
        match zone.options.iter().find(|o| o.id == option.id) {
            Some(same) if *same == option => return Ok(vec![]),
            None if zone.options.len() >= MAX_OPTIONS_PER_ZONE => {
                return Err(ShippingError::TooMany)
            }
            _ => {}
        }
        Ok(vec![ShippingEvent::ShippingOptionSaved {
            zone_id: zone_id.to_string(),
            option,
        }])
    }
}

impl Decider for ShippingProfile {
    const TYPE: &'static str = "shipping_profile";
    type Command = ShippingCommand;
    type Event = ShippingEvent;
    type Error = ShippingError;
    type View = ShippingProfileView;

    fn decide(
        &self,
        id: &str,
        command: &ShippingCommand,
        by: &Principal,
    ) -> Result<Vec<ShippingEvent>, ShippingError> {
        may_write(id, by)?;
        match command {
            ShippingCommand::SaveZone {
                zone_id,
                name,
                areas,
            } => self.save_zone(zone_id, name, areas),
            // Removing what is not there is the retry of a removal: nothing to record.
            ShippingCommand::RemoveZone { zone_id } => Ok(if self.zones.contains_key(zone_id) {
                vec![ShippingEvent::ShippingZoneRemoved {
                    zone_id: zone_id.clone(),
                }]
            } else {
                vec![]
            }),
            ShippingCommand::SaveOption { zone_id, option } => self.save_option(zone_id, option),
            ShippingCommand::RemoveOption { zone_id, option_id } => {
                let zone = self.zones.get(zone_id).ok_or(ShippingError::ZoneNotFound)?;
                Ok(if zone.options.iter().any(|o| o.id == *option_id) {
                    vec![ShippingEvent::ShippingOptionRemoved {
                        zone_id: zone_id.clone(),
                        option_id: option_id.clone(),
                    }]
                } else {
                    vec![]
                })
            }
        }
    }

    fn evolve(&mut self, event: &ShippingEvent) {
        match event {
            ShippingEvent::ShippingZoneSaved {
                zone_id,
                name,
                areas,
            } => {
                let zone = self.zones.entry(zone_id.clone()).or_insert_with(|| Zone {
                    id: zone_id.clone(),
                    name: String::new(),
                    areas: vec![],
                    options: vec![],
                });
                zone.name = name.clone();
                zone.areas = areas.clone();
            }
            ShippingEvent::ShippingZoneRemoved { zone_id } => {
                self.zones.remove(zone_id);
            }
            ShippingEvent::ShippingOptionSaved { zone_id, option } => {
                if let Some(zone) = self.zones.get_mut(zone_id) {
                    match zone.options.iter_mut().find(|o| o.id == option.id) {
                        Some(existing) => *existing = option.clone(),
                        None => zone.options.push(option.clone()),
                    }
                }
            }
            ShippingEvent::ShippingOptionRemoved { zone_id, option_id } => {
                if let Some(zone) = self.zones.get_mut(zone_id) {
                    zone.options.retain(|o| o.id != *option_id);
                }
            }
        }
    }

    /// The settings are the back office's; shoppers see options only through a quote.
    fn authorize_read(&self, by: &Principal) -> Result<(), ShippingError> {
        match by {
            Principal::System { .. } => Ok(()),
            Principal::Staff { role, .. }
                if matches!(role.as_str(), "admin" | "staff" | "auditor") =>
            {
                Ok(())
            }
            Principal::Staff { .. } | Principal::Vendor { .. } => Err(ShippingError::Forbidden),
            Principal::Guest { .. } | Principal::Customer { .. } => Err(ShippingError::NotFound),
        }
    }

    /// As [`Decider::authorize_read`], and a vendor's users read their vendor's own profile.
    fn authorize_read_of(&self, id: &str, by: &Principal) -> Result<(), ShippingError> {
        match by {
            Principal::Vendor { vendor, .. } if vendor == id && id != crate::DEFAULT_PROFILE => {
                Ok(())
            }
            _ => self.authorize_read(by),
        }
    }

    fn view(&self, id: &str, version: u64) -> ShippingProfileView {
        ShippingProfileView {
            id: id.to_string(),
            version,
            zones: self.zones(),
        }
    }

    fn event_type(event: &ShippingEvent) -> &'static str {
        match event {
            ShippingEvent::ShippingZoneSaved { .. } => "ShippingZoneSaved",
            ShippingEvent::ShippingZoneRemoved { .. } => "ShippingZoneRemoved",
            ShippingEvent::ShippingOptionSaved { .. } => "ShippingOptionSaved",
            ShippingEvent::ShippingOptionRemoved { .. } => "ShippingOptionRemoved",
        }
    }
}

agora_kernel::cqrs_aggregate!(ShippingProfile, ShippingEvent);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rates::{OptionKind, Rate};
    use agora_kernel::{Currency, Money};

    fn eur(minor: i64) -> Money {
        Money::new(minor, Currency::parse("EUR").expect("valid in the test"))
    }

    fn staff() -> Principal {
        Principal::Staff {
            id: "s-1".into(),
            role: "staff".into(),
        }
    }

    fn area(country: &str, region: Option<&str>, prefix: Option<&str>) -> ZoneArea {
        ZoneArea {
            country: country.into(),
            region: region.map(Into::into),
            postcode_prefix: prefix.map(Into::into),
        }
    }

    fn zone(id: &str, areas: Vec<ZoneArea>) -> ShippingCommand {
        ShippingCommand::SaveZone {
            zone_id: id.into(),
            name: format!("Zone {id}"),
            areas,
        }
    }

    fn option(id: &str, price: i64) -> ShippingOption {
        ShippingOption {
            id: id.into(),
            name: format!("Option {id}"),
            kind: OptionKind::Standard,
            rate: Rate::Flat { price: eur(price) },
            free_from: None,
            min_days: 1,
            max_days: 3,
        }
    }

    /// Folds `given` (each decided by staff, so every step is also checked), then decides
    /// `when` as `by`.
    fn check_as(
        given: Vec<ShippingCommand>,
        when: ShippingCommand,
        by: Principal,
        then: Result<Vec<ShippingEvent>, ShippingError>,
    ) -> ShippingProfile {
        let mut profile = ShippingProfile::default();
        for command in given {
            let events = profile
                .decide("default", &command, &staff())
                .expect("given commands are accepted");
            events.iter().for_each(|e| profile.evolve(e));
        }
        let decided = profile.decide("default", &when, &by);
        assert_eq!(decided, then);
        if let Ok(events) = decided {
            events.iter().for_each(|e| profile.evolve(e));
        }
        profile
    }

    fn check(
        given: Vec<ShippingCommand>,
        when: ShippingCommand,
        then: Result<Vec<ShippingEvent>, ShippingError>,
    ) -> ShippingProfile {
        check_as(given, when, staff(), then)
    }

    #[test]
    fn a_zone_is_saved_with_its_areas_normalized() {
        check(
            vec![],
            zone(
                "us-west",
                vec![
                    area(" us", Some("us-ca"), Some("94 1")),
                    area("ca", None, None),
                ],
            ),
            Ok(vec![ShippingEvent::ShippingZoneSaved {
                zone_id: "us-west".into(),
                name: "Zone us-west".into(),
                areas: vec![area("CA", None, None), area("US", Some("CA"), Some("941"))],
            }]),
        );
    }

    #[test]
    fn an_area_belongs_to_one_zone() {
        check(
            vec![zone("de", vec![area("DE", None, None)])],
            zone("germany", vec![area("de", None, None)]),
            Err(ShippingError::AreaTaken {
                area: "DE".into(),
                zone: "de".into(),
            }),
        );
    }

    #[test]
    fn a_zone_may_keep_its_own_areas_when_renamed() {
        let profile = check(
            vec![zone("de", vec![area("DE", None, None)])],
            ShippingCommand::SaveZone {
                zone_id: "de".into(),
                name: "Germany".into(),
                areas: vec![area("DE", None, None)],
            },
            Ok(vec![ShippingEvent::ShippingZoneSaved {
                zone_id: "de".into(),
                name: "Germany".into(),
                areas: vec![area("DE", None, None)],
            }]),
        );
        assert_eq!(profile.zones()[0].name, "Germany");
    }

    #[test]
    fn saving_the_same_zone_again_records_nothing() {
        check(
            vec![zone("de", vec![area("DE", None, None)])],
            zone("de", vec![area("de", None, None)]),
            Ok(vec![]),
        );
    }

    #[test]
    fn malformed_areas_and_names_are_refused() {
        for (when, error) in [
            (
                zone("de", vec![area("Germany", None, None)]),
                ShippingError::InvalidArea,
            ),
            (
                zone("us", vec![area("US", Some("California"), None)]),
                ShippingError::InvalidArea,
            ),
            (
                zone("any", vec![area("*", Some("CA"), None)]),
                ShippingError::InvalidArea,
            ),
            (
                zone("gb", vec![area("GB", None, Some(" - "))]),
                ShippingError::InvalidArea,
            ),
            (zone("empty", vec![]), ShippingError::AreaCount),
            (
                zone(
                    "twice",
                    vec![area("DE", None, None), area("de", None, None)],
                ),
                ShippingError::AreaCount,
            ),
            (
                zone("Not A Slug", vec![area("DE", None, None)]),
                ShippingError::InvalidName,
            ),
        ] {
            check(vec![], when, Err(error));
        }
    }

    #[test]
    fn an_option_is_saved_in_an_existing_zone_and_replaced_by_id() {
        let mut cheaper = option("standard", 390);
        cheaper.name = " Standard ".into();
        let profile = check(
            vec![
                zone("de", vec![area("DE", None, None)]),
                ShippingCommand::SaveOption {
                    zone_id: "de".into(),
                    option: option("standard", 490),
                },
            ],
            ShippingCommand::SaveOption {
                zone_id: "de".into(),
                option: cheaper,
            },
            Ok(vec![ShippingEvent::ShippingOptionSaved {
                zone_id: "de".into(),
                option: ShippingOption {
                    name: "Standard".into(),
                    ..option("standard", 390)
                },
            }]),
        );
        assert_eq!(profile.zones()[0].options.len(), 1);
    }

    #[test]
    fn an_option_needs_its_zone() {
        check(
            vec![],
            ShippingCommand::SaveOption {
                zone_id: "de".into(),
                option: option("standard", 490),
            },
            Err(ShippingError::ZoneNotFound),
        );
    }

    #[test]
    fn invalid_rates_and_estimates_are_refused() {
        let band = |up_to: Option<i64>, price: i64| crate::Band {
            up_to,
            price: eur(price),
        };
        let usd = Money::new(100, Currency::parse("USD").expect("valid in the test"));
        for (rate, free_from, days, error) in [
            (
                Rate::Weight { bands: vec![] },
                None,
                (1, 2),
                ShippingError::InvalidRate,
            ),
            (
                Rate::Weight {
                    bands: vec![band(Some(1000), 490), band(Some(1000), 690)],
                },
                None,
                (1, 2),
                ShippingError::InvalidRate,
            ),
            (
                Rate::Subtotal {
                    bands: vec![band(None, 490), band(Some(1000), 690)],
                },
                None,
                (1, 2),
                ShippingError::InvalidRate,
            ),
            (
                Rate::Flat { price: eur(-1) },
                None,
                (1, 2),
                ShippingError::InvalidRate,
            ),
            (
                Rate::Flat { price: eur(490) },
                Some(usd),
                (1, 2),
                ShippingError::InvalidRate,
            ),
            (
                Rate::Flat { price: eur(490) },
                None,
                (5, 2),
                ShippingError::InvalidEstimate,
            ),
        ] {
            check(
                vec![zone("de", vec![area("DE", None, None)])],
                ShippingCommand::SaveOption {
                    zone_id: "de".into(),
                    option: ShippingOption {
                        rate,
                        free_from,
                        min_days: days.0,
                        max_days: days.1,
                        ..option("standard", 0)
                    },
                },
                Err(error),
            );
        }
    }

    #[test]
    fn removing_a_zone_frees_its_areas_and_removing_again_records_nothing() {
        let profile = check(
            vec![zone("de", vec![area("DE", None, None)])],
            ShippingCommand::RemoveZone {
                zone_id: "de".into(),
            },
            Ok(vec![ShippingEvent::ShippingZoneRemoved {
                zone_id: "de".into(),
            }]),
        );
        assert!(profile.is_empty());
        check(
            vec![
                zone("de", vec![area("DE", None, None)]),
                ShippingCommand::RemoveZone {
                    zone_id: "de".into(),
                },
            ],
            zone("germany", vec![area("DE", None, None)]),
            Ok(vec![ShippingEvent::ShippingZoneSaved {
                zone_id: "germany".into(),
                name: "Zone germany".into(),
                areas: vec![area("DE", None, None)],
            }]),
        );
        check(
            vec![],
            ShippingCommand::RemoveZone {
                zone_id: "de".into(),
            },
            Ok(vec![]),
        );
    }

    #[test]
    fn removing_an_option_keeps_the_others() {
        let profile = check(
            vec![
                zone("de", vec![area("DE", None, None)]),
                ShippingCommand::SaveOption {
                    zone_id: "de".into(),
                    option: option("standard", 490),
                },
                ShippingCommand::SaveOption {
                    zone_id: "de".into(),
                    option: option("express", 990),
                },
            ],
            ShippingCommand::RemoveOption {
                zone_id: "de".into(),
                option_id: "standard".into(),
            },
            Ok(vec![ShippingEvent::ShippingOptionRemoved {
                zone_id: "de".into(),
                option_id: "standard".into(),
            }]),
        );
        let ids: Vec<_> = profile.zones()[0]
            .options
            .iter()
            .map(|o| o.id.clone())
            .collect();
        assert_eq!(ids, ["express"]);
    }

    #[test]
    fn only_the_back_office_changes_or_reads_the_settings() {
        for by in [
            Principal::Customer {
                id: "00000000-0000-0000-0000-000000000001"
                    .parse()
                    .expect("valid in the test"),
            },
            Principal::Guest {
                token_sha256: "ab".repeat(32),
            },
            Principal::Staff {
                id: "a-1".into(),
                role: "auditor".into(),
            },
        ] {
            check_as(
                vec![],
                zone("de", vec![area("DE", None, None)]),
                by.clone(),
                Err(ShippingError::Forbidden),
            );
        }
        let profile = ShippingProfile::default();
        assert_eq!(
            profile.authorize_read(&Principal::Guest {
                token_sha256: "ab".repeat(32)
            }),
            Err(ShippingError::NotFound)
        );
        assert_eq!(
            profile.authorize_read(&Principal::Staff {
                id: "a-1".into(),
                role: "auditor".into()
            }),
            Ok(())
        );
    }

    #[test]
    fn a_vendor_keeps_its_own_rates_and_no_one_else_s() {
        let acme = Principal::Vendor {
            id: "u-1".into(),
            vendor: "acme".into(),
        };
        let mut profile = ShippingProfile::default();
        let saved = profile
            .decide("acme", &zone("de", vec![area("DE", None, None)]), &acme)
            .expect("a vendor writes its own profile");
        saved.iter().for_each(|e| profile.evolve(e));
        assert_eq!(profile.zones().len(), 1);
        assert_eq!(profile.authorize_read_of("acme", &acme), Ok(()));
        // Another vendor's profile, and the shop's, are not its own.
        for other in ["bolt", crate::DEFAULT_PROFILE] {
            assert_eq!(
                profile.decide(other, &zone("fr", vec![area("FR", None, None)]), &acme),
                Err(ShippingError::Forbidden)
            );
            assert_eq!(
                profile.authorize_read_of(other, &acme),
                Err(ShippingError::Forbidden)
            );
        }
        // Staff manage a vendor's rates too.
        assert!(profile
            .decide("acme", &zone("fr", vec![area("FR", None, None)]), &staff())
            .is_ok());
        assert_eq!(profile.authorize_read_of("acme", &staff()), Ok(()));
    }

    #[test]
    fn command_names_match_their_serde_tags() {
        agora_kernel::check_names(&[
            zone("de", vec![area("DE", None, None)]),
            ShippingCommand::RemoveZone {
                zone_id: "de".into(),
            },
            ShippingCommand::SaveOption {
                zone_id: "de".into(),
                option: option("standard", 490),
            },
            ShippingCommand::RemoveOption {
                zone_id: "de".into(),
                option_id: "standard".into(),
            },
        ]);
    }
}
