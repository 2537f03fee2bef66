//! Opaque cursors for paged listings. A cursor is the connector's own string;
//! these helpers cover the common "next offset" case (SCIM `startIndex`,
//! `?offset=`) and page tokens.

use crate::error::{Result, invalid_input};

const OFFSET_PREFIX: &str = "offset:";

/// The cursor for the page that starts at `offset`.
pub fn offset_cursor(offset: u64) -> String {
    format!("{OFFSET_PREFIX}{offset}")
}

/// The offset a cursor stands for; `None` (first page) is offset 0.
pub fn offset_from(cursor: Option<&str>) -> Result<u64> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .strip_prefix(OFFSET_PREFIX)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid_input(format!("\"{c}\" is not a cursor this connector returned"))),
    }
}

/// The next offset cursor, or `None` when `fetched` items end the listing.
pub fn next_offset(offset: u64, fetched: u64, total: Option<u64>, page_size: u64) -> Option<String> {
    let next = offset + fetched;
    let more = match total {
        Some(total) => next < total,
        None => fetched >= page_size,
    };
    (more && fetched > 0).then(|| offset_cursor(next))
}

/// A page size within the application's bounds (0 means "your default").
pub fn page_size(requested: u32, default: u32, max: u32) -> u32 {
    match requested {
        0 => default,
        n => n.min(max),
    }
}
