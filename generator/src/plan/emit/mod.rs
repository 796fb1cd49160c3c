//! Emitters: files computed from the finished model, never read by it — deployment (Dockerfiles,
//! compose, Kubernetes, CI), the Istio mesh, the generated end-to-end suite's manifest and the
//! SQL migrations.

pub mod code;
pub mod deploy;
pub mod e2e;
pub mod mesh;
pub mod migrations;
