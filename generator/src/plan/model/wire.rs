//! How the blueprint's enums reach templates: each serializes as its blueprint spelling
//! (kebab-case) so templates can print it, and where a template must branch on one, the model
//! carries a struct of booleans ([`BrokerIs`]) instead of a string to compare.

use serde::{Serialize, Serializer};

use crate::blueprint::{Broker, Fallback, Style};

impl Serialize for Style {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Broker {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Fallback {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Fallback::Error => "error",
            Fallback::Cached => "cached",
            Fallback::Default => "default",
        })
    }
}

/// Serializes an enum value as a map of booleans, one per variant, so a template branches with
/// `{% if x.variant %}` instead of comparing strings, plus `name`, the set variant's name, to
/// print.
pub fn flags<S: Serializer>(s: S, variants: &[(&str, bool)]) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(variants.len() + 1))?;
    let name = variants.iter().find(|(_, on)| *on).map_or("", |(n, _)| *n);
    map.serialize_entry("name", name)?;
    for (name, on) in variants {
        map.serialize_entry(name, on)?;
    }
    map.end()
}

/// The broker as booleans, for templates whose text differs per broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BrokerIs {
    pub nats: bool,
    pub rabbitmq: bool,
    pub kafka: bool,
}

impl From<Broker> for BrokerIs {
    fn from(b: Broker) -> Self {
        BrokerIs {
            nats: b == Broker::Nats,
            rabbitmq: b == Broker::Rabbitmq,
            kafka: b == Broker::Kafka,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_serialize_as_the_blueprint_spells_them() {
        let text = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
        assert_eq!(text(serde_json::json!(Style::ReadModel)), "read-model");
        assert_eq!(text(serde_json::json!(Broker::Rabbitmq)), "rabbitmq");
        assert_eq!(text(serde_json::json!(Fallback::Cached)), "cached");
        let is = BrokerIs::from(Broker::Kafka);
        assert!(is.kafka && !is.nats && !is.rabbitmq);
    }
}
