//! Business rules of `Customer`. This file is yours: msa-gen wrote it once and will
//! never overwrite it. Every hook has a default that does nothing; override the ones you need.
//! Hooks run inside the request's transaction: returning an error rolls everything back, and
//! `ApiError::Rejected("reason".into())` answers 422 with that reason.

use crate::model::CustomerHooks;

impl CustomerHooks for super::Logic {
    // Examples:
    //
    // fn validate(&self, input: &crate::model::CustomerInput, errors: &mut Vec<runtime::FieldError>) {
    //     // push a runtime::FieldError to refuse the body with 422
    // }
    //
    // async fn before_create(
    //     &self,
    //     db: &mut sqlx::PgConnection,
    //     input: &mut crate::model::CustomerInput,
    // ) -> Result<(), runtime::ApiError> {
    //     Ok(())
    // }
}
