//! Paging of list endpoints: `?page=` (from 0) and `?size=` (1 to [`MAX_SIZE`], default
//! [`DEFAULT_SIZE`]), and the page envelope every list returns.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_SIZE: u32 = 20;
pub const MAX_SIZE: u32 = 100;

#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 0.
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    pub size: Option<u32>,
}

impl PageParams {
    /// `(page, size)` with defaults applied and `size` clamped to `1..=MAX_SIZE`.
    pub fn resolve(self) -> (u32, u32) {
        (
            self.page.unwrap_or(0),
            self.size.unwrap_or(DEFAULT_SIZE).clamp(1, MAX_SIZE),
        )
    }

    pub fn limit_offset(self) -> (i64, i64) {
        let (page, size) = self.resolve();
        (i64::from(size), i64::from(page) * i64::from(size))
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub size: u32,
    /// Items matching the filters, over all pages.
    pub total: i64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, params: PageParams, total: i64) -> Self {
        let (page, size) = params.resolve();
        Self {
            items,
            page,
            size,
            total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_and_offsets() {
        assert_eq!(PageParams::default().resolve(), (0, DEFAULT_SIZE));
        assert_eq!(
            PageParams {
                page: Some(2),
                size: Some(500)
            }
            .limit_offset(),
            (100, 200)
        );
        assert_eq!(
            PageParams {
                page: None,
                size: Some(0)
            }
            .resolve(),
            (0, 1)
        );
    }
}
