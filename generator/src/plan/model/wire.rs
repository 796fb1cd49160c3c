//! How the blueprint's enums appear to templates.
