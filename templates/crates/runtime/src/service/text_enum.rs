//! Blueprint enums are stored as `TEXT` (with a `CHECK` constraint in the migration).
//! [`text_enum!`](crate::text_enum) implements the sqlx traits for an enum that has
//! `as_str()` and `FromStr`, so it binds and decodes like a string.

/// Implements `sqlx::Type`, `Encode` and `Decode` for Postgres on a text-backed enum.
#[macro_export]
macro_rules! text_enum {
    ($ty:ty) => {
        impl $crate::reexports::sqlx::Type<$crate::reexports::sqlx::Postgres> for $ty {
            fn type_info() -> $crate::reexports::sqlx::postgres::PgTypeInfo {
                <&str as $crate::reexports::sqlx::Type<$crate::reexports::sqlx::Postgres>>::type_info()
            }
            fn compatible(ty: &$crate::reexports::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as $crate::reexports::sqlx::Type<$crate::reexports::sqlx::Postgres>>::compatible(ty)
            }
        }
        impl<'q> $crate::reexports::sqlx::Encode<'q, $crate::reexports::sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut $crate::reexports::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<$crate::reexports::sqlx::encode::IsNull, $crate::reexports::sqlx::error::BoxDynError> {
                <&str as $crate::reexports::sqlx::Encode<'_, $crate::reexports::sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }
        impl<'r> $crate::reexports::sqlx::Decode<'r, $crate::reexports::sqlx::Postgres> for $ty {
            fn decode(
                value: $crate::reexports::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, $crate::reexports::sqlx::error::BoxDynError> {
                let s = <&str as $crate::reexports::sqlx::Decode<'r, $crate::reexports::sqlx::Postgres>>::decode(value)?;
                s.parse::<$ty>().map_err(Into::into)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Tier {
        Basic,
    }
    impl Tier {
        fn as_str(&self) -> &'static str {
            "basic"
        }
    }
    impl std::str::FromStr for Tier {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            if s == "basic" {
                Ok(Tier::Basic)
            } else {
                Err(format!("unknown tier {s}"))
            }
        }
    }
    crate::text_enum!(Tier);

    #[test]
    fn encodes_as_text() {
        use sqlx::{Encode, Postgres, Type};
        let mut buf = sqlx::postgres::PgArgumentBuffer::default();
        let r = <Tier as Encode<'_, Postgres>>::encode_by_ref(&Tier::Basic, &mut buf).unwrap();
        assert!(matches!(r, sqlx::encode::IsNull::No));
        assert_eq!(&**buf, b"basic");
        assert_eq!(
            <Tier as Type<Postgres>>::type_info(),
            <&str as Type<Postgres>>::type_info()
        );
        assert_eq!(Tier::Basic.as_str(), "basic");
    }
}
