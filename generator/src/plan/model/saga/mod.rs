//! Sagas in both styles: `choreography` (event reactions, and the owner conventions shared with
//! orchestration) and `orchestration` (commands and replies driven by the owner).

pub mod choreography;
pub mod orchestration;
